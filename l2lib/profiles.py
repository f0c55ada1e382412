"""Run profiles and the device to run on.

* ``smoke``: seconds; exercises every code path (tests, CI).
* ``quick``: minutes on a laptop CPU; shows each finding qualitatively (the default book build).
* ``paper``: the papers' protocol and scale; meant for a GPU.
"""

from __future__ import annotations

import platform

import torch

PROFILES = ("smoke", "quick", "paper")


def check_profile(profile: str) -> str:
    """``profile`` if it is one of :data:`PROFILES`, else a ValueError saying which exist."""
    if profile not in PROFILES:
        raise ValueError(
            f"unknown profile {profile!r}; choose one of {PROFILES} "
            "(smoke: seconds, quick: minutes on a CPU, paper: the published protocol on a GPU)"
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
