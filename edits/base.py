"""The Edit protocol every edit family shares, and the linear edit (SeFa, GANSpace, ...).

Every family answers the same call, `edit.apply(ws, strength, layers=None) -> ws`, so the demo, the
CLI and `edits.render` treat them alike; `apply_edit` and `EditModule` are its function and
`nn.Module` forms.

    >>> e = LinearEdit(direction, rows=range(10), sigma=0.8, name="sefa:0", method="sefa", num_ws=10)
    >>> ws2 = e.apply(ws, 2.0)            # ws [N, num_ws, w_dim]; +2 sigma along the direction
"""
from __future__ import annotations

import math
import numbers
import operator
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Iterable, Sequence

import torch

from sgtcore import modelio
from sgtcore.errors import CorruptCheckpointError

from .calibration import Calibration

Strength = float | int | torch.Tensor


def check_ws(ws: torch.Tensor, num_ws: int, w_dim: int, name: str = "ws") -> None:
    """Raise ValueError unless `ws` is a finite float tensor `[N, num_ws, w_dim]`."""
    if not isinstance(ws, torch.Tensor) or not ws.is_floating_point():
        raise ValueError(f"{name} must be a float tensor [N, num_ws, w_dim] = [N, {num_ws}, {w_dim}], "
                         f"got {type(ws).__name__}{'' if not isinstance(ws, torch.Tensor) else ' ' + str(ws.dtype)}")
    if ws.ndim != 3 or ws.shape[1] != num_ws or ws.shape[2] != w_dim:
        hint = (f"; a single w [N, {w_dim}] becomes ws with w.unsqueeze(1).repeat(1, {num_ws}, 1)"
                if ws.ndim == 2 and ws.shape[-1] == w_dim else "")
        raise ValueError(f"{name} must have shape [N, num_ws, w_dim] = [N, {num_ws}, {w_dim}], "
                         f"got {list(ws.shape)}{hint}")
    if not torch.isfinite(ws).all():
        raise ValueError(f"{name} holds NaN or Inf values; pass a finite latent")


def check_strength(strength: Strength, n: int, *, like: torch.Tensor) -> torch.Tensor:
    """`strength` (a number, or a `[N]` tensor: one per latent) as a finite `[N]` tensor on `like`'s device/dtype."""
    if isinstance(strength, bool) or not isinstance(strength, (int, float, torch.Tensor)):
        raise ValueError(f"strength must be a number or a [N] tensor, got {type(strength).__name__}")
    s = torch.as_tensor(strength, dtype=like.dtype, device=like.device)
    if s.ndim == 0:
        s = s.expand(n)
    elif s.ndim != 1 or s.shape[0] != n:
        raise ValueError(f"strength must be a number or a [N] tensor with N = {n} (one per latent in ws), "
                         f"got shape {list(s.shape)}")
    if not torch.isfinite(s).all():
        raise ValueError(f"strength must be finite, got {strength!r}")
    return s


def check_rows(layers: int | Iterable[int], num_ws: int) -> tuple[int, ...]:
    """`layers` (one ws row or an iterable of them) as sorted unique rows, each in `0..num_ws-1`."""
    items = [layers] if isinstance(layers, numbers.Integral) else list(layers)
    rows, bad = [], []
    for r in items:  # Python, NumPy and 0-d torch integers alike
        try:
            i = operator.index(r)
        except TypeError:
            bad.append(r)
            continue
        (rows if not isinstance(r, bool) and 0 <= i < num_ws else bad).append(i)
    if bad or not items:
        raise ValueError(f"layers must be ws rows in 0..{num_ws - 1} (num_ws = {num_ws}); "
                         f"got {'nothing' if not items else bad}")
    return tuple(sorted(set(rows)))


class Edit(ABC):
    """What every edit family provides.

    Attributes:
        name: the catalogue name, `"method:attribute"` or `"method:component"` (`"sefa:0"`).
        method: the family (`"sefa"`, `"ganspace"`, ...).
        attribute: the calibrated attribute (`"yaw"`), None for uncalibrated components.
        unit: what one unit of strength means: `"σ"` = one standard deviation of the mapped latent
            distribution along the direction (SeFa, GANSpace components).
        generator: fingerprint of the generator it was made for.
        num_ws, w_dim: the latent shape it edits.
        rows: the ws rows the edit changes by default.
        metadata: free JSON (network name, the command that made it).
        calibration: the measured curve from `unit` to the edit's raw strength (`edits.calibration`),
            None when strength is already raw (σ units).
    """

    name: str
    method: str
    attribute: str | None
    unit: str
    generator: str | None
    num_ws: int
    w_dim: int
    rows: tuple[int, ...]
    metadata: dict
    calibration: "Calibration | None" = None
    space: str = "w"  # what it edits: "w" = ws via `apply`; "s" = S-space styles via `apply_styles` (StyleSpace)

    @property
    def range(self) -> tuple[float, float]:
        """Strengths (in `unit`) the edit was measured over: a slider's natural range; ±3 σ when uncalibrated."""
        return self.calibration.range if self.calibration is not None else (-3.0, 3.0)

    def apply(self, ws: torch.Tensor, strength: Strength, layers: int | Iterable[int] | None = None) -> torch.Tensor:
        """Edit latents; `strength` 0 returns `ws` unchanged (bit for bit).

        Args:
            ws: `[N, num_ws, w_dim]`.
            strength: a number or a `[N]` tensor, in `self.unit`.
            layers: ws rows the change may land on (default `self.rows`).

        Returns:
            A new tensor `[N, num_ws, w_dim]` (differentiable in `ws` and a tensor `strength`).

        Raises:
            ValueError: wrong ws shape, NaN/Inf in ws or strength, a strength of the wrong length, rows
                out of range.
        """
        check_ws(ws, self.num_ws, self.w_dim)
        s = check_strength(strength, ws.shape[0], like=ws)
        if self.calibration is not None:
            s = self.calibration.to_raw(s)  # unit -> raw; 0 stays exactly 0
        rows = self.rows if layers is None else check_rows(layers, self.num_ws)
        return self._apply(ws, s, rows)

    @abstractmethod
    def _apply(self, ws: torch.Tensor, strength: torch.Tensor, rows: tuple[int, ...]) -> torch.Tensor:
        """`apply` after validation: `strength` is `[N]` raw (after calibration), `rows` valid."""

    @abstractmethod
    def to_bundle(self) -> modelio.Bundle:
        """The edit as plain data in the one model format."""

    save_half = False  # store float16 (networks); directions stay float32

    def save(self, directory: str | os.PathLike, metadata: dict | None = None) -> Path:
        """Write the edit as a model folder (`config.json` + `model.safetensors`, kind "edit")."""
        meta = dict(self.metadata) if metadata is None else metadata
        return modelio.save(self.to_bundle(), directory, generator=self.generator, metadata=meta, half=self.save_half)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, method={self.method!r}, attribute={self.attribute!r}, "
                f"unit={self.unit!r}, rows={list(self.rows)}, generator={self.generator!r})")


class LinearEdit(Edit):
    """`ws[:, rows] += strength * sigma * direction`: a direction in W applied to some ws rows.

    Args:
        direction: `[w_dim]` unit vector.
        rows: the ws rows it changes by default.
        sigma: the latent distribution's standard deviation along `direction` (so strength is in σ).
        name, method, attribute, unit: see `Edit`.
        num_ws: rows of the ws it edits.
        generator: fingerprint of the generator it belongs to.
        info: JSON-able facts of how it was made (component, eigenvalue, layers, samples, seed).
        metadata: free JSON saved beside it (network name, command).
        calibration: makes strength mean the attribute's unit (InterFaceGAN); then `sigma` scales the raw
            strength (1: raw = distance along the unit direction).
    """

    def __init__(self, direction: torch.Tensor, rows: Iterable[int], sigma: float, *, name: str, method: str,
                 num_ws: int, attribute: str | None = None, unit: str = "σ", generator: str | None = None,
                 info: dict | None = None, metadata: dict | None = None, calibration: Calibration | None = None):
        d = torch.as_tensor(direction).detach().to(torch.float32).cpu()
        if d.ndim != 1 or not torch.isfinite(d).all() or float(d.norm()) == 0:
            raise ValueError(f"direction must be a finite, non-zero [w_dim] vector, got shape {list(d.shape)}")
        if not math.isfinite(float(sigma)) or float(sigma) <= 0:
            raise ValueError(f"sigma must be a positive finite number, got {sigma!r}")
        self.direction, self.sigma = d, float(sigma)
        self.num_ws, self.w_dim = int(num_ws), d.shape[0]
        self.rows = check_rows(rows, self.num_ws)
        self.name, self.method, self.attribute, self.unit = name, method, attribute, unit
        self.generator, self.info, self.metadata = generator, dict(info or {}), dict(metadata or {})
        self.calibration = calibration

    def _apply(self, ws: torch.Tensor, strength: torch.Tensor, rows: tuple[int, ...]) -> torch.Tensor:
        mask = torch.zeros(self.num_ws, dtype=ws.dtype, device=ws.device)
        mask[list(rows)] = 1
        step = (strength * self.sigma)[:, None, None] * self.direction.to(ws)[None, None, :]
        return ws + step * mask[None, :, None]  # exact identity where strength or mask is 0

    def to_bundle(self) -> modelio.Bundle:
        config = {"name": self.name, "method": self.method, "attribute": self.attribute, "unit": self.unit,
                  "rows": list(self.rows), "sigma": self.sigma, "num_ws": self.num_ws, "w_dim": self.w_dim,
                  "info": self.info,
                  "calibration": None if self.calibration is None else self.calibration.to_config()}
        return modelio.Bundle("LinearEdit", "edit", {"direction": self.direction}, config, self.generator,
                              self.metadata)

    @classmethod
    def from_bundle(cls, bundle: modelio.Bundle, where: str | os.PathLike = "edit") -> "LinearEdit":
        """Rebuild from what `to_bundle` made (as `modelio.load` returns it)."""
        c = bundle.config
        try:
            edit = cls(bundle.tensors["direction"], c["rows"], c["sigma"], name=c["name"], method=c["method"],
                       num_ws=c["num_ws"], attribute=c.get("attribute"), unit=c.get("unit", "σ"),
                       generator=bundle.generator, info=c.get("info"), metadata=bundle.metadata,
                       calibration=Calibration.from_config(c["calibration"]) if c.get("calibration") else None)
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptCheckpointError(f"{where}: not a valid LinearEdit ({type(exc).__name__}: {exc})") from exc
        if edit.w_dim != c.get("w_dim", edit.w_dim):
            raise CorruptCheckpointError(f"{where}: direction has {edit.w_dim} values, config says w_dim {c['w_dim']}")
        return edit


def apply_edit(ws: torch.Tensor, edit: Edit, strength: Strength,
               layers: int | Iterable[int] | None = None) -> torch.Tensor:
    """Function form of `edit.apply(ws, strength, layers)`; see `Edit.apply`.

    Shape:
        ws: `[N, num_ws, w_dim]` -> `[N, num_ws, w_dim]`; strength: a number or `[N]`.
    """
    return edit.apply(ws, strength, layers)


class EditModule(torch.nn.Module):
    """`nn.Module` form of an edit: `EditModule(edit)(ws, strength)` == `apply_edit(ws, edit, strength)`.

    Args:
        edit: any `Edit`.
        layers: default ws rows (None: the edit's own).
    """

    def __init__(self, edit: Edit, layers: Sequence[int] | None = None):
        super().__init__()
        self.edit, self.layers = edit, layers

    def forward(self, ws: torch.Tensor, strength: Strength, layers: int | Iterable[int] | None = None) -> torch.Tensor:
        return apply_edit(ws, self.edit, strength, self.layers if layers is None else layers)


__all__ = ["Edit", "LinearEdit", "EditModule", "apply_edit", "check_ws", "check_strength", "check_rows"]
