"""Figures of chapter 6 (jamming): the phase diagram, r* against N, the jump of N_Δ/N, the
evidence behind each run's class, the gap distributions with the papers' slopes, the Hessian
spectra and the isostatic count. Each function takes computed results and draws them; none
computes a verdict. :func:`run_rows` and :func:`scans_from_rows` carry the phase diagram's runs
through a summary file (the committed reference run's), without weights or gaps;
:func:`dead_data_sentence` words a summary's dead-data counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from l2lib.book import plots
from l2lib.experiments import jamming as chapter
from l2lib.measure.gap_statistics import ExponentEstimate, log_histogram, pooled_gaps
from l2lib.measure.jamming import HessianSplit
from l2lib.train.scan import JAMMED, NOT_CHECKED, NOT_CONVERGED, SAT, Scan, ScanSettings

STYLE = {SAT: dict(marker="o", color="C0", mfc="C0"),
         JAMMED: dict(marker="x", color="C3", mfc="C3"),
         NOT_CONVERGED: dict(marker="o", color="0.55", mfc="none"),
         NOT_CHECKED: dict(marker=".", color="0.75", mfc="0.75")}


RUN_FIELDS = ("depth", "n_target", "width", "d", "p", "seed", "label", "n_delta")


def run_rows(scans: Mapping[tuple[int, float], Scan]) -> list[dict[str, object]]:
    """Every classified run of ``scans`` (keyed (L, N target)) as one row of
    :data:`RUN_FIELDS`: what the phase diagram and P* need, small enough for a summary file."""
    rows = []
    for (depth, n_target), s in scans.items():
        if s.labels is None:
            raise ValueError(f"scan {s.name} is not classified: classify it first "
                             "(l2lib.experiments.jamming.prepared)")
        rows += [{"depth": depth, "n_target": n_target, "width": s.width, "d": s.d,
                  "p": int(s.p[i]), "seed": int(s.seed[i]), "label": str(s.labels[i]),
                  "n_delta": int(s.n_delta[i])} for i in range(len(s.p))]
    return rows


def scans_from_rows(rows: Sequence[Mapping[str, object]]) -> dict[tuple[int, float], Scan]:
    """Scans rebuilt from :func:`run_rows`'s rows, keyed (L, N target): labels, P, seeds and
    N_Δ as classified (so brackets and P* are those of the run), no weights or gaps. The
    labels decide jammed and SAT, so the authors' fraction f is only carried along."""
    missing = [f for f in RUN_FIELDS if rows and f not in rows[0]]
    if missing:
        raise ValueError(f"run rows lack {missing}; they must come from run_rows")
    groups: dict[tuple[int, float], list[Mapping[str, object]]] = {}
    for r in rows:
        groups.setdefault((int(r["depth"]), float(r["n_target"])), []).append(r)
    out = {}
    for (depth, n_target), mine in groups.items():
        col = {f: np.array([r[f] for r in mine], dtype=object if f == "label" else int)
               for f in ("p", "seed", "n_delta", "label")}
        width, d = int(mine[0]["width"]), int(mine[0]["d"])
        zeros = np.zeros(len(mine), dtype=int)
        out[(depth, n_target)] = Scan(
            f"L{depth}-h{width}", depth, width, d, ScanSettings().unsat_fraction, col["p"],
            col["seed"], zeros, col["n_delta"], zeros, np.full(len(mine), np.nan), [],
            np.empty((len(mine), 0)), zeros, pools={}, labels=col["label"])
    return out


def dead_data_sentence(numbers: Mapping[str, object]) -> str:
    """The dead-data counts of a chapter-6 summary (``dead_runs``, ``dead_runs_with_dead_data``,
    ``dead_dead_data``, ``dead_dead_unsatisfied``: every run that was checked) as one sentence;
    a ValueError names the missing counts of an older summary."""
    keys = ("dead_runs", "dead_runs_with_dead_data", "dead_dead_data", "dead_dead_unsatisfied")
    missing = [k for k in keys if k not in numbers]
    if missing:
        raise ValueError(f"the summary lacks the dead-data counts {missing} (an older run); "
                         "rerun chapter 6 to record them")
    runs, with_dead, dead, unsat = (int(numbers[k]) for k in keys)
    if with_dead == 0:
        return f"No datum is dead in any of the {runs} checked runs."
    return (f"{with_dead} of the {runs} checked runs have dead data ({dead} data in all, "
            f"{unsat} of them unsatisfied: inputs that reach no live unit of the last hidden "
            "layer, left out of the gaps and of the loss that rescales them).")


def phase_diagram(scans: Mapping[tuple[int, float], Scan], depths: Sequence[int],
                  title: str) -> Figure:
    """One panel per depth: every run in the (P, N) plane by class, and P*(N) with its error."""
    fig, axes = plots.panels(len(depths), height=2.9, sharey=True)
    for ax, depth in zip(np.atleast_1d(axes), depths, strict=True):
        mine = [s for (d, _), s in scans.items() if d == depth]
        seen = set()
        for s in mine:
            for status, style in STYLE.items():
                sel = s.labels == status
                if sel.any():
                    ax.plot(s.p[sel], np.full(sel.sum(), s.n), ls="none", ms=4,
                            label=None if status in seen else status, **style)
                    seen.add(status)
            p, err = s.p_star()
            if np.isfinite(p):
                ax.errorbar([p], [s.n], xerr=[err], fmt="D", ms=5, color="k", capsize=3,
                            label=None if "P*" in seen else "P*(N)")
                seen.add("P*")
        ax.set_xlim(left=0)
        ax.set_ylim(0, max(s.n for s in mine) * 1.15)
        plots.label(ax, "P (data)", "N (weights)", f"{title}, L = {depth}",
                    legend=depth == depths[0])
    return fig


def r_star_vs_n(scans: Mapping[tuple[int, float], Scan], depths: Sequence[int],
                targets: Sequence[float]) -> Figure:
    """r* = P*/N against N per depth: each seed's r* (dots) and their mean (line)."""
    fig, ax = plt.subplots(figsize=(4.4, 3.0), layout="constrained")
    for i, depth in enumerate(depths):
        ns, means = [], []
        for n in targets:
            s = scans[(depth, n)]
            r = chapter.seed_r_star(s)
            shift = s.n * (1 + 0.02 * (i - 1))
            ax.plot(np.full(r.size, shift), r, ".", color=f"C{i}", alpha=0.6)
            if r.size:
                ns.append(shift)
                means.append(r.mean())
        ax.plot(ns, means, "o-", color=f"C{i}", ms=4, label=f"L = {depth}")
    plots.label(ax, "N (weights)", "r* = P*/N", "random data: each seed and the mean",
                legend=True)
    return fig


def jump(scans: Sequence[Scan], threshold: float) -> Figure:
    """N_Δ/N at the end of each classified run against P/N (one colour per depth)."""
    fig, ax = plt.subplots(figsize=(4.6, 3.0), layout="constrained")
    for i, s in enumerate(scans):
        for status in (SAT, JAMMED, NOT_CONVERGED):
            sel = s.labels == status
            style = dict(STYLE[status], color=f"C{i}", mfc=f"C{i}" if status != NOT_CONVERGED
                         else "none")
            ax.plot(s.p[sel] / s.n, s.n_delta[sel] / s.n, ls="none", ms=4,
                    label=f"L = {s.depth}, N = {s.n}" if status == JAMMED else None, **style)
        if np.isfinite(s.r_star()[0]):
            ax.axvline(s.r_star()[0], color=f"C{i}", lw=0.8, ls="--")
    ax.axhline(threshold, color="0.5", lw=0.8, ls=":", label=f"{threshold:g} N")
    plots.label(ax, "P / N", "N_Δ / N (all data)", "random data (x: jammed, ○: not converged)",
                legend=True)
    return fig


def classification(rows: Sequence[Mapping[str, float]], floor: float) -> Figure:
    """The runs that needed the minimum check: ⟨Δ²⟩ against N_Δ/N_eff, by class, with the
    precision floor; right: the largest loss decrease a probe found (0: a minimum)."""
    fig, axes = plots.panels(2, height=2.9)
    for status in (JAMMED, NOT_CONVERGED):
        sel = [r for r in rows if r["status"] == status]
        if not sel:
            continue
        style = dict(STYLE[status], ls="none", ms=4, label=f"{status} ({len(sel)})")
        axes[0].plot([r["⟨Δ²⟩"] for r in sel], [r["N_Δ"] / r["N_eff"] for r in sel], **style)
        axes[1].plot([max(r["descent"], 1e-16) for r in sel],
                     [r["λ_min/λ_max"] for r in sel], **style)
    axes[0].axvline(floor, color="k", lw=0.8, ls=":", label="SAT floor")
    axes[0].axhline(1, color="0.5", lw=0.8, ls="--", label="N_Δ = N_eff")
    axes[0].set_xscale("log")
    axes[1].set_xscale("log")
    axes[1].set_yscale("symlog", linthresh=1e-8)
    plots.label(axes[0], "⟨Δ² θ(Δ)⟩ over live data", "N_Δ / N_eff", "checked runs", legend=True)
    plots.label(axes[1], "largest relative loss decrease of a probe (1e-16: none)",
                "λ_min / λ_max of H", "minimum check", legend=True)
    return fig


def gap_distributions(results: chapter.JammingResults,
                      fits: Mapping[int, tuple[ExponentEstimate, ExponentEstimate, int]]
                      ) -> Figure:
    """P₊(Δ/√L) and P₋(−Δ) per depth on log-log axes (the authors' bins), each fitted power law
    (when measurable) and the slopes of Geiger et al. and of Franz, Hwang & Urbani drawn
    through the histogram's first resolved bin."""
    st = results.settings
    fig, axes = plots.panels(2, height=3.0)
    for i, depth in enumerate(st.depths):
        pos, neg, runs = pooled_gaps([results.random[(depth, n)] for n in st.random_n],
                                     st.window)
        for ax, values, est in ((axes[0], pos, fits[depth][0]), (axes[1], neg, fits[depth][1])):
            centres, density = log_histogram(values)
            ax.loglog(centres, density, ".", ms=3, color=f"C{i}",
                      label=f"L = {depth}: {values.size} gaps, {runs} runs")
            if est.fit is not None:
                xs = np.geomspace(est.fit.x_min, est.fit.x_c, 50)
                ax.loglog(xs, est.fit.density(xs), "-", color=f"C{i}", lw=1.2)
    for ax, paper, second, name in ((axes[0], chapter.THETA_PAPER, chapter.THETA_FHU, "θ"),
                                    (axes[1], -chapter.GAMMA_PAPER, -chapter.GAMMA_FHU, "−γ")):
        xs = np.geomspace(1e-6, 1e-1, 20)
        ax.loglog(xs, 0.3 * (xs / 1e-1) ** paper, "k:", lw=1,
                  label=f"slope {name} = {paper:g} (Geiger et al.)")
        ax.loglog(xs, 0.1 * (xs / 1e-1) ** second, "k--", lw=0.8,
                  label=f"slope {name} = {second:g} (Franz et al.)")
        ax.axvline(st.gap_floor, color="0.5", lw=0.8, ls=":")
    plots.label(axes[0], "Δ / √L  (Δ > 0)", "density", "P₊: unsatisfied", legend=True)
    plots.label(axes[1], "−Δ  (Δ < 0)", "density", "P₋: satisfied", legend=True)
    return fig


def hessian_spectra(spectra: Mapping[int, tuple[Scan, HessianSplit, dict[str, np.ndarray]]]
                    ) -> Figure | None:
    """Sorted eigenvalues of H, H₀ and H_p (symmetric-log axis) per depth; None if empty."""
    if not spectra:
        return None
    fig, axes = plots.panels(len(spectra), height=2.9)
    for ax, (depth, (s, split, ev)) in zip(np.atleast_1d(axes), spectra.items(), strict=True):
        for name, style in (("H0", dict(ls="none", marker=".", ms=4, color="C0")),
                            ("Hp", dict(ls="none", marker=".", ms=4, color="C3")),
                            ("H", dict(ls="-", lw=1.0, color="k"))):
            ax.plot(np.arange(ev[name].size) / ev[name].size, ev[name], label=name, **style)
        ax.set_yscale("symlog", linthresh=1e-6)
        plots.label(ax, "rank / number of parameters", "eigenvalue",
                    f"L = {depth}, P = {s.p[0]}, N_Δ = {split.n_delta}", legend=True)
    return fig


def isostaticity(rows: Sequence[Mapping[str, float]]) -> Figure:
    """N_Δ against N_eff (rank of the Jacobian of the live margins) at every checked run, by
    class, with the line N_Δ = N_eff."""
    fig, ax = plt.subplots(figsize=(3.8, 3.0), layout="constrained")
    top = 1.0
    for status in (JAMMED, NOT_CONVERGED):
        sel = [r for r in rows if r["status"] == status]
        if sel:
            ax.plot([r["N_eff"] for r in sel], [r["N_Δ"] for r in sel], ls="none", ms=4,
                    label=status, **STYLE[status])
            top = max(top, *(max(r["N_eff"], r["N_Δ"]) for r in sel))
    ax.plot([0, top], [0, top], "k--", lw=0.8, label="N_Δ = N_eff")
    plots.label(ax, "N_eff (rank of ∂Δ/∂θ)", "N_Δ", "isostatic count", legend=True)
    return fig
