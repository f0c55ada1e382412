"""The "Does it reproduce?" page (l2lib.book.reproduce and `l2lib report`), from constructed
chapter summaries: five verdicts, tallies per verdict and profile, a legend, device and run time
once per chapter, a second results folder labelled by its profile, and safe table cells."""

import json
import re
from pathlib import Path

import pytest

from l2lib.analysis.findings import Finding, Verdict
from l2lib.book import cli, report, reproduce

ROOT = Path(__file__).resolve().parents[1]
CPU, GPU = "cpu (x86_64)", "cuda (NVIDIA H100)"


def summary(root, chapter, profile, device, findings, wall=None):
    path = report.write_summary(chapter, {"x": 1.0},
                                report.provenance(profile, device, 0), root, findings)
    if wall is not None:
        record = json.loads(path.read_text())
        record["provenance"]["wall_s"] = wall
        path.write_text(json.dumps(record))
    return path


def five_verdicts() -> list[Finding]:
    return [
        Finding("onset.lam_c", "λ_c for D = 2", "λ_c = 0.794 [theory]", "λ_c = 0.79",
                Verdict.AGREES, "within 5 %"),
        Finding("onset.order", "order for D = 1", "second", "first", Verdict.DISAGREES),
        Finding("onset.spinodal", "spinodal", "λ_s = 1.2", "between 1.0 and 1.6",
                Verdict.UNDECIDED, "interval contains both answers"),
        Finding("onset.hysteresis", "loop width", "0.3", "—", Verdict.NOT_MEASURABLE,
                "smoke grid too coarse; the reference profile resolves it"),
        Finding("onset.closed_form", "λ_c closed form", "λ_c = 1 [theory]", "λ_c = 1",
                Verdict.BY_CONSTRUCTION, "the closed form checked against itself"),
    ]


def table_rows(page: str, chapter_title: str) -> list[list[str]]:
    """Body rows of the findings table under ``## chapter_title`` as lists of cells."""
    section = page.split(f"## {chapter_title}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows[1:]]


def test_legacy_agree_maps_to_three_verdicts_and_new_records_keep_five():
    assert reproduce.verdict_of_record({"agree": True}) is Verdict.AGREES
    assert reproduce.verdict_of_record({"agree": False}) is Verdict.DISAGREES
    assert reproduce.verdict_of_record({"agree": None}) is Verdict.UNDECIDED
    assert reproduce.verdict_of_record({}) is Verdict.UNDECIDED
    for f in five_verdicts():  # the record's text wins over its (None) agree
        assert reproduce.verdict_of_record(f.as_record()) is f.verdict
    with pytest.raises(ValueError, match="unknown verdict 'maybe'"):
        reproduce.verdict_of_record({"verdict": "maybe", "agree": True})


def test_page_shows_five_verdicts_with_legend_tally_and_second_profile(tmp_path):
    quick, second = tmp_path / "quick", tmp_path / "reference"
    summary(quick, "01_onset", "quick", CPU, five_verdicts(), wall=150.0)
    summary(quick, "02_curvature", "quick", CPU, [], wall=0.4)
    # an older summary (a record with "agree" only) with a "|" and a "<" in its cells
    summary(quick, "03_regimes", "quick", CPU,
            [{"finding": "plateaus | steps", "paper": "P < N* [paper]",
              "companion": "3 plateaus", "agree": None, "note": "n > 2"}])
    ref = five_verdicts()
    ref[2] = Finding("onset.spinodal", "spinodal", "λ_s = 1.2", "λ_s = 1.21", Verdict.AGREES)
    summary(second, "01_onset", "reference", GPU, ref[:3], wall=7200.0)

    rows = reproduce.reproduction_rows(reproduce.load_summaries(quick),
                                       reproduce.load_summaries(second))
    assert [(r.chapter, r.key) for r in rows] == [
        *(("01_onset", f.key) for f in five_verdicts()), ("03_regimes", "plateaus | steps")]
    assert [r.main.verdict for r in rows[:5]] == list(Verdict)
    assert rows[2].paper_run == reproduce.Cell("λ_s = 1.21", Verdict.AGREES)
    assert rows[3].paper_run == reproduce.Cell("not reported by this run", None)
    assert rows[5].main.verdict is Verdict.UNDECIDED and rows[5].paper_run is None

    page = reproduce.write_page(quick, tmp_path / "page.md", second, titles={
        "01_onset": "Onset of learning", "03_regimes": "Regimes"}).read_text()
    lines = page.splitlines()
    assert lines[0] == "# Does it reproduce?"
    for v in Verdict:  # legend: symbol and name of each verdict
        assert any(line.startswith(f"- {v.symbol} **{v.value}**:") for line in lines), v
    # tally per verdict and profile; the second column is labelled by its summaries' profile
    assert "| verdict | quick profile | reference profile |" in lines
    assert "| ✓ agrees | 1 | 2 |" in lines and "| ✗ disagrees | 1 | 1 |" in lines
    assert "| ? undecided | 2 | 0 |" in lines  # onset.spinodal and the legacy None
    assert "| – not measurable at this profile | 1 | 0 |" in lines
    assert "| ≡ holds by construction | 1 | 0 |" in lines
    assert "| evidence (✓ + ✗) of all findings run | 2 of 6 | 3 of 3 |" in lines
    # device and run time once per chapter, not per row
    assert (f"Run: quick profile: `{CPU}`, 2.5 min; reference profile: `{GPU}`, 2.0 h."
            in lines)
    assert "Run: quick profile: `cpu (x86_64)`, 0 s; reference profile: not run." in lines
    assert page.count(GPU) == 1 and "Verdicts — quick profile: ✓ 1 ✗ 1 ? 1 – 1 ≡ 1; " \
        "reference profile: ✓ 2 ✗ 1." in lines
    onset = table_rows(page, "Onset of learning")
    assert len(onset) == 5 and all(len(r) == 4 for r in onset)  # four columns, no device
    assert onset[0] == ["λ_c for D = 2", "λ_c = 0.794 [theory]", "✓ λ_c = 0.79 — *within 5 %*",
                        "✓ λ_c = 0.79 — *within 5 %*"]
    assert onset[1][2:] == ["✗ first", "✗ first"]
    assert onset[2][2:] == ["? between 1.0 and 1.6 — *interval contains both answers*",
                            "✓ λ_s = 1.21"]
    assert onset[3][2].startswith("– — — *smoke grid") and onset[3][3] == \
        "*not reported by this run*"
    assert onset[4][2].startswith("≡ λ_c = 1 — *the closed form")
    regimes = table_rows(page, "Regimes")
    assert regimes == [["plateaus \\| steps", "P &lt; N* [paper]",
                        "? 3 plateaus — *n &gt; 2*", "not run"]]
    assert "This chapter records no findings yet." in page
    assert "<" not in page.replace("&lt;", "")  # no raw tag in the generated Markdown


def test_cell_text_escapes_markup_and_joins_lines():
    assert reproduce.cell_text("a <b>\n  c | d & e") == "a &lt;b&gt; c \\| d &amp; e"


def test_report_command_without_second_run_and_bad_summaries(tmp_path, capsys):
    summary(tmp_path, "01_onset", "smoke", "cpu", [Finding("ch.f", "f", "p", "c", Verdict.AGREES)])
    out = tmp_path / "page.md"
    assert cli.main(["report", "--results", str(tmp_path), "--output", str(out),
                     "--book", str(ROOT / "book")]) == 0
    page = out.read_text()
    assert "## Onset of learning" in page and "| f | p | ✓ c | not run |" in page
    assert "| ✓ agrees | 1 | not run |" in page
    (tmp_path / "summaries" / "broken.json").write_text("{}")
    assert cli.main(["report", "--results", str(tmp_path), "--output", str(out)]) == 2
    assert "broken.json is not a chapter summary" in capsys.readouterr().err
    (tmp_path / "summaries" / "broken.json").write_text(json.dumps(
        {"chapter": "x", "findings": [{"finding": "f", "paper": "p", "companion": "c",
                                       "verdict": "probably"}]}))
    assert cli.main(["report", "--results", str(tmp_path), "--output", str(out)]) == 2
    assert "unknown verdict 'probably'" in capsys.readouterr().err
