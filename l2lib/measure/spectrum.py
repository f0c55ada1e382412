"""The top of a Hessian spectrum by magnitude, as Ersoy, Cardozo Licha & Wiesner measure it.

Their scripts (arXiv 2512.11866) keep the k = 30 eigenvalues of largest *magnitude* of the
unregularised cross-entropy's Hessian (Lanczos, ``scipy.sparse.linalg.eigsh(which="LM")`` on
Hessian-vector products). Largest magnitude is not largest value: a negative eigenvalue enters
the list only when |λ| is among the k largest, so "negative eigenvalues near the transitions"
in their sense means negative curvature comparable to the top of the spectrum. The Hessian of
the regularised loss L_β is this one plus β·I (every eigenvalue shifted by β).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh
from torch import Tensor

from l2lib.measure.curvature import hvp


def top_magnitude(fn: Callable[[Tensor], Tensor], theta: Tensor, k: int = 30, *,
                  tol: float = 1e-4, seed: int = 0, maxiter: int | None = None) -> np.ndarray:
    """The ``k`` eigenvalues of ∇²fn(θ) of largest magnitude, sorted by decreasing |λ|.

    Lanczos (ARPACK ``which="LM"``, relative tolerance ``tol``, start vector a standard normal
    draw from ``seed``) on exact Hessian-vector products (:func:`l2lib.measure.curvature.hvp`).
    Requires 1 <= k < P, the number of parameters.
    """
    theta = theta.detach()
    p = theta.numel()
    if not 1 <= int(k) < p:
        raise ValueError(f"k must satisfy 1 <= k < P = {p}, got {k}")

    def matvec(v: np.ndarray) -> np.ndarray:
        vt = torch.as_tensor(np.ascontiguousarray(v, dtype=np.float64).ravel()).to(theta)
        return hvp(fn, theta, vt).detach().cpu().to(torch.float64).numpy()

    op = LinearOperator((p, p), matvec=matvec, dtype=np.float64)
    v0 = np.random.default_rng(seed).standard_normal(p)
    values = eigsh(op, k=int(k), which="LM", tol=tol, v0=v0, maxiter=maxiter,
                   return_eigenvectors=False)
    return values[np.argsort(-np.abs(values))].astype(np.float64)


def negative_share(values: np.ndarray) -> tuple[int, float]:
    """(number of negative eigenvalues, most negative / largest magnitude) of a top-k list;
    the ratio is 0 when none is negative."""
    values = np.asarray(values, dtype=np.float64)
    neg = values[values < 0]
    scale = float(np.max(np.abs(values))) if values.size else 0.0
    return int(neg.size), float(neg.min() / scale) if neg.size and scale > 0 else 0.0
