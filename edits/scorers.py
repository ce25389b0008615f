"""Attribute scorers for generators the synthetic oracle cannot read (real faces, FFHQ): measures on
dlib's 68 landmarks, for InterFaceGAN (`interfacegan(G, name, scorer=landmark_scorer(name), calibrate=False)`).

- `mouth_open`: inner-lip gap over mouth width (points 61-63 vs 65-67, corners 48 and 54).
- `eyes_closed`: 1 − eye aspect ratio (Soukupová & Čech 2016, EAR = (|p2−p6| + |p3−p5|) / (2|p1−p4|),
  mean of both eyes); higher = more closed.
- `yaw`: nose tip (30) offset from the midpoint of the jaw ends (0, 16), over their distance; > 0 when
  the face turns towards image right.
- `smile`: mouth width over the outer-eye-corner distance (36, 45).

A face the detector does not find scores NaN; `interfacegan` leaves such samples out.

    >>> from edits.scorers import landmark_scorer
    >>> score = landmark_scorer("mouth_open")       # images [N, 3, H, W] in [-1, 1] -> [N]
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch


def _d(lm: np.ndarray, i: int, j: int) -> float:
    return float(np.linalg.norm(lm[i] - lm[j]))


def mouth_open(lm: np.ndarray) -> float:
    """Inner-lip gap / mouth width, from landmarks `[68, 2]`."""
    gap = np.mean([_d(lm, a, b) for a, b in ((61, 67), (62, 66), (63, 65))])
    return float(gap / max(_d(lm, 48, 54), 1e-6))


def eyes_closed(lm: np.ndarray) -> float:
    """1 − mean eye aspect ratio of both eyes, from landmarks `[68, 2]`."""
    def ear(p: list[int]) -> float:
        return (_d(lm, p[1], p[5]) + _d(lm, p[2], p[4])) / (2 * max(_d(lm, p[0], p[3]), 1e-6))

    return float(1 - (ear(list(range(36, 42))) + ear(list(range(42, 48)))) / 2)


def yaw(lm: np.ndarray) -> float:
    """Nose-tip offset from the jaw-ends midpoint over the jaw width, from landmarks `[68, 2]` (+ = image right)."""
    mid = (lm[0] + lm[16]) / 2
    return float((lm[30, 0] - mid[0]) / max(_d(lm, 0, 16), 1e-6))


def smile(lm: np.ndarray) -> float:
    """Mouth width / outer-eye-corner distance, from landmarks `[68, 2]`."""
    return float(_d(lm, 48, 54) / max(_d(lm, 36, 45), 1e-6))


MEASURES: dict[str, Callable[[np.ndarray], float]] = {
    "mouth_open": mouth_open, "eyes_closed": eyes_closed, "yaw": yaw, "smile": smile}


def landmark_scorer(measure: str | Callable[[np.ndarray], float], detector: Any = "hog",
                    upsample: int = 1) -> Callable[[torch.Tensor], torch.Tensor]:
    """A scorer `images [N, 3, H, W] in [-1, 1] -> [N]` from a landmark measure (a `MEASURES` name or
    `f(landmarks [68, 2]) -> float`); NaN where no face is found, the largest face where several are.

    Args:
        detector: 'hog', 'cnn' or any `inversion.landmarks.Detector`.
        upsample: dlib's upsampling (faces smaller than ~80 px need 1 or more).
    """
    from inversion.landmarks import get_detector
    from sgtcore.images import to_uint8

    if isinstance(measure, str):
        if measure not in MEASURES:
            raise ValueError(f"unknown landmark measure {measure!r}; choose one of {', '.join(MEASURES)} "
                             "or pass a function of the 68 landmarks")
        measure = MEASURES[measure]
    find = get_detector(detector, upsample)

    def score(images: torch.Tensor) -> torch.Tensor:
        out = []
        for img in to_uint8(images.detach().cpu()):
            faces = find(img)
            if not faces:
                out.append(float("nan"))
                continue
            lm = max(faces, key=lambda f: np.ptp(f[:, 0]) * np.ptp(f[:, 1]))
            out.append(measure(lm))
        return torch.tensor(out, dtype=torch.float64)

    return score


__all__ = ["landmark_scorer", "MEASURES", "mouth_open", "eyes_closed", "yaw", "smile"]
