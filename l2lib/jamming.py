"""The jamming transition of Geiger et al. (arXiv 1809.09349): data, networks, hinge loss and a
full-batch minimiser that stops the moment every datum is fitted.

Conventions (those of the authors' code, nn_jamming):

* Binary labels y = ±1 and a scalar output f(x). The margin variable of datum μ is
  Δ_μ = ε − y_μ f(x_μ), ε = 1: Δ < 0 is a datum satisfied with margin, Δ > 0 an unsatisfied one
  (a "contact"). N_Δ = #{μ : Δ_μ > 0}.
* Quadratic hinge loss L = (1/P) Σ_μ ½ Δ_μ² θ(Δ_μ), normalised by the full P (units of f²).
  L = 0 ⇔ N_Δ = 0. There is no L2 penalty in this chapter (λ = 0 in the library's
  E + (λ/2)‖θ − θ_ref‖² convention).
* Networks: L hidden ReLU layers of width h, biases, scalar output, standard parametrisation
  (``x @ W + b``), weights initialised orthogonally (gain 1), biases at zero.
  N counts *weights only*: N = d·h + (L−1)·h² + h (:func:`n_weights`).
* Random data: x ~ N(0, I_d) centred over the pool and rescaled to norm √d, labels alternating
  −1, +1 (balanced); parity data: even digits → −1, odd → +1, PCA-whitened to d = 10, rescaled
  to norm √d, the two classes interleaved. The data set of size P is the first P points of one
  pool per seed, so data sets of one seed are nested.

The minimiser (:func:`minimise`) is full-batch Adam on K ensemble members at once, with the
authors' schedule (lr divided by ``decay_factor`` every ``decay_every`` steps, floor ``lr_min``).
Member k may fit only the first ``n_data[k]`` points of its data, so runs at different P train
together. A member stops (freezes) at the first iterate with N_Δ = 0; finished members leave the
batched computation.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from tqdm.auto import tqdm

from .data import load_dataset
from .models import EnsembleMLP

EPSILON = 1.0  # the margin ε of Δ = ε − y f


def n_weights(d: int, width: int, depth: int) -> int:
    """N = d·h + (L−1)·h² + h, the authors' parameter count (weights only, no biases)."""
    if min(d, width, depth) < 1:
        raise ValueError(f"d, width and depth must be >= 1, got {d}, {width}, {depth}")
    return d * width + (depth - 1) * width**2 + width


def width_for(n_target: float, depth: int, d: int | None = None) -> int:
    """The width h whose N (with input dimension ``d``, or d = h when ``d`` is None) is closest to
    ``n_target``."""
    if n_target <= 0:
        raise ValueError(f"n_target must be positive, got {n_target}")
    widths = np.arange(1, 2000)
    dims = widths if d is None else np.full_like(widths, d)
    counts = dims * widths + (depth - 1) * widths**2 + widths
    return int(widths[np.argmin(np.abs(counts - n_target))])


def derived_seed(*parts: int) -> int:
    """A 31-bit seed derived from integers (stable across platforms)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0] % 2**31)


def _normalise(x: torch.Tensor) -> torch.Tensor:
    """Centre over the pool and rescale every point to norm √d."""
    x = x - x.mean(dim=0)
    return math.sqrt(x.shape[1]) * x / x.norm(dim=1, keepdim=True)


def alternating_labels(p: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """−1, +1, −1, … (balanced for every prefix), shape (p,)."""
    return (torch.arange(p) % 2).to(dtype) * 2 - 1


def random_data(
    p: int, d: int, seed: int = 0, *, dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """A pool of ``p`` random points: x (p, d) with norm √d each, labels y (p,) = ∓1 alternating."""
    if p < 2 or d < 1:
        raise ValueError(f"need p >= 2 points of dimension d >= 1, got p={p}, d={d}")
    gen = torch.Generator().manual_seed(derived_seed(seed, d, 1809))
    x = _normalise(torch.randn(p, d, generator=gen, dtype=torch.float64))
    return x.to(device, dtype), alternating_labels(p, dtype).to(device)


@lru_cache(maxsize=4)
def _whitened_pca(dataset: str, root: str | None, d: int) -> tuple[torch.Tensor, np.ndarray]:
    """All images of ``dataset`` (train + test) on their first ``d`` whitened principal
    components, and their digit labels."""
    from sklearn.decomposition import PCA

    data = load_dataset(dataset, root=root, dtype=torch.float64)
    x = torch.cat([data.x_train, data.x_test]).numpy()
    digit = torch.cat([data.y_train, data.y_test]).numpy()
    if not 1 <= d <= x.shape[1]:
        raise ValueError(f"d must be between 1 and {x.shape[1]} for {dataset}, got {d}")
    pca = PCA(n_components=d, whiten=True, svd_solver="full")
    return torch.as_tensor(pca.fit_transform(x)), digit


def parity_data(
    dataset: str = "digits", p: int | None = None, d: int = 10, seed: int = 0, *,
    root: str | os.PathLike | None = None, dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Parity of handwritten digits (even → −1, odd → +1) as a pool of ``p`` points.

    All images of ``dataset`` (train and test split pooled) are projected on their first ``d``
    principal components and whitened (scikit-learn's PCA), each point rescaled to norm √d.
    Each class is shuffled with ``seed`` and the classes are interleaved (−1, +1, −1, …), as in
    the authors' code, so every prefix is balanced. ``p=None`` gives the largest balanced pool.
    """
    z, digit = _whitened_pca(dataset, None if root is None else str(root), d)
    rng = np.random.default_rng(derived_seed(seed, 2))
    even, odd = (rng.permutation(np.flatnonzero(digit % 2 == r)) for r in (0, 1))
    n_max = 2 * min(len(even), len(odd))
    if p is None:
        p = n_max
    if not 2 <= p <= n_max:
        raise ValueError(f"{dataset} parity holds at most {n_max} balanced points, asked for "
                         f"p={p}; ask for fewer or use a larger data set (dataset='mnist')")
    order = np.stack([even[: n_max // 2], odd[: n_max // 2]], axis=1).reshape(-1)[:p]
    x = _normalise(z[torch.as_tensor(order)])
    return x.to(device, dtype), alternating_labels(p, dtype).to(device)


def jamming_net(
    d: int, width: int, depth: int, seeds: Sequence[int] | int, *,
    dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu",
) -> EnsembleMLP:
    """An ensemble of ReLU nets d → h (× ``depth``) → 1, orthogonal weights, zero biases.

    Member k's weights come from its seed only (torch's ``orthogonal_`` with a generator seeded
    per member and layer), so a member does not depend on the rest of the ensemble.
    """
    model = EnsembleMLP([d] + [width] * depth + [1], seeds=seeds, activation="relu", dtype=dtype,
                        device=device)
    with torch.no_grad():
        for k, seed in enumerate(model.seeds):
            for i, w in enumerate(model.weights):
                gen = torch.Generator().manual_seed(derived_seed(seed, i, 1809))
                t = torch.empty(w.shape[2], w.shape[1], dtype=torch.float64)  # (out, in)
                w[k] = torch.nn.init.orthogonal_(t, generator=gen).T.to(w)
        for b in model.biases:
            b.zero_()
    return model


@torch.no_grad()
def set_flat_parameters(model: EnsembleMLP, flat: torch.Tensor | np.ndarray) -> EnsembleMLP:
    """Copy ``flat`` (K, N_params) — weights then biases per member, the layout of
    ``model.flat_parameters()`` — into ``model``; returns ``model``."""
    flat = torch.as_tensor(flat)
    expected = tuple(model.flat_parameters().shape)
    if tuple(flat.shape) != expected:
        raise ValueError(f"flat parameters must have shape {expected}, got {tuple(flat.shape)}")
    for p, v in zip(model.parameters(), _layer_views(flat, model.sizes), strict=True):
        p.copy_(v)
    return model


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


def _layer_views(flat: torch.Tensor, sizes: Sequence[int]) -> list[torch.Tensor]:
    """Weights (K, in, out) then biases (K, 1, out) as views of a (K, N_params) buffer, in the
    order of ``EnsembleMLP.flat_parameters``."""
    shapes = [(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    shapes += [(1, b) for b in sizes[1:]]
    parts = torch.split(flat, [a * b for a, b in shapes], dim=1)
    return [p.view(flat.shape[0], *s) for p, s in zip(parts, shapes, strict=True)]


def _forward(flat: torch.Tensor, sizes: Sequence[int], x: torch.Tensor) -> torch.Tensor:
    """Outputs (K, P) of ReLU nets with parameters ``flat`` (K, N_params) on x."""
    views = _layer_views(flat, sizes)
    n = len(sizes) - 1
    h = x
    for i in range(n):
        h = torch.baddbmm(views[n + i], h, views[i]) if h.dim() == 3 else \
            torch.matmul(h, views[i]) + views[n + i]
        if i < n - 1:
            h = torch.relu(h)
    return h[..., 0]


def _bar(total: int, progress: bool | str | None, desc: str) -> tqdm:
    """A tqdm bar, hidden when ``progress`` is False or (if None/a label) L2LIB_PROGRESS=0."""
    show = progress if isinstance(progress, bool) else os.environ.get("L2LIB_PROGRESS") != "0"
    return tqdm(total=total, desc=progress if isinstance(progress, str) else desc,
                disable=not show)


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
    (``steps`` = updates made). Members are independent: the result does not depend on K.
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

    with _bar(config.max_steps, progress, "hinge minimisation") as bar:
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
