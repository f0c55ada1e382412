"""Figures of chapter 3 (accuracy regimes): observables along the sweep with the detected and the
published transitions, the per-digit heat map, Hessian eigenvalues at checkpoints and controls,
and how strong each transition's jump is here and in the authors' curves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from l2lib.analysis import weak_jumps
from l2lib.book import plots
from l2lib.experiments import regimes
from l2lib.experiments.regimes import Hierarchy
from l2lib.train.sweep import SweepResult

PANELS = (("test_acc", "test accuracy"), ("train_ce", "training cross-entropy"),
          ("test_ce", "test cross-entropy"), ("objective", "regularised loss E + (β/2)‖θ‖²"),
          ("norm", "‖θ‖"))


def _transitions(ax: Axes, h: Hierarchy, paper: Sequence[float] | None) -> None:
    """Detected T_k (green line at the median, band over the seed range); paper's (dotted)."""
    for t in h.transitions:
        ax.axvline(t.beta, color="C2", lw=0.8, alpha=0.8)
        if t.high > t.low:
            ax.axvspan(t.low, t.high, color="C2", alpha=0.15, lw=0)
    for t in paper or ():
        ax.axvline(t, color="0.4", lw=0.8, ls=":")


def observables(up: SweepResult, down: SweepResult | None, h: Hierarchy, *,
                paper: Sequence[float] | None = None,
                authors: tuple[np.ndarray, np.ndarray] | None = None) -> Figure:
    """Five observables against β (seed mean, ±1 s.d. band; the way down dashed) and accuracy
    against ‖θ‖. ``paper``: the published T_k (dotted); ``authors``: (β, accuracy) of the
    authors' mean test-accuracy curve, drawn on the accuracy panel."""
    up = up.ascending()
    back = down.ascending() if down is not None else None
    fig, axes = plots.panels(3, rows=2, height=2.5)
    for ax, (name, title) in zip(axes.flat, PANELS, strict=False):
        plots.sweep_pair(ax, up.lams, up.mean(name), None if back is None else back.mean(name),
                         spread_up=up.obs[name].std(axis=1))
        _transitions(ax, h, paper)
        plots.label(ax, "β", title)
    if authors is not None:
        axes[0, 0].plot(*authors, color="k", lw=0.8, alpha=0.7, label="authors (MNIST 60k)")
    axes[0, 0].legend(fontsize=7)
    ax = axes[1, 2]
    ax.plot(up.mean("norm"), up.mean("test_acc"), "o-", ms=3, color="C0", label="sweep up")
    if back is not None:
        ax.plot(back.mean("norm"), back.mean("test_acc"), "v--", ms=3, color="C3",
                label="sweep down")
    plots.label(ax, "‖θ‖", "test accuracy", "accuracy against the weight norm", legend=True)
    fig.suptitle("Along the warm β sweep (mean over seeds; band ±1 s.d.); green: detected "
                 "transitions (band: seed range)" + ("; dotted: the paper's" if paper else ""))
    return fig


def digit_heatmap(up: SweepResult, h: Hierarchy) -> Figure:
    """Test recall per digit along the upward sweep (mean over seeds), transitions dashed."""
    up = up.ascending()
    heat = up.mean("class_acc").T
    fig, ax = plt.subplots(figsize=(9, 3.2), layout="constrained")
    step = float(np.median(np.diff(up.lams)))
    im = ax.imshow(heat, aspect="auto", origin="lower", cmap="viridis", vmin=0, vmax=1,
                   extent=(up.lams[0] - step / 2, up.lams[-1] + step / 2, -0.5,
                           heat.shape[0] - 0.5), interpolation="nearest")
    for t in h.transitions:
        ax.axvline(t.beta, color="w", lw=0.8, ls="--")
    ax.set_yticks(range(heat.shape[0]))
    ax.grid(False)
    plots.label(ax, "β", "digit", "Test recall per digit along the upward sweep (mean over seeds)")
    fig.colorbar(im, ax=ax, label="recall")
    return fig


def checkpoint_eigenvalues(curv: dict[str, np.ndarray], up: SweepResult | None = None
                           ) -> Figure:
    """Left: smallest eigenvalue of ∇²E at the transition checkpoints and mid-plateau controls,
    with −β (below it the regularised loss is concave there); hollow: points whose stationarity
    residual exceeds ``curv["residual_tol"]``, which the finding leaves out. Right: their top-k
    spectra by magnitude (signed; the authors keep k = 30). ``curv``: from
    ``regimes.curvature_check``;
    ``up``: the sweep, whose in-sweep measurements (seed 0, every ``hessian_every``-th β) are
    drawn in grey where present."""
    fig, axes = plots.panels(2, width=4.2, height=2.8)
    top = max(np.max(curv["near_beta"], initial=0), np.max(curv["far_beta"], initial=0))
    if up is not None and "eig_min" in up.obs:
        res = up.ascending()
        seen = np.isfinite(res.obs["eig_min"][:, 0])
        axes[0].plot(res.lams[seen], res.obs["eig_min"][seen, 0], "-", color="0.6",
                     marker=".", label="along the sweep")
        for beta, values in zip(res.lams[seen], res.obs["top_eigenvalues"][seen, 0],
                                strict=True):
            axes[1].plot(np.full(len(values), beta), values, ".", ms=3, color="0.6")
        top = max(top, float(np.max(res.lams[seen], initial=0)))
    ax = axes[0]
    tol = float(curv.get("residual_tol", np.inf))
    for name, marker, color, label in (("near", "s", "C3", "transition checkpoints"),
                                       ("far", "o", "C0", "mid-plateau controls")):
        residual = np.asarray(curv.get(f"{name}_residual", np.zeros(len(curv[name]))), float)
        minimum = residual <= tol
        ax.plot(curv[f"{name}_beta"][minimum], curv[name][minimum], marker, color=color,
                label=label)
        if (~minimum).any():
            ax.plot(curv[f"{name}_beta"][~minimum], curv[name][~minimum], marker, color=color,
                    mfc="none", label=f"{label.split()[0]}: not a minimum (left out)")
    grid = np.linspace(0, top, 50)
    ax.plot(grid, -grid, "k:", lw=1, label="−β")
    plots.label(ax, "β", "smallest eigenvalue of ∇²E", legend=True)
    ax = axes[1]
    for name, marker, color in (("near", "s", "C3"), ("far", "o", "C0")):
        for beta, values in zip(curv[f"{name}_beta"], curv.get(f"{name}_top", []), strict=False):
            ax.plot(np.full(len(values), beta), values, marker, ms=3, color=color, alpha=0.6)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_yscale("symlog", linthresh=1e-2)
    plots.label(ax, "β", "top eigenvalues of ∇²E by |λ|",
                "red: checkpoints, blue: controls, grey: sweep")
    return fig


def stationarity(up: SweepResult, h: Hierarchy | None = None) -> Figure:
    """The relative stationarity residual ‖∇E + β θ‖ / ‖β θ‖ of every seed along the sweep
    (log scale; 0 at a stationary point of L_β, ≥ 1 where the gradient of the loss is as large
    as the penalty's pull), with the detected transitions. Sweeps stored before the residual was
    recorded draw an empty panel saying so."""
    up = up.ascending()
    fig, ax = plt.subplots(figsize=(7, 2.6))
    if not plots.residual_lines(ax, up.lams, up.obs.get("residual"), "this sweep", "seed {}"):
        return fig
    if h is not None:
        _transitions(ax, h, None)
    ax.axhline(1.0, color="0.5", lw=0.6, ls="--")
    plots.label(ax, "β", "‖∇L_β‖ / ‖βθ‖", "how far each sweep point is from a minimum of L_β",
                legend=True)
    return fig


def transition_rows(h: Hierarchy, dataset: str) -> list[dict[str, str]]:
    """:func:`l2lib.experiments.regimes.table_rows` (one row per detected transition, this run's
    numbering) with, for MNIST-type data, the paper's T_k each is paired with
    (:func:`~l2lib.experiments.regimes.paired_transitions`, nearest one to one) instead of the
    k-th, and a "not found" row for each paper T_k no detected transition pairs with; rows in
    increasing β. No rows when nothing was detected (a grid too coarse to resolve jumps: the
    findings say "not measurable", not "not found")."""
    rows = [{k: str(v) for k, v in r.items()} for r in regimes.table_rows(h, dataset)]
    if dataset not in regimes.MNIST_TYPE or not h.transitions:
        return rows
    paper_t, paper_p = regimes.PAPER_MNIST["transitions"], regimes.PAPER_MNIST["plateaus"]
    paired = regimes.paired_transitions(h.transitions, paper_t)
    partner = {id(t): k for k, t in enumerate(paired) if t is not None}
    keyed = []
    for row, t in zip(rows, h.transitions, strict=True):
        k = partner.get(id(t))
        keyed.append((t.beta, row | (
            {"paper": "–", "paper β": "–", "paper accuracy after": "–"} if k is None else
            {"paper": f"T{k + 1}", "paper β": f"{paper_t[k]:g}",
             "paper accuracy after": f"{paper_p[k]:.0%}"})))
    for k, t in enumerate(paired):
        if t is None:
            keyed.append((paper_t[k], {"": "–", "β (median [seeds])": "not found",
                                       "seeds": "–", "accuracy after": "–", "digits lost": "–",
                                       "paper": f"T{k + 1}", "paper β": f"{paper_t[k]:g}",
                                       "paper accuracy after": f"{paper_p[k]:.0%}"}))
    return [row for _, row in sorted(keyed, key=lambda item: item[0])]


# --------------------------------------------------------------------------------------------
# How strong each transition is, here and in the authors' curves (l2lib.analysis.weak_jumps)

@dataclass(frozen=True)
class JumpStrengths:
    """The detector's statistic at each paper T_k (``near[k]``) and at the events away from all
    of them seen in a majority of seeds (``elsewhere``, strongest first), for this run and for
    the authors' curves; ``counted[k]``: whether this run counted a transition paired with T_k;
    ``z_floor``: the smallest z looked at; ``z_strong``: the strong threshold the run was
    counted with (its hierarchy's)."""

    paper: tuple[float, ...]
    near: tuple[weak_jumps.Evidence, ...]
    elsewhere: tuple[weak_jumps.Evidence, ...]
    authors_near: tuple[weak_jumps.Evidence, ...]
    authors_elsewhere: tuple[weak_jumps.Evidence, ...]
    counted: tuple[bool, ...]
    z_floor: float = 4.0
    z_strong: float = weak_jumps.Z_STRONG


def jump_strengths(h: Hierarchy,
                   authors: tuple[np.ndarray, Sequence[dict[str, np.ndarray]]], *,
                   paper: Sequence[float] = tuple(regimes.PAPER_MNIST["transitions"]),
                   window: float = regimes.TOL_T, z_floor: float = 4.0) -> JumpStrengths:
    """Per seed, the strongest sub-threshold jump within ``window`` of each paper T_k, and the
    events farther than ``window`` from all of them, in the sweep behind ``h`` (its signals and
    detector settings but ``z_strong``) and in ``authors`` ((β, seeds) as
    :func:`l2lib.data.published.authors_mnist_seeds` returns)."""
    if not h.signals:
        raise ValueError("the hierarchy holds no signals: build it with regimes.hierarchy()")
    lams, seeds = h.betas, h.signals
    a_lams, a_seeds = authors
    rule = {k: v for k, v in h.rule.items() if k != "z_strong"}
    kw = {"window": window, "z_floor": z_floor, **rule}
    paired = regimes.paired_transitions(h.transitions, list(paper))
    return JumpStrengths(
        paper=tuple(float(t) for t in paper),
        near=tuple(weak_jumps.evidence_near(lams, seeds, t, **kw) for t in paper),
        elsewhere=tuple(weak_jumps.events_elsewhere(lams, seeds, paper, **kw)),
        authors_near=tuple(weak_jumps.evidence_near(a_lams, a_seeds, t, **kw) for t in paper),
        authors_elsewhere=tuple(weak_jumps.events_elsewhere(a_lams, a_seeds, paper, **kw)),
        counted=tuple(p is not None and abs(p.beta - t) <= window
                      for p, t in zip(paired, paper, strict=True)),
        z_floor=z_floor, z_strong=float(h.rule.get("z_strong", weak_jumps.Z_STRONG)))


def _zs(e: weak_jumps.Evidence | None) -> str:
    if e is None:
        return "none in a majority of seeds"
    return ", ".join("–" if np.isnan(z) else f"{z:.1f}" for z in e.strengths)


def _span(e: weak_jumps.Evidence) -> str:
    z = e.strengths[np.isfinite(e.strengths)]
    return f"{z.min():.1f}" if z.min() == z.max() else f"{z.min():.1f}–{z.max():.1f}"


def jump_strength_rows(s: JumpStrengths) -> list[dict[str, str]]:
    """A table: each paper T_k and the strongest event away from all of them (seen in a
    majority of seeds), with the seeds' z here and in the authors' curves."""
    rows = [{"": f"T{k + 1} (paper β = {t:g})", "counted here": "yes" if c else "no",
             "z here (seeds)": _zs(e), "z, authors' curves (seeds)": _zs(a)}
            for k, (t, e, a, c) in enumerate(zip(s.paper, s.near, s.authors_near, s.counted,
                                                 strict=True))]
    here = s.elsewhere[0] if s.elsewhere else None
    there = s.authors_elsewhere[0] if s.authors_elsewhere else None

    def at(e: weak_jumps.Evidence | None) -> str:
        return "" if e is None else f" at β ≈ {e.beta:.3g}"

    counted = "–" if here is None else (
        "yes" if here.majority_strength >= s.z_strong else "no")
    rows.append({"": "strongest event away from every T_k", "counted here": counted,
                 "z here (seeds)": _zs(here) + at(here),
                 "z, authors' curves (seeds)": _zs(there) + at(there)})
    return rows


def jump_strength_sentence(s: JumpStrengths) -> str:
    """For each paper T_k this run did not count: absent, seen in too few seeds, or counted by a
    threshold only if that threshold also counts an event that is no transition (here or in the
    authors' curves, where the paper counts five), or else missed only by the threshold.
    Empty if every T_k was counted."""
    rivals = [(e, "here") for e in s.elsewhere[:1]] + [
        (e, "in the authors' curves, which the paper does not count")
        for e in s.authors_elsewhere[:1]]
    parts = []
    for k, (e, a, counted) in enumerate(zip(s.near, s.authors_near, s.counted, strict=True)):
        if counted:
            continue
        name, n = f"T{k + 1}", len(e.per_seed)
        if e.n_seeds == 0:
            parts.append(f"{name} is absent here: no seed has a jump of z ≥ {s.z_floor:g} "
                         "within reach of the paper's value")
            continue
        text = (f"{name} is seen in {e.n_seeds} of {n} seeds at z = {_span(e)}"
                f", short of the detector's threshold {s.z_strong:g} in a majority of "
                "seeds")
        if a.n_seeds:
            text += f" (the authors' {name}: {_span(a)})"
        need = e.majority_strength
        if not np.isfinite(need):
            parts.append(text + "; fewer than a majority of seeds show it at all")
            continue
        beaten = [(r, where) for r, where in rivals if r.majority_strength >= need]
        if beaten:
            text += (f". A threshold low enough to count it in a majority of seeds (≤ {need:.1f})"
                     " would also count " + " and ".join(
                         f"an event at β ≈ {r.beta:.3g} {where} "
                         f"(majority z {r.majority_strength:.1f})" for r, where in beaten)
                     + f": no threshold on this statistic counts {name} without counting "
                     + ("that event" if len(beaten) == 1 else "those events") + " too")
        else:
            text += (f"; in a majority of seeds it is stronger ({need:.1f}) than every event away "
                     "from the transitions, here and in the authors' curves: a lower threshold "
                     "would count it")
        parts.append(text)
    return ". ".join(parts) + ("." if parts else "")
