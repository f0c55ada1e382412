"""Chapter 1's profiles: the :class:`~l2lib.experiments.onset.OnsetSettings` of each.

Kept apart from :mod:`l2lib.experiments.onset`, which computes the stored results, so
that tuning a profile keeps the others' (:mod:`l2lib.experiments`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from l2lib.experiments.onset import OnsetSettings, check_overrides
from l2lib.runtime import check_profile

PROFILE_OVERRIDES: dict[str, dict[str, Any]] = {
    "quick": {},
    "smoke": dict(n_samples=128, input_dim=6, width=6, depths=(1, 2), n_lams=24, n_seeds=1,
                  mode_depths=(1,), mlp_hidden=16, mlp_n_lams=12,
                  mlp_train=replace(OnsetSettings.mlp_train, max_epochs=400)),
    "reference": dict(n_lams=80, n_seeds=4, mlp_n_lams=60),
    "paper": dict(n_samples=2048, input_dim=32, width=32, n_lams=81, n_seeds=4, mlp_hidden=128,
                  mlp_n_lams=60,
                  linear_train=replace(OnsetSettings.linear_train, max_epochs=20000),
                  mlp_train=replace(OnsetSettings.mlp_train, max_epochs=10000, min_delta=1e-5)),
}
"""What each profile changes from the dataclass defaults (``quick``)."""


def settings(profile: str, **overrides: Any) -> OnsetSettings:
    """The settings of chapter 1 for ``profile`` (smoke, quick, reference or paper), with any
    field replaced by ``overrides``. ``reference`` (about 30 min on 2 CPU cores): twice the λ
    resolution and seeds of quick, MLP points polished by L-BFGS."""
    check_overrides(OnsetSettings, overrides)
    return replace(OnsetSettings(), **(PROFILE_OVERRIDES[check_profile(profile)] | overrides))
