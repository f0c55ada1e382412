"""Figures of chapter 3 (accuracy regimes): observables along the sweep with the detected and the
published transitions, the per-digit heat map, Hessian eigenvalues at checkpoints and controls."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from l2lib.book import plots
from l2lib.experiments.regimes import Hierarchy
from l2lib.train.sweep import SweepResult

PANELS = (("test_acc", "test accuracy"), ("train_ce", "training cross-entropy"),
          ("test_ce", "test cross-entropy"), ("objective", "regularised loss E + (β/2)‖θ‖²"),
          ("norm", "‖θ‖"))


def _transitions(ax: Axes, h: Hierarchy, paper: Sequence[float] | None) -> None:
    """Detected T_k (green line at the median, band over the seed range); paper's (dotted)."""
    for t in h.transitions:
        ax.axvline(t.beta, color="C2", lw=0.8, alpha=0.8)
        if t.high > t.low:
            ax.axvspan(t.low, t.high, color="C2", alpha=0.15, lw=0)
    for t in paper or ():
        ax.axvline(t, color="0.4", lw=0.8, ls=":")


def observables(up: SweepResult, down: SweepResult | None, h: Hierarchy, *,
                paper: Sequence[float] | None = None,
                authors: tuple[np.ndarray, np.ndarray] | None = None) -> Figure:
    """Five observables against β (seed mean, ±1 s.d. band; the way down dashed) and accuracy
    against ‖θ‖. ``paper``: the published T_k (dotted); ``authors``: (β, accuracy) of the
    authors' mean test-accuracy curve, drawn on the accuracy panel."""
    up = up.ascending()
    back = down.ascending() if down is not None else None
    fig, axes = plots.panels(3, rows=2, height=2.5)
    for ax, (name, title) in zip(axes.flat, PANELS, strict=False):
        plots.sweep_pair(ax, up.lams, up.mean(name), None if back is None else back.mean(name),
                         spread_up=up.obs[name].std(axis=1))
        _transitions(ax, h, paper)
        plots.label(ax, "β", title)
    if authors is not None:
        axes[0, 0].plot(*authors, color="k", lw=0.8, alpha=0.7, label="authors (MNIST 60k)")
    axes[0, 0].legend(fontsize=7)
    ax = axes[1, 2]
    ax.plot(up.mean("norm"), up.mean("test_acc"), "o-", ms=3, color="C0", label="sweep up")
    if back is not None:
        ax.plot(back.mean("norm"), back.mean("test_acc"), "v--", ms=3, color="C3",
                label="sweep down")
    plots.label(ax, "‖θ‖", "test accuracy", "accuracy against the weight norm", legend=True)
    fig.suptitle("Along the warm β sweep (mean over seeds; band ±1 s.d.); green: detected "
                 "transitions (band: seed range)" + ("; dotted: the paper's" if paper else ""))
    return fig


def digit_heatmap(up: SweepResult, h: Hierarchy) -> Figure:
    """Test recall per digit along the upward sweep (mean over seeds), transitions dashed."""
    up = up.ascending()
    heat = up.mean("class_acc").T
    fig, ax = plt.subplots(figsize=(9, 3.2), layout="constrained")
    step = float(np.median(np.diff(up.lams)))
    im = ax.imshow(heat, aspect="auto", origin="lower", cmap="viridis", vmin=0, vmax=1,
                   extent=(up.lams[0] - step / 2, up.lams[-1] + step / 2, -0.5,
                           heat.shape[0] - 0.5), interpolation="nearest")
    for t in h.transitions:
        ax.axvline(t.beta, color="w", lw=0.8, ls="--")
    ax.set_yticks(range(heat.shape[0]))
    ax.grid(False)
    plots.label(ax, "β", "digit", "Test recall per digit along the upward sweep (mean over seeds)")
    fig.colorbar(im, ax=ax, label="recall")
    return fig


def checkpoint_eigenvalues(curv: dict[str, np.ndarray], up: SweepResult | None = None
                           ) -> Figure:
    """Left: smallest eigenvalue of ∇²E at the transition checkpoints and mid-plateau controls,
    with −β (below it the regularised loss is concave there); hollow: points whose stationarity
    residual exceeds ``curv["residual_tol"]``, which the finding leaves out. Right: their top-k
    spectra by magnitude (signed; the authors keep k = 30). ``curv``: from
    ``regimes.curvature_check``;
    ``up``: the sweep, whose in-sweep measurements (seed 0, every ``hessian_every``-th β) are
    drawn in grey where present."""
    fig, axes = plots.panels(2, width=4.2, height=2.8)
    top = max(np.max(curv["near_beta"], initial=0), np.max(curv["far_beta"], initial=0))
    if up is not None and "eig_min" in up.obs:
        res = up.ascending()
        seen = np.isfinite(res.obs["eig_min"][:, 0])
        axes[0].plot(res.lams[seen], res.obs["eig_min"][seen, 0], "-", color="0.6",
                     marker=".", label="along the sweep")
        for beta, values in zip(res.lams[seen], res.obs["top_eigenvalues"][seen, 0],
                                strict=True):
            axes[1].plot(np.full(len(values), beta), values, ".", ms=3, color="0.6")
        top = max(top, float(np.max(res.lams[seen], initial=0)))
    ax = axes[0]
    tol = float(curv.get("residual_tol", np.inf))
    for name, marker, color, label in (("near", "s", "C3", "transition checkpoints"),
                                       ("far", "o", "C0", "mid-plateau controls")):
        residual = np.asarray(curv.get(f"{name}_residual", np.zeros(len(curv[name]))), float)
        minimum = residual <= tol
        ax.plot(curv[f"{name}_beta"][minimum], curv[name][minimum], marker, color=color,
                label=label)
        if (~minimum).any():
            ax.plot(curv[f"{name}_beta"][~minimum], curv[name][~minimum], marker, color=color,
                    mfc="none", label=f"{label.split()[0]}: not a minimum (left out)")
    grid = np.linspace(0, top, 50)
    ax.plot(grid, -grid, "k:", lw=1, label="−β")
    plots.label(ax, "β", "smallest eigenvalue of ∇²E", legend=True)
    ax = axes[1]
    for name, marker, color in (("near", "s", "C3"), ("far", "o", "C0")):
        for beta, values in zip(curv[f"{name}_beta"], curv.get(f"{name}_top", []), strict=False):
            ax.plot(np.full(len(values), beta), values, marker, ms=3, color=color, alpha=0.6)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_yscale("symlog", linthresh=1e-2)
    plots.label(ax, "β", "top eigenvalues of ∇²E by |λ|",
                "red: checkpoints, blue: controls, grey: sweep")
    return fig


def stationarity(up: SweepResult, h: Hierarchy | None = None) -> Figure:
    """The relative stationarity residual ‖∇E + β θ‖ / ‖β θ‖ of every seed along the sweep
    (log scale; 0 at a stationary point of L_β, ≥ 1 where the gradient of the loss is as large
    as the penalty's pull), with the detected transitions. Sweeps stored before the residual was
    recorded draw an empty panel saying so."""
    up = up.ascending()
    fig, ax = plt.subplots(figsize=(7, 2.6))
    if not plots.residual_lines(ax, up.lams, up.obs.get("residual"), "this sweep", "seed {}"):
        return fig
    if h is not None:
        _transitions(ax, h, None)
    ax.axhline(1.0, color="0.5", lw=0.6, ls="--")
    plots.label(ax, "β", "‖∇L_β‖ / ‖βθ‖", "how far each sweep point is from a minimum of L_β",
                legend=True)
    return fig
