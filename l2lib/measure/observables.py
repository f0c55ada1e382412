"""Observables of a trained ensemble, evaluated on full data sets without gradients.

Every function returns one value per member (leading axis K). Errors and the penalty follow the
convention of :mod:`l2lib.train.losses`. :func:`evaluate_points` measures them at every point of
a path of parameters (Pathfinder, linear, Bezier).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.func import functional_call

from l2lib.data import Dataset
from l2lib.models.flat import check_params, distance
from l2lib.models.mlp import EnsembleMLP
from l2lib.train.losses import member_error, penalty

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


def stationarity(
    model: EnsembleMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    loss: str,
    lam: torch.Tensor,
    ref: Sequence[torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """How far each member is from a stationary point of L_λ = E + (λ/2)‖θ − θ_ref‖².

    Returns per member (K,): ``grad_reg`` = ‖∇E + λ(θ − θ_ref)‖ (the gradient of L_λ, full data)
    and ``residual`` = that norm / ‖λ(θ − θ_ref)‖, the relative stationarity residual (0 at a
    stationary point; inf where λ(θ − θ_ref) = 0, e.g. at λ = 0: judge those by ``grad_reg``).
    """
    params = list(model.parameters())
    with torch.enable_grad():
        err = member_error(model(x), y, loss)
        grads = torch.autograd.grad(err.sum(), params)
    k = model.n_members
    lam = torch.as_tensor(lam, dtype=params[0].dtype, device=params[0].device).reshape(-1)
    lam = lam.expand(k) if lam.numel() == 1 else lam
    g2 = torch.zeros(k, dtype=params[0].dtype, device=params[0].device)
    p2 = torch.zeros_like(g2)
    refs = ref if ref is not None else [None] * len(params)
    for p, g, r in zip(params, grads, refs, strict=True):
        shape = (k,) + (1,) * (p.dim() - 1)
        pull = lam.view(shape) * (p.detach() if r is None else p.detach() - r)
        g2 += (g + pull).reshape(k, -1).pow(2).sum(dim=1)
        p2 += pull.reshape(k, -1).pow(2).sum(dim=1)
    grad_reg = g2.sqrt()
    residual = torch.where(p2 > 0, grad_reg / p2.sqrt(), torch.full_like(g2, float("inf")))
    return {"grad_reg": grad_reg.detach(), "residual": residual.detach()}


def converged(residual: np.ndarray, grad_reg: np.ndarray, rtol: float, atol: float
              ) -> np.ndarray:
    """Per point and member: True where the relative residual is at most ``rtol`` or the
    gradient of L_λ itself is at most ``atol`` (points at θ ≈ θ_ref, where the relative residual
    is 0/0). Both arrays come from :func:`stationarity`."""
    if not (rtol > 0 and atol >= 0):
        raise ValueError(f"need rtol > 0 and atol >= 0, got {rtol} and {atol}")
    return (np.asarray(residual) <= rtol) | (np.asarray(grad_reg) <= atol)


# --------------------------------------------------------------------------------------------
# Evaluation along any path


@torch.no_grad()
def outputs_at(model: torch.nn.Module, params: Mapping[str, Tensor], x: Tensor) -> Tensor:
    """The ensemble's outputs (K, N, d_out) with its parameters replaced by ``params``."""
    params = check_params(model, params)
    return torch.cat([functional_call(model, params, (x[i : i + CHUNK],))
                      for i in range(0, x.shape[0], CHUNK)], dim=1)


@torch.no_grad()
def evaluate_points(
    model: torch.nn.Module,
    points: Sequence[Mapping[str, Tensor]],
    data: Dataset,
    *,
    start: Mapping[str, Tensor] | None = None,
    end: Mapping[str, Tensor] | None = None,
    loss: str = "cross_entropy",
) -> dict[str, np.ndarray]:
    """Observables at every point of a path, each of shape (n_points, K, ...).

    ``train_loss`` and ``test_loss``: the unregularised error E (``loss``, see
    :func:`l2lib.train.losses.member_error`) on the training and the test split; ``train_acc``,
    ``test_acc``; ``class_acc`` (n, K, n_classes): test accuracy on each class; with ``start`` /
    ``end`` also ``dist_start`` / ``dist_end``. ``model`` only supplies the architecture.
    """
    if not points:
        raise ValueError("the path has no points")
    rows: dict[str, list[np.ndarray]] = {}
    onehot = torch.nn.functional.one_hot(data.y_test, data.n_classes).to(data.x_test.dtype)
    for point in points:
        point = check_params(model, point, "path point")
        out_train = outputs_at(model, point, data.x_train)
        out_test = outputs_at(model, point, data.x_test)
        correct = (out_test.argmax(dim=-1) == data.y_test).to(data.x_test.dtype)
        values = {
            "train_loss": member_error(out_train, data.y_train, loss),
            "test_loss": member_error(out_test, data.y_test, loss),
            "train_acc": (out_train.argmax(dim=-1) == data.y_train).to(out_train.dtype)
            .mean(dim=1),
            "test_acc": correct.mean(dim=1),
            "class_acc": (correct @ onehot) / onehot.sum(dim=0),
        }
        if start is not None:
            values["dist_start"] = distance(point, check_params(model, start, "start"))
        if end is not None:
            values["dist_end"] = distance(point, check_params(model, end, "end"))
        for name, v in values.items():
            rows.setdefault(name, []).append(v.detach().cpu().numpy())
    return {name: np.stack(v) for name, v in rows.items()}
