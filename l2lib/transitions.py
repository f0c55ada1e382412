"""Locate a transition in a sweep and tell first order (a jump) from second order (a kink).

The order parameter φ(λ) (a weight norm, an end-to-end norm, an accuracy) is sampled on a grid.

* A **first-order** transition is a discontinuity of φ: a single grid step carries a finite part
  of the whole drop, however fine the grid. We call it first order when the largest single step
  carries at least ``jump_fraction`` of the total range of φ.
* A **second-order** transition is continuous: φ → 0 with a finite slope, so each step carries
  about range / (points in the ordered phase). The critical point is where the linear
  extrapolation of φ on the ordered side reaches the trivial value.

The criterion needs the ordered phase to be resolved by clearly more than 1/jump_fraction grid
points; :func:`classify_transition` refuses coarser sweeps rather than guess.

For a first-order transition a warm sweep jumps at the end of metastability, not at λ_c. The
thermodynamic λ_c is where the regularised losses of the two branches cross (learning branch from
the upward sweep, trivial branch from the downward sweep): :func:`branch_crossing`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ORDERS = ("first", "second")


@dataclass(frozen=True)
class Transition:
    """A located transition.

    ``lam_c``: the estimate of the critical λ (see ``method``); ``index``: the grid step
    (index, index + 1) holding the largest change; ``jump_fraction``: that step's share of the
    total range of φ.
    """

    order: str
    lam_c: float
    index: int
    jump_fraction: float
    method: str


def _check_curve(lams: Sequence[float], phi: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    lams = np.asarray(lams, dtype=np.float64)
    phi = np.asarray(phi, dtype=np.float64)
    if lams.ndim != 1 or phi.shape != lams.shape:
        raise ValueError(
            f"lams and phi must be 1-D of equal length, got {lams.shape} and {phi.shape}"
        )
    if lams.size < 4:
        raise ValueError("need at least 4 grid points to locate a transition")
    if np.any(np.diff(lams) <= 0):
        raise ValueError("lams must be strictly increasing (use SweepResult.ascending())")
    if not np.all(np.isfinite(phi)):
        raise ValueError("the order parameter contains NaN or infinite values")
    return lams, phi


def largest_step(lams: Sequence[float], phi: Sequence[float]) -> tuple[int, float]:
    """Index i of the largest |φ[i+1] − φ[i]| and that step's fraction of max φ − min φ."""
    lams, phi = _check_curve(lams, phi)
    steps = np.abs(np.diff(phi))
    span = phi.max() - phi.min()
    i = int(np.argmax(steps))
    return i, float(steps[i] / span) if span > 0 else 0.0


def _last_ordered(phi: np.ndarray, level: float = 0.05) -> int:
    """Index of the last point whose φ lies more than ``level`` of the range above min φ."""
    rel = (phi - phi.min()) / (phi.max() - phi.min())
    return int(np.nonzero(rel > level)[0].max())


def extrapolated_zero(
    lams: Sequence[float], phi: Sequence[float], window: tuple[float, float] = (0.2, 0.8)
) -> float:
    """λ at which a straight line fitted to the ordered side of φ reaches the trivial value.

    The fit uses the points before the largest step whose height above min φ lies within
    ``window`` (fractions of the range); for D = 1 deep linear nets φ is exactly linear there.
    """
    lams, phi = _check_curve(lams, phi)
    lo, span = phi.min(), phi.max() - phi.min()
    rel = (phi - lo) / span
    start, stop = int(np.argmax(phi)), _last_ordered(phi)
    sel = np.arange(lams.size)
    sel = sel[(sel >= start) & (sel <= stop) & (rel >= window[0]) & (rel <= window[1])]
    if sel.size < 2:
        raise ValueError(
            "too few grid points on the ordered side to extrapolate; refine the λ grid below "
            f"λ = {lams[min(stop + 1, lams.size - 1)]:.4g}"
        )
    slope, intercept = np.polyfit(lams[sel], phi[sel], 1)
    if slope >= 0:
        raise ValueError("the order parameter does not decrease on the ordered side")
    return float((lo - intercept) / slope)


def classify_transition(
    lams: Sequence[float], phi: Sequence[float], jump_fraction: float = 0.2
) -> Transition:
    """Classify the transition of a decreasing order parameter φ(λ) and estimate λ_c.

    Second order: λ_c by :func:`extrapolated_zero`. First order: the midpoint of the jump step
    (for a warm upward sweep this is where metastability ends, an upper bound on λ_c; use
    :func:`branch_crossing` for λ_c itself).
    """
    lams, phi = _check_curve(lams, phi)
    if not 0 < jump_fraction < 1:
        raise ValueError(f"jump_fraction must lie in (0, 1), got {jump_fraction}")
    i, frac = largest_step(lams, phi)
    ordered_points = _last_ordered(phi) + 1 - int(np.argmax(phi))
    if frac >= jump_fraction:
        return Transition("first", float(0.5 * (lams[i] + lams[i + 1])), i, frac, "jump midpoint")
    if ordered_points < 2 / jump_fraction:
        raise ValueError(
            f"only {ordered_points} grid points resolve the ordered phase; with jump_fraction="
            f"{jump_fraction} at least {int(np.ceil(2 / jump_fraction))} are needed to tell a "
            "kink from a jump: refine the λ grid"
        )
    return Transition("second", extrapolated_zero(lams, phi), i, frac, "linear extrapolation")


def branch_crossing(
    lams: Sequence[float], loss_learning: Sequence[float], loss_trivial: Sequence[float]
) -> float:
    """λ where the learning branch's regularised loss rises above the trivial branch's.

    Both curves are on the same increasing grid; the crossing is interpolated linearly in the
    difference. Raises if the learning branch is never the higher one before it collapses (the
    crossing is then not resolved by the sweep).
    """
    lams, up = _check_curve(lams, loss_learning)
    _, down = _check_curve(lams, loss_trivial)
    diff = up - down
    tol = 1e-6 * np.abs(down).max()
    for i in range(lams.size - 1):
        if diff[i] < 0 and diff[i + 1] > tol:
            x0, x1, d0, d1 = lams[i], lams[i + 1], diff[i], diff[i + 1]
            return float(x0 - d0 * (x1 - x0) / (d1 - d0))
    raise ValueError(
        "the branches do not cross on this grid: the learning branch never rises above the "
        "trivial one (no metastable segment was resolved; refine the grid near the jump)"
    )
