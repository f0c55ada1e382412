"""l2lib.train.sweep: grid checks, interruption and resume, damaged points, concurrent
processes, batched λ grids, divergence."""

import threading

import numpy as np
import pytest
import torch

from l2lib.measure import observables as measure
from l2lib.models.mlp import mlp
from l2lib.store import SweepStore
from l2lib.train.loop import DivergenceError, TrainConfig, train
from l2lib.train.losses import member_error
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


def test_damaged_point_is_named_and_the_sweep_resumes_from_the_newest_intact_point(tmp_path):
    x, y = toy()
    lams = np.linspace(0, 0.2, 5)
    key = {"damaged": 1}

    def run(calls):
        return warm_sweep(mlp(4, [5], 2, seeds=[1, 2], dtype=torch.float64), x, y, lams,
                          config=CONFIG, observe=observer(x, y, calls), progress=False,
                          store=SweepStore(tmp_path, "d", key), keep_states=True)

    reference = run([])
    store = SweepStore(tmp_path, "d", key)
    point = store.path / "point-00003.pt"
    point.write_bytes(point.read_bytes()[:100])  # truncated
    from l2lib.store import StoreError
    with pytest.raises(StoreError, match="point-00003.pt"):
        store.load(3)
    calls = []
    with pytest.warns(UserWarning, match="point-00003.pt"):
        resumed = run(calls)
    assert calls == pytest.approx(list(lams[3:]))  # resumed from point 2's weights
    np.testing.assert_array_equal(resumed.obs["norm"], reference.obs["norm"])
    assert list(store.path.glob("point-00003.pt.damaged-*"))


def test_a_deleted_point_without_earlier_weights_restarts_cleanly(tmp_path):
    """Only the newest point keeps weights: deleting it recomputes from the start, no TypeError."""
    x, y = toy()
    lams = [0.0, 0.1, 0.2]
    key = {"deleted": 1}
    sweep = lambda calls: warm_sweep(  # noqa: E731
        mlp(4, [3], 2, seeds=0, dtype=torch.float64), x, y, lams, config=CONFIG,
        observe=observer(x, y, calls), progress=False, store=SweepStore(tmp_path, "x", key))
    reference = sweep([])
    (SweepStore(tmp_path, "x", key).path / "point-00002.pt").unlink()
    calls = []
    again = sweep(calls)
    assert calls == pytest.approx(lams)
    np.testing.assert_array_equal(again.obs["norm"], reference.obs["norm"])


def test_two_concurrent_runs_of_one_sweep_compute_each_point_once(tmp_path):
    x, y = toy()
    lams = np.linspace(0, 0.2, 4)
    calls: list[float] = []
    results = {}

    def run(name):
        results[name] = warm_sweep(
            mlp(4, [5], 2, seeds=[3], dtype=torch.float64), x, y, lams, config=CONFIG,
            observe=observer(x, y, calls), progress=False,
            store=SweepStore(tmp_path, "c", {"concurrent": 1}))

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(calls) == pytest.approx(list(lams))  # each point once, by one of them
    np.testing.assert_array_equal(results["a"].obs["norm"], results["b"].obs["norm"])
    assert not list(SweepStore(tmp_path, "c", {"concurrent": 1}).path.glob("*.tmp"))


@pytest.mark.parametrize("make_input", ["nan_data", "huge_lr"])
def test_nan_data_and_diverging_training_raise_and_store_nothing(tmp_path, make_input):
    x, y = toy()
    config = CONFIG
    if make_input == "nan_data":
        x = x.clone()
        x[5, 2] = float("nan")
        match = "NaN or infinite"
    else:
        config = TrainConfig(lr=1e6, batch_size=16, max_epochs=20)
        match = r"diverged at up sweep point 0: member 0 \(seed 4, λ = 0.1\)"
    store = SweepStore(tmp_path, "bad", {"case": make_input})
    error = ValueError if make_input == "nan_data" else DivergenceError
    with pytest.raises(error, match=match):
        warm_sweep(mlp(4, [5], 2, seeds=[4], dtype=torch.float64), x, y, [0.1, 0.2],
                   config=config, observe=observer(x, y), progress=False, store=store)
    assert store.finished() == 0 and not list(store.path.glob("point-*"))


def first_minibatches(data_order):
    """The labels of the first minibatch each point of a four-point warm sweep trains on."""
    x, y = toy()
    seen, ends = [], []

    def error(model, xb, yb):
        seen.append(yb.clone())
        return member_error(model(xb), yb, "cross_entropy")

    def observe(model, lam):
        ends.append(len(seen))
        return {"norm": model.parameter_norm()}

    warm_sweep(mlp(4, [3], 2, seeds=[0, 1], dtype=torch.float64), x, y, [0.0, 0.1, 0.2, 0.3],
               config=CONFIG, observe=observe, error_fn=error, data_order=data_order,
               progress=False)
    return [seen[i] for i in [0, *ends[:-1]]]


def test_a_fixed_data_order_repeats_each_members_minibatches_at_every_point():
    fixed, fresh = first_minibatches("fixed"), first_minibatches("fresh")
    assert all(torch.equal(b, fixed[0]) for b in fixed)
    assert not all(torch.equal(b, fresh[0]) for b in fresh)
    assert not torch.equal(fixed[0][0], fixed[0][1])  # each member keeps its own order
    x, y = toy()
    with pytest.raises(ValueError, match="data_order must be one of"):
        warm_sweep(mlp(4, [3], 2, dtype=torch.float64), x, y, [0.0], config=CONFIG,
                   observe=observer(x, y), data_order="same")


def test_a_fixed_data_order_makes_neighbouring_points_differ_less_common_random_numbers():
    """Minibatch noise is what makes neighbouring λ of a warm sweep differ beyond the trend:
    repeating the data order removes the part that changes from point to point, so the training
    loss along λ is smoother (mean |second difference| per member) for every member."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=gen, dtype=torch.float64)
    noise = 0.3 * torch.randn(256, generator=gen, dtype=torch.float64)
    y = (x[:, 0] + 0.5 * x[:, 1] + noise > 0).long()
    config = TrainConfig(lr=0.02, batch_size=16, max_epochs=2, patience=2)
    rough = {}
    for order in ("fresh", "fixed"):
        res = warm_sweep(mlp(8, [16], 2, seeds=list(range(4)), dtype=torch.float64), x, y,
                         np.linspace(0.0, 0.02, 15), config=config, data_order=order,
                         observe=lambda m, lam: {"ce": measure.error(m, x, y, "cross_entropy")},
                         progress=False)
        rough[order] = np.abs(np.diff(res.obs["ce"], 2, axis=0)).mean(axis=0)
    assert np.all(rough["fixed"] < rough["fresh"])
