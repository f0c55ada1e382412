"""l2lib.store: keys from the configuration and the code a computation uses, metadata that says
which module changed, damaged files named, unique temporary files, the per-store lock."""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from l2lib import store as store_lib
from l2lib.store import (
    StoreError,
    SweepStore,
    code_version,
    config_key,
    dependencies,
    module_hashes,
    read_metadata,
    stale_modules,
)
from l2lib.train.loop import TrainConfig

PACKAGE = Path(store_lib.__file__).resolve().parent


def test_store_key_covers_config_and_code(tmp_path):
    a = SweepStore(tmp_path, "s", {"lr": 0.1, "grid": np.arange(3)})
    assert a.path == SweepStore(tmp_path, "s", {"grid": [0, 1, 2], "lr": 0.1}).path
    assert a.path != SweepStore(tmp_path, "s", {"lr": 0.2, "grid": np.arange(3)}).path
    meta = json.loads((a.path / "config.json").read_text())
    assert meta["code"] == a.code and "+" in a.code and meta["modules"] == a.modules
    assert config_key({"x": TrainConfig()}) != config_key({"x": TrainConfig(lr=1.0)})
    with pytest.raises(TypeError, match="store key"):
        config_key({"f": object()})
    with pytest.raises(ValueError, match="store name"):
        SweepStore(tmp_path, "bad/name", {})


def test_dependencies_are_the_transitive_imports_without_the_book():
    deps = dependencies(["l2lib.experiments.onset"])
    assert {"l2lib.experiments.onset", "l2lib.train.sweep", "l2lib.train.loop",
            "l2lib.models.mlp", "l2lib"} <= set(deps)
    assert not any(d.startswith("l2lib.book") for d in deps) and "l2lib.store" not in deps
    assert "l2lib.experiments.vae" not in deps  # another chapter
    # a book module counts itself and its lower-layer imports, not other book modules
    batch = dependencies(["l2lib.book.batch", "l2lib.book.cli"])
    assert "l2lib.book.batch" in batch and "l2lib.train.sweep" in batch
    assert "l2lib.book.notebooks" not in batch and "l2lib.book.cli" not in batch


def test_a_store_opened_from_a_module_depends_on_that_module(tmp_path):
    from l2lib.train.sweep import hysteresis_sweep  # noqa: F401 (opens its stores itself)

    s = SweepStore(tmp_path, "m", {}, modules=["l2lib.train.sweep"])
    assert "l2lib.train.loop" in s.modules and "l2lib.experiments.onset" not in s.modules
    # opened outside l2lib (here: a test) it cannot know what runs: every module counts
    bare = SweepStore(tmp_path, "m", {})
    assert "l2lib.train.loop" in bare.modules and "l2lib.book.plots" in bare.modules


def test_editing_an_unrelated_module_keeps_the_key_editing_the_loop_changes_it(tmp_path):
    copy = tmp_path / "l2lib"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "mnist10k"))
    roots = ["l2lib.experiments.onset"]

    def key():
        deps = dependencies(roots, copy)
        return code_version(deps, copy), module_hashes(deps, copy)

    before, recorded = key()
    for unrelated in ("book/plots.py", "book/report.py", "experiments/vae.py"):
        with open(copy / unrelated, "a") as f:
            f.write("\n# a comment\n")
    assert key()[0] == before and stale_modules(recorded, copy) == []
    loop = copy / "train/loop.py"
    source = loop.read_text()
    # a comment, a docstring and the layout are not code: the key stays
    edited = source.replace('"""One training loop', '"""The one training loop', 1)
    loop.write_text(edited.replace("\n\n\n", "\n\n\n# a comment\n", 1) + "\n\n")
    assert edited != source and key()[0] == before and stale_modules(recorded, copy) == []
    # a changed constant is code
    loop.write_text(source.replace("DIVERGENCE_FACTOR = 1e6", "DIVERGENCE_FACTOR = 1e7"))
    assert key()[0] != before
    assert stale_modules(recorded, copy) == ["l2lib.train.loop"]


def test_damaged_and_missing_point_files_are_named(tmp_path):
    s = SweepStore(tmp_path, "p", {"a": 1})
    s.save(0, 0.1, {"x": np.ones(2)}, {"w": torch.ones(2)})
    (s.path / "point-00000.pt").write_bytes(b"garbage")
    for call in (s.load, s.drop_state):
        with pytest.raises(StoreError, match=r"point-00000\.pt is damaged.*delete it"):
            call(0)
    with pytest.raises(StoreError, match=r"point-00001\.pt is missing"):
        s.load(1)
    with pytest.warns(UserWarning, match="point-00000.pt"):
        moved = s.quarantine(0, "bad")
    assert moved.exists() and s.finished() == 0


def test_unreadable_metadata_is_reported_not_guessed(tmp_path):
    s = SweepStore(tmp_path, "u", {"a": 1})
    assert read_metadata(s.path)["config"] == {"a": 1}
    (s.path / "config.json").write_text("{truncated")
    with pytest.raises(StoreError, match="config.json"):
        read_metadata(s.path)


def test_unwritable_root_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="writable results folder"):
        SweepStore(blocker, "x", {})


def test_concurrent_writers_use_their_own_temporary_files(tmp_path):
    s = SweepStore(tmp_path, "t", {})
    seen = []
    original = store_lib.atomic_write_bytes

    def spy(path, write):
        original(path, lambda tmp: (seen.append(tmp.name), write(tmp)))

    store_lib.atomic_write_bytes = spy
    try:
        s.save(0, 0.0, {"x": np.zeros(1)})
        s.save(0, 0.0, {"x": np.zeros(1)})
    finally:
        store_lib.atomic_write_bytes = original
    assert len(set(seen)) == 2 and not list(s.path.glob("*.tmp"))


def test_the_lock_excludes_another_process(tmp_path):
    s = SweepStore(tmp_path, "l", {})
    script = textwrap.dedent(f"""
        import fcntl, sys
        with open({str(s.path / 'lock')!r}, 'a+') as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                sys.exit(3)
    """)
    with s.lock():
        held = subprocess.run([sys.executable, "-c", script]).returncode
    free = subprocess.run([sys.executable, "-c", script]).returncode
    assert (held, free) == (3, 0)


def test_code_hash_ignores_docstrings_comments_and_layout_not_code():
    from l2lib.store import code_hash, raw_hash

    base = 'def f(x):\n    """Doc."""\n    return x + 1\n'
    assert code_hash(base) == code_hash('def f(x):\n    """Other doc."""\n\n    return x+1  # c\n')
    assert code_hash(base) == code_hash("def f(x):\n    return x + 1\n")
    assert code_hash(base) != code_hash('def f(x):\n    """Doc."""\n    return x + 2\n')
    assert code_hash(b"def (") == raw_hash(b"def (")  # unparsable: the bytes


@pytest.mark.parametrize("opener", ["SweepStore", "open_store"])
def test_a_sweep_reused_by_another_chapter_keeps_its_key(tmp_path, opener):
    """Chapter 5 calls chapter 3's sweep: the store it opens must be chapter 3's (same key), not
    a second copy keyed by chapter 5's modules too — whichever way the experiment opens it (the
    chapters use ``open_store``, which once passed the whole call stack on and so recomputed
    chapter 3's sweep inside chapter 5)."""
    from l2lib.store import computing_modules

    stack = ["l2lib.train.sweep", "l2lib.experiments.regimes", "l2lib.experiments.pathfinder",
             "l2lib.book.batch"]
    assert computing_modules(stack) == ["l2lib.train.sweep", "l2lib.experiments.regimes"]
    assert computing_modules(["l2lib.train.sweep", "l2lib.book.batch"]) == [
        "l2lib.train.sweep", "l2lib.book.batch"]  # no experiment: the whole stack counts

    def open_from(module_name):
        code = (f"from l2lib.store import {opener}\n"
                f"def inner(root):\n    return {opener}(root, 's', {{'a': 1}})\n")
        inner_ns = {"__name__": "l2lib.experiments.regimes"}
        exec(compile(code, "regimes", "exec"), inner_ns)
        outer_ns = {"__name__": module_name, "inner": inner_ns["inner"]}
        exec(compile("def outer(root):\n    return inner(root)\n", "outer", "exec"), outer_ns)
        return outer_ns["outer"](tmp_path)

    direct, reused = open_from("l2lib.book.notebooks"), open_from("l2lib.experiments.pathfinder")
    assert direct.path == reused.path
    assert "l2lib.experiments.pathfinder" not in reused.modules


def test_a_folder_of_exported_results_is_not_a_store(tmp_path):
    """Pointing a run at exported CSV results (no weights to resume from) is an error naming
    the fix, not a silent recomputation beside them; other stores there are unaffected."""
    from l2lib.store import export_store_csv
    source = SweepStore(tmp_path / "runs", "sweep-a", {"lr": 0.1})
    source.save(0, 0.0, {"x": np.array([1.0])})
    exported = tmp_path / "exported"
    export_store_csv(source.path, exported)
    with pytest.raises(StoreError, match="exported as CSV .*own results folder"):
        SweepStore(exported, "sweep-a", {"lr": 0.1})
    with pytest.raises(StoreError, match="exported as CSV"):  # any config: it is the folder
        SweepStore(exported, "sweep-a", {"lr": 0.2})
    assert SweepStore(exported, "sweep-b", {"lr": 0.1}).path.parent == exported
    assert SweepStore(exported, "sweep", {"lr": 0.1}).path.parent == exported  # a prefix only
