"""Data of the jamming chapter: random points and digit parity (norms, labels, nested pools)."""

import math

import pytest
import torch

from l2lib.data import jamming as D

F64 = torch.float64


def test_random_data_norms_labels_and_nested_pools():
    x, y = D.random_data(101, 7, seed=3)
    torch.testing.assert_close(x.norm(dim=1), torch.full((101,), math.sqrt(7), dtype=F64))
    assert set(y.tolist()) == {-1.0, 1.0} and abs(float(y[:40].sum())) == 0
    assert not torch.equal(x, D.random_data(101, 7, seed=4)[0])
    torch.testing.assert_close(D.random_data(101, 7, seed=3)[0], x)  # seeded


def test_parity_data_from_digits():
    x, y = D.parity_data("digits", 400, d=10, seed=1)
    assert x.shape == (400, 10) and float(y.sum()) == 0
    torch.testing.assert_close(x.norm(dim=1), torch.full((400,), math.sqrt(10), dtype=F64))
    full, _ = D.parity_data("digits", None, d=10, seed=1)
    assert len(full) > 1700
    # the whitened PCA directions: the pool's covariance is close to isotropic
    eig = torch.linalg.eigvalsh(torch.cov(full.T))
    assert float(eig.max() / eig.min()) < 3
    with pytest.raises(ValueError, match="at most"):
        D.parity_data("digits", 5000)
