"""FTM: MegaFS's face transfer module (Zhu et al. 2021, Sec. 3.3) -- a trained mixing of two W+ codes.

Each ws row r has its own transfer cell. A cell refines both codes with gated blocks, then mixes them:

    f  = [l_id ; l_att]                               (both rows, normalised by w_avg and a scale)
    l  <- l * 2 sigma(g(f)) + tanh(b(f))              for l_id and l_att, `blocks` times (g, b: one MLP)
    l_r = sigma(m_r) * l_id + (1 - sigma(m_r)) * l_att (m_r: a learned vector per row)

MegaFS gates with sigma(.); we scale it by 2 so that a cell whose last layer is zero is exactly the
identity map (sigma alone would halve every code at initialisation). The mixing vectors start at
+-6 on either side of LCR's default split, so an untrained FTM is LCR (to 0.25 %) and training only
has to learn the corrections. MegaFS used 1024 -> 256 -> 512 MLPs on 18 x 512 codes; here
`hidden` (64) keeps the shipped network small (1.5 M parameters for 10 x 128 codes).

    >>> net = TransferNet(FTMConfig(num_ws=10, w_dim=128))
    >>> ws = net(identity_ws, attribute_ws)              # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from .latent import default_split


@dataclass
class FTMConfig:
    """Sizes of a `TransferNet`.

    Attributes:
        num_ws, w_dim: the generator's code shape.
        hidden: MLP width.
        blocks: gated blocks per cell (MegaFS: 3).
        split: the LCR split the mixing starts from (default `latent.default_split(num_ws)`).
    """

    num_ws: int
    w_dim: int
    hidden: int = 64
    blocks: int = 3
    split: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class TransferNet(nn.Module):
    """`(identity_ws [N, num_ws, w_dim], attribute_ws [N, ...]) -> ws [N, num_ws, w_dim]`."""

    def __init__(self, config: FTMConfig | dict, w_avg: torch.Tensor | None = None, w_scale: float = 1.0):
        super().__init__()
        self.config = c = FTMConfig(**config) if isinstance(config, dict) else config
        rows, d, h, k = c.num_ws, c.w_dim, c.hidden, c.blocks
        self.register_buffer("w_avg", torch.zeros(d) if w_avg is None else w_avg.detach().float().reshape(d).clone())
        self.register_buffer("w_scale", torch.tensor(float(w_scale)))
        # all rows' cells as batched weights [rows, blocks, ...] (one einsum per layer instead of 30 modules)
        self.w1 = nn.Parameter(torch.randn(rows, k, 2 * d, h) * (2 / (2 * d)) ** 0.5)
        self.b1 = nn.Parameter(torch.zeros(rows, k, h))
        self.w2 = nn.Parameter(torch.zeros(rows, k, h, 4 * d))
        self.b2 = nn.Parameter(torch.zeros(rows, k, 4 * d))
        split = default_split(rows) if c.split is None else int(c.split)
        self.mix = nn.Parameter(torch.where(torch.arange(rows) >= split, 6.0, -6.0)[:, None].repeat(1, d))

    @classmethod
    def from_config(cls, config: dict) -> "TransferNet":
        return cls(FTMConfig(**config))

    def forward(self, identity_ws: torch.Tensor, attribute_ws: torch.Tensor) -> torch.Tensor:
        n = max(len(identity_ws), len(attribute_ws))
        s = self.w_scale
        l_id = ((identity_ws.float() - self.w_avg) / s).expand(n, -1, -1)
        l_att = ((attribute_ws.float() - self.w_avg) / s).expand(n, -1, -1)
        for k in range(self.config.blocks):
            f = torch.cat([l_id, l_att], dim=2)                                      # [N, rows, 2d]
            hid = nn.functional.leaky_relu(torch.einsum("nri,rih->nrh", f, self.w1[:, k]) + self.b1[:, k], 0.2)
            g_id, b_id, g_att, b_att = (torch.einsum("nrh,rho->nro", hid, self.w2[:, k]) + self.b2[:, k]).chunk(4, 2)
            l_id = l_id * 2 * torch.sigmoid(g_id) + torch.tanh(b_id)
            l_att = l_att * 2 * torch.sigmoid(g_att) + torch.tanh(b_att)
        m = torch.sigmoid(self.mix)
        return (m * l_id + (1 - m) * l_att) * s + self.w_avg


__all__ = ["FTMConfig", "TransferNet"]
