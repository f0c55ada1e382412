"""The book's figure style (l2lib.book.plots): figures display as SVG inside a kernel; chapter 6's
run table carries its phase diagram through a summary file."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from l2lib.book import plots  # noqa: E402

IPython = pytest.importorskip("IPython")


@pytest.fixture
def shell():
    """An IPython shell as in a kernel (the chapters run in one under papermill)."""
    from IPython.core.interactiveshell import InteractiveShell

    instance = InteractiveShell.instance()
    yield instance
    InteractiveShell.clear_instance()


def test_figures_display_as_reproducible_svg_only(shell):
    plots.use_style()
    fig, axes = plots.panels(2)
    plots.sweep_pair(axes[0], [0.0, 1.0, 2.0], [1.0, 0.5, 0.0], [1.0, 0.6, 0.0])
    plots.label(axes[0], "λ", "loss", legend=True)
    data, _ = shell.display_formatter.format(fig)
    assert "image/svg+xml" in data and "image/png" not in data, sorted(data)
    svg = data["image/svg+xml"]
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "<dc:date>" not in svg  # no date: the same figure gives the same bytes
    assert shell.display_formatter.format(fig)[0]["image/svg+xml"] == svg
    plt.close(fig)


def test_style_outside_a_kernel_only_sets_rcparams():
    from IPython.core.interactiveshell import InteractiveShell

    assert not InteractiveShell.initialized()
    plots.use_style()
    assert matplotlib.rcParams["svg.fonttype"] == "path"
    assert not InteractiveShell.initialized()  # use_style did not start a shell


def test_stationarity_figure_draws_each_seed_and_says_when_nothing_was_recorded():
    import numpy as np

    from l2lib.book.figures.regimes import stationarity
    from l2lib.train.sweep import SweepResult

    lams = np.linspace(0, 0.01, 5)
    residual = np.array([[np.inf, np.inf], [2.0, 3.0], [1.0, 1.5], [0.5, 0.7], [0.4, 0.6]])
    fig = stationarity(SweepResult(lams, {"residual": residual}, "up"))
    lines = [ln for ln in fig.axes[0].get_lines() if ln.get_label().startswith("seed")]
    assert len(lines) == 2 and len(lines[0].get_xdata()) == 4  # β = 0 (inf) left out
    empty = stationarity(SweepResult(lams, {"norm": residual}, "up"))
    assert "no stationarity residual" in empty.axes[0].texts[0].get_text()


def test_path_residuals_draw_each_path_and_mark_the_scanned_one():
    import numpy as np

    from l2lib.book.figures.pathfinder import path_residuals
    from l2lib.train.pathfinder import Path

    residual = np.array([[np.inf, np.inf], [2.0, 3.0], [1.0, 0.04], [0.5, 0.02]])
    path = Path(betas=np.linspace(0, 1e-5, 4), obs={"residual": residual}, start={},
                reference={}, checkpoints=[], steps_per_epoch=1, batch_size=1)
    lines = {ln.get_label(): ln for ln in path_residuals(path, 0.05, member=1).axes[0].get_lines()}
    assert set(lines) == {"path 0", "path 1 (scanned)", "tolerance"}
    assert len(lines["path 0"].get_xdata()) == 3  # β = 0 (inf) left out
    assert lines["path 1 (scanned)"].get_linewidth() > lines["path 0"].get_linewidth()
    path.obs.pop("residual")
    assert "no stationarity residual" in path_residuals(path, 0.05).axes[0].texts[0].get_text()


def test_jamming_run_rows_rebuild_the_phase_diagram_through_a_summary_file(tmp_path):
    import json

    import numpy as np

    from l2lib.book import report
    from l2lib.book.figures import jamming as figures
    from l2lib.train import scan as S

    p, seed = np.array([40, 80, 120, 40, 80, 100]), np.array([0, 0, 0, 1, 1, 1])
    raw = S.Scan("fake", 2, 4, 4, 0.1, p, seed, np.zeros(6, int), np.array([0, 0, 9, 0, 5, 9]),
                 np.zeros(6, int), np.ones(6), [np.zeros(q) for q in p], np.zeros((6, 1)),
                 np.zeros(6, int), pools={})
    with pytest.raises(ValueError, match="not classified"):
        figures.run_rows({(2, 40.0): raw})
    scan = raw.labelled([S.SAT, S.SAT, S.JAMMED, S.SAT, S.NOT_CONVERGED, S.JAMMED])
    path = report.write_summary("06_jamming", {}, {}, tmp_path,
                                tables={"random_runs": figures.run_rows({(2, 40.0): scan})})
    rows = json.loads(path.read_text())["tables"]["random_runs"]
    back = figures.scans_from_rows(rows)[(2, 40.0)]
    assert back.n == scan.n and back.brackets() == scan.brackets() == {0: (80.0, 120.0),
                                                                        1: (40.0, 100.0)}
    assert back.p_star() == scan.p_star()
    plt.close(figures.phase_diagram({(2, 40.0): back}, [2], "random"))
    with pytest.raises(ValueError, match="lack"):
        figures.scans_from_rows([{"depth": 2}])


def test_the_dead_data_sentence_counts_what_the_summary_holds():
    from l2lib.book.figures import jamming as figures

    counts = {"dead_runs": 122, "dead_runs_with_dead_data": 46, "dead_dead_data": 7579,
              "dead_dead_unsatisfied": 7496}
    text = figures.dead_data_sentence(counts)
    assert text.startswith("46 of the 122 checked runs") and "7579 data" in text
    assert "7496 of them unsatisfied" in text
    none = figures.dead_data_sentence(counts | {"dead_runs_with_dead_data": 0})
    assert none == "No datum is dead in any of the 122 checked runs."
    with pytest.raises(ValueError, match="dead_dead_data"):
        figures.dead_data_sentence({k: v for k, v in counts.items() if k != "dead_dead_data"})


def test_the_reference_distance_curve_is_drawn_from_the_committed_pathfinder_store():
    from pathlib import Path

    from l2lib.book import reference
    from l2lib.book.figures import pathfinder as figures

    ref = reference.load_reference_run(Path(__file__).parents[1] / "results-reference",
                                       "05_pathfinder")
    path = ref.sweep("pathfinder-mnist-10k")
    fig = figures.reference_distance_figure(path, "reference run")
    lines = fig.axes[0].get_lines()
    assert len(lines) == path.obs["dist_ref"].shape[1] == 4  # M1 → M2 … M5
    assert lines[0].get_xdata()[-1] == pytest.approx(5e-6)  # the paper's β_paper grid end
    plt.close(fig)


def test_the_reference_vae_loop_is_drawn_from_the_committed_sweeps():
    from pathlib import Path

    from l2lib.book import reference
    from l2lib.book.figures import vae as figures
    from l2lib.experiments import vae

    ref = reference.load_reference_run(Path(__file__).parents[1] / "results-reference",
                                       "04_vae")
    loop = ref.hysteresis("vae-digits")
    sweeps = vae.BetaHysteresis(loop.lams, loop.up, loop.down)
    fig = figures.hysteresis(sweeps)
    assert len(fig.axes) == 4
    rows = figures.collapse_table(sweeps)
    assert [r["sweep"] for r in rows] == ["up", "down"]
    assert all(loop.lams[0] <= r["β of total collapse"] <= loop.lams[-1] for r in rows)
    plt.close(fig)
