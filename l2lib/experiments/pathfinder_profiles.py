"""Chapter 5's profiles: the :class:`~l2lib.experiments.pathfinder.PathfinderSettings` of each
(chapter 3's sweep, whose checkpoints chapter 5 reads, has its own:
:mod:`l2lib.experiments.regime_profiles`).

Kept apart from :mod:`l2lib.experiments.pathfinder`, which computes the stored results, so
that tuning a profile keeps the others' (:mod:`l2lib.experiments`).
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from l2lib.experiments.pathfinder import PATH_TRAIN, PathfinderSettings
from l2lib.runtime import check_profile

_SHORT = replace(PATH_TRAIN, max_epochs=4, patience=2)
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": dict(hidden=(16, 16), n_minima=3, minima_train=_SHORT, path_train=_SHORT,
                  n_betas=5, bezier_train=replace(PATH_TRAIN, lr=1e-2, max_epochs=3,
                                                  patience=2),
                  n_t=7, per_segment=1, towards_points=8, towards_tail=(0.2,), max_scans=4,
                  hessian_samples=500, toy_beta_step=0.1),
    "quick": {},
    # ≈ 20–25 min on 2 idle cores, estimated from quick's cost per member-epoch (≈ 0.25 s for
    # 784-128-128-10 on 8000 digits): minima 5 × 50 epochs ≈ 1 min; 4 paths × 101 β × 6 epochs
    # ≈ 10 min; towards 3 × 53 β × 6 ≈ 4 min; Bezier ≈ 2 min; 48 Lanczos runs on 8000
    # samples ≈ 5 min; evaluation ≈ 1 min
    "reference": dict(minima_train=PATH_TRAIN, n_betas=101,
                      bezier_train=replace(PATH_TRAIN, lr=1e-2, max_epochs=100, patience=10),
                      n_t=41, n_refs=3, towards_points=50, towards_tail=(0.2, 0.5, 1.0),
                      max_scans=12, saddle_positions=(0.0, 0.25, 0.5, 0.75),
                      hessian_samples=None),
    "paper": dict(minima_train=PATH_TRAIN, path_train=PATH_TRAIN, n_betas=501,
                  bezier_train=replace(PATH_TRAIN, lr=1e-2, max_epochs=300, patience=10),
                  n_t=61, per_segment=4, n_refs=5, towards_points=None,
                  towards_tail=(0.2, 0.5, 1.0), max_scans=30,
                  saddle_positions=(0.0, 0.25, 0.5, 0.75), hessian_samples=None,
                  hessian_tol=1e-4),
}


def settings(profile: str, **overrides: Any) -> PathfinderSettings:
    """Chapter 5's settings for ``profile`` (smoke, quick, reference, paper); keyword
    ``overrides`` replace single fields (``None`` values are ignored)."""
    known = {f.name for f in fields(PathfinderSettings)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown} for chapter 5; known: {sorted(known)}")
    chosen = dict(PROFILES[check_profile(profile)])
    chosen |= {k: v for k, v in overrides.items() if v is not None}
    if "hidden" in chosen:
        chosen["hidden"] = tuple(int(h) for h in chosen["hidden"])
    return replace(PathfinderSettings(), **chosen)
