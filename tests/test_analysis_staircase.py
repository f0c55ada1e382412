"""The transition detector of chapter 3: simultaneous jumps per seed, matched across seeds.

Fixture: the authors' published MNIST sweep, seed by seed (l2lib/data/authors/mnist_sweep_seeds.csv,
derived from github.com/andresfernando-git/Neural-Network-paper, arXiv 2512.11866; see the file's
header), read by :func:`l2lib.data.published.authors_mnist_seeds`.
"""

import numpy as np
import pytest

from l2lib.analysis import staircase, weak_jumps
from l2lib.data.published import authors_mnist_seeds

PAPER_T = (0.0248, 0.0374, 0.0590, 0.0738, 0.0845)


def authors_sweep() -> tuple[np.ndarray, list[dict[str, np.ndarray]]]:
    return authors_mnist_seeds()


def test_the_authors_curves_give_exactly_their_five_transitions():
    lams, seeds = authors_sweep()
    found = staircase.detect(lams, seeds)
    assert len(found) == 5
    for t, paper in zip(found, PAPER_T, strict=True):
        assert abs(t.beta - paper) <= 4e-4, (t.beta, paper)
        assert t.n_seeds == 3
    assert found[0].low == pytest.approx(0.0247) and found[0].high == pytest.approx(0.0251)


def test_each_authors_seed_alone_gives_five_and_accuracy_alone_does_not():
    lams, seeds = authors_sweep()
    for signals in seeds:
        jumps = staircase.seed_jumps(lams, signals)
        assert len(jumps) == 5
        assert all(abs(j.beta - t) < 1e-3 for j, t in zip(jumps, PAPER_T, strict=True))
    # the old failure (review R1): accuracy alone misses T1 on these curves
    acc_only = [staircase.seed_jumps(lams, {"test_acc": s["test_acc"]}, min_signals=1)
                for s in seeds]
    assert all(not any(abs(j.beta - PAPER_T[0]) < 1e-3 for j in jumps) for jumps in acc_only)


def test_penalty_switch_on_is_not_a_transition():
    """From β = 0 the norm collapses (90 → 31 → 24) while the weights relax: with the burn-in
    this is no transition; without it and without the test witness the rule without ``rising``
    counts it, the rule with ``rising`` does not (a relaxation); on their curves subsampled to a
    step of 4e-4 or 6e-4 no transition is counted there either."""
    lams, seeds = authors_sweep()
    head = slice(0, 60)
    part = {k: v[head] for k, v in seeds[0].items()}
    assert staircase.seed_jumps(lams[head], part, burn_in=0.05 * 0.1 / lams[59]) == []
    bare = staircase.seed_jumps(lams[head], part, witnesses=(), burn_in=0, rising=False)
    assert bare and bare[0].beta < 0.001
    assert staircase.seed_jumps(lams[head], part, witnesses=(), burn_in=0) == []
    for every in (2, 3):
        sub = [{k: v[::every] for k, v in s.items()} for s in seeds]
        found = staircase.detect(lams[::every], sub)
        assert len(found) == 5
        assert all(abs(t.beta - p) <= 2 * every * 2e-4 for t, p in zip(found, PAPER_T,
                                                                      strict=True))


def test_a_coarse_grid_does_not_resolve_the_first_transition():
    """Subsampled to a step of 1e-3, the authors' T1 no longer stands out from the drift: the
    rule reports fewer transitions instead of inventing one (why quick grids are 'not
    measurable' for the count)."""
    lams, seeds = authors_sweep()
    sub = [{k: v[::5] for k, v in s.items()} for s in seeds]
    found = staircase.detect(lams[::5], sub)
    assert len(found) == 4 and min(abs(t.beta - PAPER_T[0]) for t in found) > 0.005


def relaxing_seed(starts, seed=0, n=81, step=1.25e-3):
    """A seed on chapter 3's quick grid whose weights are still relaxing after the penalty is
    switched on (‖θ‖ falls by 0.62× less at each step, the losses rise likewise) when the burn-in
    ends, then two level shifts."""
    rng = np.random.default_rng(seed)
    lams, i = np.arange(n) * step, np.arange(n)
    k = np.searchsorted(starts, i, side="right")
    relax = 0.62 ** i
    train = 0.3 + 5 * lams - 0.3 * relax + 0.12 * k + rng.normal(0, 0.005, n)
    return lams, {"norm": 12 - 30 * lams + 12 * relax - k + rng.normal(0, 0.03, n),
                  "train_ce": train, "test_ce": train + 0.05 + rng.normal(0, 0.005, n),
                  "test_acc": 0.95 - 0.5 * lams + 0.03 * relax - 0.1 * k
                  + rng.normal(0, 0.005, n)}


def test_a_relaxation_past_the_burn_in_is_no_jump_wherever_the_grid_ends():
    """The burn-in is 5 % of the β range, so cutting the grid moves the first scored step (on
    this grid from 4 to 3: 0.05 × 0.1 rounds above 0.005). A relaxation still under way there
    was counted at that step by the rule without ``rising`` — at β_max 0.1 not, below it yes, as
    in chapter 3's quick run — so the count depended on β_max. With ``rising`` it does not."""
    seeds = [relaxing_seed([30, 55], seed=s) for s in range(3)]
    lams = seeds[0][0]
    level_shifts = [0.5 * (lams[29] + lams[30]), 0.5 * (lams[54] + lams[55])]
    for beta_max in (0.1, 0.09875, 0.095, 0.09):
        n = int(np.searchsorted(lams, beta_max + 1e-9))
        part = [{k: v[:n] for k, v in s.items()} for _, s in seeds]
        assert staircase.scored_from(lams[:n]) == (4 if beta_max == 0.1 else 3)
        found = staircase.detect(lams[:n], part)
        assert [t.beta for t in found] == pytest.approx(level_shifts)
        without = [t.beta for t in staircase.detect(lams[:n], part, rising=False)]
        if beta_max == 0.1:
            assert without == pytest.approx(level_shifts)
        else:
            assert without == pytest.approx([0.5 * (lams[3] + lams[4]), *level_shifts])


def test_unscored_steps_lend_no_z_to_their_neighbours():
    """A step is compared with ``z_strong`` by its own z, its signals' support by the z within
    ``window`` steps; a step the burn-in leaves unscored lends neither. Else the first scored
    step of a relaxation would report the stronger z of the unscored step before it (the jump
    strengths chapter 3 tabulates)."""
    lams, signals = relaxing_seed([30, 55], seed=0)
    first = staircase.scored_from(lams)
    norm = signals["norm"]
    z = staircase.step_zscores(lams, norm, direction=-1.0, span=np.ptp(norm[first:]))
    assert z[first - 1] > z[first] + 3
    (edge,) = [j for j in weak_jumps.candidates(lams, signals, rising=False)
               if j.index == first]
    assert edge.zscores["norm"] == pytest.approx(max(z[first], z[first + 1]))


def test_a_jump_at_the_first_step_of_a_grid_not_starting_at_zero_is_kept():
    """No step precedes the first one, so the relaxation test has nothing to compare it with (and
    must not compare it with the last step's change, here a larger jump)."""
    n = 60
    lams = 0.01 + 0.001 * np.arange(n)
    rng = np.random.default_rng(0)
    k = (np.arange(n) >= 1) + 2.0 * (np.arange(n) >= n - 1)
    signals = {"norm": 9 - 20 * lams - k + rng.normal(0, 0.01, n),
               "train_ce": 0.5 + 5 * lams + 0.12 * k + rng.normal(0, 0.003, n),
               "test_ce": 0.52 + 5 * lams + 0.12 * k + rng.normal(0, 0.003, n),
               "test_acc": 0.95 - 0.2 * lams - 0.1 * k + rng.normal(0, 0.003, n)}
    assert [j.index for j in staircase.seed_jumps(lams, signals)] == [0, n - 2]


def staircase_seed(starts, n=120, seed=0, noise=0.01):
    """Idealised MNIST-like seed: at each start the norm falls, both losses and accuracy jump."""
    rng = np.random.default_rng(seed)
    lams = np.linspace(0.0, 0.1, n)
    k = np.searchsorted(starts, np.arange(n), side="right")  # regimes passed
    norm = 9 - 20 * lams - 1.0 * k + rng.normal(0, noise * 3, n)
    train = 0.5 + 5 * lams + 0.12 * k + rng.normal(0, noise, n)
    test = train + 0.02 + rng.normal(0, noise, n)
    acc = 0.95 - 0.15 * k - 0.2 * lams + rng.normal(0, noise, n)
    return lams, {"norm": norm, "train_ce": train, "test_ce": test, "test_acc": acc}


def test_idealised_staircase_every_step_found_within_one_grid_step():
    starts = [25, 45, 70, 85, 100]
    seeds = [staircase_seed([s + (i % 2) for s in starts], seed=i) for i in range(3)]
    lams = seeds[0][0]
    found = staircase.detect(lams, [s for _, s in seeds])
    assert len(found) == 5
    step = lams[1] - lams[0]
    for t, start in zip(found, starts, strict=True):
        assert abs(t.beta - 0.5 * (lams[start - 1] + lams[start])) <= 1.5 * step
        assert t.high - t.low <= step + 1e-12


def test_the_authors_five_do_not_depend_on_the_spread_allowed():
    """A one-step jump is also the sharpest part of any wider window: allowing jumps to spread
    over up to 8 grid steps finds the same five transitions on the authors' curves."""
    lams, seeds = authors_sweep()
    plain = [t.beta for t in staircase.detect(lams, seeds)]
    for spread in (4e-4, 8e-4, 1.6e-3):
        assert [t.beta for t in staircase.detect(lams, seeds, spread=spread)] == plain


def spread_seed(starts, width, n=400, seed=0):
    """Idealised seed whose jumps relax over ``width`` grid steps (a warm sweep trained for too
    few epochs per β), each step of a jump below the one-step threshold."""
    rng = np.random.default_rng(seed)
    lams = np.linspace(0.0, 0.1, n)
    ramp = sum(np.clip((np.arange(n) - s + 1) / width, 0, 1) for s in starts)
    return lams, {"norm": 9 - 20 * lams - 0.4 * ramp + rng.normal(0, 0.03, n),
                  "train_ce": 0.5 + 5 * lams + 0.12 * ramp + rng.normal(0, 0.01, n),
                  "test_ce": 0.52 + 5 * lams + 0.12 * ramp + rng.normal(0, 0.01, n),
                  "test_acc": 0.95 - 0.2 * lams - 0.1 * ramp + rng.normal(0, 0.01, n)}


def test_a_jump_spread_over_several_steps_needs_the_spread():
    starts = [100, 180, 260, 330]
    seeds = [spread_seed(starts, 6, seed=i) for i in range(3)]
    lams = seeds[0][0]
    step = lams[1] - lams[0]
    assert staircase.detect(lams, [s for _, s in seeds]) == []  # no single step stands out
    found = staircase.detect(lams, [s for _, s in seeds], spread=8 * step)
    assert len(found) == 4
    for t, start in zip(found, starts, strict=True):  # located inside its ramp
        assert lams[start - 1] - step <= t.beta <= lams[start + 5] + step
    # a smooth decline stays without transitions however wide the window
    smooth_seeds = [spread_seed([], 6, seed=i) for i in range(3)]
    assert staircase.detect(lams, [s for _, s in smooth_seeds], spread=8 * step) == []


def test_spread_zscores_of_width_one_are_the_step_zscores():
    lams, signals = staircase_seed([60])
    np.testing.assert_array_equal(staircase.spread_zscores(lams, signals["norm"], max_width=1),
                                  staircase.step_zscores(lams, signals["norm"]))
    with pytest.raises(ValueError, match="width"):
        staircase.step_zscores(lams, signals["norm"], width=0)
    with pytest.raises(ValueError, match="spread"):
        staircase.detect(lams, [signals], spread=-1.0)


def test_a_slow_decline_without_a_jump_gives_none():
    lams = np.linspace(0, 0.1, 200)
    rng = np.random.default_rng(3)
    smooth = {"norm": 9 * np.exp(-20 * lams) + rng.normal(0, 0.01, 200),
              "train_ce": 0.3 + 2 * lams + 150 * lams**2 + rng.normal(0, 0.005, 200),
              "test_ce": 0.35 + 2 * lams + 150 * lams**2 + rng.normal(0, 0.005, 200),
              "test_acc": 0.97 - 8 * lams + rng.normal(0, 0.01, 200)}
    assert staircase.seed_jumps(lams, smooth) == []
    assert staircase.detect(lams, [smooth, smooth, smooth]) == []


def test_a_jump_of_one_signal_alone_is_not_a_transition():
    lams, signals = staircase_seed([60])
    flat = {k: v.copy() for k, v in staircase_seed([])[1].items()}
    flat["train_ce"] = signals["train_ce"]  # only the training loss jumps
    assert staircase.seed_jumps(lams, flat) == []
    assert len(staircase.seed_jumps(lams, signals)) == 1


def test_matching_keeps_majority_groups_one_jump_per_seed():
    def jump(beta):
        return staircase.SeedJump(0, beta, {"a": 10.0})
    per_seed = [[jump(0.02), jump(0.05)], [jump(0.021), jump(0.07)], [jump(0.022)]]
    found = staircase.match_seeds(per_seed, match=0.002)
    assert [round(t.beta, 4) for t in found] == [0.021]  # 0.05 and 0.07: one seed each
    assert (found[0].low, found[0].high, found[0].n_seeds) == (0.02, 0.022, 3)
    assert len(staircase.match_seeds(per_seed, match=0.002, min_seeds=1)) == 3
    close = [[jump(0.02), jump(0.021)], [jump(0.0205)]]  # two jumps of seed 0 stay apart
    groups = staircase.match_seeds(close, match=0.01, min_seeds=1)
    assert [t.n_seeds for t in groups] == [2, 1]
    with pytest.raises(ValueError, match="min_seeds"):
        staircase.match_seeds(per_seed, match=0.002, min_seeds=4)


def test_zscores_ignore_a_nan_tail_and_bad_input_is_named():
    lams = np.linspace(0, 1, 30)
    y = np.where(lams < 0.5, 0.0, 1.0) + 0.01 * np.sin(40 * lams)
    y[25:] = np.nan
    z = staircase.step_zscores(lams, y)
    assert np.isnan(z[24:]).all() and np.nanargmax(z) == 14
    with pytest.raises(ValueError, match="direction for signal"):
        staircase.seed_jumps(lams, {"mystery": y}, min_signals=1)
    with pytest.raises(ValueError, match="increasing"):
        staircase.step_zscores(lams[::-1], y)


def test_plateaus_recognised_digits_and_ranks_of_a_regained_digit():
    values = np.array([0.9, 0.9, 0.9, 0.5, 0.5, 0.5, 0.5, 0.1, 0.1, 0.1])
    np.testing.assert_allclose(staircase.plateau_levels(values, [2, 6]), [0.9, 0.5, 0.1])
    per_class = np.ones((10, 3))
    per_class[3:, 2] = 0  # class 2 lost at the first jump
    per_class[3:7, 1] = 0  # class 1 lost at the first jump, regained at the second
    rec = staircase.recognised_sets(per_class, [2, 6], guard=0)
    assert rec == [[0, 1, 2], [0], [0, 1]]
    ranks = staircase.loss_ranks(rec, n_classes=3)
    assert ranks.tolist() == [2.0, 2.0, 0.0]  # the regained class is never finally lost
    assert staircase.group_ranks([[2], [1]], n_classes=3).tolist() == [2.0, 1.0, 0.0]
    assert np.isnan(staircase.kendall_tau(np.zeros(3), np.arange(3)))
    lost_at = staircase.loss_betas(np.arange(10.0), per_class)
    assert lost_at.tolist() == [np.inf, np.inf, 3.0]  # class 1, regained, is never finally lost
    never = staircase.loss_betas(np.arange(3.0), np.zeros((3, 1)))
    assert never.tolist() == [-np.inf]
    area = staircase.survival(np.arange(10.0), per_class)
    assert area[0] > area[1] > area[2]  # regained class 1 survives longer than class 2


def test_the_floor_is_relative_to_the_range_after_the_burn_in():
    """A noise-free signal (MAD 0, so the floor sets the scale) that collapses from 100 to 30
    in the burn-in, then drifts and jumps by 0.2 once: the jump's z is 0.2 / (floor × the range
    after the burn-in), not the 70-times-smaller value the collapse's range would allow."""
    lams = np.linspace(0, 0.1, 201)
    first = staircase.scored_from(lams)
    assert lams[first] < 0.05 * 0.1 <= lams[first + 1]  # steps ending below 5 % are ignored
    assert staircase.scored_from(lams + 0.01) == 0  # no β = 0: nothing ignored
    norm = 30 - 10 * lams - 0.2 * (np.arange(lams.size) > 120)
    norm[:first] = np.linspace(100, norm[first], first + 1)[:-1]
    after = float(norm[first:].max() - norm[first:].min())
    jumps = staircase.seed_jumps(lams, {"norm": norm}, min_signals=1, witnesses=())
    assert [j.index for j in jumps] == [120]
    # the drift is the median change, so the jump's excess over it is 0.2
    assert jumps[0].zscores["norm"] == pytest.approx(0.2 / (1e-3 * after))
    whole = staircase.step_zscores(lams, norm, direction=-1.0)[120]
    assert whole < 0.05 * jumps[0].zscores["norm"]  # the whole range's floor hides it
    explicit = staircase.step_zscores(lams, norm, direction=-1.0, span=after)[120]
    assert explicit == pytest.approx(jumps[0].zscores["norm"])
