"""Sphinx extension for the API page (book/api.md): absolute values in docstrings stay as written.

l2lib's docstrings are reStructuredText, and in reStructuredText ``|x|`` is a substitution
reference: a docstring saying "|Δ| in grid steps" would break the book build. This extension
escapes every ``|`` of a docstring outside inline literals and roles before it is parsed, so
that absolute values and norms render as written. Loaded through ``local_extensions`` in
_config.yml. Other markup (``*args``, ``[a, *b]``) still needs double backticks.
"""

from __future__ import annotations

import re
from typing import Any

# inline literals, roles with their target, and interpreted text: left as they are
_PROTECTED = re.compile(r"(``.+?``|:[\w:.+-]+:`[^`]*`|`[^`]*`_{0,2})")


def escape_bars(line: str) -> str:
    """``line`` with each ``|`` outside ``literals``, :roles:`...` and `text` escaped."""
    parts = _PROTECTED.split(line)
    return "".join(part if i % 2 else part.replace("|", r"\|") for i, part in enumerate(parts))


def _escape_docstring(app: Any, what: str, name: str, obj: Any, options: Any,
                      lines: list[str]) -> None:
    lines[:] = [escape_bars(line) for line in lines]


def setup(app: Any) -> dict[str, Any]:
    app.connect("autodoc-process-docstring", _escape_docstring)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
