"""Resumable on-disk results, keyed by a hash of the full configuration and of the code.

A sweep writes one file per finished point (``point-00012.pt``: λ, observations, optional weights)
atomically, so an interrupted run loses at most the point in flight and a rerun with the same
configuration skips every finished point. The key hashes the configuration *and* the source of
l2lib itself, so results computed by older code are never reused silently (myst-nb's cache, by
contrast, ignores imported modules).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from l2lib import __version__

_POINT = re.compile(r"point-(\d{5})\.pt$")


@lru_cache(maxsize=1)
def code_version() -> str:
    """l2lib's version plus a hash of its source files."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def jsonable(value: Any) -> Any:
    """A JSON-serialisable copy of configs made of dataclasses, arrays, tensors and dtypes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        return jsonable(value.detach().cpu().numpy())
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.dtype | torch.device | Path):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot put {type(value).__name__} into a store key; use plain values")


def config_key(config: Mapping[str, Any]) -> str:
    """16 hex digits identifying ``config`` under the current code version."""
    blob = json.dumps({"config": jsonable(config), "code": code_version()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class SweepStore:
    """The folder ``root/<name>-<key>`` holding the finished points of one sweep."""

    def __init__(self, root: str | os.PathLike, name: str, config: Mapping[str, Any]) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError(f"store name {name!r} may hold only letters, digits, '_', '.', '-'")
        self.config = jsonable(config)
        self.path = Path(root).expanduser() / f"{name}-{config_key(config)}"
        self.path.mkdir(parents=True, exist_ok=True)
        meta = self.path / "config.json"
        if not meta.exists():
            text = json.dumps({"config": self.config, "code": code_version()}, indent=1)
            tmp = meta.with_name("config.json.tmp")
            tmp.write_text(text)
            os.replace(tmp, meta)

    def _point(self, index: int) -> Path:
        return self.path / f"point-{index:05d}.pt"

    def finished(self) -> int:
        """Number of points finished in order (0, 1, …, n−1 all present)."""
        present = {int(m.group(1)) for p in self.path.iterdir() if (m := _POINT.search(p.name))}
        n = 0
        while n in present:
            n += 1
        return n

    def save(
        self,
        index: int,
        lam: float,
        observations: Mapping[str, np.ndarray],
        state: Mapping[str, torch.Tensor] | None = None,
    ) -> None:
        """Write point ``index`` atomically (weights are moved to the CPU)."""
        record = {
            "lam": float(lam),
            "obs": {k: torch.as_tensor(np.asarray(v)) for k, v in observations.items()},
            "state": None if state is None else {k: v.detach().cpu() for k, v in state.items()},
        }
        _atomic_save(record, self._point(index))

    def load(self, index: int) -> dict[str, Any]:
        """Point ``index`` as ``{"lam": float, "obs": {name: ndarray}, "state": dict | None}``."""
        record = torch.load(self._point(index), weights_only=True)
        record["obs"] = {k: v.numpy() for k, v in record["obs"].items()}
        return record

    def drop_state(self, index: int) -> None:
        """Remove the weights of point ``index`` (keeps its observations)."""
        record = torch.load(self._point(index), weights_only=True)
        if record["state"] is not None:
            record["state"] = None
            _atomic_save(record, self._point(index))


def open_store(
    root: str | os.PathLike | None, name: str, config: Mapping[str, Any]
) -> SweepStore | None:
    """``SweepStore(root, name, config)``, or None (nothing stored) when ``root`` is None."""
    return None if root is None else SweepStore(root, name, config)
