"""The open real-photo swap protocol: measures that need no truth image, only dlib (`sgt eval-swap --real-...`).

For N identity photos A_i and M attribute photos B_j, each swap S_ij (identity of A_i onto B_j) is read by:

- `id_top1`: dlib's 128-D face descriptor (ResNet, `dlib_face_recognition_resnet_model_v1.dat`) of S_ij, nearest
  (cosine) among the descriptors of the N identity photos, is A_i;
- `pose_error`: mean |yaw, pitch, roll| difference (degrees) S_ij vs B_j, each estimated from the 68 landmarks by
  a perspective-n-point fit of a generic 3-D face (`head_pose`);
- `expression_error`: mean |difference| of the Procrustes residuals of the eye and mouth landmarks
  (`expression_proxy`, units of the mean shape's inter-ocular distance), with `mouth_open_error` and
  `eyes_closed_error` (`edits.scorers`) as readable companions.

Faces dlib does not find are counted per side (`not_found`) and left out of the means, never an error. Compare
the swap with the *aligned* attribute image (`SwapResult.attribute.image`): alignment removes in-plane roll.

    >>> r = evaluate_real(swaps, identities, attributes)   # doctest: +SKIP
    >>> r["id_top1"], r["pose_error"], r["not_found"]      # doctest: +SKIP
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .evaluate import top1

DESCRIPTOR_MODEL = "dlib_face_recognition_resnet_model_v1.dat"

#: Generic 3-D face: the mean 68-point shape of OpenFace's in-the-wild model (Baltrusaitis et al., as
#: widely re-published for dlib head-pose tutorials, e.g. yinguobing/head-pose-estimation `model.txt`),
#: millimetres, converted to the head frame of `synthetic.geometry.rotation`: +x image right, +y up,
#: +z towards the camera (origin between the eyes, nose tip z ~ 37).
FACE_MODEL_68 = np.array([
    [-73.393523, -29.801432, -47.667532], [-72.775014, -10.949766, -45.909403], [-70.533638, 7.929818, -44.84258],
    [-66.850058, 26.07428, -43.141114], [-59.790187, 42.56439, -38.635298], [-48.368973, 56.48108, -30.750622],
    [-34.121101, 67.246992, -18.456453], [-17.875411, 75.056892, -3.609035], [0.098749, 77.061286, 0.881698],
    [17.477031, 74.758448, -5.181201], [32.648966, 66.929021, -19.176563], [46.372358, 56.311389, -30.77057],
    [57.34348, 42.419126, -37.628629], [64.388482, 25.45588, -40.886309], [68.212038, 6.990805, -42.281449],
    [70.486405, -11.666193, -44.142567], [71.375822, -30.365191, -47.140426], [-61.119406, -49.361602, -14.254422],
    [-51.287588, -58.769795, -7.268147], [-37.8048, -61.996155, -0.442051], [-24.022754, -61.033399, 6.606501],
    [-11.635713, -56.686759, 11.967398], [12.056636, -57.391033, 12.051204], [25.106256, -61.902186, 7.315098],
    [38.338588, -62.777713, 1.022953], [51.191007, -59.302347, -5.349435], [60.053851, -50.190255, -11.615746],
    [0.65394, -42.19379, 13.380835], [0.804809, -30.993721, 21.150853], [0.992204, -19.944596, 29.284036],
    [1.226783, -8.414541, 36.94806], [-14.772472, 2.598255, 20.132003], [-7.180239, 4.751589, 23.536684],
    [0.55592, 6.5629, 25.944448], [8.272499, 4.661005, 23.695741], [15.214351, 2.643046, 20.858157],
    [-46.04729, -37.471411, -7.037989], [-37.674688, -42.73051, -3.021217], [-27.883856, -42.711517, -1.353629],
    [-19.648268, -36.754742, 0.111088], [-28.272965, -35.134493, 0.147273], [-38.082418, -34.919043, -1.476612],
    [19.265868, -37.032306, 0.665746], [27.894191, -43.342445, -0.24766], [37.437529, -43.110822, -1.696435],
    [45.170805, -38.086515, -4.894163], [38.196454, -35.532024, -0.282961], [28.764989, -35.484289, 1.172675],
    [-28.916267, 28.612716, 2.24031], [-17.533194, 22.172187, 15.934335], [-6.68459, 19.029051, 22.611355],
    [0.381001, 20.721118, 23.748437], [8.375443, 19.03546, 22.721995], [18.876618, 22.394109, 15.610679],
    [28.794412, 28.079924, 3.217393], [19.057574, 36.298248, 14.987997], [8.956375, 39.634575, 22.554245],
    [0.381549, 40.395647, 23.591626], [-7.428895, 39.836405, 22.406106], [-18.160634, 36.677899, 15.121907],
    [-24.37749, 28.677771, 4.785684], [-6.897633, 25.475976, 20.893742], [0.340663, 26.014269, 22.220479],
    [8.444722, 25.326198, 21.02552], [24.474473, 28.323008, 5.712776], [8.449166, 30.596216, 20.671489],
    [0.205322, 31.408738, 21.90367], [-7.198266, 30.844876, 20.328022]]) * np.array([1.0, -1.0, 1.0])

#: Landmarks the pose fit uses: nose (27-35), eye corners, mouth corners. Rigid under expression (no brows,
#: lids, lips, chin) and on the face, not the silhouette (the jaw contour 0-16 slides with yaw).
POSE_POINTS = (27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 39, 42, 45, 48, 54)
#: Landmarks of the expression proxy: both eyes (36-47) and the mouth (48-67).
EXPRESSION_POINTS = tuple(range(36, 68))


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """`[3, 3]` head rotation `Rz(roll) @ Ry(yaw) @ Rx(-pitch)` from degrees, in the head frame of `FACE_MODEL_68`
    (yaw > 0 turns the nose to image right, pitch > 0 lifts it, roll > 0 is counter-clockwise in the image)."""
    y, p, r = np.deg2rad([yaw, -pitch, roll])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    return rz @ ry @ rx


def project(points: np.ndarray, angles: Sequence[float], translation: Sequence[float], focal: float,
            center: Sequence[float]) -> np.ndarray:
    """Pinhole projection of head-frame points `[K, 3]` -> pixels `[K, 2]` (x right, y down).

    The head is rotated by `angles` (yaw, pitch, roll degrees), then placed at `translation` (tx, ty, tz) in a
    camera frame with +y up and the camera looking down -z (tz < 0 in front of it).
    """
    cam = points @ rotation(*angles).T + np.asarray(translation, dtype=np.float64)
    z = -cam[:, 2]
    return np.stack([center[0] + focal * cam[:, 0] / z, center[1] - focal * cam[:, 1] / z], 1)


def head_pose(landmarks: np.ndarray, image_size: int | tuple[int, int], focal: float | None = None,
              points: Sequence[int] = POSE_POINTS) -> tuple[float, float, float]:
    """Yaw, pitch, roll (degrees) of a face from its 68 landmarks, by fitting `FACE_MODEL_68`.

    OpenCV is not a dependency, so this is solvePnP's iterative method written down: Levenberg-Marquardt
    (`scipy.optimize.least_squares`) on the reprojection error in pixels over (yaw, pitch, roll, tx, ty, tz),
    started from a frontal face at the distance its size implies, and from +-35 deg yaw (keep the best).

    Args:
        landmarks: `[68, 2]` pixels (x, y), dlib order.
        image_size: side `R` or `(H, W)`; the principal point is the image centre.
        focal: pixels; default the image width (the usual guess for an unknown camera; angles depend on it
            only through perspective, weakly at face distances).
        points: the landmark indices to fit.

    Returns:
        `(yaw, pitch, roll)` degrees, signs as `synthetic.params.Pose`.
    """
    from scipy.optimize import least_squares

    h, w = (image_size, image_size) if np.isscalar(image_size) else image_size
    f = float(w if focal is None else focal)
    c = (w / 2, h / 2)
    idx = list(points)
    obs, model = np.asarray(landmarks, np.float64)[idx], FACE_MODEL_68[idx]
    span = max(np.ptp(obs[:, 0]), np.ptp(obs[:, 1]), 1e-3)
    tz = -f * max(np.ptp(model[:, 0]), np.ptp(model[:, 1])) / span
    mid = obs.mean(0)
    t0 = [(mid[0] - c[0]) * -tz / f, -(mid[1] - c[1]) * -tz / f, tz]

    def residual(x: np.ndarray) -> np.ndarray:
        return (project(model, x[:3], x[3:], f, c) - obs).ravel()

    best = None
    for yaw0 in (0.0, 35.0, -35.0):
        r = least_squares(residual, np.array([yaw0, 0.0, 0.0, *t0]), method="lm")
        if best is None or r.cost < best.cost:
            best = r
    yaw, pitch, roll = (float(v) for v in best.x[:3])
    return yaw, pitch, roll


def _procrustes(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`points [K, 2]` mapped onto `reference [K, 2]` by the best similarity transform (Umeyama 1991)."""
    p, q = points - points.mean(0), reference - reference.mean(0)
    u, s, vt = np.linalg.svd(p.T @ q)
    d = np.sign(np.linalg.det(u @ vt))
    rot = u @ np.diag([1, d]) @ vt
    scale = (s * [1, d]).sum() / max((p ** 2).sum(), 1e-12)
    return scale * p @ rot + reference.mean(0)


@functools.lru_cache(maxsize=1)
def _mean_expression_shape() -> np.ndarray:
    # frontal, neutral: the model's eyes and mouth seen head-on, y down, inter-ocular distance (36-45) 1
    ref = FACE_MODEL_68[list(EXPRESSION_POINTS), :2] * [1, -1]
    return ref / np.linalg.norm(FACE_MODEL_68[36, :2] - FACE_MODEL_68[45, :2])


def expression_proxy(landmarks: np.ndarray) -> np.ndarray:
    """Eye and mouth shape, free of position, scale and in-plane rotation.

    The 32 eye and mouth landmarks (36-67) are Procrustes-aligned (similarity) to the neutral frontal mean shape
    of `FACE_MODEL_68`; what is left is expression (and some out-of-plane pose).

    Args:
        landmarks: `[68, 2]` pixels.

    Returns:
        `[64]` residual coordinates (aligned minus mean, x and y of each point), in units of the mean shape's
        inter-ocular distance.
    """
    ref = _mean_expression_shape()
    pts = np.asarray(landmarks, np.float64)[list(EXPRESSION_POINTS)]
    return (_procrustes(pts, ref) - ref).ravel()


@functools.lru_cache(maxsize=None)
def _descriptor_model() -> Any:
    from inversion.landmarks import _import_dlib, model_path

    return _import_dlib().face_recognition_model_v1(str(model_path(DESCRIPTOR_MODEL)))


def analyse(image: np.ndarray, detector: Any = "hog", upsample: int = 1) -> tuple[np.ndarray, np.ndarray] | None:
    """The largest face of `image` (uint8 `[H, W, 3]` RGB): `(descriptor [128], landmarks [68, 2])`, or None."""
    from inversion.landmarks import DlibDetector, _shape_predictor, get_detector

    image = np.ascontiguousarray(image, dtype=np.uint8)
    find = get_detector(detector, upsample)
    if not isinstance(find, DlibDetector):
        raise TypeError("analyse needs a dlib detector ('hog' or 'cnn'): the descriptor is computed on dlib's shape")
    rects = find.rectangles(image)
    if not rects:
        return None
    rect = max(rects, key=lambda r: r.width() * r.height())
    shape = _shape_predictor()(image, rect)
    lm = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
    desc = np.array(_descriptor_model().compute_face_descriptor(image, shape), dtype=np.float64)
    return desc, lm


def face_descriptor(image: np.ndarray, detector: Any = "hog", upsample: int = 1) -> np.ndarray | None:
    """dlib's 128-D face descriptor `[128]` of the largest face in `image` (uint8 `[H, W, 3]`), None if none.

    Same person: Euclidean distance below ~0.6 (dlib's threshold on LFW).
    """
    r = analyse(image, detector, upsample)
    return None if r is None else r[0]


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def evaluate_real(swaps: Any, identities: Sequence[np.ndarray], attributes: Sequence[np.ndarray],
                  detector: Any = "hog", upsample: int = 1, identity_net: Any = None) -> dict[str, Any]:
    """Measure N x M swaps of real photos (no truth image exists).

    Args:
        swaps: uint8 `[N, M, H, W, 3]` (or nested sequences), `swaps[i][j]` = identity i onto attribute j.
        identities: N uint8 `[H, W, 3]` identity photos (the retrieval gallery).
        attributes: M uint8 `[H, W, 3]` attribute images, in the swap's frame (the aligned attribute).
        detector, upsample: dlib detector (as `inversion.landmarks.get_detector`).
        identity_net: a second identity judge beside dlib, e.g. ArcFace (`inversion.identity.load_identity_net`):
            adds `arcface_id_top1`, the same retrieval with its embeddings of the aligned frames (no detection:
            every swap counts).

    Returns:
        `id_top1` (over swaps with a face, among identities with a face), `pose_error` (deg, mean |yaw, pitch,
        roll|), `yaw_error`, `pitch_error`, `roll_error`, `expression_error`, `mouth_open_error`,
        `eyes_closed_error`, `pairs`, `pairs_measured`, `not_found` (`{"identities": [i], "attributes": [j],
        "swaps": [[i, j]]}`); means are NaN when nothing could be measured.
    """
    from edits.scorers import eyes_closed, mouth_open

    n, m = len(identities), len(attributes)
    if len(swaps) != n or any(len(row) != m for row in swaps):
        raise ValueError(f"swaps must be [N={n}][M={m}] images (identity i onto attribute j)")
    ids = [analyse(x, detector, upsample) for x in identities]
    atts = [analyse(x, detector, upsample) for x in attributes]
    att_pose = [None if a is None else head_pose(a[1], np.shape(x)[:2]) for a, x in zip(atts, attributes)]
    gallery_idx = [i for i, a in enumerate(ids) if a is not None]
    missing_swaps: list[list[int]] = []
    emb, labels = [], []
    err: dict[str, list[float]] = {k: [] for k in ("yaw", "pitch", "roll", "pose", "expr", "mouth", "eyes")}
    for i in range(n):
        for j in range(m):
            s = analyse(swaps[i][j], detector, upsample)
            if s is None:
                missing_swaps.append([i, j])
                continue
            if ids[i] is not None:
                emb.append(s[0])
                labels.append(gallery_idx.index(i))
            if atts[j] is None:
                continue
            d = np.abs(np.subtract(head_pose(s[1], np.shape(swaps[i][j])[:2]), att_pose[j]))
            for k, v in zip(("yaw", "pitch", "roll", "pose"), (*d, d.mean())):
                err[k].append(float(v))
            lm_s, lm_a = s[1], atts[j][1]
            err["expr"].append(float(np.abs(expression_proxy(lm_s) - expression_proxy(lm_a)).mean()))
            err["mouth"].append(abs(mouth_open(lm_s) - mouth_open(lm_a)))
            err["eyes"].append(abs(eyes_closed(lm_s) - eyes_closed(lm_a)))
    id_top1 = float("nan")
    if emb:
        gallery = torch.from_numpy(np.stack([ids[i][0] for i in gallery_idx]))
        id_top1 = top1(torch.from_numpy(np.stack(emb)), gallery, torch.tensor(labels))
    extra = {}
    if identity_net is not None:
        from sgtcore.images import from_uint8

        def emb_of(x: np.ndarray) -> torch.Tensor:
            with torch.no_grad():
                return identity_net.embed(from_uint8(np.ascontiguousarray(x)))[0]

        gallery_a = torch.stack([emb_of(x) for x in identities])
        queries = torch.stack([emb_of(swaps[i][j]) for i in range(n) for j in range(m)])
        extra["arcface_id_top1"] = top1(queries, gallery_a, torch.arange(n).repeat_interleave(m))
    return {**extra, "id_top1": id_top1, "pose_error": _mean(err["pose"]), "yaw_error": _mean(err["yaw"]),
            "pitch_error": _mean(err["pitch"]), "roll_error": _mean(err["roll"]),
            "expression_error": _mean(err["expr"]), "mouth_open_error": _mean(err["mouth"]),
            "eyes_closed_error": _mean(err["eyes"]), "pairs": n * m, "pairs_measured": len(err["pose"]),
            "id_retrievals": len(emb),
            "not_found": {"identities": [i for i, a in enumerate(ids) if a is None],
                          "attributes": [j for j, a in enumerate(atts) if a is None], "swaps": missing_swaps}}


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def list_photos(folder: str | os.PathLike) -> list[Path]:
    """The image files of `folder`, sorted by name (ValueError when there are none)."""
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return paths


def swap_folders(G: Any, identities: Sequence[Any], attributes: Sequence[Any], method: str = "lcr",
                 split: int | None = None, steps: int | None = None, detector: str = "hog", upsample: int = 1,
                 progress: bool = True, identity_net: Any = None) -> dict[str, Any]:
    """Swap every (identity, attribute) pair with `edits.swap.swap` and `evaluate_real` the result.

    Args:
        G: the generator.
        identities, attributes: photo paths (or anything `swap` takes, `Prepared` included); each photo is
            aligned and inverted once.
        method, split, steps, detector, upsample: as `edits.swap.swap`.
        identity_net: a second identity judge (ArcFace), see `evaluate_real`.

    Returns:
        `evaluate_real`'s dict plus `identities`, `attributes` (names) and `method`, `split`. The gallery is the
        aligned identity images, the pose/expression reference the aligned attribute images (the swap's frame).
    """
    from tqdm.auto import tqdm

    from stylegan.images import to_uint8

    from .api import Swapper, prepare, swap

    Swapper(G, method, split)  # an untrained method or a bad split fails before any photo is inverted
    kw = dict(steps=steps, detector=detector, upsample=upsample)
    # each photo is aligned and inverted once, however many pairs it is in
    ids = [prepare(a, G, "identity", **kw) for a in tqdm(identities, desc="invert identities", disable=not progress)]
    atts = [prepare(b, G, "attribute", landmarks=True, **kw)
            for b in tqdm(attributes, desc="invert attributes", disable=not progress)]
    rows: list[list[np.ndarray]] = []
    used_split = split
    bar = tqdm(total=len(ids) * len(atts), desc="swap pairs", unit="pair", disable=not progress)
    for a in ids:
        row = []
        for b in atts:
            r = swap(a, b, method, G, split=split)
            row.append(to_uint8(r.image.detach().cpu())[0])
            used_split = r.split
            bar.update()
        rows.append(row)
    bar.close()
    out = evaluate_real(rows, [a.image for a in ids], [b.image for b in atts], detector, upsample, identity_net)
    return {**out, "method": method, "split": used_split,
            "identities": [_name(x, p) for x, p in zip(identities, ids)],
            "attributes": [_name(x, p) for x, p in zip(attributes, atts)]}


def _name(source: Any, prepared: Any) -> str:
    return prepared.name or str(source)


__all__ = ["DESCRIPTOR_MODEL", "FACE_MODEL_68", "POSE_POINTS", "analyse", "evaluate_real", "expression_proxy",
           "face_descriptor", "head_pose", "list_photos", "project", "rotation", "swap_folders"]
