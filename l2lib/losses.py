"""Per-member errors and the L2 penalty, with the library's one convention.

Convention used everywhere in l2lib: the regularised objective of member k is

    L_k(θ) = E_k(θ) + (λ_k / 2) ‖θ − θ_ref‖²,

with θ every parameter (weights and biases), θ_ref = 0 unless a reference is given. This equals
``torch.optim.Adam(weight_decay=λ)``, adds λ·I to the Hessian and λ(θ − θ_ref) to the gradient.
E is the mean cross-entropy (natural log) or the mean over samples of the squared error summed
over outputs, Σ_o (y_o − f_o)² (no factor ½).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

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
