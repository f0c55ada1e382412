"""Chapter 6, jamming: the analysis of the scans — tables, the Δ exponents, and
:func:`findings`, which computes every verdict the chapter reports.

The settings, the scans and the classification of their runs are
:mod:`l2lib.experiments.jamming_scans` (re-exported here: ``jamming.settings``, ``jamming.run``,
…); the Δ statistics are :mod:`l2lib.measure.gap_statistics`. Values the paper does not state
but that are read off the authors' scan windows or code are labelled "[inferred ...]".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from l2lib.analysis.findings import Finding, Verdict, interval_verdict
from l2lib.experiments.jamming_scans import (  # noqa: F401 - the computation, re-exported
    PROFILE_NOTES,
    JammingResults,
    JammingSettings,
    parity_scan,
    prepared,
    random_scan,
    run,
    seed_groups,
)
from l2lib.experiments.jamming_scans import settings as _scan_settings
from l2lib.measure.gap_statistics import ExponentEstimate, measure_exponent, pooled_gaps
from l2lib.measure.jamming import HessianSplit, hessian_split
from l2lib.models.mlp import width_for  # noqa: F401 - re-exported (chapter 6 reads widths)
from l2lib.runtime import intra_op_threads
from l2lib.train.scan import JAMMED, NOT_CHECKED, NOT_CONVERGED, SAT, Scan, ScanSettings


def settings(profile: str, **overrides: Any) -> JammingSettings:
    """The settings of chapter 6 for ``profile`` (:func:`l2lib.experiments.jamming_scans.settings`,
    where the profiles are), except that ``quick`` computes its jobs in one-thread processes, as
    many as this process may use threads (:func:`l2lib.runtime.intra_op_threads`: the usable
    cores, or 1 inside a parallel build), unless ``workers`` is given.

    Who computes a job does not change what is computed (``JammingSettings.workers``, tested);
    it changes the time: the jobs are small nets and L-BFGS runs, and on a 2-core Intel Xeon VM
    one job took 2.5–4.7× longer on two torch threads than on one (7 Dec 2026: random data
    L = 2, N ≈ 250: 11 s vs 36 s; L = 5, N ≈ 510: 35 s vs 168 s; parity L = 3, N ≈ 140: 6 s vs
    15 s); the chapter took 348 s in two processes where one process on two threads had not
    finished after 14 min. Rounding is another matter: it follows the BLAS threading set-up
    (``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` in the environment, which a Dask worker sets to 1,
    change Δ by ≈ 1e-13), and a run near the jamming line can be classified otherwise after
    such a change; the quick build gave the same verdicts either way (137 vs 141 classified
    runs, 7 Dec 2026).
    """
    chosen = _scan_settings(profile, **overrides)
    if profile == "quick" and "workers" not in overrides:
        chosen = replace(chosen, workers=intra_op_threads())
    return chosen


# --------------------------------------------------------------------------------------------
# Tables


def settings_rows(settings: JammingSettings, dataset: str) -> list[dict[str, Any]]:
    """The scan settings as table rows (random and parity data)."""
    by_depth = dict(settings.random_ratios)

    def grid(s: ScanSettings, per_depth: Mapping[int, tuple[float, ...]]) -> str:
        rows = [f"L = {d}: " + ", ".join(map(str, per_depth[d])) for d in settings.depths
                if d in per_depth]
        rest = [d for d in settings.depths if d not in per_depth]
        if rest:
            rows.append((f"L = {', '.join(map(str, rest))}: " if rows else "")
                        + ", ".join(map(str, s.ratios)))
        return "; ".join(rows)

    return [{"data": name, "depths L": ", ".join(map(str, settings.depths)),
             "N targets": ", ".join(f"{n:g}" for n in ns),
             "grid P/N": grid(s, per_depth),
             "seeds": s.n_seeds, "bisection rounds": s.rounds, "Adam lr": s.config.lr,
             "÷10 every": s.config.decay_every, "Adam steps": s.config.max_steps,
             "then L-BFGS ≤": settings.converge_iter}
            for name, ns, s, per_depth in (
                ("random (d = h)", settings.random_n, settings.random, by_depth),
                (f"{dataset} parity (d = {settings.parity_d})", settings.parity_n,
                 settings.parity, {}))]


def summary_numbers(results: JammingResults, found: Sequence[Finding]) -> dict[str, Any]:
    """Every number and verdict text the chapter glues: per finding ``<name>_verdict`` and
    ``<name>_text``, the finding's numbers, P*/N per scan, the dead-data counts and the
    floor check."""
    numbers: dict[str, Any] = {}
    for f in found:
        name = f.key.split(".", 1)[1]
        numbers |= {f"{name}_verdict": f.verdict.value, f"{name}_text": f.companion,
                    f"{name}_note": f.note or "—", **f.numbers}
    for (depth, _), s in results.random.items():
        numbers[f"r_star_random_L{depth}_N{s.n}"] = s.r_star()[0]
    sat_max, jam_min = floor_separation(results)
    numbers |= {f"dead_{k}": v for k, v in dead_counts(results).items()}
    numbers |= {"sat_msq_max": sat_max, "jammed_msq_min": jam_min,
                "sat_floor": results.settings.rule.sat_floor}
    labels = np.concatenate([np.zeros(0, dtype=object)] + [
        s.labels for s in [*results.random.values(), *results.parity.values()]])
    numbers |= {f"runs_{k.replace(' ', '_')}": int((labels == k).sum())
                for k in (SAT, JAMMED, NOT_CONVERGED, NOT_CHECKED)}
    return numbers


def scan_row(scan: Scan) -> dict[str, Any]:
    """One table row: architecture, N, runs by status, P* and r* with their standard errors."""
    p, p_err = scan.p_star()
    labels = scan.labels if scan.labels is not None else np.array([""] * len(scan.p))
    return {"L": scan.depth, "h": scan.width, "d": scan.d, "N": scan.n, "runs": len(scan.p),
            "SAT": int(scan.sat_side.sum()), "jammed": int(scan.jammed.sum()),
            "not converged": int((labels == NOT_CONVERGED).sum()),
            "not checked": int((labels == NOT_CHECKED).sum()), "P*": p, "± P*": p_err,
            "r* = P*/N": p / scan.n, "± r*": p_err / scan.n}


def check_rows(results: JammingResults) -> list[dict[str, Any]]:
    """One row per run that needed the minimum check (live loss above the floor and N_Δ > f·N):
    its status, reason and the measurements behind it."""
    rows = []
    for (kind, depth, n), checks in results.checks.items():
        one = (results.random if kind == "random" else results.parity)[(depth, n)]
        for i, c in enumerate(checks):
            if c is not None and np.isfinite(c.force):
                rows.append({"data": kind, "L": depth, "N": one.n, "P": c.p,
                             "seed": int(one.seed[i]), "status": c.status, "reason": c.reason,
                             "N_Δ": c.n_delta, "N_eff": c.n_eff, "dead": c.n_dead,
                             "⟨Δ²⟩": c.mean_sq_gap, "residual": c.force,
                             "descent": c.descent,
                             "λ_min/λ_max": c.lambda_min / c.lambda_max})
    return rows


def dead_counts(results: JammingResults) -> dict[str, int]:
    """Dead data over all checked runs: total, and those left unsatisfied (excluded runs)."""
    checks = [c for cs in results.checks.values() for c in cs if c is not None]
    return {"runs": len(checks), "dead_data": sum(c.n_dead for c in checks),
            "runs_with_dead_data": sum(c.n_dead > 0 for c in checks),
            "dead_unsatisfied": sum(c.n_dead_unsat for c in checks)}


def floor_separation(results: JammingResults) -> tuple[float, float]:
    """(largest ⟨Δ²⟩ of a SAT run with N_Δ > 0 before the floor, smallest ⟨Δ²⟩ of a jammed run):
    the precision floor is well placed when it lies between them (NaN where none)."""
    checks = [c for cs in results.checks.values() for c in cs if c is not None]
    sat = [c.mean_sq_gap for c in checks if c.status == SAT and c.mean_sq_gap > 0]
    jam = [c.mean_sq_gap for c in checks if c.status == JAMMED]
    return (max(sat) if sat else np.nan, min(jam) if jam else np.nan)


def jump_values(results: JammingResults, window: float) -> np.ndarray:
    """N_Δ/N (live data: dead ones left out) of the jammed random-data runs with P within a
    factor 1 + ``window`` above their seed's P*."""
    out = [np.zeros(0)]
    for (depth, n), one in results.random.items():
        checks = results.checks[("random", depth, n)]
        out.append(np.array([checks[i].n_delta / one.n for i in one.near_transition(window)]))
    return np.concatenate(out)


def seed_r_star(scan: Scan) -> np.ndarray:
    """r* = P*/N of every seed whose transition was bracketed by classified runs."""
    r = scan.p_star_seeds() / scan.n
    return r[np.isfinite(r)]


def spectra(results: JammingResults) -> dict[int, tuple[Scan, HessianSplit,
                                                         dict[str, np.ndarray]]]:
    """Per depth, at the smallest N: the dense H, H₀, H_p of the jammed run just above P*
    (:func:`closest_jammed`) and their sorted eigenvalues; depths without one, or with more
    than ``hessian_params`` parameters, are left out."""
    st = results.settings
    out = {}
    for depth in st.depths:
        s = results.random[(depth, min(st.random_n))]
        i = closest_jammed(s)
        if i is None or s.theta.shape[1] > st.hessian_params:
            continue
        split = hessian_split(torch.as_tensor(s.theta[i]), s.sizes, *s.data(i))
        out[depth] = (s.subset([i]), split, split.spectra())
    return out


def closest_jammed(scan: Scan) -> int | None:
    """Index of the jammed run at P_hi, just above P*, of the first seed whose transition is
    bracketed; None if no seed's is."""
    for s, (lo, hi) in scan.brackets().items():
        if np.isfinite(lo * hi):
            return int(np.flatnonzero((scan.seed == s) & (scan.p == hi))[0])
    return None


def mean_r_star(scans: Iterable[Scan]) -> float:
    """Mean r* = P*/N over the scans whose transition was bracketed (NaN if none was)."""
    values = np.array([s.r_star()[0] for s in scans])
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else np.nan


def exponents(results: JammingResults, seed: int = 0
              ) -> dict[int, tuple[ExponentEstimate, ExponentEstimate, int]]:
    """Per depth: (θ from P₊, −γ from P₋, runs pooled) by
    :func:`~l2lib.measure.gap_statistics.measure_exponent` on the gaps of the jammed runs within
    1 + ``window`` of their seed's P*, pooled over the N targets of that depth."""
    st = results.settings
    out = {}
    for depth in st.depths:
        pos, neg, runs = pooled_gaps([results.random[(depth, n)] for n in st.random_n],
                                     st.window)
        kw = dict(floor=st.gap_floor, halfwidth=st.halfwidth, min_decades=st.min_decades,
                  n_boot=st.n_boot, seed=seed)
        out[depth] = (measure_exponent(pos, a_ref=THETA_PAPER, **kw),
                      measure_exponent(neg, a_ref=-GAMMA_PAPER, **kw), runs)
    return out


# --------------------------------------------------------------------------------------------
# Findings (every verdict of the chapter)

THETA_PAPER, GAMMA_PAPER = 0.3, 0.2  # Geiger et al., arXiv 1809.09349
THETA_FHU, GAMMA_FHU = 0.42, 0.41  # Franz, Hwang & Urbani, arXiv 1809.09945
JUMP_PAPER = 0.4  # N_Δ/N just above N* in the authors' L = 3 sweep [inferred from their code]
R_STAR_PAPER = 3.0  # P/N* of random data at N ≈ 8k [inferred from the authors' scan windows]
EXPONENT_TOLERANCE = 0.1
JUMP_FLOOR = 0.3  # the jump "is finite like the authors'" if its interval lies above this


def _bootstrap_mean(values: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    draws = rng.choice(values, (n_boot, values.size)).mean(axis=1)
    lo, hi = np.percentile(draws, [2.5, 97.5])
    return float(lo), float(hi)


def jump_exists_finding(unsat_fraction: float) -> Finding:
    """That N_Δ/N jumps at P* at all: true by construction here (P* is placed between the last
    SAT run, N_Δ = 0, and the first jammed one, N_Δ > f·N); shown, not counted as evidence."""
    return Finding("jamming.jump_exists", "N_Δ/N jumps at N*", "a jump of N_Δ/N at N* [paper]",
                   f"P* lies between N_Δ = 0 and N_Δ > {unsat_fraction:g} N by definition",
                   Verdict.BY_CONSTRUCTION,
                   "the transition is located where N_Δ/N jumps; only the jump's size "
                   "(next finding) can fail")


def jump_finding(values: np.ndarray, n_boot: int = 1000, seed: int = 0) -> Finding:
    """N_Δ/N of jammed runs just above P*: finite like the authors' (> 0.4 at L = 3)? The runs
    below are SAT by classification, so only the size of the jump is evidence."""
    values = np.asarray(values, dtype=np.float64)
    paper = f"N_Δ/N jumps from 0 to > {JUMP_PAPER} (L = 3) [inferred from the authors' code]"
    claim = "N_Δ/N jumps at N* to a finite value (first-order, jamming-like)"
    if values.size < 2:
        return Finding("jamming.jump", claim, paper, f"{values.size} jammed run(s) near P*",
                       Verdict.NOT_MEASURABLE,
                       "fewer than 2 jammed minima near P*: converged runs near N* needed")
    lo, hi = _bootstrap_mean(values, n_boot, seed)
    mean = float(values.mean())
    verdict = (Verdict.AGREES if lo >= JUMP_FLOOR else Verdict.DISAGREES if hi < JUMP_FLOOR
               else Verdict.UNDECIDED)
    note = ("below P* every run is SAT by classification: the jump's existence holds by "
            f"construction; its size is the test (interval above {JUMP_FLOOR}?)")
    return Finding("jamming.jump", claim, paper,
                   f"N_Δ/N = {mean:.2f} [{lo:.2f}, {hi:.2f}] over {values.size} jammed runs",
                   verdict, note, {"jump": mean, "jump_lo": lo, "jump_hi": hi,
                                   "jump_runs": int(values.size)})


def depth_finding(r_seeds: Mapping[int, np.ndarray], n_label: str, *, tolerance: float = 0.15,
                  min_seeds: int = 3, n_boot: int = 2000, seed: int = 0) -> Finding:
    """One r* for all depths? ``r_seeds[L]``: r* of each bracketed seed at about the same N.
    Statistic: spread = max_L r̄_L / min_L r̄_L − 1, with a 95 % seed-bootstrap interval
    (seeds resampled within each depth). Agrees if the interval lies below ``tolerance``,
    disagrees if above it, undecided if it straddles it; not measurable with fewer than two
    depths with ``min_seeds`` bracketed seeds."""
    claim = "Depth independence of N*(P), random data"
    paper = "one P/N* for L = 2, 3, 5 [paper]"
    usable = {d: np.asarray(r, dtype=np.float64) for d, r in sorted(r_seeds.items())
              if len(r) >= min_seeds}
    counts = ", ".join(f"L = {d}: {len(r)}" for d, r in sorted(r_seeds.items()))
    if len(usable) < 2:
        return Finding("jamming.depth", claim, paper, f"bracketed seeds at {n_label}: {counts}",
                       Verdict.NOT_MEASURABLE,
                       f"needs ≥ {min_seeds} seeds bracketed by converged runs for ≥ 2 depths "
                       "(the reference profile: 5 seeds at N ≈ 1000)")
    means = {d: float(r.mean()) for d, r in usable.items()}
    spread = max(means.values()) / min(means.values()) - 1
    rng = np.random.default_rng(seed)
    draws = np.empty(n_boot)
    for b in range(n_boot):
        m = [rng.choice(r, r.size).mean() for r in usable.values()]
        draws[b] = max(m) / min(m) - 1
    lo, hi = (float(v) for v in np.percentile(draws, [2.5, 97.5]))
    verdict = (Verdict.AGREES if hi <= tolerance else Verdict.DISAGREES if lo > tolerance
               else Verdict.UNDECIDED)
    text = ", ".join(f"r* = {means[d]:.2f} (L = {d}, {len(usable[d])} seeds)" for d in usable)
    left = [d for d in r_seeds if d not in usable]
    note = (f"spread of r* across depths {spread:.0%} [{lo:.0%}, {hi:.0%}] (seed bootstrap) vs "
            f"{tolerance:.0%}" + (f"; L = {', '.join(map(str, left))} left out (fewer than "
                                  f"{min_seeds} converged seeds)" if left else ""))
    return Finding("jamming.depth", claim, paper, f"{text} at {n_label}", verdict, note,
                   {"depth_spread": spread, "depth_spread_lo": lo, "depth_spread_hi": hi,
                    **{f"r_star_L{d}": m for d, m in means.items()}})


def _ci(values: np.ndarray) -> tuple[float, float, float]:
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return np.nan, np.nan, np.nan
    m = float(values.mean())
    se = float(values.std(ddof=1) / np.sqrt(values.size)) if values.size > 1 else np.inf
    return m, m - 1.96 * se, m + 1.96 * se


def location_finding(r_seeds: np.ndarray, n: int, paper_n: int = 8000) -> Finding:
    """P/N* of random data against ≈ 3 at N ≈ 8k; only measurable at N ≥ paper_n / 2 (r* grows
    with N at small N and with the budget)."""
    m, lo, hi = _ci(r_seeds)
    claim = "Location of the transition, random data"
    paper = (f"P/N* ≈ {R_STAR_PAPER:g} at N ≈ 8k (L = 2, 3, 5) [inferred from the authors' "
             "scan windows]")
    text = f"P/N* = {m:.2f} [{lo:.2f}, {hi:.2f}] at N = {n}"
    if not np.isfinite(m) or n < paper_n / 2:
        return Finding("jamming.location", claim, paper, text, Verdict.NOT_MEASURABLE,
                       f"N = {n} is far below the paper's ≈ {paper_n}: r* drifts with N and "
                       "the budget; the paper profile (N ≥ 4000) resolves it",
                       {"r_star_location": m})
    return Finding("jamming.location", claim, paper, text,
                   interval_verdict(lo, hi, R_STAR_PAPER, 0.5), "95 % interval over seeds",
                   {"r_star_location": m})


def parity_finding(r_random: np.ndarray, r_parity: np.ndarray, dataset: str) -> Finding:
    """Do parity data need fewer parameters per datum (larger P/N*) than random data? 95 %
    intervals over seeds and scans: agrees if parity's lies above random's, disagrees if below,
    undecided if they overlap."""
    (mr, lr, hr), (mp, lp, hp) = _ci(r_random), _ci(r_parity)
    claim = "Parity data need fewer parameters per datum"
    paper = ("P/N* ≈ 8–17 (MNIST parity, L = 5) vs ≈ 3 (random) [inferred from the authors' "
             "scan windows]")
    text = f"P/N* = {mp:.2f} [{lp:.2f}, {hp:.2f}] ({dataset} parity) vs {mr:.2f} [{lr:.2f}, " \
           f"{hr:.2f}] (random)"
    numbers = {"r_star_parity": mp, "r_star_random": mr}
    if not (np.isfinite(mr) and np.isfinite(mp)):
        return Finding("jamming.parity", claim, paper, text, Verdict.NOT_MEASURABLE,
                       "no bracketed transition on one of the two data sets", numbers)
    verdict = (Verdict.AGREES if lp > hr else Verdict.DISAGREES if hp < lr
               else Verdict.UNDECIDED)
    note = "" if verdict.is_evidence else "the two intervals overlap: more seeds would tell"
    return Finding("jamming.parity", claim, paper, text, verdict, note, numbers)


def exponent_finding(name: str, estimates: Mapping[int, ExponentEstimate], sign: int,
                     paper: float, second: float) -> Finding:
    """A gap exponent (``sign`` = +1: θ = a, −1: γ = −a) per depth against the paper's value
    (± 0.1, :func:`~l2lib.analysis.findings.interval_verdict`), Franz–Hwang–Urbani's beside
    it. Agrees/disagrees when every measurable depth does; undecided when they differ or the
    intervals are too wide; not measurable when no depth has the tail it needs."""
    key = f"jamming.{'theta' if sign > 0 else 'gamma'}"
    side = "Δ > 0" if sign > 0 else "Δ < 0"
    claim = f"Gap exponent {name} ({side}) at the transition"
    ref = (f"{name} ≈ {paper} [Geiger et al.]; {name} ≈ {second} [Franz, Hwang & Urbani, "
           "1809.09945]")
    parts, verdicts, numbers = [], [], {}
    for depth, est in sorted(estimates.items()):
        if est.fit is None:
            parts.append(f"L = {depth}: not measurable ({est.reason})")
            continue
        v = sign * est.fit.a
        lo, hi = sorted(sign * c for c in est.fit.ci)
        verdicts.append(interval_verdict(lo, hi, paper, EXPONENT_TOLERANCE))
        parts.append(f"L = {depth}: {name} = {v:.2f} [{lo:.2f}, {hi:.2f}] "
                     f"({est.fit.n_tail} gaps, {est.decades:.1f} decades)")
        numbers |= {f"{key[8:]}_L{depth}": v, f"{key[8:]}_L{depth}_lo": lo,
                    f"{key[8:]}_L{depth}_hi": hi}
    text = "; ".join(parts)
    if not verdicts:
        needed = max((e.n_needed for e in estimates.values()), default=0)
        return Finding(key, claim, ref, text or "no jammed runs near P*", Verdict.NOT_MEASURABLE,
                       f"each depth needs ≥ {needed} gaps above the floor inside a window of "
                       f"≥ 2 decades, from jammed minima within 5 % above P*", numbers)
    if all(v is Verdict.AGREES for v in verdicts):
        verdict = Verdict.AGREES
    elif all(v is Verdict.DISAGREES for v in verdicts):
        verdict = Verdict.DISAGREES
    else:
        verdict = Verdict.UNDECIDED
    note = "" if verdict.is_evidence else "depths differ, or an interval is too wide to tell"
    return Finding(key, claim, ref, text, verdict, note, numbers)


def isostaticity_finding(pairs: Sequence[tuple[int, int]]) -> Finding:
    """N_Δ ≥ N_eff at every jammed minimum? ``pairs``: (N_Δ, N_eff) per minimum, N_eff the rank
    of the Jacobian of all live margins (the parameter directions the data can see)."""
    claim = "Isostaticity: a jammed minimum has N_Δ ≥ N_eff"
    paper = "N_Δ ≥ N_eff at a stable minimum with L > 0 [paper's argument]"
    if not pairs:
        return Finding("jamming.isostatic", claim, paper, "no jammed minimum",
                       Verdict.NOT_MEASURABLE, "no run passed the minimum check")
    ratio = np.array([nd / ne for nd, ne in pairs], dtype=np.float64)
    ok = int((ratio >= 1).sum())
    text = (f"N_Δ ≥ N_eff at {ok} of {len(pairs)} minima; N_Δ/N_eff = {ratio.min():.2f}–"
            f"{ratio.max():.2f}")
    verdict = (Verdict.AGREES if ok == len(pairs) else Verdict.DISAGREES if ok == 0
               else Verdict.UNDECIDED)
    note = "" if verdict.is_evidence else "some minima satisfy it, some do not"
    return Finding("jamming.isostatic", claim, paper, text, verdict, note,
                   {"isostatic_ok": ok, "isostatic_n": len(pairs),
                    "isostatic_ratio_min": float(ratio.min())})


def _pooled_r_star(scans: Iterable[Scan]) -> np.ndarray:
    return np.concatenate([np.zeros(0)] + [seed_r_star(s) for s in scans])


def findings(results: JammingResults, seed: int = 0,
             fits: Mapping[int, tuple[ExponentEstimate, ExponentEstimate, int]] | None = None
             ) -> list[Finding]:
    """Every finding chapter 6 reports, from the classified scans (``fits``: the exponents of
    :func:`exponents`, computed here when None)."""
    st = results.settings
    largest = max(st.random_n)
    fits = exponents(results, seed) if fits is None else fits
    at_largest = {d: seed_r_star(results.random[(d, largest)]) for d in st.depths}
    n_largest = max(results.random[(d, largest)].n for d in st.depths)
    iso = [(c.n_delta, c.n_eff) for cs in results.checks.values() for c in cs
           if c is not None and c.status == JAMMED]
    return [
        jump_exists_finding(st.rule.unsat_fraction),
        jump_finding(jump_values(results, st.jump_window), seed=seed),
        depth_finding(at_largest, f"N ≈ {largest:g}", tolerance=st.depth_tolerance,
                      min_seeds=st.min_seeds, seed=seed),
        location_finding(_pooled_r_star(results.random[(d, largest)] for d in st.depths),
                         n_largest),
        parity_finding(_pooled_r_star(results.random.values()),
                       _pooled_r_star(results.parity.values()), results.dataset),
        exponent_finding("θ", {d: f[0] for d, f in fits.items()}, 1, THETA_PAPER, THETA_FHU),
        exponent_finding("γ", {d: f[1] for d, f in fits.items()}, -1, GAMMA_PAPER, GAMMA_FHU),
        isostaticity_finding(iso),
    ]
