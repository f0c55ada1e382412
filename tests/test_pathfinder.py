"""Pathfinder, the mode-connectivity baselines and the saddle search (chapter 5's library)."""

import math

import numpy as np
import pytest
import torch

from l2lib.data import load_dataset
from l2lib.measure import curvature, saddles
from l2lib.measure import observables as measure
from l2lib.models import mlp as models
from l2lib.train import baselines as connect
from l2lib.train import loop as train
from l2lib.train import pathfinder as pf

FULL_SGD = train.TrainConfig(optimizer="sgd", lr=0.1, batch_size=None, max_epochs=4000,
                             patience=10, min_delta=1e-13)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", dtype=torch.float64)


def tiny_mlp(seeds, hidden=6):
    return models.mlp(64, [hidden], 10, activation="sigmoid", seeds=seeds, dtype=torch.float64)


def random_params(model, seed):
    gen = torch.Generator().manual_seed(seed)
    return {n: torch.randn(p.shape, generator=gen, dtype=p.dtype)
            for n, p in model.named_parameters()}


# --------------------------------------------------------------------------------------------
# The algorithm


def test_beta_zero_step_is_plain_training(digits):
    config = train.TrainConfig(batch_size=None, max_epochs=10, patience=5)
    a, b = tiny_mlp([0, 1]), tiny_mlp([0, 1])
    ref = random_params(a, 7)  # far away, but β = 0 must ignore it
    path = pf.find_path(a, digits.x_train, digits.y_train, ref, [0.0], config=config)
    train.train(b, digits.x_train, digits.y_train, lam=0.0, config=config)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    for name, p in a.named_parameters():
        torch.testing.assert_close(path.checkpoints[0][name], p.detach(), rtol=0, atol=0)
    np.testing.assert_allclose(path.obs["dist_ref"][0], pf.distance(pf.params_of(a), ref))


def test_shifted_penalty_gradient_is_beta_times_offset(digits):
    """An SGD step on the penalty alone moves θ by −lr·β(θ − θ_ref) (l2lib's (β/2)‖θ − θ_ref‖²,
    the paper's β_paper‖θ − θ_ref‖² with β_paper = β/2): two steps (one epoch of two
    minibatches) give θ_ref + (1 − lr·β)²(θ − θ_ref)."""
    model = tiny_mlp([0, 1])
    theta0 = pf.params_of(model)
    ref = random_params(model, 3)
    betas, lr = [0.3], 0.05

    def no_error(m, xb, yb):
        return sum(p.reshape(m.n_members, -1).sum(dim=1) for p in m.parameters()) * 0.0

    config = train.TrainConfig(optimizer="sgd", lr=lr, batch_size=digits.n_train - 1,
                               max_epochs=1)
    path = pf.find_path(model, digits.x_train, digits.y_train, ref, betas, config=config,
                        error_fn=no_error)
    assert path.grad_evals.tolist() == [2, 2]
    for name, p in theta0.items():
        expected = ref[name] + (1 - lr * betas[0]) ** 2 * (p - ref[name])
        torch.testing.assert_close(path.checkpoints[0][name], expected)
    assert pf.paper_beta(0.3) == pytest.approx(0.15)


def test_reference_equal_to_start_stays_put():
    well = saddles.DoubleWell(a=0.5, c=1.0)
    start = torch.as_tensor(well.minima, dtype=torch.float64)  # both minima, one per member
    model = saddles.PointEnsemble(start)
    x, y = saddles.point_data()
    path = pf.find_path(model, x, y, {"theta": start}, [0.0, 0.5, 2.0, 10.0], config=FULL_SGD,
                        error_fn=saddles.point_error(well))
    assert np.all(path.obs["dist_ref"] == 0) and np.all(path.obs["dist_start"] == 0)
    for point in path.checkpoints:
        torch.testing.assert_close(point["theta"], start, rtol=0, atol=0)


def left_branch(beta):
    """x of the minimum of (x² − 1)² + (β/2)(x − 1)² that continues x = −1 (a = 0)."""
    roots = np.roots([4.0, 0.0, beta - 4.0, -beta])  # 4x³ − 4x + β(x − 1) = 0
    real = np.sort(roots[np.abs(roots.imag) < 1e-9].real)
    return real[0] if real.size == 3 else np.nan


def test_double_well_path_jumps_at_the_spinodal_across_the_known_saddle():
    well = saddles.DoubleWell(a=0.0, c=1.0)
    model = saddles.PointEnsemble([[-1.0, 0.0]])
    x, y = saddles.point_data()
    betas = np.round(np.arange(0.05, 1.5, 0.1), 10)
    path = pf.find_path(model, x, y, {"theta": torch.tensor([[1.0, 0.0]], dtype=torch.float64)},
                        betas, config=FULL_SGD, error_fn=saddles.point_error(well))
    xs = np.array([c["theta"][0, 0].item() for c in path.checkpoints])
    # analytic spinodal: the left minimum exists for β < 1 (it vanishes at x = −1/2)
    left = betas < 1.0
    np.testing.assert_allclose(xs[left], [left_branch(b) for b in betas[left]], atol=1e-4)
    np.testing.assert_allclose(xs[~left], 1.0, atol=1e-4)
    # converged checkpoints are minima of E + (β/2)‖θ − θ_ref‖²: eig_min(∇²E) >= −β
    energy = lambda v: well(v[None])[0]  # noqa: E731
    mins = [torch.linalg.eigvalsh(curvature.dense_hessian(energy, c["theta"][0]))[0].item()
            for c in path.checkpoints]
    assert np.all(np.asarray(mins) >= -betas - 1e-6)
    # the saddle crossed by the jump: x = 0 with Hessian eigenvalues −4 and 2c
    jump = int(np.argmax(np.abs(np.diff(xs))))
    assert betas[jump] < 1.0 < betas[jump + 1]
    found = saddles.locate_saddle(energy, path.checkpoints[jump]["theta"][0],
                                  path.checkpoints[jump + 1]["theta"][0])
    np.testing.assert_allclose(found.theta.numpy(), well.saddle, atol=1e-8)
    np.testing.assert_allclose([found.eig_min, found.eig_max], well.saddle_eigenvalues, atol=1e-8)
    assert found.is_saddle and found.value == pytest.approx(1.0)


def test_saddle_search_leaves_the_segment_for_the_true_saddle():
    """With a curved valley (a ≠ 0) the straight segment between the minima misses the saddle
    by a; the search must still find (0, 0) and its eigenvalues (−4, 2c)."""
    well = saddles.DoubleWell(a=0.5, c=1.5)
    energy = lambda v: well(v[None])[0]  # noqa: E731
    a, b = (torch.as_tensor(m, dtype=torch.float64) for m in well.minima)
    found = saddles.locate_saddle(energy, a, b)
    assert found.segment_max == pytest.approx(1 + well.c * well.a**2)  # E(0, a)
    np.testing.assert_allclose(found.theta.numpy(), well.saddle, atol=1e-8)
    np.testing.assert_allclose([found.eig_min, found.eig_max], well.saddle_eigenvalues, atol=1e-8)
    assert found.grad_norm < 1e-8


def test_path_is_stored_and_resumes_without_training(digits, tmp_path):
    calls = []

    def counted(m, xb, yb):
        calls.append(1)
        return train.member_error(m(xb), yb, "cross_entropy")

    config = train.TrainConfig(batch_size=256, max_epochs=4, patience=2)
    start = tiny_mlp([3])
    ref = pf.params_of(tiny_mlp([4]))
    kwargs = dict(config=config, error_fn=counted, store_root=tmp_path, key={"test": 1})
    first = pf.find_path(start, digits.x_train, digits.y_train, ref, [0.0, 0.01, 0.1], **kwargs)
    # one gradient evaluation per optimiser step: 6 minibatches of 256 per epoch
    assert first.steps_per_epoch == math.ceil(digits.n_train / 256) == 6
    assert len(calls) == first.grad_evals[0] == first.obs["epochs"].sum() * 6
    calls.clear()
    again = pf.find_path(tiny_mlp([3]), digits.x_train, digits.y_train, ref, [0.0, 0.01, 0.1],
                         **kwargs)
    assert not calls and again.wall_s == first.wall_s
    for c1, c2 in zip(first.checkpoints, again.checkpoints, strict=True):
        for name in c1:
            torch.testing.assert_close(c1[name], c2[name], rtol=0, atol=0)


def test_path_distances_and_arrival():
    well = saddles.DoubleWell(a=0.0, c=1.0)
    model = saddles.PointEnsemble([[-1.0, 0.0]])
    x, y = saddles.point_data()
    ref = {"theta": torch.tensor([[-1.0, 0.3]], dtype=torch.float64)}
    betas = np.geomspace(0.1, 10, 9)  # lr·(2c + β) < 2: plain gradient descent is stable
    path = pf.find_path(model, x, y, ref, betas, config=FULL_SGD,
                        error_fn=saddles.point_error(well))
    # along y the landscape is c·y², so the minimiser is y = β·0.3/(2c + β)
    ys = np.array([c["theta"][0, 1].item() for c in path.checkpoints])
    np.testing.assert_allclose(ys, betas * 0.3 / (2 + betas), atol=1e-5)
    np.testing.assert_allclose(path.obs["dist_ref"][:, 0], 0.3 - ys, atol=1e-5)
    # within 30 % of the initial distance once 2c/(2c + β) <= 0.3, i.e. β >= 14/3
    assert path.arrival(0.3)[0] == pytest.approx(betas[betas >= 14 / 3][0])
    assert np.isnan(path.arrival(0.01)[0])  # never that close on this grid


# --------------------------------------------------------------------------------------------
# Evaluation along paths


def test_evaluate_points_agrees_with_the_model(digits):
    model = tiny_mlp([0, 1, 2])
    train.train(model, digits.x_train, digits.y_train, lam=0.0,
                config=train.TrainConfig(batch_size=None, max_epochs=20))
    here = pf.params_of(model)
    other = random_params(model, 1)
    ev = pf.evaluate_points(model, [here], digits, start=here, end=other)
    np.testing.assert_allclose(ev["train_loss"][0],
                               measure.error(model, digits.x_train, digits.y_train,
                                             "cross_entropy"), rtol=1e-12)
    np.testing.assert_allclose(ev["test_acc"][0],
                               measure.accuracy(model, digits.x_test, digits.y_test))
    np.testing.assert_allclose(ev["class_acc"][0], measure.class_accuracy(
        model, digits.x_test, digits.y_test, 10))
    assert np.all(ev["dist_start"] == 0)
    np.testing.assert_allclose(ev["dist_end"][0], pf.distance(here, other))


def test_hessian_extremes_match_the_dense_spectrum(digits):
    model = models.mlp(64, [3], 10, activation="sigmoid", seeds=[0, 1], dtype=torch.float64)
    x, y = digits.x_train[:200], digits.y_train[:200]
    got = pf.hessian_extremes(model, pf.params_of(model), x, y, tol=1e-10)
    for member in range(2):
        fn, theta = curvature.member_objective(model, member, x, y, "cross_entropy")
        spectrum = torch.linalg.eigvalsh(curvature.dense_hessian(fn, theta))
        np.testing.assert_allclose(got[member], [spectrum[0], spectrum[-1]], rtol=1e-6,
                                   atol=1e-9)


# --------------------------------------------------------------------------------------------
# Baselines


def test_linear_interpolation_returns_the_ends_exactly():
    model = tiny_mlp([0, 1])
    a, b = random_params(model, 0), random_params(model, 1)
    for name in a:
        assert torch.equal(connect.linear_point(a, b, 0.0)[name], a[name])
        assert torch.equal(connect.linear_point(a, b, 1.0)[name], b[name])
    # a Bezier curve bent at the midpoint is the straight line
    mid = {n: 0.5 * (a[n] + b[n]) for n in a}
    for t in (0.1, 0.5, 0.77):
        for name in a:
            torch.testing.assert_close(connect.bezier_point(a, mid, b, t)[name],
                                       connect.linear_point(a, b, t)[name])
    # the polygonal line passes through its points, with positions counting them
    pts, where = connect.polyline([a, mid, b], per_segment=4)
    assert len(pts) == 9 and np.allclose(where, np.arange(9) / 4)
    for i, p in ((0, a), (4, mid), (8, b)):
        assert all(torch.equal(pts[i][n], p[n]) for n in a)
    np.testing.assert_allclose(connect.arc_length(pts)[-1], pf.distance(a, b), rtol=1e-12)


def test_bezier_curve_between_minima_of_a_convex_problem_has_zero_barrier():
    """Underdetermined least squares: the minima form an affine set, E(φ(t)) along a Bezier
    curve is 4t²(1 − t)²‖Xθ_b − y‖²/N, so trained bends reach zero barrier."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(8, 20, generator=gen, dtype=torch.float64)
    y = torch.randn(8, 1, generator=gen, dtype=torch.float64)
    ends = models.mlp(20, [], 1, activation="linear", bias=False, seeds=[0, 1],
                      init_scale=5.0, dtype=torch.float64)  # far-apart starts, far-apart minima
    train.train(ends, x, y, lam=0.0, config=train.TrainConfig(
        loss="mse", optimizer="sgd", lr=0.05, batch_size=None, max_epochs=20000, patience=20,
        min_delta=1e-12))
    pair = pf.params_of(ends)
    start, end = pf.select_members(pair, [0]), pf.select_members(pair, [1])
    template = models.mlp(20, [], 1, activation="linear", bias=False, seeds=[0],
                          dtype=torch.float64)
    assert pf.distance(start, end)[0] > 1.0  # two different minima

    def curve_losses(curve):
        points = curve.points(np.linspace(0, 1, 51))
        return np.array([[((pf.outputs_at(template, p, x)[0] - y) ** 2).sum(-1).mean().item()]
                         for p in points])

    bent = {n: 0.5 * (start[n] + end[n]) + 2.0 for n in start}
    before = curve_losses(connect.BezierCurve(template, start, end, bend=bent))
    assert connect.barrier(before)[0] > 1.0
    config = train.TrainConfig(loss="mse", optimizer="sgd", lr=0.1, batch_size=1,
                               max_epochs=2000, patience=20)
    curve, cost = connect.train_bezier(template, start, end, x, y, config=config, bend=bent)
    after = curve_losses(curve)
    assert abs(connect.barrier(after)[0]) < 1e-12 * connect.barrier(before)[0]
    assert after[[0, -1]].max() < 1e-8  # the ends are still the minima


def test_trained_bezier_cost_is_counted(digits, tmp_path):
    model = tiny_mlp([0, 1])
    a, b = random_params(model, 0), random_params(model, 1)
    config = train.TrainConfig(batch_size=512, max_epochs=3, patience=1)
    curve, cost = connect.train_bezier(model, a, b, digits.x_train, digits.y_train,
                                       config=config, store_root=tmp_path)
    assert cost.batch_size == 512 and np.all(cost.grad_evals == 3 * 3)
    again, cost2 = connect.train_bezier(model, a, b, digits.x_train, digits.y_train,
                                        config=config, store_root=tmp_path)
    assert cost2.wall_s == cost.wall_s
    for p, q in zip(curve.bend, again.bend, strict=True):
        assert torch.equal(p, q)
    for name in a:  # the ends of a trained curve are the given points
        torch.testing.assert_close(curve.point(0.0)[name], a[name], rtol=0, atol=0)
        torch.testing.assert_close(curve.point(1.0)[name], b[name], rtol=0, atol=0)


# --------------------------------------------------------------------------------------------
# Bad input


def test_bad_input_is_a_clear_error(digits):
    model = tiny_mlp([0])
    ref = random_params(model, 0)
    with pytest.raises(ValueError, match="strictly increasing"):
        pf.find_path(model, digits.x_train, digits.y_train, ref, [0.1, 0.0],
                     config=train.TrainConfig())
    with pytest.raises(ValueError, match="shape"):
        pf.find_path(model, digits.x_train, digits.y_train, random_params(tiny_mlp([0, 1]), 0),
                     [0.0], config=train.TrainConfig())
    with pytest.raises(ValueError, match="exactly the parameters"):
        pf.check_params(model, {"weights.0": ref["weights.0"]})
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        connect.linear_path(ref, ref, [0.0, 1.5])
    with pytest.raises(ValueError, match="two points"):
        connect.polyline([ref])
    with pytest.raises(ValueError, match="fraction"):
        pf.Path(np.zeros(1), {"dist_ref": np.zeros((1, 1))}, ref, ref, [ref], 1, 1).arrival(2.0)


# --------------------------------------------------------------------------------------------
# Chapter 5's reading of a path: jumps and the digits on either side


def test_switches_name_the_digits_lost_and_gained():
    """A synthetic path: ten digits recognised, then 5 and 8 are lost, then 2 and 9 are lost
    while 5 comes back (a switch with both sides named)."""
    from l2lib.experiments import pathfinder as connectivity

    n = 12
    recall = np.ones((n, 1, 10))
    recall[4:, 0, [5, 8]] = 0.0
    recall[8:, 0, [2, 9]] = 0.0
    recall[8:, 0, 5] = 1.0
    acc = recall.mean(axis=2)  # 100 % → 80 % → 70 %
    dist = np.linspace(10, 1, n)[:, None]
    obs = {"test_acc": acc, "class_acc": recall, "dist_ref": dist}
    params = {"w": torch.zeros(1, 1)}
    path = pf.Path(np.linspace(0, 0.1, n), obs, params, params, [params] * n, 1, 1)
    found = connectivity.path_regimes(path, 0, min_drop=0.05)
    jumps = connectivity.switches(path, 0, found)
    assert [(s.before, s.after) for s in jumps] == [(3, 4), (7, 8)]
    assert jumps[0].lost == (5, 8) and jumps[0].gained == () and jumps[0].is_switch
    assert jumps[1].lost == (2, 9) and jumps[1].gained == (5,)
    assert jumps[1].distance == (pytest.approx(dist[7, 0]), pytest.approx(dist[8, 0]))
    assert jumps[1].accuracy == (pytest.approx(0.8), pytest.approx(0.7))
    with pytest.raises(ValueError, match="no transition"):
        connectivity.reference_indices(connectivity.path_regimes(
            pf.Path(np.linspace(0, 0.1, n), {"test_acc": np.ones((n, 1)),
                                             "class_acc": np.ones((n, 1, 10)),
                                             "dist_ref": dist}, params, params, [params] * n,
                    1, 1), 0), 2)


def test_reference_indices_spread_over_the_transitions():
    from l2lib.experiments import pathfinder as connectivity

    class Found:
        indices = [10, 20, 30, 40, 50, 60]

    assert connectivity.reference_indices(Found, 3) == [0, 2, 5]
    assert connectivity.reference_indices(Found, 1) == [5]  # the deepest
    assert connectivity.reference_indices(Found, 10) == [0, 1, 2, 3, 4, 5]
