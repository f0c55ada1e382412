"""How strong is what the transition detector did not count? Sub-threshold jumps, seed by seed.

:mod:`l2lib.analysis.staircase` counts a transition where a seed's signals jump together, one of
them at a robust z ≥ ``z_strong`` (8), in a majority of seeds. A transition it misses may still be
visible below that threshold, and steps that are no transition reach some z too. This module
measures both with the detector's own statistic, so that "not found" can be read as *absent*,
*weaker than the threshold* or *as weak as what is no transition*:

* :func:`candidates`: the steps of one seed that pass every condition of
  :func:`~l2lib.analysis.staircase.seed_jumps` (a second signal at ``z_weak``, the test-set
  witness, the burn-in, no relaxation) with the strong threshold lowered to ``z_floor``;
* :func:`evidence_near`: per seed, the strongest candidate within ``window`` of a given β (e.g.
  the paper's T1);
* :func:`events_elsewhere`: candidates farther than ``window`` from every given β (the paper's
  T_k), matched across a majority of seeds as the detector matches its jumps: events that are no
  transition.

A candidate's *strength* is the largest z over its signals at its step (:func:`strength`). An
event is counted by a threshold up to its :attr:`Evidence.majority_strength` (a majority of
seeds must pass it; tested against the detector). So if a missed transition's majority strength
is at most that of an event that is no transition, no threshold counts the one without the
other. :func:`exact_thresholds` gives the range of thresholds that count exactly the given
transitions; chapter 3 compares that range on its run and on the authors' curves to tell a
transition missed by the threshold from one that is not there (``regimes.threshold_check``).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from l2lib.analysis.staircase import SeedJump, match_seeds, seed_jumps, spread_steps

Signals = Mapping[str, Sequence[float]]

Z_STRONG = float(inspect.signature(seed_jumps).parameters["z_strong"].default)
"""The detector's strong threshold (the default of :func:`~l2lib.analysis.staircase.seed_jumps`)."""


def strength(jump: SeedJump) -> float:
    """The largest z over the signals of a jump, at its step or within the detector's
    ``window`` of it (:attr:`SeedJump.zscores`): the quantity ``z_strong`` is compared with."""
    return max(jump.zscores.values())


def candidates(lams: Sequence[float], signals: Signals, *, z_floor: float = 4.0,
               spread: float = 0.0, **rule: Any) -> list[SeedJump]:
    """One seed's steps that pass the detector's rule with ``z_strong`` lowered to ``z_floor``;
    ``rule`` passes its other thresholds (``z_weak`` must not exceed ``z_floor``)."""
    if "z_strong" in rule or "max_width" in rule:
        raise ValueError("z_strong and max_width are set here (z_floor, spread); do not pass them")
    z_weak = float(rule.get("z_weak", 2.5))
    if not z_floor >= z_weak:
        raise ValueError(f"z_floor ({z_floor}) must be at least z_weak ({z_weak})")
    return seed_jumps(lams, signals, z_strong=z_floor, max_width=spread_steps(lams, spread), **rule)


@dataclass(frozen=True)
class Evidence:
    """Per seed, the strongest candidate near (or away from) the β values asked about; None
    where a seed has none."""

    per_seed: tuple[SeedJump | None, ...]

    @property
    def strengths(self) -> np.ndarray:
        """Each seed's :func:`strength` (NaN where it has no candidate)."""
        return np.array([strength(j) if j is not None else np.nan for j in self.per_seed])

    @property
    def betas(self) -> np.ndarray:
        """Each seed's β of that candidate (NaN where none)."""
        return np.array([j.beta if j is not None else np.nan for j in self.per_seed])

    @property
    def n_seeds(self) -> int:
        """How many seeds have a candidate."""
        return sum(j is not None for j in self.per_seed)

    @property
    def majority_strength(self) -> float:
        """The largest threshold a majority of seeds pass: the (⌊n/2⌋ + 1)-th largest strength
        (NaN if fewer seeds have a candidate). A threshold counts the event up to this value."""
        z = np.sort(self.strengths[np.isfinite(self.strengths)])[::-1]
        need = len(self.per_seed) // 2 + 1
        return float(z[need - 1]) if z.size >= need else float("nan")

    @property
    def beta(self) -> float:
        """The median β of the seeds' candidates (NaN if none)."""
        b = self.betas[np.isfinite(self.betas)]
        return float(np.median(b)) if b.size else float("nan")


def _strongest(jumps: Sequence[SeedJump]) -> SeedJump | None:
    return max(jumps, key=strength) if jumps else None


def evidence_near(lams: Sequence[float], seeds: Sequence[Signals], beta: float, *,
                  window: float, z_floor: float = 4.0, spread: float = 0.0,
                  **rule: Any) -> Evidence:
    """Per seed, the strongest :func:`candidates` within ``window`` (in β) of ``beta``."""
    if not window > 0:
        raise ValueError(f"window must be a positive β width, got {window}")
    return Evidence(tuple(
        _strongest([j for j in candidates(lams, s, z_floor=z_floor, spread=spread, **rule)
                    if abs(j.beta - beta) <= window]) for s in seeds))


def events_elsewhere(lams: Sequence[float], seeds: Sequence[Signals], betas: Sequence[float],
                    *, window: float, match: float | None = None, z_floor: float = 4.0,
                    spread: float = 0.0, **rule: Any) -> list[Evidence]:
    """Candidates farther than ``window`` from every β of ``betas`` (e.g. the paper's T_k),
    matched across seeds by :func:`~l2lib.analysis.staircase.match_seeds` (``match`` defaults to
    the detector's: the larger of 3.5 grid steps and ``spread``); the groups seen in a majority of
    seeds, strongest (:attr:`Evidence.majority_strength`) first."""
    if not window > 0:
        raise ValueError(f"window must be a positive β width, got {window}")
    away = np.asarray(betas, dtype=np.float64)
    step = float(np.median(np.diff(np.asarray(lams, dtype=np.float64))))
    match = max(3.5 * step, spread) if match is None else match

    def far(j: SeedJump) -> bool:
        return away.size == 0 or bool(np.min(np.abs(away - j.beta)) > window)

    per_seed = [[j for j in candidates(lams, s, z_floor=z_floor, spread=spread, **rule)
                 if far(j)] for s in seeds]
    events = [Evidence(t.per_seed) for t in match_seeds(per_seed, match=match)]
    return sorted(events, key=lambda e: -e.majority_strength)


@dataclass(frozen=True)
class Thresholds:
    """The strong thresholds ``z_strong`` in (``low``, ``high``] at which the detector counts
    exactly the given transitions (one within ``window`` of each given β) and nothing else:
    ``high`` is the weakest given transition's majority strength, ``low`` the strongest other
    event's (or the ``z_floor`` looked down to, when there is none above it). Empty when
    ``high`` ≤ ``low`` or a given transition has no candidate (``high`` NaN). An estimate from
    the strongest candidates: a seed's second candidate within ``window`` of a given β is not
    looked at, so confirm a threshold by running the detector there (as
    :func:`l2lib.experiments.regimes.threshold_check` does)."""

    low: float
    high: float
    floor: bool = False
    """True when no other event reached ``low``: it is then the ``z_floor`` looked down to, not
    an event's strength, and the range may reach lower."""

    @property
    def empty(self) -> bool:
        """True when no threshold counts exactly the given transitions."""
        return not self.high > self.low

    def __contains__(self, z_strong: float) -> bool:
        return not self.empty and self.low < z_strong <= self.high

    def overlap(self, other: Thresholds) -> Thresholds:
        """The thresholds in both ranges (empty if none)."""
        low = max(self.low, other.low)
        floor = all(t.floor for t in (self, other) if t.low == low)
        return Thresholds(low, min(self.high, other.high), floor)

    def __str__(self) -> str:
        if self.empty:
            return "none"
        if self.floor:
            return f"up to {self.high:.3g} (no other event at z ≥ {self.low:.3g})"
        return f"({self.low:.3g}, {self.high:.3g}]"


def exact_thresholds(lams: Sequence[float], seeds: Sequence[Signals], betas: Sequence[float],
                     *, window: float, z_floor: float = 4.0, spread: float = 0.0,
                     **rule: Any) -> Thresholds:
    """The :class:`Thresholds` at which the detector counts exactly one transition near each of
    ``betas`` (e.g. the paper's T_k) in ``seeds``, from :func:`evidence_near` and
    :func:`events_elsewhere` with the same rule."""
    near = [evidence_near(lams, seeds, b, window=window, z_floor=z_floor, spread=spread,
                          **rule).majority_strength for b in betas]
    others = events_elsewhere(lams, seeds, betas, window=window, z_floor=z_floor, spread=spread,
                              **rule)
    strongest_other = max([e.majority_strength for e in others], default=-np.inf)
    low = max(z_floor, strongest_other)
    high = float("nan") if any(np.isnan(near)) else float(min(near))
    return Thresholds(float(low), high, floor=bool(strongest_other < z_floor))
