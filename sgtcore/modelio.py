"""The one format for every trained module: a folder with `config.json` + `model.safetensors`.

    config.json = {"format": "stylegan-toolkit", "format_version": 1,
                   "class_name": "Encoder", "kind": "encoder",      # what to rebuild, and what it is
                   "config": {...},                                  # the class's init arguments
                   "generator": "5184caac4bde2d83",                  # fingerprint of the G it belongs to
                   "metadata": {...},                                # free: training command, notes, ...
                   "weights": "model.safetensors", "dtype": "float32"}  # (+ "data": true for a Bundle)

Generators, discriminators, encoders, the oracle, PTI deltas, edits and swap networks all use it.
Modules are rebuilt from a table of registered classes that each package fills when imported
(`register_class`), so this file imports none of them and nothing in a file is ever executed; plain
data (named tensors + JSON config, e.g. an edit direction) round-trips as a `Bundle`.

    >>> path = save(encoder, "out/enc", generator=G, metadata={"command": "sgt train-encoder ..."})
    >>> enc = load(path, expect="Encoder", generator=G)   # ArchitectureMismatchError for another G
"""
from __future__ import annotations

import importlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from .atomic import atomic_dir
from .errors import ArchitectureMismatchError, CorruptCheckpointError, UnknownFormatError

if TYPE_CHECKING:  # torch is imported on first use: `synthetic` registers its oracle without it
    import torch

FORMAT_NAME = "stylegan-toolkit"
# Bump only for changes an older reader would misread; added keys (kind, generator, dtype) did not.
FORMAT_VERSION = 1
CONFIG = "config.json"
WEIGHTS = "model.safetensors"


@dataclass
class Bundle:
    """Plain data in the one format: named tensors plus a JSON config (e.g. an edit direction, a PTI delta).

    Attributes:
        class_name: what the data is (`"PTIDelta"`); `load(..., expect=...)` checks it.
        kind: registry kind (`"pti_delta"`, `"edit"`, ...).
        tensors: `{name: tensor}` of any shapes.
        config: JSON-able settings.
        generator: fingerprint of the generator it belongs to (filled by `load`; `save` uses it when
            not given one).
        metadata: free JSON (filled by `load`; `save` uses it when not given any).
    """

    class_name: str
    kind: str
    tensors: dict[str, torch.Tensor]
    config: dict = field(default_factory=dict)
    generator: str | None = None
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ClassSpec:
    """How to rebuild one registered class; see `register_class`."""

    name: str
    kind: str
    target: str | type
    build: str | Callable[[dict], Any] | None = None
    fp32: tuple[str, ...] = ()
    constants: tuple[str, ...] = ()
    remake: str = ""


_CLASSES: dict[str, ClassSpec] = {}


def register_class(name: str, kind: str, target: str | type, *, build: str | Callable[[dict], Any] | None = None,
                   fp32: tuple[str, ...] = (), constants: tuple[str, ...] = (), remake: str = "") -> None:
    """Let `save`/`load` handle the `nn.Module` class `target` under `name` (its `config.json` class_name).

    Args:
        name: class name written to config.json (usually `target.__name__`).
        kind: registry kind: generator, discriminator, encoder, oracle, edit, swap, ...
        target: the class, or `"module:Class"` imported on first use (keeps package imports light).
        build: `config dict -> module` (or `"module:attr"`); default `target.from_config(config)` when the
            class has it, else `target(**config)`. The saved config is `obj.config` (a dict, a dataclass,
            or anything with `to_dict()`).
        fp32: state keys (or key suffixes after a '.') kept float32 under `save(..., half=True)`, e.g. `w_avg`.
        constants: state key suffixes not stored because `__init__` rebuilds them (FIR filters).
        remake: how to make a new one for another generator, quoted in mismatch errors.
    """
    _CLASSES[name] = ClassSpec(name, kind, target, build, tuple(fp32), tuple(constants), remake)


def registered_classes() -> dict[str, str]:
    """`{class_name: kind}` of every registered class."""
    return {n: s.kind for n, s in _CLASSES.items()}


def _resolve(ref: str | Any) -> Any:
    if not isinstance(ref, str):
        return ref
    module, _, attr = ref.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _spec_of(obj: Any) -> ClassSpec:
    spec = _CLASSES.get(type(obj).__name__)
    if spec is None or not isinstance(obj, _resolve(spec.target)):
        raise TypeError(f"save() expects a Bundle or a module of a registered class ({', '.join(sorted(_CLASSES))}), "
                        f"got {type(obj).__name__}; register it with sgtcore.modelio.register_class")
    return spec


def _config_of(obj: Any) -> dict:
    cfg = getattr(obj, "config", None)
    if hasattr(cfg, "to_dict"):
        return cfg.to_dict()
    if is_dataclass(cfg):
        return asdict(cfg)
    if isinstance(cfg, Mapping):
        return dict(cfg)
    raise TypeError(f"{type(obj).__name__}.config must be a dict or a dataclass to be saved, got {type(cfg).__name__}")


def _build(spec: ClassSpec, config: dict) -> Any:
    if spec.build is not None:
        return _resolve(spec.build)(config)
    cls = _resolve(spec.target)
    return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)


def _fingerprint_of(generator: Any) -> str | None:
    """A fingerprint string, or one asked of an object with `.fingerprint()` (a `stylegan.Generator`)."""
    if generator is None or isinstance(generator, str):
        return generator
    if callable(getattr(generator, "fingerprint", None)):
        return generator.fingerprint()
    raise TypeError(f"generator must be a fingerprint string or a stylegan.Generator, got {type(generator).__name__}")


def _matches(key: str, names: tuple[str, ...]) -> bool:
    return any(key == n or key.endswith("." + n) for n in names)


def _carry_over(old: Path, new: Path) -> None:
    """Hard-link into `new` whatever else lives in the model folder `old` (a training log, a
    `discriminator/` beside a generator), so that replacing the model keeps them; an open log
    file keeps appending to the same inode."""
    if not old.is_dir():
        return
    for src in old.iterdir():
        dst = new / src.name
        if dst.exists() or src.name.startswith("."):
            continue
        if src.is_dir():
            try:
                shutil.copytree(src, dst, copy_function=os.link)
            except (OSError, shutil.Error):  # no hard links on this file system: copy
                shutil.rmtree(dst, ignore_errors=True)
                shutil.copytree(src, dst)
        else:
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)


def save(obj: Any, directory: str | os.PathLike, *, metadata: dict | None = None, generator: Any = None,
         half: bool = False) -> Path:
    """Write `obj` as `directory/config.json` + `directory/model.safetensors`, atomically.

    The folder appears complete or not at all (`sgtcore.atomic.atomic_dir`); an older model there is
    replaced, other files in it (logs, a `discriminator/` subfolder) are kept.

    Args:
        obj: an `nn.Module` of a registered class (its `state_dict()` is stored) or a `Bundle`.
        directory: the model folder.
        metadata: JSON-able free information (training command, notes; `network`: the generator's name,
            quoted in mismatch errors).
        generator: the generator `obj` belongs to: its fingerprint (`stylegan.fingerprint(G)`) or G itself.
        half: store floating tensors as float16 (half the file; `load` casts back to float32), except the
            class's `fp32` keys.

    Returns:
        `directory` as a Path.
    """
    import torch
    from safetensors.torch import save_file

    directory = Path(directory)
    if isinstance(obj, Bundle):
        class_name, kind, config, state, fp32 = obj.class_name, obj.kind, dict(obj.config), obj.tensors, ()
        generator = obj.generator if generator is None else generator
        metadata = obj.metadata if metadata is None else metadata
    else:
        spec = _spec_of(obj)
        class_name, kind, config, fp32 = spec.name, spec.kind, _config_of(obj), spec.fp32
        state = {k: v for k, v in obj.state_dict().items() if not _matches(k, spec.constants)}
    tensors = {}
    for k, v in state.items():
        v = v.detach()
        if v.is_floating_point():
            v = v.to(torch.float16 if half and not _matches(k, fp32) else torch.float32)
        tensors[k] = v.contiguous().cpu()
    record = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "class_name": class_name, "kind": kind,
              "config": config, "weights": WEIGHTS, "dtype": "float16" if half else "float32"}
    if isinstance(obj, Bundle):
        record["data"] = True
    fp = _fingerprint_of(generator)
    if fp is not None:
        record["generator"] = fp
    record["metadata"] = metadata or {}
    text = json.dumps(record, indent=2) + "\n"  # fails before anything is written if not JSON-able
    with atomic_dir(directory) as tmp:
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format": FORMAT_NAME, "class_name": class_name})
        (tmp / CONFIG).write_text(text)
        _carry_over(directory, tmp)
    return directory


def read_config(directory: str | os.PathLike) -> dict:
    """The validated `config.json` of a model folder, upgraded from older layouts.

    The encoder's first layout (no `format` key, its generator in `metadata.generator`) reads as version 1.

    Raises:
        FileNotFoundError: no such folder, or no config.json in it.
        CorruptCheckpointError: config.json unreadable. UnknownFormatError: not ours, or a newer version.
    """
    directory = Path(directory)
    path = directory / CONFIG
    if directory.is_file():
        raise UnknownFormatError(f"{directory}: a file, not a model folder (config.json + model.safetensors)")
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: no config.json (not a saved model folder)")
    try:
        config = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptCheckpointError(f"{path}: unreadable config.json ({exc})") from exc
    if not isinstance(config, dict):
        raise CorruptCheckpointError(f"{path}: config.json is not a JSON object")
    if "format" not in config and "class_name" in config and config.get("format_version") == 1:
        config["format"] = FORMAT_NAME  # written before the format key existed (encoders until issue 10)
    if config.get("format") != FORMAT_NAME:
        raise UnknownFormatError(f"{path}: not a {FORMAT_NAME} model folder (format={config.get('format')!r})")
    try:
        version = int(config.get("format_version", 0))
    except (TypeError, ValueError) as exc:
        raise CorruptCheckpointError(f"{path}: format_version {config['format_version']!r} is not a number") from exc
    if version > FORMAT_VERSION:
        raise UnknownFormatError(f"{path}: format version {version} is newer than this library reads "
                                 f"({FORMAT_VERSION}); upgrade stylegan-toolkit")
    if not isinstance(config.get("class_name"), str) or not isinstance(config.get("config", {}), dict):
        raise CorruptCheckpointError(f"{path}: no class_name, or a config that is not a JSON object")
    meta = config.setdefault("metadata", {})
    if "generator" not in config and isinstance(meta, dict) and isinstance(meta.get("generator"), str):
        config["generator"] = meta["generator"]
    spec = _CLASSES.get(config["class_name"])
    config.setdefault("kind", spec.kind if spec else None)
    return config


def check_generator(config: dict, generator: Any, where: str | os.PathLike) -> None:
    """Raise `ArchitectureMismatchError` when `config` records a generator other than `generator`.

    Nothing is checked when either side is unknown. The message names the generator the file was
    made for (fingerprint and recorded name) and how to fix it.
    """
    want, made_for = _fingerprint_of(generator), config.get("generator")
    if want is None or made_for is None or want == made_for:
        return
    network = (config.get("metadata") or {}).get("network")
    spec = _CLASSES.get(config.get("class_name", ""))
    named = f" ({network})" if network else ""
    fix = f"load it with that generator (stylegan.load({network!r}))" if network else "use that generator"
    remake = spec.remake if spec and spec.remake else f"make a new {config.get('kind') or 'one'} for this generator"
    raise ArchitectureMismatchError(
        f"{where}: this {config.get('class_name')} was made for generator {made_for}{named}, not for the one given "
        f"({want}); {fix}, or {remake}")


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise CorruptCheckpointError(f"{path}: missing (config.json names it)")
    try:
        return load_file(str(path))
    except (OSError, SafetensorError, ValueError, RuntimeError) as exc:
        raise CorruptCheckpointError(f"{path}: cannot read weights ({str(exc)[:200]})") from exc


def load_state_strict(module: torch.nn.Module, tensors: dict[str, torch.Tensor], where: str | os.PathLike,
                      what: str, constants: tuple[str, ...] = ()) -> None:
    """Copy `tensors` into `module`, casting to its dtypes; every stored key must fit exactly.

    Args:
        what: what the weights should fit, for the message ("a StyleGAN2 network", "the Encoder ...").
        constants: state key suffixes `__init__` rebuilds (FIR filters), which may be absent.

    Raises:
        ArchitectureMismatchError: missing, unexpected or wrongly shaped tensors (the first few named).
    """
    import torch

    own = module.state_dict()
    missing = [k for k in own if k not in tensors and not _matches(k, constants)]
    unexpected = [k for k in tensors if k not in own]
    wrong = [f"{k}: file {list(tensors[k].shape)} vs model {list(own[k].shape)}"
             for k in own if k in tensors and tensors[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        found = (("missing", missing), ("unexpected", unexpected), ("wrong shapes", wrong))
        parts = [f"{label} {items[:5]}{' ...' if len(items) > 5 else ''}" for label, items in found if items]
        raise ArchitectureMismatchError(f"{where}: weights do not fit {what}: " + "; ".join(parts))
    with torch.no_grad():
        for k, v in tensors.items():
            own[k].copy_(v)  # copy_ casts (float16 storage, float64 models)


def load(directory: str | os.PathLike, *, expect: str | tuple[str, ...] | None = None, generator: Any = None,
         device: str | torch.device = "cpu") -> Any:
    """Rebuild what `save` wrote: the module (eval mode, no grad) or a `Bundle`.

    Args:
        directory: the model folder.
        expect: class name(s) or kind(s) the caller can use; anything else is refused.
        generator: the generator it will be used with (fingerprint or G); refused when the file records another.
        device: where to put the tensors.

    Raises:
        FileNotFoundError. CorruptCheckpointError: unreadable or damaged files. UnknownFormatError: not our
        format, a newer version, or a class no imported package registered. ArchitectureMismatchError:
        another class than `expect`, a file made for another generator, or weights that do not fit.
    """
    directory = Path(directory)
    config = read_config(directory)
    name, kind = config["class_name"], config.get("kind")
    if expect is not None:
        wanted = (expect,) if isinstance(expect, str) else tuple(expect)
        if name not in wanted and kind not in wanted:
            raise ArchitectureMismatchError(f"{directory}: holds a {name}{f' ({kind})' if kind else ''}; "
                                            f"expected {' or '.join(wanted)}")
    check_generator(config, generator, directory)
    if config.get("data"):
        tensors = _read_tensors(directory / config.get("weights", WEIGHTS))
        return Bundle(name, kind or "", {k: v.to(device) for k, v in tensors.items()}, config.get("config", {}),
                      config.get("generator"), config.get("metadata") or {})
    spec = _CLASSES.get(name)
    if spec is None:
        raise UnknownFormatError(f"{directory}: unknown class_name {name!r} (registered: "
                                 f"{', '.join(sorted(_CLASSES)) or 'none'}); import the package that defines it "
                                 "first: each registers its classes when imported")
    try:
        module = _build(spec, config.get("config", {}))
    except (TypeError, ValueError, KeyError) as exc:
        raise CorruptCheckpointError(f"{directory / CONFIG}: invalid config for {name} ({exc})") from exc
    load_state_strict(module, _read_tensors(directory / config.get("weights", WEIGHTS)), directory,
                      f"the {spec.name} its config.json describes", spec.constants)
    return module.to(device).eval().requires_grad_(False)


__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "Bundle", "register_class", "registered_classes", "save", "load",
           "read_config", "check_generator", "load_state_strict"]
