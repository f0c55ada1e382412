"""l2lib.train.loop (and the ensemble models it trains): equivalence of batched and separate
training, the penalty's convention, early stopping, bad input, divergence."""

import copy

import numpy as np
import pytest
import torch

from l2lib.measure import observables as measure
from l2lib.models.mlp import EnsembleMLP, deep_linear, mlp
from l2lib.train import losses
from l2lib.train.loop import TrainConfig, train


def toy_classification(n=90, d=5, classes=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    return x, y % classes


def test_member_equals_single_model_with_its_seed():
    ens = mlp(5, [7, 6], 3, seeds=[11, 22, 33], dtype=torch.float64)
    single = mlp(5, [7, 6], 3, seeds=22, dtype=torch.float64)
    for p_ens, p_one in zip(ens.parameters(), single.parameters(), strict=True):
        torch.testing.assert_close(p_ens[1], p_one[0], rtol=0, atol=0)
    x, _ = toy_classification()
    torch.testing.assert_close(ens(x)[1], single(x)[0])


def test_end_to_end_map_of_a_deep_linear_net():
    net = deep_linear(4, 3, 2, 2, seeds=[0, 1])
    x = torch.randn(10, 4, dtype=torch.float64)
    torch.testing.assert_close(net(x), torch.matmul(x, net.end_to_end()))
    with pytest.raises(ValueError, match="deep linear"):
        mlp(4, [3], 2).end_to_end()


@pytest.mark.parametrize("batch_size, keep", [(16, "best"), (None, "best"), (16, "last"),
                                              (None, "last")])
def test_ensemble_training_equals_separate_trainings(batch_size, keep):
    """K members trained together = K runs of one member with the same seeds, including
    members that stop early at different epochs (and leave the computation) and have
    different λ."""
    x, y = toy_classification()
    seeds, lams = [3, 4, 5], [0.0, 0.05, 0.3]
    config = TrainConfig(lr=0.05, batch_size=batch_size, max_epochs=25, patience=3,
                         min_delta=1e-3, keep=keep)
    ens = mlp(5, [8], 3, seeds=seeds, dtype=torch.float64)
    result = train(ens, x, y, lam=lams, config=config)
    assert len(set(result.epochs.tolist())) > 1, "members should stop at different epochs"
    for k, (seed, lam) in enumerate(zip(seeds, lams, strict=True)):
        one = mlp(5, [8], 3, seeds=seed, dtype=torch.float64)
        res_one = train(one, x, y, lam=lam, config=config)
        assert res_one.epochs[0] == result.epochs[k]
        for p_ens, p_one in zip(ens.parameters(), one.parameters(), strict=True):
            torch.testing.assert_close(p_ens[k], p_one[0], rtol=1e-10, atol=1e-12)


def test_stopped_members_leave_the_computation():
    """After a member stops, the others are stepped as a smaller ensemble: the member-steps
    computed equal the sum of the members' own epochs (not K times the longest), also with a
    penalty centre, and the result equals training without that saving (a custom error)."""
    x, y = toy_classification()
    seeds, lams = [3, 4, 5], [0.0, 0.05, 0.3]
    config = TrainConfig(lr=0.05, batch_size=16, max_epochs=25, patience=3, min_delta=1e-3)
    ens = mlp(5, [8], 3, seeds=seeds, dtype=torch.float64)
    ref = [torch.randn_like(p) * 0.1 for p in ens.parameters()]
    twin = copy.deepcopy(ens)
    sizes = []
    ens.register_forward_hook(lambda module, args, out: sizes.append(out.shape[0]))
    result = train(ens, x, y, lam=lams, config=config, ref=ref)
    steps = -(-x.shape[0] // 16)
    assert len(set(result.epochs.tolist())) > 1, "members should stop at different epochs"
    assert sum(sizes) == result.epochs.sum() * steps < 3 * result.epochs.max() * steps

    def plain_error(model, xb, yb):  # a custom error: every member stays in the computation
        return losses.member_error(model(xb), yb, "cross_entropy")

    full = train(twin, x, y, lam=lams, config=config, ref=ref, error_fn=plain_error)
    np.testing.assert_array_equal(full.epochs, result.epochs)
    for a, b in zip(ens.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_take_copies_members_in_order():
    ens = mlp(5, [7], 3, seeds=[11, 22, 33], dtype=torch.float64)
    part = ens.take([2, 0])
    assert part.seeds == [33, 11] and part.n_members == 2
    x, _ = toy_classification(n=10)
    torch.testing.assert_close(part(x), ens(x)[[2, 0]], rtol=0, atol=0)
    with torch.no_grad():
        next(part.parameters()).add_(1.0)
    assert not torch.equal(part(x), ens(x)[[2, 0]])  # copies, not views
    with pytest.raises(ValueError, match="members must be indices"):
        ens.take([3])


def test_penalty_convention_is_half_lambda_norm_squared():
    """One plain gradient step equals a step on E + (λ/2)‖θ − θ_ref‖² computed by autograd."""
    x, y = toy_classification(n=20)
    lam, lr = 0.7, 0.1
    net = mlp(5, [4], 3, seeds=1, dtype=torch.float64)
    ref = [torch.randn_like(p) for p in net.parameters()]
    expected = copy.deepcopy(net)
    params = list(expected.parameters())
    loss = losses.member_error(expected(x), y, "cross_entropy").sum()
    loss = loss + 0.5 * lam * sum(((p - r) ** 2).sum() for p, r in zip(params, ref, strict=True))
    grads = torch.autograd.grad(loss, params)
    # two full-batch epochs keep the weights after the first step (the last ones monitored)
    config = TrainConfig(optimizer="sgd", lr=lr, batch_size=None, max_epochs=2, patience=5)
    train(net, x, y, lam=lam, config=config, ref=ref)
    for p, g, p0 in zip(net.parameters(), grads, params, strict=True):
        torch.testing.assert_close(p, p0 - lr * g)
    assert losses.penalty(params, torch.tensor([lam], dtype=torch.float64), ref).item() == \
        pytest.approx(0.5 * lam * sum(((p - r) ** 2).sum().item()
                                      for p, r in zip(params, ref, strict=True)))


def test_full_batch_early_stopping_restores_the_best_weights_exactly():
    """With a learning rate so large that the loss blows up, the weights kept are those whose
    monitored objective was the smallest."""
    x, y = toy_classification()
    net = mlp(5, [8], 3, seeds=0, dtype=torch.float64)
    config = TrainConfig(optimizer="sgd", lr=50.0, batch_size=None, max_epochs=40, patience=4)
    lam = torch.tensor([0.01], dtype=torch.float64)
    result = train(net, x, y, lam=lam, config=config)
    assert result.stopped_early[0]
    final = measure.objective(net, x, y, "cross_entropy", lam).item()
    assert final == pytest.approx(result.best_loss[0], rel=1e-12)


def test_training_reduces_the_objective_and_stops():
    x, y = toy_classification()
    net = mlp(5, [16], 3, seeds=[0, 1])
    x32 = x.float()
    lam = torch.tensor([1e-3, 1e-3])
    before = measure.objective(net, x32, y, "cross_entropy", lam)
    result = train(net, x32, y, lam=lam, config=TrainConfig(lr=1e-2, batch_size=30,
                                                            max_epochs=200, patience=5,
                                                            min_delta=1e-2))
    after = measure.objective(net, x32, y, "cross_entropy", lam)
    assert torch.all(after < 0.7 * before)
    assert measure.accuracy(net, x32, y).min() > 0.85
    assert result.stopped_early.all() and np.all(result.epochs < 200)


@pytest.mark.parametrize("kwargs,match", [
    ({"loss": "hinge"}, "unknown loss"),
    ({"optimizer": "lbfgs"}, "unknown optimizer"),
    ({"lr": -1.0}, "lr"),
    ({"batch_size": 0}, "batch_size"),
    ({"monitor": "accuracy"}, "monitor"),
    ({"keep": "first"}, "unknown keep 'first'"),
    ({"lr": float("inf")}, "lr must be positive and finite"),
    ({"lr": "0.5"}, r"lr must be a number, got '0.5' \(str\); write e.g. lr = 0.5"),
    ({"max_epochs": 2.5}, "max_epochs must be an integer"),
    ({"batch_size": "64"}, "batch_size must be an integer"),
    ({"loss": 3}, "loss must be a string"),
])
def test_bad_train_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_bad_training_input():
    x, y = toy_classification()
    net = mlp(5, [4], 3, seeds=[0, 1], dtype=torch.float64)
    with pytest.raises(ValueError, match="non-negative"):
        train(net, x, y, lam=-0.1, config=TrainConfig())
    with pytest.raises(ValueError, match="one entry per member"):
        train(net, x, y, lam=[0.1, 0.2, 0.3], config=TrainConfig())
    with pytest.raises(ValueError, match=r"x must have shape \(N, 5\)"):
        train(net, x[:, :4], y, lam=0.1, config=TrainConfig())
    with pytest.raises(ValueError, match="number of samples"):
        train(net, x, y[:-1], lam=0.1, config=TrainConfig())
    with pytest.raises(ValueError, match="expected inputs of shape"):
        net(torch.randn(3, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="unknown activation"):
        EnsembleMLP([5, 3], activation="swish")
    with pytest.raises(ValueError, match="seeds"):
        EnsembleMLP([5, 3], seeds=[])


def test_mismatched_seeds_and_targets_are_errors():
    net = mlp(5, [4], 3, seeds=[0, 1], dtype=torch.float64)
    with pytest.raises(ValueError, match="one seed per member"):
        net.perturb_(0.1, [7])
    with pytest.raises(ValueError, match="need one output"):
        losses.member_error(net(torch.zeros(4, 5, dtype=torch.float64)), torch.zeros(4), "mse")


def test_infinite_targets_and_diverging_members_are_errors_naming_the_member():
    from l2lib.train.loop import DivergenceError

    x, y = toy_classification()
    net = mlp(5, [4], 3, seeds=[0, 1], dtype=torch.float64)
    with pytest.raises(ValueError, match="inputs x contain 5 NaN"):
        train(net, torch.where(torch.arange(90)[:, None] == 3, torch.nan, x), y, lam=0.0,
              config=TrainConfig())
    with pytest.raises(DivergenceError, match=r"member 0 \(seed 0, λ = 0.01\).*lower the learn"):
        train(net, x, y, lam=[0.01, 0.02], config=TrainConfig(optimizer="sgd", lr=1e6,
                                                              batch_size=None))
