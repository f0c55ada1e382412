"""Per-member errors and the L2 penalty, with the library's one convention.

Convention used everywhere in l2lib: the regularised objective of member k is

    L_k(θ) = E_k(θ) + (λ_k / 2) ‖θ − θ_ref‖²,

with θ every parameter (weights and biases), θ_ref = 0 unless a reference is given. This equals
``torch.optim.Adam(weight_decay=λ)``, adds λ·I to the Hessian and λ(θ − θ_ref) to the gradient.
E is the mean cross-entropy (natural log) or the mean over samples of the squared error summed
over outputs, Σ_o (y_o − f_o)² (no factor ½).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from l2lib.models.vae import EnsembleVAE, elbo_terms, member_noise
from l2lib.runtime import point_seeds

ErrorFn = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
"""``error_fn(model, xb, yb)`` → per-member error E_k on a batch, shape (K,). The batch is
(B, ...) when shared by all members or (K, B, ...) with one slice per member."""

LOSSES = ("cross_entropy", "mse")


def check_loss(name: str) -> str:
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {LOSSES}")
    return name


def member_error(outputs: torch.Tensor, targets: torch.Tensor, loss: str) -> torch.Tensor:
    """Mean error of each member, shape (K,), for outputs (K, B, d_out).

    ``targets`` are class indices (B,) or (K, B) for cross-entropy, and values (B, d_out) or
    (K, B, d_out) for mse.
    """
    check_loss(loss)
    k, b = outputs.shape[:2]
    if loss == "cross_entropy":
        targets = targets.expand(k, b) if targets.dim() == 1 else targets
        ce = F.cross_entropy(outputs.reshape(k * b, -1), targets.reshape(k * b), reduction="none")
        return ce.reshape(k, b).mean(dim=1)
    if targets.dim() == 1:
        if outputs.shape[-1] != 1:
            raise ValueError(f"mse targets of shape {tuple(targets.shape)} need one output, the "
                             f"model has {outputs.shape[-1]}; give targets of shape (B, d_out)")
        targets = targets[:, None]
    return (outputs - targets).pow(2).sum(dim=-1).mean(dim=-1)


def penalty(
    params: Sequence[torch.Tensor],
    lam: torch.Tensor,
    ref: Sequence[torch.Tensor] | None = None,
) -> torch.Tensor:
    """(λ_k / 2) ‖θ_k − θ_ref,k‖² for each member, shape (K,)."""
    return 0.5 * lam * squared_distance(params, ref)


def squared_distance(
    params: Sequence[torch.Tensor], ref: Sequence[torch.Tensor] | None = None
) -> torch.Tensor:
    """‖θ_k − θ_ref,k‖² for each member (θ_ref = 0 when ``ref`` is None), shape (K,)."""
    total = None
    for i, p in enumerate(params):
        diff = p if ref is None else p - ref[i]
        sq = diff.pow(2).reshape(p.shape[0], -1).sum(dim=1)
        total = sq if total is None else total + sq
    return total


def per_member(value, n_members: int, like: torch.Tensor, name: str = "lam") -> torch.Tensor:
    """``value`` (scalar or length-K sequence) as a (K,) tensor; must be finite and >= 0."""
    vec = torch.as_tensor(np.asarray(value, dtype=np.float64)).to(like.device, like.dtype)
    if vec.dim() == 0:
        vec = vec.expand(n_members).clone()
    if vec.shape != (n_members,):
        raise ValueError(f"{name} must be a scalar or have one entry per member ({n_members}), "
                         f"got shape {tuple(vec.shape)}")
    if not torch.isfinite(vec).all() or (vec < 0).any():
        raise ValueError(f"{name} must be finite and non-negative, got {vec.tolist()}")
    return vec


def negative_elbo_error(
    beta: float | Sequence[float] | torch.Tensor, noise_seeds: Sequence[int]
) -> ErrorFn:
    """``error_fn(model, xb, yb)`` for :func:`l2lib.train.loop.train`: the β-weighted negative ELBO
    of each member, shape (K,), with fresh noise per step from member k's ``noise_seeds[k]``
    (``yb`` is ignored). ``beta`` is a scalar or one value per member, >= 0."""
    if isinstance(beta, torch.Tensor):
        beta = beta.detach().cpu().numpy()
    beta = np.asarray(beta, dtype=np.float64)  # checked (finite, >= 0) at every call
    generators = [torch.Generator().manual_seed(int(s)) for s in noise_seeds]

    def error_fn(model: EnsembleVAE, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        if len(generators) != model.n_members:
            raise ValueError(f"need one noise seed per member ({model.n_members}), "
                             f"got {len(generators)}")
        eps = member_noise(generators, xb.shape[-2], model.latent, xb)
        terms = elbo_terms(model, xb, eps)
        return terms.objective(per_member(beta, model.n_members, terms.recon, "beta"))

    return error_fn


def beta_objective(lam: float, member_seeds: Sequence[int]) -> Callable[[torch.Tensor, int],
                                                                      tuple[Any, ErrorFn]]:
    """The ``point_objective`` of a β sweep of a VAE (:func:`l2lib.train.sweep.warm_sweep`):
    at grid point i with KL weight β the error is :func:`negative_elbo_error` with noise seeds
    derived from (member seed, i), and the L2 strength stays ``lam``."""
    seeds = [int(s) for s in member_seeds]

    def objective(beta: torch.Tensor, index: int) -> tuple[float, ErrorFn]:
        return lam, negative_elbo_error(beta, point_seeds(seeds, index, 13))

    return objective
