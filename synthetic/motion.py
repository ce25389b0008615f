"""Smooth head motion: T frames of one head whose pose and expression move continuously, with the exact
parameters of every frame (the ground truth a video swap or a temporal filter is measured against).

Each moving parameter follows its own slow curve, a sum of two sinusoids with seeded frequencies and
phases (0.5-1.5 and 1.5-3 cycles over the sequence, weights 0.7 and 0.3), scaled into a band around
a band: pose swings around frontal (yaw ±30°, pitch ±12°, roll ±8° by default), the smile, the open mouth
and the raised brows rise and fall between 0 and 0.8, 0.5 and 0.4. Identity, lighting, camera and the eyes
stay as they are (a blink is not smooth motion). With T = 60 the largest step between two frames is
about a fifth of a parameter's band (yaw: ~6° per frame).

    >>> frames = motion(sample_params(3), frames=60, seed=0)       # 60 HeadParams
    >>> truth = [swap_truth(identity, f) for f in frames]          # the exact swap of every frame
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from .params import HeadParams, param_ranges, sample_params

#: Moving parameters and the band each moves in: (group, low, high).
MOTION_BANDS: dict[str, tuple[str, float, float]] = {
    "yaw": ("pose", -30.0, 30.0),
    "pitch": ("pose", -12.0, 12.0),
    "roll": ("pose", -8.0, 8.0),
    "smile": ("expression", 0.0, 0.8),
    "mouth_open": ("expression", 0.0, 0.5),
    "brow_raise": ("expression", 0.0, 0.4),
}
MIN_FRAMES = 2


def motion_curve(frames: int, rng: np.random.Generator) -> np.ndarray:
    """`[frames]` values in [-1, 1]: 0.7 sin(2π f1 t + φ1) + 0.3 sin(2π f2 t + φ2), t in [0, 1] over the
    sequence, f1 in [0.5, 1.5] and f2 in [1.5, 3] cycles per sequence, seeded phases."""
    t = np.linspace(0.0, 1.0, frames)
    f1, f2 = rng.uniform(0.5, 1.5), rng.uniform(1.5, 3.0)
    p1, p2 = rng.uniform(0, 2 * np.pi, size=2)
    return 0.7 * np.sin(2 * np.pi * f1 * t + p1) + 0.3 * np.sin(2 * np.pi * f2 * t + p2)


def motion(base: HeadParams, frames: int = 60, seed: int = 0,
           bands: Mapping[str, tuple[float, float]] | None = None) -> list[HeadParams]:
    """The head `base` moving for `frames` frames (see the module docstring).

    Args:
        base: who, lit how, and the values of everything that does not move.
        frames: sequence length T (>= 2).
        seed: the curves' seed (same seed, same motion).
        bands: `{parameter: (low, high)}` to replace `MOTION_BANDS`' bands or add parameters (any pose or
            expression parameter); a band of (0, 0) holds the parameter at its resting value.

    Returns:
        T `HeadParams`, frame order; every value inside `synthetic.param_ranges()`.

    Raises:
        ValueError: fewer than 2 frames, an unknown or non-moving (identity, lighting) parameter, a band
            outside the parameter's range or with low > high.
    """
    if int(frames) != frames or frames < MIN_FRAMES:
        raise ValueError(f"frames must be an integer >= {MIN_FRAMES}, got {frames!r}")
    ranges = param_ranges()
    spec = {name: (group, lo, hi) for name, (group, lo, hi) in MOTION_BANDS.items()}
    for name, band in (bands or {}).items():
        group = ranges.get(name, ("?",))[0]
        if group not in ("pose", "expression"):
            raise ValueError(f"{name!r} is not a pose or expression parameter; moving ones: "
                             f"{', '.join(n for n, (g, _) in ranges.items() if g in ('pose', 'expression'))}")
        lo, hi = (float(v) for v in band)
        r_lo, r_hi = ranges[name][1]
        if not (r_lo <= lo <= hi <= r_hi):
            raise ValueError(f"band of {name} must satisfy {r_lo:g} <= low <= high <= {r_hi:g}, got ({lo:g}, {hi:g})")
        spec[name] = (group, lo, hi)
    rng = np.random.default_rng([int(seed), 0x6D6F74])  # 'mot': not the stream sample_params(seed) uses
    curves = {name: motion_curve(int(frames), rng) for name in spec}
    out = []
    for t in range(int(frames)):
        groups = {"pose": dataclasses.asdict(base.pose), "expression": dataclasses.asdict(base.expression)}
        for name, (group, lo, hi) in spec.items():  # the curve's [-1, 1] onto the band
            groups[group][name] = float(lo + (hi - lo) * (curves[name][t] + 1.0) / 2.0)
        out.append(base.replace(pose=type(base.pose)(**groups["pose"]),
                                expression=type(base.expression)(**groups["expression"])))
    return out


def motion_sequence(index: int, seed: int, frames: int = 60) -> list[HeadParams]:
    """Sequence `index` of a seeded set (as `sgt render --motion` writes it): the head
    `sample_params(default_rng([seed, index]))` moving, its eyes open and its pose and expression from the
    motion curves."""
    base = sample_params(np.random.default_rng([seed, index]))
    base = base.replace(expression=type(base.expression)())  # resting face: the motion sets what moves
    return motion(base, frames, seed=seed * 1_000_003 + index)


__all__ = ["MOTION_BANDS", "motion", "motion_curve", "motion_sequence"]
