"""Polishing a warm-started point with full-batch L-BFGS."""

import numpy as np
import pytest
import torch

from l2lib.measure import observables as measure
from l2lib.models.mlp import mlp
from l2lib.train.loop import TrainConfig, train
from l2lib.train.polish import polish, polishing


def test_polish_converges_what_early_stopping_left_unconverged():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 6, generator=g)
    y = torch.randint(0, 3, (128,), generator=g)
    net = mlp(6, [8, 8], 3, seeds=[0, 1], activation="tanh")  # 2 hidden layers, float32
    lam = 0.05
    config = TrainConfig(loss="cross_entropy", optimizer="sgd", lr=0.5, batch_size=None,
                         max_epochs=3000, patience=5, min_delta=1e-4)
    train(net, x, y, lam=lam, config=config)
    before = measure.stationarity(net, x, y, "cross_entropy", torch.tensor(lam))
    objective = float(measure.objective(net, x, y, "cross_entropy", torch.tensor([lam] * 2)).sum())
    after_value = polish(net, x, y, loss="cross_entropy", lam=lam, max_iter=300)
    after = measure.stationarity(net, x, y, "cross_entropy", torch.tensor(lam))
    assert before["residual"].max() > 0.05  # the early-stopping rule stops short
    assert after["residual"].max() < 0.05  # the chapters' tolerance (float32 limits it)
    assert after_value <= objective + 1e-6


def test_polishing_observer_polishes_before_observing():
    x = torch.randn(32, 3, dtype=torch.float64)
    y = torch.randint(0, 2, (32,))
    net = mlp(3, [4], 2, seeds=[0], dtype=torch.float64)
    seen = []
    observe = polishing(lambda m, lam: {"r": measure.stationarity(m, x, y, "cross_entropy",
                                                                  lam)["residual"]},
                        x, y, loss="cross_entropy", max_iter=200)
    seen.append(observe(net, torch.tensor([0.1], dtype=torch.float64))["r"])
    assert float(seen[0][0]) < 1e-6 and np.isfinite(float(seen[0][0]))
    with pytest.raises(ValueError, match="max_iter"):
        polish(net, x, y, loss="cross_entropy", lam=0.1, max_iter=0)
