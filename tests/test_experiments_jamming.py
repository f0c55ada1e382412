"""Chapter 6's experiment module: settings per profile and every finding, each on constructed
inputs with a negative control."""

from dataclasses import astuple, replace

import numpy as np
import pytest

from l2lib.analysis.findings import Verdict
from l2lib.experiments import jamming as C
from l2lib.measure import gap_statistics as G


def test_profiles_quick_scale_and_the_authors_protocol_for_paper():
    quick, paper = C.settings("quick"), C.settings("paper")
    assert len(quick.random_n) >= 2 and len(quick.depths) >= 3  # N*(P) at 2 points, 3 depths
    assert max(quick.random.ratios) >= 3  # beyond where converged runs stop fitting
    assert paper.depths == (2, 3, 5) and max(paper.random_n) >= 7854
    config = paper.random.config  # lr 1e-4, ÷10 every 250k steps, floor 1e-7
    assert (config.lr, config.decay_every, config.decay_factor, config.lr_min) == (
        1e-4, 250_000, 10.0, 1e-7)
    assert [config.lr_at(t) for t in (0, 250_000, 500_000, 10**7)] == pytest.approx(
        [1e-4, 1e-5, 1e-6, 1e-7])


def test_settings_quick_is_the_defaults_overrides_apply_and_unknown_names_are_refused():
    assert replace(C.settings("quick"), workers=1) == C.JammingSettings()
    assert C.settings("quick", n_boot=7).n_boot == 7
    with pytest.raises(ValueError, match="n_bot"):
        C.settings("quick", n_bot=7)
    with pytest.raises(ValueError, match="unknown profile"):
        C.settings("huge")
    ref = C.settings("reference")
    assert ref.depths == (2, 3, 5) and ref.random_n == (1000.0,)
    assert ref.random.n_seeds >= 5 and ref.min_seeds >= 5
    assert ref.random.config.max_steps >= 5 * C.settings("quick").random.config.max_steps
    smoke = C.settings("smoke")
    assert smoke.random.config.max_steps < C.settings("quick").random.config.max_steps
    assert set(C.PROFILE_NOTES) == {"smoke", "quick", "reference", "paper"}


def test_quick_computes_its_jobs_in_as_many_one_thread_processes_as_it_may_use_threads(
        monkeypatch):
    """A parallel build gives each chapter one thread (L2LIB_THREADS=1): one process, no
    workers; alone on n cores: n one-thread processes. Other profiles keep their own."""
    monkeypatch.setenv("L2LIB_THREADS", "1")
    assert C.settings("quick").workers == 1
    monkeypatch.setenv("L2LIB_THREADS", "3")
    assert C.settings("quick").workers == 3
    assert C.settings("quick", workers=1).workers == 1  # asked for: kept
    assert C.settings("smoke").workers == 1
    assert C.settings("reference").workers == 2


# --------------------------------------------------------------------------------------------
# Findings: each with an agreeing input, a negative control and an undecided / not measurable one


def test_the_existence_of_the_jump_holds_by_construction():
    found = C.jump_exists_finding(0.1)
    assert found.verdict is Verdict.BY_CONSTRUCTION and not found.verdict.is_evidence


def test_jump_finding():
    agree = C.jump_finding(np.array([0.45, 0.5, 0.42, 0.48]))
    assert agree.verdict is Verdict.AGREES and agree.numbers["jump_runs"] == 4
    # negative control: just above the 0.1 threshold (the old rule "above > 0.2" passed it)
    small = C.jump_finding(np.array([0.21, 0.23, 0.22, 0.24]))
    assert small.verdict is Verdict.DISAGREES
    assert C.jump_finding(np.array([0.1, 0.6])).verdict is Verdict.UNDECIDED
    assert C.jump_finding(np.array([0.5])).verdict is Verdict.NOT_MEASURABLE


def test_depth_finding_uses_a_seed_bootstrap():
    rng = np.random.default_rng(0)
    same = {d: 2.0 + 0.02 * rng.standard_normal(5) for d in (2, 3, 5)}
    assert C.depth_finding(same, "N ≈ 1000").verdict is Verdict.AGREES
    apart = {2: 2.0 + 0.02 * rng.standard_normal(5), 3: 2.0 + 0.02 * rng.standard_normal(5),
             5: 2.8 + 0.02 * rng.standard_normal(5)}  # L = 5 jams 40 % later: must not agree
    found = C.depth_finding(apart, "N ≈ 1000")
    assert found.verdict is Verdict.DISAGREES and found.numbers["depth_spread_lo"] > 0.15
    wide = {d: 2.0 + 0.6 * rng.standard_normal(3) for d in (2, 3)}
    assert C.depth_finding(wide, "N ≈ 500").verdict is Verdict.UNDECIDED
    one = C.depth_finding({2: np.array([2.0, 2.1, 2.0]), 5: np.array([2.5])}, "N ≈ 500")
    assert one.verdict is Verdict.NOT_MEASURABLE and "L = 5: 1" in one.companion


def test_location_finding_is_not_measurable_far_below_the_papers_n():
    r = np.array([2.9, 3.1, 3.0, 3.05, 2.95])
    assert C.location_finding(r, 500).verdict is Verdict.NOT_MEASURABLE
    assert C.location_finding(r, 8000).verdict is Verdict.AGREES
    assert C.location_finding(r / 2, 8000).verdict is Verdict.DISAGREES


def test_parity_finding():
    random = np.array([2.0, 2.1, 1.9, 2.0])
    assert C.parity_finding(random, random * 4, "digits").verdict is Verdict.AGREES
    assert C.parity_finding(random, random / 2, "digits").verdict is Verdict.DISAGREES
    assert C.parity_finding(random, random * 1.01, "digits").verdict is Verdict.UNDECIDED
    assert C.parity_finding(random, np.array([]), "digits").verdict is Verdict.NOT_MEASURABLE


def _estimate(a, lo, hi):
    fit = G.PowerLawFit(a=a, x_min=1e-6, x_c=1.0, n_tail=1000, n=2000, ks=0.01, ci=(lo, hi),
                        level=0.95)
    return G.ExponentEstimate(fit, 2000, 650, 2.0)


def test_exponent_finding():
    ok = {2: _estimate(0.31, 0.25, 0.37), 3: _estimate(0.28, 0.2, 0.36)}
    assert C.exponent_finding("θ", ok, 1, 0.3, 0.42).verdict is Verdict.AGREES
    # negative control: the old quick chapter's θ = −0.02 [−0.21, 0.16] must not agree
    old = {2: _estimate(-0.02, -0.21, 0.16)}
    assert C.exponent_finding("θ", old, 1, 0.3, 0.42).verdict is Verdict.DISAGREES
    # γ: a = −γ; the old γ = 0.56 [0.53, 0.59] disagrees with 0.2
    gamma = C.exponent_finding("γ", {2: _estimate(-0.56, -0.59, -0.53)}, -1, 0.2, 0.41)
    assert gamma.verdict is Verdict.DISAGREES and gamma.numbers["gamma_L2"] == pytest.approx(0.56)
    wide = {2: _estimate(0.3, -0.2, 0.8)}
    assert C.exponent_finding("θ", wide, 1, 0.3, 0.42).verdict is Verdict.UNDECIDED
    mixed = {2: _estimate(0.3, 0.25, 0.35), 3: _estimate(0.7, 0.65, 0.75)}
    assert C.exponent_finding("θ", mixed, 1, 0.3, 0.42).verdict is Verdict.UNDECIDED
    none = {2: G.ExponentEstimate(None, 120, 650, 2.0, "120 gaps above the floor, 650 needed")}
    found = C.exponent_finding("θ", none, 1, 0.3, 0.42)
    assert found.verdict is Verdict.NOT_MEASURABLE and "650" in found.note
    assert "Franz" in found.paper


def test_isostaticity_finding():
    assert C.isostaticity_finding([(300, 254), (260, 254)]).verdict is Verdict.AGREES
    assert C.isostaticity_finding([(100, 254), (90, 254)]).verdict is Verdict.DISAGREES
    assert C.isostaticity_finding([(300, 254), (90, 254)]).verdict is Verdict.UNDECIDED
    assert C.isostaticity_finding([]).verdict is Verdict.NOT_MEASURABLE


def test_run_findings_and_summary_numbers_on_a_tiny_profile(tmp_path):
    from l2lib.train.hinge import HingeConfig
    from l2lib.train.scan import ScanSettings

    st = C.settings("smoke", depths=(2,), random_n=(40.0,), parity_n=(), converge_iter=100,
                    random=ScanSettings(ratios=(0.5, 3.0), n_seeds=2, rounds=1,
                                        config=HingeConfig(lr=1e-2, decay_every=200,
                                                           max_steps=300)))
    results = C.run(st, store_root=tmp_path)
    scan = results.random[(2, 40.0)]
    assert scan.labels is not None and len(scan.labels) == len(scan.p)
    found = C.findings(results)
    assert [f.key[8:] for f in found] == ["jump_exists", "jump", "depth", "location", "parity",
                                          "theta", "gamma", "isostatic"]
    assert found[0].verdict is Verdict.BY_CONSTRUCTION
    assert found[2].verdict is Verdict.NOT_MEASURABLE  # one depth: nothing to compare
    assert found[4].verdict is Verdict.NOT_MEASURABLE  # no parity scans
    numbers = C.summary_numbers(results, found)
    assert numbers["depth_verdict"] == Verdict.NOT_MEASURABLE.value
    assert sum(numbers[f"runs_{k}"] for k in ("SAT", "jammed", "not_converged",
                                              "not_checked")) == len(scan.p)


def _two_seed_smoke():
    from l2lib.train.hinge import HingeConfig
    from l2lib.train.scan import ScanSettings

    return C.settings("smoke", depths=(2, 3), random_n=(40.0,), parity_n=(), converge_iter=100,
                      random=ScanSettings(ratios=(0.5, 3.0), n_seeds=2, rounds=1,
                                          config=HingeConfig(lr=1e-2, decay_every=200,
                                                             max_steps=300)))


def test_scans_computed_by_two_processes_equal_those_of_one(tmp_path):
    """settings.workers only decides who computes a job: the classified scans (and checks)
    handed back by two one-thread worker processes equal those computed in this process."""
    st = _two_seed_smoke()
    one = C.run(st, store_root=tmp_path / "one")
    two = C.run(replace(st, workers=2), store_root=tmp_path / "two")
    assert one.random.keys() == two.random.keys()
    for key, a in one.random.items():
        b = two.random[key]
        np.testing.assert_array_equal(a.p, b.p)
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.n_delta, b.n_delta)
        np.testing.assert_array_equal(a.theta, b.theta)
        np.testing.assert_equal(*([None if c is None else astuple(c) for c in run.checks[
            ("random", *key)]] for run in (one, two)))  # NaN equals NaN here
    # without a store the workers hand their results back all the same
    assert C.run(replace(st, workers=2)).random.keys() == one.random.keys()
    with pytest.raises(ValueError, match="workers must be >= 1"):
        C.run(replace(st, workers=0), store_root=tmp_path / "zero")


def test_a_scan_computed_in_seed_groups_is_the_scan_computed_whole(tmp_path):
    """Everything about a run depends on its seed alone: the scans computed as one group per
    seed, each stored apart, then joined, hold the runs of the whole scan with the same labels
    and (up to the rounding of their batches) the same weights; a group of the seeds has a
    store of its own, so that two processes never write one store."""
    st = _two_seed_smoke()
    whole = C.run(st, store_root=tmp_path / "whole")
    split = C.run(replace(st, seed_groups=2), store_root=tmp_path / "split")
    for key, a in whole.random.items():
        b = split.random[key]
        assert b.name == a.name
        order_a = np.lexsort((a.p, a.seed))
        order_b = np.lexsort((b.p, b.seed))
        np.testing.assert_array_equal(a.p[order_a], b.p[order_b])
        np.testing.assert_array_equal(a.seed[order_a], b.seed[order_b])
        np.testing.assert_array_equal(a.labels[order_a], b.labels[order_b])
        np.testing.assert_array_equal(a.n_delta[order_a], b.n_delta[order_b])
        np.testing.assert_allclose(a.theta[order_a], b.theta[order_b], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(a.r_star(), b.r_star())
        checks_a, checks_b = whole.checks[("random", *key)], split.checks[("random", *key)]
        assert [checks_a[i] is None for i in order_a] == [checks_b[i] is None for i in order_b]
    names = sorted(p.name for p in (tmp_path / "split").iterdir())
    assert any("-seeds0-0-" in n for n in names) and any("-seeds1-1-converged-" in n
                                                         for n in names)
    assert not any("-seeds" in p.name for p in (tmp_path / "whole").iterdir())
    with pytest.raises(ValueError, match="seed_groups must be between 1"):
        C.run(replace(st, seed_groups=3))


def test_seed_groups_are_consecutive_and_as_equal_as_can_be():
    assert C.seed_groups(6, 2) == [(0, 3), (3, 3)]
    assert C.seed_groups(5, 2, seed=10) == [(10, 3), (13, 2)]
    assert C.seed_groups(3, 1) == [(0, 3)]
    with pytest.raises(ValueError, match="seed_groups"):
        C.seed_groups(2, 0)
