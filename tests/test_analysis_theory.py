"""Closed forms of l2lib.theory against independent numerical minimisation."""

import numpy as np
import pytest
import torch
from scipy.optimize import brentq, minimize, minimize_scalar

from l2lib.analysis import theory
from l2lib.data.teacher import teacher_data


def numeric_min_r(lam, m, a, depth, r_max=None):
    """argmin over r > 0 of the reduced loss by bounded scalar minimisation."""
    r_max = r_max or 2 * m / a
    res = minimize_scalar(lambda r: theory.reduced_loss(r, lam, m, a, depth),
                          bounds=(1e-12, r_max), method="bounded", options={"xatol": 1e-12})
    return res.x, res.fun


@pytest.mark.parametrize("m,a", [(1.0, 1.0), (2.5, 0.7)])
def test_one_hidden_layer_minimiser_matches_numeric(m, a):
    for frac in (0.0, 0.3, 0.7, 0.95):
        lam = frac * theory.critical_lambda(m, a, 1)
        r_num, _ = numeric_min_r(lam, m, a, 1)
        assert theory.order_parameter([lam], m, a, 1)[0] == pytest.approx(r_num, abs=1e-6)
    assert theory.critical_lambda(m, a, 1) == pytest.approx(2 * m)
    assert theory.order_parameter([2.2 * m], m, a, 1)[0] == 0.0


@pytest.mark.parametrize("depth", [2, 3, 4])
@pytest.mark.parametrize("m,a", [(1.0, 1.0), (1.7, 0.5)])
def test_critical_lambda_is_where_the_minima_exchange(depth, m, a):
    # numerically: the λ at which min_{r>0} L(r) equals L(0) = 0
    def gap(lam):
        return numeric_min_r(lam, m, a, depth)[1]

    lam_c_num = brentq(gap, 1e-6, 10 * m, xtol=1e-12)
    assert theory.critical_lambda(m, a, depth) == pytest.approx(lam_c_num, rel=1e-6)
    r_c, _ = numeric_min_r(lam_c_num, m, a, depth)
    assert theory.critical_norm(m, a, depth) == pytest.approx(r_c, rel=1e-5)


@pytest.mark.parametrize("depth", [2, 3])
def test_spinodal_is_where_the_learning_minimum_disappears(depth):
    m, a = 1.3, 0.8
    r = np.linspace(1e-6, 2 * m / a, 200_001)

    def has_interior_minimum(lam):
        slope = np.diff(theory.reduced_loss(r, lam, m, a, depth))
        return bool(np.any((slope[:-1] < 0) & (slope[1:] > 0)))

    lam_s = theory.spinodal_lambda(m, a, depth)
    assert has_interior_minimum(0.995 * lam_s)
    assert not has_interior_minimum(1.005 * lam_s)
    assert lam_s > theory.critical_lambda(m, a, depth)


def test_learning_branch_follows_numeric_local_minimum_into_metastability():
    m, a, depth = 1.0, 1.0, 2
    lam_c, lam_s = theory.critical_lambda(m, a, depth), theory.spinodal_lambda(m, a, depth)
    for lam in np.linspace(0.1 * lam_c, 0.99 * lam_s, 7):
        r_s = theory.critical_norm(m, a, depth) / 2
        r_num, _ = numeric_min_r(lam, m, a, depth) if lam < lam_c else (
            minimize_scalar(lambda r, lam=lam: theory.reduced_loss(r, lam, m, a, depth),
                            bounds=(r_s * 0.999, m / a), method="bounded",
                            options={"xatol": 1e-12}).x, None)
        got = theory.order_parameter([lam], m, a, depth, branch="learning")[0]
        assert got == pytest.approx(r_num, rel=1e-5)
    beyond = theory.order_parameter([1.01 * lam_s, 1.01 * lam_c], m, a, depth, "learning")
    assert np.isnan(beyond[0]) and beyond[1] > 0
    assert theory.order_parameter([1.01 * lam_c], m, a, depth)[0] == 0.0


def full_network_minimum(data, depth, width, lam, start_scale, seed):
    """Minimise the full deep-linear objective over all weights with L-BFGS (scipy)."""
    d, k = data.x.shape[1], data.y.shape[1]
    shapes = [(d, width)] + [(width, width)] * (depth - 1) + [(width, k)]
    sizes = [int(np.prod(s)) for s in shapes]

    def unpack(theta):
        out, i = [], 0
        for s, n in zip(shapes, sizes, strict=True):
            out.append(theta[i:i + n].reshape(s))
            i += n
        return out

    def fun(flat):
        theta = torch.tensor(flat, requires_grad=True)
        prod = torch.linalg.multi_dot(unpack(theta)) if depth > 1 else (
            unpack(theta)[0] @ unpack(theta)[1])
        err = ((data.y - data.x @ prod) ** 2).sum(dim=1).mean()
        loss = err + 0.5 * lam * (theta ** 2).sum()
        loss.backward()
        return loss.item(), theta.grad.numpy().copy()

    rng = np.random.default_rng(seed)
    best = None
    for _ in range(4):
        x0 = rng.standard_normal(sum(sizes)) * start_scale
        res = minimize(fun, x0, jac=True, method="L-BFGS-B",
                       options={"maxiter": 20000, "ftol": 1e-15, "gtol": 1e-11})
        if best is None or res.fun < best.fun:
            best = res
    theta = torch.tensor(best.x)
    prod = unpack(theta)[0]
    for w in unpack(theta)[1:]:
        prod = prod @ w
    return torch.linalg.svdvals(prod).numpy(), best.fun


@pytest.mark.parametrize("depth", [1, 2])
def test_closed_form_matches_full_network_minimisation(depth):
    data = teacher_data(64, 3, (1.2,), noise=0.3, seed=1)
    for frac in (0.3, 0.8):
        lam = frac * theory.critical_lambda(data.m, data.a, depth)
        svals, loss = full_network_minimum(data, depth, 3, lam, 0.8, seed=2)
        assert svals[0] == pytest.approx(theory.order_parameter([lam], data.m, data.a, depth)[0],
                                         rel=1e-4)
        expected = theory.minimum_loss([lam], data.m, data.a, depth, data.ey2)[0]
        assert loss == pytest.approx(expected, rel=1e-6)


def test_modes_switch_off_one_by_one_in_the_full_network():
    modes = (1.5, 0.6)
    data = teacher_data(96, 4, modes, noise=0.2, seed=3)
    lam = 2.0  # between the critical strengths 2·0.6 and 2·1.5 of one hidden layer
    svals, _ = full_network_minimum(data, 1, 4, lam, 0.8, seed=4)
    expected = theory.mode_order_parameters([lam], modes, 1.0, 1)[0]
    np.testing.assert_allclose(svals[:2], expected, atol=1e-4)
    assert expected[1] == 0.0 and expected[0] > 0


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="depth"):
        theory.critical_lambda(1.0, 1.0, 0)
    with pytest.raises(ValueError, match="a > 0"):
        theory.critical_lambda(1.0, -1.0, 2)
    with pytest.raises(ValueError, match="non-negative"):
        theory.order_parameter([-0.1], 1.0)
    with pytest.raises(ValueError, match="branch"):
        theory.order_parameter([0.1], 1.0, branch="metastable")
