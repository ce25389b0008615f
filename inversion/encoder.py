"""An e4e-style encoder (Tov et al. 2021, "Designing an Encoder for StyleGAN Image Manipulation"):
image -> W+ as offsets from `w_avg`.

`ws_i = w_avg + w + delta_i`: one base code `w` for every layer plus per-layer offsets `delta_i`
(delta_0 = 0). Progressive training (e4e Sec. 4.1) unlocks the offsets one layer at a time
(`active_layers`), so the encoder first learns a W code and only then spreads into W+; the
delta-norm regulariser `sum_i ||delta_i||_2` keeps the codes near W, where edits behave.

The network is a small residual CNN; pooled features of three depths (fine, medium, coarse, as
in pSp's map2style) feed the heads. Saved as `config.json + model.safetensors`.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from stylegan.utils import assert_shape

FORMAT_VERSION = 1


@dataclass
class EncoderConfig:
    """Everything needed to rebuild an `Encoder`; written to `config.json`."""

    img_resolution: int
    num_ws: int
    w_dim: int
    channels: int = 32
    channel_max: int = 256
    hidden: int = 512


class _Down(nn.Module):
    """Residual block: two 3x3 convs with GroupNorm/LeakyReLU, then 2x average-pool downsampling."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.GroupNorm(min(8, cout), cout), nn.LeakyReLU(0.2),
                                  nn.Conv2d(cout, cout, 3, padding=1), nn.GroupNorm(min(8, cout), cout), nn.LeakyReLU(0.2))
        self.skip = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d((self.body(x) + self.skip(x)) / math.sqrt(2), 2)


class Encoder(nn.Module):
    """image `[N, 3, R, R]` in [-1, 1] -> ws `[N, num_ws, w_dim]` (= w_avg + w + masked offsets).

    Args:
        config: sizes (must match the generator's `img_resolution`, `num_ws`, `w_dim`).
        w_avg: the generator's `w_avg [w_dim]` (stored as a buffer, so the encoder is self-contained).
    """

    def __init__(self, config: EncoderConfig, w_avg: torch.Tensor | None = None):
        super().__init__()
        self.config = cfg = config
        levels = int(math.log2(cfg.img_resolution)) - 2  # downsample R -> 4
        chans = [min(cfg.channels * 2 ** i, cfg.channel_max) for i in range(levels + 1)]
        self.stem = nn.Sequential(nn.Conv2d(3, chans[0], 3, padding=1), nn.LeakyReLU(0.2))
        self.blocks = nn.ModuleList(_Down(chans[i], chans[i + 1]) for i in range(levels))
        # taps: fine (after the first block), medium (middle), coarse (last, kept spatial at 4x4)
        self.taps = sorted({0, levels // 2, levels - 1})
        feat = sum(chans[i + 1] for i in self.taps[:-1]) + chans[levels] * 16
        self.trunk = nn.Sequential(nn.Linear(feat, cfg.hidden), nn.LeakyReLU(0.2))
        self.to_w = nn.Linear(cfg.hidden, cfg.w_dim)
        self.to_delta = nn.Linear(cfg.hidden, cfg.num_ws * cfg.w_dim)
        for head in (self.to_w, self.to_delta):  # start at w_avg
            nn.init.zeros_(head.bias)
            head.weight.data.mul_(0.1)
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim) if w_avg is None else w_avg.detach().clone().float())
        self.register_buffer("active_layers", torch.tensor(cfg.num_ws))

    def set_active_layers(self, k: int) -> None:
        """Let offsets act on layers 1..k-1 only (k = 1: W codes; k = num_ws: full W+)."""
        self.active_layers.fill_(max(1, min(int(k), self.config.num_ws)))

    def codes(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Base code `w [N, w_dim]` (relative to w_avg) and masked offsets `delta [N, num_ws, w_dim]`."""
        r = self.config.img_resolution
        assert_shape(img, [None, 3, r, r], "encoder input")
        x = self.stem(img)
        pooled = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.taps[:-1]:
                pooled.append(x.mean((2, 3)))
        h = self.trunk(torch.cat([*pooled, x.flatten(1)], 1))
        w = self.to_w(h)
        delta = self.to_delta(h).view(-1, self.config.num_ws, self.config.w_dim)
        idx = torch.arange(self.config.num_ws, device=img.device)
        mask = ((idx >= 1) & (idx < self.active_layers)).to(delta.dtype)
        return w, delta * mask[None, :, None]

    def forward(self, img: torch.Tensor, return_delta: bool = False):
        """`[N, 3, R, R]` in [-1, 1] -> ws `[N, num_ws, w_dim]` (and the offsets, for the regulariser)."""
        w, delta = self.codes(img)
        ws = self.w_avg + w[:, None] + delta
        return (ws, delta) if return_delta else ws


def delta_norm(delta: torch.Tensor) -> torch.Tensor:
    """e4e's delta-norm regulariser `sum_i ||delta_i||_2`, averaged over the batch. delta `[N, num_ws, w_dim]`."""
    return delta.norm(dim=2).sum(1).mean()


def encoder_for(G: torch.nn.Module, **kwargs) -> Encoder:
    """A fresh encoder sized for generator `G` (kwargs: other `EncoderConfig` fields)."""
    cfg = EncoderConfig(img_resolution=G.img_resolution, num_ws=G.num_ws, w_dim=G.w_dim, **kwargs)
    return Encoder(cfg, w_avg=G.w_avg).to(G.w_avg.device)


def save_encoder(encoder: Encoder, directory: str | os.PathLike, metadata: dict | None = None,
                 half: bool = False) -> Path:
    """Write `config.json` + `model.safetensors` into `directory`.

    `half=True` stores the weights in float16 (half the file; `load_encoder` casts back to float32);
    `w_avg` stays float32 so the generator check stays exact.
    """
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = {"class_name": "Encoder", "format_version": FORMAT_VERSION, "config": asdict(encoder.config),
              "metadata": metadata or {}}
    state = {k: v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() and k != "w_avg" else v for k, v in state.items()}
    save_file(state, str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps(config, indent=1))
    return directory


def load_encoder(directory: str | os.PathLike, G: torch.nn.Module | None = None,
                 device: str | torch.device = "cpu") -> Encoder:
    """Load an encoder written by `save_encoder` (eval mode).

    Args:
        directory: the encoder folder.
        G: if given, check that the encoder fits it (resolution, num_ws, w_dim, w_avg).

    Raises:
        FileNotFoundError, ValueError (not an encoder, or made for another generator).
    """
    from safetensors.torch import load_file

    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(f"{directory}: no config.json; train an encoder with `sgt train-encoder`")
    meta = json.loads((directory / "config.json").read_text())
    if meta.get("class_name") != "Encoder":
        raise ValueError(f"{directory}: holds a {meta.get('class_name')!r}, not an Encoder")
    if int(meta.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(f"{directory}: encoder format {meta['format_version']} is newer than this code; upgrade")
    enc = Encoder(EncoderConfig(**meta["config"]))
    enc.load_state_dict(load_file(str(directory / "model.safetensors")))  # float16 weights are cast on copy
    enc = enc.to(device).eval().requires_grad_(False)
    if G is not None:
        c = enc.config
        if (c.img_resolution, c.num_ws, c.w_dim) != (G.img_resolution, G.num_ws, G.w_dim):
            raise ValueError(f"{directory}: encoder for {c.img_resolution}px, num_ws {c.num_ws}, w_dim {c.w_dim}; the "
                             f"generator is {G.img_resolution}px, num_ws {G.num_ws}, w_dim {G.w_dim}: pass the encoder "
                             "trained for this --network (sgt train-encoder --network ...)")
        from .pti import fingerprint

        made_for = meta.get("metadata", {}).get("generator")
        if (made_for and made_for != fingerprint(G)) or not torch.allclose(
                enc.w_avg, G.w_avg.to(enc.w_avg.device).float(), atol=1e-5):
            raise ValueError(f"{directory}: this encoder was trained for another generator (w_avg differs); "
                             "train one for this --network with `sgt train-encoder`")
    return enc
