"""Chapter 3's machinery: settings per profile, the warm β sweep (fresh optimiser per β,
early stopping, ensemble = separate seeds, checkpoints, the way down), the hierarchy of
transitions and every finding, each with a negative control. The threshold staircase
(:func:`l2lib.analysis.transitions.staircase`, still used by chapter 5's paths) keeps its
idealised tests here."""

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch

from l2lib.analysis import staircase, transitions, weak_jumps
from l2lib.analysis.findings import Verdict
from l2lib.data import load_dataset
from l2lib.experiments import regimes
from l2lib.measure import observables as measure
from l2lib.models.mlp import mlp
from l2lib.train.loop import TrainConfig, train
from l2lib.train.sweep import SweepResult


def noisy_staircase(levels, starts, n=120, noise=0.008, seed=0):
    """Plateaus at ``levels`` starting at grid indices ``starts`` (the first at 0)."""
    lams = np.linspace(0, 0.1, n)
    y = np.empty(n)
    for level, a, b in zip(levels, starts, list(starts[1:]) + [n], strict=True):
        y[a:b] = level
    y = y - 0.05 * lams  # a slow drift inside the plateaus, as in real sweeps
    return lams, y + np.random.default_rng(seed).normal(0, noise, n)


def test_staircase_finds_each_drop_within_one_grid_step():
    levels, starts = [0.97, 0.77, 0.62, 0.38, 0.24, 0.10], [0, 30, 45, 70, 85, 100]
    lams, y = noisy_staircase(levels, starts)
    found = transitions.staircase(lams, y, min_drop=0.05)
    assert len(found.drops) == 5
    step = lams[1] - lams[0]
    for drop, start in zip(found.drops, starts[1:], strict=True):
        assert abs(drop.lam - 0.5 * (lams[start - 1] + lams[start])) <= step
        assert drop.index == start - 1  # the last point of the plateau before
    np.testing.assert_allclose([p.level for p in found.plateaus], levels, atol=0.01)
    assert [p.first for p in found.plateaus] == starts


def test_a_drop_spread_over_two_steps_is_one_transition_and_a_ramp_is_none():
    lams = np.linspace(0, 1, 40)
    y = np.where(lams < 0.5, 0.9, 0.3)
    y[20] = 0.6  # the fall takes two grid steps
    found = transitions.staircase(lams, y, min_drop=0.1)
    assert len(found.drops) == 1 and found.drops[0].size == pytest.approx(0.6)
    noisy = np.array([0.25, 0.27, 0.25, 0.28, 0.22, 0.24, 0.22, 0.21, 0.1, 0.1, 0.1])
    found = transitions.staircase(np.arange(11.0), noisy, min_drop=0.05)
    assert len(found.drops) == 1 and found.drops[0].lam == 7.5  # 0.28 → 0.22 is noise
    ramp = 0.9 - 0.8 * lams  # falls by 0.02 per step: a decline, not a transition
    assert transitions.staircase(lams, ramp, min_drop=0.05).drops == []
    with pytest.raises(ValueError, match="min_drop"):
        transitions.staircase(lams, y, min_drop=0)


def synthetic_sweep(lost_groups, drop_at, n=60, members=2):
    """Per-class accuracies that lose ``lost_groups[k]`` at grid index ``drop_at[k]``."""
    lams = np.linspace(0, 0.1, n)
    per_class = np.ones((n, members, 10))
    for group, index in zip(lost_groups, drop_at, strict=True):
        per_class[index:, :, list(group)] = 0.0
    per_class = per_class * 0.97
    obs = {"class_acc": per_class, "test_acc": per_class.mean(axis=2)}
    return SweepResult(lams, obs, "up")


def test_detect_regimes_names_the_digits_lost_at_each_transition():
    groups = [(5,), (8, 9), (2, 4, 6), (3, 1)]
    result = synthetic_sweep(groups, [10, 20, 35, 50])
    found = regimes.detect_regimes(result)
    assert found.lost == [sorted(g) for g in groups]
    assert found.indices == [9, 19, 34, 49]
    assert found.recognised[-1] == [0, 7]
    assert regimes.detect_regimes(result, member=1).lost == found.lost


def test_loss_order_agreement_ranks_a_regained_digit_by_its_final_loss():
    paper = regimes.PAPER_MNIST["loss_order"]
    assert regimes.loss_order_agreement(paper) == pytest.approx(1.0)
    assert regimes.loss_order_agreement(paper[::-1]) < -0.9
    # plateaus in the paper's order up to digit 7; digit 0 is lost at T1, regained at T2 and
    # still recognised at the end, where the paper ranks it (lost last)
    groups = [list(g) for g in paper]
    recognised = [[d for d in range(10) if d not in sum(groups[:k], [])] for k in range(8)]
    recognised[1] = [d for d in recognised[1] if d != 0]
    assert recognised[-1] == [0]
    assert regimes.loss_order_agreement([], recognised=recognised) == pytest.approx(1.0)
    lost = [sorted(set(a) - set(b)) for a, b in zip(recognised[:-1], recognised[1:], strict=True)]
    assert lost[0] == [0, 5]  # the naive reading loses 0 first and never again ...
    assert regimes.loss_order_agreement(lost) < 0.9  # ... and mis-ranks it


@pytest.fixture(scope="module")
def tiny():
    data = load_dataset("digits", dtype=torch.float64, n_test=200)
    settings = regimes.settings("smoke", hidden=(8,), beta_max=0.03, beta_step=0.01,
                                hessian_every=2, hessian_probes=2)
    return data, settings


def test_fresh_optimiser_at_every_beta(tiny):
    """Training at β₂ after β₁ equals training at β₂ from the same weights by a model that never
    saw β₁: no optimiser state survives between points."""
    data, settings = tiny
    net = mlp(64, [8], 10, seeds=0, dtype=torch.float64)
    train(net, data.x_train, data.y_train, lam=0.01, config=settings.train)
    twin = copy.deepcopy(net)
    train(net, data.x_train, data.y_train, lam=0.02, config=settings.train)
    train(twin, data.x_train, data.y_train, lam=0.02, config=settings.train)
    for a, b in zip(net.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_minibatch_early_stopping_restores_the_best_epoch(tiny):
    """The weights kept after early stopping are those at the end of the best epoch: a run
    limited to that many epochs ends on the same weights."""
    data, _ = tiny
    config = TrainConfig(lr=0.05, batch_size=64, max_epochs=40, patience=2)
    net = mlp(64, [8], 10, seeds=1, dtype=torch.float64)
    start = copy.deepcopy(net)
    result = train(net, data.x_train, data.y_train, lam=0.05, config=config)
    assert result.stopped_early[0] and result.best_epoch[0] < result.epochs[0]
    limited = TrainConfig(lr=0.05, batch_size=64, max_epochs=int(result.best_epoch[0]),
                          patience=40)
    train(start, data.x_train, data.y_train, lam=0.05, config=limited)
    for a, b in zip(net.parameters(), start.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_ensemble_sweep_equals_separate_seed_sweeps(tiny, tmp_path):
    data, settings = tiny
    both = regimes.standard_sweep(data, settings, [0, 1], tmp_path, progress=False)
    for k, seed in enumerate([0, 1]):
        one = regimes.standard_sweep(data, settings, [seed], tmp_path, progress=False)
        for name in ("norm", "test_acc", "objective", "class_acc", "epochs"):
            np.testing.assert_allclose(both.result.obs[name][:, k], one.result.obs[name][:, 0],
                                       rtol=1e-9, atol=1e-12, err_msg=name)


def test_checkpoints_hold_the_observed_states_and_the_down_sweep_starts_at_the_top(
        tiny, tmp_path):
    data, settings = tiny
    up = regimes.standard_sweep(data, settings, [0], tmp_path, progress=False)
    for i in range(len(up.result.lams)):
        model = up.model_at(i)
        acc = measure.accuracy(model, data.x_test, data.y_test).numpy()
        np.testing.assert_allclose(acc, up.result.obs["test_acc"][i])
    assert np.isfinite(up.result.obs["eig_min"][::2, 0]).all()
    assert np.isfinite(up.result.obs["top_eigenvalues"][::2, 0]).all()
    assert np.isnan(up.result.obs["eig_min"][1::2, 0]).all()  # measured every 2nd point only
    with pytest.raises(ValueError, match="start="):
        regimes.standard_sweep(data, settings, [0], tmp_path, direction="down")
    down = regimes.standard_sweep(data, settings, [0], tmp_path, direction="down", start=up,
                                  progress=False)
    assert down.result.lams[0] == up.result.lams[-1] and down.result.direction == "down"


@pytest.mark.parametrize("kwargs, match", [
    ({"profile": "fast"}, "unknown profile"),
    ({"profile": "quick", "depth": 3}, "unknown setting"),
    ({"profile": "quick", "beta_max": 0.0105, "beta_step": 1e-2}, "multiple"),
])
def test_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        regimes.settings(**kwargs)


def test_profiles_paper_is_the_defaults_and_reference_is_the_paper_grid_up_and_down():
    assert regimes.settings("paper") == regimes.RegimeSettings()  # the authors' protocol
    ref = regimes.settings("reference")
    assert len(ref.betas) == 501 and ref.sweep_down and ref.n_seeds == 3
    assert ref.early_stopping == regimes.settings("paper").early_stopping == "authors"
    assert ref.first_train.max_epochs == 50
    assert regimes.settings("quick").early_stopping == "objective"  # see chapter 3
    # common random numbers on mnist-10k; the paper profile (full MNIST) as the authors
    assert ref.data_order == regimes.settings("quick").data_order == "fixed"
    assert regimes.settings("paper").data_order == "fresh"
    # the quick grid is fine enough for the detector with its data order
    assert regimes.settings("quick").beta_step <= regimes.resolving_step("fixed")
    with pytest.raises(ValueError, match="data_order must be one of"):
        regimes.settings("quick", data_order="same")
    assert regimes.settings("quick", lr=1e-2).train.lr == 1e-2
    assert regimes.settings("quick", beta_max=None) == regimes.settings("quick")
    with pytest.raises(ValueError, match="early_stopping"):
        regimes.settings("quick", early_stopping="best")


def test_sweep_down_is_honoured(tiny, tmp_path):
    data, settings = tiny
    up, down = regimes.sweeps(data, replace(settings, sweep_down=False), [0], tmp_path,
                              progress=False)
    assert down is None
    up, down = regimes.sweeps(data, settings, [0], tmp_path, progress=False)
    assert down.result.direction == "down" and down.result.lams[0] == settings.betas[-1]
    summary = regimes.hysteresis_summary(up.result, down.result)
    assert set(summary) >= {"width", "acc0_up", "acc0_down"}


def test_profiles_are_not_code_of_the_stored_sweeps():
    """Tuning a profile must not make the stored sweeps of every profile stale: the profile
    table is no dependency of the modules that compute chapter 3's and chapter 5's stores
    (their configurations record every setting instead)."""
    from l2lib.store import dependencies

    for computing in ("l2lib.experiments.regime_sweep", "l2lib.experiments.pathfinder"):
        deps = dependencies([computing])
        assert "l2lib.experiments.regime_sweep" in deps
        assert "l2lib.experiments.regime_profiles" not in deps
        assert "l2lib.experiments.regimes" not in deps


@pytest.mark.parametrize("computing", ["onset", "curvature", "vae", "pathfinder", "regime_sweep"])
def test_no_chapter_keys_its_stores_by_a_profile_table(computing):
    """The same for chapters 1, 2, 4 and 5: their profile tables live in ``*_profiles`` modules,
    which no module computing a store imports (chapter 6's are still in
    :mod:`l2lib.experiments.jamming_scans`)."""
    from l2lib.store import dependencies

    deps = dependencies([f"l2lib.experiments.{computing}"])
    assert f"l2lib.experiments.{computing}" in deps
    assert not [m for m in deps if m.endswith("_profiles")], deps


def test_authors_early_stopping_in_the_sweep(tiny, tmp_path):
    data, settings = tiny
    settings = replace(settings, early_stopping="authors")
    sweep = regimes.standard_sweep(data, settings, [0], tmp_path, progress=False)
    epochs = sweep.result.obs["epochs"][:, 0]
    assert epochs[0] <= settings.first_max_epochs  # β = 0 capped
    # the authors' rule runs at least 1 + patience epochs (or all of them)
    assert np.all((epochs[1:] >= 1 + settings.train.patience)
                  | (epochs[1:] == settings.train.max_epochs))


def test_authors_curve_is_the_published_mean():
    betas, acc = regimes.authors_curve()
    assert betas[0] == 0 and len(betas) == 501
    assert acc[0] == pytest.approx(0.9747, abs=1e-3)  # (97.70 + 97.37 + 97.35) / 3
    assert acc[-1] == pytest.approx(0.1, abs=0.02)


# ---- the hierarchy and the findings, on constructed sweeps


PAPER_T_INDEX = [124, 187, 295, 369, 423]  # the paper's T on the paper's grid (step 2e-4)


def mnist_like(order=regimes.PAPER_MNIST["loss_order"], t_index=PAPER_T_INDEX, members=3,
               n=501, jitter=(0, 1, 0)):
    """A sweep on β = 0, 2e-4, …, 0.1 with the paper's staircase: at each transition the norm
    falls, the losses and the accuracy jump, and the next digit groups are lost."""
    lams = np.linspace(0, 0.1, n)
    groups = [list(g) for g in order]
    # 5 transitions, 8 groups: T1 loses 5, 8; T2 9; T3 2, 4, 6; T4 3, 1; T5 7, 0
    per_t = [groups[0] + groups[1], groups[2], groups[3], groups[4] + groups[5],
             groups[6] + groups[7]]
    obs = {k: np.zeros((n, members)) for k in ("norm", "train_ce", "test_ce", "test_acc")}
    obs["class_acc"] = np.zeros((n, members, 10))
    rng = np.random.default_rng(0)
    for m in range(members):
        starts = [i + jitter[m % len(jitter)] for i in t_index]
        k = np.searchsorted(starts, np.arange(n), side="right")
        obs["norm"][:, m] = 9 - 10 * lams - 1.5 * k + rng.normal(0, 0.02, n)
        obs["train_ce"][:, m] = 0.3 + 3 * lams + 0.3 * k + rng.normal(0, 0.01, n)
        obs["test_ce"][:, m] = obs["train_ce"][:, m] + 0.05 + rng.normal(0, 0.01, n)
        for c in range(10):
            lost_at = next(j for j, g in enumerate(per_t) if c in g)
            obs["class_acc"][:, m, c] = np.where(k > lost_at, 0.0, 0.97)
        obs["test_acc"][:, m] = obs["class_acc"][:, m].mean(axis=1) + rng.normal(0, 0.005, n)
    return SweepResult(lams, obs, "up")


def test_hierarchy_of_a_paper_like_sweep_and_all_findings_agree():
    h = regimes.hierarchy(mnist_like())
    assert len(h.transitions) == 5
    assert h.lost_consensus()[0] == [5, 8] and h.lost_consensus()[-1] == [0, 7]
    assert np.all(h.tau > 0.9)  # five transitions merge some of the paper's eight groups
    found = {f.key: f for f in regimes.findings(h, dataset="mnist-10k", beta_step=2e-4)}
    assert found["regimes.curve"].verdict in (Verdict.AGREES, Verdict.DISAGREES)
    for key in ("regimes.count", "regimes.positions", "regimes.order", "regimes.tenfold"):
        assert found[key].verdict is Verdict.AGREES, found[key]
    # plateaus of the construction: 8, 7, 4, 2, 0 of 10 digits → within 10 points of the paper
    assert found["regimes.plateaus"].verdict is Verdict.AGREES
    assert found["regimes.hysteresis"].verdict is Verdict.NOT_MEASURABLE


def test_the_order_of_loss_names_a_regained_digit_once_where_it_is_lost_for_good():
    """Every seed loses 8 at T1, regains it, and loses it again at T3: the table's digits lost
    per transition list it at both, the order of loss only at T3."""
    h = regimes.hierarchy(mnist_like())
    every = set(range(10))
    rec = [every, every - {5, 8}, every - {5, 9}, every - {5, 9, 8}, every - {5, 9, 8},
           every - {5, 9, 8}]
    rec = [sorted(r) for r in rec]
    lost = [sorted(set(a) - set(b)) for a, b in zip(rec[:-1], rec[1:], strict=True)]
    h = replace(h, recognised=[rec] * 3, lost=[lost] * 3)
    assert h.lost_consensus()[:3] == [[5, 8], [9], [8]]
    assert h.final_loss_consensus() == [[5], [9], [8], [], []]
    assert regimes.numbers(h, [])["order_of_loss"] == "5 → 9 → 8"
    assert regimes.numbers(regimes.hierarchy(mnist_like()), [])["order_of_loss"] == (
        "{5,8} → 9 → {2,4,6} → {1,3} → {0,7}")


def test_findings_negative_controls():
    late = regimes.hierarchy(mnist_like(t_index=[i + 40 for i in PAPER_T_INDEX]))  # +0.008
    assert regimes.finding_positions(late, "mnist", 2e-4).verdict is Verdict.DISAGREES
    assert regimes.finding_count(late, "mnist", 2e-4).verdict is Verdict.AGREES
    four = regimes.hierarchy(mnist_like(t_index=PAPER_T_INDEX[:3] + PAPER_T_INDEX[4:]))
    assert regimes.finding_count(four, "mnist", 2e-4).verdict is Verdict.DISAGREES
    partial = regimes.finding_plateaus(four, "mnist", 2e-4)
    assert partial.verdict is Verdict.UNDECIDED and "4 of 4 paired plateaus agree" in partial.note
    assert "after T4: no transition" in partial.companion
    low = replace(four, plateaus=four.plateaus - 0.2)  # a paired plateau off by 20 points
    assert regimes.finding_plateaus(low, "mnist", 2e-4).verdict is Verdict.DISAGREES
    missing = regimes.finding_positions(four, "mnist", 2e-4)  # T4 missing, the rest in place
    assert missing.verdict is Verdict.DISAGREES
    assert "T4 not found" in missing.companion and missing.numbers["within_tolerance"] == 4
    # a shuffled order that the old rule (τ > 0.5) would have passed
    order = [(3,), (5,), (9,), (8,), (1,), (2, 4, 6), (7,), (0,)]
    shuffled = regimes.hierarchy(mnist_like(order=order))
    tau = float(np.median(shuffled.tau))
    assert 0.5 < tau < regimes.TAU_MIN
    assert regimes.finding_order(shuffled, "mnist", 2e-4).verdict is Verdict.DISAGREES
    assert regimes.finding_order(regimes.hierarchy(mnist_like(order=order[::-1])),
                                 "mnist", 2e-4).verdict is Verdict.DISAGREES


def authors_hierarchy(start: float = 0.0, **rule) -> regimes.Hierarchy:
    """A Hierarchy of the authors' published per-seed curves from β ≥ ``start`` (transitions
    and signals only: the count and positions findings need no more)."""
    from l2lib.data.published import authors_mnist_seeds

    lams, seeds = authors_mnist_seeds()
    keep = lams >= start
    lams, seeds = lams[keep], [{n: v[keep] for n, v in s.items()} for s in seeds]
    rule = {"spread": regimes.JUMP_SPREAD, **rule}
    found = staircase.detect(lams, seeds, **rule)
    n, k = len(seeds), len(found)
    return regimes.Hierarchy(lams, found, [[0] * k] * n, np.zeros((n, k + 1)),
                             [[[]] * (k + 1)] * n, [[[]] * k] * n, np.full(n, np.nan),
                             np.zeros(lams.size), tuple(seeds), rule)


def test_a_missed_transition_that_an_admitted_threshold_counts_is_undecided_not_agreed():
    """The authors' curves at a strong threshold above their T4's majority strength (17.3)
    give four; every threshold the same curves admit, e.g. the default 8, gives five: the
    count and positions are undecided, never 'agrees', and 'disagrees' without the check."""
    h = authors_hierarchy(z_strong=18.0)
    assert len(h.transitions) == 4
    check = regimes.threshold_check(h)
    assert check.used == 18.0 and check.five_at_probe
    assert check.here.low == pytest.approx(check.authors.low)
    assert check.authors.low < check.probe <= check.authors.high < 18.0
    count = regimes.finding_count(h, "mnist", 2e-4, check)
    assert count.verdict is Verdict.UNDECIDED and "z ≥ 18" in count.note
    assert regimes.finding_count(h, "mnist", 2e-4).verdict is Verdict.DISAGREES
    positions = regimes.finding_positions(h, "mnist", 2e-4, check)
    assert positions.verdict is Verdict.UNDECIDED and "T4 only at z ≥" in positions.companion
    found = {f.key: f for f in regimes.findings(h, dataset="mnist", beta_step=2e-4)}
    assert found["regimes.count"].verdict is Verdict.UNDECIDED


def test_a_transition_absent_from_the_run_still_disagrees_with_the_check():
    """Without the grid below β = 0.03 the authors' T1 is not in the data: no threshold finds
    five, so the count and positions disagree (must not be undecided)."""
    h = authors_hierarchy(start=0.03)
    assert len(h.transitions) == 4
    check = regimes.threshold_check(h)
    assert check.here.empty and not check.five_at_probe and np.isnan(check.probe)
    assert regimes.finding_count(h, "mnist", 2e-4, check).verdict is Verdict.DISAGREES
    positions = regimes.finding_positions(h, "mnist", 2e-4, check)
    assert positions.verdict is Verdict.DISAGREES and "T1 not found" in positions.companion
    with pytest.raises(ValueError, match="no signals"):
        regimes.threshold_check(replace(h, signals=()))
    with pytest.raises(ValueError, match=r"cross-seed settings \['match'\]"):
        regimes.threshold_check(replace(h, rule={**h.rule, "match": 1e-3}))


def test_paired_transitions_are_one_to_one():
    def at(beta):
        return staircase.Transition(beta, beta, beta, ())
    paired = regimes.paired_transitions([at(0.036), at(0.038), at(0.061), at(0.2)],
                                        (0.0248, 0.0374, 0.059, 0.0738, 0.0845))
    assert [p and p.beta for p in paired] == [None, 0.038, 0.061, None, 0.2]


def test_findings_undecided_and_not_measurable_cases():
    h = regimes.hierarchy(mnist_like())
    assert regimes.finding_count(h, "digits", 2e-4).verdict is Verdict.NOT_MEASURABLE
    for coarse in (regimes.finding_positions(h, "mnist", 4e-3),
                   regimes.finding_count(h, "mnist", 1e-3),
                   regimes.finding_plateaus(h, "mnist", 4e-3), regimes.finding_tenfold(h, 4e-3)):
        assert coarse.verdict is Verdict.NOT_MEASURABLE and "resolve" in coarse.note
    straddle = replace(h, tau=np.array([0.9, 0.6, 0.8]))
    assert regimes.finding_order(straddle, "mnist", 2e-4).verdict is Verdict.UNDECIDED
    wide = replace(h, plateaus=h.plateaus + np.array([[0.0], [0.3], [-0.3]]))
    assert regimes.finding_plateaus(wide, "mnist", 2e-4).verdict is Verdict.UNDECIDED
    none = replace(h, transitions=[])
    assert regimes.finding_tenfold(none, 2e-4).verdict is Verdict.UNDECIDED


def test_the_resolving_grid_depends_on_the_data_order():
    """A fixed data order resolves coarser grids than a fresh one: a step of 1.25e-3 is
    measured with it and not measurable with a fresh order; findings() follows the sweep's."""
    h = regimes.hierarchy(mnist_like())
    fixed = regimes.resolving_step("fixed")
    assert regimes.resolving_step("fresh") == regimes.RESOLVING_STEP < 1.25e-3 <= fixed
    assert regimes.finding_count(h, "mnist", 1.25e-3).verdict is Verdict.NOT_MEASURABLE
    assert regimes.finding_count(h, "mnist", 1.25e-3, resolving=fixed).verdict is not (
        Verdict.NOT_MEASURABLE)
    assert regimes.finding_count(h, "mnist", 2e-3, resolving=fixed).verdict is (
        Verdict.NOT_MEASURABLE)
    by_order = {order: {f.key: f.verdict for f in regimes.findings(
        h, dataset="mnist", beta_step=1.25e-3, data_order=order)} for order in ("fresh", "fixed")}
    assert by_order["fresh"]["regimes.positions"] is Verdict.NOT_MEASURABLE
    assert by_order["fixed"]["regimes.positions"] is not Verdict.NOT_MEASURABLE
    with pytest.raises(ValueError, match="data_order"):
        regimes.resolving_step("shuffled")


def test_the_reference_sweep_subsampled_shows_where_a_fixed_order_grid_resolves():
    """The committed reference sweep (mnist-10k, fixed data order, step 2e-4) subsampled: up to
    a step of 1.6e-3 (RESOLVING_STEPS["fixed"]) the detector finds five transitions, each
    within 0.005 of the paper's T_k; at 2e-3 it loses one."""
    from pathlib import Path

    from l2lib.book.reference import load_store_csv

    [csv] = (Path(__file__).parents[1] / "results-reference" / "03_regimes" / "stores").glob(
        "regimes-mnist-10k-up-*.csv")
    up = load_store_csv(csv)
    paper = regimes.PAPER_MNIST["transitions"]
    for every, resolved in ((5, True), (8, True), (10, False)):
        step = every * float(up.lams[1] - up.lams[0])
        sub = replace(up, lams=up.lams[::every], obs={k: v[::every] for k, v in up.obs.items()})
        found = regimes.hierarchy(sub).t_values
        five = len(found) == 5 and all(abs(t - p) <= regimes.TOL_T
                                       for t, p in zip(found, paper, strict=True))
        assert five is resolved, (step, found)
        assert (step <= regimes.resolving_step("fixed") * (1 + 1e-9)) is resolved


def test_tenfold_rule_fails_when_accuracy_does_not_follow_the_digits():
    h = regimes.hierarchy(mnist_like())
    assert regimes.finding_tenfold(h, 2e-4).verdict is Verdict.AGREES
    off = replace(h, plateaus=h.plateaus + 0.15)
    assert regimes.finding_tenfold(off, 2e-4).verdict is Verdict.DISAGREES


def test_hysteresis_and_curvature_findings():
    up = SweepResult(np.linspace(0, 0.1, 11), {"test_acc": np.linspace(0.9, 0.1, 11)[:, None]},
                     "up")
    same = SweepResult(up.lams[::-1], {"test_acc": up.obs["test_acc"][::-1]}, "down")
    stuck = SweepResult(up.lams[::-1], {"test_acc": np.full((11, 1), 0.1)}, "down")
    assert regimes.finding_hysteresis(regimes.hysteresis_summary(up, same),
                                      0.01).verdict is Verdict.DISAGREES
    assert regimes.finding_hysteresis(regimes.hysteresis_summary(up, stuck),
                                      0.01).verdict is Verdict.AGREES
    # review R3: checkpoints ≈ -0.05, controls ≈ -0.06: must not agree
    assert regimes.finding_curvature([-0.05, -0.05, -0.04],
                                     [-0.06, -0.06, -0.05]).verdict is Verdict.DISAGREES
    assert regimes.finding_curvature([-0.5, -0.4, -0.6],
                                     [-0.06, -0.05, -0.05]).verdict is Verdict.AGREES
    assert regimes.finding_curvature([-0.5], [-0.06, -0.05]).verdict is Verdict.NOT_MEASURABLE
    with_top = regimes.finding_curvature([-0.5, -0.4], [-0.06, -0.05],
                                         np.array([[3.0, -0.5], [2.0, 1.0]]),
                                         np.array([[3.0, 1.0], [2.0, 1.0]]))
    assert "0.5 (checkpoints), 0.0 (controls)" in with_top.companion


def test_the_curvature_finding_uses_only_points_that_are_minima():
    """Issue 15 / review R5: the same eigenvalues that agree at stationary points are not
    evidence where training merely stopped (residual ≈ 1, as on the authors' ≈ 6 epochs per
    β): the previous rule, blind to the residual, agreed on both."""
    near, far = [-0.5, -0.4, -0.6], [-0.06, -0.05, -0.05]
    tol = {"residual_tol": 0.05}
    at_minima = regimes.finding_curvature(near, far, near_residual=np.full(3, 0.01),
                                          far_residual=np.full(3, 0.02), **tol)
    assert at_minima.verdict is Verdict.AGREES and "3 of 3 checkpoints" in at_minima.companion
    stopped = regimes.finding_curvature(near, far, near_residual=np.array([1.2, 0.9, 1.4]),
                                        far_residual=np.full(3, 0.02), **tol)
    assert stopped.verdict is Verdict.NOT_MEASURABLE and "not minima" in stopped.note
    assert "0 of 3 checkpoints" in stopped.companion
    # one checkpoint left out: the remaining two still decide
    partly = regimes.finding_curvature(near, far, near_residual=np.array([0.01, 0.9, 0.01]),
                                       far_residual=np.full(3, 0.02), **tol)
    assert partly.verdict is Verdict.AGREES and "2 of 3 checkpoints" in partly.companion
    # a sweep stored without residuals shows no minimum: not measurable, said so
    unknown = regimes.finding_curvature(near, far, near_residual=np.full(3, np.nan),
                                        far_residual=np.full(3, np.nan), **tol)
    assert unknown.verdict is Verdict.NOT_MEASURABLE
    assert "no stationarity residual recorded" in unknown.companion


def test_chapter_pipeline_on_a_tiny_sweep(tiny, tmp_path):
    """Every call chapter 3 makes, on a tiny sweep: the outputs have the shapes it needs."""
    data, settings = tiny
    settings = replace(settings, n_curvature=2, spectrum_k=3)
    up, down = regimes.sweeps(data, settings, [0, 1], tmp_path, progress=False)
    h = regimes.hierarchy(up.result)
    forced = replace(h, indices=[[0, 2], [0, 2]])  # pretend two transitions for the controls
    assert regimes.control_indices(forced) == ([0, 2], [])
    curv = regimes.curvature_check(up, data, h, settings)
    assert curv["near_top"].shape[1] == 3
    assert curv["near_residual"].shape == curv["near"].shape
    assert float(curv["residual_tol"]) == settings.residual_tol
    found = regimes.findings(h, dataset=data.name, beta_step=settings.beta_step,
                             hysteresis=regimes.hysteresis_summary(up.result, down.result),
                             curvature_points=curv)
    assert [f.key for f in found][-1] == "regimes.curvature"
    assert all(f.verdict is Verdict.NOT_MEASURABLE for f in found[:5])  # digits, not MNIST
    numbers = regimes.numbers(h, found)
    assert numbers["verdict_count"] == Verdict.NOT_MEASURABLE.value
    assert len(regimes.finding_rows(found)) == len(found)
    assert regimes.table_rows(h, data.name) == [] or "digits lost" in regimes.table_rows(
        h, data.name)[0]
    assert regimes.paper_overlay("digits") == (None, None)
    assert regimes.paper_overlay("mnist-10k")[0] == regimes.PAPER_MNIST["transitions"]


def test_curve_finding_against_the_authors_curve():
    betas, acc = regimes.authors_curve()
    grid = betas[::20]
    same = regimes.finding_curve(grid, np.interp(grid, betas, acc), "mnist-10k")
    assert same.verdict is Verdict.AGREES and same.numbers["curve_gap_median"] < 1e-9
    shifted = regimes.finding_curve(grid, np.interp(grid + 0.01, betas, acc), "mnist-10k")
    assert shifted.verdict is Verdict.DISAGREES  # the staircase 0.01 early: must not agree
    assert regimes.finding_curve(grid, acc[::20], "digits").verdict is Verdict.NOT_MEASURABLE


def test_the_committed_reference_sweep_counts_exactly_the_papers_five_transitions():
    """The reference sweep on mnist-10k (results-reference/03_regimes, each seed's data order
    repeated at every β): the detector counts exactly five transitions, each within TOL_T of the
    paper's, so count, positions and plateaus agree. Not a tuned setting: one-step jumps alone,
    twice the spread, and every threshold up to the weakest T_k's majority strength (> 24) give
    the same five, and nothing else reaches z 4 in a majority of seeds. (The previous reference
    run, with a fresh data order at every β, counted T2-T5 only.)"""
    from pathlib import Path

    from l2lib.book.reference import load_store_csv

    stores = Path(__file__).parents[1] / "results-reference" / "03_regimes" / "stores"
    (path,) = sorted(stores.glob("regimes-mnist-10k-up-*.csv"))
    sweep = load_store_csv(path)
    paper = regimes.PAPER_MNIST["transitions"]
    h = regimes.hierarchy(sweep)
    paired = regimes.paired_transitions(h.transitions, paper)
    assert len(h.transitions) == 5
    assert all(abs(t.beta - p) <= regimes.TOL_T for t, p in zip(paired, paper, strict=True))
    found = {f.key: f.verdict for f in regimes.findings(h, dataset="mnist-10k", beta_step=2e-4)}
    assert {k: found[f"regimes.{k}"] for k in ("count", "positions", "plateaus")} == dict.fromkeys(
        ("count", "positions", "plateaus"), Verdict.AGREES)
    betas = [round(t.beta, 3) for t in h.transitions]
    for spread in (0.0, 2 * regimes.JUMP_SPREAD):
        assert [round(t.beta, 3) for t in regimes.hierarchy(sweep, spread=spread).transitions] \
            == betas
    admitted = regimes.threshold_check(h).here
    assert admitted.floor and admitted.high > 24 and weak_jumps.Z_STRONG in admitted
    assert len(regimes.hierarchy(sweep, z_strong=admitted.high + 1e-6).transitions) == 4
