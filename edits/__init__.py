"""Latent edits behind one call: `edit.apply(ws, strength, layers=None) -> ws`.

    >>> import edits
    >>> catalogue = edits.available("synthheads")     # {"sefa:0": Edit, ..., "ganspace:4": Edit}
    >>> ws2 = catalogue["sefa:0"].apply(ws, 2.0)      # +2σ along SeFa's first direction
    >>> img = edits.render(G, ws, [(catalogue["sefa:0"], 2.0), (catalogue["ganspace:1"], -1.0)])

Edits are model folders of kind "edit" in the registry (`sgtcore.registry`); the shipped ones live
in `edits/weights/` (one folder per edit, `<network>_<method>_<k>`, made by `sgt directions`).
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

from sgtcore import modelio

from .base import Edit, EditModule, LinearEdit, apply_edit
from .io import load

modelio.register_class("LinearEdit", "edit", "edits.base:LinearEdit",
                       remake="make one for it with `sgt directions --network ...`")


def _natural(name: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def available(G_or_name: Any) -> dict[str, Edit]:
    """Every registered edit made for a generator, by edit name ("sefa:0", "ganspace:3", ...).

    Args:
        G_or_name: a `stylegan.Generator` or a registered generator name ("synthheads").

    Returns:
        `{name: Edit}` in natural name order; a user-registered edit wins over a shipped one of the
        same name.
    """
    import stylegan
    from sgtcore import registry

    G = stylegan.load(G_or_name) if isinstance(G_or_name, str) else G_or_name
    found: dict[str, Edit] = {}
    for entry in registry.entries("edit", generator=stylegan.fingerprint(G)):
        edit = load(entry.path, G)
        found.setdefault(edit.name, edit)
    return dict(sorted(found.items(), key=lambda kv: _natural(kv[0])))


def render(G: Any, ws: Any, edits: Iterable[Sequence] = (), noise_mode: str = "const", **synthesis_kwargs: Any):
    """Apply edits in order, then synthesise.

    W/W+ edits compose by applying one after another; StyleSpace edits (which act on the per-layer
    styles, not on ws) will join here when that family lands.

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
    import stylegan
    from sgtcore.errors import ArchitectureMismatchError

    from .base import check_ws

    check_ws(ws, G.num_ws, G.w_dim)
    fp = None
    for item in edits:
        edit, strength, *rest = item
        if edit.generator is not None:
            fp = fp or stylegan.fingerprint(G)
            if edit.generator != fp:
                raise ArchitectureMismatchError(f"edit {edit.name!r} was made for generator {edit.generator}, not for "
                                                f"the one given ({fp}); make one for it with `sgt directions`")
        ws = edit.apply(ws, strength, rest[0] if rest else None)
    return G.synthesis(ws, noise_mode=noise_mode, **synthesis_kwargs)


__all__ = ["Edit", "LinearEdit", "EditModule", "apply_edit", "available", "load", "render"]
