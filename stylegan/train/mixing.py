"""Style mixing (Karras et al. 2019, sec. 3.1): the ws of one image from a random layer on come from a
second latent, so that the network (or an encoder reading it) does not assume adjacent layers correlate.
Shared by every trainer: the generator's, the encoder's and those to come."""
from __future__ import annotations

import torch


def mixing_cutoff(num_ws: int, prob: float, generator: torch.Generator) -> int:
    """With probability `prob` a crossover index in [1, num_ws), else `num_ws` (no mixing); one per batch,
    like NVlabs."""
    cutoff = int(torch.randint(1, num_ws, (), generator=generator))
    return cutoff if float(torch.rand((), generator=generator)) < prob else num_ws


def mix_styles(ws: torch.Tensor, ws2: torch.Tensor, layers: int | range) -> torch.Tensor:
    """`ws [N, num_ws, w_dim]` with some rows taken from `ws2` (same shape): from row `layers` on (an int,
    the crossover of training-time mixing), or the rows of a `range` (the demo's style mixing)."""
    if isinstance(layers, int):
        return torch.cat([ws[:, :layers], ws2[:, layers:]], dim=1)
    out = ws.clone()
    out[:, layers] = ws2[:, layers]
    return out


def sample_ws(G: torch.nn.Module, n: int, generator: torch.Generator, mixing_prob: float = 0.0) -> torch.Tensor:
    """Mapped ws `[n, num_ws, w_dim]` of `n` random z (drawn on the CPU from `generator`, so the same seed
    gives the same ws on any device), style-mixed with probability `mixing_prob`."""
    device = G.w_avg.device
    ws = G.mapping(torch.randn(n, G.z_dim, generator=generator).to(device))
    cutoff = mixing_cutoff(G.num_ws, mixing_prob, generator)
    if cutoff < G.num_ws:
        ws = mix_styles(ws, G.mapping(torch.randn(n, G.z_dim, generator=generator).to(device)), cutoff)
    return ws
