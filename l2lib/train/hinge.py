"""The jamming transition of Geiger et al. (arXiv 1809.09349): hinge loss and a full-batch
minimiser that stops the moment every datum is fitted.

Conventions (those of the authors' code, nn_jamming):

* Binary labels y = ±1 and a scalar output f(x). The margin variable of datum μ is
  Δ_μ = ε − y_μ f(x_μ), ε = 1: Δ < 0 is a datum satisfied with margin, Δ > 0 an unsatisfied one
  (a "contact"). N_Δ = #{μ : Δ_μ > 0}.
* Quadratic hinge loss L = (1/P) Σ_μ ½ Δ_μ² θ(Δ_μ), normalised by the full P (units of f²).
  L = 0 ⇔ N_Δ = 0. There is no L2 penalty in this chapter (λ = 0 in the library's
  E + (λ/2)‖θ − θ_ref‖² convention).
* Networks: :func:`l2lib.models.mlp.jamming_net` (ReLU, biases, scalar output, orthogonal
  weights); data: :mod:`l2lib.data.jamming`.

The minimiser (:func:`minimise`) is full-batch Adam on K ensemble members at once, with the
authors' schedule (lr divided by ``decay_factor`` every ``decay_every`` steps, floor ``lr_min``).
Member k may fit only the first ``n_data[k]`` points of its data, so runs at different P train
together. A member stops (freezes) at the first iterate with N_Δ = 0; finished members leave the
batched computation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from l2lib.models.flat import FlatLayout, set_flat_parameters
from l2lib.models.mlp import EnsembleMLP
from l2lib.runtime import progress_bar

EPSILON = 1.0  # the margin ε of Δ = ε − y f


# --------------------------------------------------------------------------------------------
# Margins, loss, contacts


def margins(outputs: torch.Tensor, y: torch.Tensor, eps: float = EPSILON) -> torch.Tensor:
    """Δ = ε − y f for outputs (K, P) or (K, P, 1) and labels (P,) or (K, P): shape (K, P)."""
    f = outputs[..., 0] if outputs.dim() == 3 else outputs
    return eps - y * f


@torch.no_grad()
def dead_points(model: EnsembleMLP, x: torch.Tensor) -> torch.Tensor:
    """(K, P): True where every unit of the last hidden layer is off. There f is the output
    bias for every member weight nearby, so no weight can move the datum: a "dead" datum, an
    artefact of narrow ReLU nets (rare for the authors' widths h ≳ 30)."""
    h = x
    for w, b in zip(model.weights[:-1], model.biases[:-1], strict=True):
        h = torch.relu(torch.matmul(h, w) + b)
    return (h == 0).all(dim=-1)


def data_mask(n_data: Sequence[int] | np.ndarray | torch.Tensor, p_max: int,
              device: str | torch.device = "cpu") -> torch.Tensor:
    """(K, p_max) boolean mask selecting the first ``n_data[k]`` points of member k."""
    n = torch.as_tensor(np.asarray(n_data), device=device)
    if n.dim() != 1 or (n < 1).any() or (n > p_max).any():
        raise ValueError(f"n_data must hold one size per member in 1..{p_max}, got {n.tolist()}")
    return torch.arange(p_max, device=device) < n[:, None]


def hinge_loss(delta: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """L = (1/P) Σ_μ ½ Δ_μ² θ(Δ_μ) per member, shape (K,); P counts the masked-in points."""
    sq = 0.5 * torch.relu(delta).square()
    if mask is None:
        return sq.mean(dim=-1)
    return (sq * mask).sum(dim=-1) / mask.sum(dim=-1)


def n_unsatisfied(delta: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """N_Δ = #{μ : Δ_μ > 0} per member, shape (K,)."""
    unsat = delta > 0
    return (unsat if mask is None else unsat & mask).sum(dim=-1)


# --------------------------------------------------------------------------------------------
# The minimiser


@dataclass(frozen=True)
class HingeConfig:
    """Full-batch Adam with a step-decaying learning rate, stopped at N_Δ = 0 or ``max_steps``.

    The authors' protocol is lr = 1e-4, ÷10 every 250k steps, floor 1e-7, 0.5M–10M steps; Adam's
    β and ε are PyTorch's defaults. ``sync_every``: how often finished members are removed from
    the batched computation (they are frozen exactly at once either way).
    """

    lr: float = 1e-4
    decay_every: int = 250_000
    decay_factor: float = 10.0
    lr_min: float = 1e-7
    max_steps: int = 2_000_000
    betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8
    sync_every: int = 10

    def __post_init__(self) -> None:
        if not (self.lr > 0 and self.lr_min > 0 and self.decay_factor >= 1):
            raise ValueError("lr and lr_min must be > 0 and decay_factor >= 1, got "
                             f"{self.lr}, {self.lr_min}, {self.decay_factor}")
        if min(self.decay_every, self.max_steps, self.sync_every) < 1:
            raise ValueError("decay_every, max_steps and sync_every must be >= 1")
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must lie in [0, 1), got {self.betas}")

    def lr_at(self, step: int) -> float:
        """The learning rate of update ``step`` (0-based)."""
        return max(self.lr_min, self.lr / self.decay_factor ** (step // self.decay_every))


@dataclass
class MinimiseResult:
    """Per member: updates made, N_Δ and loss at the final weights, whether N_Δ = 0."""

    steps: np.ndarray
    n_delta: np.ndarray
    loss: np.ndarray

    @property
    def sat(self) -> np.ndarray:
        return self.n_delta == 0


def _forward(flat: torch.Tensor, sizes: Sequence[int], x: torch.Tensor) -> torch.Tensor:
    """Outputs (K, P) of ReLU nets with parameters ``flat`` (K, N_params) on x (the layout of
    :class:`~l2lib.models.flat.FlatLayout`; views, no copies)."""
    views = FlatLayout.mlp(sizes).unflatten(flat)
    n = len(sizes) - 1
    h = x
    for i in range(n):
        w, b = views[f"weights.{i}"], views[f"biases.{i}"]
        h = torch.baddbmm(b, h, w) if h.dim() == 3 else torch.matmul(h, w) + b
        if i < n - 1:
            h = torch.relu(h)
    return h[..., 0]


def minimise(
    model: EnsembleMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    n_data: Sequence[int] | np.ndarray | None = None,
    *,
    config: HingeConfig,
    eps: float = EPSILON,
    progress: bool | str | None = None,
) -> MinimiseResult:
    """Minimise every member's hinge loss in place until its N_Δ = 0 or ``config.max_steps``.

    ``x`` is (P, d) shared by all members or (K, P, d); ``y`` (P,) or (K, P); member k fits the
    first ``n_data[k]`` points (all P if None). Update t (0-based) uses Adam with
    ``config.lr_at(t)``. Before every update the member's N_Δ is measured at its current
    weights; at the first iterate with N_Δ = 0 the member stops with exactly those weights
    (``steps`` = updates made). Members are independent: the result does not depend on K, up
    to the last bit of batched products, which some CPUs round differently for another batch
    size (an Intel Xeon does here; long runs amplify it into a fit a few steps apart).
    """
    if not model.has_bias or model.sizes[-1] != 1 or model.activation != "relu":
        raise ValueError("minimise expects a jamming_net: ReLU, biases, one output")
    k = model.n_members
    p_max = x.shape[-2]
    if x.dim() not in (2, 3) or (x.dim() == 3 and x.shape[0] != k) or y.shape[-1] != p_max:
        raise ValueError(f"x must be (P, d) or ({k}, P, d) and y (P,) or ({k}, P); got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    device = x.device
    mask = data_mask(np.full(k, p_max) if n_data is None else n_data, p_max, device)
    y = y.expand(k, p_max) if y.dim() == 1 else y
    final = model.flat_parameters().detach().clone()
    work = final.clone()
    moment, second = torch.zeros_like(work), torch.zeros_like(work)
    members = torch.arange(k, device=device)
    xs, ys, ms = x, y, mask
    steps = torch.zeros(k, dtype=torch.long, device=device)
    n_delta = torch.zeros(k, dtype=torch.long, device=device)
    loss = torch.zeros(k, dtype=x.dtype, device=device)
    count = torch.zeros(k, dtype=torch.long, device=device)  # updates made, per working member
    b1, b2 = config.betas

    with progress_bar(config.max_steps, progress, "hinge minimisation") as bar:
        for t in range(config.max_steps + 1):
            last = t == config.max_steps
            work.requires_grad_(not last)
            delta = margins(_forward(work, model.sizes, xs), ys, eps)
            obj = hinge_loss(delta, ms)
            nd = n_unsatisfied(delta, ms)
            go = nd > 0
            grad = None if last else torch.autograd.grad(obj.sum(), work)[0]
            work = work.detach()
            if t % config.sync_every == 0 or last:
                alive = torch.zeros_like(go) if last else go
                if not bool(alive.all()):  # write back finished members, drop them
                    gone = members[~alive]
                    final[gone], steps[gone] = work[~alive], count[~alive]
                    n_delta[gone], loss[gone] = nd[~alive], obj.detach()[~alive]
                    if not bool(alive.any()):
                        break
                    members, go, count, work, grad, moment, second, ys, ms = (
                        v[alive] for v in (members, go, count, work, grad, moment, second, ys, ms))
                    xs = xs if xs.dim() == 2 else xs[alive]
                    bar.set_postfix(running=len(members))
            count += go
            lr = config.lr_at(t)
            c1, c2 = 1 - b1 ** (t + 1), math.sqrt(1 - b2 ** (t + 1))
            moment.mul_(b1).add_(grad, alpha=1 - b1)
            second.mul_(b2).addcmul_(grad, grad, value=1 - b2)
            step = moment / (second.sqrt() / c2 + config.adam_eps)
            work.sub_(step * (go[:, None] * (lr / c1)))
            if t % 100 == 0:
                bar.update(min(100, config.max_steps - bar.n))
    set_flat_parameters(model, final)
    return MinimiseResult(steps.cpu().numpy(), n_delta.cpu().numpy(),
                          loss.cpu().numpy().astype(np.float64))



# --------------------------------------------------------------------------------------------
# Converging onto a minimum


@dataclass
class ConvergeResult:
    """Outcome of :func:`converge`: final flat parameters, L-BFGS iterations, N_Δ and loss."""

    theta: torch.Tensor
    iterations: int
    n_delta: int
    loss: float


def converge(theta: torch.Tensor, sizes: Sequence[int], x: torch.Tensor, y: torch.Tensor, *,
             max_iter: int = 2000, restarts: int = 4, eps: float = EPSILON) -> ConvergeResult:
    """Minimise one run's hinge loss from ``theta`` (one flat vector) by L-BFGS (scipy,
    float64, exact gradients): up to ``max_iter`` iterations in all, restarted (fresh memory)
    up to ``restarts`` times while the loss still falls; stops at L = 0.

    Adam with a finite learning rate hovers near a minimum; L-BFGS from there lands on it (or,
    when the state only looked jammed, fits the data). Minima of ReLU nets sit on kinks of the
    loss, where L-BFGS stops on a failed line search: the restarts go on from there.
    """
    from scipy.optimize import minimize

    p = x.shape[0]

    def loss_of(t: torch.Tensor) -> torch.Tensor:
        delta = margins(_forward(t[None], sizes, x), y, eps)
        return 0.5 * torch.relu(delta).square().sum() / p

    def fg(v: np.ndarray) -> tuple[float, np.ndarray]:
        t = torch.as_tensor(v, dtype=x.dtype, device=x.device).requires_grad_(True)
        value = loss_of(t)
        (g,) = torch.autograd.grad(value, t)
        return float(value.detach()), g.detach().cpu().numpy().astype(np.float64)

    v = theta.detach().cpu().numpy().astype(np.float64)
    value, used = fg(v)[0], 0
    for _ in range(restarts + 1):
        if value == 0 or used >= max_iter:
            break
        out = minimize(fg, v, jac=True, method="L-BFGS-B",
                       options={"maxiter": max_iter - used, "ftol": 0.0, "gtol": 0.0,
                                "maxcor": 30})
        used += max(int(out.nit), 1)
        falls = float(out.fun) < value * (1 - 1e-12)
        if float(out.fun) <= value:
            v, value = out.x, float(out.fun)
        if not falls:
            break
    final = torch.as_tensor(v, dtype=x.dtype, device=x.device)
    with torch.no_grad():
        delta = margins(_forward(final[None], sizes, x), y, eps)[0]
        loss = float(0.5 * torch.relu(delta).square().sum() / p)
    return ConvergeResult(final, used, int((delta > 0).sum()), loss)
