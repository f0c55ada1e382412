"""Slice checks of the committed reference runs, the registry and each chapter's slice:
a slice recomputes the first points of one reference sweep with today's code and hands them
to :func:`l2lib.book.reference.compare_slice`.

A slice is the *same computation* as the reference run's first points: warm sweeps are causal
(point i depends only on points ≤ i), so a grid cut after a few points, or a scan cut after its
first batch, reproduces the reference's first points exactly, up to floating-point summation
order. The settings come from the reference's profile and are checked against the exported
store's recorded configuration (a reference run with other settings is reported, not compared).
Everything runs on the CPU with one thread (the reference runs' setting), so that reductions sum
in the same order.

Tolerances are relative (floors in :data:`l2lib.book.reference.ABS_FLOOR`). On the machine that
made a reference run a slice reproduces it to rounding; on a CPU with other vector units the same
code sums in another order and training amplifies the difference. Measured between two AMD EPYC
machines (an AVX2-only Zen 3, and the one that made the reference runs), same torch and one thread:
chapter 3's first four β agree to 1e-5; chapter 1's and 2's MLP slices differ by up to 2.5e-3 in
losses and norms, 3 images of 450 in accuracy and 3 % in the Lanczos estimate of λ_max; chapter 5's
path distances by 0.5 % at the first β and up to 36 % at the second (Pathfinder's steps amplify
rounding), so its slice stops at the first β. The tolerances below are about 4× those differences
(λ_max: 4e-2, only 1.35× the 3 % seen, as a ×1.05 edit must still fail; 1e-3 where no difference
was seen; looser for accuracies, one image of 2,000 being 5e-4, and for long stochastic
minimisations: jamming's 20k Adam steps); an edited committed number (say ×1.05) lies outside each.
Chapters without a slice say why in :data:`NO_SLICE`.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields, is_dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import numpy as np
import torch

from l2lib.store import jsonable, open_store, read_points
from l2lib.train.sweep import SweepResult

Slice = Callable[[Path], dict[str, SweepResult]]
SLICES: dict[str, Slice] = {}
"""Chapter stem → a function that recomputes a small slice of the chapter's reference run. It
receives the chapter's exported folder (``<out>/<stem>``: its ``provenance.json`` holds the
parameters) and returns SweepResults keyed by the exported store's name (``regimes-mnist-10k-up``)
or folder name (``<name>-<key>``); each is compared with the first points of that store."""
NO_SLICE: dict[str, str] = {}
"""Chapter stem → why it has no slice: reported by the slice check, not counted as a failure."""
Tolerances = Mapping[str, float] | Mapping[str, Mapping[str, float]]
SLICE_TOLERANCES: dict[str, Tolerances] = {}
"""Chapter stem → observation → relative tolerance (:func:`l2lib.book.reference.compare_slice`),
or → store-name pattern (fnmatch) → observation → relative tolerance, for a slice of stores with
different observations (:func:`tolerances_for`)."""


def register_slice(stem: str, tolerances: Tolerances) -> Callable[[Slice], Slice]:
    """Decorator: register ``function`` as chapter ``stem``'s slice check, comparing the
    observations named in ``tolerances`` (observation → relative tolerance; or store-name
    pattern → observation → relative tolerance)."""
    def register(function: Slice) -> Slice:
        SLICES[stem] = function
        SLICE_TOLERANCES[stem] = dict(tolerances)
        return function
    return register


def tolerances_for(stem: str, store: str) -> dict[str, float]:
    """The tolerances of chapter ``stem``'s slice for the store named ``store``: the chapter's
    own, or those of the first pattern that matches ``store`` (a ValueError if none does)."""
    tolerances = SLICE_TOLERANCES[stem]
    if not any(isinstance(v, Mapping) for v in tolerances.values()):
        return dict(tolerances)
    for pattern, by_observation in tolerances.items():
        if fnmatchcase(store, pattern):
            return dict(by_observation)
    raise ValueError(f"{stem}: no slice tolerances for the store {store!r} (patterns: "
                     f"{sorted(tolerances)})")


_STORE_DIR = re.compile(r"(?P<name>.+)-(?P<key>[0-9a-f]{16})$")


def store_name(folder: str) -> str:
    """The store name of a store folder name ``<name>-<key>`` (16 hex digits of key)."""
    match = _STORE_DIR.match(folder)
    if not match:
        raise ValueError(f"{folder!r} is not a store folder name <name>-<16 hex digits>")
    return match["name"]


def reference_stores(out_dir: str | os.PathLike, stem: str) -> dict[str, Path]:
    """Store folder name (``<name>-<key>``) → its exported .csv, for chapter ``stem`` (empty if
    the chapter was not exported). Several stores may share a name (e.g. two data sets of
    chapter 1's linear sweep): :func:`store_name` gives it."""
    folder = Path(out_dir) / stem / "stores"
    return {p.stem: p for p in sorted(folder.glob("*.csv"))} if folder.is_dir() else {}


def _provenance(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "provenance.json").read_text())


def _recorded(folder: Path, name: str,
              where: Callable[[Mapping[str, Any]], bool] = lambda config: True
              ) -> dict[str, Any]:
    """The recorded configuration of the one exported store named ``name`` for which
    ``where(config)`` holds (several stores may share a name, e.g. chapter 1's ``linear-D1-up``
    on two teachers)."""
    matches = [config for stem, path in reference_stores(folder.parent, folder.name).items()
               if store_name(stem) == name and where(
                   config := json.loads(path.with_suffix(".json").read_text())
                   ["metadata"]["config"])]
    if len(matches) != 1:
        raise ValueError(f"{folder}: {len(matches)} exported stores named {name!r} of that "
                         "kind (one expected)")
    return matches[0]


def _single_teacher(config: Mapping[str, Any]) -> bool:
    """A linear sweep on chapter 1's one-mode teacher (not the staircase's)."""
    return config["key"]["data"]["modes"] == [1.0]


def _same_settings(recorded: Any, settings: Any, name: str, ignore: tuple[str, ...]) -> None:
    """ValueError unless the reference store was computed with ``settings`` (fields in
    ``ignore`` aside: those the slice shortens). A field the recorded settings lack (added to the
    dataclass after the run) counts as recorded at its default, the behaviour the field was
    added with; a non-default value of it differs."""
    now = {k: v for k, v in jsonable(settings).items() if k not in ignore}
    then = {k: v for k, v in _with_defaults(dict(recorded), settings).items() if k not in ignore}
    if now != then:
        diff = sorted(k for k in set(now) | set(then) if now.get(k) != then.get(k))
        raise ValueError(f"the reference store {name} was computed with other settings "
                         f"(differing: {diff}); rerun it, or slice it with those settings")


def _with_defaults(recorded: dict[str, Any], settings: Any) -> dict[str, Any]:
    """``recorded`` (a dataclass's settings as stored) with the fields of ``settings``' class
    that it lacks set to their defaults, in nested dataclass settings too."""
    if not is_dataclass(settings):
        return recorded
    out = dict(recorded)
    for f in fields(settings):
        value = getattr(settings, f.name)
        if f.name in out:
            if is_dataclass(value) and isinstance(out[f.name], Mapping):
                out[f.name] = _with_defaults(dict(out[f.name]), value)
        elif f.default is not MISSING:
            out[f.name] = jsonable(f.default)
        elif f.default_factory is not MISSING:
            out[f.name] = jsonable(f.default_factory())
    return out


def _points(store_dir: Path, n_points: int, direction: str = "up") -> SweepResult:
    points = read_points(store_dir)[:n_points]
    obs = {k: np.stack([p["obs"][k] for p in points]) for k in points[0]["obs"]}
    return SweepResult(np.array([p["lam"] for p in points]), obs, direction)


class _OneThread:
    """One thread for torch and for numpy's and scipy's BLAS/OpenMP pools (threadpoolctl), as
    in the reference runs: reductions then sum in the same order."""

    def __enter__(self) -> None:
        from threadpoolctl import threadpool_limits

        self.threads = torch.get_num_threads()
        torch.set_num_threads(1)
        self.pools = threadpool_limits(limits=1)

    def __exit__(self, *exc: object) -> None:
        self.pools.restore_original_limits()
        torch.set_num_threads(self.threads)


@register_slice("03_regimes", {"norm": 1e-3, "train_ce": 1e-3, "test_ce": 1e-3,
                               "objective": 1e-3, "test_acc": 5e-3, "class_acc": 2e-2})
def regimes_slice(folder: Path) -> dict[str, SweepResult]:
    """Chapter 3: the first four points of the upward β sweep (β = 0 from a fresh
    initialisation, then three warm-started points)."""
    from l2lib.experiments import regimes

    profile = _provenance(folder)["profile"]
    settings = regimes.settings(profile)
    config = _recorded(folder, "regimes-mnist-10k-up")
    shortened = ("beta_max", "sweep_down", "hessian_every", "n_curvature")
    _same_settings(config["settings"], settings, "regimes-mnist-10k-up", shortened)
    cut = replace(settings, beta_max=3 * settings.beta_step, sweep_down=False, hessian_every=0,
                  n_curvature=0)
    data = regimes.load_regime_data(config["data"]["name"], cut)
    with _OneThread(), tempfile.TemporaryDirectory() as tmp:
        up = regimes.standard_sweep(data, cut, config["data"]["seeds"], tmp, progress=False)
    return {f"regimes-{data.name}-up": up.result}


@register_slice("04_vae", {"recon": 1e-3, "kl": 1e-3, "param_norm": 1e-3, "active_units": 0.0})
def vae_slice(folder: Path) -> dict[str, SweepResult]:
    """Chapter 4: the first point of the upward β sweep (a fresh VAE trained at the grid's
    smallest β)."""
    from l2lib.data import load_dataset
    from l2lib.experiments import vae, vae_profiles

    profile = _provenance(folder)["profile"]
    config = None
    for stem in reference_stores(folder.parent, folder.name):
        if store_name(stem).endswith("-up"):
            config = _recorded(folder, store_name(stem))
            name = store_name(stem)
            break
    if config is None:
        raise ValueError(f"{folder}: no upward VAE sweep exported")
    settings = vae_profiles.settings(profile, lam=float(config["settings"]["lam"]))
    _same_settings(config["settings"], settings, name, ())
    data_key = config["key"]["data"]
    seed = int(config["key"]["seeds"][0])
    cut = replace(settings, n_betas=2)
    data = load_dataset(data_key["name"], n_train=settings.n_train, seed=seed)
    with _OneThread(), tempfile.TemporaryDirectory() as tmp:
        vae.collapse_hysteresis(data, cut, seed, tmp)
        store = next(Path(tmp).glob(f"{name}-*"))
        return {name: _points(store, 1)}


@register_slice("05_pathfinder", {"minima-*": {"epochs": 0.0},
                                  "pathfinder-*": {"dist_ref": 2e-2, "dist_start": 2e-2,
                                                   "epochs": 0.0}})
def pathfinder_slice(folder: Path) -> dict[str, SweepResult]:
    """Chapter 5: the minima M1 … Mn (trained from scratch at β = 0) and the first β of the
    paths M1 → M2 … Mn (their distances to M1 and to each target cover the minima too; the
    second β differs between CPU types by up to 36 %, see the module doc). The
    paths towards chapter 3's checkpoints are not sliced: they start across the whole upward
    sweep (weights are not committed); chapter 3's slice checks that sweep."""
    from l2lib.experiments import pathfinder, pathfinder_profiles, regimes

    profile = _provenance(folder)["profile"]
    settings = pathfinder_profiles.settings(profile)
    names = {store_name(s).split("-", 1)[0]: store_name(s)
             for s in reference_stores(folder.parent, folder.name)}
    if not {"minima", "pathfinder"} <= set(names):
        raise ValueError(f"{folder}: no minima or Pathfinder store exported")
    minima_config = _recorded(folder, names["minima"])
    path_config = _recorded(folder, names["pathfinder"])
    _same_settings(minima_config["config"], settings.minima_train, names["minima"], ())
    _check_sweep(path_config, names["pathfinder"], betas=settings.betas,
                 config=settings.path_train)
    seed = (int(minima_config["seeds"][0]) - 1000) // 100  # train_minima's seeds 100 s + 1000 + j
    data = regimes.load_regime_data(minima_config["data"]["name"],
                                    regimes.settings(profile), seed=seed)
    with _OneThread(), tempfile.TemporaryDirectory() as tmp:
        minima = pathfinder.train_minima(data, settings, seed, tmp)
        pathfinder.minima_paths(data, minima, settings, seed, tmp, betas=settings.betas[:1],
                                progress=False)
        return {names["minima"]: _points(next(Path(tmp).glob(f"{names['minima']}-*")), 1),
                names["pathfinder"]: _points(
                    next(Path(tmp).glob(f"{names['pathfinder']}-*")), 1)}


@register_slice("06_jamming", {"runs": 0.0, "n_delta": 0.05, "loss": 0.05})
def jamming_slice(folder: Path) -> dict[str, SweepResult]:
    """Chapter 6: the first batch (the smallest grid ratio, every seed of the store) of the
    first parity scan's store (the whole scan, or its first group of seeds), from its grid run
    without bisection."""
    from l2lib.experiments import jamming

    profile = _provenance(folder)["profile"]
    settings = jamming.settings(profile)
    names = [store_name(s) for s in reference_stores(folder.parent, folder.name)
             if "random" not in s and not store_name(s).endswith(("-polish", "-converged"))]
    if not names:
        raise ValueError(f"{folder}: no parity scan exported")
    name = names[0]
    config = _recorded(folder, name)
    depth, width = int(config["depth"]), int(config["width"])
    seeds = [int(s) for s in config["seeds"]]  # all of the scan's, or one group of them
    _same_settings(config["settings"], replace(settings.parity, n_seeds=len(seeds)), name, ())
    # the grid without bisection: its first batch is the reference's first batch (the whole
    # grid is kept because the data pool is drawn, and projected, at the largest grid P)
    first = replace(settings.parity, rounds=0)
    n_target = next(n for n in settings.parity_n if jamming.width_for(n, depth, settings.parity_d)
                    == width)
    cut = replace(settings, parity=first)
    with _OneThread(), tempfile.TemporaryDirectory() as tmp:
        jamming.parity_scan(depth, n_target, cut, config["key"]["dataset"], seeds[0],
                            n_seeds=len(seeds), store_root=tmp)
        store = next(Path(tmp).glob(f"{name}-*"))
        return {name: _points(store, 1)}


def _check_sweep(recorded: Mapping[str, Any], name: str, **expected: Any) -> None:
    """ValueError unless every entry of ``expected`` (``key``, ``lams``/``betas``, ``config``,
    ``jitter``, ``curvature``: what keys the store) equals the recorded one."""
    for field, value in expected.items():
        now, then = jsonable(value), recorded.get(field)
        same = (np.allclose(np.asarray(now, float), np.asarray(then, float), rtol=1e-12,
                            atol=1e-12) if field in ("lams", "betas") and then is not None
                and len(now) == len(then) else now == then)
        if not same:
            raise ValueError(f"the reference store {name} was computed with another {field} "
                             f"(recorded {then!r}, today's profile {now!r}); rerun it, or "
                             "slice it with those settings")


def _first_points_up(sweep: Callable[[np.ndarray, str], None], name: str, lams: np.ndarray,
                     n_points: int) -> SweepResult:
    """Run ``sweep(cut_grid, store_root)`` on the first ``n_points`` of ``lams`` in a temporary
    store on one thread, and read back the upward store ``name``."""
    with _OneThread(), tempfile.TemporaryDirectory() as tmp:
        sweep(lams[:n_points], tmp)
        store = next(Path(tmp).glob(f"{name}-*"))
        return _points(store, n_points)


@register_slice("01_onset", {
    "linear-*": {"modes": 1e-3, "error": 1e-3, "objective": 1e-3},
    "*-mlp-*": {"norm": 1e-2, "error": 1e-2, "objective": 1e-2, "train_acc": 2e-2,
                "test_acc": 2e-2}})
def onset_slice(folder: Path) -> dict[str, SweepResult]:
    """Chapter 1: the first four points of the depth-2 linear sweep upwards (a first-order
    onset: its start from a fresh initialisation) and the first three of the two-hidden-layer
    MLP's."""
    from l2lib.data import load_dataset
    from l2lib.experiments import onset, onset_profiles
    from l2lib.train.sweep import warm_sweep

    settings = onset_profiles.settings(_provenance(folder)["profile"])
    recorded = _recorded(folder, "linear-D2-up", _single_teacher)
    seed = int(recorded["key"]["data"]["seed"])
    teacher = onset.make_teacher(settings, (1.0,), seed)
    lams = onset.linear_grid(settings, teacher.m, 2)
    _, key = onset.linear_setup(teacher, 2, settings, seed)
    _check_sweep(recorded, "linear-D2-up", key=key, lams=lams, config=settings.linear_train,
                 jitter=settings.jitter)
    out = {"linear-D2-up": _first_points_up(
        lambda grid, root: onset.deep_linear_hysteresis(teacher, 2, grid, settings, seed, root),
        "linear-D2-up", lams, 4)}

    recorded = next(_recorded(folder, s) for s in
                    {store_name(f) for f in reference_stores(folder.parent, folder.name)}
                    if s.endswith("-mlp-2h-up"))
    data = load_dataset(recorded["key"]["data"]["name"])
    name = f"{data.name}-mlp-2h-up"
    net, key = onset.mlp_setup(data, 2, settings, int(recorded["key"]["seeds"][0]))
    lams = onset.mlp_grid(settings, 2)
    _check_sweep(recorded, name, key=key, lams=lams, config=settings.mlp_train,
                 jitter=settings.mlp_jitter)
    observe = onset.polished(onset.classification_observer(data), data.x_train, data.y_train,
                             "cross_entropy", settings.mlp_polish_iters)

    def mlp_up(grid: np.ndarray, root: str) -> None:  # the upward half of onset.mlp_hysteresis
        warm_sweep(net, data.x_train, data.y_train, grid, config=settings.mlp_train,
                   observe=observe, direction="up", jitter=settings.mlp_jitter,
                   store=open_store(root, name, {"key": key, "lams": grid,
                                                 "config": settings.mlp_train,
                                                 "jitter": settings.mlp_jitter}))

    out[name] = _first_points_up(mlp_up, name, lams, 3)
    return out


@register_slice("02_curvature", {
    "curvature-linear-*": {"curvature": 1e-3, "eig_max": 1e-3, "modes": 1e-3, "error": 1e-3,
                           "objective": 1e-3},
    "curvature-*": {"curvature": 4e-2, "eig_max": 4e-2, "norm": 1e-2, "error": 1e-2,
                    "objective": 1e-2, "test_acc": 2e-2}})
def curvature_slice(folder: Path) -> dict[str, SweepResult]:
    """Chapter 2: the first four points of the depth-2 linear curvature sweep (exact curvature)
    and the first three of the two-hidden-layer MLP's (stochastic curvature, fixed probes)."""
    from l2lib.data import load_dataset
    from l2lib.experiments import curvature, curvature_profiles, onset

    settings = curvature_profiles.settings(_provenance(folder)["profile"])
    s = settings.onset
    recorded = _recorded(folder, "curvature-linear-D2", _single_teacher)
    seed = int(recorded["key"]["data"]["seed"])
    teacher = onset.make_teacher(s, (1.0,), seed)
    lams = onset.linear_grid(s, teacher.m, 2)
    _, key = onset.linear_setup(teacher, 2, s, seed)
    _check_sweep(recorded, "curvature-linear-D2", key=key, lams=lams, config=s.linear_train,
                 jitter=s.jitter, curvature=settings.linear)
    out = {"curvature-linear-D2": _first_points_up(
        lambda grid, root: curvature.linear_curvature_sweep(teacher, 2, grid, settings, seed,
                                                            root),
        "curvature-linear-D2", lams, 4)}

    name = next(s_ for s_ in {store_name(f) for f in reference_stores(folder.parent,
                                                                        folder.name)}
                if s_.startswith("curvature-") and s_.endswith("-2h"))
    recorded = _recorded(folder, name)
    data = load_dataset(recorded["key"]["data"]["name"])
    net, key = onset.mlp_setup(data, 2, s, int(recorded["key"]["seeds"][0]))
    lams = onset.mlp_grid(s, 2)
    _check_sweep(recorded, name, key=key, lams=lams, config=s.mlp_train, jitter=s.mlp_jitter,
                 curvature=settings.mlp)

    def mlp_up(grid: np.ndarray, root: str) -> None:  # mlp_curvature_sweep on a cut grid
        curvature.curvature_sweep(
            net, data.x_train, data.y_train, grid, config=s.mlp_train, loss="cross_entropy",
            settings=settings.mlp, extra=onset.classification_observer(data),
            jitter=s.mlp_jitter, polish_iters=s.mlp_polish_iters, store_root=root, name=name,
            key=key)

    out[name] = _first_points_up(mlp_up, name, lams, 3)
    return out
