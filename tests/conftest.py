"""Shared fixtures: one smoke-profile build of the whole book per test session.

``built_book`` is used by tests/test_book.py (executed notebooks, HTML) and tests/test_browser.py
(every page in a real browser); being session-scoped, the chapters are executed and the book is
built once per test run. ``L2LIB_BOOK_BUILD=<folder>`` reuses a folder this fixture built in an
earlier run (pytest keeps the last three under ``/tmp/pytest-of-<user>/``), e.g. to rerun the
page checks without executing the chapters again; it is never set in CI.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from l2lib.book import notebooks as bookrun
from l2lib.book import reproduce

ROOT = Path(__file__).resolve().parents[1]


def _reused_build() -> Path | None:
    folder = os.environ.get("L2LIB_BOOK_BUILD")
    if not folder:
        return None
    folder = Path(folder)
    if not (folder / "_build" / "html" / "intro.html").is_file():
        raise ValueError(f"L2LIB_BOOK_BUILD={folder} is not a book built by the built_book "
                         "fixture (no _build/html/intro.html in it); unset it to build afresh")
    return folder


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    """A copy of the book whose chapters were executed in the smoke profile, built to HTML."""
    reused = _reused_build()
    if reused is not None:
        return reused
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
    reproduce.write_page(results, book / "executed" / "reproducibility.md")  # "Does it reproduce?"
    build = subprocess.run(
        [str(Path(sys.executable).with_name("jupyter-book")), "build", str(book),
         "--path-output", str(tmp), "--warningiserror", "--keep-going"],
        capture_output=True, text=True, cwd=tmp,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return tmp
