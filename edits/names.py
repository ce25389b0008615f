"""Finding an edit by name: a full catalogue name (`"dge:yaw"`, `"sefa:0"`) or a bare attribute (`"yaw"`).

    >>> e = edits.resolve(edits.available(G), "yaw")   # doctest: +SKIP
    >>> e.name                                         # doctest: +SKIP
    'dge:yaw'

A bare attribute picks, among the edits for that attribute, the first method in `METHOD_ORDER`
(the Delta-GAN encoder, the toolkit's centrepiece, then InterFaceGAN, then StyleSpace), then any
other method alphabetically.
"""
from __future__ import annotations

from typing import Mapping

from .base import Edit

#: Preference among methods when a bare attribute names several edits.
METHOD_ORDER: tuple[str, ...] = ("dge", "interfacegan", "stylespace")


class UnknownEditError(LookupError):
    """No edit of that name (or attribute) in the catalogue; the message lists what there is."""


def _rank(edit: Edit) -> tuple[int, str]:
    m = edit.method
    return (METHOD_ORDER.index(m), "") if m in METHOD_ORDER else (len(METHOD_ORDER), m)


def describe(catalogue: Mapping[str, Edit]) -> str:
    """'sefa:0, sefa:1, ... (attributes: smile, yaw)' or a hint when the catalogue is empty."""
    if not catalogue:
        return ("none are registered for this generator; make some with `sgt directions --network ...` "
                "or pass an edit folder (--edit PATH=STRENGTH)")
    attrs = sorted({e.attribute for e in catalogue.values() if e.attribute})
    return ", ".join(catalogue) + (f" (attributes: {', '.join(attrs)})" if attrs else "")


def resolve(catalogue: Mapping[str, Edit], name: str) -> Edit:
    """The edit `name` stands for in `catalogue` (as `edits.available(G)` returns it).

    Args:
        catalogue: `{catalogue name: Edit}`.
        name: a catalogue name (`"interfacegan:smile"`, `"sefa:0"`), or a bare attribute (`"yaw"`) that
            resolves to the edit for it whose method comes first in `METHOD_ORDER`, then other methods
            alphabetically; ties keep catalogue order.

    Returns:
        The `Edit`.

    Raises:
        UnknownEditError: no such name or attribute; the message lists the available ones.
    """
    if name in catalogue:
        return catalogue[name]
    if ":" not in name:
        found = [e for e in catalogue.values() if e.attribute == name]
        if found:
            return min(found, key=_rank)  # min is stable: ties keep catalogue order
    raise UnknownEditError(f"unknown edit {name!r}; available: {describe(catalogue)}")


__all__ = ["METHOD_ORDER", "UnknownEditError", "describe", "resolve"]
