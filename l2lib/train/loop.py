"""One training loop for every finding: K ensemble members at once, data kept on the device.

The objective and the penalty convention are those of :mod:`l2lib.train.losses`:
``L_k = E_k + (λ_k/2)‖θ_k − θ_ref,k‖²``. Members are independent: the summed objective gives
each member exactly its own gradient, Adam and SGD act element-wise, and every member has its own
data order and its own early stopping, so training K members together equals K separate runs
with the same seeds (tested).

Early stopping follows the papers: after every epoch the monitored quantity (the epoch-mean of the
minibatch training error, or of the regularised objective when ``monitor="objective"``, each
evaluated at the weights the step starts from) is compared with the member's best; after
``patience`` epochs without improvement the member stops and its weights from its best epoch are
restored (the authors' scripts meant to do this but kept the last epoch). With
full-batch steps the restored weights are exactly those whose loss was monitored; with minibatches
they are the weights at the end of the best epoch.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from l2lib.models.mlp import EnsembleMLP
from l2lib.train.losses import ErrorFn, check_loss, member_error, penalty, per_member

OPTIMIZERS = ("adam", "sgd")
DIVERGENCE_FACTOR = 1e6
"""A member diverges when an epoch's monitored loss is not finite or exceeds this factor times
max(1, the monitored loss of its first step)."""
MONITORS = ("objective", "error")


@dataclass(frozen=True)
class TrainConfig:
    """How to minimise at one value of λ.

    ``batch_size=None`` means full-batch steps (one step per epoch). ``min_delta`` is the relative
    decrease of the monitored loss that counts as an improvement for early stopping.
    """

    loss: str = "cross_entropy"
    optimizer: str = "adam"
    lr: float = 1.5e-3
    batch_size: int | None = 64
    max_epochs: int = 50
    patience: int = 5
    min_delta: float = 0.0
    monitor: str = "objective"

    def __post_init__(self) -> None:
        for name, kind, example in (("loss", "string", '"cross_entropy"'),
                                    ("optimizer", "string", '"adam"'), ("lr", "number", "0.5"),
                                    ("max_epochs", "integer", "50"), ("patience", "integer", "5"),
                                    ("min_delta", "number", "0.0"),
                                    ("monitor", "string", '"objective"')):
            _check_type(name, getattr(self, name), kind, example)
        if self.batch_size is not None:
            _check_type("batch_size", self.batch_size, "integer", "64 (or None: full batch)")
        check_loss(self.loss)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {OPTIMIZERS}")
        if self.monitor not in MONITORS:
            raise ValueError(f"unknown monitor {self.monitor!r}; choose one of {MONITORS}")
        if not 0 < self.lr < float("inf"):
            raise ValueError(f"lr must be positive and finite, got {self.lr}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 or None (full batch), got {self.batch_size}")
        if self.max_epochs < 1 or self.patience < 1:
            raise ValueError("max_epochs and patience must be >= 1")
        if self.min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {self.min_delta}")


def _check_type(name: str, value: object, kind: str, example: str) -> None:
    """``kind``: "number", "integer" or "string"."""
    types = {"number": numbers.Real, "integer": numbers.Integral, "string": str}[kind]
    if isinstance(value, bool) or not isinstance(value, types):
        raise ValueError(f"training setting {name} must be a{'n' if kind == 'integer' else ''} "
                         f"{kind}, got {value!r} ({type(value).__name__}); write e.g. "
                         f"{name} = {example}")


class DivergenceError(RuntimeError):
    """Training produced a non-finite objective (the message names member, seed, λ, epoch)."""


@dataclass
class TrainResult:
    """Per member: epochs run, the epoch whose weights were kept, its monitored loss."""

    epochs: np.ndarray
    best_epoch: np.ndarray
    best_loss: np.ndarray
    stopped_early: np.ndarray


def _check_data(model: EnsembleMLP, x: torch.Tensor, y: torch.Tensor, custom: bool) -> None:
    if not custom and (x.dim() != 2 or x.shape[1] != model.sizes[0]):
        raise ValueError(f"x must have shape (N, {model.sizes[0]}), got {tuple(x.shape)}")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"x and y disagree on the number of samples: {x.shape[0]} vs {y.shape[0]}")
    for name, t in (("inputs x", x), ("targets y", y)):
        if t.is_floating_point() or t.is_complex():
            bad = int((~torch.isfinite(t)).sum())
            if bad:
                raise ValueError(f"the training {name} contain {bad} NaN or infinite value(s); "
                                 "clean or impute the data before training")


def _make_optimizer(params: list[torch.Tensor], config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr)
    return torch.optim.Adam(params, lr=config.lr, fused=True)  # fused: CPU and CUDA


def train(
    model: EnsembleMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    lam: float | Sequence[float] | torch.Tensor,
    config: TrainConfig,
    ref: Sequence[torch.Tensor] | None = None,
    shuffle_seeds: Sequence[int] | None = None,
    error_fn: ErrorFn | None = None,
    where: str = "",
) -> TrainResult:
    """Minimise each member's regularised objective from its current weights (in place).

    ``lam`` is λ (scalar or one per member); ``ref`` the penalty's centre θ_ref (a list shaped like
    ``model.parameters()``, or None for 0). ``shuffle_seeds`` fixes each member's data order
    (default: the member seeds). A fresh optimiser is made on every call (warm start of weights
    only, as in the papers).

    ``model`` is an :class:`EnsembleMLP` or any module with the same ensemble interface
    (``n_members``, ``seeds``, parameters with the member axis first). ``error_fn`` replaces the
    default error ``member_error(model(xb), yb, config.loss)``, e.g. a VAE's negative ELBO.

    Non-finite data raise a ValueError at entry. A member whose monitored loss is not finite in
    some epoch (divergence, e.g. a too large ``lr``) raises :class:`DivergenceError` naming the
    member, its seed, λ, the epoch and ``where`` (e.g. the sweep point): a diverged member is
    never returned as if it had converged.
    """
    _check_data(model, x, y, custom=error_fn is not None)
    if error_fn is None:
        def error_fn(m: torch.nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
            return member_error(m(xb), yb, config.loss)
    params = list(model.parameters())
    k = model.n_members
    lam_vec = per_member(lam, k, params[0])
    if ref is not None:
        ref = [r.detach() for r in ref]
        if [r.shape for r in ref] != [p.shape for p in params]:
            raise ValueError("ref must match the shapes of model.parameters()")
    seeds = list(model.seeds) if shuffle_seeds is None else [int(s) for s in shuffle_seeds]
    if len(seeds) != k:
        raise ValueError(f"need one shuffle seed per member ({k}), got {len(seeds)}")

    n = x.shape[0]
    full_batch = config.batch_size is None or config.batch_size >= n
    batch = n if full_batch else config.batch_size
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    optimizer = _make_optimizer(params, config)
    lam_shape = [(k,) + (1,) * (p.dim() - 1) for p in params]

    best = [p.detach().clone() for p in params]
    best_loss = np.full(k, np.inf)
    best_epoch = np.zeros(k, dtype=int)
    stale = np.zeros(k, dtype=int)
    active = np.ones(k, dtype=bool)
    epochs = np.zeros(k, dtype=int)
    first_loss: np.ndarray | None = None

    for epoch in range(1, config.max_epochs + 1):
        if not full_batch:
            order = torch.stack([torch.randperm(n, generator=g) for g in generators])
            order = order.to(x.device)
        epoch_sum = torch.zeros(k, dtype=params[0].dtype, device=x.device)
        for start in range(0, n, batch):
            if full_batch:
                xb, yb = x, y
            else:
                idx = order[:, start : start + batch]
                xb, yb = x[idx], y[idx]
            if full_batch:  # the monitored loss is that of the weights before the step
                before = [p.detach().clone() for p in params]
            error = error_fn(model, xb, yb)
            optimizer.zero_grad(set_to_none=True)
            error.sum().backward()
            with torch.no_grad():
                if config.monitor == "objective":  # the penalty at the same θ as the error
                    error = error + penalty(params, lam_vec, ref)
                for p, shape, r in zip(params, lam_shape, ref or [None] * len(params), strict=True):
                    p.grad.add_(lam_vec.view(shape) * (p if r is None else p - r))
            optimizer.step()
            if first_loss is None:  # the monitored loss of the first step: where training began
                first_loss = error.detach().cpu().numpy().astype(np.float64)
                first_loss = np.where(np.isfinite(first_loss), np.abs(first_loss), 0.0)
            epoch_sum += error.detach() * xb.shape[-2]
        monitored = (epoch_sum / n).cpu().numpy().astype(np.float64)

        diverged = active & ~(monitored <= DIVERGENCE_FACTOR * np.maximum(first_loss, 1.0))
        if diverged.any():
            _diverged(model, diverged, monitored, first_loss, lam_vec, epoch, config, where)
        epochs[active] = epoch
        threshold = np.where(np.isfinite(best_loss), best_loss * (1 - config.min_delta), np.inf)
        improved = active & (monitored < threshold)
        if improved.any():
            mask = torch.as_tensor(improved, device=x.device)
            with torch.no_grad():
                for p, b, shape in zip(before if full_batch else params, best, lam_shape,
                                       strict=True):
                    b.copy_(torch.where(mask.view(shape), p, b))
            best_loss[improved] = monitored[improved]
            best_epoch[improved] = epoch
        stale[improved] = 0
        stale[active & ~improved] += 1
        active &= stale < config.patience
        if not active.any():
            break

    with torch.no_grad():
        for p, b in zip(params, best, strict=True):
            p.copy_(b)
    return TrainResult(
        epochs=epochs, best_epoch=best_epoch, best_loss=best_loss, stopped_early=~active
    )


def _diverged(model: torch.nn.Module, diverged: np.ndarray, monitored: np.ndarray,
              first_loss: np.ndarray, lam: torch.Tensor, epoch: int, config: TrainConfig,
              where: str) -> None:
    members = np.flatnonzero(diverged)
    seeds = list(getattr(model, "seeds", [None] * len(diverged)))
    lams = lam.detach().cpu().numpy()
    first = members[0]
    raise DivergenceError(
        f"training diverged{' at ' + where if where else ''}: member {first} (seed "
        f"{seeds[first]}, λ = {lams[first]:g}) has {config.monitor} {monitored[first]:.3g} in "
        f"epoch {epoch} (first step: {first_loss[first]:.3g})"
        + (f", and {len(members) - 1} more member(s)" if len(members) > 1 else "")
        + f"; lower the learning rate (lr = {config.lr:g}) or check the data and λ"
    )
