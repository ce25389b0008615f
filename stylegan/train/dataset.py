"""Training images: the output of `sgt render --dataset N` (`dataset.json` + `images/`) or any folder of
square images, held in memory as uint8 and served as NCHW float in [-1, 1]."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from stylegan.images import from_uint8

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def list_images(root: str | Path) -> list[Path]:
    """Files of a dataset, in a fixed order: `dataset.json`'s list when present (render output), otherwise
    every image under `root` (recursively, masks `*_mask.png` skipped), sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset {root} is not a directory; render one with "
                                f"`sgt render --dataset 5000 --size 64 --outdir {root}`")
    meta = root / "dataset.json"
    if meta.is_file():
        return [root / rec["file"] for rec in json.loads(meta.read_text())["images"]]
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not p.stem.endswith("_mask"))
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}")
    return files


class ImageDataset:
    """All images of a dataset as one uint8 tensor `[N, 3, R, R]` (a 64 px set of 10k images is 120 MB).

    Args:
        root: dataset directory (see :func:`list_images`).
        resolution: wanted side R; None = the first image's size. Images of another size are resized
            (Lanczos) only if `resize` is True, otherwise refused.
        max_size: use only the first `max_size` images (the rest can serve as held-out data).
        resize: allow resizing to `resolution`.
    """

    def __init__(self, root: str | Path, resolution: int | None = None, max_size: int | None = None,
                 resize: bool = False):
        self.root = Path(root)
        files = list_images(root)
        if max_size is not None:
            files = files[:max_size]
        arrays = []
        for f in files:
            with Image.open(f) as im:
                im = im.convert("RGB")
                if resolution is None:
                    if im.width != im.height:
                        raise ValueError(f"{f} is {im.width}x{im.height}; training images must be square (align "
                                         "them first, e.g. `sgt align`)")
                    resolution = im.width
                if im.size != (resolution, resolution):
                    if not resize:
                        raise ValueError(f"{f} is {im.width}x{im.height}, expected {resolution}x{resolution}; "
                                         "re-render with --size or pass resize=True (--resize)")
                    im = im.resize((resolution, resolution), Image.Resampling.LANCZOS)
                arrays.append(np.asarray(im, dtype=np.uint8))
        if resolution is None or resolution & (resolution - 1) or resolution < 8:
            raise ValueError(f"image side must be a power of two >= 8, got {resolution}; pass --resolution and "
                             "--resize")
        self.resolution = int(resolution)
        self.images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # uint8 [N, 3, R, R]

    def __len__(self) -> int:
        return self.images.shape[0]

    def batch(self, indices: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
        """Images `indices [B]` as float `[B, 3, R, R]` in [-1, 1]."""
        return from_uint8(self.images[indices].to(device), channels_first=True)  # uint8 crosses to the device
