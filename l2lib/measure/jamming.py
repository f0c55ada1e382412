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
* A run is classified as in Geiger et al. (:func:`check_run`): **SAT** when the mean squared gap
  of the live data is below a precision floor; **jammed** only at a checked minimum (no descent
  along −∇L or the softest Hessian modes) with N_Δ > f·N; otherwise **not converged** and left
  out. *Dead* data (every unit of the last hidden layer off: f is the output bias there, no weight
  moves them) are left out of the gaps, of the loss that rescales them and of N_Δ; they are
  counted.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import brentq
from torch import Tensor

from l2lib.models.flat import FlatLayout
from l2lib.train.hinge import EPSILON, hinge_loss
from l2lib.train.scan import (
    JAMMED,
    NOT_CHECKED,
    NOT_CONVERGED,
    SAT,
    Scan,
    StoredConvergence,
    run_address,
)

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
    :func:`l2lib.train.hinge.dead_points`), for one flat parameter vector."""
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


# --------------------------------------------------------------------------------------------
# Classification: SAT, jammed (at a checked minimum), not converged


@dataclass(frozen=True)
class JamRule:
    """How a finished run is classified (:func:`check_run`).

    ``sat_floor``: SAT when ⟨Δ² θ(Δ)⟩ over the live data is below it. 1e-12 (rms unsatisfied
    gap 1e-6 of the margin ε = 1) lies far above float64 rounding of Δ (≈ 1e-13 in Δ, 1e-26 in
    Δ², the level of runs that fitted and are read a step too early) and, in every run of this
    chapter, below the jammed states' values (checked and shown by the chapter).
    ``unsat_fraction``: jammed needs N_Δ > f·N (the authors' f = 0.1).

    The minimum check is made by probing, because minima of ReLU nets sit on kinks (a
    pre-activation exactly 0 at some datum), where the loss is not twice differentiable: the
    Hessian there may show negative eigenvalues along which the loss still rises linearly both
    ways. A state is a minimum when no probe lowers the loss by more than ``descent_tol`` × L:
    steps of length ``steps`` (in parameter space) along −∇L and along ± each of the
    ``n_soft`` softest Hessian eigenvectors. 1e-5 is the resolution of the L-BFGS finish here:
    in the quick profile the runs deep in the UNSAT phase (P = 3N) end with best probe gains of
    1e-7–1e-5 of L, while runs that only looked jammed fit outright (L → 0) under L-BFGS; a
    stricter value would exclude the former for the minimiser's budget, not for the data.
    ``dense_max``: the largest net (parameters) whose dense Hessian is computed.
    """

    sat_floor: float = 1e-12
    unsat_fraction: float = 0.1
    descent_tol: float = 1e-5
    steps: tuple[float, ...] = (1e-6, 1e-4, 1e-2)
    n_soft: int = 3
    dense_max: int = 5000

    def __post_init__(self) -> None:
        if not (self.sat_floor > 0 and 0 <= self.unsat_fraction < 1 and self.descent_tol >= 0
                and self.n_soft >= 1 and self.steps and min(self.steps) > 0):
            raise ValueError(f"invalid JamRule {self}: need sat_floor > 0, 0 <= unsat_fraction "
                             "< 1, descent_tol >= 0, n_soft >= 1 and positive steps")


@dataclass(frozen=True)
class RunCheck:
    """The classification of one run and the measurements behind it.

    ``n_delta``: N_Δ over the live data; ``mean_sq_gap``: ⟨Δ² θ(Δ)⟩ over the live data (= 2 L);
    ``force``: the stationarity residual |∇L| / ((1/P) Σ_{Δ>0} Δ |∇Δ|) (0 at force balance,
    1 when all contacts pull the same way; not 0 at a kink minimum); ``lambda_min`` /
    ``lambda_max``: extreme eigenvalues of the Hessian of the live loss; ``descent``: the
    largest relative decrease 1 − L'/L a probe found (≤ descent_tol at a minimum); ``n_eff``:
    rank of the Jacobian of all live margins (effective parameters), ``contact_rank``: rank of
    the Jacobian of the unsatisfied ones (NaN / −1 where not needed)."""

    status: str
    reason: str
    p: int
    n_dead: int
    n_dead_unsat: int
    n_delta: int
    mean_sq_gap: float
    force: float = np.nan
    lambda_min: float = np.nan
    lambda_max: float = np.nan
    descent: float = np.nan
    n_eff: int = -1
    contact_rank: int = -1


def check_run(theta: Tensor, sizes: Sequence[int], x: Tensor, y: Tensor, n: int,
              rule: JamRule = JamRule(), eps: float = EPSILON) -> RunCheck:
    """Classify the state ``theta`` of a jamming net (layer ``sizes``) on data (x, y), N = ``n``
    weights: SAT, jammed or not converged (with the reason). Dead data are left out of
    everything; a state that fits the live data but leaves dead data unfitted is not
    converged (dead units, not a fit)."""
    theta = torch.as_tensor(theta).detach().to(x.dtype)
    dead = torch.as_tensor(dead_mask(theta, sizes, x))
    delta = gap_function(sizes, x, y, eps)(theta).detach()
    n_dead, n_dead_unsat = int(dead.sum()), int((dead & (delta > 0)).sum())
    live = delta[~dead]
    msq = float(torch.relu(live).square().mean()) if live.numel() else 0.0
    nd = int((live > 0).sum())
    base = dict(p=int(x.shape[0]), n_dead=n_dead, n_dead_unsat=n_dead_unsat, n_delta=nd,
                mean_sq_gap=msq)
    if msq < rule.sat_floor:
        if n_dead_unsat:
            return RunCheck(NOT_CONVERGED, f"{n_dead_unsat} dead data unfitted", **base)
        return RunCheck(SAT, "", **base)
    if nd <= rule.unsat_fraction * n:
        return RunCheck(NOT_CONVERGED, f"N_Δ = {nd} ≤ {rule.unsat_fraction:g} N with "
                        f"⟨Δ²⟩ = {msq:.2g} above the floor", **base)
    if theta.numel() > rule.dense_max:
        raise ValueError(f"the minimum check needs a dense Hessian: {theta.numel()} parameters "
                         f"> dense_max = {rule.dense_max}; raise JamRule.dense_max")
    gaps = gap_function(sizes, x[~dead], y[~dead], eps)

    def loss(th: Tensor) -> Tensor:
        return hinge_loss(gaps(th)[None])[0]

    jac = torch.func.jacfwd(gaps)(theta)
    on = live > 0
    grad = torch.func.grad(loss)(theta)
    scale = float((live[on] * jac[on].norm(dim=1)).sum()) / live.numel()
    # reverse over reverse: equal to torch.func.hessian's forward over reverse to rounding
    # (tests/test_measure_jamming.py) and as fast at these sizes (ratios 0.98–1.10 at
    # N ≈ 250–1000 on one thread, benchmarks/bench_jamming_check.py)
    ev, vecs = torch.linalg.eigh(torch.func.jacrev(torch.func.grad(loss))(theta))
    l0 = float(loss(theta))
    probes = [("not stationary: the loss falls along −∇L", -grad / grad.norm())]
    probes += [(f"saddle: the loss falls along Hessian mode {k} (λ = {float(ev[k]):.2g})",
                sign * vecs[:, k]) for k in range(min(rule.n_soft, ev.numel()))
               for sign in (1, -1)]
    descent, reason = 0.0, ""
    with torch.no_grad():
        for why, v in probes:
            for step in rule.steps:
                drop = 1 - float(loss(theta + step * v)) / l0
                if drop > descent:
                    descent, reason = drop, why
    j = jac.cpu().numpy()
    checks = dict(force=float(grad.norm()) / scale, lambda_min=float(ev[0]),
                  lambda_max=float(ev[-1]), descent=descent,
                  n_eff=int(np.linalg.matrix_rank(j)),
                  contact_rank=int(np.linalg.matrix_rank(j[on.cpu().numpy()])), **base)
    if descent > rule.descent_tol:
        return RunCheck(NOT_CONVERGED, f"{reason} (by {descent:.1e} of L)", **checks)
    return RunCheck(JAMMED, "", **checks)


def classify(scan: Scan, rule: JamRule = JamRule(), reach: float | None = None,
             converge_iter: int = 0, *, device: str | torch.device = "cpu",
             store_root: str | os.PathLike | None = None,
             memo: dict[tuple[int, JamRule], RunCheck] | None = None,
             ) -> tuple[Scan, list[RunCheck | None]]:
    """Classify the runs of ``scan`` by :func:`check_run`: the scan labelled with the statuses
    (its ``jammed``/``sat_side``/``excluded`` then follow them) and the checks, in run order.

    ``converge_iter`` > 0: every run not yet SAT is first minimised on by L-BFGS
    (:class:`~l2lib.train.scan.StoredConvergence`, at most that many iterations; stored under
    ``store_root`` when given) and the returned scan holds the converged states. ``reach``:
    runs are visited per seed in increasing P; after the first jammed one, only those up to
    (1 + reach) × its P are converged and checked, the rest labelled "not checked" (check None)
    and, like "not converged", left out. None: all runs. ``memo``: a dict kept between calls
    (e.g. the rounds of one scan) in which each checked state's check is kept, so that it is
    computed once.
    """
    checks: list[RunCheck | None] = [None] * len(scan.p)
    converge = (StoredConvergence(scan.name, converge_iter, device=device,
                                  store_root=store_root) if converge_iter else None)
    for s in np.unique(scan.seed):
        first = None
        for i in sorted(np.flatnonzero(scan.seed == s), key=lambda j: scan.p[j]):
            i = int(i)
            if reach is not None and first is not None and scan.p[i] > (1 + reach) * first:
                break
            if converge is not None and scan.n_delta[i] > 0:
                scan = converge(scan, i)
            state = (run_address(scan, i), rule) if memo is not None else None
            if state is not None and state in memo:
                checks[i] = memo[state]
            else:
                checks[i] = check_run(torch.as_tensor(scan.theta[i]), scan.sizes,
                                      *scan.data(i), scan.n, rule)
                if state is not None:
                    memo[state] = checks[i]
            if first is None and checks[i].status == JAMMED:
                first = int(scan.p[i])
    labels = [NOT_CHECKED if c is None else c.status for c in checks]
    return scan.labelled(labels), checks
