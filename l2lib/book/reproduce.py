"""The book's "Does it reproduce?" page, generated from the chapters' JSON summaries.

Each chapter writes ``<results_dir>/summaries/<chapter>.json`` (:func:`l2lib.book.report.
write_summary`) with its findings: a published claim beside what the run measured, with one of the
five verdicts of :class:`l2lib.analysis.findings.Verdict`. This module puts every finding in one
row — the papers' value, the companion's value and verdict from a results folder (normally the book
build's, profile ``quick``) and from a second one (``--paper-results``: e.g. a ``reference`` or
``paper`` profile run copied back from another machine; its column is labelled by the profile its
summaries record), or "not run". Device and run time are stated once per chapter; a tally counts
each verdict per profile. It reads JSON only (no torch), so it is fast to call from ``make``.

Summaries written before the five verdicts carry only ``agree``: True, False and None read as
agrees, disagrees and undecided.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from l2lib.analysis.findings import Verdict

NOT_RUN = "not run"
PAGE_TITLE = "Does it reproduce?"
LEGEND = {
    Verdict.AGREES: "the run resolves the question and matches the paper",
    Verdict.DISAGREES: "the run resolves the question and does not match the paper",
    Verdict.UNDECIDED: "measured, but the run cannot resolve the question",
    Verdict.NOT_MEASURABLE: "this profile is too small to measure it; the note says what would",
    Verdict.BY_CONSTRUCTION: "true whatever the data (e.g. a closed form checked against "
                             "itself); not counted as evidence",
}


def load_summaries(results_dir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Chapter → summary for every ``<results_dir>/summaries/*.json``, or, in a folder of
    committed reference results (:mod:`l2lib.book.reference`), every
    ``<results_dir>/<chapter>/summary.json`` (empty if none).

    A file that is not a chapter summary, or whose verdict is unknown, raises a ValueError
    naming it.
    """
    summaries = {}
    paths = sorted((Path(results_dir) / "summaries").glob("*.json"))
    if not paths:
        paths = sorted(Path(results_dir).glob("[0-9]*/summary.json"))
    for path in paths:
        try:
            record = json.loads(path.read_text())
            chapter = record["chapter"]
            record.setdefault("findings", [])
            record.setdefault("provenance", {})
            for f in record["findings"]:
                missing = sorted({"finding", "paper", "companion"} - set(f))
                if missing:
                    raise KeyError(f"a finding lacks {missing}")
                verdict_of_record(f)
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path} is not a chapter summary written by "
                             f"l2lib.book.report.write_summary ({err})") from err
        summaries[chapter] = record
    return summaries


def verdict_of_record(finding: Mapping[str, Any]) -> Verdict:
    """The verdict of a finding as stored in a summary: its ``verdict`` text, or for summaries
    older than the five verdicts its ``agree`` (True/False/None → agrees/disagrees/undecided)."""
    if finding.get("verdict") is not None:
        try:
            return Verdict(finding["verdict"])
        except ValueError:
            raise ValueError(f"unknown verdict {finding['verdict']!r} (known: "
                             f"{[v.value for v in Verdict]})") from None
    return {True: Verdict.AGREES, False: Verdict.DISAGREES}.get(finding.get("agree"),
                                                                 Verdict.UNDECIDED)


@dataclass(frozen=True)
class Cell:
    """One results folder's side of a finding: the measured value, its verdict and note."""

    companion: str
    verdict: Verdict | None  # None: the run did not report this finding
    note: str = ""


@dataclass(frozen=True)
class Row:
    """A finding with the paper's value and each results folder's cell (None: not run)."""

    chapter: str
    key: str
    finding: str
    paper: str
    main: Cell | None
    paper_run: Cell | None


@dataclass(frozen=True)
class Run:
    """A chapter's run in one results folder: profile, device and wall time."""

    profile: str
    device: str
    wall_s: float | None


def _key(finding: Mapping[str, Any]) -> str:
    return str(finding.get("key") or finding["finding"])


def _cell(summary: Mapping[str, Any] | None, key: str) -> Cell | None:
    if summary is None:
        return None
    for f in summary["findings"]:
        if _key(f) == key:
            return Cell(str(f["companion"]), verdict_of_record(f), str(f.get("note") or ""))
    return Cell("not reported by this run", None)


def chapter_run(summary: Mapping[str, Any] | None) -> Run | None:
    """Profile, device and run time recorded in a chapter's summary (None: not run)."""
    if summary is None:
        return None
    prov = summary["provenance"]
    return Run(str(prov.get("profile", "?")), str(prov.get("device", "?")), prov.get("wall_s"))


def reproduction_rows(
    main: Mapping[str, Mapping[str, Any]], paper: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Row]:
    """One row per finding (matched by ``key``, else by its text) present in either set of
    summaries, chapters in order."""
    paper = paper or {}
    rows = []
    for chapter in sorted(set(main) | set(paper)):
        seen: dict[str, tuple[str, str]] = {}
        for source in (main.get(chapter), paper.get(chapter)):
            for f in (source or {}).get("findings", []):
                seen.setdefault(_key(f), (str(f["finding"]), str(f["paper"])))
        for key, (finding, reported) in seen.items():
            rows.append(Row(chapter, key, finding, reported, _cell(main.get(chapter), key),
                            _cell(paper.get(chapter), key)))
    return rows


def tally(cells: Sequence[Cell | None]) -> dict[Verdict, int]:
    """Count of each verdict among the cells of one profile (not run / not reported left out)."""
    counts = {v: 0 for v in Verdict}
    for c in cells:
        if c is not None and c.verdict is not None:
            counts[c.verdict] += 1
    return counts


def format_wall(seconds: float | None) -> str:
    """Run time in s, min or h."""
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def cell_text(value: Any) -> str:
    """Text safe in a Markdown table cell: one line, ``|`` escaped, ``<``/``>``/``&`` as HTML
    entities (so "P < N*" is not read as a tag)."""
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|")


def profile_label(summaries: Mapping[str, Mapping[str, Any]], default: str) -> str:
    """"<profile> profile" from the profiles the summaries record (joined by / if several)."""
    found = sorted({str(s["provenance"].get("profile", "?")) for s in summaries.values()})
    return f"{'/'.join(found) if found else default} profile"


def _value(cell: Cell | None) -> str:
    if cell is None:
        return NOT_RUN
    if cell.verdict is None:
        return f"*{cell_text(cell.companion)}*"
    note = f" — *{cell_text(cell.note)}*" if cell.note else ""
    return f"{cell.verdict.symbol} {cell_text(cell.companion)}{note}"


def _run_text(label: str, run: Run | None) -> str:
    if run is None:
        return f"{label}: {NOT_RUN}"
    return f"{label}: `{cell_text(run.device)}`, {format_wall(run.wall_s)}"


def _compact_tally(counts: Mapping[Verdict, int]) -> str:
    return " ".join(f"{v.symbol} {n}" for v, n in counts.items() if n) or "no verdicts"


def render_page(
    main: Mapping[str, Mapping[str, Any]], paper: Mapping[str, Mapping[str, Any]] | None = None,
    titles: Mapping[str, str] | None = None,
) -> str:
    """The Markdown page: legend, tally per verdict and profile, then per chapter the runs'
    device and time and a table with one row per finding."""
    titles = titles or {}
    paper = paper or {}
    rows = reproduction_rows(main, paper)
    label = profile_label(main, "quick")
    second = profile_label(paper, "reference") if paper else "second run"
    counts = {label: tally([r.main for r in rows]), second: tally([r.paper_run for r in rows])}
    ran = {label: bool(main), second: bool(paper)}
    lines = [
        f"# {PAGE_TITLE}",
        "",
        "Every finding of the book, as the papers report it, beside what the companion measured "
        f"— in the run that built this book ({label}) and, where one exists, in a second run "
        "at a larger scale (a `reference` or `paper` profile). Each verdict is computed by a "
        "tested library function (`l2lib.analysis.findings`), the same one whose words the "
        "chapter prints. The page is generated by `l2lib report` from the summaries the "
        "chapters write to `results/summaries/`.",
        "",
        "**Verdicts.**",
        "",
        *(f"- {v.symbol} **{v.value}**: {LEGEND[v]}." for v in Verdict),
        "",
        "## Tally",
        "",
        f"| verdict | {label} | {second} |",
        "|---|---|---|",
        *(f"| {v.symbol} {v.value} | "
          + " | ".join(str(counts[p][v]) if ran[p] else NOT_RUN for p in counts) + " |"
          for v in Verdict),
        "| evidence (✓ + ✗) of all findings run | "
        + " | ".join(f"{counts[p][Verdict.AGREES] + counts[p][Verdict.DISAGREES]} of "
                     f"{sum(counts[p].values())}" if ran[p] else NOT_RUN for p in counts) + " |",
        "",
    ]
    if not main and not paper:
        lines += ["No chapter summaries were found: run the chapters first "
                  "(`make chapters` or `l2lib run`).", ""]
    for chapter in sorted(set(main) | set(paper)):
        chapter_rows = [r for r in rows if r.chapter == chapter]
        m_run, p_run = chapter_run(main.get(chapter)), chapter_run(paper.get(chapter))
        lines += [f"## {titles.get(chapter, chapter)}", "",
                  f"Run: {_run_text(label, m_run)}; {_run_text(second, p_run)}.", ""]
        if not chapter_rows:
            lines += ["This chapter records no findings yet.", ""]
            continue
        second_tally = (_compact_tally(tally([r.paper_run for r in chapter_rows])) if p_run
                        else NOT_RUN)
        lines += [f"Verdicts — {label}: {_compact_tally(tally([r.main for r in chapter_rows]))}; "
                  f"{second}: {second_tally}.", "",
                  f"| finding | paper reports | {label} | {second} |", "|---|---|---|---|"]
        for r in chapter_rows:
            lines.append(f"| {cell_text(r.finding)} | {cell_text(r.paper)} | {_value(r.main)} | "
                         f"{_value(r.paper_run)} |")
        lines.append("")
    lines += ["Run time is the chapter's wall time, from its start to its summary.", ""]
    return "\n".join(lines)


def write_page(
    results_dir: str | os.PathLike, output: str | os.PathLike,
    paper_results: str | os.PathLike | None = None, titles: Mapping[str, str] | None = None,
) -> Path:
    """Render the page from ``results_dir`` (and ``paper_results``) into ``output``
    (atomically); returns its path. A given ``paper_results`` folder must exist."""
    if paper_results is not None and not Path(paper_results).is_dir():
        raise FileNotFoundError(f"second results folder {paper_results} (--paper-results) "
                                "does not exist")
    main = load_summaries(results_dir)
    paper = load_summaries(paper_results) if paper_results is not None else None
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(render_page(main, paper, titles))
    os.replace(tmp, output)
    return output
