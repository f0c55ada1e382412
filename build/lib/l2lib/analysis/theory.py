"""Closed forms for the onset of learning in deep linear nets (Ziyin & Ueda, arXiv 2205.12510).

Model: D hidden layers, no biases, inputs with covariance a·I, loss
``E = ⟨(y − f(x))²⟩`` (no ½) and penalty ``(λ/2) Σ_i ‖W_i‖²`` (l2lib's convention; the papers'
γ Σ‖W_i‖² is γ = λ/2). Balanced layers reduce the problem to the norm r of the end-to-end map
along the teacher's direction, m = ‖⟨x y⟩‖ (or one singular value of ⟨x yᵀ⟩ per mode):

    L(r) = ⟨y²⟩ − 2 m r + a r² + (D + 1) (λ/2) r^{2/(D+1)}.

* D = 1: r* = max(0, (m − λ/2)/a); λ_c = 2m; continuous (second order).
* D ≥ 2: r = 0 is always a local minimum; the global minimum jumps from r_c = m(D−1)/(aD) to 0
  at λ_c = 2 (a/(D−1)) r_c^{2D/(D+1)} (first order). The learning branch survives as a
  metastable minimum up to the spinodal λ_s, where its norm is r_c/2.

Derivations are in the notes of the companion (book chapter 1); tests check every formula against
numerical minimisation of the full network.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import brentq

BRANCHES = ("global", "learning")


def _check(m: float, a: float, depth: int) -> None:
    if m < 0 or a <= 0:
        raise ValueError(f"need m >= 0 and a > 0, got m={m}, a={a}")
    if int(depth) != depth or depth < 1:
        raise ValueError(f"depth counts hidden layers and must be an integer >= 1, got {depth}")


def reduced_loss(
    r: float | np.ndarray, lam: float, m: float, a: float = 1.0, depth: int = 1, ey2: float = 0.0
) -> np.ndarray:
    """L(r) above: the regularised loss of a balanced net whose end-to-end norm is r."""
    r = np.asarray(r, dtype=np.float64)
    return ey2 - 2 * m * r + a * r**2 + (depth + 1) * (lam / 2) * r ** (2 / (depth + 1))


def critical_norm(m: float, a: float = 1.0, depth: int = 1) -> float:
    """End-to-end norm r_c of the learning minimum at λ_c (0 for D = 1)."""
    _check(m, a, depth)
    return 0.0 if depth == 1 else m * (depth - 1) / (a * depth)


def critical_lambda(m: float, a: float = 1.0, depth: int = 1) -> float:
    """λ_c, where the trivial solution r = 0 becomes the global minimum."""
    _check(m, a, depth)
    if depth == 1:
        return 2.0 * m
    r_c = critical_norm(m, a, depth)
    return 2.0 * a / (depth - 1) * r_c ** (2 * depth / (depth + 1))


def spinodal_lambda(m: float, a: float = 1.0, depth: int = 1) -> float:
    """λ_s, the largest λ at which the learning minimum exists (equals λ_c for D = 1)."""
    _check(m, a, depth)
    if depth == 1:
        return 2.0 * m
    r_s = critical_norm(m, a, depth) / 2
    return 2.0 * a * (depth + 1) / (depth - 1) * r_s ** (2 * depth / (depth + 1))


def _learning_root(lam: float, m: float, a: float, depth: int) -> float:
    """Largest stationary point of L(r), i.e. the learning minimum; NaN beyond the spinodal."""
    if depth == 1:
        r = (m - lam / 2) / a
        return r if r > 0 else np.nan
    if lam == 0:
        return m / a
    if m == 0 or lam > spinodal_lambda(m, a, depth):
        return np.nan
    gamma, p = lam / 2, 2 / (depth + 1)
    # stationarity: a r + γ r^(p−1) = m; the left side is convex with its minimum at r_min
    r_min = (gamma * (1 - p) / a) ** (1 / (2 - p))
    g = lambda r: a * r + gamma * r ** (p - 1) - m  # noqa: E731
    if g(r_min) >= 0:
        return r_min
    return brentq(g, r_min, m / a, xtol=1e-14, rtol=1e-13)


def order_parameter(
    lams: Sequence[float] | np.ndarray,
    m: float,
    a: float = 1.0,
    depth: int = 1,
    branch: str = "global",
) -> np.ndarray:
    """End-to-end norm r*(λ) of the minimiser.

    ``branch="global"``: the global minimum (0 beyond λ_c). ``branch="learning"``: the learning
    minimum, followed past λ_c into metastability (NaN beyond the spinodal λ_s) — what a warm
    sweep upwards follows under gradient flow.
    """
    _check(m, a, depth)
    if branch not in BRANCHES:
        raise ValueError(f"branch must be one of {BRANCHES}, got {branch!r}")
    lams = np.asarray(lams, dtype=np.float64)
    if np.any(lams < 0):
        raise ValueError("λ must be non-negative")
    out = np.array([_learning_root(lam, m, a, depth) for lam in lams.ravel()]).reshape(lams.shape)
    if branch == "global":
        out = np.where(lams < critical_lambda(m, a, depth), out, 0.0)
        out = np.nan_to_num(out, nan=0.0)
    return out


def minimum_loss(
    lams: Sequence[float] | np.ndarray,
    m: float,
    a: float = 1.0,
    depth: int = 1,
    ey2: float = 0.0,
    branch: str = "global",
) -> np.ndarray:
    """Regularised loss at the minimiser, L(r*(λ)) (NaN where the branch does not exist)."""
    lams = np.asarray(lams, dtype=np.float64)
    r = order_parameter(lams, m, a, depth, branch)
    return reduced_loss(r, lams, m, a, depth, ey2)


def mode_order_parameters(
    lams: Sequence[float] | np.ndarray,
    modes: Sequence[float],
    a: float = 1.0,
    depth: int = 1,
    branch: str = "global",
) -> np.ndarray:
    """Singular values of the minimiser's end-to-end map, shape (n_λ, n_modes).

    With whitened inputs each singular mode s_i of ⟨x yᵀ⟩ decouples and switches off at its own
    λ_c(s_i): a staircase of transitions.
    """
    return np.stack([order_parameter(lams, s, a, depth, branch) for s in modes], axis=-1)
