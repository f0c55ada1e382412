"""Locate the onset of learning in a sweep and tell first order (a jump) from second (a kink).

The order parameter φ(λ) (a weight norm, an end-to-end norm, an accuracy) is sampled on an
increasing grid and falls to its trivial value at large λ. The *onset step* is the grid step
from the last point of the ordered phase (φ more than 5 % of its range above min φ) to the next.

* **First order**: φ jumps to the trivial value. The onset step carries a finite part of the
  range of φ, however fine the grid, and is much larger than the step before it. We call it
  first order when it carries at least ``jump_fraction`` of the range *and* is at least
  ``contrast`` times the previous step.
* **Second order**: φ → 0 continuously; the critical point is where a straight line fitted to
  the ordered side reaches the trivial value (exact for one-hidden-layer linear nets).

These thresholds are this companion's heuristics, not the papers'; the tests pin them on curves
of known order. A continuous onset with a square-root profile (φ ∝ √(λ_c − λ)) on a coarse grid
can pass for a jump: compare sweeps up and down (hysteresis is the signature of first order).
Too few points in the ordered phase give "unresolved" rather than a guess.

For a first-order transition a warm sweep jumps at the end of metastability, not at λ_c. The
thermodynamic λ_c is where the regularised losses of the two branches cross (learning branch from
the upward sweep, trivial branch from the downward sweep): :func:`branch_crossing`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ORDERS = ("first", "second", "unresolved")


@dataclass(frozen=True)
class Transition:
    """A located transition.

    ``lam_c``: the estimate of the critical λ (see ``method``); ``index``: the onset step
    (index, index + 1); ``jump_fraction``: that step's share of the total range of φ.
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


def _last_ordered(phi: np.ndarray, level: float = 0.05) -> int:
    """Index of the last point whose φ lies more than ``level`` of the range above min φ."""
    rel = (phi - phi.min()) / (phi.max() - phi.min())
    return int(np.nonzero(rel > level)[0].max())


def extrapolated_zero(
    lams: Sequence[float], phi: Sequence[float], window: tuple[float, float] = (0.2, 0.8)
) -> float:
    """λ at which a straight line fitted to the ordered side of φ reaches the trivial value.

    The fit uses ordered-phase points (up to the onset step) whose height above min φ lies within
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


def onset_step(phi: Sequence[float]) -> tuple[int, float, float]:
    """The onset step (i, i + 1): its index, its share of the range of φ, and its size relative
    to the step before it (inf when that one vanishes)."""
    phi = np.asarray(phi, dtype=np.float64)
    steps = np.abs(np.diff(phi))
    span = phi.max() - phi.min()
    i = min(_last_ordered(phi), steps.size - 1)
    previous = steps[i - 1] if i > 0 else 0.0
    contrast = steps[i] / previous if previous > 0 else np.inf
    return i, float(steps[i] / span) if span > 0 else 0.0, float(contrast)


def classify_transition(
    lams: Sequence[float],
    phi: Sequence[float],
    jump_fraction: float = 0.1,
    contrast: float = 2.0,
    min_points: int = 8,
) -> Transition:
    """Classify the onset of learning in a decreasing order parameter φ(λ) and estimate λ_c.

    Second order: λ_c by :func:`extrapolated_zero`. First order: the midpoint of the onset step
    (for a warm upward sweep, where metastability ends: an upper bound on λ_c; use
    :func:`branch_crossing` for λ_c itself). "unresolved" when the ordered phase has fewer than
    ``min_points`` points or φ never reaches its trivial value on the grid.
    """
    lams, phi = _check_curve(lams, phi)
    if not 0 < jump_fraction < 1 or contrast < 1:
        raise ValueError(
            f"need 0 < jump_fraction < 1 and contrast >= 1, got {jump_fraction} and {contrast}"
        )
    if phi.max() == phi.min():
        return Transition("unresolved", float("nan"), 0, 0.0, "the order parameter is constant")
    i, frac, ratio = onset_step(phi)
    if _last_ordered(phi) == phi.size - 1:
        return Transition("unresolved", float("nan"), i, frac,
                          "no transition on the grid: φ never reaches its trivial value")
    ordered_points = i + 1 - int(np.argmax(phi))
    if ordered_points < min_points:
        reason = (f"grid too coarse: {ordered_points} points in the ordered phase, "
                  f"{min_points} needed")
        return Transition("unresolved", float("nan"), i, frac, reason)
    if frac >= jump_fraction and ratio >= contrast:
        return Transition("first", float(0.5 * (lams[i] + lams[i + 1])), i, frac, "jump midpoint")
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


def hysteresis_width(
    lams: Sequence[float], up: Sequence[float], down: Sequence[float], tol: float = 0.1
) -> float:
    """Total λ-length where upward and downward sweeps disagree by more than ``tol`` × range.

    Each grid interval counts when the branches disagree at both its ends; 0 means no loop.
    """
    lams, up = _check_curve(lams, up)
    _, down = _check_curve(lams, down)
    span = max(up.max(), down.max()) - min(up.min(), down.min())
    apart = np.abs(up - down) > tol * span if span > 0 else np.zeros(lams.size, dtype=bool)
    both = apart[:-1] & apart[1:]
    return float(np.sum(np.diff(lams)[both]))


CHANGE_KINDS = ("step", "kink", "meanvar")


def change_points(
    lams: Sequence[float],
    signal: Sequence[float],
    *,
    kind: str = "step",
    n_breaks: int | None = None,
    penalty: float | None = None,
    min_size: int = 2,
) -> np.ndarray:
    """λ values where ``signal`` changes, found by ruptures with ``jump=1``.

    ``kind="step"``: changes of the mean (cost "l2"). ``kind="kink"``: changes of slope, fitted as
    piecewise-linear in λ itself (cost "linear" with λ as regressor), so uneven (e.g. log) grids
    are handled correctly. ``kind="meanvar"``: changes of mean *and* variance (Gaussian cost
    "normal"), which finds where a varying signal becomes constant, as the curvature does when
    the weights collapse to the trivial point. Give exactly one of ``n_breaks`` (exact search,
    ``Dynp``) or ``penalty`` (``Pelt``; for "step" a sum of squares in the signal's units). A
    break between grid points i−1 and i is reported at their midpoint: one grid step resolution.
    """
    import ruptures as rpt

    lams, y = _check_curve(lams, signal)
    if kind not in CHANGE_KINDS:
        raise ValueError(f"kind must be one of {CHANGE_KINDS}, got {kind!r}")
    if (n_breaks is None) == (penalty is None):
        raise ValueError("give exactly one of n_breaks and penalty")
    if kind in ("step", "meanvar"):
        model, data = ("l2" if kind == "step" else "normal"), y[:, None]
    else:
        model, data = "linear", np.column_stack([y, lams, np.ones_like(lams)])
        min_size = max(min_size, 3)
    warnings.filterwarnings("ignore", message="New behaviour in v1.1.5", module="ruptures")
    if n_breaks is not None:
        if n_breaks < 1 or (n_breaks + 1) * min_size > lams.size:
            raise ValueError(f"cannot place {n_breaks} breaks with segments of at least "
                             f"{min_size} points on a grid of {lams.size}")
        ends = rpt.Dynp(model=model, min_size=min_size, jump=1).fit(data).predict(n_bkps=n_breaks)
    else:
        if penalty < 0:
            raise ValueError(f"penalty must be >= 0, got {penalty}")
        ends = rpt.Pelt(model=model, min_size=min_size, jump=1).fit(data).predict(pen=penalty)
    idx = np.asarray(ends[:-1], dtype=int)  # ruptures returns segment ends, the last is len(y)
    return 0.5 * (lams[idx - 1] + lams[idx])


def bootstrap_change_points(
    lams: Sequence[float],
    signals: np.ndarray,
    *,
    n_breaks: int,
    kind: str = "step",
    n_boot: int = 200,
    level: float = 0.9,
    seed: int = 0,
) -> np.ndarray:
    """Change points of the seed-averaged signal with bootstrap intervals over seeds.

    ``signals`` has shape (n_seeds, n_λ). Seeds are resampled with replacement, the resampled
    mean's ``n_breaks`` change points are located, and the central ``level`` interval is reported.
    Returns an array (n_breaks, 3): estimate on the full mean, lower, upper bound.
    """
    signals = np.asarray(signals, dtype=np.float64)
    if signals.ndim != 2:
        raise ValueError(f"signals must have shape (n_seeds, n_λ), got {signals.shape}")
    estimate = change_points(lams, signals.mean(axis=0), kind=kind, n_breaks=n_breaks)
    rng = np.random.default_rng(seed)
    draws = np.array([
        change_points(lams, signals[rng.integers(0, len(signals), len(signals))].mean(axis=0),
                      kind=kind, n_breaks=n_breaks)
        for _ in range(n_boot)
    ])
    tail = 100 * (1 - level) / 2
    lower, upper = np.percentile(draws, [tail, 100 - tail], axis=0)
    return np.column_stack([estimate, lower, upper])


# --------------------------------------------------------------------------------------------
# Staircases: several first-order drops between plateaus (the accuracy regimes of chapter 3)


@dataclass(frozen=True)
class Plateau:
    """Grid points ``first`` … ``last`` (inclusive) between two drops, and their median level."""

    first: int
    last: int
    lam_lo: float
    lam_hi: float
    level: float


@dataclass(frozen=True)
class Drop:
    """A transition between plateau ``before`` and ``before + 1``.

    ``lam``: midpoint of the grid step with the largest fall inside the drop; ``index``: the last
    grid point before the drop (its converged state is the "transition checkpoint");
    ``size``: the fall of the plateau level across the drop.
    """

    before: int
    lam: float
    index: int
    size: float


@dataclass(frozen=True)
class Staircase:
    """Plateaus and the drops between them, in increasing λ."""

    plateaus: list[Plateau]
    drops: list[Drop]


def _plateaus(lams: np.ndarray, y: np.ndarray, runs: list[list[int]]) -> list[Plateau]:
    """The plateaus between the drops ``runs`` (each a list of falling grid steps)."""
    plateaus = []
    for k in range(len(runs) + 1):
        first = 0 if k == 0 else runs[k - 1][-1] + 1
        last = len(y) - 1 if k == len(runs) else runs[k][0]
        plateaus.append(Plateau(first, last, float(lams[first]), float(lams[last]),
                                float(np.median(y[first : last + 1]))))
    return plateaus


def staircase(
    lams: Sequence[float], values: Sequence[float], *, min_drop: float = 0.05,
    min_points: int = 2,
) -> Staircase:
    """Split a falling curve into plateaus separated by sharp drops.

    A *drop* is a run of consecutive grid steps each falling by at least ``min_drop`` (in the
    units of ``values``, e.g. accuracy 0.05 = 5 points); a slow decline, however long, is not
    one. Segments between drops with fewer than ``min_points`` points are not plateaus: the drops
    on either side are merged into one, and a drop between plateaus whose median levels differ
    by less than ``min_drop`` is dropped (a one-step dip of noise). The first plateau starts at
    the first grid point, the last ends at the last (these two may be shorter than
    ``min_points``). This is a transparent threshold rule, not a statistical test: choose
    ``min_drop`` above the step-to-step noise of the curve (tested on synthetic staircases).
    """
    lams, y = _check_curve(lams, values)
    if not min_drop > 0:
        raise ValueError(f"min_drop must be positive, got {min_drop}")
    if min_points < 1:
        raise ValueError(f"min_points must be >= 1, got {min_points}")
    falls = y[:-1] - y[1:]  # falls[i]: from point i to point i + 1
    steep = falls >= min_drop
    runs: list[list[int]] = []  # each run: the step indices i of one drop
    for i in np.flatnonzero(steep):
        if runs and i - runs[-1][-1] < min_points:  # plateau in between too short: merge
            runs[-1].extend(range(runs[-1][-1] + 1, int(i) + 1))
        else:
            runs.append([int(i)])
    while True:  # a "drop" whose plateaus differ by less than min_drop is noise: remove it
        plateaus = _plateaus(lams, y, runs)
        small = [k for k in range(len(runs))
                 if plateaus[k].level - plateaus[k + 1].level < min_drop]
        if not small:
            break
        del runs[small[0]]
    drops = []
    for k, run in enumerate(runs):
        biggest = run[int(np.argmax(falls[run]))]
        drops.append(Drop(k, float(0.5 * (lams[biggest] + lams[biggest + 1])), run[0],
                          plateaus[k].level - plateaus[k + 1].level))
    return Staircase(plateaus, drops)
