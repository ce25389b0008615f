"""Reading the raw contents of a direction file without running anything from it.

`.npy` / `.npz` go through `numpy.load(allow_pickle=False)` (an object array, which only a pickle can
hold, is refused); `.pt` / `.pth` through the restricted torch reader `stylegan.load` uses for
rosinality files (tensors and plain containers only, every storage mapped to the CPU: e4e's `pose.pt`
was saved from a CUDA tensor, its storages say `cuda:0`).
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sgtcore.errors import CorruptCheckpointError, UnknownFormatError, UnsafeCheckpointError

NUMPY_SUFFIXES = (".npy", ".npz")
TORCH_SUFFIXES = (".pt", ".pth")
SUFFIXES = NUMPY_SUFFIXES + TORCH_SUFFIXES


def _head(path: Path, n: int = 8) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def read_numpy(path: Path) -> np.ndarray | dict[str, np.ndarray]:
    """An `.npy` array, or an `.npz` archive as `{key: array}` (read in full, the file closed)."""
    head = _head(path)
    if not head:
        raise CorruptCheckpointError(f"{path}: empty file")
    if path.suffix.lower() == ".npy" and not head.startswith(b"\x93NUMPY"):
        kind = "a pickle, which is never run here" if head[:1] == b"\x80" else "not an .npy array"
        raise UnknownFormatError(f"{path}: {kind}; an InterFaceGAN boundary is an `np.save`d array [1, w_dim]")
    if path.suffix.lower() == ".npz" and not head.startswith(b"PK"):
        raise UnknownFormatError(f"{path}: not an .npz archive (a GANSpace cache is written by np.savez_compressed)")
    what = "npz" if path.suffix.lower() == ".npz" else "npy"
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return loaded
        with loaded:  # an NpzFile: read every member now (object members raise here)
            return {k: loaded[k] for k in loaded.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "pickled" in str(exc):
            raise UnsafeCheckpointError(f"{path}: holds a pickled object array; refusing to unpickle it "
                                        "(direction files hold plain float arrays)") from exc
        raise CorruptCheckpointError(f"{path}: truncated or damaged .{what} ({exc})") from exc
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise CorruptCheckpointError(f"{path}: truncated or damaged .{what} ({type(exc).__name__}: {exc})") from exc


def read_torch(path: Path) -> Any:
    """A `torch.save`d object: tensors and plain containers only, on the CPU whatever device it names."""
    from stylegan.loading import _read_torch_file  # the one restricted torch reader (owned by stylegan)

    if not _head(path):
        raise CorruptCheckpointError(f"{path}: empty file")
    return _read_torch_file(path)


def read(path: str | Path) -> Any:
    """The raw contents by suffix: ndarray, `{key: ndarray}` or what `torch.load` gives.

    Raises:
        FileNotFoundError. UnknownFormatError: another suffix or not that format. UnsafeCheckpointError:
        the file asks for code or pickled objects. CorruptCheckpointError: truncated or damaged.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no direction file at {path}")
    suffix = path.suffix.lower()
    if suffix in NUMPY_SUFFIXES:
        return read_numpy(path)
    if suffix in TORCH_SUFFIXES:
        return read_torch(path)
    raise UnknownFormatError(f"{path}: not a direction file we read (suffixes: {', '.join(SUFFIXES)}); see "
                             "docs/formats_directions.md")


def as_array(value: Any, path: Path, what: str) -> np.ndarray:
    """A tensor or array as a float64 ndarray (NaN/Inf refused)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().double().numpy()
    if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.number):
        raise UnknownFormatError(f"{path}: {what} is a {type(value).__name__}, not a numeric array")
    arr = np.asarray(value, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise CorruptCheckpointError(f"{path}: {what} holds {int((~np.isfinite(arr)).sum())} NaN/Inf values; the "
                                     "file is damaged or was saved from a diverged run")
    return arr


__all__ = ["SUFFIXES", "NUMPY_SUFFIXES", "TORCH_SUFFIXES", "read", "read_numpy", "read_torch", "as_array"]
