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


def test_smooth_decay_is_neither_a_jump_nor_a_kink():
    # negative control: the previous rule (a straight-line fit) called both "second"
    lams = np.linspace(0, 1, 41)
    logistic = 1 / (1 + np.exp((lams - 0.5) / 0.08))  # smooth on the grid's scale
    exponential = np.exp(-lams / 0.3)
    for phi in (logistic, exponential):
        found = transitions.classify_transition(lams, phi)
        assert found.order == "none" and np.isnan(found.lam_c), found


def test_continuous_onset_with_noise_is_second_order():
    lams = np.linspace(0, 3, 31)
    rng = np.random.default_rng(3)
    phi = theory.order_parameter(lams, 1.0, 1.0, 1) + 1e-4 * rng.standard_normal(lams.size)
    found = transitions.classify_transition(lams, phi)
    assert found.order == "second" and found.lam_c == pytest.approx(2.0, rel=0.01)


def test_jump_is_first_order():
    lams = np.linspace(0, 1, 30)
    phi = np.where(lams < 0.62, 2.0 - lams, 0.0)
    found = transitions.classify_transition(lams, phi)
    assert found.order == "first" and lams[found.index] < 0.62 <= lams[found.index + 1]


def test_onset_at_the_grid_end_is_unresolved():
    lams = np.linspace(0, 2.05, 22)  # the kink at 2.0 leaves one point beyond it
    found = transitions.classify_transition(lams, theory.order_parameter(lams, 1.0, 1.0, 1))
    assert found.order == "unresolved" and "past the onset" in found.method


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


def test_loop_width_excludes_saddles_of_the_down_sweep():
    lams = np.linspace(0, 1, 11)
    up = np.where(lams <= 0.75, 1.0, 0.0)
    down = np.zeros_like(lams)  # the down sweep stays trivial
    # at λ <= 0.2 the trivial state is a saddle (negative smallest eigenvalue of L_λ)
    min_eig = np.where(lams <= 0.2, -0.05, 0.1 * lams)
    saddle = transitions.saddle_points(min_eig[:, None], tol=1e-6)
    assert saddle.tolist() == (lams <= 0.2).tolist()
    loop = transitions.hysteresis_loop(lams, up, down, exclude=saddle)
    assert loop.width == pytest.approx(0.4) and loop.lam_lo == pytest.approx(0.3)
    assert loop.lam_hi == pytest.approx(0.7) and loop.n_excluded_apart == 3
    # negative control: a "loop" made only of saddle points is no loop (the previous rule,
    # which counted every point where the branches differ, reported width 0.2)
    up_short = np.where(lams <= 0.25, 1.0, 0.0)
    assert transitions.hysteresis_width(lams, up_short, down) == pytest.approx(0.2)
    assert transitions.hysteresis_width(lams, up_short, down, exclude=saddle) == 0.0
    with pytest.raises(ValueError, match="one entry per grid point"):
        transitions.hysteresis_loop(lams, up, down, exclude=[True])


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


def kinked(lams: np.ndarray, kinks: list[tuple[float, float]], start: float = 5000.0,
           slope: float = -1000.0) -> np.ndarray:
    y = start + slope * lams
    for where, change in kinks:
        y = y + change * np.maximum(lams - where, 0.0)
    return y


def test_local_change_points_find_kinks_spanning_three_decades():
    lams = np.linspace(0, 4, 41)
    y = kinked(lams, [(1.0, 500.0), (2.0, 5.0), (3.0, 0.5)])  # slope changes 500, 5, 0.5
    found = transitions.local_change_points(lams, y)
    np.testing.assert_allclose(found.lams, [1.0, 2.0, 3.0], atol=0.1)
    # scale-free: the same kinks after multiplying the curve by 10⁻⁴ or shifting it
    again = transitions.local_change_points(lams, 1e-4 * y - 7.0)
    np.testing.assert_allclose(again.lams, found.lams, atol=0.01)


def test_local_change_points_find_a_jump_and_nothing_on_smooth_curves():
    lams = np.linspace(0, 4, 41)
    found = transitions.local_change_points(lams, (lams > 2.05) + 0.5 * lams)
    np.testing.assert_allclose(found.lams, [2.05])
    for smooth in (1000 * np.exp(-lams / 0.5) + 3 * np.sin(lams), 1 / (lams + 0.1),
                   50 * np.log1p(lams), 1 / (1 + np.exp((lams - 2) / 0.3))):
        assert transitions.local_change_points(lams, smooth).lams.size == 0
        # negative control: the previous rule (a given number of breaks) always reports some
        assert transitions.change_points(lams, smooth, kind="meanvar", n_breaks=1).size == 1


def test_local_change_points_with_noise_need_its_level():
    lams = np.linspace(0, 4, 41)
    rng = np.random.default_rng(0)
    sigma = 0.5
    smooth = 100 * np.exp(-lams / 2) + sigma * rng.standard_normal(lams.size)
    assert transitions.local_change_points(lams, smooth, noise=sigma).lams.size == 0
    kink = kinked(lams, [(2.0, 60.0)], 100.0, -30.0) + sigma * rng.standard_normal(lams.size)
    found = transitions.local_change_points(lams, kink, noise=sigma).lams
    np.testing.assert_allclose(found, [2.0], atol=0.15)


def test_local_change_point_arguments_are_checked():
    lams = np.linspace(0, 1, 10)
    with pytest.raises(ValueError, match="window"):
        transitions.local_change_points(lams, lams, window=2)
    with pytest.raises(ValueError, match="penalty"):
        transitions.local_change_points(lams, lams, penalty=1.0)
    with pytest.raises(ValueError, match="2·window"):
        transitions.local_change_points(lams[:6], lams[:6])
    assert transitions.nearest_offsets([], [1.0], 0.1)[0] == np.inf


def test_reach_says_where_noise_hides_any_break():
    lams = np.linspace(0, 4, 41)
    kink = kinked(lams, [(2.0, 5.0)], 100.0, -10.0)
    exact = transitions.local_change_points(lams, kink)
    assert exact.power_near(2.0, lams, 0.15, 4.0) and exact.lams.size == 1
    noisy = transitions.local_change_points(lams, kink, noise=50.0)  # σ ≫ the kink
    assert noisy.lams.size == 0 and not noisy.power_near(2.0, lams, 0.15, 4.0)


@pytest.mark.parametrize("n_points", [41, 80, 200, 500])
def test_a_kink_is_second_order_on_fine_grids_and_a_smooth_decay_stays_none(n_points):
    """Negative control of the previous rule, which compared slopes around the last point 5 %
    above min φ: on a fine grid that point lies several steps before a linear approach's kink,
    so chapter 1's 80-point reference sweep of D = 1 read as a smooth decay (slope ratio 0.88)."""
    lams = np.linspace(0, 2.6, n_points)
    found = transitions.classify_transition(lams, theory.order_parameter(lams, 1.0, 1.0, 1))
    assert found.order == "second" and found.lam_c == pytest.approx(2.0, rel=1e-9)
    lams = np.linspace(0, 1, n_points)
    for phi in (1 / (1 + np.exp((lams - 0.5) / 0.08)), np.exp(-lams / 0.3)):
        assert transitions.classify_transition(lams, phi).order == "none"


def test_the_slope_ratio_is_taken_at_the_kink_not_at_the_five_percent_level():
    lams = np.linspace(0, 2.6, 80)
    phi = theory.order_parameter(lams, 1.0, 1.0, 1)
    index = transitions.onset_step(phi)[0]
    assert phi[index + 3] > 0  # the 5 % point is more than two steps before the kink ...
    assert transitions.tail_slope_ratio(lams, phi, index) == pytest.approx(0.0, abs=1e-9)
    # ... and with the candidates stopped at it (follow > 1), the old reading returns
    assert transitions.tail_slope_ratio(lams, phi, index, follow=1.01) > 0.5
