"""Reference results (l2lib.book.reference): the exact CSV codec of stores, the export with
provenance, staleness, expected verdicts and slice checks — each with a doctored input that must
fail — and the ``l2lib reference`` command line."""

import csv
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from l2lib.analysis.findings import Finding, Verdict
from l2lib.book import cli, reference, report
from l2lib.store import StoreError, SweepStore, read_store_csv
from l2lib.train.sweep import SweepResult

K, J = 3, 2
SPECIAL = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-38, 0.1, 1 / 3, 3.4e38, 123456.789])


def point_obs(i: int) -> dict[str, np.ndarray]:
    """Observations of every kind: scalar, (K,), (K, J); float32/64, int, bool; NaN, ±inf."""
    rng = np.random.default_rng(i)
    acc = rng.random(K).astype(np.float32) / 3
    acc[i % K] = SPECIAL[i % len(SPECIAL)]
    return {"loss": np.float64(1 / (i + 3)),
            "acc": acc,
            "w": rng.standard_normal((K, J)) * 10.0 ** rng.integers(-20, 20, (K, J)),
            "epochs": np.array([7 * i, 2**40, -1][:K], dtype=np.int64),
            "saddle": np.array([True, False, i % 2 == 0][:K])}


def make_store(root, name="regimes-toy-up", n=9, config=None):
    store = SweepStore(root, name, config or {"a": 1})
    lams = np.linspace(0.0, 0.1, n)
    for i, lam in enumerate(lams):
        store.save(i, lam, point_obs(i), {"w": torch.zeros(2)} if i == n - 1 else None)
    return store, lams


def identical(a: np.ndarray, b: np.ndarray) -> bool:
    """Same dtype, shape and bits (so NaN, -0.0 and every last digit count)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# ---------------------------------------------------------------------------------- CSV codec

def test_a_store_round_trips_exactly_through_csv(tmp_path):
    store, lams = make_store(tmp_path / "store")
    from l2lib.store import export_store_csv

    csv_path, json_path = export_store_csv(store.path, tmp_path / "out")
    header = next(csv.reader(csv_path.open()))
    assert header[:3] == ["point", "lam", "loss"]
    assert "acc[2]" in header and header.index("w[0,1]") == header.index("w[0,0]") + 1
    assert "w[1,0]" in header and "saddle[2]" in header
    sidecar = json.loads(json_path.read_text())
    assert sidecar["points"] == len(lams) and sidecar["metadata"]["config"] == {"a": 1}
    assert sidecar["observations"]["acc"] == {"dtype": "float32", "shape": [K]}
    assert "state" not in csv_path.read_text() and not list((tmp_path / "out").glob("*.pt"))

    result = reference.load_store_csv(csv_path)
    assert isinstance(result, SweepResult) and result.direction == "up"
    assert identical(result.lams, lams)
    for name in ("loss", "acc", "w", "epochs", "saddle"):
        stacked = np.stack([point_obs(i)[name] for i in range(len(lams))])
        assert identical(result.obs[name], stacked), name
    assert np.isnan(result.obs["acc"]).any() and np.isinf(result.obs["acc"]).any()


def test_a_doctored_csv_is_named(tmp_path):
    store, _ = make_store(tmp_path / "store")
    from l2lib.store import export_store_csv

    csv_path, _ = export_store_csv(store.path, tmp_path / "out")
    text = csv_path.read_text()
    csv_path.write_text(text.replace("acc[1],", "acc[9],", 1))
    with pytest.raises(StoreError, match="columns do not match"):
        reference.load_store_csv(csv_path)
    lines = text.splitlines()
    csv_path.write_text("\n".join(lines[:-1]) + "\n")  # a point lost
    with pytest.raises(StoreError, match="sidecar says 9"):
        reference.load_store_csv(csv_path)


def test_ragged_observations_round_trip_point_by_point(tmp_path):
    """Jamming scans store batches of varying size: exact point by point; as a SweepResult only
    over points of one shape."""
    store = SweepStore(tmp_path / "store", "jamming-random-L2-h4", {"a": 1})
    sizes = [3, 1, 2]
    for i, k in enumerate(sizes):
        obs = {"n_delta": np.arange(k, dtype=np.float32) + 0.1, "round": np.full(k, i)}
        if i == 1:
            obs["extra"] = np.float64(np.nan)
        store.save(i, float(i), obs)
    from l2lib.store import export_store_csv

    csv_path, _ = export_store_csv(store.path, tmp_path / "out")
    _, points = read_store_csv(csv_path)
    assert [p["obs"]["n_delta"].shape for p in points] == [(k,) for k in sizes]
    assert identical(points[2]["obs"]["n_delta"], np.arange(2, dtype=np.float32) + 0.1)
    assert "extra" not in points[0]["obs"] and np.isnan(points[1]["obs"]["extra"])
    with pytest.raises(ValueError, match="'n_delta' has a different shape"):
        reference.load_store_csv(csv_path)
    first = reference.load_store_csv(csv_path, n_points=1)  # a slice: one batch of a scan
    assert first.obs["n_delta"].shape == (1, 3) and "extra" not in first.obs
    assert identical(first.obs["round"][0], np.zeros(3, dtype=np.int64))


def test_direction_from_config_then_name():
    assert reference.store_name("vae-digits-down-0123456789abcdef") == "vae-digits-down"
    with pytest.raises(ValueError, match="not a store folder"):
        reference.store_name("vae-digits-down")


def test_direction_of_loaded_stores(tmp_path):
    from l2lib.store import export_store_csv

    down, _ = make_store(tmp_path / "store", "vae-toy-down", n=2)
    configured, _ = make_store(tmp_path / "store", "minima-toy", n=2,
                               config={"direction": "down"})
    plain, _ = make_store(tmp_path / "store", "minima-toy", n=2)
    got = [reference.load_store_csv(export_store_csv(s.path, tmp_path / "out")[0]).direction
           for s in (down, configured, plain)]
    assert got == ["down", "down", "up"]


# ------------------------------------------------------------------------ chapters of stores

# the stores of `l2lib run --profile smoke` (all chapters), and their chapters
SMOKE_STORES = {
    "linear-D1-up": "01_onset", "linear-D2-down": "01_onset", "digits-mlp-1h-up": "01_onset",
    "digits-mlp-2h-down": "01_onset", "curvature-linear-D1": "02_curvature",
    "curvature-digits-2h": "02_curvature", "regimes-digits-up": "03_regimes",
    "regimes-mnist-10k-down": "03_regimes", "vae-digits-up": "04_vae",
    "minima-digits": "05_pathfinder", "pathfinder-digits": "05_pathfinder",
    "bezier-digits": "05_pathfinder", "towards-digits": "05_pathfinder",
    "jamming-random-L2-h22": "06_jamming", "jamming-random-L2-h22-polish": "06_jamming",
    "jamming-random-L2-h22-seeds3-5-converged": "06_jamming",
}


@pytest.mark.parametrize("name,stem", sorted(SMOKE_STORES.items()))
def test_every_chapter_store_has_its_chapter(name, stem):
    assert reference.chapter_of_store(name) == stem
    assert reference.chapter_of_store(f"{name}-0123456789abcdef") == stem


@pytest.mark.parametrize("name", ["sweep-up", "cli-digits-h5-tanh-s0-up", "mlp-2h"])
def test_a_store_of_no_chapter_is_named(name):
    with pytest.raises(ValueError, match=f"store '{name}' belongs to no chapter"):
        reference.chapter_of_store(name)


def test_chapter_names_resolve():
    assert reference.resolve_chapters(["3", "vae", "06_jamming", "03"]) == [
        "03_regimes", "04_vae", "06_jamming"]
    assert reference.resolve_chapters([]) == list(reference.CHAPTERS)
    with pytest.raises(ValueError, match="unknown chapter 'nine'"):
        reference.resolve_chapters(["nine"])


# ------------------------------------------------------------------------------------ export

def finding(key, verdict=Verdict.AGREES):
    note = "" if Verdict(verdict).is_evidence else "a reason"
    return Finding(key, f"claim {key}", "paper value", "our value", verdict, note)


def write_results(results, profile="reference", verdicts=None):
    """Two chapters' summaries and stores, as a reference run leaves them."""
    verdicts = verdicts or {}
    for stem, keys in (("03_regimes", ["regimes.t1", "regimes.order"]),
                       ("06_jamming", ["jamming.pstar"])):
        info = report.provenance(profile, "cpu (x86_64, 2 threads)", 0)
        report.write_summary(stem, {"n": 1.0}, info, results,
                             [finding(k, verdicts.get(k, Verdict.AGREES)) for k in keys])
    stores = {"regimes": make_store(results / "store", "regimes-toy-up", n=4)[0],
              "jamming": make_store(results / "store", "jamming-random-L2-h4", n=2)[0]}
    return stores


def git_repo(path):
    path.mkdir()
    for args in (["init", "-q"], ["config", "user.email", "t@t"], ["config", "user.name", "t"]):
        subprocess.run(["git", *args], cwd=path, check=True)
    (path / "a.txt").write_text("a")
    subprocess.run(["git", "add", "a.txt"], cwd=path, check=True)
    subprocess.run(["git", "commit", "-qm", "a"], cwd=path, check=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_export_writes_summary_provenance_and_stores(tmp_path):
    results, out = tmp_path / "results", tmp_path / "ref"
    stores = write_results(results)
    sha = git_repo(tmp_path / "src")
    warnings = reference.export_reference(results, out, ["03_regimes", "06_jamming"],
                                          source_dir=tmp_path / "src")
    assert warnings == {"03_regimes": [], "06_jamming": []}
    prov = reference.load_reference_provenance(out, "03_regimes")
    assert prov["commit"] == sha and prov["dirty"] is False and prov["profile"] == "reference"
    assert prov["code_matches_run"] is True and prov["wall_s"] is not None
    assert prov["machine"]["cpu_count"] and "torch_threads" in prov["machine"]
    assert prov["versions"]["torch"] and prov["stores"] == [stores["regimes"].path.name]
    summary = reference.load_reference_summary(out, "03_regimes")
    assert [f["key"] for f in summary["findings"]] == ["regimes.t1", "regimes.order"]
    assert list(reference.reference_stores(out, "06_jamming")) == [stores["jamming"].path.name]
    assert not list(out.rglob("*.pt"))  # no weights

    (tmp_path / "src" / "a.txt").write_text("edited")
    reference.export_reference(results, out, ["03_regimes"], source_dir=tmp_path / "src")
    assert reference.load_reference_provenance(out, "03_regimes")["dirty"] is True
    reference.export_reference(results, out, ["03_regimes"], commit="abc123")
    prov = reference.load_reference_provenance(out, "03_regimes")
    assert prov["commit"] == "abc123" and prov["dirty"] is None


def test_export_refuses_unknown_stores_and_missing_summaries(tmp_path):
    results, out = tmp_path / "results", tmp_path / "ref"
    write_results(results)
    with pytest.raises(ValueError, match="no summary of \\['04_vae'\\]"):
        reference.export_reference(results, out, ["04_vae"], commit="x")
    with pytest.raises(ValueError, match="not a git|cannot read the git commit"):
        reference.export_reference(results, out, ["03_regimes"], source_dir=tmp_path)
    make_store(results / "store", "my-own-sweep", n=1)
    with pytest.raises(ValueError, match="store 'my-own-sweep' belongs to no chapter"):
        reference.export_reference(results, out, ["03_regimes"], commit="x")


def test_reexport_replaces_dropped_stores_and_warns_of_mixed_code(tmp_path):
    results, out = tmp_path / "results", tmp_path / "ref"
    stores = write_results(results)
    old, _ = make_store(results / "store", "regimes-toy-down", n=2)
    meta = json.loads((old.path / "config.json").read_text())
    meta["modules"]["l2lib.train.loop"] = "000000000000"
    (old.path / "config.json").write_text(json.dumps(meta))
    warnings = reference.export_reference(results, out, ["03_regimes"], commit="x")
    assert "different versions of l2lib.train.loop" in warnings["03_regimes"][0]
    assert len(reference.reference_stores(out, "03_regimes")) == 2
    import shutil

    shutil.rmtree(old.path)
    reference.export_reference(results, out, ["03_regimes"], commit="x")
    assert list(reference.reference_stores(out, "03_regimes")) == [stores["regimes"].path.name]
    assert len(list((out / "03_regimes" / "stores").iterdir())) == 2  # .csv + .json


# --------------------------------------------------------------------------------- staleness

def test_a_doctored_module_hash_is_reported_stale(tmp_path, capsys):
    results, out = tmp_path / "results", tmp_path / "ref"
    stores = write_results(results)
    reference.export_reference(results, out, ["03_regimes", "06_jamming"], commit="abc")
    assert reference.stale_references(out) == {
        "03_regimes": {stores["regimes"].path.name: []},
        "06_jamming": {stores["jamming"].path.name: []}}
    assert cli.main(["reference", "stale", "--out", str(out)]) == 0
    sidecar = out / "06_jamming" / "stores" / f"{stores['jamming'].path.name}.json"
    record = json.loads(sidecar.read_text())
    record["code_hashes"]["l2lib.train.loop"] = "000000000000"
    sidecar.write_text(json.dumps(record))
    stale = reference.stale_references(out)
    assert stale["06_jamming"] == {stores["jamming"].path.name: ["l2lib.train.loop"]}
    assert stale["03_regimes"] == {stores["regimes"].path.name: []}
    capsys.readouterr()
    assert cli.main(["reference", "stale", "--out", str(out)]) == 1
    assert "changed since: l2lib.train.loop" in capsys.readouterr().out

    assert cli.main(["results", "list", "--results", str(results), "--reference", str(out)]) == 0
    listing = capsys.readouterr().out
    assert f"reference results under {out}:" in listing
    line = {ln.split()[0]: ln for ln in listing.split(f"under {out}:")[1].splitlines() if ln}
    assert "profile reference, commit abc" in line["03_regimes"]
    assert line["03_regimes"].endswith("current")
    assert line["06_jamming"].endswith("stale: l2lib.train.loop")


# ------------------------------------------------------------------------------ expectations

def test_expectations_pass_and_each_doctored_input_fails(tmp_path):
    results, path = tmp_path / "results", tmp_path / "ref" / "expectations.json"
    write_results(results, profile="quick")
    changes = reference.write_expectations(results, path, "quick")
    assert len(changes) == 3 and all("new" in c for c in changes)
    assert reference.check_expectations(results, path, "quick") == []
    assert reference.check_expectations(results / "summaries", path, "quick") == []
    assert "no expectations for profile 'reference'" in \
        reference.check_expectations(results, path, "reference")[0]

    summary_path = results / "summaries" / "03_regimes.json"
    original = summary_path.read_text()
    summary = json.loads(original)
    summary["findings"][1]["verdict"] = "disagrees"  # a doctored verdict
    summary_path.write_text(json.dumps(summary))
    assert reference.check_expectations(results, path, "quick") == [
        "regimes.order: expected 'agrees', found 'disagrees'"]
    summary = json.loads(original)
    summary["findings"] = summary["findings"][:1]  # a finding gone
    summary_path.write_text(json.dumps(summary))
    [line] = reference.check_expectations(results, path, "quick")
    assert line.startswith("regimes.order: expected 'agrees', found no such finding")
    summary = json.loads(original)
    summary["findings"].append(finding("regimes.new", Verdict.UNDECIDED).as_record())
    summary_path.write_text(json.dumps(summary))  # a finding not expected
    [line] = reference.check_expectations(results, path, "quick")
    assert line.startswith("regimes.new: found 'undecided', not in the expectations")
    summary = json.loads(original)
    summary["provenance"]["profile"] = "smoke"
    summary_path.write_text(json.dumps(summary))
    assert "03_regimes: summary is of profile 'smoke', expected 'quick'" in \
        reference.check_expectations(results, path, "quick")


def test_changed_verdicts_need_a_reason_and_reasons_are_kept(tmp_path):
    results, path = tmp_path / "results", tmp_path / "expectations.json"
    write_results(results, profile="quick")
    reference.write_expectations(results, path, "quick", reason="first run at commit abc")
    write_results(results, profile="quick", verdicts={"jamming.pstar": Verdict.UNDECIDED})
    with pytest.raises(ValueError, match="jamming.pstar: 'agrees' → 'undecided'"):
        reference.write_expectations(results, path, "quick")
    changes = reference.write_expectations(results, path, "quick", reason="N too small")
    assert changes == ["jamming.pstar: 'agrees' → 'undecided'"]
    record = json.loads(path.read_text())["quick"]
    assert record["jamming.pstar"] == {"verdict": "undecided",
                                       "reason": "N too small (was 'agrees')"}
    assert record["regimes.t1"]["reason"] == "first run at commit abc"
    assert reference.check_expectations(results, path, "quick") == []
    with pytest.raises(ValueError, match="include profile\\(s\\) \\['quick'\\]"):
        reference.write_expectations(results, path, "reference")


# ------------------------------------------------------------------------------------ slices

def test_compare_slice_passes_a_copy_and_fails_an_edited_number(tmp_path):
    store, _ = make_store(tmp_path / "store")
    from l2lib.store import export_store_csv

    ref = reference.load_store_csv(export_store_csv(store.path, tmp_path / "out")[0])
    tolerances = {"acc": 1e-3, "w": 1e-3, "loss": 0.0, "epochs": 0.0}
    copy = SweepResult(ref.lams[:4].copy(), {k: v[:4].copy() for k, v in ref.obs.items()}, "up")
    assert reference.compare_slice(copy, ref, tolerances, 4) == []  # NaN, ±inf included
    copy.obs["acc"][0, 1] += 1e-8  # rounding noise on a small number: within the floor
    assert reference.compare_slice(copy, ref, tolerances, 4) == []
    copy.obs["w"][2, 1, 0] *= 1.05
    [line] = reference.compare_slice(copy, ref, tolerances, 4)
    assert line.startswith("w point 2 member [1, 0]: recomputed ")
    assert "rtol 0.001" in line
    copy.obs["acc"][0, 0] = np.nan if not np.isnan(ref.obs["acc"][0, 0]) else 0.5
    assert len(reference.compare_slice(copy, ref, tolerances, 4)) == 2
    assert "fewer than the 5" in reference.compare_slice(copy, ref, tolerances, 5)[0]
    shifted = SweepResult(ref.lams[1:5], {k: v[1:5] for k, v in ref.obs.items()}, "up")
    assert "swept values differ" in reference.compare_slice(shifted, ref, tolerances, 4)[0]
    assert reference.compare_slice(copy, ref, {"nothing": 0.1}, 4) == [
        "nothing: missing in the recomputed and reference result"]


@pytest.fixture
def slice_registry(monkeypatch):
    """An empty registry (the chapters' own slices stay out of these tests)."""
    from l2lib.book import slices

    registry, tolerances = {}, {}
    for module in (reference, slices):
        monkeypatch.setattr(module, "SLICES", registry)
        monkeypatch.setattr(module, "SLICE_TOLERANCES", tolerances)


def test_check_slices_fails_when_a_committed_number_is_edited_by_hand(tmp_path, slice_registry,
                                                                       capsys):
    results, out = tmp_path / "results", tmp_path / "ref"
    stores = write_results(results)
    reference.export_reference(results, out, ["03_regimes", "06_jamming"], commit="x")
    seen = []

    @reference.register_slice("03_regimes", {"acc": 1e-4, "w": 1e-4})
    def recompute(folder):  # stands for the chapter's own recomputation of its first points
        seen.append(folder)
        points = [point_obs(i) for i in range(2)]
        return {"regimes-toy-up": SweepResult(
            np.linspace(0.0, 0.1, 4)[:2],
            {k: np.stack([p[k] for p in points]) for k in points[0]}, "up")}

    assert reference.check_slices(out, ["03_regimes"]) == []
    assert seen == [out / "03_regimes"]
    assert reference.check_slices(out) == [
        "06_jamming: no slice check is registered (l2lib.book.reference.register_slice)"]
    assert cli.main(["reference", "slices", "regimes", "--out", str(out)]) == 0

    csv_path = reference.reference_stores(out, "03_regimes")[stores["regimes"].path.name]
    rows = list(csv.reader(csv_path.open()))
    column = rows[0].index("w[1,1]")
    rows[2][column] = repr(float(rows[2][column]) * 1.05)  # point 1 edited by hand
    with csv_path.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    [line] = reference.check_slices(out, ["03_regimes"])
    assert line.startswith(f"03_regimes/{stores['regimes'].path.name}: w point 1 member [1, 1]")
    capsys.readouterr()
    assert cli.main(["reference", "slices", "3", "--out", str(out)]) == 1
    assert "w point 1 member [1, 1]" in capsys.readouterr().out


def test_a_slice_of_an_unknown_store_is_a_mismatch(tmp_path, slice_registry):
    results, out = tmp_path / "results", tmp_path / "ref"
    write_results(results)
    reference.export_reference(results, out, ["03_regimes"], commit="x")
    reference.register_slice("03_regimes", {"acc": 0.1})(
        lambda folder: {"regimes-other-up": SweepResult(np.zeros(1), {}, "up")})
    [line] = reference.check_slices(out, ["03_regimes"])
    assert "no exported store named 'regimes-other-up'" in line


# ---------------------------------------------------------------------------- command line

def test_reference_command_line_exit_codes(tmp_path, capsys):
    results, out = tmp_path / "results", tmp_path / "ref"
    write_results(results, profile="quick")
    expectations = str(out / "expectations.json")
    common = ["--results", str(results), "--expectations", expectations]
    assert cli.main(["reference", "export", "--results", str(results), "--out", str(out),
                     "--commit", "abc"]) == 0
    assert "03_regimes: summary, provenance and 1 store(s)" in capsys.readouterr().out
    assert cli.main(["reference", "check", "--profile", "quick", *common]) == 2  # no file yet
    assert "l2lib reference expect" in capsys.readouterr().err
    assert cli.main(["reference", "expect", "--profile", "quick", *common]) == 0
    assert cli.main(["reference", "check", "--profile", "quick", *common]) == 0

    write_results(results, profile="quick", verdicts={"regimes.t1": Verdict.DISAGREES})
    capsys.readouterr()
    assert cli.main(["reference", "check", "--profile", "quick", *common]) == 1
    out_text = capsys.readouterr().out
    assert "regimes.t1: expected 'agrees', found 'disagrees'" in out_text
    assert cli.main(["reference", "expect", "--profile", "quick", *common]) == 2
    assert "--reason TEXT" in capsys.readouterr().err
    assert cli.main(["reference", "expect", "--profile", "quick", *common,
                     "--reason", "a deliberate change"]) == 0
    assert cli.main(["reference", "check", "--profile", "quick", *common]) == 0
    assert cli.main(["reference", "export", "nine", "--results", str(results)]) == 2
    assert cli.main(["reference", "slices", "--out", str(tmp_path / "none")]) == 2
    assert "no reference results under" in capsys.readouterr().err


def test_a_chapter_shows_its_reference_run_and_the_page_reads_the_folder(tmp_path):
    from l2lib.book.reproduce import load_summaries

    results, out = tmp_path / "results", tmp_path / "ref"
    stores = write_results(results, verdicts={"regimes.order": Verdict.DISAGREES})
    reference.export_reference(results, out, ["03_regimes", "06_jamming"], commit="abc123")
    run = reference.load_reference_run(out, "03_regimes")
    assert run is not None and run.changed == []
    text = run.markdown()
    assert "Profile `reference`, commit `abc123`" in text and "unchanged since" in text
    assert "✗ disagrees" in text and "regimes" in text
    swept = run.sweep("regimes-toy-up")
    assert swept is not None and len(swept.lams) == 4 and run.sweep("nothing-up") is None
    assert reference.load_reference_run(out, "04_vae") is None
    assert reference.load_reference_run(None, "03_regimes") is None
    assert "No reference run" in reference.reference_markdown(None, "quick")
    assert "itself a reference" in reference.reference_markdown(run, "reference")
    # stale: a changed module is named in the chapter's text
    sidecar = out / "03_regimes" / "stores" / f"{stores['regimes'].path.name}.json"
    record = json.loads(sidecar.read_text())
    record["code_hashes"]["l2lib.train.loop"] = "000000000000"
    sidecar.write_text(json.dumps(record))
    assert "**stale**" in reference.load_reference_run(out, "03_regimes").markdown()
    # the reproducibility page's second column reads the committed layout
    assert set(load_summaries(out)) == {"03_regimes", "06_jamming"}


def test_a_slice_refuses_a_reference_run_with_other_settings(tmp_path):
    """The chapter-3 slice recomputes the profile's settings; a committed run made with other
    settings is reported, not compared with the wrong computation."""
    from dataclasses import replace

    from l2lib.book import slices
    from l2lib.experiments import regimes
    from l2lib.store import jsonable

    folder = tmp_path / "03_regimes"
    (folder / "stores").mkdir(parents=True)
    (folder / "provenance.json").write_text(json.dumps({"profile": "smoke"}))
    other = replace(regimes.settings("smoke"), n_seeds=5)
    config = {"settings": jsonable(other), "data": {"name": "mnist-10k", "seeds": [0]}}
    (folder / "stores" / "regimes-mnist-10k-up-0123456789abcdef.csv").write_text("")
    (folder / "stores" / "regimes-mnist-10k-up-0123456789abcdef.json").write_text(
        json.dumps({"metadata": {"config": config}}))
    with pytest.raises(ValueError, match=r"other settings \(differing: \['n_seeds'\]\)"):
        slices.regimes_slice(folder)
    assert set(slices.SLICES) >= {"03_regimes", "04_vae", "05_pathfinder", "06_jamming"}


def test_a_setting_added_after_a_reference_run_counts_at_its_default():
    """A field the recorded settings lack (added to the dataclass later, nested ones too) is
    read as its default: the slice then decides; a non-default value of it is a difference."""
    from dataclasses import replace

    from l2lib.book.slices import _same_settings
    from l2lib.experiments import regimes
    from l2lib.store import jsonable

    current = regimes.settings("smoke")
    recorded = jsonable(current)
    del recorded["residual_tol"]  # at its default in smoke
    del recorded["train"]["keep"]  # nested, at its default
    _same_settings(recorded, current, "store", ())
    recorded = jsonable(current)
    assert current.early_stopping != regimes.RegimeSettings().early_stopping
    del recorded["early_stopping"]
    with pytest.raises(ValueError, match=r"differing: \['early_stopping'\]"):
        _same_settings(recorded, current, "store", ())
    recorded = jsonable(current)
    del recorded["train"]["keep"]
    with pytest.raises(ValueError, match=r"differing: \['train'\]"):
        _same_settings(recorded, replace(current, train=replace(current.train, keep="last")),
                       "store", ())


def test_a_chapter_declared_without_a_slice_is_reported_not_failed(tmp_path, slice_registry,
                                                                   capsys, monkeypatch):
    from l2lib.book import slices

    monkeypatch.setitem(slices.NO_SLICE, "05_pathfinder", "a stated reason")
    (tmp_path / "05_pathfinder" / "stores").mkdir(parents=True)
    (tmp_path / "05_pathfinder" / "stores" / "minima-x-0123456789abcdef.csv").write_text("")
    (tmp_path / "05_pathfinder" / "summary.json").write_text("{}")
    assert reference.check_slices(tmp_path, ["05_pathfinder"]) == []
    assert "05_pathfinder: no slice (a stated reason)" in capsys.readouterr().out
    # an undeclared chapter without a slice still fails
    (tmp_path / "04_vae" / "stores").mkdir(parents=True)
    assert reference.check_slices(tmp_path, ["04_vae"]) != []


def test_the_committed_chapter_3_reference_reproduces_and_a_doctored_copy_does_not(tmp_path):
    """The real committed numbers pass the slice check; the same file with one number edited by
    hand (‖θ‖ of seed 0 at the third β, ×1.05) fails it."""
    import shutil

    from l2lib.book import slices

    out = Path(__file__).resolve().parents[1] / "results-reference"
    path = next(p for folder, p in reference.reference_stores(out, "03_regimes").items()
                if slices.store_name(folder) == "regimes-mnist-10k-up")  # not the down sweep
    recomputed = slices.regimes_slice(out / "03_regimes")["regimes-mnist-10k-up"]
    tolerances = slices.SLICE_TOLERANCES["03_regimes"]
    n = len(recomputed.lams)
    assert reference.compare_slice(recomputed, reference.load_store_csv(path, n), tolerances,
                                   n) == []
    doctored = tmp_path / path.name
    shutil.copy(path.with_suffix(".json"), doctored.with_suffix(".json"))
    lines = path.read_text().splitlines()
    header, row = lines[0].split(","), lines[3].split(",")
    column = header.index("norm[0]")
    row[column] = repr(float(row[column]) * 1.05)
    doctored.write_text("\n".join([*lines[:3], ",".join(row), *lines[4:]]) + "\n")
    mismatch = reference.compare_slice(recomputed, reference.load_store_csv(doctored, n),
                                       tolerances, n)
    assert mismatch and all("norm point 2 member [0]" in m for m in mismatch)


def test_a_reference_hysteresis_is_picked_by_its_recorded_configuration(tmp_path):
    """Two teachers' sweeps share the store name linear-D1-up/-down (chapter 1): ``where``
    picks one by its recorded configuration; without it the ambiguity is an error, not the
    first match."""
    from l2lib.store import export_store_csv

    folder = tmp_path / "ref" / "01_onset" / "stores"
    for modes in ([1.0], [1.5, 1.0]):
        for direction in ("up", "down"):
            store, _ = make_store(tmp_path / "store", f"linear-D1-{direction}", n=5,
                                  config={"key": {"modes": modes}, "direction": direction})
            export_store_csv(store.path, folder)
    stores = reference.reference_stores(tmp_path / "ref", "01_onset")
    run = reference.ReferenceRun("01_onset", {}, {}, stores, [])
    with pytest.raises(ValueError, match="2 exported stores named 'linear-D1-up'"):
        run.sweep("linear-D1-up")
    one_mode = run.hysteresis("linear-D1", lambda c: c["key"]["modes"] == [1.0])
    assert one_mode is not None and identical(one_mode.lams, np.linspace(0.0, 0.1, 5))
    assert one_mode.down.direction == "up"  # reported on the ascending grid
    assert identical(one_mode.up.obs["loss"], one_mode.down.obs["loss"])  # same toy points
    assert run.hysteresis("linear-D1", lambda c: c["key"]["modes"] == [9.0]) is None
    assert run.hysteresis("linear-D2") is None


def test_slice_tolerances_by_store_pattern(slice_registry):
    """A slice over stores with different observations (chapter 1: a linear sweep and an MLP's)
    gives each its own tolerances; a store no pattern covers is an error, not a pass."""
    from l2lib.book import slices

    reference.register_slice("01_onset", {"linear-*": {"modes": 1e-3},
                                          "*-mlp-*": {"norm": 1e-3}})(lambda folder: {})
    reference.register_slice("03_regimes", {"norm": 1e-3})(lambda folder: {})
    assert slices.tolerances_for("01_onset", "linear-D2-up") == {"modes": 1e-3}
    assert slices.tolerances_for("01_onset", "digits-mlp-2h-up") == {"norm": 1e-3}
    assert slices.tolerances_for("03_regimes", "anything") == {"norm": 1e-3}
    with pytest.raises(ValueError, match="no slice tolerances for the store 'vae-up'"):
        slices.tolerances_for("01_onset", "vae-up")


def test_machine_records_the_vector_instructions_torch_uses(monkeypatch):
    """References made on CPUs with different vector units round differently: provenance says
    which one torch used and whether the CPU has AVX-512."""
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    found = reference.machine()
    assert found["torch_cpu_capability"] == "AVX512"
    assert isinstance(found["avx512"], bool)
    assert found["cpu_count"] == os.cpu_count()
