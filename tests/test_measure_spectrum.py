"""Top-k eigenvalues by magnitude against a dense eigendecomposition on tiny models."""

import numpy as np
import pytest
import torch

from l2lib.measure import curvature, spectrum
from l2lib.models.mlp import mlp


def test_top_magnitude_matches_dense_eigenvalues_and_keeps_negative_ones():
    torch.manual_seed(0)
    a = torch.randn(12, 12, dtype=torch.float64)
    h = a + a.T
    h[0, 0] = -30.0  # a strongly negative direction must be among the largest magnitudes

    def fn(th):
        return 0.5 * th @ h @ th

    theta = torch.zeros(12, dtype=torch.float64)
    dense = np.linalg.eigvalsh(h.numpy())
    expected = dense[np.argsort(-np.abs(dense))][:4]
    got = spectrum.top_magnitude(fn, theta, k=4, tol=1e-10)
    np.testing.assert_allclose(got, expected, rtol=1e-8)
    assert got[0] < 0
    assert spectrum.negative_share(got)[0] == int(np.sum(expected < 0))
    with pytest.raises(ValueError, match="k must"):
        spectrum.top_magnitude(fn, theta, k=12)


def test_top_magnitude_of_a_network_loss():
    net = mlp(5, [4], 3, seeds=0, dtype=torch.float64, activation="sigmoid")
    x = torch.randn(40, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    y = torch.arange(40) % 3
    fn, theta = curvature.member_objective(net, 0, x, y, "cross_entropy")
    dense = np.linalg.eigvalsh(curvature.dense_hessian(fn, theta).numpy())
    expected = dense[np.argsort(-np.abs(dense))][:5]
    np.testing.assert_allclose(spectrum.top_magnitude(fn, theta, k=5, tol=1e-10), expected,
                               rtol=1e-6, atol=1e-10)


def test_negative_share_without_negatives():
    assert spectrum.negative_share(np.array([3.0, 2.0, 1.0])) == (0, 0.0)
    count, ratio = spectrum.negative_share(np.array([3.0, -1.5, 1.0]))
    assert count == 1 and ratio == pytest.approx(-0.5)
