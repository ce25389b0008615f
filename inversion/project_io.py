"""Writing and reading projection outputs with the NVlabs projector's names.

One folder per target: `target.png`, `proj.png`, `projected_w.npz` (key `w`: `[1, num_ws, w_dim]`,
plus `noise/<layer>` maps when noise was optimised and the loss used) and, on request, `proj.gif`.
The folder is written under a temporary name and renamed when complete (`sgtcore.atomic.atomic_dir`),
so a failure (or an interrupt) never leaves a half-written result.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import PIL.Image
import torch

from sgtcore.atomic import atomic_dir
from stylegan.images import to_uint8
from stylegan.latents import load_ws, save_ws

from .projection import ProjectionResult, save_gif


def save_projection(outdir: str | os.PathLike, target: torch.Tensor, result: ProjectionResult,
                    gif: bool = False, extra: Callable[[Path], None] | None = None) -> Path:
    """Write one target's projection atomically.

    Args:
        outdir: the folder to create (or replace).
        target: `[1, 3, R, R]` in [-1, 1], the image that was projected.
        result: from `project`.
        gif: also write `proj.gif` from `result.frames` (needs `frame_every > 0`).
        extra: called with the temporary folder to add more files (e.g. a PTI delta).

    Returns:
        `outdir` as a Path.
    """
    with atomic_dir(outdir) as tmp:
        PIL.Image.fromarray(to_uint8(target)[0]).save(tmp / "target.png")
        PIL.Image.fromarray(to_uint8(result.image)[0]).save(tmp / "proj.png")
        save_ws(tmp / "projected_w.npz", result.ws, noise=result.noise)
        hist = {k: v for k, v in result.history.items()}
        (tmp / "history.json").write_text(json.dumps(hist))
        if gif:
            if not result.frames:
                raise ValueError("gif=True needs frames: call project(..., frame_every=N)")
            save_gif(result.frames, tmp / "proj.gif")
        if extra is not None:
            extra(tmp)
    return Path(outdir)


def load_projection(path: str | os.PathLike) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Read `projected_w.npz` (ours or NVlabs'): ws `[1, num_ws, w_dim]` and the noise maps (maybe empty).

    Raises:
        stylegan.LatentFileError: missing or unreadable file, no `w`, NaN/Inf (see `stylegan.load_ws`).
    """
    latents = load_ws(path)
    return latents.ws, latents.noise
