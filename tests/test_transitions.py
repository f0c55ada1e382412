"""Locating and classifying transitions on curves of known order."""

import numpy as np
import pytest

from l2lib.analysis import theory, transitions


def test_kink_is_second_order_and_extrapolates_to_the_critical_point():
    lams = np.linspace(0, 3, 31)
    phi = theory.order_parameter(lams, 1.0, 1.0, 1)
    found = transitions.classify_transition(lams, phi)
    assert found.order == "second"
    assert found.lam_c == pytest.approx(2.0, rel=1e-9)


@pytest.mark.parametrize("depth", [2, 3])
def test_theory_curves_of_deep_nets_are_first_order(depth):
    lam_s = theory.spinodal_lambda(1.0, 1.0, depth)
    lams = np.linspace(0, 1.3 * lam_s, 40)
    for branch in ("global", "learning"):
        phi = np.nan_to_num(theory.order_parameter(lams, 1.0, 1.0, depth, branch))
        found = transitions.classify_transition(lams, phi)
        assert found.order == "first", branch
    lam_c = theory.critical_lambda(1.0, 1.0, depth)
    phi = theory.order_parameter(lams, 1.0, 1.0, depth)
    found = transitions.classify_transition(lams, phi)
    assert lams[found.index] < lam_c <= lams[found.index + 1]


def test_smooth_steep_decay_is_not_a_jump():
    lams = np.linspace(0, 1, 41)
    phi = 1 / (1 + np.exp((lams - 0.5) / 0.08))  # smooth on the grid's scale
    assert transitions.classify_transition(lams, phi).order == "second"


def test_coarse_grid_is_unresolved_rather_than_guessed():
    lams = np.linspace(0, 3, 8)
    found = transitions.classify_transition(lams, theory.order_parameter(lams, 1.0, 1.0, 1))
    assert found.order == "unresolved" and np.isnan(found.lam_c)


def test_branch_crossing_recovers_the_theoretical_critical_point():
    m, a, depth, ey2 = 1.0, 1.0, 2, 1.5
    lams = np.linspace(0, 1.2 * theory.spinodal_lambda(m, a, depth), 60)
    learning = theory.minimum_loss(lams, m, a, depth, ey2, branch="learning")
    learning = np.where(np.isnan(learning), ey2, learning)  # the jump onto the trivial branch
    trivial = np.full_like(lams, ey2)
    lam_c = transitions.branch_crossing(lams, learning, trivial)
    assert lam_c == pytest.approx(theory.critical_lambda(m, a, depth), rel=2e-3)


def test_branch_crossing_refuses_when_no_metastable_segment_is_resolved():
    lams = np.linspace(0, 1, 10)
    with pytest.raises(ValueError, match="do not cross"):
        transitions.branch_crossing(lams, np.where(lams < 0.5, 0.0, 1.0), np.ones(10))


def test_hysteresis_width():
    lams = np.linspace(0, 1, 11)
    up = np.where(lams <= 0.7, 1.0, 0.0)
    down = np.where(lams <= 0.3, 1.0, 0.0)
    assert transitions.hysteresis_width(lams, up, down) == pytest.approx(0.3)
    assert transitions.hysteresis_width(lams, up, up) == 0.0


@pytest.mark.parametrize("lams,phi,match", [
    ([0, 2, 1, 3], [1, 1, 0, 0], "increasing"),
    ([0, 1, 2, 3], [1, np.nan, 0, 0], "NaN"),
    ([0, 1, 2], [1, 0, 0], "at least 4"),
    ([0, 1, 2, 3], [1, 0, 0], "equal length"),
])
def test_bad_curves_are_rejected(lams, phi, match):
    with pytest.raises(ValueError, match=match):
        transitions.classify_transition(lams, phi)


@pytest.mark.parametrize("grid", ["uniform", "log"])
def test_change_points_of_steps_and_kinks(grid):
    lams = np.linspace(0.01, 1, 60) if grid == "uniform" else np.geomspace(1e-3, 1, 60)
    rng = np.random.default_rng(0)
    noise = 0.01 * rng.standard_normal(lams.size)
    for true in ([0.3], [0.2, 0.6]):
        step = np.searchsorted(true, lams).astype(float) + noise
        found = transitions.change_points(lams, step, kind="step", n_breaks=len(true))
        for t, f in zip(true, found, strict=True):
            i = np.searchsorted(lams, t)
            assert lams[i - 1] <= f <= lams[i], (t, f)
    kink = np.maximum(0.0, 0.4 - lams) + noise * 0.1  # slope change at λ = 0.4
    found = transitions.change_points(lams, kink, kind="kink", n_breaks=1)
    i = np.searchsorted(lams, 0.4)
    assert lams[i - 2] <= found[0] <= lams[i + 1]
    by_penalty = transitions.change_points(lams, np.searchsorted([0.3], lams) + noise,
                                           kind="step", penalty=0.5)
    assert by_penalty.size == 1


def test_bootstrap_interval_covers_the_change_point():
    lams = np.linspace(0, 1, 40)
    rng = np.random.default_rng(1)
    signals = (lams > 0.5).astype(float) + 0.2 * rng.standard_normal((5, lams.size))
    (estimate, lower, upper), = transitions.bootstrap_change_points(lams, signals, n_breaks=1,
                                                                    n_boot=50)
    assert lower <= estimate <= upper and lower <= 0.51 and upper >= 0.49
    assert upper - lower < 0.2


def test_change_point_arguments_are_checked():
    lams = np.linspace(0, 1, 10)
    with pytest.raises(ValueError, match="exactly one"):
        transitions.change_points(lams, lams, n_breaks=1, penalty=1.0)
    with pytest.raises(ValueError, match="kind"):
        transitions.change_points(lams, lams, kind="wiggle", n_breaks=1)
    with pytest.raises(ValueError, match="cannot place"):
        transitions.change_points(lams, lams, n_breaks=6)
