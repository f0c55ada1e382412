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
profile = "quick"  # smoke | quick | paper
device = "auto"  # auto | cpu | cuda
seed = 0
dataset = "digits"  # digits | mnist | fashion-mnist (for the MLP section)
data_root = None  # folder with MNIST/raw/... for mnist and fashion-mnist (or set L2LIB_DATA)
results_dir = "../../results"  # summaries and the resumable result store

# %%
import numpy as np
from IPython.display import Markdown, display

from l2lib.analysis import theory
from l2lib.book import plots, report
from l2lib.data import load_dataset
from l2lib.experiments import onset

run = report.start_chapter(profile, device, seed, dataset, results_dir)
dev, store, info = run.device, run.store, run.info
settings = onset.onset_settings(profile)
display(Markdown(report.banner(info)))

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
# state up to the spinodal $\lambda_s$.

# %%
fig, axes = plots.panels(2)
r = np.linspace(0, 1.2, 400)
for ax, depth in zip(axes, (1, 2), strict=True):
    lam_c = theory.critical_lambda(1.0, 1.0, depth)
    for frac in (0.6, 0.9, 1.0, 1.1, 1.3):
        ax.plot(r, theory.reduced_loss(r, frac * lam_c, 1.0, 1.0, depth),
                label=f"λ = {frac:g} λ_c")
    plots.label(ax, "end-to-end norm r", "L(r) − ⟨y²⟩", f"D = {depth} (m = a = 1)",
                legend=depth == 1)
    ax.set_ylim(-0.4, 0.35)

# %% [markdown]
# ## Deep linear networks: measurement against theory
#
# Synthetic data: whitened inputs and a linear teacher with label noise, built so that the
# empirical (not only the expected) loss has exactly the form above
# (`l2lib.synthetic.teacher_data`). For each depth we sweep λ **up** from the trained
# unregularised network, each point warm-started from the previous one with a fresh optimiser,
# then back **down**. Before each point the weights get a small kick (`jitter`): an unstable
# state (a saddle) escapes, a stable minimum absorbs it.
#
# How λ_c is measured: for a continuous transition, by extrapolating the order parameter to zero;
# for a first-order one, by the crossing of the regularised losses of the two branches (the
# learning branch from the upward sweep, the trivial branch from the downward sweep) — the jump
# of a warm sweep itself happens later, at the end of metastability.

# %%
teacher = onset.make_teacher(settings, (1.0,), seed, dev)
linear = {}
for depth in settings.depths:
    lams = onset.linear_grid(settings, teacher.m, depth)
    linear[depth] = onset.deep_linear_hysteresis(teacher, depth, lams, settings, seed, store)
analyses = {d: onset.analyse_linear(h, teacher, d) for d, h in linear.items()}

# %%
fig, axes = plots.panels(len(linear), rows=2)
for col, (depth, h) in enumerate(linear.items()):
    a = analyses[depth]
    fine = np.linspace(h.lams[0], h.lams[-1], 400)
    ax = axes[0, col]
    plots.theory_curves(ax, fine, theory.order_parameter(fine, teacher.m, teacher.a, depth),
                        theory.order_parameter(fine, teacher.m, teacher.a, depth, "learning"))
    plots.sweep_pair(ax, h.lams, h.up.mean("modes")[:, 0], h.down.mean("modes")[:, 0])
    plots.mark(ax, a.lam_c_theory, "λ_c theory", color="k", ls="--")
    plots.mark(ax, a.lam_c, "λ_c measured")
    plots.label(ax, "λ", "end-to-end norm r", f"D = {depth}: {a.order} order",
                legend=col == 0)
    ax = axes[1, col]
    ax.plot(fine, theory.minimum_loss(fine, teacher.m, teacher.a, depth, teacher.ey2),
            **plots.THEORY)
    plots.sweep_pair(ax, h.lams, h.up.mean("objective"), h.down.mean("objective"))
    plots.mark(ax, a.lam_c, "λ_c measured")
    plots.label(ax, "λ", "regularised loss")

# %%
rows = [{
    "D": a.depth, "order (measured)": a.order, "order (theory)": a.expected_order,
    "λ_c measured": a.lam_c, "λ_c theory": a.lam_c_theory, "rel. error": a.rel_error,
    "jump of upward sweep": a.lam_jump, "spinodal λ_s theory": a.lam_spinodal_theory,
    "hysteresis width (λ)": a.hysteresis_width, "λ_c method": a.lam_c_method,
} for a in analyses.values()]
display(Markdown(report.markdown_table(rows)))

# %% [markdown]
# The measured order matches the theory at every depth, and the measured critical strengths
# agree with the closed forms (for $D=2$ the measurement is
# {glue:text}`lam_c_D2:.4f` against {glue:text}`lam_c_theory_D2:.4f`). For $D\ge 2$ the
# upward sweep stays on the learning branch past $\lambda_c$ and drops near the spinodal
# $\lambda_s$, while the downward sweep stays trivial far below $\lambda_c$: a hysteresis loop of
# width {glue:text}`hysteresis_D2:.3f` in λ for $D=2$. For $D=1$ the two sweeps coincide
# (width {glue:text}`hysteresis_D1:.3f`): the trivial state is a saddle below $\lambda_c$ and the
# downward sweep leaves it.
#
# ```{note}
# The v1 abstract of arXiv 2505.06597 {cite:p}`ersoy2025geometry` says the opposite — a
# first-order transition with one hidden layer and second order with more. The v2 of that paper
# and Ziyin & Ueda agree with the assignment measured here: one hidden layer, second order; two
# or more, first order.
# ```

# %% [markdown]
# ## More complex data: a staircase of transitions
#
# A teacher with several outputs has several singular modes $s_1>s_2>\dots$ of
# $\langle xy^\top\rangle$. With whitened inputs each mode decouples and switches off at its own
# critical strength, so raising λ strips the learned function one mode at a time — the linear
# analogue of the accuracy plateaus of chapter 3.

# %%
modes_teacher = onset.make_teacher(settings, settings.modes, seed + 1, dev)
staircase = {}
for depth in settings.mode_depths:
    lams = np.linspace(0, settings.lam_span * theory.spinodal_lambda(max(settings.modes), 1.0,
                                                                      depth), settings.n_lams)
    staircase[depth] = onset.deep_linear_hysteresis(modes_teacher, depth, lams, settings, seed,
                                                    store)
fig, axes = plots.panels(len(staircase), rows=2)
axes = axes.reshape(2, -1)
for col, (depth, h) in enumerate(staircase.items()):
    fine = np.linspace(h.lams[0], h.lams[-1], 400)
    learning = theory.mode_order_parameters(fine, settings.modes, 1.0, depth, "learning")
    plots.mode_staircase(axes[0, col], h.lams, h.up.mean("modes"))
    for i in range(learning.shape[1]):
        axes[0, col].plot(fine, learning[:, i], color=f"C{i}", lw=0.9)
    for s in settings.modes:
        plots.mark(axes[0, col], theory.critical_lambda(s, 1.0, depth), None, color="0.6",
                   ls=":")
    plots.label(axes[0, col], "λ", "singular values of the map",
                f"D = {depth}, upward sweep (lines: theory)", legend=col == 0)
    plots.sweep_pair(axes[1, col], h.lams, h.up.mean("error"), h.down.mean("error"))
    plots.label(axes[1, col], "λ", "training error E", legend=col == 0)
n_steps = {d: onset.count_mode_switches(h.up) for d, h in staircase.items()}

# %% [markdown]
# Dotted lines: the critical strengths of the individual modes. Each mode follows its own
# closed-form curve and vanishes at its own λ; for $D=2$ each step is a jump. The training error
# rises in steps.

# %% [markdown]
# ## Nonlinear networks on handwritten digits
#
# The same experiment with MLPs (tanh units, as $\tanh(0)=0$ like the theory's linear units)
# trained by full-batch gradient descent with cross-entropy: one hidden layer against two. The
# order parameter is the weight norm $\|\theta\|$; test accuracy shows what is lost.

# %%
data = load_dataset(dataset, root=data_root, device=dev)
mlps = {k: onset.mlp_hysteresis(data, k, settings, seed, store) for k in (1, 2)}
mlp_analyses = {k: onset.analyse_mlp(h, k) for k, h in mlps.items()}

# %%
fig, axes = plots.panels(2, rows=2)
for col, (k, h) in enumerate(mlps.items()):
    a = mlp_analyses[k]
    plots.sweep_pair(axes[0, col], h.lams, h.up.mean("norm"), h.down.mean("norm"))
    if np.isfinite(a.lam_estimate):
        plots.mark(axes[0, col], a.lam_estimate, "transition")
    plots.label(axes[0, col], "λ", "weight norm ‖θ‖",
                f"{k} hidden layer{'s' if k > 1 else ''}: {a.order} order", legend=True)
    plots.sweep_pair(axes[1, col], h.lams, h.up.mean("test_acc"), h.down.mean("test_acc"))
    plots.label(axes[1, col], "λ", "test accuracy")
display(Markdown(report.markdown_table([{
    "hidden layers": a.hidden_layers, "order (measured)": a.order,
    "transition λ": a.lam_estimate, "estimate": a.method,
    "largest step / range": a.jump_fraction, "hysteresis width (λ)": a.hysteresis_width,
} for a in mlp_analyses.values()])))

# %% [markdown]
# The table is what the data of this run say (the classifier looks at the *onset* step, where
# the norm falls to its trivial value; see `l2lib.transitions`). In the `quick` and `paper`
# profiles: with one hidden layer the weight norm and the accuracy decay continuously and the
# downward sweep nearly retraces the upward one (it lags by a grid point or two near λ_c, where
# escaping the nearly flat saddle at θ = 0 is slow); with two hidden layers the norm falls to
# zero in one step and the downward sweep stays trivial — the first-order transition and its
# hysteresis survive the nonlinearity. Before that final jump the two-layer network steps down
# through intermediate accuracy plateaus: a first look at the accuracy regimes of chapter 3. The
# `smoke` grids are too coarse for any of this and report "unresolved".

# %% [markdown]
# ## Summary
# The numbers of this page are glued into the text and written to
# `results/summaries/01_onset.json`.

# %%
numbers = {}
for d, a in analyses.items():
    numbers |= {f"lam_c_D{d}": a.lam_c, f"lam_c_theory_D{d}": a.lam_c_theory,
                f"order_D{d}": a.order, f"hysteresis_D{d}": a.hysteresis_width,
                f"rel_error_D{d}": a.rel_error}
for d, n in n_steps.items():
    numbers[f"staircase_steps_D{d}"] = n
for k, a in mlp_analyses.items():
    numbers |= {f"mlp{k}_order": a.order, f"mlp{k}_lam": a.lam_estimate,
                f"mlp{k}_hysteresis": a.hysteresis_width}
report.glue_numbers(numbers)
findings = []
for d, a in analyses.items():
    findings += [
        report.Finding(f"critical strength λ_c, deep linear net, D = {d}",
                       f"λ_c = {a.lam_c_theory:.4g} (closed form, Ziyin & Ueda)",
                       f"λ_c = {a.lam_c:.4g} ({a.lam_c_method}), {100 * a.rel_error:.2g} % off",
                       bool(a.rel_error < 0.05), "agreement: within 5 %"),
        report.Finding(f"order of the transition, deep linear net, D = {d}",
                       f"{a.expected_order} order (Ziyin & Ueda; arXiv 2505.06597 v2)",
                       f"{a.order} order", a.order == a.expected_order),
        report.Finding(f"hysteresis of warm sweeps, deep linear net, D = {d}",
                       "a hysteresis loop (arXiv 2505.06597 v2)" if d >= 2 else
                       "none: the trivial state is a saddle below λ_c (Ziyin & Ueda)",
                       f"loop width {a.hysteresis_width:.3g} in λ",
                       bool(a.hysteresis_width > 0) == (d >= 2)),
    ]
for k, a in mlp_analyses.items():
    expected = "second" if k == 1 else "first"
    findings.append(report.Finding(
        f"order of the transition, tanh MLP with {k} hidden layer{'s' if k > 1 else ''} "
        f"on {dataset}", f"{expected} order (arXiv 2505.06597 v2)", f"{a.order} order",
        None if a.order == "unresolved" else a.order == expected,
        "undecided when the grid cannot resolve the onset"))
path = report.write_summary("01_onset", numbers, info, results_dir, findings=findings)
display(Markdown(report.markdown_table([{"quantity": k, "value": v}
                                        for k, v in numbers.items()])))
