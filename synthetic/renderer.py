"""Headless rendering of a :class:`HeadParams` with pyrender (EGL or OSMesa), FFHQ framing and
the projected 68 landmarks.

pyrender/OpenGL are imported lazily on the first render, after ``PYOPENGL_PLATFORM`` is set,
so importing :mod:`synthetic` never touches OpenGL. One offscreen renderer per process and
render size is kept and reused; mesh buffers of the previous render are freed on the next one,
which keeps memory flat over long runs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sgtcore.ffhq import ffhq_frame

from . import render_worker
from .geometry import kelvin_to_rgb, rotation, srgb_to_linear, vertex_normals
from .mesh import HEAD_JOINT, NECK_BASE, SHOULDERS_AXES, SHOULDERS_CENTRE, HeadGeometry, Part, build_parts, landmarks
from .params import Expression, HeadParams, validate

CAMERA_HEIGHT = -0.02  # camera sits at nose height, looking straight along -z
NECK_SHARE = 0.35  # fraction of the head rotation taken by the neck
_RENDER_PACKAGES = "libegl1 libegl-mesa0 libgl1 libosmesa6"


@dataclass
class Render:
    """One rendered head.

    Attributes:
        image: ``[H, W, 3]`` uint8 RGB.
        mask: ``[H, W]`` bool, True on the head (skin, hair, eyes, ears, neck; not shoulders).
        landmarks: ``[68, 2]`` float pixel coordinates (x right, y down) in dlib order; points
            hidden behind the head are still projected.
        params: the parameters behind the render.
        camera: intrinsics ``fx, fy, cx, cy``, ``pose`` (camera-to-world ``[4, 4]``).
    """

    image: np.ndarray
    mask: np.ndarray
    landmarks: np.ndarray
    params: HeadParams
    camera: dict[str, Any] = field(default_factory=dict)

    def to_tensor(self) -> Any:
        """Image as a torch tensor ``[1, 3, H, W]`` float in [-1, 1]."""
        from sgtcore.images import from_uint8  # imports torch: only when asked for a tensor

        return from_uint8(self.image)


# ------------------------------------------------------------------------- posing and camera
def _chain_transforms(pose: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Rigid transforms ``(R, t)`` (``x -> R x + t``) for the head, neck and body chains."""
    r_head = rotation(pose.yaw, pose.pitch, pose.roll)
    r_neck = rotation(NECK_SHARE * pose.yaw, NECK_SHARE * pose.pitch, NECK_SHARE * pose.roll)
    joint = NECK_BASE + r_neck @ (HEAD_JOINT - NECK_BASE)
    return {
        "head": (r_head, joint - r_head @ HEAD_JOINT),
        "neck": (r_neck, NECK_BASE - r_neck @ NECK_BASE),
        "body": (np.eye(3), np.zeros(3)),
    }


def _project(points: np.ndarray, cam_pose: np.ndarray, fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """Pinhole projection (OpenGL camera looking down -z) to pixel ``[N, 2]`` (x right, y down)."""
    r, c = cam_pose[:3, :3], cam_pose[:3, 3]
    pc = (points - c) @ r  # world -> camera: R^T (p - c)
    z = -pc[:, 2]
    return np.stack([cx + fx * pc[:, 0] / z, cy - fy * pc[:, 1] / z], -1)


def camera_for(params: HeadParams, size: int, align: bool = True) -> dict[str, Any]:
    """Camera intrinsics and pose for a render.

    With ``align`` the image is the FFHQ crop of a virtual photo: the FFHQ quad of the
    neutral-expression, zero-roll head maps to the full image. Framing ignores expression and
    roll so that pairs differing in those differ only where the face changes. Without
    ``align`` the camera simply looks at the head with the given field of view.
    """
    li = params.lighting
    cam_pose = np.eye(4)
    cam_pose[:3, 3] = (0.0, CAMERA_HEIGHT, li.camera_distance)
    f0 = 0.5 * size / np.tan(np.deg2rad(li.fov) / 2)
    if not align:
        return {"fx": f0, "fy": f0, "cx": size / 2, "cy": size / 2, "pose": cam_pose}
    pose = params.pose
    g = HeadGeometry(params.identity, Expression())
    r, t = _chain_transforms(type(pose)(yaw=pose.yaw, pitch=pose.pitch, roll=0.0))["head"]
    lm3 = landmarks(g) @ r.T + t
    _, xv, _ = ffhq_frame(_project(lm3, cam_pose, f0, f0, 0, 0))
    # FFHQ rotates the crop so that its x axis is horizontal: roll the camera by that angle
    ang = np.arctan2(xv[1], xv[0])
    ca, sa = np.cos(-ang), np.sin(-ang)
    cam_pose[:3, :3] = np.array([[ca, -sa, 0], [sa, ca, 0], [0, 0, 1]])
    c, _, qsize = ffhq_frame(_project(lm3, cam_pose, f0, f0, 0, 0))
    s = size / qsize
    return {"fx": f0 * s, "fy": f0 * s, "cx": size / 2 - s * c[0], "cy": size / 2 - s * c[1], "pose": cam_pose}


def posed_geometry(params: HeadParams) -> tuple[list[Part], np.ndarray]:
    """Parts and landmarks ``[68, 3]`` moved into world coordinates by the pose."""
    parts, lm = build_parts(params.identity, params.expression)
    tf = _chain_transforms(params.pose)
    out = []
    for p in parts:
        r, t = tf[p.chain]
        out.append(Part(p.vertices @ r.T + t, p.faces, p.colors, p.material, p.chain))
    r, t = tf["head"]
    return out, lm @ r.T + t


def project_landmarks(params: HeadParams, size: int = 256, align: bool = True) -> np.ndarray:
    """The 68 landmarks ``[68, 2]`` in pixels, without rendering."""
    validate(params)
    _, lm3 = posed_geometry(params)
    cam = camera_for(params, size, align)
    return _project(lm3, cam["pose"], cam["fx"], cam["fy"], cam["cx"], cam["cy"])


# ------------------------------------------------------------------------- OpenGL back end
class RendererUnavailable(RuntimeError):
    """No headless OpenGL platform could be started."""


def _import_pyrender() -> Any:
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    try:
        import pyrender
        import pyrender.renderer as pr_renderer
    except Exception as exc:  # missing libEGL/libOSMesa makes the import itself fail
        raise RendererUnavailable(_unavailable_message(exc)) from exc
    # pyrender hard-codes 4x MSAA, which Mesa's llvmpipe rasterises per sample (3.5x slower
    # at 128 px). We supersample instead (render at 2x, box-filter down): same quality, and
    # the pyrender code path is otherwise unchanged. Only this module uses pyrender.
    storage = pr_renderer.glRenderbufferStorageMultisample
    if not getattr(storage, "_single_sample", False):

        def single_sample(target: Any, samples: int, fmt: Any, w: int, h: int) -> Any:
            return storage(target, 0, fmt, w, h)

        single_sample._single_sample = True  # type: ignore[attr-defined]
        pr_renderer.glRenderbufferStorageMultisample = single_sample
    return pyrender


def _unavailable_message(exc: BaseException) -> str:
    plat = os.environ.get("PYOPENGL_PLATFORM")
    return (
        f"cannot start headless OpenGL (PYOPENGL_PLATFORM={plat!r}): {type(exc).__name__}: {exc}. "
        f"Install the Debian packages `apt-get install {_RENDER_PACKAGES}` and set "
        "PYOPENGL_PLATFORM=egl (Mesa software EGL, or a GPU driver's EGL) or PYOPENGL_PLATFORM=osmesa "
        "before Python starts."
    )


class _Backend:
    """One offscreen renderer plus a reusable scene (camera, lights) per process and size."""

    def __init__(self, size: int, supersample: int):
        pr = _import_pyrender()
        self.pr, self.ss = pr, supersample
        try:
            self.renderer = pr.OffscreenRenderer(size * supersample, size * supersample)
        except Exception as exc:
            raise RendererUnavailable(_unavailable_message(exc)) from exc
        self.scene = pr.Scene(bg_color=np.array([0.5, 0.5, 0.5, 1.0]), ambient_light=np.zeros(3))
        self.cam_node = self.scene.add(pr.IntrinsicsCamera(1.0, 1.0, 1.0, 1.0, znear=0.05, zfar=10.0))
        self.key = self.scene.add(pr.DirectionalLight(color=np.ones(3), intensity=1.0))
        self.fill = self.scene.add(pr.DirectionalLight(color=np.ones(3), intensity=1.0))
        self.mesh_nodes: list[Any] = []
        self.materials = {
            name: pr.MetallicRoughnessMaterial(
                baseColorFactor=np.ones(4), metallicFactor=0.0, roughnessFactor=rough, doubleSided=True
            )
            for name, rough in (("skin", 0.62), ("eye", 0.25), ("hair", 0.85), ("cloth", 0.95), ("frame", 0.4))
        }

    def render(self, parts: list[Part], cam: dict[str, Any], params: HeadParams) -> tuple[np.ndarray, np.ndarray]:
        pr, scene = self.pr, self.scene
        for n in self.mesh_nodes:
            scene.remove_node(n)
        self.mesh_nodes = []
        li = params.lighting
        tint = kelvin_to_rgb(li.color_temperature)
        scene.bg_color = np.array([*li.background, 1.0])  # the clear colour bypasses the shader gamma
        scene.ambient_light = tint * li.ambient
        cam_obj, ss = self.cam_node.camera, self.ss
        cam_obj.fx, cam_obj.fy, cam_obj.cx, cam_obj.cy = cam["fx"] * ss, cam["fy"] * ss, cam["cx"] * ss, cam["cy"] * ss
        scene.set_pose(self.cam_node, cam["pose"])
        self.key.light.color = tint
        self.key.light.intensity = li.light_intensity
        scene.set_pose(self.key, _light_pose(li.light_azimuth, li.light_elevation))
        # a weak fill from the opposite side keeps the shadow side readable
        self.fill.light.color = tint
        self.fill.light.intensity = 0.25 * li.light_intensity
        scene.set_pose(self.fill, _light_pose(-0.6 * li.light_azimuth, 10.0))

        by_mat: dict[tuple[str, bool], list[Part]] = {}
        for p in parts:
            by_mat.setdefault((p.material, p.chain != "body"), []).append(p)
        for (mat, is_head), group in by_mat.items():
            v = np.concatenate([p.vertices for p in group])
            offs = np.cumsum([0] + [len(p.vertices) for p in group[:-1]])
            f = np.concatenate([p.faces + o for p, o in zip(group, offs)])
            n = np.concatenate([vertex_normals(p.vertices, p.faces) for p in group])
            c = np.concatenate([p.colors for p in group])
            prim = pr.Primitive(
                positions=v.astype(np.float32),
                normals=n.astype(np.float32),
                indices=f.astype(np.uint32),
                color_0=np.concatenate([c, np.ones((len(c), 1))], 1).astype(np.float32),
                material=self.materials[mat],
            )
            self.mesh_nodes.append(scene.add(pr.Mesh([prim])))
        color, depth = self.renderer.render(scene)
        mask = _head_mask(depth, cam_obj, cam["pose"])
        if ss > 1:
            h, w = color.shape[0] // ss, color.shape[1] // ss
            color = color[..., :3].reshape(h, ss, w, ss, 3).mean((1, 3), dtype=np.float32)
            color = np.round(color).astype(np.uint8)
            mask = mask.reshape(h, ss, w, ss).mean((1, 3)) >= 0.5
        return np.ascontiguousarray(color[..., :3]), mask


def _head_mask(depth: np.ndarray, cam: Any, pose: np.ndarray) -> np.ndarray:
    """Pixels covered by anything but the shoulders, from the depth map alone.

    The shoulders are a fixed analytic ellipsoid (never posed), so a pixel belongs to them
    exactly when its unprojected 3-D point lies on that ellipsoid; this saves a second
    (segmentation) render pass.
    """
    h, w = depth.shape
    v, u = np.nonzero(depth > 0)
    z = depth[v, u]
    pc = np.stack([(u + 0.5 - cam.cx) * z / cam.fx, -(v + 0.5 - cam.cy) * z / cam.fy, -z], -1)
    pw = pc @ pose[:3, :3].T + pose[:3, 3]
    rho = np.linalg.norm((pw - SHOULDERS_CENTRE) / SHOULDERS_AXES, axis=1)
    mask = np.zeros((h, w), bool)
    mask[v, u] = np.abs(rho - 1) > 0.035
    return mask


def _light_pose(azimuth: float, elevation: float) -> np.ndarray:
    """Pose of a directional light shining from ``azimuth`` (+ = image right) and ``elevation``."""
    az, el = np.deg2rad([azimuth, elevation])
    d = np.array([np.sin(az) * np.cos(el), np.sin(el), np.cos(az) * np.cos(el)])  # towards the light
    z = d / np.linalg.norm(d)
    x = np.cross([0.0, 1.0, 0.0], z)
    x = x / np.linalg.norm(x) if np.linalg.norm(x) > 1e-6 else np.array([1.0, 0, 0])
    y = np.cross(z, x)
    m = np.eye(4)
    m[:3, :3] = np.stack([x, y, z], 1)  # pyrender lights shine along their local -z
    return m


_BACKENDS: dict[tuple[int, int], _Backend] = {}


def _backend(size: int, supersample: int) -> _Backend:
    key = (size, supersample)
    if key not in _BACKENDS:
        _BACKENDS[key] = _Backend(size, supersample)
    return _BACKENDS[key]


def render(params: HeadParams, size: int = 256, align: bool = True, supersample: int | None = None) -> Render:
    """Render a head.

    Args:
        params: all parameters (validated; out-of-range values raise ``ValueError``).
        size: output side in pixels (square).
        align: FFHQ framing (default) or a plain camera (see :func:`camera_for`).
        supersample: anti-aliasing factor (render ``k`` times larger, box-filter down); default
            2 up to 1024 px, 1 above.

    Returns:
        :class:`Render` with image ``[size, size, 3]`` uint8, mask ``[size, size]`` bool,
        landmarks ``[68, 2]`` pixels. Identical params give identical renders.
    """
    validate(params)
    if not isinstance(size, (int, np.integer)) or not 16 <= size <= 4096:
        raise ValueError(f"size = {size!r} must be an integer in [16, 4096]")
    ss = supersample if supersample is not None else (2 if size <= 1024 else 1)
    if not isinstance(ss, (int, np.integer)) or not 1 <= ss <= 4:
        raise ValueError(f"supersample = {supersample!r} must be an integer in [1, 4]")
    if render_worker.render_in_process():
        return render_here(params, int(size), bool(align), int(ss))
    # OpenGL stays out of this process: see synthetic/render_worker.py for the crash it avoids
    r = render_worker.call("render_here", params, int(size), bool(align), int(ss))
    r.params = params  # the caller's own object, not the round-tripped copy
    return r


def render_here(params: HeadParams, size: int, align: bool, supersample: int) -> Render:
    """:func:`render` with validated arguments, OpenGL in this process (render workers only)."""
    parts, lm3 = posed_geometry(params)
    cam = camera_for(params, size, align)
    image, mask = _backend(size, supersample).render(parts, cam, params)
    lm2 = _project(lm3, cam["pose"], cam["fx"], cam["fy"], cam["cx"], cam["cy"])
    return Render(image=image, mask=mask, landmarks=lm2.astype(np.float32), params=params, camera=cam)
