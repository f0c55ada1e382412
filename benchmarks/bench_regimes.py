"""Wall time of chapter 3's paper-profile sweep: the authors' loop against l2lib, a few β values.

Both run the protocol of arXiv 2512.11866 at the first ``--n-betas`` points of the β grid
(0, 2e-4, 4e-4, …) with warm starts and a fresh Adam at every β: 784-128-128-10 sigmoid MLP,
lr 1.5e-3, batch 64, at most 50 epochs per β, patience 5, three seeds.

- ``reference``: the authors' loop: per seed, a torchvision dataset with per-sample transforms
  and a shuffling ``DataLoader``, ``Adam(weight_decay=β)``, ``loss.item()`` per batch, early
  stopping on the epoch-mean training loss (their bookkeeping, which only affects the epochs run).
- ``l2lib``: :func:`l2lib.sweep.warm_sweep` on one three-member ensemble with the data on the
  device, with the authors' early stopping (as chapter 3 runs it); a member that has stopped
  leaves the computation;
- ``l2lib, all members to the end``: the same, but every member is stepped until the last one
  stops (what l2lib did before; forced here by passing the default error as a custom
  ``error_fn``): the ratio of the two is what dropping stopped members saves.

Both report seconds and epochs per β; the full 501-point sweep is *extrapolated* from the mean
seconds per β (labelled as such in the output). Data: Fashion-MNIST if
``l2lib.data.load_dataset("fashion-mnist")`` finds it (``$L2LIB_DATA``), else synthetic
images of its shape (the content changes the epochs run, not the time per epoch).

Usage: ``python benchmarks/bench_regimes.py [--device cuda] [--n-train 60000] [--n-betas 5]
[--skip-reference] [--out benchmarks/results/regimes_<device>.json]``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_training import InMemoryMNIST, machine, mnist_images, sync  # noqa: E402

from l2lib.experiments import regimes  # noqa: E402
from l2lib.measure import observables as measure  # noqa: E402
from l2lib.models.mlp import mlp  # noqa: E402
from l2lib.train import early_stopping  # noqa: E402
from l2lib.train.losses import member_error  # noqa: E402
from l2lib.train.sweep import warm_sweep  # noqa: E402

MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST's training pixels
RESULTS = Path(__file__).resolve().parent / "results"


def reference_sweep(loader: DataLoader, betas: np.ndarray, seed: int,
                    device: torch.device) -> tuple[list[float], list[int]]:
    """The authors' loop for one seed: seconds and epochs per β."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(784, 128), nn.Sigmoid(), nn.Linear(128, 128), nn.Sigmoid(),
                        nn.Linear(128, 10)).to(device)
    criterion = nn.CrossEntropyLoss()
    seconds, epochs = [], []
    for beta in betas:
        sync(device)
        start = time.perf_counter()
        optimizer = torch.optim.Adam(net.parameters(), lr=1.5e-3, weight_decay=float(beta))
        best, stale, epoch = float("inf"), 0, 0
        while epoch < 50 and stale < 5:
            epoch += 1
            total, batches = 0.0, 0
            for images, labels in loader:
                images, labels = images.to(device).view(-1, 784), labels.to(device)
                optimizer.zero_grad()
                loss = criterion(net(images), labels)
                loss.backward()
                optimizer.step()
                total += loss.item()
                batches += 1
            mean = total / batches
            best, stale = (mean, 0) if mean < best else (best, stale + 1)
        sync(device)
        seconds.append(time.perf_counter() - start)
        epochs.append(epoch)
    return seconds, epochs


def l2lib_sweep(x: torch.Tensor, y: torch.Tensor, betas: np.ndarray, device: torch.device,
                drop_stopped: bool = True) -> tuple[list[float], list[float]]:
    """l2lib's warm sweep, three seeds as one ensemble: seconds and mean epochs per β.
    ``drop_stopped=False`` steps every member until the last one stops."""
    settings = regimes.settings("paper")
    model = mlp(784, list(settings.hidden), 10, seeds=[0, 1, 2], activation="sigmoid",
                device=device)
    stamps: list[float] = []

    def observe(m, lam):  # a timestamp per finished β (after a device sync)
        sync(device)
        stamps.append(time.perf_counter())
        return {"train_acc": measure.accuracy(m, x[:1000], y[:1000])}

    sync(device)
    start = time.perf_counter()
    error_fn = None if drop_stopped else (
        lambda m, xb, yb: member_error(m(xb), yb, settings.train.loss))
    config = early_stopping.loop_config(settings.train, settings.early_stopping)
    result = warm_sweep(model, x, y, betas, config=config, observe=observe, progress=False,
                        error_fn=error_fn)
    seconds = np.diff([start, *stamps]).tolist()
    return seconds, result.obs["epochs"].mean(axis=1).tolist()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--n-train", type=int, default=60000)
    parser.add_argument("--n-betas", type=int, default=5)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    grid = regimes.settings("paper").betas
    betas = grid[: args.n_betas]
    images, labels, kind = mnist_images(args.n_train, "fashion-mnist", MEAN, STD)
    n = len(labels)
    x = ((images.reshape(n, -1).float() / 255 - MEAN) / STD).to(device)
    y = labels.to(device)
    print(f"data: {kind}, n_train={n}, device={device}, β = {betas.tolist()}")

    record = {"benchmark": "regimes", "data": kind, "n_train": n, "betas": betas.tolist(),
              "grid_points": len(grid), "machine": machine(device),
              "utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    sec, ep = l2lib_sweep(x, y, betas, device)
    record["l2lib"] = {"seconds_per_beta": sec, "epochs_per_beta": ep,
                       "extrapolated_full_sweep_s": float(np.mean(sec) * len(grid))}
    print(f"l2lib (3 seeds together): s/β {np.round(sec, 2).tolist()}, epochs {ep}; "
          f"full sweep extrapolated ≈ {record['l2lib']['extrapolated_full_sweep_s']:.0f} s")
    sec_all, ep_all = l2lib_sweep(x, y, betas, device, drop_stopped=False)
    record["l2lib_all_members"] = {"seconds_per_beta": sec_all, "epochs_per_beta": ep_all}
    record["drop_stopped_saving"] = float(np.sum(sec_all) / np.sum(sec))
    print(f"l2lib, every member to the end: s/β {np.round(sec_all, 2).tolist()}, epochs "
          f"{ep_all} (the same per member); dropping stopped members is "
          f"{record['drop_stopped_saving']:.2f}× faster")
    if not args.skip_reference:
        loader = DataLoader(InMemoryMNIST(images, labels, mean=MEAN, std=STD), batch_size=64,
                            shuffle=True)
        per_seed = [reference_sweep(loader, betas, seed, device) for seed in range(3)]
        sec_ref = np.sum([s for s, _ in per_seed], axis=0).tolist()
        record["reference"] = {"seconds_per_beta": sec_ref,
                               "epochs_per_beta": [e for _, e in per_seed],
                               "extrapolated_full_sweep_s": float(np.mean(sec_ref) * len(grid))}
        ratio = record["reference"]["extrapolated_full_sweep_s"] / (
            record["l2lib"]["extrapolated_full_sweep_s"])
        record["speedup"] = ratio
        print(f"reference (3 seeds one after another): s/β {np.round(sec_ref, 2).tolist()}; "
              f"full sweep extrapolated ≈ {record['reference']['extrapolated_full_sweep_s']:.0f} s;"
              f" l2lib is {ratio:.1f}× faster")
    out = args.out or RESULTS / f"regimes_{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1))
    print(f"written to {out}")
    return record


if __name__ == "__main__":
    main()
