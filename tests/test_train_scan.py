"""Locating P*: brackets and P* by the authors' rule, labels after classification, the scan's
store and resume, polishing."""

import dataclasses

import numpy as np
import pytest
import torch

from l2lib.data import jamming as D
from l2lib.measure import gap_statistics as G
from l2lib.measure import jamming as T
from l2lib.models import mlp as M
from l2lib.train import hinge as J
from l2lib.train import scan as S


def _fake_scan(p, seed, n_delta, dead=None, width=4, depth=2):
    p, seed, n_delta = (np.asarray(v) for v in (p, seed, n_delta))
    dead = np.zeros_like(p) if dead is None else np.asarray(dead)
    deltas = [np.linspace(-1, 1, q) for q in p]
    return S.Scan("fake", depth, width, width, 0.1, p, seed, np.zeros_like(p), n_delta,
                  np.zeros_like(p), np.ones(len(p)), deltas, np.zeros((len(p), 1)), dead,
                  pools={})


def test_brackets_and_p_star_follow_the_authors_rule():
    n = M.n_weights(4, 4, 2)  # 40: jammed ⇔ N_Δ > 4
    scan = _fake_scan(p=[40, 80, 120, 160, 40, 80, 90, 100, 120, 160],
                      seed=[0, 0, 0, 0, 1, 1, 1, 1, 1, 1],
                      n_delta=[0, 3, 30, 50, 0, 0, 12, 10, 4, 60],
                      dead=[0, 0, 5, 0, 0, 0, 6, 0, 0, 0])
    assert scan.n == n
    np.testing.assert_array_equal(scan.stuck, np.arange(10) == 6)  # half its contacts dead
    assert scan.brackets() == {0: (80.0, 120.0), 1: (80.0, 100.0)}  # first jam counts
    stars = scan.p_star_seeds()
    np.testing.assert_allclose(stars, [np.sqrt(80 * 120), np.sqrt(80 * 100)])
    p, err = scan.p_star()
    widths = np.array([40.0, 20.0]) / np.sqrt(12)  # brackets read as uniform distributions
    assert p == pytest.approx(stars.mean())
    assert err == pytest.approx(np.sqrt((stars.var(ddof=1) + np.mean(widths**2)) / 2))
    assert scan.r_star()[0] == pytest.approx(p / n)
    np.testing.assert_array_equal(scan.near_transition(0.3), [2, 7])
    unbracketed = _fake_scan(p=[40, 80], seed=[0, 0], n_delta=[0, 0])
    assert np.isnan(unbracketed.p_star()[0])


def test_scan_brackets_the_transition_and_resumes_from_the_store(tmp_path):
    settings = S.ScanSettings(ratios=(0.3, 3.0), n_seeds=2, rounds=2,
                              config=J.HingeConfig(lr=1e-2, decay_every=400, max_steps=800))
    run = dict(seed=0, store_root=tmp_path, name="t", progress=False)

    def pool(s, p):
        return D.random_data(p, 10, s)

    first = S.scan(pool, 10, 10, 2, settings, **run)
    n, low = first.n, round(0.3 * first.n)
    assert set(first.p[first.round == 0]) == {low, 3 * n}
    assert first.jammed[first.p == 3 * n].all() and first.sat[first.p == low].all()
    assert (first.round > 0).sum() >= 2  # bisection inside each seed's bracket
    for s, (lo, hi) in first.brackets().items():
        assert low <= lo < hi <= 3 * n, s
    x, y = first.data(2)
    assert len(first.deltas[2]) == first.p[2] == len(x) == len(y)
    gaps = T.gap_function(first.sizes, x, y)(torch.as_tensor(first.theta[2]))
    torch.testing.assert_close(torch.as_tensor(first.deltas[2]), gaps)
    again = S.scan(pool, 10, 10, 2, settings, **run)  # replayed from the store
    np.testing.assert_array_equal(again.n_delta, first.n_delta)
    np.testing.assert_array_equal(again.theta, first.theta)
    # polishing continues from the stored weights: zero more steps change nothing
    jammed = np.flatnonzero(first.jammed)
    same = S.polish(first, jammed[::-1], J.HingeConfig(lr=1e-12, lr_min=1e-12, max_steps=1),
                    progress=False)
    np.testing.assert_array_equal(same.p, first.p[jammed])
    np.testing.assert_allclose(same.theta, first.theta[jammed], rtol=0, atol=1e-11)
    np.testing.assert_array_equal(same.n_delta, first.n_delta[jammed])
    more = S.polish(first, jammed, J.HingeConfig(lr=1e-3, max_steps=300), store_root=tmp_path,
                    progress=False)
    assert (more.loss <= first.loss[jammed] + 1e-12).all()
    positive, negative, runs = G.pooled_gaps([more])
    assert runs == int(more.jammed.sum()) and (positive > 0).all() and (negative > 0).all()


def test_labels_replace_the_authors_rule_and_merged_swaps_runs():
    scan = _fake_scan(p=[40, 80, 120], seed=[0, 0, 0], n_delta=[0, 30, 50])
    assert list(scan.jammed) == [False, True, True]
    labelled = scan.labelled([S.SAT, S.NOT_CONVERGED, S.JAMMED])
    assert list(labelled.jammed) == [False, False, True]
    assert list(labelled.excluded) == [False, True, False]
    assert labelled.brackets() == {0: (40.0, 120.0)}  # the excluded run is no bracket end
    other = _fake_scan(p=[80], seed=[0], n_delta=[0])
    merged = scan.merged([1], other)
    assert list(merged.n_delta) == [0, 0, 50] and merged.labels is None
    with pytest.raises(ValueError, match="same runs"):
        scan.merged([0], other)


def test_stored_convergence_replays_the_l_bfgs_results_and_equals_converged(tmp_path,
                                                                          monkeypatch):
    settings = S.ScanSettings(ratios=(0.5, 3.0), n_seeds=1, rounds=0,
                              config=J.HingeConfig(lr=1e-2, decay_every=200, max_steps=300))
    raw = S.scan(lambda s, p: D.random_data(p, 6, s), 6, 6, 2, settings, name="c",
                 progress=False)
    assert (raw.n_delta > 0).any()
    fresh, checks = T.classify(raw, converge_iter=150, store_root=tmp_path)
    plain, _ = T.classify(raw, converge_iter=150)  # nothing stored: the same results
    np.testing.assert_array_equal(fresh.theta, plain.theta)
    runs = [i for i in range(len(raw.p)) if raw.n_delta[i] > 0]
    direct = S.converged(raw, runs, max_iter=150)
    np.testing.assert_array_equal(fresh.theta, direct.theta)
    np.testing.assert_array_equal(fresh.steps, direct.steps)
    assert (fresh.steps[runs] > raw.steps[runs]).all()  # L-BFGS iterations were added
    # results are found by the run's start, in any order: asked in reverse, nothing is rerun
    backwards = S.StoredConvergence(raw.name, 150, store_root=tmp_path)
    assert len(backwards.found) == len(runs)

    def no_lbfgs(*args, **kwargs):
        raise AssertionError("replaying must not run L-BFGS")

    monkeypatch.setattr(S, "converge", no_lbfgs)
    again, checks_again = T.classify(raw, converge_iter=150, store_root=tmp_path)
    np.testing.assert_array_equal(again.theta, fresh.theta)
    np.testing.assert_array_equal(again.n_delta, fresh.n_delta)
    for a, b in zip(again.deltas, fresh.deltas, strict=True):
        np.testing.assert_array_equal(a, b)
    assert [c and c.status for c in checks_again] == [c and c.status for c in checks]
    for i in runs[::-1]:
        np.testing.assert_array_equal(backwards(raw, i).theta[i], fresh.theta[i])
    # a memo computes each check once: a second pass reads it back
    memo = {}
    T.classify(raw, converge_iter=150, store_root=tmp_path, memo=memo)
    assert len(memo) == sum(c is not None for c in checks)
    monkeypatch.setattr(T, "check_run", no_lbfgs)
    labelled, _ = T.classify(raw, converge_iter=150, store_root=tmp_path, memo=memo)
    assert list(labelled.labels) == [c.status if c else S.NOT_CHECKED for c in checks]
    # another budget is another store: recomputed (here: refused by the patched L-BFGS)
    with pytest.raises(AssertionError, match="must not run"):
        T.classify(raw, converge_iter=151, store_root=tmp_path)
    with pytest.raises(ValueError, match="max_iter"):
        S.StoredConvergence(raw.name, 0)


def test_bisection_follows_the_labels_and_never_reruns_a_midpoint():
    settings = S.ScanSettings(ratios=(0.3, 3.0), n_seeds=2, rounds=2,
                              config=J.HingeConfig(lr=1e-2, decay_every=100, max_steps=100))
    n = M.n_weights(10, 10, 2)
    asked = []

    def threshold(scan):  # jammed above P = 1.5 N, whatever the runs did
        asked.append(len(scan.p))
        return scan.labelled([S.JAMMED if p > 1.5 * n else S.SAT for p in scan.p])

    out = S.scan(lambda s, p: D.random_data(p, 10, s), 10, 10, 2, settings, name="l",
                 progress=False, label=threshold)
    assert out.labels is None and asked == [4, 6]  # labelled before each round, not after
    first, second = (sorted(set(out.p[out.round == r])) for r in (1, 2))
    assert first == [round(np.sqrt(0.3 * 3.0) * n)]  # ≈ 0.95 N: SAT by the labels
    assert second == [round(np.sqrt(first[0] * 3 * n))]  # ≈ 1.69 N: between 0.95 N and 3 N

    def excluded_midpoints(scan):  # round-1 runs not converged: the bracket stays (0.3 N, 3 N)
        return scan.labelled([S.NOT_CONVERGED if r else (S.JAMMED if p > 1.5 * n else S.SAT)
                              for p, r in zip(scan.p, scan.round, strict=True)])

    once = S.scan(lambda s, p: D.random_data(p, 10, s), 10, 10, 2, settings, name="l",
                  progress=False, label=excluded_midpoints)
    assert (once.round == 1).sum() == 2 and (once.round == 2).sum() == 0


def test_joined_scans_hold_every_run_of_their_parts_in_order():
    first = _fake_scan([10, 20, 30], [0, 0, 0], [0, 5, 9])
    second = _fake_scan([10, 15], [1, 1], [0, 8])
    first.pools[0], second.pools[1] = "pool 0", "pool 1"
    joined = S.Scan.joined([first, second], "whole")
    assert joined.name == "whole"
    np.testing.assert_array_equal(joined.p, np.concatenate([first.p, second.p]))
    np.testing.assert_array_equal(joined.theta, np.concatenate([first.theta, second.theta]))
    assert len(joined.deltas) == len(joined.p) and joined.labels is None
    assert joined.pools == {0: "pool 0", 1: "pool 1"}
    labelled = S.Scan.joined([first.labelled([S.SAT] * len(first.p)),
                            second.labelled([S.JAMMED] * len(second.p))], "whole")
    assert list(labelled.labels) == [S.SAT] * len(first.p) + [S.JAMMED] * len(second.p)
    with pytest.raises(ValueError, match="share seeds"):
        S.Scan.joined([first, first], "twice")
    with pytest.raises(ValueError, match="labelled"):
        S.Scan.joined([first.labelled([S.SAT] * len(first.p)), second], "mixed")
    with pytest.raises(ValueError, match="one architecture"):
        S.Scan.joined([first, dataclasses.replace(second, width=second.width + 1)], "other")
    with pytest.raises(ValueError, match="at least one"):
        S.Scan.joined([], "none")
