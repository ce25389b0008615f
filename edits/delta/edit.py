"""`DeltaEdit`: a trained Delta-GAN encoder plus a reference change, calibrated to the attribute's unit.

    >>> e = make_edit(net, data, G)                 # reference Δ = mean over training heads of E(a_first, a_last)
    >>> ws2 = e.apply(ws, 15.0)                     # D(ws, α·Δ) with α from the calibration: +15° of yaw

The raw strength α scales the reference Δ (α = 1: the change between the sequence's first and last
frame, as read off the training heads); the residual D(w, α·Δ) depends on w, so the path is not a
straight line in W+ as for linear directions.
"""
from __future__ import annotations

import os
from typing import Any, Iterable, Sequence

import torch

from sgtcore import modelio
from sgtcore.errors import CorruptCheckpointError

from ..attributes import get
from ..base import Edit, check_rows
from ..calibration import Calibration, measure
from .data import DeltaData
from .model import DeltaConfig, DeltaNet

# α values calibration measures. Out to ±3: an edit trained with the attribute and identity terms turns less per
# unit of the reference Δ (v2 yaw: 13° at α = 1, where the paper's loss alone gives ~25°), and the slider and
# the API's warning stop at the measured range; the isotonic fit pools a curve that saturates out there.
RAW_GRID = (-3.0, -2.0, -1.5, -1.0, -0.6, -0.3, 0.3, 0.6, 1.0, 1.5, 2.0, 3.0)


class DeltaEdit(Edit):
    """Delta-GAN encoder edit: `ws + mask(rows) · D(ws, α·Δ_ref)`.

    Args:
        net: trained `DeltaNet`.
        reference: `[delta_dim]` the reference change Δ_ref.
        attribute: the attribute's name (`edits.attributes`).
        generator: fingerprint of the generator the codes were inverted into.
        calibration: unit -> α (None: strength is α itself, unit "Δ").
        rows: default ws rows the change lands on (all).
        info: how it was made (heads, frames, values, training report).
        metadata: free JSON (network, command).
    """

    method = "dge"
    # 0.3 MB instead of 0.65; `make_edit` rounds the weights first, so what is saved is what was calibrated
    save_half = True

    def __init__(self, net: DeltaNet, reference: torch.Tensor, attribute: str, *, generator: str | None = None,
                 calibration: Calibration | None = None, rows: Iterable[int] | None = None,
                 info: dict | None = None, metadata: dict | None = None):
        self.net = net.eval().requires_grad_(False)
        self.reference = torch.as_tensor(reference, dtype=torch.float32).detach().reshape(-1)
        if self.reference.shape[0] != net.config.delta_dim or not torch.isfinite(self.reference).all():
            raise ValueError(f"reference must be a finite [delta_dim={net.config.delta_dim}] vector")
        attr = get(attribute)
        self.attribute, self.name = attr.name, f"dge:{attr.name}"
        self.calibration = calibration
        self.unit = attr.unit if calibration is not None else "Δ"
        self.num_ws, self.w_dim = net.config.num_ws, net.config.w_dim
        self.rows = check_rows(range(self.num_ws) if rows is None else rows, self.num_ws)
        self.generator, self.info, self.metadata = generator, dict(info or {}), dict(metadata or {})

    def raw(self, ws: torch.Tensor, alpha: torch.Tensor, rows: Sequence[int] | None = None) -> torch.Tensor:
        """The edit in raw units: `ws [N, num_ws, w_dim]`, α `[N]` -> edited ws (no calibration)."""
        rows = self.rows if rows is None else rows
        net = self.net.to(ws.device)
        delta = alpha.to(ws)[:, None] * self.reference.to(ws)[None]
        res = net.residual(ws.float(), delta.float()).to(ws.dtype)
        mask = torch.zeros(self.num_ws, dtype=ws.dtype, device=ws.device)
        mask[list(rows)] = 1
        return ws + res * mask[None, :, None]  # residual is exactly 0 at α = 0

    def _apply(self, ws: torch.Tensor, strength: torch.Tensor, rows: tuple[int, ...]) -> torch.Tensor:
        return self.raw(ws, strength, rows)

    def to_bundle(self) -> modelio.Bundle:
        tensors = {f"net.{k}": v.detach().cpu() for k, v in self.net.state_dict().items()}
        tensors["reference"] = self.reference
        config = {"name": self.name, "method": self.method, "attribute": self.attribute, "unit": self.unit,
                  "rows": list(self.rows), "num_ws": self.num_ws, "w_dim": self.w_dim,
                  "net": self.net.config.to_dict(), "info": self.info,
                  "calibration": None if self.calibration is None else self.calibration.to_config()}
        return modelio.Bundle("DeltaEdit", "edit", tensors, config, self.generator, self.metadata)

    @classmethod
    def from_bundle(cls, bundle: modelio.Bundle, where: str | os.PathLike = "edit") -> "DeltaEdit":
        """Rebuild from what `to_bundle` made (as `modelio.load` returns it)."""
        c = bundle.config
        try:
            net = DeltaNet(DeltaConfig(**c["net"]))
            state = {k[len("net."):]: v.float() for k, v in bundle.tensors.items() if k.startswith("net.")}
            modelio.load_state_strict(net, state, where, "a DeltaNet of this config")
            return cls(net, bundle.tensors["reference"].float(), c["attribute"], generator=bundle.generator,
                       calibration=Calibration.from_config(c["calibration"]) if c.get("calibration") else None,
                       rows=c.get("rows"), info=c.get("info"), metadata=bundle.metadata)
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptCheckpointError(f"{where}: not a valid DeltaEdit ({type(exc).__name__}: {exc})") from exc


@torch.no_grad()
def reference_delta(net: DeltaNet, data: DeltaData, heads: Sequence[int] | None = None) -> torch.Tensor:
    """Mean over `heads` of E(first frame, last frame): the reference Δ `[delta_dim]` (α = 1 = the full span)."""
    heads = list(range(data.heads)) if heads is None else list(heads)
    return net.encode(data.ws[heads, 0], data.ws[heads, -1]).mean(0)


def make_edit(net: DeltaNet, data: DeltaData, G: Any, *, calibrate: bool = True, oracle: Any = None,
              num: int = 64, raw_grid: Sequence[float] = RAW_GRID, info: dict | None = None,
              metadata: dict | None = None, progress: bool = False) -> DeltaEdit:
    """The `DeltaEdit` of a trained net: reference Δ from the training heads, calibrated with the oracle on
    `num` held-out samples of `G` (so strength is in the attribute's unit).

    `calibrate=False` leaves strength in α units ("Δ"): for generators whose images the synthetic
    oracle cannot read, calibrate later with `edits.calibration.measure` and your own scorer.
    """
    from stylegan import fingerprint

    with torch.no_grad():  # the weights as float16 storage will give them back
        for t in net.state_dict().values():
            if t.is_floating_point():
                t.copy_(t.half().float())
    train_heads = range(data.heads - int((info or {}).get("train", {}).get("val_heads", 0)))
    reference = reference_delta(net, data, train_heads).half().float()
    edit = DeltaEdit(net, reference, data.attribute, generator=fingerprint(G),
                     info={"heads": data.heads, "frames": data.ws.shape[1], "values": data.values,
                           "span": [data.values[0], data.values[-1]], **(info or {})},
                     metadata=metadata)
    if calibrate:
        cal = measure(G, lambda ws, a: edit.raw(ws, a), data.attribute, raw_grid, oracle=oracle, num=num,
                      progress=progress)
        edit.calibration, edit.unit = cal, cal.unit
    return edit


__all__ = ["DeltaEdit", "make_edit", "reference_delta", "RAW_GRID"]
