"""`swap(identity, attribute, method, G)`: one call from photos or latents to the swapped face.

Photos are aligned (FFHQ recipe, `inversion.align`) unless already `R x R` for an `R` px generator (then
taken as aligned, as `inversion` does) and inverted with the library's defaults (`inversion.project`);
latents skip both. The swap is rendered with the attribute's inverted noise maps (the per-pixel detail
of its hair and background), or G's constant noise when the attribute is a bare ws tensor.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence, Union

import numpy as np
import torch

from sgtcore.registry import DEFAULT_GENERATOR
from stylegan.latents import LATENT_SUFFIXES

from .latent import lcr

METHODS = ("lcr", "ftm", "blend", "inject")
#: MegaFS's released networks (`megafs.py`): they encode aligned images instead of inverting them, and need the
#: user's MegaFS file (`swap_net=`, `sgt swap --swap-net FILE`)
MEGAFS_METHODS = ("megafs-ftm", "megafs-injection", "megafs-lcr")

SourceLike = Union[str, os.PathLike, np.ndarray, torch.Tensor, Any]  # path, PIL, uint8 HxWx3, [1,3,R,R], ws


class SwapUntrainedError(ValueError):
    """A swap method whose trained weights do not exist for this generator."""


#: The trained network class behind each trained method (kind "swap" in the registry).
NETWORK_CLASSES = {"ftm": "TransferNet", "blend": "BlendNet", "inject": "InjectNet"}


def _entry_path(G: Any, method: str) -> Path | None:
    """The folder of the registered `method` network made for G (user-registered ones first), or None."""
    from sgtcore import modelio, registry
    from stylegan import fingerprint

    want = NETWORK_CLASSES[method]
    for entry in registry.entries("swap", generator=fingerprint(G)):
        if modelio.read_config(entry.path).get("class_name") == want:
            return Path(entry.path)
    return None


def network_metadata(G: Any, method: str) -> dict:
    """The metadata recorded with the registered `method` network made for G (training command, measured
    settings such as `video_smooth`); {} for lcr, MegaFS's methods, or no network."""
    from sgtcore import modelio

    path = _entry_path(G, method) if method in NETWORK_CLASSES else None
    meta = modelio.read_config(path).get("metadata") if path is not None else None
    return meta if isinstance(meta, dict) else {}


@functools.lru_cache(maxsize=8)
def _load_network(path: str, stamp: tuple[int, int], want: str, G: Any) -> torch.nn.Module:
    """Read a network folder once (`stamp`: the weights' mtime and size, so a rewritten folder is read again):
    a demo request or a folder of photo pairs then reuses it (eval mode, no grad)."""
    from sgtcore import modelio

    return modelio.load(path, expect=want, generator=G, device=G.w_avg.device)


def find_network(G: Any, method: str) -> torch.nn.Module | None:
    """The registered `method` network made for G (user-registered ones first), on G's device; None if none."""
    path = _entry_path(G, method)
    if path is None:
        return None
    st = (path / "model.safetensors").stat() if (path / "model.safetensors").exists() else path.stat()
    return _load_network(str(path), (st.st_mtime_ns, st.st_size), NETWORK_CLASSES[method], G)


def check_method(method: str, G: Any = None, swap_net: Any = None) -> str:
    """`method` if it can run: ValueError for an unknown one; with `G`, `SwapUntrainedError` when ftm/blend
    has no trained network for that generator (blend trained on FTM codes needs the FTM network too), or a
    megafs-* method has no `swap_net` (MegaFS's file; `Swapper` reads and checks it)."""
    from sgtcore import modelio

    if method not in METHODS + MEGAFS_METHODS:
        raise ValueError(f"unknown swap method {method!r}; choose one of {', '.join(METHODS + MEGAFS_METHODS)}")
    if method in MEGAFS_METHODS:
        if G is not None and swap_net is None:
            kind = method.split("-", 1)[1]
            raise SwapUntrainedError(
                f"swap method {method!r} runs MegaFS's released {kind}_final.pth: pass its path as swap_net=PATH "
                "(CLI: --swap-net FILE); get it from github.com/zyainfal/One-Shot-Face-Swapping-on-Megapixels "
                "(inference/README.md, 'Checkpoints'); method 'lcr' needs no weights and works now")
        return method
    if G is not None and method != "lcr":
        path = _entry_path(G, method)  # read the config only: Swapper loads the weights
        if path is None:
            raise SwapUntrainedError(
                f"swap method {method!r} is not trained for this generator: train its network with `sgt train-swap "
                f"--method {method} --network ... --out DIR`, then pass --swap-net DIR (Python: "
                "sgtcore.registry.register('swap', NAME, DIR)); method 'lcr' needs no weights and works now")
        if method == "blend" and modelio.read_config(path).get("config", {}).get("base") == "ftm":
            check_method("ftm", G)
    return method


def trained_methods(G: Any) -> list[str]:
    """The methods of `METHODS` that run for G now: lcr, and each trained method whose network is registered
    for G (what a UI offers)."""
    out = []
    for m in METHODS:
        try:
            out.append(check_method(m, G))
        except SwapUntrainedError:
            pass
    return out


class Swapper:
    """One swap method for one generator: `mix` codes, and render swaps (the one place `swap`, video mode and
    the protocol make a swap image).

    Args:
        G: the generator.
        method: 'lcr', 'ftm', 'blend' or 'inject' (trained networks are looked up in the registry), or
            'megafs-ftm', 'megafs-injection', 'megafs-lcr' (MegaFS's file `swap_net`; `mix`/`__call__` then take
            its encoder's codes, from `prepare(..., megafs=swapper.megafs)`).
        split: LCR's split (lcr, blend trained on LCR codes, megafs-lcr); default `latent.default_split`
            (megafs-lcr: MegaFS's 4). Refused (ValueError) for methods that mix with FTM or MegaFS's cells.
        swap_net: megafs-*: MegaFS's `{kind}_final.pth` (or a loaded `megafs.MegaFS`), checked against G.
        identity_net: inject trained on a user's identity network (ArcFace): that network, to embed the
            identity the same way at inference (an inject network trained on the oracle needs none).
    """

    def __init__(self, G: Any, method: str = "lcr", split: int | None = None, swap_net: Any = None,
                 identity_net: Any = None):
        from .latent import check_split, default_split

        check_method(method, G, swap_net)
        self.G, self.method = G, method
        #: MegaFS's encoder + swapper (megafs-* methods), else None
        self.megafs = None
        #: inject's network and the identity network that embeds for it, else None
        self.inject = self.embedder = None
        if method in MEGAFS_METHODS:
            from .formats.megafs import resolve

            self.megafs = resolve(swap_net, G, method.split("-", 1)[1]).to(G.w_avg.device)
            if split is not None and method != "megafs-lcr":
                raise ValueError(f"split applies to LCR codes; {method!r} mixes rows {self.megafs.config.swap_index}"
                                 " and up with MegaFS's trained cells (leave split unset)")
            self.blend = self.ftm = None
            self.split = None if method != "megafs-lcr" else \
                self.megafs.config.swap_index if split is None else check_split(split, G.num_ws)
            return
        if swap_net is not None:
            raise ValueError("swap_net is MegaFS's file, for the megafs-* methods; trained ftm/blend/inject networks "
                             "are found in the registry (sgtcore.registry.register('swap', NAME, DIR))")
        if method == "inject":
            from .inject import embedder_for

            if split is not None:
                raise ValueError("split applies to LCR codes; 'inject' modulates the attribute's whole code with the "
                                 "identity's embedding (leave split unset)")
            self.inject = find_network(G, "inject")
            self.embedder = embedder_for(self.inject.config, identity_net, G.w_avg.device)
            self.blend = self.ftm = self.split = None
            return
        self.blend = find_network(G, "blend") if method == "blend" else None
        use_ftm = method == "ftm" or (self.blend is not None and self.blend.config.base == "ftm")
        self.ftm = find_network(G, "ftm") if use_ftm else None
        if self.ftm is not None and split is not None:
            raise ValueError(f"split applies to LCR codes; method {method!r} mixes the codes with its trained FTM "
                             "network (leave split unset)")
        #: LCR's split, or None when the trained FTM network mixes the codes
        self.split = None if self.ftm is not None else \
            default_split(G.num_ws) if split is None else check_split(split, G.num_ws)

    def mix(self, identity_ws: torch.Tensor, attribute_ws: torch.Tensor,
            identity_image: torch.Tensor | None = None) -> torch.Tensor:
        """The swapped code `[N, num_ws, w_dim]` (LCR or FTM; blend mixes with the one it was trained on;
        megafs-*: MegaFS's swapper on its encoder's codes; inject: the attribute's code modulated by the
        identity's embedding, read from `identity_image` `[N | 1, 3, R, R]` (the aligned identity; None: G's
        render of `identity_ws`))."""
        if self.inject is not None:
            lcr(identity_ws, attribute_ws)  # the same shape and finiteness checks
            if identity_image is None:
                identity_image = self.G.synthesis(identity_ws, noise_mode="const")
            return self.inject(self.embedder.embed(identity_image.to(identity_ws.device)), attribute_ws)
        if self.megafs is not None:
            lcr(identity_ws, attribute_ws, self.split or self.megafs.config.swap_index)  # shape/finite checks
            return self.megafs.mix(identity_ws, attribute_ws) if self.split is None else \
                lcr(identity_ws, attribute_ws, self.split)
        if self.ftm is None:
            return lcr(identity_ws, attribute_ws, self.split)
        lcr(identity_ws, attribute_ws, self.split)  # the same shape and finiteness checks
        return self.ftm(identity_ws, attribute_ws)

    @torch.no_grad()
    def __call__(self, identity_ws: torch.Tensor, attribute_ws: torch.Tensor, noise: dict | None = None,
                 attribute_image: torch.Tensor | None = None, mask: Any = None,
                 structure: torch.Tensor | None = None,
                 identity_image: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Render swaps.

        Args:
            identity_ws, attribute_ws: `[N | 1, num_ws, w_dim]`.
            identity_image: inject: the aligned identity `[N | 1, 3, R, R]` in [-1, 1] it embeds (None: G's
                render of `identity_ws`); ignored by the other methods.
            noise: the attribute's noise maps (`G.synthesis`'s `noise`), or None for G's constant noise.
            attribute_image: blend: the aligned attribute image `[N | 1, 3, R, R]` in [-1, 1]; None renders
                the attribute code instead (its reconstruction is then what is blended).
            mask: blend: your own face region in [0, 1] (`[R, R]`, `[1, 1, R, R]`, tensor or array; e.g. from
                a face parser) instead of the learned one. megafs-*: the region where the swap replaces
                `attribute_image` (MegaFS blends with a face-parsing mask); None: no blending.
            structure: megafs-*: the attribute's structure tensor `[N | 1, w_dim, 4, 4]` (`Prepared.structure`),
                G's 4x4 input in place of its constant.

        Returns:
            `(image [N, 3, R, R], ws [N, num_ws, w_dim], mask [N, 1, R, R] or None)`; mask: blend's learned
            face region (megafs-*: the mask blended with).
        """
        ws = self.mix(identity_ws, attribute_ws, identity_image)
        if self.megafs is not None:
            return self._megafs_render(ws, structure, attribute_image, mask)
        if self.blend is None:
            return self.G.synthesis(ws, noise=noise or None), ws, None
        if attribute_image is None:
            attribute_image = self.G.synthesis(attribute_ws, noise=noise or None)
        res = self.G.img_resolution
        if tuple(attribute_image.shape[1:]) != (3, res, res):
            raise ValueError(f"attribute_image must be [N, 3, {res}, {res}] for this generator, got "
                             f"{list(attribute_image.shape)}")
        if mask is not None:
            mask = check_mask(mask, res).to(ws.device)
        image, mask = self.blend(self.G, ws, attribute_image.expand(len(ws), -1, -1, -1).to(ws.device),
                                 noise or None, mask=mask)
        return image, ws, mask

    def _megafs_render(self, ws: torch.Tensor, structure: torch.Tensor | None, attribute_image: torch.Tensor | None,
                       mask: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """MegaFS's render (the attribute's structure tensor as G's 4x4 input, min-max rescaled), then
        `mask * swap + (1 - mask) * attribute_image` as its inference.py blends (when both are given)."""
        if structure is None:
            raise ValueError(f"{self.method}: pass the attribute's structure tensor (Prepared.structure from "
                             "prepare(..., megafs=Swapper.megafs))")
        image = self.megafs.render(self.G, ws, structure.to(ws.device))
        if mask is None or attribute_image is None:
            return image, ws, None
        res = self.G.img_resolution
        if tuple(attribute_image.shape[1:]) != (3, res, res):
            raise ValueError(f"attribute_image must be [N, 3, {res}, {res}] for this generator, got "
                             f"{list(attribute_image.shape)}")
        m = check_mask(mask, res).to(ws.device)
        image = torch.lerp(attribute_image.to(ws.device).expand_as(image), image, m)
        return image, ws, m.expand(len(ws), -1, -1, -1)


def check_mask(mask: Any, resolution: int) -> torch.Tensor:
    """A face mask as a float tensor `[1, 1, R, R]` in [0, 1]; ValueError for another size, NaN or values outside."""
    m = torch.as_tensor(np.asarray(mask, dtype=np.float32) if not isinstance(mask, torch.Tensor) else mask).float()
    given = list(m.shape)
    if m.ndim == 2:
        m = m[None, None]
    if tuple(m.shape) != (1, 1, resolution, resolution):
        raise ValueError(f"mask must be [{resolution}, {resolution}] or [1, 1, {resolution}, {resolution}] for this "
                         f"{resolution} px generator (the aligned frame), got {given}")
    if not torch.isfinite(m).all() or float(m.min()) < 0 or float(m.max()) > 1:
        raise ValueError("mask values must be finite and in [0, 1] (1 = the swapped face)")
    return m


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
        name: the source's path, when it was one.
        structure: megafs-*: MegaFS's structure tensor `[1, w_dim, 4, 4]` (then ws holds its encoder's codes).
    """

    ws: torch.Tensor
    noise: dict[str, torch.Tensor] = field(default_factory=dict)
    face: Any = None
    photo: Any = None
    image: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    name: str | None = None
    structure: torch.Tensor | None = None


def _is_ws(x: Any, G: Any) -> bool:
    return isinstance(x, torch.Tensor) and x.ndim == 3 and not (x.shape[0] == 3 and x.shape[1:] == (G.img_resolution,) * 2)


def _is_code(source: Any, G: Any) -> bool:
    """Whether `prepare` takes `source` as it is (a `Prepared`, ws, or a latent file) rather than inverting it."""
    return isinstance(source, Prepared) or _is_ws(source, G) or (
        isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() in LATENT_SUFFIXES)


def prepare(source: SourceLike, G: Any, role: str = "input", *, steps: int | None = None, detector: str = "hog",
            upsample: int = 1, landmarks: bool = False, megafs: Any = None, **project_kw: Any) -> Prepared:
    """Turn a photo, aligned image, tensor, latent file or ws into a `Prepared` for G.

    Args:
        source: image path / PIL / uint8 `[H, W, 3]` / tensor `[1, 3, R, R]` in [-1, 1] (aligned), an `.npz`
            latent file (`stylegan.save_ws`), ws `[1, num_ws, w_dim]`, or a `Prepared` (returned as is).
        G: the generator.
        role: 'identity' or 'attribute', for messages.
        steps: projection steps (None: `inversion.project`'s default).
        detector, upsample: dlib face detector for alignment (as `inversion.align`).
        landmarks: find the 68 landmarks of an already-aligned image too (for the attribute's face mask);
            None when dlib finds no face or is not installed.
        megafs: a `megafs.MegaFS` (`Swapper.megafs`): the aligned image is encoded by it instead of inverted
            (ws: its codes, plus `structure`); a latent is rendered by G first, and that render encoded.
        **project_kw: passed to `inversion.project`.

    Raises:
        ValueError (ArchitectureMismatchError for a latent file of another generator, NoFaceError for a
        photo without a face, ImageReadError, ProjectionError): the message starts with `role`.
    """
    import stylegan
    from edits.base import check_ws
    from sgtcore.errors import ArchitectureMismatchError

    if isinstance(source, Prepared):
        return source if megafs is None or source.structure is not None else _encoded(source, G, megafs)
    if _is_ws(source, G):
        try:
            check_ws(source, G.num_ws, G.w_dim, f"{role} ws")
        except ValueError as exc:
            raise ValueError(f"{exc}; is this latent for another generator?") from None
        ready = Prepared(_one(source, role).to(G.w_avg.device))
        return ready if megafs is None else _encoded(ready, G, megafs)
    if isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() in LATENT_SUFFIXES:
        latents = stylegan.load_ws(source, G)
        made_for, fp = latents.metadata.get("generator"), stylegan.fingerprint(G)
        if made_for is not None and made_for != fp:
            raise ArchitectureMismatchError(f"{role}: {source} was made for generator {made_for}, not for the one "
                                            f"given ({fp}); re-project the photo into this generator")
        noise = {k: v[0] if v.ndim > 2 else v for k, v in (latents.noise or {}).items()}
        ready = Prepared(_one(latents.ws, role), noise, name=str(source))
        return ready if megafs is None else _encoded(ready, G, megafs)
    staged = _stage(source, G, role, detector, upsample, landmarks)
    if megafs is not None:  # MegaFS: no inversion
        return _encoded(staged.prepared, G, megafs, staged.target)
    return _invert_staged([staged], G, steps, project_kw)[0]


@dataclass
class _Staged:
    """A photo or image side, aligned and ready to invert: `target` `[1, 3, R, R]` and what `Prepared` keeps."""

    target: torch.Tensor
    prepared: Prepared


def _stage(source: SourceLike, G: Any, role: str, detector: str, upsample: int, landmarks: bool) -> _Staged:
    """Load and (when needed) align an image source; the inversion comes after (`_invert_staged`)."""
    import inversion

    res = G.img_resolution
    face = photo = lm = None
    try:
        if isinstance(source, torch.Tensor):
            target = inversion.prepare_target(source, res)
            if len(target) != 1:
                raise inversion.ProjectionError(f"one image [1, 3, {res}, {res}] per side, got a batch of {len(target)}")
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
    if image is None:
        from stylegan.images import to_uint8

        image = to_uint8(target)[0]
    name = str(source) if isinstance(source, (str, os.PathLike)) else None
    return _Staged(target, Prepared(torch.empty(0), {}, face, photo, image, lm, name))


def _invert_staged(staged: list[_Staged], G: Any, steps: int | None, project_kw: dict) -> list[Prepared]:
    """Invert staged sides in one `inversion.project` call (a batch: each as if inverted alone)."""
    import inversion

    target = torch.cat([s.target for s in staged])
    result = inversion.project(G, target, steps=steps, **{"progress": False, **project_kw})  # a tqdm bar on request
    out = []
    for k, s in enumerate(staged):
        noise = {n: (v[k] if len(staged) > 1 else v).detach() for n, v in result.noise.items()}
        out.append(dataclasses.replace(s.prepared, ws=result.ws[k:k + 1].detach(), noise=noise))
    return out


def prepare_many(sources: Sequence[SourceLike], G: Any, roles: Sequence[str], *, landmarks: Sequence[bool] = (),
                 batch: int = 4, steps: int | None = None, detector: str = "hog", upsample: int = 1,
                 **project_kw: Any) -> list[Prepared]:
    """`prepare` for several sources: the photos and images are aligned first, then inverted `batch` at a time in
    one `inversion.project` call (each as if alone; on a CPU a batch costs less per face: a two-photo swap
    inverts both sides at once). Latents and `Prepared` pass through as `prepare` takes them.

    Args:
        sources, roles: the sources and their names for messages ('identity', 'attribute frame 3', ...).
        landmarks: per source, as `prepare`'s `landmarks` (default: none).
        batch: the most images in one projection.
        steps, detector, upsample, **project_kw: as `prepare` (MegaFS encoding: use `prepare`).

    Raises:
        ValueError: as `prepare`, naming the role of the source at fault (before any inversion runs).
    """
    if len(roles) != len(sources) or (landmarks and len(landmarks) != len(sources)):
        raise ValueError(f"{len(sources)} sources need as many roles (got {len(roles)}) and landmark flags "
                         f"(got {len(landmarks)})")
    out: list[Prepared | None] = [None] * len(sources)
    pending: list[tuple[int, _Staged]] = []
    for k, (source, role) in enumerate(zip(sources, roles)):
        lm = bool(landmarks[k]) if landmarks else False
        if _is_code(source, G):
            out[k] = prepare(source, G, role, steps=steps, detector=detector, upsample=upsample, landmarks=lm)
        else:
            pending.append((k, _stage(source, G, role, detector, upsample, lm)))
    for i in range(0, len(pending), max(1, int(batch))):
        chunk = pending[i:i + max(1, int(batch))]
        for (k, _), ready in zip(chunk, _invert_staged([s for _, s in chunk], G, steps, project_kw)):
            out[k] = ready
    return out  # type: ignore[return-value]


@torch.no_grad()
def _encoded(side: Prepared, G: Any, encoder: Any, target: torch.Tensor | None = None) -> Prepared:
    """`side` as MegaFS sees it: its encoder's codes (as ws) and structure tensor from the aligned image
    `target` `[1, 3, R, R]` (default: `side.image`, or for a latent G's render of it, which becomes the image)."""
    from stylegan.images import to_uint8

    image = side.image
    if target is None:
        target = attribute_tensor(side) if image is not None else G.synthesis(side.ws, noise=side.noise or None)
        image = to_uint8(target)[0] if image is None else image
    codes, structure = encoder.encode(target.to(G.w_avg.device))
    return dataclasses.replace(side, ws=codes.to(G.w_avg.device), noise={}, image=image,
                               structure=structure.to(G.w_avg.device))


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
        mask: `[1, 1, R, R]` soft face mask: blend's learned face region, else the attribute's landmark mask
            (`inversion.face_mask` from its 68 landmarks), None when those are unknown (a latent, or an
            aligned image dlib finds no face in).
        identity, attribute: the two `Prepared` sides.
        method, split: how it was made (split: LCR's, None when FTM mixed the codes).
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


def swap(identity: SourceLike, attribute: SourceLike, method: str = "lcr", G: Any = DEFAULT_GENERATOR, *,
         split: int | None = None, mask: Any = None, steps: int | None = None, detector: str = "hog",
         upsample: int = 1, swap_net: Any = None, identity_net: Any = None, **project_kw: Any) -> SwapResult:
    """Put the identity of one face onto the pose, expression and lighting of another.

    Args:
        identity, attribute: image path / PIL / uint8 `[H, W, 3]` / tensor `[1, 3, R, R]` in [-1, 1] (aligned),
            `.npz` latent file, ws `[1, num_ws, w_dim]`, or a `Prepared` (`prepare` once, swap many times).
        method: 'lcr' (layer-wise code replacement; no weights), 'ftm' (trained code mixing), 'blend'
            (trained feature blending: keeps the attribute image's background and hair outside the face) or
            'inject' (trained: the identity's embedding modulates the attribute's code, `edits.swap.inject`);
            'megafs-ftm', 'megafs-injection', 'megafs-lcr': MegaFS's released networks (`swap_net`), which
            encode the aligned faces instead of inverting them (docs/formats_megafs.md).
        G: a `stylegan.Generator` or a registered name.
        split: LCR: rows `< split` from the attribute (default `edits.swap.latent.default_split`; megafs-lcr:
            MegaFS's 4).
        mask: blend: your own face region `[R, R]` in [0, 1] in the aligned frame, instead of the learned one.
            megafs-*: where the swap replaces the aligned attribute image (default: the attribute's landmark
            face mask, `inversion.face_mask`, in place of MegaFS's face-parsing mask; none for a latent).
        steps, detector, upsample, **project_kw: photo inputs: see `prepare` (steps and project_kw: unused
            by megafs-*).
        swap_net: megafs-*: MegaFS's `{ftm,injection,lcr}_final.pth` for the method (or a loaded
            `edits.swap.megafs.MegaFS`); it must fit G (18 x 512 codes: the 1024 px FFHQ generator).
        identity_net: inject trained on a user's identity network (ArcFace): that network (see `Swapper`).

    Returns:
        `SwapResult` (`.image [1, 3, R, R]`, `.ws`, `.mask`, `.paste()`).

    Raises:
        ValueError: unknown method, split out of range, a bad input (the message names identity or attribute);
        SwapUntrainedError: ftm/blend/inject without a trained network for G, megafs-* without swap_net;
        ArchitectureMismatchError: a latent file of another generator, a MegaFS file that does not fit G;
        CheckpointError: a damaged or hostile MegaFS file.
    """
    import stylegan

    check_method(method)
    G = stylegan.load(G) if isinstance(G, str) else G
    swapper = Swapper(G, method, split, swap_net, identity_net)  # before any photo is inverted: untrained ones fail
    if mask is not None:
        if method != "blend" and swapper.megafs is None:
            raise ValueError(f"mask is used by methods 'blend' and megafs-* only (method {method!r} does not blend)")
        mask = check_mask(mask, G.img_resolution)
    side = dict(steps=steps, detector=detector, upsample=upsample, megafs=swapper.megafs, **project_kw)
    if swapper.megafs is None:  # both photos inverted in one batch
        ident, att = prepare_many([identity, attribute], G, ["identity", "attribute"], landmarks=[False, True],
                                  **{k: v for k, v in side.items() if k != "megafs"})
    else:
        ident = prepare(identity, G, "identity", **side)
        att = prepare(attribute, G, "attribute", landmarks=True, **side)
    if swapper.megafs is not None and mask is None and att.landmarks is not None:
        from inversion.paste import face_mask  # in place of MegaFS's face-parsing mask

        mask = torch.from_numpy(face_mask(att.landmarks, G.img_resolution))[None, None]
    image, ws, mask = swapper(ident.ws, att.ws, att.noise, attribute_tensor(att), mask, structure=att.structure,
                              identity_image=attribute_tensor(ident))
    if mask is None and att.landmarks is not None:
        from inversion.paste import face_mask

        mask = torch.from_numpy(face_mask(att.landmarks, G.img_resolution))[None, None].to(image.device)
    return SwapResult(image, ws, mask, ident, att, method, swapper.split)


def attribute_tensor(att: Prepared) -> torch.Tensor | None:
    """The aligned image that was inverted, `[1, 3, R, R]` in [-1, 1]; None for a latent (either side of a swap)."""
    if att.image is None:
        return None
    from stylegan.images import from_uint8

    return from_uint8(np.ascontiguousarray(att.image)).to(att.ws.device)


__all__ = ["METHODS", "MEGAFS_METHODS", "NETWORK_CLASSES", "SwapResult", "SwapUntrainedError", "Swapper", "Prepared",
           "attribute_tensor", "check_mask", "check_method", "find_network", "prepare", "prepare_many", "swap",
           "trained_methods"]
