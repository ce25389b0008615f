"""Small helpers shared by the whole project: shape checks, seeds, number ranges."""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import torch


def assert_shape(tensor: torch.Tensor, shape: Sequence[int | None], name: str = "tensor") -> None:
    """Raise ValueError unless `tensor.shape` matches `shape` (None = any size)."""
    if tensor.ndim != len(shape) or any(s is not None and s != t for s, t in zip(shape, tensor.shape)):
        want = "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"
        raise ValueError(f"{name} must have shape {want}, got {list(tensor.shape)}")


def seed_to_z(seed: int, z_dim: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The official scripts' latent for `seed`: `RandomState(seed).randn(1, z_dim)` as float32 `[1, z_dim]`."""
    return torch.from_numpy(np.random.RandomState(seed).randn(1, z_dim)).float().to(device)


def parse_range(spec: str | Sequence[int]) -> list[int]:
    """'0,1,4-6' -> [0, 1, 4, 5, 6] (NVlabs' --seeds syntax)."""
    if not isinstance(spec, str):
        return [int(v) for v in spec]
    out: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        m = re.fullmatch(r"(-?\d+)-(-?\d+)", part)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise ValueError(f"bad range {part!r}: end before start")
            out.extend(range(lo, hi + 1))
        elif re.fullmatch(r"-?\d+", part):
            out.append(int(part))
        else:
            raise ValueError(f"cannot parse {part!r} in {spec!r}; expected e.g. '0,1,4-6'")
    return out
