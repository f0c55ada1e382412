"""Chapter 4's experiment: the linear-VAE thresholds that scale the β grid, collapse of a
nonlinear VAE, the resumable warm β sweep and its observer, the settings per profile, and every
finding on constructed inputs (agrees, a negative control, undecided, not measurable)."""


import numpy as np
import pytest
import torch
from vae_helpers import F64, beta_sweep, gaussian_data, randn, tiny_vae, train_in_two_stages

from l2lib.analysis.collapse import CoincidenceTest
from l2lib.analysis.findings import Verdict
from l2lib.data import Dataset
from l2lib.experiments import vae, vae_profiles
from l2lib.measure.vae import active_units, unit_activity
from l2lib.models.vae import EnsembleVAE, elbo_terms, fixed_noise
from l2lib.store import SweepStore
from l2lib.train.loop import TrainConfig
from l2lib.train.sweep import SweepResult, check_grid


def test_linear_beta_vae_loses_unit_i_at_beta_equal_eigenvalue_over_sigma_squared():
    """The optimum of a linear β-VAE is probabilistic PCA with noise βσ²: unit i is active iff
    λ_i > βσ², with activity Var_x(μ_i) = 1 − βσ²/λ_i; above λ_1/σ² every unit collapses."""
    eig = np.array([4.0, 1.0, 0.25])
    x = gaussian_data(eig)
    betas = [0.5, 2.0, 8.0]  # one per member, trained at once
    model = EnsembleVAE(3, 3, (), seeds=[0, 1, 2], activation="linear", dtype=F64)
    train_in_two_stages(model, x, betas)
    terms = elbo_terms(model, x, fixed_noise(len(x), 3, 0, x))
    activity = unit_activity(terms.mu.detach()).sort(dim=1, descending=True).values
    expected = np.clip(1 - np.asarray(betas)[:, None] / eig[None, :], 0, None)
    assert active_units(terms.mu).tolist() == [2, 1, 0]
    np.testing.assert_allclose(activity.numpy(), expected, atol=0.06)
    np.testing.assert_allclose(vae.pca_thresholds(x, 1.0, 3), eig, rtol=1e-10)
    assert terms.kl[2] < 1e-2  # total collapse: q(z|x) = p(z)


def test_a_nonlinear_vae_collapses_completely_at_large_beta():
    x = gaussian_data([4.0, 1.0, 0.25], n=500)
    model = EnsembleVAE(3, 3, (8,), seeds=[0, 1], dtype=F64)
    train_in_two_stages(model, x, [0.3, 20.0], epochs=(300, 100))
    terms = elbo_terms(model, x, fixed_noise(len(x), 3, 0, x))
    assert active_units(terms.mu).tolist()[1] == 0 and terms.kl[1] < 1e-2
    assert active_units(terms.mu).tolist()[0] >= 2  # small β: the large directions are coded



def _observer(calls, fail_at=None):
    def observe(model, beta):
        calls.append(float(beta[0]))
        if fail_at is not None and len(calls) == fail_at:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C during this point
        return {"norm": model.flat_parameters().norm(dim=1)}
    return observe



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



def test_the_observer_reads_the_probe_on_samples_beside_the_probe_on_means():
    x = gaussian_data([4.0, 1.0, 0.25, 0.1], n=60)
    y = (x[:, 0] > 0).long()
    data = Dataset("toy", x, y, x, y, 2)
    settings = vae_profiles.settings("smoke", latent=2, hidden=(3,), curvature_samples=4)
    model = EnsembleVAE(4, 2, (3,), seeds=[0, 1], dtype=F64)
    obs = vae.collapse_observer(data, settings)(model, torch.tensor([0.5, 0.5], dtype=F64))
    for name in ("probe_z", "probe_acc", "curvature", "grad_norm", "kl", "param_norm", "tr_h"):
        assert obs[name].shape == (2,), name
    assert not torch.equal(obs["probe_z"], obs["probe_acc"])


def test_settings_per_profile_and_overrides():
    assert vae_profiles.settings("quick") == vae.VaeSettings()
    assert vae_profiles.settings("reference").n_seeds >= 5
    assert vae_profiles.settings("quick", lam=0.1).lam == 0.1
    x = gaussian_data([4.0, 1.0, 0.25], n=200)
    for profile in ("smoke", "quick", "reference", "paper"):
        settings = vae_profiles.settings(profile)
        grid = vae.beta_grid(settings, x)
        assert grid.size == settings.n_betas
        np.testing.assert_allclose(grid[[0, -1]], [4 * settings.beta_min, 4 * settings.beta_max])
    with pytest.raises(ValueError, match="unknown setting.*'seeds'"):
        vae_profiles.settings("quick", seeds=3)
    with pytest.raises(ValueError, match="unknown profile"):
        vae_profiles.settings("huge")
    with pytest.raises(ValueError, match="strictly increasing"):
        check_grid([1.0, 0.5])
    with pytest.raises(ValueError, match="direction"):
        beta_sweep(tiny_vae(), randn(3, 4), [1.0], config=TrainConfig(), observe=_observer([]),
                   direction="sideways")


# --------------------------------------------------------------------------------------------
# Findings on constructed inputs

N = 34


def probe_sweep(curves):
    """A sweep whose probe on z is ``curves`` (N, K); two units until the probe's last fifth."""
    curves = np.asarray(curves, dtype=float)
    units = np.where(np.arange(N)[:, None] < 28, 2, 0) * np.ones_like(curves, dtype=int)
    obs = {"probe_z": curves, "probe_acc": curves + 0.1, "active_units": units}
    return SweepResult(np.geomspace(1.0, 10.0, N), obs, "up")


def noisy(y, seed):
    return y + 0.005 * np.random.default_rng(seed).standard_normal(N)


STEP = np.where(np.arange(N) < 20, 0.9, 0.5)
RAMP = 0.9 - 0.012 * np.arange(N)  # falls 0.4 as well, but smoothly


def test_transitions_finding():
    both = probe_sweep(np.stack([noisy(STEP, 0), noisy(STEP, 1)], 1))
    assert vae.transitions_finding(both).verdict == Verdict.AGREES
    ramps = probe_sweep(np.stack([noisy(RAMP, 0), noisy(RAMP, 1)], 1))  # negative control
    assert vae.transitions_finding(ramps).verdict == Verdict.DISAGREES
    mixed = probe_sweep(np.stack([noisy(STEP, 0), noisy(RAMP, 1)], 1))
    assert vae.transitions_finding(mixed).verdict == Verdict.UNDECIDED
    short = SweepResult(both.lams[:10], {k: v[:10] for k, v in both.obs.items()}, "up")
    assert vae.transitions_finding(short).verdict == Verdict.NOT_MEASURABLE
    assert set(vae.transitions_finding(short).numbers) == set(
        vae.transitions_finding(both).numbers)  # the chapter glues them at every profile
    assert vae.transitions_finding(both).numbers["probe_z_collapsed"] == pytest.approx(
        both.obs["probe_z"][28:].mean())


def coincidence(p, statistic=1.0, n_targets=12, n_members=2, n_candidates=6):
    return CoincidenceTest(statistic, 5.0, 4.0, p, p, n_targets, n_candidates, n_members, 100,
                           (), ())


def analysis(curvature, **controls):
    tests = {"curvature": curvature}
    tests.update({c: controls.get(c, coincidence(0.5, 4.0)) for c in vae.CONTROLS})
    return vae.VaeAnalysis(tests, coincidence(0.5), coincidence(0.5), coincidence(0.5))


def test_marks_finding():
    assert vae.marks_finding(analysis(coincidence(0.01))).verdict == Verdict.AGREES
    # negative control: every probe change point within one grid step of a curvature change
    # point (the old rule's "matched"), but no closer than chance with 8 seeds
    dense = coincidence(0.4, statistic=0.6, n_targets=20, n_members=8)
    assert vae.marks_finding(analysis(dense)).verdict == Verdict.DISAGREES
    few_seeds = coincidence(0.2)
    assert vae.marks_finding(analysis(few_seeds)).verdict == Verdict.UNDECIDED
    assert vae.marks_finding(analysis(coincidence(0.01, n_targets=2))).verdict == \
        Verdict.NOT_MEASURABLE
    assert vae.marks_finding(analysis(coincidence(0.01, n_candidates=0))).verdict == \
        Verdict.NOT_MEASURABLE


def test_specificity_finding():
    ratio = np.array([0.97, 0.99])
    specific = analysis(coincidence(0.01, 1.0))
    found = vae.specificity_finding(specific, ratio)
    assert found.verdict == Verdict.AGREES and found.numbers["formula_ratio_min"] == 0.97
    # negative control: the gradient norm marks the probe as closely (the review's finding)
    grad = analysis(coincidence(0.01, 1.0), grad_norm=coincidence(0.005, 0.9))
    assert vae.specificity_finding(grad, ratio).verdict == Verdict.DISAGREES
    farther = analysis(coincidence(0.01, 1.0), kl=coincidence(0.03, 2.0))
    assert vae.specificity_finding(farther, ratio).verdict == Verdict.UNDECIDED
    moot = analysis(coincidence(0.3, 1.0))
    assert vae.specificity_finding(moot, ratio).verdict == Verdict.UNDECIDED


def test_hysteresis_finding_and_summary_numbers():
    up = probe_sweep(np.stack([noisy(STEP, 0)] * 2, 1))
    down = probe_sweep(np.stack([noisy(STEP, 2)] * 2, 1))
    down.obs["active_units"] = np.where(np.arange(N)[:, None] < 20, 2, 0) * np.ones((N, 2), int)
    sweeps = vae.BetaHysteresis(up.betas, up, down)
    found = vae.hysteresis_finding(sweeps)
    assert found.verdict == Verdict.UNDECIDED
    assert found.numbers["hysteresis_decades"] == pytest.approx(7 / 33)  # 20-27 differ
    numbers = vae.summary_numbers([found], beta_1=2.0)
    assert numbers["hysteresis_verdict"] == "undecided" and numbers["beta_1"] == 2.0
    assert numbers["hysteresis_text"].startswith("branches differ")
