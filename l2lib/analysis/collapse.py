"""Chapter 4's analysis: do change points of an observable mark the changes of the probe accuracy?

Every signal is read per member (seed) on an ascending β grid that is uniform in log β, so a
*grid step* is the unit of distance. Change points come from a **penalised** detector
(:func:`detect`, ruptures' Pelt through :func:`l2lib.analysis.transitions.change_points`): the
number of breaks is not given. The signal is divided by a robust estimate of its noise
(:func:`noise_scale`, the MAD of its first or second differences), and each break costs
(p + 1)·log n in units of that noise variance (a BIC penalty: p parameters per segment plus the
break's location; p = 1 for a step of the mean, 2 for a change of slope), times
:data:`PENALTY_FACTOR`.

* The **target** is the probe accuracy itself, with ``kind="step"`` (changes of its mean): no
  conditioning on steps of the number of active units.
* A **candidate** (the curvature, or a control: ‖∇E_rec‖, KL, ‖θ‖) is transformed to log scale
  (:data:`TRANSFORMS`) and read with ``kind="kink"`` (changes of slope against log β).

The statistic (:func:`mean_nearest_distance`) is the mean, over all target change points pooled
over members, of the distance in grid steps to the nearest candidate change point of the same
member. Its null distribution comes from two randomisations that break the alignment but keep
each signal's structure (:func:`coincidence_test`), pooled over members by drawing an
independent shift per member:

* ``shift``: the candidate's change points circularly shifted along the grid intervals;
* ``surrogate``: surrogate candidate signals through the same detector: the signal's second
  differences (its kinks and its noise) circularly shifted and summed back (:func:`surrogate`).

p = (1 + #{null ≤ observed})/(1 + draws) for each; the test reports the larger of the two.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from l2lib.analysis import transitions
from l2lib.train.sweep import SweepResult

KINDS = ("step", "kink")
PENALTY_FACTOR = 1.5
"""Multiplies the BIC penalty: with the plain BIC (1.0) one series of 34 points of pure Gaussian
noise in five gets a spurious break; with 1.5 about one in fifteen (tested)."""
PARAMS_PER_SEGMENT = {"step": 1, "kink": 2}
CANDIDATES = ("curvature", "grad_norm", "kl", "param_norm")
"""The curvature of E_rec, then the controls: ‖∇E_rec‖, the total KL and ‖θ‖."""


def symlog(values: np.ndarray) -> np.ndarray:
    """sign(R)·log10(1 + |R|): log10 R for R ≫ 1, defined for any sign."""
    values = np.asarray(values, dtype=np.float64)
    return np.sign(values) * np.log10(1.0 + np.abs(values))


def _log10_positive(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return np.log10(np.maximum(values, 1e-300))


TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "curvature": symlog, "curvature_obj": symlog, "grad_norm": _log10_positive,
    "kl": _log10_positive, "param_norm": _log10_positive,
}
"""How a candidate is put on log scale before its kinks are located (R can be negative)."""


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def noise_scale(y: np.ndarray, kind: str) -> float:
    """Robust noise standard deviation of ``y``: MAD of the first (``"step"``) or second
    (``"kink"``) differences, scaled to a Gaussian σ (÷ 0.6745, ÷ √2 or √6). If that is 0 (an
    exactly piecewise-constant or linear curve), 10⁻³ of the range (1 if the range is 0)."""
    _check_kind(kind)
    y = np.asarray(y, dtype=np.float64)
    d = np.diff(y, 1 if kind == "step" else 2)
    sigma = float(np.median(np.abs(d - np.median(d))) / 0.6745 / np.sqrt(2 if kind == "step"
                                                                          else 6))
    if sigma > 0:
        return sigma
    span = float(np.ptp(y))
    return 1e-3 * span if span > 0 else 1.0


def detect(y: np.ndarray, kind: str, penalty_factor: float = PENALTY_FACTOR) -> np.ndarray:
    """Change points of ``y`` on a uniform grid, in grid units (a break between points i − 1
    and i is at i − 0.5), from Pelt with the penalty ``penalty_factor``·(p + 1)·log n on
    y/:func:`noise_scale`. An empty array when no break pays its penalty."""
    _check_kind(kind)
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1 or y.size < 8:
        raise ValueError(f"need a 1-D signal of >= 8 grid points, got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("the signal contains NaN or infinite values")
    if not penalty_factor > 0:
        raise ValueError(f"penalty_factor must be > 0, got {penalty_factor}")
    pen = penalty_factor * (PARAMS_PER_SEGMENT[kind] + 1) * np.log(y.size)
    grid = np.arange(y.size, dtype=np.float64)
    return transitions.change_points(grid, y / noise_scale(y, kind), kind=kind, penalty=pen)


def mean_nearest_distance(targets: Sequence[np.ndarray], candidates: Sequence[np.ndarray],
                          n_points: int) -> float:
    """Mean over all target change points (pooled over members) of the distance in grid steps
    to the nearest candidate change point of the same member; a member without candidate
    change points contributes ``n_points`` per target. NaN if there are no targets."""
    dists = []
    for t, c in zip(targets, candidates, strict=True):
        t, c = np.asarray(t, dtype=np.float64), np.asarray(c, dtype=np.float64)
        if t.size == 0:
            continue
        dists.append(np.abs(t[:, None] - c[None, :]).min(axis=1) if c.size
                     else np.full(t.size, float(n_points)))
    return float(np.concatenate(dists).mean()) if dists else float("nan")


def shifted_points(points: np.ndarray, shift: int, n_points: int) -> np.ndarray:
    """Change points (at i − 0.5) moved circularly by ``shift`` grid intervals of n − 1."""
    idx = np.rint(np.asarray(points, dtype=np.float64) - 0.5).astype(int)  # interval index
    return np.sort((idx + shift) % (n_points - 1) + 0.5)


def surrogate(y: np.ndarray, shift: int, kind: str) -> np.ndarray:
    """A surrogate of ``y`` for the detector ``kind``: its differences of order 1 (``"step"``)
    or 2 (``"kink"``) circularly shifted by ``shift`` and summed back from the same first value
    (and first slope): the same steps or kinks, at other places, and no new one at the wrap."""
    _check_kind(kind)
    y = np.asarray(y, dtype=np.float64)
    if kind == "step":
        return y[0] + np.concatenate([[0.0], np.cumsum(np.roll(np.diff(y), shift))])
    slopes = (y[1] - y[0]) + np.concatenate([[0.0], np.cumsum(np.roll(np.diff(y, 2), shift))])
    return y[0] + np.concatenate([[0.0], np.cumsum(slopes)])


@dataclass(frozen=True)
class CoincidenceTest:
    """Target change points against a candidate's, pooled over members.

    ``statistic``: :func:`mean_nearest_distance` (grid steps); ``null_shift`` /
    ``null_surrogate``: the means of its two null distributions; ``p_shift`` / ``p_surrogate``
    their one-sided p-values (small: closer than chance); ``n_targets`` / ``n_candidates``:
    change points pooled over the ``n_members`` members; ``targets`` / ``candidates``: per
    member, in grid units."""

    statistic: float
    null_shift: float
    null_surrogate: float
    p_shift: float
    p_surrogate: float
    n_targets: int
    n_candidates: int
    n_members: int
    n_draws: int
    targets: tuple[np.ndarray, ...]
    candidates: tuple[np.ndarray, ...]

    @property
    def p(self) -> float:
        """The larger (more conservative) of the two p-values."""
        return max(self.p_shift, self.p_surrogate)

    METHOD = ("p-value: the larger of two one-sided randomisation p-values, (1 + #null ≤ obs)/"
              "(1 + draws): the candidate's change points circularly shifted, and surrogate "
              "candidate signals (second differences circularly shifted) through the same "
              "penalised detector; one independent shift per seed in each draw")


def coincidence_test(
    target_signals: np.ndarray, candidate_signals: np.ndarray, *, target_kind: str = "step",
    candidate_kind: str = "kink", n_draws: int = 2000, seed: int = 0,
    penalty_factor: float = PENALTY_FACTOR,
) -> CoincidenceTest:
    """Do the candidate's change points lie closer to the target's than chance?

    ``target_signals`` and ``candidate_signals`` are (n_points, n_members) on the same uniform
    grid (already transformed). Both nulls are tabulated for every shift of every member
    (n − 2 surrogates per member go through :func:`detect`), then ``n_draws`` draws of one
    shift per member are pooled; ``seed`` fixes the draws.
    """
    ts = np.asarray(target_signals, dtype=np.float64)
    cs = np.asarray(candidate_signals, dtype=np.float64)
    if ts.ndim != 2 or ts.shape != cs.shape:
        raise ValueError(f"signals must both be (n_points, n_members), got {ts.shape} and "
                         f"{cs.shape}")
    if n_draws < 1:
        raise ValueError(f"n_draws must be >= 1, got {n_draws}")
    n, members = ts.shape
    targets = [detect(ts[:, k], target_kind, penalty_factor) for k in range(members)]
    cands = [detect(cs[:, k], candidate_kind, penalty_factor) for k in range(members)]
    observed = mean_nearest_distance(targets, cands, n)
    shifts = np.arange(1, n - 2)  # shifts that move both the n − 1 intervals and n − 2 kinks
    tables = {
        "shift": [[shifted_points(cands[k], int(s), n) for s in shifts] for k in range(members)],
        "surrogate": [[detect(surrogate(cs[:, k], int(s), candidate_kind), candidate_kind,
                              penalty_factor) for s in shifts] for k in range(members)],
    }
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, shifts.size, size=(n_draws, members))
    nulls, pvals = {}, {}
    for name, table in tables.items():
        null = np.array([mean_nearest_distance(targets, [table[k][d[k]] for k in range(members)],
                                               n) for d in draws])
        nulls[name] = float(np.nanmean(null)) if np.isfinite(observed) else float("nan")
        pvals[name] = (float((1 + np.sum(null <= observed + 1e-12)) / (1 + n_draws))
                       if np.isfinite(observed) else float("nan"))
    return CoincidenceTest(observed, nulls["shift"], nulls["surrogate"], pvals["shift"],
                           pvals["surrogate"], int(sum(t.size for t in targets)),
                           int(sum(c.size for c in cands)), members, n_draws,
                           tuple(targets), tuple(cands))


def check_ascending(sweep: SweepResult) -> np.ndarray:
    """The sweep's β (ascending, > 0, ≥ 8 points, uniform in log β to 1 %) or a ValueError."""
    betas = np.asarray(sweep.betas, dtype=np.float64)
    if betas.size < 8 or np.any(np.diff(betas) <= 0) or betas[0] <= 0:
        raise ValueError("need an ascending sweep of >= 8 values β > 0 "
                         "(use SweepResult.ascending())")
    steps = np.diff(np.log(betas))
    if np.ptp(steps) > 0.01 * steps.mean():
        raise ValueError("the β grid must be uniform in log β (np.geomspace): distances are "
                         "counted in grid steps")
    return betas


def change_point_tests(
    sweep: SweepResult, target: str = "probe_z", candidates: Sequence[str] = CANDIDATES,
    n_draws: int = 2000, seed: int = 0,
) -> dict[str, CoincidenceTest]:
    """:func:`coincidence_test` of the ``target`` observable's change points (kind "step",
    untransformed) against each candidate's (kind "kink" on :data:`TRANSFORMS`)."""
    check_ascending(sweep)
    missing = [s for s in (target, *candidates) if s not in sweep.obs]
    if missing:
        raise ValueError(f"unknown signal(s) {missing}; the sweep observed {sorted(sweep.obs)}")
    unknown = [c for c in candidates if c not in TRANSFORMS]
    if unknown:
        raise ValueError(f"no log transform for {unknown}; known: {sorted(TRANSFORMS)}")
    return {c: coincidence_test(sweep.obs[target], TRANSFORMS[c](sweep.obs[c]),
                                n_draws=n_draws, seed=seed) for c in candidates}


def curvature_formula_ratio(obs: Mapping[str, np.ndarray]) -> np.ndarray:
    """R·(1 + ‖∇E‖²)/(tr H)² at every point and member: 1 where R ≈ (tr H)²/(1 + ‖∇E‖²), i.e.
    where tr H² ≪ (tr H)² and the gradient terms of R are small."""
    return (np.asarray(obs["curvature"]) * (1.0 + np.asarray(obs["grad_norm"]) ** 2)
            / np.asarray(obs["tr_h"]) ** 2)


def unit_steps(units: np.ndarray) -> np.ndarray:
    """Indices i of the grid intervals (i, i+1) where an integer count decreases."""
    units = np.asarray(units)
    if units.ndim != 1:
        raise ValueError(f"units must be 1-D (one member along the grid), got {units.shape}")
    return np.flatnonzero(np.diff(units) < 0)


def sharp_drops(y: np.ndarray, threshold: float = 5.0) -> np.ndarray:
    """Grid intervals i where ``y`` falls from i to i + 1 by more than its median fall plus
    ``threshold`` × :func:`noise_scale` (kind "step") × √2: a fall no smooth decline of this
    curve's noise explains (an accuracy transition)."""
    y = np.asarray(y, dtype=np.float64)
    falls = y[:-1] - y[1:]
    return np.flatnonzero(falls - np.median(falls) > threshold * np.sqrt(2)
                          * noise_scale(y, "step"))


def total_collapse_beta(sweep: SweepResult) -> np.ndarray:
    """Per member, the smallest β of the ascending sweep from which on no unit is active
    (NaN if units are active at the largest β)."""
    units = sweep.obs["active_units"]
    out = []
    for k in range(units.shape[1]):
        alive = np.flatnonzero(units[:, k] > 0)
        last = alive[-1] + 1 if alive.size else 0
        out.append(float(sweep.betas[last]) if last < len(sweep.betas) else float("nan"))
    return np.asarray(out)


def mean_total_collapse_beta(sweep: SweepResult) -> float:
    """The mean of :func:`total_collapse_beta` over the members that collapse completely on
    the grid (NaN if none does)."""
    betas = total_collapse_beta(sweep)
    finite = betas[np.isfinite(betas)]
    return float(finite.mean()) if finite.size else float("nan")


def probe_after_collapse(sweep: SweepResult, probe: str = "probe_acc") -> float:
    """Mean of the ``probe`` accuracy over the points at and beyond each member's total
    collapse (NaN if no member collapses completely on the grid)."""
    betas = np.asarray(sweep.betas)
    values = [sweep.obs[probe][betas >= b, k]
              for k, b in enumerate(total_collapse_beta(sweep)) if np.isfinite(b)]
    return float(np.mean(np.concatenate(values))) if values else float("nan")
