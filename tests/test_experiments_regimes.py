"""Chapter 3's machinery: staircase detection, digits lost per transition, the warm β sweep
(fresh optimiser per β, best weights restored, ensemble = separate seeds, checkpoints)."""

import copy

import numpy as np
import pytest
import torch

from l2lib.analysis import transitions
from l2lib.data import load_dataset
from l2lib.experiments import regimes
from l2lib.measure import observables as measure
from l2lib.models.mlp import mlp
from l2lib.train.loop import TrainConfig, train
from l2lib.train.sweep import SweepResult


def noisy_staircase(levels, starts, n=120, noise=0.008, seed=0):
    """Plateaus at ``levels`` starting at grid indices ``starts`` (the first at 0)."""
    lams = np.linspace(0, 0.1, n)
    y = np.empty(n)
    for level, a, b in zip(levels, starts, list(starts[1:]) + [n], strict=True):
        y[a:b] = level
    y = y - 0.05 * lams  # a slow drift inside the plateaus, as in real sweeps
    return lams, y + np.random.default_rng(seed).normal(0, noise, n)


def test_staircase_finds_each_drop_within_one_grid_step():
    levels, starts = [0.97, 0.77, 0.62, 0.38, 0.24, 0.10], [0, 30, 45, 70, 85, 100]
    lams, y = noisy_staircase(levels, starts)
    found = transitions.staircase(lams, y, min_drop=0.05)
    assert len(found.drops) == 5
    step = lams[1] - lams[0]
    for drop, start in zip(found.drops, starts[1:], strict=True):
        assert abs(drop.lam - 0.5 * (lams[start - 1] + lams[start])) <= step
        assert drop.index == start - 1  # the last point of the plateau before
    np.testing.assert_allclose([p.level for p in found.plateaus], levels, atol=0.01)
    assert [p.first for p in found.plateaus] == starts


def test_a_drop_spread_over_two_steps_is_one_transition_and_a_ramp_is_none():
    lams = np.linspace(0, 1, 40)
    y = np.where(lams < 0.5, 0.9, 0.3)
    y[20] = 0.6  # the fall takes two grid steps
    found = transitions.staircase(lams, y, min_drop=0.1)
    assert len(found.drops) == 1 and found.drops[0].size == pytest.approx(0.6)
    noisy = np.array([0.25, 0.27, 0.25, 0.28, 0.22, 0.24, 0.22, 0.21, 0.1, 0.1, 0.1])
    found = transitions.staircase(np.arange(11.0), noisy, min_drop=0.05)
    assert len(found.drops) == 1 and found.drops[0].lam == 7.5  # 0.28 → 0.22 is noise
    ramp = 0.9 - 0.8 * lams  # falls by 0.02 per step: a decline, not a transition
    assert transitions.staircase(lams, ramp, min_drop=0.05).drops == []
    with pytest.raises(ValueError, match="min_drop"):
        transitions.staircase(lams, y, min_drop=0)


def synthetic_sweep(lost_groups, drop_at, n=60, members=2):
    """Per-class accuracies that lose ``lost_groups[k]`` at grid index ``drop_at[k]``."""
    lams = np.linspace(0, 0.1, n)
    per_class = np.ones((n, members, 10))
    for group, index in zip(lost_groups, drop_at, strict=True):
        per_class[index:, :, list(group)] = 0.0
    per_class = per_class * 0.97
    obs = {"class_acc": per_class, "test_acc": per_class.mean(axis=2)}
    return SweepResult(lams, obs, "up")


def test_detect_regimes_names_the_digits_lost_at_each_transition():
    groups = [(5,), (8, 9), (2, 4, 6), (3, 1)]
    result = synthetic_sweep(groups, [10, 20, 35, 50])
    found = regimes.detect_regimes(result)
    assert found.lost == [sorted(g) for g in groups]
    assert found.indices == [9, 19, 34, 49]
    assert found.recognised[-1] == [0, 7]
    assert regimes.detect_regimes(result, member=1).lost == found.lost


def test_hessian_summaries_and_recovery_of_a_down_sweep():
    betas = np.array([0.0, 0.01, 0.02, 0.03, 0.04])
    mask = regimes.near_transitions(betas, [0.025], 0.006)
    assert mask.tolist() == [False, False, True, True, False]
    stats = regimes.negative_curvature_near_transitions(
        betas, np.array([-0.001, -0.002, -0.05, -0.04, -0.003]), [0.025], 0.006)
    assert stats["near"] == pytest.approx(-0.045) and stats["far"] == pytest.approx(-0.002)
    assert stats["concave"] == 3  # eig_min < -β at β = 0, 0.02 and 0.03
    down = SweepResult(betas[::-1], {"test_acc": np.array([[0.1], [0.1], [0.1], [0.5], [0.9]])},
                       "down")
    assert regimes.recovery_beta(down, 0.8) == 0.0
    assert regimes.recovery_beta(down, 0.4) == 0.01
    assert regimes.recovery_beta(down, 0.95) is None


def test_jump_contrast_sees_a_norm_that_jumps_with_the_accuracy():
    result = synthetic_sweep([(5,), (8, 9)], [10, 20])
    norm = np.linspace(10, 4, 60)[:, None].repeat(2, axis=1)
    norm[10:] -= 1.0  # jumps with the first transition
    result.obs["norm"] = norm
    found = regimes.detect_regimes(result)
    contrast = regimes.jump_contrast(result, found)
    assert contrast[0] > 5 and contrast[1] == pytest.approx(1.0)


def test_loss_order_agreement():
    paper = regimes.PAPER_MNIST["loss_order"]
    assert regimes.loss_order_agreement(paper) == pytest.approx(1.0)
    assert regimes.loss_order_agreement(paper[::-1]) < -0.9


@pytest.fixture(scope="module")
def tiny():
    data = load_dataset("digits", dtype=torch.float64, n_test=200)
    settings = regimes.regime_settings("smoke", hidden=(8,), beta_max=0.03, beta_step=0.01,
                                       hessian_every=2, hessian_probes=2)
    return data, settings


def test_fresh_optimiser_at_every_beta(tiny):
    """Training at β₂ after β₁ equals training at β₂ from the same weights by a model that never
    saw β₁: no optimiser state survives between points."""
    data, settings = tiny
    net = mlp(64, [8], 10, seeds=0, dtype=torch.float64)
    train(net, data.x_train, data.y_train, lam=0.01, config=settings.train)
    twin = copy.deepcopy(net)
    train(net, data.x_train, data.y_train, lam=0.02, config=settings.train)
    train(twin, data.x_train, data.y_train, lam=0.02, config=settings.train)
    for a, b in zip(net.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_minibatch_early_stopping_restores_the_best_epoch(tiny):
    """The weights kept after early stopping are those at the end of the best epoch: a run
    limited to that many epochs ends on the same weights."""
    data, _ = tiny
    config = TrainConfig(lr=0.05, batch_size=64, max_epochs=40, patience=2)
    net = mlp(64, [8], 10, seeds=1, dtype=torch.float64)
    start = copy.deepcopy(net)
    result = train(net, data.x_train, data.y_train, lam=0.05, config=config)
    assert result.stopped_early[0] and result.best_epoch[0] < result.epochs[0]
    limited = TrainConfig(lr=0.05, batch_size=64, max_epochs=int(result.best_epoch[0]),
                          patience=40)
    train(start, data.x_train, data.y_train, lam=0.05, config=limited)
    for a, b in zip(net.parameters(), start.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_ensemble_sweep_equals_separate_seed_sweeps(tiny, tmp_path):
    data, settings = tiny
    both = regimes.standard_sweep(data, settings, [0, 1], tmp_path, progress=False)
    for k, seed in enumerate([0, 1]):
        one = regimes.standard_sweep(data, settings, [seed], tmp_path, progress=False)
        for name in ("norm", "test_acc", "objective", "class_acc", "epochs"):
            np.testing.assert_allclose(both.result.obs[name][:, k], one.result.obs[name][:, 0],
                                       rtol=1e-9, atol=1e-12, err_msg=name)


def test_checkpoints_hold_the_observed_states_and_the_down_sweep_starts_at_the_top(
        tiny, tmp_path):
    data, settings = tiny
    up = regimes.standard_sweep(data, settings, [0], tmp_path, progress=False)
    for i in range(len(up.result.lams)):
        model = up.model_at(i)
        acc = measure.accuracy(model, data.x_test, data.y_test).numpy()
        np.testing.assert_allclose(acc, up.result.obs["test_acc"][i])
    assert np.isfinite(up.result.obs["eig_min"][::2, 0]).all()
    assert np.isnan(up.result.obs["eig_min"][1::2, 0]).all()  # measured every 2nd point only
    with pytest.raises(ValueError, match="start="):
        regimes.standard_sweep(data, settings, [0], tmp_path, direction="down")
    down = regimes.standard_sweep(data, settings, [0], tmp_path, direction="down", start=up,
                                  progress=False)
    assert down.result.lams[0] == up.result.lams[-1] and down.result.direction == "down"


@pytest.mark.parametrize("kwargs, match", [
    ({"profile": "fast"}, "unknown profile"),
    ({"profile": "quick", "depth": 3}, "unknown setting"),
    ({"profile": "quick", "beta_max": 0.0105, "beta_step": 1e-2}, "multiple"),
])
def test_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        regimes.regime_settings(**kwargs)
