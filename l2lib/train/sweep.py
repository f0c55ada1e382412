"""Sweeps over a control parameter: warm-started (adiabatic, up or down) and independent (cold).

* :func:`warm_sweep` visits the grid in order; each point starts from the previous point's weights
  with a fresh optimiser, as in the papers. The swept value is the L2 strength λ by default, or
  any other parameter of the objective through ``point_objective`` (the KL weight β of a VAE).
* :func:`hysteresis_sweep` sweeps up, then down from where the upward sweep ended.
* :func:`independent_sweep` trains every (λ, seed) pair from its own initialisation; all pairs are
  members of one ensemble, so a whole grid trains in one batched run.

Each takes an ``observe(model, value)`` callback returning a dict of per-member tensors (leading
axis K); ``value`` is the (K,) tensor of the members' swept value. Given a
:class:`~l2lib.store.SweepStore`, finished points are written as they complete and skipped on a
rerun. Every point's data order (and any noise of the objective) comes from seeds derived from
(member seed, point index), so a resumed sweep equals an uninterrupted one. A warm sweep's
``data_order="fixed"`` instead repeats each member's data order at every point (common random
numbers: neighbouring points then differ by the swept value, not by the minibatch sampling).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from l2lib.models.mlp import EnsembleMLP
from l2lib.runtime import point_seeds, progress_bar
from l2lib.store import StoreError, SweepStore, open_store
from l2lib.train.loop import TrainConfig, train
from l2lib.train.losses import ErrorFn, per_member

Observer = Callable[[torch.nn.Module, torch.Tensor], Mapping[str, torch.Tensor]]
"""``observe(model, value)`` → per-member tensors (leading axis K); ``value`` is (K,)."""
PointObjective = Callable[[torch.Tensor, int], tuple[Any, ErrorFn | None]]
"""``point_objective(value, index)`` → (λ, error_fn) of the sweep point with swept ``value``
(K,) at grid position ``index``; ``error_fn`` None means the default error."""
DIRECTIONS = ("up", "down")
DATA_ORDERS = ("fresh", "fixed")
"""A warm sweep's data order across points: ``"fresh"`` draws a new order at every point (a
shuffling data loader that runs on, as in the papers' scripts); ``"fixed"`` repeats the member's
order at every point (the same minibatch sequence at every λ: common random numbers)."""


def check_data_order(data_order: str) -> str:
    """``data_order`` if it is one of :data:`DATA_ORDERS`, else a ValueError naming the
    setting."""
    if data_order not in DATA_ORDERS:
        raise ValueError(f"data_order must be one of {DATA_ORDERS}, got {data_order!r}")
    return data_order


def check_grid(lams: Sequence[float] | np.ndarray, name: str = "λ") -> np.ndarray:
    """A sweep grid as a float64 array; it must be 1-D, finite, >= 0 and strictly increasing.
    ``name`` names the swept parameter in error messages."""
    grid = np.asarray(lams, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(f"the {name} grid must be a non-empty 1-D sequence, "
                         f"got shape {grid.shape}")
    if not np.all(np.isfinite(grid)):
        raise ValueError(f"the {name} grid contains NaN or infinite values")
    if np.any(grid < 0):
        raise ValueError(f"the {name} grid must be non-negative; smallest value {grid.min()}")
    if np.any(np.diff(grid) <= 0):
        bad = int(np.argmax(np.diff(grid) <= 0))
        raise ValueError(
            f"the {name} grid must be strictly increasing (sweep downwards with "
            f"direction='down'); entries {bad} and {bad + 1} are {grid[bad]} and {grid[bad + 1]}"
        )
    return grid


@dataclass
class SweepResult:
    """Observations along a sweep: ``obs[name]`` has shape (n_points, K, ...).

    ``lams`` holds the swept values (λ, or β for a β sweep) in the order visited (decreasing
    for a down sweep).
    """

    lams: np.ndarray
    obs: dict[str, np.ndarray]
    direction: str

    @property
    def betas(self) -> np.ndarray:
        """The swept values under the name of a β sweep (the same array as ``lams``)."""
        return self.lams

    def ascending(self) -> SweepResult:
        """The same result ordered by increasing swept value (its ``direction`` becomes "up":
        the order of its points, not how they were computed)."""
        order = np.argsort(self.lams)
        return SweepResult(self.lams[order], {k: v[order] for k, v in self.obs.items()}, "up")

    def mean(self, name: str) -> np.ndarray:
        """Mean over ensemble members, shape (n_points, ...)."""
        return self.obs[name].mean(axis=1)


def _to_numpy(observations: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {k: torch.as_tensor(v).detach().cpu().numpy() for k, v in observations.items()}


def _warm_points(
    model: EnsembleMLP, x: torch.Tensor, y: torch.Tensor, order: np.ndarray, direction: str, *,
    config: TrainConfig, observe: Observer, ref: Sequence[torch.Tensor] | None,
    store: SweepStore | None, keep_states: bool, jitter: float, progress: bool | str | None,
    error_fn: ErrorFn | None, point_objective: PointObjective | None,
    first_config: TrainConfig | None, data_order: str,
) -> list[dict[str, np.ndarray]]:
    """The observations of every point of a warm sweep visiting ``order`` (resumed from the
    store's newest intact point with weights)."""
    records: list[dict[str, np.ndarray]] = []
    start = 0
    if store is not None:
        start, state = store.resume_point(len(order))
        records = [store.load(i)["obs"] for i in range(start)]
        if state is not None:
            model.load_state_dict(state)
    bar = progress_bar(len(order), progress, f"sweep {direction}", initial=start)
    for i in range(start, len(order)):
        value = per_member(order[i], model.n_members, next(model.parameters()))
        seeds = point_seeds(model.seeds, i)
        if jitter:
            model.perturb_(jitter, seeds)
        lam, point_error = value, error_fn
        if point_objective is not None:
            lam, point_error = point_objective(value, i)
        point_config = first_config if i == 0 and first_config is not None else config
        order_seeds = seeds if data_order == "fresh" else list(model.seeds)
        result = train(model, x, y, lam=lam, config=point_config, ref=ref,
                       shuffle_seeds=order_seeds,
                       error_fn=point_error, where=f"{direction} sweep point {i}")
        obs = _to_numpy(observe(model, value))
        obs["epochs"] = result.epochs
        records.append(obs)
        if store is not None:
            store.save(i, order[i], obs, model.state_dict())
            if i > 0 and not keep_states:
                store.drop_state(i - 1)
        bar.update()
    bar.close()
    return records


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
    point_objective: PointObjective | None = None,
    first_config: TrainConfig | None = None,
    data_order: str = "fresh",
) -> SweepResult:
    """Warm-started sweep over ``lams`` (ascending grid; visited reversed if direction='down').

    Trains ``model`` in place; at the end it holds the weights of the last point. With a store,
    the weights of the newest point are always kept (to resume from); ``keep_states=True`` keeps
    every point's weights. ``error_fn`` replaces the default error (see
    :func:`l2lib.train.loop.train`). ``point_objective`` makes the grid sweep another parameter
    than λ: it gives each point's (λ, error_fn) from the swept value. ``first_config`` (default
    ``config``) trains the first point, e.g. longer from a fresh initialisation.
    ``jitter`` > 0 adds Gaussian noise of std jitter/sqrt(fan_in) to the weights before each
    point (``model`` must have ``perturb_``): it lets an unstable state (a saddle, such as θ = 0
    below λ_c for one hidden layer) escape in finite time, while a stable minimum absorbs it.
    ``data_order`` (:data:`DATA_ORDERS`): ``"fresh"``, a new data order at every point, or
    ``"fixed"``, each member's order repeated at every point (the jitter stays fresh).
    """
    check_data_order(data_order)
    if jitter < 0:
        raise ValueError(f"jitter must be >= 0, got {jitter}")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if point_objective is not None and error_fn is not None:
        raise ValueError("give error_fn or point_objective, not both")
    grid = check_grid(lams, "λ" if point_objective is None else "swept")
    order = grid if direction == "up" else grid[::-1]
    with store.lock() if store is not None else contextlib.nullcontext():
        records = _warm_points(model, x, y, order, direction, config=config, observe=observe,
                               ref=ref, store=store, keep_states=keep_states, jitter=jitter,
                               progress=progress, error_fn=error_fn,
                               point_objective=point_objective, first_config=first_config,
                               data_order=data_order)
    obs = {k: np.stack([r[k] for r in records]) for k in records[0]}
    return SweepResult(order.copy(), obs, direction)


@dataclass
class Hysteresis:
    """An upward and a downward warm sweep, both reported on the ascending grid."""

    lams: np.ndarray
    up: SweepResult
    down: SweepResult


def hysteresis_sweep(
    model: EnsembleMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    lams: np.ndarray,
    *,
    config: TrainConfig,
    observe: Observer,
    jitter: float = 0.0,
    store_root: str | Path | None = None,
    name: str = "sweep",
    key: Mapping[str, Any] | None = None,
    observe_down: Observer | None = None,
) -> Hysteresis:
    """Sweep up over ``lams`` from ``model``'s weights, then down from where it ended.

    ``key`` must describe everything that determines the result besides ``lams``, ``config`` and
    ``jitter`` (model, data, seeds); it keys the stores ``<name>-up`` and ``<name>-down``.
    ``observe_down`` (default ``observe``) observes the downward sweep, e.g. adding a saddle
    check.
    """
    common = {"key": dict(key or {}), "lams": lams, "config": config, "jitter": jitter}
    up = warm_sweep(model, x, y, lams, config=config, observe=observe, direction="up",
                    jitter=jitter, store=open_store(store_root, f"{name}-up", common),
                    progress=f"{name} ↑")
    down = warm_sweep(model, x, y, lams, config=config, observe=observe_down or observe,
                      direction="down", jitter=jitter,
                      store=open_store(store_root, f"{name}-down", common),
                      progress=f"{name} ↓")
    return Hysteresis(up.lams, up, down.ascending())


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
    with store.lock() if store is not None else contextlib.nullcontext():
        records: list[dict[str, np.ndarray]] = []
        start = 0 if store is None else min(store.finished(), len(chunks))
        for i in range(start):
            try:
                records.append(store.load(i)["obs"])
            except StoreError as err:  # recompute from the damaged chunk on
                store.quarantine(i, str(err))
                start = i
                break
        bar = progress_bar(len(chunks), progress, "independent sweep", initial=start)
        for i in range(start, len(chunks)):
            chunk = chunks[i]
            model = make_model([s for _, s in chunk])
            lam = per_member([lam for lam, _ in chunk], model.n_members,
                             next(model.parameters()))
            result = train(model, x, y, lam=lam, config=config,
                           where=f"independent sweep chunk {i}")
            obs = _to_numpy(observe(model, lam))
            obs["epochs"] = result.epochs
            records.append(obs)
            if store is not None:
                store.save(i, grid[0], obs)
            bar.update()
        bar.close()
    flat = {k: np.concatenate([r[k] for r in records]) for k in records[0]}
    shaped = {k: v.reshape(len(grid), len(seeds), *v.shape[1:]) for k, v in flat.items()}
    return SweepResult(grid.copy(), shaped, "independent")
