"""The β-VAE of chapter 4: ELBO and KL against Monte Carlo and closed forms, the exact evidence
of a linear VAE, posterior collapse at the linear-VAE thresholds, active units, the ensemble
against separate runs, the error landscape, the resumable β sweep and the step analysis."""

import math

import numpy as np
import pytest
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from l2lib.analysis import collapse as collapse_analysis
from l2lib.experiments import vae as collapse
from l2lib.measure import curvature
from l2lib.measure.vae import active_units, member_objective, unit_activity
from l2lib.models.vae import EnsembleVAE, elbo_terms, fixed_noise, kl_per_dim
from l2lib.store import SweepStore
from l2lib.train.loop import TrainConfig, train
from l2lib.train.losses import beta_objective, negative_elbo_error
from l2lib.train.sweep import SweepResult, check_grid, warm_sweep

F64 = torch.float64


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def tiny_vae(seeds=(0, 1), likelihood="gaussian", sigma=0.8, hidden=(3,), d=4, latent=2):
    return EnsembleVAE(d, latent, hidden, seeds=list(seeds), likelihood=likelihood, sigma=sigma,
                       dtype=F64)


def gaussian_data(eigenvalues, n=1000, seed=0):
    """n samples whose sample covariance has exactly the given eigenvalues (random basis)."""
    lam = torch.as_tensor(eigenvalues, dtype=F64)
    d = lam.numel()
    q = torch.linalg.qr(randn(d, d, seed=seed + 1)).Q
    z = randn(n, d, seed=seed)
    z = z - z.mean(0)
    z = z @ torch.linalg.inv(torch.linalg.cholesky(z.T @ z / n)).T
    return (z * lam.sqrt()) @ q.T


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
# Active units and collapse


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


def _train_in_two_stages(model, x, beta, epochs=(400, 200)):
    for stage, (lr, n) in enumerate(zip((0.03, 0.003), epochs, strict=True)):
        config = TrainConfig(loss="mse", lr=lr, batch_size=None, max_epochs=n, patience=n)
        seeds = [100 * stage + k for k in range(model.n_members)]
        train(model, x, x, lam=0.0, config=config, error_fn=negative_elbo_error(beta, seeds))


def test_linear_beta_vae_loses_unit_i_at_beta_equal_eigenvalue_over_sigma_squared():
    """The optimum of a linear β-VAE is probabilistic PCA with noise βσ²: unit i is active iff
    λ_i > βσ², with activity Var_x(μ_i) = 1 − βσ²/λ_i; above λ_1/σ² every unit collapses."""
    eig = np.array([4.0, 1.0, 0.25])
    x = gaussian_data(eig)
    betas = [0.5, 2.0, 8.0]  # one per member, trained at once
    model = EnsembleVAE(3, 3, (), seeds=[0, 1, 2], activation="linear", dtype=F64)
    _train_in_two_stages(model, x, betas)
    terms = elbo_terms(model, x, fixed_noise(len(x), 3, 0, x))
    activity = unit_activity(terms.mu.detach()).sort(dim=1, descending=True).values
    expected = np.clip(1 - np.asarray(betas)[:, None] / eig[None, :], 0, None)
    assert active_units(terms.mu).tolist() == [2, 1, 0]
    np.testing.assert_allclose(activity.numpy(), expected, atol=0.06)
    np.testing.assert_allclose(collapse.pca_thresholds(x, 1.0, 3), eig, rtol=1e-10)
    assert terms.kl[2] < 1e-2  # total collapse: q(z|x) = p(z)


def test_a_nonlinear_vae_collapses_completely_at_large_beta():
    x = gaussian_data([4.0, 1.0, 0.25], n=500)
    model = EnsembleVAE(3, 3, (8,), seeds=[0, 1], dtype=F64)
    _train_in_two_stages(model, x, [0.3, 20.0], epochs=(300, 100))
    terms = elbo_terms(model, x, fixed_noise(len(x), 3, 0, x))
    assert active_units(terms.mu).tolist()[1] == 0 and terms.kl[1] < 1e-2
    assert active_units(terms.mu).tolist()[0] >= 2  # small β: the large directions are coded


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


# --------------------------------------------------------------------------------------------
# The warm β sweep


def _observer(calls, fail_at=None):
    def observe(model, beta):
        calls.append(float(beta[0]))
        if fail_at is not None and len(calls) == fail_at:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C during this point
        return {"norm": model.flat_parameters().norm(dim=1)}
    return observe


def beta_sweep(model, x, betas, *, lam=0.0, **kwargs):
    """A warm β sweep of a VAE: warm_sweep with the β point objective (as chapter 4 runs it)."""
    return warm_sweep(model, x, torch.zeros(x.shape[0]), betas,
                      point_objective=beta_objective(lam, model.seeds), **kwargs)


def test_beta_sweep_resumes_from_the_store_without_recomputing(tmp_path):
    x = randn(32, 4, seed=17)
    betas = np.geomspace(0.2, 5.0, 5)
    config = TrainConfig(loss="mse", lr=0.01, batch_size=8, max_epochs=3, patience=2)
    reference = beta_sweep(tiny_vae(), x, betas, config=config, observe=_observer([]),
                           progress=False)
    key = {"experiment": "toy-vae"}
    calls = []
    with pytest.raises(KeyboardInterrupt):
        beta_sweep(tiny_vae(), x, betas, config=config, observe=_observer(calls, fail_at=4),
                   store=SweepStore(tmp_path, "toy", key), progress=False)
    assert SweepStore(tmp_path, "toy", key).finished() == 3  # the point in flight is lost
    calls = []
    resumed = beta_sweep(tiny_vae(), x, betas, config=config, observe=_observer(calls),
                         store=SweepStore(tmp_path, "toy", key), progress=False)
    assert calls == pytest.approx(betas[3:].tolist())  # finished points are not recomputed
    for name in ("norm", "epochs"):
        np.testing.assert_allclose(resumed.obs[name], reference.obs[name], rtol=1e-12)
    down = beta_sweep(tiny_vae(), x, betas, config=config, observe=_observer([]),
                      direction="down", progress=False)
    assert down.betas[0] == betas[-1] and np.all(np.diff(down.ascending().betas) > 0)


@pytest.mark.parametrize("make,match", [
    (lambda: EnsembleVAE(4, 2, likelihood="poisson"), "likelihood"),
    (lambda: EnsembleVAE(4, 2, sigma=0.0), "sigma"),
    (lambda: EnsembleVAE(4, 0), "latent"),
    (lambda: check_grid([1.0, 0.5]), "strictly increasing"),
    (lambda: check_grid([-1.0, 0.5]), "non-negative"),
    (lambda: elbo_terms(tiny_vae(likelihood="bernoulli"), randn(3, 4), randn(3, 2)), r"\[0, 1\]"),
    (lambda: elbo_terms(tiny_vae(), randn(3, 4), randn(4, 2)), "eps"),
    (lambda: negative_elbo_error(-1.0, [0, 1])(tiny_vae(), randn(3, 4), None), "beta"),
    (lambda: negative_elbo_error(1.0, [0])(tiny_vae(), randn(3, 4), None), "noise seed"),
    (lambda: member_objective(tiny_vae(), 2, randn(3, 4), 1.0, randn(3, 2)), "out of range"),
    (lambda: beta_sweep(tiny_vae(), randn(3, 4), [1.0], config=TrainConfig(),
                        observe=_observer([]), direction="sideways"), "direction"),
    (lambda: collapse.collapse_settings("huge"), "unknown profile"),
])
def test_bad_input_is_rejected_with_a_clear_message(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# --------------------------------------------------------------------------------------------
# Steps and change points


def _synthetic_sweep(kinks):
    """Two members with steps 3→2 and 2→0 at intervals 9 and 19 of a 30-point grid; member 0's
    log R bends at ``kinks`` (grid-interval indices); member 1's log R is a straight line."""
    betas = np.geomspace(1.0, 10.0, 30)
    logb = np.log10(betas)
    mids = 0.5 * (logb[:-1] + logb[1:])
    units = np.where(np.arange(30) < 10, 3, np.where(np.arange(30) < 20, 2, 0))
    probe = np.where(units == 3, 0.9, np.where(units == 2, 0.8, 0.3))
    probe = probe + 0.002 * np.random.default_rng(0).standard_normal(30)
    slope = np.zeros(30)
    for sign, i in zip([1, -1, 1], kinks, strict=False):
        slope += sign * 3.0 * np.clip(logb - mids[i], 0, None)
    obs = {"active_units": np.stack([units, units], 1),
           "probe_acc": np.stack([probe, probe], 1),
           "curvature": np.stack([10 ** (4 + slope), 10 ** (4 + logb)], 1)}
    return SweepResult(betas, obs, "up")


def test_step_analysis_finds_the_steps_and_the_curvature_kinks_beside_them():
    sweep = _synthetic_sweep(kinks=[9, 19])
    assert collapse_analysis.unit_steps(sweep.obs["active_units"][:, 0]).tolist() == [9, 19]
    assert collapse_analysis.step_events(np.array([2, 3, 4, 9, 11, 12])) == [[2, 3, 4], [9],
                                                                              [11, 12]]
    result = collapse_analysis.analyse_collapse(sweep)
    mine = [s for s in result.steps if s.member == 0]
    assert [(s.units_before, s.units_after) for s in mine] == [(3, 2), (2, 0)]
    assert all(s.accuracy_step and s.matched for s in mine)
    np.testing.assert_allclose(np.log10(result.changes[0]),
                               0.5 * (np.log10(sweep.betas[[9, 19]])
                                      + np.log10(sweep.betas[[10, 20]])), atol=1e-9)
    # member 1: a straight line has no kink, so its two breaks sit wherever the fit puts them
    assert 0 < result.chance[0] <= 6 / 29 + 1e-9
    shifted = collapse_analysis.analyse_collapse(_synthetic_sweep(kinks=[4, 25]))
    assert not any(s.matched for s in shifted.steps if s.member == 0)
    np.testing.assert_allclose(collapse_analysis.total_collapse_beta(sweep), sweep.betas[20])
    assert collapse_analysis.mean_total_collapse_beta(sweep) == pytest.approx(sweep.betas[20])
    probe = sweep.obs["probe_acc"][20:].mean()
    assert collapse_analysis.probe_after_collapse(sweep) == pytest.approx(probe)
    sweep.obs["active_units"][-1] = 1  # never collapses completely
    assert np.isnan(collapse_analysis.mean_total_collapse_beta(sweep))


def test_a_step_without_an_accuracy_drop_is_not_an_accuracy_transition():
    sweep = _synthetic_sweep(kinks=[9, 19])
    sweep.obs["probe_acc"][10:20] = sweep.obs["probe_acc"][9, 0]  # no drop at the first step
    flags = [s.accuracy_step for s in collapse_analysis.analyse_collapse(sweep).steps]
    assert flags == [False, True, False, True]
    with pytest.raises(ValueError, match="ascending"):
        collapse_analysis.analyse_collapse(SweepResult(sweep.betas[::-1], sweep.obs, "down"))
    with pytest.raises(ValueError, match="unknown signal"):
        collapse_analysis.analyse_collapse(sweep, "curvature_obj")


def test_profiles_scale_the_beta_grid_with_the_top_eigenvalue():
    x = gaussian_data([4.0, 1.0, 0.25], n=200)
    for profile in ("smoke", "quick", "paper"):
        settings = collapse.collapse_settings(profile)
        grid = collapse.beta_grid(settings, x)
        assert grid.size == settings.n_betas
        np.testing.assert_allclose(grid[[0, -1]], [4 * settings.beta_min, 4 * settings.beta_max])
