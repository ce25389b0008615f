"""Our format: a directory with `config.json` (class name + format version + config) and
`model.safetensors`. No pickle anywhere, so nothing can execute on load."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from stylegan.discriminator import Discriminator, DiscriminatorConfig
from stylegan.formats.errors import CorruptCheckpointError, UnknownFormatError
from stylegan.formats.infer import load_state_strict
from stylegan.generator import Generator, GeneratorConfig

FORMAT_NAME = "stylegan-toolkit"
FORMAT_VERSION = 1
# a generator directory may keep its discriminator in this subdirectory (exported training runs)
DISCRIMINATOR_SUBDIR = "discriminator"
_CLASSES = {"Generator": (Generator, GeneratorConfig), "Discriminator": (Discriminator, DiscriminatorConfig)}


def save_pretrained(net: Generator | Discriminator, directory: str | Path, weights_name: str = "model.safetensors",
                    metadata: dict | None = None) -> Path:
    """Write `config.json` + `model.safetensors` for `net` into `directory` (created if needed).

    The FIR `resample_filter` constants are not stored. `metadata` (JSON-able) goes into the config.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cls_name = type(net).__name__
    if cls_name not in _CLASSES:
        raise TypeError(f"save_pretrained expects a Generator or Discriminator, got {cls_name}")
    config = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "class_name": cls_name,
              "config": net.config.to_dict(), "weights": weights_name}
    if metadata:
        config["metadata"] = metadata
    sd = {k: v.detach().float().contiguous().cpu() for k, v in net.state_dict().items()
          if not k.endswith("resample_filter")}
    # Write to temporary names first so an interrupted save never leaves a half-written model.
    tmp_w, tmp_c = directory / (weights_name + ".tmp"), directory / "config.json.tmp"
    save_file(sd, str(tmp_w), metadata={"format": FORMAT_NAME, "class_name": cls_name})
    tmp_c.write_text(json.dumps(config, indent=2) + "\n")
    tmp_w.replace(directory / weights_name)
    tmp_c.replace(directory / "config.json")
    return directory


def read_config(directory: Path) -> dict:
    path = directory / "config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CorruptCheckpointError(f"{path}: unreadable config.json ({exc})") from exc
    if config.get("format") != FORMAT_NAME:
        raise UnknownFormatError(f"{path}: not a {FORMAT_NAME} model directory (format={config.get('format')!r})")
    if int(config.get("format_version", 0)) > FORMAT_VERSION:
        raise UnknownFormatError(f"{path}: format version {config['format_version']} is newer than this library "
                                 f"reads ({FORMAT_VERSION}); upgrade stylegan-toolkit")
    return config


def load_pretrained(directory: str | Path, device: str | torch.device = "cpu") -> Generator | Discriminator:
    """Rebuild the network saved by `save_pretrained` (eval mode, no grad)."""
    directory = Path(directory)
    config = read_config(directory)
    if config.get("class_name") not in _CLASSES:
        raise UnknownFormatError(f"{directory}: unknown class_name {config.get('class_name')!r}")
    cls, cfg_cls = _CLASSES[config["class_name"]]
    try:
        net = cls(cfg_cls.from_dict(config["config"]))
    except (TypeError, ValueError) as exc:
        raise CorruptCheckpointError(f"{directory}/config.json: invalid config ({exc})") from exc
    weights = directory / config.get("weights", "model.safetensors")
    try:
        sd = load_file(str(weights))
    except (OSError, SafetensorError) as exc:
        raise CorruptCheckpointError(f"{weights}: cannot read weights ({exc})") from exc
    load_state_strict(net, sd, str(weights))
    return net.eval().requires_grad_(False).to(device)
