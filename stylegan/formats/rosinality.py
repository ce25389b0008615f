"""rosinality/stylegan2-pytorch checkpoints (`{g_ema, latent_avg}` and training snapshots) <-> NVlabs
names, and the `.pt` writer that lets our models plug into e4e/pSp-style tools. The map is a pure
renaming plus reshapes (REFERENCE.md §1): the round trip is exact."""
from __future__ import annotations

import argparse
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from sgtcore.atomic import atomic_file
from stylegan.formats.errors import ArchitectureMismatchError

if TYPE_CHECKING:
    from stylegan.generator import Generator

# Training snapshots keep no latent_avg; w_avg is then the mean of this many mapped samples. Measured
# on a 512-d, 8-layer mapping (NVlabs init; per-unit std of w 0.55 RMS, up to 1.06), 4 seeds: the
# estimate's standard error is 0.8e-3 RMS over the 512 units (1.6e-3 for the noisiest), i.e. stable to
# 1e-3, in 4 s on 2 CPU cores; plain Gaussian samples of the same count give 1.7e-3.
W_AVG_SAMPLES = 2 ** 17
W_AVG_SEED = 0


class EstimatedWAvgWarning(UserWarning):
    """The checkpoint holds no w_avg (a rosinality training snapshot): it was estimated."""


def _layer_to_ours(prefix_ours: str, rest: str) -> tuple[str, str] | None:
    """Map the part after a rosinality styled-conv prefix to (our suffix, reshape kind)."""
    table = {
        "conv.weight": ("weight", "squeeze0"),
        "conv.modulation.weight": ("affine.weight", ""),
        "conv.modulation.bias": ("affine.bias", ""),
        "noise.weight": ("noise_strength", "scalar"),
        "activate.bias": ("bias", ""),
        "bias": ("bias", "flat"),  # ToRGB bias [1, 3, 1, 1]
    }
    if rest not in table:
        return None
    suffix, kind = table[rest]
    return prefix_ours + suffix, kind


def generator_from_rosinality(sd: dict[str, torch.Tensor], latent_avg: torch.Tensor | None,
                              source: str) -> dict[str, torch.Tensor]:
    """rosinality `g_ema` state dict (+ `latent_avg`) -> NVlabs-named state dict."""
    out: dict[str, torch.Tensor] = {}
    n_convs = len({int(m.group(1)) for k in sd if (m := re.match(r"convs\.(\d+)\.", k))})
    for key, value in sd.items():
        if key.endswith(("blur.kernel", "upsample.kernel")):
            continue  # = 4 x resample_filter, a constant
        if m := re.fullmatch(r"style\.(\d+)\.(weight|bias)", key):
            out[f"mapping.fc{int(m.group(1)) - 1}.{m.group(2)}"] = value
            continue
        if key == "input.input":
            out["synthesis.b4.const"] = value[0]
            continue
        if m := re.fullmatch(r"noises\.noise_(\d+)", key):
            i = int(m.group(1))
            res = 4 if i == 0 else 2 ** ((i + 5) // 2)
            layer = "conv1" if i == 0 or (i % 2 == 0) else "conv0"
            out[f"synthesis.b{res}.{layer}.noise_const"] = value[0, 0]
            continue
        if m := re.fullmatch(r"conv1\.(.+)", key):
            prefix, rest = "synthesis.b4.conv1.", m.group(1)
        elif m := re.fullmatch(r"convs\.(\d+)\.(.+)", key):
            i = int(m.group(1))
            prefix, rest = f"synthesis.b{2 ** (i // 2 + 3)}.conv{i % 2}.", m.group(2)
        elif m := re.fullmatch(r"to_rgb1\.(.+)", key):
            prefix, rest = "synthesis.b4.torgb.", m.group(1)
        elif m := re.fullmatch(r"to_rgbs\.(\d+)\.(.+)", key):
            prefix, rest = f"synthesis.b{2 ** (int(m.group(1)) + 3)}.torgb.", m.group(2)
        else:
            raise ArchitectureMismatchError(f"{source}: unexpected rosinality generator key {key!r}")
        mapped = _layer_to_ours(prefix, rest)
        if mapped is None:
            raise ArchitectureMismatchError(f"{source}: unexpected rosinality generator key {key!r}")
        name, kind = mapped
        if kind == "squeeze0":
            value = value[0]
        elif kind == "scalar":
            value = value.reshape([])
        elif kind == "flat":
            value = value.reshape(-1)
        out[name] = value
    if n_convs and "synthesis.b4.const" not in out:
        raise ArchitectureMismatchError(f"{source}: rosinality generator without input.input")
    if latent_avg is not None:
        out["mapping.w_avg"] = latent_avg.reshape(-1)
    return out


def encoder_checkpoint_decoder(obj: dict) -> dict | None:
    """The generator inside a pSp / e4e / ReStyle checkpoint (`{state_dict, opts, latent_avg?}`, their
    `decoder.*` keys: a rosinality generator incl. `noises.noise_i`) as a rosinality `{g_ema, latent_avg}`
    dict, or None when `obj` is not such a checkpoint. Their `latent_avg` is `[num_ws, 512]`, `[1, 512]`
    or `[512]`, every row a copy of the generator's w_avg; absent when trained without it."""
    sd = obj.get("state_dict") if isinstance(obj, dict) else None
    if not isinstance(sd, dict) or not isinstance(obj.get("opts"), dict | argparse.Namespace):
        return None
    dec = {k[len("decoder."):]: v for k, v in sd.items() if isinstance(k, str) and k.startswith("decoder.")}
    if not dec:
        return None
    la = obj.get("latent_avg")
    if isinstance(la, torch.Tensor) and la.ndim in (1, 2) and la.numel():
        la = la.reshape(-1, la.shape[-1])[0]
    else:
        la = None
    return {"g_ema": dec, "latent_avg": la}


def generator_to_rosinality(sd: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """NVlabs-named state dict -> (rosinality `g_ema` state dict, `latent_avg`)."""
    out: dict[str, torch.Tensor] = {}
    res_list = sorted(int(m.group(1)) for k in sd if (m := re.fullmatch(r"synthesis\.b(\d+)\.conv1\.weight", k)))
    f = sd.get("synthesis.b4.resample_filter")
    kernel = (f if f is not None else _default_filter()) * 4
    for key, value in sd.items():
        if m := re.fullmatch(r"mapping\.fc(\d+)\.(weight|bias)", key):
            out[f"style.{int(m.group(1)) + 1}.{m.group(2)}"] = value
    out["input.input"] = sd["synthesis.b4.const"][None]
    for r in res_list:
        k = int(np.log2(r)) - 3  # index of the block among the upsampling ones
        layers = {"conv1": "conv1"} if r == 4 else {"conv0": f"convs.{2 * k}", "conv1": f"convs.{2 * k + 1}"}
        for ours, theirs in layers.items():
            p = f"synthesis.b{r}.{ours}."
            out[f"{theirs}.conv.weight"] = sd[p + "weight"][None]
            out[f"{theirs}.conv.modulation.weight"] = sd[p + "affine.weight"]
            out[f"{theirs}.conv.modulation.bias"] = sd[p + "affine.bias"]
            out[f"{theirs}.noise.weight"] = sd[p + "noise_strength"].reshape(1)
            out[f"{theirs}.activate.bias"] = sd[p + "bias"]
            if ours == "conv0":
                out[f"{theirs}.conv.blur.kernel"] = kernel.clone()
            idx = 0 if r == 4 else 2 * int(np.log2(r)) - (5 if ours == "conv0" else 4)
            out[f"noises.noise_{idx}"] = sd[p + "noise_const"][None, None]
        theirs = "to_rgb1" if r == 4 else f"to_rgbs.{k}"
        p = f"synthesis.b{r}.torgb."
        if r > 4:
            out[f"{theirs}.upsample.kernel"] = kernel.clone()
        out[f"{theirs}.conv.weight"] = sd[p + "weight"][None]
        out[f"{theirs}.conv.modulation.weight"] = sd[p + "affine.weight"]
        out[f"{theirs}.conv.modulation.bias"] = sd[p + "affine.bias"]
        out[f"{theirs}.bias"] = sd[p + "bias"].reshape(1, -1, 1, 1)
    return out, sd["mapping.w_avg"].clone()


def save_rosinality(G: Generator, path: str | Path) -> Path:
    """Write `{g_ema, latent_avg}` (rosinality's inference checkpoint layout) to `path`."""
    g_ema, latent_avg = generator_to_rosinality({k: v.detach().cpu() for k, v in G.state_dict().items()})
    path = Path(path)
    with atomic_file(path) as tmp:
        torch.save({"g_ema": g_ema, "latent_avg": latent_avg}, tmp)
    return path


def _default_filter() -> torch.Tensor:
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    f = f.ger(f)
    return f / f.sum()


def discriminator_from_rosinality(sd: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """rosinality `d` state dict -> NVlabs-named residual discriminator state dict."""
    blocks = sorted({int(m.group(1)) for k in sd if (m := re.match(r"convs\.(\d+)\.", k))})
    if not blocks or "convs.0.0.weight" not in sd:
        raise ArchitectureMismatchError(f"{source}: not a rosinality discriminator (no convs.0)")
    top = 2 ** (len(blocks) - 1 + 2)
    table = {
        "conv1.0.weight": "conv0.weight", "conv1.1.bias": "conv0.bias",
        "conv2.1.weight": "conv1.weight", "conv2.2.bias": "conv1.bias", "skip.1.weight": "skip.weight",
    }
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if key.endswith(".kernel"):
            continue
        if key == "convs.0.0.weight":
            out[f"b{top}.fromrgb.weight"] = value
        elif key == "convs.0.1.bias":
            out[f"b{top}.fromrgb.bias"] = value
        elif m := re.fullmatch(r"convs\.(\d+)\.(.+)", key):
            res = top // 2 ** (int(m.group(1)) - 1)
            if m.group(2) not in table:
                raise ArchitectureMismatchError(f"{source}: unexpected rosinality discriminator key {key!r}")
            out[f"b{res}.{table[m.group(2)]}"] = value
        elif key in ("final_conv.0.weight", "final_conv.1.bias"):
            out["b4.conv." + key.split(".")[-1]] = value
        elif m := re.fullmatch(r"final_linear\.([01])\.(weight|bias)", key):
            out[f"b4.{'fc' if m.group(1) == '0' else 'out'}.{m.group(2)}"] = value
        else:
            raise ArchitectureMismatchError(f"{source}: unexpected rosinality discriminator key {key!r}")
    return out


@torch.no_grad()
def estimate_w_avg(G: Generator, num_samples: int = W_AVG_SAMPLES, seed: int = W_AVG_SEED,
                   chunk: int = 4096) -> torch.Tensor:
    """Mean of `G.mapping` over `num_samples` latents: w_avg `[w_dim]` (float32) for an unconditional G.

    The mapping normalises z onto a sphere, so only directions matter. They come in sets of 2 * z_dim:
    the rows of a random rotation and their negatives (a randomly rotated cross-polytope, a spherical
    3-design). Each direction is uniform on the sphere, so the mean is unbiased, and each set averages
    every polynomial of degree <= 3 exactly, which halves the standard error at equal cost (measured;
    cf. orthogonal random features, Yu et al. 2016). The count is rounded up to whole sets. z is drawn
    on the CPU, so every device maps the same samples.
    """
    gen = torch.Generator().manual_seed(seed)
    z_dim = G.z_dim
    sets_per_chunk = max(1, chunk // (2 * z_dim))
    sets = -(-num_samples // (2 * z_dim))
    dev, dtype = G.w_avg.device, G.w_avg.dtype
    total = torch.zeros(G.w_dim, dtype=torch.float64, device=dev)
    for start in range(0, sets, sets_per_chunk):
        k = min(sets_per_chunk, sets - start)
        q, r = torch.linalg.qr(torch.randn(k, z_dim, z_dim, generator=gen))  # float32: 3.5x faster than float64
        q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]  # Haar-distributed rotations
        z = torch.cat([q, -q], dim=1).reshape(-1, z_dim).to(dev, dtype)
        total += G.mapping(z)[:, 0].sum(0, dtype=torch.float64)
    return (total / (sets * 2 * z_dim)).to(torch.float32)


def fill_w_avg(G: Generator, source: str) -> Generator:
    """Give a G loaded without w_avg an estimated one: warn, and say so in `G.w_avg_source`."""
    G.mapping.w_avg.copy_(estimate_w_avg(G))
    n = -(-W_AVG_SAMPLES // (2 * G.z_dim)) * 2 * G.z_dim
    G.w_avg_source = f"estimated from {n} mapped samples (seed {W_AVG_SEED}): the checkpoint has no latent_avg"
    warnings.warn(f"{source}: a rosinality training snapshot without latent_avg; w_avg (the truncation centre "
                  f"and projection start) was {G.w_avg_source.split(':')[0]}. Keep this estimate by saving G "
                  "(stylegan.save_pretrained, or `sgt convert SNAPSHOT DIR`).", EstimatedWAvgWarning, stacklevel=2)
    return G
