"""The book's "Does it reproduce?" page, generated from the chapters' JSON summaries.

Each chapter writes ``<results_dir>/summaries/<chapter>.json`` (:func:`l2lib.report.write_summary`)
with its findings: a published claim beside what the run measured, and whether they agree. This
module puts every finding in one row — the papers' value, the companion's value from a results
folder (normally the book build's, profile ``quick``) and from a second one holding a run of the
``paper`` profile (e.g. copied back from a GPU machine), or "not run" — with agreement, device and
run time. It reads JSON only (no torch), so it is fast to call from ``make``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NOT_RUN = "not run"
PAGE_TITLE = "Does it reproduce?"


def load_summaries(results_dir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Chapter → summary for every ``<results_dir>/summaries/*.json`` (empty if none).

    A file that is not a chapter summary raises a ValueError naming it.
    """
    summaries = {}
    for path in sorted((Path(results_dir) / "summaries").glob("*.json")):
        try:
            record = json.loads(path.read_text())
            chapter = record["chapter"]
            record.setdefault("findings", [])
            record.setdefault("provenance", {})
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path} is not a chapter summary written by "
                             f"l2lib.report.write_summary ({err})") from err
        summaries[chapter] = record
    return summaries


@dataclass(frozen=True)
class Cell:
    """One profile's side of a finding: the measured value, agreement, device and run time."""

    companion: str
    agree: bool | None
    device: str
    wall_s: float | None
    profile: str


@dataclass(frozen=True)
class Row:
    """A finding with the paper's value and each results folder's cell (None: not run)."""

    chapter: str
    finding: str
    paper: str
    main: Cell | None
    paper_run: Cell | None
    note: str = ""


def _cell(summary: Mapping[str, Any] | None, finding: str) -> Cell | None:
    if summary is None:
        return None
    prov = summary["provenance"]
    for f in summary["findings"]:
        if f["finding"] == finding:
            return Cell(str(f["companion"]), f.get("agree"), str(prov.get("device", "?")),
                        prov.get("wall_s"), str(prov.get("profile", "?")))
    return Cell("not reported by this run", None, str(prov.get("device", "?")),
                prov.get("wall_s"), str(prov.get("profile", "?")))


def reproduction_rows(
    main: Mapping[str, Mapping[str, Any]], paper: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Row]:
    """One row per finding present in either set of summaries, chapters in order."""
    paper = paper or {}
    rows = []
    for chapter in sorted(set(main) | set(paper)):
        seen: dict[str, tuple[str, str]] = {}
        for source in (main.get(chapter), paper.get(chapter)):
            for f in (source or {}).get("findings", []):
                seen.setdefault(f["finding"], (str(f["paper"]), str(f.get("note", ""))))
        for finding, (reported, note) in seen.items():
            rows.append(Row(chapter, finding, reported, _cell(main.get(chapter), finding),
                            _cell(paper.get(chapter), finding), note))
    return rows


def format_wall(seconds: float | None) -> str:
    """Run time in s, min or h."""
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _agree(value: bool | None) -> str:
    return {True: "✓ yes", False: "✗ no"}.get(value, "undecided")


def _text(value: str) -> str:
    return " ".join(str(value).split()).replace("|", "\\|")


def _tally(cells: list[Cell | None]) -> str:
    ran = [c for c in cells if c is not None]
    if not ran:
        return NOT_RUN
    yes = sum(c.agree is True for c in ran)
    no = sum(c.agree is False for c in ran)
    return (f"{yes} agree, {no} disagree, {len(ran) - yes - no} undecided "
            f"of {len(ran)} findings run")


def _profiles(summaries: Mapping[str, Mapping[str, Any]]) -> str:
    found = sorted({str(s["provenance"].get("profile", "?")) for s in summaries.values()})
    return "/".join(found) if found else "quick"


def render_page(
    main: Mapping[str, Mapping[str, Any]], paper: Mapping[str, Mapping[str, Any]] | None = None,
    titles: Mapping[str, str] | None = None,
) -> str:
    """The Markdown page: a tally, then per chapter a table with one row per finding."""
    titles = titles or {}
    rows = reproduction_rows(main, paper)
    label = f"companion ({_profiles(main)} profile)"
    lines = [
        f"# {PAGE_TITLE}",
        "",
        "Every finding of the book, as the papers report it, beside what the companion measured "
        f"— in the run that built this book ({_profiles(main)} profile) and, where one exists, "
        "in a run of the `paper` profile (the published protocol and scale). *Agrees* is the "
        "chapter's own verdict, stated in its text; *undecided* means that run cannot resolve "
        "the question (usually a profile too small for it). The page is generated by "
        "`l2lib report` from the summaries the chapters write to `results/summaries/`.",
        "",
        f"**Tally.** {label}: {_tally([r.main for r in rows])}. Paper profile: "
        f"{_tally([r.paper_run for r in rows])}.",
        "",
    ]
    if not main and not paper:
        lines += ["No chapter summaries were found: run the chapters first "
                  "(`make chapters` or `l2lib run`).", ""]
    for chapter in sorted(set(main) | set(paper or {})):
        chapter_rows = [r for r in rows if r.chapter == chapter]
        lines += [f"## {titles.get(chapter, chapter)}", ""]
        if not chapter_rows:
            lines += ["This chapter records no findings yet.", ""]
            continue
        lines += [f"| finding | paper reports | {label} | agrees | paper profile | agrees "
                  "| device | run time |", "|---|---|---|---|---|---|---|---|"]
        for r in chapter_rows:
            m, p = r.main, r.paper_run
            device = f"{m.device if m else NOT_RUN} / {p.device if p else NOT_RUN}"
            wall = (f"{format_wall(m.wall_s) if m else NOT_RUN} / "
                    f"{format_wall(p.wall_s) if p else NOT_RUN}")
            finding = _text(r.finding) + (f" ({_text(r.note)})" if r.note else "")
            lines.append(
                f"| {finding} | {_text(r.paper)} | {_text(m.companion) if m else NOT_RUN} | "
                f"{_agree(m.agree) if m else '—'} | {_text(p.companion) if p else NOT_RUN} | "
                f"{_agree(p.agree) if p else '—'} | {_text(device)} | {wall} |")
        lines.append("")
    lines += ["Device and run time: this build's run / the paper-profile run. Run time is the "
              "chapter's wall time, from its start to its summary.", ""]
    return "\n".join(lines)


def write_page(
    results_dir: str | os.PathLike, output: str | os.PathLike,
    paper_results: str | os.PathLike | None = None, titles: Mapping[str, str] | None = None,
) -> Path:
    """Render the page from ``results_dir`` (and ``paper_results``) into ``output``
    (atomically); returns its path. A given ``paper_results`` folder must exist."""
    if paper_results is not None and not Path(paper_results).is_dir():
        raise FileNotFoundError(f"paper-profile results folder {paper_results} does not exist")
    main = load_summaries(results_dir)
    paper = load_summaries(paper_results) if paper_results is not None else None
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(render_page(main, paper, titles))
    os.replace(tmp, output)
    return output
