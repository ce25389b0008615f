"""What a file users bring holds, told from its loaded contents, so that a loader handed another tool's file
says what the file is and where it goes ("... it is a MegaFS swap network: pass it as --swap-net ...")
rather than only "not mine". Every format here is described in docs/formats.md.

Pure inspection of what the restricted unpicklers return (dicts, tensors, arrays): no file access, and no
imports of our packages (every loader, from `stylegan` on, may use it).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: kind -> what it is, and the call / sgt option that reads it.
KINDS: dict[str, str] = {
    "generator": "a StyleGAN2 generator checkpoint (rosinality {g_ema, latent_avg}): use it as the generator "
                 "(--network; stylegan.load)",
    "encoder": "a pSp / e4e / ReStyle encoder checkpoint: use it as the encoder (sgt project --encoder; "
               "inversion.load_encoder); its decoder also loads as the generator (--network)",
    "identity": "ArcFace IR-SE identity weights (model_ir_se50.pth): use them as the identity network "
                "(sgt train-swap --identity-net; inversion.identity.load_identity_net)",
    "megafs": "a MegaFS swap network ({e, s}: its encoder and swapper, no generator inside): pass it as "
              "--swap-net with --method megafs-ftm|megafs-injection|megafs-lcr, and give --network the StyleGAN2 "
              "generator it was trained with (MegaFS's: FFHQ config-f, stylegan2-ffhq-config-f.pt)",
    "direction": "an edit direction (InterFaceGAN / e4e, [1, w_dim] or [1, num_ws, w_dim]): use it as "
                 "sgt edit --direction FILE=STRENGTH (edits.import_direction)",
    "pca": "a GANSpace PCA (components, mean, std): use it as sgt edit --direction 'FILE#K=STRENGTH' "
           "(edits.import_direction)",
    "latent": "a latent file (ws): sgt edit / sgt swap take it as their input (stylegan.load_ws)",
}


def _keys(obj: Mapping) -> set[str]:
    return {k for k in obj if isinstance(k, str)}


def identify(obj: Any) -> str | None:
    """The kind of artefact `obj` (what `torch.load` / `np.load` gave for a file) is: a key of `KINDS`, or
    None when it looks like none of them."""
    shape = getattr(obj, "shape", None)
    if shape is not None and not isinstance(obj, Mapping):  # a tensor or an array
        dims = tuple(int(s) for s in shape)
        if (len(dims) in (2, 3) and dims[0] == 1) or (len(dims) == 1 and dims[0] > 1):
            return "direction"
        return None
    if not isinstance(obj, Mapping):
        return None
    keys = _keys(obj)
    if "g_ema" in keys or ("d" in keys and "g" in keys):
        return "generator"
    sd = obj.get("state_dict")
    if isinstance(sd, Mapping) and "opts" in keys and any(k.startswith("encoder.") for k in _keys(sd)):
        return "encoder"
    if "input_layer.0.weight" in keys and "output_layer.3.weight" in keys:
        return "identity"
    if isinstance(obj.get("e"), Mapping) and isinstance(obj.get("s"), Mapping):
        return "megafs"
    if {"comp", "mean", "std"} <= keys or {"lat_comp", "lat_mean", "lat_stdev"} <= keys:
        return "pca"
    if "w" in keys and getattr(obj["w"], "ndim", 0) == 3:
        return "latent"
    return None


def describe(obj: Any) -> str:
    """'it is <what>: <where it goes>' for a recognised artefact, '' otherwise (append it to an error)."""
    kind = identify(obj)
    return f"it is {KINDS[kind]}" if kind else ""


__all__ = ["KINDS", "describe", "identify"]
