"""The authors' published MNIST sweep, seed by seed, as shipped with l2lib.

Ersoy, Cardozo Licha & Wiesner (arXiv 2512.11866) publish their standard L2 sweep as CSV files
(github.com/andresfernando-git/Neural-Network-paper, folder ``data/``, files
``lr=0.0015_{1,2,3}.csv``; "provided for academic and research purposes"). A compact derived copy
with attribution lives in ``l2lib/data/authors/mnist_sweep_seeds.csv``: per seed ‖θ‖, the mean
training and test cross-entropies and the test accuracy (percent in the file, a fraction here),
on their grid β = 0, 2·10⁻⁴, …, 0.1 (seeds 2 and 3 end at β = 0.09: NaN after). Protocol: MNIST
60k/10k, MLP 784-128-128-10 sigmoid, Adam lr 1.5·10⁻³, batch 64, warm start. The seed-mean test
accuracy alone is :func:`l2lib.experiments.regimes.authors_curve`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

AUTHORS_SEEDS_CSV = Path(__file__).resolve().parent / "authors" / "mnist_sweep_seeds.csv"
"""The derived copy (comment lines start with ``#``; then a header row)."""


def authors_mnist_seeds(path: str | Path = AUTHORS_SEEDS_CSV
                        ) -> tuple[np.ndarray, list[dict[str, np.ndarray]]]:
    """(β grid, one dict per seed) of the authors' sweep: ``norm`` (‖θ‖), ``train_ce``,
    ``test_ce`` (mean cross-entropy, nats) and ``test_acc`` (fraction), the signals of
    :mod:`l2lib.analysis.staircase`. β in the paper's convention, the penalty (β/2)‖θ‖²."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"the authors' sweep is not at {path}: reinstall l2lib (the file "
                                "ships in l2lib/data/authors)")
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    names = lines[0].split(",")
    table = np.genfromtxt(lines[1:], delimiter=",")
    if table.ndim != 2 or table.shape[1] != len(names):
        raise ValueError(f"{path}: expected {len(names)} columns per row, got {table.shape}")
    col = {n: table[:, i] for i, n in enumerate(names)}
    seeds = sorted({int(n.rsplit("_", 1)[1]) for n in names if n.startswith("norm_")})
    return col["beta"], [{"norm": col[f"norm_{s}"], "train_ce": col[f"train_ce_{s}"],
                          "test_ce": col[f"test_ce_{s}"],
                          "test_acc": col[f"test_acc_pct_{s}"] / 100} for s in seeds]
