"""Chapter 1: the science in the smoke profile (measured λ_c and order against the theory), and
every finding's rule on constructed inputs, each with a negative control."""

import numpy as np
import pytest

from l2lib.analysis import theory, transitions
from l2lib.analysis.findings import Verdict
from l2lib.experiments import onset, onset_profiles
from l2lib.runtime import check_profile, resolve_device

SMOKE = onset_profiles.settings("smoke")


@pytest.fixture(scope="module")
def teacher():
    return onset.make_teacher(SMOKE, (1.0,), seed=0)


@pytest.fixture(scope="module")
def sweeps(teacher):
    return {d: onset.deep_linear_hysteresis(teacher, d, onset.linear_grid(SMOKE, teacher.m, d),
                                            SMOKE) for d in (1, 2)}


@pytest.mark.parametrize("depth", [1, 2])
def test_measured_critical_strength_within_5_percent_of_theory(sweeps, teacher, depth):
    analysis = onset.analyse_linear(sweeps[depth], teacher, depth, SMOKE)
    assert analysis.lam_c_theory == pytest.approx(theory.critical_lambda(teacher.m, 1.0, depth))
    assert analysis.rel_error < 0.05, analysis


def test_order_is_classified_from_the_data(sweeps, teacher):
    assert onset.analyse_linear(sweeps[1], teacher, 1, SMOKE).order == "second"
    assert onset.analyse_linear(sweeps[2], teacher, 2, SMOKE).order == "first"


def test_hysteresis_only_with_two_hidden_layers(sweeps, teacher):
    one = onset.analyse_linear(sweeps[1], teacher, 1, SMOKE)
    two = onset.analyse_linear(sweeps[2], teacher, 2, SMOKE)
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
        onset_profiles.settings("fast")
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['n_lambda'\]"):
        onset_profiles.settings("quick", n_lambda=3)
    assert onset_profiles.settings("quick", n_lams=7).n_lams == 7
    assert onset_profiles.settings("smoke", n_lams=7).n_lams == 7  # overrides a profile's own value
    assert onset_profiles.settings("quick") == onset.OnsetSettings()
    with pytest.raises(ValueError, match="unknown profile"):
        check_profile("Paper")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    import torch
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no usable CUDA"):
            resolve_device("cuda")


def test_sweep_points_are_minima_after_polishing(sweeps):
    for h in sweeps.values():
        for branch in (h.up, h.down):
            assert onset.converged_points(branch, SMOKE.residual_rtol, SMOKE.residual_atol).all()


# --------------------------------------------------------------------------------------------
# Findings on constructed inputs

GRID = np.linspace(0.0, 1.2, 25)


def linear(depth=2, order="first", lam_c=0.80, lam_c_theory=0.7937, loop_width=0.5,
           saddle=None, unconverged=None, method="crossing of the branches' losses"):
    n = GRID.size
    saddle = np.zeros(n, bool) if saddle is None else saddle
    unconv = np.zeros(n, bool) if unconverged is None else unconverged
    check = onset.MinimumCheck(~unconv, ~unconv, saddle)
    up = np.where(GRID <= loop_width + 0.05, 1.0, 0.0) if depth >= 2 else np.maximum(1 - GRID, 0)
    down = np.zeros(n) if depth >= 2 else up
    loop = transitions.hysteresis_loop(GRID, up, down, 0.1, check.excluded)
    return onset.LinearAnalysis(depth, order, method, "second" if depth == 1 else "first",
                                lam_c, lam_c_theory, method, 0.9, 0.94, loop, check, n)


def test_lam_c_finding_agrees_within_tolerance_and_not_beyond():
    assert "derived in this companion" in onset.lam_c_finding(linear(), 0.05).paper
    assert "derived" not in onset.lam_c_finding(linear(depth=1), 0.05).paper
    assert onset.lam_c_finding(linear(lam_c=0.80), 0.05).verdict is Verdict.AGREES
    assert onset.lam_c_finding(linear(lam_c=0.90), 0.05).verdict is Verdict.DISAGREES
    coarse = linear(order="unresolved", lam_c=float("nan"), method="grid too coarse")
    assert onset.lam_c_finding(coarse, 0.05).verdict is Verdict.NOT_MEASURABLE


def test_order_finding_cannot_pass_a_wrong_or_missing_transition():
    assert onset.order_finding(linear(order="first")).verdict is Verdict.AGREES
    assert onset.order_finding(linear(order="second")).verdict is Verdict.DISAGREES
    assert onset.order_finding(linear(order="none")).verdict is Verdict.UNDECIDED
    assert onset.order_finding(linear(order="unresolved", method="grid too coarse: 3")
                               ).verdict is Verdict.NOT_MEASURABLE


def test_hysteresis_finding_does_not_count_saddles_as_metastable():
    assert onset.hysteresis_finding(linear(), 0.34).verdict is Verdict.AGREES
    # negative control: the branches differ only at saddles of the down sweep (θ = 0 at λ = 0);
    # the previous rule (width > 0 wherever they differ) agreed
    short = linear(loop_width=0.05, saddle=GRID <= 0.15)
    assert transitions.hysteresis_width(GRID, np.where(GRID <= 0.1, 1.0, 0.0),
                                        np.zeros(GRID.size)) > 0
    found = onset.hysteresis_finding(short, 0.34)
    assert short.loop.width == 0 and found.verdict is Verdict.DISAGREES
    # one hidden layer: no loop expected, a loop disagrees
    assert onset.hysteresis_finding(linear(depth=1, order="second"), 0.34
                                    ).verdict is Verdict.AGREES
    unconverged = linear(unconverged=GRID > 0.3)
    assert onset.hysteresis_finding(unconverged, 0.34).verdict is Verdict.UNDECIDED


def test_staircase_and_mlp_findings():
    assert onset.staircase_finding(1, 3, 3).verdict is Verdict.AGREES
    assert onset.staircase_finding(1, 2, 3).verdict is Verdict.DISAGREES
    lams = np.linspace(0.05, 1.5, 30)
    check = onset.MinimumCheck(np.ones(30, bool), np.ones(30, bool), np.zeros(30, bool))
    loop = transitions.hysteresis_loop(lams, np.ones(30), np.ones(30))

    def mlp(phi, k=1):
        found = transitions.classify_transition(lams, phi)
        return onset.MlpAnalysis(k, found.order, found.lam_c, found.method,
                                 found.jump_fraction, loop, check, 30)

    kink = np.maximum(0.0, 3.0 * (1.0 - lams))
    smooth = 3.0 / (1 + np.exp((lams - 0.7) / 0.12))
    assert onset.mlp_order_finding(mlp(kink), "digits").verdict is Verdict.AGREES
    # negative control: a smooth decay; the previous rule (straight-line fit) said "second"
    assert onset.mlp_order_finding(mlp(smooth), "digits").verdict is Verdict.UNDECIDED
    assert onset.mlp_order_finding(mlp(kink, k=2), "digits").verdict is Verdict.DISAGREES
    assert onset.mlp_hysteresis_finding(mlp(kink), "digits", 0.34).verdict is Verdict.AGREES


def test_findings_cover_the_chapter_and_glue_their_verdicts():
    found = onset.findings({1: linear(depth=1, order="second", lam_c=2.0, lam_c_theory=2.0),
                            2: linear()}, {1: 3}, {}, SMOKE, "digits")
    assert [f.key for f in found] == [
        "onset.lam_c.D1", "onset.order.D1", "onset.hysteresis.D1", "onset.lam_c.D2",
        "onset.order.D2", "onset.hysteresis.D2", "onset.staircase.D1"]
    glued = onset.glue_values(found)
    assert glued["verdict_order_D2"] == "agrees" and glued["lam_c_D2"] == 0.80


def test_two_hidden_layer_mlp_sweeps_converge_to_minima():
    import torch

    from l2lib.data import Dataset
    from l2lib.train.loop import TrainConfig

    g = torch.Generator().manual_seed(0)
    x = torch.randn(80, 6, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    data = Dataset("toy", x[:60], y[:60], x[60:], y[60:], 3)
    short = TrainConfig(loss="cross_entropy", optimizer="sgd", lr=0.5, batch_size=None,
                        max_epochs=60, patience=5, min_delta=1e-4)
    tiny = dict(mlp_hidden=6, mlp_n_lams=4, mlp_lam_max={1: 1.0, 2: 0.2}, mlp_train=short)
    s = onset_profiles.settings("smoke", **tiny)
    check = onset.minimum_check_of(onset.mlp_hysteresis(data, 2, s), s, mlp=True)
    assert check.converged_up.all() and check.converged_down.all()
    # negative control: without the polish the early-stopping rule leaves unconverged points
    unpolished = onset_profiles.settings("smoke", mlp_polish_iters=0, **tiny)
    raw = onset.mlp_hysteresis(data, 2, unpolished)
    raw_check = onset.minimum_check_of(raw, s, mlp=True)
    assert not (raw_check.converged_up.all() and raw_check.converged_down.all())


def test_second_order_lam_c_comes_from_the_approach_to_zero_not_the_fast_initial_decay(
        monkeypatch):
    # an MLP-like norm: a fast relaxation at small λ on top of a linear approach to zero at λ_c
    # (the shape of chapter 1's one-hidden-layer MLP: ‖θ‖ ≈ 5.5 → 0 with a relaxation of ≈ 2.5)
    lam_c, lams = 0.64, np.linspace(0.0, 1.0, 41)
    phi = np.where(lams < lam_c, 5 * (lam_c - lams)
                   + 2.5 * (np.exp(-lams / 0.1) - np.exp(-lam_c / 0.1)), 0.0)
    ok = np.ones(lams.size, dtype=bool)
    found = onset.classify_converged(lams, phi, ok)
    assert found.order == "second" and abs(found.lam_c - lam_c) < lams[1] - lams[0]
    assert "approach to zero" in found.method
    # negative control: the line through 20–80 % of the range lands several steps early
    whole = transitions.classify_transition(lams, phi)
    assert whole.order == "second" and lam_c - whole.lam_c > 3 * (lams[1] - lams[0])
    # a linear order parameter (D = 1) gives the same λ_c either way
    straight = theory.order_parameter(lams * 4, 1.0, 1.0, 1)
    assert onset.classify_converged(lams * 4, straight, ok).lam_c == pytest.approx(
        transitions.classify_transition(lams * 4, straight).lam_c, rel=1e-9)
    # fewer than 2 grid points on the approach: unresolved, with the reason
    monkeypatch.setattr(onset, "APPROACH", (0.30, 0.31))
    gap = onset.classify_converged(lams, phi, ok)
    assert gap.order == "unresolved" and np.isnan(gap.lam_c) and "refine the λ grid" in gap.method
