"""What each tab of the demo does, as plain functions: numbers, strings, file paths and uint8 images in
and out, every step a library call. `demos/app.py` only wires them to widgets; tests call them
directly. The Edit tab's are in `edit_handlers.py`, the Swap tab's in `swap_handlers.py`.

Errors are the library's own (`inversion.AlignmentError`, `stylegan.LatentFileError`, `ValueError`
from parameter checks, ...); the app shows their messages.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch

import stylegan
from stylegan.images import from_uint8, to_uint8
from stylegan.train.mixing import mix_styles

from .models import DemoModel

if TYPE_CHECKING:
    import synthetic

NOISE_MODES = ("const", "random", "none")
MAX_SEED = 2**32 - 1  # np.random.RandomState's limit, which seed_to_z uses

#: Shown with every photo inverted by a generator trained on our CGI heads.
REAL_PHOTO_NOTE = ("This network was trained on synthetic CGI heads, so a real face comes out as the nearest CGI "
                   "head. Real faces need an FFHQ checkpoint: put an NVlabs `.pkl` or rosinality `.pt` in a folder "
                   "and start the demo with `sgt demo --models-dir DIR`, then pick it under Network.")


# ------------------------------------------------------------------------------------------ helpers
def _int(value: Any, name: str, lo: int, hi: int) -> int:
    """`value` (an int, or an integral float from a number box) as an int in [lo, hi]."""
    try:
        ok = value is not None and float(value) == int(value) and lo <= int(value) <= hi
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    return int(value)


def _float(value: Any, name: str) -> float:
    """`value` as a finite float."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = float("nan")
    if not np.isfinite(out):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return out


def layer_resolutions(num_ws: int) -> list[int]:
    """The resolution each row of ws mainly drives: rows 2k and 2k+1 feed the 4·2^k px block (NVlabs'
    layout: each block's conv1 and ToRGB, and the next block's conv0)."""
    return [4 * 2 ** (i // 2) for i in range(num_ws)]


def network_info(model: DemoModel, network: str | None = None) -> str:
    """A line about the network for the UI (resolution, layers), plus the real-photo note for CGI-trained ones."""
    net = model.get(network)
    res = layer_resolutions(net.G.num_ws)
    text = (f"**{net.name}**: {net.G.img_resolution} px, {net.G.num_ws} style layers driving {res[0]} px "
            f"(the first: pose, shape) to {res[-1]} px (the last: colour, texture).")
    return text + ("\n\n" + REAL_PHOTO_NOTE if net.synthetic else "")


def _first(lat: stylegan.Latents) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
    """The first latent of a file (ws `[1, num_ws, w_dim]`) and its noise maps (None: there are none)."""
    return lat.ws[:1], {k: v[:1] if v.ndim == 4 else v for k, v in lat.noise.items()} or None


def png_file(image: np.ndarray, folder: str | Path) -> Path:
    """`image` (uint8 [H, W, 3]) as a PNG in `folder`, named by its pixels' hash and written once, atomically.

    Why not hand Gradio the array: Gradio writes an array to a content-hash path *in place* on every
    call, so when concurrent requests return the same image (Edit's unchanged "before"), one request
    truncates the file while another's client is downloading it. A file that is complete before it
    appears and never rewritten has no such race, and an image seen before costs no encode.
    """
    import hashlib

    from PIL import Image

    from sgtcore.atomic import atomic_file

    a = np.ascontiguousarray(image)
    key = hashlib.sha1(repr((a.shape, a.dtype.str)).encode() + a.tobytes()).hexdigest()[:20]
    path = Path(folder) / f"{key}.png"
    if not path.is_file():
        with atomic_file(path) as tmp:
            Image.fromarray(a).save(tmp, format="png", compress_level=1)  # lossless; level 1: fast
    return path


# ----------------------------------------------------------------------------------------- generate
class Generated(NamedTuple):
    image: np.ndarray      # uint8 [R, R, 3]
    latent_path: Path      # .npz (stylegan.save_ws): key 'w' [1, num_ws, w_dim], plus the noise maps drawn
    info: str


def generate(model: DemoModel, network: str | None, seed: int, truncation_psi: float = 0.7,
             noise_mode: str = "const", mix_seed: int | None = None, mix_from: int = 0, mix_to: int = 0,
             latent_file: str | Path | None = None) -> Generated:
    """An image from a seed (or a latent file), with optional style mixing.

    Args:
        model: the demo's networks.
        network: a name from `model.names` (None: the default).
        seed: z = `stylegan.seed_to_z(seed)`, as the official scripts; with noise_mode 'random' it also
            seeds the noise maps, so the same inputs always give the same image.
        truncation_psi: truncation towards w_avg (1: none).
        noise_mode: 'const' (the stored maps), 'random' or 'none'.
        mix_seed: when given, ws rows `mix_from` up to (not including) `mix_to` come from this seed.
        latent_file: start from this `.npz` (`stylegan.load_ws`) instead of the seed; its noise maps,
            if any, replace noise_mode's.

    Returns:
        The image, its latent file (re-rendered exactly by `G.synthesis(lat.ws, noise=lat.noise,
        noise_mode=...)`) and a one-line description.

    Raises:
        ValueError: a bad seed, psi, noise mode or layer range.
        stylegan.LatentFileError: an unreadable latent file or one made for another generator.
    """
    net = model.get(network)
    G = net.G
    seed = _int(seed, "seed", 0, MAX_SEED)
    if noise_mode not in NOISE_MODES:
        raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
    psi = _float(truncation_psi, "truncation_psi")
    noise = None
    with torch.no_grad():
        if latent_file:
            ws, noise = _first(stylegan.load_ws(latent_file, G))
            what = f"latent file {Path(latent_file).name}"
        else:
            ws = G.mapping(stylegan.seed_to_z(seed, G.z_dim), truncation_psi=psi)
            what = f"seed {seed}, ψ {psi:g}"
        if mix_seed is not None:
            mix_seed = _int(mix_seed, "mix_seed", 0, MAX_SEED)
            lo = _int(mix_from, "mix_from", 0, G.num_ws)
            hi = _int(mix_to, "mix_to", 0, G.num_ws)  # hi <= lo: no layer mixed (two sliders can cross)
            ws = mix_styles(ws, G.mapping(stylegan.seed_to_z(mix_seed, G.z_dim), truncation_psi=psi),
                            range(lo, hi))
            what += f"; layers {lo}–{hi - 1} from seed {mix_seed}" if hi > lo else ""
        if noise is None and noise_mode == "random":
            # drawn here, seeded, so that the image is reproducible and the latent file can hold the maps
            gen = torch.Generator().manual_seed(seed)
            noise = {n: torch.randn(s, generator=gen) for n, s in G.synthesis.noise_shapes().items()}
        img = G.synthesis(ws, noise_mode=noise_mode, noise=noise)
    meta = {"network": net.name, "noise_mode": noise_mode}
    meta.update({"latent_file": Path(latent_file).name} if latent_file else {"seed": seed, "truncation_psi": psi})
    if mix_seed is not None:
        meta.update(mix_seed=mix_seed, mix_layers=[lo, hi])
    stem = "latent" if latent_file else f"seed{seed:04d}" + (f"-mix{mix_seed:04d}" if mix_seed is not None else "")
    path = stylegan.save_ws(model.output_dir() / f"{stem}.npz", ws, noise=noise, metadata=meta)
    return Generated(to_uint8(img)[0], path, f"{what}; noise {noise_mode}")


# ------------------------------------------------------------------------------------------- invert
class Inverted(NamedTuple):
    aligned: np.ndarray           # uint8 [R, R, 3]: what was projected
    reconstruction: np.ndarray    # uint8 [R, R, 3]
    psnr: float                   # dB, reconstruction vs aligned
    latent_path: Path             # .npz: ws [1, num_ws, w_dim] + the optimised noise maps
    pasted: np.ndarray | None     # uint8 photo with the reconstruction pasted back (None: no face was detected)
    note: str


def invert(model: DemoModel, network: str | None, photo: str | Path | None, paste: bool = True,
           steps: int | None = None) -> Inverted:
    """Align a photo (FFHQ recipe) and project it into the network with the library's defaults.

    An image that is already R x R for an R px network is taken as aligned (as `sgt project` does).

    Args:
        model: the demo's networks.
        network: a name from `model.names` (None: the default).
        photo: an image file (None: a ValueError asking for one).
        paste: also paste the reconstruction back into the photo (only when a face was detected).
        steps: projection steps (None: `inversion.project`'s default); for tests.

    Raises:
        inversion.ImageReadError, inversion.ImageTooLargeError: not a readable image, or too large.
        inversion.NoFaceError: no face found.
    """
    import inversion

    if not photo:
        raise ValueError("no photo: upload one or pick an example")
    net = model.get(network)
    G, res = net.G, net.G.img_resolution
    image = inversion.load_image(photo)
    notes, face = [], None
    if image.shape[:2] == (res, res):
        aligned = image
        notes.append(f"The image is {res}×{res}, this network's size: taken as already aligned.")
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", inversion.MultipleFacesWarning)
            face = inversion.align(photo, output_size=res)  # the path: its errors name the file
        notes += [str(w.message).replace(str(photo), Path(photo).name) for w in caught
                  if issubclass(w.category, inversion.MultipleFacesWarning)]
        aligned = face.image
        if net.synthetic:
            notes.append(REAL_PHOTO_NOTE)
    result = inversion.project(G, aligned, steps=steps, D=net.D, encoder=net.encoder, loss=net.loss)
    target = from_uint8(np.array(aligned))  # a copy: decoded images are read-only, torch warns about those
    psnr = float(inversion.psnr(result.image, target)[0])
    meta = {"network": net.name, "photo": Path(photo).name, "psnr": psnr, "settings": result.history["settings"]}
    if face is not None:  # what the Edit tab needs to paste an edit of this latent back into the photo
        meta["alignment"] = {**face.to_dict(), "source": Path(photo).name}
    path = stylegan.save_ws(model.output_dir() / f"{Path(photo).stem}.npz", result.ws, noise=result.noise,
                            metadata=meta)
    pasted = inversion.paste_back(image, result.image, face) if paste and face is not None else None
    settings = result.history["settings"]
    summary = (f"PSNR {psnr:.2f} dB after {settings['steps']} {settings['space'].upper()} steps from "
               f"{settings['init']} (loss {result.history['loss_name']}).")
    return Inverted(aligned, to_uint8(result.image)[0], psnr, path, pasted, "\n\n".join([summary, *notes]))


# ------------------------------------------------------------------------------------------- render
#: The parameters the Render tab has sliders for (every expression and pose value, the key light);
#: identity comes from a seed, the rest of the lighting keeps its defaults.
RENDER_SLIDERS = ("smile", "mouth_open", "eye_closed_left", "eye_closed_right", "brow_raise", "frown",
                  "yaw", "pitch", "roll", "light_azimuth", "light_elevation", "light_intensity", "ambient",
                  "color_temperature")


def render_defaults() -> dict[str, tuple[float, float, float]]:
    """`RENDER_SLIDERS` -> (low, high, default): the parameter's range and its `HeadParams()` value."""
    import synthetic

    ranges, defaults = synthetic.param_ranges(), synthetic.HeadParams()
    return {n: (*ranges[n][1], getattr(getattr(defaults, ranges[n][0]), n)) for n in RENDER_SLIDERS}


class Rendered(NamedTuple):
    image: np.ndarray      # uint8 [S, S, 3]
    overlay: np.ndarray    # the same with the 68 landmarks and the head mask's outline
    params: dict           # every parameter behind the render (HeadParams.to_dict)


def head_params(identity_seed: int, **values: float) -> synthetic.HeadParams:
    """The identity of `synthetic.sample_params(identity_seed)` with expression, pose and lighting at their
    defaults except `values` (names from `synthetic.param_ranges()`, e.g. smile=0.5, yaw=20)."""
    import synthetic

    ranges = synthetic.param_ranges()
    seed = _int(identity_seed, "identity_seed", 0, MAX_SEED)
    p = synthetic.HeadParams(identity=synthetic.sample_params(seed).identity)
    for name, value in values.items():
        if name not in ranges or ranges[name][0] == "identity":
            raise ValueError(f"unknown expression/pose/lighting parameter {name!r}; choose from "
                             f"{', '.join(n for n, (g, _) in ranges.items() if g != 'identity')}")
        setattr(getattr(p, ranges[name][0]), name, float(value))
    return p


def render_head(identity_seed: int, size: int = 256, **values: float) -> Rendered:
    """Render a synthetic head with exactly these parameters (see `head_params`).

    Raises:
        ValueError: a value out of its range (the message names it), an unknown name or a bad size.
        synthetic.RendererUnavailable: no headless OpenGL.
    """
    import synthetic
    from synthetic.sheets import draw_landmarks

    p = head_params(identity_seed, **values)
    r = synthetic.render(p, _int(size, "size", 16, 1024))
    return Rendered(r.image, draw_landmarks(r), p.to_dict())


class Pair(NamedTuple):
    a: np.ndarray          # uint8 [S, S, 3]
    b: np.ndarray
    changed: str           # the parameters that differ, 'smile: 0.00 → 1.00'


def render_pair(attribute: str, seed: int = 0, strength: float = 1.0, size: int = 256) -> Pair:
    """Two heads identical except for `attribute` (`synthetic.make_pair`; any of `synthetic.PAIR_ATTRIBUTES`).

    Raises:
        ValueError: unknown attribute, strength outside (0, 1], bad seed or size.
    """
    import synthetic

    a, b = synthetic.make_pair(attribute, _int(seed, "seed", 0, MAX_SEED), _float(strength, "strength"),
                               _int(size, "size", 16, 1024))
    da, db = a.params.to_dict(), b.params.to_dict()
    changed = [f"{k}: {_fmt(va[k])} → {_fmt(db[g][k])}" for g, va in da.items() for k in va if va[k] != db[g][k]]
    return Pair(a.image, b.image, "; ".join(changed) or "no parameter changed")


def _fmt(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "(" + ", ".join(f"{x:.2f}" for x in v) + ")"
    return f"{v:.2f}" if isinstance(v, float) else str(v)


__all__ = ["Generated", "Inverted", "Pair", "REAL_PHOTO_NOTE", "RENDER_SLIDERS", "Rendered", "generate", "head_params",
           "invert", "layer_resolutions", "network_info", "png_file", "render_defaults", "render_head", "render_pair"]
