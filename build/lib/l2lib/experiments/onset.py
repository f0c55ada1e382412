"""Chapter 1, onset of learning: warm sweeps up and down in λ for deep linear nets and MLPs.

Each experiment is a pair of warm sweeps over the same ascending grid: upwards from a trained
start, then downwards from where the upward sweep ended. Results are stored (resumable) when a
store folder is given. Penalty convention: (λ/2)‖θ‖² (see :mod:`l2lib.losses`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from l2lib.analysis import theory, transitions
from l2lib.data import Dataset
from l2lib.data.teacher import TeacherData, teacher_data
from l2lib.measure import observables as measure
from l2lib.models.mlp import EnsembleMLP, deep_linear, mlp
from l2lib.runtime import check_profile
from l2lib.store import open_store
from l2lib.train.loop import TrainConfig
from l2lib.train.sweep import Observer, SweepResult, warm_sweep


@dataclass(frozen=True)
class OnsetSettings:
    """Everything chapter 1 varies between profiles."""

    n_samples: int = 256
    input_dim: int = 8
    width: int = 8
    noise: float = 0.2
    depths: tuple[int, ...] = (1, 2, 3)
    n_lams: int = 40
    lam_span: float = 1.3  # each depth's grid reaches lam_span × its spinodal λ_s
    n_seeds: int = 2
    linear_train: TrainConfig = TrainConfig(
        loss="mse", optimizer="sgd", lr=0.05, batch_size=None, max_epochs=5000, patience=10,
        min_delta=1e-7,
    )
    jitter: float = 0.01
    modes: tuple[float, ...] = (1.5, 1.0, 0.5)
    mode_depths: tuple[int, ...] = (1, 2)
    mlp_hidden: int = 32
    mlp_activation: str = "tanh"
    mlp_lam_max: dict[int, float] = field(default_factory=lambda: {1: 1.5, 2: 0.4})
    mlp_n_lams: int = 30
    mlp_train: TrainConfig = TrainConfig(
        loss="cross_entropy", optimizer="sgd", lr=0.5, batch_size=None, max_epochs=3000,
        patience=5, min_delta=1e-4,
    )
    mlp_jitter: float = 0.05


def onset_settings(profile: str) -> OnsetSettings:
    """The settings of chapter 1 for ``profile`` (smoke, quick or paper)."""
    quick = OnsetSettings()
    if check_profile(profile) == "quick":
        return quick
    if profile == "smoke":
        return replace(
            quick, n_samples=128, input_dim=6, width=6, depths=(1, 2), n_lams=24, n_seeds=1,
            mode_depths=(1,), mlp_hidden=16, mlp_n_lams=12,
            mlp_train=replace(quick.mlp_train, max_epochs=400),
        )
    return replace(
        quick, n_samples=2048, input_dim=32, width=32, n_lams=81, n_seeds=4, mlp_hidden=128,
        mlp_n_lams=60,
        linear_train=replace(quick.linear_train, max_epochs=20000),
        mlp_train=replace(quick.mlp_train, max_epochs=10000, min_delta=1e-5),
    )


@dataclass
class Hysteresis:
    """An upward and a downward warm sweep, both reported on the ascending grid."""

    lams: np.ndarray
    up: SweepResult
    down: SweepResult


def hysteresis_sweeps(
    model: EnsembleMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    lams: np.ndarray,
    *,
    config: TrainConfig,
    observe: Observer,
    jitter: float,
    store_root: str | Path | None = None,
    name: str = "sweep",
    key: Mapping[str, Any] | None = None,
) -> Hysteresis:
    """Sweep up over ``lams`` from ``model``'s weights, then down from where it ended.

    ``key`` must describe everything that determines the result besides ``lams``, ``config`` and
    ``jitter`` (model, data, seeds); it keys the store.
    """
    common = {"key": dict(key or {}), "lams": lams, "config": config, "jitter": jitter}
    up = warm_sweep(model, x, y, lams, config=config, observe=observe, direction="up",
                    jitter=jitter, store=open_store(store_root, f"{name}-up", common),
                    progress=f"{name} ↑")
    down = warm_sweep(model, x, y, lams, config=config, observe=observe, direction="down",
                      jitter=jitter, store=open_store(store_root, f"{name}-down", common),
                      progress=f"{name} ↓")
    return Hysteresis(up.lams, up, down.ascending())


def make_teacher(settings: OnsetSettings, modes: tuple[float, ...], seed: int,
                 device: torch.device | str = "cpu") -> TeacherData:
    """Whitened teacher data of chapter 1 (inputs with covariance exactly I)."""
    return teacher_data(settings.n_samples, settings.input_dim, modes, noise=settings.noise,
                        seed=seed, device=device)


def linear_observer(data: TeacherData) -> Observer:
    """Singular values of the end-to-end map, training error and regularised objective."""

    def observe(model: EnsembleMLP, lam: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            "modes": measure.singular_values(model),
            "error": measure.error(model, data.x, data.y, "mse"),
            "objective": measure.objective(model, data.x, data.y, "mse", lam),
        }

    return observe


def linear_setup(data: TeacherData, depth: int, settings: OnsetSettings,
                 seed: int = 0) -> tuple[EnsembleMLP, dict[str, Any]]:
    """A fresh deep linear ensemble for ``data`` and the store key describing it."""
    seeds = [seed + i for i in range(settings.n_seeds)]
    net = deep_linear(data.x.shape[1], settings.width, depth, data.y.shape[1], seeds=seeds,
                      device=data.x.device)
    key = {"model": "deep_linear", "depth": depth, "width": settings.width, "seeds": seeds,
           "data": {"n": settings.n_samples, "d": settings.input_dim, "modes": data.modes,
                    "noise": settings.noise, "seed": seed}}
    return net, key


def deep_linear_hysteresis(
    data: TeacherData,
    depth: int,
    lams: np.ndarray,
    settings: OnsetSettings,
    seed: int = 0,
    store_root: str | Path | None = None,
) -> Hysteresis:
    """Hysteresis sweeps of deep linear nets with ``depth`` hidden layers on ``data``.

    The upward sweep starts from a fresh initialisation trained at λ = lams[0].
    """
    net, key = linear_setup(data, depth, settings, seed)
    return hysteresis_sweeps(net, data.x, data.y, lams, config=settings.linear_train,
                             observe=linear_observer(data), jitter=settings.jitter,
                             store_root=store_root, name=f"linear-D{depth}", key=key)


def linear_grid(settings: OnsetSettings, m: float, depth: int) -> np.ndarray:
    """Grid from 0 to lam_span × the spinodal λ_s of a depth-D net on data of scale m."""
    return np.linspace(0.0, settings.lam_span * theory.spinodal_lambda(m, 1.0, depth),
                       settings.n_lams)


@dataclass(frozen=True)
class LinearAnalysis:
    """Measured against theory for one depth: classification, λ_c, hysteresis."""

    depth: int
    order: str
    expected_order: str
    lam_c: float
    lam_c_theory: float
    lam_c_method: str
    lam_jump: float
    lam_spinodal_theory: float
    hysteresis_width: float

    @property
    def rel_error(self) -> float:
        return abs(self.lam_c - self.lam_c_theory) / self.lam_c_theory


def analyse_linear(result: Hysteresis, data: TeacherData, depth: int) -> LinearAnalysis:
    """Classify the transition of the top mode and measure λ_c.

    λ_c comes from the order parameter's linear extrapolation for a second-order transition and
    from the crossing of the two branches' regularised losses for a first-order one.
    """
    r_up = result.up.mean("modes")[:, 0]
    r_down = result.down.mean("modes")[:, 0]
    found = transitions.classify_transition(result.lams, r_up)
    lam_c, method = found.lam_c, found.method
    if found.order == "unresolved":
        raise ValueError(f"cannot classify the transition of D = {depth}: {found.method}")
    if found.order == "first":
        lam_c = transitions.branch_crossing(result.lams, result.up.mean("objective"),
                                            result.down.mean("objective"))
        method = "crossing of the branches' losses"
    return LinearAnalysis(
        depth=depth,
        order=found.order,
        expected_order="second" if depth == 1 else "first",
        lam_c=lam_c,
        lam_c_theory=theory.critical_lambda(data.m, data.a, depth),
        lam_c_method=method,
        lam_jump=found.lam_c,
        lam_spinodal_theory=theory.spinodal_lambda(data.m, data.a, depth),
        hysteresis_width=transitions.hysteresis_width(result.lams, r_up, r_down),
    )


def classification_observer(data: Dataset) -> Observer:
    """Weight norm, train/test accuracy, training error and objective of a classifier."""

    def observe(model: EnsembleMLP, lam: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            "norm": model.parameter_norm(),
            "train_acc": measure.accuracy(model, data.x_train, data.y_train),
            "test_acc": measure.accuracy(model, data.x_test, data.y_test),
            "error": measure.error(model, data.x_train, data.y_train, "cross_entropy"),
            "objective": measure.objective(model, data.x_train, data.y_train, "cross_entropy",
                                           lam),
        }

    return observe


def mlp_grid(settings: OnsetSettings, hidden_layers: int) -> np.ndarray:
    """Grid (λ_max/n, …, λ_max) for an MLP with that many hidden layers."""
    top = settings.mlp_lam_max[hidden_layers]
    return np.linspace(top / settings.mlp_n_lams, top, settings.mlp_n_lams)


def mlp_setup(data: Dataset, hidden_layers: int, settings: OnsetSettings,
              seed: int = 0) -> tuple[EnsembleMLP, dict[str, Any]]:
    """A fresh MLP ensemble with ``hidden_layers`` layers for ``data`` and its store key."""
    if hidden_layers not in settings.mlp_lam_max:
        raise ValueError(f"no λ range configured for {hidden_layers} hidden layers; "
                         f"configured: {sorted(settings.mlp_lam_max)}")
    seeds = [seed + i for i in range(settings.n_seeds)]
    hidden = [settings.mlp_hidden] * hidden_layers
    net = mlp(data.input_dim, hidden, data.n_classes, seeds=seeds,
              activation=settings.mlp_activation, dtype=data.x_train.dtype,
              device=data.x_train.device)
    key = {"model": "mlp", "hidden": hidden, "activation": settings.mlp_activation,
           "seeds": seeds, "data": {"name": data.name, "n_train": data.n_train}}
    return net, key


def mlp_hysteresis(
    data: Dataset,
    hidden_layers: int,
    settings: OnsetSettings,
    seed: int = 0,
    store_root: str | Path | None = None,
) -> Hysteresis:
    """Hysteresis sweeps of MLPs with ``hidden_layers`` layers of ``settings.mlp_hidden`` units."""
    net, key = mlp_setup(data, hidden_layers, settings, seed)
    return hysteresis_sweeps(net, data.x_train, data.y_train, mlp_grid(settings, hidden_layers),
                             config=settings.mlp_train, observe=classification_observer(data),
                             jitter=settings.mlp_jitter, store_root=store_root,
                             name=f"{data.name}-mlp-{hidden_layers}h", key=key)


@dataclass(frozen=True)
class MlpAnalysis:
    """Classification of an MLP's onset of learning from its weight norm."""

    hidden_layers: int
    order: str
    lam_estimate: float
    method: str
    jump_fraction: float
    hysteresis_width: float


def analyse_mlp(result: Hysteresis, hidden_layers: int) -> MlpAnalysis:
    """Classify the transition of the mean weight norm along the upward sweep.

    ``lam_estimate``: the extrapolated zero of the norm (second order) or the jump of the upward
    sweep (first order; an upper bound on λ_c, see :mod:`l2lib.transitions`).
    """
    norm_up, norm_down = result.up.mean("norm"), result.down.mean("norm")
    found = transitions.classify_transition(result.lams, norm_up)
    return MlpAnalysis(
        hidden_layers=hidden_layers,
        order=found.order,
        lam_estimate=found.lam_c,
        method=found.method,
        jump_fraction=found.jump_fraction,
        hysteresis_width=transitions.hysteresis_width(result.lams, norm_up, norm_down),
    )


def count_mode_switches(result: SweepResult, threshold: float = 1e-3) -> int:
    """How often the number of learned modes (singular values > ``threshold``, seed-averaged)
    changes along a sweep: the number of steps of the staircase."""
    active = (result.mean("modes") > threshold).sum(axis=1)
    return int(np.count_nonzero(np.diff(active)))
