"""Every chapter executes with papermill in the smoke profile, and the book builds from it.

The build is the session fixture ``built_book`` (tests/conftest.py), shared with the browser test.
"""

import importlib
import importlib.util
import inspect
import json
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import nbformat
import pytest

import l2lib
from l2lib.book import notebooks as bookrun

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = bookrun.chapter_sources(ROOT / "book")
MODULES = sorted(m.name for m in pkgutil.walk_packages(l2lib.__path__, "l2lib.")
                 if not any(part.startswith("_") for part in m.name.split(".")))
# every work the chapters cite or will cite (the bibliography page lists them all)
BOOK_KEYS = {"ersoy2025geometry", "ersoy2025hierarchical", "ziyin2022exact", "geiger2019jamming",
             "spigler2019jamming", "garipov2018loss", "draxler2018essentially", "higgins2017beta",
             "burda2016importance", "clauset2009power"}
CITE = re.compile(r"\{cite(?::\w+)?\}`([^`]+)`")
SVG_MAX_BYTES = 3_000_000  # one figure; larger ones make a page slow to open


def public_names(module: ModuleType) -> list[str]:
    """The functions and classes the API page must document: those in the module's ``__all__``
    where it has one, else the public ones defined in the module itself (not imported into it)."""
    if hasattr(module, "__all__"):
        candidates = {name: getattr(module, name) for name in module.__all__}
    else:
        candidates = {name: obj for name, obj in vars(module).items() if not name.startswith("_")
                      and getattr(obj, "__module__", None) == module.__name__}
    return sorted(name for name, obj in candidates.items()
                  if inspect.isfunction(obj) or inspect.isclass(obj))


def bib_keys() -> list[str]:
    return re.findall(r"^@\w+\{([^,\s]+),", (ROOT / "book" / "references.bib").read_text(), re.M)


@pytest.mark.slow
@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_executes_cleanly(built_book, source):
    executed = nbformat.read(built_book / "book" / "executed" / f"{source.stem}.ipynb", 4)
    tags = [cell.metadata.get("tags", []) for cell in executed.cells]
    assert any("parameters" in t for t in tags), "papermill needs a cell tagged 'parameters'"
    assert any({"injected-parameters", "remove-cell"} <= set(t) for t in tags)
    figures = 0
    for cell in executed.cells:
        for out in cell.get("outputs", []):
            assert out.output_type != "error", out
            assert not (out.output_type == "stream" and out.name == "stderr"), out.text
            data = out.get("data", {})
            assert "image/png" not in data, "a PNG figure: figures are SVG (plots.use_style)"
            if "image/svg+xml" in data:
                figures += 1
                assert len(data["image/svg+xml"]) < SVG_MAX_BYTES, (
                    f"an SVG figure of {len(data['image/svg+xml']) / 1e6:.1f} MB: draw dense "
                    "scatter plots or images with rasterized=True")
    assert figures >= 1
    summary = json.loads((built_book / "results" / "summaries" / f"{source.stem}.json").read_text())
    assert summary["provenance"]["profile"] == "smoke" and summary["numbers"]


@pytest.mark.slow
def test_book_html_has_intro_and_every_chapter_with_figures(built_book):
    html = built_book / "_build" / "html"
    assert "intro.html" in (html / "index.html").read_text()  # index redirects to the intro
    assert "Run it yourself" in (html / "intro.html").read_text()
    for source in CHAPTERS:
        page = (html / "executed" / f"{source.stem}.html").read_text()
        assert "<img" in page and "Traceback" not in page
        assert "profile <code" in page  # the run banner says which profile produced the figures
        assert "injected-parameters" not in page


def test_api_page_has_a_block_for_every_l2lib_module():
    api = (ROOT / "book" / "api.md").read_text()
    documented = re.findall(r"^\.\. automodule:: (l2lib[\w.]*)$", api, re.M)
    missing = sorted(set(MODULES) - set(documented))
    assert not missing, (f"book/api.md documents no module {missing}: add an automodule block "
                         "for each (copy one of the page's blocks)")
    assert sorted(documented) == sorted(set(documented)) == MODULES, "unknown or repeated modules"


def test_absolute_values_in_docstrings_are_escaped_outside_literals():
    spec = importlib.util.spec_from_file_location("plain_docstrings",
                                                  ROOT / "book" / "api" / "plain_docstrings.py")
    plain = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plain)
    assert plain.escape_bars("|Δ| in steps, ``|x|`` and :math:`|y|`") == (
        r"\|Δ\| in steps, ``|x|`` and :math:`|y|`")
    assert plain.escape_bars("no bars, ``a|b`` `c|d`_") == "no bars, ``a|b`` `c|d`_"


@pytest.fixture(scope="module")
def api_page(tmp_path_factory) -> tuple[subprocess.CompletedProcess, str]:
    """book/api.md alone, built as a single page with the book's configuration (seconds)."""
    out = tmp_path_factory.mktemp("api")
    build = subprocess.run(
        [str(Path(sys.executable).with_name("jupyter-book")), "build", "book/api.md",
         "--path-output", str(out), "--warningiserror", "--keep-going"],
        capture_output=True, text=True, cwd=ROOT,
    )
    html = out / "_build" / "_page" / "api" / "html" / "api.html"
    return build, html.read_text() if html.is_file() else ""


def test_api_page_builds_without_warnings(api_page):
    build, page = api_page
    warnings = re.sub(r"\x1b\[[0-9;]*m", "", build.stderr).strip()  # Sphinx colours its warnings
    assert build.returncode == 0 and page, (
        "the API page does not build cleanly. Docstrings are reStructuredText: put code such as "
        f"*args or [a, *b] in ``double backticks``.\n{warnings or build.stdout[-3000:]}")


@pytest.mark.parametrize("name", MODULES)
def test_api_page_lists_every_public_function(api_page, name):
    page = api_page[1]
    module = importlib.import_module(name)
    assert f'id="module-{name}"' in page
    missing = [n for n in public_names(module) if f'id="{name}.{n}"' not in page]
    assert not missing, f"{name}: {missing} not on the API page (see book/api.md)"


def test_every_citation_has_a_bibliography_entry():
    keys = bib_keys()
    assert len(keys) == len(set(keys)), "a key appears twice in book/references.bib"
    assert BOOK_KEYS <= set(keys), sorted(BOOK_KEYS - set(keys))
    sources = [*sorted((ROOT / "book").glob("*.md")), *CHAPTERS]
    cited = {(src.name, key.strip()) for src in sources for group in CITE.findall(src.read_text())
             for key in group.split(",")}
    unknown = sorted((name, key) for name, key in cited if key not in keys)
    assert not unknown, f"cited but not in book/references.bib: {unknown}"


@pytest.mark.slow
def test_every_chapter_cites_and_the_bibliography_renders(built_book):
    html = built_book / "_build" / "html"
    bibliography = (html / "bibliography.html").read_text()
    assert bibliography.count('role="doc-biblioentry"') == len(bib_keys())
    anchors = set(re.findall(r'id="([^"]+)"', bibliography))
    for source in CHAPTERS:
        page = (html / "executed" / f"{source.stem}.html").read_text()
        targets = re.findall(r'href="\.\./bibliography\.html#([^"]+)"', page)
        assert targets, f"{source.stem} cites nothing: cite the papers with {{cite}}`key`"
        assert set(targets) <= anchors, f"{source.stem}: citations link to missing entries"


# --------------------------------------------------------------------------------------------
# Editing the chapters in JupyterLab (jupytext.toml): a save that changes no cell changes no byte

LAB_KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}  # make lab


@pytest.mark.parametrize("source", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_round_trips_through_jupytext_byte_identical(source):
    import jupytext
    from jupytext.config import load_jupytext_config

    config = load_jupytext_config(str(source.resolve()))
    assert config is not None, "jupytext.toml (repository root) not found"
    text = source.read_text()
    notebook = jupytext.read(source, config=config)
    assert jupytext.writes(notebook, fmt="py:percent", config=config) == text
    # the negative control: without the configuration a save adds the version lines
    assert "jupytext_version" in jupytext.writes(jupytext.read(source), fmt="py:percent")


def test_jupyterlab_save_through_the_contents_api_leaves_chapters_unchanged(tmp_path):
    """What JupyterLab does on open and save: GET and PUT the chapter through jupytext's
    contents manager (as JSON, with the kernel metadata `make lab`'s kernel sets). The manager
    finds jupytext.toml only inside the server's root: `make lab` roots it at the repository."""
    pytest.importorskip("jupyter_server", reason="needs the 'lab' extra (make lab)")
    import asyncio

    from jupytext.async_contentsmanager import AsyncTextFileContentsManager

    shutil.copy(ROOT / "jupytext.toml", tmp_path / "jupytext.toml")
    shutil.copytree(ROOT / "book" / "chapters", tmp_path / "book" / "chapters")
    manager = AsyncTextFileContentsManager(root_dir=str(tmp_path))

    async def open_and_save(path: str) -> None:
        model = await manager.get(path, content=True, type="notebook")
        content = json.loads(json.dumps(model["content"]))  # as the browser sends it back
        content["metadata"]["kernelspec"] = dict(LAB_KERNELSPEC)
        content["metadata"]["language_info"] = {"name": "python", "version": "3.11.7"}
        for cell in content["cells"]:
            cell["metadata"]["trusted"] = True
        await manager.save({"type": "notebook", "format": "json", "content": content}, path)

    for source in CHAPTERS:
        path = f"book/chapters/{source.name}"
        asyncio.run(open_and_save(path))
        saved = (tmp_path / path).read_text()
        assert saved == source.read_text(), f"saving {source.name} in JupyterLab changes it"
        assert not (tmp_path / path).with_suffix(".ipynb").exists()  # no paired .ipynb


# --------------------------------------------------------------------------------------------
# MathJax served from the book (book/_ext/offline_mathjax.py, `make mathjax`)


def test_book_uses_its_own_mathjax_and_stops_without_it(tmp_path):
    from types import SimpleNamespace

    from sphinx.errors import ConfigError

    spec = importlib.util.spec_from_file_location("offline_mathjax",
                                                  ROOT / "book" / "_ext" / "offline_mathjax.py")
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    config = SimpleNamespace(html_static_path=["_static"], mathjax_path="https://cdn/x.js")
    with pytest.raises(ConfigError, match="make mathjax"):
        ext.use_local_mathjax(SimpleNamespace(srcdir=str(tmp_path)), config)
    entry = tmp_path / ext.VENDOR / ext.ENTRY
    entry.parent.mkdir(parents=True)
    entry.write_text("// MathJax")
    ext.use_local_mathjax(SimpleNamespace(srcdir=str(tmp_path)), config)
    assert config.mathjax_path == "mathjax/tex-mml-chtml.js"  # under _static/: no network
    assert config.html_static_path == ["_static", str(tmp_path / ext.VENDOR)]
