"""Transitions between accuracy regimes as the paper defines them: simultaneous jumps.

Ersoy, Cardozo Licha & Wiesner (arXiv 2512.11866) call a transition the β at which the weight
norm ‖θ‖, the losses and the accuracy jump *together*. Accuracy alone is a poor witness: at the
first MNIST transition it moves by 1–5 points (less than its step-to-step noise) while the
training cross-entropy jumps by 15 robust standard deviations. This module therefore finds the
transitions per seed from several signals at once and only then matches them across seeds.

**Per signal: level shifts as change points.** Each signal s(β) is oriented so that a transition
raises it (``-‖θ‖``, ``+CE``, ``-accuracy``). Between transitions s drifts smoothly; a transition
is a single grid step whose change Δs_i = s_{i+1} − s_i stands out from the local drift. Its
robust z-score is ``z_i = (Δs_i − median Δs) / (1.4826 · MAD Δs)``, median and MAD over the
other steps within ``half_window`` grid steps (the local slope and its noise), the scale floored
at ``floor`` × the signal's range so that a flat signal does not turn rounding into jumps. The
range is taken over the steps the rule scores (after the burn-in, below): on MNIST ‖θ‖ falls
from 46 to 27 in the first grid steps after β = 0, and a floor set by that fall (which the rule
ignores) would cap the z of every later jump of ‖θ‖ (T1's by 30 % on mnist-10k). This
is a one-step change-point statistic for a level shift on top of a random walk with drift; a
slow decline, however steep overall, gives no large z.

**Spread jumps.** A warm sweep that trains only a few epochs per β may relax into the new regime
over several grid steps, each of which alone stands out little. With ``max_width`` w > 1 each
signal's change over k = 1 … w steps is scored the same way (against the other k-step changes
nearby that do not overlap it) and every step covered by a change takes the largest such z; the
jump is then located at its sharpest single step. w = 1 is the one-step rule.

**Per seed: simultaneous jumps.** A step is a *jump* when at least one signal has z ≥ ``z_strong``
and at least ``min_signals`` signals have z ≥ ``z_weak`` at that step or within ``window``
steps of it, and a test-set *witness* (test cross-entropy or test accuracy, where given) moves
the same way by at least ``z_witness``: a transition loses accuracy on unseen data. Jumps closer
than ``merge`` steps are one transition (a jump spread over two grid
steps), located at the step with the largest sum of positive z.

**Burn-in.** When the grid starts at β = 0, jumps in its first ``burn_in`` fraction (5 % of the
β range by default) are ignored: β = 0 is no regularised minimum (the norm of an unregularised
classifier grows with training time), and over the next few β the warm-started weights are still
relaxing towards the regularised minimum (‖θ‖ 90 → 31 → 24 on MNIST) while the training loss
rises. On the authors' grid this relaxation ends by β ≈ 0.003 and their first transition is at
0.025; on coarser grids (their curves subsampled) it leaks past a single-step rule. Steps in
the burn-in lend their z to no neighbour (``window``).

**Relaxation is no jump.** A level shift makes a signal change by more than it did at the step
before; a relaxation — the weights still settling after the penalty is switched on, the steep
start of a smooth decline — changes it by less at each step than at the one before. A group of
hits is therefore kept only if one of the signals reaching ``z_strong`` in it changes, at some
step of the group, by more than at the step just before the group (``rising``). Without this
rule a relaxation that outlasts the burn-in is counted at its first scored step: on chapter 3's
quick grid (step 1.25·10⁻³) ‖θ‖ still falls by 1.7, 1.1 and 0.8 per step at β = 0.0025–0.00625,
and whether the step ending at 0.005 was scored hung on 0.05 × 0.1 rounding above 0.005 (cut the
grid at 0.095 and it was counted as a sixth transition).

**Across seeds: matching.** The seeds' transitions are pooled and grouped in increasing β (gaps
≤ ``match``, at most one jump per seed in a group); a group seen in at least ``min_seeds`` seeds is
a transition T_k,
reported as the median of its seeds' β with their range as the spread.

The thresholds are this companion's, pinned by tests: on the authors' published curves the rule
finds exactly their five transitions (each within 3·10⁻⁴ of the paper's values), on idealised
staircases every step, on a smooth decline and on a relaxation none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DIRECTIONS = {"norm": -1.0, "train_ce": 1.0, "test_ce": 1.0, "objective": 1.0,
              "test_acc": -1.0, "train_acc": -1.0}
"""Orientation of the usual sweep observables: +1 if a transition raises them, −1 if it lowers."""


def _check(lams: Sequence[float], values: Sequence[float], name: str) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    lams = np.asarray(lams, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if lams.ndim != 1 or values.shape != lams.shape:
        raise ValueError(f"signal {name!r}: need 1-D arrays of equal length, got {lams.shape} "
                         f"and {values.shape}")
    if lams.size < 4:
        raise ValueError(f"signal {name!r}: need at least 4 grid points, got {lams.size}")
    if np.any(np.diff(lams) <= 0):
        raise ValueError("the β grid must be strictly increasing (use SweepResult.ascending())")
    return lams, values


def step_zscores(lams: Sequence[float], values: Sequence[float], *, direction: float = 1.0,
                 half_window: int = 25, floor: float = 1e-3, name: str = "signal",
                 width: int = 1, span: float | None = None) -> np.ndarray:
    """Robust z-score of each ``width``-step change s_{i+width} − s_i (length n − width),
    oriented by ``direction``: median and MAD over the other ``width``-step changes that start
    within ``half_window`` steps of i and do not overlap it (module doc). ``width`` 1 is the
    one-step statistic; a larger width sees a jump spread over up to ``width`` grid steps.

    The scale is at least ``floor`` × ``span`` (default: the signal's finite range).
    NaN changes (a signal that ends early, e.g. a seed run to a smaller β_max) get z = NaN.
    """
    lams, values = _check(lams, values, name)
    if not 1 <= width < lams.size - 1:
        raise ValueError(f"signal {name!r}: width must be between 1 and {lams.size - 2} grid "
                         f"steps, got {width}")
    d = direction * (values[width:] - values[:-width])
    if span is None:
        span = _finite_range(values)
    z = np.full(d.size, np.nan)
    for i in np.flatnonzero(np.isfinite(d)):
        near = np.arange(max(0, i - half_window), min(d.size, i + half_window + 1))
        others = d[near[np.abs(near - i) >= width]]
        others = others[np.isfinite(others)]
        if others.size < 3:
            continue
        med = np.median(others)
        scale = max(1.4826 * float(np.median(np.abs(others - med))), floor * span, 1e-300)
        z[i] = (d[i] - med) / scale
    return z


def _finite_range(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.max() - finite.min()) if finite.size else 0.0


def spread_zscores(lams: Sequence[float], values: Sequence[float], *, max_width: int = 1,
                   **kwargs: Any) -> np.ndarray:
    """Per grid step (length n − 1): the largest :func:`step_zscores` over widths 1 …
    ``max_width`` of the changes whose span covers that step (NaN where none is finite).
    ``max_width`` 1 returns the one-step z-scores unchanged."""
    lams = np.asarray(lams, dtype=np.float64)
    n_steps = lams.size - 1
    best = np.full(n_steps, -np.inf)
    for width in range(1, max_width + 1):
        z = np.nan_to_num(step_zscores(lams, values, width=width, **kwargs), nan=-np.inf)
        for offset in range(width):  # the change starting at j covers steps j … j + width − 1
            best[offset:offset + z.size] = np.maximum(best[offset:offset + z.size], z)
    return np.where(np.isfinite(best), best, np.nan)


def scored_from(lams: Sequence[float], burn_in: float = 0.05) -> int:
    """The first grid step :func:`seed_jumps` scores (step i joins points i and i + 1): 0 on a
    grid that does not start at β = 0; on one that does, the first step ending at or above
    ``burn_in`` × the β range, and never the step from β = 0 itself."""
    lams = np.asarray(lams, dtype=np.float64)
    if lams[0] != 0.0:
        return 0
    ends = lams[1:]
    return max(1, int(np.searchsorted(ends, burn_in * (lams[-1] - lams[0]), side="left")))


@dataclass(frozen=True)
class SeedJump:
    """One transition of one seed: the grid step (index, index + 1) and its β midpoint.

    ``index`` is the last grid point before the jump (its state is the transition checkpoint);
    ``zscores`` the z of each signal at that step (largest within ``window``).
    """

    index: int
    beta: float
    zscores: dict[str, float]


def seed_jumps(
    lams: Sequence[float], signals: Mapping[str, Sequence[float]], *,
    directions: Mapping[str, float] | None = None, z_strong: float = 8.0, z_weak: float = 2.5,
    min_signals: int = 2, window: int = 1, merge: int = 2, half_window: int = 25,
    witnesses: Sequence[str] = ("test_ce", "test_acc"), z_witness: float = 1.0,
    burn_in: float = 0.05, max_width: int = 1, rising: bool = True,
) -> list[SeedJump]:
    """The transitions of one seed: steps where the ``signals`` jump together (module doc).

    ``signals`` maps names to curves on ``lams``; ``directions`` gives each one's orientation
    (default :data:`DIRECTIONS`). ``burn_in``: on a grid starting at β = 0, steps ending below
    ``burn_in`` × the β range (and always the first step) are ignored. The witness rule applies
    only when some of ``witnesses`` are among the signals. ``max_width`` > 1 lets a jump spread
    over up to that many grid steps (:func:`spread_zscores`; hits that close merge); the jump
    is still located at its sharpest single step. Each signal's z-score floor is relative to its
    range over the grid points from the first scored step on (:func:`scored_from`). ``rising``
    drops a group of hits in which no signal reaching ``z_strong`` changes by more than at the
    step before the group (a relaxation, module doc); False is the rule without that test.
    """
    if not signals:
        raise ValueError("give at least one signal")
    if not 1 <= min_signals <= len(signals):
        raise ValueError(f"min_signals must be between 1 and the number of signals "
                         f"({len(signals)}), got {min_signals}")
    if not z_strong >= z_weak > 0:
        raise ValueError(f"need z_strong >= z_weak > 0, got {z_strong} and {z_weak}")
    directions = dict(DIRECTIONS, **(directions or {}))
    unknown = [n for n in signals if n not in directions]
    if unknown:
        raise ValueError(f"no direction for signal(s) {unknown}: pass directions={{name: ±1}}")
    lams = np.asarray(lams, dtype=np.float64)
    names = list(signals)
    first = scored_from(lams, burn_in)
    spans = {n: _finite_range(np.asarray(signals[n], dtype=np.float64)[first:]) for n in names}
    single = np.array([step_zscores(lams, signals[n], direction=directions[n],
                                    half_window=half_window, name=n, span=spans[n])
                       for n in names])
    z = single if max_width == 1 else np.array(
        [spread_zscores(lams, signals[n], max_width=max_width, direction=directions[n],
                        half_window=half_window, name=n, span=spans[n]) for n in names])
    z = np.nan_to_num(z, nan=-np.inf)
    z[:, :first] = -np.inf  # unscored steps lend no z to their neighbours either
    n_steps = z.shape[1]
    # the largest z of each signal within ±window of each step
    near = np.full_like(z, -np.inf)
    for shift in range(-window, window + 1):
        lo, hi = max(0, -shift), min(n_steps, n_steps - shift)
        near[:, lo:hi] = np.maximum(near[:, lo:hi], z[:, lo + shift : hi + shift])
    hit = (z.max(axis=0) >= z_strong) & ((near >= z_weak).sum(axis=0) >= min_signals)
    witness = [k for k, n in enumerate(names) if n in witnesses]
    if witness:
        hit &= near[witness].max(axis=0) >= z_witness
    hit[:first] = False
    groups: list[list[int]] = []
    for i in np.flatnonzero(hit):
        if groups and i - groups[-1][-1] <= merge + max_width - 1:
            groups[-1].append(int(i))
        else:
            groups.append([int(i)])
    if rising:
        groups = [g for g in groups if _rises(signals, names, directions, z, g, z_strong)]
    strength = np.where(np.isfinite(single), np.clip(single, 0, None), 0).sum(axis=0)
    jumps = []
    for group in groups:
        span = range(group[0], group[-1] + 1)
        i = max(span, key=lambda j: strength[j])
        jumps.append(SeedJump(i, float(0.5 * (lams[i] + lams[i + 1])),
                              {n: float(near[k, i]) for k, n in enumerate(names)}))
    return jumps


def _rises(signals: Mapping[str, Sequence[float]], names: list[str],
           directions: Mapping[str, float], z: np.ndarray, group: list[int],
           z_strong: float) -> bool:
    """Whether a signal reaching ``z_strong`` in ``group`` (grid steps, ascending) changes at
    one of its steps by more than at the step before it (oriented changes; a group at the first
    step of the grid, or after a NaN change, counts as rising)."""
    before = group[0] - 1
    if before < 0:
        return True
    for k, name in enumerate(names):
        if not np.max(z[k, group]) >= z_strong:
            continue
        change = directions[name] * np.diff(np.asarray(signals[name], dtype=np.float64))
        if not np.isfinite(change[before]) or np.nanmax(change[group]) > change[before]:
            return True
    return False


@dataclass(frozen=True)
class Transition:
    """A transition matched across seeds: median β, range over seeds, each seed's jump (None
    where that seed has none in this group)."""

    beta: float
    low: float
    high: float
    per_seed: tuple[SeedJump | None, ...]

    @property
    def n_seeds(self) -> int:
        """How many seeds show this transition."""
        return sum(j is not None for j in self.per_seed)


def match_seeds(per_seed: Sequence[Sequence[SeedJump]], *, match: float,
                min_seeds: int | None = None) -> list[Transition]:
    """Group the seeds' jumps in increasing β: a jump joins the current group when it lies
    within ``match`` of the group's last jump and its seed has none in the group yet, else it
    opens a new group. Groups seen in at least ``min_seeds`` seeds (default: a majority) are
    the transitions."""
    n = len(per_seed)
    if n == 0:
        raise ValueError("need the jumps of at least one seed")
    if not match > 0:
        raise ValueError(f"match must be positive, got {match}")
    need = n // 2 + 1 if min_seeds is None else int(min_seeds)
    if not 1 <= need <= n:
        raise ValueError(f"min_seeds must be between 1 and {n}, got {min_seeds}")
    pooled = sorted(((j.beta, s, j) for s, jumps in enumerate(per_seed) for j in jumps),
                    key=lambda item: (item[0], item[1]))
    groups: list[list[tuple[float, int, SeedJump]]] = []
    for item in pooled:
        if (groups and item[0] - groups[-1][-1][0] <= match
                and item[1] not in {s for _, s, _ in groups[-1]}):
            groups[-1].append(item)
        else:
            groups.append([item])
    found = []
    for group in groups:
        chosen: list[SeedJump | None] = [None] * n
        for _, s, jump in group:
            chosen[s] = jump
        betas = [j.beta for j in chosen if j is not None]
        if len(betas) >= need:
            found.append(Transition(float(np.median(betas)), float(min(betas)),
                                    float(max(betas)), tuple(chosen)))
    return found


def spread_steps(lams: Sequence[float], spread: float) -> int:
    """The grid steps a jump may spread over for a β width ``spread`` (:func:`detect`'s
    ``max_width``): ⌊spread / median step⌋, at least 1."""
    if spread < 0:
        raise ValueError(f"spread must be >= 0 (a β width), got {spread}")
    step = float(np.median(np.diff(np.asarray(lams, dtype=np.float64))))
    return max(1, int(np.floor(spread / step + 1e-9)))


def detect(
    lams: Sequence[float], seeds: Sequence[Mapping[str, Sequence[float]]], *,
    match: float | None = None, min_seeds: int | None = None, spread: float = 0.0,
    **rule: float,
) -> list[Transition]:
    """Transitions of a multi-seed sweep: :func:`seed_jumps` per seed, :func:`match_seeds`
    across them. ``spread``: the β width over which one jump may be spread (a warm sweep that
    trains only a few epochs per β relaxes into the new regime over several grid steps); it sets
    ``max_width`` = ⌊spread / step⌋ grid steps (at least 1; 0: one-step jumps only). ``match``
    defaults to the larger of 3.5 grid steps (the median step; seeds of the authors' sweep jump
    up to 3 steps apart) and ``spread``; ``rule`` passes the thresholds of :func:`seed_jumps`."""
    lams = np.asarray(lams, dtype=np.float64)
    step = float(np.median(np.diff(lams)))
    per_seed = [seed_jumps(lams, signals, max_width=spread_steps(lams, spread), **rule)
                for signals in seeds]
    if match is None:
        match = max(3.5 * step, spread)
    return match_seeds(per_seed, match=match, min_seeds=min_seeds)


# --------------------------------------------------------------------------------------------
# What each regime keeps: plateau levels, digits recognised, the order of loss


def plateau_levels(values: Sequence[float], indices: Sequence[int], guard: int = 1
                   ) -> np.ndarray:
    """Median of ``values`` on each plateau between the jumps after grid points ``indices``
    (ascending); ``guard`` points next to each jump are left out. NaN for an empty plateau."""
    values = np.asarray(values, dtype=np.float64)
    edges = [0] + [i + 1 for i in indices] + [values.size]
    levels = []
    for k in range(len(edges) - 1):
        lo = edges[k] + (guard if k > 0 else 0)
        hi = edges[k + 1] - (guard if k < len(edges) - 2 else 0)
        part = values[lo:hi]
        part = part[np.isfinite(part)]
        levels.append(float(np.median(part)) if part.size else float("nan"))
    return np.asarray(levels)


def recognised_sets(per_class: np.ndarray, indices: Sequence[int], level: float = 0.5,
                    guard: int = 1) -> list[list[int]]:
    """The classes whose median recall on each plateau exceeds ``level``; ``per_class`` has
    shape (n_points, n_classes)."""
    per_class = np.asarray(per_class, dtype=np.float64)
    medians = np.array([plateau_levels(per_class[:, c], indices, guard)
                        for c in range(per_class.shape[1])]).T
    return [[int(c) for c in np.flatnonzero(row > level)] for row in medians]


def loss_ranks(recognised: Sequence[Sequence[int]], n_classes: int = 10) -> np.ndarray:
    """Rank of each class in the order of loss: the index k of the transition after which it
    is never recognised again (plateau k + 1 onwards); classes still recognised on the last
    plateau rank ``len(recognised) − 1``. A class lost and later regained ranks by its final
    loss; a class never recognised ranks −1."""
    sets = [set(s) for s in recognised]
    ranks = np.full(n_classes, float(len(sets) - 1))
    for c in range(n_classes):
        seen = [k for k, s in enumerate(sets) if c in s]
        if not seen:
            ranks[c] = -1.0
        elif seen[-1] < len(sets) - 1:
            ranks[c] = float(seen[-1])
    return ranks


def loss_betas(lams: Sequence[float], per_class: np.ndarray, level: float = 0.5) -> np.ndarray:
    """For each class, the first β from which its recall stays ≤ ``level`` to the end of the
    grid (its final loss; a class lost and regained counts from its last loss); +inf for a
    class still recognised at the end, −inf for one never recognised. ``per_class``: shape
    (n_points, n_classes). Needs no transition detection, so it works on any grid; classes
    lost within one grid step tie."""
    lams = np.asarray(lams, dtype=np.float64)
    per_class = np.asarray(per_class, dtype=np.float64)
    out = np.empty(per_class.shape[1])
    for c in range(per_class.shape[1]):
        above = np.flatnonzero(per_class[:, c] > level)
        if above.size == 0:
            out[c] = -np.inf
        elif above[-1] == len(lams) - 1:
            out[c] = np.inf
        else:
            out[c] = lams[above[-1] + 1]
    return out


def survival(lams: Sequence[float], per_class: np.ndarray) -> np.ndarray:
    """For each class, ∫ recall dβ over the grid (trapezoid rule): how long it survives as β
    grows. For a recall that stays at r until β_loss and is 0 after, this is r·(β_loss − β₀),
    so ranking by it ranks by the β of loss; unlike the last crossing of a level
    (:func:`loss_betas`), one noisy grid point moves it by at most one step's share."""
    lams = np.asarray(lams, dtype=np.float64)
    return np.trapezoid(np.asarray(per_class, dtype=np.float64), lams, axis=0)


def group_ranks(groups: Sequence[Sequence[int]], n_classes: int = 10) -> np.ndarray:
    """Ranks from an ordered list of groups (classes lost together share a rank; a class in
    several groups ranks by the last; classes in none rank last)."""
    ranks = np.full(n_classes, float(len(groups)))
    for i, group in enumerate(groups):
        ranks[list(group)] = i
    return ranks


def kendall_tau(ranks_a: np.ndarray, ranks_b: np.ndarray) -> float:
    """Kendall's τ_b between two rankings with ties (scipy); NaN when either is constant."""
    from scipy.stats import kendalltau

    a, b = np.asarray(ranks_a, dtype=float), np.asarray(ranks_b, dtype=float)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(kendalltau(a, b).statistic)
