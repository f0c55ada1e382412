"""Curvature of the error landscape of one ensemble member.

Operator measured. For a member with flat parameter vector θ ∈ ℝᴾ (weights then biases, in the
order of :meth:`EnsembleMLP.flat_parameters`), every function here works on a scalar function
``fn(θ)``. :func:`member_objective` builds it: by default ``fn`` is the *unregularised* error E(θ)
of :mod:`l2lib.train.losses` (mean cross-entropy, or the mean over samples of Σ_o (y_o − f_o)²)
over the
full data set, so the Hessian H is ∇²E. With ``lam > 0`` it is E(θ) + (λ/2)‖θ‖², whose Hessian is
∇²E + λI (the library's (λ/2)‖θ‖² convention, θ_ref = 0).

Eigenvalues. :func:`extreme_eigenvalues` returns the *algebraically* largest and smallest
eigenvalues of H (Lanczos via ARPACK, ``which='LA'`` and ``'SA'``). This differs from the power
iteration of PyHessian, which converges to the eigenvalue largest in *magnitude*: at a saddle with
a strongly negative direction that is the most negative eigenvalue, not the largest.

Scalar curvature. :func:`scalar_curvature` returns the scalar (Ricci) curvature R of the graph
{(θ, fn(θ))} ⊂ ℝ^{P+1}, a hypersurface with the metric induced by the Euclidean one, from the
gradient g, the Hessian H and W² = 1 + ‖g‖²:

    R = [(tr H)² − tr H²] / W² − 2 [tr H · gᵀHg − gᵀH²g] / W⁴,

which at a critical point is 2 Σ_{i<j} λ_i λ_j. The graph treats E and θ as coordinates of one
Euclidean space, so R is in units of 1/θ² only if E is measured in the units of θ; rescaling
E → cE changes R non-linearly through W. All second derivatives are exact (``torch.func``
forward-over-reverse Hessian-vector products, or the dense Hessian; Lanczos reuses one kept
gradient graph); only the ``"stochastic"`` method, :func:`hutchinson_traces` and
:func:`hutchpp_trace` are random, with seeded Rademacher probes.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator, eigsh
from threadpoolctl import threadpool_limits
from torch import Tensor

from l2lib.models.flat import check_params, load_params
from l2lib.models.mlp import ACTIVATIONS
from l2lib.train.losses import check_loss, member_error

__all__ = [
    "CurvatureEstimate",
    "TraceEstimate",
    "dense_hessian",
    "extreme_eigenvalues",
    "gradient",
    "hutchinson_traces",
    "hvp",
    "member_objective",
    "smallest_regularised_eigenvalues",
    "scalar_curvature",
    "scalar_curvature_from_parts",
]

# torch's forward-mode rule for cross-entropy goes through a deprecated torch.jit.script call
warnings.filterwarnings("ignore", message=r"`torch.jit.script` is deprecated",
                        category=FutureWarning)
WHICH = ("both", "largest", "smallest")
METHODS = ("dense", "stochastic")
_PROBE_CHUNK = 16  # Rademacher probes per vectorised (vmap) batch of Hessian-vector products


# --------------------------------------------------------------------------------------------
# The objective of one member as a function of its flat parameter vector


def member_objective(
    model,
    member: int,
    x: Tensor,
    y: Tensor,
    loss: str,
    lam: float = 0.0,
    dtype: torch.dtype | None = None,
) -> tuple[Callable[[Tensor], Tensor], Tensor]:
    """(fn, theta) for member ``member`` of an :class:`~l2lib.models.EnsembleMLP`.

    ``fn`` maps a flat parameter vector of shape (P,) — the member's weights then biases, in the
    order of ``model.flat_parameters()[member]`` — to the scalar E(θ) + (lam/2)‖θ‖² over the
    full data (x, y), with E as in :func:`l2lib.train.losses.member_error`. ``lam = 0`` (default)
    gives the unregularised error. ``fn`` is a pure function (a functional forward with the
    math of ``EnsembleMLP.forward`` for K = 1), differentiable any number of times through
    ``torch.func``; ``model`` is not used after this call.

    ``theta`` is the member's current parameter vector, detached, in ``dtype`` if given (then
    x, and y for ``"mse"``, are cast too). The data are moved once to the model's device and
    stay there. ``x`` is (N, d_in); ``y`` is (N,) class indices for ``"cross_entropy"`` or
    (N, d_out) / (N,) targets for ``"mse"``; per-member targets (K, N[, d_out]) are accepted
    and sliced at ``member``.
    """
    check_loss(loss)
    k_members = model.n_members
    if isinstance(member, bool) or not isinstance(member, (int, np.integer)):
        raise ValueError(f"member must be an integer index, got {member!r}")
    if not 0 <= member < k_members:
        raise ValueError(f"member {member} out of range for an ensemble of {k_members} members")
    lam = float(lam)
    if not math.isfinite(lam) or lam < 0:
        raise ValueError(f"lam must be a finite number >= 0, got {lam}")
    d_in, d_out = model.sizes[0], model.sizes[-1]
    if x.dim() != 2 or x.shape[1] != d_in:
        raise ValueError(f"x must have shape (N, {d_in}), got {tuple(x.shape)}")
    n = x.shape[0]
    if n == 0:
        raise ValueError("x holds no samples")
    y = _member_targets(y, loss, member, k_members, n, d_out)

    member = int(member)
    weights = [w[member].detach() for w in model.weights]
    biases = [b[member].detach() for b in model.biases] if model.has_bias else []
    if dtype is not None:
        weights = [w.to(dtype) for w in weights]
        biases = [b.to(dtype) for b in biases]
    theta = torch.cat([p.reshape(-1) for p in weights + biases]).clone()
    device, dtype_ = theta.device, theta.dtype
    x = x.detach().to(device=device, dtype=dtype_ if dtype is not None else x.dtype)
    y = y.detach().to(device)
    if loss == "mse" and dtype is not None:
        y = y.to(dtype)
    shapes = [tuple(w.shape) for w in weights] + [tuple(b.shape) for b in biases]
    sizes = [math.prod(s) for s in shapes]
    n_params = theta.numel()
    n_layers = len(weights)
    act = ACTIVATIONS[model.activation]
    has_bias = bool(model.has_bias)

    def fn(th: Tensor) -> Tensor:
        if th.shape != (n_params,):
            raise ValueError(
                f"theta must be a flat vector of shape ({n_params},) for this member, "
                f"got {tuple(th.shape)}"
            )
        parts = [p.reshape(s) for p, s in zip(torch.split(th, sizes), shapes, strict=True)]
        ws, bs = parts[:n_layers], parts[n_layers:]
        h = x
        for i, w in enumerate(ws):
            h = h @ w
            if has_bias:
                h = h + bs[i]
            if i < n_layers - 1:
                h = act(h)
        err = member_error(h.unsqueeze(0), y, loss)[0]
        if lam > 0:
            err = err + 0.5 * lam * torch.dot(th, th)
        return err

    return fn, theta


def _member_targets(y: Tensor, loss: str, member: int, k: int, n: int, d_out: int) -> Tensor:
    """The targets of one member, checked against N and d_out."""
    per_member = (loss == "cross_entropy" and y.dim() == 2) or (loss == "mse" and y.dim() == 3)
    if per_member:
        if y.shape[0] != k:
            raise ValueError(f"per-member targets have {y.shape[0]} slices, model has {k}")
        y = y[member]
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} samples, x has {n}")
    if loss == "cross_entropy":
        if y.dim() != 1 or y.dtype.is_floating_point:
            raise ValueError(f"cross_entropy needs integer class indices of shape ({n},)")
    elif not (y.dim() == 2 and y.shape[1] == d_out) and not (y.dim() == 1 and d_out == 1):
        raise ValueError(f"mse targets must have shape ({n}, {d_out}), got {tuple(y.shape)}")
    return y


# --------------------------------------------------------------------------------------------
# Derivatives


def _check_theta(theta: Tensor) -> Tensor:
    if not isinstance(theta, Tensor) or theta.dim() != 1 or not theta.is_floating_point():
        raise ValueError("theta must be a 1-d floating-point tensor (the flat parameter vector)")
    if theta.numel() == 0:
        raise ValueError("theta is empty")
    return theta.detach()


def gradient(fn: Callable[[Tensor], Tensor], theta: Tensor) -> Tensor:
    """∇fn(θ), shape (P,), by ``torch.func.grad``."""
    return torch.func.grad(fn)(_check_theta(theta))


def _hvp(fn: Callable[[Tensor], Tensor], theta: Tensor, v: Tensor) -> Tensor:
    return torch.func.jvp(torch.func.grad(fn), (theta,), (v,))[1]


def hvp(fn: Callable[[Tensor], Tensor], theta: Tensor, v: Tensor) -> Tensor:
    """Hessian-vector product H(θ) v, shape (P,), exact: forward-over-reverse
    ``torch.func.jvp(torch.func.grad(fn))``. ``v`` is cast to theta's dtype and device."""
    theta = _check_theta(theta)
    if not isinstance(v, Tensor) or v.shape != theta.shape:
        shape = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
        raise ValueError(f"v must have the shape of theta {tuple(theta.shape)}, got {shape}")
    return _hvp(fn, theta, v.detach().to(theta))


def _kept_graph_hvp(
    fn: Callable[[Tensor], Tensor], theta: Tensor
) -> Callable[[Tensor], Tensor]:
    """v ↦ H(θ) v by reverse-over-reverse through a gradient graph built once and kept: for the
    many products of one Lanczos run this is ~2.5× cheaper per product than :func:`hvp`, which
    redoes the forward and backward pass each time (tested equal)."""
    point = theta.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(fn(point), point, create_graph=True)

    def product(v: Tensor) -> Tensor:
        return torch.autograd.grad(grad, point, v, retain_graph=True)[0].detach()

    return product


def dense_hessian(fn: Callable[[Tensor], Tensor], theta: Tensor) -> Tensor:
    """The full Hessian ∇²fn(θ), shape (P, P), by ``torch.func.hessian``.

    Costs P Hessian-vector products and P² memory: for tiny models and tests.
    """
    return torch.func.hessian(fn)(_check_theta(theta))


# --------------------------------------------------------------------------------------------
# Spectrum


def extreme_eigenvalues(
    fn: Callable[[Tensor], Tensor],
    theta: Tensor,
    k: int = 1,
    tol: float = 1e-10,
    maxiter: int | None = None,
    seed: int = 0,
    which: str = "both",
    ncv: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(largest k, descending; smallest k, ascending) *algebraic* eigenvalues of H(θ).

    ``which="largest"`` or ``"smallest"`` computes only that end (the other array is empty):
    the bottom of a network's spectrum is often a dense cluster where Lanczos converges slowly.
    ``ncv`` is the number of Lanczos vectors (ARPACK's default max(2k + 1, 20) when None).

    Lanczos (``scipy.sparse.linalg.eigsh``, ``which='LA'`` and ``which='SA'``) on a
    :class:`~scipy.sparse.linalg.LinearOperator` of Hessian-vector products through a kept
    gradient graph; the operator takes and
    returns float64 numpy vectors, products are computed in theta's dtype. ``tol`` is ARPACK's
    relative accuracy, ``maxiter`` its number of Arnoldi update iterations (default 10 P), and
    the start vector is a standard normal draw from ``seed``. Raises
    ``scipy.sparse.linalg.ArpackNoConvergence`` if Lanczos does not converge. Requires
    1 <= k < P (for k close to P use ``torch.linalg.eigvalsh(dense_hessian(fn, theta))``).
    """
    theta = _check_theta(theta)
    p = theta.numel()
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < p:
        raise ValueError(
            f"k must be an integer with 1 <= k < P = {p}, got {k!r}; for all eigenvalues use "
            "torch.linalg.eigvalsh(dense_hessian(fn, theta))"
        )
    if which not in WHICH:
        raise ValueError(f"which must be one of {WHICH}, got {which!r}")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    if maxiter is not None and maxiter < 1:
        raise ValueError(f"maxiter must be a positive integer or None, got {maxiter}")

    product = _kept_graph_hvp(fn, theta)

    def matvec(v: np.ndarray) -> np.ndarray:
        vt = torch.as_tensor(np.ascontiguousarray(v, dtype=np.float64).ravel()).to(theta)
        return product(vt).detach().cpu().to(torch.float64).numpy()

    op = LinearOperator((p, p), matvec=matvec, dtype=np.float64)
    v0 = np.random.default_rng(seed).standard_normal(p)
    kwargs = {"k": int(k), "tol": tol, "maxiter": maxiter, "v0": v0, "return_eigenvectors": False,
              "ncv": ncv}
    none = np.empty(0)
    # ARPACK's BLAS threads would spin against torch's own between matvecs: one BLAS thread
    with threadpool_limits(1, user_api="blas"):
        largest = np.sort(eigsh(op, which="LA", **kwargs))[::-1] if which != "smallest" else none
        smallest = np.sort(eigsh(op, which="SA", **kwargs)) if which != "largest" else none
    return largest.astype(np.float64), smallest.astype(np.float64)


def dense_curvature(
    fn: Callable[[Tensor], Tensor], theta: Tensor
) -> tuple[CurvatureEstimate, Tensor]:
    """The exact scalar curvature and the whole Hessian spectrum (ascending) from one dense
    Hessian: for small models that need both."""
    theta = _check_theta(theta)
    h = dense_hessian(fn, theta)
    g = gradient(fn, theta)
    hg = h @ g
    gn2 = float(torch.dot(g, g))
    tr_h, tr_h2 = float(torch.trace(h)), float((h * h.T).sum())
    value = scalar_curvature_from_parts(tr_h, tr_h2, float(torch.dot(g, hg)),
                                        float(torch.dot(hg, hg)), gn2)
    estimate = CurvatureEstimate(value, 0.0, tr_h, tr_h2, math.sqrt(gn2), "dense")
    return estimate, torch.linalg.eigvalsh(h)


# --------------------------------------------------------------------------------------------
# Traces by Hutchinson's estimator


@dataclass(frozen=True)
class TraceEstimate:
    """A Monte-Carlo trace: mean over probes, its standard error, the number of probes."""

    value: float
    stderr: float
    n_samples: int


def _check_n_samples(n_samples: int) -> int:
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)):
        raise ValueError(f"n_samples must be an integer >= 2, got {n_samples!r}")
    if n_samples < 2:
        raise ValueError(
            f"n_samples must be >= 2 (a standard error needs two probes), got {n_samples}"
        )
    return int(n_samples)


def _probe_products(
    fn: Callable[[Tensor], Tensor], theta: Tensor, n_samples: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """vᵀHv and ‖Hv‖² for ``n_samples`` seeded Rademacher probes v, as float64 arrays."""
    gen = torch.Generator().manual_seed(int(seed))
    batched = torch.func.vmap(lambda v: _hvp(fn, theta, v))
    quad, sq = [], []
    for start in range(0, n_samples, _PROBE_CHUNK):
        m = min(_PROBE_CHUNK, n_samples - start)
        v = torch.randint(0, 2, (m, theta.numel()), generator=gen).to(theta) * 2 - 1
        hv = batched(v)
        quad.append((v * hv).sum(dim=1).detach().cpu().to(torch.float64))
        sq.append(hv.pow(2).sum(dim=1).detach().cpu().to(torch.float64))
    return torch.cat(quad).numpy(), torch.cat(sq).numpy()


def _hvp_rows(fn: Callable[[Tensor], Tensor], theta: Tensor, vs: Tensor) -> Tensor:
    """H v for every row v of ``vs`` (m, P), vmapped in chunks."""
    batched = torch.func.vmap(lambda v: _hvp(fn, theta, v))
    return torch.cat([batched(vs[i : i + _PROBE_CHUNK]) for i in range(0, vs.shape[0],
                                                                           _PROBE_CHUNK)])


def hutchpp_trace(
    fn: Callable[[Tensor], Tensor], theta: Tensor, n_samples: int, seed: int = 0
) -> TraceEstimate:
    """tr H by Hutch++ (Meyer, Musco, Musco & Woodruff 2021) with ``n_samples`` Hessian-vector
    products: a third of them sketch the dominant subspace Q (= orth(H S)), whose trace
    tr(QᵀHQ) is taken exactly, a third compute H Q, and the last third are Hutchinson probes
    of the deflated remainder (I − QQᵀ) H (I − QQᵀ). The stderr is that of the remainder's
    probes with Q held fixed: it ignores the sketch's randomness and, with few probes, can
    understate the run-to-run spread badly (seen on network Hessians with n_samples < 30). Far
    fewer products than Hutchinson for the same error when a few eigenvalues dominate.
    """
    theta = _check_theta(theta)
    m = int(n_samples) // 3
    if m < 2:
        raise ValueError(f"Hutch++ needs n_samples >= 6 (three groups of >= 2), got {n_samples}")
    gen = torch.Generator().manual_seed(int(seed))

    def rademacher() -> Tensor:
        return torch.randint(0, 2, (m, theta.numel()), generator=gen).to(theta) * 2 - 1

    sketch, probes = rademacher(), rademacher()
    q = torch.linalg.qr(_hvp_rows(fn, theta, sketch).T).Q  # (P, m), orthonormal columns
    exact = float((q * _hvp_rows(fn, theta, q.T.contiguous()).T).sum())
    deflated = probes - (probes @ q) @ q.T
    rest = (deflated * _hvp_rows(fn, theta, deflated)).sum(dim=1)
    rest = rest.detach().cpu().to(torch.float64).numpy()
    return TraceEstimate(exact + float(rest.mean()), float(rest.std(ddof=1) / math.sqrt(m)),
                         3 * m)


def _mean_and_stderr(a: np.ndarray) -> TraceEstimate:
    return TraceEstimate(float(a.mean()), float(a.std(ddof=1) / math.sqrt(a.size)), int(a.size))


def hutchinson_traces(
    fn: Callable[[Tensor], Tensor], theta: Tensor, n_samples: int, seed: int = 0
) -> tuple[TraceEstimate, TraceEstimate]:
    """(tr H, tr H²) by Hutchinson's estimator with the same Rademacher probes v.

    tr H is the mean of vᵀHv and tr H² the mean of ‖Hv‖² (both unbiased, since E[vvᵀ] = I);
    each stderr is the sample standard deviation (ddof = 1) over sqrt(n_samples). Probes are
    drawn from a CPU ``torch.Generator`` seeded with ``seed``; each costs one Hessian-vector
    product (vectorised with ``torch.func.vmap`` in chunks).
    """
    theta = _check_theta(theta)
    n_samples = _check_n_samples(n_samples)
    quad, sq = _probe_products(fn, theta, n_samples, seed)
    return _mean_and_stderr(quad), _mean_and_stderr(sq)


# --------------------------------------------------------------------------------------------
# Scalar curvature of the graph of fn


def scalar_curvature_from_parts(
    tr_h: float, tr_h2: float, g_h_g: float, g_h2_g: float, grad_norm_sq: float
) -> float:
    """Scalar curvature of the graph of E (a hypersurface in ℝ^{P+1}) from its parts:

        R = [(tr H)² − tr H²]/W² − 2 [tr H · gᵀHg − gᵀH²g]/W⁴,  W² = 1 + ‖g‖²,

    with g = ∇E, H = ∇²E; at a critical point R = 2 Σ_{i<j} λ_i λ_j. ``tr_h`` enters squared,
    so a noisy tr H biases R upwards by Var(tr_h)/W²; ``scalar_curvature(method="stochastic")``
    removes that bias.
    """
    if not grad_norm_sq >= 0:
        raise ValueError(f"grad_norm_sq must be >= 0, got {grad_norm_sq}")
    w2 = 1.0 + float(grad_norm_sq)
    return float((tr_h**2 - tr_h2) / w2 - 2.0 * (tr_h * g_h_g - g_h2_g) / w2**2)


@dataclass(frozen=True)
class CurvatureEstimate:
    """Scalar curvature R of the graph of E, with its parts.

    ``value`` is R, ``stderr`` its standard error (0 for ``method="dense"``), ``tr_h`` and
    ``tr_h2`` the traces of H and H² used, ``grad_norm`` ‖∇E‖, ``method`` how R was computed.
    """

    value: float
    stderr: float
    tr_h: float
    tr_h2: float
    grad_norm: float
    method: str


def scalar_curvature(
    fn: Callable[[Tensor], Tensor],
    theta: Tensor,
    method: str = "dense",
    n_samples: int = 64,
    seed: int = 0,
) -> CurvatureEstimate:
    """Scalar curvature of the graph of ``fn`` at θ (see :func:`scalar_curvature_from_parts`).

    ``"dense"``: exact, from the dense Hessian (P² memory), stderr 0.

    ``"stochastic"``: tr H and tr H² by Hutchinson with ``n_samples`` Rademacher probes
    (:func:`hutchinson_traces`); gᵀHg and gᵀH²g = ‖Hg‖² exactly from one Hessian-vector product.
    (tr H)² is estimated without the bias of squaring a noisy mean by the U-statistic
    mean² − s²/n (s² the ddof = 1 sample variance of vᵀHv), so the estimate of R is unbiased.
    Its stderr is by the delta method, which here is exact up to plug-in estimates: with
    c = 2 tr H/W² − 2 gᵀHg/W⁴ and Û the unbiased square,

        Var R̂ = Var(c·vᵀHv − ‖Hv‖²/W²)/n + 2 σ⁴/(n (n − 1) W⁴),   σ² = Var(vᵀHv),

    the second term being the variance of Û beyond first order. It is estimated with sample
    (co)variances over the probes and tr H → t (the mean of vᵀHv), except that the t² in c²
    is replaced by max(Û, 0), since t² overestimates (tr H)² by s²/n. vᵀHv is typically skewed
    and heavy-tailed, so with few probes (n_samples ≲ 30) this error bar is on average too
    large yet often too small for a single draw; use n_samples ≳ 50 when the error bar matters.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    theta = _check_theta(theta)
    if method == "stochastic":
        n_samples = _check_n_samples(n_samples)
    g = gradient(fn, theta)
    hg = _hvp(fn, theta, g)
    g_h_g = float(torch.dot(g, hg))
    g_h2_g = float(torch.dot(hg, hg))
    gn2 = float(torch.dot(g, g))
    w2 = 1.0 + gn2

    if method == "dense":
        h = dense_hessian(fn, theta)
        tr_h = float(torch.trace(h))
        tr_h2 = float((h * h.T).sum())
        value = scalar_curvature_from_parts(tr_h, tr_h2, g_h_g, g_h2_g, gn2)
        return CurvatureEstimate(value, 0.0, tr_h, tr_h2, math.sqrt(gn2), method)

    quad, sq = _probe_products(fn, theta, n_samples, seed)
    n = n_samples
    tr_h, tr_h2 = float(quad.mean()), float(sq.mean())
    var_q = float(quad.var(ddof=1))
    tr_h_sq = tr_h**2 - var_q / n  # unbiased estimate of (tr H)²
    value = (tr_h_sq - tr_h2) / w2 - 2.0 * (tr_h * g_h_g - g_h2_g) / w2**2
    # first order: the per-probe combination whose mean R is linear in, with coefficient
    # ∂R/∂tr H = 2 tr H/W² − 2 gᵀHg/W⁴ evaluated at the probe mean t
    z = (2.0 * tr_h / w2 - 2.0 * g_h_g / w2**2) * quad - sq / w2
    # t² in the squared coefficient overestimates (tr H)² by s²/n: replace it by max(Û, 0)
    excess = tr_h**2 - max(tr_h_sq, 0.0)
    var_r = (
        float(z.var(ddof=1)) / n
        - 4.0 * excess * var_q / (n * w2**2)
        + 2.0 * var_q**2 / (n * (n - 1) * w2**2)
    )
    return CurvatureEstimate(
        float(value), math.sqrt(max(var_r, 0.0)), tr_h, tr_h2, math.sqrt(gn2), method
    )


def hessian_extremes(
    model: torch.nn.Module,
    point: Mapping[str, Tensor],
    x: Tensor,
    y: Tensor,
    *,
    loss: str = "cross_entropy",
    members: Sequence[int] | None = None,
    tol: float = 1e-3,
    seed: int = 0,
) -> np.ndarray:
    """(smallest, largest) eigenvalue of the unregularised Hessian ∇²E at ``point``, for each
    of ``members`` (default all): shape (n_members, 2).

    Lanczos on exact Hessian-vector products (:func:`extreme_eigenvalues`, ARPACK relative
    tolerance ``tol``) over the full data (x, y). E is the error alone: the Hessian of
    Pathfinder's objective is this plus β·I.
    """
    net = load_params(copy.deepcopy(model), check_params(model, point, "point"))
    members = range(net.n_members) if members is None else members
    out = []
    for member in members:
        fn, theta = member_objective(net, int(member), x, y, loss)
        top, bottom = extreme_eigenvalues(fn, theta, 1, tol=tol, seed=seed)
        out.append([bottom[0], top[0]])
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def smallest_regularised_eigenvalues(
    model: torch.nn.Module,
    x: Tensor,
    y: Tensor,
    loss: str,
    lam: Sequence[float] | Tensor,
    *,
    dense_max: int = 600,
    tol: float = 1e-4,
    seed: int = 0,
) -> np.ndarray:
    """Smallest eigenvalue of ∇²L_λ = ∇²E + λI (θ_ref = 0) for every member, shape (K,).

    Exact (dense Hessian) when the member has at most ``dense_max`` parameters, else Lanczos
    (:func:`extreme_eigenvalues`, ``which="smallest"``, relative tolerance ``tol``). A negative
    value means the point is a saddle of the regularised loss, not a minimum.
    """
    lam = np.broadcast_to(np.asarray(torch.as_tensor(lam).detach().cpu(), dtype=np.float64),
                          (model.n_members,))
    out = []
    for k in range(model.n_members):
        fn, theta = member_objective(model, k, x, y, loss)
        if theta.numel() <= dense_max:
            low = float(torch.linalg.eigvalsh(dense_hessian(fn, theta))[0])
        else:
            low = float(extreme_eigenvalues(fn, theta, 1, tol=tol, seed=seed,
                                            which="smallest")[1][0])
        out.append(low + float(lam[k]))
    return np.asarray(out, dtype=np.float64)
