"""Chapter 4's analysis: the penalised change-point detector, the surrogates, the coincidence
test (small p on a planted relation, large p without one, also when the old one-grid-step rule
would have matched everything), sharp drops and total collapse."""

import numpy as np
import pytest

from l2lib.analysis import collapse
from l2lib.train.sweep import SweepResult

N = 34  # the quick profile's grid


def rng(seed):
    return np.random.default_rng(seed)


def kinked(positions, n=N, noise=0.02, seed=0, slope=0.3):
    """A log-scale signal with changes of slope (± slope per grid step) at ``positions``."""
    x = np.arange(n, dtype=float)
    y = -0.05 * x
    for j, p in enumerate(positions):
        y += (slope if j % 2 == 0 else -slope) * np.clip(x - p, 0, None)
    return y + noise * rng(seed).standard_normal(n)


def stepped(positions, n=N, noise=0.005, seed=0, size=0.1):
    """A probe-like curve falling by ``size`` at each of ``positions``."""
    x = np.arange(n, dtype=float)
    y = 0.9 - sum(size * (x > p) for p in positions)
    return y + noise * rng(seed).standard_normal(n)


def test_the_detector_finds_planted_steps_and_kinks_without_being_told_how_many():
    np.testing.assert_allclose(collapse.detect(stepped([9.5, 22.5]), "step"), [9.5, 22.5])
    found = collapse.detect(kinked([10, 25], noise=0.01), "kink")
    assert len(found) == 2 and np.all(np.abs(found - [10, 25]) <= 1.5)
    assert collapse.detect(kinked([]), "kink").size == 0  # a straight line with noise
    assert collapse.noise_scale(np.zeros(N), "step") == 1.0
    with pytest.raises(ValueError, match="kind"):
        collapse.detect(np.zeros(N), "jump")
    with pytest.raises(ValueError, match=">= 8"):
        collapse.detect(np.zeros(5), "step")


@pytest.mark.parametrize("kind", ["step", "kink"])
def test_pure_noise_rarely_gets_a_break(kind):
    """The penalty's calibration: a spurious break in at most ~1 series of pure noise in 10."""
    found = [collapse.detect(rng(100 + i).standard_normal(N), kind).size for i in range(60)]
    assert np.mean(np.asarray(found) > 0) <= 0.12


def test_surrogates_keep_the_steps_and_kinks_but_move_them():
    y = kinked([10, 25])
    s = collapse.surrogate(y, 7, "kink")
    assert s[0] == y[0] and s[1] - s[0] == pytest.approx(y[1] - y[0])
    np.testing.assert_allclose(np.sort(np.diff(s, 2)), np.sort(np.diff(y, 2)), atol=1e-12)
    t = stepped([9.5])
    np.testing.assert_allclose(np.sort(np.diff(collapse.surrogate(t, 5, "step"))),
                               np.sort(np.diff(t)), atol=1e-12)
    np.testing.assert_allclose(collapse.shifted_points(np.array([0.5, 31.5]), 2, N),
                               [0.5, 2.5])  # interval 31 + 2 wraps to 0 of 33 intervals
    assert collapse.mean_nearest_distance([np.array([3.5])], [np.array([])], N) == N


def members(make, positions):
    return np.stack([make(p, seed=i) for i, p in enumerate(positions)], axis=1)


def planted_positions(seed, k=5):
    r = rng(seed)
    return [sorted(r.choice(np.arange(6, N - 6), 2, replace=False) + 0.5) for _ in range(k)]


def test_a_planted_relation_gives_a_small_p():
    pos = planted_positions(3)
    test = collapse.coincidence_test(members(stepped, pos),
                                     members(kinked, [np.asarray(p) - 0.5 for p in pos]),
                                     n_draws=300)
    assert test.n_targets == 10 and test.statistic <= 1.0
    assert test.p < 0.01 and test.p == max(test.p_shift, test.p_surrogate)
    assert test.null_shift > 3 * test.statistic


def test_unrelated_signals_give_large_p_values():
    """Null calibration: candidates whose kinks fall anywhere on the grid independently of the
    probe's steps; p is not small more often than it should be."""
    ps = []
    for i in range(8):
        targets = members(stepped, planted_positions(20 + i, k=2))
        kinks = [np.sort(rng(40 + 2 * i + j).choice(np.arange(2, N - 3), 2, replace=False))
                 for j in range(2)]
        ps.append(collapse.coincidence_test(targets, members(kinked, kinks), n_draws=200).p)
    assert sum(p < 0.05 for p in ps) <= 1 and np.median(ps) > 0.2


def test_a_candidate_with_kinks_everywhere_matches_every_step_but_is_not_significant():
    """Negative control for the old rule (matched = a change point within one grid step):
    a candidate with a kink every 3 grid steps matches every probe step, yet p is large."""
    pos = planted_positions(3)
    dense = members(kinked, [np.arange(2, N - 2, 3)] * 5)
    test = collapse.coincidence_test(members(stepped, pos), dense, n_draws=300)
    assert all(np.abs(t[:, None] - c[None, :]).min(axis=1).max() <= 1.0
               for t, c in zip(test.targets, test.candidates, strict=True))  # old rule: all
    assert test.p > 0.2


def sweep_of(obs, betas=None):
    betas = np.geomspace(1.0, 10.0, N) if betas is None else betas
    return SweepResult(betas, obs, "up")


def test_change_point_tests_check_the_sweep():
    y = members(stepped, planted_positions(3, k=2))
    obs = {"probe_z": y, "curvature": 10 ** (4 + y), "grad_norm": 1 + y}
    tests = collapse.change_point_tests(sweep_of(obs), candidates=("curvature",), n_draws=50)
    assert set(tests) == {"curvature"}
    with pytest.raises(ValueError, match="unknown signal"):
        collapse.change_point_tests(sweep_of(obs), candidates=("kl",))
    with pytest.raises(ValueError, match="uniform in log"):
        collapse.change_point_tests(sweep_of(obs, np.linspace(1.0, 10.0, N)))
    with pytest.raises(ValueError, match="ascending"):
        collapse.change_point_tests(sweep_of(obs, np.geomspace(10.0, 1.0, N)))


def test_sharp_drops_are_falls_beyond_the_noise_not_a_smooth_decline():
    assert collapse.sharp_drops(stepped([20.5])).tolist() == [20]
    ramp = 0.9 - 0.015 * np.arange(N) + 0.005 * rng(2).standard_normal(N)  # falls 0.5 overall
    assert collapse.sharp_drops(ramp).size == 0


def test_total_collapse_and_the_probe_beyond_it():
    units = np.stack([np.r_[np.full(20, 3), np.zeros(N - 20)], np.full(N, 1)], axis=1)
    probe = np.stack([np.r_[np.full(20, 0.9), np.full(N - 20, 0.1)], np.full(N, 0.5)], axis=1)
    sweep = sweep_of({"active_units": units, "probe_z": probe})
    np.testing.assert_allclose(collapse.total_collapse_beta(sweep), [sweep.betas[20], np.nan])
    assert collapse.mean_total_collapse_beta(sweep) == pytest.approx(sweep.betas[20])
    assert collapse.probe_after_collapse(sweep, "probe_z") == pytest.approx(0.1)
    assert collapse.unit_steps(units[:, 0]).tolist() == [19]


def test_the_curvature_formula_ratio_is_one_when_r_is_tr_h_squared_over_w_squared():
    obs = {"tr_h": np.array([10.0, 20.0]), "grad_norm": np.array([1.0, 3.0])}
    obs["curvature"] = obs["tr_h"] ** 2 / (1 + obs["grad_norm"] ** 2)
    np.testing.assert_allclose(collapse.curvature_formula_ratio(obs), [1.0, 1.0])
    obs["curvature"] = obs["curvature"] * 0.5
    np.testing.assert_allclose(collapse.curvature_formula_ratio(obs), [0.5, 0.5])
