"""A published claim beside what a run measured, with a verdict that can fail.

Every ✓/✗ the book prints is a :class:`Finding` returned by a chapter's
``l2lib.experiments.<chapter>.findings(...)``; the chapter's prose, its table, its JSON summary and
the "Does it reproduce?" page all read the same object. A verdict is one of five
(:class:`Verdict`):

* ``agrees`` / ``disagrees``: the run resolves the question and the answer matches / does not
  match the paper's;
* ``undecided``: the run measured it but cannot resolve it (e.g. the interval contains both
  answers);
* ``not measurable at this profile``: the run is too small to measure it at all; ``note`` says why
  and what scale would resolve it;
* ``holds by construction``: true whatever the data (e.g. a closed form checked against itself);
  said so, and not counted as evidence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class Verdict(str, Enum):
    """The five verdicts a finding can carry (the value is the text the book shows)."""

    AGREES = "agrees"
    DISAGREES = "disagrees"
    UNDECIDED = "undecided"
    NOT_MEASURABLE = "not measurable at this profile"
    BY_CONSTRUCTION = "holds by construction"

    @property
    def symbol(self) -> str:
        """A short mark for tables: ✓, ✗, ?, –, ≡."""
        return {"agrees": "✓", "disagrees": "✗", "undecided": "?",
                "not measurable at this profile": "–", "holds by construction": "≡"}[self.value]

    @property
    def is_evidence(self) -> bool:
        """True for agrees/disagrees: the verdicts that count as a test of the paper."""
        return self in (Verdict.AGREES, Verdict.DISAGREES)


NEEDS_REASON = (Verdict.UNDECIDED, Verdict.NOT_MEASURABLE, Verdict.BY_CONSTRUCTION)


@dataclass(frozen=True)
class Finding:
    """One published claim beside what this run measured.

    ``key``: a stable identifier (``"<chapter>.<name>"``), used to match the same finding across
    runs and profiles; ``finding``: the claim in words; ``paper``: the reported value with its
    source (e.g. "λ_c = 2.0 [theory]"); ``companion``: what this run found, as text; ``verdict``:
    a :class:`Verdict`; ``note``: one sentence — required for undecided, not measurable and by
    construction (why, and what would resolve it); ``numbers``: the values behind the verdict,
    for glue and the summary.
    """

    key: str
    finding: str
    paper: str
    companion: str
    verdict: Verdict
    note: str = ""
    numbers: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.verdict, Verdict):
            object.__setattr__(self, "verdict", Verdict(self.verdict))
        if self.verdict in NEEDS_REASON and not self.note:
            raise ValueError(f"finding {self.key!r} is {self.verdict.value!r}: give the reason "
                             "in note=")

    @property
    def agree(self) -> bool | None:
        """True/False for agrees/disagrees, None for the three other verdicts."""
        return {Verdict.AGREES: True, Verdict.DISAGREES: False}.get(self.verdict)

    def as_record(self) -> dict[str, Any]:
        """A JSON-ready dict (verdict as its text, plus ``agree``)."""
        record = asdict(self)
        record["verdict"] = self.verdict.value
        record["agree"] = self.agree
        record["numbers"] = dict(self.numbers)
        return record


def verdict_of(agrees: bool | None, resolved: bool = True) -> Verdict:
    """AGREES/DISAGREES from a resolved comparison; UNDECIDED when not ``resolved`` or None."""
    if not resolved or agrees is None:
        return Verdict.UNDECIDED
    return Verdict.AGREES if agrees else Verdict.DISAGREES


def interval_verdict(low: float, high: float, reference: float, tolerance: float = 0.0
                     ) -> Verdict:
    """Compare an interval [low, high] for a measured value with a reference value.

    AGREES if the interval overlaps [reference − tolerance, reference + tolerance] and is no
    wider than it allows to tell (width ≤ 4·tolerance when tolerance > 0); DISAGREES if the
    interval lies entirely outside; UNDECIDED if it overlaps but is too wide to tell, or is NaN.
    """
    if not (low <= high):  # also catches NaN
        return Verdict.UNDECIDED
    near = low <= reference + tolerance and high >= reference - tolerance
    if not near:
        return Verdict.DISAGREES
    if tolerance > 0 and high - low > 4 * tolerance:
        return Verdict.UNDECIDED
    return Verdict.AGREES


def tally(findings: Iterable[Finding | Mapping[str, Any]]) -> dict[str, int]:
    """Count of each verdict (by its text), in :class:`Verdict` order."""
    counts = {v.value: 0 for v in Verdict}
    for f in findings:
        verdict = f.verdict if isinstance(f, Finding) else Verdict(f["verdict"])
        counts[Verdict(verdict).value] += 1
    return counts
