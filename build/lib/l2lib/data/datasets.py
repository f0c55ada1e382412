"""Named classification datasets as flat, normalised tensors on a chosen device.

Every dataset comes back as a :class:`Dataset`: inputs of shape ``(N, d)`` (images flattened,
pixels standardised, see :func:`load_dataset`) and ``int64`` class labels of shape ``(N,)``.

``digits`` ships with scikit-learn and ``mnist-10k`` (10,000 real MNIST digits, see
``l2lib/data/mnist10k/README.md``) with l2lib: both always work offline. ``mnist`` and
``fashion-mnist`` are read from IDX files (``.gz`` or raw, :mod:`l2lib.data.idx`) in
``<root>/MNIST/raw/`` resp. ``<root>/FashionMNIST/raw/`` (also ``<root>/<Folder>/`` or ``<root>``);
Fashion-MNIST is also found in Debian's ``/usr/share/datasets/fashion-mnist`` (package
``dataset-fashion-mnist``). torchvision downloads them only when asked (``download=True``);
otherwise missing files raise :class:`DatasetUnavailableError` explaining where to put them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from l2lib.data.idx import read_idx

__all__ = ["DATASETS", "Dataset", "DatasetUnavailableError", "load_dataset"]

DATASETS: tuple[str, ...] = ("digits", "mnist-10k", "mnist", "fashion-mnist")

_ALIASES = {"fashion_mnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
            "mnist10k": "mnist-10k", "mnist_10k": "mnist-10k"}
MNIST_10K = Path(__file__).with_name("mnist10k")
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
# torchvision class name (= sub-folder of root) and (mean, std) of the training pixels in [0, 1].
_TORCHVISION = {
    "mnist": ("MNIST", 0.1307, 0.3081),
    "fashion-mnist": ("FashionMNIST", 0.2860, 0.3530),
    "mnist-10k": ("MNIST", 0.1307, 0.3081),
}
_IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class DatasetUnavailableError(FileNotFoundError):
    """The dataset's files are not on disk and could not (or may not) be downloaded."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split: ``x_*`` float ``(N, d)``; ``y_*`` int64 ``(N,)``."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    @property
    def input_dim(self) -> int:
        """Number of input features ``d``."""
        return self.x_train.shape[1]

    @property
    def n_train(self) -> int:
        """Number of training examples."""
        return self.x_train.shape[0]

    def to(
        self, device: str | torch.device | None = None, dtype: torch.dtype | None = None
    ) -> Dataset:
        """Copy onto ``device`` and cast the inputs to ``dtype``; labels stay int64."""
        return dataclasses.replace(
            self,
            x_train=self.x_train.to(device=device, dtype=dtype),
            y_train=self.y_train.to(device=device),
            x_test=self.x_test.to(device=device, dtype=dtype),
            y_test=self.y_test.to(device=device),
        )

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, n_train={self.n_train}, n_test={len(self.x_test)}, "
            f"input_dim={self.input_dim}, n_classes={self.n_classes}, "
            f"dtype={self.x_train.dtype}, device={self.x_train.device})"
        )


def load_dataset(
    name: str,
    *,
    root: str | os.PathLike | None = None,
    download: bool = False,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Load dataset ``name`` (one of :data:`DATASETS`) as tensors on ``device``.

    - ``digits``: scikit-learn's 1797 8x8 images (d=64), pixels divided by 16, then standardised
      with the global mean and std (one scalar each) of the training split. Fixed stratified
      75/25 split (1347 train / 450 test, ``random_state=0``); it does not depend on ``seed``.
    - ``mnist-10k``: 10,000 real MNIST digits embedded in l2lib (fixed stratified 8,000/2,000
      split, checksums verified on load); preprocessed as ``mnist``.
    - ``mnist`` / ``fashion-mnist``: 28x28 images flattened to d=784, pixels divided by 255, then
      ``(x - mean) / std`` with the customary constants (0.1307, 0.3081) resp. (0.2860, 0.3530).
      IDX files are read from ``root`` (default: ``$L2LIB_DATA``, else ``~/.cache/l2lib/data``;
      Fashion-MNIST also from Debian's folder); with ``download=True`` torchvision fetches
      missing files first.

    ``n_train`` / ``n_test`` select class-stratified random subsets (seeded by ``seed``) after
    normalisation, so the normalisation constants do not depend on the subset.

    Raises:
        ValueError: unknown ``name``, non-floating ``dtype``, or a subset size that is
            non-positive or larger than the split.
        DatasetUnavailableError: MNIST-type files missing, or the download failed.
        ValueError: a damaged IDX file (named) or a checksum mismatch of ``mnist-10k``.
    """
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")
    for arg, n in (("n_train", n_train), ("n_test", n_test)):
        if n is not None and n <= 0:
            raise ValueError(f"{arg} must be a positive integer, got {n}")

    if key == "digits":
        x_tr, y_tr, x_te, y_te = _digits()
    elif key == "mnist-10k":
        x_tr, y_tr, x_te, y_te = _normalise(key, _read_split(MNIST_10K, verify=True))
    else:
        x_tr, y_tr, x_te, y_te = _normalise(key, _mnist_type(key, root, download))

    x_tr, y_tr = _subset(x_tr, y_tr, n_train, seed, "n_train", "training")
    x_te, y_te = _subset(x_te, y_te, n_test, seed, "n_test", "test")
    return Dataset(key, x_tr, y_tr, x_te, y_te, n_classes=10).to(device=device, dtype=dtype)


def _digits() -> tuple[torch.Tensor, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, stratify=y, random_state=0)
    x_tr, x_te = torch.as_tensor(x_tr / 16.0), torch.as_tensor(x_te / 16.0)  # float64, [0, 1]
    mean, std = x_tr.mean(), x_tr.std(correction=0)
    return (x_tr - mean) / std, torch.as_tensor(y_tr), (x_te - mean) / std, torch.as_tensor(y_te)


def _find_idx(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_split(folder: Path, verify: bool = False) -> tuple[np.ndarray, ...]:
    """(train images, train labels, test images, test labels) as uint8 arrays from ``folder``;
    ``verify`` checks each file against ``folder/SHA256SUMS``."""
    paths = [_find_idx(folder, f) for f in _IDX_FILES]
    if verify:
        sums = dict(line.split()[::-1] for line in (folder / "SHA256SUMS").read_text().splitlines())
        for path in paths:
            if path is None or hashlib.sha256(path.read_bytes()).hexdigest() != sums[path.name]:
                raise ValueError(f"{path or folder}: missing or checksum mismatch with "
                                 f"{folder / 'SHA256SUMS'}; reinstall l2lib or rebuild with "
                                 "python -m l2lib.data.mnist10k_build")
    arrays = tuple(read_idx(p) for p in paths)
    for images, labels, split in ((arrays[0], arrays[1], "train"), (arrays[2], arrays[3], "t10k")):
        if len(images) != len(labels):
            raise ValueError(f"{folder}: {split} images ({len(images)}) and labels "
                             f"({len(labels)}) differ in number")
    return arrays


def _search_folders(key: str, root: Path) -> list[Path]:
    folder = _TORCHVISION[key][0]
    found = [root / folder / "raw", root / folder, root]
    return found + ([DEBIAN_FASHION] if key == "fashion-mnist" else [])


def _mnist_type(key: str, root: str | os.PathLike | None, download: bool
                ) -> tuple[np.ndarray, ...]:
    folder = _TORCHVISION[key][0]
    if root is None:
        root = os.environ.get("L2LIB_DATA") or "~/.cache/l2lib/data"
    root = Path(root).expanduser()
    for candidate in _search_folders(key, root):
        if all(_find_idx(candidate, f) for f in _IDX_FILES):
            return _read_split(candidate)
    if not download:
        raise DatasetUnavailableError(_unavailable_message(key, root, folder, download))
    from torchvision import datasets

    try:
        for train in (True, False):
            getattr(datasets, folder)(str(root), train=train, download=True)
    except Exception as err:
        raise DatasetUnavailableError(_unavailable_message(key, root, folder, download)) from err
    return _read_split(root / folder / "raw")


def _normalise(key: str, arrays: tuple[np.ndarray, ...]) -> tuple[torch.Tensor, ...]:
    """Images → (N, 784) float32, (pixel/255 − mean)/std with the data set's constants."""
    _, mean, std = _TORCHVISION[key]
    out = []
    for images, labels in ((arrays[0], arrays[1]), (arrays[2], arrays[3])):
        x = torch.as_tensor(images.reshape(len(images), -1), dtype=torch.float32) / 255.0
        out += [(x - mean) / std, torch.as_tensor(labels, dtype=torch.int64)]
    return tuple(out)


def _unavailable_message(key: str, root: Path, folder: str, download: bool) -> str:
    raw = root / folder / "raw"
    what = "could not be downloaded" if download else "were not found"
    lines = [
        f"{key} data {what} (root folder searched: {root}).",
        "l2lib expects these four IDX files (raw or .gz):",
        *(f"  {raw / f}" for f in _IDX_FILES),
    ]
    if key == "fashion-mnist":
        lines.append(f"(On Debian: apt-get install dataset-fashion-mnist puts them in "
                     f"{DEBIAN_FASHION}, found without configuration.)")
    if key == "mnist":
        lines.append('For real digits offline, load_dataset("mnist-10k") needs no files.')
    lines += [
        "To fix: call load_dataset(..., download=True) on a machine with internet access,",
        "or put the IDX files in that layout and point root=..., the L2LIB_DATA environment",
        f"variable or the notebook's data_root parameter at the folder containing {folder}/.",
    ]
    return "\n".join(lines)


def _subset(
    x: torch.Tensor, y: torch.Tensor, n: int | None, seed: int, arg: str, split: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-stratified random subset of ``n`` rows (proportional allocation), seeded."""
    if n is None:
        return x, y
    if n > len(y):
        raise ValueError(f"{arg}={n} exceeds the {len(y)} available {split} examples")
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    yp = y[perm]
    counts = torch.bincount(yp)
    # rank of each permuted example among those of its class, as a fraction of the class size
    order = torch.argsort(yp, stable=True)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(y)) - (torch.cumsum(counts, 0) - counts)[yp[order]]
    frac = (rank + 0.5) / counts[yp]
    idx = perm[torch.argsort(frac, stable=True)[:n]].sort().values
    return x[idx], y[idx]
