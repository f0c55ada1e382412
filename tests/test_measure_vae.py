"""Measures of a trained VAE: active units, the probe on means and on the decoder's samples,
the per-member error landscape and its curvature."""

import pytest
import torch
from vae_helpers import F64, randn, tiny_vae

from l2lib.measure import curvature
from l2lib.measure.vae import (
    active_units,
    latent_samples,
    member_objective,
    probe_accuracy,
    unit_activity,
)
from l2lib.models.vae import elbo_terms, fixed_noise


def test_active_units_count_dimensions_whose_mean_varies_over_the_data():
    std0 = torch.tensor([1.0, 0.3, 0.12, 0.05], dtype=F64)  # variances 1, .09, .0144, .0025
    mu0 = randn(4000, 4, seed=11) * std0
    mu1 = 5.0 + randn(4000, 4, seed=12) * torch.tensor([0.5, 0, 0, 0], dtype=F64)
    mu = torch.stack([mu0, mu1])
    torch.testing.assert_close(unit_activity(mu)[0], std0**2, rtol=0.08, atol=0)
    assert active_units(mu).tolist() == [3, 1]  # a constant offset is no activity
    assert active_units(mu, threshold=0.05).tolist() == [2, 1]
    with pytest.raises(ValueError, match="threshold"):
        active_units(mu, threshold=0.0)
    with pytest.raises(ValueError, match="N >= 2"):
        unit_activity(mu[:, :1])



def test_member_objective_is_the_members_beta_weighted_negative_elbo():
    model = tiny_vae()
    x, eps = randn(30, 4, seed=14), randn(30, 2, seed=15)
    terms = elbo_terms(model, x, eps)
    for k in (0, 1):
        fn, theta = member_objective(model, k, x, 1.7, eps)
        torch.testing.assert_close(theta, model.flat_parameters()[k].detach())
        torch.testing.assert_close(fn(theta), terms.objective(1.7)[k], rtol=1e-12, atol=0)
        fn0, _ = member_objective(model, k, x, 0.0, eps)  # β = 0: the reconstruction term
        torch.testing.assert_close(fn0(theta), terms.recon[k], rtol=1e-12, atol=0)
        fn_l2, _ = member_objective(model, k, x, 1.7, eps, lam=0.3)
        torch.testing.assert_close(fn_l2(theta) - fn(theta), 0.15 * theta.dot(theta))
    model.zero_grad()
    elbo_terms(model, x, eps).objective(1.7).sum().backward()
    expected = torch.cat([p.grad[1].reshape(-1) for p in model.parameters()])
    fn, theta = member_objective(model, 1, x, 1.7, eps)
    torch.testing.assert_close(curvature.gradient(fn, theta), expected, rtol=1e-10, atol=1e-12)


def test_stochastic_curvature_of_the_vae_landscape_agrees_with_the_dense_one():
    model = tiny_vae(seeds=(5,))
    x = randn(30, 4, seed=16)
    fn, theta = member_objective(model, 0, x, 0.5, fixed_noise(30, 2, 1, x))
    dense = curvature.scalar_curvature(fn, theta, "dense")
    est = curvature.scalar_curvature(fn, theta, "stochastic", n_samples=400, seed=2)
    assert abs(est.value - dense.value) < 4.5 * est.stderr
    assert est.stderr < 0.5 * abs(dense.value)  # the test can fail



def test_latent_samples_are_what_the_decoder_is_fed():
    model = tiny_vae()
    x, eps = randn(20, 4, seed=20), randn(20, 2, seed=21)
    mu, logvar = model.encode(x)
    z = latent_samples(model, x, eps)
    torch.testing.assert_close(z, mu + torch.exp(0.5 * logvar) * eps)
    torch.testing.assert_close(model.decode(z), model(x, eps)[2])
    with pytest.raises(ValueError, match="eps"):
        latent_samples(model, x, randn(19, 2))


def test_a_probe_on_samples_is_at_chance_when_the_means_keep_a_faint_trace():
    """A collapsed code: μ = 0.03·(class) (Var ≪ 0.01, inactive) and σ = 1. The probe on μ still
    reads the class; on z = μ + ε (what the decoder sees) it is at chance (negative control)."""
    y = torch.arange(600) % 3
    mu = (0.03 * (y.to(F64) - 1.0))[None, :, None].repeat(1, 1, 2)
    assert active_units(mu).item() == 0
    z = mu + randn(1, 600, 2, seed=22)
    z_test = mu + randn(1, 600, 2, seed=23)
    on_mu = probe_accuracy(mu, y, mu, y, c=1e4).item()
    on_z = probe_accuracy(z, y, z_test, y).item()
    assert on_mu == 1.0
    assert abs(on_z - 1 / 3) < 0.07
    informative = mu * 100 + 0.1 * randn(1, 600, 2, seed=24)  # an active code: both read it
    assert probe_accuracy(informative, y, informative, y).item() > 0.95
