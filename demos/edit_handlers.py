"""The Edit tab as plain functions: the sliders a network's edit catalogue gives, and one call applying
strengths in physical units to a latent (`edits.render`), with paste-back into the photo it came from.
Kept apart from `handlers.py`, which holds the other tabs (and the helpers this file uses).

Errors are the library's own (`ValueError` from strength checks, `stylegan.LatentFileError`); the app shows
their messages.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

import stylegan
from stylegan.images import to_uint8

from .handlers import NOISE_MODES, _first, _float
from .models import DemoModel

#: How the sliders name an edit's unit (`Edit.unit`): "yaw (°)", "smile (0-1)", "sefa:0 (σ)".
UNIT_LABELS = {"deg": "°", "0-1": "0-1", "σ": "σ"}
#: Group titles of the uncalibrated components, by `Edit.method`.
METHOD_TITLES = {"sefa": "SeFa", "ganspace": "GANSpace", "interfacegan": "InterFaceGAN", "dge": "Delta-GAN",
                 "stylespace": "StyleSpace"}
CALIBRATED = "Attributes (calibrated)"


class EditSlider(NamedTuple):
    """What the Edit tab shows for one edit of the catalogue."""
    name: str              # the catalogue name, the key of `edit`'s strengths ("sefa:0", "dge:yaw")
    label: str             # "yaw (°)", "smile (0-1)", "sefa:0 (σ)"
    group: str             # CALIBRATED or "SeFa components (σ)", ...
    minimum: float         # `Edit.range`, widened to hold 0 (no edit, the default)
    maximum: float
    step: float
    info: str              # a line under the label (calibrated: the edit's name and method)


def _unit(edit: Any) -> str:
    return UNIT_LABELS.get(edit.unit, edit.unit)


def _range(edit: Any) -> tuple[float, float]:
    """The slider's ends: the edit's measured range (holding 0), rounded inwards to the slider step."""
    lo, hi = (float(v) for v in edit.range)
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    step = _step(lo, hi)
    lo, hi = np.ceil(lo / step - 1e-9) * step, np.floor(hi / step + 1e-9) * step
    return float(round(lo, 6)) + 0.0, float(round(hi, 6)) + 0.0  # + 0.0: no "-0.0" label


def edit_sliders(model: DemoModel, network: str | None = None) -> list[EditSlider]:
    """One slider per edit of `edits.available(G)`: calibrated attributes first (in `edits.attributes`
    order; of several edits for one attribute, the one `edits.resolve` picks for the bare name comes
    first and is labelled plainly, "yaw (°)", the others name their method, "yaw (°, interfacegan)"),
    then each method's components.

    Args:
        model: the demo's networks.
        network: a name from `model.names` (None: the default).
    """
    import edits
    from edits.attributes import ATTRIBUTES

    catalogue = model.edits(network)
    order = {name: i for i, name in enumerate(ATTRIBUTES)}
    calibrated = [e for e in catalogue.values() if e.attribute is not None]
    preferred = {e.attribute: edits.resolve(catalogue, e.attribute).name for e in calibrated}
    calibrated.sort(key=lambda e: (order.get(e.attribute, len(order)), e.attribute,
                                   e.name != preferred[e.attribute], e.name))
    out = []
    for e in calibrated:
        label = f"{e.attribute} ({_unit(e)}" + (")" if e.name == preferred[e.attribute] else f", {e.method})")
        out.append(EditSlider(e.name, label, CALIBRATED, *_range(e), _step(*_range(e)),
                              f"{e.name}: {METHOD_TITLES.get(e.method, e.method)}"))
    for e in catalogue.values():
        if e.attribute is None:
            group = f"{METHOD_TITLES.get(e.method, e.method)} components ({_unit(e)})"
            out.append(EditSlider(e.name, f"{e.name} ({_unit(e)})", group, *_range(e), _step(*_range(e)), ""))
    return out


def _step(lo: float, hi: float) -> float:
    """A round slider step giving at least 100 positions: 0.01 for ±3 σ or 0-1, 0.1 for ±30°."""
    return float(10 ** np.floor(np.log10(max(hi - lo, 1e-6) / 100)))


class Strengths(NamedTuple):
    values: dict[str, float]   # {catalogue name: strength in the edit's unit}, inside the edit's range
    notes: list[str]           # one line per strength that was clamped to its range


def parse_strengths(strengths: Mapping[str, Any] | str | None, catalogue: Mapping[str, Any]) -> Strengths:
    """Strengths as `{edit name: value in the edit's unit}`, checked against the catalogue; a value past
    the edit's measured range (the slider's ends) is clamped to it, with a note: beyond it the edit was
    never measured (`edits.OutOfRangeWarning`).

    Args:
        strengths: a mapping or its JSON text (`'{"sefa:0": 1.5, "dge:yaw": 15}'`); None or "" = no edit.
            A bare attribute (`"yaw"`) means the edit `edits.resolve` picks for it, as in `sgt edit`.
        catalogue: `edits.available(G)`.

    Returns:
        The strengths by catalogue name, and the notes on clamped ones.

    Raises:
        ValueError: not a JSON object, an unknown edit name (the message lists the known ones), one edit
            named twice, a value that is not a finite number.
    """
    import json

    import edits

    if strengths is None or (isinstance(strengths, str) and not strengths.strip()):
        return Strengths({}, [])
    if isinstance(strengths, str):
        try:
            strengths = json.loads(strengths)
        except ValueError as exc:
            raise ValueError(f"strengths must be a JSON object like {{\"sefa:0\": 1.5}}, got {strengths!r} "
                             f"({exc})") from None
    if not isinstance(strengths, Mapping):
        raise ValueError(f"strengths must be a JSON object {{edit name: strength}}, got {type(strengths).__name__}")
    out, notes = {}, []
    for key, value in strengths.items():
        try:
            edit = edits.resolve(catalogue, str(key))
        except edits.UnknownEditError as exc:
            raise ValueError(str(exc)) from None
        name, v = edit.name, _float(value, f"strength of {key}")
        if name in out:
            raise ValueError(f"{name} is given twice (as {key!r} too); give each edit once")
        lo, hi = _range(edit)
        if not lo <= v <= hi:
            clamped = min(max(v, lo), hi)
            notes.append(f"{name} {v:+g} {_unit(edit)} is outside its measured range [{lo:g}, {hi:g}]: "
                         f"clamped to {clamped:+g}")
            v = clamped
        out[name] = v
    return Strengths(out, notes)


def reset_strengths(model: DemoModel, network: str | None = None) -> dict[str, float]:
    """Every edit of the network at 0 (no edit): what the Edit tab's Reset sets."""
    return {name: 0.0 for name in model.edits(network)}


class _Source(NamedTuple):
    ws: torch.Tensor                        # [1, num_ws, w_dim]
    noise: dict[str, torch.Tensor] | None
    noise_mode: str
    metadata: dict
    before: np.ndarray                      # uint8 [R, R, 3]: the unedited render


@functools.lru_cache(maxsize=16)
def _source(G: stylegan.Generator, path: str, stamp: tuple[int, int]) -> _Source:
    """A latent file read and rendered once (`stamp`: mtime and size, so a rewritten file is read again):
    a slider move then costs one synthesis pass, not a file read and two passes."""
    lat = stylegan.load_ws(path, G)
    ws, noise = _first(lat)
    noise_mode = "const" if noise else lat.metadata.get("noise_mode", "const")
    if noise_mode not in NOISE_MODES or noise_mode == "random":  # random maps are stored; without them: const
        noise_mode = "const"
    with torch.inference_mode():
        before = to_uint8(G.synthesis(ws, noise=noise, noise_mode=noise_mode))[0]
    before.flags.writeable = False  # shared between calls
    return _Source(ws, noise, noise_mode, lat.metadata, before)


@functools.lru_cache(maxsize=4)
def _photo(path: str, stamp: tuple[int, int]) -> np.ndarray:
    import inversion

    image = inversion.load_image(path)
    image.flags.writeable = False
    return image


def _stamp(path: str | Path) -> tuple[int, int]:
    st = Path(path).stat()
    return st.st_mtime_ns, st.st_size


class Edited(NamedTuple):
    before: np.ndarray            # uint8 [R, R, 3]: the latent rendered as it is
    after: np.ndarray             # uint8 [R, R, 3]: with the edits applied
    pasted: np.ndarray | None     # uint8 photo with `after` pasted back (None: no photo or no alignment)
    info: str


def edit(model: DemoModel, network: str | None, latent_file: str | Path | None,
         strengths: Mapping[str, Any] | str | None = None, photo: str | Path | None = None) -> Edited:
    """Apply edits of the catalogue to the first latent of a file (`edits.render`) and render before/after.

    Args:
        model: the demo's networks.
        network: a name from `model.names` (None: the default).
        latent_file: an `.npz` from Generate, Invert or `stylegan.save_ws`; its noise maps are used.
        strengths: `{edit name: strength in the edit's unit}` or its JSON text (see `parse_strengths`);
            edits not named stay at 0.
        photo: the photo the latent was inverted from; when the latent file holds the alignment (the
            Invert tab writes it), the edited face is also pasted back into it.

    Returns:
        Before and after images, the pasted-back photo (or None) and a line naming the edits applied.

    Raises:
        ValueError: no latent file, bad strengths (see `parse_strengths`; out-of-range ones are clamped,
            with a note in the info line), a photo of another size than
            the one aligned.
        stylegan.LatentFileError: an unreadable latent file or one made for another generator.
    """
    import edits
    import inversion

    if not latent_file:
        raise ValueError("no latent: generate or invert an image first, or upload a latent file (.npz)")
    net = model.get(network)
    catalogue = model.edits(network)
    values, notes = parse_strengths(strengths, catalogue)
    src = _source(net.G, str(latent_file), _stamp(latent_file))
    applied = [(catalogue[n], v) for n, v in values.items() if v != 0]
    if applied:
        with torch.inference_mode():
            after = to_uint8(edits.render(net.G, src.ws, applied, noise_mode=src.noise_mode, noise=src.noise))[0]
    else:
        after = src.before
    pasted = None
    alignment = src.metadata.get("alignment")
    if photo and alignment:
        face = inversion.AlignedFace.from_dict(alignment)
        try:
            pasted = inversion.paste_back(_photo(str(photo), _stamp(photo)), after, face)
        except ValueError as exc:  # another photo than the one inverted
            raise ValueError(str(exc).replace("the image", Path(photo).name, 1)) from None
    info = "; ".join(f"{e.name} {v:+g} {_unit(e)}" for e, v in applied) or "no edit (all strengths 0)"
    info = "\n\n".join([info, *notes])
    return Edited(src.before, after, pasted, info)


__all__ = ["CALIBRATED", "EditSlider", "Edited", "METHOD_TITLES", "UNIT_LABELS", "edit", "edit_sliders",
           "Strengths", "parse_strengths", "reset_strengths"]
