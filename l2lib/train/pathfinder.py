"""The Pathfinder algorithm of Ersoy, Cardozo Licha & Wiesner (arXiv 2512.11866), and the
evaluation of any path of parameter points.

Pathfinder traces a path through the error landscape with a *shifted* L2 term. From a start θ₀
it visits an ascending grid of strengths β; at every β it minimises

    L_β(θ) = E(θ) + (β/2) ‖θ − θ_ref‖²

to convergence, warm-started from the previous β's weights with a fresh optimiser; convergence
is the early stopping of :func:`l2lib.train.loop.train` (patience on the epoch mean of L_β, the best
epoch's weights restored). The path is the ordered list of converged checkpoints θ_β₁,
θ_β₂, …, pulled from the start towards θ_ref (θ_β → θ_ref as β → ∞). There is no other
optimisation loop: :func:`find_path` is a thin layer over :func:`l2lib.train.sweep.warm_sweep`,
which
also stores every checkpoint resumably.

Convention. l2lib's penalty is (β/2)‖θ − θ_ref‖² (gradient β(θ − θ_ref), Hessian shift β·I, see
:mod:`l2lib.train.losses`). The paper writes β_paper ‖θ − θ_ref‖², so β_paper = β/2
(:func:`paper_beta`). Distances are Euclidean norms over all weights and biases of a member.

Saddles. A converged checkpoint is a local minimum of L_β, so the smallest eigenvalue of the
*unregularised* Hessian ∇²E there is ≥ −β. At a first-order jump of the path the minimum the warm
start followed disappears (a saddle-node bifurcation of L_β): at the last checkpoint before the
jump ∇²E has an eigenvalue close to −β, the landscape is concave along one direction.

Parameters of an ensemble travel as :data:`Params`: a dict name → tensor with the member axis
first, as ``model.state_dict()`` of an :class:`~l2lib.models.EnsembleMLP`. Member k of a
K-member ensemble carries its own path (start k, reference k).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

import numpy as np
import torch
from torch import Tensor

from l2lib.models.flat import Params, check_params, digest, distance, params_of, to_cpu
from l2lib.store import open_store
from l2lib.train.loop import TrainConfig
from l2lib.train.losses import ErrorFn
from l2lib.train.sweep import Observer, check_grid, warm_sweep


def paper_beta(beta: float | Sequence[float] | np.ndarray) -> np.ndarray:
    """The paper's β for l2lib's β: their penalty β_paper‖θ − θ_ref‖² is ours with β = 2 β_paper."""
    return np.asarray(beta, dtype=np.float64) / 2.0


@dataclass
class Path:
    """A Pathfinder path of a K-member ensemble (member k: start k towards reference k).

    ``betas``: the ascending grid (l2lib convention; :func:`paper_beta` for the paper's);
    ``obs[name]``: shape (n_betas, K, ...), always with ``dist_ref`` = ‖θ_β − θ_ref‖,
    ``dist_start`` = ‖θ_β − θ₀‖, ``epochs`` (training epochs at that β) and ``wall_s`` (seconds of
    that β's training, shared by all members), plus what the observer measured;
    ``checkpoints[i]``: the converged parameters at ``betas[i]`` (on the CPU);
    ``steps_per_epoch``: optimiser steps (gradient evaluations) per epoch and member.
    """

    betas: np.ndarray
    obs: dict[str, np.ndarray]
    start: Params
    reference: Params
    checkpoints: list[Params]
    steps_per_epoch: int
    batch_size: int

    @property
    def n_members(self) -> int:
        return self.obs["dist_ref"].shape[1]

    def points(self, include_start: bool = True) -> list[Params]:
        """The path as a list of points: the start (optional), then every checkpoint."""
        return ([self.start] if include_start else []) + list(self.checkpoints)

    @property
    def grad_evals(self) -> np.ndarray:
        """Minibatch gradient evaluations each member's path took (one per optimiser step of
        ``batch_size`` samples), shape (K,)."""
        return self.obs["epochs"].sum(axis=0) * self.steps_per_epoch

    @property
    def wall_s(self) -> float:
        """Seconds of training for the whole path, all members together (as computed, also when
        read back from the store)."""
        return float(self.obs["wall_s"][:, 0].sum())

    def start_distance(self) -> np.ndarray:
        """‖θ₀ − θ_ref‖ of every member, shape (K,)."""
        return distance(self.start, self.reference).numpy()

    def arrival(self, fraction: float = 0.01) -> np.ndarray:
        """Per member, the first β at which the checkpoint lies within ``fraction`` of the
        initial distance ‖θ₀ − θ_ref‖ from the reference (NaN if the path never gets there)."""
        if not 0 < fraction < 1:
            raise ValueError(f"fraction must lie in (0, 1), got {fraction}")
        close = self.obs["dist_ref"] <= fraction * self.start_distance()[None, :]
        first = np.argmax(close, axis=0)
        return np.where(close.any(axis=0), self.betas[first], np.nan)


def find_path(
    model: torch.nn.Module,
    x: Tensor,
    y: Tensor,
    reference: Mapping[str, Tensor],
    betas: Sequence[float] | np.ndarray,
    *,
    config: TrainConfig,
    observe: Observer | None = None,
    error_fn: ErrorFn | None = None,
    store_root: str | FilePath | None = None,
    name: str = "pathfinder",
    key: Mapping[str, Any] | None = None,
    progress: bool | str | None = None,
) -> Path:
    """Pathfinder from the model's current weights (the start θ₀) towards ``reference`` (θ_ref).

    ``betas``: ascending grid of β ≥ 0 (l2lib convention, penalty (β/2)‖θ − θ_ref‖²); each
    point is trained with ``config`` from the previous point's weights with a fresh optimiser.
    ``observe(model, beta)`` adds observations (per-member tensors) to the ones recorded always
    (see :class:`Path`); ``error_fn`` replaces the error E (see :func:`l2lib.train.loop.train`).
    With ``store_root`` every checkpoint is stored under ``<store_root>/<name>-<hash>`` and a
    rerun resumes; the hash covers ``key`` (describe the model and data there), the grid, the
    training config, and the values of the start and the reference. ``model`` is trained in
    place and ends at the last checkpoint.
    """
    grid = check_grid(betas)
    start = params_of(model)
    ref = check_params(model, reference, "reference")
    ref_list = [ref[n] for n, _ in model.named_parameters()]
    k = next(iter(start.values())).shape[0]
    store = open_store(store_root, name, {"key": dict(key or {}), "betas": grid,
                                          "config": config, "start": digest(start),
                                          "reference": digest(ref)})
    collected: list[Params] = []
    clock = [time.perf_counter()]

    def observe_path(m: torch.nn.Module, beta: Tensor) -> dict[str, Tensor]:
        elapsed = time.perf_counter() - clock[0]
        current = params_of(m)
        out = {"dist_ref": distance(current, ref), "dist_start": distance(current, start),
               "wall_s": torch.full((k,), elapsed, dtype=torch.float64)}
        if observe is not None:
            out |= dict(observe(m, beta))
        if store is None:
            collected.append(to_cpu(current))
        clock[0] = time.perf_counter()
        return out

    result = warm_sweep(model, x, y, grid, config=config, observe=observe_path, ref=ref_list,
                        store=store, keep_states=True, progress=progress, error_fn=error_fn)
    if store is not None:
        names = [n for n, _ in model.named_parameters()]
        collected = [{n: store.load(i)["state"][n] for n in names} for i in range(grid.size)]
    n = x.shape[0]
    batch = n if config.batch_size is None else min(config.batch_size, n)
    return Path(betas=result.lams, obs=result.obs, start=to_cpu(start), reference=to_cpu(ref),
                checkpoints=collected, steps_per_epoch=math.ceil(n / batch), batch_size=batch)
