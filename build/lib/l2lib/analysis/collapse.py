"""Chapter 4's analysis: steps in the number of active units along a β sweep, the probe
accuracy across each step, and the change points of the curvature beside them.

A *step* is a grid interval (β_i, β_{i+1}) over which a member's number of active units falls; an
*accuracy transition* is a step across which the linear probe's accuracy falls by more than
:data:`ACCURACY_FACTOR` times the member's typical change between neighbouring β without a step.
Curvature change points come from :func:`l2lib.transitions.change_points`; a step counts as
matched when one lies within one grid step of log β. The chance level says how often a step
placed at random would be matched by the same change points.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from l2lib.analysis import transitions
from l2lib.train.sweep import SweepResult


def unit_steps(units: np.ndarray) -> np.ndarray:
    """Indices i of the grid intervals (i, i+1) where an integer count decreases."""
    units = np.asarray(units)
    if units.ndim != 1:
        raise ValueError(f"units must be 1-D (one member along the grid), got {units.shape}")
    return np.flatnonzero(np.diff(units) < 0)


def step_events(steps: np.ndarray) -> list[list[int]]:
    """Steps grouped into events: runs of steps in adjacent grid intervals."""
    events: list[list[int]] = []
    for i in np.asarray(steps, dtype=int):
        if events and events[-1][-1] == i - 1:
            events[-1].append(int(i))
        else:
            events.append([int(i)])
    return events


def symlog(values: np.ndarray) -> np.ndarray:
    """sign(R)·log10(1 + |R|): log10 R for R ≫ 1, defined for any sign."""
    values = np.asarray(values, dtype=np.float64)
    return np.sign(values) * np.log10(1.0 + np.abs(values))


@dataclass(frozen=True)
class StepMatch:
    """One step in a member's active units, beside the curvature's nearest change point.

    ``beta`` is the geometric midpoint of the step's grid interval; ``offset`` the distance
    from it to the nearest curvature change point in grid steps of log β (inf if none).
    ``accuracy_step``: the probe accuracy falls across the step by more than ``ACCURACY_FACTOR``
    times the member's typical change between neighbouring β without a step.
    """

    member: int
    beta: float
    units_before: int
    units_after: int
    probe_before: float
    probe_after: float
    curvature_change: float
    offset: float
    accuracy_step: bool

    @property
    def matched(self) -> bool:
        """A curvature change point lies within one grid step."""
        return self.offset <= 1.0 + 1e-9


ACCURACY_FACTOR = 3.0


@dataclass(frozen=True)
class CollapseAnalysis:
    """Steps of every member, each member's curvature change points, the probe's typical change
    between neighbouring β without a step (``probe_noise``), and the chance level: the fraction
    of grid intervals within one grid step of a change point (the probability that a step
    placed at random would count as matched)."""

    steps: list[StepMatch]
    changes: list[np.ndarray]
    chance: list[float]
    probe_noise: list[float]

    @property
    def accuracy_steps(self) -> list[StepMatch]:
        """The steps across which the probe accuracy drops markedly: accuracy transitions."""
        return [s for s in self.steps if s.accuracy_step]

    def counts(self) -> dict[str, float]:
        """Steps and accuracy transitions and how many of each are matched; ``chance``: the
        mean chance level; ``all_by_chance``: the probability that every accuracy transition
        would be matched by chance (product of the members' chance levels; NaN if none)."""
        acc = self.accuracy_steps
        other = [s for s in self.steps if not s.accuracy_step]
        by_chance = float(np.prod([self.chance[s.member] for s in acc])) if acc else np.nan
        return {"steps": len(self.steps), "accuracy_steps": len(acc),
                "accuracy_matched": sum(s.matched for s in acc), "other_steps": len(other),
                "other_matched": sum(s.matched for s in other),
                "chance": float(np.mean(self.chance)) if self.chance else np.nan,
                "all_by_chance": by_chance}

    def rows(self) -> list[dict[str, Any]]:
        """The steps as table rows."""
        return [{"member": s.member, "β of step": s.beta,
                 "active units": f"{s.units_before} → {s.units_after}",
                 "probe accuracy": f"{s.probe_before:.3f} → {s.probe_after:.3f}",
                 "accuracy transition": "yes" if s.accuracy_step else "",
                 "nearest curvature change point": s.curvature_change,
                 "offset (grid steps)": s.offset} for s in self.steps]


def _probe_noise(units: np.ndarray, probe: np.ndarray) -> float:
    """Median |Δ accuracy| between neighbouring β with no step, before total collapse."""
    quiet = np.diff(units) == 0
    alive = np.flatnonzero(units > 0)
    before = np.arange(units.size - 1) < (alive[-1] if alive.size else 0)
    for mask in (quiet & before, quiet, np.ones_like(quiet)):
        if mask.any():
            return float(np.median(np.abs(np.diff(probe))[mask]))
    return float("nan")  # a grid of one point: no intervals


def analyse_collapse(sweep: SweepResult, signal: str = "curvature") -> CollapseAnalysis:
    """Steps in each member's active units on an ascending sweep and the change points of
    ``signal`` (a per-member observable, e.g. ``"curvature"``) beside them.

    Change points: ``transitions.change_points(kind="kink")`` on (log10 β, symlog R) — R spans
    decades and the grid is logarithmic, so a transition shows as a change of slope in log–log —
    with as many breaks as the member has step events (runs of steps in adjacent intervals),
    capped by the grid size. Offsets are measured in grid steps of log10 β.
    """
    betas = np.asarray(sweep.betas, dtype=np.float64)
    if betas.size < 4 or np.any(np.diff(betas) <= 0) or betas[0] <= 0:
        raise ValueError("need an ascending sweep of >= 4 values β > 0 "
                         "(use SweepResult.ascending())")
    if signal not in sweep.obs:
        raise ValueError(f"unknown signal {signal!r}; the sweep observed {sorted(sweep.obs)}")
    logb = np.log10(betas)
    h = float(np.median(np.diff(logb)))
    mids = 0.5 * (logb[:-1] + logb[1:])
    units, probe = sweep.obs["active_units"], sweep.obs["probe_acc"]
    steps, changes, chance, noise = [], [], [], []
    for k in range(units.shape[1]):
        found = unit_steps(units[:, k])
        n_breaks = min(len(step_events(found)), betas.size // 3 - 1)
        cps = (transitions.change_points(logb, symlog(sweep.obs[signal][:, k]), kind="kink",
                                         n_breaks=n_breaks) if n_breaks >= 1 else np.empty(0))
        changes.append(10**cps)
        near = (np.abs(mids[:, None] - cps[None, :]).min(axis=1) / h if cps.size
                else np.full(mids.size, np.inf))
        chance.append(float(np.mean(near <= 1.0 + 1e-9)))
        noise.append(_probe_noise(units[:, k], probe[:, k]))
        for i in found:
            j = int(np.argmin(np.abs(cps - mids[i]))) if cps.size else -1
            drop = float(probe[i, k] - probe[i + 1, k])
            steps.append(StepMatch(
                k, float(10 ** mids[i]), int(units[i, k]), int(units[i + 1, k]),
                float(probe[i, k]), float(probe[i + 1, k]),
                float(10 ** cps[j]) if j >= 0 else float("nan"), float(near[i]),
                bool(drop > ACCURACY_FACTOR * noise[-1])))
    return CollapseAnalysis(steps, changes, chance, noise)


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


def probe_after_collapse(sweep: SweepResult) -> float:
    """Mean probe accuracy over the points at and beyond each member's total collapse (NaN if
    no member collapses completely on the grid)."""
    betas = np.asarray(sweep.betas)
    values = [sweep.obs["probe_acc"][betas >= b, k]
              for k, b in enumerate(total_collapse_beta(sweep)) if np.isfinite(b)]
    return float(np.mean(np.concatenate(values))) if values else float("nan")
