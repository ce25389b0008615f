"""Feature blending (FSLSD; Xu et al. 2022, Sec. 3.3): keep the attribute photo's background, hair and
occluders by blending its features into the generator's, per resolution, under a soft face mask.

The swapped code (FTM's, or LCR's) is rendered once to see where the new face lies. A small mask
network reads that render and the attribute image and predicts the face region m `[N, 1, R, R]`.
An attribute encoder gives features at the generator's blend resolutions (`blend_res`, default the
two below the output: 16 and 32 px at 64 px) with the generator's channel counts. The code is then
rendered again through the generator's blend hook (`G.synthesis(..., blend=...)`): after each blend
block, `x <- (1 - m) * encoder features + m * x` (and the same for the skip image with the attribute
image), so the following blocks decode the blended features with the identity's styles; the final
image is `m * render + (1 - m) * attribute image`. FSLSD blends with a fixed dilated parse mask; the
mask here is learned (supervised where truth exists, see `edits.swap.train`), because in the synthetic
world the identity brings its own hair and the face region is not the attribute's.

    >>> net = BlendNet(BlendConfig.for_generator(G))
    >>> img, mask = net(G, ws, attribute_image)                # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class BlendConfig:
    """Sizes of a `BlendNet`.

    Attributes:
        resolution: the generator's output resolution R.
        blend_res: resolutions whose block output is blended.
        channels: the generator's feature channels at each of `blend_res`.
        width: the encoder's and mask network's base width.
        base: the code mixing the blend was trained on top of: 'ftm' or 'lcr'.
    """

    resolution: int
    blend_res: list[int] = field(default_factory=list)
    channels: list[int] = field(default_factory=list)
    width: int = 32
    base: str = "ftm"

    @classmethod
    def for_generator(cls, G: Any, base: str = "ftm", levels: int = 2, width: int = 32) -> "BlendConfig":
        """Blend the `levels` block resolutions below G's output (at least 8 px)."""
        syn = G.synthesis
        res = [r for r in syn.block_resolutions if 8 <= r < G.img_resolution][-levels:]
        return cls(int(G.img_resolution), res, [int(getattr(syn, f"b{r}").conv1.out_channels) for r in res],
                   width, base)

    def to_dict(self) -> dict:
        return asdict(self)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2))


class BlendNet(nn.Module):
    """Attribute encoder + mask network; `forward(G, ws, attribute_image, noise)` renders the blended swap."""

    def __init__(self, config: BlendConfig | dict):
        super().__init__()
        self.config = c = BlendConfig(**config) if isinstance(config, dict) else config
        if len(c.blend_res) != len(c.channels):
            raise ValueError(f"blend_res {c.blend_res} and channels {c.channels} must have the same length")
        w = c.width
        # encoder: R -> min(blend_res), one stride-2 conv per halving; a 1x1 head per blend level
        self.levels = [c.resolution // 2 ** k for k in range(1, 8) if c.resolution // 2 ** k >= min(c.blend_res or [c.resolution])]
        self.stem = _conv(3, w)
        self.down = nn.ModuleList([_conv(w, w, 2) for _ in self.levels])
        self.heads = nn.ModuleDict({str(r): nn.Conv2d(w, ch, 1) for r, ch in zip(c.blend_res, c.channels)})
        # mask network: a small U-Net on [render, attribute image] (6 channels) -> face-region logits at R
        self.m_in = _conv(6, w)
        self.m_down = nn.ModuleList([_conv(w, w, 2), _conv(w, w, 2), _conv(w, w, 2)])
        self.m_up = nn.ModuleList([_conv(2 * w, w), _conv(2 * w, w), _conv(2 * w, w)])
        self.m_out = nn.Conv2d(w, 1, 3, 1, 1)

    @classmethod
    def from_config(cls, config: dict) -> "BlendNet":
        return cls(BlendConfig(**config))

    def encode(self, attribute: torch.Tensor) -> dict[int, torch.Tensor]:
        """Attribute image `[N, 3, R, R]` -> `{res: [N, C_res, res, res]}` at every blend resolution."""
        x = self.stem(attribute)
        out = {}
        for r, down in zip(self.levels, self.down):
            x = down(x)
            if str(r) in self.heads:
                out[r] = self.heads[str(r)](x)
        return out

    def mask_logits(self, render: torch.Tensor, attribute: torch.Tensor) -> torch.Tensor:
        """Face-region logits `[N, 1, R, R]` from the plain render of the swapped code and the attribute image."""
        x = self.m_in(torch.cat([render, attribute], 1))
        skips = []
        for down in self.m_down:
            skips.append(x)
            x = down(x)
        for up, skip in zip(self.m_up, reversed(skips)):
            x = up(torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], 1))
        return self.m_out(x)

    def forward(self, G: Any, ws: torch.Tensor, attribute: torch.Tensor, noise: dict | None = None,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Render the blended swap.

        Args:
            G: the generator (frozen).
            ws: `[N, num_ws, w_dim]` the swapped code.
            attribute: `[N, 3, R, R]` in [-1, 1], the aligned attribute image.
            noise: the attribute's inverted noise maps (as `G.synthesis` takes them), or None.
            mask: use this face region `[N | 1, 1, R, R]` in [0, 1] instead of the predicted one.

        Returns:
            `(image [N, 3, R, R], mask [N, 1, R, R])`, mask = 1 on the swapped face.
        """
        if mask is None:
            with torch.no_grad():
                plain = G.synthesis(ws, noise=noise)
            m = torch.sigmoid(self.mask_logits(plain, attribute))
        else:
            m = mask.to(ws.dtype).expand(len(ws), -1, -1, -1)
        feats = self.encode(attribute)
        blend = {}
        for r, f in feats.items():
            m_r = F.interpolate(m, size=(r, r), mode="area")
            blend[r] = (f, 1 - m_r, F.interpolate(attribute, size=(r, r), mode="area"))
        img = G.synthesis(ws, noise=noise, blend=blend)
        return m * img + (1 - m) * attribute, m


__all__ = ["BlendConfig", "BlendNet"]
