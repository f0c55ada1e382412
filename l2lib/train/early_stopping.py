"""The authors' early stopping, as an option beside l2lib's: ``"authors"`` | ``"objective"``.

* ``"objective"`` (l2lib's default, :mod:`l2lib.train.loop`): monitor the epoch mean of the
  regularised objective, stop after ``patience`` epochs without improvement, restore the weights
  of the best epoch.
* ``"authors"`` (Ersoy, Cardozo Licha & Wiesner's scripts, arXiv 2512.11866): monitor the epoch
  mean of the minibatch training cross-entropy, stop after ``patience`` epochs without
  improvement, and keep the weights of the **last** epoch (their "restore best" step keeps a
  reference to the live state dict, not a copy). As the cross-entropy rises with β, a warm
  start's first epoch is often its best, so they train about 1 + patience = 6 epochs per β.

:func:`loop_config` turns a :class:`~l2lib.train.loop.TrainConfig` into the loop's settings for
either rule (the authors' rule is ``monitor="error"``, ``keep="last"``; checked against a
hand-written copy of their loop in the tests).
"""

from __future__ import annotations

from dataclasses import replace

from l2lib.train.loop import TrainConfig

MODES = ("authors", "objective")


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`MODES`, else a ValueError naming the setting."""
    if mode not in MODES:
        raise ValueError(f"early_stopping must be one of {MODES}, got {mode!r}")
    return mode


def loop_config(config: TrainConfig, mode: str) -> TrainConfig:
    """The :class:`TrainConfig` the loop needs for ``mode`` (``"authors"``: monitor the
    training error, keep the last epoch; ``"objective"``: unchanged)."""
    if check_mode(mode) == "objective":
        return config
    return replace(config, monitor="error", keep="last", min_delta=0.0)
