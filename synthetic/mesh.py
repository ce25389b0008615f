"""The parametric head: skull and face surface, eyes, eyelids, brows, nose, lips, ears, neck,
hair, beard, glasses, shoulders, and the 68 dlib-ordered landmarks on that geometry.

Head frame (metres): origin at the skull centre, +x to image right (the subject's left), +y up,
+z towards the camera. The eyes are at y = 0. The face surface is a function of the unit
direction ``d`` (:meth:`HeadGeometry.surface`), so mesh vertices and landmarks come from the same
formula and landmarks always lie on the rendered surface.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import (
    EYES,
    HAIR,
    SKIN,
    gauss2,
    grid_faces,
    hsv,
    palette,
    smoothstep,
    srgb_to_linear,
    tube,
    unit_icosphere,
)
from .params import Expression, Identity

HEAD_SUBDIVISIONS = 5  # 10 242 vertices: ~3 mm edges, enough for nose and lips at 256 px
NECK_BASE = np.array([0.0, -0.215, -0.02])  # where the neck meets the shoulders
HEAD_JOINT = np.array([0.0, -0.075, -0.015])  # the head turns about this point (atlas joint)
SHOULDERS_CENTRE = np.array([0.0, -0.29, -0.035])  # shoulders: a fixed ellipsoid
SHOULDERS_AXES = np.array([0.22, 0.11, 0.105])


@dataclass
class Part:
    """One piece of the head.

    Attributes:
        vertices: ``[V, 3]`` head-frame positions.
        faces: ``[F, 3]`` int32.
        colors: ``[V, 3]`` linear RGB.
        material: ``skin``, ``eye``, ``hair``, ``cloth`` or ``frame``.
        chain: which rigid transform moves it: ``head``, ``neck`` or ``body``.
    """

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    material: str
    chain: str = "head"


class HeadGeometry:
    """Dimensions and surface functions of one head (identity + expression).

    Args:
        ident: identity parameters.
        expr: expression parameters.
    """

    def __init__(self, ident: Identity, expr: Expression):
        self.ident, self.expr = ident, expr
        i = ident
        self.a = 0.073 * (1 + 0.07 * i.head_width)  # half width
        self.b_top = 0.104 * (1 + 0.05 * i.head_height)
        self.b_bot = 0.118 * (1 + 0.045 * i.chin_length + 0.02 * i.head_height)
        self.c_front = 0.088 * (1 + 0.04 * i.head_depth)
        self.c_back = 0.108 * (1 + 0.07 * i.head_depth)
        self.ex = 0.031 * (1 + 0.08 * i.eye_spacing)  # eye centre |x|
        self.ey = 0.0
        self.re = 0.0117 * (1 + 0.07 * i.eye_size)  # eyeball radius
        self.rl = self.re * 1.07  # eyelid shell radius
        self.y_tip = -0.040 * (1 + 0.13 * i.nose_length)
        self.nose_w = 1 + 0.22 * i.nose_width
        self.ym = -0.0655 - 0.004 * i.chin_length  # mouth line at the centre
        self.mw = 0.0235 * (1 + 0.1 * i.mouth_width) * (1 + 0.12 * expr.smile)
        self.lip = 1 + 0.35 * i.lip_fullness
        self.skin = srgb_to_linear(palette(SKIN, i.skin_tone))
        self.hair = srgb_to_linear(palette(HAIR, i.hair_color))
        # eye sockets are sunk so the lid sphere meets the skin ~0.9 of its radius out
        self.socket_depth, self.socket_sigma = 0.014, 0.0115
        r = 0.9 * self.rl
        zb = self.base_z(np.array([self.ex]), np.array([self.ey]))[0]
        s_r = zb - self.socket_depth * np.exp(-0.5 * (r / self.socket_sigma) ** 2)
        self.eye_z = s_r - np.sqrt(self.rl**2 - r**2)

    # ---------------------------------------------------------------- skull and face surface
    def _scale(self, d: np.ndarray) -> np.ndarray:
        """Base skull: an asymmetric ellipsoid, flatter over the face, narrower at the jaw."""
        dx, dy, dz = d[:, 0], d[:, 1], d[:, 2]
        b = np.where(dy > 0, self.b_top, self.b_bot)
        c = np.where(dz > 0, self.c_front, self.c_back)
        zf = np.where(dz > 0, np.sign(dz) * np.abs(dz) ** 0.8, dz)
        jaw = 1 + 0.09 * self.ident.jaw_width * np.exp(-0.5 * ((dy + 0.62) / 0.18) ** 2)
        # lower back of the skull tucks in towards the neck
        tuck = 1 - 0.22 * smoothstep(-0.1, -0.8, dy) * smoothstep(0.0, -0.6, dz)
        return np.stack([self.a * dx * jaw, b * dy, c * zf * tuck], -1)

    def base_z(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Front z of the base skull (no features) at head-frame ``x, y``."""
        return self._scale(self.dir_from_xy(x, y))[:, 2]

    def dir_from_xy(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Unit direction whose front-surface point has (approximately) head-frame ``x, y``."""
        x, y = np.atleast_1d(x).astype(float), np.atleast_1d(y).astype(float)
        dy = np.clip(y / np.where(y > 0, self.b_top, self.b_bot), -0.999, 0.999)
        jaw = 1 + 0.09 * self.ident.jaw_width * np.exp(-0.5 * ((dy + 0.62) / 0.18) ** 2)
        dx = np.clip(x / (self.a * jaw), -1, 1)
        dz2 = np.clip(1 - dx**2 - dy**2, 1e-6, None)
        d = np.stack([dx, dy, np.sqrt(dz2)], -1)
        return d / np.linalg.norm(d, axis=1, keepdims=True)

    def face_offset(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Forward (z) displacement of the face features at ``x, y`` (metres)."""
        i, e = self.ident, self.expr
        ax = np.abs(x)
        dz = -self.socket_depth * gauss2(ax, y, self.ex, self.ey, self.socket_sigma * 1.25, self.socket_sigma)
        dz += 0.005 * gauss2(ax, y, 0.027, 0.021, 0.022, 0.0075)  # brow ridge
        dz += 0.0065 * (1 + 0.6 * i.cheekbones) * gauss2(ax, y, 0.046, -0.02, 0.014, 0.012)
        dz += 0.011 * gauss2(x, y, 0, self.ym - 0.004, 0.028, 0.02)  # muzzle over the teeth
        y_chin = -0.93 * self.b_bot
        dz += 0.006 * (1 + 0.8 * i.chin_protrusion) * gauss2(x, y, 0, y_chin + 0.014, 0.013, 0.011)
        dz += 0.0055 * e.smile * gauss2(ax, y, 0.033, -0.046, 0.011, 0.009)  # cheeks lift
        # nose: a ridge from the bridge to the tip, then the alae and a rounded tip
        y_br = self.ey + 0.006
        t = np.clip((y_br - y) / (y_br - self.y_tip), 0, 1)
        h_bridge = 0.0045 + 0.003 * i.nose_bridge
        h_tip = 0.022 * (1 + 0.1 * i.nose_length)
        h = h_bridge + (h_tip - h_bridge) * t**1.4
        h = np.where(y > y_br, h_bridge * np.exp(-0.5 * ((y - y_br) / 0.012) ** 2), h)
        h = np.where(y < self.y_tip, h_tip * np.exp(-0.5 * ((y - self.y_tip) / 0.0055) ** 2), h)
        sx = 0.0042 + 0.0055 * t * self.nose_w
        dz += h * np.exp(-0.5 * (x / sx) ** 2)
        dz += 0.0035 * gauss2(x, y, 0, self.y_tip + 0.001, 0.0065, 0.006)
        dz += 0.0085 * gauss2(ax, y, 0.0115 * self.nose_w, self.y_tip - 0.002, 0.0045, 0.005)
        return dz

    def jaw_drop(self, y: np.ndarray) -> np.ndarray:
        """Downward shift (metres, >= 0) of the lower face when the mouth opens."""
        return 0.015 * self.expr.mouth_open * smoothstep(self.ym - 0.002, self.ym - 0.016, y)

    def surface(self, d: np.ndarray) -> np.ndarray:
        """Head surface points ``[N, 3]`` for unit directions ``d`` ``[N, 3]``."""
        p = self._scale(d)
        front = smoothstep(0.05, 0.45, d[:, 2])
        p[:, 2] += front * self.face_offset(p[:, 0], p[:, 1])
        lower = smoothstep(-0.4, 0.3, d[:, 2])
        p[:, 1] -= lower * self.jaw_drop(p[:, 1])
        p[:, 2] -= lower * 0.25 * self.jaw_drop(p[:, 1])
        return p

    def face_point(self, x: np.ndarray, y: np.ndarray, lift: float = 0.0) -> np.ndarray:
        """Surface points ``[N, 3]`` near front ``x, y``, pushed ``lift`` metres forward."""
        p = self.surface(self.dir_from_xy(x, y))
        p[:, 2] += lift
        return p

    # ---------------------------------------------------------------- lips
    def lip_curves(self, n: int = 21) -> dict[str, np.ndarray]:
        """Lip cross-section centres, half-heights and mouth opening along ``x`` (``n`` samples)."""
        e = self.expr
        u = np.linspace(-1, 1, n)
        x = u * self.mw
        w = np.clip(1 - u**2, 0, 1)
        line = self.ym + 0.0075 * e.smile * u**2 - 0.0012 * w * (1 - e.smile)
        h_up = 0.0042 * self.lip * w**0.55 * (1 - 0.18 * np.exp(-0.5 * (x / 0.0035) ** 2)) * (1 - 0.25 * e.smile)
        h_lo = 0.0052 * self.lip * w**0.55 * (1 - 0.15 * e.smile)
        gap = 0.016 * e.mouth_open * w**0.7
        return {"x": x, "line": line, "h_up": h_up, "h_lo": h_lo, "gap": gap, "depth": 0.0038 * self.lip * w**0.4 + 0.0008}

    def lip_z(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """z of lip centres: on the closed-mouth skin so lips slide down with the jaw."""
        p = self._scale(self.dir_from_xy(x, y + self.jaw_drop(y)))
        return p[:, 2] + self.face_offset(x, y + self.jaw_drop(y)) - 0.0006

    # ---------------------------------------------------------------- eyes
    def eye_centre(self, side: int) -> np.ndarray:
        """Eyeball centre ``[3]``; ``side`` = -1 for the image-left (subject's right) eye."""
        return np.array([side * self.ex, self.ey, self.eye_z])

    def lid_edges(self, side: int, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Polar angles (from +y, radians) of the upper and lower lid edges at azimuths ``phi``."""
        closed = self.expr.eye_closed_left if side > 0 else self.expr.eye_closed_right
        phi_m = 1.15
        w = np.clip(1 - (phi / phi_m) ** 2, 0, 1)
        corner = np.pi / 2 + 0.05
        up0 = (np.pi / 2 - 0.38) * (1 - closed) + (np.pi / 2 + 0.27) * closed
        lo0 = (np.pi / 2 + 0.43) * (1 - closed) + (np.pi / 2 + 0.25) * closed
        return corner + (up0 - corner) * w, corner + (lo0 - corner) * w

    def lid_point(self, side: int, theta: np.ndarray, phi: np.ndarray, r: float) -> np.ndarray:
        """Point on a sphere of radius ``r`` about the eye centre at polar ``theta`` (from +y) and
        azimuth ``phi`` (from +z towards +x)."""
        c = self.eye_centre(side)
        return c + r * np.stack([np.sin(theta) * np.sin(phi), np.cos(theta), np.sin(theta) * np.cos(phi)], -1)

    # ---------------------------------------------------------------- brows
    def brow_centre(self, side: int, t: np.ndarray) -> np.ndarray:
        """Brow centre line ``[len(t), 3]``, ``t`` = 0 at the inner end, 1 at the outer end."""
        e = self.expr
        xi, xo = self.ex - 0.0135, self.ex + 0.023
        x = xi + (xo - xi) * t - 0.0035 * e.frown * (1 - t)
        y = self.ey + 0.0185 + 0.0055 * np.sin(np.pi * t * 0.85) - 0.004 * t
        y = y + 0.0075 * e.brow_raise - 0.0045 * e.frown * (1 - t) ** 1.5
        return self.face_point(side * x, y, lift=0.0006)

    def brow_radius(self, t: np.ndarray) -> np.ndarray:
        return 0.0021 * (1 + 0.4 * self.ident.brow_thickness) * (1 - 0.55 * t) + 0.0004


def _head_colors(g: HeadGeometry, p: np.ndarray, d: np.ndarray, hair_mask: np.ndarray) -> np.ndarray:
    x, y = p[:, 0], p[:, 1]
    ax = np.abs(x)
    front = smoothstep(0.1, 0.5, d[:, 2])
    col = np.tile(g.skin, (len(p), 1))
    blush = np.array([0.95, 0.55, 0.5]) * g.skin
    col += (blush - col) * (0.35 * gauss2(ax, y, 0.04, -0.035, 0.014, 0.014) * front)[:, None]
    col *= (1 - 0.75 * gauss2(ax, y, 0.0085 * g.nose_w, g.y_tip - 0.009, 0.0028, 0.0022) * front)[:, None]  # nostrils
    col *= (1 - 0.2 * gauss2(ax, y, g.ex, g.ey, 0.016, 0.011) * front)[:, None]  # darker around eyes
    col = np.where(hair_mask[:, None] > 0, g.hair * 0.8, col)  # scalp under hair
    return col


def _hair_threshold(g: HeadGeometry, d: np.ndarray) -> np.ndarray:
    """Height above which the scalp is covered, as a function of the azimuth around +y."""
    style = g.ident.hair_style
    az = np.abs(np.arctan2(d[:, 0], d[:, 2]))
    fringe = {1: 0.062, 2: 0.05, 3: 0.055, 4: 0.064}.get(style, 1.0)
    side = {1: 0.022, 2: -0.002, 3: 0.01, 4: 0.022}.get(style, 1.0)
    nape = {1: -0.07, 2: -0.095, 3: -0.1, 4: -0.07}.get(style, 1.0)
    pts = [(0.0, fringe), (0.75, fringe - 0.01), (1.25, 0.028), (1.6, side), (2.2, (side + nape) / 2), (np.pi, nape)]
    xs, ys = zip(*pts)
    return np.interp(az, xs, ys)


def build_parts(ident: Identity, expr: Expression) -> tuple[list[Part], np.ndarray]:
    """Build every part of the head and the 68 landmarks.

    Returns:
        parts, landmarks ``[68, 3]`` (head frame; neck-chain effects do not apply to them).
    """
    g = HeadGeometry(ident, expr)
    parts: list[Part] = []
    d, f = unit_icosphere(HEAD_SUBDIVISIONS)
    p = g.surface(d)

    # hair coverage decides scalp colour and the hair shell
    style = ident.hair_style
    thr = _hair_threshold(g, d)
    hair_mask = (p[:, 1] > thr).astype(float) if style > 0 else np.zeros(len(p))
    head_f = f
    if style > 0:
        # scalp fully under the hair shell is never visible: skip its triangles
        inner = (p[:, 1] > thr + 0.012).astype(float)
        head_f = f[~np.all(inner[f] > 0, axis=1)]
    parts.append(Part(p, head_f, _head_colors(g, p, d, hair_mask), "skin"))

    if style > 0:
        # the shell has no fine detail: a 4x coarser sphere is enough and halves the triangles
        d4, f4 = unit_icosphere(HEAD_SUBDIVISIONS - 1)
        p4 = g.surface(d4)
        thr4 = _hair_threshold(g, d4)
        thick = {1: 0.005, 2: 0.013, 3: 0.01, 4: 0.008}[style]
        t = thick * (0.5 + 0.5 * smoothstep(-0.6, 0.8, d4[:, 1])) * smoothstep(0.0, 0.012, p4[:, 1] - thr4) + 0.0012
        # edge vertices dive under the skin, so the visible hairline is where the shell crosses
        # the scalp (plus the fine mesh's hair-coloured scalp), not the coarse triangle edges
        t = np.where(p4[:, 1] > thr4, t, -0.004)
        keep = np.any(p4[f4, 1] > thr4[f4], axis=1)
        hp = p4 + d4 * t[:, None]
        hf = f4[keep]
        used = np.unique(hf)
        remap = -np.ones(len(p4), dtype=np.int64)
        remap[used] = np.arange(len(used))
        shade = 0.85 + 0.15 * smoothstep(-0.5, 1.0, d4[used, 1])
        parts.append(Part(hp[used], remap[hf].astype(np.int32), g.hair * shade[:, None], "hair"))
        if style == 3:  # long: a curtain falling from the crown behind the ears to the shoulders
            ang = np.linspace(1.2, 2 * np.pi - 1.2, 40)
            ys = np.linspace(0.03, -0.2, 16)
            yy, aa = np.meshgrid(ys, ang, indexing="ij")
            flare = 1 + 0.25 * smoothstep(-0.05, -0.2, yy)
            cv = np.stack([np.sin(aa) * (g.a + 0.015) * flare, yy, np.cos(aa) * (g.c_back + 0.012) * flare - 0.01], -1)
            cv = cv.reshape(-1, 3)
            parts.append(Part(cv, grid_faces(len(ys), len(ang)), np.tile(g.hair * 0.9, (len(cv), 1)), "hair"))
        if style == 4:  # bun
            bd, bf = unit_icosphere(2)
            bv = bd * 0.032 + np.array([0, 0.075, -0.085])
            parts.append(Part(bv, bf, np.tile(g.hair * 0.95, (len(bv), 1)), "hair"))

    if ident.beard > 0:
        az = np.arctan2(d[:, 0], d[:, 2])
        lc = g.lip_curves()
        y_lim = np.interp(np.abs(az), [0, 0.25, 0.9, 1.4, 1.7], [g.y_tip - 0.009, g.y_tip - 0.012, -0.03, 0.0, -0.05])
        mouth = ((p[:, 0] / (g.mw + 0.005)) ** 2 + ((p[:, 1] - g.ym + 0.5 * lc["gap"].max()) / (0.0105 + 0.5 * lc["gap"].max())) ** 2) < 1
        bmask = (p[:, 1] < y_lim) & (np.abs(az) < 1.75) & ~mouth & (d[:, 1] > -0.97)
        keep = np.all(bmask[f], axis=1)
        if keep.any():
            t = (0.0015 + 0.0045 * ident.beard) * np.clip(smoothstep(0.0, -0.03, p[:, 1] - y_lim) + 0.35, 0, 1)
            bp = p + d * t[:, None]
            hf = f[keep]
            used = np.unique(hf)
            remap = -np.ones(len(p), dtype=np.int64)
            remap[used] = np.arange(len(used))
            parts.append(Part(bp[used], remap[hf].astype(np.int32), np.tile(g.hair * 0.9, (len(used), 1)), "hair"))

    # ears: flattened ellipsoids flared out from the side of the skull
    ed, ef = unit_icosphere(2)
    es = 1 + 0.15 * ident.ear_size
    for side in (-1, 1):
        v = ed * np.array([0.0065, 0.029 * es, 0.017 * es])
        flare = np.deg2rad(28) * side
        rot = np.array([[np.cos(flare), 0, np.sin(flare)], [0, 1, 0], [-np.sin(flare), 0, np.cos(flare)]])
        tilt = np.deg2rad(-12) * 1
        rx = np.array([[1, 0, 0], [0, np.cos(tilt), -np.sin(tilt)], [0, np.sin(tilt), np.cos(tilt)]])
        v = v @ (rot @ rx).T + np.array([side * g.a * 0.97, -0.012, -0.008])
        col = np.tile(g.skin * np.array([1.0, 0.9, 0.88]), (len(v), 1))
        col *= (0.75 + 0.25 * np.clip(ed[:, 0] * side * 2 + 0.5, 0, 1))[:, None]
        parts.append(Part(v, ef, col, "skin"))

    # eyes: balls with iris and pupil facing +z, then the lids as partial sphere shells
    eye_col = srgb_to_linear(palette(EYES, ident.eye_color))
    theta = np.array([0, 0.06, 0.14, 0.17, 0.3, 0.38, 0.41, 0.45, 0.6, 0.9, 1.3, 1.8, 2.4, np.pi])
    phi = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    tt, pp = np.meshgrid(theta, phi, indexing="ij")
    ball = np.stack([np.sin(tt) * np.cos(pp), np.sin(tt) * np.sin(pp), np.cos(tt)], -1).reshape(-1, 3)
    sclera = srgb_to_linear([0.93, 0.9, 0.88])
    pupil = np.array([0.01, 0.01, 0.01])
    row_col = [pupil, pupil, pupil, eye_col * 0.8, eye_col, eye_col * 0.9, eye_col * 0.5] + [sclera] * 7
    ball_col = np.repeat(np.array(row_col), len(phi), axis=0)
    ball_f = grid_faces(len(theta), len(phi), wrap_cols=True)
    lids_up, lids_lo = {}, {}
    for side in (-1, 1):
        parts.append(Part(g.eye_centre(side) + g.re * ball, ball_f, ball_col, "eye"))
        ph = np.linspace(-1.45, 1.45, 25)
        up, lo = g.lid_edges(side, ph)
        fr_up = np.array([0.0, 0.3, 0.55, 0.75, 0.88, 0.94, 1.0])
        th_up = 0.25 + (up[None, :] - 0.25) * fr_up[:, None]
        th_lo = lo[None, :] + (np.pi - 0.3 - lo[None, :]) * np.array([0.0, 0.06, 0.15, 0.35, 0.6, 1.0])[:, None]
        for th, rad, lash, store in ((th_up, g.rl, (0.08, 0.25), lids_up), (th_lo, g.rl * 0.993, (0.25, 0.6), lids_lo)):
            v = g.lid_point(side, th, np.broadcast_to(ph, th.shape), rad).reshape(-1, 3)
            rows = th.shape[0]
            shade = np.ones(rows)
            if store is lids_up:
                shade[-2:] = lash
            else:
                shade[:2] = lash[::-1]
            col = np.repeat((g.skin * 0.95)[None] * shade[:, None], len(ph), axis=0)
            parts.append(Part(v, grid_faces(rows, len(ph)), col, "skin"))

    # brows
    tb = np.linspace(0, 1, 12)
    rb = g.brow_radius(tb)
    brow_col = g.hair * 0.7 if ident.hair_color < 0.7 else g.hair * 0.5
    for side in (-1, 1):
        c = g.brow_centre(side, tb)
        v, bf = tube(c, np.array([0, 0, 1.0]), np.array([0, 1.0, 0]), 0.0011, rb, segments=6)
        parts.append(Part(v, bf, np.tile(brow_col, (len(v), 1)), "hair"))

    # lips and mouth
    lc = g.lip_curves()
    x, line, gap = lc["x"], lc["line"], lc["gap"]
    lip_col = g.skin * np.array([0.82, 0.5, 0.5])
    yc_up = line + lc["h_up"]
    yc_lo = line - gap - lc["h_lo"]
    for yc, hh in ((yc_up, lc["h_up"]), (yc_lo, lc["h_lo"])):
        c = np.stack([x, yc, g.lip_z(x, yc)], -1)
        v, lf = tube(c, np.array([0, 0, 1.0]), np.array([0, 1.0, 0]), lc["depth"], hh + 1e-5, segments=10)
        parts.append(Part(v, lf, np.tile(lip_col, (len(v), 1)), "skin"))
    # the mouth cavity (dark) and upper teeth fill the space between the inner lip edges
    top = np.stack([x, line + 0.0008, g.lip_z(x, line) + 0.0012], -1)
    bot = np.stack([x, line - gap - 0.0008, g.lip_z(x, line - gap) + 0.0012], -1)
    mv = np.concatenate([top, bot])
    mf = grid_faces(2, len(x))
    parts.append(Part(mv, mf, np.tile([0.08, 0.01, 0.01], (len(mv), 1)), "skin"))
    teeth_h = np.minimum(gap, 0.0055) * (np.abs(x) < 0.8 * g.mw)
    tt_top = top + np.array([0, -0.0006, 0.0003])
    tt_bot = tt_top - np.stack([np.zeros_like(x), teeth_h, np.zeros_like(x)], -1)
    tv = np.concatenate([tt_top, tt_bot])
    parts.append(Part(tv, mf, np.tile(srgb_to_linear([0.92, 0.9, 0.84]), (len(tv), 1)), "eye"))

    if ident.glasses:
        parts.extend(_glasses(g))

    # neck and shoulders
    nw = 1 + 0.12 * ident.neck_width
    ang = np.linspace(0, 2 * np.pi, 28, endpoint=False)
    ys = np.linspace(-0.035, -0.25, 8)
    yy, aa = np.meshgrid(ys, ang, indexing="ij")
    nv = np.stack([np.sin(aa) * 0.047 * nw, yy, np.cos(aa) * 0.05 * nw - 0.02], -1).reshape(-1, 3)
    parts.append(Part(nv, grid_faces(len(ys), len(ang), wrap_cols=True), np.tile(g.skin * 0.85, (len(nv), 1)), "skin", "neck"))
    sd, sf = unit_icosphere(2)
    sv = sd * SHOULDERS_AXES + SHOULDERS_CENTRE
    shirt = srgb_to_linear(hsv(ident.shirt_hue, 0.45, 0.6))
    parts.append(Part(sv, sf, np.tile(shirt, (len(sv), 1)), "cloth", "body"))

    return parts, landmarks(g)


def _glasses(g: HeadGeometry) -> list[Part]:
    out = []
    z = g.eye_z + g.rl + 0.009
    col = np.tile([0.03, 0.03, 0.035], (1, 1))
    s = np.linspace(0, 2 * np.pi, 36, endpoint=False)
    for side in (-1, 1):
        cx = side * g.ex
        # a rounded rectangle (superellipse) loop around the eye
        ring = np.stack([cx + 0.02 * np.sign(np.cos(s)) * np.abs(np.cos(s)) ** 0.6, 0.002 + 0.0145 * np.sign(np.sin(s)) * np.abs(np.sin(s)) ** 0.6, np.full_like(s, z)], -1)
        radial = ring - np.array([cx, 0.002, z])
        radial /= np.linalg.norm(radial, axis=1, keepdims=True)
        v, f = tube(ring, radial, np.array([0, 0, 1.0]), 0.0012, 0.0012, segments=6, closed=True)
        out.append(Part(v, f, np.repeat(col, len(v), 0), "frame"))
        # temple arm from the outer rim edge back to the ear
        xo = side * (g.ex + 0.021)
        arm = np.stack([np.linspace(xo, side * (g.a + 0.004), 8), np.full(8, 0.004), np.linspace(z, -0.01, 8)], -1)
        v, f = tube(arm, np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), 0.001, 0.0012, segments=6)
        out.append(Part(v, f, np.repeat(col, len(v), 0), "frame"))
    xb = np.linspace(-g.ex + 0.02, g.ex - 0.02, 8)
    bridge = np.stack([xb, 0.008 + 0.002 * np.cos(xb / (g.ex - 0.02) * np.pi / 2), np.full(8, z)], -1)
    v, f = tube(bridge, np.array([0, 0, 1.0]), np.array([0, 1.0, 0]), 0.001, 0.001, segments=6)
    out.append(Part(v, f, np.repeat(col, len(v), 0), "frame"))
    return out


def landmarks(g: HeadGeometry) -> np.ndarray:
    """The 68 points of dlib's scheme on this head, ``[68, 3]`` head frame.

    0-16 jaw (image left to right), 17-21 / 22-26 brows (left to right), 27-30 nose bridge
    (top to tip), 31-35 nose base (left to right), 36-41 / 42-47 eyes (outer-left corner first,
    clockwise in the image), 48-59 outer lip, 60-67 inner lip (same convention).
    """
    pts = np.zeros((68, 3))
    # jaw: an arc over the side of the face from in front of the ear, under the chin, to the
    # other side (these are the silhouette points of a frontal face)
    al = np.linspace(0, np.pi, 17)
    jd = np.stack([-np.cos(al) * 0.97, -0.03 - np.sin(al) * 0.9, 0.3 + 0.35 * np.sin(al)], -1)
    jd /= np.linalg.norm(jd, axis=1, keepdims=True)
    pts[0:17] = g.surface(jd)
    tb = np.linspace(0, 1, 5)
    for side, sl, order in ((-1, slice(17, 22), tb[::-1]), (1, slice(22, 27), tb)):
        c = g.brow_centre(side, order)
        c[:, 1] += 0.3 * g.brow_radius(order)
        pts[sl] = c
    ys = np.linspace(g.ey + 0.003, g.y_tip, 4)
    pts[27:31] = g.face_point(np.zeros(4), ys)
    nx = np.array([-0.0098, -0.005, 0, 0.005, 0.0098]) * g.nose_w
    ny = g.y_tip - np.array([0.0078, 0.0092, 0.0098, 0.0092, 0.0078])
    pts[31:36] = g.face_point(nx, ny)
    for side, base in ((-1, 36), (1, 42)):
        phi_m = 1.15
        ph = np.array([-phi_m, -phi_m / 3, phi_m / 3, phi_m, phi_m / 3, -phi_m / 3])
        up, lo = g.lid_edges(side, ph)
        th = np.array([np.pi / 2 + 0.05, up[1], up[2], np.pi / 2 + 0.05, lo[4], lo[5]])
        pts[base : base + 6] = g.lid_point(side, th, ph, g.rl)
    lc = g.lip_curves(n=13)  # u = -1, -5/6, ..., 1
    x, line, gap, hu, hl, dep = lc["x"], lc["line"], lc["gap"], lc["h_up"], lc["h_lo"], lc["depth"]
    yc_up, yc_lo = line + hu, line - gap - hl
    zu, zl = g.lip_z(x, yc_up), g.lip_z(x, yc_lo)

    def lp(i: int, y: np.ndarray, z: np.ndarray, dz: float = 0.0) -> np.ndarray:
        return np.array([x[i], y[i], z[i] + dz])

    outer = [lp(0, line, zu)] + [lp(i, yc_up + hu, zu, 0.0) for i in (2, 4, 6, 8, 10)]
    outer += [lp(12, line, zu)] + [lp(i, yc_lo - hl, zl) for i in (10, 8, 6, 4, 2)]
    pts[48:60] = outer
    inner = [lp(1, line - gap / 2, zu)] + [lp(i, line, zu, dep[i] * 0.5) for i in (4, 6, 8)]
    inner += [lp(11, line - gap / 2, zu)] + [lp(i, line - gap, zl, dep[i] * 0.5) for i in (8, 6, 4)]
    pts[60:68] = inner
    return pts
