"""Edits on disk: the one model format (`sgtcore.modelio`), kind "edit", with the generator's fingerprint.

    >>> e.save("my_edit/")                 # config.json + model.safetensors
    >>> e = edits.load("my_edit/", G)      # ArchitectureMismatchError for an edit made for another G
    >>> e = edits.load("age.pt", G)        # a foreign direction file: edits.formats.import_direction
"""
from __future__ import annotations

import os
from typing import Any, Callable

from sgtcore import modelio
from sgtcore.errors import ArchitectureMismatchError, UnknownFormatError

from .base import Edit, LinearEdit
from .delta.edit import DeltaEdit
from .formats.families import ComponentEdit, RowwiseEdit
from .stylespace import StyleEdit

# class_name in config.json -> builder from a modelio.Bundle
EDIT_CLASSES: dict[str, Callable[[modelio.Bundle, Any], Edit]] = {"LinearEdit": LinearEdit.from_bundle,
                                                                  "DeltaEdit": DeltaEdit.from_bundle,
                                                                  "StyleEdit": StyleEdit.from_bundle,
                                                                  "RowwiseEdit": RowwiseEdit.from_bundle,
                                                                  "ComponentEdit": ComponentEdit.from_bundle}


def load(directory: str | os.PathLike, G: Any = None, **options: Any) -> Edit:
    """Read an edit written by `Edit.save` (or `sgt directions`), or a foreign direction file.

    Args:
        directory: the edit's model folder, or a direction file / spec (`.npy`, `.npz`, `.pt`, `.pth`,
            `FILE#K@START:END`) read by `edits.formats.import_direction`.
        G: the generator it will be used with (a `stylegan.Generator`); None skips the checks (required
            for a direction file: σ and the shape checks need it).
        **options: for a direction file, `edits.formats.import_direction`'s options.

    Raises:
        ArchitectureMismatchError: made for another generator (the message names it), or for another
            latent shape (num_ws / w_dim), or the folder holds something other than an edit.
        UnknownFormatError, CorruptCheckpointError, FileNotFoundError: as `sgtcore.modelio.load`.
        For a direction file, the errors of `edits.formats.read` (incl. UnsafeCheckpointError, ValueError).
    """
    from . import formats

    if formats.is_direction_file(directory):
        if G is None:
            raise ValueError(f"{directory}: a direction file is read for a generator: edits.load(path, G)")
        return formats.import_direction(directory, G, **options)
    if options:
        raise TypeError(f"options {sorted(options)} apply to direction files only, not to the edit folder {directory}")
    bundle = modelio.load(directory, expect="edit", generator=G)
    if not isinstance(bundle, modelio.Bundle) or bundle.class_name not in EDIT_CLASSES:
        found = getattr(bundle, "class_name", type(bundle).__name__)
        raise UnknownFormatError(f"{directory}: unknown edit class {found!r} (known: {', '.join(EDIT_CLASSES)})")
    edit = EDIT_CLASSES[bundle.class_name](bundle, directory)
    if G is not None and (edit.num_ws, edit.w_dim) != (G.num_ws, G.w_dim):
        raise ArchitectureMismatchError(
            f"{directory}: this edit is for ws [N, {edit.num_ws}, {edit.w_dim}], the generator given has "
            f"num_ws {G.num_ws}, w_dim {G.w_dim}; make a new one for it with `sgt directions --network ...`")
    return edit


__all__ = ["load", "EDIT_CLASSES"]
