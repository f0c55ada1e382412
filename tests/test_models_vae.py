"""The β-VAE model: ELBO and KL against Monte Carlo and closed forms, the exact evidence of a
linear VAE, the ensemble against separate runs, and its input checks."""

import math

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence
from vae_helpers import F64, randn, tiny_vae

from l2lib.models.vae import EnsembleVAE, elbo_terms, kl_per_dim
from l2lib.train.loop import TrainConfig, train
from l2lib.train.losses import negative_elbo_error

# --------------------------------------------------------------------------------------------
# KL and ELBO


def test_kl_term_matches_the_closed_form_and_monte_carlo():
    mu, logvar = randn(3, 4, seed=1), randn(3, 4, seed=2)
    std = torch.exp(0.5 * logvar)
    closed = kl_divergence(Normal(mu, std), Normal(0.0, 1.0))
    torch.testing.assert_close(kl_per_dim(mu, logvar), closed, rtol=1e-12, atol=1e-14)
    z = mu + std * randn(200_000, 3, 4, seed=3)
    draws = Normal(mu, std).log_prob(z) - Normal(0.0, 1.0).log_prob(z)
    stderr = draws.std(dim=0) / math.sqrt(z.shape[0])
    assert ((draws.mean(dim=0) - closed).abs() < 4.5 * stderr).all()
    assert (kl_per_dim(torch.zeros(2), torch.zeros(2)) == 0).all()  # q = prior


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_elbo_of_a_tiny_vae_matches_a_monte_carlo_estimate(likelihood):
    """Our estimator (sampled reconstruction, closed-form KL) against the plain Monte-Carlo
    average of log p(x|z) + log p(z) − log q(z|x), written with torch.distributions."""
    model = tiny_vae(likelihood=likelihood)
    x = randn(5, 4, seed=4)
    if likelihood == "bernoulli":
        x = (x > 0).to(F64)
    m = 40_000
    xs = x.repeat(m, 1)
    ours = elbo_terms(model, xs, randn(xs.shape[0], 2, seed=5))
    with torch.no_grad():
        mu, logvar = model.encode(xs)
        std = torch.exp(0.5 * logvar)
        z = mu + std * randn(xs.shape[0], 2, seed=6)
        out = model.decode(z)
        if likelihood == "gaussian":
            log_px = Normal(out, model.sigma).log_prob(xs).sum(-1)
        else:
            log_px = torch.distributions.Bernoulli(logits=out).log_prob(xs).sum(-1)
        mc = log_px + Normal(0.0, 1.0).log_prob(z).sum(-1) - Normal(mu, std).log_prob(z).sum(-1)
        recon = -log_px  # for the per-sample spread of our estimator
    se = torch.sqrt(mc.var(dim=1) / mc.shape[1] + recon.var(dim=1) / recon.shape[1])
    assert ((ours.elbo.detach() - mc.mean(dim=1)).abs() < 4.5 * se).all()
    assert ours.elbo.shape == (2,) and ours.kl_dims.shape == (2, 2)
    assert not torch.isclose(ours.elbo[0], ours.elbo[1])  # the members differ


def _linear_vae_at_exact_posterior(sigma, w, b):
    """A K = 1 linear VAE whose decoder is x = W z + b (+ noise σ) with orthogonal columns of W
    and whose encoder is that model's exact posterior (diagonal because WᵀW is)."""
    d, latent = w.shape
    model = EnsembleVAE(d, latent, (), seeds=[0], activation="linear", sigma=sigma, dtype=F64)
    s = 1.0 / (1.0 + (w * w).sum(0) / sigma**2)  # posterior variances
    a = w * s / sigma**2  # posterior mean = (x − b) @ a
    with torch.no_grad():
        model.decoder.weights[0][0] = w.T
        model.decoder.biases[0][0] = b
        model.encoder.weights[0][0] = torch.cat([a, torch.zeros(d, latent, dtype=F64)], dim=1)
        model.encoder.biases[0][0] = torch.cat([-(b @ a), s.log()])
    return model


def test_linear_vae_elbo_is_the_log_evidence_minus_the_posterior_gap():
    """At the exact posterior the ELBO equals log p(x) (Gaussian marginal N(b, WWᵀ + σ²I));
    with a wrong posterior variance it falls short by KL(q ‖ p(z|x)) — both in closed form."""
    sigma = 0.7
    w = torch.linalg.qr(randn(3, 3, seed=7)).Q[:, :2] * torch.tensor([1.5, 0.6], dtype=F64)
    b = torch.tensor([0.1, -0.2, 0.3], dtype=F64)
    model = _linear_vae_at_exact_posterior(sigma, w, b)
    x = randn(4, 3, seed=8)
    log_px = MultivariateNormal(b, w @ w.T + sigma**2 * torch.eye(3, dtype=F64)).log_prob(x)

    with torch.no_grad():  # the MC integrand is constant at the exact posterior
        mu, logvar = model.encode(x)
        z = mu + torch.exp(0.5 * logvar) * randn(4, 2, seed=9)
        integrand = (Normal(model.decode(z), sigma).log_prob(x).sum(-1)
                     + Normal(0.0, 1.0).log_prob(z).sum(-1)
                     - Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1))
    torch.testing.assert_close(integrand[0], log_px, rtol=1e-12, atol=1e-12)

    m = 50_000
    for shift in (0.0, 0.6):  # 0.6: posterior variances too large by a factor e^0.6
        with torch.no_grad():
            model.encoder.biases[0][0, 0, 2:] += shift
        per_x = [elbo_terms(model, x[i : i + 1].repeat(m, 1), randn(m, 2, seed=10 + i)).elbo
                 for i in range(4)]
        elbo = torch.cat(per_x).detach()
        post_var = 1.0 / (1.0 + (w * w).sum(0) / sigma**2)
        q_var = post_var * math.exp(shift)
        gap = 0.5 * (q_var / post_var - 1 - torch.log(q_var / post_var)).sum()
        # MC error of the sampled reconstruction term, ~ sqrt(Var/m)
        assert torch.allclose(elbo, log_px - gap, atol=0.02), (elbo, log_px - gap)
        assert (shift == 0.0) or (elbo < log_px - 0.05).all()


# --------------------------------------------------------------------------------------------
# Ensemble, error landscape


def test_ensemble_training_equals_separate_single_member_runs():
    x = randn(40, 4, seed=13)
    config = TrainConfig(loss="mse", lr=0.01, batch_size=8, max_epochs=3, patience=3)
    together = tiny_vae(seeds=(3, 4), hidden=(5,))
    train(together, x, x, lam=0.01, config=config,
          error_fn=negative_elbo_error(torch.tensor([0.5, 2.0]), [11, 12]))
    for k, (seed, beta, noise) in enumerate([(3, 0.5, 11), (4, 2.0, 12)]):
        alone = tiny_vae(seeds=(seed,), hidden=(5,))
        train(alone, x, x, lam=0.01, config=config, error_fn=negative_elbo_error(beta, [noise]))
        for p, q in zip(together.parameters(), alone.parameters(), strict=True):
            torch.testing.assert_close(p[k : k + 1], q, rtol=1e-10, atol=1e-12)
        for p, q in zip(together.member(k).parameters(), alone.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)



@pytest.mark.parametrize("make,match", [
    (lambda: EnsembleVAE(4, 2, likelihood="poisson"), "likelihood"),
    (lambda: EnsembleVAE(4, 2, sigma=0.0), "sigma"),
    (lambda: EnsembleVAE(4, 0), "latent"),
    (lambda: elbo_terms(tiny_vae(likelihood="bernoulli"), randn(3, 4), randn(3, 2)), r"\[0, 1\]"),
    (lambda: elbo_terms(tiny_vae(), randn(3, 4), randn(4, 2)), "eps"),
    (lambda: negative_elbo_error(-1.0, [0, 1])(tiny_vae(), randn(3, 4), None), "beta"),
    (lambda: negative_elbo_error(1.0, [0])(tiny_vae(), randn(3, 4), None), "noise seed"),
])
def test_bad_input_is_rejected_with_a_clear_message(make, match):
    with pytest.raises(ValueError, match=match):
        make()
