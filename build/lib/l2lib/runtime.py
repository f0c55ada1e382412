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
    """``"auto"`` → CUDA if available, else CPU; an explicit device must be usable here."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        msg = f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'"
        raise ValueError(msg) from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} was requested but this machine has no usable CUDA GPU; "
            "run with device='cpu' (or 'auto')"
        )
    return dev


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
