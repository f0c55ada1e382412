"""Saddles crossed by a path: a toy double well with a known saddle, and a saddle search.

:func:`locate_saddle` looks for the saddle of E crossed between two points a and b (e.g. the
checkpoints on either side of a jump of a Pathfinder path): it takes the highest point of E on
the segment a → b (a dense scan refined by a bounded Brent search) and refines it to a critical
point of E by minimising ½‖∇E‖² (L-BFGS; its gradient H∇E costs one exact Hessian-vector
product). A local minimum of ½‖∇E‖² need not be a critical point, so the result carries ‖∇E‖,
and the Hessian's extreme eigenvalues say what kind of critical point was found (a saddle has
a negative smallest eigenvalue).

:class:`DoubleWell` is a landscape with everything known: E(x, y) = (x² − 1)² + c (y − a x²)²
has minima (±1, a) and one saddle (0, 0) with Hessian eigenvalues −4 and 2c. With a = 0,
Pathfinder from (−1, 0) towards (1, 0) follows the left minimum until the spinodal at β = 1
(x = −½, where ∂²E/∂x² = −1 = −β) and then jumps. :class:`PointEnsemble` turns any energy of a
point into an ensemble "model" so that :func:`l2lib.train.loop.train` and
:func:`l2lib.train.pathfinder.find_path` run on it.

**Saddles on a path** (:func:`lowest_mode`, :func:`scan_segment`, :func:`jump_steps`). A
Pathfinder step from checkpoint θ_i to θ_{i+1} is taken at strength β_{i+1}: the optimiser
starts at θ_i and minimises L = E + (β_{i+1}/2)‖θ − θ_ref‖², whose Hessian is ∇²E + β_{i+1} I.
At a few points θ_i + s (θ_{i+1} − θ_i) of the step we compute the lowest eigenpair of ∇²E
(Lanczos started from the step direction d) and report μ_L = μ_E + β_{i+1} and the overlap
|⟨u, d⟩| / ‖d‖ of its unit eigenvector u with the direction. The point *shows a saddle of L
along the path* when μ_L < 0 and the overlap is at least a stated threshold (for P parameters
a random direction has overlap ≈ 1/√P). :func:`jump_steps` finds the jumps of a path without
labels (steps much longer than the typical step), for landscapes without accuracies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize, minimize_scalar
from torch import Tensor, nn

from l2lib.measure import curvature
from l2lib.train.loop import TrainConfig
from l2lib.train.losses import ErrorFn
from l2lib.train.pathfinder import Path, find_path

Energy = Callable[[Tensor], Tensor]
"""``energy(points)`` → one value per point: (K, d) → (K,)."""

TOY_TRAIN = TrainConfig(optimizer="sgd", lr=0.1, batch_size=None, max_epochs=4000, patience=10,
                        min_delta=1e-13)
"""Plain full-batch gradient descent to convergence, for two-dimensional toy landscapes
(stable while 0.1 × the largest curvature of the loss stays below 2)."""


class PointEnsemble(nn.Module):
    """K points θ_k ∈ ℝᵈ (parameter ``theta``, shape (K, d)) with the ensemble interface of
    :mod:`l2lib.train.loop`; its error is an :data:`Energy` via :func:`point_error`."""

    def __init__(self, points: Tensor | Sequence[Sequence[float]],
                 seeds: Sequence[int] | None = None, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        points = torch.as_tensor(points, dtype=dtype)
        if points.dim() != 2:
            raise ValueError(f"points must have shape (K, d), got {tuple(points.shape)}")
        self.theta = nn.Parameter(points.clone())
        self.seeds = list(range(points.shape[0])) if seeds is None else [int(s) for s in seeds]
        if len(self.seeds) != points.shape[0]:
            raise ValueError(f"need one seed per point ({points.shape[0]}), got {len(self.seeds)}")

    @property
    def n_members(self) -> int:
        return self.theta.shape[0]

    def forward(self, x: Tensor) -> Tensor:
        return self.theta


def point_error(energy: Energy) -> ErrorFn:
    """``error_fn`` for :func:`l2lib.train.loop.train` evaluating ``energy`` at a PointEnsemble."""

    def error_fn(model: PointEnsemble, xb: Tensor, yb: Tensor) -> Tensor:
        return energy(model.theta)

    return error_fn


def point_data(dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """Placeholder data (one sample) for training a PointEnsemble full-batch."""
    return torch.zeros(1, 1, dtype=dtype), torch.zeros(1, dtype=dtype)


@dataclass(frozen=True)
class DoubleWell:
    """E(x, y) = (x² − 1)² + c (y − a x²)²: minima (±1, a), saddle (0, 0), E(saddle) = 1."""

    a: float = 0.0
    c: float = 1.0

    def __call__(self, points: Tensor) -> Tensor:
        x, y = points[..., 0], points[..., 1]
        return (x**2 - 1) ** 2 + self.c * (y - self.a * x**2) ** 2

    @property
    def minima(self) -> np.ndarray:
        return np.array([[-1.0, self.a], [1.0, self.a]])

    @property
    def saddle(self) -> np.ndarray:
        return np.zeros(2)

    @property
    def saddle_eigenvalues(self) -> np.ndarray:
        """Hessian eigenvalues at the saddle, ascending: (−4, 2c)."""
        return np.sort([-4.0, 2.0 * self.c])


@dataclass(frozen=True)
class Saddle:
    """A critical point found by :func:`locate_saddle`.

    ``theta``: the point; ``value``: E there; ``grad_norm``: ‖∇E‖ there (≈ 0 at a critical
    point); ``eig_min`` / ``eig_max``: extreme eigenvalues of ∇²E; ``segment_max``: E at the
    highest point of the segment the search started from; ``position``: where on the segment
    (0 at a, 1 at b) that highest point lay.
    """

    theta: Tensor
    value: float
    grad_norm: float
    eig_min: float
    eig_max: float
    segment_max: float
    position: float

    @property
    def is_saddle(self) -> bool:
        return self.eig_min < 0 < self.eig_max


def segment_maximum(fn: Callable[[Tensor], Tensor], a: Tensor, b: Tensor, n_scan: int = 65
                    ) -> tuple[float, float]:
    """(s, fn(a + s(b − a))) at the highest point of fn on the segment, s ∈ [0, 1]."""
    a, b = a.detach(), b.detach().to(a)
    if a.shape != b.shape or a.dim() != 1:
        raise ValueError(f"a and b must be flat vectors of equal shape, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")

    def height(s: float) -> float:
        with torch.no_grad():
            return float(fn(a + s * (b - a)))

    grid = np.linspace(0.0, 1.0, n_scan)
    values = np.array([height(s) for s in grid])
    i = int(np.argmax(values))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, n_scan - 1)]
    best = minimize_scalar(lambda s: -height(s), bounds=(lo, hi), method="bounded",
                           options={"xatol": 1e-10})
    if best.success and -best.fun >= values[i]:
        return float(best.x), float(-best.fun)
    return float(grid[i]), float(values[i])


def locate_saddle(
    fn: Callable[[Tensor], Tensor],
    a: Tensor,
    b: Tensor,
    *,
    n_scan: int = 65,
    gtol: float = 1e-10,
    maxiter: int = 2000,
    eig_tol: float = 1e-6,
) -> Saddle:
    """The critical point of ``fn`` nearest the highest point of the segment a → b.

    ``fn`` maps a flat parameter vector (P,) to a scalar (e.g. from
    :func:`l2lib.measure.curvature.member_objective`). ½‖∇fn‖² is minimised by L-BFGS (scipy,
    ``gtol``,
    ``maxiter``) in float64 numpy with its gradient ∇²fn ∇fn. Extreme eigenvalues are dense
    for P ≤ 64, else by Lanczos with tolerance ``eig_tol``.
    """
    position, top = segment_maximum(fn, a, b, n_scan)
    a = a.detach()
    start = a + position * (b.detach().to(a) - a)
    grad = torch.func.grad(fn)

    def objective(v: np.ndarray) -> tuple[float, np.ndarray]:
        th = torch.as_tensor(v).to(a)
        g = grad(th)
        hg = torch.func.jvp(grad, (th,), (g,))[1]
        return 0.5 * float(torch.dot(g, g)), hg.detach().cpu().double().numpy()

    res = minimize(objective, start.cpu().double().numpy(), jac=True, method="L-BFGS-B",
                   options={"gtol": gtol, "ftol": 0.0, "maxiter": maxiter})
    theta = torch.as_tensor(res.x).to(a)
    if theta.numel() <= 64:
        eigs = torch.linalg.eigvalsh(curvature.dense_hessian(fn, theta))
        low, high = float(eigs[0]), float(eigs[-1])
    else:
        top_eig, bottom_eig = curvature.extreme_eigenvalues(fn, theta, 1, tol=eig_tol)
        low, high = float(bottom_eig[0]), float(top_eig[0])
    with torch.no_grad():
        value = float(fn(theta))
    return Saddle(theta=theta, value=value, grad_norm=float(np.sqrt(2.0 * res.fun)),
                  eig_min=low, eig_max=high, segment_max=top, position=position)


@dataclass(frozen=True)
class Mode:
    """The lowest eigenpair of ∇²E at one point of a path step, against the step direction.

    ``eig``: lowest eigenvalue of ∇²E; ``beta``: the strength of the step (l2lib convention);
    ``overlap``: |⟨u, d⟩| / ‖d‖ for the unit eigenvector u and the step direction d, in [0, 1]
    (NaN when the step did not move);
    ``position``: where on the step (0: θ_i, 1: θ_{i+1}).
    """

    eig: float
    beta: float
    overlap: float
    position: float = 0.0

    @property
    def eig_loss(self) -> float:
        """Lowest eigenvalue of ∇²L = ∇²E + βI."""
        return self.eig + self.beta

    def shows_saddle(self, overlap_min: float) -> bool:
        """L is concave here along a direction that overlaps the path by ≥ ``overlap_min``."""
        return self.eig_loss < 0 and self.overlap >= overlap_min


def _kept_hvp(fn: Callable[[Tensor], Tensor], theta: Tensor) -> Callable[[Tensor], Tensor]:
    point = theta.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(fn(point), point, create_graph=True)
    return lambda v: torch.autograd.grad(grad, point, v, retain_graph=True)[0].detach()


def lowest_mode(fn: Callable[[Tensor], Tensor], theta: Tensor, direction: Tensor, *,
                beta: float = 0.0, tol: float = 1e-3, position: float = 0.0) -> Mode:
    """Lowest eigenpair of ∇²fn(θ) and its overlap with ``direction`` (flat vectors (P,)).

    Dense for P ≤ 64; else Lanczos (scipy ``eigsh``, ``which='SA'``, relative tolerance
    ``tol``) on exact Hessian-vector products, started from ``direction``.
    """
    theta = theta.detach()
    d = direction.detach().to(theta)
    if d.shape != theta.shape or theta.dim() != 1:
        raise ValueError(f"theta and direction must be flat vectors of equal shape, got "
                         f"{tuple(theta.shape)} and {tuple(d.shape)}")
    norm = float(torch.linalg.vector_norm(d))  # 0: the step did not move (overlap NaN)
    if theta.numel() <= 64:
        vals, vecs = torch.linalg.eigh(curvature.dense_hessian(fn, theta))
        eig, vec = float(vals[0]), vecs[:, 0].double().cpu().numpy()
    else:
        from scipy.sparse.linalg import LinearOperator, eigsh

        product = _kept_hvp(fn, theta)
        p = theta.numel()

        def matvec(v: np.ndarray) -> np.ndarray:
            vt = torch.as_tensor(np.ascontiguousarray(v, dtype=np.float64).ravel()).to(theta)
            return product(vt).cpu().double().numpy()

        op = LinearOperator((p, p), matvec=matvec, dtype=np.float64)
        vals, vecs = eigsh(op, k=1, which="SA", tol=tol,
                           v0=d.cpu().double().numpy() if norm > 0 else None)
        eig, vec = float(vals[0]), vecs[:, 0]
    overlap = (min(float(abs(d.cpu().double().numpy() @ vec) / (norm * np.linalg.norm(vec))),
                   1.0) if norm > 0 else float("nan"))
    return Mode(eig=eig, beta=float(beta), overlap=overlap, position=float(position))


def scan_segment(fn: Callable[[Tensor], Tensor], a: Tensor, b: Tensor, beta: float,
                 positions: Sequence[float] = (0.5,), tol: float = 1e-3) -> list[Mode]:
    """:func:`lowest_mode` at a + s (b − a) for each s in ``positions``, direction b − a."""
    a = a.detach()
    d = b.detach().to(a) - a
    return [lowest_mode(fn, a + s * d, d, beta=beta, tol=tol, position=s) for s in positions]


def jump_steps(points: Sequence[Tensor] | np.ndarray, factor: float = 5.0) -> list[int]:
    """Indices i of the steps θ_i → θ_{i+1} longer than ``factor`` × the median step length
    (the jumps of a path, for landscapes without accuracies to find them by)."""
    pts = np.asarray([np.asarray(p, dtype=np.float64).ravel() for p in points])
    if len(pts) < 3:
        raise ValueError("a path needs at least three points to tell a jump from a step")
    steps = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    typical = float(np.median(steps))
    if typical == 0:
        return [int(i) for i in np.flatnonzero(steps > 0)]
    return [int(i) for i in np.flatnonzero(steps > factor * typical)]


@dataclass(frozen=True)
class Bowl:
    """E(x, y) = ½ (κ₁ x² + κ₂ y²): convex, one minimum at 0, no saddle (a control)."""

    k1: float = 1.0
    k2: float = 2.0

    def __call__(self, points: Tensor) -> Tensor:
        return 0.5 * (self.k1 * points[..., 0] ** 2 + self.k2 * points[..., 1] ** 2)


def point_path(energy: Energy, start: Sequence[float], reference: Sequence[float],
               betas: Sequence[float] | np.ndarray, config: TrainConfig = TOY_TRAIN) -> Path:
    """Pathfinder on a two-dimensional (or any d) landscape from ``start`` towards
    ``reference``."""
    begin = torch.as_tensor(np.asarray(start, dtype=np.float64))[None]
    end = torch.as_tensor(np.asarray(reference, dtype=np.float64))[None]
    x, y = point_data()
    return find_path(PointEnsemble(begin), x, y, {"theta": end}, betas, config=config,
                     error_fn=point_error(energy), progress=False)


def double_well_path(well: DoubleWell, betas: Sequence[float] | np.ndarray,
                     config: TrainConfig = TOY_TRAIN) -> Path:
    """Pathfinder on the double well from its left minimum towards its right one."""
    return point_path(well, well.minima[0], well.minima[1], betas, config)
