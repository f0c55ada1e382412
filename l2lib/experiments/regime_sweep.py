"""Chapter 3's warm β sweep: its settings, data, the observer and the stored sweeps.

The protocol of Ersoy, Cardozo Licha & Wiesner (arXiv 2512.11866, from their scripts): MLP
784-128-128-10 with sigmoid units, cross-entropy, Adam (lr 1.5e-3, batch 64), at most 50 epochs
per β with early stopping (patience 5), β from 0 to 0.1 in steps of 2e-4, warm start with a fresh
optimiser at every β, three seeds; the penalty is (β/2)‖θ‖² over all weights and biases, which
is what their ``Adam(weight_decay=β)`` applies (:mod:`l2lib.train.losses`). The three seeds are
members of one ensemble trained together (:mod:`l2lib.train.loop`); every member has its own data
order and early stopping, so this equals three separate sweeps (tested).

This module computes and stores; :mod:`l2lib.experiments.regimes` analyses. The split keeps the
sweeps' store keys (:mod:`l2lib.store`) free of the analysis code, so that editing how
transitions are detected or judged does not invalidate an hour of stored training (chapter 5
reads these sweeps too). For the same reason the profiles live in
:mod:`l2lib.experiments.regime_profiles`: a store's configuration records every setting, so
tuning one profile there changes only that profile's keys.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from l2lib.data import Dataset, load_dataset
from l2lib.measure import curvature, spectrum
from l2lib.measure import observables as measure
from l2lib.models.mlp import EnsembleMLP, mlp
from l2lib.store import SweepStore, open_store
from l2lib.train import early_stopping
from l2lib.train.loop import TrainConfig
from l2lib.train.sweep import Observer, SweepResult, check_data_order, warm_sweep

PAPER_TRAIN = TrainConfig(loss="cross_entropy", optimizer="adam", lr=1.5e-3, batch_size=64,
                          max_epochs=50, patience=5, monitor="objective")


EARLY_STOPPING = early_stopping.MODES


@dataclass(frozen=True)
class RegimeSettings:
    """Everything chapter 3 varies between profiles; the field defaults are the authors' protocol
    and grid (the ``paper`` profile; the profiles are in :mod:`l2lib.experiments.regime_profiles`).

    β grid: 0, ``beta_step``, …, ``beta_max``. ``data_order`` (the warm sweep's, see
    :data:`l2lib.train.sweep.DATA_ORDERS`): ``"fresh"``, a new data order at every β as the
    authors' shuffling loader gives, or ``"fixed"``, each seed's order repeated at every β (common
    random numbers: neighbouring β then differ by β, not by the minibatch sampling, which on
    8,000 images instead of 60,000 blurs the jumps). ``early_stopping``: ``"authors"`` (training
    cross-entropy monitored, last epoch kept: ≈ 6 epochs per β, as in the authors' scripts) or
    ``"objective"`` (the regularised objective monitored, best epoch restored; l2lib's loop; the
    ``quick`` profile's; ``reference`` and ``paper`` use ``"authors"``), see
    :mod:`l2lib.train.early_stopping`. Hessian extremes of the unregularised training
    cross-entropy are measured during the sweep for the first ``hessian_members`` members at
    every ``hessian_every``-th grid point (0: never; NaN elsewhere), on ``hessian_n`` training
    images (None: all). ``n_train`` None uses the whole training split. ``sweep_down`` runs the
    downward sweep (hysteresis). ``first_max_epochs`` caps the training at β = 0 (the authors'
    rule runs all 50 epochs there, as the cross-entropy keeps falling without a penalty).
    ``n_curvature``: transition checkpoints and mid-plateau controls (each, seed 0) at which the
    smallest Hessian eigenvalue and the ``spectrum_k`` eigenvalues of largest magnitude (the
    authors keep 30) are measured after the sweep (0: none); the top-``spectrum_k`` spectrum is
    also measured during the sweep wherever the extremes are. The curvature finding uses only
    those points whose stationarity residual ‖∇L_β‖/‖βθ‖ (seed 0) is at most ``residual_tol``:
    an eigenvalue of ∇²E away from a stationary point says nothing about saddles of L_β.
    ``min_drop`` is the accuracy fall per grid step of the old
    threshold rule :func:`detect_regimes` (chapter 5's paths).
    """

    hidden: tuple[int, ...] = (128, 128)
    activation: str = "sigmoid"
    train: TrainConfig = PAPER_TRAIN
    early_stopping: str = "authors"
    data_order: str = "fresh"
    beta_max: float = 0.1
    beta_step: float = 2e-4
    n_seeds: int = 3
    n_train: int | None = None
    hessian_every: int = 1
    hessian_members: int = 1
    hessian_probes: int = 32
    hessian_tol: float = 1e-3
    hessian_n: int | None = None
    min_drop: float = 0.05
    sweep_down: bool = True
    first_max_epochs: int | None = None
    n_curvature: int = 5
    spectrum_k: int = 30
    residual_tol: float = 0.05

    @property
    def first_train(self) -> TrainConfig:
        """The training of the first upward point (β = 0, from a fresh initialisation):
        at most ``first_max_epochs`` epochs (None: ``train.max_epochs``)."""
        if self.first_max_epochs is None:
            return self.train
        return replace(self.train, max_epochs=int(self.first_max_epochs))

    def __post_init__(self) -> None:
        early_stopping.check_mode(self.early_stopping)
        check_data_order(self.data_order)
        if self.n_seeds < 1:
            raise ValueError(f"n_seeds must be >= 1, got {self.n_seeds}")
        if self.hessian_every < 0:
            raise ValueError(f"hessian_every must be >= 0 (0: never), got {self.hessian_every}")

    @property
    def betas(self) -> np.ndarray:
        """The ascending β grid."""
        n = int(round(self.beta_max / self.beta_step))
        if n < 3 or not np.isclose(n * self.beta_step, self.beta_max, rtol=1e-6):
            raise ValueError(f"beta_max {self.beta_max} must be a multiple (>= 3) of beta_step "
                             f"{self.beta_step}")
        return np.arange(n + 1) * self.beta_step


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
    E + (β/2)‖θ‖², test accuracy per class, the stationarity residual ``residual`` and
    ‖∇L_β‖ ``grad_reg`` on the full training set (:func:`l2lib.measure.observables.stationarity`;
    the authors' ≈ 6 Adam epochs per β do not reach a minimum, and this says how far); and,
    at every ``hessian_every``-th β for the first ``hessian_members`` members, the largest
    and smallest Hessian eigenvalue of the training cross-entropy (on its first ``hessian_n``
    images), the scalar curvature of its graph (stochastic, with standard error) and its
    ``spectrum_k`` eigenvalues of largest magnitude (:func:`l2lib.measure.spectrum.top_magnitude`).
    """
    x, y, xt, yt = data.x_train, data.y_train, data.x_test, data.y_test
    n_h = len(y) if settings.hessian_n is None else min(settings.hessian_n, len(y))

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
        } | measure.stationarity(model, x, y, "cross_entropy", lam)
        hess = np.full((k, 4), np.nan)
        top = np.full((k, max(settings.spectrum_k, 1)), np.nan)
        index = int(np.argmin(np.abs(betas - float(lam[0]))))
        if settings.hessian_every and index % settings.hessian_every == 0:
            for member in range(min(settings.hessian_members, k)):
                fn, theta = curvature.member_objective(model, member, x[:n_h], y[:n_h],
                                                       "cross_entropy")
                largest, bottom = curvature.extreme_eigenvalues(fn, theta, 1,
                                                            tol=settings.hessian_tol)
                est = curvature.scalar_curvature(fn, theta, "stochastic",
                                                 settings.hessian_probes, seed=index)
                hess[member] = largest[0], bottom[0], est.value, est.stderr
                if settings.spectrum_k:
                    top[member] = spectrum.top_magnitude(fn, theta, settings.spectrum_k,
                                                         tol=settings.hessian_tol)
        hess = torch.as_tensor(hess)
        out |= {"eig_max": hess[:, 0], "eig_min": hess[:, 1], "curvature": hess[:, 2],
                "curvature_err": hess[:, 3], "top_eigenvalues": torch.as_tensor(top)}
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
    observe = regime_observer(data, settings, betas)
    result = warm_sweep(model, data.x_train, data.y_train, betas,
                        config=early_stopping.loop_config(settings.train, settings.early_stopping),
                        observe=observe, direction=direction,
                        first_config=(early_stopping.loop_config(settings.first_train,
                                                                 settings.early_stopping)
                                      if direction == "up" else None),
                        store=store, keep_states=True, data_order=settings.data_order,
                        progress=progress if progress is not None else f"β sweep {direction}")
    return RegimeSweep(result, store, settings, data_key)


def sweeps(data: Dataset, settings: RegimeSettings, seeds: Sequence[int],
           store_root: str | Path | None, progress: bool | str | None = None
           ) -> tuple[RegimeSweep, RegimeSweep | None]:
    """The upward sweep and, if ``settings.sweep_down``, the downward one from its end
    (else None)."""
    up = standard_sweep(data, settings, seeds, store_root, progress=progress)
    if not settings.sweep_down:
        return up, None
    return up, standard_sweep(data, settings, seeds, store_root, direction="down", start=up,
                              progress=progress)
