"""The one view of an ensemble's parameters: by name (:data:`Params`) or as flat vectors.

Every ensemble of l2lib (:class:`~l2lib.models.mlp.EnsembleMLP`,
:class:`~l2lib.models.vae.EnsembleVAE`, :class:`~l2lib.models.point.PointEnsemble`) holds its
parameters with the member axis first. Two views of them are used throughout:

* **by name**, :data:`Params`: ``{name: tensor (K, ...)}`` in the order of
  ``model.named_parameters()`` (what Pathfinder and the path baselines move around);
* **flat**: member k's parameter vector θ_k ∈ ℝᴾ is the concatenation of its slices of those
  tensors, each flattened row-major, in the same order. For an ``EnsembleMLP`` that is every
  weight matrix (layer by layer, (fan_in, fan_out)) and then every bias (1, fan_out).

:class:`FlatLayout` converts between the two; :func:`functional` turns a model into a pure
function of one member's θ (for ``torch.func``: Hessians, Hessian-vector products).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call

Params = dict[str, Tensor]
"""Parameters of an ensemble by name (as in ``named_parameters()``), member axis first."""


@dataclass(frozen=True)
class FlatLayout:
    """Names and per-member shapes of the parameters, in flat order."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]

    @classmethod
    def of(cls, model: nn.Module) -> FlatLayout:
        """The layout of ``model.named_parameters()`` (member axis dropped)."""
        named = list(model.named_parameters())
        return cls(tuple(n for n, _ in named), tuple(tuple(p.shape[1:]) for _, p in named))

    @classmethod
    def mlp(cls, sizes: Sequence[int], bias: bool = True) -> FlatLayout:
        """The layout of an ``EnsembleMLP`` with layer sizes ``sizes`` = [d_in, ..., d_out]."""
        pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
        names = [f"weights.{i}" for i in range(len(pairs))]
        shapes = [(a, b) for a, b in pairs]
        if bias:
            names += [f"biases.{i}" for i in range(len(pairs))]
            shapes += [(1, b) for _, b in pairs]
        return cls(tuple(names), tuple(shapes))

    @property
    def sizes(self) -> list[int]:
        """Number of entries of each tensor per member."""
        return [math.prod(s) for s in self.shapes]

    @property
    def n_params(self) -> int:
        """P, the length of one member's flat vector."""
        return sum(self.sizes)

    def flatten(self, params: Mapping[str, Tensor]) -> Tensor:
        """(K, P) from named tensors (K, ...)."""
        k = next(iter(params.values())).shape[0]
        return torch.cat([params[n].reshape(k, -1) for n in self.names], dim=1)

    def unflatten(self, flat: Tensor) -> Params:
        """Named views (K, ...) of a flat (K, P) tensor; a single vector (P,) gives K = 1."""
        if flat.dim() == 1:
            flat = flat[None]
        if flat.dim() != 2 or flat.shape[1] != self.n_params:
            raise ValueError(f"flat parameters must have shape (K, {self.n_params}) or "
                             f"({self.n_params},), got {tuple(flat.shape)}")
        parts = torch.split(flat, self.sizes, dim=1)
        return {n: p.reshape(flat.shape[0], *s)
                for n, p, s in zip(self.names, parts, self.shapes, strict=True)}


def flat_parameters(model: nn.Module) -> Tensor:
    """Every member's flat parameter vector, shape (K, P) (differentiable, not a copy)."""
    return FlatLayout.of(model).flatten(dict(model.named_parameters()))


@torch.no_grad()
def set_flat_parameters(model: nn.Module, flat: Tensor | np.ndarray) -> nn.Module:
    """Copy ``flat`` (K, P), in the layout of :func:`flat_parameters`, into ``model``."""
    layout = FlatLayout.of(model)
    params = dict(model.named_parameters())
    k = next(iter(params.values())).shape[0]
    flat = torch.as_tensor(flat)
    if tuple(flat.shape) != (k, layout.n_params):
        raise ValueError(f"flat parameters must have shape {(k, layout.n_params)}, "
                         f"got {tuple(flat.shape)}")
    for name, value in layout.unflatten(flat).items():
        params[name].copy_(value)
    return model


def member_theta(model: nn.Module, member: int) -> Tensor:
    """A detached copy of member ``member``'s flat parameter vector θ, shape (P,)."""
    if isinstance(member, bool) or not isinstance(member, int | np.integer):
        raise ValueError(f"member must be an integer index, got {member!r}")
    k = next(model.parameters()).shape[0]
    if not 0 <= member < k:
        raise ValueError(f"member {member} out of range for an ensemble of {k} members")
    return flat_parameters(model)[int(member)].detach().clone()


def functional(model: nn.Module) -> Callable[..., Tensor]:
    """``call(theta, *inputs)``: ``model(*inputs)`` with every parameter taken from the single
    flat vector θ (P,) as a one-member ensemble (outputs keep a member axis of length 1).

    Pure in θ (``torch.func.functional_call``), so it can be differentiated any number of
    times; ``model`` only supplies the architecture.
    """
    layout = FlatLayout.of(model)

    def call(theta: Tensor, *inputs: Tensor) -> Tensor:
        if theta.shape != (layout.n_params,):
            raise ValueError(f"theta must be a flat vector of shape ({layout.n_params},), "
                             f"got {tuple(theta.shape)}")
        return functional_call(model, layout.unflatten(theta), inputs)

    return call


# --------------------------------------------------------------------------------------------
# The named view


def params_of(model: nn.Module) -> Params:
    """A detached copy of the model's parameters by name."""
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def check_params(model: nn.Module, params: Mapping[str, Tensor], what: str = "params") -> Params:
    """``params`` checked against ``model.named_parameters()`` (names and shapes), on the
    model's device and dtype."""
    expected = dict(model.named_parameters())
    if set(params) != set(expected):
        raise ValueError(f"{what} must hold exactly the parameters {sorted(expected)} of the "
                         f"model, got {sorted(params)}")
    out = {}
    for name, p in expected.items():
        value = torch.as_tensor(params[name])
        if value.shape != p.shape:
            raise ValueError(f"{what}[{name!r}] has shape {tuple(value.shape)}, the model's "
                             f"parameter has {tuple(p.shape)} (member axis first)")
        out[name] = value.detach().to(device=p.device, dtype=p.dtype)
    return out


def load_params(model: nn.Module, params: Mapping[str, Tensor]) -> nn.Module:
    """Copy ``params`` (checked by :func:`check_params`) into ``model``; returns it."""
    checked = check_params(model, params)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(checked[name])
    return model


def stack_members(parts: Sequence[Mapping[str, Tensor]]) -> Params:
    """Concatenate ensembles' parameters along the member axis (e.g. single-member checkpoints
    into one K-member ensemble)."""
    if not parts:
        raise ValueError("stack_members needs at least one set of parameters")
    names = list(parts[0])
    if any(list(p) != names for p in parts):
        raise ValueError("all parts must hold the same parameter names in the same order")
    return {n: torch.cat([torch.as_tensor(p[n]) for p in parts], dim=0) for n in names}


def select_members(params: Mapping[str, Tensor], members: Sequence[int]) -> Params:
    """The parameters of the listed members, in that order."""
    index = torch.as_tensor(list(members), dtype=torch.long)
    return {n: v[index.to(v.device)].clone() for n, v in params.items()}


def distance(params: Mapping[str, Tensor], target: Mapping[str, Tensor]) -> Tensor:
    """‖θ_k − target_k‖ of every member over all tensors, shape (K,)."""
    total = None
    for name, p in params.items():
        diff = (p - target[name].to(p)).reshape(p.shape[0], -1)
        sq = diff.pow(2).sum(dim=1)
        total = sq if total is None else total + sq
    return total.sqrt()


def digest(params: Mapping[str, Tensor]) -> str:
    """A short hash of parameter values (keys a stored path by its start and reference)."""
    h = hashlib.sha256()
    for name in sorted(params):
        h.update(name.encode())
        h.update(params[name].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def to_cpu(params: Mapping[str, Tensor]) -> Params:
    """Detached CPU copies of named parameters."""
    return {n: v.detach().cpu().clone() for n, v in params.items()}
