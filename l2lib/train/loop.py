"""One training loop for every finding: K ensemble members at once, data kept on the device.

The objective and the penalty convention are those of :mod:`l2lib.train.losses`:
``L_k = E_k + (λ_k/2)‖θ_k − θ_ref,k‖²``. Members are independent: the summed objective gives
each member exactly its own gradient, Adam and SGD act element-wise, and every member has its own
data order and its own early stopping, so training K members together equals K separate runs
with the same seeds (tested).

Early stopping follows the papers: after every epoch the monitored quantity (the epoch-mean of the
minibatch training error, or of the regularised objective when ``monitor="objective"``, each
evaluated at the weights the step starts from) is compared with the member's best; after
``patience`` epochs without improvement the member stops and ends with the weights of its best
epoch (``keep="best"``; with full-batch steps exactly those whose loss was monitored, with
minibatches those at the end of the best epoch) or of its last epoch (``keep="last"``: what the
authors' scripts do, meaning to restore the best but keeping a reference to the live weights).

A member that has stopped leaves the computation: the others train on as a smaller ensemble
(models with a ``take(members)`` method, such as :class:`~l2lib.models.mlp.EnsembleMLP`, and the
default error), so an ensemble costs the sum of its members' epochs, not K times the longest.
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
KEEPS = ("best", "last")


@dataclass(frozen=True)
class TrainConfig:
    """How to minimise at one value of λ.

    ``batch_size=None`` means full-batch steps (one step per epoch). ``min_delta`` is the relative
    decrease of the monitored loss that counts as an improvement for early stopping. ``keep``
    (:data:`KEEPS`): the weights a member ends with, those of its best epoch (restored) or of
    its last.
    """

    loss: str = "cross_entropy"
    optimizer: str = "adam"
    lr: float = 1.5e-3
    batch_size: int | None = 64
    max_epochs: int = 50
    patience: int = 5
    min_delta: float = 0.0
    monitor: str = "objective"
    keep: str = "best"

    def __post_init__(self) -> None:
        for name, kind, example in (("loss", "string", '"cross_entropy"'),
                                    ("optimizer", "string", '"adam"'), ("lr", "number", "0.5"),
                                    ("max_epochs", "integer", "50"), ("patience", "integer", "5"),
                                    ("min_delta", "number", "0.0"),
                                    ("monitor", "string", '"objective"'),
                                    ("keep", "string", '"best"')):
            _check_type(name, getattr(self, name), kind, example)
        if self.batch_size is not None:
            _check_type("batch_size", self.batch_size, "integer", "64 (or None: full batch)")
        check_loss(self.loss)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {OPTIMIZERS}")
        if self.monitor not in MONITORS:
            raise ValueError(f"unknown monitor {self.monitor!r}; choose one of {MONITORS}")
        if self.keep not in KEEPS:
            raise ValueError(f"unknown keep {self.keep!r}; choose one of {KEEPS}")
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
    """Per member: epochs run, the epoch whose weights were kept, its monitored loss, and
    whether it stopped before ``max_epochs``."""

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
    custom_error = error_fn is not None
    _check_data(model, x, y, custom=custom_error)
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
    # stopped members leave the computation only where the error cannot depend on K
    can_narrow = not custom_error and hasattr(model, "take")
    # what is being stepped: ``work``, the ensemble of the members ``members`` of ``model``
    work, work_params, members = model, params, np.arange(k)
    work_lam, work_ref = lam_vec, ref
    optimizer = _make_optimizer(params, config)

    kept = [p.detach().clone() for p in params]  # each member's weights to end with
    best_loss = np.full(k, np.inf)
    kept_epoch = np.zeros(k, dtype=int)
    kept_loss = np.full(k, np.nan)
    stale = np.zeros(k, dtype=int)
    active = np.ones(k, dtype=bool)
    epochs = np.zeros(k, dtype=int)
    first_loss: np.ndarray | None = None

    for epoch in range(1, config.max_epochs + 1):
        if not full_batch:
            order = torch.stack([torch.randperm(n, generator=generators[m]) for m in members])
            order = order.to(x.device)
        lam_shape = [(len(members),) + (1,) * (p.dim() - 1) for p in work_params]
        epoch_sum = torch.zeros(len(members), dtype=params[0].dtype, device=x.device)
        for start in range(0, n, batch):
            if full_batch:
                xb, yb = x, y
            else:
                idx = order[:, start : start + batch]
                xb, yb = x[idx], y[idx]
            if full_batch:  # the monitored loss is that of the weights before the step
                before = [p.detach().clone() for p in work_params]
            error = error_fn(work, xb, yb)
            optimizer.zero_grad(set_to_none=True)
            error.sum().backward()
            with torch.no_grad():
                if config.monitor == "objective":  # the penalty at the same θ as the error
                    error = error + penalty(work_params, work_lam, work_ref)
                for i, (p, shape) in enumerate(zip(work_params, lam_shape, strict=True)):
                    centred = p if work_ref is None else p - work_ref[i]
                    p.grad.add_(work_lam.view(shape) * centred)
            optimizer.step()
            if first_loss is None:  # the monitored loss of the first step: where training began
                first_loss = error.detach().cpu().numpy().astype(np.float64)
                first_loss = np.where(np.isfinite(first_loss), np.abs(first_loss), 0.0)
            epoch_sum += error.detach() * xb.shape[-2]
        monitored = np.full(k, np.nan)
        monitored[members] = (epoch_sum / n).cpu().numpy().astype(np.float64)

        diverged = active & ~(monitored <= DIVERGENCE_FACTOR * np.maximum(first_loss, 1.0))
        if diverged.any():
            _diverged(model, diverged, monitored, first_loss, lam_vec, epoch, config, where)
        epochs[active] = epoch
        threshold = np.where(np.isfinite(best_loss), best_loss * (1 - config.min_delta), np.inf)
        improved = active & (monitored < threshold)
        best_loss[improved] = monitored[improved]
        stale[improved] = 0
        stale[active & ~improved] += 1
        keep_now = improved if config.keep == "best" else active
        if keep_now.any():
            source = before if full_batch and config.keep == "best" else work_params
            _keep_rows(kept, source, members, keep_now)
            kept_epoch[keep_now] = epoch
            kept_loss[keep_now] = monitored[keep_now]
        active &= stale < config.patience
        if not active.any():
            break
        if can_narrow and not active[members].all():
            rows = np.flatnonzero(active[members])
            work, optimizer = _narrow(work, optimizer, rows, config)
            work_params, members = list(work.parameters()), members[rows]
            index = torch.as_tensor(rows, device=lam_vec.device)
            work_lam = work_lam.index_select(0, index)
            if work_ref is not None:
                work_ref = [r.index_select(0, index.to(r.device)) for r in work_ref]

    with torch.no_grad():
        for p, w in zip(params, kept, strict=True):
            p.copy_(w)
    return TrainResult(
        epochs=epochs, best_epoch=kept_epoch, best_loss=kept_loss, stopped_early=~active
    )


@torch.no_grad()
def _keep_rows(kept: list[torch.Tensor], source: Sequence[torch.Tensor], members: np.ndarray,
               mask: np.ndarray) -> None:
    """Copy into ``kept`` (all members) the rows of ``source`` (the members ``members``)
    whose member is set in ``mask``."""
    rows = np.flatnonzero(mask[members])
    index = torch.as_tensor(members[rows], device=kept[0].device)
    for w, p in zip(kept, source, strict=True):
        w.index_copy_(0, index, p.detach().index_select(0, index.new_tensor(rows)))


def _narrow(work: torch.nn.Module, optimizer: torch.optim.Optimizer, rows: np.ndarray,
            config: TrainConfig) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """The ensemble of the members ``rows`` of ``work`` (``work.take``) and an optimiser for it
    that carries on from ``optimizer``'s state (its per-parameter tensors cut to ``rows``)."""
    narrowed = work.take(rows.tolist())
    new_params = list(narrowed.parameters())
    new_optimizer = _make_optimizer(new_params, config)
    size = next(work.parameters()).shape[0]
    for old, new in zip(work.parameters(), new_params, strict=True):
        state = optimizer.state.get(old)
        if not state:
            continue
        index = torch.as_tensor(rows, device=new.device)
        new_optimizer.state[new] = {
            name: (value.index_select(0, index).clone()
                   if torch.is_tensor(value) and value.dim() > 0 and value.shape[0] == size
                   else value.clone() if torch.is_tensor(value) else value)
            for name, value in state.items()}
    return narrowed, new_optimizer


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
