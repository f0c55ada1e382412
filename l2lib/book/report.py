"""What a chapter reports besides its figures: provenance, glued numbers, a JSON summary.

Each chapter writes ``<results_dir>/summaries/<chapter>.json`` with its headline numbers, its
findings beside the papers' values (:class:`l2lib.analysis.findings.Finding`, for the "Does it
reproduce?" page), and the run's provenance (profile, device, versions, start time, wall
time), and glues the same numbers into the book text with ``myst_nb.glue``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from l2lib.analysis import findings as findings_lib
from l2lib.runtime import check_profile, describe_device, resolve_device
from l2lib.store import code_version, jsonable


@dataclass(frozen=True)
class ChapterRun:
    """What every chapter sets up first: the device, the result store, the provenance."""

    device: torch.device
    store: Path
    info: dict


def start_chapter(
    profile: str, device: str, seed: int, dataset: str, results_dir: str | os.PathLike
) -> ChapterRun:
    """Check the profile, resolve the device, apply the figure style, record provenance.

    Results are stored under ``<results_dir>/store``.
    """
    from l2lib.book.plots import use_style

    dev = resolve_device(device)
    use_style()
    info = provenance(check_profile(profile), describe_device(dev), seed, dataset=dataset)
    return ChapterRun(dev, Path(results_dir) / "store", info)


def provenance(profile: str, device: torch.device | str, seed: int, **extra: Any) -> dict:
    """Who computed what, where: profile, device, seed, versions, host and UTC time."""
    return {
        "profile": profile,
        "device": str(device),
        "seed": seed,
        "l2lib": code_version(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "host": platform.node(),
        "utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


def banner(info: Mapping[str, Any]) -> str:
    """A Markdown sentence stating how the figures on the page were computed."""
    extra = "".join(f", {k} `{v}`" for k, v in info.items()
                    if k not in {"profile", "device", "seed", "l2lib", "torch", "python",
                                 "host", "utc"})
    return (
        f"**Computed for this page** with profile `{info['profile']}` on `{info['device']}`, "
        f"seed {info['seed']}{extra}; l2lib `{info['l2lib']}`, torch {info['torch']}, "
        f"{info['utc']}."
    )


def glue_numbers(numbers: Mapping[str, Any], digits: int = 4) -> None:
    """Glue each number for ``{glue:text}`` roles in the book (no-op outside a notebook build)."""
    try:
        from myst_nb import glue
    except ImportError:  # myst-nb comes with the 'book' extra; plain runs need no glue
        return
    for name, value in numbers.items():
        if isinstance(value, float) and math.isfinite(value):
            value = float(f"{value:.{digits}g}")
        glue(name, value, display=False)


def _finite_or_none(value: Any) -> Any:
    """NaN and ±inf become null, so the summary is strict JSON."""
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_summary(
    chapter: str, numbers: Mapping[str, Any], info: Mapping[str, Any],
    results_dir: str | os.PathLike,
    findings: Sequence[findings_lib.Finding | Mapping[str, Any]] = (),
    tables: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> Path:
    """Write ``<results_dir>/summaries/<chapter>.json`` atomically; return its path.
    ``tables``: named lists of rows behind a figure (e.g. chapter 6's runs), stored beside the
    numbers (not glued), so that the figure can be redrawn from the summary alone.

    The provenance gains ``wall_s``: seconds from ``info["utc"]`` (set by :func:`start_chapter`)
    to now, i.e. the chapter's run time.
    """
    path = Path(results_dir) / "summaries" / f"{chapter}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    info = dict(info)
    if "utc" in info:
        started = dt.datetime.fromisoformat(info["utc"])
        info["wall_s"] = round((dt.datetime.now(dt.timezone.utc) - started).total_seconds(), 1)
    record = {"chapter": chapter, "provenance": jsonable(info), "numbers": jsonable(numbers),
              "findings": [f.as_record() if isinstance(f, findings_lib.Finding) else dict(f)
                           for f in findings]}
    if tables:
        record["tables"] = jsonable({k: list(v) for k, v in tables.items()})
    tmp.write_text(json.dumps(_finite_or_none(record), indent=1, allow_nan=False))
    os.replace(tmp, path)
    return path


def markdown_table(rows: list[Mapping[str, Any]], digits: int = 4) -> str:
    """Rows of equal keys as a Markdown table (floats to ``digits`` significant digits)."""
    if not rows:
        return ""
    keys = list(rows[0])

    def cell(v: Any) -> str:
        return f"{v:.{digits}g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(cell(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)
