"""The Delta-GAN encoder's networks (Diamant, Sandor & Bronstein 2021, arXiv 2111.08419).

An encoder E reads a change off a pair of codes of one head, Δ = E(a_i, a_j), and a decoder D applies
that change to another head: b̂_j = b_i + D(b_i, Δ). The paper publishes neither sizes nor code; our
choices (measured, see the README's Delta-GAN section):

- Codes enter normalised, (ws − w_avg) / w_scale, so sizes do not depend on the generator's scale.
- E works row by row on [a_i, a_j − a_i] with a shared MLP (plus a learned row embedding), then one
  linear map from all rows to Δ. It is made antisymmetric, E(a_i, a_j) = e(a_i, a_j) − e(a_j, a_i):
  the same head gives Δ = 0 and the reverse change gives −Δ, priors that few samples cannot teach.
- D is a row-wise MLP on [w_r, Δ, row embedding, a linear summary of the whole code] and is made
  exactly zero at Δ = 0: D(w, Δ) = d(w, Δ) − d(w, 0), so strength 0 leaves ws untouched bit for bit.
- `decoder='shift'` drops the code from D's input: D(w, Δ) = d(Δ) − d(0), one change per Δ and row for every
  head (still non-linear in Δ). Trained on pairs of other heads, the best such d is the change those heads
  have in common; the default D can instead follow each head's own change, and on expression data whose
  change is 94 % head-specific (v2 smile, bench/RESULTS.md) its edit lowered G's samples' smile whichever
  the sign, so it could not be calibrated; with 'shift' it can.

Shapes: codes `[N, num_ws, w_dim]`, Δ `[N, delta_dim]`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

#: What D reads: the code it changes and Δ ('code', the paper's D(b_i, Δ)), or Δ alone ('shift').
DECODERS = ("code", "shift")


@dataclass
class DeltaConfig:
    """Sizes of `DeltaNet` (defaults chosen by the ablation in the README)."""

    num_ws: int
    w_dim: int
    delta_dim: int = 8
    hidden: int = 128
    row_embed: int = 16
    row_code: int = 32      # E's per-row output before the linear map to Δ
    context: int = 32       # D's summary of the whole code
    decoder: str = "code"   # 'code': D reads the code it changes; 'shift': D reads Δ alone (one change for all)

    def to_dict(self) -> dict:
        return asdict(self)


def _mlp(cin: int, hidden: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(cin, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                         nn.Linear(hidden, cout))


class DeltaNet(nn.Module):
    """E and D of the Delta-GAN encoder, with the latent normalisation as buffers.

    Args:
        config: `DeltaConfig`.
        w_avg: `[w_dim]` the generator's mean w.
        w_scale: scalar, the generator's typical std of w per coordinate.
    """

    def __init__(self, config: DeltaConfig, w_avg: torch.Tensor | None = None, w_scale: float = 1.0):
        super().__init__()
        c = self.config = config
        if c.decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {c.decoder!r}")
        self.register_buffer("w_avg", torch.zeros(c.w_dim) if w_avg is None else w_avg.detach().float().clone())
        self.register_buffer("w_scale", torch.tensor(float(w_scale)))
        self.e_rows = nn.Parameter(torch.randn(c.num_ws, c.row_embed) * 0.1)
        self.d_rows = nn.Parameter(torch.randn(c.num_ws, c.row_embed) * 0.1)
        self.e_row = _mlp(2 * c.w_dim + c.row_embed, c.hidden, c.row_code)
        self.e_out = nn.Linear(c.num_ws * c.row_code, c.delta_dim)
        if c.decoder == "code":
            self.d_context = nn.Linear(c.num_ws * c.w_dim, c.context)
            self.d_row = _mlp(c.w_dim + c.delta_dim + c.row_embed + c.context, c.hidden, c.w_dim)
        else:
            self.d_row = _mlp(c.delta_dim + c.row_embed, c.hidden, c.w_dim)

    def normalise(self, ws: torch.Tensor) -> torch.Tensor:
        return (ws - self.w_avg) / self.w_scale

    def _e(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        n = a.shape[0]
        rows = self.e_rows[None].expand(n, -1, -1)
        h = self.e_row(torch.cat([a, b - a, rows], dim=2))          # [N, num_ws, row_code]
        return self.e_out(h.reshape(n, -1))

    def encode(self, a_i: torch.Tensor, a_j: torch.Tensor) -> torch.Tensor:
        """Δ `[N, delta_dim]` of the change from codes `a_i` to `a_j` (both `[N, num_ws, w_dim]`)."""
        a, b = self.normalise(a_i), self.normalise(a_j)
        return self._e(a, b) - self._e(b, a)

    def _d(self, x: torch.Tensor, ctx: torch.Tensor | None, delta: torch.Tensor) -> torch.Tensor:
        n, r, _ = x.shape
        feats = [delta[:, None].expand(n, r, -1), self.d_rows[None].expand(n, -1, -1)]
        if ctx is not None:  # the 'code' decoder
            feats = [x] + feats + [ctx[:, None].expand(n, r, -1)]
        return self.d_row(torch.cat(feats, dim=2))

    def residual(self, ws: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        """D(ws, Δ): the change `[N, num_ws, w_dim]` (in ws units) that Δ `[N, delta_dim]` makes to `ws`.

        Exactly 0 at Δ = 0."""
        x = self.normalise(ws)
        ctx = self.d_context(x.reshape(x.shape[0], -1)) if self.config.decoder == "code" else None
        return (self._d(x, ctx, delta) - self._d(x, ctx, torch.zeros_like(delta))) * self.w_scale

    def forward(self, a_i: torch.Tensor, a_j: torch.Tensor, b_i: torch.Tensor,
                noise: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """The training pass: (â_j, b̂_j) = (a_i + D(a_i, Δ), b_i + D(b_i, Δ)) with Δ = E(a_i, a_j).

        `noise` adds Gaussian noise of that std (in units of w_scale) to the codes the networks read
        (not to the codes the residual is added to): the paper's guard against over-fitting few samples.
        All tensors `[N, num_ws, w_dim]`.
        """
        def noisy(x: torch.Tensor) -> torch.Tensor:
            return x + torch.randn_like(x) * (noise * self.w_scale) if noise else x

        delta = self.encode(noisy(a_i), noisy(a_j))
        both = torch.cat([a_i, b_i])
        res = self.residual(noisy(both), delta.repeat(2, 1))
        a_hat, b_hat = (both + res).chunk(2)
        return a_hat, b_hat

__all__ = ["DECODERS", "DeltaConfig", "DeltaNet"]
