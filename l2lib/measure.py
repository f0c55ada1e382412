"""Observables of a trained ensemble, evaluated on full data sets without gradients.

Every function returns one value per member (leading axis K). Errors and the penalty follow the
convention of :mod:`l2lib.losses`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .losses import member_error, penalty
from .models import EnsembleMLP

CHUNK = 8192


@torch.no_grad()
def outputs(model: EnsembleMLP, x: torch.Tensor) -> torch.Tensor:
    """Model outputs (K, N, d_out), computed in chunks of the samples."""
    return torch.cat([model(x[i : i + CHUNK]) for i in range(0, x.shape[0], CHUNK)], dim=1)


@torch.no_grad()
def error(model: EnsembleMLP, x: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """Mean error E_k over the whole data set, shape (K,)."""
    return member_error(outputs(model, x), y, loss)


@torch.no_grad()
def objective(
    model: EnsembleMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    loss: str,
    lam: torch.Tensor,
    ref: Sequence[torch.Tensor] | None = None,
) -> torch.Tensor:
    """Regularised objective E_k + (λ_k/2)‖θ_k − θ_ref‖², shape (K,)."""
    return error(model, x, y, loss) + penalty(list(model.parameters()), lam, ref)


@torch.no_grad()
def accuracy(model: EnsembleMLP, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction of correctly classified samples, shape (K,)."""
    return (outputs(model, x).argmax(dim=-1) == y).to(x.dtype).mean(dim=1)


@torch.no_grad()
def class_accuracy(
    model: EnsembleMLP, x: torch.Tensor, y: torch.Tensor, n_classes: int
) -> torch.Tensor:
    """Accuracy on the samples of each class (recall), shape (K, n_classes); NaN if absent."""
    correct = (outputs(model, x).argmax(dim=-1) == y).to(x.dtype)
    onehot = torch.nn.functional.one_hot(y, n_classes).to(x.dtype)
    return (correct @ onehot) / onehot.sum(dim=0)


@torch.no_grad()
def singular_values(model: EnsembleMLP) -> torch.Tensor:
    """Singular values of a deep linear net's end-to-end map, descending, shape (K, r)."""
    return torch.linalg.svdvals(model.end_to_end())
