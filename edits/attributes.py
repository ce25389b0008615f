"""The attributes edits are calibrated in: which renderer parameters they move, in what unit, how the
oracle reads them back, and the change the Delta-GAN encoder renders by default.

One owner of this knowledge for DGE data, InterFaceGAN scoring, calibration and the benchmark.

    >>> from edits.attributes import get
    >>> a = get("yaw"); a.unit, a.span
    ('deg', (-30.0, 30.0))
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Mapping

import torch

# what the oracle (synthetic.oracle.Oracle.predict) reads off an image, by renderer parameter name
SCORABLE = ("yaw", "pitch", "roll", "smile", "mouth_open", "eye_closed_left", "eye_closed_right", "brow_raise",
            "frown", "light_azimuth", "light_elevation")


@dataclass(frozen=True)
class Attribute:
    """One editable attribute.

    Attributes:
        name: catalogue name ("yaw", "eyes_closed", "light_direction").
        params: renderer parameters (`synthetic.params`) set together to the attribute's value; the
            oracle's reading is their mean.
        unit: "deg" (pose, light direction; signs as in `synthetic.params`: + yaw = face turns to
            image right, + pitch = looks up, + light azimuth = light from image right) or "0-1" (the
            renderer's expression parameters, 0 = neutral).
        span: (from, to) the change rendered for DGE training, in `unit`.
        doc: one line for help texts and the demo.
    """

    name: str
    params: tuple[str, ...]
    unit: str
    span: tuple[float, float]
    doc: str

    def set(self, head, value: float):
        """A copy of `HeadParams` `head` with this attribute at `value` (everything else kept)."""
        from synthetic.params import param_ranges

        out = copy.deepcopy(head)
        ranges = param_ranges()
        for p in self.params:
            group, (lo, hi) = ranges[p]
            if not lo - 1e-9 <= value <= hi + 1e-9:
                raise ValueError(f"{self.name} = {value} is outside the renderer's range [{lo}, {hi}] of {p}")
            setattr(getattr(out, group), p, float(value))
        return out

    def value(self, head) -> float:
        """The attribute's value in `HeadParams` `head` (mean of its parameters)."""
        from synthetic.params import param_ranges

        ranges = param_ranges()
        return float(sum(getattr(getattr(head, ranges[p][0]), p) for p in self.params) / len(self.params))

    @property
    def noticeable(self) -> float:
        """The smallest change worth calling an edit (the oracle's reading noise is a fraction of it):
        3° for angles, 0.05 for 0-1 expression parameters."""
        return 3.0 if self.unit == "deg" else 0.05

    @property
    def limits(self) -> tuple[float, float]:
        """The renderer's range of the attribute's parameters (the narrowest), in `unit`."""
        from synthetic.params import param_ranges

        ranges = [param_ranges()[p][1] for p in self.params]
        return max(r[0] for r in ranges), min(r[1] for r in ranges)

    def score(self, prediction: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The attribute read from an oracle prediction (`Oracle.predict` output): `[N]` in `unit`."""
        return torch.stack([prediction[p] for p in self.params]).mean(0)


ATTRIBUTES: dict[str, Attribute] = {a.name: a for a in (
    Attribute("yaw", ("yaw",), "deg", (-30.0, 30.0), "head turn, + = face turns to image right"),
    Attribute("pitch", ("pitch",), "deg", (-20.0, 20.0), "head nod, + = looks up"),
    Attribute("roll", ("roll",), "deg", (-15.0, 15.0), "head tilt, + = counter-clockwise in the image"),
    Attribute("smile", ("smile",), "0-1", (0.0, 1.0), "smile, 0 = neutral, 1 = full"),
    Attribute("mouth_open", ("mouth_open",), "0-1", (0.0, 1.0), "jaw drop, 0 = closed"),
    Attribute("eyes_closed", ("eye_closed_left", "eye_closed_right"), "0-1", (0.0, 1.0),
              "both eyes closing, 0 = open, 1 = shut"),
    Attribute("brow_raise", ("brow_raise",), "0-1", (0.0, 1.0), "both brows raised"),
    Attribute("frown", ("frown",), "0-1", (0.0, 1.0), "inner brows down and together"),
    Attribute("light_direction", ("light_azimuth",), "deg", (-50.0, 50.0),
              "key light azimuth, + = light from image right"),
)}


def get(name: str) -> Attribute:
    """The `Attribute` called `name`; ValueError naming the known ones (the oracle cannot score others)."""
    try:
        return ATTRIBUTES[name]
    except KeyError:
        raise ValueError(f"the oracle cannot score attribute {name!r}; known attributes: "
                         f"{', '.join(ATTRIBUTES)}") from None


__all__ = ["Attribute", "ATTRIBUTES", "SCORABLE", "get"]
