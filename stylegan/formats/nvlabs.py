"""NVlabs pickles (StyleGAN2-ADA snapshots, the stylegan3 repo's StyleGAN2 networks), read without
executing any of their embedded source."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from stylegan.formats.errors import ArchitectureMismatchError, UnknownFormatError
from stylegan.formats.safe_pickle import PersistentStub, TFNetworkStub

SUPPORTED_G = {"Generator"}
SUPPORTED_D = {"Discriminator"}


def flatten_state(stub: PersistentStub, source: str, prefix: str = "") -> dict[str, torch.Tensor]:
    """Collect parameters and buffers of a persistent object tree into NVlabs state-dict names."""
    out: dict[str, torch.Tensor] = {}
    state = stub.state
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if value is None:
                continue
            if not isinstance(value, torch.Tensor):
                raise ArchitectureMismatchError(f"{source}: {prefix}{name} is a {type(value).__name__}, not a tensor")
            out[prefix + name] = value.detach().clone().float() if value.is_floating_point() else value.clone()
    for name, child in (state.get("_modules") or {}).items():
        if child is None:
            continue
        if not isinstance(child, PersistentStub):
            raise ArchitectureMismatchError(f"{source}: submodule {prefix}{name} is a {type(child).__name__}")
        out.update(flatten_state(child, source, f"{prefix}{name}."))
    return out


def _kw(kwargs: dict, *path: str, default: Any = None) -> Any:
    """First value found among top-level and nested `synthesis_kwargs`/`mapping_kwargs` keys."""
    for scope in (kwargs, kwargs.get("synthesis_kwargs") or {}, kwargs.get("mapping_kwargs") or {}):
        for key in path:
            if key in scope and scope[key] is not None:
                return scope[key]
    return default


def generator_state(net: PersistentStub, source: str) -> tuple[dict[str, torch.Tensor], dict]:
    """State dict and the extra config (what shapes cannot tell) of an NVlabs Generator stub."""
    if net.class_name not in SUPPORTED_G:
        raise ArchitectureMismatchError(f"{source}: network class {net.class_name!r} is not a StyleGAN2 Generator")
    kwargs = net.init_kwargs
    sd = flatten_state(net, source)
    if any(k.startswith("synthesis.input.") or "magnitude_ema" in k for k in sd):
        raise ArchitectureMismatchError(
            f"{source}: this is a StyleGAN3 (alias-free) generator; only StyleGAN2 synthesis networks are supported")
    arch = _kw(kwargs, "architecture", default="skip")
    if arch != "skip":
        raise ArchitectureMismatchError(f"{source}: generator architecture {arch!r} is not supported (only 'skip')")
    clamp = _kw(kwargs, "conv_clamp")
    extra = dict(conv_clamp=float(clamp) if clamp is not None else None,
                 num_fp16_res=int(_kw(kwargs, "num_fp16_res", default=0)),
                 mapping_lr_multiplier=float(_kw(kwargs, "lr_multiplier", default=0.01)),
                 w_avg_beta=float(_kw(kwargs, "w_avg_beta", default=0.995)))
    return sd, extra


def discriminator_state(net: PersistentStub, source: str) -> tuple[dict[str, torch.Tensor], dict]:
    if net.class_name not in SUPPORTED_D:
        raise ArchitectureMismatchError(f"{source}: network class {net.class_name!r} is not a Discriminator")
    kwargs = net.init_kwargs
    arch = _kw(kwargs, "architecture", default="resnet")
    if arch != "resnet":
        raise ArchitectureMismatchError(f"{source}: discriminator architecture {arch!r} is not supported")
    clamp = _kw(kwargs, "conv_clamp")
    return flatten_state(net, source), dict(conv_clamp=float(clamp) if clamp is not None else None,
                                            mbstd_group_size=int(_kw(kwargs, "mbstd_group_size", default=4)))


def pick_network(obj: Any, source: str, which: str) -> PersistentStub | TFNetworkStub:
    """`which` = 'G' (prefers G_ema / Gs) or 'D' from a snapshot dict or a TF `(G, D, Gs)` tuple."""
    if isinstance(obj, dict):
        keys = ("G_ema", "G") if which == "G" else ("D",)
        for key in keys:
            if isinstance(obj.get(key), (PersistentStub, TFNetworkStub)):
                return obj[key]
        raise ArchitectureMismatchError(
            f"{source}: the pickle holds no {' or '.join(keys)} network (keys: {sorted(map(str, obj))})")
    if isinstance(obj, tuple) and len(obj) == 3 and all(isinstance(o, TFNetworkStub) for o in obj):
        return obj[2] if which == "G" else obj[1]
    if isinstance(obj, PersistentStub):
        return obj
    raise UnknownFormatError(f"{source}: a pickle, but not an NVlabs snapshot (found {type(obj).__name__})")


def as_numpy(v: Any) -> np.ndarray:
    return v.numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
