"""Pathfinder (l2lib.train.pathfinder): the shifted-L2 warm sweep, its store, distances."""

import math

import numpy as np
import pytest
import torch

from l2lib.data import load_dataset
from l2lib.measure import saddles
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
    with pytest.raises(ValueError, match="fraction"):
        pf.Path(np.zeros(1), {"dist_ref": np.zeros((1, 1))}, ref, ref, [ref], 1, 1).arrival(2.0)
