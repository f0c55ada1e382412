"""Chapter 4: posterior collapse of a β-VAE, and whether curvature change points mark the
changes of its probe accuracy.

A fully connected Gaussian-decoder VAE (:mod:`l2lib.models.vae`) is swept warm in the KL weight
β, up and then down. At every point (:func:`collapse_observer`, means over the samples, nats):
the ELBO terms, the KL per latent dimension, the unit activity and the number of active units,
the test accuracy of a linear probe on the latent means μ and on the samples z = μ + σε the
decoder sees, the reconstruction error, ‖θ‖, and the scalar curvature R
(:mod:`l2lib.measure.curvature`, Hutchinson) of two landscapes with the noise held fixed:

* ``curvature``: the reconstruction term E_rec(θ) = ⟨−log p(x|z)⟩ alone — the VAE's analogue of
  the error E of chapter 2, measured at the minimiser of E_rec + β·KL; there its gradient is
  −β∇KL, not zero.
* ``curvature_obj``: the trained objective E_rec + β·KL itself (for comparison).

The grid is scaled by the data: a *linear* VAE with decoder variance σ² loses latent unit i at
β_i = ν_i/σ², ν_i the i-th eigenvalue of the data covariance (its optimum is probabilistic PCA
with noise variance βσ²; tested in tests/test_experiments_vae.py); :func:`pca_thresholds`
gives these β_i. :func:`findings` turns the sweeps into the chapter's verdicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from l2lib.analysis import collapse, transitions
from l2lib.analysis.findings import Finding, Verdict
from l2lib.data import Dataset
from l2lib.measure import curvature
from l2lib.measure.vae import (
    latent_means,
    latent_samples,
    member_objective,
    probe_accuracy,
    unit_activity,
)
from l2lib.models.vae import EnsembleVAE, elbo_terms, fixed_noise
from l2lib.store import open_store
from l2lib.train.loop import TrainConfig
from l2lib.train.losses import beta_objective
from l2lib.train.sweep import Observer, SweepResult, warm_sweep


@dataclass(frozen=True)
class VaeSettings:
    """Everything chapter 4 varies between profiles; the defaults are the ``quick`` profile.
    β_min, β_max are multiples of β_1 = ν_1/σ² (ν_1 the top eigenvalue of the training inputs'
    covariance); the grid is uniform in log β (distances are counted in its steps)."""

    latent: int = 8
    hidden: tuple[int, ...] = (32,)
    activation: str = "tanh"
    likelihood: str = "gaussian"
    sigma: float = 1.0
    n_seeds: int = 2
    n_train: int | None = None  # a stratified subset of the training split (None: all)
    beta_min: float = 0.14
    beta_max: float = 1.6
    n_betas: int = 34
    lam: float = 0.0  # L2 strength λ, the second control (fixed along a β sweep)
    train: TrainConfig = TrainConfig(loss="mse", optimizer="adam", lr=2e-3, batch_size=128,
                                     max_epochs=200, patience=10, min_delta=1e-4)
    first_train: TrainConfig = TrainConfig(loss="mse", optimizer="adam", lr=2e-3,
                                           batch_size=128, max_epochs=400, patience=20,
                                           min_delta=1e-4)
    au_threshold: float = 0.01
    probe_c: float = 1.0
    curvature_samples: int = 32
    noise_seed: int = 2025
    n_draws: int = 2000  # draws of each null distribution of the change-point test


def vae_inputs(data: Dataset, likelihood: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_train, x_test) for the decoder: as loaded for ``"gaussian"``; for ``"bernoulli"``
    mapped affinely onto [0, 1] by the training split's range (for digits: pixel/16)."""
    if likelihood != "bernoulli":
        return data.x_train, data.x_test
    lo, hi = data.x_train.min(), data.x_train.max()
    return (data.x_train - lo) / (hi - lo), ((data.x_test - lo) / (hi - lo)).clamp(0, 1)


def pca_thresholds(x: torch.Tensor, sigma: float, n: int) -> np.ndarray:
    """β_i = ν_i/σ² for the top ``n`` eigenvalues ν_i of the covariance of ``x`` (N, d),
    descending: where a linear β-VAE loses its i-th latent unit."""
    xc = x.detach().double().cpu()
    eig = torch.linalg.eigvalsh(torch.cov(xc.T, correction=0)).flip(0)
    return (eig[:n] / sigma**2).numpy()


def beta_grid(settings: VaeSettings, x: torch.Tensor) -> np.ndarray:
    """Log-spaced β from beta_min·β_1 to beta_max·β_1, β_1 = ν_1/σ² of the inputs ``x``."""
    top = float(pca_thresholds(x, settings.sigma, 1)[0])
    return np.geomspace(settings.beta_min * top, settings.beta_max * top, settings.n_betas)


def vae_setup(
    data: Dataset, settings: VaeSettings, seed: int = 0
) -> tuple[EnsembleVAE, dict[str, Any]]:
    """A fresh VAE ensemble for ``data`` and the store key describing model, data and seeds."""
    seeds = [seed + i for i in range(settings.n_seeds)]
    x = data.x_train
    model = EnsembleVAE(x.shape[1], settings.latent, settings.hidden, seeds=seeds,
                        activation=settings.activation, likelihood=settings.likelihood,
                        sigma=settings.sigma, dtype=x.dtype, device=x.device)
    key = {"model": "vae", "data": {"name": data.name, "n_train": data.n_train,
                                    "n_test": len(data.x_test)}, "seeds": seeds}
    return model, key


def collapse_observer(data: Dataset, settings: VaeSettings) -> Observer:
    """Per member: ELBO terms, KL per unit, activity, active units, the probe accuracy on the
    latent means (``probe_acc``) and on the samples z = μ + σε the decoder sees (``probe_z``, one
    fixed draw per digit), errors, ‖θ‖, and
    the scalar curvature of E_rec and of E_rec + β·KL (common random numbers: one fixed noise
    draw per sample, the same at every β)."""
    x, x_test = vae_inputs(data, settings.likelihood)
    eps = fixed_noise(x.shape[0], settings.latent, settings.noise_seed, x)
    eps_test = fixed_noise(x_test.shape[0], settings.latent, settings.noise_seed + 1, x)

    def observe(model: EnsembleVAE, beta: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            terms, test = elbo_terms(model, x, eps), elbo_terms(model, x_test, eps_test)
        activity = unit_activity(terms.mu)
        rows = []
        for k in range(model.n_members):
            row = []
            for weight in (0.0, float(beta[k])):  # E_rec alone, then the β-objective
                fn, theta = member_objective(model, k, x, weight, eps)
                est = curvature.scalar_curvature(fn, theta, "stochastic",
                                                 settings.curvature_samples, settings.noise_seed)
                row += [est.value, est.stderr, est.grad_norm, est.tr_h]
            rows.append(row)
        curv = torch.as_tensor(np.asarray(rows, dtype=np.float64))
        return {
            "recon": terms.recon, "kl": terms.kl, "kl_dims": terms.kl_dims, "elbo": terms.elbo,
            "objective": terms.objective(beta), "test_elbo": test.elbo,
            "sq_error": terms.sq_error, "test_sq_error": test.sq_error,
            "activity": activity, "active_units": (activity > settings.au_threshold).sum(-1),
            "probe_acc": probe_accuracy(terms.mu, data.y_train, latent_means(model, x_test),
                                        data.y_test, settings.probe_c),
            "probe_z": probe_accuracy(latent_samples(model, x, eps), data.y_train,
                                      latent_samples(model, x_test, eps_test), data.y_test,
                                      settings.probe_c),
            "param_norm": model.flat_parameters().detach().norm(dim=1),
            "curvature": curv[:, 0], "curvature_err": curv[:, 1], "grad_norm": curv[:, 2],
            "tr_h": curv[:, 3], "curvature_obj": curv[:, 4], "curvature_obj_err": curv[:, 5],
            "grad_norm_obj": curv[:, 6],
        }

    return observe


@dataclass
class BetaHysteresis:
    """An upward and a downward warm β sweep, both on the ascending grid."""

    betas: np.ndarray
    up: SweepResult
    down: SweepResult


def collapse_hysteresis(
    data: Dataset, settings: VaeSettings, seed: int = 0,
    store_root: str | Path | None = None,
) -> BetaHysteresis:
    """Sweep β up from a fresh VAE trained at the grid's first β, then down from where the
    upward sweep ended; every point is stored (resumable) under ``store_root``."""
    model, key = vae_setup(data, settings, seed)
    x, _ = vae_inputs(data, settings.likelihood)
    betas = beta_grid(settings, x)
    common = {"key": key, "betas": betas, "settings": settings}
    observe = collapse_observer(data, settings)
    no_targets = torch.zeros(x.shape[0], device=x.device)  # the VAE's error has no targets
    sweeps = {}
    for direction in ("up", "down"):
        store = open_store(store_root, f"vae-{data.name}-{direction}", common)
        sweeps[direction] = warm_sweep(
            model, x, no_targets, betas, config=settings.train, observe=observe,
            direction=direction, point_objective=beta_objective(settings.lam, model.seeds),
            first_config=settings.first_train if direction == "up" else None,
            store=store, progress=f"VAE β {'↑' if direction == 'up' else '↓'}")
    return BetaHysteresis(betas, sweeps["up"], sweeps["down"].ascending())


# --------------------------------------------------------------------------------------------
# Findings

ALPHA = 0.05
"""Significance level of the change-point test."""
MIN_GRID = 16
"""Fewest β values to tell a sharp drop of the probe from a decline (smoke has 10)."""
MIN_TARGETS = 3
"""Fewest probe change points (pooled over seeds) for the test to be run at all."""
DECISIVE_SEEDS = 5
DECISIVE_TARGETS = 10
"""A p-value ≥ α counts against the paper only with ≥ 5 seeds and ≥ 10 probe change points."""
CONTROLS = ("grad_norm", "kl", "param_norm")
CONTROL_NAMES = {"curvature": "R(E_rec)", "grad_norm": "‖∇E_rec‖", "kl": "KL",
                 "param_norm": "‖θ‖"}


@dataclass(frozen=True)
class VaeAnalysis:
    """What :func:`findings` reads, computed once from the sweeps: the change-point tests of
    the probe on z (``tests``, per candidate), of the probe on μ against the curvature
    (``test_mu``), of the downward sweep (``test_down``), and of the curvature of E_β
    (``test_obj``)."""

    tests: dict[str, collapse.CoincidenceTest]
    test_mu: collapse.CoincidenceTest
    test_down: collapse.CoincidenceTest
    test_obj: collapse.CoincidenceTest


def analyse(sweeps: BetaHysteresis, settings: VaeSettings, seed: int = 0) -> VaeAnalysis:
    """The change-point tests of chapter 4 (:func:`l2lib.analysis.collapse.change_point_tests`)."""
    n = settings.n_draws
    tests = collapse.change_point_tests(sweeps.up, "probe_z", ("curvature", *CONTROLS), n, seed)
    mu = collapse.change_point_tests(sweeps.up, "probe_acc", ("curvature",), n, seed)
    down = collapse.change_point_tests(sweeps.down, "probe_z", ("curvature",), n, seed)
    obj = collapse.change_point_tests(sweeps.up, "probe_z", ("curvature_obj",), n, seed)
    return VaeAnalysis(tests, mu["curvature"], down["curvature"], obj["curvature_obj"])


def transitions_finding(sweep: SweepResult) -> Finding:
    """Does the probe accuracy (on z, what the decoder sees) change in transitions, i.e. sharp
    drops (:func:`~l2lib.analysis.collapse.sharp_drops`) rather than only a smooth decline? The
    drops of the probe on μ are counted beside it (numbers only).

    Agrees if every seed's probe curve has a sharp drop, disagrees if none has, undecided if
    some do; not measurable on a grid of < :data:`MIN_GRID` points."""
    key, claim = "vae.accuracy_transitions", "Accuracy transitions of a VAE as β grows"
    paper = "transitions in model accuracy of a VAE on MNIST [2505.06597 v1; setup not public]"
    probe = np.asarray(sweep.obs["probe_z"])
    drops = [collapse.sharp_drops(probe[:, k]) for k in range(probe.shape[1])]
    with_drop = sum(d.size > 0 for d in drops)
    mu = np.asarray(sweep.obs["probe_acc"])
    drops_mu = [collapse.sharp_drops(mu[:, k]) for k in range(mu.shape[1])]
    numbers = {
        "sharp_drops": int(sum(d.size for d in drops)), "seeds_with_drop": with_drop,
        "sharp_drops_mu": int(sum(d.size for d in drops_mu)),
        "seeds_with_drop_mu": sum(d.size > 0 for d in drops_mu),
        "n_seeds": probe.shape[1], "probe_z_start": float(probe[0].mean()),
        "probe_z_end": float(probe[-1].mean()),
        "beta_total_up": collapse.mean_total_collapse_beta(sweep),
        "probe_z_collapsed": collapse.probe_after_collapse(sweep, "probe_z"),
        "probe_mu_collapsed": collapse.probe_after_collapse(sweep, "probe_acc"),
    }
    companion = (f"{numbers['sharp_drops']} sharp drops of the probe accuracy on z in "
                 f"{with_drop} of {probe.shape[1]} seeds, {numbers['probe_z_start']:.2f} → "
                 f"{numbers['probe_z_end']:.2f} (on μ: {numbers['sharp_drops_mu']} in "
                 f"{numbers['seeds_with_drop_mu']} seeds)")
    if probe.shape[0] < MIN_GRID:
        return Finding(key, claim, paper, companion, Verdict.NOT_MEASURABLE,
                       f"{probe.shape[0]} grid points; >= {MIN_GRID} are needed to tell a sharp "
                       "drop from a decline (quick has 34)", numbers=numbers)
    if with_drop == probe.shape[1]:
        return Finding(key, claim, paper, companion, Verdict.AGREES, numbers=numbers)
    if with_drop == 0:
        return Finding(key, claim, paper, companion, Verdict.DISAGREES,
                       "the probe declines smoothly: no fall beyond 5 noise units",
                       numbers=numbers)
    return Finding(key, claim, paper, companion, Verdict.UNDECIDED,
                   "some seeds drop sharply, others do not; more seeds would tell",
                   numbers=numbers)


def marks_finding(analysis: VaeAnalysis) -> Finding:
    """Do the curvature's change points lie closer to the probe's than chance?

    Agrees if p < :data:`ALPHA`; disagrees if p ≥ α with ≥ 5 seeds and ≥ 10 probe change points;
    undecided otherwise; not measurable with < :data:`MIN_TARGETS` probe change points or no
    curvature change point."""
    key = "vae.curvature_marks"
    claim = "Curvature change points mark the accuracy transitions"
    paper = "curvature change points mark transitions in model accuracy [2505.06597 v1]"
    t = analysis.tests["curvature"]
    numbers = {"p_curvature": t.p, "p_shift_curvature": t.p_shift,
               "p_surrogate_curvature": t.p_surrogate, "distance_curvature": t.statistic,
               "null_distance_curvature": t.null_shift, "probe_change_points": t.n_targets,
               "curvature_change_points": t.n_candidates, "n_seeds": t.n_members,
               "p_curvature_mu": analysis.test_mu.p, "p_curvature_down": analysis.test_down.p,
               "p_curvature_obj": analysis.test_obj.p}
    companion = (f"probe change points lie {t.statistic:.2f} grid steps from the nearest "
                 f"change point of R(E_rec) (chance {t.null_shift:.2f}); p = {t.p:.3g} over "
                 f"{t.n_members} seed(s), {t.n_targets} probe change points")
    if t.n_targets < MIN_TARGETS or t.n_candidates == 0:
        return Finding(key, claim, paper, companion, Verdict.NOT_MEASURABLE,
                       f"{t.n_targets} probe and {t.n_candidates} curvature change points; at "
                       f"least {MIN_TARGETS} and 1 are needed (the reference profile has them)",
                       numbers=numbers)
    if t.p < ALPHA:
        return Finding(key, claim, paper, companion, Verdict.AGREES, numbers=numbers)
    if t.n_members >= DECISIVE_SEEDS and t.n_targets >= DECISIVE_TARGETS:
        return Finding(key, claim, paper, companion, Verdict.DISAGREES,
                       f"no closer than chance (p ≥ {ALPHA})", numbers=numbers)
    return Finding(key, claim, paper, companion, Verdict.UNDECIDED,
                   f"p ≥ {ALPHA} from {t.n_members} seed(s) and {t.n_targets} probe change "
                   f"points; the reference profile ({DECISIVE_SEEDS}+ seeds) decides",
                   numbers=numbers)


def specificity_finding(analysis: VaeAnalysis, ratio: np.ndarray) -> Finding:
    """Does the curvature mark the probe's changes better than simpler observables?

    ``ratio``: R·(1 + ‖∇E_rec‖²)/(tr H)² at every point (a fact of this setting: when it is ≈ 1,
    R carries the information of tr H and ‖∇E_rec‖). Agrees if the curvature's test is
    significant and no control's is; disagrees if a control's is significant with a mean
    distance no larger than the curvature's; undecided otherwise (including when the curvature
    itself is not significant)."""
    key = "vae.curvature_specific"
    claim = "The curvature, not a simpler observable, marks the transitions"
    paper = "implied by the claim: the curvature is the marker [2505.06597 v1]"
    t = analysis.tests
    ratio = np.asarray(ratio, dtype=np.float64)
    numbers: dict[str, Any] = {f"p_{c}": t[c].p for c in CONTROLS}
    numbers.update({f"distance_{c}": t[c].statistic for c in CONTROLS})
    numbers.update({"formula_ratio_min": float(np.nanmin(ratio)),
                    "formula_ratio_max": float(np.nanmax(ratio))})
    companion = "; ".join(f"{CONTROL_NAMES[c]}: p = {t[c].p:.3g}, distance {t[c].statistic:.2f}"
                          for c in ("curvature", *CONTROLS))
    significant = [c for c in CONTROLS if t[c].p < ALPHA]
    as_close = [c for c in significant if t[c].statistic <= t["curvature"].statistic]
    if as_close:
        names = ", ".join(CONTROL_NAMES[c] for c in as_close)
        return Finding(key, claim, paper, companion, Verdict.DISAGREES,
                       f"{names} mark(s) the probe's changes at least as closely", numbers=numbers)
    if t["curvature"].p >= ALPHA:
        return Finding(key, claim, paper, companion, Verdict.UNDECIDED,
                       "the curvature itself is not closer than chance here", numbers=numbers)
    if not significant:
        return Finding(key, claim, paper, companion, Verdict.AGREES, numbers=numbers)
    return Finding(key, claim, paper, companion, Verdict.UNDECIDED,
                   "controls are significant too, though farther than the curvature",
                   numbers=numbers)


def hysteresis_finding(sweeps: BetaHysteresis) -> Finding:
    """Hysteresis between the warm sweeps (no paper value: undecided, with the numbers)."""
    up, down = sweeps.up, sweeps.down
    width = transitions.hysteresis_width(np.log10(sweeps.betas), up.mean("active_units"),
                                         down.mean("active_units"))
    numbers = {"hysteresis_decades": width,
               "beta_total_down": collapse.mean_total_collapse_beta(down),
               "units_up_min": float(up.mean("active_units")[0]),
               "units_down_min": float(down.mean("active_units")[0]),
               "probe_up_min": float(up.mean("probe_z")[0]),
               "probe_down_min": float(down.mean("probe_z")[0])}
    return Finding("vae.hysteresis", "Hysteresis between warm sweeps up and down in β",
                   "hysteresis of warm L2 sweeps [2505.06597]; not reported for the VAE",
                   f"branches differ over {width:.2f} decades of β; at the smallest β "
                   f"{numbers['units_down_min']:.3g} vs {numbers['units_up_min']:.3g} active "
                   "units", Verdict.UNDECIDED, "the paper states no VAE value to compare with",
                   numbers=numbers)


def findings(sweeps: BetaHysteresis, analysis: VaeAnalysis) -> list[Finding]:
    """Every verdict chapter 4 reports, in the order of the chapter."""
    return [transitions_finding(sweeps.up), marks_finding(analysis),
            specificity_finding(analysis, collapse.curvature_formula_ratio(sweeps.up.obs)),
            hysteresis_finding(sweeps)]


def summary_numbers(found: Sequence[Finding], **extra: Any) -> dict[str, Any]:
    """The numbers of all findings in one dict, plus each finding's verdict and companion text
    (``<name>_verdict``, ``<name>_text``; name: the key without ``vae.``) for glue, and
    ``extra``."""
    out: dict[str, Any] = {}
    for f in found:
        out.update(f.numbers)
        name = f.key.removeprefix("vae.")
        out[f"{name}_verdict"] = f.verdict.value
        out[f"{name}_text"] = f.companion + (f" ({f.note})" if f.note else "")
    out.update(extra)
    return out
