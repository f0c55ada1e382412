"""Statistics at the jamming transition: Δ histograms, power-law exponents, the Hessian split.

* Near N* the gaps follow power laws at small |Δ| (Geiger et al., arXiv 1809.09349):
  P₊(Δ) ~ Δ^θ for Δ > 0 (θ ≈ 0.3) and P₋(Δ) ~ (−Δ)^(−γ) for Δ < 0 (γ ≈ 0.2). Both are a density
  p(x) ∝ x^a below an upper cut-off x_c (a = θ, or a = −γ for x = −Δ), above a fixed floor
  x_min: the resolution of the minimiser. :func:`fit_power_law` fits it by maximum likelihood
  with x_c chosen by the Kolmogorov–Smirnov criterion of Clauset, Shalizi & Newman (2009), and
  bootstraps a confidence interval (x_c re-selected in every resample). Without the floor, in
  the variable u = 1/x this is exactly their problem, p(u) ∝ u^(−α) above u_min = 1/x_c with
  α = 2 + a.
* The Hessian of the hinge loss splits as H = H₀ + H_p with H₀ = (1/P) Σ_{Δ>0} ∇Δ ∇Δᵀ
  (positive semi-definite, rank ≤ N_Δ) and H_p = (1/P) Σ_{Δ>0} Δ ∇²Δ (:func:`hessian_split`,
  dense, over all parameters: weights and biases).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import brentq
from torch import Tensor

from l2lib.models.flat import FlatLayout
from l2lib.train.hinge import EPSILON, hinge_loss
from l2lib.train.scan import Scan

# torch.func's forward-mode rules go through a deprecated torch.jit.script call
warnings.filterwarnings("ignore", message=r"`torch.jit.script` is deprecated",
                        category=FutureWarning)

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


def pooled_gaps(scans: Iterable[Scan], window: float | None = None
                ) -> tuple[np.ndarray, np.ndarray, int]:
    """Gaps of jammed runs, pooled: (Δ/√L for Δ > 0, −Δ for Δ < 0, number of runs), L each
    run's final hinge loss. ``window``: only jammed runs near their seed's P* (see
    :meth:`Scan.near_transition`); None: every jammed run. Dead data (:func:`dead_mask`) are
    left out: f does not depend on the weights there, so they are not part of the packing."""
    pos, neg, runs = [], [], 0
    for scan in scans:
        chosen = np.flatnonzero(scan.jammed) if window is None else scan.near_transition(window)
        for i in chosen:
            x, _ = scan.data(i)
            delta = scan.deltas[i][~dead_mask(torch.as_tensor(scan.theta[i]), scan.sizes, x)]
            pos.append(delta[delta > 0] / math.sqrt(scan.loss[i]))
            neg.append(-delta[delta < 0])
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
         ) -> tuple[float, float, int, float]:
    """(a, log x_c, points inside, KS) for sorted logs above ``log_lo`` (−inf: no lower
    cut-off). A free upper cut-off ranges over the order statistics at ``n_candidates``
    geometrically spaced ranks with at least ``n_min`` points inside; the smallest KS wins."""
    first = int(np.searchsorted(logs, log_lo, "right"))
    if hi is not None:
        inner = logs[first:np.searchsorted(logs, hi)]
        a, ks = _window_fit(inner, log_lo, hi)
        return a, hi, inner.size, ks
    best = (np.nan, np.nan, 0, np.inf)
    ranks = np.geomspace(n_min + 1, max(logs.size - first, n_min + 1), n_candidates)
    for m in np.unique(ranks.round().astype(int)):
        if first + m > logs.size:
            continue
        a, ks = _window_fit(logs[first:first + m - 1], log_lo, logs[first + m - 1])
        if ks < best[3]:
            best = (a, float(logs[first + m - 1]), int(m - 1), ks)
    return best


def fit_power_law(
    x: Sequence[float] | np.ndarray, *, x_min: float = 0.0, x_c: float | None = None,
    n_min: int = 50, n_candidates: int = 60, n_boot: int = 200, level: float = 0.95,
    seed: int = 0,
) -> PowerLawFit:
    """Fit p(x) ∝ x^a on x_min < x < x_c to positive samples ``x`` by maximum likelihood.

    The power law describes small x: it ends at an upper cut-off x_c, fitted unless given: the
    sample value (among ``n_candidates`` order statistics with at least ``n_min`` points
    between x_min and it) minimising the Kolmogorov–Smirnov distance between those points and
    the fit — Clauset, Shalizi & Newman's (2009) choice of their lower cut-off, in the variable
    1/x. ``x_min`` is a fixed resolution floor (0: none): samples below it are left out and the
    likelihood is truncated there. The interval is the percentile bootstrap over ``n_boot``
    resamples of the whole sample, each refitted the same way (x_c included).
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
            None if x_c is None else math.log(x_c))
    a, log_hi, n_tail, ks = _fit(logs, *args)
    if not np.isfinite(a):
        raise ValueError(f"fewer than n_min = {n_min} samples above x_min = {x_min}")
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
# The Hessian and its two parts


def _unflatten(theta: Tensor, sizes: Sequence[int]) -> tuple[list[Tensor], list[Tensor]]:
    """Weights (in, out) then biases (1, out) of one flat vector, in the order of
    :class:`l2lib.models.flat.FlatLayout`."""
    if theta.dim() != 1:
        raise ValueError(f"theta must be one flat parameter vector, got shape {tuple(theta.shape)}")
    named = FlatLayout.mlp(sizes).unflatten(theta)
    n = len(sizes) - 1
    return ([named[f"weights.{i}"][0] for i in range(n)],
            [named[f"biases.{i}"][0] for i in range(n)])


def gap_function(sizes: Sequence[int], x: Tensor, y: Tensor, eps: float = EPSILON):
    """θ ↦ Δ(θ) = ε − y f_θ(x), shape (P,), for a flat parameter vector of a jamming net."""

    def delta(theta: Tensor) -> Tensor:
        weights, biases = _unflatten(theta, sizes)
        h = x
        for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
            h = h @ w + b
            if i < len(weights) - 1:
                h = torch.relu(h)
        return eps - y * h[:, 0]

    return delta


def dead_mask(theta: Tensor, sizes: Sequence[int], x: Tensor) -> np.ndarray:
    """(P,) True where the whole last hidden layer is off (see
    :func:`l2lib.jamming.dead_points`), for one flat parameter vector."""
    weights, biases = _unflatten(theta.to(x.dtype), sizes)
    h = x
    for w, b in zip(weights[:-1], biases[:-1], strict=True):
        h = torch.relu(h @ w + b)
    return (h == 0).all(dim=-1).cpu().numpy()


@dataclass(frozen=True)
class HessianSplit:
    """Dense H, H₀, H_p of the hinge loss at θ, and N_Δ there."""

    h: Tensor
    h0: Tensor
    hp: Tensor
    n_delta: int

    def spectra(self) -> dict[str, np.ndarray]:
        """Ascending eigenvalues of each matrix."""
        return {name: np.linalg.eigvalsh(m.cpu().numpy())
                for name, m in (("H", self.h), ("H0", self.h0), ("Hp", self.hp))}


def hessian_split(theta: Tensor, sizes: Sequence[int], x: Tensor, y: Tensor,
                  eps: float = EPSILON, chunk_size: int | None = 256) -> HessianSplit:
    """H = ∇²L, H₀ = (1/P) Σ_{Δ>0} ∇Δ∇Δᵀ and H_p = (1/P) Σ_{Δ>0} Δ ∇²Δ at θ, each computed on
    its own (``torch.func``, reverse over reverse, ``chunk_size`` directions at a time): H from
    the loss, H₀ from the Jacobian of Δ, H_p from the Hessian of Σ c_μ Δ_μ with the weights
    c_μ = Δ_μ θ(Δ_μ) / P held fixed."""
    from torch.func import jacrev

    def hessian(fn):
        return jacrev(jacrev(fn), chunk_size=chunk_size)(theta)

    theta = theta.detach()
    delta = gap_function(sizes, x, y, eps)
    p = x.shape[0]
    h = hessian(lambda th: hinge_loss(delta(th)[None])[0])
    d0 = delta(theta).detach()
    on = d0 > 0
    jac = jacrev(delta, chunk_size=chunk_size)(theta)[on]
    h0 = jac.T @ jac / p
    weights = torch.where(on, d0, torch.zeros_like(d0)) / p
    hp = hessian(lambda th: (weights * delta(th)).sum())
    return HessianSplit(h=h, h0=h0, hp=hp, n_delta=int(on.sum()))
