"""Small mesh-building helpers: grids, tubes, spheres, normals, colour palettes.

All geometry is numpy: vertices ``[V, 3]`` float64, faces ``[F, 3]`` int32, colours ``[V, 3]``
in linear RGB (pyrender applies the 1/2.2 gamma itself).
"""
from __future__ import annotations

import colorsys
from functools import lru_cache

import numpy as np
import trimesh


@lru_cache(maxsize=4)
def unit_icosphere(subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``[V, 3]`` on the unit sphere and faces ``[F, 3]`` (cached, read-only)."""
    m = trimesh.creation.icosphere(subdivisions=subdivisions)
    v = np.asarray(m.vertices, dtype=np.float64)
    f = np.asarray(m.faces, dtype=np.int32)
    v.flags.writeable = False
    f.flags.writeable = False
    return v, f


@lru_cache(maxsize=64)
def grid_faces(rows: int, cols: int, wrap_cols: bool = False, wrap_rows: bool = False) -> np.ndarray:
    """Triangles of a ``rows x cols`` vertex grid (row-major), optionally closed in either direction."""
    r = np.arange(rows if wrap_rows else rows - 1)
    c = np.arange(cols if wrap_cols else cols - 1)
    rr, cc = np.meshgrid(r, c, indexing="ij")
    a = rr * cols + cc
    b = rr * cols + (cc + 1) % cols
    d = ((rr + 1) % rows) * cols + cc
    e = ((rr + 1) % rows) * cols + (cc + 1) % cols
    f = np.concatenate([np.stack([a, d, b], -1).reshape(-1, 3), np.stack([b, d, e], -1).reshape(-1, 3)])
    return f.astype(np.int32)


def tube(
    centre: np.ndarray,
    side: np.ndarray,
    up: np.ndarray,
    r_side: np.ndarray,
    r_up: np.ndarray,
    segments: int = 8,
    closed: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Sweep an ellipse along a polyline.

    Args:
        centre: ``[M, 3]`` centre line.
        side, up: ``[M, 3]`` (or ``[3]``) unit axes of the cross-section at each point.
        r_side, r_up: ``[M]`` (or scalar) semi-axes along ``side`` and ``up``.
        segments: vertices around the cross-section.
        closed: join the last cross-section to the first (a loop).

    Returns:
        vertices ``[M * segments, 3]``, faces.
    """
    m = len(centre)
    side = np.broadcast_to(side, (m, 3))
    up = np.broadcast_to(up, (m, 3))
    r_side = np.broadcast_to(np.asarray(r_side, dtype=np.float64), (m,))
    r_up = np.broadcast_to(np.asarray(r_up, dtype=np.float64), (m,))
    beta = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    cb, sb = np.cos(beta)[None, :, None], np.sin(beta)[None, :, None]
    v = centre[:, None] + cb * (r_up[:, None, None] * up[:, None]) + sb * (r_side[:, None, None] * side[:, None])
    return v.reshape(-1, 3), grid_faces(m, segments, wrap_cols=True, wrap_rows=closed)


def vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals ``[V, 3]`` (unit length; zero-area vertices get +z)."""
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    idx = f.ravel()
    n = np.empty_like(v)
    for k in range(3):
        n[:, k] = np.bincount(idx, weights=np.repeat(fn[:, k], 3), minlength=len(v))
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    bad = norm[:, 0] < 1e-20
    n[bad] = (0.0, 0.0, 1.0)
    norm[bad] = 1.0
    return n / norm


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    """Hermite step from 0 at ``e0`` to 1 at ``e1`` (works for e0 > e1 too)."""
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def gauss2(x: np.ndarray, y: np.ndarray, x0: float, y0: float, sx: float, sy: float) -> np.ndarray:
    """Axis-aligned 2-D Gaussian bump with peak 1."""
    return np.exp(-0.5 * (((x - x0) / sx) ** 2 + ((y - y0) / sy) ** 2))


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] to linear RGB (pyrender's shader works linearly, then applies 1/2.2)."""
    return np.power(np.clip(np.asarray(c, dtype=np.float64), 0, 1), 2.2)


def palette(stops: list[tuple[float, float, float]], t: float) -> np.ndarray:
    """Piecewise-linear colour ramp over evenly spaced sRGB ``stops`` (0-255), ``t`` in [0, 1]."""
    s = np.asarray(stops, dtype=np.float64) / 255.0
    x = np.clip(t, 0, 1) * (len(s) - 1)
    i = min(int(np.floor(x)), len(s) - 2)
    return s[i] + (s[i + 1] - s[i]) * (x - i)


SKIN = [(255, 226, 204), (238, 196, 165), (214, 160, 120), (166, 108, 70), (112, 70, 46), (70, 44, 30)]
EYES = [(80, 125, 185), (95, 140, 100), (130, 100, 55), (95, 58, 30), (45, 28, 18)]
HAIR = [(22, 18, 16), (62, 40, 26), (110, 72, 40), (150, 64, 30), (205, 170, 105), (232, 222, 190), (150, 150, 150)]


def hsv(h: float, s: float, v: float) -> np.ndarray:
    """sRGB colour in [0, 1] from hue, saturation, value."""
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v))


def kelvin_to_rgb(kelvin: float) -> np.ndarray:
    """Approximate linear RGB of a black body at ``kelvin``, normalised to max 1.

    Tanner Helland's fit of the CIE black-body curve (valid 1000-40000 K).
    """
    t = kelvin / 100.0
    r = 255.0 if t <= 66 else 329.698727446 * (t - 60) ** -0.1332047592
    g = 99.4708025861 * np.log(t) - 161.1195681661 if t <= 66 else 288.1221695283 * (t - 60) ** -0.0755148492
    b = 255.0 if t >= 66 else (0.0 if t <= 19 else 138.5177312231 * np.log(t - 10) - 305.0447927307)
    rgb = srgb_to_linear(np.clip([r, g, b], 0, 255) / 255.0)
    return rgb / rgb.max()


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """``[3, 3]`` rotation ``Rz(roll) @ Ry(yaw) @ Rx(-pitch)`` from degrees.

    Head frame: +x image right, +y up, +z towards the camera; so yaw > 0 moves the nose to image
    right, pitch > 0 lifts it, roll > 0 turns the head counter-clockwise in the image.
    """
    y, p, r = np.deg2rad([yaw, -pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx
