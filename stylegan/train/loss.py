"""StyleGAN2 losses (Karras et al. 2020): non-saturating logistic loss (Goodfellow et al. 2014), R1 gradient
penalty (Mescheder et al. 2018, eq. 9) and path-length regularisation (Karras et al. 2020, eq. 4)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from stylegan.train.mixing import mix_styles


def g_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator loss `softplus(-D(G(z)))` = `-log sigmoid(D(G(z)))`, per sample `[N]`."""
    return F.softplus(-fake_logits).flatten()


def d_logistic(fake_logits: torch.Tensor | None = None, real_logits: torch.Tensor | None = None) -> torch.Tensor:
    """Discriminator loss `softplus(D(G(z))) + softplus(-D(x))`, per sample `[N]` (either part may be None)."""
    total = 0
    if fake_logits is not None:
        total = total + F.softplus(fake_logits).flatten()
    if real_logits is not None:
        total = total + F.softplus(-real_logits).flatten()
    return total


def r1_penalty(real_logits: torch.Tensor, real_img: torch.Tensor) -> torch.Tensor:
    """`||d D(x) / d x||^2` per sample `[N]`; `real_img [N, C, H, W]` must require grad. The graph is kept
    (create_graph) so the penalty can be minimised w.r.t. D's weights."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_img, create_graph=True)
    return grad.square().sum(dim=[1, 2, 3])


def path_lengths(img: torch.Tensor, ws: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
    """`||J_w^T y||` per sample `[N]` for `y ~ N(0, I) / sqrt(H W)`; `img [N, C, H, W]`, `ws [N, num_ws, w_dim]`
    (averaged over the ws, as NVlabs does)."""
    if noise is None:
        noise = torch.randn_like(img) / (img.shape[2] * img.shape[3]) ** 0.5
    (grad,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
    return grad.square().sum(2).mean(1).sqrt()


class TrainingGenerator(torch.nn.Module):
    """`(z, z2, cutoff) -> (img, ws)`: mapping, style mixing (ws[:, cutoff:] from z2) and synthesis in one
    forward, so DistributedDataParallel sees every G parameter in one call."""

    def __init__(self, G: torch.nn.Module):
        super().__init__()
        self.G = G

    def forward(self, z: torch.Tensor, z2: torch.Tensor | None, cutoff: int,
                noise_mode: str = "random") -> tuple[torch.Tensor, torch.Tensor]:
        ws = self.G.mapping(z)
        if z2 is not None and cutoff < ws.shape[1]:
            ws = mix_styles(ws, self.G.mapping(z2), cutoff)
        img = self.G.synthesis(ws, noise_mode=noise_mode)
        return img, ws
