"""Writing and reading projection outputs with the NVlabs projector's names.

One folder per target: `target.png`, `proj.png`, `projected_w.npz` (key `w`: `[1, num_ws, w_dim]`,
plus `noise/<layer>` maps when noise was optimised and the loss used) and, on request, `proj.gif`.
The folder is written under a temporary name and renamed when complete, so a failure (or an
interrupt) never leaves a half-written result.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import PIL.Image
import torch

from stylegan.images import to_uint8

from .project import ProjectionResult, check_finite, save_gif


def write_atomic_dir(final: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call `write(tmpdir)` on a fresh sibling temporary folder, then move it to `final`
    (replacing an older `final`). On any exception nothing is left behind."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.tmp"))
    try:
        write(tmp)
        tmp.chmod(0o755)  # mkdtemp makes 0700; results are ordinary shareable folders
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}.old{os.getpid()}")
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


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
    def write(tmp: Path) -> None:
        PIL.Image.fromarray(to_uint8(target)[0]).save(tmp / "target.png")
        PIL.Image.fromarray(to_uint8(result.image)[0]).save(tmp / "proj.png")
        arrays = {"w": result.ws.detach().cpu().numpy().astype(np.float32)}
        arrays.update({f"noise/{k}": v.cpu().numpy() for k, v in result.noise.items()})
        np.savez(tmp / "projected_w.npz", **arrays)
        hist = {k: v for k, v in result.history.items()}
        (tmp / "history.json").write_text(json.dumps(hist))
        if gif:
            if not result.frames:
                raise ValueError("gif=True needs frames: call project(..., frame_every=N)")
            save_gif(result.frames, tmp / "proj.gif")
        if extra is not None:
            extra(tmp)

    return write_atomic_dir(outdir, write)


def load_projection(path: str | os.PathLike) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Read `projected_w.npz` (ours or NVlabs'): ws `[1, num_ws, w_dim]` and the noise maps (maybe empty).

    Raises:
        FileNotFoundError, KeyError (no `w`), ProjectionError (NaN/Inf).
    """
    with np.load(path) as data:
        if "w" not in data:
            raise KeyError(f"{path}: no array 'w' (expected the NVlabs projector's projected_w.npz)")
        ws = torch.from_numpy(data["w"]).float()
        noise = {k[len("noise/"):]: torch.from_numpy(data[k]).float() for k in data.files if k.startswith("noise/")}
    if ws.ndim == 2:
        ws = ws[None]
    check_finite(ws, f"{path}: w")
    return ws, noise
