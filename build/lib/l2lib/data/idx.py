"""Read and write IDX files (the MNIST format), plain or gzip-compressed, with numpy.

An IDX file is a 4-byte magic number — two zero bytes, a type code (0x08: unsigned byte) and the
number of dimensions n — then n big-endian int32 sizes, then the data in C order. Only the
unsigned-byte type is used by MNIST-type data and supported here.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "write_idx"]

_GZIP_MAGIC = b"\x1f\x8b"
_UBYTE = 0x08


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The uint8 array stored in the IDX file ``path`` (``.gz`` or raw, told by its content).

    Raises ValueError naming the file when it is not an unsigned-byte IDX file (wrong magic
    number), is truncated, has trailing bytes, or is a damaged gzip stream.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ValueError(f"{path}: damaged gzip stream ({err}); replace the file") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != _UBYTE or raw[3] == 0:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic number "
                         f"{raw[:4].hex() or 'missing'}, expected 000008xx)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} of {header} bytes)")
    shape = tuple(int(s) for s in np.frombuffer(raw[4:header], dtype=">i4"))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "has trailing bytes"
        raise ValueError(f"{path}: IDX file {what}: {len(raw)} bytes, shape {shape} needs "
                         f"{expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape).copy()


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write a uint8 ``array`` as an IDX file; gzip-compressed (reproducibly: mtime 0) when
    ``path`` ends in ``.gz``. Returns the path."""
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8 or not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx needs a uint8 array with 1-255 dimensions, got "
                         f"{array.dtype} with {array.ndim}")
    data = (bytes([0, 0, _UBYTE, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
            + array.tobytes())
    path = Path(path)
    if path.suffix == ".gz":
        data = gzip.compress(data, compresslevel=9, mtime=0)
    path.write_bytes(data)
    return path
