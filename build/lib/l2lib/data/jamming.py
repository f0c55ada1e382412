"""Data of the jamming chapter (Geiger et al., arXiv 1809.09349): random points and digit parity.

Binary labels y = ±1. Random data: x ~ N(0, I_d) centred over the pool and rescaled to norm √d,
labels alternating −1, +1 (balanced); parity data: even digits → −1, odd → +1, PCA-whitened to
d = 10, rescaled to norm √d, the two classes interleaved. The data set of size P is the first P
points of one pool per seed, so data sets of one seed are nested.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache

import numpy as np
import torch

from l2lib.data.datasets import load_dataset
from l2lib.runtime import derived_seed


def _normalise(x: torch.Tensor) -> torch.Tensor:
    """Centre over the pool and rescale every point to norm √d."""
    x = x - x.mean(dim=0)
    return math.sqrt(x.shape[1]) * x / x.norm(dim=1, keepdim=True)


def alternating_labels(p: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """−1, +1, −1, … (balanced for every prefix), shape (p,)."""
    return (torch.arange(p) % 2).to(dtype) * 2 - 1


def random_data(
    p: int, d: int, seed: int = 0, *, dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """A pool of ``p`` random points: x (p, d) with norm √d each, labels y (p,) = ∓1 alternating."""
    if p < 2 or d < 1:
        raise ValueError(f"need p >= 2 points of dimension d >= 1, got p={p}, d={d}")
    gen = torch.Generator().manual_seed(derived_seed(seed, d, 1809))
    x = _normalise(torch.randn(p, d, generator=gen, dtype=torch.float64))
    return x.to(device, dtype), alternating_labels(p, dtype).to(device)


@lru_cache(maxsize=4)
def _whitened_pca(dataset: str, root: str | None, d: int) -> tuple[torch.Tensor, np.ndarray]:
    """All images of ``dataset`` (train + test) on their first ``d`` whitened principal
    components, and their digit labels."""
    from sklearn.decomposition import PCA

    data = load_dataset(dataset, root=root, dtype=torch.float64)
    x = torch.cat([data.x_train, data.x_test]).numpy()
    digit = torch.cat([data.y_train, data.y_test]).numpy()
    if not 1 <= d <= x.shape[1]:
        raise ValueError(f"d must be between 1 and {x.shape[1]} for {dataset}, got {d}")
    pca = PCA(n_components=d, whiten=True, svd_solver="full")
    return torch.as_tensor(pca.fit_transform(x)), digit


def parity_data(
    dataset: str = "digits", p: int | None = None, d: int = 10, seed: int = 0, *,
    root: str | os.PathLike | None = None, dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Parity of handwritten digits (even → −1, odd → +1) as a pool of ``p`` points.

    All images of ``dataset`` (train and test split pooled) are projected on their first ``d``
    principal components and whitened (scikit-learn's PCA), each point rescaled to norm √d.
    Each class is shuffled with ``seed`` and the classes are interleaved (−1, +1, −1, …), as in
    the authors' code, so every prefix is balanced. ``p=None`` gives the largest balanced pool.
    """
    z, digit = _whitened_pca(dataset, None if root is None else str(root), d)
    rng = np.random.default_rng(derived_seed(seed, 2))
    even, odd = (rng.permutation(np.flatnonzero(digit % 2 == r)) for r in (0, 1))
    n_max = 2 * min(len(even), len(odd))
    if p is None:
        p = n_max
    if not 2 <= p <= n_max:
        raise ValueError(f"{dataset} parity holds at most {n_max} balanced points, asked for "
                         f"p={p}; ask for fewer or use a larger data set (dataset='mnist')")
    order = np.stack([even[: n_max // 2], odd[: n_max // 2]], axis=1).reshape(-1)[:p]
    x = _normalise(z[torch.as_tensor(order)])
    return x.to(device, dtype), alternating_labels(p, dtype).to(device)
