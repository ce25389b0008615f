"""Edit-direction files StyleGAN users already have, read as edits of our families (never running code).

    >>> age = edits.import_direction("age.pt", G)                         # e4e: LinearEdit 'interfacegan:age' (σ)
    >>> smile = edits.import_direction("ffhq_pca.pt#46@4:5", G)            # e4e's ('smile', (46, 4, 5, s)): set PC46
    >>> edits.register_directions("my_directions/", G)                    # -> edits.available(G), the demo's sliders

| file | from | becomes |
|---|---|---|
| `*_w_boundary.npy` `[1, w_dim]` | genforce/interfacegan | `LinearEdit` "interfacegan:ATTR" |
| `age.pt`, `smile.pt` `[1, w_dim]` | e4e `interfacegan_directions/` | `LinearEdit` "interfacegan:age" |
| `pose.pt` `[1, num_ws, w_dim]` | e4e `interfacegan_directions/` | `RowwiseEdit` "interfacegan:pose" |
| `*_w.npz` {lat_comp, lat_mean, lat_stdev, ...} | harskish/ganspace cache | `ComponentEdit`s "ganspace:K" |
| `ffhq_pca.pt` {mean, comp, std} | e4e `ganspace_pca/` | `ComponentEdit`s "ganspace:K" |

A spec `FILE#K@START:END` picks GANSpace component K and ws rows [START, END) (`@` works for every
file). Units and semantics: `interfacegan.py`, `ganspace.py`, docs/formats_directions.md.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

from sgtcore import artefacts
from sgtcore.errors import UnknownFormatError

from ..base import Edit
from . import files
from .families import ComponentEdit, RowwiseEdit
from .ganspace import DEFAULT_COMPONENTS, component_edits, is_components
from .interfacegan import SIGMA_SAMPLES, boundary_edit, check_space, project_boundary

KINDS = ("interfacegan", "ganspace")
SUFFIXES = files.SUFFIXES
_SELECTOR = re.compile(r"^(?P<file>.+?)(?:#(?P<k>\d+))?(?:@(?P<a>\d+)(?::(?P<b>\d+))?)?$")
# fingerprint -> {edit name: Edit}: what `register_directions` added (`edits.available` lists them)
_REGISTERED: dict[str, dict[str, Edit]] = {}


def parse_spec(spec: str | os.PathLike) -> tuple[Path, int | None, tuple[int, ...] | None]:
    """`"ffhq_pca.pt#46@4:5"` -> `(Path("ffhq_pca.pt"), 46, (4,))`; an existing path is taken as it is.

    `#K`: a GANSpace component; `@A:B`: ws rows A..B−1 (Python's slice, e4e's `(start, end)`); `@A`: row A.

    Raises:
        ValueError: an empty row range.
    """
    text = os.fspath(spec)
    if Path(text).exists():
        return Path(text), None, None
    m = _SELECTOR.match(text)
    if not m or (m["k"] is None and m["a"] is None):
        return Path(text), None, None
    rows = None
    if m["a"] is not None:
        a = int(m["a"])
        b = a + 1 if m["b"] is None else int(m["b"])
        if b <= a:
            raise ValueError(f"{text}: the rows @{a}:{b} are empty; @START:END takes rows START..END-1")
        rows = tuple(range(a, b))
    return Path(m["file"]), None if m["k"] is None else int(m["k"]), rows


def is_direction_file(path: str | os.PathLike) -> bool:
    """True for a path (or spec) naming a file with a direction suffix (`.npy .npz .pt .pth`)."""
    try:
        p = parse_spec(path)[0]
    except ValueError:
        return True  # a spec, malformed: let `read` say what is wrong
    return p.suffix.lower() in SUFFIXES and not p.is_dir()


def _detect(obj: Any, path: Path) -> str:
    """"interfacegan" (an array) or "ganspace" (a PCA dict), from the contents."""
    import numpy as np
    import torch

    if isinstance(obj, (np.ndarray, torch.Tensor)):
        return "interfacegan"
    if is_components(obj):
        return "ganspace"
    if isinstance(obj, dict):
        keys = sorted(map(str, obj))[:8]
        hint = ("a latent file (sgt edit takes it as SOURCE)" if "w" in obj else
                "a checkpoint, not a direction" if any(k in obj for k in ("g_ema", "state_dict", "G_ema")) else
                "not a direction file")
        what = artefacts.describe(obj) if artefacts.identify(obj) != "latent" else ""  # another tool's file
        hint += f"; {what}" if what else ""
        raise UnknownFormatError(f"{path}: {hint} (keys: {', '.join(keys)}); direction files are an InterFaceGAN "
                                 "boundary [1, w_dim], an e4e direction [1, num_ws, w_dim] or a GANSpace PCA "
                                 "(lat_comp/lat_mean/lat_stdev or comp/mean/std)")
    raise UnknownFormatError(f"{path}: holds a {type(obj).__name__}, not a direction")


def read(path: str | os.PathLike, G: Any, *, kind: str | None = None, components: Iterable[int] | None = None,
         rows: Iterable[int] | None = None, name: str | None = None, unit: str = "σ", mode: str = "set",
         space: str | None = None, conditions: Sequence[Any] = (),
         sigma_samples: int = SIGMA_SAMPLES) -> list[Edit]:
    """Every edit a direction file gives for `G` (one, or the chosen GANSpace components).

    Args:
        path: the file, or a spec `FILE#K@START:END` (component and rows; arguments win over the spec).
        G: the generator the edits are for (shape checks, σ, fingerprint).
        kind: "interfacegan" or "ganspace" to insist on one (default: from the contents).
        components: GANSpace components (default: the spec's, else the first `DEFAULT_COMPONENTS`).
        rows: ws rows the edits change (default: the spec's, else all).
        name: catalogue name (one edit only).
        unit: InterFaceGAN / e4e directions: "σ" (default) or "svm distance" (the file's own unit).
        mode: GANSpace: "set" (default, GANSpace and e4e) or "add".
        space: InterFaceGAN `.npy`: "w" to vouch that a boundary whose name does not say W is one.
        conditions: InterFaceGAN: boundaries (paths, specs, arrays, LinearEdits) projected out of this one.
        sigma_samples: mapped samples σ is measured on.

    Raises:
        FileNotFoundError. UnknownFormatError: not a direction file. UnsafeCheckpointError: a pickle that
        names code. CorruptCheckpointError: damaged, NaN/Inf. ArchitectureMismatchError: made for another
        generator (w_dim, num_ws) or for Z space. ValueError: bad arguments.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS} or None, got {kind!r}")
    file, k, spec_rows = parse_spec(path)
    rows = spec_rows if rows is None else rows
    obj = files.read(file)
    found = _detect(obj, file)
    if kind is not None and kind != found:
        raise UnknownFormatError(f"{file}: holds {'a PCA (GANSpace)' if found == 'ganspace' else 'a direction'}, "
                                 f"not {kind!r} data")
    info = {"source": str(file), "format": _format_name(file, found)}
    if found == "ganspace" and (unit != "σ" or conditions or space is not None):
        raise ValueError(f"{file}: GANSpace components are in the file's σ (lat_stdev); unit=, conditions= and "
                         "space= apply to InterFaceGAN / e4e directions")
    if found == "interfacegan" and mode != "set":
        raise ValueError(f"{file}: mode= applies to GANSpace components; a direction is always added")
    if found == "ganspace":
        chosen = components if components is not None else None if k is None else [k]
        return component_edits(obj, file, G, components=chosen, rows=rows, mode=mode, name=name, info=info)
    if k is not None or components is not None:
        raise ValueError(f"{file}: #K / components choose GANSpace components; this file holds one direction")
    if file.suffix.lower() == ".npy":  # e4e's .pt directions are W ones; InterFaceGAN's .npy say it by name
        check_space(file, space)
    conds = [_condition(c, G) for c in conditions]
    return [boundary_edit(obj, file, G, name=name, rows=rows, unit=unit, conditions=conds, info=info,
                          sigma_samples=sigma_samples)]


def _format_name(path: Path, kind: str) -> str:
    suffix = path.suffix.lower()
    if kind == "ganspace":
        return "GANSpace cache (.npz)" if suffix == ".npz" else "e4e GANSpace PCA (.pt)"
    return "InterFaceGAN boundary (.npy)" if suffix == ".npy" else "e4e direction (.pt)"


def _condition(c: Any, G: Any) -> Any:
    if isinstance(c, (str, os.PathLike)):
        file = parse_spec(c)[0]
        obj = files.read(file)
        if _detect(obj, file) != "interfacegan":
            raise ValueError(f"{file}: a condition must be an InterFaceGAN boundary [1, w_dim]")
        if file.suffix.lower() == ".npy":
            check_space(file, None)
        return files.as_array(obj, file, "the condition")
    return c


def import_direction(path: str | os.PathLike, G: Any, *, name: str | None = None, kind: str | None = None,
                     component: int | None = None, rows: Iterable[int] | None = None, **options: Any) -> Edit:
    """One edit from a direction file (see `read`; `component` picks a GANSpace component).

    Raises:
        ValueError: a GANSpace file without a component (in the spec `FILE#K` or `component=`).
        The errors of `read`.
    """
    file, k, _ = parse_spec(path)
    comps = None if component is None else [component]
    found = read(path, G, kind=kind, components=comps, rows=rows, **options)
    n = found[0].info.get("num_components", 1) if found and isinstance(found[0], ComponentEdit) else len(found)
    if len(found) != 1 or (component is None and k is None and n > 1):
        raise ValueError(f"{file} holds {n} GANSpace components; choose one: {file}#K (e.g. {file}#0, or with ws "
                         f"rows {file}#0@4:6) or component=K")
    if name is not None:
        found[0].name = name
    return found[0]


def register_directions(path: str | os.PathLike, G: Any, **options: Any) -> list[Edit]:
    """Import a direction file (or every direction file in a folder) and list its edits in `edits.available(G)`.

    Kept in memory for this process, by G's fingerprint; a registered edit wins over a registered or
    shipped one of the same name. In a folder each file gets `read`'s defaults (a GANSpace file its
    first `DEFAULT_COMPONENTS` components on all rows); files of other suffixes are skipped.

    Returns:
        The edits added.

    Raises:
        ValueError: two files give the same edit name, or a folder without direction files. The errors of
        `read` (nothing is registered then).
    """
    from stylegan import fingerprint

    p = Path(os.fspath(path))
    if p.is_dir():
        paths = sorted(c for c in p.iterdir() if c.is_file() and c.suffix.lower() in SUFFIXES)
        if not paths:
            raise ValueError(f"{p}: no direction files ({', '.join(SUFFIXES)}) in this folder")
        made = [e for c in paths for e in read(c, G, **options)]
    else:
        made = read(path, G, **options)
    names: dict[str, str] = {}
    for e in made:
        src = e.info.get("source", "?")
        if e.name in names:
            raise ValueError(f"{src} and {names[e.name]} both give the edit {e.name!r}; register them one at a time "
                             "with name=")
        names[e.name] = src
    _REGISTERED.setdefault(fingerprint(G), {}).update({e.name: e for e in made})
    return made


def registered(fingerprint: str) -> dict[str, Edit]:
    """The edits `register_directions` added for the generator with this fingerprint."""
    return dict(_REGISTERED.get(fingerprint, {}))


def unregister_directions(fingerprint: str | None = None) -> None:
    """Forget the registered directions of one generator (None: of all)."""
    if fingerprint is None:
        _REGISTERED.clear()
    else:
        _REGISTERED.pop(fingerprint, None)


__all__ = ["read", "import_direction", "register_directions", "registered", "unregister_directions", "parse_spec",
           "is_direction_file", "project_boundary", "RowwiseEdit", "ComponentEdit", "KINDS", "SUFFIXES",
           "DEFAULT_COMPONENTS", "SIGMA_SAMPLES"]
