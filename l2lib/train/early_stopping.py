"""The authors' early stopping, as an option beside l2lib's: ``"authors"`` | ``"objective"``.

* ``"objective"`` (l2lib's default, :mod:`l2lib.train.loop`): monitor the epoch mean of the
  regularised objective, stop after ``patience`` epochs without improvement, restore the weights
  of the best epoch.
* ``"authors"`` (Ersoy, Cardozo Licha & Wiesner's scripts, arXiv 2512.11866): monitor the epoch
  mean of the minibatch training cross-entropy, stop after ``patience`` epochs without
  improvement, and keep the weights of the **last** epoch (their "restore best" step keeps a
  reference to the live state dict, not a copy). As the cross-entropy rises with β, a warm
  start's first epoch is usually its best, so they train 1 + patience = 6 epochs per β.

:func:`authors_stopping` reproduces the second rule with the unchanged training loop: it returns
an ``error_fn`` that computes the cross-entropy and adds a constant (gradient-free) offset on
each epoch's last minibatch, so that the loop's own monitor sees an improvement at every epoch
the authors would run and none afterwards. With ``patience=1`` the loop then stops one epoch
after the authors' rule and restores exactly the weights of the authors' last epoch (tested
against a hand-written reference). The price is one discarded epoch per β;
``StopRecord.epochs`` holds the authors' epoch count. A ``restore="last"`` option of
:class:`~l2lib.train.loop.TrainConfig` would remove that extra epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from l2lib.train.loop import TrainConfig
from l2lib.train.losses import ErrorFn, member_error

MODES = ("authors", "objective")
_STOPPED = 1e3  # monitored value after the authors' stop: never an improvement


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`MODES`, else a ValueError naming the setting."""
    if mode not in MODES:
        raise ValueError(f"early_stopping must be one of {MODES}, got {mode!r}")
    return mode


@dataclass
class StopRecord:
    """Per member: epochs the authors' rule ran (0 until it stops) and its monitored CE."""

    epochs: np.ndarray
    history: list[np.ndarray] = field(default_factory=list)


def loop_config(config: TrainConfig, mode: str) -> TrainConfig:
    """The :class:`TrainConfig` the loop needs for ``mode`` (``"authors"``: monitor the error,
    patience 1, one epoch more than ``config.max_epochs``; ``"objective"``: unchanged)."""
    if check_mode(mode) == "objective":
        return config
    return replace(config, monitor="error", patience=1, min_delta=0.0,
                   max_epochs=config.max_epochs + 1)


def authors_stopping(n_samples: int, n_members: int, config: TrainConfig
                     ) -> tuple[ErrorFn, StopRecord]:
    """An ``error_fn`` for :func:`l2lib.train.loop.train` (with :func:`loop_config`) that makes
    it follow the authors' rule: patience ``config.patience`` on the epoch-mean training
    ``config.loss``, at most ``config.max_epochs`` epochs, keep the last epoch. Use a fresh one
    for every call of ``train``; the returned :class:`StopRecord` fills in as it runs."""
    record = StopRecord(np.zeros(n_members, dtype=int))
    best = np.full(n_members, np.inf)
    wait = np.zeros(n_members, dtype=int)
    state = {"seen": 0, "sum": np.zeros(n_members), "epoch": 0}

    def error_fn(model: torch.nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        error = member_error(model(xb), yb, config.loss)
        size = xb.shape[-2]
        state["seen"] += size
        state["sum"] += error.detach().cpu().double().numpy() * size
        if state["seen"] < n_samples:
            return error
        state["epoch"] += 1  # this call ends an epoch: decide as the authors' script would
        epoch, mean = state["epoch"], state["sum"] / n_samples
        record.history.append(mean.copy())
        running = record.epochs == 0
        better = mean < best
        best[running & better] = mean[running & better]
        wait[running & better] = 0
        wait[running & ~better] += 1
        stop = running & ((wait >= config.patience) | (epoch >= config.max_epochs))
        record.epochs[stop] = epoch
        target = np.where(running, -float(epoch), _STOPPED)  # improve while running, incl. stop
        offset = (target - mean) * n_samples / size
        state["seen"], state["sum"] = 0, np.zeros(n_members)
        return error + torch.as_tensor(offset, dtype=error.dtype, device=error.device)

    return error_fn, record
