"""Reference results: long runs computed once, committed as text, and re-checked.

A reference run (``l2lib run --profile reference``) leaves summaries and stores in a results folder.
:func:`export_reference` turns each chapter's share into a folder that can be committed::

    <out>/<stem>/summary.json         the chapter's summary, verbatim
    <out>/<stem>/provenance.json      commit (and whether the tree was dirty), profile, parameters,
                                      machine, run date, wall time, versions, stores
    <out>/<stem>/stores/<name>-<key>.csv   one row per sweep point (``l2lib.store`` CSV codec;
    <out>/<stem>/stores/<name>-<key>.json  the store's config.json, points, dtypes); no weights

Which store belongs to which chapter is :data:`CHAPTER_STORES` (store-name patterns, from the
chapters' ``open_store`` calls). The committed numbers are checked three ways:

* **staleness** (:func:`stale_references`): each exported store records the hash of every module
  its key covers; a module whose source changed since makes it stale (``l2lib results list``);
* **expectations** (:func:`check_expectations`): ``<out>/expectations.json`` holds, per profile,
  the verdict every finding is expected to carry and why; a run whose verdicts differ fails, and
  the file is updated deliberately (:func:`write_expectations`, a reason for each change);
* **slices** (:func:`check_slices`): per chapter, a registered function (:data:`SLICES`)
  recomputes the first points of a reference sweep and :func:`compare_slice` compares them with
  the committed numbers within per-observable tolerances.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np

from l2lib.analysis.findings import Verdict
from l2lib.book.reproduce import load_summaries, verdict_of_record
from l2lib.book.slices import (  # the registry and store names, re-exported here
    NO_SLICE,
    SLICE_TOLERANCES,  # noqa: F401 (re-exported)
    SLICES,
    Slice,  # noqa: F401 (re-exported)
    reference_stores,
    register_slice,  # noqa: F401 (re-exported)
    store_name,
    tolerances_for,
)
from l2lib.store import (
    PACKAGE_DIR,
    StoreError,
    atomic_write_bytes,
    code_hash,
    export_store_csv,
    package_modules,
    raw_hash,
    read_metadata,
    read_store_csv,
    stale_modules,
)
from l2lib.train.sweep import Hysteresis, SweepResult

DEFAULT_DIR = Path("results-reference")
EXPECTATIONS = "expectations.json"

CHAPTER_STORES: tuple[tuple[str, str], ...] = (
    # (store-name pattern, chapter stem); a store name must match exactly one chapter
    ("linear-D*", "01_onset"),                 # onset.linear_sweep: linear-D<depth>-up/-down
    ("*-mlp-*h-up", "01_onset"),               # onset.mlp_sweep: <dataset>-mlp-<k>h-up/-down
    ("*-mlp-*h-down", "01_onset"),
    ("curvature-*", "02_curvature"),           # curvature-linear-D<d>, curvature-<data>-<k>h
    ("regimes-*", "03_regimes"),               # regimes-<data>-up/-down (chapter 5 reads them)
    ("vae-*", "04_vae"),                       # vae-<data>-up/-down
    ("minima-*", "05_pathfinder"),
    ("pathfinder-*", "05_pathfinder"),
    ("bezier-*", "05_pathfinder"),
    ("towards-*", "05_pathfinder"),
    ("jamming-*", "06_jamming"),  # jamming-<data>-L<d>-h<w>[-seeds<a>-<b>][-polish|-converged]
)
CHAPTERS = tuple(dict.fromkeys(stem for _, stem in CHAPTER_STORES))
_STORE_DIR = re.compile(r"(?P<name>.+)-(?P<key>[0-9a-f]{16})$")


# ---------------------------------------------------------------------------- chapters, stores

def chapter_of_store(name: str) -> str:
    """The chapter stem a store (name or ``<name>-<key>`` folder) belongs to; a ValueError
    naming the store if no pattern of :data:`CHAPTER_STORES` (or more than one chapter)
    matches."""
    if _STORE_DIR.match(name):
        name = store_name(name)
    stems = {stem for pattern, stem in CHAPTER_STORES if fnmatchcase(name, pattern)}
    if len(stems) != 1:
        problem = "belongs to no chapter" if not stems else f"matches {sorted(stems)}"
        raise ValueError(f"store {name!r} {problem}: add its name pattern to "
                         "l2lib.book.reference.CHAPTER_STORES, or remove it from the results "
                         "folder (l2lib results clear NAME --yes)")
    return stems.pop()


def resolve_chapters(names: Sequence[str], known: Iterable[str] = CHAPTERS) -> list[str]:
    """Chapter stems from stems (``03_regimes``), numbers (``03``, ``3``) or names
    (``regimes``); all of ``known`` when ``names`` is empty
    (:func:`l2lib.book.batch.select_stems`)."""
    from l2lib.book.batch import select_stems

    return select_stems(list(known), names)


def chapter_stores(results_dir: str | os.PathLike) -> dict[str, list[Path]]:
    """Chapter stem → its store folders under ``<results_dir>/store`` (every folder must belong
    to a chapter, see :func:`chapter_of_store`)."""
    root = Path(results_dir) / "store"
    out: dict[str, list[Path]] = {}
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if path.is_dir() and _STORE_DIR.match(path.name):
            out.setdefault(chapter_of_store(path.name), []).append(path)
    return out


# ------------------------------------------------------------------------------------ export

def git_commit(source_dir: str | os.PathLike) -> tuple[str, bool]:
    """``(commit, dirty)`` of the git work tree at ``source_dir``: ``git rev-parse HEAD`` and
    whether a tracked file differs from it. A ValueError saying to pass the commit if git
    cannot tell."""
    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", *args], cwd=source_dir, capture_output=True, text=True,
                                 check=False, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise ValueError(f"cannot run git in {source_dir} ({err}); pass the commit of the "
                             "code that ran (--commit SHA)") from err
        if out.returncode:
            raise ValueError(f"cannot read the git commit of {source_dir} "
                             f"({out.stderr.strip()[:200]}); pass the commit of the code that "
                             "ran (--commit SHA)")
        return out.stdout
    return git("rev-parse", "HEAD").strip(), bool(git("status", "--porcelain",
                                                      "--untracked-files=no").strip())


def machine() -> dict[str, Any]:
    """The machine this process runs on: platform, processor, CPU count, torch threads, and the
    vector instructions torch's CPU kernels use (``torch_cpu_capability``, e.g. AVX2 or AVX512)
    and whether the CPU has AVX-512: runs on CPUs that differ in these round differently, so a
    reference is reproduced to a tolerance, not bit for bit, on another machine type."""
    import torch

    processor, flags = platform.processor(), set()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        named = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
        listed = [line.split(":", 1)[1].split() for line in lines if line.startswith("flags")]
        processor = named[0] if named else processor
        flags = set(listed[0]) if listed else flags
    except OSError:
        pass
    return {"platform": platform.platform(), "processor": processor or "unknown",
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "avx512": any(f.startswith("avx512") for f in flags),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"), "host": platform.node()}


def _mixed_versions(metas: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Modules recorded with different hashes by stores of one chapter (written by different
    code: an export mixing runs)."""
    seen: dict[str, dict[str, list[str]]] = {}
    for folder, meta in metas.items():
        for module, sha in (meta.get("modules") or {}).items():
            seen.setdefault(module, {}).setdefault(sha, []).append(folder)
    return [f"stores were written by different versions of {module}: "
            + "; ".join(f"{sha}: {', '.join(folders)}" for sha, folders in shas.items())
            for module, shas in sorted(seen.items()) if len(shas) > 1]


def export_reference(
    results_dir: str | os.PathLike, out_dir: str | os.PathLike, chapters: Sequence[str],
    commit: str | None = None, source_dir: str | os.PathLike | None = None,
) -> dict[str, list[str]]:
    """Export each chapter of ``chapters`` (stems) from ``results_dir`` into ``out_dir/<stem>/``
    (layout in the module docstring); returns stem → warnings (e.g. stores of one chapter
    written by different code, no stores).

    ``commit``: the git commit of the code that ran; None reads ``git rev-parse HEAD`` (and
    whether tracked files differ from it: ``dirty``) in ``source_dir`` (default: the work tree
    of this l2lib). ``provenance.json`` also says whether this l2lib's code is the one the run
    recorded (``code_matches_run``). Every store under ``results_dir/store`` must belong to a
    chapter (:data:`CHAPTER_STORES`); a chapter's earlier export is replaced.
    """
    import torch

    from l2lib.store import code_version

    results_dir, out_dir = Path(results_dir), Path(out_dir)
    summaries = load_summaries(results_dir)
    missing = [s for s in chapters if s not in summaries]
    if missing:
        raise ValueError(f"no summary of {missing} under {results_dir / 'summaries'}: run "
                         f"l2lib run {' '.join(missing)} --profile reference --results "
                         f"{results_dir} first")
    if commit is None:
        source = Path(source_dir) if source_dir is not None else PACKAGE_DIR.parent
        sha, dirty = git_commit(source)
        where: dict[str, Any] = {"commit": sha, "dirty": dirty,
                                 "commit_from": f"git rev-parse HEAD in {source.resolve()}"}
    else:
        where = {"commit": commit, "dirty": None, "commit_from": "given"}
    code_root = Path(source_dir) / "l2lib" if source_dir is not None else PACKAGE_DIR
    code_root = code_root if code_root.is_dir() else PACKAGE_DIR
    stores = chapter_stores(results_dir)
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    code = code_version()
    report: dict[str, list[str]] = {}
    for stem in chapters:
        summary, folder = summaries[stem], out_dir / stem
        prov = summary["provenance"]
        metas = {p.name: read_metadata(p) for p in stores.get(stem, [])}
        warnings = _mixed_versions(metas)
        if not metas:
            warnings.append(f"no stores of {stem} under {results_dir / 'store'}")
        target = folder / "stores"
        target.mkdir(parents=True, exist_ok=True)
        written = set()
        for path in stores.get(stem, []):
            csv_path, json_path = export_store_csv(path, target)
            written |= {csv_path.name, json_path.name}
            warnings += _record_code_hashes(json_path, code_root)
        for old in target.iterdir():
            if old.name in written:
                continue
            if old.is_dir():
                shutil.rmtree(old)
            else:
                old.unlink()
        provenance = {
            "chapter": stem, "profile": prov.get("profile"),
            "parameters": summary.get("parameters") or _run_parameters(results_dir, prov),
            **where,
            "code": prov.get("l2lib"), "code_matches_run": code == prov.get("l2lib"),
            "versions": {"l2lib": prov.get("l2lib"), "torch": prov.get("torch"),
                         "python": prov.get("python")},
            "device": prov.get("device"), "run_host": prov.get("host"),
            "machine": machine(), "run_utc": prov.get("utc"), "wall_s": prov.get("wall_s"),
            "exported_utc": now, "exported_with": {"l2lib": code, "torch": torch.__version__},
            "stores": sorted(metas), "warnings": warnings,
        }
        _write_json(folder / "provenance.json", provenance)
        _write_json(folder / "summary.json", summary)
        report[stem] = warnings
    return report


def _run_parameters(results_dir: Path, prov: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters a run was given: a grid run's ``parameters.json`` (``l2lib run -p``),
    else only its profile (every other parameter at the chapter's default)."""
    path = results_dir / "parameters.json"
    if path.is_file():
        return dict(json.loads(path.read_text()))
    return {"profile": prov.get("profile")}


def _record_code_hashes(sidecar_path: Path, package_dir: Path) -> list[str]:
    """Add ``code_hashes`` to an exported store's sidecar: the :func:`l2lib.store.code_hash` of
    every module the store's key covers, read from ``package_dir`` (the l2lib of the code that
    ran), after checking that each file is the one the store recorded (by either hash method;
    stores written before code hashes record raw source hashes). Returns warnings for modules
    whose file there differs from the recorded one (their recorded hash is kept)."""
    sidecar = json.loads(sidecar_path.read_text())
    recorded = (sidecar.get("metadata") or {}).get("modules") or {}
    files = package_modules(package_dir)
    hashes, warnings = {}, []
    for module, sha in recorded.items():
        path = files.get(module)
        source = path.read_bytes() if path else b""
        if path and sha in (raw_hash(source), code_hash(source)):
            hashes[module] = code_hash(source)
        else:
            hashes[module] = sha
            warnings.append(f"{sidecar['store']}: {module} under {package_dir} is not the code "
                            "that ran (pass --source with the run's work tree)")
    sidecar["code_hashes"] = hashes
    _write_json(sidecar_path, sidecar)
    return warnings


def _write_json(path: Path, record: Any) -> None:
    text = json.dumps(record, indent=1, ensure_ascii=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


# -------------------------------------------------------------------------------------- load

def load_store_csv(path: str | os.PathLike, n_points: int | None = None) -> SweepResult:
    """An exported store (its .csv; the .json sidecar beside it) as the
    :class:`~l2lib.train.sweep.SweepResult` the sweep returned: ``lams`` in the order visited,
    ``obs[name]`` of shape (n_points, ...) with the stored dtype; only the first ``n_points``
    points if given. ``direction`` is the store config's ``direction`` if it has one, else the
    name's suffix ``-up``/``-down``, else "up". An observation whose shape differs between the
    points read (a jamming scan's batches) raises a ValueError: read fewer points, or read them
    one by one with :func:`l2lib.store.read_store_csv`."""
    sidecar, points = read_store_csv(path)
    points = points[:n_points] if n_points is not None else points
    obs = {}
    for name, entry in sidecar["observations"].items():
        shapes = {p["obs"][name].shape if name in p["obs"] else None for p in points}
        if len(shapes) > 1:
            raise ValueError(f"{Path(path).name}: observation {name!r} has a different shape "
                             f"at different points ({sorted(map(str, shapes))}), so they make "
                             "no SweepResult; read fewer points (n_points) or read them one "
                             "by one with l2lib.store.read_store_csv")
        if None in shapes:
            continue
        obs[name] = (np.stack([p["obs"][name] for p in points]) if points else
                     np.empty((0, *(entry["shape"] or [])), dtype=entry["dtype"]))
    config = (sidecar.get("metadata") or {}).get("config") or {}
    direction = config.get("direction") if isinstance(config, dict) else None
    if not isinstance(direction, str):
        name = store_name(sidecar["store"])
        direction = "down" if name.endswith("-down") else "up"
    return SweepResult(np.array([p["lam"] for p in points], dtype=np.float64), obs, direction)


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{path} does not exist: export the {what} with l2lib reference "
                                "export") from err
    except ValueError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); export it again") from err
    if not isinstance(record, dict):
        raise ValueError(f"{path} is not a JSON object; export it again")
    return record


def load_reference_summary(out_dir: str | os.PathLike, stem: str) -> dict[str, Any]:
    """The committed summary of chapter ``stem`` (as ``l2lib.book.report.write_summary``
    wrote it); a ValueError naming the file if a finding's verdict is unknown."""
    path = Path(out_dir) / stem / "summary.json"
    summary = _read_json(path, f"reference results of {stem}")
    try:
        for f in summary.get("findings", []):
            verdict_of_record(f)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    return summary


def load_reference_provenance(out_dir: str | os.PathLike, stem: str) -> dict[str, Any]:
    """The committed ``provenance.json`` of chapter ``stem``."""
    return _read_json(Path(out_dir) / stem / "provenance.json", f"reference results of {stem}")


def exported_chapters(out_dir: str | os.PathLike) -> list[str]:
    """The chapter stems exported under ``out_dir`` (those with a summary.json)."""
    root = Path(out_dir)
    return sorted(p.parent.name for p in root.glob("*/summary.json")) if root.is_dir() else []


@dataclass(frozen=True)
class ReferenceRun:
    """A chapter's committed reference run as a chapter shows it: summary, provenance, the
    exported stores (folder name → .csv) and the modules changed since (empty: current)."""

    stem: str
    summary: dict[str, Any]
    provenance: dict[str, Any]
    stores: dict[str, Path]
    changed: list[str]

    def config(self, folder: str) -> dict[str, Any]:
        """The recorded configuration (what keyed the store) of the exported store ``folder``."""
        sidecar = _read_json(self.stores[folder].with_suffix(".json"), f"store {folder}")
        return dict((sidecar.get("metadata") or {}).get("config") or {})

    def sweep(self, name: str, where: Callable[[Mapping[str, Any]], bool] | None = None
              ) -> SweepResult | None:
        """The exported store named ``name`` (e.g. ``regimes-mnist-10k-up``) as a
        SweepResult, or None if this run has none. ``where(config)`` picks among stores of
        that name by their recorded configuration (e.g. chapter 1's ``linear-D1-up`` of the
        one-mode teacher, not the staircase's); without it, several of that name are an
        error."""
        found = [folder for folder in self.stores if store_name(folder) == name
                 and (where is None or where(self.config(folder)))]
        if len(found) > 1:
            raise ValueError(f"{self.stem}: {len(found)} exported stores named {name!r} "
                             f"({found}); pick one with where=")
        return load_store_csv(self.stores[found[0]]) if found else None

    def hysteresis(self, name: str, where: Callable[[Mapping[str, Any]], bool] | None = None
                   ) -> Hysteresis | None:
        """The stores ``<name>-up`` and ``<name>-down`` as the
        :class:`~l2lib.train.sweep.Hysteresis` the sweep returned (the downward branch on the
        ascending grid), or None if either is missing."""
        up, down = self.sweep(f"{name}-up", where), self.sweep(f"{name}-down", where)
        if up is None or down is None:
            return None
        down = down.ascending()
        if not np.allclose(up.lams, down.lams, rtol=1e-12, atol=1e-12):
            raise ValueError(f"{self.stem}: {name}-up and {name}-down are not on one grid")
        return Hysteresis(up.lams, up, down)

    def markdown(self) -> str:
        """Provenance in one paragraph, then the findings table (claim, paper, this run,
        verdict, note) as the reference run recorded them."""
        from l2lib.book.reproduce import format_wall

        prov = self.provenance
        commit = str(prov.get("commit") or "?")[:10] + (" (uncommitted changes)"
                                                        if prov.get("dirty") else "")
        state = ("the code these results depend on is unchanged since"
                 if not self.changed else
                 f"**stale**: code they depend on changed since ({len(self.changed)} modules: "
                 + ", ".join(self.changed[:4]) + (", …" if len(self.changed) > 4 else "")
                 + "); `l2lib reference slices` says whether their first points still "
                   "reproduce")
        head = (f"Profile `{prov.get('profile')}`, commit `{commit}`, run {prov.get('run_utc')}"
                f" on {prov.get('device')} in {format_wall(prov.get('wall_s'))}; {state}. "
                f"Committed under `results-reference/{self.stem}/` (summary, provenance, "
                f"{len(self.stores)} stores as CSV).")
        rows = ["| finding | paper | reference run | verdict | note |", "|---|---|---|---|---|"]
        for f in self.summary.get("findings", []):
            verdict = verdict_of_record(f)
            cells = (f.get("finding", ""), f.get("paper", ""), f.get("companion", ""),
                     f"{verdict.symbol} {verdict.value}", f.get("note", ""))
            rows.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ")
                                          for c in cells) + " |")
        return head + "\n\n" + "\n".join(rows) + "\n"


def load_reference_run(out_dir: str | os.PathLike | None, stem: str) -> ReferenceRun | None:
    """Chapter ``stem``'s committed reference run under ``out_dir``, or None if there is none
    (``out_dir`` None or missing, or the chapter not exported)."""
    if out_dir is None or not (Path(out_dir) / stem / "summary.json").is_file():
        return None
    stale = stale_references(out_dir).get(stem, {})
    return ReferenceRun(stem, load_reference_summary(out_dir, stem),
                        load_reference_provenance(out_dir, stem),
                        reference_stores(out_dir, stem),
                        sorted({m for modules in stale.values() for m in modules}))


def reference_markdown(run: ReferenceRun | None, profile: str) -> str:
    """What a chapter prints about its reference run: its :meth:`ReferenceRun.markdown`, or a
    line saying that none is committed (or that this page *is* the reference run)."""
    if profile == "reference":
        return "This page is itself a reference-profile run."
    if run is None:
        return ("No reference run of this chapter is committed (`results-reference/`); "
                "`l2lib run --profile reference` computes one.")
    return run.markdown()


# ----------------------------------------------------------------------------------- staleness

def stale_references(out_dir: str | os.PathLike, package_dir: Path = PACKAGE_DIR
                     ) -> dict[str, dict[str, list[str]]]:
    """Chapter → exported store folder → the modules whose source changed since the store was
    written (:func:`l2lib.store.stale_modules` on the hashes its sidecar records; empty:
    current). A store without recorded module hashes counts every module as changed
    (``["(no module hashes recorded)"]``)."""
    out: dict[str, dict[str, list[str]]] = {}
    for stem in exported_chapters(out_dir):
        out[stem] = {}
        for folder, csv_path in reference_stores(out_dir, stem).items():
            sidecar = _read_json(csv_path.with_suffix(".json"), f"store {folder}")
            recorded = sidecar.get("code_hashes") or (sidecar.get("metadata") or {}).get(
                "modules")
            out[stem][folder] = (stale_modules(recorded, package_dir)
                                 if isinstance(recorded, dict)
                                 else ["(no module hashes recorded)"])
    return out


def describe_references(out_dir: str | os.PathLike, package_dir: Path = PACKAGE_DIR
                        ) -> list[str]:
    """One line per exported chapter: profile, commit, run date, wall time, and "current" or
    "stale: <modules>" (for ``l2lib results list``)."""
    from l2lib.book.reproduce import format_wall

    stale = stale_references(out_dir, package_dir)
    lines = []
    for stem, stores in stale.items():
        prov = load_reference_provenance(out_dir, stem)
        changed = sorted({m for modules in stores.values() for m in modules})
        commit = str(prov.get("commit") or "?")[:12] + ("+dirty" if prov.get("dirty") else "")
        state = "current" if not changed else "stale: " + ", ".join(changed)
        lines.append(f"{stem:<24} profile {prov.get('profile')}, commit {commit}, "
                     f"{prov.get('run_utc')}, {format_wall(prov.get('wall_s'))}, "
                     f"{len(stores)} stores, {state}")
    return lines


# -------------------------------------------------------------------------------- expectations

def _finding_key(finding: Mapping[str, Any]) -> str:
    return str(finding.get("key") or finding["finding"])


def _summaries(results_dir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Summaries of a results folder (``<dir>/summaries/*.json``), of a summaries folder, or of
    a folder of committed reference results (``<dir>/<chapter>/summary.json``)."""
    folder = Path(results_dir)
    if not (folder / "summaries").is_dir() and folder.is_dir() and folder.name == "summaries":
        folder = folder.parent
    if not (folder / "summaries").is_dir() and not exported_chapters(folder):
        raise FileNotFoundError(f"no chapter summaries under {folder / 'summaries'}: run the "
                                "chapters first (l2lib run --results DIR)")
    return load_summaries(folder)


def _verdicts(summaries: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    return {_finding_key(f): verdict_of_record(f).value
            for s in summaries.values() for f in s["findings"]}


def load_expectations(path: str | os.PathLike) -> dict[str, dict[str, dict[str, str]]]:
    """The expectations file: profile → finding key → {"verdict", "reason"}; a ValueError
    naming the file and the entry if a verdict is not a :class:`Verdict` value."""
    path = Path(path)
    record = _read_json(path, "expectations") if path.exists() else None
    if record is None:
        raise FileNotFoundError(f"{path} does not exist: write it with l2lib reference expect "
                                "--profile P --results DIR --reason TEXT")
    known = {v.value for v in Verdict}
    for profile, entries in record.items():
        if not isinstance(entries, dict):
            raise ValueError(f"{path}: profile {profile!r} must map finding keys to "
                             "{\"verdict\": ..., \"reason\": ...}")
        for key, entry in entries.items():
            if not isinstance(entry, dict) or entry.get("verdict") not in known:
                raise ValueError(f"{path}: {profile}/{key} has no valid verdict "
                                 f"({entry!r}); known verdicts: {sorted(known)}")
    return record


def check_expectations(summaries_dir: str | os.PathLike, expectations_path: str | os.PathLike,
                       profile: str) -> list[str]:
    """Mismatches between the verdicts of the summaries under ``summaries_dir`` (a results
    folder, or its ``summaries`` folder) and those expected for ``profile``: one line per
    finding whose verdict differs, per finding expected but not reported, per finding reported
    but not expected, per summary of another profile. Empty: everything as expected."""
    summaries = _summaries(summaries_dir)
    expected = load_expectations(expectations_path).get(profile)
    if expected is None:
        return [f"{expectations_path} has no expectations for profile {profile!r}; write them "
                f"with l2lib reference expect --profile {profile}"]
    lines = [f"{stem}: summary is of profile {s['provenance'].get('profile')!r}, expected "
             f"{profile!r}" for stem, s in summaries.items()
             if s["provenance"].get("profile") != profile]
    found = _verdicts(summaries)
    for key, entry in sorted(expected.items()):
        if key not in found:
            lines.append(f"{key}: expected {entry['verdict']!r}, found no such finding "
                         "(chapter not run, or the finding was removed)")
        elif found[key] != entry["verdict"]:
            lines.append(f"{key}: expected {entry['verdict']!r}, found {found[key]!r}")
    lines += [f"{key}: found {verdict!r}, not in the expectations (add it with l2lib reference "
              "expect)" for key, verdict in sorted(found.items()) if key not in expected]
    return lines


def write_expectations(summaries_dir: str | os.PathLike, expectations_path: str | os.PathLike,
                       profile: str, reason: str | None = None) -> list[str]:
    """Create or update ``profile``'s expectations from the summaries under ``summaries_dir``;
    returns one line per change. Existing entries keep their reason; a new finding gets
    ``reason`` (default: "as first recorded, <run date>"); a changed verdict needs ``reason``
    (a ValueError listing the changes otherwise) and records the previous verdict. Findings of
    chapters that were not run are kept; findings that a run chapter no longer reports are
    dropped."""
    summaries = _summaries(summaries_dir)
    others = sorted({str(s["provenance"].get("profile")) for s in summaries.values()} - {profile})
    if others:
        raise ValueError(f"the summaries under {summaries_dir} include profile(s) {others}, not "
                         f"{profile!r}: give --profile to match, or rerun those chapters")
    path = Path(expectations_path)
    record = load_expectations(path) if path.exists() else {}
    old = dict(record.get(profile, {}))
    new: dict[str, dict[str, str]] = {}
    changed = []
    for summary in summaries.values():
        first = f"as first recorded, {summary['provenance'].get('utc', '?')}"
        for f in summary["findings"]:
            key, verdict = _finding_key(f), verdict_of_record(f).value
            if key not in old:
                new[key] = {"verdict": verdict, "reason": reason or first}
                changed.append(f"{key}: new, {verdict!r}")
            elif old[key]["verdict"] != verdict:
                changed.append(f"{key}: {old[key]['verdict']!r} → {verdict!r}")
                new[key] = {"verdict": verdict,
                            "reason": f"{reason} (was {old[key]['verdict']!r})"}
            else:
                new[key] = old[key]
    flips = [c for c in changed if "→" in c]
    if flips and not reason:
        raise ValueError("verdicts changed; say why with a reason (--reason TEXT): "
                         + "; ".join(flips))
    run = {_finding_key(f).split(".")[0] for s in summaries.values() for f in s["findings"]}
    run |= {stem.split("_", 1)[-1] for stem in summaries}
    for key, entry in old.items():
        if key in new:
            continue
        if key.split(".")[0] in run:
            changed.append(f"{key}: dropped (no longer reported)")
        else:
            new[key] = entry
    record[profile] = dict(sorted(new.items()))
    _write_json(path, dict(sorted(record.items())))
    return changed


# -------------------------------------------------------------------------------------- slices

ABS_FLOOR = {"float16": 1e-3, "float32": 1e-6, "float64": 1e-12}
"""Absolute floor of the tolerance per dtype. The observables are of order one (losses,
accuracies, weight norms); a value that should be zero (a weight norm on the trivial branch, a
loss at a perfect fit) is the cancellation of order-one terms, so two correct runs differ there by
a few rounding units of order one (float32: ε = 1.2e-7) and a purely relative test would flag
noise. The floor is ~10 ε of a unit quantity: far below any number the book quotes, so an edit of
a quoted number is still caught. Integer and bool observations have no floor."""


def _close(a: Any, b: Any, rtol: float, floor: float) -> bool:
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= max(rtol * abs(b), floor)


def compare_slice(recomputed: SweepResult, reference: SweepResult,
                  tolerances: Mapping[str, float], n_points: int) -> list[str]:
    """Compare the first ``n_points`` points of each observation named in ``tolerances``
    (name → relative tolerance ``rtol``): ``|recomputed − reference| ≤ max(rtol·|reference|,
    floor)`` with ``floor`` from :data:`ABS_FLOOR` by the reference's dtype; NaN equals NaN,
    ±inf only itself. The swept values must agree to 1e-12 (else it is another slice).
    Returns one line per mismatch: observation, point, member index, both values."""
    lines = []
    for label, result in (("recomputed", recomputed), ("reference", reference)):
        if len(result.lams) < n_points:
            lines.append(f"the {label} sweep has {len(result.lams)} points, fewer than the "
                         f"{n_points} to compare")
    if lines:
        return lines
    a_lams, b_lams = recomputed.lams[:n_points], reference.lams[:n_points]
    if not np.allclose(a_lams, b_lams, rtol=1e-12, atol=1e-12):
        return [f"swept values differ: recomputed {a_lams.tolist()}, reference "
                f"{b_lams.tolist()} (not the same slice)"]
    for name, rtol in tolerances.items():
        missing = [label for label, r in (("recomputed", recomputed), ("reference", reference))
                   if name not in r.obs]
        if missing:
            lines.append(f"{name}: missing in the {' and '.join(missing)} result")
            continue
        a, b = recomputed.obs[name][:n_points], reference.obs[name][:n_points]
        if a.shape != b.shape:
            lines.append(f"{name}: shape {a.shape} recomputed, {b.shape} reference")
            continue
        floor = ABS_FLOOR.get(str(b.dtype), 0.0)
        for index in np.ndindex(*a.shape):
            if not _close(a[index], b[index], rtol, floor):
                delta = abs(float(a[index]) - float(b[index]))
                lines.append(f"{name} point {index[0]} member {list(index[1:])}: recomputed "
                             f"{a[index]!r}, reference {b[index]!r} (|Δ| {delta:.3g}, rtol "
                             f"{rtol:g}, floor {floor:g})")
    return lines


def _first_lams(path: Path, n_points: int) -> np.ndarray:
    return np.array([p["lam"] for p in read_store_csv(path)[1][:n_points]], dtype=np.float64)


def _reference_for(key: str, stores: Mapping[str, Path], recomputed: SweepResult,
                   n_points: int) -> tuple[str, Path] | str:
    """The exported store a slice result keyed ``key`` is compared with: the folder named
    ``key``, or the store named ``key`` (several: the one whose first swept values match)."""
    if key in stores:
        return key, stores[key]
    named = {f: p for f, p in stores.items() if store_name(f) == key}
    if len(named) > 1:
        lams = recomputed.lams[:n_points]
        named = {f: p for f, p in named.items()
                 if np.allclose(_first_lams(p, n_points), lams, rtol=1e-12, atol=1e-12)}
    if len(named) == 1:
        return next(iter(named.items()))
    if not named:
        return f"no exported store named {key!r} (exported: {sorted(stores)})"
    return (f"several exported stores named {key!r} start with the same swept values "
            f"({sorted(named)}); key the slice by folder name")


def check_slices(out_dir: str | os.PathLike, chapters: Sequence[str] = ()) -> list[str]:
    """Recompute every registered slice of ``chapters`` (default: every exported chapter) and
    compare it with the committed numbers; returns mismatch lines prefixed with the chapter
    and store (a chapter without a registered slice is a mismatch too). Empty: all agree."""
    out_dir = Path(out_dir)
    lines = []
    for stem in chapters or exported_chapters(out_dir):
        if stem not in SLICES:
            if stem in NO_SLICE:
                print(f"{stem}: no slice ({NO_SLICE[stem]})")
            else:
                lines.append(f"{stem}: no slice check is registered "
                             "(l2lib.book.reference.register_slice)")
            continue
        stores = reference_stores(out_dir, stem)
        if not stores:
            lines.append(f"{stem}: no exported stores under {out_dir / stem / 'stores'}")
            continue
        results = SLICES[stem](out_dir / stem)
        if not results:
            lines.append(f"{stem}: the slice function returned no results")
        for key, recomputed in results.items():
            n_points = len(recomputed.lams)
            found = _reference_for(key, stores, recomputed, n_points)
            if isinstance(found, str):
                lines.append(f"{stem}: {found}")
                continue
            folder, path = found
            try:
                reference = load_store_csv(path, n_points)
            except (StoreError, ValueError) as err:
                lines.append(f"{stem}/{folder}: {err}")
                continue
            lines += [f"{stem}/{folder}: {line}" for line in
                      compare_slice(recomputed, reference,
                                    tolerances_for(stem, store_name(folder)), n_points)]
    return lines
