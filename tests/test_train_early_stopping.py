"""The authors' early stopping (training CE monitored, last epoch kept) in the training loop,
checked against a hand-written reference of their rule, alone and in an ensemble."""

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch

from l2lib.data import load_dataset
from l2lib.models.mlp import mlp
from l2lib.train import early_stopping
from l2lib.train.loop import TrainConfig, train
from l2lib.train.losses import member_error


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", dtype=torch.float64, n_train=300, n_test=100)


def reference_authors(net, x, y, lam, config, seed):
    """The authors' loop for one member: Adam, minibatches in the loop's order, CE monitor,
    patience, the last epoch's weights kept."""
    params = list(net.parameters())
    opt = torch.optim.Adam(params, lr=config.lr, fused=True)
    gen = torch.Generator().manual_seed(seed)
    best, wait, n = np.inf, 0, x.shape[0]
    for epoch in range(1, config.max_epochs + 1):
        order = torch.stack([torch.randperm(n, generator=gen)])
        total = 0.0
        for start in range(0, n, config.batch_size):
            idx = order[:, start : start + config.batch_size]
            error = member_error(net(x[idx]), y[idx], "cross_entropy")
            opt.zero_grad(set_to_none=True)
            error.sum().backward()
            with torch.no_grad():
                for p in params:
                    p.grad.add_(lam * p)
            opt.step()
            total += float(error.detach()[0]) * idx.shape[1]
        mean = total / n
        if mean < best:
            best, wait = mean, 0
        else:
            wait += 1
        if wait >= config.patience:
            return epoch
    return config.max_epochs


@pytest.mark.parametrize("lam, warm", [(0.0, False), (0.2, True)])
def test_authors_rule_keeps_the_last_epoch_of_their_loop(digits, lam, warm):
    config = TrainConfig(lr=0.01, batch_size=50, max_epochs=12, patience=2)
    net = mlp(64, [8], 10, seeds=3, dtype=torch.float64, activation="sigmoid")
    if warm:  # a minimum at small λ: at large λ the cross-entropy rises, the rule stops early
        train(net, digits.x_train, digits.y_train, lam=0.0, config=config)
    twin = copy.deepcopy(net)
    result = train(net, digits.x_train, digits.y_train, lam=lam,
                   config=early_stopping.loop_config(config, "authors"))
    epochs = reference_authors(twin, digits.x_train, digits.y_train, lam, config, seed=3)
    assert result.epochs[0] == result.best_epoch[0] == epochs
    if warm:
        assert epochs < config.max_epochs
    for a, b in zip(net.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_authors_rule_in_an_ensemble_whose_members_stop_at_different_epochs(digits):
    """Each member of a warm ensemble ends as its own run of the authors' loop, though the
    members stop at different epochs and leave the computation one by one."""
    config = TrainConfig(lr=0.01, batch_size=50, max_epochs=12, patience=2)
    seeds, lams = [3, 4, 5], [0.0, 0.01, 0.6]
    ens = mlp(64, [8], 10, seeds=seeds, dtype=torch.float64, activation="sigmoid")
    train(ens, digits.x_train, digits.y_train, lam=0.0, config=replace(config, max_epochs=3))
    twins = [ens.take([k]) for k in range(3)]
    result = train(ens, digits.x_train, digits.y_train, lam=lams,
                   config=early_stopping.loop_config(config, "authors"))
    epochs = [reference_authors(twin, digits.x_train, digits.y_train, lam, config, seed)
              for twin, lam, seed in zip(twins, lams, seeds, strict=True)]
    np.testing.assert_array_equal(result.epochs, epochs)
    assert len(set(epochs)) > 1, "the members should stop at different epochs"
    for k, twin in enumerate(twins):
        for a, b in zip(ens.parameters(), twin.parameters(), strict=True):
            torch.testing.assert_close(a[k], b[0], rtol=1e-10, atol=1e-12)


def test_objective_mode_is_the_loop_unchanged_and_bad_modes_are_named():
    config = TrainConfig()
    assert early_stopping.loop_config(config, "objective") is config
    authors = early_stopping.loop_config(config, "authors")
    assert (authors.monitor, authors.keep, authors.patience, authors.max_epochs) == \
        ("error", "last", config.patience, config.max_epochs)
    with pytest.raises(ValueError, match="early_stopping"):
        early_stopping.check_mode("best")
