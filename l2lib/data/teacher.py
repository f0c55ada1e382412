"""Synthetic teacher data for which the closed forms of :mod:`l2lib.analysis.theory` hold exactly.

The inputs are whitened *in the sample*: ``XᵀX / n = a·I`` exactly, and the label noise is
projected out of the span of X, so the empirical cross-covariance ``Xᵀ Y / n`` has exactly the
requested singular values. The theory's m (or the modes s_i) then describe the empirical loss
the networks are trained on, not only its expectation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True, eq=False)
class TeacherData:
    """Regression data: x (n, d), y (n, k); ``modes`` are the singular values of ⟨x yᵀ⟩."""

    x: torch.Tensor
    y: torch.Tensor
    modes: np.ndarray
    a: float
    ey2: float  # ⟨‖y‖²⟩, the loss of the trivial solution f = 0

    @property
    def m(self) -> float:
        """The largest mode, ‖⟨x y⟩‖ for a scalar teacher."""
        return float(self.modes[0])


def teacher_data(
    n: int,
    d: int,
    modes: Sequence[float] = (1.0,),
    *,
    a: float = 1.0,
    noise: float = 0.1,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
) -> TeacherData:
    """A linear teacher with output dimension ``len(modes)`` and whitened inputs.

    ``modes`` are the target singular values of ⟨x yᵀ⟩ (positive, distinct directions are random);
    ``noise`` is the standard deviation of the label noise (orthogonal to the inputs' span).
    """
    modes_arr = np.sort(np.asarray(modes, dtype=np.float64))[::-1]
    k = modes_arr.size
    if k == 0 or np.any(modes_arr <= 0):
        raise ValueError(f"modes must be positive singular values, got {list(modes)}")
    if d < k or n <= d + k:
        raise ValueError(f"need d >= number of modes and n > d + modes; got n={n}, d={d}, k={k}")
    if a <= 0 or noise < 0:
        raise ValueError(f"need a > 0 and noise >= 0, got a={a}, noise={noise}")
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, d)))
    x = np.sqrt(n * a) * q  # XᵀX/n = a I
    u, _ = np.linalg.qr(rng.standard_normal((d, k)))
    v, _ = np.linalg.qr(rng.standard_normal((k, k)))
    teacher = u @ np.diag(modes_arr / a) @ v.T  # ⟨x yᵀ⟩ = a · teacher
    eps = rng.standard_normal((n, k)) * noise
    eps -= q @ (q.T @ eps)  # remove the part of the noise the inputs could explain
    y = x @ teacher + eps
    ey2 = float((y**2).sum(axis=1).mean())

    def as_tensor(arr: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(arr, dtype=dtype, device=device)

    return TeacherData(as_tensor(x), as_tensor(y), modes_arr, float(a), ey2)
