"""Classifying the runs of a jamming scan, and the Hessian at a minimum.

* The Hessian of the hinge loss splits as H = H₀ + H_p with H₀ = (1/P) Σ_{Δ>0} ∇Δ ∇Δᵀ
  (positive semi-definite, rank ≤ N_Δ) and H_p = (1/P) Σ_{Δ>0} Δ ∇²Δ (:func:`hessian_split`,
  dense, over all parameters: weights and biases).
* A run is classified as in Geiger et al. (:func:`check_run`): **SAT** when the mean squared gap
  of the live data is below a precision floor; **jammed** only at a checked minimum (no descent
  along −∇L or the softest Hessian modes) with N_Δ > f·N; otherwise **not converged** and left
  out. *Dead* data (every unit of the last hidden layer off: f is the output bias there, no weight
  moves them) are left out of the gaps, of the loss that rescales them and of N_Δ; they are
  counted.

The Δ histograms and power-law exponents measured on the classified runs are
:mod:`l2lib.measure.gap_statistics` (apart, so that editing a fit keeps the stored scans valid:
the scans depend on this module).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
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
