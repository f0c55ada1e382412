"""Chapter 4's profiles: the :class:`~l2lib.experiments.vae.VaeSettings` of each.

Kept apart from :mod:`l2lib.experiments.vae`, which computes the stored results, so
that tuning a profile keeps the others' (:mod:`l2lib.experiments`).
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from l2lib.experiments.vae import VaeSettings
from l2lib.runtime import check_profile


def settings(profile: str, **overrides: Any) -> VaeSettings:
    """The settings of chapter 4 for ``profile``, with fields replaced by ``overrides``.

    ``quick`` = the dataclass defaults (2 seeds: p-values are labelled as such); ``smoke``:
    seconds; ``reference``: 8 seeds on a 48-point grid (≈ 15–20 min on 2 free CPU cores, scaled
    from the quick run), the scale the change-point test is meant for (≥ 5 seeds); ``paper``: a
    wider VAE, 8 seeds, for a GPU.
    """
    quick = VaeSettings()
    profiles = {
        "quick": quick,
        "smoke": replace(quick, latent=4, hidden=(16,), n_seeds=1, n_train=600, n_betas=10,
                         curvature_samples=8, n_draws=200,
                         train=replace(quick.train, max_epochs=25),
                         first_train=replace(quick.first_train, max_epochs=60)),
        "reference": replace(quick, n_seeds=8, n_betas=48, curvature_samples=64),
        "paper": replace(quick, latent=16, hidden=(256,), n_seeds=8, n_betas=61, beta_min=0.05,
                         curvature_samples=64, train=replace(quick.train, lr=1e-3,
                                                             max_epochs=100),
                         first_train=replace(quick.first_train, lr=1e-3, max_epochs=200)),
    }
    chosen = profiles[check_profile(profile)]
    known = {f.name for f in fields(VaeSettings)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown} for chapter 4; VaeSettings has "
                         f"{sorted(known)}")
    return replace(chosen, **overrides)
