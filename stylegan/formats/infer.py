"""Build our configs from a state dict in NVlabs naming, and load it strictly."""
from __future__ import annotations

import re

import torch

from stylegan.discriminator import Discriminator, DiscriminatorConfig
from sgtcore import modelio
from stylegan.formats.errors import ArchitectureMismatchError
from stylegan.generator import Generator, GeneratorConfig


def _channels_config(channels: dict[int, int]) -> dict:
    """Prefer (channel_base, channel_max) when they reproduce the table; else an explicit table."""
    top = max(channels)
    cmax = max(channels.values())
    for base in sorted({channels[r] * r for r in channels}):
        if all(min(base // r, cmax) == c for r, c in channels.items()):
            return {"channel_base": base, "channel_max": cmax, "channels": None}
    return {"channels": dict(channels)}


def generator_config_from_state(sd: dict[str, torch.Tensor], source: str, **extra) -> GeneratorConfig:
    """Infer z_dim, w_dim, resolution and channel table from `sd` (NVlabs key names, no prefix).

    `extra` carries what shapes cannot tell (conv_clamp, num_fp16_res, mapping_lr_multiplier).
    """
    try:
        fcs = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"mapping\.fc(\d+)\.weight", k)))
        res = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"synthesis\.b(\d+)\.conv1\.weight", k)))
        if not fcs or not res:
            raise KeyError("mapping.fc*/synthesis.b*.conv1")
        c_dim = sd["mapping.embed.weight"].shape[1] if "mapping.embed.weight" in sd else 0
        embed = sd["mapping.embed.weight"].shape[0] if c_dim else 0
        cfg = dict(
            z_dim=sd["mapping.fc0.weight"].shape[1] - embed,
            c_dim=c_dim,
            w_dim=sd[f"mapping.fc{fcs[-1]}.weight"].shape[0],
            img_resolution=res[-1],
            img_channels=sd[f"synthesis.b{res[-1]}.torgb.weight"].shape[0],
            mapping_layers=len(fcs),
            **_channels_config({r: sd[f"synthesis.b{r}.conv1.weight"].shape[0] for r in res}),
        )
    except KeyError as exc:
        raise ArchitectureMismatchError(f"{source}: not a StyleGAN2 generator (missing {exc})") from exc
    cfg.update({k: v for k, v in extra.items() if v is not None})
    return GeneratorConfig(**cfg)


def discriminator_config_from_state(sd: dict[str, torch.Tensor], source: str, **extra) -> DiscriminatorConfig:
    try:
        res = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"b(\d+)\.conv0\.weight", k)))
        top = res[-1]
        channels = {r: sd[f"b{r}.conv0.weight"].shape[0] for r in res}
        channels[4] = sd["b4.conv.weight"].shape[0]
        cfg = dict(img_resolution=top, img_channels=sd[f"b{top}.fromrgb.weight"].shape[1],
                   mbstd_num_channels=sd["b4.conv.weight"].shape[1] - channels[4], **_channels_config(channels))
    except (KeyError, IndexError) as exc:
        raise ArchitectureMismatchError(f"{source}: not a StyleGAN2 residual discriminator (missing {exc})") from exc
    cfg.update({k: v for k, v in extra.items() if v is not None})
    return DiscriminatorConfig(**cfg)


def load_state_strict(module: torch.nn.Module, sd: dict[str, torch.Tensor], source: str) -> None:
    """Copy `sd` into `module`; every parameter and noise buffer must be present with the right shape.
    FIR `resample_filter` buffers are constants and may be absent."""
    modelio.load_state_strict(module, sd, source, "a StyleGAN2 network", constants=("resample_filter",))


def build_generator(sd: dict[str, torch.Tensor], source: str, **extra) -> Generator:
    G = Generator(generator_config_from_state(sd, source, **extra))
    load_state_strict(G, sd, source)
    return G.eval().requires_grad_(False)


def build_discriminator(sd: dict[str, torch.Tensor], source: str, **extra) -> Discriminator:
    D = Discriminator(discriminator_config_from_state(sd, source, **extra))
    load_state_strict(D, sd, source)
    return D.eval().requires_grad_(False)
