"""Chapter 3, accuracy regimes: the standard L2 sweep of an MLP classifier and its staircase.

Protocol of Ersoy, Cardozo Licha & Wiesner (arXiv 2512.11866, from their scripts): MLP
784-128-128-10 with sigmoid units, cross-entropy, Adam (lr 1.5e-3, batch 64), at most 50 epochs
per β with early stopping (patience 5), β from 0 to 0.1 in steps of 2e-4, warm start with a fresh
optimiser at every β, three seeds. The penalty is (β/2)‖θ‖² over all weights and biases, which
is what their ``Adam(weight_decay=β)`` applies (:mod:`l2lib.losses`).

Early stopping monitors the epoch mean of the *regularised* objective by default and restores
the weights of the best epoch. Monitoring the training cross-entropy instead (``monitor="error"``)
stops every β after six epochs and restores the first one: raising β makes the cross-entropy
rise while the objective converges. The authors' scripts monitored the cross-entropy but, by a
copying slip, kept the last epoch's weights; neither of their bookkeeping slips (that one, and
a logged regularised loss with twice the applied penalty) is repeated here.

The three seeds are members of one ensemble trained together (:mod:`l2lib.train`); every member
has its own data order and early stopping, so this equals three separate sweeps (tested).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from l2lib.analysis import transitions
from l2lib.data import Dataset, load_dataset
from l2lib.measure import curvature
from l2lib.measure import observables as measure
from l2lib.models.mlp import EnsembleMLP, mlp
from l2lib.runtime import check_profile
from l2lib.store import SweepStore, open_store
from l2lib.train.loop import TrainConfig
from l2lib.train.sweep import Observer, SweepResult, warm_sweep

# Reported by the paper for MNIST with the protocol above (their CSV data, three seeds agree).
PAPER_MNIST = {
    "transitions": (0.0248, 0.0374, 0.0590, 0.0738, 0.0845),
    "accuracy_at_zero": 0.977,
    "plateaus": (0.77, 0.62, 0.38, 0.24, 0.10),  # test accuracy after T1 … T5
    "loss_order": ((5,), (8,), (9,), (2, 4, 6), (3,), (1,), (7,), (0,)),
    "norm_at_transitions": (7.81, 6.24, 4.26, 2.89, 0.26),
}

PAPER_TRAIN = TrainConfig(loss="cross_entropy", optimizer="adam", lr=1.5e-3, batch_size=64,
                          max_epochs=50, patience=5, monitor="objective")


@dataclass(frozen=True)
class RegimeSettings:
    """Everything chapter 3 varies between profiles.

    β grid: 0, ``beta_step``, …, ``beta_max``. Hessian quantities (extreme eigenvalues of the
    unregularised training cross-entropy, scalar curvature) are measured for the first
    ``hessian_members`` members at every ``hessian_every``-th grid point (NaN elsewhere).
    ``n_train`` = None uses the whole training split.
    """

    hidden: tuple[int, ...] = (128, 128)
    activation: str = "sigmoid"
    train: TrainConfig = PAPER_TRAIN
    beta_max: float = 0.1
    beta_step: float = 2e-4
    n_seeds: int = 3
    n_train: int | None = None
    hessian_every: int = 10
    hessian_members: int = 1
    hessian_probes: int = 32
    hessian_tol: float = 1e-3
    min_drop: float = 0.05  # accuracy fall per grid step that counts as a transition
    sweep_down: bool = True

    @property
    def betas(self) -> np.ndarray:
        """The ascending β grid."""
        n = int(round(self.beta_max / self.beta_step))
        if n < 3 or not np.isclose(n * self.beta_step, self.beta_max, rtol=1e-6):
            raise ValueError(f"beta_max {self.beta_max} must be a multiple (>= 3) of beta_step "
                             f"{self.beta_step}")
        return np.arange(n + 1) * self.beta_step


def regime_settings(profile: str, **overrides: Any) -> RegimeSettings:
    """Settings of chapter 3 for ``profile``; keyword ``overrides`` replace single fields
    (e.g. ``beta_max=0.12``, ``activation="relu"``, ``lr=1.5e-2``; ``lr`` goes into ``train``)."""
    paper = RegimeSettings()
    check_profile(profile)
    if profile == "paper":
        settings = paper
    elif profile == "quick":  # the 8x8 digits on a CPU: a coarser β grid to 0.07
        settings = replace(paper, beta_max=0.07, beta_step=1e-3, hessian_every=2,
                           n_train=10_000)
    else:
        settings = replace(paper, hidden=(32, 32), beta_max=0.07, beta_step=5e-3, n_seeds=2,
                           train=replace(paper.train, max_epochs=8, patience=3),
                           hessian_every=3, hessian_probes=4, n_train=2000)
    lr = overrides.pop("lr", None)
    if lr is not None:
        settings = replace(settings, train=replace(settings.train, lr=float(lr)))
    unknown = set(overrides) - set(RegimeSettings.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}; "
                         f"known: {sorted(RegimeSettings.__dataclass_fields__)} and lr")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if "hidden" in overrides:
        overrides["hidden"] = tuple(int(h) for h in overrides["hidden"])
    settings = replace(settings, **overrides)
    settings.betas  # noqa: B018 - validates the grid
    return settings


def load_regime_data(
    dataset: str, settings: RegimeSettings, data_root: str | os.PathLike | None = None,
    device: str | torch.device = "cpu", seed: int = 0,
) -> Dataset:
    """The dataset on ``device``; MNIST-type sets are subsampled to ``settings.n_train``
    (stratified, seeded) when that is smaller than their training split."""
    data = load_dataset(dataset, root=data_root, device=device)
    if settings.n_train is not None and settings.n_train < data.n_train:
        data = load_dataset(dataset, root=data_root, device=device, n_train=settings.n_train,
                            seed=seed)
    return data


def regime_observer(data: Dataset, settings: RegimeSettings, betas: np.ndarray) -> Observer:
    """Per member: ‖θ‖, training and test cross-entropy and accuracy, regularised objective
    E + (β/2)‖θ‖², test accuracy per class; and, at every ``hessian_every``-th β for the first
    ``hessian_members`` members, the largest and smallest Hessian eigenvalue of the training
    cross-entropy and the scalar curvature of its graph (stochastic, with standard error)."""
    x, y, xt, yt = data.x_train, data.y_train, data.x_test, data.y_test

    def observe(model: EnsembleMLP, lam: torch.Tensor) -> dict[str, torch.Tensor]:
        k = model.n_members
        out = {
            "norm": model.parameter_norm(),
            "train_ce": measure.error(model, x, y, "cross_entropy"),
            "test_ce": measure.error(model, xt, yt, "cross_entropy"),
            "objective": measure.objective(model, x, y, "cross_entropy", lam),
            "train_acc": measure.accuracy(model, x, y),
            "test_acc": measure.accuracy(model, xt, yt),
            "class_acc": measure.class_accuracy(model, xt, yt, data.n_classes),
        }
        hess = np.full((k, 4), np.nan)
        index = int(np.argmin(np.abs(betas - float(lam[0]))))
        if index % settings.hessian_every == 0:
            for member in range(min(settings.hessian_members, k)):
                fn, theta = curvature.member_objective(model, member, x, y, "cross_entropy")
                top, bottom = curvature.extreme_eigenvalues(fn, theta, 1,
                                                            tol=settings.hessian_tol)
                est = curvature.scalar_curvature(fn, theta, "stochastic",
                                                 settings.hessian_probes, seed=index)
                hess[member] = top[0], bottom[0], est.value, est.stderr
        hess = torch.as_tensor(hess)
        out |= {"eig_max": hess[:, 0], "eig_min": hess[:, 1], "curvature": hess[:, 2],
                "curvature_err": hess[:, 3]}
        return out

    return observe


@dataclass
class RegimeSweep:
    """A warm sweep whose every converged state is stored (the transition checkpoints).

    ``result`` is in visiting order (ascending β for an upward sweep); ``checkpoint(i)`` and
    ``model_at(i)`` refer to the same indices.
    """

    result: SweepResult
    store: SweepStore
    settings: RegimeSettings
    data_key: dict[str, Any]

    def checkpoint(self, index: int) -> dict[str, torch.Tensor]:
        """The ensemble's ``state_dict`` at sweep point ``index``."""
        n = len(self.result.lams)
        if not -n <= index < n:
            raise IndexError(f"sweep point {index} out of range for a sweep of {n} points")
        state = self.store.load(index % n)["state"]
        if state is None:
            raise ValueError(f"the store {self.store.path} holds no weights for point {index}")
        return state

    def model_at(self, index: int, device: str | torch.device | None = None) -> EnsembleMLP:
        """A fresh ensemble loaded with the weights of sweep point ``index``."""
        state = self.checkpoint(index)
        model = _build(self.settings, self.data_key, device=device or "cpu")
        model.load_state_dict(state)
        return model


def _build(settings: RegimeSettings, data_key: dict[str, Any],
           device: str | torch.device) -> EnsembleMLP:
    dtype = getattr(torch, data_key["dtype"].removeprefix("torch."))
    return mlp(data_key["input_dim"], list(settings.hidden), data_key["n_classes"],
               seeds=data_key["seeds"], activation=settings.activation, dtype=dtype,
               device=device)


def standard_sweep(
    data: Dataset,
    settings: RegimeSettings,
    seeds: Sequence[int],
    store_root: str | Path | None,
    *,
    direction: str = "up",
    start: RegimeSweep | None = None,
    progress: bool | str | None = None,
) -> RegimeSweep:
    """The warm β sweep of the paper, every point stored with its weights (resumable).

    ``direction="up"`` starts from fresh initialisations at β = 0 (trained there first, as the
    first grid point); ``direction="down"`` needs ``start`` (an upward sweep) and starts from its
    last state, visiting the grid from the top (hysteresis). ``store_root`` None keeps the store
    in a temporary folder under the system's temp dir, as checkpoints are needed.
    """
    if direction not in ("up", "down"):
        raise ValueError(f"direction must be 'up' or 'down', got {direction!r}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    data_key = {"name": data.name, "n_train": data.n_train, "input_dim": data.input_dim,
                "n_classes": data.n_classes, "seeds": seeds, "dtype": str(data.x_train.dtype)}
    model = _build(settings, data_key, device=data.x_train.device)
    config: dict[str, Any] = {"settings": settings, "data": data_key, "direction": direction}
    if direction == "down":
        if start is None:
            raise ValueError("a downward sweep starts where an upward one ended: pass start=")
        model.load_state_dict(start.checkpoint(-1))
        config["start"] = str(start.store.path.name)
    if store_root is None:
        import tempfile

        store_root = Path(tempfile.gettempdir()) / "l2lib-regimes"
    store = open_store(store_root, f"regimes-{data.name}-{direction}", config)
    betas = settings.betas
    result = warm_sweep(model, data.x_train, data.y_train, betas, config=settings.train,
                        observe=regime_observer(data, settings, betas), direction=direction,
                        store=store, keep_states=True,
                        progress=progress if progress is not None else f"β sweep {direction}")
    return RegimeSweep(result, store, settings, data_key)


@dataclass(frozen=True)
class Regimes:
    """Accuracy plateaus and the transitions between them, with the digits recognised.

    ``transitions[k]`` is the β of the k-th drop (T_{k+1}); ``indices[k]`` the last sweep point
    before it (its state is the transition checkpoint); ``plateaus[k]`` = (β_lo, β_hi, median
    test accuracy); ``recognised[k]`` the classes with median accuracy > ``level`` on plateau k;
    ``lost[k]`` the classes recognised before drop k but not after it.
    """

    transitions: list[float]
    indices: list[int]
    plateaus: list[tuple[float, float, float]]
    recognised: list[list[int]]
    lost: list[list[int]]
    staircase: transitions.Staircase


def detect_regimes(
    result: SweepResult, member: int | None = None, *, min_drop: float = 0.05,
    min_points: int = 2, level: float = 0.5,
) -> Regimes:
    """Plateaus of test accuracy along an upward sweep (:func:`l2lib.transitions.staircase`),
    for one ``member`` or the mean over members (None), and which digits each plateau keeps."""
    if result.direction != "up":
        result = result.ascending()
    acc = result.obs["test_acc"]
    per_class = result.obs["class_acc"]
    if member is None:
        acc, per_class = acc.mean(axis=1), per_class.mean(axis=1)
    else:
        if not 0 <= member < acc.shape[1]:
            raise ValueError(f"member {member} out of range for {acc.shape[1]} members")
        acc, per_class = acc[:, member], per_class[:, member]
    stairs = transitions.staircase(result.lams, acc, min_drop=min_drop, min_points=min_points)
    recognised = [
        [int(c) for c in np.flatnonzero(np.median(per_class[p.first : p.last + 1], axis=0) > level)]
        for p in stairs.plateaus
    ]
    lost = [sorted(set(a) - set(b)) for a, b in zip(recognised[:-1], recognised[1:], strict=True)]
    return Regimes(
        transitions=[d.lam for d in stairs.drops],
        indices=[d.index for d in stairs.drops],
        plateaus=[(p.lam_lo, p.lam_hi, p.level) for p in stairs.plateaus],
        recognised=recognised,
        lost=lost,
        staircase=stairs,
    )


def loss_order_agreement(lost: Sequence[Sequence[int]],
                         paper: Sequence[Sequence[int]] = PAPER_MNIST["loss_order"]) -> float:
    """Kendall's τ_b between the order in which digits are lost here and in the paper (digits
    lost together share a rank; digits never lost rank last). 1: same order, 0: unrelated."""
    from scipy.stats import kendalltau

    def ranks(groups: Sequence[Sequence[int]]) -> np.ndarray:
        r = np.full(10, float(len(groups)))
        for i, group in enumerate(groups):
            r[list(group)] = i
        return r

    tau = kendalltau(ranks(lost), ranks(paper)).statistic
    return float(tau)


def near_transitions(betas: np.ndarray, transitions_at: Sequence[float],
                     radius: float) -> np.ndarray:
    """Boolean mask of the ``betas`` within ``radius`` of any transition."""
    betas = np.asarray(betas, dtype=np.float64)
    if not transitions_at:
        return np.zeros(betas.shape, dtype=bool)
    gaps = np.abs(betas[:, None] - np.asarray(transitions_at, dtype=np.float64)[None, :])
    return gaps.min(axis=1) <= radius


def negative_curvature_near_transitions(
    betas: np.ndarray, eig_min: np.ndarray, transitions_at: Sequence[float], radius: float,
) -> dict[str, float | int]:
    """The smallest Hessian eigenvalue of E near the transitions and away from them (medians),
    and how many points have eig_min < −β, i.e. a concave direction of the regularised loss."""
    betas, eig_min = np.asarray(betas, dtype=np.float64), np.asarray(eig_min, dtype=np.float64)
    near = near_transitions(betas, transitions_at, radius)
    return {
        "near": float(np.median(eig_min[near])) if near.any() else float("nan"),
        "far": float(np.median(eig_min[~near])) if (~near).any() else float("nan"),
        "n_near": int(near.sum()),
        "n_far": int((~near).sum()),
        "concave": int(np.sum(eig_min < -betas)),
    }


def recovery_beta(down: SweepResult, level: float) -> float | None:
    """The largest β at which a downward sweep's mean test accuracy reaches ``level`` again
    (None if it never does): below it the learning branch is regained."""
    result = down.ascending()
    reached = np.flatnonzero(result.mean("test_acc") >= level)
    return float(result.lams[reached[-1]]) if reached.size else None


def jump_contrast(result: SweepResult, found: Regimes, name: str = "norm") -> list[float]:
    """For each transition: the change of the seed-mean ``name`` across its largest accuracy
    step, divided by the median absolute change per grid step elsewhere on the sweep. A value
    well above 1 means ``name`` jumps together with the accuracy (a first-order transition)."""
    result = result.ascending() if result.direction != "up" else result
    steps = np.abs(np.diff(result.mean(name)))
    at = [int(np.searchsorted(result.lams, lam)) - 1 for lam in found.transitions]
    elsewhere = np.delete(steps, at) if at else steps
    typical = float(np.median(elsewhere)) if elsewhere.size else float("nan")
    return [float(steps[i] / typical) if typical > 0 else float("inf") for i in at]
