"""One figure style for the book: sweeps up and down, theory overlays, marked transitions.

Figures are vector graphics: in a notebook (every chapter under papermill) :func:`use_style` makes
the inline backend emit SVG only, so the built book shows them sharp at any screen resolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

UP = dict(color="C0", marker="o", ms=3.5, lw=1.2, label="sweep up")
DOWN = dict(color="C3", marker="v", ms=3.5, lw=1.0, ls="--", label="sweep down")
THEORY = dict(color="k", lw=1.0, label="theory (global minimum)")
METASTABLE = dict(color="0.45", lw=1.0, ls=":", label="theory (learning branch)")


FIGURE_FORMAT = "svg"  # what notebooks display; SVG scales to any screen resolution


def use_style() -> None:
    """Apply the book's matplotlib defaults and, inside IPython, display figures as SVG.

    SVG text is drawn as paths (no font needed to view it) and carries no date and fixed ids,
    so re-running a chapter with the same data gives the same figure bytes.
    """
    mpl.rcParams.update({
        "figure.dpi": 110, "savefig.dpi": 220, "axes.grid": True, "grid.alpha": 0.3,
        "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False,
        "font.size": 9, "axes.titlesize": 10,
        "svg.fonttype": "path", "svg.hashsalt": "l2lib",
    })
    try:  # IPython comes with the 'book' extra; outside a kernel there is nothing to display
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:
        return
    if get_ipython() is not None:
        set_matplotlib_formats(FIGURE_FORMAT, metadata={"Date": None})


def panels(
    n: int, rows: int = 1, *, width: float = 3.3, height: float = 2.7, **kw
) -> tuple[Figure, np.ndarray]:
    """``rows`` × ``n`` axes (a 1-D array for one row, else 2-D)."""
    fig, axes = plt.subplots(rows, n, figsize=(width * n, height * rows), squeeze=False, **kw)
    fig.set_layout_engine("constrained")
    return fig, axes[0] if rows == 1 else axes


def sweep_pair(
    ax: Axes,
    lams: np.ndarray,
    up: np.ndarray,
    down: np.ndarray | None = None,
    *,
    spread_up: np.ndarray | None = None,
) -> None:
    """Upward (and downward) sweep of one observable; ``spread_up`` draws a ±band (e.g. seeds)."""
    ax.plot(lams, up, **UP)
    if spread_up is not None:
        ax.fill_between(lams, up - spread_up, up + spread_up, color="C0", alpha=0.2, lw=0)
    if down is not None:
        ax.plot(lams, down, **DOWN)


def theory_curves(
    ax: Axes, lams: np.ndarray, global_min: np.ndarray, learning: np.ndarray | None = None
) -> None:
    """Closed-form curves: global minimum, and the metastable learning branch if given."""
    fine = np.asarray(lams)
    ax.plot(fine, global_min, **THEORY)
    if learning is not None and not np.allclose(np.nan_to_num(learning), global_min):
        ax.plot(fine, learning, **METASTABLE)


def mark(ax: Axes, lam: float, label: str, *, color: str = "C2", ls: str = "-") -> None:
    """A vertical line at ``lam`` with a legend label."""
    ax.axvline(lam, color=color, ls=ls, lw=0.9, label=label)


def mode_staircase(
    ax: Axes, lams: np.ndarray, measured: np.ndarray, theory: np.ndarray | None = None
) -> None:
    """Singular values of the end-to-end map (n_λ, n_modes) against λ, one colour per mode."""
    for i in range(measured.shape[1]):
        ax.plot(lams, measured[:, i], "o", ms=3, color=f"C{i}", label=f"mode {i + 1}")
        if theory is not None:
            ax.plot(lams, theory[:, i], "-", lw=0.9, color=f"C{i}")


def label(ax: Axes, xlabel: str, ylabel: str, title: str | None = None,
          legend: bool | Sequence[str] = False) -> None:
    """Axis labels, optional title and legend (drawn only if some artist has a label)."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)


def residual_lines(ax: Axes, xs: np.ndarray, residual: np.ndarray | None, what: str,
                   names: str, bold: int | None = None) -> bool:
    """One line per member of a stationarity residual (shape (n_points, members)) against
    ``xs`` on a log axis, named ``names.format(k)``, member ``bold`` drawn bold (its name marked
    "(scanned)"); NaN and inf points left out. ``residual`` None (not recorded): the panel says
    so for ``what`` ("this sweep", "this path") and False is returned."""
    if residual is None:
        ax.text(0.5, 0.5, f"no stationarity residual recorded in {what}", ha="center",
                va="center", transform=ax.transAxes)
        return False
    for k in range(residual.shape[1]):
        ok = np.isfinite(residual[:, k])
        ax.semilogy(xs[ok], residual[ok, k], lw=2 if k == bold else 0.8,
                    label=names.format(k) + (" (scanned)" if k == bold else ""))
    return True
