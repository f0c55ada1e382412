"""Tests for l2lib.data (offline: MNIST-type data are tiny IDX files written by the tests)."""

import gzip
import struct
from pathlib import Path
from urllib.error import URLError

import pytest
import torch
import torchvision.datasets.mnist as tv_mnist

from l2lib.data import DATASETS, Dataset, DatasetUnavailableError, load_dataset

STATS = {"mnist": ("MNIST", 0.1307, 0.3081), "fashion-mnist": ("FashionMNIST", 0.2860, 0.3530)}
N_TRAIN, N_TEST = 30, 12


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any download attempt fails instead of touching the network."""

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


def test_gz_only_is_not_accepted(tmp_path):
    """torchvision reads only the uncompressed files; .gz alone is reported, not guessed."""
    write_idx(tmp_path, "MNIST", compress=True, keep_plain=False)
    with pytest.raises(DatasetUnavailableError, match="gunzip"):
        load_dataset("mnist", root=tmp_path)


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
    assert isinstance(info.value.__cause__, RuntimeError)


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
