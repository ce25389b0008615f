"""ArcFace identity embeddings (Deng et al. 2019) from the IR-SE-50 weights the editing tools use
(`model_ir_se50.pth`, TreB1eN/InsightFace_Pytorch), and the identity loss the trainers share.

The file is a bare state dict (397 keys): the IR-SE-50 stem and body (`inversion.formats.irse`) plus
`output_layer` = BN2d, dropout, flatten, Linear(512·7·7 -> 512), BN1d; the embedding is L2-normalised.
It is read with the restricted unpickler (nothing in it runs).

Input handling follows pSp/e4e/ReStyle's `IDLoss.extract_feats`, so distances match theirs: the image
(RGB in [-1, 1], as they feed it, although ArcFace was trained on BGR) at 256 x 256 (their `face_pool`,
an average pool, for larger inputs), cropped to rows 35:223 and columns 32:220 (the face inside an
FFHQ-aligned frame), average-pooled to 112 x 112.

    >>> net = load_identity_net("model_ir_se50.pth")          # doctest: +SKIP
    >>> d = identity_loss(net.embed(a), net.embed(b))           # doctest: +SKIP
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from sgtcore import artefacts
from sgtcore.errors import ArchitectureMismatchError, UnknownFormatError

from .formats.irse import IRSEBackbone, IRSEConfig, config_from_state, resize

#: The crop pSp/e4e/ReStyle's ID loss takes from a 256 x 256 aligned face: rows, columns.
CROP = (slice(35, 223), slice(32, 220))
#: ArcFace's input size.
FACE_SIZE = 112


class IdentityNet(IRSEBackbone):
    """ArcFace IR-SE: `embed(images [N, 3, H, W] in [-1, 1]) -> [N, dim]` unit vectors.

    Args:
        cfg: the backbone (IR-SE-50: `IRSEConfig()`).
        dim: embedding size (512).
        affine: whether the final BatchNorm1d has weight/bias (TreB1eN's file: yes).
    """

    def __init__(self, cfg: IRSEConfig = IRSEConfig(), dim: int = 512, affine: bool = True):
        super().__init__(cfg)
        top = cfg.widths[-1]
        side = FACE_SIZE // 2 ** len(cfg.widths)  # 112 -> 7 after four stride-2 stages
        self.output_layer = nn.Sequential(nn.BatchNorm2d(top), nn.Dropout(0.0), nn.Flatten(),
                                          nn.Linear(top * side * side, dim), nn.BatchNorm1d(dim, affine=affine))

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        """Aligned 112 x 112 face crops `[N, 3, 112, 112]` -> unit embeddings `[N, dim]` (the original forward)."""
        return F.normalize(self.output_layer(self.features(faces)[-1]), dim=1)

    def crop(self, images: torch.Tensor) -> torch.Tensor:
        """`[N, 3, H, W]` aligned faces -> `[N, 3, 112, 112]`: 256 px, the ID-loss crop, average pool to 112."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"identity net input must be an RGB batch [N, 3, H, W] in [-1, 1], got {list(images.shape)}")
        x = resize(images.float(), 256, pool=True)
        return F.adaptive_avg_pool2d(x[:, :, CROP[0], CROP[1]], (FACE_SIZE, FACE_SIZE))

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Aligned faces `[N, 3, H, W]` in [-1, 1] (any size; 256 px as the editing repos use) -> `[N, dim]`."""
        return self(self.crop(images))

    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """`identity_loss` of two image batches `[N, 3, H, W]` -> `[N]`."""
        return identity_loss(self.embed(a), self.embed(b))


def identity_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """`1 - cos` between embeddings `a, b [N, dim]` -> `[N]` (pSp's ID loss: 0 same person, ~1 unrelated)."""
    return 1 - F.cosine_similarity(a, b, dim=1)


def config_from_file(sd: dict[str, torch.Tensor], source: str) -> tuple[IRSEConfig, int, bool]:
    """`(backbone config, embedding size, affine final BN)` of an ArcFace state dict."""
    cfg = config_from_state(sd, source)
    try:
        lin = sd["output_layer.3.weight"]
    except KeyError as exc:
        raise ArchitectureMismatchError(f"{source}: not an ArcFace IR-SE network (missing {exc})") from exc
    side = FACE_SIZE // 2 ** len(cfg.widths)
    if lin.ndim != 2 or lin.shape[1] != cfg.widths[-1] * side * side:
        raise ArchitectureMismatchError(f"{source}: output_layer.3 takes {lin.shape[1] if lin.ndim == 2 else '?'} "
                                        f"features; a {FACE_SIZE} px IR-SE gives {cfg.widths[-1] * side * side}")
    return cfg, int(lin.shape[0]), "output_layer.4.weight" in sd


def load_identity_net(path: str | os.PathLike, device: str | torch.device = "cpu") -> IdentityNet:
    """Load ArcFace IR-SE weights (`model_ir_se50.pth`, a bare state dict) in eval mode, without gradients.

    Raises:
        FileNotFoundError, UnknownFormatError (not such a file, e.g. a pSp checkpoint), UnsafeCheckpointError,
        CorruptCheckpointError (damaged, NaN), ArchitectureMismatchError (shapes that are not an IR-SE).
    """
    from .formats import common

    source = str(path)
    obj = common.read(Path(path))
    if not (isinstance(obj, dict) and "input_layer.0.weight" in obj and "output_layer.3.weight" in obj):
        what = artefacts.describe(obj)  # another tool's file: say what it is and where it goes
        raise UnknownFormatError(f"{source}: not ArcFace IR-SE weights (a state dict with input_layer.*, body.*, "
                                 f"output_layer.*)" + (f"; {what}" if what else ""))
    sd = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    cfg, dim, affine = config_from_file(sd, source)
    if cfg.in_channels != 3:
        raise ArchitectureMismatchError(f"{source}: ArcFace reads RGB, this network {cfg.in_channels} channels")
    net = IdentityNet(cfg, dim, affine)
    return common.load_weights(net, sd, source, "ArcFace IR-SE").to(device)


__all__ = ["IdentityNet", "identity_loss", "load_identity_net", "CROP", "FACE_SIZE"]
