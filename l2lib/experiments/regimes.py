"""Chapter 3, accuracy regimes: the staircase of the standard L2 sweep and its verdicts.

The sweep itself (the authors' protocol, settings per profile, data, observer, stored sweeps) is
computed by :mod:`l2lib.experiments.regime_sweep`; its names are re-exported here, so that
``regimes.settings``, ``regimes.sweeps`` etc. remain the chapter's one entry point.

Early stopping (``RegimeSettings.early_stopping``): ``"authors"`` follows their scripts — the
epoch-mean training cross-entropy is monitored and the *last* epoch kept (a copying slip of
theirs), so a warm-started β trains ≈ 1 + patience = 6 epochs; ``"objective"`` monitors the
regularised objective and restores the best epoch (:mod:`l2lib.train.early_stopping`). Their
logged regularised loss, with twice the applied penalty, is not repeated here.

Transitions are found as the paper defines them, simultaneous jumps of ‖θ‖, the losses and the
accuracy per seed, matched across seeds (:mod:`l2lib.analysis.staircase`, :func:`hierarchy`);
:func:`findings` turns them into the chapter's verdicts. :func:`detect_regimes`, the older
accuracy-drop threshold rule, remains for chapter 5's Pathfinder paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from l2lib.analysis import staircase, transitions, weak_jumps
from l2lib.analysis.findings import Finding, Verdict, interval_verdict
from l2lib.data import Dataset
from l2lib.data.published import authors_mnist_seeds
from l2lib.experiments.regime_profiles import PROFILE_OVERRIDES  # noqa: F401 - re-exported
from l2lib.experiments.regime_profiles import settings as _profile_settings
from l2lib.experiments.regime_sweep import (  # noqa: F401 - the sweep API, re-exported
    EARLY_STOPPING,
    PAPER_TRAIN,
    RegimeSettings,
    RegimeSweep,
    load_regime_data,
    regime_observer,
    standard_sweep,
    sweeps,
)
from l2lib.measure import curvature, spectrum
from l2lib.train.sweep import SweepResult, check_data_order

settings = _profile_settings
"""The settings of chapter 3 for a profile (:func:`l2lib.experiments.regime_profiles.settings`)."""

# Reported by the paper for MNIST with the protocol above (their CSV data, three seeds agree).
PAPER_MNIST = {
    "transitions": (0.0248, 0.0374, 0.0590, 0.0738, 0.0845),
    "accuracy_at_zero": 0.977,
    "plateaus": (0.77, 0.62, 0.38, 0.24, 0.10),  # test accuracy after T1 … T5
    "loss_order": ((5,), (8,), (9,), (2, 4, 6), (3,), (1,), (7,), (0,)),
    "norm_at_transitions": (7.81, 6.24, 4.26, 2.89, 0.26),
}

@dataclass(frozen=True)
class Regimes:
    """Accuracy plateaus and the transitions between them, with the digits recognised.

    ``transitions[k]`` is the β of the k-th drop (T_{k+1}); ``indices[k]`` the last sweep point
    before it (its state is the transition checkpoint); ``plateaus[k]`` = (β_lo, β_hi, median
    test accuracy); ``recognised[k]`` the classes with median accuracy > ``level`` on plateau k;
    ``lost[k]`` the classes recognised before drop k but not after it.
    """

    transitions: list[float]
    indices: list[int]
    plateaus: list[tuple[float, float, float]]
    recognised: list[list[int]]
    lost: list[list[int]]
    staircase: transitions.Staircase


def detect_regimes(
    result: SweepResult, member: int | None = None, *, min_drop: float = 0.05,
    min_points: int = 2, level: float = 0.5,
) -> Regimes:
    """Plateaus of test accuracy along an upward sweep
    (:func:`l2lib.analysis.transitions.staircase`),
    for one ``member`` or the mean over members (None), and which digits each plateau keeps."""
    if result.direction != "up":
        result = result.ascending()
    acc = result.obs["test_acc"]
    per_class = result.obs["class_acc"]
    if member is None:
        acc, per_class = acc.mean(axis=1), per_class.mean(axis=1)
    else:
        if not 0 <= member < acc.shape[1]:
            raise ValueError(f"member {member} out of range for {acc.shape[1]} members")
        acc, per_class = acc[:, member], per_class[:, member]
    stairs = transitions.staircase(result.lams, acc, min_drop=min_drop, min_points=min_points)
    recognised = [
        [int(c) for c in np.flatnonzero(np.median(per_class[p.first : p.last + 1], axis=0) > level)]
        for p in stairs.plateaus
    ]
    lost = [sorted(set(a) - set(b)) for a, b in zip(recognised[:-1], recognised[1:], strict=True)]
    return Regimes(
        transitions=[d.lam for d in stairs.drops],
        indices=[d.index for d in stairs.drops],
        plateaus=[(p.lam_lo, p.lam_hi, p.level) for p in stairs.plateaus],
        recognised=recognised,
        lost=lost,
        staircase=stairs,
    )


def loss_order_agreement(lost: Sequence[Sequence[int]],
                         paper: Sequence[Sequence[int]] = PAPER_MNIST["loss_order"], *,
                         recognised: Sequence[Sequence[int]] | None = None) -> float:
    """Kendall's τ_b between the order in which digits are lost here and in the paper (digits
    lost together share a rank; digits never lost rank last). 1: same order, 0: unrelated.

    Given ``recognised`` (the digits recognised on each plateau, in order), ranks come from it
    (:func:`l2lib.analysis.staircase.loss_ranks`): a digit lost and later regained ranks by its
    final loss, or last if it is recognised at the end; ``lost`` is then ignored."""
    here = (staircase.loss_ranks(recognised) if recognised is not None
            else staircase.group_ranks(lost))
    return staircase.kendall_tau(here, staircase.group_ranks(paper))


# --------------------------------------------------------------------------------------------
# The hierarchy as the paper defines it: simultaneous jumps per seed, matched across seeds

JUMP_SPREAD = 8e-4
"""The β width over which chapter 3's detector lets one transition spread
(:func:`l2lib.analysis.staircase.detect`'s ``spread``; 4 steps of the paper's grid). The authors'
jumps take one grid step of 2e-4; on mnist-10k (125 Adam steps per epoch instead of 938, ≈ 10
epochs per β) the weights relax into the new regime over several steps, up to ≈ 1.5e-3 at T4.
On the authors' curves any spread from 0 to 1.6e-3 gives the same five transitions (tested);
on grids coarser than 4e-4 it is one grid step, i.e. no change."""
SIGNALS = ("norm", "train_ce", "test_ce", "test_acc")
"""The observables whose simultaneous jump makes a transition (:mod:`l2lib.analysis.staircase`)."""
MNIST_TYPE = ("mnist", "mnist-10k")
CHANCE = 1.5
"""A member recognises no digit where its test accuracy is ≤ CHANCE / n_classes (15 %)."""
AUTHORS_CURVE = Path(__file__).resolve().parents[1] / "data" / "authors" / "mnist_test_accuracy.csv"


@dataclass(frozen=True)
class Hierarchy:
    """Transitions of a multi-seed upward sweep and what each regime keeps, seed by seed.

    ``transitions[k]``: T_{k+1} matched across seeds (median β, range, each seed's jump);
    ``indices[s][k]``: seed s's last grid point before T_{k+1} (its own jump, else the grid point
    before the median β); ``plateaus[s, k]``: seed s's median test accuracy on plateau k (k = 0:
    before T1; points next to a jump left out); ``recognised[s][k]``: digits with median recall
    > ``level`` there (none where the accuracy is at chance, ≤ :data:`CHANCE` / n_classes);
    ``lost[s][k]``: recognised before T_{k+1}, not after; ``tau[s]``:
    Kendall τ of seed s's order of loss with the paper's, the digits ranked by how long they
    survive, ∫ recall dβ (:func:`l2lib.analysis.staircase.survival`, no transition needed);
    ``mean_accuracy``:
    the seed-mean test accuracy at each β; ``signals[s]``: seed s's detector signals
    (:data:`SIGNALS`) and ``rule`` the detector settings passed (``spread`` included).
    """

    betas: np.ndarray
    transitions: list[staircase.Transition]
    indices: list[list[int]]
    plateaus: np.ndarray
    recognised: list[list[list[int]]]
    lost: list[list[list[int]]]
    tau: np.ndarray
    mean_accuracy: np.ndarray
    signals: tuple[dict[str, np.ndarray], ...] = ()
    rule: dict[str, Any] = field(default_factory=dict)

    @property
    def t_values(self) -> np.ndarray:
        """Median β of each transition."""
        return np.array([t.beta for t in self.transitions])

    def plateau_summary(self) -> np.ndarray:
        """(n_plateaus, 3): median, min and max over seeds of each plateau's accuracy."""
        p = self.plateaus
        return np.column_stack([np.median(p, axis=0), p.min(axis=0), p.max(axis=0)])

    def lost_consensus(self) -> list[list[int]]:
        """Per transition: the digits lost there by a majority of seeds."""
        n = len(self.lost)
        out = []
        for k in range(len(self.transitions)):
            counts = np.bincount([d for seed in self.lost for d in seed[k]], minlength=10)
            out.append([int(d) for d in np.flatnonzero(counts > n / 2)])
        return out

    def final_loss_consensus(self) -> list[list[int]]:
        """Per transition: the digits a majority of seeds lose there for good (never recognised
        again, :func:`l2lib.analysis.staircase.loss_ranks`), so each digit appears at most once
        — unlike :meth:`lost_consensus`, which lists a digit lost, regained and lost again at
        both transitions."""
        n = len(self.recognised)
        ranks = np.array([staircase.loss_ranks(rec) for rec in self.recognised])
        return [[int(d) for d in np.flatnonzero((ranks == k).sum(axis=0) > n / 2)]
                for k in range(len(self.transitions))]


def hierarchy(result: SweepResult, *, paper_order: Sequence[Sequence[int]] = PAPER_MNIST[
        "loss_order"], level: float = 0.5, **rule: Any) -> Hierarchy:
    """Detect the transitions of ``result`` (:func:`l2lib.analysis.staircase.detect` on
    :data:`SIGNALS`, every member a seed; jumps may spread over :data:`JUMP_SPREAD`) and name
    each regime's digits; ``rule`` passes the detector's thresholds (and ``spread``)."""
    result = result.ascending() if result.direction != "up" else result
    lams, obs = result.lams, result.obs
    missing = [n for n in (*SIGNALS, "class_acc") if n not in obs]
    if missing:
        raise ValueError(f"the sweep lacks the observables {missing}")
    n_seeds = obs["test_acc"].shape[1]
    seeds = [{n: obs[n][:, s] for n in SIGNALS} for s in range(n_seeds)]
    rule = {"spread": JUMP_SPREAD, **rule}
    found = staircase.detect(lams, seeds, **rule)
    indices, recognised, lost, plateaus, tau = [], [], [], [], []
    paper_ranks = staircase.group_ranks(paper_order)
    n_classes = obs["class_acc"].shape[2]
    for s in range(n_seeds):
        idx = [t.per_seed[s].index if t.per_seed[s] is not None
               else max(int(np.searchsorted(lams, t.beta)) - 1, 0) for t in found]
        # at chance accuracy a net answering one class for every image has recall 1 for it:
        # that is not recognition
        recall = obs["class_acc"][:, s] * (obs["test_acc"][:, s] > CHANCE / n_classes)[:, None]
        rec = staircase.recognised_sets(recall, idx, level)
        indices.append(idx)
        recognised.append(rec)
        lost.append([sorted(set(a) - set(b)) for a, b in zip(rec[:-1], rec[1:], strict=True)])
        plateaus.append(staircase.plateau_levels(obs["test_acc"][:, s], idx))
        tau.append(staircase.kendall_tau(staircase.survival(lams, recall), paper_ranks))
    return Hierarchy(lams, found, indices, np.array(plateaus), recognised, lost, np.array(tau),
                     obs["test_acc"].mean(axis=1), tuple(seeds), rule)


def authors_curve() -> tuple[np.ndarray, np.ndarray]:
    """(β, seed-mean test accuracy as a fraction) of the authors' published MNIST sweep
    (lr 1.5e-3; arXiv 2512.11866, github.com/andresfernando-git/Neural-Network-paper), shipped
    with l2lib as a compact derived copy (``l2lib/data/authors``, with attribution)."""
    lines = [ln for ln in AUTHORS_CURVE.read_text().splitlines() if not ln.startswith("#")]
    table = np.loadtxt(lines[1:], delimiter=",")  # lines[0]: the column names
    return table[:, 0], table[:, 1]


def hysteresis_summary(up: SweepResult, down: SweepResult | None, tol: float = 0.1
                       ) -> dict[str, float] | None:
    """Where the downward sweep's seed-mean test accuracy differs from the upward one's by
    more than ``tol`` × its range (:func:`l2lib.analysis.transitions.hysteresis_width`), and
    the accuracies at β = 0; None without a downward sweep."""
    if down is None:
        return None
    up, back = up.ascending(), down.ascending()
    acc_up, acc_down = up.mean("test_acc"), back.mean("test_acc")
    return {"width": transitions.hysteresis_width(up.lams, acc_up, acc_down, tol),
            "beta_range": float(up.lams[-1] - up.lams[0]),
            "acc0_up": float(acc_up[0]), "acc0_down": float(acc_down[0])}


def checkpoint_eigenvalues(sweep: RegimeSweep, data: Dataset, indices: Sequence[int], *,
                           member: int = 0, n_images: int | None = 2000, tol: float = 1e-3,
                           top_k: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """At the stored sweep points ``indices`` (ascending-β indices of an upward sweep), for one
    ``member``, on the first ``n_images`` training images: the smallest eigenvalue of the
    unregularised training cross-entropy's Hessian ∇²E (Lanczos), shape (n,), and its
    ``top_k`` eigenvalues of largest magnitude, shape (n, top_k)."""
    n = len(data.y_train) if n_images is None else min(n_images, len(data.y_train))
    smallest, top = [], []
    for i in indices:
        model = sweep.model_at(int(i), device=data.x_train.device)
        fn, theta = curvature.member_objective(model, member, data.x_train[:n],
                                               data.y_train[:n], "cross_entropy")
        smallest.append(curvature.extreme_eigenvalues(fn, theta, 1, tol=tol,
                                                      which="smallest")[1][0])
        if top_k:
            top.append(spectrum.top_magnitude(fn, theta, top_k, tol=tol))
    return (np.asarray(smallest, dtype=np.float64),
            np.asarray(top, dtype=np.float64).reshape(len(smallest), top_k))


def control_indices(h: Hierarchy, seed: int = 0) -> tuple[list[int], list[int]]:
    """(transition checkpoints, mid-plateau controls) of seed ``seed``: the last grid point
    before each T_k, and the middle point of each plateau between two transitions."""
    idx = h.indices[seed]
    middles = [(a + 1 + b) // 2 for a, b in zip(idx[:-1], idx[1:], strict=True) if b - a >= 3]
    return list(idx), middles


# --------------------------------------------------------------------------------------------
# Findings: every number and verdict chapter 3 reports


TOL_T = 0.005  # issue acceptance: each T_k within 0.005 of the paper's
TOL_PLATEAU = 0.10  # plateau accuracies within 10 points
TAU_MIN = 0.7  # Kendall τ with the paper's order of loss
RESOLVING_STEPS = {"fresh": 6e-4, "fixed": 1.6e-3}
"""The coarsest β step on which the detector resolves all five MNIST transitions, per data order
of the sweep (:data:`l2lib.train.sweep.DATA_ORDERS`). fresh: on the authors' curves (a new
minibatch order at every β) subsampled to steps of 4e-4 and 6e-4 it finds all five, at 1e-3 T1
is lost. fixed (each seed's order repeated at every β, which removes the sampling noise between
neighbouring β): on the reference sweep of ``mnist-10k`` subsampled to steps up to 1.6e-3 it
finds all five within 0.005 of the paper's T_k, at 2e-3 T1 is lost (both tested)."""
RESOLVING_STEP = RESOLVING_STEPS["fresh"]  # the conservative one, the default below


def resolving_step(data_order: str) -> float:
    """:data:`RESOLVING_STEPS` of ``data_order``; a clear error for an unknown order."""
    check_data_order(data_order)
    return RESOLVING_STEPS[data_order]


def _unresolved(key: str, finding: str, paper: str, beta_step: float,
                resolving: float = RESOLVING_STEP) -> Finding | None:
    """NOT_MEASURABLE when the grid is too coarse to resolve transitions as jumps (a step
    above ``resolving``), else None."""
    if beta_step <= resolving * (1 + 1e-9):
        return None
    return Finding(key, finding, paper, f"β step {beta_step:g}", Verdict.NOT_MEASURABLE,
                   note=f"a β step of {beta_step:g} does not resolve the transitions as jumps "
                        f"(≤ {resolving:g} needed with this data order; the reference profile "
                        "uses 2e-4)")


def _not_mnist(key: str, finding: str, paper: str, dataset: str) -> Finding:
    return Finding(key, finding, paper, f"run on `{dataset}`", Verdict.NOT_MEASURABLE,
                   note=f"the paper's values are for MNIST; `{dataset}` is another data set "
                        "(run with dataset='mnist-10k' or 'mnist' to compare)")


@dataclass(frozen=True)
class ThresholdCheck:
    """Would a strong threshold that the paper's own data admit count the paper's five
    transitions in this run? ``used``: this run's ``z_strong``; ``here`` and ``authors``: the
    thresholds at which this run and the authors' curves give exactly one transition near each
    paper T_k (:func:`l2lib.analysis.weak_jumps.exact_thresholds`, window :data:`TOL_T`);
    ``probe``: the middle of their overlap (NaN if none), where the detector is run on both
    (``found_here``, ``found_authors``: its transitions there), so that the answer is the
    detector's, not the estimate's."""

    used: float
    here: weak_jumps.Thresholds
    authors: weak_jumps.Thresholds
    probe: float
    found_here: tuple[staircase.Transition, ...]
    found_authors: tuple[staircase.Transition, ...]

    @property
    def five_at_probe(self) -> bool:
        """True when, at ``probe``, the detector finds the paper's five transitions here and in
        the authors' curves, each paired with its T_k and within :data:`TOL_T` of it."""
        return (np.isfinite(self.probe) and _five_paired(self.found_here)
                and _five_paired(self.found_authors))


def _five_paired(found: Sequence[staircase.Transition]) -> bool:
    ref = PAPER_MNIST["transitions"]
    paired = paired_transitions(found, ref)
    return len(found) == len(ref) and all(
        t is not None and abs(t.beta - r) <= TOL_T for t, r in zip(paired, ref, strict=True))


@lru_cache(maxsize=4)
def _authors_thresholds(rule_items: tuple[tuple[str, Any], ...]) -> weak_jumps.Thresholds:
    lams, seeds = authors_mnist_seeds()
    rule = {k: v for k, v in rule_items if k != "z_strong"}
    return weak_jumps.exact_thresholds(lams, seeds, PAPER_MNIST["transitions"], window=TOL_T,
                                       **rule)


def threshold_check(h: Hierarchy) -> ThresholdCheck:
    """:class:`ThresholdCheck` of a hierarchy on MNIST-type data, with its detector settings
    (``h.rule``) applied to the authors' published per-seed curves too."""
    if not h.signals:
        raise ValueError("the hierarchy holds no signals: build it with hierarchy()")
    across = sorted(set(h.rule) & {"match", "min_seeds"})
    if across:
        raise ValueError(f"threshold_check supports the per-seed thresholds and spread of the "
                         f"detector, not its cross-seed settings {across}: build the hierarchy "
                         f"without them")
    rule = {k: v for k, v in h.rule.items() if k != "z_strong"}
    used = float(h.rule.get("z_strong", weak_jumps.Z_STRONG))
    here = weak_jumps.exact_thresholds(h.betas, h.signals, PAPER_MNIST["transitions"],
                                       window=TOL_T, **rule)
    authors = _authors_thresholds(tuple(sorted(h.rule.items())))
    both = here.overlap(authors)
    if both.empty:
        return ThresholdCheck(used, here, authors, float("nan"), (), ())
    probe = 0.5 * (both.low + both.high)
    lams, seeds = authors_mnist_seeds()
    return ThresholdCheck(used, here, authors, probe,
                          tuple(staircase.detect(h.betas, h.signals, z_strong=probe, **rule)),
                          tuple(staircase.detect(lams, seeds, z_strong=probe, **rule)))


def _threshold_note(check: ThresholdCheck) -> str:
    return (f"at the strong threshold z ≥ {check.used:g}; at z ≥ {check.probe:.3g} the detector "
            f"finds the paper's five here and on the authors' curves: it counts exactly five "
            f"here at thresholds {check.here}, on the authors' curves at {check.authors}, "
            f"and the paper's data do not fix where in that range the threshold lies")


def finding_count(h: Hierarchy, dataset: str, beta_step: float,
                  check: ThresholdCheck | None = None, *,
                  resolving: float = RESOLVING_STEP) -> Finding:
    """Five transitions (MNIST): agrees iff exactly five are found; else undecided when
    ``check`` (:func:`threshold_check`) shows a threshold admitted by the authors' curves at
    which five are found here, disagrees otherwise; not measurable on a grid coarser than
    ``resolving`` (:data:`RESOLVING_STEPS`)."""
    key, claim = "regimes.count", "five transitions between the trained and the trivial phase"
    paper = "5 transitions (MNIST) [paper, authors' CSV]"
    if dataset not in MNIST_TYPE:
        return _not_mnist(key, claim, paper, dataset)
    coarse = _unresolved(key, claim, paper, beta_step, resolving)
    if coarse is not None:
        return coarse
    n = len(h.transitions)
    text = f"{n} transition(s), each in ≥ a majority of seeds"
    if n != 5 and check is not None and check.five_at_probe:
        return Finding(key, claim, paper, text, Verdict.UNDECIDED, note=_threshold_note(check),
                       numbers={"n_transitions": n, "z_strong_probe": check.probe})
    return Finding(key, claim, paper, text,
                   Verdict.AGREES if n == 5 else Verdict.DISAGREES, numbers={"n_transitions": n})


def paired_transitions(found: Sequence[staircase.Transition], reference: Sequence[float]
                       ) -> list[staircase.Transition | None]:
    """Pair detected transitions with reference values one to one: each detected transition
    goes to its nearest reference value, and each reference value keeps the nearest of those
    it receives (None: no detected transition is nearest to it)."""
    ref = np.asarray(reference, dtype=np.float64)
    paired: list[staircase.Transition | None] = [None] * ref.size
    for t in found:
        k = int(np.argmin(np.abs(ref - t.beta)))
        if paired[k] is None or abs(t.beta - ref[k]) < abs(paired[k].beta - ref[k]):
            paired[k] = t
    return paired


def finding_positions(h: Hierarchy, dataset: str, beta_step: float,
                      check: ThresholdCheck | None = None, *,
                      resolving: float = RESOLVING_STEP) -> Finding:
    """Each paper T_k against the detected transition paired with it
    (:func:`paired_transitions`; seed range, tolerance :data:`TOL_T`): agrees if all five are
    found and agree; disagrees if one is missing or lies outside; else undecided. A T_k missed
    at this run's threshold but found at ``check``'s probe threshold (:func:`threshold_check`:
    one the authors' curves admit) is compared there, and can make the verdict undecided at
    best. Not measurable on a grid coarser than ``resolving`` (:data:`RESOLVING_STEPS`)."""
    key, claim = "regimes.positions", "transition β values T1 … T5"
    ref = PAPER_MNIST["transitions"]
    paper = "T = " + ", ".join(f"{t:g}" for t in ref) + " [paper]"
    if dataset not in MNIST_TYPE:
        return _not_mnist(key, claim, paper, dataset)
    coarse = _unresolved(key, claim, paper, beta_step, resolving)
    if coarse is not None:
        return coarse
    if not h.transitions:
        return Finding(key, claim, paper, "no transition found", Verdict.DISAGREES)
    probed = (paired_transitions(check.found_here, ref)
              if check is not None and check.five_at_probe else [None] * len(ref))
    verdicts, parts, below = [], [], 0
    for k, (t, near, low) in enumerate(zip(ref, paired_transitions(h.transitions, ref), probed,
                                           strict=True), start=1):
        if near is None and low is not None:  # counted only at the lower threshold
            below += 1
            v = interval_verdict(low.low, low.high, t, TOL_T)
            verdicts.append(Verdict.UNDECIDED if v is Verdict.AGREES else v)
            parts.append(f"T{k} only at z ≥ {check.probe:.3g}: {low.beta:.4g} "
                         f"[{low.low:.4g}, {low.high:.4g}]")
            continue
        if near is None:
            verdicts.append(Verdict.DISAGREES)
            parts.append(f"T{k} not found")
            continue
        verdicts.append(interval_verdict(near.low, near.high, t, TOL_T))
        parts.append(f"T{k} {near.beta:.4g} [{near.low:.4g}, {near.high:.4g}]")
    if all(v is Verdict.AGREES for v in verdicts):
        verdict = Verdict.AGREES
    elif any(v is Verdict.DISAGREES for v in verdicts):
        verdict = Verdict.DISAGREES
    else:
        verdict = Verdict.UNDECIDED
    within = sum(v is Verdict.AGREES for v in verdicts)
    note = f"{within} of {len(ref)} within {TOL_T:g} of the paper's value"
    if below and verdict is Verdict.UNDECIDED:
        note += (f"; {below} more within it only below the strong threshold "
                 f"z ≥ {check.used:g} (see the count)")
    elif verdict is Verdict.UNDECIDED:
        note = "a seed range too wide to tell; a finer grid or more seeds would resolve it"
    return Finding(key, claim, paper, "; ".join(parts) + " (median [seed range])",
                   verdict, note=note,
                   numbers={"transitions": h.t_values.tolist(), "tolerance": TOL_T,
                            "within_tolerance": within})


def finding_plateaus(h: Hierarchy, dataset: str, beta_step: float, *,
                     resolving: float = RESOLVING_STEP) -> Finding:
    """Plateau accuracies after T1 … T5 within :data:`TOL_PLATEAU` of the paper's (seed range),
    each detected transition's plateau compared with that of the T_k it is paired with
    (:func:`paired_transitions`): agrees if all five agree, disagrees if a paired one lies
    outside, undecided if one is missing or too wide; not measurable on a coarse grid."""
    key, claim = "regimes.plateaus", "test accuracy on the plateaus after T1 … T5"
    ref = PAPER_MNIST["plateaus"]
    paper = ", ".join(f"{p:.0%}" for p in ref) + " [paper]"
    if dataset not in MNIST_TYPE:
        return _not_mnist(key, claim, paper, dataset)
    coarse = _unresolved(key, claim, paper, beta_step, resolving)
    if coarse is not None:
        return coarse
    summary = h.plateau_summary()[1:]
    numbers = {"plateaus": summary[:, 0].tolist()}
    if not len(summary):
        return Finding(key, claim, paper, "no plateau after a transition", Verdict.UNDECIDED,
                       note="no transition found", numbers=numbers)
    # the plateau after each detected transition, compared with the paper's plateau after the
    # T_k that transition is paired with (paired_transitions)
    paired = paired_transitions(h.transitions, PAPER_MNIST["transitions"])
    parts, verdicts = [], []
    for k, (t, r) in enumerate(zip(paired, ref, strict=True), start=1):
        if t is None:
            parts.append(f"after T{k}: no transition")
            continue
        m, lo, hi = summary[h.transitions.index(t)]
        verdicts.append(interval_verdict(lo, hi, r, TOL_PLATEAU))
        parts.append(f"after T{k}: {m:.0%} [{lo:.0%}, {hi:.0%}]")
    text = "; ".join(parts) + " (median [seed range])"
    agree = sum(v is Verdict.AGREES for v in verdicts)
    if any(v is Verdict.DISAGREES for v in verdicts):
        verdict, note = Verdict.DISAGREES, f"{agree} of {len(verdicts)} paired plateaus agree"
    elif len(verdicts) < len(ref):
        verdict = Verdict.UNDECIDED
        note = (f"{len(ref) - len(verdicts)} of the paper's transitions not found, so their "
                f"plateaus cannot be compared; {agree} of {len(verdicts)} paired plateaus agree")
    elif agree == len(ref):
        verdict, note = Verdict.AGREES, ""
    else:
        verdict = Verdict.UNDECIDED
        note = "seed ranges too wide to tell; more seeds would resolve it"
    return Finding(key, claim, paper, text, verdict, note=note,
                   numbers=numbers | {"paired_agree": agree})


def finding_order(h: Hierarchy, dataset: str, beta_step: float) -> Finding:
    """Order of loss (digits ranked by ∫ recall dβ, any grid): agrees if every
    seed's Kendall τ with the paper's order is ≥ :data:`TAU_MIN`, disagrees if every seed's is
    below, undecided if the seeds straddle it (or no digit is lost)."""
    key, claim = "regimes.order", "digits lost one group at a time, in a fixed order"
    paper = "5 → 8 → 9 → {2,4,6} → 3 → 1 → 7 → 0 [paper]"
    if dataset not in MNIST_TYPE:
        return _not_mnist(key, claim, paper, dataset)
    tau = h.tau[np.isfinite(h.tau)]
    if tau.size == 0:
        return Finding(key, claim, paper, "no digit lost", Verdict.UNDECIDED,
                       note="no transition loses a digit: no order to compare")
    text = (f"Kendall τ = {np.median(tau):.2f} [{tau.min():.2f}, {tau.max():.2f}] (seeds; digits "
            f"ranked by ∫ recall dβ on a β step of {beta_step:g})")
    verdict = (Verdict.AGREES if tau.min() >= TAU_MIN else
               Verdict.DISAGREES if tau.max() < TAU_MIN else Verdict.UNDECIDED)
    return Finding(key, claim, paper, text, verdict,
                   note="" if verdict is not Verdict.UNDECIDED else
                   f"the seeds straddle τ = {TAU_MIN}; more seeds would resolve it",
                   numbers={"tau": float(np.median(tau)), "tau_min": float(tau.min()),
                            "tau_max": float(tau.max()), "tau_threshold": TAU_MIN})


def finding_tenfold(h: Hierarchy, beta_step: float, tolerance: float = 0.05, *,
                    resolving: float = RESOLVING_STEP) -> Finding:
    """Accuracy ≈ 10 % × the number of digits recognised, on every plateau (seed medians
    within ``tolerance``); any 10-class data set. Undecided without a transition, not
    measurable on a coarse grid."""
    key, claim = "regimes.tenfold", "accuracy ≈ 10 % × number of digits still recognised"
    paper = "accuracy ≈ 10 % × digits recognised [paper]"
    coarse = _unresolved(key, claim, paper, beta_step, resolving)
    if coarse is not None:
        return coarse
    if not h.transitions:
        return Finding(key, claim, paper, "no transition", Verdict.UNDECIDED,
                       note="a single plateau: nothing to compare across regimes")
    counts = np.array([[len(r) for r in seed] for seed in h.recognised], dtype=float)
    gap = np.abs(np.median(h.plateaus, axis=0) - 0.1 * np.median(counts, axis=0))
    return Finding(key, claim, paper,
                   f"largest gap |accuracy − 10 % × digits| = {gap.max():.1%} over "
                   f"{len(gap)} plateaus", Verdict.AGREES if gap.max() <= tolerance
                   else Verdict.DISAGREES, numbers={"tenfold_gap": float(gap.max()),
                                                    "tenfold_tolerance": tolerance})


def finding_hysteresis(summary: dict[str, float] | None, beta_step: float) -> Finding:
    """First order: the downward sweep from the trivial phase does not retrace the upward one.
    Agrees if the branches differ over more than two grid steps, disagrees if they coincide."""
    key, claim = "regimes.hysteresis", "first order: the way down differs from the way up"
    paper = "hysteresis at first-order transitions [2505.06597 v2]"
    if summary is None:
        return Finding(key, claim, paper, "no downward sweep", Verdict.NOT_MEASURABLE,
                       note="this run swept up only (the quick profile's sweep_down=False, "
                            "or the chapter's run_down=False); a downward sweep (the "
                            "reference and paper profiles' default) measures it")
    width = summary["width"]
    return Finding(key, claim, paper, f"branches differ over Δβ = {width:.3g} "
                   f"(accuracy at β = 0: up {summary['acc0_up']:.0%}, down "
                   f"{summary['acc0_down']:.0%})",
                   Verdict.AGREES if width > 2 * beta_step else Verdict.DISAGREES,
                   numbers={"hysteresis_width": width})


def finding_curvature(near: np.ndarray, far: np.ndarray, near_top: np.ndarray | None = None,
                      far_top: np.ndarray | None = None, *,
                      near_residual: np.ndarray | None = None,
                      far_residual: np.ndarray | None = None,
                      residual_tol: float | None = None) -> Finding:
    """Negative curvature before the jumps: agrees only if the median smallest Hessian
    eigenvalue at the transition checkpoints lies below every mid-plateau control; disagrees
    if it lies within or above the controls' range. Only points whose stationarity residual is
    at most ``residual_tol`` count (an eigenvalue of ∇²E where training merely stopped says
    nothing about saddles); residuals None: every point counts. Not measurable with < 2 of
    either group left. ``near_top``/``far_top`` (top-k spectra by magnitude, one row per point)
    add the mean number of negative eigenvalues among them to the text (the paper's view; not
    used in the verdict)."""
    key, claim = "regimes.curvature", "negative Hessian eigenvalues mark the transitions"
    paper = "negative eigenvalues near transition checkpoints [repo]"
    near, far = np.asarray(near, float), np.asarray(far, float)
    masks = []
    for values, residual in ((near, near_residual), (far, far_residual)):
        keep = np.isfinite(values)
        if residual_tol is not None and residual is not None:
            keep &= np.asarray(residual, float) <= residual_tol  # NaN residual: not shown a minimum
        masks.append(keep)
    measured = (int(np.isfinite(near).sum()), int(np.isfinite(far).sum()))
    tops = (near_top, far_top)
    near, far = near[masks[0]], far[masks[1]]
    gate = ""
    if residual_tol is not None and (near_residual is not None or far_residual is not None):
        worst = np.concatenate([np.asarray(r, float) for r in (near_residual, far_residual)
                                if r is not None])
        if np.isfinite(worst).any():
            gate = (f"; minima (residual ≤ {residual_tol:g}): {near.size} of {measured[0]} "
                    f"checkpoints, {far.size} of {measured[1]} controls (residuals "
                    f"{np.nanmin(worst):.2g}–{np.nanmax(worst):.2g})")
        elif sum(measured):
            gate = "; no stationarity residual recorded: no point is shown to be a minimum"
    if near.size < 2 or far.size < 2:
        reason = ("fewer than two checkpoints or mid-plateau controls measured; a finer grid "
                  "with more transitions would resolve it")
        if gate and (near.size < measured[0] or far.size < measured[1]):
            reason = ("the measured points are not minima of L_β (training stopped after the "
                      "authors' ≈ 6 epochs per β): their Hessian says nothing about saddles; "
                      "a minimisation to stationarity at each β would make it measurable")
        return Finding(key, claim, paper, f"{measured[0]} checkpoints, {measured[1]} "
                       f"controls measured{gate}", Verdict.NOT_MEASURABLE, note=reason)
    text = (f"smallest eigenvalue of ∇²E: checkpoints median {np.median(near):.3g} "
            f"[{near.min():.3g}, {near.max():.3g}], mid-plateau controls "
            f"[{far.min():.3g}, {far.max():.3g}]{gate}")
    if tops[0] is not None and tops[1] is not None and np.size(tops[0]) and np.size(tops[1]):
        near_top, far_top = np.asarray(tops[0])[masks[0]], np.asarray(tops[1])[masks[1]]
        k = np.shape(near_top)[1]
        text += (f"; negative among the top {k} by magnitude: "
                 f"{np.mean(np.sum(near_top < 0, axis=1)):.1f} (checkpoints), "
                 f"{np.mean(np.sum(far_top < 0, axis=1)):.1f} (controls)")
    return Finding(key, claim, paper, text,
                   Verdict.AGREES if np.median(near) < far.min() else Verdict.DISAGREES,
                   numbers={"eig_min_checkpoints": float(np.median(near)),
                            "eig_min_controls": float(np.median(far))})


CURVE_TOL = 0.05  # median |accuracy − authors' accuracy| over the grid


def finding_curve(betas: np.ndarray, accuracy: np.ndarray, dataset: str,
                  authors: tuple[np.ndarray, np.ndarray] | None = None) -> Finding:
    """The seed-mean test accuracy along the sweep against the authors' mean curve
    (interpolated at ``betas``; default :func:`authors_curve`): agrees if the median absolute
    difference over the grid is ≤ :data:`CURVE_TOL`, disagrees otherwise. Any grid step."""
    key, claim = "regimes.curve", "test accuracy along the sweep (the staircase as a curve)"
    paper = "the authors' mean test accuracy, MNIST 60k [authors' CSV]"
    if dataset not in MNIST_TYPE:
        return _not_mnist(key, claim, paper, dataset)
    ref_b, ref_acc = authors_curve() if authors is None else authors
    betas, accuracy = np.asarray(betas, float), np.asarray(accuracy, float)
    inside = (betas >= ref_b[0]) & (betas <= ref_b[-1])
    gap = np.abs(accuracy[inside] - np.interp(betas[inside], ref_b, ref_acc))
    median, worst = float(np.median(gap)), float(gap.max())
    return Finding(key, claim, paper, f"median |difference| {median:.1%}, largest {worst:.1%} "
                   f"over {int(inside.sum())} grid points",
                   Verdict.AGREES if median <= CURVE_TOL else Verdict.DISAGREES,
                   numbers={"curve_gap_median": median, "curve_gap_max": worst})


def findings(h: Hierarchy, *, dataset: str, beta_step: float, data_order: str = "fresh",
             hysteresis: dict[str, float] | None = None,
             curvature_points: dict[str, np.ndarray] | None = None) -> list[Finding]:
    """Every finding chapter 3 reports, in the order it reports them; ``data_order``: the
    sweep's, which sets the coarsest grid that resolves the transitions
    (:func:`resolving_step`); ``curvature_points`` is the output of :func:`curvature_check`."""
    resolving = resolving_step(data_order)
    check = (threshold_check(h) if dataset in MNIST_TYPE and h.signals and len(h.transitions) != 5
             and beta_step <= resolving * (1 + 1e-9) else None)
    out = [finding_curve(h.betas, h.mean_accuracy, dataset),
           finding_count(h, dataset, beta_step, check, resolving=resolving),
           finding_positions(h, dataset, beta_step, check, resolving=resolving),
           finding_plateaus(h, dataset, beta_step, resolving=resolving),
           finding_order(h, dataset, beta_step),
           finding_tenfold(h, beta_step, resolving=resolving),
           finding_hysteresis(hysteresis, beta_step)]
    if curvature_points is not None:
        c = curvature_points
        out.append(finding_curvature(
            c["near"], c["far"], c.get("near_top"), c.get("far_top"),
            near_residual=c.get("near_residual"), far_residual=c.get("far_residual"),
            residual_tol=float(c["residual_tol"]) if "residual_tol" in c else None))
    return out


def _groups(groups: Sequence[Sequence[int]]) -> str:
    return " → ".join("{" + ",".join(map(str, g)) + "}" if len(g) > 1 else str(g[0])
                      for g in groups if g)


def table_rows(h: Hierarchy, dataset: str) -> list[dict[str, Any]]:
    """One row per transition: T_k (median [seed range]), seeds showing it, test accuracy on the
    plateau after it (median [range]), digits lost there (by a majority of seeds). The paper's
    values are set beside them by :func:`l2lib.book.figures.regimes.transition_rows` (paired by
    nearest β, not by index)."""
    summary = h.plateau_summary()
    lost = h.lost_consensus()
    rows = []
    for k, t in enumerate(h.transitions):
        m, lo, hi = summary[k + 1]
        row = {"": f"T{k + 1}", "β (median [seeds])": f"{t.beta:.4g} [{t.low:.4g}, {t.high:.4g}]",
               "seeds": f"{t.n_seeds}/{len(t.per_seed)}",
               "accuracy after": f"{m:.0%} [{lo:.0%}, {hi:.0%}]",
               "digits lost": ", ".join(map(str, lost[k])) or "–"}
        rows.append(row)
    return rows


def numbers(h: Hierarchy, found: Sequence[Finding], wall: dict[str, float] | None = None
            ) -> dict[str, Any]:
    """The chapter's numbers for glue and the summary: counts, T_k, plateaus, τ, each
    finding's verdict text (``verdict_<name>``) and companion text (``companion_<name>``)."""
    summary = h.plateau_summary()
    tau = h.tau[np.isfinite(h.tau)]
    out: dict[str, Any] = {
        "n_transitions": len(h.transitions),
        "transitions": h.t_values.tolist(),
        "transition_spread": [t.high - t.low for t in h.transitions],
        "plateau_accuracy": summary[:, 0].tolist(),
        "accuracy_beta0": float(summary[0, 0]) if len(summary) else float("nan"),
        "digits_lost": h.lost_consensus(),
        "order_of_loss": _groups(h.final_loss_consensus()) or "none",
        "paper_order": _groups(PAPER_MNIST["loss_order"]),
        "kendall_tau": float(np.median(tau)) if tau.size else float("nan"),
    }
    for f in found:
        name = f.key.split(".")[-1]
        out[f"verdict_{name}"] = f.verdict.value
        out[f"companion_{name}"] = f.companion
    return out | (wall or {})


def finding_rows(found: Sequence[Finding]) -> list[dict[str, str]]:
    """The findings as table rows: claim, paper, this run, verdict (symbol and text), note."""
    return [{"finding": f.finding, "paper": f.paper, "this run": f.companion,
             "verdict": f"{f.verdict.symbol} {f.verdict.value}", "note": f.note} for f in found]


def paper_overlay(dataset: str) -> tuple[tuple[float, ...] | None,
                                          tuple[np.ndarray, np.ndarray] | None]:
    """(the paper's T_k, the authors' mean accuracy curve) for MNIST-type data, else (None,
    None): the published values are drawn only beside a run on the same kind of data."""
    if dataset not in MNIST_TYPE:
        return None, None
    return PAPER_MNIST["transitions"], authors_curve()


def curvature_check(sweep: RegimeSweep, data: Dataset, h: Hierarchy, settings: RegimeSettings
                    ) -> dict[str, np.ndarray]:
    """Smallest eigenvalue and top-``spectrum_k`` spectrum (by magnitude) of ∇²E (seed 0,
    ``settings.hessian_n`` images) at the first ``settings.n_curvature`` transition
    checkpoints ("near") and mid-plateau controls ("far"), with their β and stationarity
    residual (``near_residual``, ``far_residual``; NaN for a sweep stored without it) and the
    tolerance ``residual_tol`` that :func:`finding_curvature` applies."""
    result = sweep.result.ascending()
    residual = result.obs["residual"][:, 0] if "residual" in result.obs else None
    out: dict[str, np.ndarray] = {"residual_tol": np.float64(settings.residual_tol)}
    for name, idx in zip(("near", "far"), control_indices(h), strict=True):
        idx = idx[: settings.n_curvature]
        out[name], out[f"{name}_top"] = checkpoint_eigenvalues(
            sweep, data, idx, n_images=settings.hessian_n, tol=settings.hessian_tol,
            top_k=settings.spectrum_k)
        out[f"{name}_beta"] = result.lams[idx]
        out[f"{name}_residual"] = (np.full(len(idx), np.nan) if residual is None
                                   else np.asarray(residual[idx], dtype=np.float64))
    return out
