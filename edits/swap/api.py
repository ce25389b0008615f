"""`swap(identity, attribute, method, G)`: one call from photos or latents to the swapped face.

Photos are aligned (FFHQ recipe, `inversion.align`) unless already `R x R` for an `R` px generator (then
taken as aligned, as `inversion` does) and inverted with the library's defaults (`inversion.project`);
latents skip both. The swap is rendered with the attribute's inverted noise maps (the per-pixel detail
of its hair and background), or G's constant noise when the attribute is a bare ws tensor.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

from stylegan.latents import LATENT_SUFFIXES

from .latent import lcr

METHODS = ("lcr", "ftm", "blend")

SourceLike = Union[str, os.PathLike, np.ndarray, torch.Tensor, Any]  # path, PIL, uint8 HxWx3, [1,3,R,R], ws


class SwapUntrainedError(ValueError):
    """A swap method whose trained weights do not exist for this generator."""


def check_method(method: str) -> str:
    """`method` if it can run; ValueError for an unknown one, `SwapUntrainedError` for ftm/blend (no weights yet)."""
    if method not in METHODS:
        raise ValueError(f"unknown swap method {method!r}; choose one of {', '.join(METHODS)}")
    if method != "lcr":
        raise SwapUntrainedError(
            f"swap method {method!r} is not trained for this generator: it needs trained {method} networks, which "
            f"will be trained with `sgt train-swap --method {method} --network ...` (not yet available); "
            "method 'lcr' needs no weights and works now")
    return method


@dataclass
class Prepared:
    """One side of a swap as the generator sees it.

    Attributes:
        ws: `[1, num_ws, w_dim]`.
        noise: inverted noise maps `{name: [r, r]}` (empty for a bare ws).
        face: the `inversion.AlignedFace` when a photo was aligned, else None.
        photo: the original photo (path or uint8 array) when one was aligned, else None.
        image: uint8 `[R, R, 3]` aligned image that was inverted, None for latents.
        landmarks: `[68, 2]` landmarks in the aligned frame, when known.
    """

    ws: torch.Tensor
    noise: dict[str, torch.Tensor] = field(default_factory=dict)
    face: Any = None
    photo: Any = None
    image: np.ndarray | None = None
    landmarks: np.ndarray | None = None


def _is_ws(x: Any, G: Any) -> bool:
    return isinstance(x, torch.Tensor) and x.ndim == 3 and not (x.shape[0] == 3 and x.shape[1:] == (G.img_resolution,) * 2)


def prepare(source: SourceLike, G: Any, role: str = "input", *, steps: int | None = None, detector: str = "hog",
            upsample: int = 1, landmarks: bool = False, **project_kw: Any) -> Prepared:
    """Turn a photo, aligned image, tensor, latent file or ws into a `Prepared` for G.

    Args:
        source: image path / PIL / uint8 `[H, W, 3]` / tensor `[1, 3, R, R]` in [-1, 1] (aligned), an `.npz`
            latent file (`stylegan.save_ws`), or ws `[1, num_ws, w_dim]`.
        G: the generator.
        role: 'identity' or 'attribute', for messages.
        steps: projection steps (None: `inversion.project`'s default).
        detector, upsample: dlib face detector for alignment (as `inversion.align`).
        landmarks: find the 68 landmarks of an already-aligned image too (for the attribute's face mask);
            None when dlib finds no face or is not installed.
        **project_kw: passed to `inversion.project`.

    Raises:
        ValueError (ArchitectureMismatchError for a latent file of another generator, NoFaceError for a
        photo without a face, ImageReadError, ProjectionError): the message starts with `role`.
    """
    import inversion
    import stylegan
    from edits.base import check_ws
    from sgtcore.errors import ArchitectureMismatchError

    res = G.img_resolution
    if _is_ws(source, G):
        try:
            check_ws(source, G.num_ws, G.w_dim, f"{role} ws")
        except ValueError as exc:
            raise ValueError(f"{exc}; is this latent for another generator?") from None
        return Prepared(_one(source, role).to(G.w_avg.device))
    if isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() in LATENT_SUFFIXES:
        latents = stylegan.load_ws(source, G)
        made_for, fp = latents.metadata.get("generator"), stylegan.fingerprint(G)
        if made_for is not None and made_for != fp:
            raise ArchitectureMismatchError(f"{role}: {source} was made for generator {made_for}, not for the one "
                                            f"given ({fp}); re-project the photo into this generator")
        return Prepared(_one(latents.ws, role), {k: v[0] if v.ndim > 2 else v for k, v in (latents.noise or {}).items()})
    face = photo = lm = None
    try:
        if isinstance(source, torch.Tensor):
            target = inversion.prepare_target(source, res)
            image = None
        else:
            image = inversion.load_image(source)
            if inversion.needs_alignment(image, res):
                face = inversion.align(source, output_size=res, detector=detector, upsample=upsample)
                photo, image, lm = source, face.image, face.landmarks_aligned
            elif landmarks:
                lm = _detect(image, detector, upsample)
            target = inversion.prepare_target(image, res)
    except (inversion.AlignmentError, inversion.ProjectionError) as exc:
        raise type(exc)(f"{role}: {' '.join(str(exc).split())}") from None
    result = inversion.project(G, target, steps=steps, **{"progress": False, **project_kw})  # a tqdm bar on request
    if image is None:
        from stylegan.images import to_uint8

        image = to_uint8(target)[0]
    return Prepared(result.ws.detach(), {k: v.detach() for k, v in result.noise.items()}, face, photo, image, lm)


def _one(ws: torch.Tensor, role: str) -> torch.Tensor:
    if len(ws) != 1:
        raise ValueError(f"{role}: one latent at a time, got N = {len(ws)} in ws [N, num_ws, w_dim]")
    return ws.detach().float()


def _detect(image: np.ndarray, detector: str, upsample: int) -> np.ndarray | None:
    """68 landmarks of the largest face dlib finds in an aligned image, or None (no face, no dlib)."""
    from inversion.landmarks import get_detector

    try:
        faces = get_detector(detector, upsample)(image)
    except (ImportError, FileNotFoundError):
        return None
    return max(faces, key=lambda f: np.ptp(f[:, 0]) * np.ptp(f[:, 1])) if faces else None


@dataclass
class SwapResult:
    """A swap in the generator's aligned frame.

    Attributes:
        image: `[1, 3, R, R]` in [-1, 1].
        ws: `[1, num_ws, w_dim]` the swapped code.
        mask: `[1, 1, R, R]` soft face mask of the attribute (`inversion.face_mask` from its 68 landmarks),
            None when its landmarks are unknown (a latent, or an aligned image dlib finds no face in).
        identity, attribute: the two `Prepared` sides.
        method, split: how it was made.
    """

    image: torch.Tensor
    ws: torch.Tensor
    mask: torch.Tensor | None
    identity: Prepared
    attribute: Prepared
    method: str = "lcr"
    split: int | None = None

    def paste(self, **kw: Any) -> np.ndarray:
        """The swap pasted back into the attribute's original photo (`inversion.paste_back`: colour-matched,
        soft landmark mask); uint8 `[H, W, 3]`. `kw` go to `paste_back`.

        Raises:
            ValueError: the attribute was not a photo that was aligned (a latent or an already-aligned image).
        """
        from inversion.paste import paste_back

        if self.attribute.face is None:
            raise ValueError("paste(): the attribute was not a photo that was aligned (a latent, or an image "
                             "already at the generator's size), so there is no photo to paste into")
        return paste_back(self.attribute.photo, self.image, self.attribute.face, **kw)


def swap(identity: SourceLike, attribute: SourceLike, method: str = "lcr", G: Any = "synthheads", *,
         split: int | None = None, steps: int | None = None, detector: str = "hog", upsample: int = 1,
         **project_kw: Any) -> SwapResult:
    """Put the identity of one face onto the pose, expression and lighting of another.

    Args:
        identity, attribute: image path / PIL / uint8 `[H, W, 3]` / tensor `[1, 3, R, R]` in [-1, 1] (aligned),
            `.npz` latent file, or ws `[1, num_ws, w_dim]`.
        method: 'lcr' (layer-wise code replacement; no weights); 'ftm' and 'blend' are not trained yet.
        G: a `stylegan.Generator` or a registered name.
        split: LCR: rows `< split` from the attribute (default `edits.swap.latent.default_split`).
        steps, detector, upsample, **project_kw: photo inputs: see `prepare`.

    Returns:
        `SwapResult` (`.image [1, 3, R, R]`, `.ws`, `.mask`, `.paste()`).

    Raises:
        ValueError: unknown method, split out of range, a bad input (the message names identity or attribute);
        SwapUntrainedError: ftm/blend; ArchitectureMismatchError: a latent file of another generator.
    """
    import stylegan

    check_method(method)
    G = stylegan.load(G) if isinstance(G, str) else G
    if split is not None:
        from .latent import check_split

        split = check_split(split, G.num_ws)
    ident = prepare(identity, G, "identity", steps=steps, detector=detector, upsample=upsample, **project_kw)
    att = prepare(attribute, G, "attribute", steps=steps, detector=detector, upsample=upsample, landmarks=True,
                  **project_kw)
    with torch.no_grad():
        ws = lcr(ident.ws, att.ws, split)
        image = G.synthesis(ws, noise=att.noise or None)
    mask = None
    if att.landmarks is not None:
        from inversion.paste import face_mask

        mask = torch.from_numpy(face_mask(att.landmarks, G.img_resolution))[None, None].to(image.device)
    from .latent import default_split

    return SwapResult(image, ws, mask, ident, att, method, default_split(G.num_ws) if split is None else split)


__all__ = ["METHODS", "SwapResult", "SwapUntrainedError", "Prepared", "check_method", "prepare", "swap"]
