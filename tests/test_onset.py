"""Chapter 1's science in the smoke profile: measured λ_c and order against the theory."""

import numpy as np
import pytest

from l2lib.analysis import theory
from l2lib.experiments import onset
from l2lib.runtime import check_profile, resolve_device

SMOKE = onset.onset_settings("smoke")


@pytest.fixture(scope="module")
def teacher():
    return onset.make_teacher(SMOKE, (1.0,), seed=0)


@pytest.fixture(scope="module")
def sweeps(teacher):
    return {d: onset.deep_linear_hysteresis(teacher, d, onset.linear_grid(SMOKE, teacher.m, d),
                                            SMOKE) for d in (1, 2)}


@pytest.mark.parametrize("depth", [1, 2])
def test_measured_critical_strength_within_5_percent_of_theory(sweeps, teacher, depth):
    analysis = onset.analyse_linear(sweeps[depth], teacher, depth)
    assert analysis.lam_c_theory == pytest.approx(theory.critical_lambda(teacher.m, 1.0, depth))
    assert analysis.rel_error < 0.05, analysis


def test_order_is_classified_from_the_data(sweeps, teacher):
    assert onset.analyse_linear(sweeps[1], teacher, 1).order == "second"
    assert onset.analyse_linear(sweeps[2], teacher, 2).order == "first"


def test_hysteresis_only_with_two_hidden_layers(sweeps, teacher):
    one = onset.analyse_linear(sweeps[1], teacher, 1)
    two = onset.analyse_linear(sweeps[2], teacher, 2)
    assert one.hysteresis_width == 0.0
    assert two.hysteresis_width > 0.5 * two.lam_c_theory
    # the upward sweep of D = 2 jumps between λ_c and the spinodal, as gradient flow must
    assert two.lam_c_theory < two.lam_jump <= two.lam_spinodal_theory * 1.05


def test_upward_sweep_follows_the_learning_branch(sweeps, teacher):
    for depth, h in sweeps.items():
        expected = theory.order_parameter(h.lams, teacher.m, 1.0, depth, branch="learning")
        measured = h.up.mean("modes")[:, 0]
        ok = np.isfinite(expected) & (expected > 0.2)
        np.testing.assert_allclose(measured[ok], expected[ok], rtol=0.02)


def test_multi_mode_teacher_loses_one_mode_at_a_time():
    data = onset.make_teacher(SMOKE, (1.5, 0.5), seed=1)
    lams = np.linspace(0, 3.6, SMOKE.n_lams)
    h = onset.deep_linear_hysteresis(data, 1, lams, SMOKE)
    expected = theory.mode_order_parameters(lams, (1.5, 0.5), 1.0, 1)
    np.testing.assert_allclose(h.up.mean("modes")[:, :2], expected, atol=0.03)
    active = (h.up.mean("modes")[:, :2] > 0.03).sum(axis=1)
    assert sorted(set(active.tolist())) == [0, 1, 2]


def test_unknown_profile_and_unusable_device_are_clear_errors():
    with pytest.raises(ValueError, match="unknown profile 'fast'.*smoke"):
        onset.onset_settings("fast")
    with pytest.raises(ValueError, match="unknown profile"):
        check_profile("Paper")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    import torch
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no usable CUDA"):
            resolve_device("cuda")
