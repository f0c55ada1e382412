"""The book's figure style (l2lib.book.plots): figures display as SVG inside a kernel."""

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
