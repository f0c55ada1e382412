"""Every chapter executes with papermill in the smoke profile, and the book builds from it."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from l2lib import bookrun

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = bookrun.chapter_sources(ROOT / "book")


@pytest.fixture(scope="module")
def built_book(tmp_path_factory):
    """A copy of the book whose chapters were executed in the smoke profile, built to HTML."""
    tmp = tmp_path_factory.mktemp("book")
    shutil.copy(ROOT / "_config.yml", tmp / "_config.yml")
    shutil.copy(ROOT / "_toc.yml", tmp / "_toc.yml")
    book = tmp / "book"
    shutil.copytree(ROOT / "book", book, symlinks=True,
                    ignore=shutil.ignore_patterns("_build", "executed"))
    results = tmp / "results"
    for source in bookrun.chapter_sources(book):
        bookrun.execute_chapter(source, book / "executed" / f"{source.stem}.ipynb",
                                {"profile": "smoke", "results_dir": str(results)})
    build = subprocess.run(
        [str(Path(sys.executable).with_name("jupyter-book")), "build", str(book),
         "--path-output", str(tmp), "--warningiserror", "--keep-going"],
        capture_output=True, text=True, cwd=tmp,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return tmp


@pytest.mark.slow
@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_executes_cleanly(built_book, source):
    executed = nbformat.read(built_book / "book" / "executed" / f"{source.stem}.ipynb", 4)
    tags = [cell.metadata.get("tags", []) for cell in executed.cells]
    assert any("parameters" in t for t in tags), "papermill needs a cell tagged 'parameters'"
    assert any({"injected-parameters", "remove-cell"} <= set(t) for t in tags)
    images = 0
    for cell in executed.cells:
        for out in cell.get("outputs", []):
            assert out.output_type != "error", out
            assert not (out.output_type == "stream" and out.name == "stderr"), out.text
            images += "image/png" in out.get("data", {})
    assert images >= 1
    summary = json.loads((built_book / "results" / "summaries" / f"{source.stem}.json").read_text())
    assert summary["provenance"]["profile"] == "smoke" and summary["numbers"]


@pytest.mark.slow
def test_book_html_has_intro_and_every_chapter_with_figures(built_book):
    html = built_book / "_build" / "html"
    assert "intro.html" in (html / "index.html").read_text()  # index redirects to the intro
    assert "Run it yourself" in (html / "intro.html").read_text()
    for source in CHAPTERS:
        page = (html / "executed" / f"{source.stem}.html").read_text()
        assert "<img" in page and "Traceback" not in page
        assert "profile <code" in page  # the run banner says which profile produced the figures
        assert "injected-parameters" not in page
