"""Chapter 5: Pathfinder beside the mode-connectivity baselines, and Pathfinder towards the
transition checkpoints of chapter 3.

* :func:`train_minima` trains independent minima in pairs (member 2k and 2k + 1 of one ensemble,
  at β = 0 with the paper's protocol); :func:`connect_minima` connects every pair three ways —
  Pathfinder (:mod:`l2lib.pathfinder`), the straight line and a trained Bezier curve
  (:mod:`l2lib.connect`) — and evaluates all three on the same footing.
* :func:`towards_checkpoints` starts Pathfinder at random initialisations and pulls each towards
  one transition checkpoint of chapter 3's standard sweep (:mod:`l2lib.regimes`);
  :func:`path_regimes` finds its plateaus and transitions with chapter 3's own rule, and
  :func:`switches` names the digits recognised before and after every jump.

β follows l2lib's convention, penalty (β/2)‖θ − θ_ref‖²; the paper's β is half of it
(:func:`l2lib.pathfinder.paper_beta`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path as FilePath
from typing import Any

import numpy as np
import torch

from l2lib.data import Dataset
from l2lib.experiments import regimes
from l2lib.measure import observables as measure
from l2lib.measure.curvature import hessian_extremes
from l2lib.measure.observables import evaluate_points
from l2lib.models.flat import Params, params_of, select_members, stack_members
from l2lib.models.mlp import EnsembleMLP, mlp
from l2lib.runtime import check_profile
from l2lib.store import open_store
from l2lib.train.baselines import (
    Cost,
    arc_length,
    barrier,
    linear_path,
    path_cost,
    polyline,
    train_bezier,
)
from l2lib.train.loop import TrainConfig, train
from l2lib.train.pathfinder import Path, find_path
from l2lib.train.sweep import Observer, SweepResult

PAPER_CONNECT = {
    "beta_max_paper": 5e-6,  # their mode-connectivity grid: 0 … 5e-6 in steps of 1e-8 (β_paper)
    "max_train_ce": 0.012,  # along M1 → M2 … M5 on MNIST
    "test_acc": (0.968, 0.978),
    "distance_start": (133.0, 144.0),
    "distance_peak": (174.0, 183.0),
    "distance_end": (31.0, 36.0),
    "towards_T4_distances": (7.1, 5.32, 3.35, 0.6),
}
METHODS = ("Pathfinder", "linear", "Bezier")


@dataclass(frozen=True)
class ConnectivitySettings:
    """Everything chapter 5 varies between profiles.

    Minima: an MLP ``hidden`` × ``activation``, ``n_pairs`` pairs trained with ``minima_train``
    (the paper's protocol, but up to 300 epochs on the small digits set in the quick profile:
    50 epochs there are ~1100 optimiser steps, the paper's 50 MNIST epochs ~47 000).
    Pathfinder between them: β = 0, then ``betas_per_decade`` geometric steps per decade from
    ``beta_min`` to ``beta_max`` (l2lib convention), each trained with ``path_train``. Bezier:
    ``bezier_train``. Curves are evaluated at ``n_t`` values of t, the Pathfinder polyline at
    ``per_segment`` steps between checkpoints. Towards chapter 3's checkpoints: ``n_refs``
    references, every ``towards_stride``-th β of chapter 3's grid and then ``towards_tail``;
    Hessian eigenvalues (tolerance ``hessian_tol``) at no more than ``max_hessians`` checkpoints.
    The double-well illustration uses a β grid of step ``toy_beta_step``.
    """

    hidden: tuple[int, ...] = (32, 32)
    activation: str = "sigmoid"
    n_pairs: int = 3
    minima_train: TrainConfig = replace(regimes.PAPER_TRAIN, max_epochs=300)
    path_train: TrainConfig = regimes.PAPER_TRAIN
    beta_min: float = 1e-6
    beta_max: float = 1.0
    betas_per_decade: int = 3
    bezier_train: TrainConfig = field(default_factory=lambda: replace(
        regimes.PAPER_TRAIN, lr=1e-2, max_epochs=300, patience=10))
    n_t: int = 41
    per_segment: int = 4
    n_refs: int = 3
    towards_stride: int = 2
    towards_tail: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0)
    hessian_tol: float = 1e-3
    max_hessians: int = 8
    toy_beta_step: float = 0.05

    @property
    def betas(self) -> np.ndarray:
        """The Pathfinder grid between minima: 0, then geometric from beta_min to beta_max."""
        decades = np.log10(self.beta_max / self.beta_min)
        n = int(round(decades * self.betas_per_decade)) + 1
        return np.concatenate([[0.0], np.geomspace(self.beta_min, self.beta_max, n)])


def connectivity_settings(profile: str) -> ConnectivitySettings:
    """The settings of chapter 5 for ``profile`` (smoke, quick or paper)."""
    quick = ConnectivitySettings()
    if check_profile(profile) == "quick":
        return quick
    if profile == "smoke":
        short = replace(regimes.PAPER_TRAIN, max_epochs=4, patience=2)
        return replace(quick, hidden=(16, 16), n_pairs=2, minima_train=short, path_train=short,
                       beta_min=1e-4, betas_per_decade=1,
                       bezier_train=replace(quick.bezier_train, max_epochs=4, patience=2),
                       n_t=11, per_segment=2, n_refs=2, towards_tail=(0.2,), max_hessians=3,
                       toy_beta_step=0.1)
    return replace(quick, hidden=(128, 128), n_pairs=4, minima_train=regimes.PAPER_TRAIN,
                   betas_per_decade=10, n_t=61, n_refs=5, towards_stride=1, max_hessians=20,
                   hessian_tol=1e-4)


# --------------------------------------------------------------------------------------------
# Independent minima and the three ways of connecting them


@dataclass
class Minima:
    """``n_pairs`` pairs of independently trained minima: ``start`` holds member 2k, ``end``
    member 2k + 1 (each (n_pairs, ...)); ``train_loss``/``test_acc`` of all 2·n_pairs members
    (pair k: entries 2k, 2k + 1); ``cost`` of training them."""

    start: Params
    end: Params
    train_loss: np.ndarray
    test_acc: np.ndarray
    cost: Cost


def _net(data: Dataset, settings: ConnectivitySettings, seeds: Sequence[int]) -> EnsembleMLP:
    return mlp(data.input_dim, list(settings.hidden), data.n_classes, seeds=list(seeds),
               activation=settings.activation, dtype=data.x_train.dtype,
               device=data.x_train.device)


def _data_key(data: Dataset) -> dict[str, Any]:
    return {"name": data.name, "n_train": data.n_train, "input_dim": data.input_dim,
            "dtype": str(data.x_train.dtype)}


def train_minima(data: Dataset, settings: ConnectivitySettings, seed: int = 0,
                 store_root: str | FilePath | None = None) -> Minima:
    """Train 2·n_pairs networks from seeds 100·seed + 1000 + i at β = 0 (stored)."""
    seeds = [100 * seed + 1000 + i for i in range(2 * settings.n_pairs)]
    net = _net(data, settings, seeds)
    store = open_store(store_root, f"minima-{data.name}", {
        "data": _data_key(data), "hidden": settings.hidden, "activation": settings.activation,
        "config": settings.minima_train, "seeds": seeds})
    if store is not None and store.finished() >= 1:
        record = store.load(0)
        net.load_state_dict(record["state"])
        obs = record["obs"]
    else:
        clock = time.perf_counter()
        result = train(net, data.x_train, data.y_train, lam=0.0, config=settings.minima_train)
        obs = {"epochs": result.epochs, "wall_s": np.asarray([time.perf_counter() - clock])}
        if store is not None:
            store.save(0, 0.0, obs, net.state_dict())
    params = params_of(net)
    k = settings.n_pairs
    batch = min(settings.minima_train.batch_size or data.n_train, data.n_train)
    steps = -(-data.n_train // batch)
    return Minima(
        start=select_members(params, range(0, 2 * k, 2)),
        end=select_members(params, range(1, 2 * k, 2)),
        train_loss=measure.error(net, data.x_train, data.y_train, "cross_entropy").cpu().numpy(),
        test_acc=measure.accuracy(net, data.x_test, data.y_test).cpu().numpy(),
        cost=Cost("minima (all)", np.asarray(obs["epochs"]) * steps, batch,
                  float(np.asarray(obs["wall_s"])[0])),
    )


@dataclass
class Connection:
    """The pairs of minima connected three ways.

    ``pathfinder``: the :class:`~l2lib.pathfinder.Path` (member k: start k → end k);
    ``along[method]``: observables along each method's curve from start to end (see
    :func:`l2lib.pathfinder.evaluate_points`), each (n_points, n_pairs, ...), plus ``position``
    (normalised arc length in [0, 1]); for Pathfinder ``checkpoint`` marks the points that are
    checkpoints (the rest lie on the straight segments between them, the last segment closes
    the path at the end minimum); ``costs``: one :class:`~l2lib.connect.Cost` per method.
    """

    pathfinder: Path
    along: dict[str, dict[str, np.ndarray]]
    costs: dict[str, Cost]

    def max_loss(self, method: str, split: str = "train") -> np.ndarray:
        """Highest loss along a method's curve, per pair (K,)."""
        return self.along[method][f"{split}_loss"].max(axis=0)

    def barrier(self, method: str) -> np.ndarray:
        """Training-loss barrier of a method's curve, per pair (K,)."""
        return barrier(self.along[method]["train_loss"])

    def min_accuracy(self, method: str) -> np.ndarray:
        """Lowest test accuracy along a method's curve, per pair (K,)."""
        return self.along[method]["test_acc"].min(axis=0)


def _with_position(obs: dict[str, np.ndarray], points: list[Params]) -> dict[str, np.ndarray]:
    arc = arc_length(points)
    obs["position"] = arc / np.where(arc[-1] > 0, arc[-1], 1.0)
    return obs


def connect_minima(data: Dataset, minima: Minima, settings: ConnectivitySettings,
                   seed: int = 0, store_root: str | FilePath | None = None,
                   progress: bool | str | None = None) -> Connection:
    """Connect every pair of ``minima`` by Pathfinder, the straight line and a Bezier curve.

    Pathfinder starts at the pair's first minimum with the second as reference and runs over
    ``settings.betas``; the Bezier curve is trained with ``settings.bezier_train``. Everything
    is stored under ``store_root`` and read back on a rerun.
    """
    k = settings.n_pairs
    net = _net(data, settings, [100 * seed + 2 * i for i in range(k)])
    net.load_state_dict(minima.start)
    key = {"data": _data_key(data), "hidden": settings.hidden,
           "activation": settings.activation}
    path = find_path(net, data.x_train, data.y_train, minima.end, settings.betas,
                     config=settings.path_train, store_root=store_root,
                     name=f"pathfinder-{data.name}", key=key,
                     progress=progress if progress is not None else "Pathfinder")
    curve, bezier_cost = train_bezier(net, minima.start, minima.end, data.x_train, data.y_train,
                                      config=settings.bezier_train, seed=seed,
                                      store_root=store_root, name=f"bezier-{data.name}",
                                      key=key)
    ts = np.linspace(0.0, 1.0, settings.n_t)
    curves = {"linear": linear_path(minima.start, minima.end, ts), "Bezier": curve.points(ts)}
    chain, where = polyline(path.points() + [minima.end], settings.per_segment)
    curves["Pathfinder"] = chain
    along = {m: _with_position(evaluate_points(net, pts, data, start=minima.start,
                                               end=minima.end), pts)
             for m, pts in curves.items()}
    along["Pathfinder"]["checkpoint"] = (np.isclose(where, np.round(where))
                                         & (where > 0) & (where < len(path.betas) + 1))
    costs = {"Pathfinder": path_cost(path), "linear": Cost("linear", np.zeros(k, int),
                                                           0, 0.0),
             "Bezier": bezier_cost}
    return Connection(path, {m: along[m] for m in METHODS}, costs)


# --------------------------------------------------------------------------------------------
# Towards the transition checkpoints of chapter 3


def reference_indices(found: regimes.Regimes, n_refs: int) -> list[int]:
    """Up to ``n_refs`` of the transitions found, spread from the first to the last (always
    including the last, the deepest checkpoint); positions in ``found.indices``."""
    n = len(found.indices)
    if n == 0:
        raise ValueError("the standard sweep shows no transition: there is no checkpoint to aim "
                         "at; extend its β grid (beta_max) or use a longer profile")
    picks = np.unique(np.round(np.linspace(n - 1, 0, min(n_refs, n))).astype(int))
    return sorted(int(p) for p in picks)


def towards_grid(regime: regimes.RegimeSettings, settings: ConnectivitySettings) -> np.ndarray:
    """Every ``towards_stride``-th β of chapter 3's grid, then the tail beyond it."""
    base = regime.betas[:: settings.towards_stride]
    tail = np.asarray([b for b in settings.towards_tail if b > base[-1]])
    return np.concatenate([base, tail])


def path_observer(data: Dataset) -> Observer:
    """Per member: test accuracy, test accuracy per class, training cross-entropy, ‖θ‖."""

    def observe(model: EnsembleMLP, beta: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"test_acc": measure.accuracy(model, data.x_test, data.y_test),
                "class_acc": measure.class_accuracy(model, data.x_test, data.y_test,
                                                    data.n_classes),
                "train_ce": measure.error(model, data.x_train, data.y_train, "cross_entropy"),
                "norm": model.parameter_norm().detach()}

    return observe


def towards_checkpoints(
    data: Dataset, sweep: regimes.RegimeSweep, checkpoints: Sequence[int],
    settings: ConnectivitySettings, seed: int = 0, member: int = 0,
    store_root: str | FilePath | None = None, progress: bool | str | None = None,
) -> Path:
    """Pathfinder from random initialisations (seeds 100·seed + 5000 + i) towards the states of
    ``sweep``'s ``member`` at the sweep points ``checkpoints`` (path i → checkpoint i), over
    :func:`towards_grid` with chapter 3's training protocol; stored under ``store_root``."""
    if not checkpoints:
        raise ValueError("checkpoints must name at least one sweep point")
    reference = stack_members([select_members(sweep.checkpoint(i), [member])
                               for i in checkpoints])
    regime = sweep.settings
    seeds = [100 * seed + 5000 + i for i in range(len(checkpoints))]
    net = mlp(data.input_dim, list(regime.hidden), data.n_classes, seeds=seeds,
              activation=regime.activation, dtype=data.x_train.dtype,
              device=data.x_train.device)
    key = {"data": _data_key(data), "hidden": regime.hidden, "activation": regime.activation,
           "seeds": seeds, "sweep": sweep.store.path.name, "checkpoints": list(checkpoints),
           "member": member}
    return find_path(net, data.x_train, data.y_train, reference, towards_grid(regime, settings),
                     config=regime.train, observe=path_observer(data), store_root=store_root,
                     name=f"towards-{data.name}", key=key,
                     progress=progress if progress is not None else "Pathfinder → checkpoints")


def path_regimes(path: Path, member: int, min_drop: float = 0.05) -> regimes.Regimes:
    """Plateaus, transitions and recognised digits along one member's path, by chapter 3's rule
    (:func:`l2lib.regimes.detect_regimes` on the path's test accuracy)."""
    result = SweepResult(path.betas, {"test_acc": path.obs["test_acc"],
                                      "class_acc": path.obs["class_acc"]}, "up")
    return regimes.detect_regimes(result, member=member, min_drop=min_drop)


@dataclass(frozen=True)
class Switch:
    """What one jump of a path changes: the checkpoints ``before`` and ``after`` it (path
    indices), β there, the distance to the reference, test accuracy, and the digits recognised
    (class accuracy above one half, median over the plateau) on either side."""

    before: int
    after: int
    beta: tuple[float, float]
    distance: tuple[float, float]
    accuracy: tuple[float, float]
    recognised: tuple[tuple[int, ...], tuple[int, ...]]

    @property
    def lost(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.recognised[0]) - set(self.recognised[1])))

    @property
    def gained(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.recognised[1]) - set(self.recognised[0])))

    @property
    def is_switch(self) -> bool:
        """The set of encoded digits changes at the jump."""
        return bool(self.lost or self.gained)


def switches(path: Path, member: int, found: regimes.Regimes) -> list[Switch]:
    """The jumps of one member's path found by :func:`path_regimes`, with the digits on either
    side."""
    out = []
    plateaus = found.staircase.plateaus
    for k, drop in enumerate(found.staircase.drops):
        i, j = drop.index, plateaus[k + 1].first
        out.append(Switch(
            before=i, after=j, beta=(float(path.betas[i]), float(path.betas[j])),
            distance=(float(path.obs["dist_ref"][i, member]),
                      float(path.obs["dist_ref"][j, member])),
            accuracy=(float(path.obs["test_acc"][i, member]),
                      float(path.obs["test_acc"][j, member])),
            recognised=(tuple(found.recognised[k]), tuple(found.recognised[k + 1]))))
    return out


def plateau_middles(found: regimes.Regimes) -> list[int]:
    """The middle grid point of every plateau (controls away from the jumps)."""
    return [(p.first + p.last) // 2 for p in found.staircase.plateaus]


def checkpoint_hessians(
    path: Path, member: int, indices: Sequence[int], data: Dataset,
    regime: regimes.RegimeSettings, settings: ConnectivitySettings,
) -> dict[int, np.ndarray]:
    """(smallest, largest) eigenvalue of ∇²E (unregularised training error) at the checkpoints
    ``indices`` of one member of a :func:`towards_checkpoints` path (architecture of
    ``regime``): {path index: array of 2}, for the first ``settings.max_hessians`` distinct
    indices in the order given."""
    wanted = list(dict.fromkeys(int(i) for i in indices))[: settings.max_hessians]
    template = mlp(data.input_dim, list(regime.hidden), data.n_classes,
                   seeds=list(range(path.n_members)), activation=regime.activation,
                   dtype=data.x_train.dtype, device=data.x_train.device)
    return {i: hessian_extremes(template, path.checkpoints[i], data.x_train, data.y_train,
                                members=[member], tol=settings.hessian_tol)[0]
            for i in sorted(wanted)}
