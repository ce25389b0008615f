"""Latent files: ws `[N, num_ws, w_dim]` and optional noise maps as one `.npz`, in the NVlabs projector's layout.

Keys:
- `w`: float32 `[N, num_ws, w_dim]`, exactly what NVlabs' `projector.py` writes as `projected_w.npz`
  and what its `generate.py --projected-w` reads (it renders every ws in the file).
- `noise/<layer>`: optional noise maps named as in `G.synthesis.noise_shapes()`
  (`noise/b8.conv0.noise_const`), `[r, r]` shared by the N images or `[N, 1, r, r]` per image; render
  with `G.synthesis(latents.ws, noise=latents.noise)`. NVlabs' tools ignore these keys.
- `metadata`: optional JSON string (seed, network, how the file was made).

Every writer of latents in the toolkit (`sgt generate --save-ws`, projection, edits, swap, the demo)
goes through `save_ws`, every reader through `load_ws`.
"""
from __future__ import annotations

import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from sgtcore.atomic import atomic_file
from stylegan.generator import NOISE_SUFFIX

NOISE_PREFIX = "noise/"
ArrayLike = torch.Tensor | np.ndarray


LATENT_SUFFIXES = (".npz",)  # what a path must end with to be read as a latent file (not an image)


class LatentFileError(ValueError):
    """A latent file is missing, unreadable, malformed, non-finite or made for another generator."""


@dataclass
class Latents:
    """What a latent file holds.

    Attributes:
        ws: float32 `[N, num_ws, w_dim]`.
        noise: `{layer name: [r, r] | [N, 1, r, r]}` (maybe empty), for `G.synthesis(ws, noise=...)`.
        metadata: free JSON-able information (maybe empty).
    """

    ws: torch.Tensor
    noise: dict[str, torch.Tensor] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


def _numpy(t: ArrayLike) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def _nonfinite(a: np.ndarray) -> str | None:
    """'2 NaN and 1 Inf values' or None when all values are finite."""
    nan, inf = int(np.isnan(a).sum()), int(np.isinf(a).sum())
    return f"{nan} NaN and {inf} Inf value(s)" if nan or inf else None


def _map_shape_ok(a: np.ndarray, n: int) -> bool:
    """A noise map `[r, r]`, `[n | 1, r, r]` or `[n | 1, 1, r, r]` (G checks r when the file is loaded)."""
    square = a.ndim >= 2 and a.shape[-1] == a.shape[-2]
    return square and (a.ndim == 2 or (a.ndim in (3, 4) and a.shape[0] in (1, n) and (a.ndim == 3 or a.shape[1] == 1)))


def save_ws(path: str | os.PathLike, ws: ArrayLike, noise: Mapping[str, ArrayLike] | None = None,
            metadata: Mapping[str, Any] | None = None) -> Path:
    """Write latents atomically (a complete file under `path`, or none and an older one kept).

    Args:
        path: the file to write (`.npz` by convention; written as given).
        ws: `[N, num_ws, w_dim]`, stored as float32.
        noise: optional `{layer name: [r, r] | [N, r, r] | [N, 1, r, r]}` (names as in
            `G.synthesis.noise_shapes()`; a name without '.noise_const' gets it).
        metadata: optional JSON-serialisable dict.

    Returns:
        `path` as a Path.

    Raises:
        ValueError: ws not 3-D, NaN/Inf in ws or a map, or a map of a shape no generator uses.
    """
    w = _numpy(ws).astype(np.float32, copy=False)
    if w.ndim != 3:
        raise ValueError(f"ws must have shape [N, num_ws, w_dim], got {list(w.shape)}")
    arrays = {"w": w}
    for name, value in (noise or {}).items():
        name = name if name.endswith(NOISE_SUFFIX) else name + NOISE_SUFFIX
        arrays[NOISE_PREFIX + name] = _numpy(value).astype(np.float32, copy=False)
    for key, a in arrays.items():
        bad = _nonfinite(a)
        if bad:
            raise ValueError(f"not writing {path}: {key} contains {bad}")
        if key != "w" and not _map_shape_ok(a, len(w)):
            raise ValueError(f"{key} must have shape [r, r], [N, r, r] or [N, 1, r, r] with N = {len(w)}, "
                             f"got {list(a.shape)}")
    if metadata:
        arrays["metadata"] = np.array(json.dumps(dict(metadata)))  # a unicode array: no pickle needed to read
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)  # a file object: np.savez would append '.npz' to a path without it
    return Path(path)


def load_ws(path: str | os.PathLike, G: torch.nn.Module | None = None) -> Latents:
    """Read latents written by `save_ws`, by NVlabs' projector (`projected_w.npz`) or by `np.savez(path, w=...)`.

    Args:
        path: the `.npz` file; `w` may be `[N, num_ws, w_dim]` or `[num_ws, w_dim]` (read as N = 1).
        G: when given, ws and noise maps are checked against this generator.

    Returns:
        `Latents` with float32 ws `[N, num_ws, w_dim]`, the noise maps (as stored) and the metadata.

    Raises:
        LatentFileError: the file is missing or unreadable, not an .npz, truncated, has no `w` or one of
            the wrong rank, holds NaN/Inf, or does not fit G (shape or noise layers); the message names
            the file.
    """
    path = Path(path)
    if not path.is_file():
        raise LatentFileError(f"{path}: " + ("a folder, not a latent file" if path.is_dir() else "no such latent file"))
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise LatentFileError(f"{path}: not a readable .npz latent file ({type(exc).__name__}: {exc}); "
                              "write one with stylegan.save_ws or `sgt generate --save-ws`") from exc
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise LatentFileError(f"{path}: a single .npy array, not an .npz with key 'w'; "
                              "write one with stylegan.save_ws or np.savez(path, w=ws)")
    with data:
        if "w" not in data.files:
            raise LatentFileError(f"{path}: no array 'w' (found {data.files or 'none'}); expected the NVlabs "
                                  "projector's layout, key 'w' [N, num_ws, w_dim]")
        keys = ["w"] + [k for k in data.files if k.startswith(NOISE_PREFIX) or k == "metadata"]
        try:
            arrays = {k: data[k] for k in keys}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise LatentFileError(f"{path}: truncated or corrupt ({type(exc).__name__}: {exc})") from exc
    w = arrays.pop("w")
    if not np.issubdtype(w.dtype, np.floating) or w.ndim not in (2, 3):
        raise LatentFileError(f"{path}: 'w' must be a float array [N, num_ws, w_dim] (or [num_ws, w_dim]), "
                              f"got {w.dtype} {list(w.shape)}")
    w = w[None] if w.ndim == 2 else w
    metadata = {}
    if "metadata" in arrays:
        try:
            metadata = json.loads(str(arrays.pop("metadata")[()]))
        except ValueError as exc:
            raise LatentFileError(f"{path}: 'metadata' is not valid JSON ({exc})") from exc
    noise = {k[len(NOISE_PREFIX):]: a for k, a in arrays.items()}
    for key, a in [("w", w)] + [(NOISE_PREFIX + k, a) for k, a in noise.items()]:
        if not np.issubdtype(a.dtype, np.floating):
            raise LatentFileError(f"{path}: '{key}' must be float, got {a.dtype}")
        bad = _nonfinite(a)
        if bad:
            raise LatentFileError(f"{path}: '{key}' contains {bad}; the latent is unusable, re-create it")
    ws = torch.from_numpy(w.astype(np.float32, copy=False))
    noise_t = {k: torch.from_numpy(a.astype(np.float32, copy=False)) for k, a in noise.items()}
    if G is not None:
        if tuple(ws.shape[1:]) != (G.num_ws, G.w_dim):
            raise LatentFileError(f"{path}: 'w' has shape {list(ws.shape)} but this generator takes "
                                  f"[N, {G.num_ws}, {G.w_dim}] (num_ws={G.num_ws}, w_dim={G.w_dim}); the file "
                                  "was made for another generator")
        try:
            G.synthesis.check_noise(noise_t, len(ws))
        except ValueError as exc:
            raise LatentFileError(f"{path}: {exc}; the noise maps were made for another generator") from exc
    return Latents(ws, noise_t, metadata)
