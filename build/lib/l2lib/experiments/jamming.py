"""Chapter 6, jamming: settings per profile, P*(N) on random and on parity data, the test of
depth independence, and the summaries the chapter shows.

Random data use d = h (the authors' choice), so an N target fixes the width; parity data use
d = 10. Locating P* and the run statuses (SAT side, jammed, stuck) are those of
:mod:`l2lib.jamming_search`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from l2lib.data.jamming import parity_data, random_data
from l2lib.models.mlp import width_for
from l2lib.runtime import check_profile
from l2lib.train.hinge import HingeConfig
from l2lib.train.scan import Scan, ScanSettings, scan


@dataclass(frozen=True)
class JammingSettings:
    """Everything chapter 6 varies between profiles.

    Random data use d = h; N targets are met by the nearest width
    (:func:`~l2lib.jamming.width_for`). Parity data use d = ``parity_d`` (PCA-whitened digits).
    """

    depths: tuple[int, ...] = (2, 3, 5)
    random_n: tuple[float, ...] = (250.0, 380.0, 510.0)
    random: ScanSettings = ScanSettings()
    parity_n: tuple[float, ...] = (80.0, 140.0)
    parity: ScanSettings = ScanSettings(ratios=(2.0, 4.0, 8.0), rounds=2)
    parity_d: int = 10
    window: float = 0.3  # jammed runs with P ≤ (1 + window) P* enter the Δ statistics
    polish: HingeConfig = HingeConfig(lr=1e-3, decay_every=1000, max_steps=2000)
    gap_floor: float = 1e-4  # gaps below the polish's last learning rate are not resolved
    n_boot: int = 200
    n_min: int = 50  # fewest points below the fitted cut-off
    hessian_params: int = 1000  # dense Hessians only for nets with at most this many parameters


def jamming_settings(profile: str) -> JammingSettings:
    """The settings of chapter 6 for ``profile`` (smoke, quick or paper).

    quick: lr 1e-2 for 2000 steps, then 1e-3 for 1000 (the authors' schedule shape with 100×
    larger steps and ~1000× fewer of them); the runs near N* used for the Δ statistics and the
    Hessian are then polished for 2000 more steps at lr 1e-3 ÷10 after 1000. paper: the
    authors' protocol (lr 1e-4 ÷10 every 250k steps, floor 1e-7, up to 2M steps), N up to ~8k,
    MNIST parity (``dataset="mnist"``).
    """
    quick = JammingSettings()
    if check_profile(profile) == "quick":
        return quick
    if profile == "smoke":
        config = HingeConfig(lr=1e-2, decay_every=200, max_steps=400)
        return replace(
            quick, depths=(2, 3), random_n=(80.0, 120.0), parity_n=(60.0, 90.0),
            random=ScanSettings(ratios=(0.25, 3.0), n_seeds=2, rounds=1, config=config),
            parity=ScanSettings(ratios=(0.5, 8.0), n_seeds=2, rounds=1, config=config),
            window=1.0, polish=HingeConfig(lr=1e-3, decay_every=50, max_steps=100), n_boot=20,
            n_min=20)
    paper = HingeConfig(lr=1e-4, decay_every=250_000, lr_min=1e-7, max_steps=2_000_000)
    return replace(
        quick, random_n=(2000.0, 4000.0, 8000.0), parity_n=(1000.0, 2000.0, 4000.0),
        random=ScanSettings(ratios=(1.5, 2.0, 2.5, 3.0, 3.5, 4.0), n_seeds=5, rounds=4,
                            config=paper),
        parity=ScanSettings(ratios=(4.0, 8.0, 12.0, 16.0), n_seeds=5, rounds=4, config=paper),
        polish=HingeConfig(lr=1e-6, decay_every=250_000, lr_min=1e-7, max_steps=500_000),
        gap_floor=1e-7,
        n_boot=1000, n_min=100, hessian_params=5000)


def random_scan(
    depth: int, n_target: float, settings: JammingSettings, seed: int = 0, *,
    device: str | torch.device = "cpu", store_root: str | os.PathLike | None = None,
) -> Scan:
    """P*(N) on random data (d = h) at the width whose N is closest to ``n_target``."""
    width = width_for(n_target, depth)
    return scan(lambda s, p: random_data(p, width, s), width, width, depth, settings.random,
                seed=seed, device=device, store_root=store_root,
                name=f"jamming-random-L{depth}-h{width}", key={"data": "random"},
                progress=f"random L={depth} h={width}")


def parity_scan(
    depth: int, n_target: float, settings: JammingSettings, dataset: str = "digits",
    seed: int = 0, *, data_root: str | os.PathLike | None = None,
    device: str | torch.device = "cpu", store_root: str | os.PathLike | None = None,
) -> Scan:
    """P*(N) on the parity of ``dataset`` (d = ``settings.parity_d``)."""
    d = settings.parity_d
    width = width_for(n_target, depth, d)
    return scan(lambda s, p: parity_data(dataset, p, d, s, root=data_root), d, width, depth,
                settings.parity, seed=seed, device=device, store_root=store_root,
                name=f"jamming-{dataset}-L{depth}-h{width}",
                key={"data": "parity", "dataset": dataset},
                progress=f"{dataset} parity L={depth} h={width}")


@dataclass(frozen=True)
class DepthComparison:
    """r* = P*/N of several depths at about the same N, tested for equality.

    ``chi2`` = Σ ((r_i − r̄)/σ_i)² about the inverse-variance weighted mean r̄, with
    ``dof`` = (depths − 1) degrees of freedom; ``p_value`` its χ² tail probability.
    """

    depths: tuple[int, ...]
    r_star: np.ndarray
    err: np.ndarray
    mean: float
    mean_err: float
    chi2: float
    dof: int
    p_value: float

    @property
    def consistent(self) -> bool:
        """Depth independence not rejected at the 5 % level (False when untestable)."""
        return bool(self.p_value > 0.05)

    @property
    def testable(self) -> bool:
        return self.dof >= 1


def compare_depths(r_star: Mapping[int, tuple[float, float]]) -> DepthComparison:
    """χ² test of one r* for all depths; ``r_star`` maps depth → (r*, its standard error) at
    about the same N (e.g. ``{L: scan.r_star() for L, scan in ...}``). Depths without a finite
    r* and positive error are left out; with fewer than two left, χ² and p are NaN."""
    from scipy.stats import chi2

    depths = tuple(sorted(r_star))
    r, err = np.array([r_star[d] for d in depths], dtype=np.float64).reshape(-1, 2).T
    ok = np.isfinite(r) & np.isfinite(err) & (err > 0)
    if ok.sum() < 2:  # nothing to compare: e.g. the grid bracketed P* for one depth only
        return DepthComparison(depths, r, err, np.nan, np.nan, np.nan, 0, np.nan)
    w = 1 / err[ok] ** 2
    mean = float(np.sum(w * r[ok]) / w.sum())
    stat = float(np.sum(w * (r[ok] - mean) ** 2))
    dof = int(ok.sum() - 1)
    return DepthComparison(depths, r, err, mean, float(1 / np.sqrt(w.sum())), stat, dof,
                           float(chi2.sf(stat, dof)))


def scan_row(scan: Scan) -> dict[str, Any]:
    """One table row: architecture, N, runs, P* and r* with their standard errors."""
    p, p_err = scan.p_star()
    return {"L": scan.depth, "h": scan.width, "d": scan.d, "N": scan.n, "runs": len(scan.p),
            "jammed": int(scan.jammed.sum()), "stuck": int(scan.stuck.sum()), "P*": p,
            "± P*": p_err, "r* = P*/N": p / scan.n, "± r*": p_err / scan.n}


def jump(scan: Scan, window: float) -> tuple[float, float]:
    """Mean N_Δ/N of the runs within a factor (1 ± window) of their seed's P*: (SAT side
    below, jammed above). A first-order transition: the first ≈ 0, the second finite."""
    stars = dict(zip(scan.brackets(), scan.p_star_seeds(), strict=True))
    ref = np.array([stars[int(s)] for s in scan.seed])
    frac = scan.n_delta / scan.n
    near = np.isfinite(ref) & (np.abs(np.log(scan.p / ref)) <= np.log1p(window))
    below, above = near & scan.sat_side, near & scan.jammed
    return (float(frac[below].mean()) if below.any() else np.nan,
            float(frac[above].mean()) if above.any() else np.nan)


def closest_jammed(scan: Scan) -> int | None:
    """Index of the jammed run at P_hi, just above P*, of the first seed whose transition is
    bracketed; None if no seed's is."""
    for s, (lo, hi) in scan.brackets().items():
        if np.isfinite(lo * hi):
            return int(np.flatnonzero((scan.seed == s) & (scan.p == hi))[0])
    return None


def mean_r_star(scans: Iterable[Scan]) -> float:
    """Mean r* = P*/N over the scans whose transition was bracketed (NaN if none was)."""
    values = np.array([s.r_star()[0] for s in scans])
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else np.nan
