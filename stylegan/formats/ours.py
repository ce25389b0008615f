"""Our format for generators and discriminators: the toolkit's one model format
(`sgtcore.modelio`: a folder with `config.json` + `model.safetensors`). No pickle anywhere, so
nothing can execute on load; folders written before the format gained `kind` read unchanged."""
from __future__ import annotations

from pathlib import Path

import torch

from sgtcore import modelio
from sgtcore.modelio import FORMAT_NAME, FORMAT_VERSION, read_config
from stylegan.discriminator import Discriminator, DiscriminatorConfig
from stylegan.generator import Generator, GeneratorConfig

# a generator directory may keep its discriminator in this subdirectory (exported training runs)
DISCRIMINATOR_SUBDIR = "discriminator"

# The FIR `resample_filter` buffers are constants rebuilt by __init__, so they are not stored.
modelio.register_class("Generator", "generator", Generator, build=lambda c: Generator(GeneratorConfig.from_dict(c)),
                       fp32=("w_avg",), constants=("resample_filter",))
modelio.register_class("Discriminator", "discriminator", Discriminator,
                       build=lambda c: Discriminator(DiscriminatorConfig.from_dict(c)), constants=("resample_filter",))


def save_pretrained(net: Generator | Discriminator, directory: str | Path, metadata: dict | None = None,
                    half: bool = False) -> Path:
    """Write `config.json` + `model.safetensors` for `net` into `directory`, atomically.

    `metadata` (JSON-able) goes into the config; `half=True` stores float16 weights (w_avg stays float32).
    Files already in `directory` besides the model (a `discriminator/` subfolder) are kept.
    """
    if not isinstance(net, (Generator, Discriminator)):
        raise TypeError(f"save_pretrained expects a Generator or Discriminator, got {type(net).__name__}")
    return modelio.save(net, directory, metadata=metadata, half=half)


def load_pretrained(directory: str | Path, device: str | torch.device = "cpu") -> Generator | Discriminator:
    """Rebuild the network saved by `save_pretrained` (eval mode, no grad)."""
    return modelio.load(directory, expect=("Generator", "Discriminator"), device=device)


__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "DISCRIMINATOR_SUBDIR", "save_pretrained", "load_pretrained",
           "read_config"]
