"""Chapter 2: the curvature of the error landscape along warm sweeps, and its change points.

At each point of a warm sweep the regularised loss is minimised; there we measure the
*unregularised* error landscape E (not E + (λ/2)‖θ‖², whose Hessian is shifted by λ·I): its
scalar curvature R (the hypersurface formula of :mod:`l2lib.measure.curvature`) and its extreme
Hessian
eigenvalues, and whether the point is a minimum (stationarity residual, smallest eigenvalue of
∇²L_λ = ∇²E + λI). Change points of R(λ) (:func:`l2lib.analysis.transitions.local_change_points`,
on converged points only) are set beside λ_c of the theory, the jump of the sweep, and the change
points of ‖θ‖ and E through the same detector (a control: R is a function of θ, so it moves
wherever θ jumps).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from l2lib.analysis import theory, transitions
from l2lib.analysis.findings import Finding, Verdict, verdict_of
from l2lib.data import Dataset
from l2lib.data.teacher import TeacherData
from l2lib.experiments import onset
from l2lib.experiments.onset import OnsetSettings
from l2lib.measure import curvature
from l2lib.measure import observables as measure
from l2lib.models.mlp import EnsembleMLP
from l2lib.store import open_store
from l2lib.train.loop import TrainConfig
from l2lib.train.sweep import Observer, SweepResult, warm_sweep

METHODS = ("dense", "stochastic")


@dataclass(frozen=True)
class CurvatureSettings:
    """How curvature is measured at each sweep point."""

    method: str = "dense"  # "dense" (exact, small models) or "stochastic" (Hutchinson)
    n_samples: int = 64  # Hutchinson probes for "stochastic"
    eig_tol: float = 1e-8  # Lanczos tolerance for the extreme eigenvalues
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")


@dataclass(frozen=True)
class CurvatureChapterSettings:
    """Everything chapter 2 varies between profiles (defaults: ``quick``). ``onset``: chapter
    1's settings (networks, grids, training); ``linear``/``mlp``: how curvature is measured;
    ``window``/``penalty``: the change-point detector; ``match_steps``: a change point "is at"
    a λ within this many grid steps."""

    onset: OnsetSettings = field(default_factory=OnsetSettings)
    linear: CurvatureSettings = CurvatureSettings(method="dense")
    mlp: CurvatureSettings = CurvatureSettings(method="stochastic", n_samples=64, eig_tol=1e-3)
    window: int = 4
    penalty: float = 4.0
    # breaks sit at half-steps; a C¹ kink is located within ±1 step. NB: set after seeing the
    # quick data (at 1 step the multi-mode sweep matches 2 of 3); the finding reports both.
    match_steps: float = 1.5
    linear_depths: tuple[int, ...] = (1, 2)
    mlp_plateau_drop: float = 0.05  # an accuracy drop of ≥ 5 points between plateaus


def curvature_observer(
    x: torch.Tensor, y: torch.Tensor, loss: str, settings: CurvatureSettings,
    extra: Observer | None = None,
) -> Observer:
    """Per member: scalar curvature of E (with its standard error), the largest and the smallest
    Hessian eigenvalue of E, ‖∇E‖, the smallest eigenvalue of ∇²L_λ (``eig_min_reg`` =
    ``eig_min`` + λ), the stationarity residual and ‖∇L_λ‖, plus whatever ``extra`` observes."""

    def observe(model: EnsembleMLP, lam: torch.Tensor) -> dict[str, torch.Tensor]:
        rows = []
        for k in range(model.n_members):
            fn, theta = curvature.member_objective(model, k, x, y, loss)
            if settings.method == "dense":  # small model: exact, the whole spectrum
                est, spectrum = curvature.dense_curvature(fn, theta)
                top, bottom = spectrum[-1:].cpu().numpy(), spectrum[:1].cpu().numpy()
            else:
                est = curvature.scalar_curvature(fn, theta, "stochastic", settings.n_samples,
                                                 settings.seed)
                top, bottom = curvature.extreme_eigenvalues(fn, theta, 1, tol=settings.eig_tol,
                                                            seed=settings.seed)
            rows.append([est.value, est.stderr, top[0], bottom[0], est.grad_norm])
        values = torch.as_tensor(np.asarray(rows, dtype=np.float64))
        lam64 = torch.as_tensor(lam).detach().cpu().to(torch.float64).expand(model.n_members)
        out = {"curvature": values[:, 0], "curvature_err": values[:, 1],
               "eig_max": values[:, 2], "eig_min": values[:, 3], "grad_norm": values[:, 4],
               "eig_min_reg": values[:, 3] + lam64,
               **measure.stationarity(model, x, y, loss, lam)}
        if extra is not None:
            out |= dict(extra(model, lam))
        return out

    return observe


def curvature_sweep(
    model: EnsembleMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    lams: np.ndarray,
    *,
    config: TrainConfig,
    loss: str,
    settings: CurvatureSettings,
    extra: Observer | None = None,
    jitter: float = 0.0,
    polish_iters: int = 0,
    store_root: str | Path | None = None,
    name: str = "curvature",
    key: Mapping[str, Any] | None = None,
) -> SweepResult:
    """A warm upward sweep measuring the curvature of E at every converged point (stored);
    each point is first polished by ``polish_iters`` L-BFGS iterations.

    ``key`` must describe the model, data and seeds (it keys the store with the rest).
    """
    store = open_store(store_root, name, {"key": dict(key or {}), "lams": lams, "config": config,
                                      "curvature": settings, "jitter": jitter})
    observe = onset.polished(curvature_observer(x, y, loss, settings, extra), x, y, loss,
                             polish_iters)
    return warm_sweep(model, x, y, lams, config=config, jitter=jitter, store=store,
                      observe=observe, progress=name)


def linear_curvature_sweep(
    data: TeacherData, depth: int, lams: np.ndarray, settings: CurvatureChapterSettings,
    seed: int = 0, store_root: str | Path | None = None,
) -> SweepResult:
    """Chapter 1's deep linear upward sweep, measuring the exact curvature at every point."""
    s = settings.onset
    net, key = onset.linear_setup(data, depth, s, seed)
    return curvature_sweep(net, data.x, data.y, lams, config=s.linear_train, loss="mse",
                           settings=settings.linear, extra=onset.linear_observer(data, False),
                           jitter=s.jitter, polish_iters=s.linear_polish_iters,
                           store_root=store_root, name=f"curvature-linear-D{depth}", key=key)


def mlp_curvature_sweep(
    data: Dataset, hidden_layers: int, settings: CurvatureChapterSettings, seed: int = 0,
    store_root: str | Path | None = None,
) -> SweepResult:
    """Chapter 1's MLP upward sweep, measuring the (stochastic) curvature at every point."""
    s = settings.onset
    net, key = onset.mlp_setup(data, hidden_layers, s, seed)
    return curvature_sweep(net, data.x_train, data.y_train, onset.mlp_grid(s, hidden_layers),
                           config=s.mlp_train, loss="cross_entropy", settings=settings.mlp,
                           extra=onset.classification_observer(data), jitter=s.mlp_jitter,
                           polish_iters=s.mlp_polish_iters, store_root=store_root,
                           name=f"curvature-{data.name}-{hidden_layers}h", key=key)


# --------------------------------------------------------------------------------------------
# Change points of R and of the controls, on converged points


@dataclass(frozen=True)
class CurvatureCurve:
    """What the findings need from one sweep: the converged points' λ and signals.

    ``lams``: converged grid points; ``curvature`` (with ``curvature_err``), ``norm`` (the
    order parameter: ‖θ‖ or the top singular value) and ``error`` there; ``grid_step``: the
    sweep's grid step; ``n_points``: all grid points (converged or not); ``transition``: λ of
    the transition in the order parameter (NaN if unresolved) and ``order`` its order.
    """

    lams: np.ndarray
    curvature: np.ndarray
    curvature_err: np.ndarray
    norm: np.ndarray
    error: np.ndarray
    grid_step: float
    n_points: int
    transition: float
    order: str
    extra: Mapping[str, np.ndarray] = field(default_factory=dict)

    def change_points(self, signal: str, settings: CurvatureChapterSettings
                      ) -> transitions.ChangePoints:
        """:func:`~l2lib.analysis.transitions.local_change_points` of ``signal``
        ("curvature", "norm" or "error")."""
        noise = self.curvature_err if signal == "curvature" else None
        return transitions.local_change_points(self.lams, getattr(self, signal),
                                               window=settings.window,
                                               penalty=settings.penalty, noise=noise)

    def power(self, lam: float, settings: CurvatureChapterSettings) -> bool:
        """Whether the detector could find a break of R within ``match_steps`` of ``lam`` at
        this noise (:meth:`~l2lib.analysis.transitions.ChangePoints.power_near`)."""
        found = self.change_points("curvature", settings)
        return found.power_near(lam, self.lams, settings.match_steps * self.grid_step,
                                settings.penalty)

    def testable(self, lam: float, window: int) -> bool:
        """Whether a break at ``lam`` lies where the detector can see one (not within
        ``window − 1`` converged points of either end)."""
        if self.lams.size < 2 * window or not np.isfinite(lam):
            return False
        return bool(self.lams[window - 1] <= lam <= self.lams[-window])


def curve_of(result: SweepResult, order_parameter: np.ndarray, rtol: float, atol: float
             ) -> CurvatureCurve:
    """The converged points of a curvature sweep (all members within the residual tolerance)
    and the transition of ``order_parameter`` located on them."""
    ok = onset.converged_points(result, rtol, atol)
    lams = result.lams[ok]
    found = onset.classify_converged(result.lams, order_parameter, ok)
    return CurvatureCurve(
        lams=lams, curvature=result.mean("curvature")[ok],
        curvature_err=result.mean("curvature_err")[ok], norm=order_parameter[ok],
        error=result.mean("error")[ok], grid_step=float(np.median(np.diff(result.lams))),
        n_points=result.lams.size, transition=found.lam_c, order=found.order,
        extra={"residual": result.obs["residual"].max(axis=1), "lams_all": result.lams,
               "converged": ok})


def linear_curves(results: Mapping[int, SweepResult], settings: CurvatureChapterSettings
                  ) -> dict[int, CurvatureCurve]:
    """:func:`curve_of` for deep linear sweeps (order parameter: the top singular value)."""
    s = settings.onset
    return {k: curve_of(r, r.mean("modes")[:, 0], s.residual_rtol, s.residual_atol)
            for k, r in results.items()}


def mlp_curves(results: Mapping[int, SweepResult], settings: CurvatureChapterSettings
               ) -> dict[int, CurvatureCurve]:
    """:func:`curve_of` for MLP sweeps (order parameter: ‖θ‖), with the MLP tolerances."""
    s = settings.onset
    return {k: curve_of(r, r.mean("norm"), s.residual_rtol, s.mlp_residual_atol)
            for k, r in results.items()}


def targets(curves: Mapping[int, CurvatureCurve], teacher_m: float | None = None
            ) -> dict[int, dict[str, float]]:
    """λ values to mark beside the change points: λ_c of the theory (deep linear nets, data
    scale ``teacher_m``) and the transition located in the order parameter."""
    out = {}
    for k, c in curves.items():
        marks = {} if teacher_m is None else {"λ_c theory": theory.critical_lambda(teacher_m,
                                                                                   1.0, k)}
        out[k] = marks | {f"transition in the order parameter ({c.order})": c.transition}
    return out


def nearest(found: np.ndarray, lam: float, step: float) -> float:
    """Distance in grid steps from ``lam`` to the nearest of ``found`` (inf if none)."""
    return float(transitions.nearest_offsets(found, [lam], step)[0])


# --------------------------------------------------------------------------------------------
# Findings: every verdict chapter 2 reports

ERSOY = "arXiv 2505.06597"
NOISY = ("the noise of R hides any change point there (even a perfect break would not beat the "
         "penalty); more Hutchinson probes lower that noise (as 1/√probes) and may resolve it")


def second_order_finding(name: str, label: str, curve: CurvatureCurve, lam_c: float,
                         lam_c_source: str, settings: CurvatureChapterSettings) -> Finding:
    """A curvature change point at a continuous transition at ``lam_c``."""
    found = curve.change_points("curvature", settings).lams
    offset = nearest(found, lam_c, curve.grid_step)
    controls = {s: nearest(curve.change_points(s, settings).lams, lam_c, curve.grid_step)
                for s in ("norm", "error")}
    numbers = {f"offset_{name}": offset, f"n_changes_{name}": int(found.size),
               f"norm_offset_{name}": controls["norm"], f"error_offset_{name}": controls["error"]}
    common = dict(key=f"curvature.transition.{name}",
                  finding=f"curvature change point at the transition, {label}",
                  paper=f"a change point of R at the L2 transition [{ERSOY}]", numbers=numbers)
    if not curve.testable(lam_c, settings.window):
        return Finding(**common, companion=f"transition at λ = {lam_c:.4g} not testable",
                       verdict=Verdict.NOT_MEASURABLE,
                       note=f"λ_c lies within {settings.window} converged points of the grid's end "
                       "or the transition was not resolved; a longer, finer grid resolves it")
    if offset > settings.match_steps and not curve.power(lam_c, settings):
        return Finding(**common, companion=f"no change point of R near λ_c = {lam_c:.4g}",
                       verdict=Verdict.UNDECIDED, note=NOISY)
    return Finding(**common, companion=(
        f"{found.size} change point(s) of R; nearest to λ_c = {lam_c:.4g} ({lam_c_source}) "
        f"{offset:.2g} grid steps away (controls: ‖θ‖ {controls['norm']:.2g}, "
        f"E {controls['error']:.2g} steps)"),
        verdict=verdict_of(offset <= settings.match_steps),
        note=f"agreement: within {settings.match_steps:g} grid steps")


def first_order_finding(name: str, label: str, curve: CurvatureCurve, lam_c: float,
                        settings: CurvatureChapterSettings) -> Finding:
    """Where R changes at a first-order onset: at λ_c (theory), or only with the jump of θ.

    R is a function of θ: it changes wherever θ jumps, so a change point at the jump is no
    evidence (holds by construction when ‖θ‖ or E change there too). The finding agrees only if
    R changes at λ_c, before the jump; it disagrees if R changes at neither.
    """
    step, jump = curve.grid_step, curve.transition
    found = curve.change_points("curvature", settings).lams
    at_c, at_jump = nearest(found, lam_c, step), nearest(found, jump, step)
    control = min(nearest(curve.change_points(s, settings).lams, jump, step)
                  for s in ("norm", "error"))
    numbers = {f"offset_{name}": at_c, f"jump_offset_{name}": at_jump,
               f"jump_{name}": jump, f"lam_c_{name}": lam_c, f"control_offset_{name}": control,
               f"jump_minus_lam_c_steps_{name}": (jump - lam_c) / step}
    common = dict(key=f"curvature.transition.{name}",
                  finding=f"curvature change point at λ_c (before the jump), {label}",
                  paper=f"a change point of R at the L2 transition [{ERSOY}]; λ_c = "
                  f"{lam_c:.4g} [closed form]", numbers=numbers)
    text = (f"nearest change point of R {at_c:.2g} grid steps from λ_c, {at_jump:.2g} from the "
            f"jump of the sweep at λ = {jump:.4g} ({(jump - lam_c) / step:.2g} steps above λ_c); "
            f"‖θ‖/E change {control:.2g} steps from the jump")
    m = settings.match_steps
    if not (curve.testable(lam_c, settings.window) and np.isfinite(jump)):
        return Finding(**common, companion=text, verdict=Verdict.NOT_MEASURABLE,
                       note="λ_c or the jump is not resolved on the converged points; a finer "
                       "grid resolves it")
    if abs(jump - lam_c) <= 2 * m * step:
        return Finding(**common, companion=text, verdict=Verdict.UNDECIDED,
                       note=f"the jump lies within {2 * m:g} grid steps of λ_c: a change at λ_c "
                       "cannot be told from one at the jump; a finer grid separates them")
    if at_c <= m:
        return Finding(**common, companion=text, verdict=Verdict.AGREES,
                       note="R changes at λ_c, before θ jumps")
    if at_jump <= m and control <= m:
        return Finding(**common, companion=text, verdict=Verdict.BY_CONSTRUCTION,
                       note="R changes only where θ jumps (so do ‖θ‖ and E): a function of θ "
                       "must; no change of R at λ_c")
    return Finding(**common, companion=text, verdict=Verdict.DISAGREES,
                   note="R changes neither at λ_c nor only with the jump of θ")


def modes_finding(curve: CurvatureCurve, mode_lams: Sequence[float],
                  settings: CurvatureChapterSettings) -> Finding:
    """One change point of R per mode switch-off, and none elsewhere."""
    found = curve.change_points("curvature", settings).lams
    offsets = transitions.nearest_offsets(found, mode_lams, curve.grid_step)
    matched = int(np.sum(offsets <= settings.match_steps))
    within_one = int(np.sum(offsets <= 1.0))
    spurious = int(np.sum(transitions.nearest_offsets(mode_lams, found, curve.grid_step)
                          > settings.match_steps))
    n = len(mode_lams)
    numbers = {"modes_matched": matched, "modes_matched_one_step": within_one,
               "modes_total": n, "modes_spurious": spurious,
               "mode_offsets_max": float(np.max(offsets))}
    common = dict(key="curvature.modes",
                  finding=f"every mode's switch-off is a curvature change point, {n} modes",
                  paper=f"further transitions are further change points of R [{ERSOY}]",
                  companion=f"{matched} of {n} switch-offs within {settings.match_steps:g} grid "
                  f"steps of a change point ({within_one} within 1 step); {spurious} change "
                  "point(s) elsewhere",
                  numbers=numbers)
    untestable = [lam for lam in mode_lams if not curve.testable(lam, settings.window)]
    if untestable:
        return Finding(**common, verdict=Verdict.NOT_MEASURABLE,
                       note=f"{len(untestable)} switch-off(s) lie too close to the grid's end "
                       "for the detector's window; a longer grid resolves it")
    return Finding(**common, verdict=verdict_of(matched == n and spurious == 0),
                   note="agreement: every switch-off found, no other change point")


def smooth_control_finding(curve: CurvatureCurve, before: float,
                           settings: CurvatureChapterSettings) -> Finding:
    """The detector on the part of a sweep before any transition (λ < ``before`` − one grid
    step) must find nothing."""
    keep = curve.lams < before - curve.grid_step
    n = int(keep.sum())
    common = dict(key="curvature.smooth_control",
                  finding="no curvature change point where nothing changes (detector control)",
                  paper="none: R is smooth before the first switch-off [derived]")
    if n < 2 * settings.window:
        return Finding(**common, companion=f"{n} converged points before the first switch-off",
                       verdict=Verdict.NOT_MEASURABLE,
                       note=f"the detector needs {2 * settings.window} points; a finer grid "
                       "resolves it", numbers={"control_changes": float("nan")})
    found = transitions.local_change_points(curve.lams[keep], curve.curvature[keep],
                                            window=settings.window, penalty=settings.penalty,
                                            noise=curve.curvature_err[keep]).lams
    return Finding(**common, companion=f"{found.size} change point(s) on {n} points",
                   verdict=verdict_of(found.size == 0), numbers={"control_changes": found.size})


def jump_finding(name: str, label: str, curve: CurvatureCurve,
                 settings: CurvatureChapterSettings) -> Finding:
    """A first-order onset without a closed-form λ_c: a change point of R at the jump of θ is
    what any function of θ shows (holds by construction when ‖θ‖ or E change there too)."""
    jump, step = curve.transition, curve.grid_step
    at_jump = nearest(curve.change_points("curvature", settings).lams, jump, step)
    control = min(nearest(curve.change_points(s, settings).lams, jump, step)
                  for s in ("norm", "error"))
    common = dict(key=f"curvature.transition.{name}",
                  finding=f"curvature change point at the transition, {label}",
                  paper=f"a change point of R at the L2 transition [{ERSOY}]",
                  companion=f"nearest change point of R {at_jump:.2g} grid steps from the jump "
                  f"of ‖θ‖ at λ = {jump:.4g}; ‖θ‖/E change {control:.2g} steps from it",
                  numbers={f"offset_{name}": at_jump, f"control_offset_{name}": control,
                           f"jump_{name}": jump})
    m = settings.match_steps
    if not curve.testable(jump, settings.window):
        return Finding(**common, verdict=Verdict.NOT_MEASURABLE,
                       note="the jump lies too close to the grid's end for the detector's window")
    if at_jump > m:
        if not curve.power(jump, settings):
            return Finding(**common, verdict=Verdict.UNDECIDED, note=NOISY)
        return Finding(**common, verdict=Verdict.DISAGREES, note="R does not change at the jump")
    if control <= m:
        return Finding(**common, verdict=Verdict.BY_CONSTRUCTION,
                       note="R changes where θ jumps, as ‖θ‖ and E do: a function of θ must")
    return Finding(**common, verdict=Verdict.AGREES)


def plateau_finding(lams: np.ndarray, accuracy: np.ndarray, curve: CurvatureCurve,
                    settings: CurvatureChapterSettings, label: str) -> Finding:
    """Does R step at the intermediate accuracy plateaus (drops before the final one)?

    Drops by :func:`~l2lib.analysis.transitions.staircase` (``mlp_plateau_drop``); a drop is
    matched if a change point of R lies within ``match_steps``. Agrees if all are matched and
    the change points cover less than half the grid (else a match is no evidence: undecided);
    disagrees if at most half are matched.
    """
    drops = transitions.staircase(lams, accuracy, min_drop=settings.mlp_plateau_drop).drops
    inner = [d.lam for d in drops[:-1]]
    found = curve.change_points("curvature", settings).lams
    offsets = transitions.nearest_offsets(found, inner, curve.grid_step)
    matched, n = int(np.sum(offsets <= settings.match_steps)), len(inner)
    near = transitions.nearest_offsets(found, lams, curve.grid_step) <= settings.match_steps
    coverage = float(near.mean()) if found.size else 0.0
    numbers = {"plateaus_matched": matched, "plateaus_total": n, "plateaus_coverage": coverage}
    common = dict(key="curvature.plateaus",
                  finding=f"R steps at the intermediate accuracy plateaus, {label}",
                  paper=f"further accuracy transitions are further change points of R [{ERSOY}]",
                  companion=f"{matched} of {n} intermediate drops within "
                  f"{settings.match_steps:g} grid step of a change point of R (change points "
                  f"cover {100 * coverage:.0f} % of the grid)", numbers=numbers)
    if n == 0:
        return Finding(**common, verdict=Verdict.NOT_MEASURABLE,
                       note="no intermediate plateau resolved; a finer grid resolves them")
    blind = sum(not curve.power(lam, settings) for lam, off in zip(inner, offsets, strict=True)
                if off > settings.match_steps)
    numbers["plateaus_blind"] = blind
    if 2 * matched <= n and 2 * (matched + blind) > n:
        return Finding(**common, verdict=Verdict.UNDECIDED,
                       note=f"at most half matched, but at {blind} unmatched drop(s) {NOISY}")
    if 2 * matched <= n:
        return Finding(**common, verdict=Verdict.DISAGREES, note="at most half matched")
    if matched < n or coverage >= 0.5:
        return Finding(**common, verdict=Verdict.UNDECIDED,
                       note="some drops unmatched, or change points so dense that matches are "
                       "expected by chance; a finer grid and more seeds resolve it")
    return Finding(**common, verdict=Verdict.AGREES)


def mlp_finding(k: int, curve: CurvatureCurve, settings: CurvatureChapterSettings,
                dataset: str) -> Finding:
    """The MLP's onset: a curvature change point at the transition of ‖θ‖ (second order) or
    the first-order rule with the jump as its own λ (no closed form: a change at the jump is
    then by construction)."""
    label = f"tanh MLP with {k} hidden layer{'s' if k > 1 else ''} on {dataset}"
    name = f"mlp{k}"
    if curve.order == "first":
        return jump_finding(name, label, curve, settings)
    return second_order_finding(name, label, curve, curve.transition,
                                "extrapolated zero of ‖θ‖", settings)


def findings(
    linear: Mapping[int, CurvatureCurve],
    teacher_m: float,
    modes: CurvatureCurve,
    mode_values: Sequence[float],
    mlps: Mapping[int, CurvatureCurve],
    mlp_accuracy: tuple[np.ndarray, np.ndarray],
    settings: CurvatureChapterSettings,
    dataset: str,
) -> list[Finding]:
    """Every finding chapter 2 reports. ``linear``: deep linear curves by depth; ``modes``: the
    multi-mode D = 1 curve with singular values ``mode_values``; ``mlps``: MLP curves by hidden
    layers; ``mlp_accuracy``: (λ, test accuracy) of the two-hidden-layer MLP's sweep."""
    out = []
    for d, curve in linear.items():
        lam_c = theory.critical_lambda(teacher_m, 1.0, d)
        label = f"deep linear net, D = {d}"
        out.append(second_order_finding(f"D{d}", label, curve, lam_c, "closed form", settings)
                   if d == 1 else first_order_finding(f"D{d}", label, curve, lam_c, settings))
    mode_lams = [theory.critical_lambda(s, 1.0, 1) for s in mode_values]
    out += [modes_finding(modes, mode_lams, settings),
            smooth_control_finding(modes, min(mode_lams), settings)]
    out += [mlp_finding(k, c, settings, dataset) for k, c in mlps.items()]
    if 2 in mlps:
        out.append(plateau_finding(*mlp_accuracy, mlps[2], settings,
                                   f"tanh MLP with 2 hidden layers on {dataset}"))
    return out
