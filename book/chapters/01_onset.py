# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Onset of learning: first- and second-order transitions
#
# Raise the L2 strength λ far enough and every network falls into the *trivial phase*: all
# weights near zero, nothing learned. How it falls depends on depth. With **one hidden layer**
# the order parameter (the norm of what the network learned) goes to zero continuously — a
# **second-order** transition. With **two or more hidden layers** it jumps — a **first-order**
# transition, with metastable states and **hysteresis** ({cite:t}`ziyin2022exact`;
# {cite:t}`ersoy2025geometry`, v2).
#
# This chapter puts the closed-form theory beside measurements: deep linear networks on
# synthetic data where the theory is exact, a teacher with several modes that gives a staircase
# of transitions, and nonlinear MLPs on handwritten digits.
#
# **Convention.** Everywhere in this book the loss is $E(\theta)$ plus $(\lambda/2)\|\theta\|^2$
# (PyTorch's `weight_decay=λ`); $E$ is the mean squared error $\langle (y-f)^2\rangle$ (no ½)
# for regression and the mean cross-entropy for classification.

# %% tags=["parameters"]
profile = "quick"  # smoke | quick | reference | paper
device = "auto"  # auto | cpu | cuda
seed = 0
dataset = "digits"  # digits | mnist | fashion-mnist (for the MLP section)
data_root = None  # folder with MNIST/raw/... for mnist and fashion-mnist (or set L2LIB_DATA)
results_dir = "../../results"  # summaries and the resumable result store
reference_dir = "../../results-reference"  # committed reference runs (None: none shown)

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from l2lib.book import reference, report
from l2lib.book.figures import onset as figures
from l2lib.data import load_dataset
from l2lib.experiments import onset, onset_profiles

run = report.start_chapter(profile, device, seed, dataset, results_dir)
settings = onset_profiles.settings(profile)
display(Markdown(report.banner(run.info)))

# %% [markdown]
# ## The theory in one picture
#
# For a deep linear network with $D$ hidden layers, whitened inputs ($\langle xx^\top\rangle=aI$)
# and a scalar teacher with $m=\|\langle xy\rangle\|$, balanced layers reduce the problem to the
# norm $r$ of the end-to-end map:
#
# $$L(r)=\langle y^2\rangle-2mr+ar^2+(D+1)\tfrac{\lambda}{2}\,r^{2/(D+1)} .$$
#
# For $D=1$ the penalty is linear in $r$: the minimum slides continuously to $r=0$ at
# $\lambda_c=2m$. For $D\ge 2$ the penalty $r^{2/(D+1)}$ is steeper than linear at the origin,
# so $r=0$ is *always* a local minimum; the global minimum jumps from
# $r_c=m(D-1)/(aD)$ to $0$ at $\lambda_c$, and the learning minimum survives as a metastable
# state up to the spinodal $\lambda_s$. (The closed forms are this companion's derivation from
# Ziyin & Ueda's loss; `l2lib.analysis.theory` checks each against numerical minimisation.)

# %%
fig = figures.reduced_loss()

# %% [markdown]
# ## Deep linear networks: measurement against theory
#
# Synthetic data: whitened inputs and a linear teacher with label noise, built so that the
# empirical (not only the expected) loss has exactly the form above
# (`l2lib.data.teacher.teacher_data`). For each depth we sweep λ **up** from the trained
# unregularised network, each point warm-started from the previous one with a fresh optimiser,
# then back **down**. Before each point the weights get a small kick (`jitter`): an unstable
# state (a saddle) escapes, a stable minimum absorbs it. After the optimiser's early stopping,
# every point is **polished** by full-batch L-BFGS (`l2lib.train.polish`), so that it is a
# stationary point of the regularised loss $L_\lambda$ (checked below).
#
# How λ_c is measured: for a continuous transition, by extrapolating the order parameter's
# approach to zero (a line through the lower half of its decline: the MLPs' ‖θ‖ first relaxes
# steeply at small λ, and a line through that part reaches zero too early);
# for a first-order one, by the crossing of the regularised losses of the two branches (the
# learning branch from the upward sweep, the trivial branch from the downward sweep) — the jump
# of a warm sweep itself happens later, at the end of metastability. The order is a **jump**
# (first), a **kink** onto a flat trivial side (second), or **none** (a smooth decay);
# `l2lib.analysis.transitions.classify_transition` is tested on all three.

# %%
teacher = onset.make_teacher(settings, (1.0,), seed, run.device)
linear = {d: onset.deep_linear_hysteresis(teacher, d, onset.linear_grid(settings, teacher.m, d),
                                          settings, seed, run.store) for d in settings.depths}
analyses = {d: onset.analyse_linear(h, teacher, d, settings) for d, h in linear.items()}

# %%
fig = figures.linear_sweeps(linear, analyses, teacher)
display(Markdown(report.markdown_table(onset.linear_table(analyses))))

# %% [markdown]
# Grey bands: the **loop**, the λ range where the two branches differ at points that are minima
# (a down-sweep point at a saddle of $L_\lambda$ is flagged and left out: it is no metastable
# state). Verdicts of this run: λ_c for $D=2$ {glue:text}`lam_c_D2:.4f` against
# {glue:text}`lam_c_theory_D2:.4f` ({glue:text}`verdict_lam_c_D2`); order for $D=1$
# {glue:text}`verdict_order_D1`, for $D=2$ {glue:text}`verdict_order_D2`; loop width for $D=2$
# {glue:text}`hysteresis_D2:.3f` in λ ({glue:text}`verdict_hysteresis_D2`), for $D=1$
# {glue:text}`hysteresis_D1:.3f` ({glue:text}`verdict_hysteresis_D1`). For $D\ge 2$ the
# theory's $r=0$ is a local minimum at every $\lambda>0$, so the downward sweep stays trivial
# and the loop never closes above λ = 0; for $D=1$ the trivial state is a saddle below
# $\lambda_c$ and the downward sweep leaves it.
#
# ```{note}
# The v1 abstract of arXiv 2505.06597 {cite:p}`ersoy2025geometry` says the opposite — a
# first-order transition with one hidden layer and second order with more. The v2 of that paper
# and Ziyin & Ueda agree with the assignment measured here: one hidden layer, second order; two
# or more, first order.
# ```

# %% [markdown]
# ## Are the measured points minima?
#
# Each point records, per member, the stationarity residual $\|\nabla E+\lambda\theta\|/\|\lambda
# \theta\|$ (0 at a stationary point of $L_\lambda$) and, on the downward sweeps, the smallest
# eigenvalue of $\nabla^2 L_\lambda$. A point counts only if every member's residual is below the
# tolerance (or, at θ ≈ 0 where the ratio is 0/0 — the points near 1 on the trivial side
# below — $\|\nabla L_\lambda\|$ is below `residual_atol`); the transition and loop findings use
# only such points. Crosses: down-sweep points at a saddle of $L_\lambda$.

# %%
fig = figures.minimum_checks({f"D = {d}": h for d, h in linear.items()},
                             settings.residual_rtol, settings.saddle_tol)

# %% [markdown]
# ## More complex data: a staircase of transitions
#
# A teacher with several outputs has several singular modes $s_1>s_2>\dots$ of
# $\langle xy^\top\rangle$. With whitened inputs each mode decouples and switches off at its own
# critical strength, so raising λ strips the learned function one mode at a time — the linear
# analogue of the accuracy plateaus of chapter 3.

# %%
modes_teacher = onset.make_teacher(settings, settings.modes, seed + 1, run.device)
staircase = {d: onset.deep_linear_hysteresis(
    modes_teacher, d, onset.linear_grid(settings, max(settings.modes), d), settings, seed,
    run.store) for d in settings.mode_depths}
n_steps = {d: onset.count_mode_switches(h.up) for d, h in staircase.items()}
fig = figures.staircase(staircase, settings.modes)

# %% [markdown]
# Dotted lines: the critical strengths of the individual modes. Each mode follows its own
# closed-form curve and vanishes at its own λ; for $D=2$ each step is a jump. The training error
# rises in steps (one step per mode: {glue:text}`verdict_staircase_D1`).

# %% [markdown]
# ## Nonlinear networks on handwritten digits
#
# The same experiment with MLPs (tanh units, as $\tanh(0)=0$ like the theory's linear units)
# trained by full-batch gradient descent with cross-entropy, each point polished by L-BFGS: one
# hidden layer against two. The order parameter is the weight norm $\|\theta\|$; test accuracy
# shows what is lost.

# %%
data = load_dataset(dataset, root=data_root, device=run.device)
mlps = {k: onset.mlp_hysteresis(data, k, settings, seed, run.store) for k in (1, 2)}
mlp_analyses = {k: onset.analyse_mlp(h, k, settings) for k, h in mlps.items()}
fig = figures.mlp_sweeps(mlps, mlp_analyses)
display(Markdown(report.markdown_table(onset.mlp_table(mlp_analyses))))

# %%
fig = figures.minimum_checks({f"MLP, {k} hidden": h for k, h in mlps.items()},
                             settings.residual_rtol, settings.mlp_saddle_tol)

# %% [markdown]
# The table is what the data of this run say. One hidden layer: {glue:text}`mlp1_order`
# order ({glue:text}`verdict_mlp_order_1h`; a smooth decay without a kink would read "none"),
# loop {glue:text}`verdict_mlp_hysteresis_1h`. Two hidden layers: {glue:text}`mlp2_order`
# order ({glue:text}`verdict_mlp_order_2h`), loop width {glue:text}`mlp2_hysteresis:.3g`
# ({glue:text}`verdict_mlp_hysteresis_2h`). Before its final jump the two-layer network steps
# down through intermediate accuracy plateaus: a first look at the accuracy regimes of
# chapter 3. The `smoke` grids are too coarse for most of this and say so.

# %% [markdown]
# ## Summary
# Every verdict of this page comes from `l2lib.experiments.onset.findings`; the numbers are
# glued into the text and written to `results/summaries/01_onset.json`.

# %%
findings = onset.findings(analyses, n_steps, mlp_analyses, settings, dataset)
numbers = onset.glue_values(findings)
report.glue_numbers(numbers)
report.write_summary("01_onset", numbers, run.info, results_dir, findings=findings)
display(Markdown(figures.findings_table(findings)))


# %% [markdown]
# ## The reference run
#
# The `reference` profile runs this chapter at the scale that resolves its findings, within an hour
# on two CPU cores (its wall time is in the provenance below). Its results are committed under
# `results-reference/` with their provenance (commit, parameters, machine, date, wall time) and the
# observables behind every figure; CI recomputes their first points with the current code (`l2lib
# reference slices`) and `l2lib results list` says whether code they depend on changed since. Its
# findings, as that run recorded them:

# %%
ref = reference.load_reference_run(reference_dir, "01_onset")
display(Markdown(reference.reference_markdown(ref, profile)))

# %% [markdown]
# The reference sweeps, drawn from the committed observables and analysed by the same functions
# as the run above (the one-mode teacher's linear nets, then the MLPs), with their minimum
# checks:

# %%
if ref is not None and profile != "reference":
    ref_settings = onset_profiles.settings(ref.provenance["profile"])
    ref_teacher = onset.make_teacher(ref_settings, (1.0,), ref.summary["provenance"]["seed"])
    ref_linear = {d: ref.hysteresis(f"linear-D{d}", lambda c: c["key"]["data"]["modes"] == [1.0])
                  for d in ref_settings.depths}
    ref_analyses = {d: onset.analyse_linear(h, ref_teacher, d, ref_settings)
                    for d, h in ref_linear.items()}
    fig = figures.linear_sweeps(ref_linear, ref_analyses, ref_teacher)
    plt.show()
    display(Markdown(report.markdown_table(onset.linear_table(ref_analyses))))
    ref_mlps = {k: ref.hysteresis(f"{dataset}-mlp-{k}h") for k in (1, 2)}
    ref_mlp_analyses = {k: onset.analyse_mlp(h, k, ref_settings) for k, h in ref_mlps.items()}
    fig = figures.mlp_sweeps(ref_mlps, ref_mlp_analyses)
    plt.show()
    display(Markdown(report.markdown_table(onset.mlp_table(ref_mlp_analyses))))
    fig = figures.minimum_checks({f"D = {d}": h for d, h in ref_linear.items()},
                                 ref_settings.residual_rtol, ref_settings.saddle_tol)
    plt.show()
    fig = figures.minimum_checks({f"MLP, {k} hidden": h for k, h in ref_mlps.items()},
                                 ref_settings.residual_rtol, ref_settings.mlp_saddle_tol)
    plt.show()
