"""Chapter 2's science in the smoke profile: curvature change points at the L2 transition."""

import numpy as np
import pytest

from l2lib.experiments import curvature as landscape
from l2lib.experiments import onset

SMOKE = onset.onset_settings("smoke")
CURV = landscape.chapter_settings("smoke")


@pytest.mark.parametrize("depth", [1, 2])
def test_curvature_changes_where_the_order_parameter_does(depth):
    teacher = onset.make_teacher(SMOKE, (1.0,), seed=0)
    lams = onset.linear_grid(SMOKE, teacher.m, depth)
    result = landscape.linear_curvature_sweep(teacher, depth, lams, SMOKE, CURV)
    compared = landscape.compare_change_points(result.lams, result.mean("curvature"),
                                               result.mean("modes")[:, 0])
    assert compared.offsets_in_steps[0] <= 1.0, compared
    # in the trivial phase the curvature is that of E at θ = 0: constant along the sweep
    trivial = result.mean("modes")[:, 0] < 1e-3
    curv = result.mean("curvature")
    assert trivial.sum() >= 3 and np.ptp(curv[trivial]) <= 1e-3 * np.abs(curv).max()
    # one hidden layer: the Hessian of E at θ = 0 has eigenvalues ±2m (a saddle);
    # two hidden layers: it vanishes (the origin is flat to second order)
    expected_min = -2 * teacher.m if depth == 1 else 0.0
    np.testing.assert_allclose(result.mean("eig_min")[trivial], expected_min, atol=1e-2)


def test_curvature_settings_are_checked():
    with pytest.raises(ValueError, match="method"):
        landscape.CurvatureSettings(method="exact")
    with pytest.raises(ValueError, match="unknown profile"):
        landscape.chapter_settings("huge")
