"""The command line: a real chapter with a parameter override, clear errors for bad arguments,
sweeps from config files, listing and clearing stores. (`l2lib report`, the "Does it reproduce?"
page: tests/test_book_reproduce.py.)"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from l2lib.book import batch, cli, report
from l2lib.store import SweepStore

ROOT = Path(__file__).resolve().parents[1]


def test_the_module_has_help():
    out = subprocess.run([sys.executable, "-m", "l2lib", "--help"], capture_output=True,
                         text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "report" in out.stdout


def test_a_real_chapter_runs_in_the_smoke_profile_with_an_override(tmp_path):
    book = tmp_path / "book"
    shutil.copytree(ROOT / "book" / "chapters", book / "chapters")
    results = tmp_path / "results"
    status = cli.main(["run", "onset", "--profile", "smoke", "-p", "seed", "3", "--book",
                       str(book), "--results", str(results), "--no-progress"])
    assert status == 0
    [run] = (results / "runs" / "01_onset").glob("*seed-3*")  # a -p run gets its own folder
    executed = run / "01_onset.ipynb"
    notebook = nbformat.read(executed, 4)
    injected = next(c for c in notebook.cells if "injected-parameters" in c.metadata.tags)
    assert "seed = 3" in injected.source and 'profile = "smoke"' in injected.source
    banner = notebook.cells[[c.metadata.get("tags", []) for c in notebook.cells]
                            .index(injected.metadata.tags) + 1]
    text = "".join(o.get("data", {}).get("text/markdown", "") for o in banner.outputs)
    assert "seed 3" in text and "`smoke`" in text  # the run banner states the override
    summary = json.loads((run / "summaries" / "01_onset.json").read_text())
    assert summary["provenance"]["seed"] == 3 and summary["provenance"]["profile"] == "smoke"
    assert summary["findings"] and all(f["paper"] and f["companion"] for f in summary["findings"])
    assert batch.recorded_run(executed)["parameters"]["seed"] == 3
    assert not (run / "01_onset.partial.ipynb").exists()
    assert "seed,norm" in (results / "runs" / "01_onset" / "runs.csv").read_text() or \
        "seed" in (results / "runs" / "01_onset" / "runs.csv").read_text().splitlines()[0]


@pytest.mark.parametrize("args,message", [
    (["run", "07_nothing"], "unknown chapter '07_nothing'; available: 01_onset, 02_curvature"),
    (["run", "onset", "--profile", "fast"], "unknown profile 'fast'"),
    (["run", "onset", "-p", "sede", "3"], "has no parameter 'sede'; its parameters are profile"),
    (["run", "onset", "-p", "seed", "three"], "'seed' must be an integer"),
    (["run", "onset", "-p", "profile", "huge"], "unknown profile 'huge'"),
    (["run", "onset", "-p", "device", "gpu"], "parameter 'device' = 'gpu' is not supported"),
    (["run", "onset", "-p", "device", "mps"], "parameter 'device' = 'mps' is not supported"),
    (["run", "onset", "-p", "seed", "-1"], "parameter 'seed' must be a non-negative integer"),
    (["sweep", "missing.toml"], "missing.toml does not exist"),
    (["results", "clear"], "name the stores to clear"),
    (["results", "clear", "nosuchstore"], "no store matches ['nosuchstore']"),
    (["report", "--paper-results", "/nonexistent/folder"],
     "/nonexistent/folder (--paper-results) does not exist"),
])
def test_bad_arguments_give_clear_messages(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    if args[0] in {"results", "report"}:
        args = [*args, "--results", str(tmp_path)]
    assert cli.main(args) == 2
    assert message in capsys.readouterr().err


def test_conflicting_dask_options_are_refused(capsys):
    with pytest.raises(SystemExit):
        cli.main(["run", "--workers", "2", "--scheduler", "tcp://localhost:8786"])
    assert "not allowed with" in capsys.readouterr().err


CONFIG = """
name = "cli"
dataset = "digits"
n_train = 120
n_test = 60
device = "cpu"
seeds = [0]
direction = "up"

[model]
hidden = [5]
activation = "tanh"

[train]
optimizer = "sgd"
lr = 0.5
batch_size = "full"
max_epochs = 5
patience = 2

[lams]
start = 0.0
stop = 0.2
num = 3
"""


@pytest.mark.parametrize("edit,message", [
    (lambda c: c.replace('name = "cli"', 'name = "a b"'), "name = '...' is required"),
    (lambda c: c.replace('seeds = [0]', 'seeds = [0]\ncolour = "red"'), "unknown setting(s)"),
    (lambda c: c.replace("lr = 0.5", "lr = 0.5\nmomentum = 0.9"), "unknown [train] setting"),
    (lambda c: c.replace('"digits"', '"cifar"'), "unknown dataset 'cifar'"),
    (lambda c: c.replace("num = 3", "num = 0"), "num must be a positive integer"),
    (lambda c: c.replace("stop = 0.2", "stop = -0.2"), "grid must be non-negative"),
    (lambda c: c.replace('direction = "up"', 'direction = "sideways"'), "direction must be"),
    (lambda c: c.replace('seeds = [0]', 'seeds = [0]\nlam_blocks = 2'), "kind = 'independent'"),
    (lambda c: c.replace("hidden = [5]", "hidden = 5"), "list of layer widths"),
    (lambda c: c.replace("[lams]", "[lams"), "is malformed"),
    (lambda c: c.replace("lr = 0.5", 'lr = "0.5"'),
     "[train] training setting lr must be a number, got '0.5' (str); write e.g. lr = 0.5"),
    (lambda c: c.replace('device = "cpu"', 'device = "mps"'), "device = 'mps' is not supported"),
    (lambda c: c.replace("seeds = [0]", "seeds = [0, -3]"),
     "seeds entry must be a non-negative integer"),
])
def test_malformed_sweep_configs_are_explained(edit, message, tmp_path, capsys):
    path = tmp_path / "sweep.toml"
    path.write_text(edit(CONFIG))
    assert cli.main(["sweep", str(path), "--results", str(tmp_path), "--dry-run"]) == 2
    assert message in capsys.readouterr().err


def test_sweep_from_toml_and_json_share_the_store_and_resume(tmp_path, capsys):
    toml = tmp_path / "sweep.toml"
    toml.write_text(CONFIG)
    assert cli.main(["sweep", str(toml), "--results", str(tmp_path), "--no-progress"]) == 0
    assert "3 of 3 points/chunks computed now" in capsys.readouterr().out
    import tomllib

    as_json = tmp_path / "sweep.json"
    as_json.write_text(json.dumps(tomllib.loads(CONFIG)))
    assert cli.main(["sweep", str(as_json), "--results", str(tmp_path), "--no-progress"]) == 0
    assert "0 of 3 points/chunks computed now, 3 taken from the store" in capsys.readouterr().out
    stores = list((tmp_path / "store").iterdir())
    assert len(stores) == 1 and stores[0].name.startswith("cli-digits-h5-tanh-s0-up-")


def test_results_list_and_clear(tmp_path, capsys):
    fresh = SweepStore(tmp_path / "store", "linear-D1", {"a": 1})
    fresh.save(0, 0.0, {"norm": [1.0]})
    other = SweepStore(tmp_path / "store", "mlp-2h", {"a": 2})
    stale = SweepStore(tmp_path / "store", "linear-D2", {"a": 3})
    meta = json.loads((stale.path / "config.json").read_text())
    meta["modules"]["l2lib.train.loop"] = "000000000000"  # as if the loop had changed since
    (stale.path / "config.json").write_text(json.dumps(meta))
    unreadable = SweepStore(tmp_path / "store", "broken", {"a": 4})
    (unreadable.path / "config.json").write_text("{trunc")
    report.write_summary("01_onset", {"x": 1.0}, report.provenance("smoke", "cpu", 0), tmp_path)
    results = ["--results", str(tmp_path)]

    assert cli.main(["results", "list", *results]) == 0
    out = capsys.readouterr().out
    assert "linear-D1" in out and "1 points" in out and "01_onset" in out
    assert "stale: changed since: l2lib.train.loop" in out and "UNREADABLE" in out

    assert cli.main(["results", "clear", "linear-*", *results]) == 1  # no --yes: only listed
    assert "would remove" in capsys.readouterr().out and stale.path.exists()
    assert cli.main(["results", "clear", "--stale", "--yes", *results]) == 0
    assert not stale.path.exists() and fresh.path.exists() and other.path.exists()
    assert unreadable.path.exists() and "keeping" in capsys.readouterr().out
    assert cli.main(["results", "clear", fresh.path.name, "--yes", *results]) == 0
    assert not fresh.path.exists() and other.path.exists()
    assert cli.main(["results", "clear", "--all", "--yes", *results]) == 0
    assert not other.path.exists()


def write_config(tmp_path, text=CONFIG):
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    return str(path)


def test_unwritable_results_folder_is_named(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert cli.main(["sweep", write_config(tmp_path), "--results", str(blocker / "r")]) == 2
    err = capsys.readouterr().err
    assert "results folder" in err and "not writable" in err and "--results DIR" in err
    assert err.count("\n") == 1


def test_unreachable_scheduler_fails_fast(tmp_path, capsys, monkeypatch):
    import time

    monkeypatch.setattr(batch, "SCHEDULER_TIMEOUT_S", 1.0)
    clock = time.monotonic()
    assert cli.main(["sweep", write_config(tmp_path), "--results", str(tmp_path),
                     "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert time.monotonic() - clock < 15
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9' within 1 s" in err


def test_corrupt_idx_files_are_named(tmp_path, capsys):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"\x00\x01garbage" * 10)
    root = raw.parents[1]
    text = CONFIG.replace('dataset = "digits"', f'dataset = "mnist"\ndata_root = "{root}"')
    assert cli.main(["sweep", write_config(tmp_path, text), "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "dataset 'mnist' from" in err and "cannot be read" in err and "download again" in err
