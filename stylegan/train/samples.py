"""Image grids of samples (PNG)."""
from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from stylegan.images import to_uint8


def make_grid(images: torch.Tensor, cols: int) -> torch.Tensor:
    """`[N, C, H, W]` -> one image `[C, rows*H, cols*W]` (row-major; missing cells black = -1)."""
    n, c, h, w = images.shape
    rows = -(-n // cols)
    pad = images.new_full((rows * cols - n, c, h, w), -1.0)
    x = torch.cat([images, pad]).reshape(rows, cols, c, h, w)
    return x.permute(2, 0, 3, 1, 4).reshape(c, rows * h, cols * w)


def save_grid(images: torch.Tensor, path: str | Path, cols: int) -> Path:
    """Write `[N, 3, H, W]` images in [-1, 1] as a PNG grid with `cols` columns."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_uint8(make_grid(images.detach().float().cpu(), cols)[None])[0]).save(path)
    return path
