"""Chapter 2: curvature along the smoke sweeps, and every finding's rule on constructed curves,
each with a negative control."""

import numpy as np
import pytest

from l2lib.analysis.findings import Verdict
from l2lib.experiments import curvature as cv
from l2lib.experiments import curvature_profiles, onset, onset_profiles

SMOKE = curvature_profiles.settings("smoke")
QUICK = curvature_profiles.settings("quick")


@pytest.mark.parametrize("depth", [1, 2])
def test_curvature_along_the_deep_linear_sweeps(depth):
    teacher = onset.make_teacher(SMOKE.onset, (1.0,), seed=0)
    lams = onset.linear_grid(SMOKE.onset, teacher.m, depth)
    result = cv.linear_curvature_sweep(teacher, depth, lams, SMOKE)
    curve = cv.curve_of(result, result.mean("modes")[:, 0], SMOKE.onset.residual_rtol,
                        SMOKE.onset.residual_atol)
    assert curve.lams.size == lams.size  # every polished point is a minimum
    lam_c = teacher.m * 2 if depth == 1 else 0.7937
    found = (cv.second_order_finding("D1", "D = 1", curve, lam_c, "closed form", SMOKE)
             if depth == 1 else cv.first_order_finding("D2", "D = 2", curve, lam_c, SMOKE))
    # D = 2 at smoke: the jump lies 2.6 grid steps above λ_c, too close to tell them apart
    assert found.verdict is (Verdict.AGREES if depth == 1 else Verdict.UNDECIDED), found
    # in the trivial phase the curvature is that of E at θ = 0: constant along the sweep
    trivial = result.mean("modes")[:, 0] < 1e-3
    curv = result.mean("curvature")
    assert trivial.sum() >= 3 and np.ptp(curv[trivial]) <= 1e-3 * np.abs(curv).max()
    # one hidden layer: the Hessian of E at θ = 0 has eigenvalues ±2m (a saddle of E);
    # two hidden layers: it vanishes (the origin is flat to second order)
    expected_min = -2 * teacher.m if depth == 1 else 0.0
    np.testing.assert_allclose(result.mean("eig_min")[trivial], expected_min, atol=1e-2)
    np.testing.assert_allclose(result.mean("eig_min_reg"), result.mean("eig_min") + lams)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="method"):
        cv.CurvatureSettings(method="exact")
    with pytest.raises(ValueError, match="unknown profile"):
        curvature_profiles.settings("huge")
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['windw'\]"):
        curvature_profiles.settings("quick", windw=3)
    assert curvature_profiles.settings("quick") == cv.CurvatureChapterSettings()
    assert curvature_profiles.settings("smoke").onset == onset_profiles.settings("smoke")


# --------------------------------------------------------------------------------------------
# Findings on constructed curves

LAMS = np.linspace(0.0, 4.0, 41)
STEP = 0.1


def curve(r, norm=None, err=None, transition=2.0, order="second"):
    norm = np.maximum(2.0 - LAMS, 0.0) if norm is None else norm
    return cv.CurvatureCurve(LAMS, np.asarray(r, float),
                             np.zeros(LAMS.size) if err is None else err, norm,
                             np.asarray(norm) ** 2, STEP, LAMS.size, transition, order)


def kinks(where, sizes, start=3000.0):
    r = start * np.exp(-LAMS / 1.5)
    for lam, size in zip(where, sizes, strict=True):
        r = r + size * np.maximum(LAMS - lam, 0.0)
    return r


def test_second_order_finding_needs_a_change_point_at_lam_c():
    kinked = np.where(LAMS < 2.0, 200 * (2.0 - LAMS) ** 1 - 48, -48.0)
    assert cv.second_order_finding("D1", "x", curve(kinked), 2.0, "theory", QUICK
                                   ).verdict is Verdict.AGREES
    # negative control: a smooth R; the previous rule (one break forced by a mean-variance
    # search) always placed a change point somewhere and agreed when it fell near λ_c
    smooth = 200 * np.exp(-LAMS)
    found = cv.second_order_finding("D1", "x", curve(smooth), 2.0, "theory", QUICK)
    assert found.verdict is Verdict.DISAGREES
    noisy = cv.second_order_finding("D1", "x", curve(smooth, err=0.5 * smooth), 2.0, "theory",
                                    QUICK)
    assert noisy.verdict is Verdict.UNDECIDED
    edge = cv.second_order_finding("D1", "x", curve(kinked), 3.85, "theory", QUICK)
    assert edge.verdict is Verdict.NOT_MEASURABLE


def test_first_order_finding_tells_lam_c_from_the_jump():
    jump = 2.55
    norm = np.where(LAMS < jump, 2.0 - 0.2 * LAMS, 0.0)
    with_theta = np.where(LAMS < jump, 50 - 10 * LAMS, 0.0)  # R moves only with θ
    # negative control: the previous rule compared R with the jump of the same sweep and agreed
    found = cv.first_order_finding("D2", "x", curve(with_theta, norm, transition=jump,
                                                    order="first"), 2.0, QUICK)
    assert found.verdict is Verdict.BY_CONSTRUCTION and not found.verdict.is_evidence
    before = with_theta + np.where(LAMS > 2.0, -30 * (LAMS - 2.0), 0.0) * (LAMS < jump)
    found = cv.first_order_finding("D2", "x", curve(before, norm, transition=jump,
                                                    order="first"), 2.0, QUICK)
    assert found.verdict is Verdict.AGREES
    flat = curve(50 - 10 * LAMS, norm, transition=jump, order="first")
    assert cv.first_order_finding("D2", "x", flat, 2.0, QUICK).verdict is Verdict.DISAGREES
    close = curve(with_theta, norm, transition=2.15, order="first")
    assert cv.first_order_finding("D2", "x", close, 2.0, QUICK).verdict is Verdict.UNDECIDED


def test_modes_finding_needs_every_switch_off_and_nothing_else():
    r = kinks([1.0, 2.0, 3.0], [-500.0, -50.0, -5.0])  # kinks over three decades
    assert cv.modes_finding(curve(r), [3.0, 2.0, 1.0], QUICK).verdict is Verdict.AGREES
    missing = kinks([1.0, 3.0], [-500.0, -5.0])
    found = cv.modes_finding(curve(missing), [3.0, 2.0, 1.0], QUICK)
    assert found.verdict is Verdict.DISAGREES and found.numbers["modes_matched"] == 2
    extra = kinks([1.0, 1.6, 2.0, 3.0], [-500.0, 300.0, -50.0, -5.0])
    assert cv.modes_finding(curve(extra), [3.0, 2.0, 1.0], QUICK).verdict is Verdict.DISAGREES
    assert cv.modes_finding(curve(r), [3.9, 2.0, 1.0], QUICK).verdict is Verdict.NOT_MEASURABLE


def test_smooth_control_finds_nothing_on_a_smooth_stretch():
    r = kinks([2.0], [-100.0])
    assert cv.smooth_control_finding(curve(r), 2.0, QUICK).verdict is Verdict.AGREES
    spurious = kinks([1.0, 2.0], [-300.0, -100.0])
    assert cv.smooth_control_finding(curve(spurious), 2.0, QUICK).verdict is Verdict.DISAGREES
    assert cv.smooth_control_finding(curve(r), 0.5, QUICK).verdict is Verdict.NOT_MEASURABLE


def test_plateau_finding_counts_curvature_steps_at_accuracy_drops():
    acc = np.select([LAMS < 1.0, LAMS < 2.0, LAMS < 3.0], [0.9, 0.6, 0.3], 0.1)
    stepped = 1000 * np.select([LAMS < 1.0, LAMS < 2.0, LAMS < 3.0], [3.0, 2.0, 1.0], 0.0)
    assert cv.plateau_finding(LAMS, acc, curve(stepped + 10 * LAMS), QUICK, "x"
                              ).verdict is Verdict.AGREES
    # negative control: R steps only at the final drop (the previous prose claimed steps
    # at the plateaus without a number)
    final_only = np.where(LAMS < 3.0, 3000.0 - 100 * LAMS, 0.0)
    found = cv.plateau_finding(LAMS, acc, curve(final_only), QUICK, "x")
    assert found.verdict is Verdict.DISAGREES and found.numbers["plateaus_matched"] == 0
    noisy = curve(final_only, err=0.5 * np.abs(final_only) + 1)
    assert cv.plateau_finding(LAMS, acc, noisy, QUICK, "x").verdict is Verdict.UNDECIDED
    one_drop = np.where(LAMS < 3.0, 0.9, 0.1)
    assert cv.plateau_finding(LAMS, one_drop, curve(final_only), QUICK, "x"
                              ).verdict is Verdict.NOT_MEASURABLE


def test_jump_finding_is_by_construction_when_theta_jumps_too():
    norm = np.where(LAMS < 2.05, 3.0 - LAMS, 0.0)
    r = np.where(LAMS < 2.05, 4000.0 - 1000 * LAMS, 0.5)
    found = cv.jump_finding("mlp2", "x", curve(r, norm, transition=2.05, order="first"), QUICK)
    assert found.verdict is Verdict.BY_CONSTRUCTION
    smooth = curve(4000 * np.exp(-LAMS), norm, transition=2.05, order="first")
    assert cv.jump_finding("mlp2", "x", smooth, QUICK).verdict is Verdict.DISAGREES
