"""Resumable on-disk results, keyed by the configuration and the code the computation uses.

A sweep writes one file per finished point (``point-00012.pt``: λ, observations, optional weights)
atomically (a uniquely named temporary file, then a rename), so an interrupted run loses at most
the point in flight and a rerun with the same configuration skips every finished point.

**Keys.** A store's key hashes its configuration *and* the code of the l2lib modules the
computation depends on (:func:`code_hash`: docstrings and comments do not count): the modules on
the call stack when the store is opened, up to the innermost experiment module (the sweep and
training loop, the chapter's experiment module; not a second chapter or batch runner that called
it, :func:`computing_modules`), and everything they import from l2lib, transitively (read from the
sources with :mod:`ast`, as ``tests/test_layout.py`` does). Editing plots, reports or another
chapter therefore keeps a store valid, while editing the training loop invalidates it. The book
layer (``l2lib.book``) orchestrates: a book module on the stack counts itself and what it imports
from lower layers, not the other book modules it imports; the command line (``l2lib.book.cli``,
``l2lib.__main__``) counts for nothing. A store opened from outside l2lib (a user's script) cannot
know what will be computed and depends on every module. ``config.json`` records the hash of every
module the key covers, so :func:`stale_modules` can say which one changed.

**Damage and concurrency.** A point file that cannot be read raises :class:`StoreError` naming the
file; :meth:`SweepStore.quarantine` moves it aside so the sweep can resume from the newest intact
point. :meth:`SweepStore.lock` is an exclusive ``fcntl.flock`` on ``<store>/lock``: a second
process on the same sweep waits for the first and then finds its points finished.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from l2lib import __version__

_POINT = re.compile(r"point-(\d{5})\.pt$")
PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE = "l2lib"
BOOK_LAYER = "l2lib.book"
NOT_COMPUTATION = ("l2lib.__main__", "l2lib.book.cli", "l2lib.store")  # dispatch, not results


class StoreError(ValueError):
    """A store file that cannot be read (its path and the fix are in the message)."""


# ------------------------------------------------------------------------ module dependencies

def package_modules(package_dir: Path = PACKAGE_DIR) -> dict[str, Path]:
    """Every module of the package under ``package_dir``: dotted name → source file."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = (PACKAGE, *path.relative_to(package_dir).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def source_imports(source: str | Path, package_dir: Path = PACKAGE_DIR) -> set[str]:
    """The l2lib modules a Python source file (e.g. a chapter) imports."""
    return _imports(Path(source), package_modules(package_dir))


def _imports(path: Path, modules: Mapping[str, Path]) -> set[str]:
    """The l2lib modules ``path`` imports anywhere (also inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            names = [f"{node.module}.{a.name}" for a in node.names]
            found |= {n for n in names if n in modules} or {node.module}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith(PACKAGE)}
    return {m for m in found if m in modules}


@lru_cache(maxsize=8)
def _import_graph(package_dir: Path, stamp: tuple[float, ...]) -> dict[str, frozenset[str]]:
    modules = package_modules(package_dir)
    return {m: frozenset(_imports(p, modules)) for m, p in modules.items()}


def import_graph(package_dir: Path = PACKAGE_DIR) -> dict[str, frozenset[str]]:
    """module → the l2lib modules it imports (cached until a source file changes)."""
    stamp = tuple(p.stat().st_mtime_ns for p in sorted(package_dir.rglob("*.py")))
    return _import_graph(package_dir, stamp)


def dependencies(roots: Iterable[str], package_dir: Path = PACKAGE_DIR,
                 include_book: bool = False) -> list[str]:
    """The modules a computation started in ``roots`` depends on: the roots and their transitive
    l2lib imports. A book-layer module contributes itself and its imports from lower layers
    (other book modules are presentation) unless ``include_book`` (a chapter's executed notebook
    depends on its figures too); the package ``l2lib`` (its ``__init__``: the version) is always
    included."""
    graph = import_graph(package_dir)
    seen: set[str] = {PACKAGE}
    todo = [r for r in roots if r in graph and r not in NOT_COMPUTATION]
    seen |= set(todo)
    while todo:
        module = todo.pop()
        for dep in graph[module]:
            if dep in seen or dep in NOT_COMPUTATION or (
                    dep.startswith(BOOK_LAYER) and not include_book):
                continue
            seen.add(dep)
            todo.append(dep)
    return sorted(seen)


def code_hash(source: bytes | str) -> str:
    """First 12 hex digits of the sha256 of a module's *code*: its syntax tree without
    docstrings, comments, line numbers or layout (``ast.dump``), so that editing a docstring,
    a comment or the formatting keeps every result that depends on the module, while any change
    the interpreter sees (a constant, a default, a statement) does not. Source that does not
    parse is hashed as bytes."""
    raw = source.encode() if isinstance(source, str) else source
    try:
        tree = ast.parse(raw)
    except (SyntaxError, ValueError):
        return hashlib.sha256(raw).hexdigest()[:12]
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:12]


def raw_hash(source: bytes) -> str:
    """First 12 hex digits of the sha256 of the source bytes: the module hash of stores written
    before :func:`code_hash` (their ``config.json`` still records it)."""
    return hashlib.sha256(source).hexdigest()[:12]


def module_hashes(modules: Iterable[str], package_dir: Path = PACKAGE_DIR) -> dict[str, str]:
    """module → :func:`code_hash` of its source (``"missing"`` if gone)."""
    files = package_modules(package_dir)
    out = {}
    for m in modules:
        path = files.get(m)
        out[m] = code_hash(path.read_bytes()) if path else "missing"
    return out


EXPERIMENTS_LAYER = "l2lib.experiments."


def computing_modules(stack: Sequence[str]) -> list[str]:
    """The modules of a call stack (innermost first) that determine what a store holds: those up
    to and including the innermost experiment module. An experiment's function fixes everything
    it computes (settings, observers, objectives); whoever called it — another chapter reusing
    its sweep (chapter 5 reads chapter 3's), a batch runner — does not change the result, so it
    must not change the key (else the same sweep is computed and stored twice)."""
    out: list[str] = []
    for module in stack:
        out.append(module)
        if module.startswith(EXPERIMENTS_LAYER):
            break
    return out


def calling_modules(skip: int = 1) -> list[str]:
    """The l2lib modules on the current call stack (innermost first, without duplicates)."""
    frame = sys._getframe(skip)
    found: list[str] = []
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if (name == PACKAGE or name.startswith(PACKAGE + ".")) and name not in found:
            found.append(name)
        frame = frame.f_back
    return found


def code_version(modules: Iterable[str] | None = None, package_dir: Path = PACKAGE_DIR) -> str:
    """l2lib's version plus a hash of the source of ``modules`` (default: every module)."""
    names = sorted(package_modules(package_dir)) if modules is None else sorted(set(modules))
    digest = hashlib.sha256()
    for name, sha in module_hashes(names, package_dir).items():
        digest.update(f"{name}={sha};".encode())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def stale_modules(recorded: Mapping[str, str], package_dir: Path = PACKAGE_DIR) -> list[str]:
    """The modules among ``recorded`` (name → hash, as in a store's ``config.json``) whose source
    differs from the current one (a removed module counts as changed)."""
    current = module_hashes(recorded, package_dir)
    return sorted(m for m, sha in recorded.items() if current[m] != sha)


# ------------------------------------------------------------------------------------- keys

def jsonable(value: Any) -> Any:
    """A JSON-serialisable copy of configs made of dataclasses, arrays, tensors and dtypes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return jsonable(value.detach().cpu().numpy())
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.dtype | torch.device | Path):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot put {type(value).__name__} into a store key; use plain values")


def config_key(config: Mapping[str, Any], code: str | None = None) -> str:
    """16 hex digits identifying ``config`` under the code version ``code`` (default: the whole
    package's, :func:`code_version`)."""
    code = code_version() if code is None else code
    blob = json.dumps({"config": jsonable(config), "code": code}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def atomic_write_bytes(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` on a uniquely named file next to ``path``, then rename it onto
    ``path`` (concurrent writers never share a temporary file)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _atomic_save(obj: Any, path: Path) -> None:
    atomic_write_bytes(path, lambda tmp: torch.save(obj, tmp))


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """A store folder's ``config.json``; a StoreError naming the file if it is unreadable."""
    meta_path = Path(path) / "config.json"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as err:
        raise StoreError(f"cannot read {meta_path}: {err}") from err
    if not isinstance(meta, dict):
        raise StoreError(f"cannot read {meta_path}: not a JSON object")
    return meta


def _read_point_file(path: Path) -> dict[str, Any]:
    """A point file's record ``{lam, obs: {name: tensor}, state}``; a StoreError naming it if it
    is missing or damaged."""
    try:
        record = torch.load(path, weights_only=True)
        if not isinstance(record, dict) or not {"lam", "obs", "state"} <= set(record):
            raise ValueError("not a point record")
    except FileNotFoundError as err:
        raise StoreError(f"point file {path} is missing") from err
    except Exception as err:  # truncated or garbage: torch raises many kinds
        raise StoreError(
            f"point file {path} is damaged ({type(err).__name__}: {str(err)[:120]}); "
            "delete it (the sweep then recomputes it from the newest intact point)"
        ) from err
    return record


class SweepStore:
    """The folder ``root/<name>-<key>`` holding the finished points of one sweep.

    ``modules``: the l2lib modules whose code determines the result (default: those on the call
    stack where the store is opened, see the module docstring); the key covers them and their
    transitive l2lib imports. A store opened outside l2lib (no l2lib module on the stack, e.g.
    a user's own ``warm_sweep`` call) depends on every module.
    """

    def __init__(self, root: str | os.PathLike, name: str, config: Mapping[str, Any],
                 modules: Iterable[str] | None = None) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError(f"store name {name!r} may hold only letters, digits, '_', '.', '-'")
        roots = computing_modules(calling_modules(2)) if modules is None else list(modules)
        outside = not [r for r in roots if r not in NOT_COMPUTATION]
        if outside:  # opened outside l2lib (a user's own sweep): every module, to be safe
            roots = list(package_modules())
        self.modules = module_hashes(dependencies(roots, include_book=outside))
        self.code = code_version(self.modules)
        self.config = jsonable(config)
        _refuse_export_folder(Path(root).expanduser(), name)
        self.path = Path(root).expanduser() / f"{name}-{config_key(config, self.code)}"
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"cannot create the store folder {self.path}: {err.strerror}; "
                             "choose a writable results folder") from err
        meta = self.path / "config.json"
        if not meta.exists():
            text = json.dumps({"config": self.config, "code": self.code,
                               "modules": self.modules}, indent=1)
            atomic_write_bytes(meta, lambda tmp: tmp.write_text(text))

    def _point(self, index: int) -> Path:
        return self.path / f"point-{index:05d}.pt"

    def finished(self) -> int:
        """Number of points finished in order (0, 1, …, n−1 all present)."""
        present = {int(m.group(1)) for p in self.path.iterdir() if (m := _POINT.search(p.name))}
        n = 0
        while n in present:
            n += 1
        return n

    @contextlib.contextmanager
    def lock(self, wait_message: bool = True) -> Iterator[None]:
        """Hold an exclusive lock on the store (``fcntl.flock`` on ``<store>/lock``); another
        process asking for it waits until this one is done."""
        with open(self.path / "lock", "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if wait_message:
                    print(f"l2lib: waiting for another process working on {self.path}",
                          file=sys.stderr, flush=True)
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def save(
        self,
        index: int,
        lam: float,
        observations: Mapping[str, np.ndarray],
        state: Mapping[str, torch.Tensor] | None = None,
    ) -> None:
        """Write point ``index`` atomically (weights are moved to the CPU)."""
        record = {
            "lam": float(lam),
            "obs": {k: torch.as_tensor(np.asarray(v)) for k, v in observations.items()},
            "state": None if state is None else {k: v.detach().cpu() for k, v in state.items()},
        }
        _atomic_save(record, self._point(index))

    def _read(self, index: int) -> dict[str, Any]:
        return _read_point_file(self._point(index))

    def load(self, index: int) -> dict[str, Any]:
        """Point ``index`` as ``{"lam": float, "obs": {name: ndarray}, "state": dict | None}``;
        a :class:`StoreError` naming the file if it is missing or damaged."""
        record = self._read(index)
        record["obs"] = {k: v.numpy() for k, v in record["obs"].items()}
        return record

    def drop_state(self, index: int) -> None:
        """Remove the weights of point ``index`` (keeps its observations)."""
        record = self._read(index)
        if record["state"] is not None:
            record["state"] = None
            _atomic_save(record, self._point(index))

    def quarantine(self, index: int, reason: str = "") -> Path:
        """Move point ``index`` aside to ``point-NNNNN.pt.damaged-<time>`` (kept for inspection,
        no longer counted as finished) and warn naming it; returns the new path."""
        path = self._point(index)
        target = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%dT%H%M%S')}")
        os.replace(path, target)
        warnings.warn(f"{path}: {reason or 'damaged'}; moved aside to {target.name}",
                      stacklevel=2)
        return target

    def resume_point(self, n_points: int) -> tuple[int, dict[str, Any] | None]:
        """Where a warm sweep of ``n_points`` resumes: ``(start, state)`` with ``start`` the first
        point to compute and ``state`` the weights of point ``start − 1`` (None when
        ``start == 0``). Damaged points are quarantined; finished points after the newest intact
        one with weights are recomputed (a warm sweep needs the previous weights)."""
        done = min(self.finished(), n_points)
        intact = done
        for i in range(done):  # every finished point must be readable
            try:
                self._read(i)
            except StoreError as err:
                self.quarantine(i, str(err))
                intact = i
                break
        for start in range(intact, 0, -1):
            state = self._read(start - 1)["state"]
            if state is not None:
                return start, state
        return 0, None


def _refuse_export_folder(root: Path, name: str) -> None:
    """A StoreError if ``root`` holds this store exported as CSV (:func:`export_store_csv`): a
    folder of exported results (e.g. ``results-reference/<chapter>/stores``) has no weights to
    resume from, so a run pointed at it would silently compute everything again beside them."""
    if not root.is_dir():
        return
    exported_name = re.compile(re.escape(name) + r"-[0-9a-f]{16}\.json")
    for sidecar in root.iterdir():
        table = sidecar.with_suffix(".csv")
        if not (exported_name.fullmatch(sidecar.name) and table.is_file()):
            continue
        try:
            exported = json.loads(sidecar.read_text()).get("format") == CSV_FORMAT
        except (OSError, ValueError, AttributeError):
            continue
        if exported:
            raise StoreError(
                f"{root} holds the store {name!r} exported as CSV ({table.name}), not a result "
                "store: a run here would compute everything again. Read exported results with "
                "l2lib.book.reference.load_reference_run(...).sweep(name); give new runs their "
                "own results folder (--results / store_root)")


def open_store(
    root: str | os.PathLike | None, name: str, config: Mapping[str, Any],
    modules: Iterable[str] | None = None,
) -> SweepStore | None:
    """``SweepStore(root, name, config)``, or None (nothing stored) when ``root`` is None.
    ``modules`` as in :class:`SweepStore` (default: the callers' modules)."""
    if root is None:
        return None
    return SweepStore(root, name, config,
                      computing_modules(calling_modules(2)) if modules is None else modules)


# ------------------------------------------------------------------------------- CSV export

CSV_FORMAT = 1  # version of the sidecar layout written by export_store_csv


def read_points(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The finished points (0, 1, …, n−1) of the store folder ``path``, without weights, as
    ``{"lam": float, "obs": {name: ndarray}}``; a StoreError naming a damaged file."""
    folder = Path(path)
    present = {int(m.group(1)) for p in folder.iterdir() if (m := _POINT.search(p.name))}
    points = []
    while len(points) in present:
        record = _read_point_file(folder / f"point-{len(points):05d}.pt")
        points.append({"lam": float(record["lam"]),
                       "obs": {k: torch.as_tensor(v).numpy() for k, v in record["obs"].items()}})
    return points


def csv_column(name: str, index: tuple[int, ...]) -> str:
    """The CSV column of entry ``index`` of observation ``name``: ``name`` for a scalar,
    ``name[k]``, ``name[k,j]``, … otherwise."""
    return name if not index else f"{name}[{','.join(str(i) for i in index)}]"


def _format(values: np.ndarray) -> list[str]:
    """Each entry as text that reads back to the same value: the shortest decimal that
    round-trips in its own float type (numpy's repr: ``nan``, ``inf``, ``-0.0`` included),
    integers in full, booleans as True/False."""
    kind = values.dtype.kind
    if kind == "f":
        return [str(v) for v in values.ravel()]
    if kind in "iu":
        return [str(int(v)) for v in values.ravel()]
    if kind == "b":
        return [str(bool(v)) for v in values.ravel()]
    raise StoreError(f"cannot write an observation of dtype {values.dtype} to CSV; store it "
                     "as float, integer or bool")


def _parse(text: str, dtype: np.dtype) -> Any:
    # float16/32 go through float64: exact, since 53 >= 2·24 + 2 bits (no double rounding)
    if dtype.kind == "f":
        return dtype.type(float(text))
    if dtype.kind in "iu":
        return dtype.type(int(text))
    if text not in ("True", "False"):
        raise ValueError(f"{text!r} is not True or False")
    return text == "True"


def _observations(points: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """name → {dtype, shape (per point; None if it varies), point_shapes (only then)}."""
    names: dict[str, None] = {}
    for p in points:
        names.update(dict.fromkeys(p["obs"]))
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        if "[" in name or "," in name or name in ("point", "lam"):
            raise StoreError(f"observation name {name!r} cannot be a CSV column stem; rename it "
                             "(no '[' or ',', not 'point' or 'lam')")
        shapes = [list(np.shape(p["obs"][name])) if name in p["obs"] else None for p in points]
        dtype = np.result_type(*[p["obs"][name] for p in points if name in p["obs"]])
        entry: dict[str, Any] = {"dtype": str(dtype), "shape": shapes[0]}
        if any(s != shapes[0] for s in shapes):  # ragged (e.g. jamming batches) or absent
            entry = {"dtype": str(dtype), "shape": None, "point_shapes": shapes}
        out[name] = entry
    return out


def _point_shape(entry: Mapping[str, Any], i: int) -> tuple[int, ...] | None:
    shape = entry["shape"] if entry.get("shape") is not None else entry["point_shapes"][i]
    return None if shape is None else tuple(shape)


def _columns(observations: Mapping[str, Mapping[str, Any]], n_points: int) -> list[str]:
    """Column names: point, lam, then each observation's entries in np.ndindex order (for a
    ragged observation, the union over points in order of first appearance)."""
    columns: dict[str, None] = {"point": None, "lam": None}
    for name, entry in observations.items():
        for i in range(n_points if entry.get("shape") is None else 1):
            shape = _point_shape(entry, i)
            if shape is not None:
                columns.update(dict.fromkeys(csv_column(name, ix) for ix in np.ndindex(*shape)))
    return list(columns)


def write_points_csv(points: list[dict[str, Any]], path: str | os.PathLike
                     ) -> dict[str, dict[str, Any]]:
    """Write ``points`` (as :func:`read_points` gives them) to the CSV file ``path`` atomically:
    one row per point, columns ``point``, ``lam`` and every observation entry
    (:func:`csv_column`); an entry a point lacks is an empty cell. Returns the observations'
    description for the sidecar (dtype, shape per point) that :func:`read_points_csv` needs."""
    import csv
    import io

    observations = _observations(points)
    columns = _columns(observations, len(points))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for i, p in enumerate(points):
        row = dict.fromkeys(columns, "")
        row["point"], row["lam"] = str(i), repr(float(p["lam"]))
        for name, values in p["obs"].items():
            array = np.asarray(values, dtype=observations[name]["dtype"])
            cells = _format(array)
            for ix, text in zip(np.ndindex(*array.shape), cells, strict=True):
                row[csv_column(name, ix)] = text
        writer.writerow(row.values())
    text = buffer.getvalue()
    atomic_write_bytes(Path(path), lambda tmp: tmp.write_text(text))
    return observations


def read_points_csv(path: str | os.PathLike, observations: Mapping[str, Mapping[str, Any]]
                    ) -> list[dict[str, Any]]:
    """The points of a CSV written by :func:`write_points_csv`, given its observations'
    description: ``[{"lam": float, "obs": {name: ndarray}}]`` with the original shapes and
    dtypes. A StoreError naming the file if it does not match the description."""
    import csv

    path = Path(path)
    try:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
    except OSError as err:
        raise StoreError(f"cannot read {path}: {err.strerror}") from err
    if not rows:
        raise StoreError(f"{path} is empty; export the store again")
    header, body = rows[0], rows[1:]
    expected = _columns(observations, len(body))
    if header != expected:
        extra, missing = sorted(set(header) - set(expected)), sorted(set(expected) - set(header))
        raise StoreError(f"{path}: its columns do not match its .json sidecar (unexpected "
                         f"{extra[:5]}, missing {missing[:5]}); export the store again")
    position = {c: j for j, c in enumerate(header)}
    points = []
    for i, row in enumerate(body):
        try:
            if len(row) != len(header) or int(row[0]) != i:
                raise ValueError(f"{len(row)} cells, point {row[:1]}")
            obs = {}
            for name, entry in observations.items():
                shape = _point_shape(entry, i)
                if shape is None:
                    continue
                dtype = np.dtype(entry["dtype"])
                cells = [row[position[csv_column(name, ix)]] for ix in np.ndindex(*shape)]
                obs[name] = np.array([_parse(c, dtype) for c in cells],
                                     dtype=dtype).reshape(shape)
            points.append({"lam": float(row[1]), "obs": obs})
        except (ValueError, TypeError) as err:
            raise StoreError(f"{path}: row of point {i} cannot be read ({err}); export the "
                             "store again") from err
    return points


WEIGHT_OBSERVATIONS = ("theta",)
"""Observations that are weights, not measurements (a jamming scan keeps each run's flat
parameter vector to minimise it further): never exported, like the point's ``state``."""


def export_store_csv(store_dir: str | os.PathLike, out_dir: str | os.PathLike
                     ) -> tuple[Path, Path]:
    """Write the store folder ``store_dir`` (``<name>-<key>``) as ``out_dir/<name>-<key>.csv``
    (:func:`write_points_csv`; weights are never written: neither the state nor the
    observations in :data:`WEIGHT_OBSERVATIONS`) and ``.json`` (the store's ``config.json``
    verbatim under ``metadata``, the number of points, the observations' dtypes and shapes,
    the observations left out). Returns both paths."""
    store_dir, out_dir = Path(store_dir), Path(out_dir)
    meta = read_metadata(store_dir)
    points = [{"lam": p["lam"], "obs": {k: v for k, v in p["obs"].items()
                                        if k not in WEIGHT_OBSERVATIONS}}
              for p in read_points(store_dir)]
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out_dir / f"{store_dir.name}.csv", out_dir / f"{store_dir.name}.json"
    observations = write_points_csv(points, csv_path)
    sidecar = {"format": CSV_FORMAT, "store": store_dir.name, "points": len(points),
               "observations": observations, "metadata": meta,
               "left_out": list(WEIGHT_OBSERVATIONS)}
    text = json.dumps(sidecar, indent=1)
    atomic_write_bytes(json_path, lambda tmp: tmp.write_text(text))
    return csv_path, json_path


def read_store_csv(path: str | os.PathLike) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(sidecar, points)`` of a store exported by :func:`export_store_csv` (``path``: its
    .csv; the .json beside it is read too)."""
    path = Path(path)
    sidecar_path = path.with_name(path.name.removesuffix(".csv") + ".json")
    try:
        sidecar = json.loads(sidecar_path.read_text())
        observations = sidecar["observations"]
        n_points = int(sidecar["points"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise StoreError(f"cannot read the sidecar {sidecar_path} of {path.name} ({err}); "
                         "export the store again") from err
    points = read_points_csv(path, observations)
    if len(points) != n_points:
        raise StoreError(f"{path} holds {len(points)} points, its sidecar says {n_points}; "
                         "export the store again")
    return sidecar, points
