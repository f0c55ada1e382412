"""The ``l2lib`` command line (also ``python -m l2lib``): batch runs, sweeps, results, report::

    l2lib run [CHAPTER ...] [--profile P] [-p NAME V1,V2,... ...] [--dry-run]
              [--plot NUMBER [--against NAME]] [--workers N | --scheduler ADDR]
    l2lib chapters                      the chapters and their parameters
    l2lib sweep CONFIG.toml             a library sweep from a config file, into the store
    l2lib results list [--reference DIR] | clear NAME ... [--all] [--stale] --yes
    l2lib report                        the "Does it reproduce?" page
    l2lib reference export [CHAPTER ...] --results DIR [--out DIR] [--commit SHA]
    l2lib reference check --profile P [--results DIR] [--expectations FILE]
    l2lib reference expect --profile P [--results DIR] [--reason TEXT]
    l2lib reference slices [CHAPTER ...] [--out DIR]
    l2lib reference stale [--out DIR]   committed reference results whose code changed

Finished work is never recomputed: chapters whose executed notebook records the same parameters
and code (``--force`` reruns them), sweep points already in the store. An interrupted batch
resumes when it is run again. Without ``-p`` a chapter runs into the book
(``book/executed/<stem>.ipynb``, ``<results>/summaries/<stem>.json``); with ``-p`` every
combination of the values given runs into its own folder ``<results>/runs/<stem>/<values-hash>/``
(notebook, summary; the store is shared) and ``<results>/runs/<stem>/runs.csv`` collects every
run's numbers and verdicts. ``--workers N`` runs chapters or sweep tasks as tasks on a local
Dask cluster of N processes; ``--scheduler tcp://host:8786`` on an existing Dask cluster (e.g. one
started by dask-jobqueue on Slurm; workers need l2lib and the same file system).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SWEEP_HELP = """\
A sweep config (TOML, or JSON with the same keys) describes a library sweep of MLP classifiers:

    name = "digits-tanh"        # store name prefix (letters, digits, _ . -)
    kind = "warm"               # warm (adiabatic) | independent (every λ from its own init)
    direction = "both"          # warm: up | down | both (up, then down from where it ended)
    datasets = ["digits"]       # or dataset = "mnist"; data_root = "..." for MNIST files
    seeds = [0, 1, 2, 3]        # ensemble members (one seed each)
    seeds_per_task = 2          # members trained together in one task (default: all)
    jitter = 0.0                # warm: noise kick before each point
    lam_blocks = 1              # independent: split the λ grid into this many tasks
    device = "cpu"              # auto | cpu | cuda

    [model]
    hidden = [[32], [32, 32]]   # one architecture [32, 32] or a list of them
    activation = "tanh"

    [train]                     # fields of l2lib.train.TrainConfig
    loss = "cross_entropy"
    optimizer = "sgd"
    lr = 0.5
    batch_size = "full"         # an integer, or "full"
    max_epochs = 300

    [lams]
    start = 0.0                 # or values = [0.0, 0.05, ...]
    stop = 1.0
    num = 21

Tasks are every dataset × architecture × seed group (× λ block); each is stored in
<results>/store/<name>-<dataset>-h<widths>-<activation>-s<seeds>[-<direction>|-block<i>]-<key>.
"""


class CliError(Exception):
    """A user error; printed as ``l2lib: error: ...`` with exit status 2."""


def _add_dask(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--workers", type=int, metavar="N",
                       help="run tasks on a local Dask cluster of N worker processes")
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="run tasks on the Dask scheduler at ADDRESS (e.g. tcp://host:8786)")


def _add_expectations(parser: argparse.ArgumentParser) -> None:
    """``--profile``, ``--results`` and ``--expectations`` (reference check and expect)."""
    parser.add_argument("--profile", required=True, help="the profile the summaries ran in")
    _add_results(parser)
    parser.add_argument("--expectations", default="results-reference/expectations.json",
                        metavar="FILE", help="default: results-reference/expectations.json")


def _add_results(parser: argparse.ArgumentParser, default: str | None = "results") -> None:
    parser.add_argument("--results", default=default, metavar="DIR",
                        help="results folder (store/ and summaries/)"
                        + (f"; default: {default}" if default else
                           "; default: the chapters' own results_dir (../../results)"))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="l2lib", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="execute chapters with papermill",
                         description="Execute chapters (all by default) with papermill into "
                         "<book>/executed/, skipping those already run with the same "
                         "parameters and code.")
    run.add_argument("chapters", nargs="*", metavar="CHAPTER",
                     help="file stem (01_onset), number (01 or 1) or name (onset)")
    run.add_argument("--chapter", action="append", default=[], dest="more_chapters",
                     metavar="CHAPTER", help="another chapter (repeatable)")
    run.add_argument("--profile", default="quick",
                     help="smoke, quick (default), reference or paper")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                     metavar=("NAME", "VALUES"), help="set a parameter of the chapters' "
                     "parameters cell, as papermill -p does (repeatable); comma-separated "
                     "values run every combination, each into its own folder under "
                     "<results>/runs/")
    run.add_argument("--dry-run", action="store_true", help="list the runs, execute nothing")
    run.add_argument("--plot", metavar="NUMBER", help="with -p: draw this summary number "
                     "against a parameter into <results>/runs/<stem>/<NUMBER>-vs-<NAME>.png")
    run.add_argument("--against", metavar="NAME", help="the parameter on the x axis of --plot "
                     "(default: the first -p parameter)")
    run.add_argument("--book", default="book", help="the book folder (default: book)")
    _add_results(run, default=None)
    run.add_argument("--force", action="store_true", help="rerun chapters that are finished")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_dask(run)

    chapters = sub.add_parser("chapters", help="list the chapters and their parameters")
    chapters.add_argument("--book", default="book", help="the book folder (default: book)")

    sweep = sub.add_parser("sweep", help="run a library sweep from a config file",
                           description="Run the sweep a TOML or JSON config file describes "
                           "into <results>/store, resuming stored points.",
                           epilog=SWEEP_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    sweep.add_argument("config", help="a .toml or .json sweep config")
    _add_results(sweep)
    sweep.add_argument("--dry-run", action="store_true", help="list the tasks, run nothing")
    sweep.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_dask(sweep)

    results = sub.add_parser("results", help="list or clear stored results")
    rsub = results.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = rsub.add_parser("list", help="stores (name, key, points, code) and summaries")
    _add_results(listing)
    listing.add_argument("--reference", metavar="DIR",
                         help="committed reference results to list too (default: "
                         "results-reference, if it exists)")
    clear = rsub.add_parser("clear", help="remove stores")
    clear.add_argument("names", nargs="*", metavar="NAME",
                       help="store name, name-key folder, or a shell pattern (e.g. 'linear-*')")
    clear.add_argument("--all", action="store_true", help="every store")
    clear.add_argument("--stale", action="store_true",
                       help="stores whose code changed since they were written (never one "
                       "whose metadata is unreadable)")
    clear.add_argument("--yes", action="store_true", help="really remove (else: only list)")
    _add_results(clear)

    rep = sub.add_parser("report", help='write the "Does it reproduce?" page',
                         description="Write the reproducibility page from the chapters' "
                         "summaries: <results>/summaries/*.json, and a paper-profile run's.")
    _add_results(rep)
    rep.add_argument("--paper-results", metavar="DIR",
                     help="results folder of a run in the paper profile (default: none)")
    rep.add_argument("--book", default="book", help="book folder, for chapter titles")
    rep.add_argument("--output", default="book/executed/reproducibility.md", metavar="FILE",
                     help="the page (default: book/executed/reproducibility.md)")
    _add_reference(sub)
    return parser


def _add_reference(sub: argparse._SubParsersAction) -> None:
    ref = sub.add_parser("reference", help="export and check committed reference results",
                         description="Reference results (l2lib.book.reference): export a "
                         "reference run for committing, check verdicts against the "
                         "expectations, recompute slices, report stale ones.")
    rsub = ref.add_subparsers(dest="action", required=True, metavar="ACTION")
    out_help = "the reference folder (default: results-reference)"
    export = rsub.add_parser("export", help="write chapters' summaries, provenance and stores "
                             "(CSV, no weights) into the reference folder")
    export.add_argument("chapters", nargs="*", metavar="CHAPTER",
                        help="stem, number or name (default: every chapter with a summary)")
    _add_results(export)
    export.add_argument("--out", default="results-reference", metavar="DIR", help=out_help)
    export.add_argument("--commit", metavar="SHA", help="git commit of the code that ran "
                        "(default: git rev-parse HEAD in --source)")
    export.add_argument("--source", metavar="DIR", help="git work tree that ran (default: "
                        "this l2lib's)")
    check = rsub.add_parser("check", help="exit 1 if a finding's verdict differs from the "
                            "expectations for the profile")
    _add_expectations(check)
    expect = rsub.add_parser("expect", help="write or update the expected verdicts of a "
                             "profile from the summaries")
    _add_expectations(expect)
    expect.add_argument("--reason", help="why verdicts changed (required when one did)")
    slices = rsub.add_parser("slices", help="recompute a slice of each reference run and "
                             "compare; exit 1 on a mismatch")
    slices.add_argument("chapters", nargs="*", metavar="CHAPTER",
                        help="stem, number or name (default: every exported chapter)")
    slices.add_argument("--out", default="results-reference", metavar="DIR", help=out_help)
    stale = rsub.add_parser("stale", help="exit 1 if a reference result's code changed")
    stale.add_argument("--out", default="results-reference", metavar="DIR", help=out_help)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 a task failed, 2 bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command = {"run": _run, "chapters": _chapters, "sweep": _sweep, "results": _results,
               "report": _report, "reference": _reference}[args.command]
    try:
        if getattr(args, "results", None) is not None and args.command in {"run", "sweep"}:
            _check_writable(Path(args.results))
        return command(args)
    except (CliError, ValueError, FileNotFoundError, PermissionError) as err:
        print(f"l2lib {args.command}: error: {err}", file=sys.stderr)
        return 2


def _check_writable(folder: Path) -> None:
    """A CliError unless files can be created in ``folder`` (made if missing)."""
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise CliError(f"the results folder {folder} is not writable ({err.strerror}); "
                       "choose another with --results DIR") from err


def _client(args: argparse.Namespace):
    from contextlib import nullcontext

    from l2lib.book.batch import dask_client

    if args.workers is None and args.scheduler is None:
        return nullcontext(None)
    return dask_client(args.scheduler, args.workers)


def _run(args: argparse.Namespace) -> int:
    from l2lib.book.batch import chapter_parameters, find_chapters, run_chapters, select_chapters

    chapters = select_chapters(find_chapters(args.book),
                               [*args.chapters, *args.more_chapters])
    if args.parameter:
        return _run_grid(args, chapters)
    if args.plot or args.against:
        raise CliError("--plot and --against need a parameter grid: add -p NAME V1,V2,...")
    parameters = [chapter_parameters(c, args.profile, args.parameter, args.results)
                  for c in chapters]
    if args.dry_run:
        for chapter, params in zip(chapters, parameters, strict=True):
            print(f"{chapter.stem}: {params} → {Path(args.book) / 'executed'}")
        return 0
    with _client(args) as client:
        outcomes = run_chapters(chapters, Path(args.book) / "executed", parameters,
                                client=client, force=args.force, progress=not args.no_progress)
    return _print_outcomes(outcomes)


def _print_outcomes(outcomes: Sequence) -> int:
    for o in outcomes:
        detail = f"{o.wall_s:.0f} s" if o.status == "done" else (
            "finished before, not rerun (--force reruns)" if o.status == "skipped" else o.error)
        print(f"{o.stem:<24} {o.status:<8} {detail}  → {o.output}")
    failed = [o.stem for o in outcomes if o.status == "failed"]
    if failed:
        print(f"failed: {', '.join(failed)} (the executed notebooks show the traceback)",
              file=sys.stderr)
        return 1
    return 0


def _run_grid(args: argparse.Namespace, chapters: Sequence) -> int:
    from l2lib.book.batch import (
        earlier_runs,
        grid_runs,
        grid_table,
        plot_grid,
        results_root,
        run_grid,
        write_grid_table,
    )

    names = [n for n, _ in args.parameter]
    against = args.against or names[0]
    if args.plot and against not in names:
        raise CliError(f"--against {against!r} is not one of the -p parameters {names}")
    status = 0
    for chapter in chapters:
        runs = grid_runs(chapter, args.profile, args.parameter, args.results)
        root = results_root(chapter, args.results)
        if args.dry_run:
            print(f"{chapter.stem}: {len(runs)} run(s)")
            for run in runs:
                done = "finished" if run.notebook.exists() else "to run"
                print(f"  {run.overrides} → {run.folder} ({done})")
            continue
        with _client(args) as client:
            outcomes = run_grid(runs, root, client=client, force=args.force,
                                progress=not args.no_progress)
        status = max(status, _print_outcomes(outcomes))
        rows = grid_table(runs, outcomes)
        every = rows + grid_table(earlier_runs(chapter, args.results, exclude=runs))
        table = write_grid_table(every, root / "runs" / chapter.stem / "runs.csv")
        print(f"{chapter.stem}: table of {len(every)} run(s) ({len(rows)} of this batch) → "
              f"{table}")
        if args.plot:
            figure = plot_grid(rows, args.plot, against,
                               root / "runs" / chapter.stem / f"{args.plot}-vs-{against}.png",
                               parameters=names)
            print(f"{chapter.stem}: figure → {figure}")
    return status


def _chapters(args: argparse.Namespace) -> int:
    from l2lib.book.batch import find_chapters

    for chapter in find_chapters(args.book):
        print(f"{chapter.stem}: {chapter.title}")
        for name, value in chapter.defaults.items():
            print(f"    {name} = {value!r}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from l2lib.book.batch import load_sweep_config, run_sweep, sweep_tasks

    tasks = sweep_tasks(load_sweep_config(args.config))
    if args.dry_run:
        for t in tasks:
            print(f"{t.name}: {t.direction}, λ {t.lams[0]:g}…{t.lams[-1]:g} ({len(t.lams)} "
                  f"points), seeds {list(t.seeds)}")
        return 0
    with _client(args) as client:
        outcomes = run_sweep(tasks, args.results, client=client, progress=not args.no_progress)
    for o in outcomes:
        for direction, path in o.stores.items():
            acc = o.results[direction].mean("test_acc")
            print(f"{Path(path).name}: {len(acc)} points, test accuracy "
                  f"{acc[0]:.3f} at λ={o.task.lams[0]:g} … {acc[-1]:.3f} at "
                  f"λ={o.task.lams[-1]:g}")
    computed = sum(o.computed for o in outcomes)
    total = sum(o.total for o in outcomes)
    print(f"{len(outcomes)} task(s): {computed} of {total} points/chunks computed now, "
          f"{total - computed} taken from the store")
    return 0


_STORE_DIR = re.compile(r"(?P<name>.+)-(?P<key>[0-9a-f]{16})$")


@dataclass
class StoreInfo:
    """A store folder as ``l2lib results`` sees it: its metadata, or why it is unreadable."""

    path: Path
    name: str
    key: str
    meta: dict | None
    problem: str | None = None

    def stale_reason(self) -> str | None:
        """Why the store no longer matches the code (None: current, or metadata unreadable)."""
        from l2lib.store import stale_modules

        if self.meta is None:
            return None
        recorded = self.meta.get("modules")
        if not isinstance(recorded, dict):
            return "written by l2lib before per-module keys"
        changed = stale_modules(recorded)
        if not changed:
            return None
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        return f"changed since: {', '.join(changed[:3])}{more}"


def _stores(results: Path) -> list[StoreInfo]:
    """Every store folder under ``results/store``."""
    from l2lib.store import StoreError, read_metadata

    found = []
    root = results / "store"
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        match = _STORE_DIR.match(path.name)
        if path.is_dir() and match:
            try:
                found.append(StoreInfo(path, match["name"], match["key"], read_metadata(path)))
            except StoreError as err:
                found.append(StoreInfo(path, match["name"], match["key"], None, str(err)))
    return found


def _points(path: Path) -> int:
    present = {int(m.group(1)) for p in path.iterdir()
               if (m := re.search(r"point-(\d{5})\.pt$", p.name))}
    n = 0
    while n in present:
        n += 1
    return n


def _results(args: argparse.Namespace) -> int:
    results = Path(args.results)
    stores = _stores(results)
    if args.action == "list":
        import json

        print(f"stores under {results / 'store'}:")
        for s in stores:
            if s.meta is None:
                print(f"  {s.name:<40} {s.key}  {_points(s.path):>4} points  UNREADABLE "
                      f"metadata ({s.problem}); --stale keeps it, clear it by name")
                continue
            reason = s.stale_reason()
            config = json.dumps(s.meta.get("config", {}), sort_keys=True)
            print(f"  {s.name:<40} {s.key}  {_points(s.path):>4} points  "
                  f"{'current' if reason is None else 'stale: ' + reason}  "
                  f"{config[:70] + '…' if len(config) > 70 else config}")
        if not stores:
            print("  (none)")
        from l2lib.book.reproduce import format_wall, load_summaries

        summaries = load_summaries(results)
        print(f"chapter summaries under {results / 'summaries'}:")
        for chapter, summary in summaries.items():
            prov = summary["provenance"]
            print(f"  {chapter:<24} profile {prov.get('profile')}, {prov.get('device')}, "
                  f"{format_wall(prov.get('wall_s'))}, {prov.get('utc')}, "
                  f"{len(summary['findings'])} findings")
        if not summaries:
            print("  (none)")
        _list_references(args.reference)
        return 0
    if not (args.names or args.all or args.stale):
        raise CliError("name the stores to clear, or give --all or --stale")
    from fnmatch import fnmatchcase

    def named(s: StoreInfo, n: str) -> bool:
        return fnmatchcase(s.name, n) or s.path.name == n

    chosen = [s for s in stores if args.all
              or (args.stale and s.meta is not None and s.stale_reason() is not None)
              or any(named(s, n) for n in args.names)]
    if args.stale and not args.all:
        for s in stores:
            if s.meta is None and s not in chosen:
                print(f"keeping {s.path}: its metadata is unreadable ({s.problem}); "
                      "remove it by name if it is not needed")
    unmatched = [n for n in args.names if not any(named(s, n) for s in stores)]
    if unmatched:
        names = sorted({s.name for s in stores})
        raise CliError(f"no store matches {unmatched}; stores: {names or 'none'}")
    for s in chosen:
        print(f"{'removing' if args.yes else 'would remove'} {s.path}")
    if not args.yes:
        print(f"{len(chosen)} store(s) selected; nothing removed: add --yes to remove them")
        return 1 if chosen else 0
    for s in chosen:
        shutil.rmtree(s.path)
    print(f"removed {len(chosen)} store(s)")
    return 0


def _list_references(folder: str | None) -> None:
    """The "reference results under …" section of ``l2lib results list``."""
    from l2lib.book.reference import DEFAULT_DIR, describe_references

    if folder is None and not DEFAULT_DIR.is_dir():
        return
    root = Path(folder) if folder is not None else DEFAULT_DIR
    if not root.is_dir():
        raise CliError(f"reference folder {root} (--reference) does not exist")
    print(f"reference results under {root}:")
    for line in describe_references(root) or ["(none)"]:
        print(f"  {line}")


def _print_lines(lines: Sequence[str], limit: int = 60) -> None:
    for line in lines[:limit]:
        print(f"  {line}")
    if len(lines) > limit:
        print(f"  … and {len(lines) - limit} more")


def _reference(args: argparse.Namespace) -> int:
    from l2lib.book import reference as ref

    if args.action == "export":
        from l2lib.book.reproduce import load_summaries

        available = sorted(load_summaries(args.results))
        if not available:
            raise CliError(f"no chapter summaries under {Path(args.results) / 'summaries'}: "
                           "run the chapters first (l2lib run --profile reference --results "
                           "DIR)")
        chapters = ref.resolve_chapters(args.chapters, available)
        warnings = ref.export_reference(args.results, args.out, chapters, commit=args.commit,
                                        source_dir=args.source)
        for stem, lines in warnings.items():
            stores = ref.reference_stores(args.out, stem)
            print(f"{stem}: summary, provenance and {len(stores)} store(s) → "
                  f"{Path(args.out) / stem}")
            for line in lines:
                print(f"  warning: {line}")
        return 0
    if args.action == "check":
        lines = ref.check_expectations(args.results, args.expectations, args.profile)
        if lines:
            print(f"{len(lines)} finding(s) differ from {args.expectations} "
                  f"(profile {args.profile}):")
            _print_lines(lines)
            print("if a change is deliberate: l2lib reference expect --profile "
                  f"{args.profile} --results {args.results} --reason TEXT")
            return 1
        print(f"every verdict as expected for profile {args.profile}")
        return 0
    if args.action == "expect":
        changes = ref.write_expectations(args.results, args.expectations, args.profile,
                                         args.reason)
        print(f"{args.expectations}, profile {args.profile}: {len(changes)} change(s)")
        _print_lines(changes)
        return 0
    if args.action == "slices":
        exported = ref.exported_chapters(args.out)
        if not exported:
            raise CliError(f"no reference results under {args.out}: export them with "
                           "l2lib reference export")
        lines = ref.check_slices(args.out, ref.resolve_chapters(args.chapters, exported))
        if lines:
            print(f"{len(lines)} slice mismatch(es) against {args.out}:")
            _print_lines(lines)
            return 1
        print(f"every slice agrees with {args.out}")
        return 0
    if not ref.exported_chapters(args.out):
        raise CliError(f"no reference results under {args.out}: export them with "
                       "l2lib reference export")
    stale = {stem: {s: m for s, m in stores.items() if m}
             for stem, stores in ref.stale_references(args.out).items()}
    stale = {stem: stores for stem, stores in stale.items() if stores}
    for stem, stores in stale.items():
        for folder, modules in stores.items():
            print(f"{stem}/{folder}: stale, changed since: {', '.join(modules)}")
    if stale:
        return 1
    print(f"every reference result under {args.out} is current")
    return 0


def _report(args: argparse.Namespace) -> int:
    from l2lib.book.batch import Chapter
    from l2lib.book.reproduce import load_summaries, write_page

    sources = sorted(Path(args.book, "chapters").glob("[0-9]*.py"))
    titles = {s.stem: Chapter(s.stem, s, {}).title for s in sources}
    if not load_summaries(args.results):
        print(f"l2lib report: warning: no chapter summaries under {args.results}/summaries",
              file=sys.stderr)
    path = write_page(args.results, args.output, args.paper_results, titles)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
