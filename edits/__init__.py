"""Latent edits behind one call: `edit.apply(ws, strength, layers=None) -> ws`.

    >>> import edits
    >>> catalogue = edits.available("synthheads")     # {"sefa:0": Edit, ..., "ganspace:4": Edit}
    >>> ws2 = catalogue["sefa:0"].apply(ws, 2.0)      # +2σ along SeFa's first direction
    >>> img = edits.render(G, ws, [(catalogue["sefa:0"], 2.0), (catalogue["ganspace:1"], -1.0)])

Edits are model folders of kind "edit" in the registry (`sgtcore.registry`); the shipped ones live
in `edits/weights/` (one folder per edit, `<network>_<method>_<k>`, made by `sgt directions`).
Direction files of other tools (InterFaceGAN `.npy`, e4e `.pt`, GANSpace `.npz`) are read by
`edits.formats`: `import_direction(path, G)`, or `register_directions(path, G)` to list them here.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

from sgtcore import modelio

from .base import Edit, EditModule, LinearEdit, apply_edit
from .calibration import OutOfRangeWarning
from .formats import import_direction, register_directions
from .io import load
from .names import METHOD_ORDER, UnknownEditError, resolve
from . import swap  # a callable package: swap(identity, attribute, ...) is edits.swap.api.swap

modelio.register_class("LinearEdit", "edit", "edits.base:LinearEdit",
                       remake="make one for it with `sgt directions --network ...`")
modelio.register_class("DeltaEdit", "edit", "edits.delta.edit:DeltaEdit",
                       remake="train one for it with `sgt train-delta --network ...`")
modelio.register_class("TransferNet", "swap", "edits.swap.ftm:TransferNet", fp32=("w_avg", "w_scale"),
                       remake="train one for it with `sgt train-swap --method ftm --network ...`")
modelio.register_class("BlendNet", "swap", "edits.swap.blend:BlendNet",
                       remake="train one for it with `sgt train-swap --method blend --network ...`")
modelio.register_class("InjectNet", "swap", "edits.swap.inject:InjectNet", fp32=("w_avg", "w_scale"),
                       remake="train one for it with `sgt train-swap --method inject --network ...`")
modelio.register_class("StyleEdit", "edit", "edits.stylespace:StyleEdit",
                       remake="make one for it with `sgt directions --method stylespace --network ...`")
for _name in ("RowwiseEdit", "ComponentEdit"):
    modelio.register_class(_name, "edit", f"edits.formats.families:{_name}",
                           remake="import the direction file for it with `edits.import_direction(path, G)`")


def _natural(name: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def available(G_or_name: Any) -> dict[str, Edit]:
    """Every registered edit made for a generator, by edit name ("sefa:0", "ganspace:3", ...).

    Args:
        G_or_name: a `stylegan.Generator` or a registered generator name ("synthheads").

    Returns:
        `{name: Edit}` in natural name order; a user-registered edit wins over a shipped one of the
        same name, and a direction file registered with `register_directions` over both.
    """
    import stylegan
    from sgtcore import registry

    from .formats import registered

    G = stylegan.load(G_or_name) if isinstance(G_or_name, str) else G_or_name
    fp = stylegan.fingerprint(G)  # hashes the synthesis weights: once per call
    found: dict[str, Edit] = registered(fp)
    for entry in registry.entries("edit", generator=fp):
        edit = load(entry.path, G)
        found.setdefault(edit.name, edit)
    return dict(sorted(found.items(), key=lambda kv: _natural(kv[0])))


def _split(G: Any, ws: Any, edits: Iterable[Sequence]) -> tuple[list[tuple], list[tuple]]:
    """Validate ws and the edits' generator; `(W/W+ items, StyleSpace items)`, each `(edit, strength, layers)`."""
    import stylegan
    from sgtcore.errors import ArchitectureMismatchError

    from .base import check_ws

    check_ws(ws, G.num_ws, G.w_dim)
    fp, w_items, s_items = None, [], []
    for item in edits:
        edit, strength, *rest = item
        if edit.generator is not None:
            fp = fp or stylegan.fingerprint(G)
            if edit.generator != fp:
                raise ArchitectureMismatchError(f"edit {edit.name!r} was made for generator {edit.generator}, not for "
                                                f"the one given ({fp}); make one for it with `sgt directions`")
        (s_items if getattr(edit, "space", "w") == "s" else w_items).append((edit, strength, rest[0] if rest else None))
    return w_items, s_items


def apply_styles(G: Any, ws: Any, edits: Iterable[Sequence] = ()) -> dict:
    """S-space styles of `ws` after the edits: W/W+ edits first (in order), then StyleSpace edits (in order).

    Args:
        G: the generator.
        ws: `[N, num_ws, w_dim]`.
        edits: `(edit, strength)` or `(edit, strength, layers)` items of any family.

    Returns:
        `{layer: [N, C]}` as `G.synthesis.ws_to_styles`; render with `G.synthesis(styles=...)`.

    Raises:
        ArchitectureMismatchError: an edit made for another generator. ValueError: see `Edit.apply`.
    """
    w_items, s_items = _split(G, ws, edits)
    for edit, strength, layers in w_items:
        ws = edit.apply(ws, strength, layers)
    styles = G.synthesis.ws_to_styles(ws)
    for edit, strength, layers in s_items:
        styles = edit.apply_styles(styles, strength, layers)
    return styles


def render(G: Any, ws: Any, edits: Iterable[Sequence] = (), noise_mode: str = "const", **synthesis_kwargs: Any):
    """Apply edits, then synthesise once.

    W/W+ edits compose by applying one after another; StyleSpace edits (which act on the per-layer
    styles, not on ws) are applied after all of them, to the styles of the edited ws (`apply_styles`).

    Args:
        G: the generator.
        ws: `[N, num_ws, w_dim]`.
        edits: `(edit, strength)` or `(edit, strength, layers)` items.
        noise_mode: as `G.synthesis`.
        **synthesis_kwargs: passed to `G.synthesis` (noise, return_features, ...).

    Returns:
        What `G.synthesis` returns: images `[N, 3, R, R]` in [-1, 1].

    Raises:
        ArchitectureMismatchError: an edit made for another generator. ValueError: see `Edit.apply`.
    """
    edits = list(edits)
    w_items, s_items = _split(G, ws, edits)
    if s_items:
        return G.synthesis(styles=apply_styles(G, ws, edits), noise_mode=noise_mode, **synthesis_kwargs)
    for edit, strength, layers in w_items:
        ws = edit.apply(ws, strength, layers)
    return G.synthesis(ws, noise_mode=noise_mode, **synthesis_kwargs)


__all__ = ["Edit", "LinearEdit", "EditModule", "apply_edit", "apply_styles", "available", "load", "render",
           "resolve", "UnknownEditError", "OutOfRangeWarning", "METHOD_ORDER", "swap", "import_direction", "register_directions"]
