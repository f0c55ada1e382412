"""Chapter 6, jamming: parameter count, data, hinge loss and its gradient, the minimiser (Adam as
PyTorch's, exact stop at N_Δ = 0, independent members), P* brackets and resume, the power-law
fitter on synthetic samples, and H = H₀ + H_p against the dense Hessian."""

import math

import numpy as np
import pytest
import scipy.optimize
import scipy.stats
import torch

from l2lib.data import jamming as D
from l2lib.experiments import jamming as C
from l2lib.measure import jamming as T
from l2lib.models import flat as F
from l2lib.models import mlp as M
from l2lib.train import hinge as J
from l2lib.train import scan as S

F64 = torch.float64


# --------------------------------------------------------------------------------------------
# Parameter count, data, networks


def test_n_counts_weights_as_the_authors_do():
    assert M.n_weights(51, 51, 3) == 7854
    net = M.jamming_net(51, 51, 3, seeds=[0])
    assert sum(w[0].numel() for w in net.weights) == 7854
    assert M.width_for(7854, 3) == 51 and M.width_for(152, 2, d=10) == 8
    with pytest.raises(ValueError, match="depth"):
        M.n_weights(10, 10, 0)


def test_random_data_norms_labels_and_nested_pools():
    x, y = D.random_data(101, 7, seed=3)
    torch.testing.assert_close(x.norm(dim=1), torch.full((101,), math.sqrt(7), dtype=F64))
    assert set(y.tolist()) == {-1.0, 1.0} and abs(float(y[:40].sum())) == 0
    assert not torch.equal(x, D.random_data(101, 7, seed=4)[0])
    torch.testing.assert_close(D.random_data(101, 7, seed=3)[0], x)  # seeded


def test_parity_data_from_digits():
    x, y = D.parity_data("digits", 400, d=10, seed=1)
    assert x.shape == (400, 10) and float(y.sum()) == 0
    torch.testing.assert_close(x.norm(dim=1), torch.full((400,), math.sqrt(10), dtype=F64))
    full, _ = D.parity_data("digits", None, d=10, seed=1)
    assert len(full) > 1700
    # the whitened PCA directions: the pool's covariance is close to isotropic
    eig = torch.linalg.eigvalsh(torch.cov(full.T))
    assert float(eig.max() / eig.min()) < 3
    with pytest.raises(ValueError, match="at most"):
        D.parity_data("digits", 5000)


def test_orthogonal_init_zero_biases_and_members_independent_of_the_ensemble():
    net = M.jamming_net(6, 6, 3, seeds=[4, 5, 6])
    for w in net.weights[:-1]:
        torch.testing.assert_close(w[1].T @ w[1], torch.eye(6, dtype=F64))
    torch.testing.assert_close(net.weights[-1][0].norm(), torch.tensor(1.0, dtype=F64))
    assert all(float(b.detach().abs().max()) == 0 for b in net.biases)
    one = M.jamming_net(6, 6, 3, seeds=[5])
    for a, b in zip(net.parameters(), one.parameters(), strict=True):
        torch.testing.assert_close(a[1], b[0], rtol=0, atol=0)


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


def test_set_flat_parameters_round_trip():
    net = M.jamming_net(3, 5, 3, seeds=[1, 2])
    other = M.jamming_net(3, 5, 3, seeds=[7, 8])
    F.set_flat_parameters(other, net.flat_parameters().detach())
    for a, b in zip(net.parameters(), other.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="shape"):
        F.set_flat_parameters(other, torch.zeros(2, 3))


# --------------------------------------------------------------------------------------------
# Hinge loss


def test_hinge_loss_hand_example_and_its_gradient():
    f = torch.tensor([[2.0, 0.5, -0.3, 0.2]], dtype=F64, requires_grad=True)
    y = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=F64)
    delta = J.margins(f, y)
    torch.testing.assert_close(delta, torch.tensor([[-1.0, 0.5, 0.7, 1.2]], dtype=F64))
    loss = J.hinge_loss(delta)
    assert float(loss.detach()) == pytest.approx((0.5**2 + 0.7**2 + 1.2**2) / 2 / 4)
    assert int(J.n_unsatisfied(delta)) == 3
    (grad,) = torch.autograd.grad(loss.sum(), f)  # ∂L/∂f = −y Δ θ(Δ) / P
    torch.testing.assert_close(grad, torch.tensor([[0.0, -0.5, 0.7, 1.2]], dtype=F64) / 4)
    mask = torch.tensor([[True, True, False, False]])
    assert float(J.hinge_loss(delta, mask).detach()) == pytest.approx(0.5**2 / 2 / 2)
    assert int(J.n_unsatisfied(delta, mask)) == 1


def test_hinge_gradient_is_the_sum_over_contacts_of_delta_grad_delta():
    x, y = D.random_data(30, 4, seed=0)
    net = M.jamming_net(4, 5, 2, seeds=[1])
    with torch.no_grad():
        net.weights[-1].mul_(4)  # outputs beyond the margin for some points
    theta = net.flat_parameters()[0].detach().clone().requires_grad_(True)
    gaps = T.gap_function(net.sizes, x, y)
    torch.testing.assert_close(gaps(theta.detach()), J.margins(net(x), y)[0])
    loss = J.hinge_loss(gaps(theta)[None])[0]
    (grad,) = torch.autograd.grad(loss, theta)
    delta = gaps(theta.detach())
    jac = torch.func.jacrev(gaps)(theta.detach())
    assert 0 < int((delta > 0).sum()) < 30
    torch.testing.assert_close(grad, (torch.relu(delta) @ jac) / 30)


# --------------------------------------------------------------------------------------------
# The minimiser


def _problem(p=60, d=5, width=12, depth=2, seeds=(0, 1, 2)):
    x, y = D.random_data(p, d, seed=7)
    return x, y, M.jamming_net(d, width, depth, seeds=list(seeds))


def test_adam_updates_equal_torch_adam_with_the_step_schedule():
    x, y, net = _problem(p=200, width=4)  # too many points: nobody fits them in 40 steps
    ref = M.jamming_net(5, 4, 2, seeds=[0, 1, 2])
    config = J.HingeConfig(lr=3e-3, decay_every=15, decay_factor=4.0, lr_min=5e-4,
                           max_steps=40)
    result = J.minimise(net, x, y, config=config, progress=False)
    assert (result.steps == 40).all() and (result.n_delta > 0).all()
    opt = torch.optim.Adam(ref.parameters(), lr=config.lr)
    for t in range(40):
        for group in opt.param_groups:
            group["lr"] = config.lr_at(t)
        opt.zero_grad()
        J.hinge_loss(J.margins(ref(x), y)).sum().backward()
        opt.step()
    # equal up to float64 cancellation in small gradient components, which Adam's
    # normalisation amplifies (each step moves a weight by about lr = 3e-3)
    for a, b in zip(net.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-8)
    constant = M.jamming_net(5, 4, 2, seeds=[0, 1, 2])  # the schedule matters at this tolerance
    J.minimise(constant, x, y, config=J.HingeConfig(lr=3e-3, max_steps=40), progress=False)
    assert float((constant.weights[0] - ref.weights[0]).detach().abs().max()) > 1e-4
    assert config.lr_at(0) == 3e-3 and config.lr_at(15) == 3e-3 / 4 and config.lr_at(45) == 5e-4


def test_stops_exactly_at_the_first_iterate_with_every_point_fitted():
    x, y, net = _problem()
    start = [p.detach().clone() for p in net.parameters()]
    config = J.HingeConfig(lr=1e-2, max_steps=3000, sync_every=7)
    result = J.minimise(net, x, y, config=config, progress=False)
    assert result.sat.all() and len(set(result.steps.tolist())) > 1
    assert (J.n_unsatisfied(J.margins(net(x), y)) == 0).all()
    assert (result.loss == 0).all()
    for k, steps in enumerate(result.steps):  # one update fewer: not yet fitted
        again = M.jamming_net(5, 12, 2, seeds=[0, 1, 2])
        with torch.no_grad():
            for p, s in zip(again.parameters(), start, strict=True):
                p.copy_(s)
        short = J.minimise(again, x, y, config=J.HingeConfig(lr=1e-2, max_steps=int(steps) - 1),
                           progress=False)
        assert short.n_delta[k] > 0 and short.steps[k] == steps - 1


def test_members_with_their_own_data_sizes_equal_separate_runs():
    x, y, net = _problem(p=300, seeds=(3, 4, 5))
    sizes = [30, 150, 300]
    config = J.HingeConfig(lr=1e-2, max_steps=400, sync_every=3)
    together = J.minimise(net, x, y, sizes, config=config, progress=False)
    assert together.sat.any() and not together.sat.all()
    for k, (seed, p) in enumerate(zip((3, 4, 5), sizes, strict=True)):
        one = M.jamming_net(5, 12, 2, seeds=[seed])
        alone = J.minimise(one, x[:p], y[:p], config=config, progress=False)
        assert (alone.steps[0], alone.n_delta[0]) == (together.steps[k], together.n_delta[k])
        assert alone.loss[0] == pytest.approx(together.loss[k], rel=1e-9, abs=1e-15)
        for a, b in zip(net.parameters(), one.parameters(), strict=True):
            torch.testing.assert_close(a[k], b[0], rtol=1e-9, atol=1e-12)


def test_bad_input_is_refused():
    x, y, net = _problem()
    with pytest.raises(ValueError, match="x must be"):
        J.minimise(net, x[:, :3].expand(2, -1, -1), y, config=J.HingeConfig(max_steps=1))
    with pytest.raises(ValueError, match="n_data"):
        J.minimise(net, x, y, [10, 0, 5], config=J.HingeConfig(max_steps=1))
    with pytest.raises(ValueError, match="lr"):
        J.HingeConfig(lr=0)
    with pytest.raises(ValueError, match="ratios"):
        S.ScanSettings(ratios=(2.0, 1.0))
    with pytest.raises(ValueError, match="unknown profile"):
        C.jamming_settings("huge")


# --------------------------------------------------------------------------------------------
# Locating P*


def _fake_scan(p, seed, n_delta, dead=None, width=4, depth=2):
    p, seed, n_delta = (np.asarray(v) for v in (p, seed, n_delta))
    dead = np.zeros_like(p) if dead is None else np.asarray(dead)
    deltas = [np.linspace(-1, 1, q) for q in p]
    return S.Scan("fake", depth, width, width, 0.1, p, seed, np.zeros_like(p), n_delta,
                  np.zeros_like(p), np.ones(len(p)), deltas, np.zeros((len(p), 1)), dead,
                  pools={})


def test_brackets_and_p_star_follow_the_authors_rule():
    n = M.n_weights(4, 4, 2)  # 40: jammed ⇔ N_Δ > 4
    scan = _fake_scan(p=[40, 80, 120, 160, 40, 80, 90, 100, 120, 160],
                      seed=[0, 0, 0, 0, 1, 1, 1, 1, 1, 1],
                      n_delta=[0, 3, 30, 50, 0, 0, 12, 10, 4, 60],
                      dead=[0, 0, 5, 0, 0, 0, 6, 0, 0, 0])
    assert scan.n == n
    np.testing.assert_array_equal(scan.stuck, np.arange(10) == 6)  # half its contacts dead
    assert scan.brackets() == {0: (80.0, 120.0), 1: (80.0, 100.0)}  # first jam counts
    stars = scan.p_star_seeds()
    np.testing.assert_allclose(stars, [np.sqrt(80 * 120), np.sqrt(80 * 100)])
    p, err = scan.p_star()
    widths = np.array([40.0, 20.0]) / np.sqrt(12)  # brackets read as uniform distributions
    assert p == pytest.approx(stars.mean())
    assert err == pytest.approx(np.sqrt((stars.var(ddof=1) + np.mean(widths**2)) / 2))
    assert scan.r_star()[0] == pytest.approx(p / n)
    np.testing.assert_array_equal(scan.near_transition(0.3), [2, 7])
    unbracketed = _fake_scan(p=[40, 80], seed=[0, 0], n_delta=[0, 0])
    assert np.isnan(unbracketed.p_star()[0])


def test_depth_comparison_chi2():
    same = C.compare_depths({2: (2.0, 0.1), 3: (2.0, 0.2), 5: (2.0, 0.1)})
    assert same.chi2 == pytest.approx(0) and same.p_value == pytest.approx(1) and same.consistent
    apart = C.compare_depths({2: (1.0, 0.05), 5: (2.0, 0.05)})
    assert apart.chi2 == pytest.approx(200) and not apart.consistent
    untestable = C.compare_depths({2: (1.0, 0.1), 3: (np.nan, np.nan)})
    assert not untestable.testable and np.isnan(untestable.p_value)


def test_scan_brackets_the_transition_and_resumes_from_the_store(tmp_path):
    settings = S.ScanSettings(ratios=(0.3, 3.0), n_seeds=2, rounds=2,
                              config=J.HingeConfig(lr=1e-2, decay_every=400, max_steps=800))
    run = dict(seed=0, store_root=tmp_path, name="t", progress=False)

    def pool(s, p):
        return D.random_data(p, 10, s)

    first = S.scan(pool, 10, 10, 2, settings, **run)
    n, low = first.n, round(0.3 * first.n)
    assert set(first.p[first.round == 0]) == {low, 3 * n}
    assert first.jammed[first.p == 3 * n].all() and first.sat[first.p == low].all()
    assert (first.round > 0).sum() >= 2  # bisection inside each seed's bracket
    for s, (lo, hi) in first.brackets().items():
        assert low <= lo < hi <= 3 * n, s
    x, y = first.data(2)
    assert len(first.deltas[2]) == first.p[2] == len(x) == len(y)
    gaps = T.gap_function(first.sizes, x, y)(torch.as_tensor(first.theta[2]))
    torch.testing.assert_close(torch.as_tensor(first.deltas[2]), gaps)
    again = S.scan(pool, 10, 10, 2, settings, **run)  # replayed from the store
    np.testing.assert_array_equal(again.n_delta, first.n_delta)
    np.testing.assert_array_equal(again.theta, first.theta)
    # polishing continues from the stored weights: zero more steps change nothing
    jammed = np.flatnonzero(first.jammed)
    same = S.polish(first, jammed[::-1], J.HingeConfig(lr=1e-12, lr_min=1e-12, max_steps=1),
                    progress=False)
    np.testing.assert_array_equal(same.p, first.p[jammed])
    np.testing.assert_allclose(same.theta, first.theta[jammed], rtol=0, atol=1e-11)
    np.testing.assert_array_equal(same.n_delta, first.n_delta[jammed])
    more = S.polish(first, jammed, J.HingeConfig(lr=1e-3, max_steps=300), store_root=tmp_path,
                    progress=False)
    assert (more.loss <= first.loss[jammed] + 1e-12).all()
    positive, negative, runs = T.pooled_gaps([more])
    assert runs == int(more.jammed.sum()) and (positive > 0).all() and (negative > 0).all()


# --------------------------------------------------------------------------------------------
# Exponent fits


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


# --------------------------------------------------------------------------------------------
# Hessian split


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


def test_profiles_quick_scale_and_the_authors_protocol_for_paper():
    quick, paper = C.jamming_settings("quick"), C.jamming_settings("paper")
    assert len(quick.random_n) >= 3 and len(quick.depths) >= 2  # N*(P) at >= 3 points, 2 depths
    assert paper.depths == (2, 3, 5) and max(paper.random_n) >= 7854
    config = paper.random.config  # lr 1e-4, ÷10 every 250k steps, floor 1e-7
    assert (config.lr, config.decay_every, config.decay_factor, config.lr_min) == (
        1e-4, 250_000, 10.0, 1e-7)
    assert [config.lr_at(t) for t in (0, 250_000, 500_000, 10**7)] == pytest.approx(
        [1e-4, 1e-5, 1e-6, 1e-7])
