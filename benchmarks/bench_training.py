"""Training throughput of the papers' per-model loop against l2lib's ensemble engine.

Throughput is counted in model-epochs per second: one model trained once through the whole
training set is one model-epoch, so an ensemble of K members trained for E epochs makes K·E.

- ``reference``: the papers' scripts. A torchvision MNIST dataset (uint8 images, PIL +
  ``ToTensor`` + ``Normalize`` per sample), ``DataLoader(batch_size=64, shuffle=True)``, one
  ``nn.Sequential`` 784-128-128-10 sigmoid net, ``Adam(weight_decay=λ)``, ``loss.item()`` per batch.
- ``engine K=…``: :func:`l2lib.models.mlp` with K members trained by :func:`l2lib.train.train` on
  tensors already on the device (no early stop).

Usage: ``python benchmarks/bench_training.py [--device cpu|cuda] [--epochs N] [--n-train N]
[--ks 1,8,64] [--out benchmarks/results/<name>.json]``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from l2lib.data import DatasetUnavailableError, load_dataset  # noqa: E402
from l2lib.models.mlp import mlp  # noqa: E402
from l2lib.train.loop import TrainConfig, train  # noqa: E402

MEAN, STD = 0.1307, 0.3081
LR, LAM, BATCH = 1.5e-3, 1e-4, 64
WARMUP_BATCHES = 5
RESULTS = Path(__file__).resolve().parent / "results"
Run = Callable[[int], Callable[[], object]]  # run(E) prepares a timed run of E epochs


class InMemoryMNIST(datasets.MNIST):
    """torchvision's MNIST with the images given in memory: ``__getitem__`` is MNIST's own."""

    def __init__(self, data: torch.Tensor, targets: torch.Tensor, mean: float = MEAN,
                 std: float = STD) -> None:
        normalise = transforms.Normalize((mean,), (std,))
        transform = transforms.Compose([transforms.ToTensor(), normalise])
        datasets.VisionDataset.__init__(self, None, transform=transform)
        self.data, self.targets = data, targets


def mnist_images(
    n_train: int, name: str = "mnist", mean: float = MEAN, std: float = STD
) -> tuple[torch.Tensor, torch.Tensor, str]:
    """``n_train`` uint8 images (N, 28, 28), int64 labels, and the data kind.

    The real data set ``name`` (mnist or fashion-mnist, normalised with ``mean``/``std``) when
    :func:`l2lib.data.load_dataset` finds it (``$L2LIB_DATA``), else synthetic MNIST-shaped
    images from a fixed seed.
    """
    try:
        ds = load_dataset(name, n_train=n_train, n_test=1)
        pixels = ((ds.x_train * std + mean) * 255).round().clamp(0, 255).to(torch.uint8)
        return pixels.reshape(-1, 28, 28), ds.y_train, name
    except (DatasetUnavailableError, FileNotFoundError, RuntimeError):
        gen = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (n_train, 28, 28), generator=gen, dtype=torch.uint8)
        images[:, :4] = images[:, -4:] = images[:, :, :4] = images[:, :, -4:] = 0  # MNIST's border
        labels = torch.randint(0, 10, (n_train,), generator=gen)
        return images, labels, "synthetic MNIST-shaped"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    """Wall-clock seconds of ``fn()``, with the device synchronised before and after."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def reference_epochs(
    loader: DataLoader, device: torch.device, epochs: int, max_batches: int | None = None
) -> float:
    """Train one fresh net for ``epochs`` epochs the way the papers' scripts do; mean loss."""
    net = nn.Sequential(
        nn.Linear(784, 128), nn.Sigmoid(), nn.Linear(128, 128), nn.Sigmoid(), nn.Linear(128, 10)
    ).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=LR, weight_decay=LAM)
    criterion = nn.CrossEntropyLoss()
    running, seen = 0.0, 0
    for _ in range(epochs):
        for i, (images, labels) in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            images, labels = images.to(device).view(-1, 784), labels.to(device)
            optimizer.zero_grad()
            loss = criterion(net(images), labels)
            loss.backward()
            optimizer.step()
            running += loss.item()
            seen += 1
    return running / max(seen, 1)


def engine_epochs(x: torch.Tensor, y: torch.Tensor, k: int, epochs: int) -> Callable[[], object]:
    """A closure training a fresh K-member ensemble on (x, y) for ``epochs`` epochs."""
    model = mlp(784, [128, 128], 10, seeds=list(range(k)), activation="sigmoid", device=x.device)
    config = TrainConfig(
        loss="cross_entropy", optimizer="adam", lr=LR, batch_size=BATCH,
        max_epochs=epochs, patience=epochs + 1,
    )
    return lambda: train(model, x, y, lam=LAM, config=config)


def calibrate(run: Run, device: torch.device, seconds: float) -> int:
    """Epochs for a run of ``run(E)`` to last about ``seconds``, from one timed epoch."""
    return max(1, math.ceil(seconds / timed(run(1), device)))


def machine(device: torch.device) -> dict:
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
    else:
        info["device_name"] = _cpu_model() or info["processor"]
    return info


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per measurement (default: enough to last --min-seconds)")
    parser.add_argument("--n-train", type=int, default=6000)
    parser.add_argument("--ks", default="1,8,64", help="ensemble sizes K, comma-separated")
    parser.add_argument("--min-seconds", type=float, default=2.5)
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs per config; the fastest is kept")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    ks = [int(k) for k in args.ks.split(",")]

    images, labels, kind = mnist_images(args.n_train)
    n = len(labels)
    loader = DataLoader(InMemoryMNIST(images, labels), batch_size=BATCH, shuffle=True)
    x = ((images.reshape(n, -1).float() / 255 - MEAN) / STD).to(device)
    y = labels.to(device)
    print(f"data: {kind}, n_train={n}, device={device}, torch threads={torch.get_num_threads()}")

    configs: dict[str, tuple[int, Run]] = {
        "reference": (1, lambda e: lambda: reference_epochs(loader, device, e))
    }
    for k in ks:
        configs[f"engine K={k}"] = (k, lambda e, k=k: engine_epochs(x, y, k, e))

    reference_epochs(loader, device, 1, max_batches=WARMUP_BATCHES)  # warm-ups: a few batches
    warm = WARMUP_BATCHES * BATCH
    for k in ks:
        engine_epochs(x[:warm], y[:warm], k, 1)()
    epochs = {
        name: args.epochs or calibrate(run, device, args.min_seconds)
        for name, (_, run) in configs.items()
    }
    seconds: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(args.repeats):  # interleaved, so every config sees the same machine state
        for name, (_, run) in configs.items():
            seconds[name].append(timed(run(epochs[name]), device))

    rows = []
    for name, (k, _) in configs.items():
        best = min(seconds[name])
        rate = k * epochs[name] / best
        rows.append({"config": name, "K": k, "epochs": epochs[name], "seconds": best,
                     "seconds_all": seconds[name], "model_epochs_per_s": rate})
    for row in rows:
        row["speedup"] = row["model_epochs_per_s"] / rows[0]["model_epochs_per_s"]

    print(f"\n{'config':<14}{'K':>5}{'epochs':>8}{'seconds':>9}{'model-epochs/s':>16}{'speed-up':>10}")
    for r in rows:
        print(f"{r['config']:<14}{r['K']:>5}{r['epochs']:>8}{r['seconds']:>9.2f}"
              f"{r['model_epochs_per_s']:>16.2f}{r['speedup']:>9.1f}x")

    result = {
        "benchmark": "training throughput (model-epochs per second)",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "data": kind,
        "n_train": n,
        "batch_size": BATCH,
        "lr": LR,
        "lam": LAM,
        "timing": f"best of {args.repeats} interleaved timed runs after warm-up",
        "machine": machine(device),
        "results": rows,
    }
    out = args.out or RESULTS / f"training_{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {out}")
    return result


if __name__ == "__main__":
    main()
