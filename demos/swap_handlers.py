"""The Swap tab as a plain function: two inputs (photos or latent files) in, uint8 images and a line out,
one `edits.swap` call in between. Kept apart from `handlers.py`, which holds the other tabs.

Errors are the library's own: `edits.swap.SwapUntrainedError` (ftm/blend without trained networks for the
chosen generator),
`inversion.ImageReadError` / `NoFaceError` (the message starts with "identity:" or "attribute:"),
`stylegan.LatentFileError` (a latent file that is unreadable or made for another generator).
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from stylegan.images import to_uint8

from .handlers import REAL_PHOTO_NOTE, layer_resolutions
from .models import DemoModel


class Swapped(NamedTuple):
    identity_aligned: np.ndarray    # uint8 [R, R, 3]: the identity as inverted (a latent: its render)
    attribute_aligned: np.ndarray   # uint8 [R, R, 3]: the same for the attribute
    result: np.ndarray              # uint8 [R, R, 3]: identity of the first on pose/expression/lighting of the second
    pasted: np.ndarray | None       # uint8 attribute photo with the result pasted back (None: no photo aligned)
    info: str


def _side(prepared, G) -> np.ndarray:
    """What one side looked like to the swap: the aligned image, or a latent's render with its noise maps."""
    if prepared.image is not None:
        return np.asarray(prepared.image)
    with torch.no_grad():
        return to_uint8(G.synthesis(prepared.ws, noise=prepared.noise or None))[0]


def _px(num_ws: int, lo: int, hi: int) -> str:
    """The resolutions style rows lo..hi-1 drive: "4 px", "8–64 px"."""
    rows = layer_resolutions(num_ws)[lo:hi]
    return f"{rows[0]} px" if rows[0] == rows[-1] else f"{rows[0]}–{rows[-1]} px"


#: What the info line says about each trained method (which one ran, and how it works).
TRAINED_NOTES = {
    "ftm": "FTM swap: trained transfer cells mix the two codes row by row; rendered with the attribute's noise maps.",
    "blend": "BLEND swap: the trained code mix rendered, and the attribute image's features blended in outside the "
             "learned face mask (background, hair, lighting of the scene kept).",
    "inject": "INJECT swap: the identity's embedding (read from its aligned image) modulates every style row of "
              "the attribute's code; rendered with the attribute's noise maps.",
}


def swap(model: DemoModel, network: str | None, identity: str | Path | None, attribute: str | Path | None,
         method: str = "lcr", paste: bool = True, steps: int | None = None) -> Swapped:
    """Put the identity of one face onto the pose, expression and lighting of another (`edits.swap`).

    Args:
        model: the demo's networks.
        network: a name from `model.names` (None: the default).
        identity, attribute: an image file (aligned and inverted with the library's defaults; an image
            already R x R for an R px network is taken as aligned) or a latent `.npz` from the Generate or
            Invert tab (`stylegan.save_ws`; used as it is, with its noise maps).
        method: 'lcr' (layer-wise code replacement, needs no weights), 'ftm' (trained code mixing), 'blend'
            (trained feature blending) or 'inject' (trained identity injection); the trained ones raise
            `SwapUntrainedError` for a network without trained swap weights (`edits.swap.trained_methods`
            lists the ones that run).
        paste: also paste the result back into the attribute photo (when it was a photo that was aligned).
        steps: projection steps for photo inputs (None: `inversion.project`'s default); for tests.

    Returns:
        Both sides as the swap saw them, the result, the pasted-back photo (or None) and a line saying
        which layers came from which side.

    Raises:
        ValueError: a missing input, an unknown method; `SwapUntrainedError` for an untrained method.
        inversion.AlignmentError (ImageReadError, NoFaceError, ...): a photo that cannot be used.
        stylegan.LatentFileError: an unreadable latent file, or one made for another generator.
    """
    from edits import swap as swap_lib

    swap_lib.check_method(method)
    for role, source in (("identity", identity), ("attribute", attribute)):
        if not source:
            raise ValueError(f"no {role}: upload a photo or a latent (.npz), or pick an example")
    net = model.get(network)
    G = net.G
    swap_lib.check_method(method, G)  # before any photo is inverted: untrained methods fail at once
    r = swap_lib(str(identity), str(attribute), method, G, steps=steps, D=net.D, encoder=net.encoder,
                 loss=net.loss, progress=True)  # tqdm bars: gr.Progress(track_tqdm=True) shows them
    result = to_uint8(r.image)[0]
    pasted = r.paste() if paste and r.attribute.face is not None else None
    split = r.split
    if method != "lcr":
        notes = [TRAINED_NOTES[method]]
    else:
        if 0 < split < G.num_ws:
            layers = (f"style rows 0–{split - 1} ({_px(G.num_ws, 0, split)}: pose, head shape) from the attribute, "
                      f"rows {split}–{G.num_ws - 1} ({_px(G.num_ws, split, G.num_ws)}) from the identity")
        else:
            layers = "all style rows from the " + ("identity" if split == 0 else "attribute")
        notes = [f"LCR swap: {layers}; rendered with the attribute's noise maps."]
    if paste and pasted is None:
        notes.append("Nothing to paste back into: the attribute is a latent or an image already at the "
                     f"network's size ({G.img_resolution} px).")
    if net.synthetic and (r.identity.face is not None or r.attribute.face is not None):
        notes.append(REAL_PHOTO_NOTE)
    return Swapped(_side(r.identity, G), _side(r.attribute, G), result, pasted, "\n\n".join(notes))


__all__ = ["Swapped", "swap"]
