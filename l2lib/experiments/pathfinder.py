"""Chapter 5: saddles, Pathfinder and mode connectivity (Ersoy, Cardozo Licha & Wiesner,
arXiv 2512.11866).

Four experiments, each a function the chapter calls, and :func:`findings`, which computes every
verdict the chapter reports (each rule is one tested function below):

* :func:`toy`: Pathfinder on a double well whose saddle is known, and on a convex bowl (control).
* :func:`train_minima` / :func:`connect_minima`: minima M1 … Mn trained independently at β = 0;
  the paper's paths M1 → M2 … Mn from one start on the paper's linear β grid, beside the straight
  line and a trained Bezier curve.
* :func:`chapter3_sweep` / :func:`towards_checkpoints`: Pathfinder from random initialisations
  towards transition checkpoints of chapter 3's standard sweep; :func:`switches` names the
  digits lost and gained at every jump.
* :func:`saddle_scans`: the lowest Hessian mode at the jumps of a path and at controls away
  from them (:mod:`l2lib.measure.saddles`).

β follows l2lib's convention, penalty (β/2)‖θ − θ_ref‖²; the paper's β is half of it
(:func:`l2lib.train.pathfinder.paper_beta`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path as FilePath
from typing import Any

import numpy as np
import torch
from scipy.stats import kendalltau

from l2lib.analysis import transitions
from l2lib.analysis.findings import Finding, Verdict
from l2lib.data import Dataset
from l2lib.experiments import regime_sweep
from l2lib.measure import curvature, saddles
from l2lib.measure import observables as measure
from l2lib.measure.observables import evaluate_points
from l2lib.models.flat import Params, load_params, params_of, select_members, stack_members
from l2lib.models.mlp import EnsembleMLP, mlp
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
from l2lib.train.pathfinder import Path, find_path, paper_beta
from l2lib.train.sweep import Observer

PAPER = {
    "beta_max_paper": 5e-6,  # mode connectivity: β_paper = 0 … 5e-6 in steps of 1e-8
    "beta_step_paper": 1e-8,
    "max_train_ce": 0.012,  # along M1 → M2 … M5 on MNIST
    "test_acc": (0.968, 0.978),
    "distance_start": (133.0, 144.0),
    "distance_peak": (174.0, 183.0),
    "distance_end": (31.0, 36.0),
    "towards_T4_distances": (7.1, 5.32, 3.35, 0.6),
    "norm_at_transitions": (7.81, 6.24, 4.26, 2.89),
}
METHODS = ("Pathfinder", "linear", "Bezier")
PATH_TRAIN = TrainConfig(loss="cross_entropy", optimizer="adam", lr=1.5e-3, batch_size=64,
                         max_epochs=50, patience=5, monitor="objective")
"""The paper's protocol per β (as chapter 3's): Adam lr 1.5e-3, batch 64, ≤ 50 epochs,
patience 5 on the epoch mean of the objective, best epoch restored."""


@dataclass(frozen=True)
class PathfinderSettings:
    """Everything chapter 5 varies between profiles; the defaults are the ``quick`` profile.

    Minima: ``n_minima`` MLPs ``hidden`` × ``activation`` trained at β = 0 with
    ``minima_train``; Pathfinder from M1 towards M2 … Mn on ``n_betas`` points linear in
    β_paper from 0 to ``beta_max_paper`` (the paper's grid has 501), each β trained with
    ``path_train`` (also the paths towards chapter 3's checkpoints). Bezier curves:
    ``bezier_train``. Curves are evaluated at ``n_t`` values of t, the Pathfinder polyline at
    ``per_segment`` steps between checkpoints. Towards chapter 3's checkpoints: ``n_refs``
    references, at most ``towards_points`` β of chapter 3's grid (evenly
    thinned) and then ``towards_tail``. Saddle scans: at most ``max_scans`` path steps, at
    ``saddle_positions`` on each step (0: the checkpoint), Lanczos tolerance ``hessian_tol`` on
    ``hessian_samples`` training samples (None: all); a point shows a saddle when the lowest
    eigenvalue of ∇²L is negative and its eigenvector overlaps the step direction by at least
    ``overlap_min``. The toy double well uses a β grid of step ``toy_beta_step``.

    Quick: at most 6 epochs per β (patience 3), about what the authors' early stopping ran in
    effect (it monitored the rising training cross-entropy; monitoring the objective, every β
    would run all 50); also in ``reference``; ``paper``: 50 epochs with patience 5. Minima: 20
    epochs in quick, 50 from ``reference``.
    """

    hidden: tuple[int, ...] = (128, 128)
    activation: str = "sigmoid"
    n_minima: int = 5
    minima_train: TrainConfig = replace(PATH_TRAIN, max_epochs=20)
    path_train: TrainConfig = replace(PATH_TRAIN, max_epochs=6, patience=3)
    beta_max_paper: float = 5e-6
    n_betas: int = 16
    bezier_train: TrainConfig = field(default_factory=lambda: replace(
        PATH_TRAIN, lr=1e-2, max_epochs=15, patience=5))
    n_t: int = 21
    per_segment: int = 2
    n_refs: int = 2
    towards_points: int | None = 14
    towards_tail: tuple[float, ...] = (0.2, 1.0)
    max_scans: int = 4
    saddle_positions: tuple[float, ...] = (0.0, 0.5)
    hessian_samples: int | None = 2000
    hessian_tol: float = 1e-3
    overlap_min: float = 0.1
    toy_beta_step: float = 0.05
    residual_tol: float = 0.05  # a path point is a minimum of L_β if its residual is ≤ this

    def __post_init__(self) -> None:
        if self.n_minima < 2:
            raise ValueError(f"n_minima must be >= 2 (M1 and at least one target), got "
                             f"{self.n_minima}")
        if self.n_betas < 3 or not self.beta_max_paper > 0:
            raise ValueError(f"n_betas must be >= 3 and beta_max_paper > 0, got {self.n_betas}, "
                             f"{self.beta_max_paper}")
        if not 0 <= self.overlap_min <= 1:
            raise ValueError(f"overlap_min must lie in [0, 1], got {self.overlap_min}")

    @property
    def betas(self) -> np.ndarray:
        """The Pathfinder grid between minima, l2lib convention: β = 2 β_paper, β_paper linear
        from 0 to ``beta_max_paper`` in ``n_betas`` points."""
        return 2.0 * np.linspace(0.0, self.beta_max_paper, self.n_betas)


# --------------------------------------------------------------------------------------------
# The toy landscapes: a double well with a known saddle, a convex bowl without one


@dataclass
class Toy:
    """Pathfinder on :class:`~l2lib.measure.saddles.DoubleWell` (start: left minimum, reference:
    right minimum) and on a convex :class:`~l2lib.measure.saddles.Bowl` (control).

    ``points`` (n, 2): the checkpoints; ``jumps``: steps i → i + 1 found by
    :func:`~l2lib.measure.saddles.jump_steps`; ``saddle``: the critical point found between the
    checkpoints of the first jump (None without a jump); ``eig``: lowest eigenvalue of ∇²E at
    every checkpoint; ``scans``: modes on the jump steps, ``control_scans``: on the other steps;
    ``bowl_jumps`` / ``bowl_scans``: the same on the bowl's path.
    """

    well: saddles.DoubleWell
    betas: np.ndarray
    points: np.ndarray
    jumps: list[int]
    saddle: saddles.Saddle | None
    eig: np.ndarray
    scans: list[saddles.Mode]
    control_scans: list[saddles.Mode]
    bowl_points: np.ndarray
    bowl_jumps: list[int]
    bowl_scans: list[saddles.Mode]


def _point_scans(energy, points: np.ndarray, betas: np.ndarray, steps: Sequence[int],
                 positions: Sequence[float]) -> list[saddles.Mode]:
    fn = lambda v: energy(v[None])[0]  # noqa: E731
    pts = torch.as_tensor(points)
    return [m for i in steps for m in saddles.scan_segment(fn, pts[i], pts[i + 1],
                                                           float(betas[i + 1]), positions)]


def toy(settings: PathfinderSettings, well: saddles.DoubleWell | None = None,
        bowl: saddles.Bowl | None = None) -> Toy:
    """Both toy paths on the grid β = step, 2·step, … < 2 (the double well's spinodal is near
    β = 1), with saddle scans at ``settings.saddle_positions`` and the midpoint."""
    well = well or saddles.DoubleWell(a=0.5, c=1.0)
    bowl = bowl or saddles.Bowl()
    betas = np.round(np.arange(settings.toy_beta_step, 2.0, settings.toy_beta_step), 10)
    path = saddles.double_well_path(well, betas)
    points = np.array([c["theta"][0].numpy() for c in path.checkpoints])
    jumps = saddles.jump_steps(points)
    energy = lambda v: well(v[None])[0]  # noqa: E731
    found = (saddles.locate_saddle(energy, torch.as_tensor(points[jumps[0]]),
                                   torch.as_tensor(points[jumps[0] + 1])) if jumps else None)
    eig = np.array([float(torch.linalg.eigvalsh(curvature.dense_hessian(
        energy, torch.as_tensor(p)))[0]) for p in points])
    positions = sorted(set(settings.saddle_positions) | {0.5})
    others = [i for i in range(len(points) - 1) if i not in jumps]
    bowl_path = saddles.point_path(bowl, (0.0, 0.0), (2.0, 1.0), betas)
    bowl_points = np.array([c["theta"][0].numpy() for c in bowl_path.checkpoints])
    bowl_jumps = saddles.jump_steps(bowl_points)
    return Toy(well, betas, points, jumps, found, eig,
               _point_scans(well, points, betas, jumps, positions),
               _point_scans(well, points, betas, others, positions),
               bowl_points, bowl_jumps,
               _point_scans(bowl, bowl_points, betas, range(len(bowl_points) - 1), positions))


# --------------------------------------------------------------------------------------------
# Independent minima and three ways of connecting M1 to each of the others


@dataclass
class Minima:
    """``n_minima`` independently trained minima (one ensemble, member j = M_{j+1}), their
    training cross-entropy and test accuracy, and what training them cost."""

    params: Params
    train_loss: np.ndarray
    test_acc: np.ndarray
    cost: Cost

    @property
    def n_targets(self) -> int:
        return next(iter(self.params.values())).shape[0] - 1

    def start(self) -> Params:
        """M1, once per target (member k of every path starts here)."""
        return select_members(self.params, [0] * self.n_targets)

    def ends(self) -> Params:
        """M2 … Mn (path k ends at M_{k+2})."""
        return select_members(self.params, range(1, self.n_targets + 1))


def _net(data: Dataset, hidden: Sequence[int], activation: str,
         seeds: Sequence[int]) -> EnsembleMLP:
    return mlp(data.input_dim, list(hidden), data.n_classes, seeds=list(seeds),
               activation=activation, dtype=data.x_train.dtype, device=data.x_train.device)


def _data_key(data: Dataset) -> dict[str, Any]:
    return {"name": data.name, "n_train": data.n_train, "input_dim": data.input_dim,
            "dtype": str(data.x_train.dtype)}


def train_minima(data: Dataset, settings: PathfinderSettings, seed: int = 0,
                 store_root: str | FilePath | None = None) -> Minima:
    """Train n_minima networks from seeds 100·seed + 1000 + j at β = 0 (stored)."""
    seeds = [100 * seed + 1000 + j for j in range(settings.n_minima)]
    net = _net(data, settings.hidden, settings.activation, seeds)
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
    batch = min(settings.minima_train.batch_size or data.n_train, data.n_train)
    steps = -(-data.n_train // batch)
    return Minima(
        params=params_of(net),
        train_loss=measure.error(net, data.x_train, data.y_train, "cross_entropy").cpu().numpy(),
        test_acc=measure.accuracy(net, data.x_test, data.y_test).cpu().numpy(),
        cost=Cost("minima (all)", np.asarray(obs["epochs"]) * steps, batch,
                  float(np.asarray(obs["wall_s"])[0])),
    )


@dataclass
class Connection:
    """M1 connected to M2 … Mn three ways (member k: M1 → M_{k+2}).

    ``pathfinder``: the :class:`~l2lib.train.pathfinder.Path`; ``along[method]``: observables
    along each method's curve (:func:`~l2lib.measure.observables.evaluate_points`), each
    (n_points, K, ...), plus ``position`` (normalised arc length); for Pathfinder ``checkpoint``
    marks the checkpoints and ``on_path`` the points up to the last checkpoint (the polyline's
    last segment, a straight line, closes the path at the target minimum);
    ``costs``: one :class:`~l2lib.train.baselines.Cost` per method.
    """

    pathfinder: Path
    along: dict[str, dict[str, np.ndarray]]
    costs: dict[str, Cost]

    @property
    def betas_paper(self) -> np.ndarray:
        return paper_beta(self.pathfinder.betas)

    def max_loss(self, method: str, split: str = "train") -> np.ndarray:
        """Highest loss along a method's curve, per path (K,)."""
        return self.along[method][f"{split}_loss"].max(axis=0)

    def barrier(self, method: str) -> np.ndarray:
        """Training-loss barrier of a method's curve, per path (K,)."""
        return barrier(self.along[method]["train_loss"])

    def path_barrier(self) -> np.ndarray:
        """Training-loss barrier of the Pathfinder path itself, start to last checkpoint
        (without the straight closing segment to the target), per path (K,)."""
        along = self.along["Pathfinder"]
        return barrier(along["train_loss"][along["on_path"]])

    def path_max_loss(self) -> np.ndarray:
        """Highest training loss on the Pathfinder path itself, per path (K,)."""
        along = self.along["Pathfinder"]
        return along["train_loss"][along["on_path"]].max(axis=0)

    def min_accuracy(self, method: str) -> np.ndarray:
        """Lowest test accuracy along a method's curve, per path (K,)."""
        return self.along[method]["test_acc"].min(axis=0)


def _with_position(obs: dict[str, np.ndarray], points: list[Params]) -> dict[str, np.ndarray]:
    arc = arc_length(points)
    obs["position"] = arc / np.where(arc[-1] > 0, arc[-1], 1.0)
    return obs


def _targets_net(data: Dataset, settings: PathfinderSettings, n_targets: int,
                 seed: int) -> EnsembleMLP:
    """An ensemble with one member per target minimum (member seeds 100·seed + i)."""
    return _net(data, settings.hidden, settings.activation,
                [100 * seed + i for i in range(n_targets)])


def _path_key(data: Dataset, settings: PathfinderSettings) -> dict[str, Any]:
    """What keys the stores of the paths between minima besides their own settings."""
    return {"data": _data_key(data), "hidden": settings.hidden,
            "activation": settings.activation}


def minima_paths(data: Dataset, minima: Minima, settings: PathfinderSettings, seed: int = 0,
                 store_root: str | FilePath | None = None, betas: np.ndarray | None = None,
                 progress: bool | str | None = None) -> Path:
    """The paper's paths M1 → M2 … Mn: Pathfinder from M1 towards each other minimum on
    ``betas`` (default ``settings.betas``; a prefix of it gives the first points of the full
    paths, the path being causal); stored and resumable."""
    net = _targets_net(data, settings, minima.n_targets, seed)
    net.load_state_dict(minima.start())
    return find_path(net, data.x_train, data.y_train, minima.ends(),
                     settings.betas if betas is None else betas, config=settings.path_train,
                     store_root=store_root, name=f"pathfinder-{data.name}",
                     key=_path_key(data, settings),
                     progress=progress if progress is not None else "Pathfinder M1 → Mj")


def connect_minima(data: Dataset, minima: Minima, settings: PathfinderSettings,
                   seed: int = 0, store_root: str | FilePath | None = None,
                   progress: bool | str | None = None) -> Connection:
    """The paper's paths M1 → M2 … Mn (Pathfinder on ``settings.betas``), the straight lines
    and trained Bezier curves between the same minima; stored and resumable."""
    k = minima.n_targets
    start, end = minima.start(), minima.ends()
    net = _targets_net(data, settings, k, seed)
    path = minima_paths(data, minima, settings, seed, store_root, progress=progress)
    curve, bezier_cost = train_bezier(net, start, end, data.x_train, data.y_train,
                                      config=settings.bezier_train, seed=seed,
                                      store_root=store_root, name=f"bezier-{data.name}",
                                      key=_path_key(data, settings))
    ts = np.linspace(0.0, 1.0, settings.n_t)
    curves = {"linear": linear_path(start, end, ts), "Bezier": curve.points(ts)}
    chain, where = polyline(path.points() + [end], settings.per_segment)
    curves["Pathfinder"] = chain
    along = {m: _with_position(evaluate_points(net, pts, data, start=start, end=end), pts)
             for m, pts in curves.items()}
    along["Pathfinder"]["checkpoint"] = (np.isclose(where, np.round(where))
                                         & (where > 0) & (where < len(path.betas) + 1))
    along["Pathfinder"]["on_path"] = where <= len(path.betas) + 1e-9
    costs = {"Pathfinder": path_cost(path), "linear": Cost("linear", np.zeros(k, int), 0, 0.0),
             "Bezier": bezier_cost}
    return Connection(path, {m: along[m] for m in METHODS}, costs)


# --------------------------------------------------------------------------------------------
# Towards the transition checkpoints of chapter 3


def chapter3_sweep(dataset: str, regime: regime_sweep.RegimeSettings, data_root: str | None,
                   device: torch.device, seed: int, store_root: str | FilePath | None
                   ) -> tuple[Dataset, regime_sweep.RegimeSweep]:
    """Chapter 3's data set and standard sweep (reference 0) with the settings ``regime`` (a
    profile's: :func:`l2lib.experiments.regime_profiles.settings`), read back from the result
    store when chapter 3 ran first (same settings, seeds seed, seed + 1, …). The only place
    chapter 5 touches chapter 3's sweep (:mod:`l2lib.experiments.regime_sweep`)."""
    data = regime_sweep.load_regime_data(dataset, regime, data_root, device, seed)
    seeds = [seed + i for i in range(regime.n_seeds)]
    return data, regime_sweep.standard_sweep(data, regime, seeds, store_root)


@dataclass(frozen=True)
class Steps:
    """Plateaus and jumps of one accuracy curve, with the classes recognised on each plateau
    (median class accuracy > ``level``)."""

    staircase: transitions.Staircase
    recognised: list[tuple[int, ...]]

    @property
    def indices(self) -> list[int]:
        """The last grid point before each jump (the transition checkpoints)."""
        return [d.index for d in self.staircase.drops]

    @property
    def lost(self) -> list[tuple[int, ...]]:
        return [tuple(sorted(set(a) - set(b)))
                for a, b in zip(self.recognised[:-1], self.recognised[1:], strict=True)]

    def middles(self) -> list[int]:
        """The middle grid point of every plateau (controls away from the jumps)."""
        return [(p.first + p.last) // 2 for p in self.staircase.plateaus]


def steps_of(betas: np.ndarray, acc: np.ndarray, class_acc: np.ndarray, *,
             min_drop: float = 0.05, level: float = 0.5) -> Steps:
    """:func:`l2lib.analysis.transitions.staircase` on one member's test accuracy ``acc`` (n,),
    with the classes whose median accuracy (``class_acc`` (n, C)) on a plateau exceeds
    ``level``."""
    stairs = transitions.staircase(betas, acc, min_drop=min_drop)
    recognised = [tuple(int(c) for c in np.flatnonzero(
        np.median(class_acc[p.first : p.last + 1], axis=0) > level)) for p in stairs.plateaus]
    return Steps(stairs, recognised)


def reference_indices(found: Steps, n_refs: int) -> list[int]:
    """Up to ``n_refs`` of the transitions found, spread from the first to the last (always
    including the last, the deepest checkpoint); positions in ``found.indices``."""
    n = len(found.indices)
    if n == 0:
        raise ValueError("the standard sweep shows no transition: there is no checkpoint to aim "
                         "at; extend chapter 3's β grid (beta_max) or use a longer profile")
    picks = np.unique(np.round(np.linspace(n - 1, 0, min(n_refs, n))).astype(int))
    return sorted(int(p) for p in picks)


def towards_grid(chapter3_betas: np.ndarray, settings: PathfinderSettings) -> np.ndarray:
    """At most ``towards_points`` β of chapter 3's grid (evenly thinned, ends kept), then the
    tail beyond it."""
    base = np.asarray(chapter3_betas, dtype=np.float64)
    if settings.towards_points is not None and base.size > settings.towards_points:
        base = base[np.unique(np.round(np.linspace(0, base.size - 1,
                                                   settings.towards_points)).astype(int))]
    tail = np.asarray([b for b in settings.towards_tail if b > base[-1]])
    return np.concatenate([base, tail])


def path_observer(data: Dataset, reference: Params | None = None) -> Observer:
    """Per member: test accuracy, test accuracy per class, training cross-entropy, ‖θ‖; with
    ``reference`` (θ_ref of each member, as passed to Pathfinder) also how far the point is
    from a stationary point of L_β = E + (β/2)‖θ − θ_ref‖² on the training set: ``residual``
    and ``grad_reg`` (:func:`l2lib.measure.observables.stationarity`)."""

    def observe(model: EnsembleMLP, beta: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {"test_acc": measure.accuracy(model, data.x_test, data.y_test),
               "class_acc": measure.class_accuracy(model, data.x_test, data.y_test,
                                                   data.n_classes),
               "train_ce": measure.error(model, data.x_train, data.y_train, "cross_entropy"),
               "norm": model.parameter_norm().detach()}
        if reference is not None:
            ref = [reference[name].to(p) for name, p in model.named_parameters()]
            out |= measure.stationarity(model, data.x_train, data.y_train, "cross_entropy",
                                        beta, ref)
        return out

    return observe


def towards_checkpoints(
    data: Dataset, sweep: regime_sweep.RegimeSweep, checkpoints: Sequence[int],
    settings: PathfinderSettings, seed: int = 0, member: int = 0,
    store_root: str | FilePath | None = None, progress: bool | str | None = None,
) -> Path:
    """Pathfinder from random initialisations (seeds 100·seed + 5000 + i) towards the states of
    ``sweep``'s ``member`` at the sweep points ``checkpoints`` (path i → checkpoint i), over
    :func:`towards_grid`, each β trained with ``settings.path_train``; stored under
    ``store_root``."""
    if not checkpoints:
        raise ValueError("checkpoints must name at least one sweep point")
    reference = stack_members([select_members(sweep.checkpoint(i), [member])
                               for i in checkpoints])
    regime = sweep.settings
    seeds = [100 * seed + 5000 + i for i in range(len(checkpoints))]
    net = _net(data, regime.hidden, regime.activation, seeds)
    key = {"data": _data_key(data), "hidden": regime.hidden, "activation": regime.activation,
           "seeds": seeds, "sweep": sweep.store.path.name, "checkpoints": list(checkpoints),
           "member": member}
    return find_path(net, data.x_train, data.y_train, reference,
                     towards_grid(sweep.result.lams, settings), config=settings.path_train,
                     observe=path_observer(data, reference), store_root=store_root,
                     name=f"towards-{data.name}", key=key,
                     progress=progress if progress is not None else "Pathfinder → checkpoints")


def encoding_change(before: Sequence[int], after: Sequence[int]) -> str:
    """How the set of encoded classes changes: ``"switch"`` (at least one class gained *and*
    one lost), ``"loss"`` (only lost), ``"gain"`` (only gained) or ``"none"``."""
    lost, gained = set(before) - set(after), set(after) - set(before)
    if lost and gained:
        return "switch"
    return "loss" if lost else "gain" if gained else "none"


@dataclass(frozen=True)
class Switch:
    """What one jump of a path changes: the checkpoints ``before`` and ``after`` it (path
    indices), β there, the distance to the reference, test accuracy, and the classes recognised
    on either side."""

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
    def kind(self) -> str:
        """:func:`encoding_change` across the jump."""
        return encoding_change(*self.recognised)


def switches(path: Path, member: int, found: Steps) -> list[Switch]:
    """The jumps of one member's path (``found`` = :func:`steps_of` on it), with the classes
    on either side."""
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
            recognised=(found.recognised[k], found.recognised[k + 1])))
    return out


def order_agreement(lost: Sequence[Sequence[int]], reference: Sequence[Sequence[int]],
                    n_classes: int = 10) -> float:
    """Kendall's τ_b between two orders of loss (classes lost together share a rank, classes
    never lost rank last); NaN when either order is constant."""

    def ranks(groups: Sequence[Sequence[int]]) -> np.ndarray:
        r = np.full(n_classes, float(len(groups)))
        for i, group in enumerate(groups):
            r[list(group)] = i
        return r

    a, b = ranks(lost), ranks(reference)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(kendalltau(a, b).statistic)


@dataclass
class Towards:
    """Pathfinder towards chapter 3's transition checkpoints and what its paths show.

    ``standard``: the standard sweep's steps (member 0); ``picks``: which transitions
    (positions in ``standard.indices``) the paths aim at; ``targets``: their sweep points;
    ``path``: member i aims at ``targets[i]``; ``steps``/``jumps``: per path;
    ``reference_acc``: the test accuracy of each reference; ``standard_norms``: ‖θ‖ at the
    standard sweep's transitions.
    """

    standard: Steps
    picks: list[int]
    targets: list[int]
    path: Path
    steps: list[Steps]
    jumps: list[list[Switch]]
    reference_acc: np.ndarray
    standard_norms: np.ndarray
    min_drop: float

    @property
    def deep(self) -> int:
        """The path towards the deepest reference."""
        return len(self.targets) - 1

    def settled(self) -> np.ndarray:
        """Per path: final test accuracy within ``min_drop`` of the reference's."""
        return np.abs(self.path.obs["test_acc"][-1] - self.reference_acc) <= self.min_drop

    def tau(self) -> float:
        """Order agreement of the digits lost along the deepest path with the standard
        sweep's."""
        return order_agreement([s.lost for s in self.jumps[self.deep] if s.lost],
                               [g for g in self.standard.lost if g])


def towards(data: Dataset, sweep: regime_sweep.RegimeSweep, settings: PathfinderSettings,
            seed: int = 0, store_root: str | FilePath | None = None,
            min_drop: float = 0.05) -> Towards:
    """The standard sweep's steps, the paths towards its checkpoints and their jumps."""
    result = sweep.result
    standard = steps_of(result.lams, result.obs["test_acc"][:, 0],
                        result.obs["class_acc"][:, 0], min_drop=min_drop)
    picks = reference_indices(standard, settings.n_refs)
    targets = [standard.indices[p] for p in picks]
    path = towards_checkpoints(data, sweep, targets, settings, seed, store_root=store_root)
    steps = [steps_of(path.betas, path.obs["test_acc"][:, i], path.obs["class_acc"][:, i],
                      min_drop=min_drop) for i in range(len(targets))]
    return Towards(standard, picks, targets, path, steps,
                   [switches(path, i, s) for i, s in enumerate(steps)],
                   result.obs["test_acc"][targets, 0],
                   result.obs["norm"][standard.indices, 0], min_drop)


# --------------------------------------------------------------------------------------------
# Saddles at the jumps of a network path


@dataclass
class Scans:
    """Lowest Hessian modes on the steps of one path: ``jumps[i]`` / ``controls[i]`` are the
    modes at ``settings.saddle_positions`` on step i → i + 1 (jump steps, and steps from the
    middle of a plateau)."""

    jumps: dict[int, list[saddles.Mode]]
    controls: dict[int, list[saddles.Mode]]

    def at_checkpoints(self, which: str) -> list[float]:
        """Lowest eigenvalue of ∇²E at the checkpoints (position 0) of ``which`` steps."""
        group = self.jumps if which == "jumps" else self.controls
        return [m.eig for modes in group.values() for m in modes if m.position == 0]


def saddle_scans(path: Path, member: int, jump_steps: Sequence[int], control_steps: Sequence[int],
                 data: Dataset, hidden: Sequence[int], activation: str,
                 settings: PathfinderSettings, seed: int = 0) -> Scans:
    """:func:`~l2lib.measure.saddles.scan_segment` of ∇²E (training cross-entropy on
    ``settings.hessian_samples`` samples) on the steps i → i + 1 of one member's path, at the
    strength β_{i+1} of the step; at most ``settings.max_scans`` steps, jumps first."""
    n = path.betas.size
    jump_steps = [i for i in dict.fromkeys(jump_steps) if 0 <= i < n - 1]
    control_steps = [i for i in dict.fromkeys(control_steps)
                     if 0 <= i < n - 1 and i not in jump_steps]
    budget = settings.max_scans
    jump_steps = jump_steps[:budget]
    control_steps = control_steps[: max(budget - len(jump_steps), 0)]
    x, y = data.x_train, data.y_train
    if settings.hessian_samples is not None and settings.hessian_samples < x.shape[0]:
        pick = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
        pick = pick[: settings.hessian_samples].to(x.device)
        x, y = x[pick], y[pick]
    net = _net(data, hidden, activation, list(range(path.n_members)))

    def theta(i: int) -> tuple[Any, torch.Tensor]:
        load_params(net, path.checkpoints[i])
        return curvature.member_objective(net, member, x, y, "cross_entropy")

    def scan(i: int) -> list[saddles.Mode]:
        fn, a = theta(i)
        _, b = theta(i + 1)
        return saddles.scan_segment(fn, a, b, float(path.betas[i + 1]),
                                    settings.saddle_positions, settings.hessian_tol)

    return Scans({i: scan(i) for i in jump_steps}, {i: scan(i) for i in control_steps})


# --------------------------------------------------------------------------------------------
# Findings: every verdict the chapter reports, one rule each


def toy_finding(t: Toy, overlap_min: float, tol: float = 1e-6) -> Finding:
    """The path on the double well jumps once, across the analytic saddle (recovered within
    ``tol``, with its eigenvalue −4), the jump step shows a saddle of L along the path and no
    other step does; the convex bowl's path neither jumps nor shows one."""
    key = "pathfinder.toy_saddle"
    claim = "a jump of the path crosses a saddle of the loss (known landscape)"
    paper = "jumps cross saddles [paper, mechanism]"
    on_jump = sum(m.shows_saddle(overlap_min) for m in t.scans)
    off_jump = sum(m.shows_saddle(overlap_min) for m in t.control_scans)
    bowl = sum(m.shows_saddle(overlap_min) for m in t.bowl_scans)
    error = (float(np.linalg.norm(t.saddle.theta.numpy() - t.well.saddle))
             if t.saddle is not None else float("nan"))
    eig_error = (abs(t.saddle.eig_min - float(t.well.saddle_eigenvalues[0]))
                 if t.saddle is not None else float("nan"))
    numbers = {"toy_jumps": len(t.jumps), "toy_saddle_error": error,
               "toy_saddle_eig": t.saddle.eig_min if t.saddle else float("nan"),
               "toy_on_jump": on_jump, "toy_off_jump": off_jump, "toy_bowl_jumps":
               len(t.bowl_jumps), "toy_bowl_saddles": bowl,
               "toy_jump_beta": float(t.betas[t.jumps[0]]) if t.jumps else float("nan")}
    ok = (len(t.jumps) == 1 and error < tol and eig_error < tol and on_jump > 0
          and off_jump == 0 and not t.bowl_jumps and bowl == 0)
    companion = (f"double well: {len(t.jumps)} jump(s), saddle found {error:.1e} from the "
                 f"analytic one; saddle of L along the path on {on_jump} jump point(s), "
                 f"{off_jump} elsewhere; convex bowl: {len(t.bowl_jumps)} jump(s), {bowl} "
                 "saddle point(s)")
    return Finding(key, claim, paper, companion, Verdict.AGREES if ok else Verdict.DISAGREES,
                   numbers=numbers)


def no_barrier_finding(pf_barrier: np.ndarray, linear_barrier: np.ndarray,
                       pf_max_loss: np.ndarray, closing_barrier: np.ndarray | None = None, *,
                       end_loss: float = 0.0, ratio: float = 0.1, min_linear: float = 0.05,
                       max_end_loss: float = 0.1) -> Finding:
    """Pathfinder connects the minima without a barrier: per path, the barrier of the training
    loss along the Pathfinder path (start to last checkpoint) is below ``ratio`` × the straight
    line's between the two minima.

    Undecided when the straight line itself has no barrier to speak of (mean below
    ``min_linear``): then "no barrier" says nothing about Pathfinder. The straight segment that
    closes the path at the target (``closing_barrier``, the whole polyline's barrier) is
    reported, not judged: the paper's paths end short of the target too. Not measurable when the
    minima are not trained (``end_loss``, their highest training loss, above
    ``max_end_loss``)."""
    pf, lin = np.asarray(pf_barrier, float), np.asarray(linear_barrier, float)
    numbers = {"pf_barrier": float(pf.mean()), "linear_barrier": float(lin.mean()),
               "pf_max_loss": float(np.max(pf_max_loss)), "barrier_ratio": ratio}
    companion = (f"barrier of the training loss along the Pathfinder path {pf.mean():.3g} (mean "
                 f"over {pf.size} paths; highest loss {np.max(pf_max_loss):.3g}), along the "
                 f"straight line {lin.mean():.3g}")
    if closing_barrier is not None:
        closing = float(np.mean(closing_barrier))
        numbers["closing_barrier"] = closing
        companion += f"; with the straight segment closing the path at M_j {closing:.3g}"
    note = ""
    if pf.size == 0 or not np.all(np.isfinite(pf)) or not np.all(np.isfinite(lin)):
        verdict, note = Verdict.NOT_MEASURABLE, "no finite barrier was measured"
    elif end_loss > max_end_loss:
        verdict = Verdict.NOT_MEASURABLE
        note = (f"the minima are not trained (training loss up to {end_loss:.3g} > "
                f"{max_end_loss}): the quick profile or larger trains them")
    elif lin.mean() < min_linear:
        verdict = Verdict.UNDECIDED
        note = (f"the straight line has no barrier either (< {min_linear}): train longer minima "
                "(reference profile) for a test")
    else:
        verdict = Verdict.AGREES if np.all(pf < ratio * lin) else Verdict.DISAGREES
    return Finding("pathfinder.no_barrier",
                   "Pathfinder connects independently trained minima without a barrier",
                   "train CE ≤ 0.012, test accuracy 96.8–97.8 % along M1→M2…M5 (MNIST) [paper]",
                   companion, verdict, note, numbers)


def distance_finding(betas_paper: np.ndarray, dist_ref: np.ndarray, start_distance: np.ndarray,
                     *, grow: float = 0.05, arrive: float = 0.05) -> Finding:
    """On the paper's grid the distance to the target first grows (peak ≥ (1 + ``grow``) × the
    start distance) and the path ends closer than it started but short of the target
    (``arrive`` < end/start < 1), for every path. Undecided when the growth is positive but
    below ``grow``; not measurable if the grid does not reach the paper's β_max."""
    d = np.asarray(dist_ref, float) / np.asarray(start_distance, float)[None, :]
    peak, end = d.max(axis=0), d[-1]
    numbers = {"distance_peak_ratio": peak.tolist(), "distance_end_ratio": end.tolist(),
               "distance_peak_beta_paper": betas_paper[d.argmax(axis=0)].tolist(),
               "paper_peak_ratio": (174 / 144, 183 / 133), "paper_end_ratio": (31 / 144, 36 / 133)}
    companion = (f"distance/start peaks at {peak.min():.3f}–{peak.max():.3f} (β_paper "
                 + ", ".join(f"{b:.2g}" for b in numbers["distance_peak_beta_paper"])
                 + f"), ends at {end.min():.2f}–{end.max():.2f} of the start distance")
    paper = ("distance grows 133–144 → 174–183, ends 31–36 short of M_j at β_paper = 5e-6 "
             "(end/start ≈ 0.22–0.26) [paper]")
    key, claim = "pathfinder.distance_curve", "the path first moves away, then ends short of M_j"
    if betas_paper[-1] < PAPER["beta_max_paper"] * (1 - 1e-9) or d.shape[0] < 3:
        return Finding(key, claim, paper, companion, Verdict.NOT_MEASURABLE,
                       "the grid does not reach the paper's β_paper = 5e-6", numbers)
    shape_ok = np.all((peak >= 1 + grow) & (end < 1) & (end > arrive))
    if shape_ok:
        return Finding(key, claim, paper, companion, Verdict.AGREES, numbers=numbers)
    if np.all((end < 1) & (end > arrive)) and np.all(peak > 1) and np.any(peak < 1 + grow):
        return Finding(key, claim, paper, companion, Verdict.UNDECIDED,
                       f"the distance grows by less than {grow:.0%}: a finer grid near β = 0 "
                       "(reference profile) resolves the peak", numbers)
    return Finding(key, claim, paper, companion, Verdict.DISAGREES, numbers=numbers)


def towards_finding(n_standard: int, n_jumps: int, tau: float, settled: np.ndarray,
                    *, tau_min: float = 0.5) -> Finding:
    """Towards the deepest checkpoint the ordered transitions reappear (≥ 2 jumps, digit order
    τ > ``tau_min`` with the standard sweep's) and every path settles on its reference's
    plateau."""
    settled = np.asarray(settled, bool)
    numbers = {"towards_jumps": n_jumps, "towards_kendall_tau": tau,
               "towards_settled": int(settled.sum()), "towards_paths": int(settled.size)}
    companion = (f"{n_jumps} jumps on the path towards the deepest checkpoint, digit order "
                 f"τ = {tau:.2f} with the standard sweep; {int(settled.sum())} of {settled.size} "
                 "paths settle on their reference's plateau")
    key = "pathfinder.towards_checkpoint"
    claim = "towards a transition checkpoint the ordered transitions reappear"
    paper = "towards T4 (MNIST): transitions at distances 7.1, 5.32, 3.35, 0.6 [paper]"
    if n_standard < 2:
        return Finding(key, claim, paper, companion, Verdict.NOT_MEASURABLE,
                       "the standard sweep shows fewer than two transitions: extend chapter "
                       "3's β grid", numbers)
    if n_jumps == 1 or (n_jumps >= 2 and not np.isfinite(tau)):
        return Finding(key, claim, paper, companion, Verdict.UNDECIDED,
                       "the jumps lose too few distinct digits to define an order; a finer "
                       "grid (reference profile) resolves it", numbers)
    ok = n_jumps >= 2 and tau > tau_min and bool(settled.all())
    return Finding(key, claim, paper, companion, Verdict.AGREES if ok else Verdict.DISAGREES,
                   numbers=numbers)


def switch_finding(kinds: Sequence[str], named: str = "") -> Finding:
    """Crossing a jump switches the encoded classes: at least one jump gains a class while
    losing another. Pure losses do not count; no jumps at all: not measurable."""
    counts = {k: int(sum(x == k for x in kinds)) for k in ("switch", "loss", "gain", "none")}
    numbers = {"n_switches": counts["switch"], "n_losses": counts["loss"],
               "n_gains": counts["gain"], "n_jumps_total": len(kinds)}
    companion = (f"{len(kinds)} jumps: {counts['switch']} switch(es) (a class gained and one "
                 f"lost), {counts['loss']} pure loss(es), {counts['gain']} pure gain(s)"
                 + (f"; {named}" if named else ""))
    key = "pathfinder.class_switch"
    claim = "crossing a saddle switches which digit classes are encoded"
    paper = "class-encoding switch at saddles (MNIST) [paper]"
    if not kinds:
        return Finding(key, claim, paper, companion, Verdict.NOT_MEASURABLE,
                       "no jump on the paths: extend the β grid", numbers)
    verdict = Verdict.AGREES if counts["switch"] else Verdict.DISAGREES
    return Finding(key, claim, paper, companion, verdict, numbers=numbers)


def _minima_text(kept: int, total: int, what: str, residuals: np.ndarray | None,
                 tol: float | None) -> str:
    if residuals is None or tol is None:
        return ""
    finite = residuals[np.isfinite(residuals)]
    span = (f", residuals {finite.min():.2g}–{finite.max():.2g}" if finite.size
            else ", no residual recorded")
    return f"; minima (residual ≤ {tol:g}): {kept} of {total} {what}{span}"


NOT_MINIMA = ("the path's points are not minima of L_β (training stopped after a few epochs per "
              "β): their Hessian says nothing about saddles; a minimisation to stationarity at "
              "each β would make it measurable")


def eigenvalue_finding(before: Sequence[float], controls: Sequence[float],
                       betas_before: Sequence[float] = (), *,
                       before_residual: Sequence[float] | None = None,
                       control_residual: Sequence[float] | None = None,
                       residual_tol: float | None = None) -> Finding:
    """Negative Hessian eigenvalues at the transition checkpoints: agrees only if every
    checkpoint before a jump has a negative lowest eigenvalue of ∇²E *and* all of them lie
    below every mid-plateau control (the two groups separate); disagrees when they overlap
    (negative curvature is not specific to the jumps) or none is negative. Only checkpoints
    whose stationarity residual is at most ``residual_tol`` count (residuals None: all).
    Fewer than two of either group: not measurable."""
    b, c = np.asarray(before, float), np.asarray(controls, float)
    betas_b = np.asarray(betas_before, float)
    total = (b.size, c.size)
    keep_b, keep_c = np.ones(b.size, bool), np.ones(c.size, bool)
    res_b = res_c = None
    if residual_tol is not None and before_residual is not None:
        res_b = np.asarray(before_residual, float)
        keep_b = res_b <= residual_tol
    if residual_tol is not None and control_residual is not None:
        res_c = np.asarray(control_residual, float)
        keep_c = res_c <= residual_tol
    gate = (_minima_text(int(keep_b.sum()), total[0], "checkpoints", res_b, residual_tol)
            + _minima_text(int(keep_c.sum()), total[1], "controls", res_c, residual_tol))
    b, c = b[keep_b], c[keep_c]
    if betas_b.size == keep_b.size:
        betas_b = betas_b[keep_b]
    numbers = {"eig_min_before_jumps": b.tolist(), "eig_min_controls": c.tolist(),
               "eig_median_gap": float(np.median(c) - np.median(b)) if b.size and c.size
               else float("nan"),
               "n_concave": int(np.sum(b < -betas_b)) if betas_b.size == b.size else -1}
    companion = ("lowest eigenvalue of ∇²E before the jumps: "
                 + (", ".join(f"{v:.3g}" for v in b) or "–") + "; mid-plateau controls: "
                 + (", ".join(f"{v:.3g}" for v in c) or "–") + gate)
    key = "pathfinder.negative_eigenvalues"
    claim = "negative Hessian eigenvalues at the transition checkpoints, not elsewhere"
    paper = "negative eigenvalues near transition checkpoints [repo]"
    if b.size < 2 or c.size < 2:
        gated = b.size < total[0] or c.size < total[1]
        return Finding(key, claim, paper, companion, Verdict.NOT_MEASURABLE,
                       NOT_MINIMA if gated and min(total) >= 2 else
                       "fewer than two jumps or controls to compare: a longer path "
                       "(reference profile) gives more", numbers)
    ok = bool(np.all(b < 0) and b.max() < c.min())
    return Finding(key, claim, paper, companion, Verdict.AGREES if ok else Verdict.DISAGREES,
                   numbers=numbers)


def saddle_finding(jumps: Sequence[Sequence[saddles.Mode]],
                   controls: Sequence[Sequence[saddles.Mode]], overlap_min: float, *,
                   jump_minima: Sequence[bool] | None = None,
                   control_minima: Sequence[bool] | None = None) -> Finding:
    """A saddle of L is located at the jumps: the share of jump steps with a point where ∇²L
    has a negative eigenvalue whose eigenvector overlaps the step by ≥ ``overlap_min``, against
    the same share on control steps. Only steps between two minima count (``jump_minima`` /
    ``control_minima``: per step, both ends within the residual tolerance; None: all): a
    saddle lies *between basins*. Agrees: ≥ half the jumps and under half the jumps' share
    among controls; disagrees: no jump, or controls at least as often; else undecided."""
    scanned = (len(jumps), len(controls))
    if jump_minima is not None:
        jumps = [m for m, ok in zip(jumps, jump_minima, strict=True) if ok]
    if control_minima is not None:
        controls = [m for m, ok in zip(controls, control_minima, strict=True) if ok]
    hit = [any(m.shows_saddle(overlap_min) for m in modes) for modes in jumps]
    false = [any(m.shows_saddle(overlap_min) for m in modes) for modes in controls]
    rate = float(np.mean(hit)) if hit else float("nan")
    rate_c = float(np.mean(false)) if false else float("nan")
    best = [max((m.overlap for m in modes if m.eig_loss < 0), default=0.0) for modes in jumps]
    numbers = {"saddle_jump_rate": rate, "saddle_control_rate": rate_c,
               "saddle_overlap_min": overlap_min, "saddle_best_overlap": best}
    gated = len(jumps) < scanned[0] or len(controls) < scanned[1]
    companion = (f"saddle of L along the path at {sum(hit)} of {len(hit)} jumps, at "
                 f"{sum(false)} of {len(false)} control steps (overlap ≥ {overlap_min})"
                 + (f"; steps between minima: {len(jumps)} of {scanned[0]} jumps, "
                    f"{len(controls)} of {scanned[1]} controls" if gated else ""))
    key = "pathfinder.saddle_located"
    claim = "each jump of a path crosses a saddle of the loss"
    paper = "saddles between basins, crossed at the transitions [paper]"
    if not hit or not false:
        return Finding(key, claim, paper, companion, Verdict.NOT_MEASURABLE,
                       NOT_MINIMA if gated and min(scanned) >= 1 else
                       "no jump or no control step was scanned: a longer path (reference "
                       "profile) gives both", numbers)
    if rate == 0 or rate_c >= rate:
        verdict = Verdict.DISAGREES
    elif rate >= 0.5 and rate_c < rate / 2:
        verdict = Verdict.AGREES
    else:
        return Finding(key, claim, paper, companion, Verdict.UNDECIDED,
                       "saddles at some jumps but also at controls: more scan positions "
                       "(reference profile) resolve it", numbers)
    return Finding(key, claim, paper, companion, verdict, numbers=numbers)


def findings(t: Toy, link: Connection, tw: Towards, scans: Scans,
             settings: PathfinderSettings) -> list[Finding]:
    """Every finding chapter 5 reports, in the order of the chapter."""
    path = link.pathfinder
    kinds = [s.kind for sw in tw.jumps for s in sw]
    named = "; ".join(f"β {s.beta[0]:.3g}→{s.beta[1]:.3g}: {s.kind}, lost {list(s.lost)}, "
                      f"gained {list(s.gained)}" for sw in tw.jumps for s in sw)
    before = scans.at_checkpoints("jumps")
    residual = tw.path.obs.get("residual")
    tol = settings.residual_tol

    def residuals(steps: Sequence[int]) -> list[float] | None:
        """The residual of the scanned member at the start of each step (NaN: not recorded)."""
        if residual is None:
            return None
        return [float(residual[i, tw.deep]) for i in steps]

    def between_minima(steps: Sequence[int]) -> list[bool] | None:
        if residual is None:
            return None
        return [bool(residual[i, tw.deep] <= tol and residual[i + 1, tw.deep] <= tol)
                for i in steps]

    at_start = 0.0 in settings.saddle_positions
    return [
        toy_finding(t, settings.overlap_min),
        no_barrier_finding(link.path_barrier(), link.barrier("linear"), link.path_max_loss(),
                           link.barrier("Pathfinder"),
                           end_loss=float(link.along["linear"]["train_loss"][[0, -1]].max())),
        distance_finding(link.betas_paper, path.obs["dist_ref"], path.start_distance()),
        towards_finding(len(tw.standard.indices), len(tw.jumps[tw.deep]), tw.tau(),
                        tw.settled()),
        switch_finding(kinds, named),
        eigenvalue_finding(before, scans.at_checkpoints("controls"),
                           [float(tw.path.betas[i]) for i in scans.jumps] if at_start else (),
                           before_residual=residuals(list(scans.jumps)) if at_start else None,
                           control_residual=residuals(list(scans.controls)) if at_start
                           else None, residual_tol=tol),
        saddle_finding(list(scans.jumps.values()), list(scans.controls.values()),
                       settings.overlap_min, jump_minima=between_minima(list(scans.jumps)),
                       control_minima=between_minima(list(scans.controls))),
    ]


def glue_values(found: Sequence[Finding]) -> dict[str, Any]:
    """What the chapter glues: every scalar among the findings' numbers, and for each finding
    ``<name>_verdict`` (mark and verdict text, with the note) and ``<name>_text`` (what this
    run found), ``name`` being its key after the dot."""
    out: dict[str, Any] = {}
    for f in found:
        name = f.key.split(".", 1)[-1]
        out[f"{name}_verdict"] = f"{f.verdict.symbol} {f.verdict.value}" + (
            f" ({f.note})" if f.note else "")
        out[f"{name}_text"] = f.companion
        out |= {k: v for k, v in f.numbers.items() if isinstance(v, (int, float, str))}
    return out
