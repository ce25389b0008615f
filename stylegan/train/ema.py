"""Exponential moving average of the generator's weights (Karras et al. 2018, G_ema)."""
from __future__ import annotations

import torch


def ema_beta(batch_size: int, cur_nimg: int, ema_kimg: float, ema_rampup: float | None) -> float:
    """Per-step decay: half-life of `ema_kimg` thousand images, shortened to `cur_nimg * ema_rampup`
    early in training (NVlabs StyleGAN2-ADA's ramp-up), so the first steps do not freeze the init."""
    ema_nimg = ema_kimg * 1000
    if ema_rampup is not None:
        ema_nimg = min(ema_nimg, cur_nimg * ema_rampup)
    return 0.5 ** (batch_size / max(ema_nimg, 1e-8))


@torch.no_grad()
def update_ema(G_ema: torch.nn.Module, G: torch.nn.Module, beta: float) -> None:
    """`p_ema <- beta * p_ema + (1 - beta) * p` for every parameter; buffers (w_avg, noise) copied."""
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.copy_(p.detach().lerp(p_ema, beta))
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b.detach())
