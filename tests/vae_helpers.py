"""Small shared helpers of the VAE test modules (tiny models, data with a known covariance)."""

import torch

from l2lib.models.vae import EnsembleVAE
from l2lib.train.loop import TrainConfig, train
from l2lib.train.losses import beta_objective, negative_elbo_error
from l2lib.train.sweep import warm_sweep

F64 = torch.float64


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def tiny_vae(seeds=(0, 1), likelihood="gaussian", sigma=0.8, hidden=(3,), d=4, latent=2):
    return EnsembleVAE(d, latent, hidden, seeds=list(seeds), likelihood=likelihood, sigma=sigma,
                       dtype=F64)


def gaussian_data(eigenvalues, n=1000, seed=0):
    """n samples whose sample covariance has exactly the given eigenvalues (random basis)."""
    lam = torch.as_tensor(eigenvalues, dtype=F64)
    d = lam.numel()
    q = torch.linalg.qr(randn(d, d, seed=seed + 1)).Q
    z = randn(n, d, seed=seed)
    z = z - z.mean(0)
    z = z @ torch.linalg.inv(torch.linalg.cholesky(z.T @ z / n)).T
    return (z * lam.sqrt()) @ q.T


def train_in_two_stages(model, x, beta, epochs=(400, 200)):
    for stage, (lr, n) in enumerate(zip((0.03, 0.003), epochs, strict=True)):
        config = TrainConfig(loss="mse", lr=lr, batch_size=None, max_epochs=n, patience=n)
        seeds = [100 * stage + k for k in range(model.n_members)]
        train(model, x, x, lam=0.0, config=config, error_fn=negative_elbo_error(beta, seeds))


def beta_sweep(model, x, betas, *, lam=0.0, **kwargs):
    """A warm β sweep of a VAE: warm_sweep with the β point objective (as chapter 4 runs it)."""
    return warm_sweep(model, x, torch.zeros(x.shape[0]), betas,
                      point_objective=beta_objective(lam, model.seeds), **kwargs)


