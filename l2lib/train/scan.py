"""Locating the jamming transition: P*(N) at fixed architecture by a grid and bisection in P.

At one architecture (depth L, width h, input dimension d, so N weights fixed) and for each data
seed, runs are made at data-set sizes P = r·N on a grid of ratios r, then the bracket around the
transition is bisected (geometric midpoints) for a few rounds. During the scan a run is *jammed*
(UNSAT) when it ends with N_Δ > f·N (the authors' rule, f = 0.1); otherwise it is on the SAT
side (N_Δ = 0: fitted; 0 < N_Δ ≤ f·N: a few points left when the budget ran out). A run is
*stuck* when at least half of its unsatisfied points are dead
(:func:`~l2lib.train.hinge.dead_points`: the whole last hidden layer is off there): it says
nothing about whether the data can be fitted, and locating P* ignores it. Per seed, P* =
√(P_lo·P_hi) with P_hi the smallest jammed P and P_lo the largest SAT-side P below it; P* is the
mean over seeds, with a standard error from the seeds' spread and their brackets' widths. N*(P)
is the same line read the other way.

:func:`converged` (or :class:`StoredConvergence`, which stores each result) minimises runs on
by L-BFGS and :func:`l2lib.measure.jamming.classify` labels every run (SAT, jammed at a checked
minimum, not converged, not checked); a labelled scan's ``jammed``/``sat_side``/brackets/P*
follow the labels instead of the authors' rule. Passed to :func:`scan` as ``label``, the
classification also places the bisection's midpoints (the authors' rule otherwise).

All runs of one batch train together as ensemble members (:func:`l2lib.train.hinge.minimise`);
each batch is stored as one point of a :class:`~l2lib.store.SweepStore`, so a rerun replays the
finished batches and resumes after the last one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from l2lib.models.flat import set_flat_parameters
from l2lib.models.mlp import jamming_net, n_weights
from l2lib.runtime import derived_seed, progress_bar
from l2lib.store import open_store
from l2lib.train.hinge import HingeConfig, converge, dead_points, margins, minimise

SAT, JAMMED, NOT_CONVERGED, NOT_CHECKED = "SAT", "jammed", "not converged", "not checked"
"""Run labels after classification (:func:`l2lib.measure.jamming.classify`)."""

DataPool = Callable[[int, int], tuple[torch.Tensor, torch.Tensor]]
"""``pool(seed, p)`` → (x (p, d), y (p,)): the data of one seed; size-P sets are prefixes."""


@dataclass(frozen=True)
class ScanSettings:
    """How P*(N) is located at one architecture."""

    ratios: tuple[float, ...] = (0.5, 1.0, 2.0)  # the grid of P/N
    n_seeds: int = 3
    rounds: int = 3  # bisection rounds after the grid
    config: HingeConfig = HingeConfig(lr=1e-2, decay_every=2000, max_steps=3000)
    unsat_fraction: float = 0.1  # jammed ⇔ N_Δ > unsat_fraction · N
    pad_ratio: float = 1.6  # runs with P within this factor train in one batch

    def __post_init__(self) -> None:
        if len(self.ratios) < 2 or min(self.ratios) <= 0 or list(self.ratios) != sorted(
                set(self.ratios)):
            raise ValueError(f"ratios must be >= 2 increasing positive P/N values, got "
                             f"{self.ratios}")
        if self.n_seeds < 1 or self.rounds < 0 or not 0 <= self.unsat_fraction < 1:
            raise ValueError("need n_seeds >= 1, rounds >= 0 and 0 <= unsat_fraction < 1")
        if self.pad_ratio < 1:
            raise ValueError(f"pad_ratio must be >= 1, got {self.pad_ratio}")


@dataclass
class Scan:
    """Every run at one architecture: per run its P, seed, round and outcome.

    ``deltas[i]`` holds run i's final Δ (length P), ``theta[i]`` its final parameters (weights
    then biases, flat), ``dead[i]`` how many of its unsatisfied points are dead;
    ``pools[seed]`` the data it was trained on (the first P points).
    """

    name: str
    depth: int
    width: int
    d: int
    unsat_fraction: float
    p: np.ndarray
    seed: np.ndarray
    round: np.ndarray
    n_delta: np.ndarray
    steps: np.ndarray
    loss: np.ndarray
    deltas: list[np.ndarray]
    theta: np.ndarray
    dead: np.ndarray
    pools: dict[int, tuple[torch.Tensor, torch.Tensor]] = field(repr=False)
    labels: np.ndarray | None = None  # per run SAT / jammed / not converged, once classified

    @property
    def n(self) -> int:
        """N, the number of weights."""
        return n_weights(self.d, self.width, self.depth)

    @property
    def sizes(self) -> list[int]:
        return [self.d] + [self.width] * self.depth + [1]

    @property
    def stuck(self) -> np.ndarray:
        """Runs whose unsatisfied points are at least half dead."""
        return (self.n_delta > 0) & (2 * self.dead >= self.n_delta)

    @property
    def jammed(self) -> np.ndarray:
        """Jammed runs: labelled so once classified; before that (during the scan's bisection)
        the authors' rule N_Δ > f·N, not stuck."""
        if self.labels is not None:
            return self.labels == JAMMED
        return (self.n_delta > self.unsat_fraction * self.n) & ~self.stuck

    @property
    def sat_side(self) -> np.ndarray:
        """SAT runs once classified; before that, runs ending with N_Δ ≤ f·N, not stuck."""
        if self.labels is not None:
            return self.labels == SAT
        return (self.n_delta <= self.unsat_fraction * self.n) & ~self.stuck

    @property
    def excluded(self) -> np.ndarray:
        """Runs left out of P* and of the statistics: not converged or not checked once
        classified, stuck before."""
        if self.labels is not None:
            return (self.labels == NOT_CONVERGED) | (self.labels == NOT_CHECKED)
        return self.stuck

    def labelled(self, labels: Sequence[str] | np.ndarray) -> Scan:
        """A copy whose runs carry ``labels`` (SAT / jammed / not converged)."""
        labels = np.asarray(labels, dtype=object)
        if labels.shape != self.p.shape or not set(labels) <= {SAT, JAMMED, NOT_CONVERGED,
                                                               NOT_CHECKED}:
            raise ValueError(f"need one of {SAT!r}, {JAMMED!r}, {NOT_CONVERGED!r}, "
                             f"{NOT_CHECKED!r} per run "
                             f"({len(self.p)}), got {labels!r}")
        return replace(self, labels=labels)

    @property
    def sat(self) -> np.ndarray:
        """Runs that fitted every point (N_Δ = 0)."""
        return self.n_delta == 0

    def brackets(self) -> dict[int, tuple[float, float]]:
        """Per seed (P_lo, P_hi): the largest SAT-side P below the smallest jammed one; NaN
        where the grid did not bracket the transition. Stuck runs are ignored."""
        out = {}
        for s in np.unique(self.seed):
            mine = self.seed == s
            jam = self.p[mine & self.jammed]
            hi = float(jam.min()) if jam.size else np.nan
            below = self.p[mine & self.sat_side & (self.p < hi if jam.size else True)]
            out[int(s)] = (float(below.max()) if below.size else np.nan, hi)
        return out

    def p_star_seeds(self) -> np.ndarray:
        """P* of each seed, √(P_lo·P_hi) (NaN if not bracketed)."""
        return np.array([np.sqrt(lo * hi) for lo, hi in self.brackets().values()])

    def p_star(self) -> tuple[float, float]:
        """(mean P* over the bracketed seeds, its standard error). The error combines the
        spread over seeds with each seed's bracket, read as a uniform distribution on
        [P_lo, P_hi] (standard deviation (P_hi − P_lo)/√12): √((s² + ⟨w²⟩)/n)."""
        brackets = np.array(list(self.brackets().values()))
        values = self.p_star_seeds()
        ok = np.isfinite(values)
        if not ok.any():
            return np.nan, np.nan
        n = int(ok.sum())
        spread = values[ok].var(ddof=1) if n > 1 else 0.0
        width = np.mean(((brackets[ok, 1] - brackets[ok, 0]) / np.sqrt(12)) ** 2)
        return float(values[ok].mean()), float(np.sqrt((spread + width) / n))

    def r_star(self) -> tuple[float, float]:
        """(P*/N, its standard error)."""
        p, err = self.p_star()
        return p / self.n, err / self.n

    def near_transition(self, window: float) -> np.ndarray:
        """Indices of jammed runs with P within a factor (1 + window) above their seed's P*."""
        stars = dict(zip(self.brackets(), self.p_star_seeds(), strict=True))
        ref = np.array([stars[int(s)] for s in self.seed])
        return np.flatnonzero(self.jammed & np.isfinite(ref) & (self.p <= (1 + window) * ref))

    def subset(self, runs: Sequence[int]) -> Scan:
        """The runs ``runs`` only, in that order."""
        idx = np.asarray(runs, dtype=int)
        return Scan(self.name, self.depth, self.width, self.d, self.unsat_fraction,
                    *(getattr(self, k)[idx] for k in ("p", "seed", "round", "n_delta", "steps",
                                                      "loss")),
                    [self.deltas[i] for i in idx], self.theta[idx], self.dead[idx], self.pools,
                    None if self.labels is None else self.labels[idx])

    def merged(self, runs: Sequence[int], other: Scan) -> Scan:
        """A copy in which runs ``runs`` carry the outcomes of ``other``'s runs (same order, e.g.
        from :func:`polish`); their ``steps`` add up."""
        idx = np.asarray(runs, dtype=int)
        if len(other.p) != idx.size or not np.array_equal(other.p, self.p[idx]):
            raise ValueError("other must hold the same runs (same P, same order) as runs")
        out = {k: getattr(self, k).copy() for k in ("n_delta", "steps", "loss", "theta", "dead")}
        for k in ("n_delta", "loss", "theta", "dead"):
            out[k][idx] = getattr(other, k)
        out["steps"][idx] += other.steps
        deltas = list(self.deltas)
        for j, i in enumerate(idx):
            deltas[i] = other.deltas[j]
        return replace(self, deltas=deltas, labels=None, **out)

    @classmethod
    def joined(cls, parts: Sequence[Scan], name: str) -> Scan:
        """One scan named ``name`` holding the runs of ``parts`` (scans of the same architecture
        on disjoint seeds, e.g. a scan's seeds computed in groups), in the order given; labelled
        if every part is."""
        first = parts[0] if parts else None
        if first is None:
            raise ValueError("need at least one scan to join")
        same = ("depth", "width", "d", "unsat_fraction")
        if any(getattr(p, k) != getattr(first, k) for p in parts for k in same):
            raise ValueError(f"can only join scans of one architecture (same {', '.join(same)})")
        seeds = [set(np.unique(p.seed).tolist()) for p in parts]
        if sum(map(len, seeds)) != len(set().union(*seeds)):
            raise ValueError(f"the scans to join share seeds: {[sorted(s) for s in seeds]}")
        labelled = [p.labels is not None for p in parts]
        if any(labelled) and not all(labelled):
            raise ValueError("join labelled scans or unlabelled ones, not both")
        cat = {k: np.concatenate([getattr(p, k) for p in parts]) for k in
               ("p", "seed", "round", "n_delta", "steps", "loss", "theta", "dead")}
        return cls(name, first.depth, first.width, first.d, first.unsat_fraction, **cat,
                   deltas=[row for p in parts for row in p.deltas],
                   pools={s: pool for p in parts for s, pool in p.pools.items()},
                   labels=np.concatenate([p.labels for p in parts]) if all(labelled) else None)

    def data(self, run: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The (x, y) run ``run`` was trained on."""
        x, y = self.pools[int(self.seed[run])]
        return x[: self.p[run]], y[: self.p[run]]


def _batches(runs: list[tuple[int, int]], pad_ratio: float) -> list[list[tuple[int, int]]]:
    """Runs (P, seed) sorted by P and cut where P exceeds ``pad_ratio`` × the batch's smallest."""
    out: list[list[tuple[int, int]]] = []
    for run in sorted(runs):
        if out and run[0] <= pad_ratio * out[-1][0][0]:
            out[-1].append(run)
        else:
            out.append([run])
    return out


def scan(
    pool: DataPool,
    d: int,
    width: int,
    depth: int,
    settings: ScanSettings,
    *,
    seed: int = 0,
    device: str | torch.device = "cpu",
    store_root: str | os.PathLike | None = None,
    name: str = "jamming",
    key: Mapping[str, Any] | None = None,
    progress: bool | str | None = None,
    label: Callable[[Scan], Scan] | None = None,
) -> Scan:
    """Grid in P = r·N over ``settings.ratios``, then ``settings.rounds`` bisection rounds.

    Seeds ``seed, seed + 1, …`` each draw their data pool ``pool(s, P_max)`` (P_max = the
    largest grid P) and an initialisation per (seed, P). ``key`` must describe the data (it keys
    the store together with the architecture and the settings). ``label``: how the runs so far
    are labelled before each bisection round (e.g. converged and classified, see
    :func:`l2lib.measure.jamming.classify`), so that the midpoints bisect the labelled
    transition; None: the authors' rule. A midpoint a seed already ran (its run excluded) ends
    that seed's bisection. The returned scan is unlabelled (the raw runs).
    """
    n = n_weights(d, width, depth)
    grid = sorted({max(2, round(r * n)) for r in settings.ratios})
    seeds = [seed + i for i in range(settings.n_seeds)]
    pools = {s: tuple(t.to(device) for t in pool(s, grid[-1])) for s in seeds}
    for s, (x, _) in pools.items():
        if x.shape != (grid[-1], d):
            raise ValueError(f"pool({s}, {grid[-1]}) returned x of shape {tuple(x.shape)}, "
                             f"expected ({grid[-1]}, {d})")
    store = open_store(store_root, name, {"key": dict(key or {}), "d": d, "width": width,
                                          "depth": depth, "settings": settings, "seeds": seeds})
    done = 0 if store is None else store.finished()
    records: list[dict[str, np.ndarray]] = []
    batch_index = 0

    def run_batch(runs: list[tuple[int, int]], rnd: int) -> None:
        nonlocal batch_index
        if batch_index < done:
            obs = store.load(batch_index)["obs"]
            if [tuple(r) for r in obs["runs"].tolist()] != runs:
                raise ValueError(f"stored batch {batch_index} of {store.path} holds other runs; "
                                 "delete that folder to recompute")
        else:
            obs = _train_batch(runs, pools, d, width, depth, settings.config, device, progress)
            obs["round"] = np.full(len(runs), rnd)
            if store is not None:
                store.save(batch_index, float(rnd), obs)
        records.append(obs)
        batch_index += 1

    with progress_bar(1 + settings.rounds, progress, f"jamming L={depth} h={width}") as bar:
        for batch in _batches([(p, s) for p in grid for s in seeds], settings.pad_ratio):
            run_batch(batch, 0)
        bar.update()
        for rnd in range(1, settings.rounds + 1):
            current = _collect(records, name, depth, width, d, settings.unsat_fraction, pools)
            if label is not None:
                current = label(current)
            ran = set(zip(current.p.tolist(), current.seed.tolist(), strict=True))
            todo = []
            for s, (lo, hi) in current.brackets().items():
                mid = round(np.sqrt(lo * hi)) if np.isfinite(lo * hi) else 0
                if lo < mid < hi and (mid, s) not in ran:
                    todo.append((mid, s))
            for batch in _batches(todo, settings.pad_ratio):
                run_batch(batch, rnd)
            bar.update()
    return _collect(records, name, depth, width, d, settings.unsat_fraction, pools)


def _train_batch(runs, pools, d, width, depth, config: HingeConfig, device, progress,
                 start: np.ndarray | None = None):
    """Train runs (P, seed) as one ensemble (from ``start`` parameters if given, else a fresh
    initialisation per run); their observations as arrays."""
    p = np.array([r[0] for r in runs])
    p_max = int(p.max())
    x = torch.stack([pools[s][0][:p_max] for _, s in runs])
    y = torch.stack([pools[s][1][:p_max] for _, s in runs])
    model = jamming_net(d, width, depth, [derived_seed(s, q) for q, s in runs], dtype=x.dtype,
                        device=device)
    if start is not None:
        set_flat_parameters(model, torch.as_tensor(start, dtype=x.dtype, device=device))
    result = minimise(model, x, y, p, config=config, progress=progress)
    sizes = torch.as_tensor(p, device=x.device)
    outside = torch.arange(p_max, device=x.device)[None, :] >= sizes[:, None]
    with torch.no_grad():
        delta = margins(model(x), y)
    dead = (dead_points(model, x) & (delta > 0) & ~outside).sum(dim=1)
    delta[outside] = torch.nan
    return {"runs": np.array(runs), "n_delta": result.n_delta, "steps": result.steps,
            "loss": result.loss, "deltas": delta.cpu().numpy(), "dead": dead.cpu().numpy(),
            "theta": model.flat_parameters().detach().cpu().numpy()}


def polish(
    scan: Scan, runs: Sequence[int], config: HingeConfig, *,
    device: str | torch.device = "cpu", store_root: str | os.PathLike | None = None,
    progress: bool | str | None = None,
) -> Scan:
    """Continue minimising ``runs`` (indices into ``scan``) from their final weights with
    ``config`` (a fresh Adam, typically a smaller learning rate), to bring them closer to a
    minimum; a run that reaches N_Δ = 0 was not jammed, only slow. Returns a :class:`Scan` of
    those runs (sorted by index) with their new outcomes (``steps``: the additional updates);
    stored per batch."""
    runs = sorted(int(i) for i in runs)
    if not runs:
        raise ValueError("polish needs at least one run index")
    start = scan.theta[runs]
    digest = hashlib.sha256(np.ascontiguousarray(start).tobytes()).hexdigest()[:16]
    store = open_store(store_root, f"{scan.name}-polish", {"start": digest, "runs": runs,
                                                             "config": config})
    done = 0 if store is None else store.finished()
    by_run = {(int(scan.p[i]), i): i for i in runs}
    records, order = [], []
    for b, batch in enumerate(_batches(list(by_run), 1.6)):
        idx = [by_run[key] for key in batch]
        order += idx
        if b < done:
            obs = store.load(b)["obs"]
        else:
            pairs = [(int(scan.p[i]), int(scan.seed[i])) for i in idx]
            obs = _train_batch(pairs, scan.pools, scan.d, scan.width, scan.depth, config, device,
                               progress, start=scan.theta[idx])
            obs["round"] = scan.round[idx]
            if store is not None:
                store.save(b, 0.0, obs)
        records.append(obs)
    out = _collect(records, f"{scan.name}-polished", scan.depth, scan.width, scan.d,
                   scan.unsat_fraction, scan.pools)
    return out.subset(np.argsort(order))  # back in the order of ``runs``


def converged(scan: Scan, runs: Sequence[int], *, max_iter: int = 2000,
              device: str | torch.device = "cpu") -> Scan:
    """A copy of ``scan`` in which ``runs`` were minimised on to a minimum by
    :func:`l2lib.train.hinge.converge` (L-BFGS) from their final weights; their ``steps`` gain
    the iterations made. A run that reaches N_Δ = 0 there was not jammed, only slow."""
    for i in sorted({int(r) for r in runs}):
        scan = _with_converged(scan, _converge_run(scan, i, max_iter, device))
    return scan


class StoredConvergence:
    """:func:`converged` one run at a time, each result stored as one point of the store
    ``<scan name>-converged`` (keyed by ``max_iter``) and found again by the run's *start*: its
    P, its seed and its weights before L-BFGS. A rebuild, a later bisection round that asks for
    the same runs again, or an interrupted classification replays the stored results in any
    order instead of recomputing them. ``store_root`` None stores nothing (results are still
    kept for the life of the object)."""

    def __init__(self, name: str, max_iter: int, *, device: str | torch.device = "cpu",
                 store_root: str | os.PathLike | None = None) -> None:
        if max_iter < 1:
            raise ValueError(f"max_iter must be ≥ 1 L-BFGS iteration, got {max_iter}")
        self.max_iter, self.device = max_iter, device
        # keyed by this module's code (L-BFGS and its imports), not by the caller's: the result
        # depends on the start alone
        self.store = open_store(store_root, f"{name}-converged",
                                {"max_iter": max_iter, "found_by": "start (P, seed, weights)"},
                                modules=[__name__])
        self.found: dict[int, dict[str, np.ndarray]] = {}
        self.saved = 0 if self.store is None else self.store.finished()
        for index in range(self.saved):
            obs = self.store.load(index)["obs"]
            self.found[int(obs["start"])] = obs

    def __call__(self, scan: Scan, run: int) -> Scan:
        """``scan`` with run ``run`` minimised on (computed and stored, or replayed)."""
        start = run_address(scan, run)
        obs = self.found.get(start)
        if obs is None:
            obs = _converge_run(scan, run, self.max_iter, self.device)
            obs["start"] = np.array(start)
            if self.store is not None:
                self.store.save(self.saved, float(scan.p[run]), obs)
                self.saved += 1
            self.found[start] = obs
        return _with_converged(scan, {**obs, "run": np.array(run)})


def run_address(scan: Scan, run: int) -> int:
    """A 63-bit address of run ``run``'s state: its P, its seed and its current weights (the
    start of an L-BFGS run, the state a check reads)."""
    digest = hashlib.sha256(np.array([scan.p[run], scan.seed[run]], dtype=np.int64).tobytes()
                            + np.ascontiguousarray(scan.theta[run]).tobytes()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _converge_run(scan: Scan, i: int, max_iter: int, device: str | torch.device
                  ) -> dict[str, np.ndarray]:
    """Run ``i`` of ``scan`` minimised on by L-BFGS: its new outcome as arrays (``iterations``:
    the L-BFGS iterations made; ``deltas``: Δ over its P data)."""
    x, y = (t.to(device) for t in scan.data(i))
    out = converge(torch.as_tensor(scan.theta[i], device=device, dtype=x.dtype), scan.sizes, x,
                   y, max_iter=max_iter)
    model = jamming_net(scan.d, scan.width, scan.depth, [0], dtype=x.dtype, device=device)
    set_flat_parameters(model, out.theta[None])
    with torch.no_grad():
        delta = margins(model(x), y)[0]
        dead = int((dead_points(model, x)[0] & (delta > 0)).sum())
    return {"run": np.array(i), "p": np.array(int(scan.p[i])),
            "seed": np.array(int(scan.seed[i])), "n_delta": np.array(out.n_delta),
            "loss": np.array(out.loss), "iterations": np.array(out.iterations),
            "dead": np.array(dead), "deltas": delta.cpu().numpy(),
            "theta": out.theta.cpu().numpy()}


def _with_converged(scan: Scan, obs: Mapping[str, np.ndarray]) -> Scan:
    """A copy of ``scan`` with run ``obs["run"]``'s outcome replaced by ``obs``."""
    i = int(obs["run"])
    theta, n_delta, loss = scan.theta.copy(), scan.n_delta.copy(), scan.loss.copy()
    steps, dead, deltas = scan.steps.copy(), scan.dead.copy(), list(scan.deltas)
    theta[i], n_delta[i], loss[i] = obs["theta"], int(obs["n_delta"]), float(obs["loss"])
    steps[i], dead[i] = steps[i] + int(obs["iterations"]), int(obs["dead"])
    deltas[i] = np.asarray(obs["deltas"])
    return replace(scan, theta=theta, n_delta=n_delta, loss=loss, steps=steps, dead=dead,
                   deltas=deltas, labels=None)


def _collect(records, name, depth, width, d, unsat_fraction: float, pools) -> Scan:
    cat = {k: np.concatenate([r[k] for r in records]) for k in
           ("runs", "n_delta", "steps", "loss", "round", "theta", "dead")}
    deltas = [row[: int(p)] for r in records for row, p in zip(r["deltas"], r["runs"][:, 0],
                                                                 strict=True)]
    return Scan(name=name, depth=depth, width=width, d=d, unsat_fraction=unsat_fraction,
                p=cat["runs"][:, 0].astype(int), seed=cat["runs"][:, 1].astype(int),
                round=cat["round"].astype(int), n_delta=cat["n_delta"].astype(int),
                steps=cat["steps"].astype(int), loss=cat["loss"].astype(float), deltas=deltas,
                theta=cat["theta"], dead=cat["dead"].astype(int), pools=pools)
