"""Curves between two points of parameter space: the mode-connectivity baselines for Pathfinder.

* **Linear interpolation** φ(t) = (1 − t) θ_A + t θ_B; the excess of its highest loss over the
  ends is the *barrier* (:func:`barrier`).
* A **quadratic Bezier curve** with one bend θ_b, φ(t) = (1 − t)² θ_A + 2t(1 − t) θ_b + t² θ_B,
  trained as in Garipov et al. (2018): the bend minimises the mean of E(φ(t)) over t ∈ [0, 1]
  with a fresh t ~ U[0, 1] drawn at every optimiser step (one per member), starting from the
  midpoint, where the curve *is* the straight line. The training loop is
  :func:`l2lib.train.loop.train`; the curve is a module whose parameters are the bend. Its early
  stopping monitors the epoch mean of E(φ(t)); with independent draws that mean is noisy (one
  lucky epoch of t near the ends would be "best" and be restored), so the draws of one epoch are
  *stratified*: one t in each of ``steps_per_epoch`` equal sub-intervals, in random order. Every
  single t is still uniform on [0, 1]; the epoch mean becomes a stratified quadrature of the
  curve's mean loss.
* The **polygonal line** through a Pathfinder path's checkpoints (:func:`polyline`), to see the
  loss *between* checkpoints, which the checkpoints alone do not show.

Cost accounting (:class:`Cost`): gradient evaluations are optimiser steps per member (each on a
minibatch of ``batch_size`` samples); wall time is for all K members of an ensemble together.
Evaluating a finished curve is not counted. Every function keeps the member axis first: member k
connects start k to end k.
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
from torch import Tensor, nn
from torch.func import functional_call

from l2lib.models.flat import Params, check_params, digest, distance
from l2lib.store import open_store
from l2lib.train.loop import TrainConfig, train
from l2lib.train.losses import member_error
from l2lib.train.pathfinder import Path


def _t_vector(t: float | Tensor, like: Tensor) -> Tensor:
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    return t.expand(like.shape[0]) if t.dim() == 0 else t


def _broadcast(t: Tensor, p: Tensor) -> Tensor:
    return t.view((p.shape[0],) + (1,) * (p.dim() - 1))


def linear_point(start: Mapping[str, Tensor], end: Mapping[str, Tensor],
                 t: float | Tensor) -> Params:
    """(1 − t) θ_A + t θ_B for scalar t or one t per member (K,); exactly the ends at 0 and 1."""
    out = {}
    for name, a in start.items():
        tv = _broadcast(_t_vector(t, a), a)
        out[name] = (1 - tv) * a + tv * end[name].to(a)
    return out


def bezier_point(start: Mapping[str, Tensor], bend: Mapping[str, Tensor],
                 end: Mapping[str, Tensor], t: float | Tensor) -> Params:
    """(1 − t)² θ_A + 2t(1 − t) θ_b + t² θ_B for scalar t or one t per member (K,)."""
    out = {}
    for name, a in start.items():
        tv = _broadcast(_t_vector(t, a), a)
        out[name] = (1 - tv) ** 2 * a + 2 * tv * (1 - tv) * bend[name] + tv**2 * end[name].to(a)
    return out


def check_ts(ts: Sequence[float] | np.ndarray) -> np.ndarray:
    """Curve parameters as a 1-D float array inside [0, 1]."""
    ts = np.asarray(ts, dtype=np.float64)
    if ts.ndim != 1 or ts.size == 0 or np.any(ts < 0) or np.any(ts > 1) or not np.all(
            np.isfinite(ts)):
        raise ValueError("ts must be a non-empty 1-D sequence of numbers in [0, 1]")
    return ts


def linear_path(start: Mapping[str, Tensor], end: Mapping[str, Tensor],
                ts: Sequence[float] | np.ndarray) -> list[Params]:
    """Points of the straight line at the parameters ``ts``."""
    return [linear_point(start, end, float(t)) for t in check_ts(ts)]


class BezierCurve(nn.Module):
    """K quadratic Bezier curves (member k from ``start`` k to ``end`` k) whose only parameters
    are the bends, member axis first, so that :func:`l2lib.train.loop.train` can train them.

    ``model`` supplies the architecture (its own weights are not used). The bend starts at the
    midpoint of the ends unless ``bend`` is given. ``seed`` seeds the draws of t (member k gets
    its own stream) and, as ``seeds``, the members' data order. Consecutive blocks of
    ``strata`` draws are stratified (see the module's description; 1: independent draws).
    """

    def __init__(self, model: nn.Module, start: Mapping[str, Tensor], end: Mapping[str, Tensor],
                 *, bend: Mapping[str, Tensor] | None = None, seed: int = 0,
                 strata: int = 1) -> None:
        super().__init__()
        if isinstance(strata, bool) or not isinstance(strata, int) or strata < 1:
            raise ValueError(f"strata must be a positive integer, got {strata!r}")
        self.strata = strata
        self._queue: list[Tensor] = []
        start = check_params(model, start, "start")
        end = check_params(model, end, "end")
        bend = (check_params(model, bend, "bend") if bend is not None
                else {n: 0.5 * (start[n] + end[n]) for n in start})
        self.names = list(start)
        self._template = (model,)  # a tuple: not a submodule, its parameters are not trained
        for i, name in enumerate(self.names):
            self.register_buffer(f"start_{i}", start[name].clone())
            self.register_buffer(f"end_{i}", end[name].clone())
        self.bend = nn.ParameterList([nn.Parameter(bend[n].clone()) for n in self.names])
        k = start[self.names[0]].shape[0]
        self.seeds = [int(seed) * 1000 + i for i in range(k)]
        self._generators = [torch.Generator().manual_seed(s) for s in self.seeds]

    @property
    def n_members(self) -> int:
        return len(self.seeds)

    @property
    def template(self) -> nn.Module:
        return self._template[0]

    def ends(self) -> tuple[Params, Params]:
        return ({n: getattr(self, f"start_{i}") for i, n in enumerate(self.names)},
                {n: getattr(self, f"end_{i}") for i, n in enumerate(self.names)})

    def bend_params(self) -> Params:
        return {n: b for n, b in zip(self.names, self.bend, strict=True)}

    def point(self, t: float | Tensor) -> Params:
        """φ(t) for scalar t or one t per member (differentiable in the bend)."""
        start, end = self.ends()
        return bezier_point(start, self.bend_params(), end, t)

    def sample_t(self) -> Tensor:
        """One t ~ U[0, 1] per member from the members' own generators, shape (K,); each block
        of ``strata`` calls puts one t in each sub-interval [j/strata, (j + 1)/strata)."""
        if not self._queue:
            m = self.strata
            block = torch.stack([(torch.randperm(m, generator=g).double()
                                  + torch.rand(m, generator=g, dtype=torch.float64)) / m
                                 for g in self._generators], dim=1)  # (strata, K)
            like = self.bend[0]
            self._queue = list(block.to(device=like.device, dtype=like.dtype))
        return self._queue.pop(0)

    def points(self, ts: Sequence[float] | np.ndarray) -> list[Params]:
        """Detached points of the curves at the parameters ``ts``."""
        with torch.no_grad():
            return [{n: v.detach().clone() for n, v in self.point(float(t)).items()}
                    for t in check_ts(ts)]


def bezier_error(loss: str = "cross_entropy"):
    """The training error of :class:`BezierCurve` for :func:`l2lib.train.loop.train`: E(φ(t)) on the
    minibatch, with a fresh t ~ U[0, 1] per member at every call (Garipov et al.)."""

    def error_fn(curve: BezierCurve, xb: Tensor, yb: Tensor) -> Tensor:
        out = functional_call(curve.template, curve.point(curve.sample_t()), (xb,))
        return member_error(out, yb, loss)

    return error_fn


@dataclass(frozen=True)
class Cost:
    """What building a path cost: ``grad_evals`` per member (K,), each a gradient on
    ``batch_size`` samples; ``wall_s`` seconds for all members together."""

    method: str
    grad_evals: np.ndarray
    batch_size: int
    wall_s: float

    def row(self) -> dict[str, Any]:
        """One row for a table: mean gradient evaluations per path, wall time."""
        return {"method": self.method, "gradient evaluations per path":
                int(round(float(np.mean(self.grad_evals)))), "batch size": self.batch_size,
                "wall time, all paths (s)": round(self.wall_s, 2)}


def path_cost(path: Path, method: str = "Pathfinder") -> Cost:
    """The cost of a Pathfinder path, as recorded while it was computed."""
    return Cost(method, path.grad_evals, path.batch_size, path.wall_s)


def train_bezier(
    model: nn.Module,
    start: Mapping[str, Tensor],
    end: Mapping[str, Tensor],
    x: Tensor,
    y: Tensor,
    *,
    config: TrainConfig,
    seed: int = 0,
    bend: Mapping[str, Tensor] | None = None,
    weight_decay: float = 0.0,
    store_root: str | FilePath | None = None,
    name: str = "bezier",
    key: Mapping[str, Any] | None = None,
) -> tuple[BezierCurve, Cost]:
    """Train the bends of Bezier curves between ``start`` and ``end`` (member by member), the
    draws of t stratified over each epoch's steps.

    ``config`` is the optimiser and early stopping of :func:`l2lib.train.loop.train`; the bend
    starts
    at ``bend`` (default: the midpoint, i.e. the straight line); ``weight_decay``
    an optional (λ/2)‖θ_b‖² on the bend (Garipov et al. use weight decay; 0 by default). With
    ``store_root`` the trained bend and its cost are stored, keyed by ``key``, the config and the
    values of the ends, and a rerun reads them back.
    """
    n = x.shape[0]
    batch = n if config.batch_size is None else min(config.batch_size, n)
    curve = BezierCurve(model, start, end, bend=bend, seed=seed, strata=math.ceil(n / batch))
    a, b = curve.ends()
    store = open_store(store_root, name, {"key": dict(key or {}), "config": config,
                                          "seed": seed, "weight_decay": weight_decay,
                                          "start": digest(a), "end": digest(b),
                                          "bend": digest(curve.bend_params())})
    if store is not None and store.finished() >= 1:
        record = store.load(0)
        curve.load_state_dict(record["state"])
        obs = record["obs"]
    else:
        clock = time.perf_counter()
        result = train(curve, x, y, lam=weight_decay, config=config, error_fn=bezier_error(
            config.loss))
        obs = {"epochs": result.epochs, "wall_s": np.asarray([time.perf_counter() - clock])}
        if store is not None:
            store.save(0, weight_decay, obs, curve.state_dict())
    cost = Cost("Bezier curve", np.asarray(obs["epochs"]) * math.ceil(n / batch), batch,
                float(np.asarray(obs["wall_s"])[0]))
    return curve, cost


def polyline(points: Sequence[Mapping[str, Tensor]], per_segment: int = 4
             ) -> tuple[list[Params], np.ndarray]:
    """Points along the polygonal line through ``points``, ``per_segment`` steps per segment
    (``per_segment - 1`` points strictly between neighbours), and each one's position s, where
    integer s is the index of a given point."""
    if len(points) < 2:
        raise ValueError("a polygonal line needs at least two points")
    if per_segment < 1:
        raise ValueError(f"per_segment must be >= 1, got {per_segment}")
    out, where = [dict(points[0])], [0.0]
    for i in range(len(points) - 1):
        for j in range(1, per_segment + 1):
            t = j / per_segment
            out.append(dict(points[i + 1]) if j == per_segment
                       else linear_point(points[i], points[i + 1], t))
            where.append(i + t)
    return out, np.asarray(where)


def arc_length(points: Sequence[Mapping[str, Tensor]]) -> np.ndarray:
    """Cumulative Euclidean length along a sequence of points, shape (n, K), starting at 0."""
    steps = [np.zeros(next(iter(points[0].values())).shape[0])]
    for a, b in zip(points[:-1], points[1:], strict=True):
        steps.append(distance(b, a).cpu().numpy())
    return np.cumsum(np.stack(steps), axis=0)


def barrier(values: np.ndarray) -> np.ndarray:
    """Height of the highest point of a path above the higher of its two ends, per member:
    values (n, K) → (K,). Zero when the path is nowhere higher than its ends."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] < 2:
        raise ValueError(f"values must have shape (n_points >= 2, K), got {values.shape}")
    return values.max(axis=0) - np.maximum(values[0], values[-1])
