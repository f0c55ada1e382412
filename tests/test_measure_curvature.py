"""Curvature of one member's error landscape: derivatives against finite differences and the
model's own autograd, Lanczos against dense eigenvalues, Hutchinson's unbiasedness and error
bars, and the scalar curvature against surfaces of known curvature and an independent
Christoffel-symbol computation."""

import math

import numpy as np
import pytest
import torch

from l2lib.measure import curvature as C
from l2lib.measure import observables as measure
from l2lib.models.mlp import deep_linear, mlp
from l2lib.train.losses import member_error

F64 = torch.float64


def toy_data(loss, n=24, d=3, d_out=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=F64)
    if loss == "cross_entropy":
        y = torch.randint(0, d_out, (n,), generator=gen)
    else:
        y = torch.randn(n, d_out, generator=gen, dtype=F64)
    return x, y


def small_mlp():
    return mlp(3, [4], 2, seeds=[0, 1], activation="sigmoid", dtype=F64)


def rel(a, b):
    return float((a - b).norm() / b.norm())


# --------------------------------------------------------------------------------------------
# member_objective, gradient, hvp, dense Hessian


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_member_objective_is_the_members_error(loss):
    model = small_mlp()
    x, y = toy_data(loss)
    errors = measure.error(model, x, y, loss)
    assert not torch.isclose(errors[0], errors[1])
    for member in (0, 1):
        fn, theta = C.member_objective(model, member, x, y, loss)
        torch.testing.assert_close(theta, model.flat_parameters()[member].detach())
        assert not theta.requires_grad
        torch.testing.assert_close(fn(theta), errors[member], rtol=1e-13, atol=0)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_gradient_equals_autograd_through_the_model(loss):
    """Checks that the flat vector is unflattened in the model's own parameter order."""
    model = small_mlp()
    x, y = toy_data(loss)
    fn, theta = C.member_objective(model, 1, x, y, loss)
    model.zero_grad()
    member_error(model(x), y, loss).sum().backward()
    expected = torch.cat([p.grad[1].reshape(-1) for p in model.parameters()])
    torch.testing.assert_close(C.gradient(fn, theta), expected, rtol=1e-12, atol=1e-14)


def test_dtype_casts_parameters_and_data():
    model = mlp(3, [4], 2, seeds=[0, 1], dtype=torch.float32)
    x, y = toy_data("mse")
    fn, theta = C.member_objective(model, 0, x.float(), y.float(), "mse", dtype=F64)
    assert theta.dtype == F64 and fn(theta).dtype == F64
    torch.testing.assert_close(
        fn(theta), measure.error(model, x.float(), y.float(), "mse")[0].double(), rtol=1e-6, atol=0
    )


def test_per_member_targets_and_scalar_mse_targets():
    model = small_mlp()
    x, _ = toy_data("cross_entropy")
    y_k = torch.randint(0, 2, (2, x.shape[0]), generator=torch.Generator().manual_seed(4))
    errors = measure.error(model, x, y_k, "cross_entropy")
    for member in (0, 1):
        fn, theta = C.member_objective(model, member, x, y_k, "cross_entropy")
        torch.testing.assert_close(fn(theta), errors[member])
    net = deep_linear(3, 2, 1, 1, seeds=[0])
    y1 = torch.randn(x.shape[0], dtype=F64)
    fn, theta = C.member_objective(net, 0, x, y1, "mse")
    torch.testing.assert_close(fn(theta), (net(x)[0, :, 0] - y1).pow(2).mean())


def finite_difference_hvp(fn, theta, v, h=1e-5):
    return (C.gradient(fn, theta + h * v) - C.gradient(fn, theta - h * v)) / (2 * h)


@pytest.mark.parametrize(
    "net,loss",
    [("mlp", "cross_entropy"), ("mlp", "mse"), ("linear", "mse")],
)
def test_hvp_equals_finite_differences_and_dense_hessian(net, loss):
    if net == "mlp":
        model = small_mlp()
        x, y = toy_data(loss)
    else:
        model = deep_linear(3, 3, 2, 2, seeds=[0, 1])
        x, y = toy_data(loss)
    fn, theta = C.member_objective(model, 1, x, y, loss)
    hess = C.dense_hessian(fn, theta)
    assert hess.shape == (theta.numel(), theta.numel())
    torch.testing.assert_close(hess, hess.T, rtol=0, atol=1e-12)
    gen = torch.Generator().manual_seed(3)
    for _ in range(3):
        v = torch.randn(theta.numel(), generator=gen, dtype=F64)
        hv = C.hvp(fn, theta, v)
        assert rel(hv, finite_difference_hvp(fn, theta, v)) < 1e-6
        assert rel(hv, hess @ v) < 1e-10


def test_regularised_objective_adds_lam_identity():
    model = small_mlp()
    x, y = toy_data("cross_entropy")
    lam = 0.37
    fn, theta = C.member_objective(model, 1, x, y, "cross_entropy")
    fn_lam, theta_lam = C.member_objective(model, 1, x, y, "cross_entropy", lam=lam)
    torch.testing.assert_close(theta_lam, theta)
    torch.testing.assert_close(fn_lam(theta), fn(theta) + 0.5 * lam * theta.pow(2).sum())
    torch.testing.assert_close(C.gradient(fn_lam, theta), C.gradient(fn, theta) + lam * theta)
    eye = torch.eye(theta.numel(), dtype=F64)
    torch.testing.assert_close(
        C.dense_hessian(fn_lam, theta), C.dense_hessian(fn, theta) + lam * eye
    )


def test_deep_linear_hessian_at_the_origin_is_the_data_correlation():
    """E = mean‖y − x W1 W2‖² at θ = 0: H = [[0, B], [Bᵀ, 0]] with B = −2 C ⊗ I_h and
    C = mean x yᵀ, so its eigenvalues are ±2 σ_s(C) (each h times), tr H = 0 and the scalar
    curvature is −tr H² = −8 h ‖C‖²_F — the curvature of the trivial phase."""
    width = 3
    model = deep_linear(3, width, 1, 2, seeds=[0])
    with torch.no_grad():
        for w in model.weights:
            w.zero_()
    x, y = toy_data("mse", n=30)
    corr = x.T @ y / x.shape[0]
    sv = torch.linalg.svdvals(corr)
    fn, theta = C.member_objective(model, 0, x, y, "mse")
    assert theta.abs().max() == 0 and C.gradient(fn, theta).abs().max() == 0
    ev = torch.linalg.eigvalsh(C.dense_hessian(fn, theta))
    expected = torch.cat([2 * sv, -2 * sv]).repeat_interleave(width)
    n_zero = theta.numel() - expected.numel()
    expected = torch.sort(torch.cat([expected, torch.zeros(n_zero, dtype=F64)])).values
    torch.testing.assert_close(ev, expected, rtol=0, atol=1e-12)
    largest, smallest = C.extreme_eigenvalues(fn, theta, k=1)
    assert largest[0] == pytest.approx(2 * sv[0].item(), rel=1e-8)
    assert smallest[0] == pytest.approx(-2 * sv[0].item(), rel=1e-8)
    curv = C.scalar_curvature(fn, theta)
    assert curv.value == pytest.approx(-8 * width * corr.pow(2).sum().item(), rel=1e-12)
    # two hidden layers: the origin is a flat (third-order) critical point
    deep = deep_linear(3, width, 2, 2, seeds=[0])
    with torch.no_grad():
        for w in deep.weights:
            w.zero_()
    fn2, theta2 = C.member_objective(deep, 0, x, y, "mse", lam=0.1)
    hess2 = C.dense_hessian(fn2, theta2)
    torch.testing.assert_close(hess2, 0.1 * torch.eye(theta2.numel(), dtype=F64))


# --------------------------------------------------------------------------------------------
# Lanczos


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_lanczos_extremes_equal_dense_eigenvalues_at_a_saddle(loss):
    model = small_mlp()
    x, y = toy_data(loss)
    fn, theta = C.member_objective(model, 1, x, y, loss)
    ev = torch.linalg.eigvalsh(C.dense_hessian(fn, theta)).numpy()
    assert ev[0] < 0 < ev[-1], "the test point must be a non-minimum with negative curvature"
    k = 3
    largest, smallest = C.extreme_eigenvalues(fn, theta, k=k)
    assert largest.dtype == np.float64 and largest.shape == smallest.shape == (k,)
    np.testing.assert_allclose(largest, ev[::-1][:k], rtol=1e-6)
    np.testing.assert_allclose(smallest, ev[:k], rtol=1e-6)
    # algebraic, not magnitude: the most negative eigenvalue is reported even if |λ_min| < λ_max
    assert smallest[0] == pytest.approx(ev[0], rel=1e-6)
    again = C.extreme_eigenvalues(fn, theta, k=k)
    np.testing.assert_array_equal(again[0], largest)


def test_lanczos_finds_a_dominant_negative_eigenvalue():
    """A saddle whose largest-magnitude eigenvalue is negative (power iteration would return it
    as the 'top' eigenvalue); Lanczos reports the algebraic extremes."""
    kappa = torch.tensor([-5.0, -1.0, 0.5, 2.0, 3.0], dtype=F64)
    q, _ = torch.linalg.qr(torch.randn(5, 5, generator=torch.Generator().manual_seed(1), dtype=F64))
    mat = q @ torch.diag(kappa) @ q.T

    def fn(t):
        return 0.5 * t @ mat @ t

    largest, smallest = C.extreme_eigenvalues(fn, torch.ones(5, dtype=F64), k=2)
    np.testing.assert_allclose(largest, [3.0, 2.0], rtol=1e-9)
    np.testing.assert_allclose(smallest, [-5.0, -1.0], rtol=1e-9)


# --------------------------------------------------------------------------------------------
# Hutchinson


def test_hutchinson_is_unbiased_and_its_error_bar_is_calibrated():
    model = small_mlp()
    x, y = toy_data("cross_entropy")
    fn, theta = C.member_objective(model, 1, x, y, "cross_entropy")
    hess = C.dense_hessian(fn, theta)
    exact = (torch.trace(hess).item(), (hess @ hess).trace().item())
    # variance of one Rademacher probe of vᵀHv: 2 (‖H‖_F² − Σ H_ii²)
    var_quad = 2 * (hess.pow(2).sum() - hess.diagonal().pow(2).sum()).item()
    n, reps = 4, 200
    est = [C.hutchinson_traces(fn, theta, n, seed=s) for s in range(reps)]
    assert all(e.n_samples == n for pair in est for e in pair)
    for which in (0, 1):
        values = np.array([e[which].value for e in est])
        errs = np.array([e[which].stderr for e in est])
        spread = values.std(ddof=1)
        assert abs(values.mean() - exact[which]) < 3 * spread / math.sqrt(reps)
        rms_err = math.sqrt(np.mean(errs**2))  # E[s²/n] = σ²/n exactly
        assert 1 / 1.5 < rms_err / spread < 1.5
    assert 1 / 1.5 < np.mean([e[0].stderr ** 2 for e in est]) * n / var_quad < 1.5
    # same seed, same probes
    assert C.hutchinson_traces(fn, theta, n, seed=7) == C.hutchinson_traces(fn, theta, n, seed=7)


def test_hutchinson_is_exact_for_a_diagonal_hessian():
    """Rademacher probes have v_i² = 1: vᵀHv = tr H and ‖Hv‖² = tr H² for diagonal H."""
    kappa = torch.tensor([2.0, -1.0, 0.5, 3.0], dtype=F64)

    def fn(t):
        return 0.5 * (kappa * t**2).sum()

    tr, tr2 = C.hutchinson_traces(fn, torch.zeros(4, dtype=F64), 5, seed=1)
    assert tr.value == pytest.approx(kappa.sum().item()) and tr.stderr == pytest.approx(0)
    assert tr2.value == pytest.approx(kappa.pow(2).sum().item()) and tr2.stderr == pytest.approx(0)


# --------------------------------------------------------------------------------------------
# Scalar curvature on surfaces of known curvature


@pytest.mark.parametrize("n", [2, 3, 5])
def test_sphere_cap_has_scalar_curvature_n_n_minus_1_over_rho_squared(n):
    rho = 1.7

    def cap(t):
        return torch.sqrt(rho**2 - (t * t).sum())

    theta = torch.linspace(0.2, 0.6, n, dtype=F64) / math.sqrt(n)
    curv = C.scalar_curvature(cap, theta)
    assert curv.grad_norm > 0.1
    assert curv.value == pytest.approx(n * (n - 1) / rho**2, rel=1e-10)
    assert curv.stderr == 0 and curv.method == "dense"


def test_quadratic_at_its_critical_point_gives_twice_the_sum_of_eigenvalue_pairs():
    kappa = torch.tensor([1.5, -0.7, 2.0, 0.3], dtype=F64)
    q, _ = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(2), dtype=F64))
    mat = q @ torch.diag(kappa) @ q.T
    pairs = sum(kappa[i] * kappa[j] for i in range(4) for j in range(i + 1, 4)).item()
    curv = C.scalar_curvature(lambda t: 0.5 * t @ mat @ t, torch.zeros(4, dtype=F64))
    assert curv.value == pytest.approx(2 * pairs, rel=1e-12)
    assert curv.grad_norm == 0
    # in the eigenbasis the Hessian is diagonal and the stochastic estimate is exact
    diag = C.scalar_curvature(
        lambda t: 0.5 * (kappa * t * t).sum(), torch.zeros(4, dtype=F64), "stochastic", 8
    )
    assert diag.value == pytest.approx(2 * pairs, rel=1e-12) and diag.stderr < 1e-12


def test_two_dimensional_surface_gives_twice_the_gaussian_curvature():
    def surface(t):
        return t[0] ** 2 - t[1] ** 2 + t[0] * t[1] ** 3

    px, py = 0.3, -0.4
    fx, fy = 2 * px + py**3, -2 * py + 3 * px * py**2
    fxx, fyy, fxy = 2.0, -2 + 6 * px * py, 3 * py**2
    gauss = (fxx * fyy - fxy**2) / (1 + fx**2 + fy**2) ** 2
    curv = C.scalar_curvature(surface, torch.tensor([px, py], dtype=F64))
    assert curv.grad_norm == pytest.approx(math.hypot(fx, fy))
    assert curv.value == pytest.approx(2 * gauss, rel=1e-12)


def test_curves_are_intrinsically_flat():
    theta = torch.tensor([0.8], dtype=F64)
    assert C.scalar_curvature(lambda t: torch.sin(3 * t).sum(), theta).value == pytest.approx(
        0, abs=1e-12
    )


def christoffel_scalar_curvature(f, x):
    """R of the metric G = I + ∇f ∇fᵀ induced on the graph of f, from Christoffel symbols
    (R^ρ_{σμν} = ∂_μ Γ^ρ_{νσ} − ∂_ν Γ^ρ_{μσ} + Γ^ρ_{μλ} Γ^λ_{νσ} − Γ^ρ_{νλ} Γ^λ_{μσ})."""
    grad = torch.func.grad(f)

    def metric(t):
        g = grad(t)
        return torch.eye(t.numel(), dtype=t.dtype) + torch.outer(g, g)

    def christoffel(t):
        ginv = torch.linalg.inv(metric(t))
        dg = torch.func.jacfwd(metric)(t)  # dg[i, j, l] = ∂_l G_ij
        lowered = (
            torch.einsum("jli->ijl", dg) + torch.einsum("ilj->ijl", dg) - dg
        )  # ∂_i G_jl + ∂_j G_il − ∂_l G_ij, indexed [i, j, l]
        return 0.5 * torch.einsum("kl,ijl->kij", ginv, lowered)

    gam = christoffel(x)
    dgam = torch.func.jacfwd(christoffel)(x)  # dgam[r, m, n, d] = ∂_d Γ^r_{mn}
    ricci = (
        torch.einsum("rvsr->sv", dgam)
        - torch.einsum("rrsv->sv", dgam)
        + torch.einsum("rrl,lvs->sv", gam, gam)
        - torch.einsum("rvl,lrs->sv", gam, gam)
    )
    return torch.einsum("sv,sv->", torch.linalg.inv(metric(x)), ricci).item()


@pytest.mark.parametrize("n", [3, 4])
def test_formula_equals_an_independent_christoffel_computation(n):
    def f(t):
        return torch.sin(t[0]) * t[1] + 0.5 * t[-1] ** 2 * t[0] + torch.exp(0.3 * t[1] * t[-1])

    x = torch.linspace(-0.5, 0.7, n, dtype=F64)
    ref = christoffel_scalar_curvature(f, x)
    # sanity of the reference itself: a sphere cap in 3 dimensions
    cap_ref = christoffel_scalar_curvature(
        lambda t: torch.sqrt(4.0 - (t * t).sum()), torch.tensor([0.3, -0.2, 0.5], dtype=F64)
    )
    assert cap_ref == pytest.approx(6 / 4.0, rel=1e-10)
    curv = C.scalar_curvature(f, x)
    assert curv.grad_norm > 0.1 and abs(ref) > 1e-3
    assert curv.value == pytest.approx(ref, rel=1e-10)


def test_scalar_curvature_is_invariant_under_rotations_of_parameter_space():
    model = small_mlp()
    x, y = toy_data("mse")
    fn, theta = C.member_objective(model, 0, x, y, "mse")
    p = theta.numel()
    q, _ = torch.linalg.qr(torch.randn(p, p, generator=torch.Generator().manual_seed(5), dtype=F64))
    rotated = C.scalar_curvature(lambda t: fn(q @ t), q.T @ theta)
    assert rotated.value == pytest.approx(C.scalar_curvature(fn, theta).value, rel=1e-10)


def test_from_parts_agrees_with_the_dense_computation():
    model = small_mlp()
    x, y = toy_data("cross_entropy")
    fn, theta = C.member_objective(model, 1, x, y, "cross_entropy", lam=0.05)
    hess, g = C.dense_hessian(fn, theta), C.gradient(fn, theta)
    ev = torch.linalg.eigvalsh(hess)
    value = C.scalar_curvature_from_parts(
        ev.sum().item(),
        ev.pow(2).sum().item(),
        (g @ hess @ g).item(),
        (hess @ g).pow(2).sum().item(),
        g.pow(2).sum().item(),
    )
    curv = C.scalar_curvature(fn, theta)
    assert curv.value == pytest.approx(value, rel=1e-10)
    assert curv.tr_h == pytest.approx(ev.sum().item()) and curv.grad_norm > 0


# --------------------------------------------------------------------------------------------
# Stochastic scalar curvature


def test_stochastic_curvature_matches_dense_and_its_error_bar_shrinks():
    model = small_mlp()
    x, y = toy_data("cross_entropy")
    fn, theta = C.member_objective(model, 1, x, y, "cross_entropy")
    exact = C.scalar_curvature(fn, theta).value
    small = C.scalar_curvature(fn, theta, "stochastic", n_samples=16, seed=1)
    large = C.scalar_curvature(fn, theta, "stochastic", n_samples=512, seed=1)
    assert small.method == "stochastic"
    for est in (small, large):
        assert abs(est.value - exact) < 4 * est.stderr
    assert large.stderr < 0.4 * small.stderr  # ~ 1/sqrt(32) expected


def test_stochastic_curvature_is_unbiased():
    """Many independent small-n estimates: their mean is within 3 standard errors of the exact
    value, while the naive plug-in square (mean vᵀHv)² — larger than the unbiased square by
    s²/n = stderr(tr H)² for the same probes — is detectably biased."""
    model = small_mlp()
    x, y = toy_data("mse")
    fn, theta = C.member_objective(model, 0, x, y, "mse")
    exact = C.scalar_curvature(fn, theta).value
    n, reps = 8, 200
    est = [C.scalar_curvature(fn, theta, "stochastic", n_samples=n, seed=s) for s in range(reps)]
    values = np.array([e.value for e in est])
    assert abs(values.mean() - exact) < 3 * values.std(ddof=1) / math.sqrt(reps)
    w2 = 1 + est[0].grad_norm ** 2
    tr_err2 = np.array(
        [C.hutchinson_traces(fn, theta, n, seed=s)[0].stderr ** 2 for s in range(reps)]
    )
    naive = values + tr_err2 / w2
    assert naive.mean() - exact > 3 * naive.std(ddof=1) / math.sqrt(reps)


def test_stochastic_curvature_error_bar_matches_the_spread():
    model = small_mlp()
    x, y = toy_data("cross_entropy")
    fn, theta = C.member_objective(model, 1, x, y, "cross_entropy")
    est = [C.scalar_curvature(fn, theta, "stochastic", n_samples=32, seed=s) for s in range(100)]
    spread = np.std([e.value for e in est], ddof=1)
    rms_err = math.sqrt(np.mean([e.stderr**2 for e in est]))
    assert 1 / 1.5 < rms_err / spread < 1.5


# --------------------------------------------------------------------------------------------
# Bad input


def test_bad_input_raises_helpful_errors():
    model = small_mlp()
    x, y = toy_data("cross_entropy")
    with pytest.raises(ValueError, match="member 2 out of range"):
        C.member_objective(model, 2, x, y, "cross_entropy")
    with pytest.raises(ValueError, match="member -1 out of range"):
        C.member_objective(model, -1, x, y, "cross_entropy")
    with pytest.raises(ValueError, match="unknown loss"):
        C.member_objective(model, 0, x, y, "hinge")
    with pytest.raises(ValueError, match="lam must be"):
        C.member_objective(model, 0, x, y, "cross_entropy", lam=-0.1)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 3\)"):
        C.member_objective(model, 0, x[:, :2], y, "cross_entropy")
    with pytest.raises(ValueError, match="y has 5 samples"):
        C.member_objective(model, 0, x, y[:5], "cross_entropy")
    with pytest.raises(ValueError, match="mse targets"):
        C.member_objective(model, 0, x, torch.zeros(24, 3, dtype=F64), "mse")
    fn, theta = C.member_objective(model, 0, x, y, "cross_entropy")
    p = theta.numel()
    with pytest.raises(ValueError, match=f"shape \\({p},\\)"):
        fn(theta[:-1])
    with pytest.raises(ValueError, match=f"shape \\({p},\\)"):
        C.gradient(fn, torch.zeros(p + 1, dtype=F64))
    with pytest.raises(ValueError, match="1-d floating-point"):
        C.dense_hessian(fn, theta[None])
    with pytest.raises(ValueError, match="v must have the shape of theta"):
        C.hvp(fn, theta, theta[:-1])
    with pytest.raises(ValueError, match=f"1 <= k < P = {p}"):
        C.extreme_eigenvalues(fn, theta, k=p)
    with pytest.raises(ValueError, match="1 <= k < P"):
        C.extreme_eigenvalues(fn, theta, k=0)
    with pytest.raises(ValueError, match="n_samples must be >= 2"):
        C.hutchinson_traces(fn, theta, 1)
    with pytest.raises(ValueError, match="n_samples must be >= 2"):
        C.scalar_curvature(fn, theta, "stochastic", n_samples=1)
    with pytest.raises(ValueError, match=r"unknown method 'hutch'.*'dense', 'stochastic'"):
        C.scalar_curvature(fn, theta, "hutch")
    with pytest.raises(ValueError, match="grad_norm_sq must be >= 0"):
        C.scalar_curvature_from_parts(1.0, 1.0, 0.0, 0.0, -1.0)


def test_kept_graph_products_equal_hvp_and_one_sided_lanczos():
    from l2lib.measure.curvature import _kept_graph_hvp

    model = mlp(3, [5], 2, seeds=[0], activation="sigmoid", dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(20, 3, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 2, (20,), generator=gen)
    fn, theta = C.member_objective(model, 0, x, y, "cross_entropy")
    v = torch.randn(theta.numel(), generator=gen, dtype=torch.float64)
    product = _kept_graph_hvp(fn, theta)
    torch.testing.assert_close(product(v), C.hvp(fn, theta, v), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(product(2 * v), 2 * C.hvp(fn, theta, v))
    top, none = C.extreme_eigenvalues(fn, theta, 2, which="largest")
    spectrum = torch.linalg.eigvalsh(C.dense_hessian(fn, theta)).numpy()
    assert none.size == 0
    np.testing.assert_allclose(top, spectrum[::-1][:2], rtol=1e-6)
    with pytest.raises(ValueError, match="which"):
        C.extreme_eigenvalues(fn, theta, 1, which="middle")


def test_hutchpp_is_unbiased_and_beats_hutchinson_on_a_dominant_spectrum():
    gen = torch.Generator().manual_seed(0)
    p = 60
    basis = torch.linalg.qr(torch.randn(p, p, generator=gen, dtype=torch.float64)).Q
    eig = torch.cat([torch.tensor([50.0, 30.0, 20.0, 10.0], dtype=torch.float64),
                     0.1 * torch.rand(p - 4, generator=gen, dtype=torch.float64)])
    h = basis @ torch.diag(eig) @ basis.T

    def fn(theta):
        return 0.5 * theta @ h @ theta

    theta = torch.zeros(p, dtype=torch.float64)
    exact = float(eig.sum())
    pp = [C.hutchpp_trace(fn, theta, 24, seed=s) for s in range(100)]
    plain = [C.hutchinson_traces(fn, theta, 24, seed=s)[0] for s in range(100)]
    values = np.array([e.value for e in pp])
    assert abs(values.mean() - exact) < 3 * values.std(ddof=1) / 10
    assert values.std() < 0.2 * np.std([e.value for e in plain])
    # the reported error bar matches the spread
    assert 0.5 < np.sqrt(np.mean([e.stderr ** 2 for e in pp])) / values.std(ddof=1) < 2.0
    with pytest.raises(ValueError, match="n_samples >= 6"):
        C.hutchpp_trace(fn, theta, 5)


def test_smallest_regularised_eigenvalue_dense_and_lanczos_agree():
    torch.manual_seed(0)
    x = torch.randn(40, 3, dtype=torch.float64)
    y = torch.randint(0, 2, (40,))
    net = mlp(3, [4], 2, seeds=[0, 1], dtype=torch.float64)
    lam = torch.tensor([0.0, 0.5], dtype=torch.float64)
    dense = C.smallest_regularised_eigenvalues(net, x, y, "cross_entropy", lam)
    lanczos = C.smallest_regularised_eigenvalues(net, x, y, "cross_entropy", lam, dense_max=1,
                                                 tol=1e-10)
    np.testing.assert_allclose(dense, lanczos, atol=1e-8)
    fn, theta = C.member_objective(net, 1, x, y, "cross_entropy")
    expected = float(torch.linalg.eigvalsh(C.dense_hessian(fn, theta))[0]) + 0.5
    assert dense[1] == pytest.approx(expected)
    # θ = 0 of a deep linear net with one hidden layer is a saddle of E (eigenvalues ±2m)
    # and stays one below λ = 2m: a negative smallest eigenvalue
    lin = deep_linear(3, 3, 1, 1, seeds=[0])
    with torch.no_grad():
        for p in lin.parameters():
            p.zero_()
    xs = torch.randn(200, 3, dtype=torch.float64)
    low = C.smallest_regularised_eigenvalues(lin, xs, xs[:, :1], "mse", 0.1)
    assert low[0] < -0.5
