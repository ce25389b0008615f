"""Conversions between generator outputs (NCHW in [-1, 1]) and uint8 images."""
from __future__ import annotations

import numpy as np
import torch


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """`[N, C, H, W]` in [-1, 1] -> uint8 `[N, H, W, C]` (clamped, rounded like the official scripts)."""
    return (img.detach().permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8).cpu().numpy()


def from_uint8(arr: np.ndarray | torch.Tensor, channels_first: bool = False) -> torch.Tensor:
    """uint8 `[H, W, C]` or `[N, H, W, C]` (array or tensor, on any device) -> float `[N, C, H, W]` in [-1, 1].

    `channels_first=True` reads `[C, H, W]` / `[N, C, H, W]` instead (e.g. a training set stored NCHW).
    """
    t = arr if isinstance(arr, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(arr))
    if t.ndim == 3:
        t = t[None]
    if not channels_first:
        t = t.permute(0, 3, 1, 2)
    return t.float() / 127.5 - 1
