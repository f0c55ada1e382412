"""Findings and their five verdicts (l2lib.analysis.findings)."""

import json
import math

import pytest

from l2lib.analysis.findings import Finding, Verdict, interval_verdict, tally, verdict_of


def finding(verdict, note=""):
    return Finding("ch.x", "a claim", "1.0 [paper]", "0.9", verdict, note, {"x": 0.9})


def test_only_agrees_and_disagrees_count_as_evidence():
    assert [v.is_evidence for v in Verdict] == [True, True, False, False, False]
    assert [finding(v, "why").agree for v in Verdict] == [True, False, None, None, None]
    assert len({v.symbol for v in Verdict}) == 5


@pytest.mark.parametrize("verdict", [Verdict.UNDECIDED, Verdict.NOT_MEASURABLE,
                                     Verdict.BY_CONSTRUCTION])
def test_a_verdict_that_is_not_evidence_needs_its_reason(verdict):
    with pytest.raises(ValueError, match="give the reason"):
        finding(verdict)
    assert finding(verdict, "the grid is too coarse").note


def test_verdict_text_is_accepted_and_unknown_text_rejected():
    assert finding("agrees").verdict is Verdict.AGREES
    with pytest.raises(ValueError):
        finding("probably")


def test_record_is_strict_json_with_the_verdict_text():
    record = finding(Verdict.NOT_MEASURABLE, "N too small").as_record()
    assert json.loads(json.dumps(record, allow_nan=False)) == record
    assert record["verdict"] == "not measurable at this profile" and record["agree"] is None


def test_verdict_of_is_undecided_without_resolution():
    assert verdict_of(True) is Verdict.AGREES and verdict_of(False) is Verdict.DISAGREES
    assert verdict_of(None) is Verdict.UNDECIDED
    assert verdict_of(True, resolved=False) is Verdict.UNDECIDED


def test_interval_verdict_agrees_disagrees_and_cannot_tell():
    assert interval_verdict(0.28, 0.33, 0.3, 0.05) is Verdict.AGREES
    # negative control: an interval entirely away from the reference must not agree
    assert interval_verdict(0.5, 0.6, 0.3, 0.05) is Verdict.DISAGREES
    # an interval so wide that it contains any answer decides nothing
    assert interval_verdict(-1.0, 2.0, 0.3, 0.05) is Verdict.UNDECIDED
    assert interval_verdict(math.nan, math.nan, 0.3, 0.05) is Verdict.UNDECIDED
    assert interval_verdict(0.3, 0.3, 0.3) is Verdict.AGREES


def test_tally_counts_findings_and_records():
    found = [finding(Verdict.AGREES), finding(Verdict.UNDECIDED, "n"),
             finding(Verdict.AGREES).as_record()]
    counts = tally(found)
    assert counts["agrees"] == 2 and counts["undecided"] == 1 and sum(counts.values()) == 3
