"""Warm-started sweeps of a β-VAE ensemble over the KL weight β, with stored, resumable points.

:func:`beta_sweep` visits an ascending β grid upwards (or downwards, reversed); each point starts
from the previous point's weights with a fresh optimiser (as :func:`l2lib.sweep.warm_sweep` does
for λ) and minimises the β-weighted negative ELBO of :mod:`l2lib.vae` plus (λ/2)‖θ‖², λ fixed
along the sweep. Every point's data order and reparameterisation noise come from seeds derived
from (member seed, point index), so a resumed sweep equals an uninterrupted one. With a
:class:`~l2lib.store.SweepStore` finished points are written as they complete and skipped on a
rerun; the newest point's weights are kept to resume from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .store import SweepStore
from .sweep import DIRECTIONS, _bar
from .train import TrainConfig, member_vector, train
from .vae import EnsembleVAE, negative_elbo_error

BetaObserver = Callable[[EnsembleVAE, torch.Tensor], Mapping[str, torch.Tensor]]
"""``observe(model, beta)`` → per-member tensors (leading axis K); ``beta`` is (K,)."""


def check_betas(betas: Sequence[float] | np.ndarray) -> np.ndarray:
    """The β grid as float64; it must be 1-D, finite, >= 0 and strictly increasing."""
    grid = np.asarray(betas, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(f"the β grid must be a non-empty 1-D sequence, got shape {grid.shape}")
    if not np.all(np.isfinite(grid)) or np.any(grid < 0):
        raise ValueError("the β grid must hold finite values >= 0 (β weights the KL term)")
    if np.any(np.diff(grid) <= 0):
        raise ValueError("the β grid must be strictly increasing "
                         "(sweep downwards with direction='down')")
    return grid


@dataclass
class BetaSweep:
    """Observations along a β sweep: ``obs[name]`` has shape (n_points, K, ...); ``betas`` in
    the order visited (decreasing for a down sweep)."""

    betas: np.ndarray
    obs: dict[str, np.ndarray]
    direction: str

    def ascending(self) -> BetaSweep:
        """The same sweep ordered by increasing β."""
        order = np.argsort(self.betas)
        return BetaSweep(self.betas[order], {k: v[order] for k, v in self.obs.items()},
                         self.direction)

    def mean(self, name: str) -> np.ndarray:
        """Mean over ensemble members, shape (n_points, ...)."""
        return self.obs[name].mean(axis=1)


def _point_seeds(member_seeds: Sequence[int], index: int, salt: int) -> list[int]:
    """Seed of each member at sweep point ``index`` for one purpose (``salt``)."""
    return [int(np.random.SeedSequence([s, index, salt]).generate_state(1)[0])
            for s in member_seeds]


def beta_sweep(
    model: EnsembleVAE,
    x: torch.Tensor,
    betas: Sequence[float] | np.ndarray,
    *,
    config: TrainConfig,
    observe: BetaObserver,
    direction: str = "up",
    lam: float = 0.0,
    first_config: TrainConfig | None = None,
    store: SweepStore | None = None,
    progress: bool | str | None = None,
) -> BetaSweep:
    """Warm-started sweep over the ascending grid ``betas`` (reversed if direction='down').

    Trains ``model`` in place on the inputs ``x`` (N, d); at the end it holds the weights of
    the last point visited. ``lam`` is the L2 strength λ of :func:`l2lib.train.train`;
    ``first_config`` (default ``config``) trains the first point, e.g. longer from a fresh
    initialisation.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    grid = check_betas(betas)
    order = grid if direction == "up" else grid[::-1]
    dummy = torch.zeros(x.shape[0], device=x.device)  # train() wants targets; the VAE has none
    records: list[dict[str, np.ndarray]] = []
    start = 0
    if store is not None:
        start = min(store.finished(), len(order))
        records = [store.load(i)["obs"] for i in range(start)]
        if start:
            model.load_state_dict(store.load(start - 1)["state"])
    for i in _bar(range(start, len(order)), len(order), progress, f"β sweep {direction}"):
        beta = member_vector(order[i], model.n_members, next(model.parameters()), "beta")
        error_fn = negative_elbo_error(beta, _point_seeds(model.seeds, i, 13))
        point_config = first_config if i == 0 and first_config is not None else config
        result = train(model, x, dummy, lam=lam, config=point_config, error_fn=error_fn,
                       shuffle_seeds=_point_seeds(model.seeds, i, 7))
        obs = {k: torch.as_tensor(v).detach().cpu().numpy()
               for k, v in observe(model, beta).items()}
        obs["epochs"] = result.epochs
        records.append(obs)
        if store is not None:
            store.save(i, order[i], obs, model.state_dict())
            if i > 0:
                store.drop_state(i - 1)
    obs = {k: np.stack([r[k] for r in records]) for k in records[0]}
    return BetaSweep(order.copy(), obs, direction)
