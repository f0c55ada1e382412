"""Chapter 4: posterior collapse of a β-VAE in steps, and the curvature of its error landscape.

A fully connected Gaussian-decoder VAE (:mod:`l2lib.vae`) is swept warm in the KL weight β, up
and then down. At every point (:func:`collapse_observer`, means over the samples, nats): the
ELBO terms, the KL per latent dimension, the unit activity and the number of active units, the
test accuracy of a linear probe on the latent means, the reconstruction error, and the scalar
curvature R (:mod:`l2lib.curvature`, Hutchinson) of two landscapes with the noise held fixed:

* ``curvature``: the reconstruction term E_rec(θ) = ⟨−log p(x|z)⟩ alone — the VAE's analogue of
  the error E of chapter 2, measured at the minimiser of E_rec + β·KL (as E is measured at the
  minimiser of E + (λ/2)‖θ‖²); there its gradient is −β∇KL, not zero.
* ``curvature_obj``: the trained objective E_rec + β·KL itself (for comparison).

The grid is scaled by the data: a *linear* VAE with decoder variance σ² loses latent unit i at
β_i = ν_i/σ², ν_i the i-th eigenvalue of the data covariance (its optimum is probabilistic PCA
with noise variance βσ²; tested in tests/test_vae.py); :func:`pca_thresholds` gives these β_i.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from l2lib.data import Dataset
from l2lib.measure import curvature
from l2lib.measure.vae import latent_means, member_objective, probe_accuracy, unit_activity
from l2lib.models.vae import EnsembleVAE, elbo_terms, fixed_noise
from l2lib.runtime import check_profile
from l2lib.store import open_store
from l2lib.train.loop import TrainConfig
from l2lib.train.losses import beta_objective
from l2lib.train.sweep import Observer, SweepResult, warm_sweep


@dataclass(frozen=True)
class CollapseSettings:
    """Everything chapter 4 varies between profiles. β_min, β_max are multiples of β_1 = ν_1/σ²
    (ν_1 the top eigenvalue of the training inputs' covariance)."""

    latent: int = 8
    hidden: tuple[int, ...] = (32,)
    activation: str = "tanh"
    likelihood: str = "gaussian"
    sigma: float = 1.0
    n_seeds: int = 2
    n_train: int | None = None  # a stratified subset of the training split (None: all)
    beta_min: float = 0.14
    beta_max: float = 1.6
    n_betas: int = 34
    lam: float = 0.0  # L2 strength λ, the second control (fixed along a β sweep)
    train: TrainConfig = TrainConfig(loss="mse", optimizer="adam", lr=2e-3, batch_size=128,
                                     max_epochs=200, patience=10, min_delta=1e-4)
    first_train: TrainConfig = TrainConfig(loss="mse", optimizer="adam", lr=2e-3,
                                           batch_size=128, max_epochs=400, patience=20,
                                           min_delta=1e-4)
    au_threshold: float = 0.01
    probe_c: float = 1.0
    curvature_samples: int = 32
    noise_seed: int = 2025


def collapse_settings(profile: str) -> CollapseSettings:
    """The settings of chapter 4 for ``profile`` (smoke, quick or paper)."""
    quick = CollapseSettings()
    if check_profile(profile) == "quick":
        return quick
    if profile == "smoke":
        return replace(quick, latent=4, hidden=(16,), n_seeds=1, n_train=600, n_betas=10,
                       curvature_samples=8, train=replace(quick.train, max_epochs=25),
                       first_train=replace(quick.first_train, max_epochs=60))
    return replace(quick, latent=16, hidden=(256,), n_seeds=3, n_betas=61, beta_min=0.05,
                   curvature_samples=64, train=replace(quick.train, lr=1e-3, max_epochs=100),
                   first_train=replace(quick.first_train, lr=1e-3, max_epochs=200))


def vae_inputs(data: Dataset, likelihood: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_train, x_test) for the decoder: as loaded for ``"gaussian"``; for ``"bernoulli"``
    mapped affinely onto [0, 1] by the training split's range (for digits: pixel/16)."""
    if likelihood != "bernoulli":
        return data.x_train, data.x_test
    lo, hi = data.x_train.min(), data.x_train.max()
    return (data.x_train - lo) / (hi - lo), ((data.x_test - lo) / (hi - lo)).clamp(0, 1)


def pca_thresholds(x: torch.Tensor, sigma: float, n: int) -> np.ndarray:
    """β_i = ν_i/σ² for the top ``n`` eigenvalues ν_i of the covariance of ``x`` (N, d),
    descending: where a linear β-VAE loses its i-th latent unit."""
    xc = x.detach().double().cpu()
    eig = torch.linalg.eigvalsh(torch.cov(xc.T, correction=0)).flip(0)
    return (eig[:n] / sigma**2).numpy()


def beta_grid(settings: CollapseSettings, x: torch.Tensor) -> np.ndarray:
    """Log-spaced β from beta_min·β_1 to beta_max·β_1, β_1 = ν_1/σ² of the inputs ``x``."""
    top = float(pca_thresholds(x, settings.sigma, 1)[0])
    return np.geomspace(settings.beta_min * top, settings.beta_max * top, settings.n_betas)


def vae_setup(
    data: Dataset, settings: CollapseSettings, seed: int = 0
) -> tuple[EnsembleVAE, dict[str, Any]]:
    """A fresh VAE ensemble for ``data`` and the store key describing model, data and seeds."""
    seeds = [seed + i for i in range(settings.n_seeds)]
    x = data.x_train
    model = EnsembleVAE(x.shape[1], settings.latent, settings.hidden, seeds=seeds,
                        activation=settings.activation, likelihood=settings.likelihood,
                        sigma=settings.sigma, dtype=x.dtype, device=x.device)
    key = {"model": "vae", "data": {"name": data.name, "n_train": data.n_train,
                                    "n_test": len(data.x_test)}, "seeds": seeds}
    return model, key


def collapse_observer(data: Dataset, settings: CollapseSettings) -> Observer:
    """Per member: ELBO terms, KL per unit, activity, active units, probe accuracy, errors, and
    the scalar curvature of E_rec and of E_rec + β·KL (common random numbers: one fixed noise
    draw per sample, the same at every β)."""
    x, x_test = vae_inputs(data, settings.likelihood)
    eps = fixed_noise(x.shape[0], settings.latent, settings.noise_seed, x)
    eps_test = fixed_noise(x_test.shape[0], settings.latent, settings.noise_seed + 1, x)

    def observe(model: EnsembleVAE, beta: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            terms, test = elbo_terms(model, x, eps), elbo_terms(model, x_test, eps_test)
        activity = unit_activity(terms.mu)
        rows = []
        for k in range(model.n_members):
            row = []
            for weight in (0.0, float(beta[k])):  # E_rec alone, then the β-objective
                fn, theta = member_objective(model, k, x, weight, eps)
                est = curvature.scalar_curvature(fn, theta, "stochastic",
                                                 settings.curvature_samples, settings.noise_seed)
                row += [est.value, est.stderr, est.grad_norm, est.tr_h]
            rows.append(row)
        curv = torch.as_tensor(np.asarray(rows, dtype=np.float64))
        return {
            "recon": terms.recon, "kl": terms.kl, "kl_dims": terms.kl_dims, "elbo": terms.elbo,
            "objective": terms.objective(beta), "test_elbo": test.elbo,
            "sq_error": terms.sq_error, "test_sq_error": test.sq_error,
            "activity": activity, "active_units": (activity > settings.au_threshold).sum(-1),
            "probe_acc": probe_accuracy(terms.mu, data.y_train, latent_means(model, x_test),
                                        data.y_test, settings.probe_c),
            "param_norm": model.flat_parameters().detach().norm(dim=1),
            "curvature": curv[:, 0], "curvature_err": curv[:, 1], "grad_norm": curv[:, 2],
            "tr_h": curv[:, 3], "curvature_obj": curv[:, 4], "curvature_obj_err": curv[:, 5],
            "grad_norm_obj": curv[:, 6],
        }

    return observe


@dataclass
class BetaHysteresis:
    """An upward and a downward warm β sweep, both on the ascending grid."""

    betas: np.ndarray
    up: SweepResult
    down: SweepResult


def collapse_hysteresis(
    data: Dataset, settings: CollapseSettings, seed: int = 0,
    store_root: str | Path | None = None,
) -> BetaHysteresis:
    """Sweep β up from a fresh VAE trained at the grid's first β, then down from where the
    upward sweep ended; every point is stored (resumable) under ``store_root``."""
    model, key = vae_setup(data, settings, seed)
    x, _ = vae_inputs(data, settings.likelihood)
    betas = beta_grid(settings, x)
    common = {"key": key, "betas": betas, "settings": settings}
    observe = collapse_observer(data, settings)
    no_targets = torch.zeros(x.shape[0], device=x.device)  # the VAE's error has no targets
    sweeps = {}
    for direction in ("up", "down"):
        store = open_store(store_root, f"vae-{data.name}-{direction}", common)
        sweeps[direction] = warm_sweep(
            model, x, no_targets, betas, config=settings.train, observe=observe,
            direction=direction, point_objective=beta_objective(settings.lam, model.seeds),
            first_config=settings.first_train if direction == "up" else None,
            store=store, progress=f"VAE β {'↑' if direction == 'up' else '↓'}")
    return BetaHysteresis(betas, sweeps["up"], sweeps["down"].ascending())
