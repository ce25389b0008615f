"""Calibration: an edit's strength in the attribute's own unit (degrees, 0-1 expression units).

An edit moves a latent by a raw amount (σ along a direction, an InterFaceGAN distance, a multiple of a
Delta-GAN reference Δ). `measure` applies it at a grid of raw strengths to held-out samples, reads
the attribute with the oracle before and after, and keeps the mean achieved change at each raw
strength: a curve through (0, 0). `Calibration.to_raw` inverts that curve (monotone piecewise-linear;
linear beyond the measured ends), so `edit.apply(ws, 15.0)` on a yaw edit asks for a 15° turn. Beyond
the measured range nothing was checked (the achieved change saturates, the face drifts off the training
distribution): `to_raw` extrapolates and warns once per edit (`OutOfRangeWarning`); the demo's sliders
stop at the range and its API clamps to it.

    >>> cal = Calibration([-2, 0, 2], [-31.0, 0.0, 29.0], "yaw", "deg")
    >>> float(cal.to_raw(torch.tensor([14.5])))
    1.0
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .attributes import get


def _pava(y: np.ndarray) -> np.ndarray:
    """Least-squares non-decreasing fit to `y` (pool adjacent violators)."""
    blocks: list[list[float]] = []  # [sum, count]
    for v in y:
        blocks.append([float(v), 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            s, c = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += c
    return np.concatenate([np.full(int(c), s / c) for s, c in blocks])


class OutOfRangeWarning(UserWarning):
    """A calibrated edit was asked for a change beyond the range its calibration measured."""


class Calibration:
    """A monotone curve from raw edit strength to the achieved attribute change.

    Args:
        raw: `[K]` raw strengths, one of them 0.
        achieved: `[K]` mean attribute change measured at each (in `unit`), 0 at raw 0.
        attribute, unit: what was measured (`edits.attributes`).
        info: how it was measured (samples, seed, spread at each point).

    Raises:
        ValueError: fewer than 2 points besides 0, no raw 0, or a curve that does not move the
            attribute (flat after the monotone fit): such an edit cannot be calibrated.
    """

    def __init__(self, raw: Sequence[float], achieved: Sequence[float], attribute: str, unit: str,
                 info: dict[str, Any] | None = None):
        r = np.asarray(raw, dtype=np.float64)
        a = np.asarray(achieved, dtype=np.float64)
        if r.ndim != 1 or r.shape != a.shape or len(r) < 3 or not np.isfinite(r).all() or not np.isfinite(a).all():
            raise ValueError(f"a calibration needs >= 3 finite (raw, achieved) points, got {len(r)}")
        if not np.any(r == 0):
            raise ValueError("a calibration needs the point raw = 0 (achieved 0)")
        order = np.argsort(r)
        r, a = r[order], a[order] - a[order][r[order] == 0][0]
        self.sign = 1.0 if np.polyfit(r, a, 1)[0] >= 0 else -1.0  # an edit may move the attribute down
        fit = self.sign * _pava(self.sign * a)
        # the curve passes through (0, 0): each side keeps its sign (monotone fits stay monotone)
        fit = np.where(r < 0, np.minimum(self.sign * fit, 0), np.maximum(self.sign * fit, 0)) * self.sign
        fit[r == 0] = 0.0
        # merge raw points that achieve the same change, so the inverse is a function
        keep_r, keep_a = [], []
        for v in np.unique(fit):
            sel = fit == v
            keep_r.append(float(r[sel].mean()) if not np.any(r[sel] == 0) else 0.0)
            keep_a.append(float(v))
        if len(keep_a) < 2 or max(keep_a) - min(keep_a) <= 1e-9:
            raise ValueError(f"this edit does not change {attribute} measurably (achieved {a.round(4).tolist()} "
                             f"at raw {r.tolist()}); it cannot be calibrated")
        o = np.argsort(keep_a)
        self.raw_points = torch.tensor(np.asarray(keep_r)[o], dtype=torch.float64)
        self.achieved_points = torch.tensor(np.asarray(keep_a)[o], dtype=torch.float64)
        self.measured_raw, self.measured_achieved = r.tolist(), a.tolist()
        self.attribute, self.unit, self.info = attribute, unit, dict(info or {})
        self._warned = False  # OutOfRangeWarning is given once per calibration (one per edit)

    @property
    def range(self) -> tuple[float, float]:
        """The achieved changes the curve spans (measured, not extrapolated), in `unit`."""
        return float(self.achieved_points[0]), float(self.achieved_points[-1])

    @staticmethod
    def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
        xp, fp = xp.to(x), fp.to(x)
        i = torch.searchsorted(xp, x.detach().contiguous()).clamp(1, len(xp) - 1)
        x0, x1, f0, f1 = xp[i - 1], xp[i], fp[i - 1], fp[i]
        return f0 + (x - x0) * (f1 - f0) / (x1 - x0)  # the end segments extend linearly

    def to_raw(self, strength: torch.Tensor) -> torch.Tensor:
        """Raw strengths `[N]` that achieve `strength` `[N]` (in `unit`); 0 maps to exactly 0; differentiable.

        Strengths outside `range` are extrapolated linearly, with one `OutOfRangeWarning` per calibration.
        """
        lo, hi = self.range
        tol = 1e-6 * max(hi - lo, 1e-12)  # slider ends rounded to the range are inside
        outside = (strength.detach() < lo - tol) | (strength.detach() > hi + tol)
        if not self._warned and bool(outside.any()):
            self._warned = True
            bad = float(strength.detach()[outside][0])
            warnings.warn(f"{self.attribute} change {bad:+g} {self.unit} is outside the calibrated range "
                          f"[{lo:+.3g}, {hi:+.3g}] {self.unit}: extrapolated, not measured (warned once per edit)",
                          OutOfRangeWarning, stacklevel=3)
        out = self._interp(strength, self.achieved_points, self.raw_points)
        return torch.where(strength == 0, torch.zeros_like(out), out)

    def to_unit(self, raw: torch.Tensor) -> torch.Tensor:
        """The achieved change `[N]` (in `unit`) the curve predicts for raw strengths `[N]`."""
        return self._interp(raw, self.raw_points, self.achieved_points)

    def to_config(self) -> dict[str, Any]:
        """JSON-able form (saved in the edit's config.json)."""
        return {"raw": self.measured_raw, "achieved": self.measured_achieved, "attribute": self.attribute,
                "unit": self.unit, "info": self.info}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Calibration":
        return cls(config["raw"], config["achieved"], config["attribute"], config["unit"], config.get("info"))

    def __repr__(self) -> str:
        lo, hi = self.range
        return f"Calibration({self.attribute}, {lo:+.3g}..{hi:+.3g} {self.unit} over raw {self.measured_raw})"


def held_out_ws(G: Any, num: int, seed: int = 1_000_000, truncation_psi: float = 1.0) -> torch.Tensor:
    """`[num, num_ws, w_dim]` mapped samples for measuring (seeds from `seed` on: apart from training seeds)."""
    device = G.w_avg.device
    z = torch.from_numpy(np.random.RandomState(seed).randn(num, G.z_dim)).to(device, torch.float32)
    with torch.no_grad():
        return G.mapping(z, truncation_psi=truncation_psi)


@torch.no_grad()
def roomy_ws(G: Any, oracle: Any, attribute: str, num: int, seed: int = 1_000_000, central: float = 0.6,
             batch: int = 64) -> torch.Tensor:
    """`[num, num_ws, w_dim]` held-out samples whose `attribute` reads inside the central `central` share of
    the renderer's range, so an edit has room to move either way (a head turned 65° cannot turn 15° more,
    and averaging such heads in would make the calibration overshoot on the others)."""
    attr = get(attribute)
    lo, hi = attr.limits
    mid, half = (lo + hi) / 2, (hi - lo) / 2 * central
    kept, start = [], seed
    while sum(len(k) for k in kept) < num:
        ws = held_out_ws(G, batch, start)
        start += batch
        score = read_attribute(G, oracle, attribute, ws, batch)
        kept.append(ws[(score - mid).abs() <= half])
        if start - seed > 100 * max(num, batch):
            raise ValueError(f"too few samples of this generator read {attribute} inside "
                             f"{mid - half:g}..{mid + half:g} {attr.unit}; pass ws= to measure on latents of your choice")
    return torch.cat(kept)[:num]


def read_attribute(G: Any, oracle: Any, attribute: str, source: torch.Tensor | dict[str, torch.Tensor],
                   batch: int = 32) -> torch.Tensor:
    """Oracle reading of `attribute` on `G`'s images of `source`: `[N]` in the attribute's unit.

    `source` is ws `[N, num_ws, w_dim]` or an S-space styles dict (`G.synthesis.ws_to_styles`, StyleSpace)."""
    attr = get(attribute)
    n = len(next(iter(source.values()))) if isinstance(source, dict) else len(source)
    out = []
    with torch.no_grad():
        for i in range(0, n, batch):
            if isinstance(source, dict):
                img = G.synthesis(styles={k: v[i:i + batch] for k, v in source.items()}, noise_mode="const")
            else:
                img = G.synthesis(source[i:i + batch], noise_mode="const")
            out.append(attr.score(oracle.predict(img, mirror_identity=False)))
    return torch.cat(out)


def attribute_change(G: Any, oracle: Any, attribute: str, ws: torch.Tensor,
                     edited: torch.Tensor | dict[str, torch.Tensor], batch: int = 32,
                     before: torch.Tensor | None = None) -> torch.Tensor:
    """Oracle reading of `attribute` on `G(edited)` minus on `G(ws)`: `[N]` in the attribute's unit.

    `edited` is ws `[N, num_ws, w_dim]` or an S-space styles dict (StyleSpace); `before` is the reading of
    `ws` when already known (`read_attribute`), so a sweep over strengths renders the originals once."""
    if before is None:
        before = read_attribute(G, oracle, attribute, ws, batch)
    return read_attribute(G, oracle, attribute, edited, batch) - before


def measure(G: Any, apply_raw: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], attribute: str,
            raw_grid: Sequence[float], *, oracle: Any = None, ws: torch.Tensor | None = None, num: int = 64,
            seed: int = 1_000_000, progress: bool = False) -> Calibration:
    """Measure how far an edit moves `attribute` at each raw strength and return the fitted `Calibration`.

    Args:
        G: the generator.
        apply_raw: `(ws [N, num_ws, w_dim], raw [N]) -> edited ws` (or an edited S-space styles dict, for
            StyleSpace edits): the edit in raw units.
        attribute: an `edits.attributes` name (ValueError for one the oracle cannot score).
        raw_grid: raw strengths to try (0 is added).
        oracle: the attribute oracle (default: `synthetic.oracle.load()`).
        ws: latents to measure on (default: `num` held-out samples of G from `seed` that leave the edit
            room, `roomy_ws`).
    """
    attr = get(attribute)
    if oracle is None:
        from synthetic import oracle as oracle_mod

        oracle = oracle_mod.load()
    ws = roomy_ws(G, oracle, attribute, num, seed) if ws is None else ws
    grid = sorted({float(r) for r in raw_grid} | {0.0})
    achieved, spread = [], []
    before = read_attribute(G, oracle, attribute, ws)  # once for every strength
    for r in tqdm(grid, desc=f"calibrate {attribute}", unit="strength", disable=not progress):
        if r == 0:
            achieved.append(0.0)
            spread.append(0.0)
            continue
        with torch.no_grad():
            edited = apply_raw(ws, torch.full((len(ws),), r, dtype=ws.dtype, device=ws.device))
        d = attribute_change(G, oracle, attribute, ws, edited, before=before)
        achieved.append(float(d.mean()))
        spread.append(float(d.std()))
    info = {"samples": len(ws), "seed": seed, "std": spread}
    cal = Calibration(grid, achieved, attr.name, attr.unit, info)
    lo, hi = cal.range
    if min(-lo, hi) < attr.noticeable:
        raise ValueError(f"this edit does not move {attr.name} noticeably both ways: the calibrated curve spans "
                         f"{lo:+.3g}..{hi:+.3g} {attr.unit} over raw strengths {grid[0]:g}..{grid[-1]:g} (needed: "
                         f"±{attr.noticeable:g}; measured {[round(a, 4) for a in achieved]}); it cannot be calibrated")
    return cal


def recalibrate(G: Any, edit: Any, raw_grid: Sequence[float] | None = None, *, oracle: Any = None, num: int = 64,
                progress: bool = False) -> Calibration:
    """Measure a calibrated edit again (other samples, a retrained oracle) and return the new `Calibration`;
    `edit` itself is left as it was (assign the result to `edit.calibration` and save to keep it).

    Args:
        raw_grid: raw strengths (default: those of its current calibration).
    """
    if edit.attribute is None:
        raise ValueError(f"{edit.name} has no attribute to calibrate to")
    if raw_grid is None:
        if edit.calibration is None:
            raise ValueError(f"{edit.name} is not calibrated yet: pass raw_grid")
        raw_grid = [r for r in edit.calibration.measured_raw if r != 0]
    saved = edit.calibration
    edit.calibration = None  # strengths below are raw
    try:
        if getattr(edit, "space", "w") == "s":
            def apply_raw(ws: torch.Tensor, a: torch.Tensor):
                return edit.apply_styles(G.synthesis.ws_to_styles(ws), a)
        else:
            def apply_raw(ws: torch.Tensor, a: torch.Tensor):
                return edit.apply(ws, a)
        return measure(G, apply_raw, edit.attribute, raw_grid, oracle=oracle, num=num, progress=progress)
    finally:
        edit.calibration = saved


__all__ = ["Calibration", "measure", "recalibrate", "held_out_ws", "roomy_ws", "read_attribute", "attribute_change"]
