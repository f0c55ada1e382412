"""Chapter 1, onset of learning: warm sweeps up and down in λ for deep linear nets and MLPs.

Each experiment is a pair of warm sweeps over the same ascending grid: upwards from a trained
start, then downwards from where the upward sweep ended. Results are stored (resumable) when a
store folder is given. Penalty convention: (λ/2)‖θ‖² (see :mod:`l2lib.train.losses`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from l2lib.analysis import theory, transitions
from l2lib.analysis.findings import Finding, Verdict, verdict_of
from l2lib.data import Dataset
from l2lib.data.teacher import TeacherData, teacher_data
from l2lib.measure import observables as measure
from l2lib.measure.curvature import smallest_regularised_eigenvalues
from l2lib.models.mlp import EnsembleMLP, deep_linear, mlp
from l2lib.train.loop import TrainConfig
from l2lib.train.polish import polishing
from l2lib.train.sweep import Hysteresis, Observer, SweepResult, hysteresis_sweep


@dataclass(frozen=True)
class OnsetSettings:
    """Everything chapter 1 (and chapter 2, which reuses its sweeps) varies between profiles.
    The defaults are the ``quick`` profile;
    :func:`l2lib.experiments.onset_profiles.settings` gives the others."""

    n_samples: int = 256
    input_dim: int = 8
    width: int = 8
    noise: float = 0.2
    depths: tuple[int, ...] = (1, 2, 3)
    n_lams: int = 40
    lam_span: float = 1.3  # each depth's grid reaches lam_span × its spinodal λ_s
    n_seeds: int = 2
    linear_train: TrainConfig = TrainConfig(
        loss="mse", optimizer="sgd", lr=0.05, batch_size=None, max_epochs=5000, patience=10,
        min_delta=1e-7,
    )
    jitter: float = 0.01
    linear_polish_iters: int = 100  # full-batch L-BFGS iterations after each point (0: none)
    modes: tuple[float, ...] = (1.5, 1.0, 0.5)
    mode_depths: tuple[int, ...] = (1, 2)
    mlp_hidden: int = 32
    mlp_activation: str = "tanh"
    mlp_lam_max: dict[int, float] = field(default_factory=lambda: {1: 1.5, 2: 0.4})
    mlp_n_lams: int = 30
    mlp_train: TrainConfig = TrainConfig(
        loss="cross_entropy", optimizer="sgd", lr=0.5, batch_size=None, max_epochs=3000,
        patience=5, min_delta=1e-4,
    )
    mlp_jitter: float = 0.05
    mlp_polish_iters: int = 200  # the same for the MLPs
    # verdict rules (the findings' tolerances)
    lam_c_rtol: float = 0.05  # measured λ_c within 5 % of the closed form
    residual_rtol: float = 0.05  # a point is converged if ‖∇L_λ‖/‖λθ‖ ≤ this ...
    residual_atol: float = 1e-6  # ... or ‖∇L_λ‖ ≤ this (θ ≈ 0, where the ratio is 0/0; float64)
    mlp_residual_atol: float = 1e-3  # the same for the float32 MLPs
    saddle_tol: float = 1e-6  # smallest eigenvalue of ∇²L_λ below −saddle_tol: a saddle
    mlp_saddle_tol: float = 1e-2  # the same for the MLPs (float32, Lanczos)
    loop_tol: float = 0.1  # branches differ: by more than this fraction of their range
    max_excluded: float = 0.34  # more excluded points than this fraction: not measurable


def check_overrides(cls: type, overrides: Mapping[str, Any]) -> None:
    """A ValueError naming every override that is not a field of ``cls``."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown} for {cls.__name__}; "
                         f"known: {sorted(names)}")


def make_teacher(settings: OnsetSettings, modes: tuple[float, ...], seed: int,
                 device: torch.device | str = "cpu") -> TeacherData:
    """Whitened teacher data of chapter 1 (inputs with covariance exactly I)."""
    return teacher_data(settings.n_samples, settings.input_dim, modes, noise=settings.noise,
                        seed=seed, device=device)


def minimum_check(model: EnsembleMLP, x: torch.Tensor, y: torch.Tensor, loss: str,
                  lam: torch.Tensor, saddles: bool) -> dict[str, torch.Tensor]:
    """Stationarity residual and ‖∇L_λ‖ per member (:func:`l2lib.measure.observables.stationarity`)
    and, with ``saddles``, the smallest eigenvalue of ∇²L_λ (``eig_min_reg``)."""
    out = measure.stationarity(model, x, y, loss, lam)
    if saddles:
        out["eig_min_reg"] = torch.as_tensor(
            smallest_regularised_eigenvalues(model, x, y, loss, lam))
    return out


def linear_observer(data: TeacherData, saddles: bool = True) -> Observer:
    """Singular values of the end-to-end map, training error, regularised objective, and the
    minimum check (residual, ‖∇L_λ‖, smallest eigenvalue of ∇²L_λ, exact: the nets are tiny)."""

    def observe(model: EnsembleMLP, lam: torch.Tensor) -> dict[str, torch.Tensor]:
        return {
            "modes": measure.singular_values(model),
            "error": measure.error(model, data.x, data.y, "mse"),
            "objective": measure.objective(model, data.x, data.y, "mse", lam),
            **minimum_check(model, data.x, data.y, "mse", lam, saddles),
        }

    return observe


def linear_setup(data: TeacherData, depth: int, settings: OnsetSettings,
                 seed: int = 0) -> tuple[EnsembleMLP, dict[str, Any]]:
    """A fresh deep linear ensemble for ``data`` and the store key describing it."""
    seeds = [seed + i for i in range(settings.n_seeds)]
    net = deep_linear(data.x.shape[1], settings.width, depth, data.y.shape[1], seeds=seeds,
                      device=data.x.device)
    key = {"model": "deep_linear", "depth": depth, "width": settings.width, "seeds": seeds,
           "data": {"n": settings.n_samples, "d": settings.input_dim, "modes": data.modes,
                    "noise": settings.noise, "seed": seed}}
    if settings.linear_polish_iters:
        key["polish_iters"] = settings.linear_polish_iters
    return net, key


def deep_linear_hysteresis(
    data: TeacherData,
    depth: int,
    lams: np.ndarray,
    settings: OnsetSettings,
    seed: int = 0,
    store_root: str | Path | None = None,
) -> Hysteresis:
    """Hysteresis sweeps of deep linear nets with ``depth`` hidden layers on ``data``.

    The upward sweep starts from a fresh initialisation trained at λ = lams[0].
    """
    net, key = linear_setup(data, depth, settings, seed)
    observe = polished(linear_observer(data), data.x, data.y, "mse",
                       settings.linear_polish_iters)
    return hysteresis_sweep(net, data.x, data.y, lams, config=settings.linear_train,
                             observe=observe, jitter=settings.jitter,
                             store_root=store_root, name=f"linear-D{depth}", key=key)


def linear_grid(settings: OnsetSettings, m: float, depth: int) -> np.ndarray:
    """Grid from 0 to lam_span × the spinodal λ_s of a depth-D net on data of scale m."""
    return np.linspace(0.0, settings.lam_span * theory.spinodal_lambda(m, 1.0, depth),
                       settings.n_lams)


def converged_points(result: SweepResult, rtol: float, atol: float) -> np.ndarray:
    """Per grid point: True where every member passes the stationarity tolerance
    (``rtol`` or ``atol``, see :func:`l2lib.measure.observables.converged`)."""
    ok = measure.converged(result.obs["residual"], result.obs["grad_reg"], rtol, atol)
    return ok.reshape(ok.shape[0], -1).all(axis=1)


@dataclass(frozen=True)
class MinimumCheck:
    """Which points of a pair of sweeps are minima: ``converged_up``/``converged_down`` per
    point (all members pass the residual tolerance) and ``saddle`` (the downward sweep's point
    is a saddle of L_λ)."""

    converged_up: np.ndarray
    converged_down: np.ndarray
    saddle: np.ndarray

    @property
    def excluded(self) -> np.ndarray:
        """Points left out of a loop: not converged on either branch, or a saddle."""
        return ~self.converged_up | ~self.converged_down | self.saddle


def minimum_check_of(result: Hysteresis, settings: OnsetSettings, mlp: bool = False
                     ) -> MinimumCheck:
    """The :class:`MinimumCheck` of a pair of sweeps (saddles only where measured), with the
    tolerances of ``settings`` for deep linear nets or, with ``mlp``, for the MLPs."""
    down = result.down.obs
    atol = settings.mlp_residual_atol if mlp else settings.residual_atol
    saddle_tol = settings.mlp_saddle_tol if mlp else settings.saddle_tol
    saddle = (transitions.saddle_points(down["eig_min_reg"], saddle_tol)
              if "eig_min_reg" in down else np.zeros(result.lams.size, dtype=bool))
    return MinimumCheck(converged_points(result.up, settings.residual_rtol, atol),
                        converged_points(result.down, settings.residual_rtol, atol), saddle)


@dataclass(frozen=True)
class LinearAnalysis:
    """Measured against theory for one depth: order, λ_c, the hysteresis loop, minima check.

    ``order_reason``: the classifier's method or reason; ``loop``: where the branches differ,
    saddles and unconverged points excluded; ``n_points``: grid size.
    """

    depth: int
    order: str
    order_reason: str
    expected_order: str
    lam_c: float
    lam_c_theory: float
    lam_c_method: str
    lam_jump: float
    lam_spinodal_theory: float
    loop: transitions.Loop
    check: MinimumCheck
    n_points: int

    @property
    def rel_error(self) -> float:
        return abs(self.lam_c - self.lam_c_theory) / self.lam_c_theory

    @property
    def hysteresis_width(self) -> float:
        return self.loop.width


APPROACH = (0.05, 0.5)
"""The part of a second-order transition's ordered branch whose straight line locates λ_c
(fractions of φ's range above its trivial value): the lower half of the decline, where φ
approaches zero. Above it lies the MLPs' fast relaxation at small λ (‖θ‖ falls steeply, then
about linearly): a line through 20–80 % of the range (the classifier's default) reaches zero
well before ‖θ‖ does (λ ≈ 0.54 where the one-hidden-layer MLP's ‖θ‖ vanishes at ≈ 0.64). For
D = 1 linear nets φ is linear, and both give the same λ_c."""


def classify_converged(lams: np.ndarray, phi: np.ndarray, ok: np.ndarray
                       ) -> transitions.Transition:
    """:func:`l2lib.analysis.transitions.classify_transition` on the converged points only; a
    second-order λ_c is the zero of the straight line through the :data:`APPROACH` part of the
    branch ("unresolved" if fewer than 2 converged points lie there)."""
    if ok.sum() < 4:
        return transitions.Transition("unresolved", float("nan"), 0, 0.0,
                                      f"only {int(ok.sum())} converged points")
    found = transitions.classify_transition(lams[ok], phi[ok])
    if found.order != "second":
        return found
    lo, hi = APPROACH
    try:
        lam_c = transitions.extrapolated_zero(lams[ok], phi[ok], APPROACH)
    except ValueError as err:
        return replace(found, order="unresolved", lam_c=float("nan"), method=str(err))
    return replace(found, lam_c=lam_c, method=f"linear extrapolation of φ's approach to zero, "
                   f"{lo:.0%}–{hi:.0%} of its range")


def analyse_linear(result: Hysteresis, data: TeacherData, depth: int,
                   settings: OnsetSettings = OnsetSettings()) -> LinearAnalysis:
    """Classify the transition of the top mode, measure λ_c and the loop, on converged points.

    λ_c comes from the order parameter's linear extrapolation for a second-order transition and
    from the crossing of the two branches' regularised losses for a first-order one.
    """
    check = minimum_check_of(result, settings)
    r_up = result.up.mean("modes")[:, 0]
    r_down = result.down.mean("modes")[:, 0]
    found = classify_converged(result.lams, r_up, check.converged_up)
    lam_c, method = found.lam_c, found.method
    both = check.converged_up & check.converged_down & ~check.saddle
    if found.order == "first":
        try:
            lam_c = transitions.branch_crossing(result.lams[both],
                                                result.up.mean("objective")[both],
                                                result.down.mean("objective")[both])
            method = "crossing of the branches' losses"
        except ValueError as err:
            lam_c, method = float("nan"), str(err)
    return LinearAnalysis(
        depth=depth, order=found.order, order_reason=found.method,
        expected_order="second" if depth == 1 else "first",
        lam_c=lam_c, lam_c_theory=theory.critical_lambda(data.m, data.a, depth),
        lam_c_method=method, lam_jump=found.lam_c,
        lam_spinodal_theory=theory.spinodal_lambda(data.m, data.a, depth),
        loop=transitions.hysteresis_loop(result.lams, r_up, r_down, settings.loop_tol,
                                         check.excluded),
        check=check, n_points=result.lams.size,
    )


def classification_observer(data: Dataset, saddles: bool = False) -> Observer:
    """Weight norm, train/test accuracy, training error and objective of a classifier, the
    stationarity residual, and with ``saddles`` the smallest eigenvalue of ∇²L_λ (Lanczos)."""

    def observe(model: EnsembleMLP, lam: torch.Tensor) -> dict[str, torch.Tensor]:
        x, y = data.x_train, data.y_train
        return {
            "norm": model.parameter_norm(),
            "train_acc": measure.accuracy(model, x, y),
            "test_acc": measure.accuracy(model, data.x_test, data.y_test),
            "error": measure.error(model, x, y, "cross_entropy"),
            "objective": measure.objective(model, x, y, "cross_entropy", lam),
            **minimum_check(model, x, y, "cross_entropy", lam, saddles),
        }

    return observe


def polished(observe: Observer, x: torch.Tensor, y: torch.Tensor, loss: str, iters: int
             ) -> Observer:
    """``observe`` after ``iters`` L-BFGS iterations (:func:`l2lib.train.polish.polishing`;
    ``observe`` itself if 0)."""
    return polishing(observe, x, y, loss=loss, max_iter=iters) if iters > 0 else observe


def mlp_grid(settings: OnsetSettings, hidden_layers: int) -> np.ndarray:
    """Grid (λ_max/n, …, λ_max) for an MLP with that many hidden layers."""
    top = settings.mlp_lam_max[hidden_layers]
    return np.linspace(top / settings.mlp_n_lams, top, settings.mlp_n_lams)


def mlp_setup(data: Dataset, hidden_layers: int, settings: OnsetSettings,
              seed: int = 0) -> tuple[EnsembleMLP, dict[str, Any]]:
    """A fresh MLP ensemble with ``hidden_layers`` layers for ``data`` and its store key."""
    if hidden_layers not in settings.mlp_lam_max:
        raise ValueError(f"no λ range configured for {hidden_layers} hidden layers "
                         f"(setting mlp_lam_max); configured: {sorted(settings.mlp_lam_max)}")
    seeds = [seed + i for i in range(settings.n_seeds)]
    hidden = [settings.mlp_hidden] * hidden_layers
    net = mlp(data.input_dim, hidden, data.n_classes, seeds=seeds,
              activation=settings.mlp_activation, dtype=data.x_train.dtype,
              device=data.x_train.device)
    key = {"model": "mlp", "hidden": hidden, "activation": settings.mlp_activation,
           "seeds": seeds, "data": {"name": data.name, "n_train": data.n_train}}
    if settings.mlp_polish_iters:
        key["polish_iters"] = settings.mlp_polish_iters
    return net, key


def mlp_hysteresis(
    data: Dataset,
    hidden_layers: int,
    settings: OnsetSettings,
    seed: int = 0,
    store_root: str | Path | None = None,
) -> Hysteresis:
    """Hysteresis sweeps of MLPs with ``hidden_layers`` layers of ``settings.mlp_hidden`` units;
    the downward sweep also checks every point for a saddle."""
    net, key = mlp_setup(data, hidden_layers, settings, seed)
    iters = settings.mlp_polish_iters
    return hysteresis_sweep(net, data.x_train, data.y_train, mlp_grid(settings, hidden_layers),
                             config=settings.mlp_train,
                             observe=polished(classification_observer(data), data.x_train,
                                              data.y_train, "cross_entropy", iters),
                             observe_down=polished(classification_observer(data, saddles=True),
                                                   data.x_train, data.y_train, "cross_entropy",
                                                   iters),
                             jitter=settings.mlp_jitter, store_root=store_root,
                             name=f"{data.name}-mlp-{hidden_layers}h", key=key)


@dataclass(frozen=True)
class MlpAnalysis:
    """Classification of an MLP's onset of learning from its weight norm (converged points)."""

    hidden_layers: int
    order: str
    lam_estimate: float
    method: str
    jump_fraction: float
    loop: transitions.Loop
    check: MinimumCheck
    n_points: int

    @property
    def expected_order(self) -> str:
        return "second" if self.hidden_layers == 1 else "first"

    @property
    def hysteresis_width(self) -> float:
        return self.loop.width


def analyse_mlp(result: Hysteresis, hidden_layers: int,
                settings: OnsetSettings = OnsetSettings()) -> MlpAnalysis:
    """Classify the transition of the mean weight norm along the upward sweep.

    ``lam_estimate``: the extrapolated zero of the norm (second order) or the jump of the upward
    sweep (first order; an upper bound on λ_c, see :mod:`l2lib.analysis.transitions`).
    """
    check = minimum_check_of(result, settings, mlp=True)
    norm_up, norm_down = result.up.mean("norm"), result.down.mean("norm")
    found = classify_converged(result.lams, norm_up, check.converged_up)
    return MlpAnalysis(
        hidden_layers=hidden_layers, order=found.order, lam_estimate=found.lam_c,
        method=found.method, jump_fraction=found.jump_fraction,
        loop=transitions.hysteresis_loop(result.lams, norm_up, norm_down, settings.loop_tol,
                                         check.excluded),
        check=check, n_points=result.lams.size,
    )


def count_mode_switches(result: SweepResult, threshold: float = 1e-3) -> int:
    """How often the number of learned modes (singular values > ``threshold``, seed-averaged)
    changes along a sweep: the number of steps of the staircase."""
    active = (result.mean("modes") > threshold).sum(axis=1)
    return int(np.count_nonzero(np.diff(active)))


# --------------------------------------------------------------------------------------------
# Findings: every verdict chapter 1 reports

ZIYIN = "Ziyin & Ueda, arXiv 2205.12510"
ERSOY_V2 = "arXiv 2505.06597 v2"


def closed_form_source(depth: int) -> str:
    """Who the closed form λ_c is due to: Ziyin & Ueda's for one hidden layer; for deeper nets
    this companion's derivation from their loss (:mod:`l2lib.analysis.theory`)."""
    if depth == 1:
        return f"closed form, {ZIYIN}"
    return f"closed form derived in this companion from the loss of {ZIYIN}"


def lam_c_finding(a: LinearAnalysis, rtol: float) -> Finding:
    """λ_c of a deep linear net against the closed form: agrees within ``rtol``."""
    numbers = {f"lam_c_D{a.depth}": a.lam_c, f"lam_c_theory_D{a.depth}": a.lam_c_theory,
               f"rel_error_D{a.depth}": a.rel_error}
    common = dict(key=f"onset.lam_c.D{a.depth}",
                  finding=f"critical strength λ_c, deep linear net, D = {a.depth}",
                  paper=f"λ_c = {a.lam_c_theory:.4g} [{closed_form_source(a.depth)}]",
                  numbers=numbers)
    if not np.isfinite(a.lam_c):
        verdict = (Verdict.NOT_MEASURABLE if "coarse" in a.lam_c_method or a.order == "unresolved"
                   else Verdict.UNDECIDED)
        return Finding(**common, companion=f"not located ({a.lam_c_method})", verdict=verdict,
                       note=f"λ_c was not located: {a.lam_c_method}; a finer λ grid resolves it")
    return Finding(**common, companion=f"λ_c = {a.lam_c:.4g} ({a.lam_c_method}), "
                   f"{100 * a.rel_error:.2g} % off", verdict=verdict_of(a.rel_error <= rtol),
                   note=f"agreement: within {100 * rtol:g} %")


def order_verdict(measured: str, expected: str, reason: str) -> tuple[Verdict, str]:
    """Verdict and note for a classified order against the expected one."""
    if measured == "unresolved":
        verdict = Verdict.NOT_MEASURABLE if "coarse" in reason else Verdict.UNDECIDED
        return verdict, f"the classifier cannot decide: {reason}"
    if measured == "none":
        return Verdict.UNDECIDED, (f"no transition resolved ({reason}); a converged sweep on a "
                                   "finer grid would show whether a kink exists")
    return verdict_of(measured == expected), ""


def order_finding(a: LinearAnalysis) -> Finding:
    """The order of a deep linear net's transition against Ziyin & Ueda's."""
    verdict, note = order_verdict(a.order, a.expected_order, a.order_reason)
    return Finding(f"onset.order.D{a.depth}",
                   f"order of the transition, deep linear net, D = {a.depth}",
                   f"{a.expected_order} order [{ZIYIN}; {ERSOY_V2}]", f"{a.order} order",
                   verdict, note, {f"order_D{a.depth}": a.order})


def loop_text(loop: transitions.Loop) -> str:
    """The loop in words."""
    where = (f" (λ {loop.lam_lo:.3g}–{loop.lam_hi:.3g})" if loop.width > 0 else "")
    return (f"loop width {loop.width:.3g} in λ{where}; {loop.n_excluded_apart} point(s) where "
            "the branches differ excluded (saddle or not converged)")


def loop_finding(key: str, finding: str, expected_loop: bool, loop: transitions.Loop,
                 n_points: int, max_excluded: float, numbers: Mapping[str, Any]) -> Finding:
    """A loop (``expected_loop``) or none, from where the branches differ at converged minima.

    Excluded points (saddles, unconverged) never count; if more than ``max_excluded`` of the
    grid is excluded the run cannot tell (undecided).
    """
    paper = ("a hysteresis loop: the down sweep stays trivial below λ_c [" + ERSOY_V2 + "; "
             + ZIYIN + "]" if expected_loop else
             "no loop: the trivial state is a saddle below λ_c [" + ZIYIN + "]")
    excluded = int(np.count_nonzero(loop.excluded))
    common = dict(key=key, finding=finding, paper=paper, companion=loop_text(loop),
                  numbers=dict(numbers))
    if excluded > max_excluded * n_points:
        return Finding(**common, verdict=Verdict.UNDECIDED,
                       note=f"{excluded} of {n_points} points are saddles or not converged; "
                       "converged minimisation (e.g. polish_iters) resolves it")
    return Finding(**common, verdict=verdict_of((loop.width > 0) == expected_loop),
                   note="saddle points of the down sweep are not metastable states")


def hysteresis_finding(a: LinearAnalysis, max_excluded: float) -> Finding:
    """Hysteresis of a deep linear net: a loop for D ≥ 2, none for D = 1."""
    return loop_finding(f"onset.hysteresis.D{a.depth}",
                        f"hysteresis of warm sweeps, deep linear net, D = {a.depth}",
                        a.depth >= 2, a.loop, a.n_points, max_excluded,
                        {f"hysteresis_D{a.depth}": a.loop.width,
                         f"hysteresis_lo_D{a.depth}": a.loop.lam_lo,
                         f"hysteresis_hi_D{a.depth}": a.loop.lam_hi,
                         f"saddles_D{a.depth}": int(a.check.saddle.sum())})


def staircase_finding(depth: int, steps: int, n_modes: int) -> Finding:
    """A teacher with ``n_modes`` modes loses them one at a time: ``n_modes`` steps."""
    return Finding(f"onset.staircase.D{depth}",
                   f"one transition per mode, deep linear net, D = {depth}, {n_modes} modes",
                   f"{n_modes} steps, one per singular mode [derived from {ZIYIN}]",
                   f"{steps} steps", verdict_of(steps == n_modes),
                   numbers={f"staircase_steps_D{depth}": steps})


def mlp_order_finding(a: MlpAnalysis, dataset: str) -> Finding:
    """The order of a tanh MLP's onset against arXiv 2505.06597 v2."""
    k = a.hidden_layers
    verdict, note = order_verdict(a.order, a.expected_order, a.method)
    return Finding(f"onset.mlp_order.{k}h",
                   f"order of the transition, tanh MLP with {k} hidden "
                   f"layer{'s' if k > 1 else ''} on {dataset}",
                   f"{a.expected_order} order [{ERSOY_V2}]", f"{a.order} order", verdict, note,
                   {f"mlp{k}_order": a.order, f"mlp{k}_lam": a.lam_estimate})


def mlp_hysteresis_finding(a: MlpAnalysis, dataset: str, max_excluded: float) -> Finding:
    """Hysteresis of a tanh MLP: a loop with two hidden layers, none with one."""
    k = a.hidden_layers
    return loop_finding(f"onset.mlp_hysteresis.{k}h",
                        f"hysteresis of warm sweeps, tanh MLP with {k} hidden "
                        f"layer{'s' if k > 1 else ''} on {dataset}", k >= 2, a.loop, a.n_points,
                        max_excluded, {f"mlp{k}_hysteresis": a.loop.width,
                                       f"mlp{k}_saddles": int(a.check.saddle.sum())})


def findings(
    linear: Mapping[int, LinearAnalysis],
    staircase_steps: Mapping[int, int],
    mlps: Mapping[int, MlpAnalysis],
    settings: OnsetSettings,
    dataset: str,
) -> list[Finding]:
    """Every finding chapter 1 reports, in the order of the chapter."""
    out: list[Finding] = []
    for a in linear.values():
        out += [lam_c_finding(a, settings.lam_c_rtol), order_finding(a),
                hysteresis_finding(a, settings.max_excluded)]
    out += [staircase_finding(d, n, len(settings.modes)) for d, n in staircase_steps.items()]
    for a in mlps.values():
        out += [mlp_order_finding(a, dataset),
                mlp_hysteresis_finding(a, dataset, settings.max_excluded)]
    return out


def glue_values(found: list[Finding]) -> dict[str, Any]:
    """Every finding's numbers, plus ``verdict_<name>`` (the verdict's text) for each, where
    <name> is the key after the chapter prefix with dots as underscores."""
    values: dict[str, Any] = {}
    for f in found:
        values |= dict(f.numbers)
        values["verdict_" + f.key.split(".", 1)[1].replace(".", "_")] = f.verdict.value
    return values


def linear_table(analyses: Mapping[int, LinearAnalysis]) -> list[dict[str, Any]]:
    """One row per depth for the chapter's table."""
    return [{
        "D": a.depth, "order (measured)": a.order, "order (theory)": a.expected_order,
        "λ_c measured": a.lam_c, "λ_c theory": a.lam_c_theory, "rel. error": a.rel_error,
        "jump of upward sweep": a.lam_jump, "spinodal λ_s theory": a.lam_spinodal_theory,
        "loop width (λ)": a.loop.width, "saddles (down)": int(a.check.saddle.sum()),
        "unconverged": int((~a.check.converged_up | ~a.check.converged_down).sum()),
    } for a in analyses.values()]


def mlp_table(analyses: Mapping[int, MlpAnalysis]) -> list[dict[str, Any]]:
    """One row per MLP depth for the chapter's table."""
    return [{
        "hidden layers": a.hidden_layers, "order (measured)": a.order,
        "transition λ": a.lam_estimate, "estimate": a.method,
        "largest step / range": a.jump_fraction, "loop width (λ)": a.loop.width,
        "saddles (down)": int(a.check.saddle.sum()),
        "unconverged": int((~a.check.converged_up | ~a.check.converged_down).sum()),
    } for a in analyses.values()]
