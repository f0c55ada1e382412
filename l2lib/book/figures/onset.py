"""Figures of chapter 1 (onset of learning) and the findings table every chapter shows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from l2lib.analysis import theory
from l2lib.analysis.findings import Finding
from l2lib.book import plots
from l2lib.book.report import markdown_table
from l2lib.data.teacher import TeacherData
from l2lib.experiments.onset import LinearAnalysis, MlpAnalysis
from l2lib.train.sweep import Hysteresis


def reduced_loss(depths: Sequence[int] = (1, 2)) -> Figure:
    """L(r) of balanced deep linear nets (m = a = 1) at several λ around λ_c, one panel per D."""
    fig, axes = plots.panels(len(depths))
    r = np.linspace(0, 1.2, 400)
    for ax, depth in zip(axes, depths, strict=True):
        lam_c = theory.critical_lambda(1.0, 1.0, depth)
        for frac in (0.6, 0.9, 1.0, 1.1, 1.3):
            ax.plot(r, theory.reduced_loss(r, frac * lam_c, 1.0, 1.0, depth),
                    label=f"λ = {frac:g} λ_c")
        plots.label(ax, "end-to-end norm r", "L(r) − ⟨y²⟩", f"D = {depth} (m = a = 1)",
                    legend=depth == depths[0])
        ax.set_ylim(-0.4, 0.35)
    return fig


def linear_sweeps(sweeps: Mapping[int, Hysteresis], analyses: Mapping[int, LinearAnalysis],
                  teacher: TeacherData) -> Figure:
    """Top: end-to-end norm of both sweeps against theory; bottom: the regularised loss.
    Grey bands: the loop (where the branches differ at minima)."""
    fig, axes = plots.panels(len(sweeps), rows=2)
    axes = axes.reshape(2, -1)
    for col, (depth, h) in enumerate(sweeps.items()):
        a = analyses[depth]
        fine = np.linspace(h.lams[0], h.lams[-1], 400)
        ax = axes[0, col]
        plots.theory_curves(ax, fine,
                            theory.order_parameter(fine, teacher.m, teacher.a, depth),
                            theory.order_parameter(fine, teacher.m, teacher.a, depth, "learning"))
        plots.sweep_pair(ax, h.lams, h.up.mean("modes")[:, 0], h.down.mean("modes")[:, 0])
        plots.mark(ax, a.lam_c_theory, "λ_c theory", color="k", ls="--")
        if np.isfinite(a.lam_c):
            plots.mark(ax, a.lam_c, "λ_c measured")
        if a.loop.width > 0:
            ax.axvspan(a.loop.lam_lo, a.loop.lam_hi, color="0.85", zorder=0)
        plots.label(ax, "λ", "end-to-end norm r", f"D = {depth}: {a.order} order",
                    legend=col == 0)
        ax = axes[1, col]
        ax.plot(fine, theory.minimum_loss(fine, teacher.m, teacher.a, depth, teacher.ey2),
                **plots.THEORY)
        plots.sweep_pair(ax, h.lams, h.up.mean("objective"), h.down.mean("objective"))
        plots.label(ax, "λ", "regularised loss")
    return fig


def minimum_checks(sweeps: Mapping[str, Hysteresis], rtol: float, saddle_tol: float) -> Figure:
    """Per sweep: the largest member's stationarity residual ‖∇L_λ‖/‖λθ‖ (up and down, log
    scale; the dotted line is the tolerance; points at θ ≈ 0, where the ratio is 0/0, are judged
    by ‖∇L_λ‖ instead) and crosses where the down sweep's smallest eigenvalue of ∇²L_λ is below
    −``saddle_tol`` (a saddle)."""
    fig, axes = plots.panels(len(sweeps), height=2.4)
    for ax, (name, h) in zip(np.atleast_1d(axes), sweeps.items(), strict=True):
        for branch, style in ((h.up, plots.UP), (h.down, plots.DOWN)):
            res = np.nan_to_num(branch.obs["residual"].max(axis=1), posinf=np.nan)
            ax.semilogy(branch.lams, np.maximum(res, 1e-12), **style)
        ax.axhline(rtol, color="k", ls=":", lw=0.9, label="tolerance")
        if "eig_min_reg" in h.down.obs:
            saddle = h.down.obs["eig_min_reg"].min(axis=1) < -saddle_tol
            ax.plot(h.lams[saddle], np.full(saddle.sum(), rtol), "kx", ms=6,
                    label="saddle (down)")
        plots.label(ax, "λ", "‖∇L_λ‖ / ‖λθ‖", name, legend=ax is np.atleast_1d(axes)[0])
    return fig


def staircase(sweeps: Mapping[int, Hysteresis], modes: Sequence[float]) -> Figure:
    """Singular values of the upward sweep against the learning branch of each mode (top) and
    the training error of both sweeps (bottom); dotted: each mode's λ_c."""
    fig, axes = plots.panels(len(sweeps), rows=2)
    axes = axes.reshape(2, -1)
    for col, (depth, h) in enumerate(sweeps.items()):
        fine = np.linspace(h.lams[0], h.lams[-1], 400)
        learning = theory.mode_order_parameters(fine, modes, 1.0, depth, "learning")
        plots.mode_staircase(axes[0, col], h.lams, h.up.mean("modes"))
        for i in range(learning.shape[1]):
            axes[0, col].plot(fine, learning[:, i], color=f"C{i}", lw=0.9)
        for s in modes:
            plots.mark(axes[0, col], theory.critical_lambda(s, 1.0, depth), None, color="0.6",
                       ls=":")
        plots.label(axes[0, col], "λ", "singular values of the map",
                    f"D = {depth}, upward sweep (lines: theory)", legend=col == 0)
        plots.sweep_pair(axes[1, col], h.lams, h.up.mean("error"), h.down.mean("error"))
        plots.label(axes[1, col], "λ", "training error E", legend=col == 0)
    return fig


def mlp_sweeps(sweeps: Mapping[int, Hysteresis], analyses: Mapping[int, MlpAnalysis]
               ) -> Figure:
    """Weight norm (top) and test accuracy (bottom) of both sweeps, per MLP depth."""
    fig, axes = plots.panels(len(sweeps), rows=2)
    axes = axes.reshape(2, -1)
    for col, (k, h) in enumerate(sweeps.items()):
        a = analyses[k]
        plots.sweep_pair(axes[0, col], h.lams, h.up.mean("norm"), h.down.mean("norm"))
        if np.isfinite(a.lam_estimate):
            plots.mark(axes[0, col], a.lam_estimate, "transition")
        plots.label(axes[0, col], "λ", "weight norm ‖θ‖",
                    f"{k} hidden layer{'s' if k > 1 else ''}: {a.order}", legend=True)
        plots.sweep_pair(axes[1, col], h.lams, h.up.mean("test_acc"), h.down.mean("test_acc"))
        plots.label(axes[1, col], "λ", "test accuracy")
    return fig


def findings_table(found: Iterable[Finding]) -> str:
    """The findings as a Markdown table: claim, paper, this run, verdict (with its mark), note."""
    return markdown_table([{"finding": f.finding, "paper": f.paper, "this run": f.companion,
                            "verdict": f"{f.verdict.symbol} {f.verdict.value}", "note": f.note}
                           for f in found])
