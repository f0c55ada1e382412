"""What every layer needs about the run: profiles, the device, derived seeds, progress bars.

Profiles (the scale a chapter runs at):

* ``smoke``: seconds; exercises every code path (tests, CI).
* ``quick``: minutes on a laptop CPU; shows each finding qualitatively (the default book build).
* ``reference``: the scale each finding needs, within about an hour per chapter on 2 CPU cores;
  its results are committed with provenance and re-checked by CI.
* ``paper``: the papers' protocol and scale; meant for a GPU.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

PROFILES = ("smoke", "quick", "reference", "paper")
THREADS_ENV = "L2LIB_THREADS"  # intra-op threads of this process (overrides everything)
WORKERS_ENV = "L2LIB_WORKERS"  # processes training at the same time on this machine


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a Slurm allocation)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _positive_env(name: str) -> int | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"environment variable {name}={text!r} must be a positive integer; "
                         f"unset it or write e.g. {name}=1")
    return value


def intra_op_threads(workers: int | None = None) -> int:
    """The intra-op threads a training process should use: ``L2LIB_THREADS`` if set, else the
    usable cores shared among ``workers`` concurrent processes (default ``L2LIB_WORKERS``, else
    1), at least 1. Oversubscribing cores is costly: two processes with 2 threads each on 2
    cores ran 5.4× slower per step than alone, with 1 thread each they barely slowed."""
    threads = _positive_env(THREADS_ENV)
    if threads is not None:
        return threads
    if workers is None:
        workers = _positive_env(WORKERS_ENV) or 1
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    return max(1, usable_cores() // workers)


def configure_threads(workers: int | None = None, threads: int | None = None) -> int:
    """Set torch's intra-op threads to ``threads`` or :func:`intra_op_threads` (``workers``);
    returns the number set."""
    n = intra_op_threads(workers) if threads is None else int(threads)
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def _configure_at_import() -> None:
    """l2lib decides the threads when it is imported, unless the user fixed them through
    OpenMP's own variable (then torch already follows it). A ``torch.set_num_threads`` made
    before the import is therefore overridden: set ``L2LIB_THREADS`` or call it after."""
    told = os.environ.get(THREADS_ENV) or os.environ.get(WORKERS_ENV)
    if told or not os.environ.get("OMP_NUM_THREADS"):
        configure_threads()


_configure_at_import()


def check_profile(profile: str) -> str:
    """``profile`` if it is one of :data:`PROFILES`, else a ValueError saying which exist."""
    if profile not in PROFILES:
        raise ValueError(
            f"unknown profile {profile!r}; choose one of {PROFILES} "
            "(smoke: seconds, quick: minutes on a CPU, reference: about an hour per chapter on "
            "2 CPU cores, paper: the published protocol on a GPU)"
        )
    return profile


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` → CUDA if available, else CPU; an explicit device must be usable here.
    l2lib runs on ``cpu`` and ``cuda[:N]`` only (it trains in float64, which Apple's MPS lacks).
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        msg = f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'"
        raise ValueError(msg) from err
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device {device!r} is not supported by l2lib (it trains in float64, "
                         "which e.g. MPS lacks); use device = 'cpu', 'cuda' or 'auto'")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} was requested but this machine has no usable CUDA GPU; "
            "run with device='cpu' (or 'auto')"
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r}: this machine has {torch.cuda.device_count()} "
                         "GPU(s), numbered from 0")
    return dev


def check_seed(value: object, name: str = "seed") -> int:
    """``value`` as a seed: an integer in [0, 2**63); else a ValueError naming the setting."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) \
            or not 0 <= int(value) < 2**63:
        raise ValueError(f"{name} must be a non-negative integer (below 2**63), got {value!r}; "
                         f"e.g. {name} = 0")
    return int(value)


def describe_device(device: torch.device) -> str:
    """A short human-readable name of the device, e.g. 'cuda (NVIDIA H100)' or 'cpu (x86_64)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"


def derived_seed(*parts: int) -> int:
    """A 31-bit seed derived from integers (stable across platforms)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0] % 2**31)


def progress_bar(total: int, progress: bool | str | None, desc: str, initial: int = 0) -> tqdm:
    """A tqdm bar. ``progress``: True/False; None or a label (used as the description) shows
    one unless the environment variable ``L2LIB_PROGRESS`` is ``0`` (as in book builds)."""
    show = progress if isinstance(progress, bool) else os.environ.get("L2LIB_PROGRESS") != "0"
    return tqdm(total=total, initial=initial, desc=progress if isinstance(progress, str) else desc,
                disable=not show)


def point_seeds(member_seeds: Sequence[int], index: int, salt: int = 7) -> list[int]:
    """Seed of each member at sweep point ``index`` for one purpose (``salt``: 7 the data
    order, 13 the noise of a VAE's objective); reproducible when a sweep resumes."""
    return [int(np.random.SeedSequence([s, index, salt]).generate_state(1)[0])
            for s in member_seeds]
