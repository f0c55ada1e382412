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


def _evidence(*zs, beta=0.025):
    from l2lib.analysis.staircase import SeedJump
    from l2lib.analysis.weak_jumps import Evidence
    return Evidence(tuple(None if z is None else SeedJump(0, beta, {"norm": z, "test_ce": 3.0})
                          for z in zs))


def _strengths(near_t1, elsewhere=(), authors_elsewhere=(), counted_t1=False):
    from l2lib.book.figures.regimes import JumpStrengths
    strong = _evidence(20.0, 19.0, 18.0)
    return JumpStrengths(paper=(0.0248, 0.0374), near=(near_t1, strong), elsewhere=elsewhere,
                         authors_near=(strong, strong), authors_elsewhere=authors_elsewhere,
                         counted=(counted_t1, True))


def test_the_jump_strength_sentence_tells_weak_from_absent_from_missed_by_the_threshold():
    from l2lib.book.figures import regimes as figures
    rival = (_evidence(4.6, 6.5, 5.9, beta=0.0119),)
    weak = figures.jump_strength_sentence(_strengths(_evidence(5.3, 6.7, 5.1),
                                                     authors_elsewhere=rival))
    assert "T1 is seen in 3 of 3 seeds at z = 5.1–6.7" in weak
    assert "(≤ 5.3) would also count an event at β ≈ 0.0119 in the authors' curves" in weak
    assert "no threshold on this statistic counts T1" in weak and "T2" not in weak
    stronger = figures.jump_strength_sentence(_strengths(_evidence(7.0, 7.5, 6.8),
                                                         authors_elsewhere=rival))
    assert "a lower threshold would count it" in stronger and "no threshold" not in stronger
    absent = figures.jump_strength_sentence(_strengths(_evidence(None, None, None)))
    assert absent.startswith("T1 is absent here")
    lone = figures.jump_strength_sentence(_strengths(_evidence(6.0, None, None)))
    assert "seen in 1 of 3 seeds at z = 6.0," in lone and "fewer than a majority of seeds" in lone
    assert figures.jump_strength_sentence(_strengths(_evidence(9.0, 9.0, 9.0),
                                                     counted_t1=True)) == ""


def test_the_jump_strength_table_shows_every_paper_transition_and_the_strongest_rival():
    from l2lib.book.figures import regimes as figures
    rows = figures.jump_strength_rows(_strengths(
        _evidence(5.3, None, 5.1), authors_elsewhere=(_evidence(4.6, 6.5, 5.9, beta=0.0119),)))
    assert [r[""] for r in rows] == ["T1 (paper β = 0.0248)", "T2 (paper β = 0.0374)",
                                     "strongest event away from every T_k"]
    assert rows[0]["z here (seeds)"] == "5.3, –, 5.1" and rows[0]["counted here"] == "no"
    assert rows[2]["z here (seeds)"] == "none in a majority of seeds"
    assert rows[2]["counted here"] == "–"
    extra = figures.jump_strength_rows(_strengths(_evidence(5.3, 6.0, 5.1),
                                                  elsewhere=(_evidence(9.0, 8.5, 3.0),)))
    assert extra[2]["counted here"] == "yes"
    assert rows[2]["z, authors' curves (seeds)"] == "4.6, 6.5, 5.9 at β ≈ 0.0119"


def _hierarchy(betas_found):
    import numpy as np

    from l2lib.analysis.staircase import SeedJump, Transition
    from l2lib.experiments.regimes import Hierarchy
    found = [Transition(b, b - 2e-4, b + 2e-4, (SeedJump(0, b, {}),)) for b in betas_found]
    n = len(found)
    return Hierarchy(betas=np.linspace(0, 0.1, 11), transitions=found, indices=[[0] * n],
                     plateaus=np.linspace(0.9, 0.1, n + 1)[None, :], recognised=[[[]] * (n + 1)],
                     lost=[[[k] for k in range(n)]], tau=np.array([1.0]),
                     mean_accuracy=np.zeros(11))


def test_the_transition_table_pairs_each_transition_with_the_nearest_paper_value():
    from l2lib.book.figures import regimes as figures
    rows = figures.transition_rows(_hierarchy([0.0363, 0.0613, 0.0755, 0.0859]), "mnist-10k")
    assert [(r[""], r["paper"], r["β (median [seeds])"].split()[0]) for r in rows] == [
        ("–", "T1", "not"), ("T1", "T2", "0.0363"), ("T2", "T3", "0.0613"),
        ("T3", "T4", "0.0755"), ("T4", "T5", "0.0859")]
    assert rows[1]["paper accuracy after"] == "62%" and rows[0]["paper β"] == "0.0248"
    extra = figures.transition_rows(_hierarchy([0.012, 0.0251, 0.0374, 0.059, 0.0738, 0.0845]),
                                    "mnist")
    assert [r["paper"] for r in extra] == ["–", "T1", "T2", "T3", "T4", "T5"]
    assert figures.transition_rows(_hierarchy([]), "mnist-10k") == []  # nothing resolved
    digits = figures.transition_rows(_hierarchy([0.02, 0.05]), "digits")
    assert [r[""] for r in digits] == ["T1", "T2"] and all("paper" not in k for k in digits[0])


def test_jump_strengths_use_the_hierarchys_own_signals_and_rule():
    from dataclasses import replace

    from l2lib.book.figures import regimes as figures
    from l2lib.data.published import authors_mnist_seeds
    from l2lib.experiments import regimes

    with pytest.raises(ValueError, match="no signals"):
        figures.jump_strengths(_hierarchy([0.03]), authors_mnist_seeds())
    lams, seeds = authors_mnist_seeds()
    wide = replace(_hierarchy([]), betas=lams, signals=tuple(seeds),
                   rule={"spread": regimes.JUMP_SPREAD, "z_strong": 30.0})
    s = figures.jump_strengths(wide, (lams, seeds))
    # the same curves on both sides: the same strengths, whatever the hierarchy's z_strong
    assert [e.majority_strength for e in s.near] == [e.majority_strength for e in s.authors_near]
    narrow = figures.jump_strengths(replace(wide, rule={"spread": 0.0}), (lams, seeds))
    assert narrow.near[3].majority_strength != s.near[3].majority_strength  # the spread is used
    # what counts as strong is the hierarchy's threshold, not the default 8
    assert s.z_strong == 30.0 and narrow.z_strong == 8.0
    weak = figures.jump_strength_sentence(replace(s, counted=(False,) * 5))
    assert "short of the detector's threshold 30 in a majority" in weak
    assert figures.jump_strength_rows(replace(
        s, elsewhere=(_evidence(9.0, 8.5, 3.0),)))[-1]["counted here"] == "no"  # 8.5 < 30
