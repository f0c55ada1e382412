"""The hinge loss and its minimiser: jamming nets (weights-only N, orthogonal init), Adam as
PyTorch's, exact stop at N_Δ = 0, members independent of the ensemble."""

import pytest
import torch

from l2lib.data import jamming as D
from l2lib.measure import jamming as T
from l2lib.models import flat as F
from l2lib.models import mlp as M
from l2lib.train import hinge as J
from l2lib.train import scan as S

F64 = torch.float64


def test_n_counts_weights_as_the_authors_do():
    assert M.n_weights(51, 51, 3) == 7854
    net = M.jamming_net(51, 51, 3, seeds=[0])
    assert sum(w[0].numel() for w in net.weights) == 7854
    assert M.width_for(7854, 3) == 51 and M.width_for(152, 2, d=10) == 8
    with pytest.raises(ValueError, match="depth"):
        M.n_weights(10, 10, 0)


def test_orthogonal_init_zero_biases_and_members_independent_of_the_ensemble():
    net = M.jamming_net(6, 6, 3, seeds=[4, 5, 6])
    for w in net.weights[:-1]:
        torch.testing.assert_close(w[1].T @ w[1], torch.eye(6, dtype=F64))
    torch.testing.assert_close(net.weights[-1][0].norm(), torch.tensor(1.0, dtype=F64))
    assert all(float(b.detach().abs().max()) == 0 for b in net.biases)
    one = M.jamming_net(6, 6, 3, seeds=[5])
    for a, b in zip(net.parameters(), one.parameters(), strict=True):
        torch.testing.assert_close(a[1], b[0], rtol=0, atol=0)


def test_set_flat_parameters_round_trip():
    net = M.jamming_net(3, 5, 3, seeds=[1, 2])
    other = M.jamming_net(3, 5, 3, seeds=[7, 8])
    F.set_flat_parameters(other, net.flat_parameters().detach())
    for a, b in zip(net.parameters(), other.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="shape"):
        F.set_flat_parameters(other, torch.zeros(2, 3))


def test_hinge_loss_hand_example_and_its_gradient():
    f = torch.tensor([[2.0, 0.5, -0.3, 0.2]], dtype=F64, requires_grad=True)
    y = torch.tensor([1.0, 1.0, -1.0, -1.0], dtype=F64)
    delta = J.margins(f, y)
    torch.testing.assert_close(delta, torch.tensor([[-1.0, 0.5, 0.7, 1.2]], dtype=F64))
    loss = J.hinge_loss(delta)
    assert float(loss.detach()) == pytest.approx((0.5**2 + 0.7**2 + 1.2**2) / 2 / 4)
    assert int(J.n_unsatisfied(delta)) == 3
    (grad,) = torch.autograd.grad(loss.sum(), f)  # ∂L/∂f = −y Δ θ(Δ) / P
    torch.testing.assert_close(grad, torch.tensor([[0.0, -0.5, 0.7, 1.2]], dtype=F64) / 4)
    mask = torch.tensor([[True, True, False, False]])
    assert float(J.hinge_loss(delta, mask).detach()) == pytest.approx(0.5**2 / 2 / 2)
    assert int(J.n_unsatisfied(delta, mask)) == 1


def test_hinge_gradient_is_the_sum_over_contacts_of_delta_grad_delta():
    x, y = D.random_data(30, 4, seed=0)
    net = M.jamming_net(4, 5, 2, seeds=[1])
    with torch.no_grad():
        net.weights[-1].mul_(4)  # outputs beyond the margin for some points
    theta = net.flat_parameters()[0].detach().clone().requires_grad_(True)
    gaps = T.gap_function(net.sizes, x, y)
    torch.testing.assert_close(gaps(theta.detach()), J.margins(net(x), y)[0])
    loss = J.hinge_loss(gaps(theta)[None])[0]
    (grad,) = torch.autograd.grad(loss, theta)
    delta = gaps(theta.detach())
    jac = torch.func.jacrev(gaps)(theta.detach())
    assert 0 < int((delta > 0).sum()) < 30
    torch.testing.assert_close(grad, (torch.relu(delta) @ jac) / 30)


def _problem(p=60, d=5, width=12, depth=2, seeds=(0, 1, 2)):
    x, y = D.random_data(p, d, seed=7)
    return x, y, M.jamming_net(d, width, depth, seeds=list(seeds))


def test_adam_updates_equal_torch_adam_with_the_step_schedule():
    x, y, net = _problem(p=200, width=4)  # too many points: nobody fits them in 40 steps
    ref = M.jamming_net(5, 4, 2, seeds=[0, 1, 2])
    config = J.HingeConfig(lr=3e-3, decay_every=15, decay_factor=4.0, lr_min=5e-4,
                           max_steps=40)
    result = J.minimise(net, x, y, config=config, progress=False)
    assert (result.steps == 40).all() and (result.n_delta > 0).all()
    opt = torch.optim.Adam(ref.parameters(), lr=config.lr)
    for t in range(40):
        for group in opt.param_groups:
            group["lr"] = config.lr_at(t)
        opt.zero_grad()
        J.hinge_loss(J.margins(ref(x), y)).sum().backward()
        opt.step()
    # equal up to float64 cancellation in small gradient components, which Adam's
    # normalisation amplifies (each step moves a weight by about lr = 3e-3)
    for a, b in zip(net.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-8)
    constant = M.jamming_net(5, 4, 2, seeds=[0, 1, 2])  # the schedule matters at this tolerance
    J.minimise(constant, x, y, config=J.HingeConfig(lr=3e-3, max_steps=40), progress=False)
    assert float((constant.weights[0] - ref.weights[0]).detach().abs().max()) > 1e-4
    assert config.lr_at(0) == 3e-3 and config.lr_at(15) == 3e-3 / 4 and config.lr_at(45) == 5e-4


def test_stops_exactly_at_the_first_iterate_with_every_point_fitted():
    x, y, net = _problem()
    start = [p.detach().clone() for p in net.parameters()]
    config = J.HingeConfig(lr=1e-2, max_steps=3000, sync_every=7)
    result = J.minimise(net, x, y, config=config, progress=False)
    assert result.sat.all() and len(set(result.steps.tolist())) > 1
    # net(x) (matmul, then the bias) rounds differently from the minimiser's baddbmm: a datum
    # fitted at Δ = 0 exactly there may read an ulp above it here (seen on an Intel Xeon)
    assert float(J.margins(net(x), y).max()) <= 1e-12
    assert (result.loss == 0).all()
    # one update fewer: not yet fitted. The same sync_every drops finished members at the same
    # steps, so the others are computed in batches of the same size: batched products of
    # another size may round differently in the last bit (seen on an Intel Xeon), which a
    # thousand Adam steps amplify into a fit a few steps earlier or later
    for k, steps in enumerate(result.steps):
        again = M.jamming_net(5, 12, 2, seeds=[0, 1, 2])
        with torch.no_grad():
            for p, s in zip(again.parameters(), start, strict=True):
                p.copy_(s)
        short = J.minimise(again, x, y, progress=False,
                           config=J.HingeConfig(lr=1e-2, max_steps=int(steps) - 1, sync_every=7))
        assert short.n_delta[k] > 0 and short.steps[k] == steps - 1


def test_members_with_their_own_data_sizes_equal_separate_runs():
    x, y, net = _problem(p=300, seeds=(3, 4, 5))
    sizes = [30, 150, 300]
    config = J.HingeConfig(lr=1e-2, max_steps=400, sync_every=3)
    together = J.minimise(net, x, y, sizes, config=config, progress=False)
    assert together.sat.any() and not together.sat.all()
    for k, (seed, p) in enumerate(zip((3, 4, 5), sizes, strict=True)):
        one = M.jamming_net(5, 12, 2, seeds=[seed])
        alone = J.minimise(one, x[:p], y[:p], config=config, progress=False)
        assert (alone.steps[0], alone.n_delta[0]) == (together.steps[k], together.n_delta[k])
        assert alone.loss[0] == pytest.approx(together.loss[k], rel=1e-9, abs=1e-15)
        for a, b in zip(net.parameters(), one.parameters(), strict=True):
            torch.testing.assert_close(a[k], b[0], rtol=1e-9, atol=1e-12)


def test_bad_input_is_refused():
    x, y, net = _problem()
    with pytest.raises(ValueError, match="x must be"):
        J.minimise(net, x[:, :3].expand(2, -1, -1), y, config=J.HingeConfig(max_steps=1))
    with pytest.raises(ValueError, match="n_data"):
        J.minimise(net, x, y, [10, 0, 5], config=J.HingeConfig(max_steps=1))
    with pytest.raises(ValueError, match="lr"):
        J.HingeConfig(lr=0)
    with pytest.raises(ValueError, match="ratios"):
        S.ScanSettings(ratios=(2.0, 1.0))


def test_converge_fits_a_fittable_run_and_never_raises_the_loss():
    x, y, net = _problem(p=30, width=12, seeds=(0,))
    J.minimise(net, x, y, config=J.HingeConfig(lr=1e-3, max_steps=5), progress=False)
    theta = net.flat_parameters()[0].detach()
    start = float(J.hinge_loss(J.margins(net(x), y))[0])
    assert start > 0
    out = J.converge(theta, net.sizes, x, y, max_iter=500)
    assert out.n_delta == 0 and out.loss == 0 and out.iterations >= 1  # P = 30 ≪ N: fits
    x, y, net = _problem(p=200, width=3, seeds=(1,))  # far too many points: it cannot
    theta = net.flat_parameters()[0].detach()
    start = float(J.hinge_loss(J.margins(net(x), y))[0])
    out = J.converge(theta, net.sizes, x, y, max_iter=300)
    assert 0 < out.loss < start and out.n_delta > 0
