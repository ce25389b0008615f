"""The two edit families foreign direction files need beyond `LinearEdit`.

- `RowwiseEdit`: one direction per ws row, `ws += strength · sigma · D` with `D [num_ws, w_dim]`
  (e4e's `interfacegan_directions/pose.pt` is `[1, 18, 512]`, applied as `latent + factor · direction`).
- `ComponentEdit`: a GANSpace principal component that *sets* the latent's coordinate along the
  component, in units of the component's std, on a range of ws rows (Härkönen et al. 2020, the
  "centred" edit of their notebooks and e4e's `editings/ganspace.py`), or adds to it (`mode="add"`,
  their interactive tool).

Both are saved in the one model format (`Edit.save`) and read back by `edits.load`.
"""
from __future__ import annotations

import math
import os
from typing import Iterable

import torch

from sgtcore import modelio
from sgtcore.errors import CorruptCheckpointError

from ..base import Edit, check_rows

MODES = ("set", "add")


def _vector(v: torch.Tensor, what: str, ndim: int = 1) -> torch.Tensor:
    t = torch.as_tensor(v).detach().to(torch.float32).cpu()
    if t.ndim != ndim or not torch.isfinite(t).all():
        raise ValueError(f"{what} must be a finite {ndim}-d tensor, got shape {list(t.shape)}")
    return t


def _positive(x: float, what: str) -> float:
    if not math.isfinite(float(x)) or float(x) <= 0:
        raise ValueError(f"{what} must be a positive finite number, got {x!r}")
    return float(x)


class RowwiseEdit(Edit):
    """`ws[:, rows] += strength · sigma · D[rows]`: a direction per ws row.

    Args:
        directions: `[num_ws, w_dim]`, one direction per ws row (not normalised: the rows keep the
            magnitudes the file gave them relative to each other).
        rows: the ws rows it changes by default.
        sigma: scale of one unit of strength (σ units: see `edits.formats.interfacegan`; 1: the file's own).
        name, method, attribute, unit, generator, info, metadata: see `Edit` / `LinearEdit`.
    """

    def __init__(self, directions: torch.Tensor, rows: Iterable[int], sigma: float, *, name: str, method: str,
                 attribute: str | None = None, unit: str = "σ", generator: str | None = None,
                 info: dict | None = None, metadata: dict | None = None):
        d = _vector(directions, "directions", ndim=2)
        if float(d.abs().max()) == 0:
            raise ValueError("directions are all zero")
        self.directions, self.sigma = d, _positive(sigma, "sigma")
        self.num_ws, self.w_dim = d.shape
        self.rows = check_rows(rows, self.num_ws)
        self.name, self.method, self.attribute, self.unit = name, method, attribute, unit
        self.generator, self.info, self.metadata = generator, dict(info or {}), dict(metadata or {})

    def _apply(self, ws: torch.Tensor, strength: torch.Tensor, rows: tuple[int, ...]) -> torch.Tensor:
        mask = torch.zeros(self.num_ws, dtype=ws.dtype, device=ws.device)
        mask[list(rows)] = 1
        step = (strength * self.sigma)[:, None, None] * self.directions.to(ws)[None]
        return ws + step * mask[None, :, None]  # exact identity where strength or mask is 0

    def to_bundle(self) -> modelio.Bundle:
        config = {"name": self.name, "method": self.method, "attribute": self.attribute, "unit": self.unit,
                  "rows": list(self.rows), "sigma": self.sigma, "num_ws": self.num_ws, "w_dim": self.w_dim,
                  "info": self.info}
        return modelio.Bundle("RowwiseEdit", "edit", {"directions": self.directions}, config, self.generator,
                              self.metadata)

    @classmethod
    def from_bundle(cls, bundle: modelio.Bundle, where: str | os.PathLike = "edit") -> "RowwiseEdit":
        """Rebuild from what `to_bundle` made (as `modelio.load` returns it)."""
        c = bundle.config
        try:
            edit = cls(bundle.tensors["directions"], c["rows"], c["sigma"], name=c["name"], method=c["method"],
                       attribute=c.get("attribute"), unit=c.get("unit", "σ"), generator=bundle.generator,
                       info=c.get("info"), metadata=bundle.metadata)
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptCheckpointError(f"{where}: not a valid RowwiseEdit ({type(exc).__name__}: {exc})") from exc
        if (edit.num_ws, edit.w_dim) != (c.get("num_ws", edit.num_ws), c.get("w_dim", edit.w_dim)):
            raise CorruptCheckpointError(f"{where}: directions are {edit.num_ws}x{edit.w_dim}, config says "
                                         f"{c.get('num_ws')}x{c.get('w_dim')}")
        return edit


class ComponentEdit(Edit):
    """A GANSpace component: set (or add to) the coordinate `(w − mean)·c / std` on some ws rows.

    `mode="set"` (GANSpace's centred edits, e4e): every changed row ends with coordinate = strength,
    `ws_r += (strength − (ws_r − mean)·c / std) · std · c`; the part of `ws_r` orthogonal to `c` is
    kept. Strength is then an absolute position in σ (0 = the mean, **not** "no change": the one family
    whose strength 0 changes ws). `mode="add"`: `ws_r += strength · std · c` (GANSpace's interactive tool).

    e4e measures the coordinate on ws row 0 only and shifts every changed row by the same amount; here
    each row is set on its own. The two agree on W latents (all rows equal), where both are GANSpace's edit.

    Args:
        mean: `[w_dim]` the PCA's mean of w.
        component: `[w_dim]` the principal component (normalised here).
        std: the std of mapped w along the component (GANSpace's `lat_stdev[k]`).
        rows: ws rows it changes by default (GANSpace's layer range [start, end)).
        num_ws: rows of the ws it edits.
        mode: "set" or "add".
        name, method, attribute, unit, generator, info, metadata: see `Edit` / `LinearEdit`.
    """

    def __init__(self, mean: torch.Tensor, component: torch.Tensor, std: float, rows: Iterable[int], *,
                 num_ws: int, name: str, mode: str = "set", method: str = "ganspace", attribute: str | None = None,
                 unit: str = "σ", generator: str | None = None, info: dict | None = None,
                 metadata: dict | None = None):
        m, c = _vector(mean, "mean"), _vector(component, "component")
        if m.shape != c.shape or float(c.norm()) == 0:
            raise ValueError(f"mean and component must be non-zero [w_dim] vectors of one size, got "
                             f"{list(m.shape)} and {list(c.shape)}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mean, self.component, self.std = m, c / c.norm(), _positive(std, "std")
        self.num_ws, self.w_dim, self.mode = int(num_ws), c.shape[0], mode
        self.rows = check_rows(rows, self.num_ws)
        self.name, self.method, self.attribute, self.unit = name, method, attribute, unit
        self.generator, self.info, self.metadata = generator, dict(info or {}), dict(metadata or {})

    def coordinate(self, ws: torch.Tensor) -> torch.Tensor:
        """`[N, num_ws, w_dim]` -> `[N, num_ws]`: each row's coordinate along the component, in σ."""
        return ((ws - self.mean.to(ws)) @ self.component.to(ws)) / self.std

    def _apply(self, ws: torch.Tensor, strength: torch.Tensor, rows: tuple[int, ...]) -> torch.Tensor:
        mask = torch.zeros(self.num_ws, dtype=ws.dtype, device=ws.device)
        mask[list(rows)] = 1
        if self.mode == "set":
            amount = strength[:, None] - self.coordinate(ws)                     # [N, num_ws], in σ
        else:
            amount = strength[:, None].expand(-1, self.num_ws)
        step = (amount * self.std * mask)[:, :, None] * self.component.to(ws)[None, None, :]
        return ws + step

    def to_bundle(self) -> modelio.Bundle:
        config = {"name": self.name, "method": self.method, "attribute": self.attribute, "unit": self.unit,
                  "rows": list(self.rows), "std": self.std, "mode": self.mode, "num_ws": self.num_ws,
                  "w_dim": self.w_dim, "info": self.info}
        return modelio.Bundle("ComponentEdit", "edit", {"mean": self.mean, "component": self.component}, config,
                              self.generator, self.metadata)

    @classmethod
    def from_bundle(cls, bundle: modelio.Bundle, where: str | os.PathLike = "edit") -> "ComponentEdit":
        """Rebuild from what `to_bundle` made (as `modelio.load` returns it)."""
        c = bundle.config
        try:
            edit = cls(bundle.tensors["mean"], bundle.tensors["component"], c["std"], c["rows"], num_ws=c["num_ws"],
                       name=c["name"], mode=c.get("mode", "set"), method=c.get("method", "ganspace"),
                       attribute=c.get("attribute"), unit=c.get("unit", "σ"), generator=bundle.generator,
                       info=c.get("info"), metadata=bundle.metadata)
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptCheckpointError(f"{where}: not a valid ComponentEdit ({type(exc).__name__}: {exc})") from exc
        if edit.w_dim != c.get("w_dim", edit.w_dim):
            raise CorruptCheckpointError(f"{where}: component has {edit.w_dim} values, config says w_dim {c['w_dim']}")
        return edit


__all__ = ["RowwiseEdit", "ComponentEdit", "MODES"]
