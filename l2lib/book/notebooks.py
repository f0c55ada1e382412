"""Execute one chapter with papermill (the command line is ``python -m l2lib run``:
:mod:`l2lib.book.cli`, which skips chapters already run with the same parameters and code).

Chapters are jupytext percent-format sources ``book/chapters/NN_name.py``; each is converted to a
notebook, executed by papermill (kernel ``python3``, working directory ``book/chapters``) with
the given parameters, and written to ``book/executed/NN_name.ipynb``, which the book's table of
contents points at. The cell papermill injects is tagged ``remove-cell`` so the book hides it.
Needs the ``book`` extra (papermill, jupytext).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HIDE_TAG = "remove-cell"


def chapter_sources(book: str | Path = "book") -> list[Path]:
    """The chapter sources ``<book>/chapters/*.py`` in order."""
    sources = sorted((Path(book) / "chapters").glob("[0-9]*.py"))
    if not sources:
        raise FileNotFoundError(f"no chapter sources found under {Path(book) / 'chapters'}")
    return sources


def execute_chapter(
    source: str | Path,
    output: str | Path,
    parameters: Mapping[str, Any],
    *,
    kernel: str = "python3",
    progress: bool = False,
) -> Path:
    """Convert ``source`` with jupytext, execute it with papermill into ``output``, hide the
    injected-parameters cell. Raises papermill's error if a cell fails (the partly executed
    notebook is still written, with the traceback). The kernel runs with ``L2LIB_PROGRESS=0``
    unless set otherwise: progress bars would be stored in the notebook as widgets, which the
    rendered book can show only with scripts from a CDN."""
    import jupytext
    import nbformat
    import papermill

    source, output = Path(source), Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {"name": kernel, "display_name": "Python 3",
                                       "language": "python"}
    os.environ.setdefault("L2LIB_PROGRESS", "0")  # the kernel inherits it
    with tempfile.TemporaryDirectory() as tmp:
        unexecuted = Path(tmp) / source.with_suffix(".ipynb").name
        nbformat.write(notebook, unexecuted)
        try:
            papermill.execute_notebook(
                str(unexecuted), str(output), parameters=dict(parameters), kernel_name=kernel,
                cwd=str(source.parent), progress_bar=progress,
            )
        finally:
            if output.exists():
                _hide_injected(output)
    return output


def _hide_injected(path: Path) -> None:
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and HIDE_TAG not in tags:
            tags.append(HIDE_TAG)
    nbformat.write(notebook, path)


def parse_value(text: str) -> Any:
    """Command-line parameter values: int, float, true/false/none, else the string."""
    lowered = text.lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    if lowered == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
