"""Observables of a trained ensemble: the stationarity residual of the regularised loss."""

import numpy as np
import pytest
import torch

from l2lib.measure import observables as measure
from l2lib.models.mlp import deep_linear, mlp
from l2lib.train.polish import polish


def data(n=64, d=4, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x, torch.randint(0, classes, (n,), generator=g)


def test_residual_is_small_at_a_minimum_and_large_away_from_it():
    x, y = data()
    net = mlp(4, [5], 3, seeds=[0, 1], activation="tanh", dtype=torch.float64)
    lam = torch.tensor([0.05, 0.2], dtype=torch.float64)
    before = measure.stationarity(net, x, y, "cross_entropy", lam)
    polish(net, x, y, loss="cross_entropy", lam=lam, max_iter=500)
    after = measure.stationarity(net, x, y, "cross_entropy", lam)
    assert before["residual"].min() > 0.1  # negative control: a random initialisation
    assert after["residual"].max() < 1e-5 and after["grad_reg"].max() < 1e-6
    ok = measure.converged(after["residual"].numpy(), after["grad_reg"].numpy(), 0.05, 0.0)
    assert ok.all()
    assert not measure.converged(before["residual"].numpy(), before["grad_reg"].numpy(), 0.05,
                                 0.0).any()


def test_residual_matches_a_hand_computed_gradient():
    x, _ = data(d=3)
    y = x @ torch.tensor([[1.0], [0.5], [-0.2]], dtype=torch.float64)
    net = deep_linear(3, 3, 1, 1, seeds=[0])
    lam = torch.tensor([0.3], dtype=torch.float64)
    params = list(net.parameters())
    err = ((net(x)[0] - y) ** 2).sum(dim=1).mean()
    grads = torch.autograd.grad(err, params)
    g = torch.cat([(gi[0] + 0.3 * p[0]).detach().reshape(-1)
                   for gi, p in zip(grads, params, strict=True)])
    pull = torch.cat([(0.3 * p[0]).detach().reshape(-1) for p in params])
    out = measure.stationarity(net, x, y, "mse", lam)
    assert float(out["grad_reg"][0]) == pytest.approx(float(g.norm()), rel=1e-10)
    assert float(out["residual"][0]) == pytest.approx(float(g.norm() / pull.norm()), rel=1e-10)


def test_at_zero_strength_the_relative_residual_is_infinite():
    x, y = data()
    net = mlp(4, [5], 3, seeds=[0], dtype=torch.float64)
    out = measure.stationarity(net, x, y, "cross_entropy", torch.zeros(1, dtype=torch.float64))
    assert np.isinf(float(out["residual"][0])) and float(out["grad_reg"][0]) > 0
    with pytest.raises(ValueError, match="rtol"):
        measure.converged(np.ones(2), np.ones(2), 0.0, 0.0)
