"""A fully connected β-VAE as an ensemble: model, ELBO terms, the per-member training error.

Model. Member k has a Gaussian encoder q(z|x) = N(μ(x), diag exp(logvar(x))) and a decoder
p(x|z), both MLPs with stacked weights (member axis first, :class:`~l2lib.models.EnsembleMLP`):
encoder d → hidden → 2L (the first L outputs are μ, the last L are logvar), decoder
L → reversed(hidden) → d. The prior is p(z) = N(0, I). Decoder likelihoods:

* ``"gaussian"``: p(x|z) = N(f(z), σ² I) with fixed σ (for standardised data);
  −log p(x|z) = Σ_o (x_o − f_o)² / (2σ²) + (d/2) log(2πσ²).
* ``"bernoulli"``: f(z) are logits, x ∈ [0, 1]; −log p(x|z) = Σ_o BCE(f_o, x_o).

Units: nats per sample, averaged over the samples of a batch. The ELBO of a sample is
E_q[log p(x|z)] − KL(q(z|x) ‖ p(z)), with the expectation estimated by the reparameterisation
z = μ + exp(logvar/2) ε and the KL in closed form, KL_i = ½(μ_i² + σ_i² − 1 − log σ_i²) per latent
dimension. The β-VAE training error of member k is the β-weighted negative ELBO

    E_β = ⟨−log p(x|z)⟩ + β ⟨KL⟩,

and the L2 strength λ of :func:`l2lib.train.loop.train` adds (λ/2)‖θ‖² on top (library convention).
Noise ε is drawn per member from the member's own generator, so a member does not depend on the
ensemble it is trained in (tested).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from l2lib.models.mlp import EnsembleMLP, check_seeds

LIKELIHOODS = ("gaussian", "bernoulli")


def _sub_seed(seed: int, part: int) -> int:
    """Seed of a member's encoder (part 0) or decoder (part 1), derived from its seed."""
    return int(np.random.SeedSequence([seed, part, 11]).generate_state(1)[0])


class EnsembleVAE(nn.Module):
    """K independent VAEs with input size ``d_in``, ``latent`` = L latent dimensions and the
    encoder's hidden widths ``hidden`` (the decoder mirrors them).

    Attributes follow :class:`EnsembleMLP`: ``n_members``, ``seeds``, ``sizes`` (here
    ``[d_in, *hidden, L]``); ``parameters()`` yields the encoder's then the decoder's tensors, each
    with the member axis first, so :func:`l2lib.train.loop.train` trains the ensemble directly.
    """

    def __init__(
        self,
        d_in: int,
        latent: int,
        hidden: Sequence[int] = (32,),
        *,
        seeds: Sequence[int] | int = 0,
        activation: str = "tanh",
        likelihood: str = "gaussian",
        sigma: float = 1.0,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__()
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"unknown likelihood {likelihood!r}; choose one of {LIKELIHOODS}")
        if not (math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma (the Gaussian decoder's std) must be > 0, got {sigma}")
        if int(latent) < 1 or int(d_in) < 1:
            raise ValueError(f"d_in and latent must be >= 1, got {d_in} and {latent}")
        hidden = [int(h) for h in hidden]
        self.seeds = check_seeds(seeds)
        self.hidden, self.activation = tuple(hidden), activation
        self.latent, self.likelihood, self.sigma = int(latent), likelihood, float(sigma)
        self.sizes = [int(d_in), *hidden, self.latent]
        common = dict(activation=activation, dtype=dtype, device=device)
        self.encoder = EnsembleMLP([d_in, *hidden, 2 * self.latent],
                                   seeds=[_sub_seed(s, 0) for s in self.seeds], **common)
        self.decoder = EnsembleMLP([self.latent, *hidden[::-1], d_in],
                                   seeds=[_sub_seed(s, 1) for s in self.seeds], **common)

    @property
    def n_members(self) -> int:
        return len(self.seeds)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, logvar) of q(z|x), each (K, B, L), for inputs (B, d) or (K, B, d)."""
        h = self.encoder(x)
        return h[..., : self.latent], h[..., self.latent :]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder outputs f(z), (K, B, d): means (gaussian) or logits (bernoulli)."""
        return self.decoder(z)

    def forward(
        self, x: torch.Tensor, eps: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(μ, logvar, f(z)) with z = μ + exp(logvar/2) ε; ``eps`` is (B, L) or (K, B, L)."""
        mu, logvar = self.encode(x)
        return mu, logvar, self.decode(mu + torch.exp(0.5 * logvar) * eps)

    @torch.no_grad()
    def member(self, k: int) -> EnsembleVAE:
        """A separate K = 1 copy of member ``k`` (same seed, weights and settings)."""
        if not 0 <= k < self.n_members:
            raise ValueError(f"member {k} out of range for an ensemble of {self.n_members}")
        like = next(self.parameters())
        single = EnsembleVAE(self.sizes[0], self.latent, self.hidden, seeds=[self.seeds[k]],
                             activation=self.activation, likelihood=self.likelihood,
                             sigma=self.sigma, dtype=like.dtype, device=like.device)
        for mine, theirs in zip(single.parameters(), self.parameters(), strict=True):
            mine.copy_(theirs[k : k + 1])
        return single

    def flat_parameters(self) -> torch.Tensor:
        """Parameters of each member as one vector: shape (K, P)."""
        return torch.cat([p.reshape(self.n_members, -1) for p in self.parameters()], dim=1)


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ_i, e^{logvar_i}) ‖ N(0, 1)) per latent dimension, elementwise (closed form)."""
    return 0.5 * (mu.pow(2) + torch.exp(logvar) - 1.0 - logvar)


def reconstruction_nll(model: EnsembleVAE, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """−log p(x|z) of every sample, shape (K, B), for decoder outputs (K, B, d)."""
    if model.likelihood == "bernoulli":
        target = x.expand_as(out)
        return F.binary_cross_entropy_with_logits(out, target, reduction="none").sum(dim=-1)
    d = out.shape[-1]
    const = 0.5 * d * math.log(2 * math.pi * model.sigma**2)
    return (x - out).pow(2).sum(dim=-1) / (2 * model.sigma**2) + const


@dataclass
class ElboTerms:
    """Per member, means over samples (nats): ``recon`` = ⟨−log p(x|z)⟩ (K,), ``kl_dims`` =
    ⟨KL_i⟩ (K, L), ``mu`` the encoder means (K, B, L); ``sq_error`` = ⟨Σ_o (x_o − f_o)²⟩ (K,)
    of the decoder output (means or logits) for the sampled z."""

    recon: torch.Tensor
    kl_dims: torch.Tensor
    mu: torch.Tensor
    sq_error: torch.Tensor

    @property
    def kl(self) -> torch.Tensor:
        return self.kl_dims.sum(dim=-1)

    @property
    def elbo(self) -> torch.Tensor:
        return -(self.recon + self.kl)

    def objective(self, beta: torch.Tensor | float) -> torch.Tensor:
        """The β-weighted negative ELBO ⟨−log p(x|z)⟩ + β⟨KL⟩, shape (K,)."""
        return self.recon + beta * self.kl


def elbo_terms(model: EnsembleVAE, x: torch.Tensor, eps: torch.Tensor) -> ElboTerms:
    """ELBO terms of every member on ``x`` (B, d) or (K, B, d) with noise ``eps`` (B or K, B, L).

    One noise draw per sample: an unbiased single-sample estimate of E_q[log p(x|z)].
    """
    if x.shape[-1] != model.sizes[0]:
        raise ValueError(f"x must have {model.sizes[0]} features, got shape {tuple(x.shape)}")
    if eps.shape[-1] != model.latent or eps.shape[-2] != x.shape[-2]:
        raise ValueError(f"eps must have shape (B, {model.latent}) or (K, B, {model.latent}) "
                         f"with B = {x.shape[-2]}, got {tuple(eps.shape)}")
    if model.likelihood == "bernoulli" and (x.min() < 0 or x.max() > 1):
        raise ValueError("a Bernoulli decoder needs inputs in [0, 1]; rescale the data or use "
                         "likelihood='gaussian'")
    mu, logvar, out = model(x, eps)
    return ElboTerms(recon=reconstruction_nll(model, out, x).mean(dim=-1),
                     kl_dims=kl_per_dim(mu, logvar).mean(dim=-2), mu=mu,
                     sq_error=(x - out).pow(2).sum(dim=-1).mean(dim=-1))


def member_noise(
    generators: Sequence[torch.Generator], n: int, latent: int, like: torch.Tensor
) -> torch.Tensor:
    """Standard normal noise (K, n, L), member k's slice drawn from ``generators[k]``."""
    draws = [torch.randn(n, latent, generator=g, dtype=torch.float64) for g in generators]
    return torch.stack(draws).to(device=like.device, dtype=like.dtype)


def fixed_noise(n: int, latent: int, seed: int, like: torch.Tensor) -> torch.Tensor:
    """One fixed noise draw (n, L) from ``seed``, shared by all members (common random
    numbers: the same ε at every β makes observables and the landscape deterministic)."""
    return member_noise([torch.Generator().manual_seed(int(seed))], n, latent, like)[0]
