"""The minimum check's dense Hessian by reverse over reverse against forward over reverse.

:func:`l2lib.measure.jamming.check_run` diagonalises the Hessian of the live hinge loss
L(θ) = (1/P) Σ_μ ½ Δ_μ² θ(Δ_μ) (over the live data) of a jamming net at every state it checks.
It builds that Hessian as ``torch.func.jacrev(torch.func.grad(L))`` (reverse over reverse); the
reference is ``torch.func.hessian(L)`` (forward over reverse, torch's default). Both are timed
side by side in one process on one torch thread, interleaved, best of ``--repeats``, on the nets
of the quick and reference profiles (random data d = h, P = 2N, the state after 300 Adam steps at
lr 1e-2), and their largest entry-wise difference is reported.

Usage: ``python benchmarks/bench_jamming_check.py [--repeats 3] [--out PATH]``. Results:
``benchmarks/results/jamming_check_cpu.json``; a table is printed. Target: reverse over reverse
no slower than the reference at every size (ratio ≥ 1).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_training import machine  # noqa: E402

from l2lib.data.jamming import random_data  # noqa: E402
from l2lib.measure.jamming import gap_function  # noqa: E402
from l2lib.models.mlp import jamming_net, n_weights, width_for  # noqa: E402
from l2lib.train.hinge import HingeConfig, hinge_loss, minimise  # noqa: E402

RESULTS = HERE / "results"
# (depth, N target): quick's N ≈ 250 and 510, the reference's N ≈ 1000
SIZES = ((2, 250.0), (3, 510.0), (5, 510.0), (2, 1000.0), (5, 1000.0))


def problem(depth: int, n_target: float) -> tuple[torch.Tensor, object, int]:
    """A state θ of the net (depth, width for ``n_target``) after 300 Adam steps on P = 2N
    random data, the live loss θ ↦ L(θ), and N (the authors' count: weights, no biases)."""
    width = width_for(n_target, depth)
    net = jamming_net(width, width, depth, seeds=[0])
    n = n_weights(width, width, depth)
    x, y = random_data(2 * n, width, 0)
    minimise(net, x, y, config=HingeConfig(lr=1e-2, decay_every=10**6, max_steps=300),
             progress=False)
    theta = net.flat_parameters()[0].detach()
    gaps = gap_function(net.sizes, x, y)
    return theta, (lambda t: hinge_loss(gaps(t)[None])[0]), n


def compare(theta: torch.Tensor, loss, repeats: int) -> tuple[float, float, float]:
    """(best time of forward over reverse, of reverse over reverse, in s, and their largest
    entry-wise difference relative to the largest entry), timed interleaved."""
    ways = {"forward": lambda: torch.func.hessian(loss)(theta),
            "reverse": lambda: torch.func.jacrev(torch.func.grad(loss))(theta)}
    ways["reverse"]()  # warm-up
    best, out = dict.fromkeys(ways, float("inf")), {}
    for _ in range(repeats):
        for name, way in ways.items():
            start = time.perf_counter()
            out[name] = way()
            best[name] = min(best[name], time.perf_counter() - start)
    diff = float((out["forward"] - out["reverse"]).abs().max() / out["forward"].abs().max())
    return best["forward"], best["reverse"], diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS / "jamming_check_cpu.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = []
    for depth, n_target in SIZES:
        theta, loss, n = problem(depth, n_target)
        t_ref, t_new, diff = compare(theta, loss, args.repeats)
        rows.append({"depth": depth, "N": n, "parameters": theta.numel(),
                     "forward_over_reverse_s": t_ref, "reverse_over_reverse_s": t_new,
                     "ratio": t_ref / t_new, "max_relative_difference": diff})
        print(f"L = {depth}  N = {n:5d}  forward∘reverse {t_ref:7.2f} s   reverse∘reverse "
              f"{t_new:7.2f} s   ratio {t_ref / t_new:4.2f}   max |ΔH|/max |H| {diff:.1e}",
              flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "jamming_check", "date": datetime.datetime.now(datetime.UTC).isoformat(),
        "machine": machine(torch.device("cpu")), "torch_threads": 1, "repeats": args.repeats,
        "rows": rows}, indent=1) + "\n")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
