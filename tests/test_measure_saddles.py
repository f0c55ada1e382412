"""Saddles (l2lib.measure.saddles): toy landscapes, the saddle search, lowest modes on path
steps; and the measurements along paths chapter 5 relies on (evaluate_points, hessian_extremes)."""


import numpy as np
import pytest
import torch

from l2lib.data import load_dataset
from l2lib.measure import curvature, saddles
from l2lib.measure import observables as measure
from l2lib.models import flat
from l2lib.models import mlp as models
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


# --------------------------------------------------------------------------------------------
# Evaluation along paths


def test_evaluate_points_agrees_with_the_model(digits):
    model = tiny_mlp([0, 1, 2])
    train.train(model, digits.x_train, digits.y_train, lam=0.0,
                config=train.TrainConfig(batch_size=None, max_epochs=20))
    here = flat.params_of(model)
    other = random_params(model, 1)
    ev = measure.evaluate_points(model, [here], digits, start=here, end=other)
    np.testing.assert_allclose(ev["train_loss"][0],
                               measure.error(model, digits.x_train, digits.y_train,
                                             "cross_entropy"), rtol=1e-12)
    np.testing.assert_allclose(ev["test_acc"][0],
                               measure.accuracy(model, digits.x_test, digits.y_test))
    np.testing.assert_allclose(ev["class_acc"][0], measure.class_accuracy(
        model, digits.x_test, digits.y_test, 10))
    assert np.all(ev["dist_start"] == 0)
    np.testing.assert_allclose(ev["dist_end"][0], flat.distance(here, other))


def test_hessian_extremes_match_the_dense_spectrum(digits):
    model = models.mlp(64, [3], 10, activation="sigmoid", seeds=[0, 1], dtype=torch.float64)
    x, y = digits.x_train[:200], digits.y_train[:200]
    got = curvature.hessian_extremes(model, flat.params_of(model), x, y, tol=1e-10)
    for member in range(2):
        fn, theta = curvature.member_objective(model, member, x, y, "cross_entropy")
        spectrum = torch.linalg.eigvalsh(curvature.dense_hessian(fn, theta))
        np.testing.assert_allclose(got[member], [spectrum[0], spectrum[-1]], rtol=1e-6,
                                   atol=1e-9)


# --------------------------------------------------------------------------------------------
# Lowest modes on the steps of a path


def test_scan_finds_the_saddle_on_a_jump_step_and_none_on_a_control():
    """On the double well the step from the left to the right well crosses the concave region
    round the saddle (∂²E/∂x² = −4 at x = 0) along x; a step inside the left well and any step
    of a convex bowl show no saddle of L."""
    well = saddles.DoubleWell(a=0.0, c=1.0)
    fn = lambda v: well(v[None])[0]  # noqa: E731
    jump = saddles.scan_segment(fn, torch.tensor([-0.5, 0.0], dtype=torch.float64),
                                torch.tensor([0.9, 0.0], dtype=torch.float64), beta=1.0,
                                positions=(0.0, 0.5))
    mid = jump[1]  # x = 0.2: ∂²E/∂x² = 12·0.04 − 4 = −3.52, eigenvector along x = the step
    assert mid.eig == pytest.approx(-3.52) and mid.eig_loss == pytest.approx(-2.52)
    assert mid.overlap == pytest.approx(1.0) and mid.shows_saddle(0.5)
    assert not jump[0].shows_saddle(0.5)  # at x = −0.5 L = E + (1/2)‖·‖² is flat, not concave
    inside = saddles.scan_segment(fn, torch.tensor([-1.0, 0.0], dtype=torch.float64),
                                  torch.tensor([-0.8, 0.1], dtype=torch.float64), beta=0.1,
                                  positions=(0.0, 0.5, 1.0))
    assert not any(m.shows_saddle(0.0) for m in inside)
    bowl = saddles.Bowl()
    fb = lambda v: bowl(v[None])[0]  # noqa: E731
    assert not any(m.shows_saddle(0.0) for m in saddles.scan_segment(
        fb, torch.tensor([0.0, 0.0], dtype=torch.float64),
        torch.tensor([2.0, 1.0], dtype=torch.float64), beta=0.0, positions=(0.0, 0.5, 1.0)))
    # a concave direction orthogonal to the step does not count
    side = saddles.lowest_mode(fn, torch.tensor([0.0, 0.0], dtype=torch.float64),
                               torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert side.eig == pytest.approx(-4.0) and side.overlap == pytest.approx(0.0, abs=1e-12)
    assert not side.shows_saddle(0.1)


def test_jump_steps_on_toy_paths():
    well = saddles.DoubleWell(a=0.0, c=1.0)
    betas = np.array([0.3, 0.6, 0.9, 1.2, 1.5, 1.8])
    points = np.array([c["theta"][0].numpy()
                       for c in saddles.double_well_path(well, betas).checkpoints])
    assert saddles.jump_steps(points) == [int(np.argmax(np.diff(points[:, 0])))]
    bowl_path = saddles.point_path(saddles.Bowl(), (0.0, 0.0), (2.0, 1.0), betas)
    assert saddles.jump_steps([c["theta"][0].numpy() for c in bowl_path.checkpoints]) == []
    with pytest.raises(ValueError, match="three points"):
        saddles.jump_steps(points[:2])


def test_lowest_mode_by_lanczos_matches_the_dense_spectrum(digits):
    model = models.mlp(64, [2], 10, activation="sigmoid", seeds=[0], dtype=torch.float64)
    fn, theta = curvature.member_objective(model, 0, digits.x_train[:100], digits.y_train[:100],
                                           "cross_entropy")
    assert theta.numel() > 64  # the Lanczos branch
    direction = torch.randn(theta.shape, generator=torch.Generator().manual_seed(0),
                            dtype=torch.float64)
    mode = saddles.lowest_mode(fn, theta, direction, beta=0.01, tol=1e-10)
    vals, vecs = torch.linalg.eigh(curvature.dense_hessian(fn, theta))
    assert mode.eig == pytest.approx(float(vals[0]), rel=1e-6, abs=1e-9)
    assert mode.eig_loss == pytest.approx(float(vals[0]) + 0.01, rel=1e-6, abs=1e-9)
    expected = abs(float(vecs[:, 0] @ direction)) / float(direction.norm())
    assert mode.overlap == pytest.approx(expected, rel=1e-4, abs=1e-6)
