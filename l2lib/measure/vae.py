"""Observables of a trained VAE ensemble: active units, a linear probe, the error landscape.

* Active units (Burda, Grosse & Salakhutdinov 2016): latent dimension i of member k is active
  when A_i = Cov_x(E_q[z_i | x]) = Var_x(μ_i(x)) exceeds ``threshold`` (0.01 by default); the
  variance is over the samples given, in units of the prior's variance (1).
* Linear probe: scikit-learn's multinomial logistic regression fitted on latent codes of one
  split and scored on another: either the means μ(x) or the samples z = μ + σ ε the decoder is
  fed (:func:`latent_samples`). Codes are *not* rescaled: the probe reads them in units of the
  prior's standard deviation. A collapsed unit's mean keeps a faint (Var ≪ 0.01) trace of the
  input that a probe on μ can exploit; its sample z is prior noise, which the decoder sees.
* Error landscape: :func:`member_objective` gives, for one member, a pure function of its flat
  parameter vector θ — the β-weighted negative ELBO of :mod:`l2lib.models.vae` on the full data
  with the
  reparameterisation noise held fixed (common random numbers), optionally plus (λ/2)‖θ‖² — for
  the curvature toolkit :mod:`l2lib.measure.curvature`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from torch import Tensor

from l2lib.models.vae import EnsembleVAE, kl_per_dim, reconstruction_nll


@torch.no_grad()
def latent_means(model: EnsembleVAE, x: Tensor) -> Tensor:
    """Encoder means μ(x), shape (K, N, L)."""
    return model.encode(x)[0]


@torch.no_grad()
def latent_samples(model: EnsembleVAE, x: Tensor, eps: Tensor) -> Tensor:
    """The codes the decoder sees, z = μ(x) + exp(logvar(x)/2) ε, shape (K, N, L), for the
    noise ``eps`` (N, L) or (K, N, L)."""
    mu, logvar = model.encode(x)
    if eps.shape[-2:] != mu.shape[-2:]:
        raise ValueError(f"eps must end in shape {tuple(mu.shape[-2:])}, got {tuple(eps.shape)}")
    return mu + torch.exp(0.5 * logvar) * eps


def unit_activity(mu: Tensor) -> Tensor:
    """A_i = Var_x(μ_i(x)) per member and latent dimension, (K, L), for means (K, N, L)."""
    if mu.dim() != 3 or mu.shape[1] < 2:
        raise ValueError(f"mu must have shape (K, N, L) with N >= 2 samples, got {tuple(mu.shape)}")
    return mu.var(dim=1, correction=1)


def active_units(mu: Tensor, threshold: float = 0.01) -> Tensor:
    """Number of active units per member, (K,): dimensions with Var_x(μ_i) > ``threshold``."""
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold}")
    return (unit_activity(mu) > threshold).sum(dim=-1)


def probe_accuracy(
    z_train: Tensor, y_train: Tensor, z_test: Tensor, y_test: Tensor, c: float = 1.0,
    max_iter: int = 2000,
) -> Tensor:
    """Test accuracy of a logistic-regression probe per member, (K,).

    ``z_*`` are latent codes (K, N, L), means or samples; ``c`` is scikit-learn's inverse L2
    strength C. A probe on features that carry no information predicts the majority class.
    """
    if z_train.dim() != 3 or z_test.dim() != 3 or z_train.shape[0] != z_test.shape[0]:
        raise ValueError("z_train and z_test must be (K, N, L) with the same K")
    ytr, yte = y_train.detach().cpu().numpy(), y_test.detach().cpu().numpy()
    scores = []
    for k in range(z_train.shape[0]):
        probe = LogisticRegression(C=c, max_iter=max_iter)
        probe.fit(z_train[k].detach().cpu().double().numpy(), ytr)
        scores.append(probe.score(z_test[k].detach().cpu().double().numpy(), yte))
    return torch.as_tensor(np.asarray(scores, dtype=np.float64))


def member_objective(
    model: EnsembleVAE,
    member: int,
    x: Tensor,
    beta: float,
    eps: Tensor,
    lam: float = 0.0,
    dtype: torch.dtype | None = None,
) -> tuple[Callable[[Tensor], Tensor], Tensor]:
    """(fn, theta) for member ``member``: fn(θ) = ⟨−log p(x|z)⟩ + β⟨KL⟩ (+ (λ/2)‖θ‖² if
    ``lam`` > 0) over the full data ``x`` (N, d), z = μ + σ ε with the fixed noise ``eps``
    (N, L). θ is the member's flat parameter vector in the order of
    ``model.flat_parameters()[member]``; ``fn`` is pure (``torch.func.functional_call`` on a
    K = 1 copy of the member), so it works with every function of :mod:`l2lib.measure.curvature`.
    """
    if isinstance(member, bool) or not isinstance(member, (int, np.integer)):
        raise ValueError(f"member must be an integer index, got {member!r}")
    if not 0 <= member < model.n_members:
        raise ValueError(f"member {member} out of range for an ensemble of {model.n_members}")
    if not (math.isfinite(beta) and beta >= 0) or not (math.isfinite(lam) and lam >= 0):
        raise ValueError(f"beta and lam must be finite and >= 0, got {beta} and {lam}")
    if x.dim() != 2 or x.shape[1] != model.sizes[0]:
        raise ValueError(f"x must have shape (N, {model.sizes[0]}), got {tuple(x.shape)}")
    if eps.shape != (x.shape[0], model.latent):
        raise ValueError(f"eps must have shape ({x.shape[0]}, {model.latent}), "
                         f"got {tuple(eps.shape)}")
    named = [(name, p[int(member)].detach()) for name, p in model.named_parameters()]
    theta = torch.cat([p.reshape(-1) for _, p in named]).clone()
    if dtype is not None:
        theta = theta.to(dtype)
    x = x.detach().to(theta)
    eps = eps.detach().to(theta)
    shapes = [(1, *p.shape) for _, p in named]
    sizes = [math.prod(s) for s in shapes]
    names = [name for name, _ in named]
    single = model.member(int(member))
    beta, lam = float(beta), float(lam)

    def fn(th: Tensor) -> Tensor:
        if th.shape != theta.shape:
            raise ValueError(f"theta must have shape {tuple(theta.shape)}, got {tuple(th.shape)}")
        params = {n: p.reshape(s) for n, p, s in zip(names, torch.split(th, sizes), shapes,
                                                    strict=True)}
        mu, logvar, out = torch.func.functional_call(single, params, (x, eps))
        value = (reconstruction_nll(single, out, x).mean()
                 + beta * kl_per_dim(mu, logvar).sum(dim=-1).mean())
        if lam > 0:
            value = value + 0.5 * lam * torch.dot(th, th)
        return value

    return fn, theta
