"""What the pSp-family loaders share: reading a checkpoint without running it, its `opts`, the generator
checks, and `ForeignEncoder`, which gives every foreign encoder the call of our `inversion.Encoder`.

Their conventions (REFERENCE.md §6, checked against each repository): the input is an FFHQ-aligned
RGB face at 256 x 256 in [-1, 1]; the code is the network's output plus `latent_avg` (`[num_ws, 512]`,
`[1, 512]` or `[512]`, every row the generator's w_avg) when trained with `start_from_latent_avg`.
"""
from __future__ import annotations

import argparse
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path, PurePath
from typing import Any

import torch
import torch.nn as nn

from sgtcore import modelio
from sgtcore.errors import ArchitectureMismatchError, CorruptCheckpointError, UnknownFormatError

from .irse import resize

#: The encoders' input size (all three repositories resize to 256 x 256).
INPUT_SIZE = 256


def read(path: str | os.PathLike) -> Any:
    """The object `torch.save` wrote at `path`, read by the restricted unpickler (tensors, containers,
    `argparse.Namespace`, pure paths; nothing executes). Zip files are memory-mapped, so only the tensors
    used are read (an encoder file also holds its 1024 px generator).

    Raises:
        FileNotFoundError, UnknownFormatError (not a torch file), CorruptCheckpointError, UnsafeCheckpointError.
    """
    from stylegan.loading import _detect, _read_torch_file  # the one owner of reading torch files

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        fmt = _detect(path)
    except UnknownFormatError:
        fmt = None
    if fmt != "torch":
        raise UnknownFormatError(f"{path}: not a torch file (pSp, e4e and ReStyle checkpoints and ArcFace's "
                                 "model_ir_se50.pth are written by torch.save)")
    with open(path, "rb") as fh:
        is_zip = fh.read(2) == b"PK"
    return _read_torch_file(path, mmap=is_zip)


def opts_dict(obj: dict) -> dict:
    """The training options a checkpoint keeps (`opts`: a dict, or an `argparse.Namespace` in old files),
    as a plain dict with paths as strings; {} when there are none."""
    opts = obj.get("opts")
    if isinstance(opts, argparse.Namespace):
        opts = vars(opts)
    if not isinstance(opts, dict):
        return {}
    return {str(k): (str(v) if isinstance(v, PurePath) else v) for k, v in opts.items()}


def strip_prefix(sd: dict, prefix: str) -> dict[str, torch.Tensor]:
    """The tensors under `prefix` (e.g. 'encoder.'), with it removed."""
    return {k[len(prefix):]: v for k, v in sd.items() if isinstance(k, str) and k.startswith(prefix)
            and isinstance(v, torch.Tensor)}


def latent_avg_rows(obj: dict, num_ws: int, source: str) -> torch.Tensor | None:
    """The file's `latent_avg` as `[num_ws, w_dim]` float32 (a `[512]` or `[1, 512]` one repeated), or None.

    Raises:
        ArchitectureMismatchError: another number of rows. CorruptCheckpointError: NaN/Inf.
    """
    la = obj.get("latent_avg")
    if la is None:
        return None
    if not isinstance(la, torch.Tensor) or la.ndim not in (1, 2):
        raise ArchitectureMismatchError(f"{source}: latent_avg should be [num_ws, w_dim] or [w_dim], got "
                                        f"{getattr(la, 'shape', type(la).__name__)}")
    la = la.detach().float().reshape(-1, la.shape[-1])
    if la.shape[0] not in (1, num_ws):
        raise ArchitectureMismatchError(f"{source}: latent_avg has {la.shape[0]} rows, the encoder writes {num_ws}")
    if not torch.isfinite(la).all():
        raise CorruptCheckpointError(f"{source}: latent_avg holds NaN/Inf")
    return la.expand(num_ws, -1).clone()


def load_weights(net: nn.Module, sd: dict[str, torch.Tensor], source: str, what: str) -> nn.Module:
    """Copy `sd` into `net` strictly (BatchNorm's `num_batches_tracked`, unused at inference, may be
    absent in old files), refuse NaN/Inf, and return it in eval mode without gradients."""
    modelio.load_state_strict(net, sd, source, what, constants=("num_batches_tracked",))
    for k, v in net.state_dict().items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise CorruptCheckpointError(f"{source}: {k} holds NaN/Inf")
    return net.eval().requires_grad_(False)


def num_ws_for(resolution: int) -> int:
    """`2 log2(R) - 2` W+ rows for an R px StyleGAN2 (pSp's n_styles)."""
    return int(math.log2(resolution)) * 2 - 2


@dataclass
class ForeignEncoderConfig:
    """What a foreign encoder is: family ('psp', 'e4e', 'restyle'), the file's encoder_type, the generator
    it writes codes for (`img_resolution`, `num_ws`, `w_dim`), whether `latent_avg` is added, ReStyle's
    iteration count, and the file it came from."""

    family: str
    encoder_type: str
    img_resolution: int
    num_ws: int
    w_dim: int
    add_latent_avg: bool = True
    iterations: int = 1
    source: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


class ForeignEncoder(nn.Module):
    """Base of the pSp-family wrappers: `forward(img [N, 3, H, W] in [-1, 1]) -> ws [N, num_ws, w_dim]`.

    `img` is what our `inversion.Encoder` takes (an aligned face at the generator's resolution; any size
    works, it is resized to 256 px like the originals' loaders). Attributes mirror ours: `config`
    (`img_resolution`, `num_ws`, `w_dim`, ...), `w_avg` (`[w_dim]`, None without latent_avg).

    Args:
        net: the original network (state-dict names as released), `[N, C, 256, 256] -> [N, num_ws, w_dim]`.
        config: see `ForeignEncoderConfig`.
        latent_avg: `[num_ws, w_dim]` or None.
    """

    def __init__(self, net: nn.Module, config: ForeignEncoderConfig, latent_avg: torch.Tensor | None):
        super().__init__()
        self.net = net
        self.config = config
        self.register_buffer("latent_avg", None if latent_avg is None else latent_avg.float().clone())

    @property
    def w_avg(self) -> torch.Tensor | None:
        """The generator's w_avg `[w_dim]` as the file records it (a row of latent_avg), or None."""
        return None if self.latent_avg is None else self.latent_avg[0]

    def prepare(self, img: torch.Tensor) -> torch.Tensor:
        """Check and resize an image batch to `[N, 3, 256, 256]` (antialiased bilinear, like PIL's Resize)."""
        if not isinstance(img, torch.Tensor) or img.ndim != 4 or img.shape[1] != 3:
            raise ValueError(f"encoder input must be an RGB batch [N, 3, H, W] in [-1, 1], got "
                             f"{list(img.shape) if isinstance(img, torch.Tensor) else type(img).__name__}")
        if not torch.isfinite(img).all():
            raise ValueError("encoder input holds NaN/Inf")
        dev = self.latent_avg.device if self.latent_avg is not None else next(self.net.parameters()).device
        return resize(img.to(dev, torch.float32), INPUT_SIZE)

    def start(self, codes: torch.Tensor) -> torch.Tensor:
        """`codes` relative to the average face when the file was trained so (`start_from_latent_avg`)."""
        if self.config.add_latent_avg and self.latent_avg is not None:
            return codes + self.latent_avg
        return codes

    def extra_repr(self) -> str:
        c = self.config
        return (f"{c.family} {c.encoder_type}, num_ws={c.num_ws}, w_dim={c.w_dim}, "
                f"img_resolution={c.img_resolution}, source={c.source}")


def check_generator(G: Any, config: ForeignEncoderConfig, mapping: dict[str, torch.Tensor],
                    latent_avg: torch.Tensor | None, source: str) -> None:
    """Refuse a generator the encoder was not made for.

    Sizes first (num_ws, w_dim). Then the W space: the encoder writes codes for its decoder's mapping
    network, so G's mapping must equal the decoder's stored in the file (`mapping`: rosinality
    `style.{i}` tensors; a fine-tuned synthesis, as PTI or StyleGAN-NADA make, keeps the mapping and
    passes). Without a stored decoder, the file's latent_avg must match G's w_avg (2 % of its norm).

    Raises:
        ArchitectureMismatchError: naming both sides and what to pass instead.
    """
    fix = f"pass the generator it was trained with (the decoder stored in the file: --network {source})"
    if (int(G.num_ws), int(G.w_dim)) != (config.num_ws, config.w_dim):
        raise ArchitectureMismatchError(
            f"{source}: a {config.family} encoder for a {config.img_resolution} px generator (num_ws {config.num_ws}, "
            f"w_dim {config.w_dim}); the generator is {G.img_resolution} px (num_ws {G.num_ws}, w_dim {G.w_dim}): {fix}")
    if mapping:
        ours = {k: v for k, v in G.state_dict().items() if k.startswith("mapping.fc") and k.endswith("weight")}
        theirs = {f"mapping.fc{int(k.split('.')[1]) - 1}.weight": v for k, v in mapping.items()
                  if k.startswith("style.") and k.endswith(".weight")}
        same = ours.keys() == theirs.keys() and all(
            ours[k].shape == theirs[k].shape
            and torch.allclose(ours[k].detach().float().cpu(), theirs[k].float(), rtol=1e-5, atol=1e-6) for k in ours)
        if not same:
            raise ArchitectureMismatchError(f"{source}: made for another generator (G's mapping network differs "
                                            f"from the decoder stored in the file); {fix}")
    elif latent_avg is not None and G.w_avg is not None:
        g = G.w_avg.detach().float().cpu()
        if (latent_avg[0].cpu() - g).norm() > 0.02 * g.norm().clamp(min=1e-8):
            raise ArchitectureMismatchError(f"{source}: made for another generator (its latent_avg differs from "
                                            f"G's w_avg); {fix}")
