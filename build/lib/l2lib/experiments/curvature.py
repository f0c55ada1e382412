"""Chapter 2: the curvature of the error landscape along warm sweeps, and its change points.

At each point of a warm sweep the regularised loss is minimised; there we measure the
*unregularised* error landscape E (not E + (λ/2)‖θ‖², whose Hessian is shifted by λ·I): its
scalar curvature R (the hypersurface formula of :mod:`l2lib.curvature`) and its extreme Hessian
eigenvalues. Change points of R(λ) are then set beside λ_c from the order parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from l2lib.analysis import transitions
from l2lib.data import Dataset
from l2lib.data.teacher import TeacherData
from l2lib.experiments import onset
from l2lib.experiments.onset import OnsetSettings
from l2lib.measure import curvature
from l2lib.models.mlp import EnsembleMLP
from l2lib.runtime import check_profile
from l2lib.store import open_store
from l2lib.train.loop import TrainConfig
from l2lib.train.sweep import Observer, SweepResult, warm_sweep

METHODS = ("dense", "stochastic")


@dataclass(frozen=True)
class CurvatureSettings:
    """How curvature is measured at each sweep point."""

    method: str = "dense"  # "dense" (exact, small models) or "stochastic" (Hutchinson)
    n_samples: int = 64  # Hutchinson probes for "stochastic"
    eig_tol: float = 1e-8  # Lanczos tolerance for the extreme eigenvalues
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")


def curvature_observer(
    x: torch.Tensor, y: torch.Tensor, loss: str, settings: CurvatureSettings,
    extra: Observer | None = None,
) -> Observer:
    """Per member: scalar curvature of E (with its standard error), the largest and the smallest
    Hessian eigenvalue of E, ‖∇E‖, plus whatever ``extra`` observes."""

    def observe(model: EnsembleMLP, lam: torch.Tensor) -> dict[str, torch.Tensor]:
        rows = []
        for k in range(model.n_members):
            fn, theta = curvature.member_objective(model, k, x, y, loss)
            if settings.method == "dense":  # small model: exact, the whole spectrum
                est, spectrum = curvature.dense_curvature(fn, theta)
                top, bottom = spectrum[-1:].cpu().numpy(), spectrum[:1].cpu().numpy()
            else:
                est = curvature.scalar_curvature(fn, theta, "stochastic", settings.n_samples,
                                                 settings.seed)
                top, bottom = curvature.extreme_eigenvalues(fn, theta, 1, tol=settings.eig_tol,
                                                            seed=settings.seed)
            rows.append([est.value, est.stderr, top[0], bottom[0], est.grad_norm])
        values = torch.as_tensor(np.asarray(rows, dtype=np.float64))
        out = {"curvature": values[:, 0], "curvature_err": values[:, 1],
               "eig_max": values[:, 2], "eig_min": values[:, 3], "grad_norm": values[:, 4]}
        if extra is not None:
            out |= dict(extra(model, lam))
        return out

    return observe


def curvature_sweep(
    model: EnsembleMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    lams: np.ndarray,
    *,
    config: TrainConfig,
    loss: str,
    settings: CurvatureSettings,
    extra: Observer | None = None,
    jitter: float = 0.0,
    store_root: str | Path | None = None,
    name: str = "curvature",
    key: Mapping[str, Any] | None = None,
) -> SweepResult:
    """A warm upward sweep measuring the curvature of E at every converged point (stored).

    ``key`` must describe the model, data and seeds (it keys the store with the rest).
    """
    store = open_store(store_root, name, {"key": dict(key or {}), "lams": lams, "config": config,
                                      "curvature": settings, "jitter": jitter})
    return warm_sweep(model, x, y, lams, config=config, jitter=jitter, store=store,
                      observe=curvature_observer(x, y, loss, settings, extra), progress=name)


@dataclass(frozen=True)
class ChangePointComparison:
    """Change points of the curvature against the transition located in the order parameter."""

    curvature_change: np.ndarray
    order_parameter_lam: float
    grid_step: float

    @property
    def offsets_in_steps(self) -> np.ndarray:
        """|curvature change point − λ from the order parameter| in grid steps."""
        return np.abs(self.curvature_change - self.order_parameter_lam) / self.grid_step

    def nearest(self, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each target λ: the nearest curvature change point and its distance in grid
        steps."""
        targets = np.asarray(targets, dtype=np.float64)
        gaps = np.abs(self.curvature_change[None, :] - targets[:, None])
        nearest = self.curvature_change[np.argmin(gaps, axis=1)]
        return nearest, gaps.min(axis=1) / self.grid_step


def compare_change_points(
    lams: np.ndarray, curvature_values: np.ndarray, order_parameter: np.ndarray,
    n_breaks: int = 1, kind: str = "meanvar",
) -> ChangePointComparison:
    """Change points of R(λ) (``n_breaks`` of them) and the onset located in φ(λ).

    For a second-order onset the order parameter's λ is its extrapolated zero; for a first-order
    one the midpoint of its jump — on the same sweep as the curvature.
    """
    changes = transitions.change_points(lams, curvature_values, kind=kind, n_breaks=n_breaks)
    onset = transitions.classify_transition(lams, order_parameter)
    return ChangePointComparison(changes, onset.lam_c, float(np.median(np.diff(lams))))


def chapter_settings(profile: str) -> dict[str, CurvatureSettings]:
    """Curvature measurement of chapter 2: exact for the deep linear nets, Hutchinson for MLPs."""
    n_samples = 8 if check_profile(profile) == "smoke" else 64
    return {"linear": CurvatureSettings(method="dense"),
            "mlp": CurvatureSettings(method="stochastic", n_samples=n_samples, eig_tol=1e-3)}


def linear_curvature_sweep(
    data: TeacherData, depth: int, lams: np.ndarray, settings: OnsetSettings,
    curvature_settings: Mapping[str, CurvatureSettings], seed: int = 0,
    store_root: str | Path | None = None,
) -> SweepResult:
    """Chapter 1's deep linear upward sweep, measuring the exact curvature at every point."""
    net, key = onset.linear_setup(data, depth, settings, seed)
    return curvature_sweep(net, data.x, data.y, lams, config=settings.linear_train, loss="mse",
                           settings=curvature_settings["linear"],
                           extra=onset.linear_observer(data), jitter=settings.jitter,
                           store_root=store_root, name=f"curvature-linear-D{depth}", key=key)


def mlp_curvature_sweep(
    data: Dataset, hidden_layers: int, settings: OnsetSettings,
    curvature_settings: Mapping[str, CurvatureSettings], seed: int = 0,
    store_root: str | Path | None = None,
) -> SweepResult:
    """Chapter 1's MLP upward sweep, measuring the (stochastic) curvature at every point."""
    net, key = onset.mlp_setup(data, hidden_layers, settings, seed)
    return curvature_sweep(net, data.x_train, data.y_train,
                           onset.mlp_grid(settings, hidden_layers), config=settings.mlp_train,
                           loss="cross_entropy", settings=curvature_settings["mlp"],
                           extra=onset.classification_observer(data), jitter=settings.mlp_jitter,
                           store_root=store_root, name=f"curvature-{data.name}-{hidden_layers}h",
                           key=key)
