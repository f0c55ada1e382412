"""Sub-threshold jumps (l2lib.analysis.weak_jumps): a weak common jump is seen in every seed
below the detector's threshold, noise is not an event, and on the authors' published curves their
T1 is strong while the one uncounted event (β ≈ 0.012) is weak."""

import numpy as np
import pytest

from l2lib.analysis import staircase, weak_jumps
from l2lib.data.published import authors_mnist_seeds

LAMS = np.round(np.arange(301) * 2e-4, 10)
WEAK, STRONG = 100, 200  # grid steps (i, i + 1) of the planted jumps


def planted_seed(rng: np.random.Generator, weak: float = 5.5, strong: float = 25.0,
                 at_weak: int = WEAK) -> dict[str, np.ndarray]:
    """Four signals: random walks with drift (unit increments) plus a level shift of ``weak``
    and ``strong`` increments' s.d. at two steps, in each signal's transition direction."""
    out = {}
    for name, direction in staircase.DIRECTIONS.items():
        if name not in ("norm", "train_ce", "test_ce", "test_acc"):
            continue
        steps = rng.normal(0.2, 1.0, LAMS.size - 1)
        steps[at_weak] += weak
        steps[STRONG] += strong
        out[name] = direction * np.concatenate([[0.0], np.cumsum(steps)])
    return out


def test_a_weak_common_jump_is_seen_below_the_threshold_in_every_seed():
    rng = np.random.default_rng(3)
    seeds = [planted_seed(rng) for _ in range(3)]
    found = staircase.detect(LAMS, seeds)
    assert [round(t.beta, 4) for t in found] == [round(0.5 * (LAMS[STRONG] + LAMS[STRONG + 1]),
                                                       4)]
    weak = weak_jumps.evidence_near(LAMS, seeds, LAMS[WEAK], window=1e-3)
    assert weak.n_seeds == 3
    assert np.all((weak.strengths >= 4) & (weak.strengths < weak_jumps.Z_STRONG))
    assert 4 <= weak.majority_strength < weak_jumps.Z_STRONG
    assert weak.beta == pytest.approx(0.5 * (LAMS[WEAK] + LAMS[WEAK + 1]))
    strong = weak_jumps.evidence_near(LAMS, seeds, LAMS[STRONG], window=1e-3)
    assert np.all(strong.strengths >= weak_jumps.Z_STRONG)


def test_noise_alone_gives_no_evidence_and_no_event():
    rng = np.random.default_rng(4)
    seeds = [planted_seed(rng, weak=0.0) for _ in range(3)]
    nothing = weak_jumps.evidence_near(LAMS, seeds, LAMS[WEAK], window=1e-3)
    assert nothing.n_seeds == 0 and np.isnan(nothing.majority_strength)
    assert np.isnan(nothing.beta)
    assert weak_jumps.events_elsewhere(LAMS, seeds, [LAMS[STRONG]], window=1e-3) == []


def test_jumps_at_different_steps_in_each_seed_are_no_common_event():
    rng = np.random.default_rng(5)
    seeds = [planted_seed(rng, at_weak=at) for at in (60, 100, 140)]
    assert weak_jumps.events_elsewhere(LAMS, seeds, [LAMS[STRONG]], window=1e-3) == []
    common = [planted_seed(rng) for _ in range(3)]
    events = weak_jumps.events_elsewhere(LAMS, common, [LAMS[STRONG]], window=1e-3)
    assert len(events) == 1 and abs(events[0].beta - LAMS[WEAK]) < 1e-3


def test_majority_strength_is_the_threshold_a_majority_passes():
    def jump(z: float) -> staircase.SeedJump:
        return staircase.SeedJump(0, 0.01, {"norm": z, "train_ce": 1.0})

    assert weak_jumps.Evidence((jump(5.0), jump(7.0), jump(6.0))).majority_strength == 6.0
    assert np.isnan(weak_jumps.Evidence((jump(5.0), None, None)).majority_strength)
    assert weak_jumps.Evidence((jump(5.0), None, jump(9.0), None)).n_seeds == 2


def test_on_the_authors_curves_t1_is_strong_and_the_uncounted_event_weak():
    lams, seeds = authors_mnist_seeds()
    t1 = weak_jumps.evidence_near(lams, seeds, 0.0248, window=0.005, spread=8e-4)
    assert np.all(t1.strengths >= weak_jumps.Z_STRONG)
    paper = (0.0248, 0.0374, 0.0590, 0.0738, 0.0845)
    events = weak_jumps.events_elsewhere(lams, seeds, paper, window=0.005, spread=8e-4)
    assert len(events) == 1
    assert events[0].beta == pytest.approx(0.012, abs=5e-4)
    assert 4 <= events[0].majority_strength < weak_jumps.Z_STRONG


@pytest.mark.parametrize("kwargs, match", [
    ({"z_floor": 2.0}, "z_floor"), ({"z_strong": 5.0}, "z_strong"), ({"spread": -1.0}, "spread")])
def test_bad_settings_are_named(kwargs, match):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=match):
        weak_jumps.candidates(LAMS, planted_seed(rng), **kwargs)


def test_windows_must_be_positive():
    seeds = [planted_seed(np.random.default_rng(1))]
    with pytest.raises(ValueError, match="window"):
        weak_jumps.evidence_near(LAMS, seeds, 0.02, window=0.0)
    with pytest.raises(ValueError, match="window"):
        weak_jumps.events_elsewhere(LAMS, seeds, [0.02], window=-1.0)


def test_the_detector_counts_an_event_up_to_its_majority_strength():
    rng = np.random.default_rng(3)
    seeds = [planted_seed(rng) for _ in range(3)]
    weak = weak_jumps.evidence_near(LAMS, seeds, LAMS[WEAK], window=1e-3)
    m = weak.majority_strength

    def counted(z_strong: float) -> bool:
        return any(abs(t.beta - weak.beta) < 1e-3
                   for t in staircase.detect(LAMS, seeds, z_strong=z_strong))

    assert counted(m - 1e-6) and not counted(m + 1e-6)
    lams, authors = authors_mnist_seeds()
    paper = (0.0248, 0.0374, 0.0590, 0.0738, 0.0845)
    (event,) = weak_jumps.events_elsewhere(lams, authors, paper, window=0.005, spread=8e-4)
    m = event.majority_strength
    assert len(staircase.detect(lams, authors, spread=8e-4, z_strong=m - 1e-6)) == 6
    assert len(staircase.detect(lams, authors, spread=8e-4, z_strong=m + 1e-6)) == 5


def test_exact_thresholds_are_where_the_detector_counts_exactly_the_given_transitions():
    rng = np.random.default_rng(3)
    seeds = [planted_seed(rng) for _ in range(3)]
    strong_only = weak_jumps.exact_thresholds(LAMS, seeds, [LAMS[STRONG]], window=1e-3)
    weak = weak_jumps.evidence_near(LAMS, seeds, LAMS[WEAK], window=1e-3).majority_strength
    assert strong_only.low == pytest.approx(weak) and not strong_only.empty
    inside = 0.5 * (strong_only.low + strong_only.high)
    assert inside in strong_only and strong_only.low not in strong_only
    assert len(staircase.detect(LAMS, seeds, z_strong=inside)) == 1
    assert len(staircase.detect(LAMS, seeds, z_strong=strong_only.low - 1e-6)) == 2
    assert len(staircase.detect(LAMS, seeds, z_strong=strong_only.high + 1e-6)) == 0
    # asking for the weak jump alone: the strong one is an event elsewhere, stronger than it
    weak_only = weak_jumps.exact_thresholds(LAMS, seeds, [LAMS[WEAK]], window=1e-3)
    assert weak_only.empty and 9.0 not in weak_only and str(weak_only) == "none"
    both = weak_jumps.exact_thresholds(LAMS, seeds, [LAMS[WEAK], LAMS[STRONG]], window=1e-3)
    assert both.low == 4.0 and both.high == pytest.approx(weak)  # nothing else above z 4
    assert both.floor and not strong_only.floor  # 4 is where the search stopped, not an event
    assert str(both) == f"up to {both.high:.3g} (no other event at z ≥ 4)"
    assert str(strong_only) == f"({strong_only.low:.3g}, {strong_only.high:.3g}]"
    assert strong_only.overlap(both).empty  # one counts the weak jump, the other does not
    absent = weak_jumps.exact_thresholds(LAMS, seeds, [0.03, LAMS[STRONG]], window=1e-3)
    assert np.isnan(absent.high) and absent.empty  # nothing near β = 0.03


def test_the_authors_curves_admit_thresholds_from_their_uncounted_event_to_their_t4():
    lams, seeds = authors_mnist_seeds()
    paper = (0.0248, 0.0374, 0.0590, 0.0738, 0.0845)
    admitted = weak_jumps.exact_thresholds(lams, seeds, paper, window=0.005, spread=8e-4)
    assert admitted.low == pytest.approx(5.9, abs=0.05)  # the event at β ≈ 0.012
    assert 16 < admitted.high < 19 and weak_jumps.Z_STRONG in admitted
    for z, n in ((admitted.low - 1e-6, 6), (admitted.low + 1e-6, 5), (admitted.high, 5),
                 (admitted.high + 1e-6, 4)):
        assert len(staircase.detect(lams, seeds, spread=8e-4, z_strong=z)) == n


@pytest.mark.parametrize("a,b,floor", [
    (weak_jumps.Thresholds(4.0, 9.0, floor=True), weak_jumps.Thresholds(5.9, 17.3), False),
    (weak_jumps.Thresholds(6.5, 9.0), weak_jumps.Thresholds(4.0, 17.3, floor=True), False),
    (weak_jumps.Thresholds(4.0, 9.0, floor=True), weak_jumps.Thresholds(4.0, 17.3, floor=True),
     True),
    (weak_jumps.Thresholds(4.0, 9.0, floor=True), weak_jumps.Thresholds(3.0, 17.3), True),
    (weak_jumps.Thresholds(4.0, 9.0), weak_jumps.Thresholds(4.0, 17.3, floor=True), False),
])
def test_an_overlap_starts_at_the_floor_only_where_no_event_sets_its_lower_end(a, b, floor):
    both = a.overlap(b)
    assert both.low == max(a.low, b.low) and both.high == min(a.high, b.high)
    assert both.floor is floor and b.overlap(a).floor is floor
