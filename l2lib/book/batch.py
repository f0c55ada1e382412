"""Batch runs: chapters through papermill and library sweeps, serially or as Dask tasks.

Two kinds of independent work are run here, each as one task:

* a **chapter** (a jupytext source ``book/chapters/NN_name.py`` executed by papermill into
  ``book/executed/NN_name.ipynb``, see :mod:`l2lib.book.notebooks`);
* a **sweep task** of a sweep config file (one dataset × architecture × seed group of a warm
  sweep, or one block of the λ grid of an independent sweep), written into the result store.

Tasks run one after another, or on a Dask distributed cluster (:func:`dask_client`: a
``LocalCluster`` by default, or any scheduler address, e.g. one started by dask-jobqueue on a
Slurm cluster; the workers must see the same file system and have l2lib installed).

Nothing finished is computed twice. A sweep task writes its points atomically into its store
(:mod:`l2lib.store`), so a rerun resumes it. A chapter counts as finished when its executed
notebook records a run key — a hash of the chapter source, of l2lib's code version and of the
parameters — equal to the current one, and the summary it wrote
(``<results_dir>/summaries/<stem>.json``) is still there unchanged. Papermill writes into
``<stem>.partial.ipynb`` first; only a finished run is moved to ``<stem>.ipynb`` with its key, so
a killed batch leaves nothing that looks finished. A failed chapter's notebook (with the
traceback) replaces the executed one, without a key.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from l2lib.book import notebooks
from l2lib.runtime import check_profile, check_seed, configure_threads

RUN_METADATA = "l2lib"  # key of the executed notebook's metadata holding the run record
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")
SCHEDULER_TIMEOUT_S = 10.0  # how long to try reaching a Dask scheduler before giving up


# ----------------------------------------------------------------------------------- chapters

@dataclass(frozen=True)
class Chapter:
    """A chapter source and the defaults of its ``parameters`` cell (name → literal value)."""

    stem: str
    source: Path
    defaults: dict[str, Any]

    @property
    def title(self) -> str:
        """The chapter's first Markdown heading, else its stem."""
        match = re.search(r"^# # (.+)$", self.source.read_text(), flags=re.MULTILINE)
        return match.group(1).strip() if match else self.stem


def parameters_cell(source: str | Path) -> dict[str, Any]:
    """Names and default values assigned in the cell tagged ``parameters`` of a jupytext source.

    A default that is not a Python literal is recorded as ``...`` (any value accepted).
    """
    import jupytext

    notebook = jupytext.read(Path(source))
    cells = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"{source}: expected exactly one cell tagged 'parameters', "
                         f"found {len(cells)}")
    defaults: dict[str, Any] = {}
    for node in ast.parse(cells[0].source).body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) and node.value else [])
        for target in targets:
            if isinstance(target, ast.Name):
                try:
                    defaults[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    defaults[target.id] = ...
    return defaults


def find_chapters(book: str | Path = "book") -> list[Chapter]:
    """Every chapter ``<book>/chapters/NN_*.py`` in order, with its parameters."""
    return [Chapter(s.stem, s.resolve(), parameters_cell(s))
            for s in notebooks.chapter_sources(book)]


def select_chapters(chapters: Sequence[Chapter], names: Sequence[str]) -> list[Chapter]:
    """The chapters named by stem (``01_onset``), number (``01``, ``1``) or name (``onset``);
    all of them when ``names`` is empty. Unknown or ambiguous names raise a ValueError listing
    the available chapters."""
    by_stem = {c.stem: c for c in chapters}
    return [by_stem[s] for s in select_stems(list(by_stem), names)]


def select_stems(stems: Sequence[str], names: Sequence[str]) -> list[str]:
    """:func:`select_chapters` on chapter stems: the stems named by stem, number or name (each
    once, in the order named); all of ``stems`` when ``names`` is empty."""
    if not names:
        return list(stems)
    chosen: list[str] = []
    for name in names:
        matches = [s for s in stems if name in _aliases(s)]
        if len(matches) != 1:
            problem = "unknown" if not matches else "ambiguous"
            raise ValueError(f"{problem} chapter {name!r}; available: {', '.join(stems)} "
                             "(give the file stem, its number or its name)")
        if matches[0] not in chosen:
            chosen.append(matches[0])
    return chosen


def _aliases(stem: str) -> set[str]:
    number, _, name = stem.partition("_")
    aliases = {stem, number, name}
    if number.isdigit():
        aliases.add(str(int(number)))
    return aliases - {""}


def coerce_parameter(name: str, text: str, default: Any) -> Any:
    """The command-line text of parameter ``name`` as the type of its default.

    Strings stay strings; ``none`` is None (only where the default is None); a default of None
    or a non-literal accepts ints, floats, true/false, none or a string.
    """
    lowered = text.strip().lower()
    if default is None or default is ...:
        return notebooks.parse_value(text)
    if isinstance(default, bool):
        if lowered not in {"true", "false"}:
            raise ValueError(f"parameter {name!r} is a flag: give true or false, not {text!r}")
        return lowered == "true"
    if isinstance(default, int | float):
        kinds = (int,) if isinstance(default, int) else (int, float)
        for kind in kinds:
            with contextlib.suppress(ValueError):
                return kind(text) if kind is int else float(text)
        what = "an integer" if kinds == (int,) else "a number"
        raise ValueError(f"parameter {name!r} must be {what} (its default is {default!r}), "
                         f"got {text!r}")
    if isinstance(default, str):
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError) as err:
        raise ValueError(f"parameter {name!r} takes a Python literal like its default "
                         f"{default!r}, got {text!r}") from err
    return value


def chapter_parameters(
    chapter: Chapter, profile: str, overrides: Sequence[tuple[str, str]] = (),
    results_dir: str | Path | None = None,
) -> dict[str, Any]:
    """The parameters papermill injects into ``chapter``: the profile, ``-p NAME VALUE``
    overrides (text, converted to the type of the default) and ``results_dir`` (absolute).

    A name the parameters cell does not define, a bad profile or device raise a ValueError.
    """
    parameters: dict[str, Any] = {"profile": check_profile(profile)}
    for name, text in overrides:
        if name not in chapter.defaults:
            raise ValueError(f"chapter {chapter.stem} has no parameter {name!r}; its parameters "
                             f"are {', '.join(chapter.defaults)}")
        parameters[name] = coerce_parameter(name, text, chapter.defaults[name])
    check_profile(parameters["profile"])
    device = parameters.get("device", "auto")
    if not isinstance(device, str) or not DEVICE_PATTERN.fullmatch(device):
        raise ValueError(f"parameter 'device' = {device!r} is not supported; use auto, cpu, cuda "
                         "or cuda:N (l2lib trains in float64, which MPS lacks)")
    for name, value in parameters.items():
        if name == "seed" or name.endswith("_seed"):
            check_seed(value, f"parameter {name!r}")
    if results_dir is not None:
        if "results_dir" not in chapter.defaults:
            raise ValueError(f"chapter {chapter.stem} has no parameter 'results_dir'")
        parameters["results_dir"] = str(Path(results_dir).expanduser().resolve())
    return parameters


def summary_path(chapter: Chapter, parameters: Mapping[str, Any]) -> Path | None:
    """Where ``chapter`` writes its summary (``results_dir`` is relative to its folder)."""
    results = parameters.get("results_dir", chapter.defaults.get("results_dir"))
    if not isinstance(results, str | os.PathLike):
        return None
    return (chapter.source.parent / results / "summaries" / f"{chapter.stem}.json").resolve()


def chapter_code(chapter: Chapter) -> str:
    """The code version of what ``chapter`` runs: the l2lib modules its source imports and
    theirs, transitively (editing another chapter's modules does not rerun it)."""
    from l2lib.store import code_version, dependencies, source_imports

    return code_version(dependencies(source_imports(chapter.source), include_book=True))


def run_key(chapter: Chapter, parameters: Mapping[str, Any]) -> str:
    """16 hex digits identifying a run: the chapter's source, the code it uses, the parameters."""
    blob = json.dumps({
        "chapter": chapter.stem,
        "source": hashlib.sha256(chapter.source.read_bytes()).hexdigest(),
        "code": chapter_code(chapter),
        "parameters": {k: parameters[k] for k in sorted(parameters)},
        "summary": str(summary_path(chapter, parameters)),
    }, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def recorded_run(notebook: str | Path) -> dict[str, Any] | None:
    """The run record an executed notebook carries (None if absent, failed or unreadable)."""
    try:
        metadata = json.loads(Path(notebook).read_text())["metadata"]
    except (OSError, ValueError, KeyError):
        return None
    return metadata.get(RUN_METADATA, {}).get("run")


def chapter_finished(chapter: Chapter, output: str | Path, parameters: Mapping[str, Any]) -> bool:
    """Whether ``output`` holds a finished run of ``chapter`` with these parameters under the
    current code, and the summary that run wrote is unchanged."""
    return _finished(output, run_key(chapter, parameters))


def _finished(output: str | Path, key: str) -> bool:
    record = recorded_run(output)
    if record is None or record.get("key") != key:
        return False
    if record.get("summary_sha") is None:
        return True
    summary = Path(record["summary"])
    return summary.exists() and _sha(summary) == record["summary_sha"]


@dataclass(frozen=True)
class ChapterOutcome:
    """What happened to one chapter: ``status`` is done, skipped (finished before) or failed."""

    stem: str
    status: str
    output: str
    wall_s: float
    error: str | None = None


def _describe(err: BaseException) -> str:
    if hasattr(err, "ename"):  # papermill's PapermillExecutionError
        cell = getattr(err, "exec_count", None)
        return f"{err.ename}: {err.evalue}" + (f" (cell [{cell}])" if cell else "")
    return f"{type(err).__name__}: {err}"


def run_chapter(
    chapter: Chapter, executed: str | Path, parameters: Mapping[str, Any], *,
    force: bool = False, progress: bool = False, kernel: str = "python3", run_id: str | None = None,
    threads: int | None = None,
) -> ChapterOutcome:
    """Execute ``chapter`` into ``<executed>/<stem>.ipynb`` unless that run is finished already
    (``force`` reruns it). A failing cell gives a ``failed`` outcome, not an exception.

    ``run_id``: the run key (default :func:`run_key` computed here; a batch computes it where the
    batch starts, so that long-lived workers holding older l2lib code agree with new kernels).
    ``threads``: intra-op threads of the chapter's kernel (``L2LIB_THREADS``; a Dask batch sets 1).
    On a Dask worker of a multi-GPU node, a chapter's ``device`` auto/cuda becomes this worker's
    GPU (:func:`worker_device`).
    """
    import nbformat

    key = run_key(chapter, parameters) if run_id is None else run_id
    output = Path(executed) / f"{chapter.stem}.ipynb"
    if not force and _finished(output, key):
        return ChapterOutcome(chapter.stem, "skipped", str(output), 0.0)
    partial = output.with_name(f"{chapter.stem}.partial.ipynb")
    summary = summary_path(chapter, parameters)
    os.environ.setdefault("L2LIB_PROGRESS", "0")  # no progress bars inside the rendered book
    if threads is not None:
        os.environ["L2LIB_THREADS"] = str(threads)  # the kernel inherits it
    if "device" in chapter.defaults:
        device = parameters.get("device", chapter.defaults["device"])
        if isinstance(device, str) and worker_device(device) != device:
            parameters = {**parameters, "device": worker_device(device)}
    started, clock = time.time(), time.monotonic()
    try:
        notebooks.execute_chapter(chapter.source, partial, parameters, kernel=kernel,
                                progress=progress)
    except Exception as err:  # a failing cell or a dead kernel: keep the traceback notebook
        if partial.exists():
            os.replace(partial, output)
        return ChapterOutcome(chapter.stem, "failed", str(output),
                              round(time.monotonic() - clock, 1), _describe(err))
    wrote_summary = summary is not None and summary.exists() and \
        summary.stat().st_mtime >= started - 1
    notebook = nbformat.read(partial, as_version=4)
    notebook.metadata[RUN_METADATA] = {"run": {
        "key": key,
        "code": chapter_code(chapter),
        "parameters": dict(parameters),
        "summary": str(summary) if wrote_summary else None,
        "summary_sha": _sha(summary) if wrote_summary else None,
        "wall_s": round(time.monotonic() - clock, 1),
    }}
    nbformat.write(notebook, partial)
    os.replace(partial, output)
    return ChapterOutcome(chapter.stem, "done", str(output), round(time.monotonic() - clock, 1))


def run_chapters(
    chapters: Sequence[Chapter], executed: str | Path | Sequence[str | Path],
    parameters: Sequence[Mapping[str, Any]],
    *, client: Any = None, force: bool = False, progress: bool = True,
) -> list[ChapterOutcome]:
    """Run each chapter with its parameters (serially, or as Dask tasks on ``client``).

    ``executed``: the folder of the executed notebooks, or one folder per chapter (grid runs).
    Serially, papermill shows a bar over each chapter's cells; on Dask, one bar counts
    finished chapters. Outcomes come back in the order of ``chapters``.
    """
    if len(parameters) != len(chapters):
        raise ValueError("give one parameter set per chapter")
    if isinstance(executed, str | os.PathLike):
        folders = [Path(executed).resolve()] * len(chapters)
    else:
        folders = [Path(e).resolve() for e in executed]
        if len(folders) != len(chapters):
            raise ValueError("give one executed folder per chapter")
    if client is None:
        outcomes = []
        for chapter, folder, params in zip(chapters, folders, parameters, strict=True):
            if progress:
                print(f"{chapter.stem}: {dict(params)}", flush=True)
            outcomes.append(run_chapter(chapter, folder, params, force=force,
                                        progress=progress))
        return outcomes
    calls = [((c, f, p), {"force": force, "run_id": run_key(c, p), "threads": task_threads()})
             for c, f, p in zip(chapters, folders, parameters, strict=True)]
    order = submission_order([c.stem for c in chapters])
    done = _on_dask(client, run_chapter, [calls[i] for i in order],
                    [f"chapter-{chapters[i].stem}-{i}" for i in order], progress, "chapters")
    outcomes: list[ChapterOutcome] = [None] * len(chapters)  # type: ignore[list-item]
    for i, outcome in zip(order, done, strict=True):
        outcomes[i] = outcome
    return outcomes


READS = {"05_pathfinder": ("03_regimes",)}
"""Chapter → the chapters whose stored sweeps it reads (chapter 5 starts from chapter 3's
checkpoints: run concurrently, it would wait for chapter 3's store lock)."""


def submission_order(stems: Sequence[str]) -> list[int]:
    """Indices of ``stems`` in the order Dask tasks are submitted: chapters that others read
    first, chapters that read one of this batch's chapters last, the rest in the order given
    between (stable), so that a reader starts when what it reads is done instead of blocking a
    worker on its lock. A reader whose chapters are not in the batch (run before it, as
    ``make chapters`` runs chapter 3) keeps its place."""
    read = {r for readers in READS.values() for r in readers}

    def rank(i: int) -> int:
        if stems[i] in read:
            return 0
        return 2 if any(r in stems for r in READS.get(stems[i], ())) else 1

    return sorted(range(len(stems)), key=rank)


# ---------------------------------------------------------------------------- parameter grids

@dataclass(frozen=True)
class GridRun:
    """One run of a parameter grid: its chapter, the values set (``overrides``, typed), the
    parameters papermill injects, and its own folder (executed notebook, ``summaries/``,
    ``parameters.json``; ``store`` links to the shared store)."""

    chapter: Chapter
    overrides: dict[str, Any]
    parameters: dict[str, Any]
    folder: Path

    @property
    def notebook(self) -> Path:
        """The executed notebook of this run."""
        return self.folder / f"{self.chapter.stem}.ipynb"

    @property
    def summary(self) -> Path:
        """The summary this run writes."""
        return self.folder / "summaries" / f"{self.chapter.stem}.json"


def split_values(text: str) -> list[str]:
    """The comma-separated values of ``-p NAME v1,v2,…`` (commas inside brackets or quotes do
    not split: ``[1,2],[3]`` is two values)."""
    values, depth, quote, current = [], 0, "", ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            values.append(current.strip())
            current = ""
            continue
        current += char
    values.append(current.strip())
    if any(v == "" for v in values):
        raise ValueError(f"empty value in {text!r}; separate values by single commas")
    return values


def results_root(chapter: Chapter, results_dir: str | Path | None) -> Path:
    """The results folder of a batch: ``results_dir``, else the chapter's default one."""
    if results_dir is not None:
        return Path(results_dir).expanduser().resolve()
    default = chapter.defaults.get("results_dir")
    if not isinstance(default, str):
        raise ValueError(f"chapter {chapter.stem} has no results_dir parameter; give --results")
    return (chapter.source.parent / default).resolve()


def _slug(overrides: Mapping[str, Any]) -> str:
    text = "_".join(f"{k}-{v}" for k, v in overrides.items())
    text = re.sub(r"[^A-Za-z0-9.=+-]+", "", text.replace("_", "-"))[:48]
    digest = hashlib.sha256(json.dumps(overrides, sort_keys=True, default=str).encode())
    return f"{text}-{digest.hexdigest()[:8]}" if text else digest.hexdigest()[:8]


def grid_runs(
    chapter: Chapter, profile: str, overrides: Sequence[tuple[str, str]],
    results_dir: str | Path | None = None,
) -> list[GridRun]:
    """The Cartesian product of ``-p NAME v1,v2,…`` settings for ``chapter``: one
    :class:`GridRun` per combination, in ``<results>/runs/<stem>/<name-value…-hash>/``. The
    folder name is a hash of the profile and the values set, so different runs never share
    a notebook or a summary and the same run always lands in the same folder."""
    import itertools

    names = [n for n, _ in overrides]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"parameter(s) {repeated} given twice; give one -p NAME v1,v2,… each")
    choices = [split_values(text) for _, text in overrides]
    root = results_root(chapter, results_dir) / "runs" / chapter.stem
    runs = []
    for combo in itertools.product(*choices):
        pairs = list(zip(names, combo, strict=True))
        typed = chapter_parameters(chapter, profile, pairs)
        values = {"profile": typed["profile"], **{n: typed[n] for n in names}}
        folder = root / _slug(values)
        typed["results_dir"] = str(folder)
        if "results_dir" not in chapter.defaults:
            raise ValueError(f"chapter {chapter.stem} has no parameter 'results_dir'")
        runs.append(GridRun(chapter, values, typed, folder))
    return runs


def prepare_run(run: GridRun, shared_store: Path) -> None:
    """Make ``run``'s folder: ``parameters.json`` and ``store`` → the shared store."""
    run.folder.mkdir(parents=True, exist_ok=True)
    shared_store.mkdir(parents=True, exist_ok=True)
    link = run.folder / "store"
    if not link.exists() and not link.is_symlink():
        link.symlink_to(shared_store, target_is_directory=True)
    (run.folder / "parameters.json").write_text(json.dumps(run.overrides, indent=1) + "\n")


def run_grid(
    runs: Sequence[GridRun], results_dir: str | Path, *, client: Any = None,
    force: bool = False, progress: bool = True,
) -> list[ChapterOutcome]:
    """Execute every run into its own folder (serially or on Dask), sharing
    ``<results_dir>/store``."""
    for run in runs:
        prepare_run(run, Path(results_dir) / "store")
    return run_chapters([r.chapter for r in runs], [r.folder for r in runs],
                        [r.parameters for r in runs], client=client, force=force,
                        progress=progress)


def earlier_runs(chapter: Chapter, results_dir: str | Path | None,
                 exclude: Sequence[GridRun] = ()) -> list[GridRun]:
    """The runs of ``chapter`` found under ``<results>/runs/<stem>/`` (any earlier grid),
    except those in ``exclude``."""
    skip = {r.folder.resolve() for r in exclude}
    found = []
    for meta in sorted((results_root(chapter, results_dir) / "runs" / chapter.stem)
                       .glob("*/parameters.json")):
        if meta.parent.resolve() in skip:
            continue
        try:
            values = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
        found.append(GridRun(chapter, values, {}, meta.parent))
    return found


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    if value is None or isinstance(value, bool | int | float | str):
        return {prefix[:-1]: value}
    return {}  # lists and arrays are not headline numbers


def grid_table(runs: Sequence[GridRun], outcomes: Sequence[ChapterOutcome] | None = None,
               ) -> list[dict[str, Any]]:
    """One row per run: run folder, status (of ``outcomes[i]``; "earlier" for runs beyond
    them), the values set, every scalar number of its summary (nested names joined by '.') and
    every finding's verdict (``verdict:<key>``)."""
    rows = []
    for i, run in enumerate(runs):
        status = outcomes[i].status if outcomes and i < len(outcomes) else "earlier"
        row: dict[str, Any] = {"run": run.folder.name, "status": status}
        row.update(run.overrides)
        try:
            summary = json.loads(run.summary.read_text())
        except (OSError, ValueError):
            summary = {}
        row.update(_flatten(summary.get("numbers", {})))
        for finding in summary.get("findings", []):
            key = finding.get("key") or finding.get("finding")
            verdict = finding.get("verdict")
            if verdict is None:  # summaries written before Finding had a verdict
                agree = finding.get("agree", finding.get("agrees"))
                verdict = {True: "agrees", False: "disagrees"}.get(agree, "undecided")
            row[f"verdict:{key}"] = verdict
        rows.append(row)
    return rows


def write_grid_table(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """The rows as CSV (columns: the union of the rows' keys, in first-seen order)."""
    import csv

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def plot_grid(rows: Sequence[Mapping[str, Any]], number: str, against: str,
              path: str | Path, parameters: Sequence[str] = ()) -> Path:
    """A figure of ``number`` against parameter ``against``, one series per combination of the
    other grid ``parameters`` that vary."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows or against not in rows[0]:
        raise ValueError(f"--against {against!r} is not a parameter of this grid")
    usable = [r for r in rows if isinstance(r.get(number), int | float)
              and not isinstance(r.get(number), bool)]
    if not usable:
        known = sorted(k for k, v in rows[0].items() if isinstance(v, int | float))
        raise ValueError(f"--plot {number!r} is not a number in these runs' summaries; "
                         f"numbers: {', '.join(known) or 'none'}")
    others = [k for k in parameters if k != against
              and len({json.dumps(r.get(k), default=str) for r in rows}) > 1]
    series: dict[str, list[tuple[Any, float]]] = {}
    for r in usable:
        label = ", ".join(f"{k}={r[k]}" for k in others) or number
        series.setdefault(label, []).append((r[against], float(r[number])))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for label, points in series.items():
        points.sort(key=lambda p: (isinstance(p[0], str), p[0]))
        ax.plot([str(p[0]) if isinstance(p[0], str) else p[0] for p in points],
                [p[1] for p in points], "o-", label=label)
    ax.set_xlabel(against)
    ax.set_ylabel(number)
    if len(series) > 1:
        ax.legend(fontsize="small")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------------- Dask

@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None,
                timeout: float | None = None) -> Iterator[Any]:
    """A Dask client: on the scheduler at ``scheduler`` (e.g. ``tcp://host:8786``; a ValueError
    after ``timeout`` seconds if it cannot be reached), else on a local cluster of ``workers``
    processes (default 2) with one thread each (default timeout: ``SCHEDULER_TIMEOUT_S``)."""
    from distributed import Client, LocalCluster

    if scheduler is not None and workers is not None:
        raise ValueError("give either a scheduler address or a number of local workers, not both")
    if scheduler is not None:
        timeout = SCHEDULER_TIMEOUT_S if timeout is None else timeout
        try:
            client = Client(scheduler, timeout=f"{timeout}s")
        except (OSError, TimeoutError, ValueError) as err:
            raise ValueError(
                f"cannot reach the Dask scheduler at {scheduler!r} within {timeout:g} s "
                f"({type(err).__name__}); check --scheduler (e.g. tcp://host:8786) and that "
                "the scheduler runs, or use --workers N for a local cluster") from err
        with client:
            assign_devices(client)
            yield client
        return
    n = 2 if workers is None else int(workers)
    if n < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        assign_devices(client)
        yield client


def task_threads() -> int:
    """Intra-op threads of one Dask task: ``L2LIB_THREADS``, else 1 (workers run side by side,
    and oversubscribed cores make every task many times slower)."""
    return int(os.environ.get("L2LIB_THREADS") or 1)


WORKER_SLOT_ENV = "L2LIB_WORKER_SLOT"  # a Dask worker's index among the workers of its host


def assign_devices(client: Any) -> dict[str, int]:
    """Number the workers of each host 0, 1, … and tell each its number (as
    ``L2LIB_WORKER_SLOT`` in the worker's environment), so that :func:`worker_device` spreads
    the tasks of a multi-GPU node over its GPUs. Returns address → slot. Workers that join
    later (adaptive clusters) get no slot and use the device asked for."""
    workers = client.scheduler_info()["workers"]
    by_host: dict[str, list[str]] = {}
    for address in sorted(workers):
        by_host.setdefault(str(workers[address].get("host")), []).append(address)
    slots = {a: i for addresses in by_host.values() for i, a in enumerate(addresses)}
    for address, slot in slots.items():
        client.run(_set_slot, slot, workers=[address])
    return slots


def _set_slot(slot: int) -> None:
    os.environ[WORKER_SLOT_ENV] = str(slot)


def worker_device(device: str) -> str:
    """The device of a task: on a Dask worker with a slot (:func:`assign_devices`), ``auto`` or
    ``cuda`` become ``cuda:(slot mod n_gpus)`` when this host has GPUs; else ``device``."""
    slot = os.environ.get(WORKER_SLOT_ENV)
    if slot is None or device not in ("auto", "cuda"):
        return device
    import torch

    if not torch.cuda.is_available():
        return device
    return f"cuda:{int(slot) % torch.cuda.device_count()}"


def _on_dask(
    client: Any, function: Callable[..., Any], calls: Sequence[tuple[tuple, dict]],
    names: Sequence[str], progress: bool, desc: str,
) -> list[Any]:
    """Submit ``function(*args, **kwargs)`` per call; results in call order. A task that
    raises (a worker died, a bug) raises here after the others have finished."""
    from distributed import as_completed

    stamp = f"{os.getpid()}-{time.monotonic_ns()}"
    futures = [client.submit(function, *args, pure=False, key=f"l2lib-{name}-{stamp}", **kwargs)
               for (args, kwargs), name in zip(calls, names, strict=True)]
    bar = tqdm(total=len(futures), desc=desc, disable=not progress)
    for _ in as_completed(futures):
        bar.update()
    bar.close()
    errors = [f.exception() for f in futures if f.status == "error"]
    if errors:
        raise errors[0]
    return [f.result() for f in futures]


# ------------------------------------------------------------------------------------- sweeps

SWEEP_KINDS = ("warm", "independent")
WARM_DIRECTIONS = ("up", "down", "both")
_TOP_KEYS = {"name", "kind", "direction", "dataset", "datasets", "data_root", "n_train",
             "n_test", "device", "seeds", "seeds_per_task", "jitter", "lam_blocks",
             "max_members", "model", "train", "lams"}
_MODEL_KEYS = {"hidden", "activation", "bias"}


@dataclass(frozen=True)
class SweepTask:
    """One independent unit of a sweep config: a model, a dataset, seeds and a λ grid.

    ``direction`` is up, down or both (a warm up-then-down pair) for warm sweeps and
    ``independent`` for cold ones. ``device`` and ``data_root`` do not enter the store key.
    """

    name: str
    direction: str
    dataset: str
    hidden: tuple[int, ...]
    activation: str
    bias: bool
    seeds: tuple[int, ...]
    lams: tuple[float, ...]
    train: Any  # l2lib.train.TrainConfig
    jitter: float = 0.0
    n_train: int | None = None
    n_test: int | None = None
    max_members: int = 64
    data_root: str | None = None
    device: str = "auto"

    def key(self) -> dict[str, Any]:
        """What determines the result besides λ, the train config and jitter."""
        return {"model": "mlp", "hidden": list(self.hidden), "activation": self.activation,
                "bias": self.bias, "seeds": list(self.seeds),
                "data": {"name": self.dataset, "n_train": self.n_train, "n_test": self.n_test}}


@dataclass
class SweepOutcome:
    """A finished sweep task: its results per direction, their stores, points computed now."""

    task: SweepTask
    results: dict[str, Any]  # direction → l2lib.sweep.SweepResult
    stores: dict[str, str]
    computed: int
    total: int


def _positive(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"sweep config: {name} must be a positive integer, got {value!r}")
    return value


def _table(config: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = config.get(key, {})
    if not isinstance(value, Mapping):
        raise ValueError(f"sweep config: [{key}] must be a table of settings, got {value!r}")
    return dict(value)


def _grid(spec: Mapping[str, Any]) -> list[float]:
    import numpy as np

    from l2lib.train.sweep import check_grid

    if "values" in spec:
        if set(spec) - {"values"}:
            raise ValueError("sweep config: [lams] takes either values = [...] or "
                             "start/stop/num, not both")
        values = spec["values"]
    elif {"start", "stop", "num"} <= set(spec) and not set(spec) - {"start", "stop", "num"}:
        if not isinstance(spec["num"], int) or spec["num"] < 1:
            raise ValueError(f"sweep config: [lams] num must be a positive integer, got "
                             f"{spec['num']!r}")
        values = np.linspace(float(spec["start"]), float(spec["stop"]), spec["num"])
    else:
        raise ValueError("sweep config: [lams] needs values = [...] or start, stop and num "
                         f"(got keys {sorted(spec)})")
    return [float(v) for v in check_grid(values)]


def _train_config(spec: Mapping[str, Any]) -> Any:
    from l2lib.train.loop import TrainConfig

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = set(spec) - fields
    if unknown:
        raise ValueError(f"sweep config: unknown [train] setting(s) {sorted(unknown)}; "
                         f"known: {sorted(fields)}")
    spec = dict(spec)
    if spec.get("batch_size") == "full":
        spec["batch_size"] = None  # TOML has no null
    try:
        return TrainConfig(**spec)
    except ValueError as err:
        raise ValueError(f"sweep config: [train] {err}") from err


def _architectures(hidden: Any) -> list[tuple[int, ...]]:
    if isinstance(hidden, list) and hidden and all(isinstance(h, list) for h in hidden):
        archs = hidden
    elif isinstance(hidden, list) and all(isinstance(h, int) for h in hidden):
        archs = [hidden]
    else:
        raise ValueError("sweep config: [model] hidden must be a list of layer widths, e.g. "
                         f"[32, 32], or a list of such lists, got {hidden!r}")
    for arch in archs:
        if not arch or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0
                               for w in arch):
            raise ValueError(f"sweep config: hidden layer widths must be positive integers, "
                             f"got {arch!r}")
    return [tuple(a) for a in archs]


def sweep_tasks(config: Mapping[str, Any]) -> list[SweepTask]:
    """The tasks of a sweep config (see ``l2lib sweep --help`` for the format): every
    dataset × architecture × seed group, and for independent sweeps every block of the grid."""
    from l2lib.data import DATASETS
    from l2lib.models.mlp import ACTIVATIONS

    unknown = set(config) - _TOP_KEYS
    if unknown:
        raise ValueError(f"sweep config: unknown setting(s) {sorted(unknown)}; known: "
                         f"{sorted(_TOP_KEYS)}")
    name = config.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError("sweep config: name = '...' is required (letters, digits, '_', '.', "
                         f"'-'), got {name!r}")
    kind = config.get("kind", "warm")
    if kind not in SWEEP_KINDS:
        raise ValueError(f"sweep config: kind must be one of {SWEEP_KINDS}, got {kind!r}")
    direction = config.get("direction", "up" if kind == "warm" else "independent")
    if kind == "warm" and direction not in WARM_DIRECTIONS:
        raise ValueError(f"sweep config: direction must be one of {WARM_DIRECTIONS}, "
                         f"got {direction!r}")
    if kind == "independent" and direction != "independent":
        raise ValueError("sweep config: direction applies to warm sweeps only")
    if "dataset" in config and "datasets" in config:
        raise ValueError("sweep config: give dataset = '...' or datasets = [...], not both")
    datasets = config.get("datasets", [config.get("dataset", "digits")])
    if isinstance(datasets, str) or not datasets:
        raise ValueError(f"sweep config: datasets must be a non-empty list, got {datasets!r}")
    for d in datasets:
        if d not in DATASETS:
            raise ValueError(f"sweep config: unknown dataset {d!r}; choose from {DATASETS}")
    model = _table(config, "model")
    if set(model) - _MODEL_KEYS:
        raise ValueError(f"sweep config: unknown [model] setting(s) "
                         f"{sorted(set(model) - _MODEL_KEYS)}; known: {sorted(_MODEL_KEYS)}")
    activation = model.get("activation", "sigmoid")
    if activation not in ACTIVATIONS:
        raise ValueError(f"sweep config: unknown activation {activation!r}; choose from "
                         f"{sorted(ACTIVATIONS)}")
    archs = _architectures(model.get("hidden", [32]))
    seeds = config.get("seeds", [0])
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
        raise ValueError(f"sweep config: seeds must be a non-empty list of integers, got "
                         f"{seeds!r}")
    for s in seeds:
        check_seed(s, "sweep config: seeds entry")
    device = config.get("device", "auto")
    if not isinstance(device, str) or not DEVICE_PATTERN.fullmatch(device):
        raise ValueError(f"sweep config: device = {device!r} is not supported; use \"auto\", "
                         "\"cpu\", \"cuda\" or \"cuda:N\" (l2lib trains in float64, which MPS "
                         "lacks)")
    per_task = config.get("seeds_per_task", len(seeds))
    if not isinstance(per_task, int) or per_task < 1:
        raise ValueError(f"sweep config: seeds_per_task must be a positive integer, got "
                         f"{per_task!r}")
    blocks = config.get("lam_blocks", 1)
    if not isinstance(blocks, int) or blocks < 1:
        raise ValueError(f"sweep config: lam_blocks must be a positive integer, got {blocks!r}")
    if blocks > 1 and kind == "warm":
        raise ValueError("sweep config: lam_blocks needs kind = 'independent' (a warm sweep "
                         "visits its grid in order and cannot be split)")
    jitter = float(config.get("jitter", 0.0))
    if kind == "independent" and jitter:
        raise ValueError("sweep config: jitter applies to warm sweeps only")
    grid = _grid(_table(config, "lams"))
    if blocks > len(grid):
        raise ValueError(f"sweep config: lam_blocks = {blocks} exceeds the {len(grid)} grid "
                         "points")
    train = _train_config(_table(config, "train"))
    common = {"activation": activation, "bias": bool(model.get("bias", True)), "train": train,
              "jitter": jitter, "n_train": config.get("n_train"), "n_test": config.get("n_test"),
              "max_members": _positive(config.get("max_members", 64), "max_members"),
              "data_root": config.get("data_root"), "device": device}
    tasks = []
    groups = [seeds[i:i + per_task] for i in range(0, len(seeds), per_task)]
    bounds = [round(i * len(grid) / blocks) for i in range(blocks + 1)]
    for dataset in dict.fromkeys(datasets):
        for arch in dict.fromkeys(archs):
            for group in groups:
                for b in range(blocks):
                    label = [name, dataset, "h" + "x".join(map(str, arch)), activation,
                             "s" + "_".join(map(str, group))]
                    if blocks > 1:
                        label.append(f"block{b}")
                    tasks.append(SweepTask(name="-".join(label), direction=direction,
                                           dataset=dataset, hidden=arch, seeds=tuple(group),
                                           lams=tuple(grid[bounds[b]:bounds[b + 1]]), **common))
    return tasks


def load_sweep_config(path: str | Path) -> dict[str, Any]:
    """A sweep config from a TOML (``.toml``) or JSON (``.json``) file."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10: the same parser as the tomli package
        import tomli as tomllib

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"sweep config {path} does not exist")
    try:
        if path.suffix == ".toml":
            return tomllib.loads(path.read_text())
        if path.suffix == ".json":
            config = json.loads(path.read_text())
            if not isinstance(config, dict):
                raise ValueError("the top level must be an object")
            return config
    except (tomllib.TOMLDecodeError, ValueError) as err:
        raise ValueError(f"sweep config {path} is malformed: {err}") from err
    raise ValueError(f"sweep config {path}: use a .toml or .json file")


def run_sweep_task(task: SweepTask, results_dir: str | Path,
                   progress: bool | None = None, threads: int | None = None) -> SweepOutcome:
    """Run one sweep task into ``<results_dir>/store`` (resuming what is stored already).

    Warm sweeps start from a fresh initialisation; ``both`` sweeps up, then down from where the
    upward sweep ended (the store layout of :func:`l2lib.train.sweep.hysteresis_sweep`).
    Observed at
    every point: weight norm, train/test accuracy, training error and objective.
    ``threads``: torch's intra-op threads for this task (a Dask batch gives 1); on a Dask worker
    of a multi-GPU node, ``auto``/``cuda`` mean this worker's GPU (:func:`worker_device`).
    """
    import numpy as np

    from l2lib.data import load_dataset
    from l2lib.data.datasets import DatasetUnavailableError
    from l2lib.experiments.onset import classification_observer
    from l2lib.models.mlp import mlp
    from l2lib.runtime import resolve_device
    from l2lib.store import open_store
    from l2lib.train.sweep import independent_sweep, warm_sweep

    if threads is not None:
        configure_threads(threads=threads)
    device = resolve_device(worker_device(task.device))
    try:
        data = load_dataset(task.dataset, root=task.data_root, device=device,
                            n_train=task.n_train, n_test=task.n_test)
    except DatasetUnavailableError:
        raise
    except (ValueError, OSError, RuntimeError, AssertionError, EOFError) as err:
        where = task.data_root or "the default data folder (L2LIB_DATA)"
        raise ValueError(f"sweep config: dataset {task.dataset!r} from {where} cannot be read "
                         f"({type(err).__name__}: {str(err)[:100]}); its files may be damaged: "
                         "delete them and download again, or fix data_root") from err
    root = Path(results_dir) / "store"
    observe = classification_observer(data)

    def make(seeds: Sequence[int]) -> Any:
        return mlp(data.input_dim, list(task.hidden), data.n_classes, seeds=list(seeds),
                   activation=task.activation, bias=task.bias, dtype=data.x_train.dtype,
                   device=device)

    lams = np.asarray(task.lams)
    results, stores, computed = {}, {}, 0
    if task.direction == "independent":
        store = open_store(root, task.name, {"key": task.key(), "lams": lams,
                                             "config": task.train,
                                             "max_members": task.max_members})
        chunks = -(-len(lams) * len(task.seeds) // task.max_members)
        computed = chunks - min(store.finished(), chunks)
        results["independent"] = independent_sweep(
            make, data.x_train, data.y_train, lams, task.seeds, config=task.train,
            observe=observe, max_members=task.max_members, store=store,
            progress=task.name if progress is None else progress)
        stores["independent"] = str(store.path)
        return SweepOutcome(task, results, stores, computed, chunks)
    common = {"key": task.key(), "lams": lams, "config": task.train, "jitter": task.jitter}
    model = make(task.seeds)
    for direction in ("up", "down") if task.direction == "both" else (task.direction,):
        store = open_store(root, f"{task.name}-{direction}", common)
        computed += len(lams) - min(store.finished(), len(lams))
        result = warm_sweep(model, data.x_train, data.y_train, lams, config=task.train,
                            observe=observe, direction=direction, jitter=task.jitter,
                            store=store, progress=f"{task.name} {direction}"
                            if progress is None else progress)
        results[direction] = result.ascending() if direction == "down" else result
        stores[direction] = str(store.path)
    return SweepOutcome(task, results, stores, computed, len(lams) * len(results))


def run_sweep(tasks: Sequence[SweepTask], results_dir: str | Path, *, client: Any = None,
              progress: bool = True) -> list[SweepOutcome]:
    """Run sweep tasks serially (with the library's progress bars) or as Dask tasks."""
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError("two sweep tasks share a store name; list each dataset, architecture "
                         "and seed once")
    results_dir = Path(results_dir).resolve()
    if client is None:
        return [run_sweep_task(t, results_dir, None if progress else False) for t in tasks]
    return _on_dask(client, run_sweep_task,
                    [((t, results_dir, False), {"threads": task_threads()}) for t in tasks],
                    [f"sweep-{t.name}" for t in tasks], progress, "sweep tasks")
