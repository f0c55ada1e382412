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
# # Saddles, Pathfinder and mode connectivity
#
# Ersoy, Cardozo Licha & Wiesner {cite}`ersoy2025hierarchical` turn the L2 regulariser into a
# probe. A *shifted* penalty pulls the weights towards a reference point θ_ref; raising its
# strength β step by step, and retraining to convergence at every step from the previous
# weights, traces a path through the error landscape — their **Pathfinder** algorithm. They
# report that it finds low-error paths between independently trained minima, that paths aimed
# at a transition checkpoint of the standard sweep (chapter 3) cross the same ordered
# transitions again, and that crossing a saddle switches which digit classes the network
# encodes. No comparison with the established mode-connectivity methods — linear interpolation,
# Bezier curves {cite}`garipov2018loss`, AutoNEB {cite}`draxler2018essentially` — has been
# published; this chapter makes one, on the same minima.
#
# **Convention.** Here, as everywhere in `l2lib`, Pathfinder minimises
# $E(\theta)+\tfrac{\beta}{2}\|\theta-\theta_\mathrm{ref}\|^2$ (gradient
# $\beta(\theta-\theta_\mathrm{ref})$, Hessian $\nabla^2E+\beta I$). The paper writes
# $\beta_\text{paper}\|\theta-\theta_\mathrm{ref}\|^2$: **β_paper = β/2**; every β on this page
# is ours unless marked "paper".
#
# **The algorithm** (`l2lib.pathfinder.find_path`, a thin layer over the warm sweep of
# `l2lib.sweep`): start at θ₀; for each β of an ascending grid, train with a fresh Adam
# optimiser (lr 1.5·10⁻³, batch 64, at most 50 epochs, early stopping with patience 5 on the
# epoch mean of the regularised objective, best epoch restored) from the previous β's weights;
# the path is the ordered list of converged checkpoints, each stored (an interrupted run
# resumes).

# %% tags=["parameters"]
profile = "quick"  # smoke | quick | paper
device = "auto"  # auto | cpu | cuda
seed = 0
dataset = "digits"  # digits | mnist | fashion-mnist
data_root = None  # folder with MNIST/raw/... (or set L2LIB_DATA)
results_dir = "../../results"  # summaries and the resumable result store

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

from l2lib.book import plots, report
from l2lib.experiments import pathfinder as connectivity
from l2lib.experiments import regimes
from l2lib.measure import saddles

run = report.start_chapter(profile, device, seed, dataset, results_dir)
settings = connectivity.connectivity_settings(profile)
regime = regimes.regime_settings(profile)
data = regimes.load_regime_data(dataset, regime, data_root, run.device, seed)
display(Markdown(report.banner(run.info)))

# %% [markdown]
# ## A saddle one can see: the double well
#
# Before the networks, the mechanism on a landscape where everything is known:
# $E(x,y)=(x^2-1)^2+c\,(y-a x^2)^2$ has minima at $(\pm1, a)$ and one saddle at $(0,0)$ with
# Hessian eigenvalues $-4$ and $2c$. Pathfinder starts in the left minimum with the right one as
# reference. At every β the checkpoint is a minimum of the regularised loss, so the smallest
# eigenvalue of $\nabla^2E$ there is at least $-\beta$; the minimum the path follows disappears
# where that bound is reached (a saddle-node bifurcation) and the path **jumps** across the
# saddle of $E$. Between the two checkpoints of the jump, `l2lib.saddles.locate_saddle` takes
# the highest point of the segment and refines it to a critical point by minimising
# $\tfrac12\|\nabla E\|^2$.

# %%
well = saddles.DoubleWell(a=0.5, c=1.0)
toy_betas = np.round(np.arange(settings.toy_beta_step, 2.0, settings.toy_beta_step), 10)
toy = saddles.double_well_path(well, toy_betas)
points = np.array([c["theta"][0].numpy() for c in toy.checkpoints])
toy_jump = int(np.argmax(np.linalg.norm(np.diff(points, axis=0), axis=1)))
energy = lambda v: well(v[None])[0]  # noqa: E731
found_saddle = saddles.locate_saddle(energy, toy.checkpoints[toy_jump]["theta"][0],
                                     toy.checkpoints[toy_jump + 1]["theta"][0])
toy_eig = np.array([torch.linalg.eigvalsh(torch.func.hessian(energy)(torch.as_tensor(p)))[0]
                    for p in points])

fig, axes = plots.panels(2, width=3.8)
gx, gy = np.meshgrid(np.linspace(-1.6, 1.6, 200), np.linspace(-0.7, 1.3, 160))
grid_e = well(torch.as_tensor(np.stack([gx, gy], -1))).numpy()
axes[0].contour(gx, gy, grid_e, levels=np.linspace(0, 3, 16), colors="0.7", linewidths=0.6)
axes[0].plot(points[:, 0], points[:, 1], "o", ms=3, color="C0", label="checkpoints")
axes[0].plot(points[[toy_jump, toy_jump + 1], 0], points[[toy_jump, toy_jump + 1], 1], "--",
             color="C3", lw=1, label="the jump")
axes[0].plot(*found_saddle.theta.numpy(), "x", color="k", ms=8, mew=2, label="saddle found")
axes[0].plot(*well.minima[0], "*", color="C1", ms=9, label="start, reference")
axes[0].plot(*well.minima[1], "*", color="C1", ms=9)
plots.label(axes[0], "x", "y", "Pathfinder on the double well", legend=True)
axes[1].plot(toy_betas, toy_eig, "o-", ms=3, label="of ∇²E")
axes[1].plot(toy_betas, toy_eig + toy_betas, "s-", ms=3, label="of ∇²E + βI (regularised loss)")
axes[1].axhline(0, color="k", lw=0.8)
plots.mark(axes[1], toy_betas[toy_jump], "last checkpoint before the jump", color="C3", ls="--")
plots.label(axes[1], "β", "smallest eigenvalue", "curvature along the path", legend=True)
plt.show()
display(Markdown(report.markdown_table([
    {"": "saddle of E", "x": 0.0, "y": 0.0, "E": 1.0,
     "eigenvalues of ∇²E": ", ".join(f"{v:g}" for v in well.saddle_eigenvalues)},
    {"": "found between the jump's checkpoints", "x": float(found_saddle.theta[0]),
     "y": float(found_saddle.theta[1]), "E": found_saddle.value,
     "eigenvalues of ∇²E": f"{found_saddle.eig_min:.6g}, {found_saddle.eig_max:.6g}"}])))

# %%
toy_error = float(np.linalg.norm(found_saddle.theta.numpy() - well.saddle))
toy_ok = toy_error < 1e-6 and abs(found_saddle.eig_min - well.saddle_eigenvalues[0]) < 1e-6
display(Markdown(
    f"The path follows the left valley. The curvature of the regularised loss along its softest "
    f"direction is still {toy_eig[toy_jump] + toy_betas[toy_jump]:.2g} at the last checkpoint "
    f"before the jump (β = {toy_betas[toy_jump]:.3g}): near a saddle-node bifurcation it "
    f"vanishes like the square root of the distance to the critical β, so only a grid point "
    f"very close to it would show it near zero. At the next β the path is in the right well. "
    + (f"The saddle found between the two checkpoints of the jump is the analytic one "
       f"(distance {toy_error:.1e}), with its negative eigenvalue {found_saddle.eig_min:.6g} "
       f"(analytic: −4)." if toy_ok else
       f"The saddle search did **not** recover the analytic saddle (distance {toy_error:.2g}, "
       f"smallest eigenvalue {found_saddle.eig_min:.4g} instead of −4).")
    + " The straight segment of the jump misses the saddle: the search has to leave it."))

# %% [markdown]
# ## Connecting independently trained minima
#
# Pairs of networks (sizes and numbers below) are trained independently at β = 0 with the
# protocol above, as the paper's minima M_j. Each pair is then connected three ways:
#
# * **Pathfinder** from the first minimum with the second as reference, on β = 0 and then a
#   geometric grid (below). The paper's grid ran from 0 to β_paper = 5·10⁻⁶ (β = 10⁻⁵) in 500
#   steps; ours continues far beyond, to see where the path ends.
# * **Linear interpolation**, whose highest loss above the ends is the barrier.
# * A **quadratic Bezier curve** with one trained bend (Garipov et al.): Adam (lr 10⁻², batch 64,
#   early stopping) on $E(\varphi(t))$ with a fresh $t\sim U[0,1]$ per step, stratified over each
#   epoch so that the monitored epoch mean is a stable estimate.
#
# Checkpoints alone cannot show a barrier *between* them, so the Pathfinder path is evaluated
# along the polygonal line through start, checkpoints and — closing the path — the target
# minimum. Cost is counted in gradient evaluations (optimiser steps on a batch of 64, per path)
# and wall time (all pairs together, as one ensemble).

# %%
minima = connectivity.train_minima(data, settings, seed, run.store)
link = connectivity.connect_minima(data, minima, settings, seed, run.store)
path = link.pathfinder
display(Markdown(
    f"{settings.n_pairs} pairs of MLPs {data.input_dim}-{'-'.join(map(str, settings.hidden))}-"
    f"{data.n_classes} ({settings.activation}) on `{data.name}`; Pathfinder grid: β = 0 and "
    f"{len(path.betas) - 1} values from {settings.beta_min:.0e} to {settings.beta_max:g}."))
display(Markdown(report.markdown_table([
    {"pair": k, "train CE (start, end)": f"{minima.train_loss[2 * k]:.3g}, "
                                         f"{minima.train_loss[2 * k + 1]:.3g}",
     "test accuracy (start, end)": f"{minima.test_acc[2 * k]:.1%}, "
                                   f"{minima.test_acc[2 * k + 1]:.1%}",
     "distance between them": float(path.start_distance()[k])}
    for k in range(settings.n_pairs)])))

# %%
colors = {"Pathfinder": "C0", "linear": "C3", "Bezier": "C2"}
fig, axes = plots.panels(3, height=2.8)
for method, along in link.along.items():
    for k in range(settings.n_pairs):
        kw = dict(color=colors[method], lw=1.4 if k == 0 else 0.8, alpha=1 if k == 0 else 0.5,
                  label=method if k == 0 else None)
        axes[0].plot(along["position"][:, k], along["train_loss"][:, k], **kw)
        axes[1].plot(along["position"][:, k], along["test_acc"][:, k], **kw)
marks = link.along["Pathfinder"]["checkpoint"]
axes[0].plot(link.along["Pathfinder"]["position"][marks, 0],
             link.along["Pathfinder"]["train_loss"][marks, 0], "o", ms=2.5, color="C0")
axes[0].set_yscale("log")
plots.label(axes[0], "position along the path (arc length, normalised)", "training loss E",
            "loss (dots: Pathfinder checkpoints)", legend=True)
plots.label(axes[1], "position along the path (arc length, normalised)", "test accuracy",
            "accuracy")
for k in range(settings.n_pairs):
    axes[2].plot(path.betas, path.obs["dist_ref"][:, k] / path.start_distance()[k], "o-", ms=2.5,
                 color="C0", alpha=1 if k == 0 else 0.5)
axes[2].axhline(1.0, color="k", lw=0.8, ls=":", label="distance of the start")
axes[2].axvspan(0, 2 * connectivity.PAPER_CONNECT["beta_max_paper"], color="0.85",
                label="the paper's β range")
axes[2].set_xscale("symlog", linthresh=settings.beta_min)
axes[2].set_xlim(0, settings.beta_max * 1.5)
plots.label(axes[2], "β", "‖θ − θ_target‖ / ‖θ₀ − θ_target‖", "Pathfinder: distance to target",
            legend=True)
plt.show()

costs = link.costs
display(Markdown(report.markdown_table([
    {"method": m, "highest training loss": float(link.max_loss(m).mean()),
     "barrier (training loss)": float(link.barrier(m).mean()),
     "lowest test accuracy": f"{link.min_accuracy(m).mean():.1%}",
     "gradient evaluations per path": int(round(float(costs[m].grad_evals.mean()))),
     "wall time, all pairs (s)": round(costs[m].wall_s, 1)}
    for m in connectivity.METHODS], digits=3)))

# %%
beta_paper_end = 2 * connectivity.PAPER_CONNECT["beta_max_paper"]  # in l2lib's convention
at_paper_end = int(np.searchsorted(path.betas, beta_paper_end, side="right")) - 1
remaining = path.obs["dist_ref"][at_paper_end] / path.start_distance()
grows = path.obs["dist_ref"].max(axis=0) > path.start_distance() * 1.001
arrival = path.arrival(0.01)
checkpoint_max = link.along["Pathfinder"]["train_loss"][marks].max(axis=0)  # per pair
display(Markdown(
    f"Up to the end of the paper's range (β_paper = 5·10⁻⁶, the grid point β = "
    f"{path.betas[at_paper_end]:.3g} here) the Pathfinder paths are still "
    f"{remaining.min():.0%}–{remaining.max():.0%} of the initial distance from their targets; "
    f"the distance first grows in {int(grows.sum())} of {settings.n_pairs} pairs (largest at "
    f"β = {', '.join(f'{b:.2g}' for b in path.betas[path.obs['dist_ref'].argmax(axis=0)])}; "
    f"at β = 0 the path is plain further training). They arrive "
    f"within 1 % of the initial distance only at β ≈ "
    + ", ".join("never" if np.isnan(b) else f"{b:.2g}" for b in arrival)
    + " (β_paper = half of that)."))

# %%
pf_ok = bool(np.all(link.max_loss("Pathfinder") < link.max_loss("linear"))
             and link.barrier("Pathfinder").mean() < 0.1 * link.barrier("linear").mean())
ratio = costs["Pathfinder"].grad_evals.mean() / max(costs["Bezier"].grad_evals.mean(), 1)
display(Markdown(
    f"**Reading the comparison.** Along the straight line the training loss rises to "
    f"{link.max_loss('linear').mean():.3g} (mean over pairs; test accuracy falls to "
    f"{link.min_accuracy('linear').mean():.1%}): a barrier of "
    f"{link.barrier('linear').mean():.3g} separates the minima. "
    + (f"Pathfinder's checkpoints peak at training loss {checkpoint_max.mean():.3g} and the "
       f"whole polygonal line through them at {link.max_loss('Pathfinder').mean():.3g} "
       f"(barrier {link.barrier('Pathfinder').mean():.2g}): no barrier, as the paper reports. "
       if pf_ok else
       f"Pathfinder does **not** remove the barrier in this run: its path peaks at "
       f"{link.max_loss('Pathfinder').mean():.3g} (barrier "
       f"{link.barrier('Pathfinder').mean():.2g}). ")
    + f"The trained Bezier curve peaks at {link.max_loss('Bezier').mean():.3g} (barrier "
    f"{link.barrier('Bezier').mean():.2g}) and costs {ratio:.2g} times "
    + ("fewer" if ratio >= 1 else "more")
    + f" gradient evaluations than Pathfinder, which trains to convergence at each of its "
    f"{len(path.betas)} values of β."))

# %% [markdown]
# ## Towards the transition checkpoints of chapter 3
#
# Chapter 3's standard sweep (reference 0; read back from the result store when chapter 3 ran
# first) loses digits at a sequence of transitions. Its **transition checkpoints** — the last
# converged state before each drop, first seed — become references: Pathfinder starts at a
# fresh random initialisation and is pulled towards one checkpoint, over chapter 3's β grid
# (thinned, see below) and then a few larger β. The path's
# plateaus, transitions and recognised digits are found with chapter 3's own rule (a digit is
# recognised when its test recall exceeds 50 %).

# %%
seeds = [seed + i for i in range(regime.n_seeds)]
standard = regimes.standard_sweep(data, regime, seeds, run.store)  # chapter 3's, as stored

# %%
found = regimes.detect_regimes(standard.result, member=0, min_drop=regime.min_drop)
picks = connectivity.reference_indices(found, settings.n_refs)
targets = [found.indices[p] for p in picks]
towards = connectivity.towards_checkpoints(data, standard, targets, settings, seed,
                                           store_root=run.store)
ref_acc = standard.result.obs["test_acc"][targets, 0]
display(Markdown(
    f"References: the checkpoints before transitions "
    f"{', '.join(f'T{p + 1}' for p in picks)} of {len(found.indices)} (first seed); grid: one β "
    f"in {settings.towards_stride} of chapter 3's grid up to {regime.beta_max:g}, then "
    f"{', '.join(f'{b:g}' for b in towards.betas[towards.betas > regime.beta_max])}."))
per_path = [connectivity.path_regimes(towards, i, regime.min_drop) for i in range(len(targets))]
jumps = [connectivity.switches(towards, i, f) for i, f in enumerate(per_path)]

rows = []
for i, (p, t) in enumerate(zip(picks, targets, strict=True)):
    for s in jumps[i]:
        rows.append({"towards": f"T{p + 1} (β = {standard.result.lams[t]:.3g})",
                     "β before → after": f"{s.beta[0]:.3g} → {s.beta[1]:.3g}",
                     "distance to reference": f"{s.distance[0]:.3g} → {s.distance[1]:.3g}",
                     "test accuracy": f"{s.accuracy[0]:.0%} → {s.accuracy[1]:.0%}",
                     "digits lost": ", ".join(map(str, s.lost)) or "–",
                     "digits gained": ", ".join(map(str, s.gained)) or "–"})
display(Markdown(report.markdown_table(rows) if rows else "No jump found on these paths."))

# %%
fig, axes = plots.panels(2, width=4.2, height=2.9)
b_std = standard.result.lams
axes[0].plot(b_std, standard.result.obs["test_acc"][:, 0], "-", color="0.5", lw=1,
             label="standard sweep (reference 0)")
for i, p in enumerate(picks):
    axes[0].plot(towards.betas, towards.obs["test_acc"][:, i], "o-", ms=2.5, color=f"C{i}",
                 label=f"towards T{p + 1}")
    axes[0].axhline(ref_acc[i], color=f"C{i}", ls=":", lw=0.8)
axes[0].set_xscale("symlog", linthresh=regime.betas[1])
axes[0].set_xlim(0, towards.betas[-1] * 1.2)
plots.label(axes[0], "β", "test accuracy", "paths (dotted: accuracy of the reference)",
            legend=True)
deep = len(targets) - 1
heat = towards.obs["class_acc"][:, deep].T
axes[1].imshow(heat, aspect="auto", origin="lower", cmap="viridis", vmin=0, vmax=1,
               interpolation="nearest", extent=(-0.5, len(towards.betas) - 0.5, -0.5,
                                                data.n_classes - 0.5))
for s in jumps[deep]:
    axes[1].axvline(s.before + 0.5, color="w", ls="--", lw=0.8)
axes[1].set_yticks(range(data.n_classes))
axes[1].grid(False)
plots.label(axes[1], "path step (white: jumps)", "digit",
            f"test recall per digit, path towards T{picks[deep] + 1}")
plt.show()

# %% [markdown]
# Each jump of a path is a set of digits lost (and occasionally regained): the **class-encoding
# switch**. The order in which digits go is set beside the standard sweep's below.

# %%
def groups(lost):
    return " → ".join("{" + ",".join(map(str, g)) + "}" for g in lost if g) or "–"


std_radii = standard.result.obs["norm"][found.indices, 0]
order_rows = [{"path": "standard sweep (reference 0)", "digits lost, in order": groups(found.lost),
               "distance to the reference at the jumps": ", ".join(f"{r:.3g}" for r in std_radii),
               "final test accuracy (reference's)": "–"}]
for i, p in enumerate(picks):
    order_rows.append({
        "path": f"towards T{p + 1}", "digits lost, in order": groups([s.lost for s in jumps[i]]),
        "distance to the reference at the jumps": ", ".join(f"{s.distance[0]:.3g}"
                                                            for s in jumps[i]) or "–",
        "final test accuracy (reference's)": f"{towards.obs['test_acc'][-1, i]:.0%} "
                                             f"({ref_acc[i]:.0%})"})
display(Markdown(report.markdown_table(order_rows)))
deep_lost = [s.lost for s in jumps[deep] if s.lost]
tau_deep = (regimes.loss_order_agreement(deep_lost, paper=[g for g in found.lost if g])
            if deep_lost else float("nan"))
display(Markdown(
    f"Along the path towards T{picks[deep] + 1} the digits go in an order that agrees with the "
    f"standard sweep's with Kendall τ = {tau_deep:.2f} (1: the same order; computed with "
    f"chapter 3's `loss_order_agreement`), the jumps at distances from the checkpoint set "
    f"beside the standard sweep's weight norms at its transitions in the table. The paper "
    f"reports, towards its T4 on MNIST, distances 7.1, 5.32, 3.35 and 0.6 against norms 7.81, "
    f"6.24, 4.26 and 2.89 at the standard sweep's T1…T4."))

# %% [markdown]
# ### Negative curvature at the jumps
#
# The extreme eigenvalues of $\nabla^2E$ (unregularised training cross-entropy, Lanczos) at the
# last checkpoint before each jump of the path towards the deepest checkpoint and, as controls,
# in the middle of each plateau. A checkpoint that is a minimum of the regularised loss has
# smallest eigenvalue ≥ −β; below −β the regularised loss itself is concave there — the
# optimiser stopped on a saddle of it.

# %%
before = [s.before for s in jumps[deep]]
controls = [i for i in connectivity.plateau_middles(per_path[deep]) if i not in before]
eigs = connectivity.checkpoint_hessians(towards, deep, before + controls, data, regime,
                                        settings)
eig_rows = [{"path step": i, "β": float(towards.betas[i]),
             "where": "before a jump" if i in before else "mid-plateau (control)",
             "test accuracy": f"{towards.obs['test_acc'][i, deep]:.0%}",
             "smallest eigenvalue": float(v[0]), "−β": -float(towards.betas[i]),
             "largest eigenvalue": float(v[1])} for i, v in eigs.items()]
display(Markdown(report.markdown_table(eig_rows, digits=3)))
eig_before = [float(v[0]) for i, v in eigs.items() if i in before]
eig_control = [float(v[0]) for i, v in eigs.items() if i not in before]
concave = [float(v[0]) < -float(towards.betas[i]) for i, v in eigs.items()]
display(Markdown(
    (f"Before the jumps the smallest eigenvalue is negative at {sum(v < 0 for v in eig_before)} "
     f"of {len(eig_before)} checkpoints; at the mid-plateau controls at "
     f"{sum(v < 0 for v in eig_control)} of {len(eig_control)}. "
     f"Below −β (the regularised loss concave): {sum(concave)} of {len(concave)} checkpoints. "
     + ("Negative curvature is therefore not confined to the jumps on this path."
        if eig_control and any(v < 0 for v in eig_control) else ""))
    if eig_before else "No jump on this path: no checkpoint to examine."))

# %% [markdown]
# ## Nested basins
#
# Plotted against the distance to its reference, every path — and the standard sweep against
# ‖θ‖, its distance to the reference 0 — steps through accuracy plateaus: the basins of
# decreasing accuracy are nested around the reference, whichever reference it is.

# %%
fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
ax.plot(standard.result.obs["norm"][:, 0], standard.result.obs["test_acc"][:, 0], "-",
        color="0.5", lw=1, label="standard sweep: ‖θ‖")
for i, p in enumerate(picks):
    ax.plot(towards.obs["dist_ref"][:, i], towards.obs["test_acc"][:, i], "o-", ms=2.5,
            color=f"C{i}", label=f"towards T{p + 1}: ‖θ − θ_T{p + 1}‖")
for s in jumps[deep]:
    ax.axvline(s.distance[0], color=f"C{deep}", ls=":", lw=0.8)
ax.set_xscale("log")
plots.label(ax, "distance to the reference", "test accuracy",
            "accuracy plateaus against the distance to the reference", legend=True)
plt.show()

# %% [markdown]
# ## Summary
#
# The numbers of this page are glued into the text and written to
# `results/summaries/05_pathfinder.json`, with the findings set beside the paper's values.

# %%
deep_switches = [s for s in jumps[deep] if s.is_switch]
all_switches = [s for sw in jumps for s in sw if s.is_switch]
settled = np.abs(towards.obs["test_acc"][-1] - ref_acc) <= regime.min_drop
numbers = {
    "toy_jump_beta": float(toy_betas[toy_jump]),
    "toy_saddle_error": float(np.linalg.norm(found_saddle.theta.numpy() - well.saddle)),
    "toy_saddle_eig": found_saddle.eig_min,
    "n_pairs": settings.n_pairs,
    "beta_min": settings.beta_min,
    "beta_max": settings.beta_max,
    "n_betas": len(path.betas),
    "towards_stride": settings.towards_stride,
    "linear_max_loss": float(link.max_loss("linear").mean()),
    "linear_min_acc": float(link.min_accuracy("linear").mean()),
    "bezier_max_loss": float(link.max_loss("Bezier").mean()),
    "pf_max_loss": float(link.max_loss("Pathfinder").mean()),
    "pf_checkpoint_max": float(checkpoint_max.mean()),
    "pf_barrier": float(link.barrier("Pathfinder").mean()),
    "linear_barrier": float(link.barrier("linear").mean()),
    "bezier_barrier": float(link.barrier("Bezier").mean()),
    "pf_grad_evals": float(costs["Pathfinder"].grad_evals.mean()),
    "bezier_grad_evals": float(costs["Bezier"].grad_evals.mean()),
    "bezier_cost_ratio": float(costs["Pathfinder"].grad_evals.mean()
                               / max(costs["Bezier"].grad_evals.mean(), 1)),
    "pf_wall_s": costs["Pathfinder"].wall_s,
    "bezier_wall_s": costs["Bezier"].wall_s,
    "remaining_at_paper_beta": remaining.tolist(),
    "arrival_beta": arrival.tolist(),
    "towards_references": [int(p) + 1 for p in picks],
    "towards_switches": [[list(s.lost), list(s.gained)] for s in deep_switches],
    "n_switches": len(all_switches),
    "eig_min_before_jumps": eig_before,
    "eig_min_controls": eig_control,
    "towards_kendall_tau": tau_deep,
    "towards_jump_distances": [s.distance[0] for s in jumps[deep]],
    "standard_transition_norms": std_radii.tolist(),
    "towards_final_accuracy": towards.obs["test_acc"][-1].tolist(),
    "reference_accuracy": ref_acc.tolist(),
}
report.glue_numbers({k: v for k, v in numbers.items() if not isinstance(v, list)})
pf_below_linear = bool(np.all(link.max_loss("Pathfinder") < link.max_loss("linear")))
named = "; ".join(f"β {s.beta[0]:.3g}→{s.beta[1]:.3g}: lost {list(s.lost)}, gained "
                  f"{list(s.gained)}" for s in all_switches[:4]) or "none"
findings = [
    report.Finding(
        "Pathfinder connects independently trained minima without a barrier",
        "train CE ≤ 0.012, test accuracy 96.8–97.8 % along M1→M2…M5 (MNIST) [paper]",
        f"highest train CE {numbers['pf_max_loss']:.3g} along the path (checkpoints and the "
        f"segments between them), linear interpolation {numbers['linear_max_loss']:.3g}, "
        f"Bezier {numbers['bezier_max_loss']:.3g} ({data.name})",
        pf_below_linear and numbers["pf_barrier"] < 0.1 * numbers["linear_barrier"],
        "mean over pairs; agreement: lower than linear for every pair and a barrier below a "
        "tenth of the linear one"),
    report.Finding(
        "Pathfinder paths end short of the target minimum",
        "≈ 31–36 short after the distance grows from 133–144 to 174–183, β_paper ≤ 5e-6 "
        "[paper]",
        f"at β_paper = 5e-6 still {remaining.min():.0%}–{remaining.max():.0%} of the initial "
        f"distance away; within 1 % only from β ≈ "
        + ", ".join("never" if np.isnan(b) else f"{b:.2g}" for b in arrival),
        bool(remaining.min() > 0.05),
        "distances are not comparable across architectures; the fraction is"),
    report.Finding(
        "cost against established mode-connectivity methods",
        "no comparison published",
        f"Pathfinder {numbers['pf_grad_evals']:.0f} gradient evaluations per path, Bezier "
        f"{numbers['bezier_grad_evals']:.0f}, linear 0",
        None, "the companion's addition"),
    report.Finding(
        "towards a transition checkpoint the ordered transitions reappear; the path settles on "
        "the checkpoint's plateau",
        "towards T4 (MNIST): transitions at distances 7.1, 5.32, 3.35, 0.6 [paper]",
        f"towards T{picks[deep] + 1}: {len(jumps[deep])} transitions at distances "
        + (", ".join(f"{s.distance[0]:.3g}" for s in jumps[deep]) or "–")
        + f", digit order τ = {tau_deep:.2f} with the standard sweep; final accuracy within "
        f"{regime.min_drop:.0%} of the reference's on {int(settled.sum())} of {len(targets)} paths",
        bool(len(jumps[deep]) >= 2 and tau_deep > 0.5 and settled.all()),
        "agreement: ≥ 2 transitions in the standard sweep's order (τ > 0.5) and every path "
        "settles"),
    report.Finding(
        "crossing a saddle switches which digit classes are encoded",
        "class-encoding switch at saddles (MNIST) [paper]",
        f"{len(all_switches)} switches on the paths towards chapter 3's checkpoints: {named}",
        bool(all_switches),
        "a switch: the set of digits with recall > 50 % changes across a jump"),
    report.Finding(
        "negative Hessian eigenvalues at the transition checkpoints",
        "negative eigenvalues near transition checkpoints [repo]",
        "smallest eigenvalue of ∇²E before each jump: "
        + (", ".join(f"{v:.3g}" for v in eig_before) or "no jump")
        + "; mid-plateau controls: " + (", ".join(f"{v:.3g}" for v in eig_control) or "–"),
        all(v < 0 for v in eig_before) if eig_before else None,
        "unregularised Hessian of the training cross-entropy, Lanczos"
        + ("; negative at the controls too: not specific to the jumps"
           if any(v < 0 for v in eig_control) else "")),
]
report.write_summary("05_pathfinder", numbers, run.info, results_dir, findings=findings)
display(Markdown(report.markdown_table([{"finding": f.finding, "paper": f.paper,
                                         "this run": f.companion, "agree": f.agree}
                                        for f in findings])))
