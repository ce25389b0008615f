"""Identity injection: the identity enters the swap as an embedding that modulates the attribute's code,
AdaIN-style (as SimSwap's ID injection modules, Chen et al. 2020, Sec. 3.2, and FaceMagic's style-mix block
modulate image features with an ArcFace embedding; here the modulated thing is the W+ code).

From the identity embedding e `[N, E]` (unit length; the oracle's on synthetic data, the user's identity
network's on photos) a shared trunk and one head per ws row r give a scale and a shift:

    h = lrelu(W1 e + b1),      (γ_r, β_r) = W2_r h + b2_r
    l = (ws_att_r - w_avg) / w_scale
    ws_r = w_avg + w_scale * (l * (1 + γ_r) + β_r)

The heads start at zero, so an untrained network returns the attribute's code unchanged: the swap starts
as "no swap" and training (`sgt train-swap --method inject`) has to put the person in. Which network made
the embeddings is part of the model (`InjectConfig.embedder`): the same one must embed at inference.

    >>> net = InjectNet(InjectConfig(num_ws=12, w_dim=128, embed_dim=64))
    >>> ws = net(identity_embedding, attribute_ws)            # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: What may embed the identity: the synthetic oracle, or an identity network the user passes (ArcFace).
EMBEDDERS = ("oracle", "identity_net")


@dataclass
class InjectConfig:
    """Sizes of an `InjectNet`.

    Attributes:
        num_ws, w_dim: the generator's code shape.
        embed_dim: size E of the identity embedding.
        hidden: trunk width.
        embedder: 'oracle' (synthetic heads) or 'identity_net' (the user's network, e.g. ArcFace).
    """

    num_ws: int
    w_dim: int
    embed_dim: int
    hidden: int = 256
    embedder: str = "oracle"

    def to_dict(self) -> dict:
        return asdict(self)


class InjectNet(nn.Module):
    """`(identity_embedding [N, E], attribute_ws [N, num_ws, w_dim]) -> ws [N, num_ws, w_dim]`."""

    def __init__(self, config: InjectConfig | dict, w_avg: torch.Tensor | None = None, w_scale: float = 1.0):
        super().__init__()
        self.config = c = InjectConfig(**config) if isinstance(config, dict) else config
        if c.embedder not in EMBEDDERS:
            raise ValueError(f"embedder must be one of {EMBEDDERS}, got {c.embedder!r}")
        self.register_buffer("w_avg", torch.zeros(c.w_dim) if w_avg is None else
                             w_avg.detach().float().reshape(c.w_dim).clone())
        self.register_buffer("w_scale", torch.tensor(float(w_scale)))
        self.w1 = nn.Parameter(torch.randn(c.embed_dim, c.hidden) * (2 / c.embed_dim) ** 0.5)
        self.b1 = nn.Parameter(torch.zeros(c.hidden))
        # one head per row as batched weights [rows, hidden, 2 w_dim]; zero: the attribute code at the start
        self.w2 = nn.Parameter(torch.zeros(c.num_ws, c.hidden, 2 * c.w_dim))
        self.b2 = nn.Parameter(torch.zeros(c.num_ws, 2 * c.w_dim))

    @classmethod
    def from_config(cls, config: dict) -> "InjectNet":
        return cls(InjectConfig(**config))

    def forward(self, identity_embedding: torch.Tensor, attribute_ws: torch.Tensor) -> torch.Tensor:
        c = self.config
        e = identity_embedding.float()
        if e.ndim != 2 or e.shape[1] != c.embed_dim:
            raise ValueError(f"identity embedding must be [N, {c.embed_dim}] (the {c.embedder}'s, as in training), got "
                             f"{list(e.shape)}: an identity network of another output size than this inject "
                             "network was trained with?")
        if attribute_ws.ndim != 3 or tuple(attribute_ws.shape[1:]) != (c.num_ws, c.w_dim):
            raise ValueError(f"attribute ws must be [N, {c.num_ws}, {c.w_dim}], got {list(attribute_ws.shape)}")
        n = max(len(e), len(attribute_ws))
        h = F.leaky_relu(F.normalize(e, dim=1) @ self.w1 + self.b1, 0.2).expand(n, -1)
        gamma, beta = (torch.einsum("nh,rho->nro", h, self.w2) + self.b2).chunk(2, dim=2)
        l_att = ((attribute_ws.float() - self.w_avg) / self.w_scale).expand(n, -1, -1)
        return (l_att * (1 + gamma) + beta) * self.w_scale + self.w_avg


def embedder_for(config: InjectConfig, identity_net: Any = None, device: str | torch.device = "cpu") -> Any:
    """The network that embeds identities for a trained `InjectNet` (an `inversion.identity_term.IdentityTerm`,
    whose `embed(images [N, 3, H, W] in [-1, 1]) -> [N, E]`): the oracle, or `identity_net`.

    Raises:
        ValueError: the model wants the user's identity network and none (or one of another output size)
            was given; an identity judge (never an input to anything trained).
    """
    from inversion.identity_term import IdentityTerm, oracle_identity

    if config.embedder == "oracle":
        return oracle_identity(device)
    if identity_net is None:
        raise ValueError("this inject network was trained on the embeddings of a user's identity network "
                         f"({config.embed_dim}-d, e.g. ArcFace): pass it (identity_net=, CLI --identity-net FILE)")
    return identity_net if isinstance(identity_net, IdentityTerm) else IdentityTerm(identity_net)  # size: forward


__all__ = ["EMBEDDERS", "InjectConfig", "InjectNet", "embedder_for"]
