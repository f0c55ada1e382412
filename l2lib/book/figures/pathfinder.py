"""Figures and tables of chapter 5 (saddles, Pathfinder, mode connectivity); each draws what
:mod:`l2lib.experiments.pathfinder` computed and nothing else."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from l2lib.analysis.findings import Finding
from l2lib.book import plots
from l2lib.book.report import markdown_table
from l2lib.experiments import pathfinder as ch5
from l2lib.train.pathfinder import Path, paper_beta
from l2lib.train.sweep import SweepResult

COLORS = {"Pathfinder": "C0", "linear": "C3", "Bezier": "C2"}


def toy_figure(t: ch5.Toy) -> Figure:
    """The double-well path over the contours of E with the saddle found, and the lowest
    eigenvalue of ∇²E and of ∇²L = ∇²E + βI at the checkpoints."""
    fig, axes = plots.panels(2, width=3.8)
    gx, gy = np.meshgrid(np.linspace(-1.6, 1.6, 200), np.linspace(-0.7, 1.3, 160))
    grid_e = t.well(torch.as_tensor(np.stack([gx, gy], -1))).numpy()
    ax = axes[0]
    ax.contour(gx, gy, grid_e, levels=np.linspace(0, 3, 16), colors="0.7", linewidths=0.6)
    ax.plot(t.points[:, 0], t.points[:, 1], "o", ms=3, color="C0", label="checkpoints")
    for i in t.jumps:
        ax.plot(t.points[[i, i + 1], 0], t.points[[i, i + 1], 1], "--", color="C3", lw=1,
                label="the jump")
    if t.saddle is not None:
        ax.plot(*t.saddle.theta.numpy(), "x", color="k", ms=8, mew=2, label="saddle found")
    ax.plot(*t.well.minima.T, "*", color="C1", ms=9, label="start, reference")
    plots.label(ax, "x", "y", "Pathfinder on the double well", legend=True)
    ax = axes[1]
    ax.plot(t.betas, t.eig, "o-", ms=3, label="of ∇²E")
    ax.plot(t.betas, t.eig + t.betas, "s-", ms=3, label="of ∇²E + βI (the loss L)")
    ax.axhline(0, color="k", lw=0.8)
    for i in t.jumps:
        plots.mark(ax, t.betas[i], "last checkpoint before the jump", color="C3", ls="--")
    plots.label(ax, "β", "lowest eigenvalue", "curvature at the checkpoints", legend=True)
    return fig


def toy_table(t: ch5.Toy) -> str:
    """The analytic saddle beside the one found."""
    rows = [{"": "saddle of E (analytic)", "x": 0.0, "y": 0.0, "E": 1.0,
             "eigenvalues of ∇²E": ", ".join(f"{v:g}" for v in t.well.saddle_eigenvalues)}]
    if t.saddle is not None:
        rows.append({"": "found between the jump's checkpoints",
                     "x": float(t.saddle.theta[0]), "y": float(t.saddle.theta[1]),
                     "E": t.saddle.value,
                     "eigenvalues of ∇²E": f"{t.saddle.eig_min:.6g}, {t.saddle.eig_max:.6g}"})
    return markdown_table(rows)


def minima_table(minima: ch5.Minima, link: ch5.Connection) -> str:
    """M1 … Mn: training cross-entropy, test accuracy, distance from M1."""
    dist = np.concatenate([[0.0], link.pathfinder.start_distance()])
    return markdown_table([{"minimum": f"M{j + 1}", "train CE": float(minima.train_loss[j]),
                            "test accuracy": f"{minima.test_acc[j]:.1%}",
                            "distance from M1": float(dist[j])}
                           for j in range(len(minima.train_loss))], digits=3)


def connection_figure(link: ch5.Connection) -> Figure:
    """Training loss and test accuracy along the three curves (normalised arc length), and
    Pathfinder's distance to its target against β_paper on the paper's linear grid."""
    fig, axes = plots.panels(3, height=2.8)
    for method, along in link.along.items():
        for k in range(along["train_loss"].shape[1]):
            kw = dict(color=COLORS[method], lw=1.4 if k == 0 else 0.8,
                      alpha=1 if k == 0 else 0.5, label=method if k == 0 else None)
            axes[0].plot(along["position"][:, k], along["train_loss"][:, k], **kw)
            axes[1].plot(along["position"][:, k], along["test_acc"][:, k], **kw)
    pf = link.along["Pathfinder"]
    axes[0].plot(pf["position"][pf["checkpoint"], 0], pf["train_loss"][pf["checkpoint"], 0],
                 "o", ms=2.5, color="C0")
    axes[0].set_yscale("log")
    x = "position along the curve (arc length, normalised)"
    plots.label(axes[0], x, "training loss E", "loss (dots: Pathfinder checkpoints)",
                legend=True)
    plots.label(axes[1], x, "test accuracy", "accuracy")
    distance_panel(axes[2], link.betas_paper, link.pathfinder.obs["dist_ref"])
    return fig


def distance_panel(ax: plt.Axes, betas_paper: np.ndarray, dist_ref: np.ndarray,
                   title: str = "Pathfinder: distance to the target") -> None:
    """Pathfinder's distance ‖θ − M_j‖ to each target (``dist_ref``, shape (n_betas, K))
    against β_paper, with the paper's start and peak bands."""
    for k in range(dist_ref.shape[1]):
        ax.plot(betas_paper, dist_ref[:, k], "o-", ms=2.5, color=f"C{k}",
                label=f"M1 → M{k + 2}")
    ax.axhspan(*ch5.PAPER["distance_peak"], color="0.85", label="paper: peak")
    ax.axhspan(*ch5.PAPER["distance_start"], color="0.93", label="paper: start")
    ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    plots.label(ax, "β_paper", "‖θ − M_j‖", title, legend=True)


def reference_distance_figure(path: SweepResult, label: str) -> Figure:
    """The distance curve of a committed reference run (its ``pathfinder-*`` store: l2lib's β
    as ``lams``, ``dist_ref`` per member), drawn as :func:`connection_figure` draws the run's."""
    fig, ax = plt.subplots(figsize=(4.6, 3.0), layout="constrained")
    distance_panel(ax, paper_beta(path.lams), np.asarray(path.obs["dist_ref"]),
                   f"{label}: distance to the target")
    return fig


def comparison_table(link: ch5.Connection) -> str:
    """Highest loss, barrier, lowest accuracy and cost of each method (means over paths); the
    Pathfinder path also without the straight segment that closes it at the target."""
    rows = [{"method": m, "highest training loss": float(link.max_loss(m).mean()),
             "barrier (training loss)": float(link.barrier(m).mean()),
             "lowest test accuracy": f"{link.min_accuracy(m).mean():.1%}",
             "gradient evaluations per path": int(round(float(link.costs[m].grad_evals.mean()))),
             "wall time, all paths (s)": round(link.costs[m].wall_s, 1)}
            for m in ch5.METHODS]
    on = link.along["Pathfinder"]["on_path"]
    rows.insert(1, {**rows[0], "method": "Pathfinder, path only (start to last checkpoint)",
                    "highest training loss": float(link.path_max_loss().mean()),
                    "barrier (training loss)": float(link.path_barrier().mean()),
                    "lowest test accuracy":
                        f"{link.along['Pathfinder']['test_acc'][on].min(axis=0).mean():.1%}"})
    rows[0]["method"] = "Pathfinder, closed at M_j by a straight segment"
    return markdown_table(rows, digits=3)


def towards_figure(tw: ch5.Towards, standard: SweepResult) -> Figure:
    """Test accuracy along the paths towards the checkpoints (dotted: the reference's), and the
    test recall per digit along the path towards the deepest one (white: jumps)."""
    fig, axes = plots.panels(2, width=4.2, height=2.9)
    path = tw.path
    axes[0].plot(standard.lams, standard.obs["test_acc"][:, 0], "-", color="0.5", lw=1,
                 label="standard sweep (reference 0)")
    for i, p in enumerate(tw.picks):
        axes[0].plot(path.betas, path.obs["test_acc"][:, i], "o-", ms=2.5, color=f"C{i}",
                     label=f"towards T{p + 1}")
        axes[0].axhline(tw.reference_acc[i], color=f"C{i}", ls=":", lw=0.8)
    axes[0].set_xscale("symlog", linthresh=max(float(standard.lams[1]), 1e-12))
    plots.label(axes[0], "β", "test accuracy", "paths (dotted: accuracy of the reference)",
                legend=True)
    heat = path.obs["class_acc"][:, tw.deep].T
    n_classes = heat.shape[0]
    axes[1].imshow(heat, aspect="auto", origin="lower", cmap="viridis", vmin=0, vmax=1,
                   interpolation="nearest",
                   extent=(-0.5, len(path.betas) - 0.5, -0.5, n_classes - 0.5))
    for s in tw.jumps[tw.deep]:
        axes[1].axvline(s.before + 0.5, color="w", ls="--", lw=0.8)
    axes[1].set_yticks(range(n_classes))
    axes[1].grid(False)
    plots.label(axes[1], "path step (white: jumps)", "digit",
                f"test recall per digit, path towards T{tw.picks[tw.deep] + 1}")
    return fig


def _groups(lost: Sequence[Sequence[int]]) -> str:
    return " → ".join("{" + ",".join(map(str, g)) + "}" for g in lost if g) or "–"


def switch_table(tw: ch5.Towards, standard_betas: np.ndarray) -> str:
    """Every jump of every path: β, distance, accuracy, digits lost and gained, and its kind
    (switch / loss / gain)."""
    rows = [{"towards": f"T{p + 1} (β = {standard_betas[t]:.3g})",
             "β before → after": f"{s.beta[0]:.3g} → {s.beta[1]:.3g}",
             "distance to reference": f"{s.distance[0]:.3g} → {s.distance[1]:.3g}",
             "test accuracy": f"{s.accuracy[0]:.0%} → {s.accuracy[1]:.0%}",
             "lost": ", ".join(map(str, s.lost)) or "–",
             "gained": ", ".join(map(str, s.gained)) or "–", "kind": s.kind}
            for i, (p, t) in enumerate(zip(tw.picks, tw.targets, strict=True))
            for s in tw.jumps[i]]
    return markdown_table(rows) if rows else "No jump on these paths."


def order_table(tw: ch5.Towards) -> str:
    """Digits lost in order, the distances of the jumps, and the final accuracy of each path
    beside the standard sweep."""
    rows = [{"path": "standard sweep (reference 0)", "digits lost, in order":
             _groups(tw.standard.lost), "distance to the reference at the jumps":
             ", ".join(f"{r:.3g}" for r in tw.standard_norms), "final test accuracy "
             "(reference's)": "–"}]
    for i, p in enumerate(tw.picks):
        rows.append({
            "path": f"towards T{p + 1}",
            "digits lost, in order": _groups([s.lost for s in tw.jumps[i]]),
            "distance to the reference at the jumps":
                ", ".join(f"{s.distance[0]:.3g}" for s in tw.jumps[i]) or "–",
            "final test accuracy (reference's)":
                f"{tw.path.obs['test_acc'][-1, i]:.0%} ({tw.reference_acc[i]:.0%})"})
    return markdown_table(rows)


def saddle_figure(scans: ch5.Scans, overlap_min: float) -> Figure:
    """Lowest eigenvalue of ∇²L against the overlap of its eigenvector with the step, at every
    scanned point: jump steps against control steps; the saddle region is bottom right."""
    fig, ax = plt.subplots(figsize=(5.2, 3.2), layout="constrained")
    for group, color, name in ((scans.jumps, "C3", "jump steps"),
                               (scans.controls, "C0", "control steps (mid-plateau)")):
        modes = [m for ms in group.values() for m in ms]
        if modes:
            ax.scatter([m.overlap for m in modes], [m.eig_loss for m in modes], s=18,
                       color=color, label=name)
    ax.axhline(0, color="k", lw=0.8)
    ax.axvline(overlap_min, color="0.4", ls=":", lw=0.9, label="overlap threshold")
    ax.set_xscale("log")
    plots.label(ax, "overlap |⟨u, d⟩| / ‖d‖ of the lowest mode with the step",
                "lowest eigenvalue of ∇²L", "saddles of L along the path", legend=True)
    return fig


def path_residuals(path: Path, tol: float, member: int | None = None) -> Figure:
    """The stationarity residual ‖∇E + β(θ − θ_ref)‖ / ‖β(θ − θ_ref)‖ along a path, one line
    per member (log scale; 0 at a minimum of L_β), with the tolerance ``tol`` below which a
    point counts as a minimum; ``member`` (the scanned one) drawn bold. A path stored without
    the residual draws an empty panel saying so."""
    fig, ax = plt.subplots(figsize=(7, 2.6), layout="constrained")
    if not plots.residual_lines(ax, path.betas, path.obs.get("residual"), "this path",
                                "path {}", bold=member):
        return fig
    ax.axhline(tol, color="k", ls=":", lw=0.9, label="tolerance")
    plots.label(ax, "β", "‖∇L_β‖ / ‖β(θ − θ_ref)‖",
                "how far each path point is from a minimum of L_β", legend=True)
    return fig


def scan_table(scans: ch5.Scans, betas: np.ndarray) -> str:
    """Every scanned point: step, β of the step, position, eigenvalues and overlap."""
    rows = [{"step": f"{i} → {i + 1}", "where": where, "β": float(betas[i + 1]),
             "position": m.position, "lowest eig. of ∇²E": m.eig,
             "of ∇²L": m.eig_loss, "overlap": m.overlap}
            for where, group in (("jump", scans.jumps), ("control", scans.controls))
            for i, modes in group.items() for m in modes]
    return markdown_table(rows, digits=3) if rows else "No step was scanned."


def basins_figure(tw: ch5.Towards, standard: SweepResult) -> Figure:
    """Test accuracy against the distance to the reference, for every path and the standard
    sweep (‖θ‖ = distance to 0)."""
    fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
    ax.plot(standard.obs["norm"][:, 0], standard.obs["test_acc"][:, 0], "-", color="0.5",
            lw=1, label="standard sweep: ‖θ‖")
    for i, p in enumerate(tw.picks):
        ax.plot(tw.path.obs["dist_ref"][:, i], tw.path.obs["test_acc"][:, i], "o-", ms=2.5,
                color=f"C{i}", label=f"towards T{p + 1}: ‖θ − θ_T{p + 1}‖")
    for s in tw.jumps[tw.deep]:
        ax.axvline(s.distance[0], color=f"C{tw.deep}", ls=":", lw=0.8)
    ax.set_xscale("log")
    plots.label(ax, "distance to the reference", "test accuracy",
                "accuracy plateaus against the distance to the reference", legend=True)
    return fig


def findings_table(found: Sequence[Finding]) -> str:
    """The chapter's findings: claim, paper, this run, verdict (with its reason)."""
    return markdown_table([{"finding": f.finding, "paper": f.paper, "this run": f.companion,
                            "verdict": f"{f.verdict.symbol} {f.verdict.value}"
                            + (f" ({f.note})" if f.note else "")} for f in found])


def for_glue(values: dict) -> dict:
    """``values`` with every string wrapped as Markdown, for ``{glue:md}`` roles (numbers stay
    numbers, for ``{glue:text}``)."""
    from IPython.display import Markdown

    return {k: Markdown(v) if isinstance(v, str) else v for k, v in values.items()}
