"""The identity term of `project`: `1 - cos` between the identity embeddings of the reconstruction and
of the target (pSp's ID loss, Richardson et al. 2021, eq. 3), here used during the W+ refinement.

Pixel and perceptual losses let a short refinement match colours and layout while the face drifts to a
near neighbour (bench/RESULTS.md, "Where identity goes in inversion"); a term on an identity network's
embedding pulls the code back toward the same person. The network is the *training signal* of the
toolkit: the attribute oracle for the shipped synthetic-head generators (`synthetic.oracle`), or
ArcFace for a real-face checkpoint (`inversion.identity.load_identity_net`). The identity *judge*
(`synthetic.judge`) measures results and is refused here: nothing may optimise against it.
"""
from __future__ import annotations

import functools
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F


class IdentityTerm(nn.Module):
    """`forward(img [N, 3, R, R]) -> [N]`: 1 - cos to the target set by `set_target` (its embedding is cached).

    Args:
        net: an identity network: one with `predict(x)["identity"]` (the oracle) or `embed(x)` (ArcFace),
            differentiable, images `[N, 3, H, W]` in [-1, 1].
        name: what the history and the settings call it.
        mirror: for a network with `predict` (the oracle): average the embeddings of the image and its mirror
            image (the oracle's measuring default; False halves the term's cost).

    Raises:
        ValueError: `net` declares itself a judge (`never_a_loss`), or has neither method.
    """

    def __init__(self, net: nn.Module, name: str = "", mirror: bool = True):
        super().__init__()
        if getattr(net, "never_a_loss", False):
            raise ValueError(f"{type(net).__name__} is the identity judge: it measures identity and is never a loss; "
                             "pass the oracle (synthetic.oracle.load()) or ArcFace (inversion.load_identity_net) instead")
        if not (hasattr(net, "predict") or hasattr(net, "embed")):
            raise ValueError(f"identity must be 'auto', None or a network with predict() or embed(), got {type(net).__name__}")
        self.net = net
        self.mirror = mirror
        self.name = name or type(net).__name__
        self._target: torch.Tensor | None = None

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """`[N, 3, H, W]` -> unit embeddings `[N, D]`."""
        if hasattr(self.net, "predict"):  # the keyword only when asked: a network's own predict() may not take it
            e = (self.net.predict(images) if self.mirror else self.net.predict(images, mirror_identity=False))["identity"]
        else:
            e = self.net.embed(images)
        return F.normalize(e, dim=1)

    @torch.no_grad()
    def set_target(self, target: torch.Tensor) -> None:
        """Embed the target `[1, 3, H, W]` once for every later call."""
        self._target = self.embed(target)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if self._target is None:
            raise RuntimeError("IdentityTerm: call set_target(target) first")
        return 1 - (self.embed(img) * self._target).sum(1)


@functools.lru_cache(maxsize=4)
def _oracle(device: str) -> nn.Module:
    from synthetic import oracle

    return oracle.load(device=device).eval().requires_grad_(False)  # shared: never trained here


def oracle_identity(device: str | torch.device = "cpu") -> IdentityTerm:
    """The oracle's identity embedding as an `IdentityTerm` (the shared, frozen oracle): the training signal
    on synthetic heads, for projection and for what conditions on an identity (`edits.swap.inject`)."""
    return IdentityTerm(_oracle(str(device)), "oracle")


def resolve_identity(G: Any, identity: Any) -> IdentityTerm | None:
    """The identity term for `project`'s `identity` argument.

    'auto': the attribute oracle when G is a shipped synthetic-head generator (they are all trained on its
    world; `stylegan.is_shipped`), else none (there is no identity network to download; pass ArcFace
    yourself). 'oracle': the oracle for any G. None: no term. A network: wrapped as it is.
    """
    if identity is None:
        return None
    if isinstance(identity, IdentityTerm):
        return identity
    if isinstance(identity, str):
        if identity not in ("auto", "oracle"):
            raise ValueError(f"identity must be 'auto', 'oracle', None or an identity network, got {identity!r}")
        if identity == "auto":
            import stylegan

            if not stylegan.is_shipped(G):
                return None
        return oracle_identity(G.w_avg.device)
    return IdentityTerm(identity)
