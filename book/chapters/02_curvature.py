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
# # Curvature change points
#
# {cite:t}`ersoy2025geometry` (arXiv 2505.06597) report that the scalar (Ricci) curvature of
# the error landscape has a change point exactly where the L2 transition happens, and that on
# richer data further transitions are again curvature change points. This chapter measures that
# curvature along the warm upward sweeps of chapter 1 and sets its change points beside the
# transitions located in the order parameter.
#
# **Which curvature.** The paper's exact estimator is not public. We use the standard scalar
# curvature of the graph of the *unregularised* error $E:\mathbb{R}^P\to\mathbb{R}$ as a
# hypersurface, with gradient $g$, Hessian $H$ and $W^2=1+\|g\|^2$:
#
# $$R=\frac{(\operatorname{tr}H)^2-\operatorname{tr}H^2}{W^2}
#    -\frac{2\,(\operatorname{tr}H\;g^\top Hg-g^\top H^2g)}{W^4},$$
#
# evaluated at the minimiser $\theta^*(\lambda)$ of $E+(\lambda/2)\|\theta\|^2$ (where
# $g=-\lambda\theta^*\neq0$). At a critical point $R=2\sum_{i<j}h_ih_j$ over the Hessian's
# eigenvalues. For the deep linear networks it is computed **exactly** from the dense Hessian;
# for the MLPs **stochastically** (Hutchinson estimates of $\operatorname{tr}H$ and
# $\operatorname{tr}H^2$ plus Hessian-vector products, with a standard error). The extreme
# eigenvalues of $H$ (largest and most negative, by Lanczos) are shown alongside; $H$ is always
# the Hessian of $E$, not of the regularised loss (which is $H+\lambda I$).
#
# **Change points.** $R$ can span four decades along one sweep, and a transition shows as a
# kink or a jump. `l2lib.analysis.transitions.local_change_points` judges every candidate break
# on its own window: two separate quadratics against one smooth quintic over the same 8 points,
# a scale-free misfit ratio that must exceed a penalty (no given number of breaks). It finds
# kinks whose sizes span three decades and nothing on smooth curves (tested). Only points that
# are minima of $L_\lambda$ (stationarity residual below the tolerance) enter; as a control,
# $\|\theta\|$ and $E$ go through the same detector — $R$ is a function of θ, so wherever θ jumps,
# $R$ must move too.

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

from l2lib.analysis import theory
from l2lib.book import reference, report
from l2lib.book.figures import curvature as figures
from l2lib.book.figures.onset import findings_table
from l2lib.data import load_dataset
from l2lib.experiments import curvature, curvature_profiles, onset

run = report.start_chapter(profile, device, seed, dataset, results_dir)
settings = curvature_profiles.settings(profile)
display(Markdown(report.banner(run.info)))

# %% [markdown]
# ## Deep linear networks: where does R change?
#
# The same teacher, networks, grids and training as in chapter 1, swept upwards; at each
# converged point the exact curvature of $E$ and its extreme Hessian eigenvalues. For $D=2$ the
# question is whether $R$ changes at the thermodynamic $\lambda_c$ (closed form), where nothing
# happens to θ on a warm sweep, or only with the jump of θ near the spinodal.

# %%
teacher = onset.make_teacher(settings.onset, (1.0,), seed, run.device)
linear = {d: curvature.linear_curvature_sweep(
    teacher, d, onset.linear_grid(settings.onset, teacher.m, d), settings, seed, run.store)
    for d in settings.linear_depths}
curves = curvature.linear_curves(linear, settings)
fig = figures.sweeps(linear, curves, curvature.targets(curves, teacher.m), "end-to-end norm r",
                     settings)

# %% [markdown]
# $D=1$: the nearest change point of $R$ lies {glue:text}`offset_D1:.2g` grid steps from
# $\lambda_c$ ({glue:text}`verdict_transition_D1`). $D=2$: {glue:text}`offset_D2:.2g` grid steps
# from $\lambda_c$ but {glue:text}`jump_offset_D2:.2g` from the jump of the sweep, which lies
# {glue:text}`jump_minus_lam_c_steps_D2:.2g` steps above $\lambda_c$; $\|\theta\|$ and $E$ change
# {glue:text}`control_offset_D2:.2g` steps from the jump. Verdict:
# {glue:text}`verdict_transition_D2`. The curvature sees the state the sweep is in, not the
# global minimum: on a first-order onset its change point is the jump of θ, which any function
# of θ shows, so it is not counted as evidence.

# %% [markdown]
# ## Several modes: one change point per transition
#
# The multi-mode teacher of chapter 1 with one hidden layer: each singular mode switches off at
# its own critical strength $\lambda_c(s_i)=2s_i$ (dotted). The detector is not told how many
# breaks to find. As a control, it runs on the stretch before the first switch-off, where $R$ is
# smooth and must show no change point.

# %%
modes_teacher = onset.make_teacher(settings.onset, settings.onset.modes, seed + 1, run.device)
modes = curvature.linear_curvature_sweep(
    modes_teacher, 1, onset.linear_grid(settings.onset, max(settings.onset.modes), 1), settings,
    seed, run.store)
modes_curve = curvature.linear_curves({1: modes}, settings)[1]
mode_lams = [theory.critical_lambda(s, 1.0, 1) for s in settings.onset.modes]
fig = figures.modes(modes, modes_curve, mode_lams, settings)

# %% [markdown]
# {glue:text}`modes_matched` of {glue:text}`modes_total` switch-offs lie within
# {glue:text}`match_steps` grid steps of a change point of $R$, with
# {glue:text}`modes_spurious` change points elsewhere ({glue:text}`verdict_modes`); the smooth
# stretch shows {glue:text}`control_changes` ({glue:text}`verdict_smooth_control`). On a
# symmetric-log scale the kinks at small $|R|$ are visible, and the detector, judging each
# window on its own scale, finds them.

# %% [markdown]
# ## MLPs on handwritten digits
#
# The nonlinear networks of chapter 1 (one and two hidden layers), swept upwards and polished
# by L-BFGS; the curvature is estimated stochastically (error bars: one standard error, which
# the detector uses as its noise level).

# %%
data = load_dataset(dataset, root=data_root, device=run.device)
mlps = {k: curvature.mlp_curvature_sweep(data, k, settings, seed, run.store) for k in (1, 2)}
mlp_curves = curvature.mlp_curves(mlps, settings)
fig = figures.sweeps(mlps, mlp_curves, curvature.targets(mlp_curves), "weight norm ‖θ‖",
                     settings, title="{} hidden layer(s)")

# %% [markdown]
# One hidden layer: {glue:text}`verdict_transition_mlp1`. Two hidden layers:
# {glue:text}`verdict_transition_mlp2` (a jump of θ carries $R$ with it). Does $R$ step at the
# intermediate accuracy plateaus of the two-layer network? {glue:text}`plateaus_matched` of
# {glue:text}`plateaus_total` intermediate accuracy drops have a change point of $R$ within
# {glue:text}`match_steps` grid steps ({glue:text}`verdict_plateaus`).

# %% [markdown]
# ## Are the measured points minima?
#
# Stationarity residual $\|\nabla E+\lambda\theta\|/\|\lambda\theta\|$ of every point (worst
# member) and the smallest eigenvalue of $\nabla^2L_\lambda=\nabla^2E+\lambda I$. Points above
# the tolerance are left out of every curvature finding.

# %%
fig = figures.minimum_checks({"D = 1": linear[1], "modes": modes} | {
    f"MLP {k} hidden": r for k, r in mlps.items()}, settings.onset.residual_rtol)

# %% [markdown]
# ## Summary
# Every verdict of this page comes from `l2lib.experiments.curvature.findings`; the numbers are
# glued into the text and written to `results/summaries/02_curvature.json`.

# %%
findings = curvature.findings(curves, teacher.m, modes_curve, settings.onset.modes, mlp_curves,
                              (mlps[2].lams, mlps[2].mean("test_acc")), settings, dataset)
numbers = onset.glue_values(findings) | {"match_steps": settings.match_steps}
report.glue_numbers(numbers)
report.write_summary("02_curvature", numbers, run.info, results_dir, findings=findings)
display(Markdown(findings_table(findings)))


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
ref = reference.load_reference_run(reference_dir, "02_curvature")
display(Markdown(reference.reference_markdown(ref, profile)))

# %% [markdown]
# The reference sweeps, drawn from the committed observables and analysed by the same functions
# as the run above:

# %%
if ref is not None and profile != "reference":
    ref_settings = curvature_profiles.settings(ref.provenance["profile"])
    ref_teacher = onset.make_teacher(ref_settings.onset, (1.0,), ref.summary["provenance"]["seed"])

    def one_mode(config):  # the one-mode teacher's sweeps, not the multi-mode one's
        return config["key"]["data"]["modes"] == [1.0]

    ref_linear = {d: ref.sweep(f"curvature-linear-D{d}", one_mode)
                  for d in ref_settings.linear_depths}
    ref_curves = curvature.linear_curves(ref_linear, ref_settings)
    fig = figures.sweeps(ref_linear, ref_curves, curvature.targets(ref_curves, ref_teacher.m),
                         "end-to-end norm r", ref_settings)
    plt.show()
    ref_modes = ref.sweep("curvature-linear-D1", lambda config: not one_mode(config))
    fig = figures.modes(ref_modes, curvature.linear_curves({1: ref_modes}, ref_settings)[1],
                        [theory.critical_lambda(s, 1.0, 1) for s in ref_settings.onset.modes],
                        ref_settings)
    plt.show()
    ref_mlps = {k: ref.sweep(f"curvature-{dataset}-{k}h") for k in (1, 2)}
    ref_mlp_curves = curvature.mlp_curves(ref_mlps, ref_settings)
    fig = figures.sweeps(ref_mlps, ref_mlp_curves, curvature.targets(ref_mlp_curves),
                         "weight norm ‖θ‖", ref_settings, title="{} hidden layer(s)")
    plt.show()
    fig = figures.minimum_checks({"D = 1": ref_linear[1], "modes": ref_modes} | {
        f"MLP {k} hidden": r for k, r in ref_mlps.items()}, ref_settings.onset.residual_rtol)
    plt.show()
