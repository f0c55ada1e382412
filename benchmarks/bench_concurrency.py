"""Two trainings at once against one alone: what oversubscribed threads cost, and l2lib's fix.

Each training is a separate process running :func:`l2lib.train.loop.train` on a K = 3 ensemble
(unless said otherwise) of 784-128-128-10 sigmoid MLPs (Adam, minibatches of 64, synthetic
MNIST-sized inputs) for a fixed number of steps. Scenarios:

- ``alone``: one process, threads as l2lib decides for one worker (all usable cores);
- ``alone, 1 thread``: one process with ``L2LIB_THREADS=1``;
- ``two, all cores each``: two processes at once, each with as many threads as usable cores
  (``L2LIB_THREADS=<cores>``: torch's default before l2lib chose threads);
- ``two, l2lib``: two processes at once told ``L2LIB_WORKERS=2`` (l2lib gives each
  cores // 2 threads, at least 1);
- ``one member, 1 thread``: one process, K = 1, ``L2LIB_THREADS=1``;
- ``members split 2 + 1, l2lib``: K = 2 and K = 1 at once, as ``two, l2lib`` (chapter 3's three
  seeds as two processes: what splitting an ensemble across workers gains).

Reported: steps per second of each process and ``ratio`` = member-steps per second of all of
them together (steps per second × K, summed) divided by that of the faster of ``alone`` and
``alone, 1 thread`` (≥ 1: the arrangement trains members no slower than one K = 3 process).

Usage: ``python benchmarks/bench_concurrency.py [--steps N] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(steps: int, members: int) -> None:
    """Train a ``members``-member ensemble for ``steps`` minibatch steps; print steps per second,
    the members and the threads used."""
    import torch

    from l2lib.models.mlp import mlp
    from l2lib.train.loop import TrainConfig, train

    batch = 64
    n = batch * 50
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 784, generator=gen)
    y = torch.randint(0, 10, (n,), generator=gen)
    net = mlp(784, [128, 128], 10, seeds=list(range(members)), activation="sigmoid")
    epochs = max(1, steps // (n // batch))
    config = TrainConfig(batch_size=batch, max_epochs=epochs, patience=epochs + 1)
    train(net, x[:batch * 2], y[:batch * 2], lam=1e-4, config=TrainConfig(max_epochs=1))  # warm-up
    clock = time.perf_counter()
    train(net, x, y, lam=1e-4, config=config)
    wall = time.perf_counter() - clock
    print(json.dumps({"steps_per_s": epochs * (n // batch) / wall, "members": members,
                      "threads": torch.get_num_threads()}))


def run(n_processes: int, env: dict[str, str], steps: int,
        members: tuple[int, ...] | None = None) -> list[dict]:
    """Start ``n_processes`` workers at once (``members``: K of each, default 3); their
    reports."""
    members = members or (3,) * n_processes
    full = {k: v for k, v in os.environ.items()
            if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "L2LIB_THREADS", "L2LIB_WORKERS")}
    full.update(env, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", "--steps", str(steps),
                               "--members", str(k)], env=full, stdout=subprocess.PIPE, text=True)
             for k in members]
    return [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--members", type=int, default=3, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(ROOT / "benchmarks/results/concurrency_cpu.json"))
    args = parser.parse_args()
    if args.worker:
        worker(args.steps, args.members)
        return
    sys.path.insert(0, str(ROOT))
    from l2lib.runtime import usable_cores

    cores = usable_cores()
    load_before = os.getloadavg()[0]  # other jobs on the machine distort every scenario
    alone = run(1, {}, args.steps)
    scenarios = {
        "alone": alone,
        "alone, 1 thread": run(1, {"L2LIB_THREADS": "1"}, args.steps),
        "two, all cores each": run(2, {"L2LIB_THREADS": str(cores)}, args.steps),
        "two, l2lib": run(2, {"L2LIB_WORKERS": "2"}, args.steps),
        "one member, 1 thread": run(1, {"L2LIB_THREADS": "1"}, args.steps, (1,)),
        "members split 2 + 1, l2lib": run(2, {"L2LIB_WORKERS": "2"}, args.steps, (2, 1)),
    }
    base = 3 * max(scenarios["alone"][0]["steps_per_s"],
                   scenarios["alone, 1 thread"][0]["steps_per_s"])
    rows = {name: {"members": [r["members"] for r in reps],
                   "threads": [r["threads"] for r in reps],
                   "steps_per_s": [round(r["steps_per_s"], 1) for r in reps],
                   "ratio": round(sum(r["steps_per_s"] * r["members"] for r in reps) / base, 2)}
            for name, reps in scenarios.items()}
    record = {"benchmark": "bench_concurrency", "utc": datetime.datetime.now(
        datetime.timezone.utc).isoformat(timespec="seconds"), "machine": platform.machine(),
        "usable_cores": cores, "steps": args.steps, "scenarios": rows,
        "load_average_before": round(load_before, 2),
        "note": ("provisional: other jobs shared the CPU (load average before "
                 f"{load_before:.1f})") if load_before > 0.5 else ""}
    for name, row in rows.items():
        print(f"{name:<27} members {row['members']}  threads {row['threads']}  "
              f"steps/s {row['steps_per_s']}  ratio {row['ratio']}")
    Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
