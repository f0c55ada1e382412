"""Chapter 6's experiment module: settings per profile and every finding, each on constructed
inputs with a negative control."""

import numpy as np
import pytest

from l2lib.analysis.findings import Verdict
from l2lib.experiments import jamming as C
from l2lib.measure import jamming as T


def test_profiles_quick_scale_and_the_authors_protocol_for_paper():
    quick, paper = C.settings("quick"), C.settings("paper")
    assert len(quick.random_n) >= 3 and len(quick.depths) >= 2  # N*(P) at >= 3 points, 2 depths
    assert paper.depths == (2, 3, 5) and max(paper.random_n) >= 7854
    config = paper.random.config  # lr 1e-4, ÷10 every 250k steps, floor 1e-7
    assert (config.lr, config.decay_every, config.decay_factor, config.lr_min) == (
        1e-4, 250_000, 10.0, 1e-7)
    assert [config.lr_at(t) for t in (0, 250_000, 500_000, 10**7)] == pytest.approx(
        [1e-4, 1e-5, 1e-6, 1e-7])
