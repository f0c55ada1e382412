"""Sphinx extension: MathJax served from the built book, so formulas render with no network.

``make mathjax`` unpacks npm's ``mathjax`` package (MathJax 3, its ``es5`` folder) into
``book/_vendor/mathjax`` (ignored by git). This extension adds ``book/_vendor`` to the static
paths, so the build copies it to ``_build/html/_static/mathjax``, and points ``mathjax_path`` at
the copy (Sphinx reads a relative ``mathjax_path`` from ``_static``). Without the unpacked
package the build stops with an error naming the fix, instead of silently linking a CDN.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ConfigError

VENDOR = "_vendor"  # relative to the book's source folder
ENTRY = "mathjax/tex-mml-chtml.js"  # MathJax 3: TeX and MathML input, CommonHTML output


def use_local_mathjax(app: Sphinx, config: Config) -> None:
    """Point ``mathjax_path`` at the book's own copy of MathJax; fail if it is missing."""
    vendor = Path(app.srcdir) / VENDOR
    if not (vendor / ENTRY).is_file():
        raise ConfigError(
            f"MathJax for offline reading is missing: no {vendor / ENTRY}. Run `make mathjax` "
            "(it unpacks npm's mathjax package there) before building the book.")
    config.mathjax_path = ENTRY
    config.html_static_path = [*config.html_static_path, str(vendor)]


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", use_local_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
