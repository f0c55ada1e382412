"""The Δ statistics near jamming: histograms, pooled gaps, power-law exponents.

Near N* the gaps follow power laws at small |Δ| (Geiger et al., arXiv 1809.09349):
P₊(Δ) ~ Δ^θ for Δ > 0 (θ ≈ 0.3) and P₋(Δ) ~ (−Δ)^(−γ) for Δ < 0 (γ ≈ 0.2). Both are a density
p(x) ∝ x^a below an upper cut-off x_c (a = θ, or a = −γ for x = −Δ), above a fixed floor
x_min: the resolution of the minimiser. :func:`fit_power_law` fits it by maximum likelihood
with x_c chosen by the Kolmogorov–Smirnov criterion of Clauset, Shalizi & Newman (2009), and
bootstraps a confidence interval (x_c re-selected in every resample). Without the floor, in
the variable u = 1/x this is exactly their problem, p(u) ∝ u^(−α) above u_min = 1/x_c with
α = 2 + a. :func:`measure_exponent` reports an exponent only when its sample can resolve it.

The runs and their classification are :mod:`l2lib.measure.jamming`; this module only reads
them (kept apart so that editing a fit leaves the stored scans valid).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import brentq

from l2lib.measure.jamming import dead_mask
from l2lib.train.scan import Scan

# --------------------------------------------------------------------------------------------
# Histograms and pooled gaps


def log_histogram(values: np.ndarray, lo: float = 1e-9, hi: float = 1e4, n_bins: int = 130
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Density of positive ``values`` in ``n_bins`` log-spaced bins from ``lo`` to ``hi`` (the
    authors' bins): (geometric bin centres, density per unit x); empty bins are NaN."""
    edges = np.logspace(np.log10(lo), np.log10(hi), n_bins + 1)
    counts, _ = np.histogram(np.asarray(values, dtype=np.float64), edges)
    density = counts / max(counts.sum(), 1) / np.diff(edges)
    return np.sqrt(edges[1:] * edges[:-1]), np.where(counts > 0, density, np.nan)


def run_gaps(scan: Scan, run: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Gaps of one run without its dead data: (Δ/√L for live Δ > 0, −Δ for live Δ < 0, number
    of dead data), with L = (1/P_live) Σ_live ½ Δ² θ(Δ) the loss of the live data alone."""
    x, _ = scan.data(run)
    dead = dead_mask(torch.as_tensor(scan.theta[run]), scan.sizes, x)
    delta = scan.deltas[run][~dead]
    loss = 0.5 * float(np.mean(np.square(np.maximum(delta, 0)))) if delta.size else 0.0
    pos = delta[delta > 0] / math.sqrt(loss) if loss > 0 else np.zeros(0)
    return pos, -delta[delta < 0], int(dead.sum())


def pooled_gaps(scans: Iterable[Scan], window: float | None = None
                ) -> tuple[np.ndarray, np.ndarray, int]:
    """Gaps of jammed runs (:attr:`Scan.jammed`: the classified ones when the scan carries
    labels), pooled by :func:`run_gaps`: (Δ/√L for Δ > 0, −Δ for Δ < 0, number of runs).
    ``window``: only jammed runs with P ≤ (1 + window)·P* of their seed
    (:meth:`Scan.near_transition`); None: every jammed run. Dead data are left out of the gaps
    and of the loss L that rescales them."""
    pos, neg, runs = [], [], 0
    for scan in scans:
        chosen = np.flatnonzero(scan.jammed) if window is None else scan.near_transition(window)
        for i in chosen:
            a, b, _ = run_gaps(scan, int(i))
            pos.append(a)
            neg.append(b)
            runs += 1
    if not runs:
        return np.zeros(0), np.zeros(0), 0
    return np.concatenate(pos), np.concatenate(neg), runs


# --------------------------------------------------------------------------------------------
# Power law at small x with a fitted cut-off


@dataclass(frozen=True)
class PowerLawFit:
    """p(x) ∝ x^a on [x_min, x_c] (x_min = 0: no floor): exponent ``a``, the cut-offs, points
    inside ``n_tail`` (of ``n``), KS distance ``ks``, bootstrap interval ``ci`` at ``level``."""

    a: float
    x_min: float
    x_c: float
    n_tail: int
    n: int
    ks: float
    ci: tuple[float, float]
    level: float

    def density(self, x: np.ndarray) -> np.ndarray:
        """The fitted density of the whole sample (window fraction × truncated power law) inside
        the window, NaN outside."""
        x = np.asarray(x, dtype=np.float64)
        b = self.a + 1
        norm = b / (self.x_c**b - self.x_min**b)
        p = self.n_tail / self.n * norm * x**self.a
        return np.where((x >= self.x_min) & (x <= self.x_c), p, np.nan)


def _ks(cdf: np.ndarray) -> float:
    """Kolmogorov–Smirnov distance of sorted samples whose model CDF values are ``cdf``."""
    m = cdf.size
    i = np.arange(1, m + 1)
    return float(max(np.max(i / m - cdf), np.max(cdf - (i - 1) / m)))


def _window_fit(inner: np.ndarray, log_lo: float, log_hi: float) -> tuple[float, float]:
    """(a, KS) from the sorted log-values strictly inside the window (log_lo, log_hi); log_lo
    = −inf: no lower cut-off, then a + 1 = m / Σ log(x_c / x_i). With one, u = log(x / x_min)
    is a truncated exponential on [0, U] whose rate (a + 1) is fixed by the mean of u."""
    m = inner.size
    if log_lo == -np.inf:
        below = inner - log_hi
        if m < 2 or below.sum() >= 0:
            return np.nan, np.inf
        a1 = -m / below.sum()
        return a1 - 1, _ks(np.exp(a1 * below))
    span = log_hi - log_lo
    u = (inner - log_lo) / span  # in (0, 1); mean h(t) for the rate t = (a + 1) U

    def h(t: float) -> float:
        return 0.5 + t / 12 if abs(t) < 1e-6 else 1 / -math.expm1(-t) - 1 / t

    target = float(u.mean())
    if m < 3 or not h(-500) < target < h(500):
        return np.nan, np.inf
    t = brentq(lambda v: h(v) - target, -500, 500, xtol=1e-10)
    cdf = u if abs(t) < 1e-9 else np.expm1(t * u) / math.expm1(t)
    return t / span - 1, _ks(cdf)


def _fit(logs: np.ndarray, n_min: int, n_candidates: int, log_lo: float, hi: float | None,
         min_span: float = 0.0) -> tuple[float, float, int, float]:
    """(a, log x_c, points inside, KS) for sorted logs above ``log_lo`` (−inf: no lower
    cut-off). A free upper cut-off ranges over the order statistics at ``n_candidates``
    geometrically spaced ranks with at least ``n_min`` points inside and a window of at least
    ``min_span`` (natural-log units, from the smallest sample above log_lo); the smallest KS
    wins."""
    first = int(np.searchsorted(logs, log_lo, "right"))
    if hi is not None:
        inner = logs[first:np.searchsorted(logs, hi)]
        a, ks = _window_fit(inner, log_lo, hi)
        return a, hi, inner.size, ks
    best = (np.nan, np.nan, 0, np.inf)
    if first >= logs.size:
        return best
    lower = logs[first]  # the span counts from the smallest sample above the floor
    ranks = np.geomspace(n_min + 1, max(logs.size - first, n_min + 1), n_candidates)
    for m in np.unique(ranks.round().astype(int)):
        if first + m > logs.size or logs[first + m - 1] - lower < min_span:
            continue
        a, ks = _window_fit(logs[first:first + m - 1], log_lo, logs[first + m - 1])
        if ks < best[3]:
            best = (a, float(logs[first + m - 1]), int(m - 1), ks)
    return best


def fit_power_law(
    x: Sequence[float] | np.ndarray, *, x_min: float = 0.0, x_c: float | None = None,
    n_min: int = 50, n_candidates: int = 60, n_boot: int = 200, level: float = 0.95,
    seed: int = 0, min_decades: float = 0.0,
) -> PowerLawFit:
    """Fit p(x) ∝ x^a on x_min < x < x_c to positive samples ``x`` by maximum likelihood.

    The power law describes small x: it ends at an upper cut-off x_c, fitted unless given: the
    sample value (among ``n_candidates`` order statistics with at least ``n_min`` points
    between x_min and it) minimising the Kolmogorov–Smirnov distance between those points and
    the fit — Clauset, Shalizi & Newman's (2009) choice of their lower cut-off, in the variable
    1/x. ``x_min`` is a fixed resolution floor (0: none): samples below it are left out and the
    likelihood is truncated there. The interval is the percentile bootstrap over ``n_boot``
    resamples of the whole sample, each refitted the same way (x_c included). ``min_decades``:
    only windows spanning at least that many decades (from x_min, or from the smallest sample
    when x_min = 0) are candidates; a ValueError when none is.
    """
    x = np.sort(np.asarray(x, dtype=np.float64).ravel())
    if x.size <= max(n_min, 2) or not np.all(np.isfinite(x)) or x[0] <= 0:
        raise ValueError(f"need more than max(n_min, 2) = {max(n_min, 2)} finite positive "
                         f"samples, got {x.size} (smallest {x[0] if x.size else None})")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if x_min < 0 or (x_c is not None and not x_c > max(x_min, x[0])):
        raise ValueError(f"need 0 <= x_min < x_c with samples between, got x_min={x_min}, "
                         f"x_c={x_c} (smallest sample {x[0]})")
    logs = np.log(x)
    args = (n_min, n_candidates, -np.inf if x_min == 0 else math.log(x_min),
            None if x_c is None else math.log(x_c), min_decades * math.log(10))
    a, log_hi, n_tail, ks = _fit(logs, *args)
    if not np.isfinite(a):
        raise ValueError(f"no window with at least n_min = {n_min} samples above x_min = "
                         f"{x_min} spanning at least {min_decades} decades")
    rng = np.random.default_rng(seed)
    draws = np.array([_fit(np.sort(rng.choice(logs, logs.size)), *args)[0]
                      for _ in range(n_boot)])
    draws = draws[np.isfinite(draws)]
    tail = 50 * (1 - level)
    ci = np.percentile(draws, [tail, 100 - tail]) if draws.size else (np.nan, np.nan)
    return PowerLawFit(a=float(a), x_min=float(x_min), x_c=math.exp(log_hi), n_tail=n_tail,
                       n=x.size, ks=ks, ci=(float(ci[0]), float(ci[1])), level=level)


def gap_exponents(
    positive: np.ndarray, negative: np.ndarray, *, floor: float = 0.0, n_min: int = 50,
    n_boot: int = 200, seed: int = 0,
) -> tuple[PowerLawFit | None, PowerLawFit | None]:
    """Fits of P₊ (exponent a = θ) and P₋ (a = −γ) by :func:`fit_power_law` above the
    resolution ``floor``; None for a side with at most ``n_min`` gaps above it."""
    fits = []
    for values in (positive, negative):
        values = np.asarray(values, dtype=np.float64)
        values = values[values > 0]
        fits.append(fit_power_law(values, x_min=floor, n_min=n_min, n_boot=n_boot, seed=seed)
                    if (values > floor).sum() > max(n_min, 2) else None)
    return fits[0], fits[1]


# --------------------------------------------------------------------------------------------
# An exponent that is measured only when the sample can resolve it


def tail_count_needed(a_ref: float, halfwidth: float = 0.1, z: float = 1.96) -> int:
    """Gaps needed inside the window for a ±``halfwidth`` interval (at ``z`` standard errors)
    on an exponent near ``a_ref``: the MLE of p ∝ x^a has standard error ≈ (a + 1)/√n, so
    n ≥ (z (a_ref + 1) / halfwidth)² (θ ≈ 0.3: 650; a = −γ ≈ −0.2: 246)."""
    return int(math.ceil((z * (a_ref + 1) / halfwidth) ** 2))


@dataclass(frozen=True)
class ExponentEstimate:
    """A gap exponent, or why it is not measurable: ``fit`` (None when not measurable),
    ``n_above_floor`` gaps above the resolution floor, ``n_needed`` the stated minimum count in
    the window, ``min_decades`` its minimum span, ``reason`` (empty when measurable)."""

    fit: PowerLawFit | None
    n_above_floor: int
    n_needed: int
    min_decades: float
    reason: str = ""
    decades: float = np.nan  # decades of data in the window: x_c / smallest gap above the floor

    @property
    def measurable(self) -> bool:
        return self.fit is not None


def measure_exponent(
    values: np.ndarray, *, a_ref: float, floor: float, halfwidth: float = 0.1,
    min_decades: float = 2.0, n_boot: int = 200, seed: int = 0, level: float = 0.95,
) -> ExponentEstimate:
    """Fit p(x) ∝ x^a to the positive ``values`` above ``floor`` (:func:`fit_power_law`, KS
    cut-off, bootstrap interval) only if the sample can resolve it: at least
    :func:`tail_count_needed` (``a_ref``, ``halfwidth``) gaps inside a window of at least
    ``min_decades`` decades above the floor. Otherwise the estimate carries no fit and says why
    (and how many gaps it would need)."""
    if not floor > 0:
        raise ValueError(f"floor must be > 0 (the resolution of the minimiser), got {floor}")
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values) & (values > 0)]
    n_above = int((values > floor).sum())
    needed = tail_count_needed(a_ref, halfwidth, z=_z(level))
    if n_above <= needed:
        return ExponentEstimate(None, n_above, needed, min_decades,
                                f"{n_above} gaps above the floor {floor:g}, {needed} needed")
    try:
        fit = fit_power_law(values, x_min=floor, n_min=needed, n_boot=n_boot, seed=seed,
                            level=level, min_decades=min_decades)
    except ValueError:
        return ExponentEstimate(None, n_above, needed, min_decades,
                                f"no window of ≥ {min_decades:g} decades above {floor:g} holds "
                                f"{needed} gaps ({n_above} above the floor)")
    smallest = float(values[values > floor].min())
    return ExponentEstimate(fit, n_above, needed, min_decades,
                            decades=math.log10(fit.x_c / smallest))


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))
