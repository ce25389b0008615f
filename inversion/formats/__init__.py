"""Encoders and identity networks other tools trained, read into our types (kept apart from our own
`inversion.Encoder`; see docs/formats_encoders.md).

- `irse.py`: the IR-SE ResNet backbone they all share (ArcFace's, with its original names);
- `psp.py`: pSp's GradualStyleEncoder / W / W+ encoders and e4e's Encoder4Editing;
- `restyle.py`: ReStyle's iterative encoders (IR-SE or ResNet-34 trunk);
- `common.py`: reading without running anything, the generator checks, the wrapper with our call.

`load(path)` sniffs a checkpoint (`opts['encoder_type']`, its input channels, key names) and returns a
module with our `Encoder`'s call; `inversion.load_encoder(path)` hands files here.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from sgtcore import artefacts
from sgtcore.errors import CheckpointError, UnknownFormatError

from .common import ForeignEncoder, ForeignEncoderConfig, check_generator, opts_dict, read, strip_prefix
from .psp import PSP_TYPES, PSPEncoder
from .restyle import ITERATIONS, RESTYLE_TYPES, ReStyleEncoder

#: encoder_type values that only e4e writes (its pSp-named GradualStyleEncoder is told apart by `stylegan_size`).
_E4E_ONLY = ("Encoder4Editing", "SingleStyleCodeEncoder")


def sniff(obj: Any, source: str) -> tuple[str, str]:
    """`(family, encoder_type)` of a loaded checkpoint: family 'psp', 'e4e', 'restyle' or 'arcface'
    (encoder_type '' for ArcFace's bare state dict).

    ReStyle reads 6 channels (image + reconstruction); e4e names `stylegan_size` where pSp says
    `output_size`. Without `opts['encoder_type']` the keys decide (pyramid `latlayer1`, W+ `output_layer_2`,
    a lone `linear`, or per-row styles on one map: ReStyle's BackboneEncoder).

    Raises:
        UnknownFormatError: none of these, or an encoder_type we do not read.
    """
    if isinstance(obj, dict) and "output_layer.3.weight" in obj and "input_layer.0.weight" in obj:
        return "arcface", ""
    sd = obj.get("state_dict") if isinstance(obj, dict) else None
    enc = strip_prefix(sd, "encoder.") if isinstance(sd, dict) else {}
    if not enc:
        what = artefacts.describe(obj)  # another tool's file: say what it is and where it goes
        raise UnknownFormatError(f"{source}: not a pSp / e4e / ReStyle checkpoint ({{state_dict: encoder.*, opts}}) "
                                 "nor ArcFace's model_ir_se50.pth" + (f"; {what}" if what else ""))
    opts = opts_dict(obj)
    stem = enc.get("input_layer.0.weight", enc.get("conv1.weight"))
    in_channels = int(stem.shape[1]) if stem is not None and stem.ndim == 4 else 0
    et = opts.get("encoder_type")
    if not et:
        if "latlayer1.weight" in enc:
            et = "ResNetGradualStyleEncoder" if "conv1.weight" in enc else "GradualStyleEncoder"
        elif "output_layer_2.3.weight" in enc:
            et = "BackboneEncoderUsingLastLayerIntoWPlus"
        elif "styles.0.linear.weight" in enc:
            et = "ResNetBackboneEncoder" if "conv1.weight" in enc else "BackboneEncoder"
        else:
            et = "BackboneEncoderUsingLastLayerIntoW"
    et = str(et)
    if in_channels == 6 or (et in RESTYLE_TYPES and et not in PSP_TYPES):
        family = "restyle"
        known = RESTYLE_TYPES
    elif et in _E4E_ONLY or "stylegan_size" in opts:
        family, known = "e4e", PSP_TYPES
    else:
        family, known = "psp", PSP_TYPES
    if et not in known:
        raise UnknownFormatError(f"{source}: encoder_type {et!r} is not a {family} encoder we read (known: "
                                 f"{', '.join(sorted(set(PSP_TYPES) | set(RESTYLE_TYPES)))})")
    return family, et


def load(path: str | os.PathLike, G: Any = None, device: str | torch.device = "cpu",
         iterations: int = ITERATIONS) -> ForeignEncoder:
    """Load a pSp, e4e or ReStyle checkpoint as a module with our `Encoder`'s call (eval mode, no grad).

    Args:
        path: the `.pt` file as the original repository saved it.
        G: if given, refuse the encoder unless it writes codes for G (num_ws, w_dim, and G's mapping equal to
            the decoder stored in the file; `common.check_generator`).
        device: where to put it.
        iterations: ReStyle's refinement steps (its default 5; `encoder.config.iterations` later).

    Returns:
        `PSPEncoder` (pSp, e4e) or `ReStyleEncoder`; `encoder(img [N, 3, H, W] in [-1, 1]) -> ws [N, num_ws, w_dim]`.

    Raises:
        FileNotFoundError, UnknownFormatError (not one of these, unknown encoder_type, ArcFace's file),
        UnsafeCheckpointError (the file asks to run code), CorruptCheckpointError (damaged, NaN),
        ArchitectureMismatchError (made for another generator, non-RGB input, inconsistent shapes).
    """
    from . import psp, restyle

    source = str(path)
    obj = read(path)
    family, et = sniff(obj, source)
    if family == "arcface":
        raise UnknownFormatError(f"{source}: ArcFace's identity network, not an encoder; load it with "
                                 "inversion.identity.load_identity_net")
    if family == "restyle":
        enc = restyle.from_checkpoint(obj, et, source, iterations)
    else:
        enc = psp.from_checkpoint(obj, family, et, source)
    if G is not None:
        mapping = {k: v for k, v in strip_prefix(obj["state_dict"], "decoder.").items() if k.startswith("style.")}
        check_generator(G, enc.config, mapping, enc.latent_avg, source)
    return enc.to(device)


def holds_encoder(path: str | os.PathLike) -> bool:
    """True when `path` is a pSp / e4e / ReStyle checkpoint (reads only its index: zip files are mapped)."""
    try:
        obj = read(path)
        return sniff(obj, str(path))[0] != "arcface"
    except (CheckpointError, OSError):
        return False


__all__ = ["load", "sniff", "holds_encoder", "read", "ForeignEncoder", "ForeignEncoderConfig", "PSPEncoder",
           "ReStyleEncoder", "check_generator"]
