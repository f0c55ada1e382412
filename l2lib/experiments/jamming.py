"""Chapter 6, jamming: settings per profile, the scans (P*(N) on random and parity data), the
classification of every run, and :func:`findings`, which computes every verdict the chapter
reports.

Random data use d = h (the authors' choice), so an N target fixes the width; parity data use
d = 10. Locating P* is :mod:`l2lib.train.scan`; the classification (SAT, jammed at a checked
minimum, not converged) and the exponent fits are :mod:`l2lib.measure.jamming`. Values the
paper does not state but that are read off the authors' scan windows or code are labelled
"[inferred ...]".
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import torch

from l2lib.analysis.findings import Finding, Verdict, interval_verdict
from l2lib.data.jamming import parity_data, random_data
from l2lib.measure.jamming import (
    ExponentEstimate,
    HessianSplit,
    JamRule,
    RunCheck,
    classify,
    hessian_split,
    measure_exponent,
    pooled_gaps,
)
from l2lib.models.mlp import width_for
from l2lib.runtime import check_profile
from l2lib.train.hinge import HingeConfig
from l2lib.train.scan import (
    JAMMED,
    NOT_CHECKED,
    NOT_CONVERGED,
    SAT,
    Scan,
    ScanSettings,
    scan,
)


@dataclass(frozen=True)
class JammingSettings:
    """Everything chapter 6 varies between profiles; the defaults are the ``quick`` profile.

    Random data use d = h; N targets are met by the nearest width
    (:func:`~l2lib.models.mlp.width_for`). Parity data use d = ``parity_d`` (PCA-whitened
    digits). Runs are classified by ``rule`` (:class:`~l2lib.measure.jamming.JamRule`).
    """

    depths: tuple[int, ...] = (2, 3, 5)
    random_n: tuple[float, ...] = (250.0, 510.0)
    # converged runs fit up to P ≈ 2–3N (L = 3, 2 at N ≈ 1000): the grid must reach beyond it
    random: ScanSettings = ScanSettings(ratios=(1.0, 2.0, 3.0))
    # per-depth grids of P/N replacing random.ratios, as (depth, ratios) pairs: converged runs
    # put P*/N of the narrow L = 5 nets below, of L = 2 above that of L = 3
    random_ratios: tuple[tuple[int, tuple[float, ...]], ...] = ()
    parity_n: tuple[float, ...] = (80.0, 140.0)
    parity: ScanSettings = ScanSettings(ratios=(2.0, 4.0, 8.0), rounds=2)
    parity_d: int = 10
    converge_iter: int = 2000  # L-BFGS iterations per run before it is classified
    rule: JamRule = JamRule()
    window: float = 0.05  # jammed runs with P ≤ (1 + window) P* enter the Δ statistics
    jump_window: float = 0.3  # runs within a factor 1 ± this of P* give the jump of N_Δ/N
    gap_floor: float = 1e-6  # gaps below it are not resolved (the probes' smallest step)
    halfwidth: float = 0.1  # wanted half-width of an exponent's 95 % interval
    min_decades: float = 2.0  # shortest power-law window
    n_boot: int = 200
    depth_tolerance: float = 0.15  # "depth-independent" = r* of all depths within 15 %
    min_seeds: int = 3  # fewest bracketed seeds per depth for the depth comparison
    hessian_params: int = 1000  # Hessian spectra shown only for nets with at most this many
    # each scan's seeds split into this many consecutive groups, each computed and stored as a
    # scan of its own (a job), so that the jobs of one scan can run in parallel; the groups'
    # runs are joined again (per seed the same runs, up to the rounding of their batches)
    seed_groups: int = 1
    workers: int = 1  # one-thread processes computing the jobs (the results do not depend on it)


PROFILE_NOTES = {
    "smoke": "seconds: every code path on tiny nets",
    "quick": ("minutes on a CPU: N ≈ 250 and 510, 3 seeds, 3000 Adam steps (lr 1e-2, then "
              "1e-3), then L-BFGS"),
    "reference": ("N ≈ 1000, L = 2, 3, 5, 6 seeds, grids P/N per depth (L = 2: 1.5–5, L = 3: "
                  "1.5–4, L = 5: 1–3), 20k Adam steps per run (lr 3e-3, then 3e-4), then "
                  "L-BFGS until it stops by itself (≤ 10⁴ iterations): computed by two "
                  "one-thread processes (the wall time is in the run's provenance)"),
    "paper": "the authors' protocol (lr 1e-4 ÷10 every 250k steps, up to 2M steps), N ≈ 2k–8k",
}


def settings(profile: str, **overrides: Any) -> JammingSettings:
    """The settings of chapter 6 for ``profile`` (see :data:`PROFILE_NOTES`), with
    ``overrides`` (field names of :class:`JammingSettings`) applied last.

    quick: lr 1e-2 for 2000 steps, then 1e-3 for 1000 (the authors' schedule shape with 100×
    larger steps and ~1000× fewer of them); then every run not yet fitted is minimised on by
    L-BFGS (≤ 2000 iterations) before it is classified. reference: N ≈ 1000 for L = 2, 3, 5
    (widths 22, 18, 14), 6 seeds, 20k Adam steps at lr 3e-3 (÷10 after 10k), then L-BFGS
    ≤ 10⁴ iterations (at N ≈ 1000 it stops by itself after ≈ 3000); grids P/N per depth
    (L = 2: 1.5–5, L = 3: 1.5–4, L = 5: 1–3). The learning rate is 3e-3 rather than quick's
    1e-2 because at 1e-2 the L = 5 nets lose their units: after 20k steps at P = 1.5N, with
    h = 14 (N = 994) 2 of 5 seeds end with every unsatisfied datum dead and 2 more with half or
    more of them, with h = 16 (N = 1296) 2 of 3 with every one; at 3e-3, h = 14, no datum is
    dead in 3 seeds at P = N, 1.5N, 2N, and the runs fit up to P = 1.5N
    (the previous reference, at 1e-2, bracketed 3 of 5 seeds at L = 5 and put its P*/N at 1.3,
    half that of L = 2 and 3). A wider L = 5 net does not help at 1e-2. paper: the authors'
    protocol, MNIST parity (``dataset="mnist"``).
    """
    check_profile(profile)
    names = {f.name for f in fields(JammingSettings)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown} for chapter 6; choose from "
                         f"{sorted(names)}")
    base = JammingSettings()
    if profile == "smoke":
        config = HingeConfig(lr=1e-2, decay_every=200, max_steps=400)
        base = replace(
            base, depths=(2, 3), random_n=(80.0, 120.0), parity_n=(60.0, 90.0),
            random=ScanSettings(ratios=(0.25, 3.0), n_seeds=2, rounds=1, config=config),
            parity=ScanSettings(ratios=(0.5, 8.0), n_seeds=2, rounds=1, config=config),
            window=1.0, jump_window=1.0, converge_iter=200, n_boot=20, min_seeds=2)
    elif profile == "reference":
        config = HingeConfig(lr=3e-3, decay_every=10_000, max_steps=20_000)
        base = replace(
            base, random_n=(1000.0,), parity_n=(140.0,),
            random=ScanSettings(ratios=(1.5, 2.0, 2.5, 3.0, 4.0), n_seeds=6, rounds=3,
                                config=config),
            random_ratios=((2, (1.5, 2.5, 3.5, 5.0)), (5, (1.0, 1.5, 2.0, 2.5, 3.0))),
            parity=ScanSettings(ratios=(2.0, 4.0, 8.0), n_seeds=5, rounds=3, config=config),
            converge_iter=10_000, n_boot=500, min_seeds=5, hessian_params=1100,
            seed_groups=2, workers=2)
    elif profile == "paper":
        paper = HingeConfig(lr=1e-4, decay_every=250_000, lr_min=1e-7, max_steps=2_000_000)
        base = replace(
            base, random_n=(2000.0, 4000.0, 8000.0), parity_n=(1000.0, 2000.0, 4000.0),
            random=ScanSettings(ratios=(1.5, 2.0, 2.5, 3.0, 3.5, 4.0), n_seeds=5, rounds=4,
                                config=paper),
            parity=ScanSettings(ratios=(4.0, 8.0, 12.0, 16.0), n_seeds=5, rounds=4,
                                config=paper),
            gap_floor=1e-7, n_boot=1000, min_seeds=5, hessian_params=5000)
    return replace(base, **overrides)


def random_scan(
    depth: int, n_target: float, settings: JammingSettings, seed: int = 0, *,
    n_seeds: int | None = None, device: str | torch.device = "cpu",
    store_root: str | os.PathLike | None = None, memo: dict | None = None,
) -> Scan:
    """P*(N) on random data (d = h) at the width whose N is closest to ``n_target``, on the
    depth's grid of ``settings.random_ratios`` if it has one; bisected on classified runs.
    ``n_seeds``: only that many seeds from ``seed`` on (default ``settings.random.n_seeds``),
    stored under ``<name>-seeds<first>-<last>``. ``memo``: where the checks made
    while bisecting are kept (pass the same dict to :func:`prepared`, which then reuses them)."""
    width = width_for(n_target, depth)
    grid = dict(settings.random_ratios).get(depth)
    config = settings.random if grid is None else replace(settings.random, ratios=grid)
    config, name = _seed_part(config, f"jamming-random-L{depth}-h{width}", seed, n_seeds)
    return scan(lambda s, p: random_data(p, width, s), width, width, depth, config,
                seed=seed, device=device, store_root=store_root, name=name,
                key={"data": "random"}, progress=f"random L={depth} h={width}",
                label=_classified(settings, device, store_root, memo))


def parity_scan(
    depth: int, n_target: float, settings: JammingSettings, dataset: str = "digits",
    seed: int = 0, *, n_seeds: int | None = None, data_root: str | os.PathLike | None = None,
    device: str | torch.device = "cpu", store_root: str | os.PathLike | None = None,
    memo: dict | None = None,
) -> Scan:
    """P*(N) on the parity of ``dataset`` (d = ``settings.parity_d``); bisected on classified
    runs (``n_seeds`` and ``memo`` as in :func:`random_scan`)."""
    d = settings.parity_d
    width = width_for(n_target, depth, d)
    config, name = _seed_part(settings.parity, f"jamming-{dataset}-L{depth}-h{width}", seed,
                              n_seeds)
    return scan(lambda s, p: parity_data(dataset, p, d, s, root=data_root), d, width, depth,
                config, seed=seed, device=device, store_root=store_root, name=name,
                key={"data": "parity", "dataset": dataset},
                progress=f"{dataset} parity L={depth} h={width}",
                label=_classified(settings, device, store_root, memo))


def _seed_part(config: ScanSettings, name: str, seed: int, n_seeds: int | None
               ) -> tuple[ScanSettings, str]:
    """The scan settings and store name of ``n_seeds`` seeds from ``seed`` on: all of the
    scan's (``None`` or ``config.n_seeds``) keep ``name``; fewer are named
    ``<name>-seeds<first>-<last>``, so that the groups of one scan, computed at once by
    different processes, store their runs and L-BFGS results apart."""
    if n_seeds is None or n_seeds == config.n_seeds:
        return config, name
    if not 1 <= n_seeds <= config.n_seeds:
        raise ValueError(f"n_seeds must be between 1 and the scan's {config.n_seeds} seeds, "
                         f"got {n_seeds}")
    return replace(config, n_seeds=n_seeds), f"{name}-seeds{seed}-{seed + n_seeds - 1}"


def seed_groups(n_seeds: int, groups: int, seed: int = 0) -> list[tuple[int, int]]:
    """``n_seeds`` consecutive seeds from ``seed`` on cut into ``groups`` consecutive groups
    as equal as can be: (first seed, number of seeds) per group."""
    if not 1 <= groups <= n_seeds:
        raise ValueError(f"seed_groups must be between 1 and the scans' number of seeds "
                         f"({n_seeds}), got {groups}")
    sizes = [len(g) for g in np.array_split(np.arange(n_seeds), groups)]
    return [(seed + sum(sizes[:i]), size) for i, size in enumerate(sizes)]


def _classified(settings: JammingSettings, device: str | torch.device,
                store_root: str | os.PathLike | None, memo: dict | None
                ) -> Callable[[Scan], Scan]:
    """The labels that place a scan's bisection midpoints: each round's runs as
    :func:`prepared` labels them (L-BFGS results stored, each state checked once)."""
    memo = {} if memo is None else memo
    return lambda raw: prepared(raw, settings, device=device, store_root=store_root,
                                memo=memo)[0]


def prepared(raw: Scan, settings: JammingSettings, *, device: str | torch.device = "cpu",
             store_root: str | os.PathLike | None = None, memo: dict | None = None
             ) -> tuple[Scan, list[RunCheck | None]]:
    """Converge (L-BFGS, at most ``converge_iter`` iterations per run, each result stored under
    ``store_root``) and classify the runs of a scan (:func:`~l2lib.measure.jamming.classify`:
    SAT, jammed at a checked minimum, not converged, not checked beyond 1 + ``jump_window`` of
    the first jammed P of each seed). ``memo``: checks already made (by state), reused."""
    return classify(raw, settings.rule, reach=settings.jump_window,
                    converge_iter=settings.converge_iter, device=device, store_root=store_root,
                    memo=memo)


@dataclass
class JammingResults:
    """Every classified scan of chapter 6: ``random[(L, N target)]``, ``parity[(L, N target)]``
    and their run checks ``checks[("random" | "parity", L, N target)]``."""

    settings: JammingSettings
    dataset: str
    random: dict[tuple[int, float], Scan]
    parity: dict[tuple[int, float], Scan]
    checks: dict[tuple[str, int, float], list[RunCheck | None]]


def run(settings: JammingSettings, seed: int = 0, dataset: str = "digits", *,
        data_root: str | os.PathLike | None = None, device: str | torch.device = "cpu",
        store_root: str | os.PathLike | None = None) -> JammingResults:
    """All scans of the chapter (random data, then parity), converged by L-BFGS and classified.

    Each scan's seeds are cut into ``settings.seed_groups`` groups (:func:`seed_groups`); a
    group is one job: its runs bisected, converged and classified on their own (everything
    about a run depends on its seed alone) and stored apart. ``settings.workers`` > 1: the jobs
    are computed by that many one-thread processes, which hand back their classified scans;
    one process otherwise. The groups of a scan are then joined (:meth:`Scan.joined`).
    """
    workers = settings.workers
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    scans = ([("random", depth, n, settings.random.n_seeds) for depth in settings.depths
              for n in settings.random_n]
             + [("parity", depth, n, settings.parity.n_seeds) for depth in settings.depths
                for n in settings.parity_n])
    jobs = [(kind, depth, n, group) for kind, depth, n, n_seeds in scans
            for group in seed_groups(n_seeds, settings.seed_groups, seed)]
    args = (settings, dataset, data_root, str(device), store_root)
    if workers > 1 and len(jobs) > 1:
        done = _parallel_jobs(jobs, args, workers)
    else:
        done = [_job(job, *args) for job in jobs]
    random, parity, checks = {}, {}, {}
    for kind, depth, n, _ in scans:
        parts = [result for job, result in zip(jobs, done, strict=True)
                 if job[:3] == (kind, depth, n)]
        name = re.sub(r"-seeds\d+-\d+$", "", parts[0][0].name)  # the whole scan's name
        joined = Scan.joined([part for part, _ in parts], name)
        (random if kind == "random" else parity)[(depth, n)] = joined
        checks[(kind, depth, n)] = [check for _, part in parts for check in part]
    return JammingResults(settings, dataset, random, parity, checks)


Job = tuple[str, int, float, tuple[int, int]]
"""("random" | "parity", depth L, N target, (first seed, number of seeds))."""


def _job(job: Job, settings: JammingSettings, dataset: str,
         data_root: str | os.PathLike | None, device: str | torch.device,
         store_root: str | os.PathLike | None) -> tuple[Scan, list[RunCheck | None]]:
    """One group of seeds of one scan, bisected, converged and classified."""
    kind, depth, n, (first, n_seeds) = job
    memo: dict = {}  # each state checked once, while bisecting or after
    if kind == "random":
        raw = random_scan(depth, n, settings, first, n_seeds=n_seeds, device=device,
                          store_root=store_root, memo=memo)
    else:
        raw = parity_scan(depth, n, settings, dataset, first, n_seeds=n_seeds,
                          data_root=data_root, device=device, store_root=store_root,
                          memo=memo)
    return prepared(raw, settings, device=device, store_root=store_root, memo=memo)


def _one_thread_job(job: Job, *args: Any) -> tuple[Scan, list[RunCheck | None]]:
    torch.set_num_threads(1)
    return _job(job, *args)


def _parallel_jobs(jobs: Sequence[Job], args: tuple, workers: int
                   ) -> list[tuple[Scan, list[RunCheck | None]]]:
    """:func:`_job` of every job in ``workers`` one-thread processes (spawned, so that a
    notebook kernel can start them), the results in the order of ``jobs``. Random data are
    submitted first, larger N first (the longest jobs), so that the processes finish
    together."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    order = sorted(range(len(jobs)), key=lambda i: (jobs[i][0] != "random", -jobs[i][2]))
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {i: pool.submit(_one_thread_job, jobs[i], *args) for i in order}
        return [futures[i].result() for i in range(len(jobs))]


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
    :func:`~l2lib.measure.jamming.measure_exponent` on the gaps of the jammed runs within
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
