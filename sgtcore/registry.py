"""One registry of trained artefacts by kind and name: the ones shipped inside the packages and the
ones a user registers. `stylegan.load("synthheads")`, the encoder lookup of `inversion.project` and
`edits.available(...)` all ask here.

Shipped artefacts are found by scanning each package's `weights/` folder without importing the
package (the packages are siblings of `sgtcore`, in a source tree and in an installed wheel alike):
every subfolder with a `config.json` is one entry named after the folder, its kind read from the
config (folders written before `kind` existed take their root's kind). A `NAME.safetensors` with a
`NAME.json` beside it (the oracle's first layout) is an entry too, unless a folder `NAME/` exists.

    >>> find("generator", "synthheads")                 # Path to the shipped model folder
    >>> entries("encoder", generator=fingerprint)       # everything made for one generator
"""
from __future__ import annotations

import functools
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = Path(__file__).resolve().parent.parent
#: The shipped generator every command, the demo (`make demo`) and the benchmarks use when no network is named;
#: the one place that says which model is the default. v2 (128 px) since its edits and swap networks shipped
#: (issues 20 and 21); v1 (`"synthheads"`, 64 px) stays registered and loadable by name.
DEFAULT_GENERATOR = "synthheads128"
# package weight folders and the kind of what they hold when a config does not say
SHIPPED_ROOTS: dict[str, str | None] = {
    "stylegan/weights": "generator",
    "inversion/weights": "encoder",
    "synthetic/weights": "oracle",
    "edits/weights": None,  # edits and swap networks: every config names its kind
}


@dataclass
class Entry:
    """One artefact.

    Attributes:
        kind: generator, encoder, oracle, edit, swap, ...
        name: unique within its kind.
        path: a model folder (or, for the oracle's first layout, its `.safetensors` file).
        generator: fingerprint of the generator it was made for (None: not recorded / a generator itself).
        metadata: the config's free `metadata` (training command, notes, `network`).
        shipped: True for artefacts inside the packages.
    """

    kind: str
    name: str
    path: Path
    generator: str | None = None
    metadata: dict = field(default_factory=dict)
    shipped: bool = False


_USER: dict[tuple[str, str], Entry] = {}


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        warnings.warn(f"registry: skipping {path} ({exc})", stacklevel=3)
        return None
    return data if isinstance(data, dict) else None


def _entry(path: Path, config: dict, kind: str | None, name: str, shipped: bool) -> Entry | None:
    if "format" in config or "class_name" in config:  # our model folder: metadata is nested
        meta = config.get("metadata") if isinstance(config.get("metadata"), dict) else {}
    else:  # a legacy json beside its weights holds config and metadata alike
        meta = config
    kind = config.get("kind") or kind
    if not kind:
        return None
    fp = config.get("generator") or meta.get("generator")
    return Entry(kind, name, path, fp if isinstance(fp, str) else None, meta, shipped)


def _describe(path: Path, kind: str | None, name: str, shipped: bool) -> Entry | None:
    """The entry for a model folder or a `.safetensors` + `.json` pair; None if it is neither."""
    if (path / "config.json").is_file():
        config = _read_json(path / "config.json")
        return None if config is None else _entry(path, config, kind, name, shipped)
    if path.suffix == ".safetensors" and path.with_suffix(".json").is_file():
        config = _read_json(path.with_suffix(".json"))
        return None if config is None else _entry(path, config, kind, name, shipped)
    return None


@functools.lru_cache(maxsize=None)
def _scan(root: Path, kind: str | None) -> tuple[Entry, ...]:
    """Entries of one shipped weights folder (cached: shipped files do not change while we run)."""
    if not root.is_dir():
        return ()
    found: dict[str, Entry] = {}
    children = sorted(root.iterdir())
    for child in [c for c in children if c.is_dir()] + [c for c in children if c.suffix == ".safetensors"]:
        name = child.stem if child.is_file() else child.name
        if name.startswith(".") or name in found:
            continue
        entry = _describe(child, kind, name, shipped=True)
        if entry is not None:
            found[name] = entry
    return tuple(found.values())


def shipped() -> list[Entry]:
    """Every artefact shipped inside the packages."""
    return [e for rel, kind in SHIPPED_ROOTS.items() for e in _scan(PACKAGES / rel, kind)]


def register(kind: str, name: str, path: str | os.PathLike, generator: str | None = None) -> Entry:
    """Add (or replace) an artefact; it wins over a shipped one of the same kind and name.

    Args:
        kind: generator, encoder, oracle, edit, swap, ...
        name: the name `find(kind, name)` will know it by.
        path: a model folder, or any file the kind's loader reads (e.g. an NVlabs `.pkl` generator).
        generator: fingerprint of the generator it belongs to; default: the one its config records.
    """
    path = Path(path)
    entry = _describe(path, kind, name, shipped=False) if path.exists() else None
    entry = Entry(kind, name, path, entry.generator if entry else None, entry.metadata if entry else {})
    if generator is not None:
        entry.generator = generator
    _USER[(kind, name)] = entry
    return entry


def unregister(kind: str, name: str) -> None:
    """Forget a user-registered artefact (shipped ones stay)."""
    _USER.pop((kind, name), None)


def entries(kind: str | None = None, generator: str | None = None) -> list[Entry]:
    """Registered artefacts, user-registered first (newest first), then shipped; one per (kind, name).

    Args:
        kind: only this kind.
        generator: only those made for the generator with this fingerprint.
    """
    out, seen = [], set()
    for e in [*reversed(_USER.values()), *shipped()]:
        if (e.kind, e.name) in seen or (kind is not None and e.kind != kind):
            continue
        seen.add((e.kind, e.name))  # before the generator filter: a user entry hides the shipped one
        if generator is None or e.generator == generator:
            out.append(e)
    return out


def names(kind: str) -> list[str]:
    """Sorted names known for `kind`."""
    return sorted({e.name for e in entries(kind)})


def find(kind: str, name: str) -> Path:
    """The path registered as `name` for `kind`.

    Raises:
        FileNotFoundError: unknown name; the message lists the known names of that kind.
    """
    for e in entries(kind):
        if e.name == name:
            return e.path
    known = ", ".join(names(kind)) or "none"
    raise FileNotFoundError(f"no {kind} named {name!r}; known {kind} names: {known} "
                            f"(add one with sgtcore.registry.register({kind!r}, NAME, PATH))")


def locate(kind: str, name: str, path: str | os.PathLike | None = None, hint: str = "") -> Path:
    """`path` if given, else the path registered as `name` for `kind`; either must exist.

    Raises:
        FileNotFoundError: naming what is missing, followed by `hint` (how to make it).
    """
    tail = f"; {hint}" if hint else ""
    if path is None:
        try:
            return find(kind, name)
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{exc}{tail}") from None
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no {kind} weights at {path}{tail}")
    return path


def refresh() -> None:
    """Forget the cached scan of the shipped folders (after writing into one)."""
    _scan.cache_clear()


__all__ = ["Entry", "SHIPPED_ROOTS", "register", "unregister", "entries", "names", "find", "locate", "shipped",
           "refresh"]
