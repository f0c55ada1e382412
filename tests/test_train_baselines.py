"""Mode-connectivity baselines (l2lib.train.baselines): straight line, Bezier curve, polyline."""

import numpy as np
import pytest
import torch

from l2lib.data import load_dataset
from l2lib.measure import observables as measure
from l2lib.models import flat
from l2lib.models import mlp as models
from l2lib.train import baselines as connect
from l2lib.train import loop as train

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
    np.testing.assert_allclose(connect.arc_length(pts)[-1], flat.distance(a, b), rtol=1e-12)


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
    pair = flat.params_of(ends)
    start, end = flat.select_members(pair, [0]), flat.select_members(pair, [1])
    template = models.mlp(20, [], 1, activation="linear", bias=False, seeds=[0],
                          dtype=torch.float64)
    assert flat.distance(start, end)[0] > 1.0  # two different minima

    def curve_losses(curve):
        points = curve.points(np.linspace(0, 1, 51))
        return np.array([[((measure.outputs_at(template, p, x)[0] - y) ** 2).sum(-1).mean().item()]
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


def test_bad_input_is_a_clear_error():
    ref = random_params(tiny_mlp([0]), 0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        connect.linear_path(ref, ref, [0.0, 1.5])
    with pytest.raises(ValueError, match="two points"):
        connect.polyline([ref])
