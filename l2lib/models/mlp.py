"""Ensembles of fully connected networks with stacked weights.

Every model here is an *ensemble* of K independent members whose weights are stacked along a
leading member axis, so that K networks train in one batched step (``torch.matmul`` broadcasts
over the member axis). A single network is the case K = 1. Member k is initialised from its own
seed, so the member with seed s is identical to a K = 1 model built with seed s.

Shapes: layer i holds ``weights[i]`` of shape (K, fan_in, fan_out) and, with biases,
``biases[i]`` of shape (K, 1, fan_out). Inputs are (B, d) (shared by all members) or (K, B, d);
outputs are (K, B, d_out).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from l2lib.models.flat import flat_parameters
from l2lib.runtime import derived_seed

ACTIVATIONS = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "linear": lambda z: z,
}


def check_seeds(seeds: Sequence[int] | int) -> list[int]:
    """``seeds`` as a non-empty list of ints (one per ensemble member)."""
    seeds = [seeds] if isinstance(seeds, int) else [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one ensemble member, e.g. seeds=[0]")
    return seeds


class EnsembleMLP(nn.Module):
    """K independent MLPs with the layer sizes ``sizes`` = [d_in, h_1, ..., h_D, d_out].

    ``activation`` is applied after every hidden layer, never after the output layer.
    ``init_scale`` multiplies PyTorch's default ``nn.Linear`` initialisation
    (uniform in ±1/sqrt(fan_in) for weights and biases).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        seeds: Sequence[int] | int = 0,
        activation: str = "sigmoid",
        bias: bool = True,
        init_scale: float = 1.0,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__()
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must be [d_in, ..., d_out] with positive entries, got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}"
            )
        self.sizes = sizes
        self.seeds = check_seeds(seeds)
        self.activation = activation
        self.has_bias = bias
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        per_member = [self._init_member(seed, init_scale, dtype) for seed in self.seeds]
        for layer in range(len(sizes) - 1):
            w = torch.stack([m[layer][0] for m in per_member]).to(device)
            self.weights.append(nn.Parameter(w))
            if bias:
                b = torch.stack([m[layer][1] for m in per_member]).to(device)
                self.biases.append(nn.Parameter(b))

    def _init_member(self, seed: int, scale: float, dtype: torch.dtype) -> list:
        gen = torch.Generator().manual_seed(seed)
        layers = []
        for fan_in, fan_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            bound = scale / math.sqrt(fan_in)
            w = (torch.rand(fan_in, fan_out, generator=gen, dtype=torch.float64) * 2 - 1) * bound
            b = (torch.rand(1, fan_out, generator=gen, dtype=torch.float64) * 2 - 1) * bound
            layers.append((w.to(dtype), b.to(dtype)))
        return layers

    @property
    def n_members(self) -> int:
        return len(self.seeds)

    @property
    def depth(self) -> int:
        """Number of hidden layers D."""
        return len(self.sizes) - 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs (K, B, d_out) for inputs (B, d_in) or (K, B, d_in)."""
        if x.shape[-1] != self.sizes[0] or x.dim() not in (2, 3):
            raise ValueError(
                f"expected inputs of shape (B, {self.sizes[0]}) or (K, B, {self.sizes[0]}), "
                f"got {tuple(x.shape)}"
            )
        if x.dim() == 3 and x.shape[0] != self.n_members:
            raise ValueError(f"input has {x.shape[0]} member slices, model has {self.n_members}")
        act = ACTIVATIONS[self.activation]
        h = x
        last = len(self.weights) - 1
        for i, w in enumerate(self.weights):
            h = torch.matmul(h, w)
            if self.has_bias:
                h = h + self.biases[i]
            if i < last:
                h = act(h)
        return h

    def take(self, members: Sequence[int]) -> EnsembleMLP:
        """A new ensemble of the members ``members`` (indices, in that order), with copies of
        their weights and their seeds; ``self`` is unchanged."""
        members = [int(m) for m in members]
        if not members or min(members) < 0 or max(members) >= self.n_members:
            raise ValueError(f"members must be indices in [0, {self.n_members}), got {members}")
        index = torch.as_tensor(members, device=self.weights[0].device)
        taken = copy.copy(self)  # shares nothing below: fresh module dicts and parameters
        taken._parameters, taken._buffers, taken._modules = {}, {}, {}
        taken.seeds = [self.seeds[m] for m in members]
        taken.weights = nn.ParameterList(
            nn.Parameter(w.detach().index_select(0, index).clone()) for w in self.weights)
        taken.biases = nn.ParameterList(
            nn.Parameter(b.detach().index_select(0, index).clone()) for b in self.biases)
        return taken

    def member_parameters(self) -> list[torch.Tensor]:
        """All parameter tensors, each with the member axis first."""
        return list(self.parameters())

    def flat_parameters(self) -> torch.Tensor:
        """Parameters of each member as one vector, shape (K, P): all weights, then all biases
        (:func:`l2lib.models.flat.flat_parameters`)."""
        return flat_parameters(self)

    def parameter_norm(self) -> torch.Tensor:
        """Euclidean norm ‖θ_k‖ of each member's parameters (weights and biases), shape (K,)."""
        return self.flat_parameters().norm(dim=1)

    @torch.no_grad()
    def perturb_(self, scale: float, seeds: Sequence[int]) -> None:
        """Add Gaussian noise of std ``scale``/sqrt(fan_in) to every parameter, in place.

        Member k draws its noise from ``seeds[k]``, so the result does not depend on K.
        """
        seeds = check_seeds(seeds)
        if len(seeds) != self.n_members:
            raise ValueError(f"need one seed per member ({self.n_members}), got {len(seeds)}")
        for k, seed in enumerate(seeds):
            gen = torch.Generator().manual_seed(seed)
            for i, w in enumerate(self.weights):
                std = scale / math.sqrt(self.sizes[i])
                w[k] += torch.randn(w.shape[1:], generator=gen, dtype=torch.float64).to(w) * std
                if self.has_bias:
                    b = self.biases[i]
                    b[k] += torch.randn(b.shape[1:], generator=gen, dtype=torch.float64).to(b) * std

    def end_to_end(self) -> torch.Tensor:
        """Product W_1 W_2 ⋯ W_{D+1} of a linear bias-free net: shape (K, d_in, d_out)."""
        if self.activation != "linear" or self.has_bias:
            raise ValueError("end_to_end() is defined only for deep linear nets without bias")
        prod = self.weights[0]
        for w in self.weights[1:]:
            prod = torch.matmul(prod, w)
        return prod


def mlp(
    d_in: int,
    hidden: Sequence[int],
    d_out: int,
    *,
    seeds: Sequence[int] | int = 0,
    activation: str = "sigmoid",
    bias: bool = True,
    init_scale: float = 1.0,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> EnsembleMLP:
    """An MLP ensemble d_in → hidden[0] → … → hidden[-1] → d_out."""
    return EnsembleMLP(
        [d_in, *hidden, d_out],
        seeds=seeds,
        activation=activation,
        bias=bias,
        init_scale=init_scale,
        dtype=dtype,
        device=device,
    )


def deep_linear(
    d_in: int,
    width: int,
    depth: int,
    d_out: int = 1,
    *,
    seeds: Sequence[int] | int = 0,
    init_scale: float = 1.0,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
) -> EnsembleMLP:
    """A deep linear net with ``depth`` = D hidden layers of ``width`` units, no biases.

    Its end-to-end map is the product of D + 1 weight matrices (:meth:`EnsembleMLP.end_to_end`).
    """
    if depth < 1:
        raise ValueError(f"depth counts hidden layers and must be >= 1, got {depth}")
    return EnsembleMLP(
        [d_in] + [width] * depth + [d_out],
        seeds=seeds,
        activation="linear",
        bias=False,
        init_scale=init_scale,
        dtype=dtype,
        device=device,
    )


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
