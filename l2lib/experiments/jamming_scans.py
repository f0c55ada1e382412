"""Chapter 6's computation: settings per profile, the scans (P*(N) on random and parity data)
and the classification of every run — what the chapter's stores hold.

Random data use d = h (the authors' choice), so an N target fixes the width; parity data use
d = 10. Locating P* is :mod:`l2lib.train.scan`; the classification (SAT, jammed at a checked
minimum, not converged) is :mod:`l2lib.measure.jamming`. The analysis (tables, exponents,
verdicts) is :mod:`l2lib.experiments.jamming`, kept apart so that editing it leaves the stored
scans valid (a store is keyed by the code of the experiment module that computes it and what
that imports).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import torch

from l2lib.data.jamming import parity_data, random_data
from l2lib.measure.jamming import JamRule, RunCheck, classify
from l2lib.models.mlp import width_for
from l2lib.runtime import check_profile
from l2lib.train.hinge import HingeConfig
from l2lib.train.scan import Scan, ScanSettings, scan


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
