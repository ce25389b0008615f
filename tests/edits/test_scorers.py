"""Landmark scorers (for real-face generators) against formulas and against the renderer's ground truth."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edits.attributes import get
from edits.scorers import MEASURES, eyes_closed, landmark_scorer, mouth_open, yaw


def _face() -> np.ndarray:
    """68 landmarks of a frontal schematic face; eyes 10 wide and 4 open, mouth 40 wide and closed."""
    lm = np.zeros((68, 2))
    lm[0], lm[16], lm[30] = (0, 50), (100, 50), (50, 60)
    lm[36], lm[45] = (20, 40), (80, 40)
    for base, x0 in ((36, 20), (42, 70)):   # p1..p6 of each eye: corners 10 apart, lids 4 apart
        lm[base:base + 6] = [(x0, 40), (x0 + 3, 38), (x0 + 7, 38), (x0 + 10, 40), (x0 + 7, 42), (x0 + 3, 42)]
    lm[36], lm[45] = (20, 40), (80, 40)
    lm[48], lm[54] = (30, 80), (70, 80)
    lm[61:64] = [(40, 80), (50, 80), (60, 80)]
    lm[65:68] = [(60, 80), (50, 80), (40, 80)]
    return lm


def test_measures_follow_their_formulas():
    lm = _face()
    assert mouth_open(lm) == 0.0
    lm[65:68, 1] += 8                                  # lower inner lip 8 px down, mouth 40 wide
    assert mouth_open(lm) == pytest.approx(8 / 40)
    assert eyes_closed(lm) == pytest.approx(1 - (4 + 4) / (2 * 10))
    assert yaw(lm) == 0.0
    lm[30, 0] += 10                                    # nose tip towards image right
    assert yaw(lm) == pytest.approx(0.1)


def _renders(attribute: str, values: tuple[float, float], heads: int = 3, size: int = 256):
    from synthetic import render, sample_params

    attr = get(attribute)
    out = []
    for h in range(heads):
        p = sample_params(np.random.default_rng([31, h]))
        p.pose.yaw, p.pose.pitch, p.pose.roll = 0.0, 0.0, 0.0   # frontal enough for dlib's HOG
        for e in ("smile", "mouth_open", "eye_closed_left", "eye_closed_right"):
            setattr(p.expression, e, 0.0)
        out.append([render(attr.set(p, v), size) for v in values])
    return out


@pytest.mark.parametrize("attribute, values", [("mouth_open", (0.0, 1.0)), ("eyes_closed", (0.0, 1.0)),
                                               ("yaw", (-25.0, 25.0))])
def test_measures_rise_with_the_true_parameter_on_exact_landmarks(attribute, values):
    for low, high in _renders(attribute, values):
        assert MEASURES[attribute](high.landmarks) > MEASURES[attribute](low.landmarks)


def test_dlib_scorer_reads_the_change_and_nan_without_a_face():
    pairs = _renders("mouth_open", (0.0, 1.0), heads=2)
    images = torch.cat([r.to_tensor() for pair in pairs for r in pair] + [torch.zeros(1, 3, 256, 256)])
    s = landmark_scorer("mouth_open")(images)
    assert s.shape == (5,) and torch.isnan(s[4]) and torch.isfinite(s[:4]).all()
    assert s[1] > s[0] and s[3] > s[2]


def test_unknown_measure_names_the_known_ones():
    with pytest.raises(ValueError, match="mouth_open, eyes_closed, yaw, smile"):
        landmark_scorer("nose_length")
