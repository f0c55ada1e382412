"""Figures of chapter 2 (curvature change points)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from l2lib.book import plots
from l2lib.experiments.curvature import CurvatureChapterSettings, CurvatureCurve
from l2lib.train.sweep import SweepResult


def _marks(ax, changes: np.ndarray, targets: Mapping[str, float], legend: bool) -> None:
    for i, lam in enumerate(changes):
        plots.mark(ax, lam, "change point of R" if legend and i == 0 else None)
    for (name, lam), ls in zip(targets.items(), ("--", ":", "-."), strict=False):
        if np.isfinite(lam):
            plots.mark(ax, lam, name if legend else None, color="k", ls=ls)


def sweeps(results: Mapping[int, SweepResult], curves: Mapping[int, CurvatureCurve],
           targets: Mapping[int, Mapping[str, float]], order_name: str,
           settings: CurvatureChapterSettings, title: str = "D = {}") -> Figure:
    """Per sweep (column, titled ``title.format(key)``): the order parameter, R of E (converged
    points, ±1 stderr) and the extreme Hessian eigenvalues of E; green lines: change points of
    R, black: ``targets`` (e.g. λ_c of the theory, the jump of the sweep)."""
    fig, axes = plots.panels(len(results), rows=3, height=2.3)
    axes = axes.reshape(3, -1)
    for col, (name, r) in enumerate(results.items()):
        c = curves[name]
        changes = c.change_points("curvature", settings).lams
        axes[0, col].plot(c.lams, c.norm, "o-", ms=3)
        axes[1, col].errorbar(c.lams, c.curvature, yerr=c.curvature_err, fmt="o-", ms=3)
        axes[2, col].plot(r.lams, r.mean("eig_max"), "o-", ms=3, label="largest")
        axes[2, col].plot(r.lams, r.mean("eig_min"), "s-", ms=3, label="smallest")
        for row, ylabel in enumerate([order_name, "scalar curvature R of E",
                                      "extreme eigenvalues of ∇²E"]):
            _marks(axes[row, col], changes, targets[name], legend=row == 0 and col == 0)
            plots.label(axes[row, col], "λ", ylabel, title.format(name) if row == 0 else None,
                        legend=(row == 0 and col == 0) or (row == 2 and col == 0))
    return fig


def modes(result: SweepResult, curve: CurvatureCurve, mode_lams: Sequence[float],
          settings: CurvatureChapterSettings) -> Figure:
    """Singular values (left) and R (right, symmetric-log scale) of the multi-mode sweep;
    dotted: each mode's λ_c, green: change points of R."""
    fig, axes = plots.panels(2)
    changes = curve.change_points("curvature", settings).lams
    plots.mode_staircase(axes[0], result.lams, result.mean("modes"))
    axes[1].plot(curve.lams, curve.curvature, "o-", ms=3)
    axes[1].set_yscale("symlog", linthresh=10.0)
    for ax in axes:
        for lam in mode_lams:
            plots.mark(ax, lam, None, color="0.5", ls=":")
        for lam in changes:
            plots.mark(ax, lam, None)
    plots.label(axes[0], "λ", "singular values", "modes (dotted: theory λ_c)", legend=True)
    plots.label(axes[1], "λ", "scalar curvature R of E", "R (green: change points)")
    return fig


def minimum_checks(results: Mapping[str, SweepResult], rtol: float) -> Figure:
    """Per sweep: the largest member's stationarity residual (log scale; dotted: tolerance) and
    the smallest eigenvalue of ∇²L_λ (right axis; below 0: not a minimum)."""
    fig, axes = plots.panels(len(results), height=2.4)
    for ax, (name, r) in zip(np.atleast_1d(axes), results.items(), strict=True):
        res = np.nan_to_num(r.obs["residual"].max(axis=1), posinf=np.nan)
        ax.semilogy(r.lams, np.maximum(res, 1e-12), **plots.UP | {"label": "residual"})
        ax.axhline(rtol, color="k", ls=":", lw=0.9, label="tolerance")
        twin = ax.twinx()
        twin.plot(r.lams, r.obs["eig_min_reg"].min(axis=1), "s", ms=2.5, color="C1")
        twin.axhline(0.0, color="C1", lw=0.6)
        twin.set_ylabel("λ_min(∇²L_λ)", color="C1")
        plots.label(ax, "λ", "‖∇L_λ‖ / ‖λθ‖", name, legend=ax is np.atleast_1d(axes)[0])
    return fig
