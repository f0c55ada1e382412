"""Project files the design card asks for: layout, conda environment, CI entry point."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_top_level_layout():
    for name in ("book", "l2lib", "tests", "benchmarks", "_config.yml", "_toc.yml",
                 "environment.yml", "pyproject.toml", "Makefile", "README.md", ".ci/run"):
        assert (ROOT / name).exists(), name
    assert (ROOT / "book" / "_toc.yml").resolve() == (ROOT / "_toc.yml").resolve()


def test_environment_yml_is_a_conda_environment_installing_the_package():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] and "conda-forge" in env["channels"]
    deps = env["dependencies"]
    assert any(str(d).startswith("python") for d in deps) and "pip" in deps
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert any(p.startswith("-e .") for p in pip)


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and ci.strip().splitlines()[-1] == "make test"
    # and, before it, the reference check the README describes
    assert "make reference-check" in readme and "make reference-check" in ci.splitlines()


def test_toc_points_at_executed_chapters():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for c in toc["chapters"]]
    stems = sorted(p.stem for p in (ROOT / "book" / "chapters").glob("[0-9]*.py"))
    page = "executed/reproducibility"  # written by `l2lib report` (make chapters / make book)
    chapters = [f for f in files if f.startswith("executed/") and f != page]
    assert chapters == [f"executed/{s}" for s in stems]
    assert files.index(page) == files.index(chapters[-1]) + 1, (
        f"_toc.yml: list {page} right after the last chapter")
