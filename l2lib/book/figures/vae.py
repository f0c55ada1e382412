"""Figures of chapter 4 (the β-VAE): the upward sweep per network with the change points, the
two landscapes, the change-point test's p-values, and the hysteresis of the sweeps."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from l2lib.analysis import collapse
from l2lib.analysis.findings import Finding
from l2lib.book import plots
from l2lib.experiments.vae import ALPHA, CONTROL_NAMES, BetaHysteresis, VaeAnalysis
from l2lib.train.sweep import SweepResult


def log_beta(ax: Axes) -> None:
    """A logarithmic β axis with plain tick labels."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def grid_to_beta(points: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """Change points in grid units (i − 0.5 between points i − 1 and i) as β (log-midpoints)."""
    logb = np.log10(np.asarray(betas, dtype=np.float64))
    return 10 ** np.interp(np.asarray(points, dtype=np.float64), np.arange(logb.size), logb)


def _marks(ax: Axes, betas: Sequence[float], label: str, color: str, ls: str) -> None:
    for i, b in enumerate(betas):
        plots.mark(ax, float(b), label if i == 0 else None, color=color, ls=ls)


def sweep_panels(up: SweepResult, thresholds: np.ndarray, analysis: VaeAnalysis,
                 seed: int = 0) -> Figure:
    """One column per network: KL per unit (dotted: the linear-VAE thresholds ν_i/σ²), active
    units, the probe accuracy on z and on μ, and R(E_rec) with its error bars; the probe's
    change points (orange, dashed) and the curvature's (green) on the lower rows."""
    test = analysis.tests["curvature"]
    n_members = up.obs["active_units"].shape[1]
    fig, axes = plots.panels(n_members, rows=4, height=2.1, width=4.2)
    axes = np.asarray(axes).reshape(4, n_members)
    inside = thresholds[(thresholds >= up.betas[0]) & (thresholds <= up.betas[-1])]
    for k in range(n_members):
        ax = axes[0, k]
        ax.plot(up.betas, up.obs["kl_dims"][:, k], "-", lw=1.0)
        _marks(ax, inside, "linear VAE: ν_i/σ²", "0.6", ":")
        plots.label(ax, "β", "KL per unit (nats)", f"network {k} (seed {seed + k})",
                    legend=k == 0)
        axes[1, k].step(up.betas, up.obs["active_units"][:, k], where="mid", color="C0")
        plots.label(axes[1, k], "β", "active units")
        axes[2, k].plot(up.betas, up.obs["probe_z"][:, k], "o-", ms=3, color="C1",
                        label="probe on z = μ + σε")
        axes[2, k].plot(up.betas, up.obs["probe_acc"][:, k], "s--", ms=2, color="0.5",
                        label="probe on μ")
        plots.label(axes[2, k], "β", "probe accuracy (test)", legend=k == 0)
        axes[3, k].errorbar(up.betas, up.obs["curvature"][:, k],
                            yerr=up.obs["curvature_err"][:, k], fmt="o-", ms=3, color="C0")
        axes[3, k].set_yscale("log")
        plots.label(axes[3, k], "β", "R of E_rec")
        for row in (2, 3):
            _marks(axes[row, k], grid_to_beta(test.targets[k], up.betas),
                   "probe change point", "C1", "--")
            _marks(axes[row, k], grid_to_beta(test.candidates[k], up.betas),
                   "curvature change point", "C2", "-")
        axes[3, k].legend(fontsize=7)
    for ax in axes.flat:
        log_beta(ax)
    return fig


def p_values(analysis: VaeAnalysis) -> Figure:
    """The change-point test per observable: the mean distance from each probe change point to
    the nearest change point of the observable, beside its two null means; and the p-values
    (both nulls) on a log scale with α."""
    names = list(analysis.tests)
    tests = [analysis.tests[c] for c in names]
    x = np.arange(len(names))
    fig, axes = plots.panels(2, width=4.2)
    axes[0].bar(x - 0.25, [t.statistic for t in tests], 0.25, label="observed")
    axes[0].bar(x, [t.null_shift for t in tests], 0.25, label="null: shifted change points")
    axes[0].bar(x + 0.25, [t.null_surrogate for t in tests], 0.25, label="null: surrogates")
    plots.label(axes[0], "", "mean distance (grid steps)", legend=True)
    axes[1].plot(x, [t.p_shift for t in tests], "o", label="shift")
    axes[1].plot(x, [t.p_surrogate for t in tests], "s", label="surrogate")
    axes[1].axhline(ALPHA, color="0.5", ls=":", label=f"α = {ALPHA}")
    axes[1].set_yscale("log")
    plots.label(axes[1], "", "p-value", legend=True)
    for ax in axes:
        ax.set_xticks(x, [CONTROL_NAMES[c] for c in names])
    return fig


def landscapes(up: SweepResult) -> Figure:
    """R of E_rec and of E_β = E_rec + β·KL (left) and their gradient norms (right)."""
    fig, axes = plots.panels(2, width=4.2)
    for k in range(up.obs["curvature"].shape[1]):
        first = k == 0
        axes[0].plot(up.betas, up.obs["curvature"][:, k], "o-", ms=3, color="C0",
                     label="R of E_rec" if first else None)
        axes[0].plot(up.betas, up.obs["curvature_obj"][:, k], "s--", ms=3, color="C3",
                     label="R of E_β = E_rec + β KL" if first else None)
        axes[1].plot(up.betas, up.obs["grad_norm"][:, k], "o-", ms=3, color="C0",
                     label="‖∇E_rec‖" if first else None)
        axes[1].plot(up.betas, up.obs["grad_norm_obj"][:, k], "s--", ms=3, color="C3",
                     label="‖∇E_β‖" if first else None)
    for ax in axes:
        log_beta(ax)
    axes[0].set_yscale("log")
    plots.label(axes[0], "β", "scalar curvature R", "two landscapes", legend=True)
    plots.label(axes[1], "β", "gradient norm at the trained point", legend=True)
    return fig


def hysteresis(sweeps: BetaHysteresis) -> Figure:
    """Means over the networks of the upward and downward sweeps."""
    fig, axes = plots.panels(4, width=3.0)
    rows = [("active_units", "active units"), ("probe_z", "probe accuracy on z (test)"),
            ("kl", "KL (nats)"), ("curvature", "R of E_rec")]
    for ax, (name, ylabel) in zip(axes, rows, strict=True):
        plots.sweep_pair(ax, sweeps.betas, sweeps.up.mean(name), sweeps.down.mean(name))
        log_beta(ax)
        plots.label(ax, "β", ylabel, legend=name == "active_units")
    axes[3].set_yscale("log")
    return fig


def collapse_table(sweeps: BetaHysteresis) -> list[dict[str, float | str]]:
    """Rows for the table beside the hysteresis figure: β of total collapse and the state at
    the smallest β, per sweep."""
    return [{"sweep": name, "β of total collapse": collapse.mean_total_collapse_beta(sweep),
             "active units at smallest β": float(sweep.mean("active_units")[0]),
             "probe on z at smallest β": float(sweep.mean("probe_z")[0])}
            for name, sweep in (("up", sweeps.up), ("down", sweeps.down))]


def test_rows(analysis: VaeAnalysis) -> list[dict[str, float | int | str]]:
    """One table row per observable of the change-point test (probe on z as the target)."""
    return [{"observable": CONTROL_NAMES[c], "change points": t.n_candidates,
             "mean distance (grid steps)": t.statistic, "null: shifted": t.null_shift,
             "null: surrogates": t.null_surrogate, "p (shift)": t.p_shift,
             "p (surrogate)": t.p_surrogate, "p": t.p} for c, t in analysis.tests.items()]


def findings_rows(found: Sequence[Finding]) -> list[dict[str, str]]:
    """The findings as table rows: claim, this run, verdict (with its symbol) and note."""
    return [{"finding": f.finding, "this run": f.companion,
             "verdict": f"{f.verdict.symbol} {f.verdict.value}", "note": f.note} for f in found]
