"""An e4e-style encoder (Tov et al. 2021, "Designing an Encoder for StyleGAN Image Manipulation"):
image -> W+ as offsets from `w_avg`.

`ws_i = w_avg + w + delta_i`: one base code `w` for every layer plus per-layer offsets `delta_i`
(delta_0 = 0). Progressive training (e4e Sec. 4.1) unlocks the offsets one layer at a time
(`active_layers`), so the encoder first learns a W code and only then spreads into W+; the
delta-norm regulariser `sum_i ||delta_i||_2` keeps the codes near W, where edits behave.

The network is a small residual CNN; pooled features of three depths (fine, medium, coarse, as
in pSp's map2style) feed the heads. Saved in the toolkit's model format (`sgtcore.modelio`).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as F

from sgtcore import modelio, registry
from sgtcore.errors import ArchitectureMismatchError
from stylegan import Generator, fingerprint
from stylegan.utils import assert_shape

if TYPE_CHECKING:
    from .formats import ForeignEncoder

_REMAKE = "train one for this generator with `sgt train-encoder --network ...`"


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

    @classmethod
    def from_config(cls, config: dict) -> Encoder:
        """A fresh encoder from the `config` dict `save_encoder` stores (w_avg comes with the weights)."""
        return cls(EncoderConfig(**config))

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


def encoder_for(G: Generator, **kwargs) -> Encoder:
    """A fresh encoder sized for generator `G` (kwargs: other `EncoderConfig` fields)."""
    cfg = EncoderConfig(img_resolution=G.img_resolution, num_ws=G.num_ws, w_dim=G.w_dim, **kwargs)
    return Encoder(cfg, w_avg=G.w_avg).to(G.w_avg.device)


def save_encoder(encoder: Encoder, directory: str | os.PathLike, metadata: dict | None = None,
                 half: bool = False, generator: Generator | str | None = None) -> Path:
    """Write the encoder in the toolkit's model format (`sgtcore.modelio`), atomically.

    Args:
        encoder: the encoder.
        directory: its folder (other files there, e.g. `log.jsonl`, are kept).
        metadata: free JSON (training settings; `network`: the generator's name, quoted in errors).
        half: store the weights in float16 (half the file; `load_encoder` casts back to float32);
            `w_avg` stays float32 so the generator check stays exact.
        generator: the generator it was trained for (G or `stylegan.fingerprint(G)`).
    """
    return modelio.save(encoder, directory, metadata=metadata, generator=generator, half=half)


def load_encoder(directory: str | os.PathLike, G: Generator | None = None,
                 device: str | torch.device = "cpu") -> Encoder | ForeignEncoder:
    """Load an encoder written by `save_encoder` (or in the first, pre-`format` layout), or a pSp / e4e /
    ReStyle checkpoint file (`inversion.formats.load`: same call, ws `[N, num_ws, w_dim]`), in eval mode.

    Args:
        directory: the encoder folder, a registered encoder name (`sgtcore.registry.names('encoder')`), or a
            pSp / e4e / ReStyle `.pt` file as their repositories save it.
        G: if given, check that the encoder fits it (resolution, num_ws, w_dim, recorded fingerprint, w_avg).
        device: where to put it.

    Raises:
        FileNotFoundError: no encoder there. ArchitectureMismatchError: not an encoder, or made for another
        generator. CorruptCheckpointError, UnknownFormatError: see `sgtcore.modelio.load`.
    """
    directory = Path(directory)
    if not directory.exists():
        if len(directory.parts) == 1 and str(directory) in registry.names("encoder"):
            directory = registry.find("encoder", str(directory))  # a registered name, e.g. 'synthheads_encoder'
        else:
            # usually a relative path typed for another working directory: say so, and how to avoid it
            raise FileNotFoundError(
                f"{directory}: no such folder (resolved to {directory.absolute()} from the working directory "
                f"{Path.cwd()}); load a shipped or registered encoder by name instead "
                f"({', '.join(registry.names('encoder')) or 'none registered'}), or use find_encoder(G)")
    if directory.is_file():  # a pSp / e4e / ReStyle checkpoint (inversion.formats, docs/formats_encoders.md)
        from .formats import load as load_foreign

        return load_foreign(directory, G=G, device=device)
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(f"{directory}: no config.json; train an encoder with `sgt train-encoder`")
    if G is not None:  # sizes first: the clearest message, before any weights are read
        c = modelio.read_config(directory).get("config", {})
        sizes = tuple(c.get(k) for k in ("img_resolution", "num_ws", "w_dim"))
        if sizes != (G.img_resolution, G.num_ws, G.w_dim):
            raise ArchitectureMismatchError(
                f"{directory}: encoder for {sizes[0]}px, num_ws {sizes[1]}, w_dim {sizes[2]}; the generator is "
                f"{G.img_resolution}px, num_ws {G.num_ws}, w_dim {G.w_dim}: pass the encoder trained for this "
                f"--network ({_REMAKE})")
    enc = modelio.load(directory, expect="Encoder", generator=None if G is None else fingerprint(G), device=device)
    if G is not None and not torch.allclose(enc.w_avg, G.w_avg.to(enc.w_avg.device).float(), atol=1e-5):
        raise ArchitectureMismatchError(f"{directory}: this encoder was trained for another generator (w_avg "
                                        f"differs); {_REMAKE}")
    return enc


def find_encoder(G: Generator) -> Encoder | None:
    """The registered encoder made for `G` (its recorded `stylegan.fingerprint` equals G's), loaded on
    G's device; None when there is none. User-registered encoders (`sgtcore.registry.register('encoder',
    name, dir)`) are preferred to the shipped ones."""
    for entry in registry.entries("encoder", generator=fingerprint(G)):
        return load_encoder(entry.path, G=G, device=G.w_avg.device)
    return None
