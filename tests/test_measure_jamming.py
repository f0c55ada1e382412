"""Statistics at the jamming transition: dead data, the power-law fitter (against closed forms,
scipy and the powerlaw package), exponents that say when they are not measurable, the Hessian
split and the classification of runs (SAT, jammed at a checked minimum, not converged)."""

import math

import numpy as np
import pytest
import scipy.optimize
import scipy.stats
import torch

from l2lib.data import jamming as D
from l2lib.measure import jamming as T
from l2lib.models import mlp as M
from l2lib.train import hinge as J
from l2lib.train import scan as S

F64 = torch.float64


def test_dead_points_see_only_the_output_bias():
    """Where the whole last hidden layer is off, f is the output bias and its gradient with
    respect to every weight vanishes; elsewhere it does not."""
    x, y = D.random_data(40, 4, seed=1)
    net = M.jamming_net(4, 6, 2, seeds=[0])
    with torch.no_grad():
        net.biases[1][0, 0, :] = -torch.linspace(0.0, 3.0, 6)  # switch units of layer 2 off
    dead = J.dead_points(net, x)[0]
    assert 0 < int(dead.sum()) < 40
    theta = net.flat_parameters()[0].detach()
    np.testing.assert_array_equal(T.dead_mask(theta, net.sizes, x), dead.numpy())
    jac = torch.func.jacrev(T.gap_function(net.sizes, x, y))(theta)
    weights_and_hidden_biases = jac[:, :-1]  # the last entry is the output bias
    assert float(weights_and_hidden_biases[dead].abs().max()) == 0
    assert float(weights_and_hidden_biases[~dead].abs().sum(dim=1).min()) > 0


def test_power_law_fitter_recovers_known_exponents_with_covering_intervals(a_true):
    """Samples ∝ x^a below x = 1, a bulk above it and a pile-up below a resolution floor: with
    the floor given, the KS cut-off lands near 1 and the 95 % interval covers the true exponent
    in (nearly) every repetition."""
    rng = np.random.default_rng(11)
    covered, estimates = 0, []
    for rep in range(8):
        x = np.concatenate([rng.random(1500) ** (1 / (a_true + 1)), 1 + rng.exponential(1, 700),
                            1e-8 * rng.random(300)])
        fit = T.fit_power_law(x, x_min=1e-6, n_boot=60, seed=rep)
        covered += fit.ci[0] <= a_true <= fit.ci[1]
        estimates.append(fit.a)
        assert 0.3 < fit.x_c < 1.3 and fit.ci[1] - fit.ci[0] < 0.35
        assert fit.x_min == 1e-6 and fit.n_tail <= 1500
    assert covered >= 7
    assert np.mean(estimates) == pytest.approx(a_true, abs=0.04)
    # the fitted density integrates to the fraction of samples in the window
    xs = np.geomspace(fit.x_min, fit.x_c, 20001)
    assert np.trapezoid(fit.density(xs), xs) == pytest.approx(fit.n_tail / fit.n, rel=1e-3)


def test_power_law_fit_with_a_fixed_cut_off_is_the_closed_form_mle():
    x = np.random.default_rng(0).random(400) ** (1 / 1.3)
    fit = T.fit_power_law(x, x_c=1.0, n_boot=5)
    a_scipy, _, _ = scipy.stats.powerlaw.fit(x, floc=0, fscale=1)  # pdf a x^(a−1) on [0, 1]
    assert fit.a == pytest.approx(a_scipy - 1, rel=1e-9) and fit.n_tail == 400
    # with a floor: the truncated likelihood, maximised independently by scipy
    floor = 0.2
    kept = x[x > floor]

    def nll(a):
        return -np.sum(np.log((a + 1) * kept**a / (1 - floor ** (a + 1))))

    best = scipy.optimize.minimize_scalar(nll, bounds=(-0.9, 3), method="bounded",
                                          options={"xatol": 1e-10})
    floored = T.fit_power_law(x, x_min=floor, x_c=1.0, n_boot=5)
    assert floored.a == pytest.approx(best.x, abs=1e-6) and floored.n_tail == kept.size
    with pytest.raises(ValueError, match="positive"):
        T.fit_power_law(np.r_[x, -1.0])


def test_gap_exponents_skip_a_side_with_too_few_gaps():
    rng = np.random.default_rng(3)
    below_floor = np.r_[0.1, 0.2, np.full(99, 1e-9)]  # only two gaps above the floor
    theta, gamma = T.gap_exponents(rng.random(400) ** (1 / 1.3), below_floor, floor=1e-6,
                                   n_min=50, n_boot=10)
    assert theta is not None and gamma is None


def test_log_histogram_is_a_normalised_density():
    x = np.random.default_rng(1).random(1000) * 10
    centres, density = T.log_histogram(x, 1e-4, 1e2, 60)
    edges = np.logspace(-4, 2, 61)
    assert np.nansum(density * np.diff(edges)) == pytest.approx(1)
    assert centres[0] == pytest.approx(np.sqrt(edges[0] * edges[1]))


def test_hessian_is_h0_plus_hp_and_matches_the_dense_hessian_of_the_model():
    x, y = D.random_data(25, 3, seed=2)
    net = M.jamming_net(3, 4, 2, seeds=[9])
    with torch.no_grad():
        net.perturb_(0.3, [1])  # break the zero biases so nothing sits on a kink
    theta = net.flat_parameters()[0].detach()
    split = T.hessian_split(theta, net.sizes, x, y)
    torch.testing.assert_close(split.h, split.h0 + split.hp, rtol=0, atol=1e-12)
    assert 0 < split.n_delta < 25
    spectra = split.spectra()
    assert spectra["H0"].min() > -1e-12
    assert 0 < int((spectra["H0"] > 1e-10).sum()) <= split.n_delta  # PSD, rank ≤ N_Δ
    # independent check: central differences of the autograd gradient through the model itself

    def grad_at(vec):
        weights, biases = T._unflatten(vec, net.sizes)
        with torch.no_grad():
            for p, q in zip(net.parameters(), weights + biases, strict=True):
                p.copy_(q[None])
        loss = J.hinge_loss(J.margins(net(x), y))[0]
        return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, net.parameters())])

    h = 1e-6
    fd = torch.stack([(grad_at(theta + h * e) - grad_at(theta - h * e)) / (2 * h)
                      for e in torch.eye(theta.numel(), dtype=F64)])
    torch.testing.assert_close(split.h, fd, rtol=0, atol=1e-6)
