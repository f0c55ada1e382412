"""Statistics at the jamming transition: dead data, the power-law fitter (against closed forms,
scipy and the powerlaw package), exponents that say when they are not measurable, the Hessian
split and the classification of runs (SAT, jammed at a checked minimum, not converged)."""


import numpy as np
import pytest
import scipy.optimize
import scipy.stats
import torch

from l2lib.data import jamming as D
from l2lib.measure import gap_statistics as G
from l2lib.measure import jamming as T
from l2lib.models import flat as F
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


@pytest.mark.parametrize("a_true", [0.3, -0.2])
def test_power_law_fitter_recovers_known_exponents_with_covering_intervals(a_true):
    """Samples ∝ x^a below x = 1, a bulk above it and a pile-up below a resolution floor: with
    the floor given, the KS cut-off lands near 1 and the 95 % interval covers the true exponent
    in (nearly) every repetition."""
    rng = np.random.default_rng(11)
    covered, estimates = 0, []
    for rep in range(8):
        x = np.concatenate([rng.random(1500) ** (1 / (a_true + 1)), 1 + rng.exponential(1, 700),
                            1e-8 * rng.random(300)])
        fit = G.fit_power_law(x, x_min=1e-6, n_boot=60, seed=rep)
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
    fit = G.fit_power_law(x, x_c=1.0, n_boot=5)
    a_scipy, _, _ = scipy.stats.powerlaw.fit(x, floc=0, fscale=1)  # pdf a x^(a−1) on [0, 1]
    assert fit.a == pytest.approx(a_scipy - 1, rel=1e-9) and fit.n_tail == 400
    # with a floor: the truncated likelihood, maximised independently by scipy
    floor = 0.2
    kept = x[x > floor]

    def nll(a):
        return -np.sum(np.log((a + 1) * kept**a / (1 - floor ** (a + 1))))

    best = scipy.optimize.minimize_scalar(nll, bounds=(-0.9, 3), method="bounded",
                                          options={"xatol": 1e-10})
    floored = G.fit_power_law(x, x_min=floor, x_c=1.0, n_boot=5)
    assert floored.a == pytest.approx(best.x, abs=1e-6) and floored.n_tail == kept.size
    with pytest.raises(ValueError, match="positive"):
        G.fit_power_law(np.r_[x, -1.0])


def test_gap_exponents_skip_a_side_with_too_few_gaps():
    rng = np.random.default_rng(3)
    below_floor = np.r_[0.1, 0.2, np.full(99, 1e-9)]  # only two gaps above the floor
    theta, gamma = G.gap_exponents(rng.random(400) ** (1 / 1.3), below_floor, floor=1e-6,
                                   n_min=50, n_boot=10)
    assert theta is not None and gamma is None


def test_log_histogram_is_a_normalised_density():
    x = np.random.default_rng(1).random(1000) * 10
    centres, density = G.log_histogram(x, 1e-4, 1e2, 60)
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


# --------------------------------------------------------------------------------------------
# Classification


def _one_point_problem(gap: float):
    """Ten copies of one live datum (y = +1) whose output is set to 1 − ``gap``: N_Δ = 10 > 0.1 N
    (the authors' rule calls it jammed), ⟨Δ²θ(Δ)⟩ = gap²."""
    x = D.random_data(8, 2, seed=4)[0][:1].repeat(10, 1)
    y = torch.ones(10, dtype=F64)
    net = M.jamming_net(2, 2, 2, seeds=[1])
    sizes, theta = net.sizes, net.flat_parameters()[0].detach().clone()
    assert not T.dead_mask(theta, sizes, x).any()
    f = 1 - T.gap_function(sizes, x, y)(theta)[0]
    theta[-1] += (1 - gap) - f  # the last entry is the output bias
    return theta, sizes, x, y, M.n_weights(2, 2, 2)


def test_a_fitted_run_with_loss_1e_27_is_sat_not_jammed():
    theta, sizes, x, y, n = _one_point_problem(7e-14)
    delta = T.gap_function(sizes, x, y)(theta)
    assert (delta > 0).all() and 10 > 0.1 * n  # every point a "contact": jammed by N_Δ > 0.1 N
    loss = float(J.hinge_loss(delta[None])[0])
    assert 1e-28 < loss < 1e-26
    check = T.check_run(theta, sizes, x, y, n)
    assert check.status == T.SAT and check.n_delta == 10
    # negative control: the same state with gaps of 1e-3 is not SAT (goes to the minimum check)
    theta2, *_ = _one_point_problem(1e-3)
    assert T.check_run(theta2, sizes, x, y, n).status != T.SAT


def _tiny_unsat():
    d, h = 3, 3
    x, y = D.random_data(40, d, seed=1)
    return [d, h, 1], x, y, M.n_weights(d, h, 1)


@pytest.fixture
def one_thread():
    """Identical hidden units stay identical only if their arithmetic rounds identically: with
    several threads, matrix products may sum identical columns in different blocks, which breaks
    the symmetry at the last bit and lets L-BFGS leave the saddle (seen with 2 OpenMP threads)."""
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):  # numpy's and scipy's BLAS and OpenMP pools too
        yield
    torch.set_num_threads(threads)


def test_a_kink_minimum_is_jammed_and_a_symmetric_saddle_is_excluded(one_thread):
    """L-BFGS lands on a minimum that sits on a ReLU kink: its Hessian has a negative eigenvalue
    but the loss rises both ways along it (a naive λ_min ≥ 0 rule would exclude it). A saddle
    known exactly is excluded: output weights 0, every hidden unit on at every datum (w = 0,
    b = 1), output bias the best constant. The gradient vanishes by construction, but the
    Hessian couples each output weight to its unit's input weights through mean(y x), so the
    loss falls quadratically when units split apart. (The symmetric saddle that L-BFGS used to
    find from three identical units depended on the last bits of its trajectory: on an Intel
    Xeon it ended at a kink instead.)"""
    sizes, x, y, n = _tiny_unsat()
    theta = M.jamming_net(3, 3, 1, seeds=[2]).flat_parameters()[0].detach()
    minimum = J.converge(theta, sizes, x, y)
    check = T.check_run(minimum.theta, sizes, x, y, n)
    assert check.status == T.JAMMED and check.descent == 0
    assert check.lambda_min < 0 and check.n_delta > 0.1 * n

    half = 3 * torch.randn(20, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    xs = torch.cat([half, -half])  # pairs ±x: labels sign(x_0) sum to 0 exactly
    ys = torch.sign(xs[:, 0])
    layout = F.FlatLayout.mlp(sizes)
    named = layout.unflatten(torch.zeros_like(theta)[None])
    named["biases.0"] += 1.0  # every unit on everywhere; f ≡ 0 = mean(y), the best constant
    saddle = layout.flatten(named)[0]
    check = T.check_run(saddle, sizes, xs, ys, n)
    assert check.n_dead == 0 and check.n_delta == 40 and check.force < 1e-12
    assert check.status == T.NOT_CONVERGED and check.reason.startswith("saddle")
    assert check.lambda_min < 0 and check.descent > 10 * T.JamRule().descent_tol


def test_the_checked_hessian_equals_torch_func_hessian_of_the_live_loss(one_thread):
    """check_run's extreme eigenvalues come from a reverse-over-reverse Hessian: they equal
    those of torch.func.hessian (forward over reverse) of the same loss, to rounding."""
    sizes, x, y, n = _tiny_unsat()
    theta = J.converge(M.jamming_net(3, 3, 1, seeds=[2]).flat_parameters()[0].detach(), sizes,
                       x, y).theta
    check = T.check_run(theta, sizes, x, y, n)
    gaps = T.gap_function(sizes, x, y)
    ev = torch.linalg.eigvalsh(torch.func.hessian(lambda t: J.hinge_loss(gaps(t)[None])[0])(theta))
    assert check.lambda_min == pytest.approx(float(ev[0]), abs=1e-12)
    assert check.lambda_max == pytest.approx(float(ev[-1]), rel=1e-12)


def test_few_contacts_above_the_floor_are_not_converged():
    theta, sizes, x, y, n = _one_point_problem(1e-3)
    check = T.check_run(theta, sizes, x[:1], y[:1], n)  # N_Δ = 1 ≤ 0.1 N, loss above the floor
    assert check.status == T.NOT_CONVERGED and "≤" in check.reason


def test_dead_data_are_left_out_of_the_gaps_and_of_the_loss_that_rescales_them():
    x, y = D.random_data(40, 4, seed=1)
    net = M.jamming_net(4, 6, 2, seeds=[0])
    with torch.no_grad():
        net.biases[1][0, 0, :] = -torch.linspace(0.0, 3.0, 6)  # switch units of layer 2 off
        net.biases[2][0, 0, 0] = -0.5  # dead data get f = −0.5: Δ = 1.5 for y = +1
    theta = net.flat_parameters()[0].detach()
    dead = T.dead_mask(theta, net.sizes, x)
    delta = T.gap_function(net.sizes, x, y)(theta).numpy()
    assert dead.any() and (delta[dead & (y.numpy() > 0)] > 1).all()
    scan = S.Scan("t", 2, 6, 4, 0.1, np.array([40]), np.array([0]), np.zeros(1, int),
                  np.array([int((delta > 0).sum())]), np.zeros(1, int),
                  np.array([0.5 * np.mean(np.maximum(delta, 0) ** 2)]), [delta],
                  theta.numpy()[None], np.array([int((dead & (delta > 0)).sum())]),
                  pools={0: (x, y)})
    pos, neg, n_dead = G.run_gaps(scan, 0)
    live = delta[~dead]
    loss_live = 0.5 * np.mean(np.maximum(live, 0) ** 2)
    np.testing.assert_allclose(pos, live[live > 0] / np.sqrt(loss_live))
    np.testing.assert_allclose(neg, -live[live < 0])
    assert n_dead == int(dead.sum())
    # negative control: the old rescaling by the loss of all data (dead ones included) differs
    old = live[live > 0] / np.sqrt(scan.loss[0])
    assert not np.allclose(pos, old, rtol=1e-3)


def test_classify_labels_every_run_and_reach_skips_runs_far_above_the_first_jam():
    sizes, x, y, n = _tiny_unsat()
    theta = M.jamming_net(3, 3, 1, seeds=[2]).flat_parameters()[0].detach()
    minimum = J.converge(theta, sizes, x, y).theta.numpy()
    p = np.array([40, 40])
    deltas = [T.gap_function(sizes, x, y)(torch.as_tensor(minimum)).numpy()] * 2
    scan = S.Scan("t", 1, 3, 3, 0.1, p, np.array([0, 0]), np.zeros(2, int), np.array([40, 40]),
                  np.zeros(2, int), np.ones(2), deltas, np.stack([minimum, minimum]),
                  np.zeros(2, int), pools={0: (x, y)})
    labelled, checks = T.classify(scan)
    assert list(labelled.labels) == [T.JAMMED, T.JAMMED] and labelled.jammed.all()
    with pytest.raises(ValueError, match="one of"):
        scan.labelled(["jammed", "maybe"])


# --------------------------------------------------------------------------------------------
# Exponents that say when they cannot be measured


def test_exponent_is_recovered_from_power_law_samples_and_not_measurable_on_a_small_sample():
    rng = np.random.default_rng(5)
    for a_true in (0.3, -0.2):
        x = np.concatenate([1e-4 + (1 - 1e-4) * rng.random(3000) ** (1 / (a_true + 1)),
                            1 + rng.exponential(1, 800)])
        est = G.measure_exponent(x, a_ref=a_true, floor=1e-4, n_boot=60, seed=1)
        assert est.measurable and est.fit.ci[0] <= a_true <= est.fit.ci[1]
        assert est.decades >= 2 and est.fit.n_tail >= est.n_needed
    small = G.measure_exponent(rng.random(200) ** (1 / 1.3), a_ref=0.3, floor=1e-6)
    assert not small.measurable and small.n_needed == G.tail_count_needed(0.3) == 650
    assert "650 needed" in small.reason
    # enough gaps but all within one decade: no window of 2 decades
    narrow = G.measure_exponent(0.5 + 0.5 * rng.random(2000), a_ref=0.3, floor=0.4)
    assert not narrow.measurable and "decades" in narrow.reason


def test_mle_agrees_with_the_powerlaw_package():
    """In u = 1/x our small-x law p(x) ∝ x^a below x_c is powerlaw's p(u) ∝ u^(−α) above
    u_min = 1/x_c with α = a + 2: the continuous MLEs agree to rounding, and with the cut-off
    chosen by each package's KS rule they agree within the statistical error."""
    import powerlaw

    rng = np.random.default_rng(2)
    x = np.concatenate([rng.random(2000) ** (1 / 1.3), 1 + rng.exponential(1, 500)])
    ours = G.fit_power_law(x, x_c=1.0, n_boot=5)
    theirs = powerlaw.Fit(1 / x, xmin=1.0, verbose=False)
    assert ours.a == pytest.approx(theirs.power_law.alpha - 2, abs=1e-9)
    free = G.fit_power_law(x, n_boot=5)
    theirs_free = powerlaw.Fit(1 / x, verbose=False)
    assert free.a == pytest.approx(theirs_free.power_law.alpha - 2, abs=0.1)
    assert free.a == pytest.approx(0.3, abs=0.1)
