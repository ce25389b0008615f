"""Writers for foreign formats (rosinality `.pt`), so our models plug into e4e/pSp-style tools."""
from __future__ import annotations

from pathlib import Path

import torch

from stylegan.discriminator import Discriminator
from stylegan.formats.rosinality import generator_to_rosinality
from stylegan.generator import Generator


def save_rosinality(G: Generator, path: str | Path, D: Discriminator | None = None) -> Path:
    """Write `{g_ema, latent_avg}` (rosinality's inference checkpoint layout) to `path`."""
    if D is not None:
        raise NotImplementedError("writing a rosinality discriminator is not supported yet")
    g_ema, latent_avg = generator_to_rosinality({k: v.detach().cpu() for k, v in G.state_dict().items()})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"g_ema": g_ema, "latent_avg": latent_avg}, tmp)
    tmp.replace(path)
    return path
