"""Parameters of a synthetic head: four groups (identity, expression, pose, lighting), each a
small dataclass whose fields carry their documented range.

Every field is a float (``hair_style`` is an int, ``glasses`` a bool, ``background`` an RGB
triple). Shape parameters are offsets from an average head in [-1, 1] (0 = average).
Construction does not validate, :func:`validate` (called by ``render``) does, naming the
field and its range.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

HAIR_STYLES = ("bald", "short", "medium", "long", "bun")


def _f(default: float, lo: float, hi: float, doc: str) -> Any:
    return field(default=default, metadata={"range": (lo, hi), "doc": doc})


@dataclass
class Identity:
    """Who the person is: shape, colours, hair, beard, glasses."""

    head_width: float = _f(0.0, -1, 1, "skull width")
    head_height: float = _f(0.0, -1, 1, "skull height")
    head_depth: float = _f(0.0, -1, 1, "skull depth, front to back")
    jaw_width: float = _f(0.0, -1, 1, "width of the lower face at the jaw angle")
    chin_length: float = _f(0.0, -1, 1, "distance mouth to chin")
    chin_protrusion: float = _f(0.0, -1, 1, "how far the chin sticks out")
    cheekbones: float = _f(0.0, -1, 1, "cheekbone prominence")
    nose_length: float = _f(0.0, -1, 1, "nose length")
    nose_width: float = _f(0.0, -1, 1, "nose (alae) width")
    nose_bridge: float = _f(0.0, -1, 1, "height of the nose bridge")
    eye_size: float = _f(0.0, -1, 1, "eyeball and eye-opening size")
    eye_spacing: float = _f(0.0, -1, 1, "distance between the eyes")
    brow_thickness: float = _f(0.0, -1, 1, "eyebrow thickness")
    lip_fullness: float = _f(0.0, -1, 1, "lip thickness")
    mouth_width: float = _f(0.0, -1, 1, "mouth width")
    ear_size: float = _f(0.0, -1, 1, "ear size")
    neck_width: float = _f(0.0, -1, 1, "neck width")
    skin_tone: float = _f(0.2, 0, 1, "0 = very light, 1 = very dark")
    eye_color: float = _f(0.5, 0, 1, "0 = blue, 0.25 green, 0.5 hazel, 0.75 brown, 1 dark brown")
    hair_color: float = _f(0.3, 0, 1, "0 = black, 0.5 auburn, 0.85 platinum, 1 grey")
    hair_style: int = _f(1, 0, len(HAIR_STYLES) - 1, "0 bald, 1 short, 2 medium, 3 long, 4 bun")
    beard: float = _f(0.0, 0, 1, "0 = none, 1 = full beard")
    glasses: bool = field(default=False, metadata={"doc": "wears glasses"})
    shirt_hue: float = _f(0.6, 0, 1, "hue of the shirt")


@dataclass
class Expression:
    """Facial expression; every value in [0, 1] (0 = neutral), freely combinable."""

    smile: float = _f(0.0, 0, 1, "smile: lip corners up and out, cheeks raised")
    mouth_open: float = _f(0.0, 0, 1, "jaw drop, teeth visible")
    eye_closed_left: float = _f(0.0, 0, 1, "subject's left eye (image right) closed")
    eye_closed_right: float = _f(0.0, 0, 1, "subject's right eye (image left) closed")
    brow_raise: float = _f(0.0, 0, 1, "both brows raised")
    frown: float = _f(0.0, 0, 1, "inner brow ends down and together")


@dataclass
class Pose:
    """Head rotation in degrees relative to the camera.

    yaw > 0 turns the face towards image right, pitch > 0 looks up, roll > 0 tilts the head
    counter-clockwise in the image.
    """

    yaw: float = _f(0.0, -70, 70, "degrees, + = face turns to image right")
    pitch: float = _f(0.0, -35, 35, "degrees, + = looks up")
    roll: float = _f(0.0, -25, 25, "degrees, + = counter-clockwise in the image")


@dataclass
class Lighting:
    """Key light, ambient light, camera and background."""

    light_azimuth: float = _f(20.0, -80, 80, "key light, degrees, + = from image right")
    light_elevation: float = _f(30.0, -30, 70, "key light, degrees, + = from above")
    light_intensity: float = _f(3.0, 1, 6, "key light intensity (pyrender directional units)")
    ambient: float = _f(0.35, 0.1, 0.8, "ambient light level")
    color_temperature: float = _f(6500.0, 3000, 9000, "kelvin, of key and ambient light")
    camera_distance: float = _f(1.0, 0.5, 2.5, "metres from the head")
    fov: float = _f(12.0, 6, 30, "vertical field of view, degrees (before FFHQ framing)")
    background: tuple[float, float, float] = field(
        default=(0.5, 0.5, 0.55), metadata={"range": (0.0, 1.0), "doc": "RGB in [0, 1]"}
    )


GROUPS = ("identity", "expression", "pose", "lighting")


@dataclass
class HeadParams:
    """Everything behind one render."""

    identity: Identity = field(default_factory=Identity)
    expression: Expression = field(default_factory=Expression)
    pose: Pose = field(default_factory=Pose)
    lighting: Lighting = field(default_factory=Lighting)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain JSON-serialisable nested dict (group -> field -> value)."""
        out: dict[str, dict[str, Any]] = {}
        for g in GROUPS:
            d = dataclasses.asdict(getattr(self, g))
            out[g] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}
        return out

    @classmethod
    def from_dict(cls, d: dict[str, dict[str, Any]]) -> "HeadParams":
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        kw = {}
        for g, klass in zip(GROUPS, (Identity, Expression, Pose, Lighting)):
            sub = dict(d.get(g, {}))
            names = {f.name for f in fields(klass)}
            unknown = set(sub) - names
            if unknown:
                raise ValueError(f"unknown {g} parameter(s): {sorted(unknown)}")
            if "background" in sub:
                sub["background"] = tuple(sub["background"])
            kw[g] = klass(**sub)
        return cls(**kw)

    def replace(self, **groups: Any) -> "HeadParams":
        """Copy with whole groups replaced, e.g. ``p.replace(pose=Pose(yaw=30))``."""
        return dataclasses.replace(self, **groups)


def param_ranges() -> dict[str, tuple[str, tuple[float, float]]]:
    """Map every parameter name to ``(group, (lo, hi))``. Names are unique across groups."""
    out = {}
    for g, klass in zip(GROUPS, (Identity, Expression, Pose, Lighting)):
        for f in fields(klass):
            if "range" in f.metadata:
                out[f.name] = (g, f.metadata["range"])
    return out


def validate(params: HeadParams) -> None:
    """Raise ``ValueError`` naming the first parameter that is out of range or not finite."""
    if not isinstance(params, HeadParams):
        raise TypeError(f"expected HeadParams, got {type(params).__name__}")
    for g in GROUPS:
        obj = getattr(params, g)
        for f in fields(obj):
            v = getattr(obj, f.name)
            if "range" not in f.metadata:
                continue
            lo, hi = f.metadata["range"]
            vals = v if isinstance(v, (tuple, list)) else (v,)
            if f.name == "background" and len(vals) != 3:
                raise ValueError(f"{g}.background must be 3 values (RGB), got {v!r}")
            for x in vals:
                try:
                    ok = np.isfinite(float(x)) and lo <= float(x) <= hi
                except (TypeError, ValueError):
                    ok = False
                if not ok:
                    raise ValueError(f"{g}.{f.name} = {v!r} is out of range [{lo}, {hi}]")
            if f.name == "hair_style" and int(v) != v:
                raise ValueError(f"identity.hair_style = {v!r} must be an integer in [{lo}, {hi}]")


def _uniform(rng: np.random.Generator, klass: type, spread: float = 1.0, **override: Any) -> Any:
    kw = {}
    for f in fields(klass):
        if "range" not in f.metadata or f.name in override:
            continue
        lo, hi = f.metadata["range"]
        mid, half = (lo + hi) / 2, (hi - lo) / 2 * spread
        kw[f.name] = float(rng.uniform(mid - half, mid + half))
    kw.update(override)
    return klass(**kw)


def sample_identity(rng: np.random.Generator) -> Identity:
    """A random person: shapes uniform in [-1, 1], 25 % with a beard, 20 % with glasses."""
    ident = _uniform(rng, Identity, hair_style=0, beard=0.0, glasses=False)
    ident.hair_style = int(rng.choice(len(HAIR_STYLES), p=[0.08, 0.34, 0.24, 0.22, 0.12]))
    ident.beard = float(rng.uniform(0.3, 1.0)) if rng.random() < 0.25 else 0.0
    ident.glasses = bool(rng.random() < 0.2)
    # skin tones skewed lighter than uniform would give, roughly like photo datasets
    ident.skin_tone = float(rng.beta(1.3, 2.0))
    return ident


def sample_expression(rng: np.random.Generator) -> Expression:
    """Each expression active with probability 0.4, then uniform in [0, 1]."""
    vals = {f.name: (float(rng.random()) if rng.random() < 0.4 else 0.0) for f in fields(Expression)}
    return Expression(**vals)


def sample_pose(rng: np.random.Generator) -> Pose:
    """Uniform over the full ranges."""
    return _uniform(rng, Pose)


def sample_lighting(rng: np.random.Generator) -> Lighting:
    """Uniform over the ranges; background a random muted colour."""
    bg = tuple(float(x) for x in rng.uniform(0.15, 0.9, size=3))
    return _uniform(rng, Lighting, background=bg)


def sample_params(rng: np.random.Generator | int | None = None) -> HeadParams:
    """A random head: random identity, expression, pose and lighting.

    Args:
        rng: a ``numpy.random.Generator`` or a seed.
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    return HeadParams(
        identity=sample_identity(rng),
        expression=sample_expression(rng),
        pose=sample_pose(rng),
        lighting=sample_lighting(rng),
    )


def fields_of(klass: type) -> tuple[str, ...]:
    """Field names of a parameter dataclass, in order."""
    return tuple(f.name for f in fields(klass))


IDENTITY_FIELDS = fields_of(Identity)


def identity_vector(ident: Identity) -> np.ndarray:
    """All identity fields mapped to [-1, 1] by their ranges (glasses: -1 / 1), ``[24]`` float32."""
    out = []
    for f in fields(Identity):
        v = float(getattr(ident, f.name))
        lo, hi = f.metadata.get("range", (0.0, 1.0))
        out.append(2 * (v - lo) / (hi - lo) - 1)
    return np.asarray(out, dtype=np.float32)
