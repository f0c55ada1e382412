"""The one flat-parameter view (l2lib.models.flat): layouts, round trips, functional calls."""

import numpy as np
import pytest
import torch

from l2lib.models import flat
from l2lib.models.mlp import deep_linear, mlp
from l2lib.models.vae import EnsembleVAE


@pytest.fixture
def net():
    return mlp(3, [4, 5], 2, seeds=[0, 1, 2], dtype=torch.float64)


def test_the_mlp_layout_is_the_layout_of_an_mlp(net):
    assert flat.FlatLayout.mlp(net.sizes) == flat.FlatLayout.of(net)
    assert flat.FlatLayout.of(net).n_params == 3 * 4 + 4 * 5 + 5 * 2 + 4 + 5 + 2
    no_bias = deep_linear(3, 4, 2, seeds=[0])
    assert flat.FlatLayout.mlp(no_bias.sizes, bias=False) == flat.FlatLayout.of(no_bias)


def test_flatten_then_unflatten_is_the_identity(net):
    layout = flat.FlatLayout.of(net)
    theta = flat.flat_parameters(net)
    assert theta.shape == (3, layout.n_params)
    back = layout.unflatten(theta)
    for name, p in net.named_parameters():
        torch.testing.assert_close(back[name], p, rtol=0, atol=0)
    # weights first, then biases, each row-major: the first entries are W0 of member 0
    torch.testing.assert_close(theta[0, :12], net.weights[0][0].reshape(-1), rtol=0, atol=0)
    with pytest.raises(ValueError, match="flat parameters must have shape"):
        layout.unflatten(torch.zeros(2, layout.n_params + 1))


def test_set_flat_parameters_round_trip_and_shape_check(net):
    other = mlp(3, [4, 5], 2, seeds=[7, 8, 9], dtype=torch.float64)
    flat.set_flat_parameters(other, flat.flat_parameters(net).detach())
    x = torch.randn(6, 3, dtype=torch.float64)
    torch.testing.assert_close(other(x), net(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"\(3, 53\), got \(2, 61\)"):
        flat.set_flat_parameters(other, np.zeros((2, 61)))


def test_functional_call_equals_the_member_forward(net):
    x = torch.randn(6, 3, dtype=torch.float64)
    call = flat.functional(net)
    for k in range(net.n_members):
        theta = flat.member_theta(net, k)
        torch.testing.assert_close(call(theta, x)[0], net(x)[k])
    # differentiable in θ: the gradient of a linear read-out is the Jacobian's row sum
    theta = flat.member_theta(net, 1).requires_grad_(True)
    grad = torch.autograd.grad(call(theta, x).sum(), theta)[0]
    assert grad.shape == theta.shape and torch.isfinite(grad).all() and grad.abs().sum() > 0
    with pytest.raises(ValueError, match="member 3 out of range"):
        flat.member_theta(net, 3)


def test_the_vae_has_the_same_view():
    vae = EnsembleVAE(5, 2, (4,), seeds=[0, 1])
    theta = flat.flat_parameters(vae)
    assert theta.shape == (2, flat.FlatLayout.of(vae).n_params)
    torch.testing.assert_close(flat.flat_parameters(vae), vae.flat_parameters())


def test_named_helpers(net):
    params = flat.params_of(net)
    assert flat.distance(params, params).abs().max() == 0
    shifted = {n: v + 1.0 for n, v in params.items()}
    n_params = flat.FlatLayout.of(net).n_params
    torch.testing.assert_close(flat.distance(shifted, params),
                               torch.full((3,), float(np.sqrt(n_params)), dtype=torch.float64))
    assert flat.digest(params) != flat.digest(shifted) and len(flat.digest(params)) == 16
    two = flat.select_members(params, [2, 0])
    torch.testing.assert_close(two["weights.0"][1], params["weights.0"][0])
    stacked = flat.stack_members([flat.select_members(params, [i]) for i in range(3)])
    assert flat.digest(stacked) == flat.digest(params)
    with pytest.raises(ValueError, match="shape"):
        flat.check_params(net, two)
    loaded = flat.load_params(mlp(3, [4, 5], 2, seeds=[5, 5, 5], dtype=torch.float64), params)
    assert flat.digest(flat.params_of(loaded)) == flat.digest(params)
