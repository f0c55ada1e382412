"""Chapter 2's profiles: the :class:`~l2lib.experiments.curvature.CurvatureChapterSettings` of
each (chapter 1's networks and grids, :mod:`l2lib.experiments.onset_profiles`, and how curvature
is measured).

Kept apart from :mod:`l2lib.experiments.curvature`, which computes the stored results, so
that tuning a profile keeps the others' (:mod:`l2lib.experiments`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from l2lib.experiments import onset_profiles
from l2lib.experiments.curvature import CurvatureChapterSettings
from l2lib.experiments.onset import check_overrides


def settings(profile: str, **overrides: Any) -> CurvatureChapterSettings:
    """Chapter 2's settings for ``profile``; ``overrides`` replace fields (``onset=`` takes an
    :class:`OnsetSettings`). ``reference``: chapter 1's reference sweeps, and 512 Hutchinson
    probes for the MLPs' R (8× quick: its standard error, the detector's noise level, 2.8×
    smaller)."""
    check_overrides(CurvatureChapterSettings, overrides)
    base = CurvatureChapterSettings(onset=onset_profiles.settings(profile))
    if profile == "smoke":
        base = replace(base, mlp=replace(base.mlp, n_samples=8))
    elif profile == "reference":
        base = replace(base, mlp=replace(base.mlp, n_samples=512))
    return replace(base, **overrides)
