"""Locate the onset of learning in a sweep and tell first order (a jump) from second (a kink).

The order parameter φ(λ) (a weight norm, an end-to-end norm, an accuracy) is sampled on an
increasing grid and falls to its trivial value at large λ. The *onset step* is the grid step
from the last point of the ordered phase (φ more than 5 % of its range above min φ) to the next.

* **First order**: φ jumps to the trivial value. The onset step carries a finite part of the
  range of φ, however fine the grid, and is much larger than the step before it. We call it
  first order when it carries at least ``jump_fraction`` of the range *and* is at least
  ``contrast`` times the previous step.
* **Second order**: φ reaches its trivial value continuously *with a kink*: beyond the kink φ is
  flat (its slope over the ``window`` points past the kink is at most ``kink`` × the slope over
  the ``window`` points before it). On a fine grid a straight approach crosses the 5 % level
  several points before its kink, so the kink is sought from the onset forward while φ keeps its
  ordered slope (:func:`tail_slope_ratio`). The critical point is where a straight line fitted
  to the ordered side reaches the trivial value (exact for one-hidden-layer linear nets).
* **None**: φ keeps decaying past the onset with a slope comparable to the one before it (at
  least ``smooth`` × that slope): a smooth decay without a transition on this grid. A smooth
  decay passes a straight-line fit as easily as a kink does; the flat trivial side is what tells
  them apart.

These thresholds are this companion's heuristics, not the papers'; the tests pin them on curves
of known order. A continuous onset with a square-root profile (φ ∝ √(λ_c − λ)) on a coarse grid
can pass for a jump: compare sweeps up and down (hysteresis is the signature of first order).
Too few points in the ordered phase, or a slope ratio between ``kink`` and ``smooth``, give
"unresolved" rather than a guess.

For a first-order transition a warm sweep jumps at the end of metastability, not at λ_c. The
thermodynamic λ_c is where the regularised losses of the two branches cross (learning branch from
the upward sweep, trivial branch from the downward sweep): :func:`branch_crossing`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ORDERS = ("first", "second", "none", "unresolved")


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
    *,
    window: int = 3,
    kink: float = 0.15,
    smooth: float = 0.3,
) -> Transition:
    """Classify the onset of learning in a decreasing order parameter φ(λ) and estimate λ_c.

    First order: a jump (see the module docstring); λ_c is the midpoint of the onset step (for
    a warm upward sweep, where metastability ends: an upper bound on λ_c; use
    :func:`branch_crossing` for λ_c itself). Second order: a kink onto a flat trivial side; λ_c by
    :func:`extrapolated_zero`. "none": a smooth decay (no transition), λ_c NaN. "unresolved"
    when the ordered phase has fewer than ``min_points`` points, fewer than 2 points lie past
    the onset, or the slope ratio lies between ``kink`` and ``smooth``.
    """
    lams, phi = _check_curve(lams, phi)
    if not 0 < jump_fraction < 1 or contrast < 1:
        raise ValueError(
            f"need 0 < jump_fraction < 1 and contrast >= 1, got {jump_fraction} and {contrast}"
        )
    if not 0 < kink < smooth or window < 2:
        raise ValueError(f"need 0 < kink < smooth and window >= 2, got kink={kink}, "
                         f"smooth={smooth}, window={window}")
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
    slope_ratio = tail_slope_ratio(lams, phi, i, window)
    if not np.isfinite(slope_ratio):
        return Transition("unresolved", float("nan"), i, frac,
                          f"fewer than 2 grid points past the onset at λ = {lams[i]:.4g}; "
                          "extend the λ grid")
    if slope_ratio >= smooth:
        return Transition("none", float("nan"), i, frac,
                          f"smooth decay: slope past the onset {slope_ratio:.2g} × the slope "
                          "before it (no kink)")
    if slope_ratio > kink:
        return Transition("unresolved", float("nan"), i, frac,
                          f"slope ratio {slope_ratio:.2g} between a kink ({kink}) and a smooth "
                          f"decay ({smooth}); refine the grid near λ = {lams[i]:.4g}")
    return Transition("second", extrapolated_zero(lams, phi), i, frac, "linear extrapolation")


def tail_slope_ratio(lams: np.ndarray, phi: np.ndarray, index: int, window: int = 3,
                     follow: float = 0.5) -> float:
    """|slope of φ past the kink| / |slope of φ before it|, at the sharpest candidate kink.

    For a candidate k the slopes are least-squares lines through the ``window`` points ending at
    k and the up to ``window`` points starting at k + 2 (one point is skipped: it may still
    carry a kink that falls between grid points). The candidates run from ``index`` (the last
    ordered point: φ more than 5 % of its range above min φ) forward while the slope before k
    stays at least ``follow`` × the slope before ``index``, i.e. while φ is still on its ordered
    slope: a linear approach to the trivial value crosses the 5 % level ⌈0.05 / (share of the
    range per step)⌉ points before its kink, several on a fine grid. The smallest ratio over the
    candidates is returned. A kink gives ≈ 0; a smooth (e.g. exponential) decay, whose slope
    keeps falling, a ratio of order one at every candidate. NaN when fewer than 2 points lie
    past ``index`` + 1.
    """
    def slope(points: np.ndarray) -> float:
        return float(np.polyfit(lams[points], phi[points], 1)[0])

    ratios = []
    reference = None
    for k in range(index, lams.size):
        before = np.arange(max(0, k - window + 1), k + 1)
        after = np.arange(k + 2, min(k + 2 + window, lams.size))
        if after.size < 2 or before.size < 2:
            break
        s_before = slope(before)
        if reference is None:
            reference = s_before
            if s_before == 0:
                return float("inf")
        elif abs(s_before) < follow * abs(reference):
            break
        ratios.append(abs(slope(after)) / abs(s_before))
    return min(ratios) if ratios else float("nan")


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


@dataclass(frozen=True)
class Loop:
    """Where an upward and a downward sweep differ.

    ``width``: total λ-length of grid intervals whose two ends both differ by more than the
    tolerance and are not excluded; ``lam_lo``/``lam_hi``: the extent of those intervals (NaN
    if none); ``apart``: per point, whether the branches differ; ``excluded``: per point,
    whether it was left out (e.g. a down-sweep point at a saddle).
    """

    width: float
    lam_lo: float
    lam_hi: float
    apart: np.ndarray
    excluded: np.ndarray

    @property
    def n_excluded_apart(self) -> int:
        """Points where the branches differ but that were excluded (not counted as a loop)."""
        return int(np.count_nonzero(self.apart & self.excluded))


def hysteresis_loop(
    lams: Sequence[float], up: Sequence[float], down: Sequence[float], tol: float = 0.1,
    exclude: Sequence[bool] | None = None,
) -> Loop:
    """The λ range where upward and downward sweeps differ by more than ``tol`` × their range.

    A grid interval counts when the branches differ at both its ends and neither end is in
    ``exclude`` (e.g. :func:`saddle_points` of the downward sweep: a saddle is not a metastable
    state, however long a sweep lingers there). 0 width means no loop.
    """
    lams, up = _check_curve(lams, up)
    _, down = _check_curve(lams, down)
    if not tol > 0:
        raise ValueError(f"tol must be > 0 (a fraction of the branches' range), got {tol}")
    excluded = (np.zeros(lams.size, dtype=bool) if exclude is None
                else np.asarray(exclude, dtype=bool))
    if excluded.shape != lams.shape:
        raise ValueError(f"exclude must have one entry per grid point ({lams.size}), "
                         f"got {excluded.shape}")
    span = max(up.max(), down.max()) - min(up.min(), down.min())
    apart = np.abs(up - down) > tol * span if span > 0 else np.zeros(lams.size, dtype=bool)
    counted = apart & ~excluded
    both = counted[:-1] & counted[1:]
    if not both.any():
        return Loop(0.0, float("nan"), float("nan"), apart, excluded)
    idx = np.flatnonzero(both)
    return Loop(float(np.sum(np.diff(lams)[both])), float(lams[idx[0]]),
                float(lams[idx[-1] + 1]), apart, excluded)


def hysteresis_width(
    lams: Sequence[float], up: Sequence[float], down: Sequence[float], tol: float = 0.1,
    exclude: Sequence[bool] | None = None,
) -> float:
    """Total λ-length where the sweeps differ by more than ``tol`` × range
    (:func:`hysteresis_loop`'s ``width``); 0 means no loop."""
    return hysteresis_loop(lams, up, down, tol, exclude).width


def saddle_points(min_eigenvalues: np.ndarray, tol: float) -> np.ndarray:
    """Per grid point: True where any member's smallest eigenvalue of ∇²L_λ is below −``tol``.

    ``min_eigenvalues`` has shape (n_λ,) or (n_λ, K). Such a point is a saddle of the
    regularised loss (a direction of descent exists), not a minimum, so it is no metastable
    state. ``tol`` > 0 absorbs the eigensolver's and the optimiser's error.
    """
    eig = np.asarray(min_eigenvalues, dtype=np.float64)
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    eig = eig.reshape(eig.shape[0], -1)
    return np.any(eig < -tol, axis=1)


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


def _rss(x: np.ndarray, y: np.ndarray, degree: int) -> float:
    """Residual sum of squares of a least-squares polynomial fit (x centred and scaled)."""
    xs = (x - x.mean()) / (0.5 * np.ptp(x))
    coef = np.polynomial.polynomial.polyfit(xs, y, degree)
    return float(np.sum((y - np.polynomial.polynomial.polyval(xs, coef)) ** 2))


@dataclass(frozen=True)
class ChangePoints:
    """Breaks found by :func:`local_change_points`.

    ``lams``: where (per break, the score-weighted mean of the midpoints of its accepted grid
    steps: a kink on a grid point lands on it, a jump between two points halfway);
    ``scores``: each break's best misfit ratio; ``score``: the ratio at every grid step j
    (between points j and j + 1; NaN where untestable, near the grid ends); ``reach``: the
    largest score the step could have had (two pieces fitting perfectly, (RSS_smooth + f)/f;
    inf without ``noise``): where it is below the penalty, the noise hides any break (no power
    there), while on exact data a smooth fit is evidence that there is none.
    """

    lams: np.ndarray
    scores: np.ndarray
    score: np.ndarray
    reach: np.ndarray

    def power_near(self, lam: float, lams: np.ndarray, distance: float, penalty: float
                   ) -> bool:
        """Whether a break within ``distance`` (in λ) of ``lam`` could have been found."""
        mids = 0.5 * (lams[:-1] + lams[1:])
        near = (np.abs(mids - lam) <= distance) & ~np.isnan(self.reach)
        return bool(near.any() and np.max(self.reach[near]) >= penalty)


def local_change_points(
    lams: Sequence[float],
    signal: Sequence[float],
    *,
    window: int = 4,
    penalty: float = 4.0,
    noise: float | Sequence[float] | None = None,
    degree: int = 2,
) -> ChangePoints:
    """Kinks and jumps of ``signal``, each judged in its own window on the signal's own scale.

    Why this detector. A curvature curve R(λ) can span four decades (|R| ≈ 5000 at small λ, a few
    hundred later), and a transition shows as a change of *slope* (a kink) or of level (a jump).
    A global segmentation cost (ruptures' "l2", "normal", "linear") sums squared misfits over the
    whole curve, so a kink where |R| is small costs nothing next to the large values: the
    mean-variance detector on raw R missed the middle mode of chapter 2 (review R4), and a given
    number of breaks forces breaks elsewhere. Here every candidate break, between grid points j
    and j + 1, is judged only on the 2·``window`` points around it: two separate polynomials of
    ``degree`` (left and right of the break) against one smooth polynomial of degree
    2·``degree`` + 1 over the same points. Both models have the same number of parameters, so
    the ratio of their residual sums of squares

        score = (RSS_smooth + f) / (RSS_two + f)

    is a scale-free likelihood ratio: multiplying the signal, or any part of it, by a factor
    leaves it unchanged, so a kink at |R| ~ 10⁴ and one at |R| ~ 1 are found alike (tested on
    kinks spanning three decades). A smooth curve is fitted as well or better by the single
    polynomial (score ≲ 1; ≤ 0.1 on the smooth test curves); a kink or a jump is fitted exactly
    by two pieces and not by one (score ≫ 1). ``penalty`` is the factor a break must win by
    (a penalty on the extra break, not a number of breaks). ``f`` is the misfit expected from
    noise, (2·window − 2·degree − 2)·σ² with σ from ``noise`` (per point or one value; e.g. the
    standard error of a stochastic estimate), plus 10⁻¹⁶ × the window's mean square (a relative
    error of 10⁻⁸, above the optimiser's) so that exact data stay finite. Without ``noise``, on
    noisy data the score of a pure-noise window is an F(ν, ν) ratio with few degrees of
    freedom: give ``noise`` for stochastic signals.
    Accepted steps closer than ``window`` points form one break; so breaks closer than
    ``window`` grid steps merge, and breaks within ``window − 1`` points of either end of the
    grid cannot be found.
    """
    lams, y = _check_curve(lams, signal)
    w, d = int(window), int(degree)
    if d < 1 or w < d + 2:
        raise ValueError(f"need degree >= 1 and window >= degree + 2, got window={window}, "
                         f"degree={degree}")
    if lams.size < 2 * w:
        raise ValueError(f"need at least 2·window = {2 * w} grid points, got {lams.size}")
    if not penalty > 1:
        raise ValueError(f"penalty must be > 1 (the factor a break must win by), got {penalty}")
    sigma2 = np.zeros(lams.size) if noise is None else np.broadcast_to(
        np.asarray(noise, dtype=np.float64) ** 2, lams.shape)
    score = np.full(lams.size - 1, np.nan)
    reach = np.full(lams.size - 1, np.nan)
    dof = 2 * w - 2 * (d + 1)
    for j in range(w - 1, lams.size - w):
        sel = slice(j - w + 1, j + w + 1)
        x, v = lams[sel], y[sel]
        two = _rss(x[:w], v[:w], d) + _rss(x[w:], v[w:], d)
        noise_rss = dof * float(np.mean(sigma2[sel]))
        floor = noise_rss + 1e-16 * float(np.mean(v**2)) * 2 * w
        smooth = _rss(x, v, 2 * d + 1)
        score[j] = (smooth + floor) / (two + floor) if floor > 0 else 1.0
        reach[j] = (smooth + floor) / floor if noise_rss > 0 else np.inf
    accepted = np.flatnonzero(np.nan_to_num(score) >= penalty)
    groups: list[list[int]] = []
    for j in accepted:
        if groups and j - groups[-1][-1] < w:
            groups[-1].append(int(j))
        else:
            groups.append([int(j)])
    mids = 0.5 * (lams[:-1] + lams[1:])
    where = [float(np.average(mids[g], weights=score[g])) for g in groups]
    return ChangePoints(np.asarray(where), np.asarray([float(score[g].max()) for g in groups]),
                        score, reach)


def nearest_offsets(found: Sequence[float], targets: Sequence[float], step: float
                    ) -> np.ndarray:
    """For each target λ: the distance to the nearest found λ, in units of ``step`` (inf when
    nothing was found)."""
    found, targets = np.asarray(found, dtype=float), np.asarray(targets, dtype=float)
    if found.size == 0:
        return np.full(targets.shape, np.inf)
    return np.abs(found[None, :] - targets[:, None]).min(axis=1) / step


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
