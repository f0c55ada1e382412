"""Sweeps and the resumable store: grid checks, interruption and resume, batched λ grids."""

import json

import numpy as np
import pytest
import torch

from l2lib.measure import observables as measure
from l2lib.models.mlp import mlp
from l2lib.store import SweepStore, code_version, config_key
from l2lib.train.loop import TrainConfig, train
from l2lib.train.sweep import check_grid, independent_sweep, warm_sweep

CONFIG = TrainConfig(lr=0.05, batch_size=16, max_epochs=6, patience=2)


def toy():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(48, 4, generator=gen, dtype=torch.float64)
    return x, (x[:, 0] + x[:, 1] > 0).long()


def observer(x, y, calls=None, fail_at=None):
    def observe(model, lam):
        if calls is not None:
            calls.append(float(lam[0]))
            if fail_at is not None and len(calls) == fail_at:
                raise KeyboardInterrupt  # as if the user pressed Ctrl-C during this point
        return {"norm": model.parameter_norm(),
                "objective": measure.objective(model, x, y, "cross_entropy", lam)}
    return observe


@pytest.mark.parametrize("grid,match", [
    ([0.1, -0.1, 0.2], "non-negative"),
    ([0.0, 0.2, 0.1], "strictly increasing"),
    ([0.0, 0.1, 0.1], "strictly increasing"),
    ([0.0, np.nan], "NaN"),
    ([], "non-empty"),
    ([[0.0, 0.1]], "1-D"),
])
def test_bad_grids_are_rejected(grid, match):
    with pytest.raises(ValueError, match=match):
        check_grid(grid)


def test_interrupted_sweep_resumes_without_recomputing(tmp_path):
    x, y = toy()
    lams = np.linspace(0, 0.2, 6)
    reference = warm_sweep(mlp(4, [5], 2, seeds=[1, 2], dtype=torch.float64), x, y, lams,
                           config=CONFIG, observe=observer(x, y), progress=False)

    key = {"experiment": "toy", "seeds": [1, 2]}
    calls = []
    with pytest.raises(KeyboardInterrupt):
        warm_sweep(mlp(4, [5], 2, seeds=[1, 2], dtype=torch.float64), x, y, lams, config=CONFIG,
                   observe=observer(x, y, calls, fail_at=4), progress=False,
                   store=SweepStore(tmp_path, "toy", key))
    assert SweepStore(tmp_path, "toy", key).finished() == 3  # the point in flight is lost

    calls = []
    resumed = warm_sweep(mlp(4, [5], 2, seeds=[1, 2], dtype=torch.float64), x, y, lams,
                         config=CONFIG, observe=observer(x, y, calls), progress=False,
                         store=SweepStore(tmp_path, "toy", key))
    assert calls == pytest.approx(list(lams[3:]))  # only the unfinished points were trained
    for name in reference.obs:
        np.testing.assert_allclose(resumed.obs[name], reference.obs[name], rtol=1e-12)

    calls = []
    again = warm_sweep(mlp(4, [5], 2, seeds=[1, 2], dtype=torch.float64), x, y, lams,
                       config=CONFIG, observe=observer(x, y, calls), progress=False,
                       store=SweepStore(tmp_path, "toy", key))
    assert calls == [] and np.array_equal(again.obs["norm"], reference.obs["norm"])


def test_store_keeps_only_the_newest_weights_unless_asked(tmp_path):
    x, y = toy()
    store = SweepStore(tmp_path, "w", {"a": 1})
    warm_sweep(mlp(4, [3], 2, seeds=0, dtype=torch.float64), x, y, [0.0, 0.1, 0.2],
               config=CONFIG, observe=observer(x, y), store=store, progress=False)
    assert [store.load(i)["state"] is None for i in range(3)] == [True, True, False]


def test_store_key_covers_config_and_code(tmp_path):
    a = SweepStore(tmp_path, "s", {"lr": 0.1, "grid": np.arange(3)})
    assert a.path == SweepStore(tmp_path, "s", {"grid": [0, 1, 2], "lr": 0.1}).path
    assert a.path != SweepStore(tmp_path, "s", {"lr": 0.2, "grid": np.arange(3)}).path
    meta = json.loads((a.path / "config.json").read_text())
    assert meta["code"] == code_version() and "+" in code_version()
    assert config_key({"x": TrainConfig()}) != config_key({"x": TrainConfig(lr=1.0)})
    with pytest.raises(TypeError, match="store key"):
        config_key({"f": object()})
    with pytest.raises(ValueError, match="store name"):
        SweepStore(tmp_path, "bad/name", {})


def test_down_sweep_visits_the_grid_in_reverse():
    x, y = toy()
    res = warm_sweep(mlp(4, [3], 2, seeds=0, dtype=torch.float64), x, y, [0.0, 0.1, 0.2],
                     config=CONFIG, observe=observer(x, y), direction="down", progress=False)
    assert res.lams.tolist() == [0.2, 0.1, 0.0]
    assert res.ascending().lams.tolist() == [0.0, 0.1, 0.2]
    with pytest.raises(ValueError, match="direction"):
        warm_sweep(mlp(4, [3], 2), x.float(), y, [0.0], config=CONFIG, observe=observer(x, y),
                   direction="sideways")


def test_independent_sweep_equals_separate_trainings():
    """A whole (λ, seed) grid trained as one ensemble equals training each pair alone."""
    x, y = toy()
    lams, seeds = [0.0, 0.05, 0.5], [7, 8]

    def make(member_seeds):
        return mlp(4, [5], 2, seeds=member_seeds, dtype=torch.float64)

    res = independent_sweep(make, x, y, lams, seeds, config=CONFIG, observe=observer(x, y),
                            max_members=4, progress=False)
    assert res.obs["norm"].shape == (3, 2)
    for i, lam in enumerate(lams):
        for j, seed in enumerate(seeds):
            one = make([seed])
            train(one, x, y, lam=lam, config=CONFIG)
            assert res.obs["norm"][i, j] == pytest.approx(one.parameter_norm().item(), rel=1e-10)
