"""Chapter 5's experiment module (l2lib.experiments.pathfinder): settings per profile, the
reading of a path (jumps, class-encoding changes) and every finding, each on constructed inputs
where it must agree, a negative control where it must not, and an undecided or not-measurable
case."""

import numpy as np
import pytest
import torch

from l2lib.analysis.findings import Verdict
from l2lib.experiments import pathfinder as ch5
from l2lib.experiments import pathfinder_profiles as P
from l2lib.measure.saddles import Mode
from l2lib.train import pathfinder as pf

# --------------------------------------------------------------------------------------------
# Settings


def test_settings_profiles_and_overrides():
    quick = P.settings("quick")
    assert quick == ch5.PathfinderSettings()  # the dataclass defaults are the quick profile
    # the paper's grid: β_paper linear from 0 to 5e-6 (l2lib's β is twice that)
    np.testing.assert_allclose(pf.paper_beta(quick.betas),
                               np.linspace(0, 5e-6, quick.n_betas), rtol=1e-12)
    paper = P.settings("paper")
    assert paper.n_betas == 501
    np.testing.assert_allclose(np.diff(pf.paper_beta(paper.betas)), 1e-8, rtol=1e-9)
    assert P.settings("reference").n_betas > quick.n_betas > P.settings("smoke").n_betas
    assert P.settings("quick", n_minima=3, hidden=[8]).hidden == (8,)
    with pytest.raises(ValueError, match="unknown setting.*betas_per_decade"):
        P.settings("quick", betas_per_decade=3)
    with pytest.raises(ValueError, match="unknown profile"):
        P.settings("huge")
    with pytest.raises(ValueError, match="n_minima"):
        P.settings("quick", n_minima=1)


def test_towards_grid_thins_chapter3s_grid_and_adds_the_tail():
    s = P.settings("quick", towards_points=5, towards_tail=(0.05, 0.2))
    grid = ch5.towards_grid(np.linspace(0, 0.1, 101), s)
    np.testing.assert_allclose(grid, [0, 0.025, 0.05, 0.075, 0.1, 0.2])


# --------------------------------------------------------------------------------------------
# Reading a path: jumps and the classes on either side


def synthetic_path():
    """Ten digits recognised; then 5 and 8 are lost (a pure loss); then 2 and 9 are lost while
    5 comes back (a switch)."""
    n = 12
    recall = np.ones((n, 1, 10))
    recall[4:, 0, [5, 8]] = 0.0
    recall[8:, 0, [2, 9]] = 0.0
    recall[8:, 0, 5] = 1.0
    obs = {"test_acc": recall.mean(axis=2), "class_acc": recall,
           "dist_ref": np.linspace(10, 1, n)[:, None]}
    params = {"w": torch.zeros(1, 1)}
    return pf.Path(np.linspace(0, 0.1, n), obs, params, params, [params] * n, 1, 1)


def test_encoding_change_tells_a_switch_from_a_loss():
    assert ch5.encoding_change((0, 1, 2), (0, 1, 3)) == "switch"
    assert ch5.encoding_change((0, 1, 2), (0, 1)) == "loss"
    assert ch5.encoding_change((0, 1), (0, 1, 2)) == "gain"
    assert ch5.encoding_change((0, 1), (1, 0)) == "none"


def test_switches_name_the_digits_lost_and_gained():
    path = synthetic_path()
    found = ch5.steps_of(path.betas, path.obs["test_acc"][:, 0], path.obs["class_acc"][:, 0])
    jumps = ch5.switches(path, 0, found)
    assert [(s.before, s.after) for s in jumps] == [(3, 4), (7, 8)]
    assert jumps[0].lost == (5, 8) and jumps[0].gained == () and jumps[0].kind == "loss"
    assert jumps[1].lost == (2, 9) and jumps[1].gained == (5,) and jumps[1].kind == "switch"
    assert jumps[1].distance == (pytest.approx(path.obs["dist_ref"][7, 0]),
                                 pytest.approx(path.obs["dist_ref"][8, 0]))
    assert jumps[1].accuracy == (pytest.approx(0.8), pytest.approx(0.7))
    assert found.middles() == [1, 5, 9]
    flat = ch5.steps_of(path.betas, np.ones(12), np.ones((12, 10)))
    with pytest.raises(ValueError, match="no transition"):
        ch5.reference_indices(flat, 2)


def test_reference_indices_spread_over_the_transitions():
    class Found:
        indices = [10, 20, 30, 40, 50, 60]

    assert ch5.reference_indices(Found, 3) == [0, 2, 5]
    assert ch5.reference_indices(Found, 1) == [5]  # the deepest
    assert ch5.reference_indices(Found, 10) == [0, 1, 2, 3, 4, 5]


def test_order_agreement():
    order = [(5,), (8,), (9,), (2, 4, 6), (3,), (1,), (7,), (0,)]
    assert ch5.order_agreement(order, order) == pytest.approx(1.0)
    assert ch5.order_agreement(order[::-1], order) < 0
    assert np.isnan(ch5.order_agreement([], order))


# --------------------------------------------------------------------------------------------
# Findings


def test_toy_finding_on_the_real_toy_and_a_broken_one():
    s = P.settings("smoke", toy_beta_step=0.2, saddle_positions=(0.5,))
    toy = ch5.toy(s)
    good = ch5.toy_finding(toy, s.overlap_min)
    assert good.verdict == Verdict.AGREES, good.companion
    assert good.numbers["toy_jumps"] == 1 and good.numbers["toy_bowl_jumps"] == 0
    # negative control: a "saddle" at every control step as well must not agree
    broken = ch5.Toy(**{**toy.__dict__, "control_scans": toy.scans})
    assert ch5.toy_finding(broken, s.overlap_min).verdict == Verdict.DISAGREES


def test_no_barrier_finding():
    lin = np.array([2.0, 3.0, 2.5])
    agree = ch5.no_barrier_finding(np.array([0.0, 0.01, 0.05]), lin, np.array([0.01] * 3))
    assert agree.verdict == Verdict.AGREES
    # negative control: one path as high as the straight line
    assert ch5.no_barrier_finding(np.array([0.0, 2.9, 0.0]), lin,
                                  np.ones(3)).verdict == Verdict.DISAGREES
    # the old rule (Pathfinder below a tenth of the straight line's barrier) passed this: the
    # straight line has no barrier either, so there is nothing to compare → undecided
    flat = ch5.no_barrier_finding(np.zeros(3), np.array([0.002, 0.001, 0.003]), np.ones(3))
    assert flat.verdict == Verdict.UNDECIDED and flat.note
    # the straight segment closing the path at the target is reported, not judged
    untrained = ch5.no_barrier_finding(np.zeros(3), lin, np.ones(3), end_loss=1.9)
    assert untrained.verdict == Verdict.NOT_MEASURABLE and "not trained" in untrained.note
    closed = ch5.no_barrier_finding(np.zeros(3), lin, np.ones(3), closing_barrier=lin)
    assert closed.verdict == Verdict.AGREES and closed.numbers["closing_barrier"] == 2.5
    assert ch5.no_barrier_finding(np.array([np.nan]), np.array([1.0]),
                                  np.ones(1)).verdict == Verdict.NOT_MEASURABLE


def test_distance_finding():
    betas = np.linspace(0, 5e-6, 6)
    start = np.array([140.0, 135.0])
    grows_then_falls = np.array([[140, 135], [178, 175], [150, 140], [100, 95], [60, 55],
                                 [33, 32]], float)
    assert ch5.distance_finding(betas, grows_then_falls, start).verdict == Verdict.AGREES
    # negative control: a path that never moves is "still short of the target" (the old rule
    # agreed) but neither grows nor comes closer
    still = np.tile(start, (6, 1))
    assert ch5.distance_finding(betas, still, start).verdict == Verdict.DISAGREES
    arrives = grows_then_falls.copy()
    arrives[-1] = [1.0, 1.0]
    assert ch5.distance_finding(betas, arrives, start).verdict == Verdict.DISAGREES
    small = grows_then_falls.copy()
    small[1] = [141.0, 136.0]  # grows by < 5 %
    undecided = ch5.distance_finding(betas, small, start)
    assert undecided.verdict == Verdict.UNDECIDED and undecided.note
    short = ch5.distance_finding(betas / 10, grows_then_falls, start)
    assert short.verdict == Verdict.NOT_MEASURABLE


def test_towards_finding():
    assert ch5.towards_finding(4, 3, 0.8, np.array([True, True])).verdict == Verdict.AGREES
    # negative control: the digits go in the opposite order
    assert ch5.towards_finding(4, 3, -0.5, np.array([True, True])).verdict == Verdict.DISAGREES
    assert ch5.towards_finding(4, 3, 0.8, np.array([True, False])).verdict == Verdict.DISAGREES
    assert ch5.towards_finding(4, 0, np.nan, np.array([True])).verdict == Verdict.DISAGREES
    assert ch5.towards_finding(4, 1, np.nan, np.array([True])).verdict == Verdict.UNDECIDED
    assert ch5.towards_finding(1, 3, 0.8, np.array([True])).verdict == Verdict.NOT_MEASURABLE


def test_switch_finding():
    assert ch5.switch_finding(["loss", "switch", "loss"]).verdict == Verdict.AGREES
    # negative control: every jump a pure loss — the old rule counted any change as a switch
    only_losses = ch5.switch_finding(["loss", "loss", "loss"])
    assert only_losses.verdict == Verdict.DISAGREES
    assert only_losses.numbers["n_losses"] == 3 and only_losses.numbers["n_switches"] == 0
    assert ch5.switch_finding([]).verdict == Verdict.NOT_MEASURABLE


def test_eigenvalue_finding():
    agree = ch5.eigenvalue_finding([-0.3, -0.2, -0.25], [-0.01, 0.0, -0.02])
    assert agree.verdict == Verdict.AGREES
    # negative control: the mid-plateau controls are as negative as the checkpoints before the
    # jumps (the old rule — all negative before the jumps — agreed)
    same = ch5.eigenvalue_finding([-0.06, -0.05, -0.05], [-0.06, -0.055, -0.05])
    assert same.verdict == Verdict.DISAGREES
    assert ch5.eigenvalue_finding([0.1, 0.2], [0.3, 0.4]).verdict == Verdict.DISAGREES
    assert ch5.eigenvalue_finding([-0.3], [0.0, 0.1]).verdict == Verdict.NOT_MEASURABLE
    concave = ch5.eigenvalue_finding([-0.3, -0.001], [0.0, 0.1], betas_before=[0.1, 0.1])
    assert concave.numbers["n_concave"] == 1


def modes(*pairs, beta=0.0):
    return [Mode(eig=e, beta=beta, overlap=o, position=0.5) for e, o in pairs]


def test_saddle_finding():
    saddle, flat, sideways = modes((-1.0, 0.9)), modes((0.5, 0.9)), modes((-1.0, 0.01))
    agree = ch5.saddle_finding([saddle, saddle], [flat, flat, sideways], 0.1)
    assert agree.verdict == Verdict.AGREES
    # negative control: the controls show it as often as the jumps
    assert ch5.saddle_finding([saddle, flat], [saddle, flat], 0.1).verdict == Verdict.DISAGREES
    assert ch5.saddle_finding([flat, sideways], [flat], 0.1).verdict == Verdict.DISAGREES
    # a negative eigenvalue of ∇²E that the shift β lifts above zero is no saddle of L
    lifted = modes((-1.0, 0.9), beta=2.0)
    assert ch5.saddle_finding([lifted], [flat], 0.1).verdict == Verdict.DISAGREES
    mixed = ch5.saddle_finding([saddle, saddle], [saddle, saddle, flat], 0.1)
    assert mixed.verdict == Verdict.UNDECIDED and mixed.note
    assert ch5.saddle_finding([], [flat], 0.1).verdict == Verdict.NOT_MEASURABLE


def test_eigenvalue_and_saddle_findings_use_only_minima():
    """Issue 15 / review R5: the same eigenvalues and saddles that agree between minima are no
    evidence where training merely stopped (residual ≈ 1); the previous rules, blind to the
    residual, agreed on both."""
    b, c, tol = [-0.3, -0.2, -0.25], [-0.01, 0.0, -0.02], 0.05
    minima = ch5.eigenvalue_finding(b, c, before_residual=[0.01] * 3,
                                    control_residual=[0.02] * 3, residual_tol=tol)
    assert minima.verdict == Verdict.AGREES and "3 of 3 checkpoints" in minima.companion
    stopped = ch5.eigenvalue_finding(b, c, before_residual=[1.1, 0.9, 1.3],
                                     control_residual=[0.02] * 3, residual_tol=tol)
    assert stopped.verdict == Verdict.NOT_MEASURABLE and stopped.note == ch5.NOT_MINIMA
    assert "0 of 3 checkpoints" in stopped.companion
    saddle, flat = modes((-1.0, 0.9)), modes((0.5, 0.9))
    between = ch5.saddle_finding([saddle, saddle], [flat, flat], 0.1,
                                 jump_minima=[True, True], control_minima=[True, True])
    assert between.verdict == Verdict.AGREES
    off = ch5.saddle_finding([saddle, saddle], [flat, flat], 0.1,
                             jump_minima=[False, False], control_minima=[True, True])
    assert off.verdict == Verdict.NOT_MEASURABLE and off.note == ch5.NOT_MINIMA
    assert "steps between minima: 0 of 2 jumps" in off.companion


def test_saddle_scans_on_a_network_path_match_the_dense_hessian():
    from l2lib.data import load_dataset
    from l2lib.measure import curvature
    from l2lib.models import flat
    from l2lib.models.mlp import mlp

    data = load_dataset("digits", dtype=torch.float64, n_train=None)
    net = mlp(64, [2], 10, seeds=[0, 1], activation="sigmoid", dtype=torch.float64)
    gen = torch.Generator().manual_seed(0)
    points = [{n: torch.randn(p.shape, generator=gen, dtype=p.dtype)
               for n, p in net.named_parameters()} for _ in range(4)]
    obs = {"dist_ref": np.ones((4, 2))}
    path = pf.Path(np.array([0.0, 0.1, 0.2, 0.3]), obs, points[0], points[0], points, 1, 1)
    s = P.settings("smoke", hessian_samples=100, max_scans=2, saddle_positions=(0.0,),
                     hessian_tol=1e-10)
    scans = ch5.saddle_scans(path, 1, [1, 1], [0, 1, 2], data, [2], "sigmoid", s, seed=3)
    assert list(scans.jumps) == [1] and list(scans.controls) == [0]  # budget: 2 steps in all
    mode = scans.jumps[1][0]
    assert mode.beta == pytest.approx(0.2) and 0 <= mode.overlap <= 1
    pick = torch.randperm(data.n_train, generator=torch.Generator().manual_seed(3))[:100]
    flat.load_params(net, points[1])
    fn, theta = curvature.member_objective(net, 1, data.x_train[pick], data.y_train[pick],
                                           "cross_entropy")
    dense = torch.linalg.eigvalsh(curvature.dense_hessian(fn, theta))[0]
    assert mode.eig == pytest.approx(float(dense), rel=1e-6, abs=1e-9)
    assert scans.at_checkpoints("jumps") == [mode.eig]


def test_the_path_observer_measures_stationarity_towards_each_members_reference():
    """The residual is that of L_β = E + (β/2)‖θ − θ_ref‖² with each member's own θ_ref, its
    parameters matched by name: θ = θ_ref leaves only ∇E (no pull: residual inf), θ_ref = 0 is
    the standard L2 residual, and a reference shifted by −∇E/β makes θ stationary (residual 0)."""
    from l2lib.data import load_dataset
    from l2lib.measure import observables
    from l2lib.models.flat import params_of
    from l2lib.models.mlp import mlp

    data = load_dataset("digits", dtype=torch.float64, n_train=200)
    net = mlp(64, [3], 10, seeds=[0, 1], activation="sigmoid", dtype=torch.float64)
    beta = torch.tensor(0.5, dtype=torch.float64)
    plain = ch5.path_observer(data)(net, beta)
    assert "residual" not in plain
    here = ch5.path_observer(data, params_of(net))(net, beta)
    assert torch.isinf(here["residual"]).all()
    zero = {n: torch.zeros_like(p) for n, p in params_of(net).items()}
    assert torch.allclose(ch5.path_observer(data, zero)(net, beta)["residual"],
                          observables.stationarity(net, data.x_train, data.y_train,
                                                   "cross_entropy", beta)["residual"])
    err = observables.member_error(net(data.x_train), data.y_train, "cross_entropy").sum()
    grads = torch.autograd.grad(err, list(net.parameters()))
    shifted = {n: p.detach() + g / beta for (n, p), g in zip(net.named_parameters(), grads,
                                                            strict=True)}
    stationary = ch5.path_observer(data, shifted)(net, beta)
    assert stationary["residual"].max() < 1e-10


def test_minima_paths_on_a_prefix_of_the_grid_are_the_first_points_of_the_full_paths():
    """The slice check of chapter 5 relies on it: a path is causal in β."""
    from l2lib.data import load_dataset

    data = load_dataset("digits", n_train=300)
    s = P.settings("smoke", hidden=(8, 8), n_minima=3)
    minima = ch5.train_minima(data, s, seed=0)
    full = ch5.minima_paths(data, minima, s, progress=False)
    head = ch5.minima_paths(data, minima, s, betas=s.betas[:2], progress=False)
    assert head.betas.size == 2 and full.betas.size == s.n_betas
    for name in ("dist_ref", "dist_start", "epochs"):
        np.testing.assert_allclose(head.obs[name], full.obs[name][:2], rtol=1e-12, atol=0)
