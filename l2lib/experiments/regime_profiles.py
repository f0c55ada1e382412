"""Chapter 3's profiles: the :class:`~l2lib.experiments.regime_sweep.RegimeSettings` of each.

Kept apart from :mod:`l2lib.experiments.regime_sweep` on purpose. A sweep store's key covers the
code of the modules that compute it and, in its configuration, every setting
(:mod:`l2lib.store`); a profile table inside the computing module made every stored sweep — the
hour-long reference runs of chapters 3 and 5 included — stale whenever one profile was tuned.
Here an edit changes only the settings, and so the keys, of the profile edited.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from l2lib.experiments.regime_sweep import PAPER_TRAIN, RegimeSettings
from l2lib.runtime import check_profile

_MNIST_10K = {"data_order": "fixed", "hessian_n": 2000, "hessian_probes": 8}
"""What the profiles run on ``mnist-10k`` (smoke, quick, reference) change from the authors'
protocol: each seed's data order repeated at every β (chapter 3, "Data order"), Hessians on
2,000 training images."""

PROFILE_OVERRIDES: dict[str, dict[str, Any]] = {
    # code paths only, in seconds
    "smoke": _MNIST_10K | {
        "hidden": (32, 32), "early_stopping": "objective", "beta_step": 0.01, "n_seeds": 2,
        "n_train": 1000, "train": replace(PAPER_TRAIN, max_epochs=4, patience=2),
        "hessian_every": 5, "hessian_probes": 2, "hessian_n": 500, "first_max_epochs": 4,
        "n_curvature": 2, "spectrum_k": 4},
    # upward only, the best epoch of the objective kept (with the order repeated the authors'
    # last epoch ranks the digits otherwise, chapter 3), a grid of 81 values (step 1.25e-3, fine
    # enough for the detector with that order), Hessians at 3 points of the sweep and 2 + 2
    # after it: 335-350 s alone on 2 cores (the CI VM, 7 Dec 2026; up to 2× more at slow hours)
    "quick": _MNIST_10K | {
        "early_stopping": "objective", "beta_step": 1.25e-3, "sweep_down": False,
        "hessian_every": 40, "first_max_epochs": 15, "n_curvature": 2, "spectrum_k": 10},
    # the paper's protocol and grid, up and down: ≈ 48 min on 2 cores
    "reference": _MNIST_10K | {"hessian_every": 50},
    # the paper's protocol (use dataset="mnist"): Hessian extremes and top-30 spectrum at every β
    "paper": {},
}
"""What each profile changes from the authors' protocol (the defaults of
:class:`~l2lib.experiments.regime_sweep.RegimeSettings`)."""


def settings(profile: str, **overrides: Any) -> RegimeSettings:
    """Settings of chapter 3 for ``profile``; keyword ``overrides`` replace single fields
    (e.g. ``beta_max=0.12``, ``activation="relu"``, ``early_stopping="objective"``; ``lr``
    goes into ``train``). None values are ignored (a notebook's "profile default")."""
    check_profile(profile)
    chosen = replace(RegimeSettings(), **PROFILE_OVERRIDES[profile])
    lr = overrides.pop("lr", None)
    if lr is not None:
        chosen = replace(chosen, train=replace(chosen.train, lr=float(lr)))
    unknown = set(overrides) - set(RegimeSettings.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)} for chapter 3; "
                         f"known: {sorted(RegimeSettings.__dataclass_fields__)} and lr")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if "hidden" in overrides:
        overrides["hidden"] = tuple(int(h) for h in overrides["hidden"])
    chosen = replace(chosen, **overrides)
    chosen.betas  # noqa: B018 - validates the grid
    return chosen
