"""One-attribute pairs and the ground truth of a face swap."""
from __future__ import annotations

import copy
import dataclasses

import numpy as np

from .params import GROUPS, HAIR_STYLES, HeadParams, param_ranges, sample_identity, sample_params
from .params import sample_expression, sample_lighting, sample_pose
from .renderer import Render, render

# composite attributes: several parameters that move together
ALIASES: dict[str, tuple[str, ...]] = {
    "eyes_closed": ("eye_closed_left", "eye_closed_right"),
    "wink": ("eye_closed_left",),
    "light_direction": ("light_azimuth", "light_elevation"),
    "hair": ("hair_style", "hair_color"),
    "camera": ("camera_distance", "fov"),
}
_SAMPLERS = {
    "identity": sample_identity,
    "expression": sample_expression,
    "pose": sample_pose,
    "lighting": sample_lighting,
}
PAIR_ATTRIBUTES: tuple[str, ...] = GROUPS + tuple(ALIASES) + tuple(param_ranges()) + ("glasses",)


def _resolve(attribute: str) -> tuple[str, ...]:
    if attribute in ALIASES:
        return ALIASES[attribute]
    if attribute in param_ranges() or attribute == "glasses":
        return (attribute,)
    raise ValueError(f"unknown pair attribute {attribute!r}; choose one of {', '.join(PAIR_ATTRIBUTES)}")


def _group_of(name: str) -> str:
    return "identity" if name == "glasses" else param_ranges()[name][0]


def pair_params(
    attribute: str, rng: np.random.Generator | int | None = None, strength: float = 1.0, base: HeadParams | None = None
) -> tuple[HeadParams, HeadParams]:
    """Two parameter sets equal in everything except ``attribute``.

    Args:
        attribute: a group (``identity``, ``expression``, ``pose``, ``lighting``), a composite
            (``eyes_closed``, ``wink``, ``light_direction``, ``hair``, ``camera``) or any single
            parameter name (``yaw``, ``smile``, ``background``, ``glasses``...).
        rng: generator or seed.
        strength: in (0, 1]. For a scalar parameter, ``b - a = strength * (hi - lo)`` with ``a``
            drawn so that both fit the range (``smile`` at strength 1: 0 -> 1; ``yaw`` at 0.5:
            a 70 degree turn). For a group, ``b`` moves ``strength`` of the way from ``a`` to a
            freshly sampled group (discrete fields switch).
        base: the parameters of ``a`` before the attribute is set (random if None).
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    if not (0 < strength <= 1):
        raise ValueError(f"strength = {strength!r} is out of range (0, 1]")
    a = copy.deepcopy(base) if base is not None else sample_params(rng)
    b = copy.deepcopy(a)
    if attribute in GROUPS:
        ga, gn = getattr(a, attribute), _SAMPLERS[attribute](rng)
        new = {}
        for f in dataclasses.fields(ga):
            va, vn = getattr(ga, f.name), getattr(gn, f.name)
            if isinstance(va, bool) or isinstance(va, int) and not isinstance(va, bool):
                new[f.name] = vn
            elif isinstance(va, tuple):
                new[f.name] = tuple(float(x + strength * (y - x)) for x, y in zip(va, vn))
            else:
                new[f.name] = float(va + strength * (vn - va))
        setattr(b, attribute, dataclasses.replace(ga, **new))
        return a, b
    names = _resolve(attribute)
    ranges = param_ranges()
    for name in names:
        ga, gb = getattr(a, _group_of(name)), getattr(b, _group_of(name))
        if name == "glasses":
            ga.glasses, gb.glasses = False, True
        elif name == "hair_style":
            s = rng.choice(len(HAIR_STYLES), size=2, replace=False)
            ga.hair_style, gb.hair_style = int(s[0]), int(s[1])
        elif name == "background":
            new = rng.uniform(0.15, 0.9, size=3)
            gb.background = tuple(float(x + strength * (y - x)) for x, y in zip(ga.background, new))
        else:
            lo, hi = ranges[name][1]
            delta = strength * (hi - lo)
            va = float(rng.uniform(lo, hi - delta))
            setattr(ga, name, va)
            setattr(gb, name, min(va + delta, hi))
    # composites share one draw so e.g. both eyes close by the same amount
    if len(names) > 1 and all(_group_of(n) == "expression" for n in names):
        for n in names[1:]:
            setattr(a.expression, n, getattr(a.expression, names[0]))
            setattr(b.expression, n, getattr(b.expression, names[0]))
    return a, b


def make_pair(
    attribute: str,
    rng: np.random.Generator | int | None = None,
    strength: float = 1.0,
    size: int = 256,
    base: HeadParams | None = None,
) -> tuple[Render, Render]:
    """Render two heads identical in everything except ``attribute`` (see :func:`pair_params`).

    Returns:
        ``(render_a, render_b)``; their ``params`` hold the exact values.
    """
    a, b = pair_params(attribute, rng, strength, base)
    return render(a, size), render(b, size)


def swap_truth(params_a: HeadParams, params_b: HeadParams) -> HeadParams:
    """The exact answer of a face swap: identity of A with expression, pose and lighting of B."""
    return HeadParams(
        identity=copy.deepcopy(params_a.identity),
        expression=copy.deepcopy(params_b.expression),
        pose=copy.deepcopy(params_b.pose),
        lighting=copy.deepcopy(params_b.lighting),
    )
