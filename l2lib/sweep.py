"""Sweeps over the L2 strength λ: warm-started (adiabatic, up or down) and independent (cold).

* :func:`warm_sweep` visits the grid in order; each point starts from the previous point's weights
  with a fresh optimiser, as in the papers. Sweeping up then down exposes hysteresis.
* :func:`independent_sweep` trains every (λ, seed) pair from its own initialisation; all pairs are
  members of one ensemble, so a whole grid trains in one batched run.

Both take an ``observe(model, lam)`` callback returning a dict of per-member tensors (leading
axis K); ``lam`` is the (K,) tensor of the members' λ. Given a :class:`~l2lib.store.SweepStore`,
finished points are written as they complete and skipped on a rerun.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from .models import EnsembleMLP
from .store import SweepStore
from .train import ErrorFn, TrainConfig, member_vector, train

Observer = Callable[[EnsembleMLP, torch.Tensor], Mapping[str, torch.Tensor]]
DIRECTIONS = ("up", "down")


def _bar(items: range, total: int, progress: bool | str | None, default: str) -> tqdm:
    """A tqdm bar. ``progress``: True/False; None or a label shows one unless the environment
    variable L2LIB_PROGRESS is '0' (as in book builds)."""
    desc = progress if isinstance(progress, str) else default
    show = progress if isinstance(progress, bool) else os.environ.get("L2LIB_PROGRESS") != "0"
    return tqdm(items, initial=items.start, total=total, desc=desc, disable=not show)


def check_grid(lams: Sequence[float] | np.ndarray) -> np.ndarray:
    """The λ grid as a float64 array; it must be 1-D, finite, >= 0 and strictly increasing."""
    grid = np.asarray(lams, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(f"the λ grid must be a non-empty 1-D sequence, got shape {grid.shape}")
    if not np.all(np.isfinite(grid)):
        raise ValueError("the λ grid contains NaN or infinite values")
    if np.any(grid < 0):
        raise ValueError(
            f"the λ grid must be non-negative (λ is an L2 strength); smallest value {grid.min()}"
        )
    if np.any(np.diff(grid) <= 0):
        bad = int(np.argmax(np.diff(grid) <= 0))
        raise ValueError(
            "the λ grid must be strictly increasing (sweep downwards with direction='down'); "
            f"entries {bad} and {bad + 1} are {grid[bad]} and {grid[bad + 1]}"
        )
    return grid


@dataclass
class SweepResult:
    """Observations along a sweep: ``obs[name]`` has shape (n_points, K, ...).

    ``lams`` is in the order visited (decreasing for a down sweep).
    """

    lams: np.ndarray
    obs: dict[str, np.ndarray]
    direction: str

    def ascending(self) -> SweepResult:
        """The same result ordered by increasing λ."""
        order = np.argsort(self.lams)
        return SweepResult(self.lams[order], {k: v[order] for k, v in self.obs.items()}, "up")

    def mean(self, name: str) -> np.ndarray:
        """Mean over ensemble members, shape (n_points, ...)."""
        return self.obs[name].mean(axis=1)


def _to_numpy(observations: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {k: torch.as_tensor(v).detach().cpu().numpy() for k, v in observations.items()}


def _point_seeds(member_seeds: Sequence[int], index: int) -> list[int]:
    """Data-order seed of each member at sweep point ``index`` (reproducible on resume)."""
    return [int(np.random.SeedSequence([s, index, 7]).generate_state(1)[0]) for s in member_seeds]


def warm_sweep(
    model: EnsembleMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    lams: Sequence[float] | np.ndarray,
    *,
    config: TrainConfig,
    observe: Observer,
    direction: str = "up",
    ref: Sequence[torch.Tensor] | None = None,
    store: SweepStore | None = None,
    keep_states: bool = False,
    jitter: float = 0.0,
    progress: bool | str | None = None,
    error_fn: ErrorFn | None = None,
) -> SweepResult:
    """Warm-started sweep over ``lams`` (ascending grid; visited reversed if direction='down').

    Trains ``model`` in place; at the end it holds the weights of the last point. With a store,
    the weights of the newest point are always kept (to resume from); ``keep_states=True`` keeps
    every point's weights. ``error_fn`` replaces the default error (see :func:`l2lib.train.train`).
    ``jitter`` > 0 adds Gaussian noise of std jitter/sqrt(fan_in) to the
    weights before each point: it lets an unstable state (a saddle, such as θ = 0 below λ_c for one
    hidden layer) escape in finite time, while a stable minimum absorbs it.
    """
    if jitter < 0:
        raise ValueError(f"jitter must be >= 0, got {jitter}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    grid = check_grid(lams)
    order = grid if direction == "up" else grid[::-1]
    records: list[dict[str, np.ndarray]] = []
    start = 0
    if store is not None:
        start = min(store.finished(), len(order))
        for i in range(start):
            records.append(store.load(i)["obs"])
        if start:
            model.load_state_dict(store.load(start - 1)["state"])
    for i in _bar(range(start, len(order)), len(order), progress, f"sweep {direction}"):
        lam = member_vector(order[i], model.n_members, next(model.parameters()))
        seeds = _point_seeds(model.seeds, i)
        if jitter:
            model.perturb_(jitter, seeds)
        result = train(model, x, y, lam=lam, config=config, ref=ref, shuffle_seeds=seeds,
                       error_fn=error_fn)
        obs = _to_numpy(observe(model, lam))
        obs["epochs"] = result.epochs
        records.append(obs)
        if store is not None:
            store.save(i, order[i], obs, model.state_dict())
            if i > 0 and not keep_states:
                store.drop_state(i - 1)
    obs = {k: np.stack([r[k] for r in records]) for k in records[0]}
    return SweepResult(order.copy(), obs, direction)


def independent_sweep(
    make_model: Callable[[list[int]], EnsembleMLP],
    x: torch.Tensor,
    y: torch.Tensor,
    lams: Sequence[float] | np.ndarray,
    seeds: Sequence[int],
    *,
    config: TrainConfig,
    observe: Observer,
    max_members: int = 64,
    store: SweepStore | None = None,
    progress: bool | str | None = None,
) -> SweepResult:
    """Train every (λ, seed) pair from its own initialisation, batched as ensemble members.

    ``make_model(member_seeds)`` builds an ensemble with those seeds. Pairs are trained in chunks
    of at most ``max_members`` members; each finished chunk is stored. Observations have shape
    (n_λ, n_seeds, ...).
    """
    grid = check_grid(lams)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    pairs = [(lam, s) for lam in grid for s in seeds]
    chunks = [pairs[i : i + max_members] for i in range(0, len(pairs), max_members)]
    records: list[dict[str, np.ndarray]] = []
    start = 0 if store is None else min(store.finished(), len(chunks))
    for i in range(start):
        records.append(store.load(i)["obs"])
    for i in _bar(range(start, len(chunks)), len(chunks), progress, "independent sweep"):
        chunk = chunks[i]
        model = make_model([s for _, s in chunk])
        lam = member_vector([lam for lam, _ in chunk], model.n_members, next(model.parameters()))
        result = train(model, x, y, lam=lam, config=config)
        obs = _to_numpy(observe(model, lam))
        obs["epochs"] = result.epochs
        records.append(obs)
        if store is not None:
            store.save(i, grid[0], obs)
    flat = {k: np.concatenate([r[k] for r in records]) for k in records[0]}
    shaped = {k: v.reshape(len(grid), len(seeds), *v.shape[1:]) for k, v in flat.items()}
    return SweepResult(grid.copy(), shaped, "independent")
