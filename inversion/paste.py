"""Paste an edited or generated aligned face back into the photo it was aligned from.

The aligned image is warped back with the exact inverse of the alignment (`AlignedFace.matrix`),
blended through a soft face mask (convex hull of the jaw and brows, eroded then blurred, so the
seam falls inside the face where both images agree), optionally after matching the colour
statistics of the face region (mean/std in CIE Lab, after Reinhard et al. 2001, "Color transfer
between images") so skin tone does not jump at the seam.
"""
from __future__ import annotations

import os
from typing import Any, Literal, Union

import numpy as np
import PIL.Image
import PIL.ImageDraw
import scipy.ndimage
import scipy.spatial

from .align import AlignedFace
from .image_io import ImageLike, describe, load_image, to_rgb_uint8

#: dlib landmark indices whose convex hull is the face region: jaw line 0-16, brows 17-26.
FACE_HULL = tuple(range(27))
#: How far the brows are lifted (x eye-to-mouth distance) before taking the hull: dlib's brows sit
#: barely above the eyes, so without it the eroded mask would cut through the eyes.
BROW_LIFT = 0.35

MaskSpec = Union[Literal["landmarks"], np.ndarray, PIL.Image.Image]


def face_mask(landmarks_aligned: np.ndarray, output_size: int, size: int | None = None,
              feather: float = 0.02, erode: float | None = None) -> np.ndarray:
    """Soft face mask in aligned coordinates: hull of the jaw and the (lifted) brows, eroded, blurred.

    Args:
        landmarks_aligned: [68, 2] landmarks in the aligned image (`AlignedFace.landmarks_aligned`).
        output_size: side S of the aligned image those landmarks refer to.
        size: side of the mask; default `output_size`.
        feather: Gaussian blur sigma as a fraction of the image side.
        erode: how far the mask is pulled inside the hull before blurring, as a fraction of the
            side; default 3 x feather, which keeps the blurred mask at 0 outside the hull.

    Returns:
        float32 [size, size] in [0, 1]; exactly 0 outside the face hull.
    """
    size = int(size or output_size)
    lm = np.asarray(landmarks_aligned, np.float64)
    up = lm[36:48].mean(axis=0) - (lm[48] + lm[54]) / 2  # mouth -> eyes, works for any roll
    points = lm[list(FACE_HULL)].copy()
    points[17:27] += BROW_LIFT * up
    points = (points + 0.5) * size / output_size - 0.5
    hull = points[scipy.spatial.ConvexHull(points).vertices]
    canvas = PIL.Image.new("L", (size, size), 0)
    PIL.ImageDraw.Draw(canvas).polygon([tuple(p) for p in hull], fill=255)
    inside = np.asarray(canvas) > 0
    sigma = feather * size
    erode_px = (3.0 * sigma if erode is None else erode * size)
    core = scipy.ndimage.distance_transform_edt(inside) > erode_px if erode_px > 0 else inside
    mask = core.astype(np.float32)
    if sigma > 0:
        mask = scipy.ndimage.gaussian_filter(mask, sigma)
    mask[(mask < 1.0 / 255.0) | ~inside] = 0.0
    return mask


def paste_back(
    original: ImageLike,
    generated: Any,
    aligned_face: AlignedFace | str | os.PathLike,
    mask: MaskSpec = "landmarks",
    feather: float = 0.02,
    erode: float | None = None,
    color_match: bool = True,
    return_mask: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Warp an aligned-space image back into the original photo and blend it in.

    Args:
        original: the photo the face was aligned from (path, PIL image or uint8 HWC array).
        generated: the new aligned face, any size: uint8 [H, W, 3] array, PIL image, or a torch
            tensor [1, 3, H, W] / [3, H, W] in [-1, 1] (a generator's output).
        aligned_face: the `AlignedFace` from `align` (or the JSON path `sgt align` wrote).
        mask: 'landmarks' for the soft face-hull mask, or your own aligned-space mask (any size,
            float in [0, 1], uint8 or bool), e.g. a segmentation.
        feather, erode: softness of the landmark mask (see `face_mask`).
        color_match: shift the pasted face's Lab mean/std to the photo's inside the mask.
        return_mask: also return the blending mask in photo coordinates.

    Returns:
        uint8 [H, W, 3], the photo with the face replaced (pixels where the mask is 0 are
        untouched); with `return_mask`, also float32 [H, W] mask.

    Example:
        >>> face = align("photo.jpg")                       # doctest: +SKIP
        >>> edited = G.synthesis(ws)                        # doctest: +SKIP
        >>> result = paste_back("photo.jpg", edited, face)  # doctest: +SKIP
    """
    if isinstance(aligned_face, (str, os.PathLike)):
        aligned_face = AlignedFace.load(aligned_face)
    photo = load_image(original)
    if photo.shape[:2] != tuple(aligned_face.source_size):
        h, w = aligned_face.source_size
        raise ValueError(
            f"{describe(original)} is {photo.shape[1]}x{photo.shape[0]} but the face was aligned from a "
            f"{w}x{h} image; pass the same photo (with the same EXIF orientation) that went into align()")
    gen = _generated_to_uint8(generated)
    size = aligned_face.output_size
    footprint = float(np.hypot(*aligned_face.matrix[:, 0])) * size  # aligned side in photo pixels

    # A generated image much finer than its footprint in the photo would alias when sampled
    # directly; Lanczos it down to twice the footprint first (at 1x the two resamplings blur
    # measurably more: round-trip error 2.1 vs 1.1 grey levels on a 1024 crop of a 174 px face).
    if max(gen.shape[:2]) > 3 * footprint:
        side = max(int(np.ceil(2 * footprint)), 8)
        gen = np.asarray(PIL.Image.fromarray(gen).resize((side, side), PIL.Image.Resampling.LANCZOS))
    gh, gw = gen.shape[:2]

    if isinstance(mask, str):
        if mask != "landmarks":
            raise ValueError(f"mask must be 'landmarks' or an array, got {mask!r}")
        if gh != gw:
            raise ValueError(f"generated image must be square for mask='landmarks', got {gw}x{gh}")
        soft = face_mask(aligned_face.landmarks_aligned, size, gh, feather, erode)
    else:
        soft = _mask_to_float(mask, (gh, gw))

    # Region of the photo covered by the aligned square.
    corners = aligned_face.to_original(np.array([[-0.5, -0.5], [size - 0.5, -0.5],
                                                 [size - 0.5, size - 0.5], [-0.5, size - 0.5]]))
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 1, [photo.shape[1], photo.shape[0]])
    result = photo.copy()
    full_mask = np.zeros(photo.shape[:2], np.float32)
    if x1 <= x0 or y1 <= y0:
        return (result, full_mask) if return_mask else result

    # photo (x, y) -> generated-image (x, y): inverse alignment, then rescale S -> generated size.
    to_gen = np.diag([gw / size, gh / size]) @ aligned_face.inverse_matrix
    to_gen[:, 2] += 0.5 * np.array([gw / size, gh / size]) - 0.5
    shape = (y1 - y0, x1 - x0)
    warped = np.stack([_warp(gen[:, :, ch].astype(np.float32), to_gen, (x0, y0), shape, order=3, mode="nearest")
                       for ch in range(3)], axis=-1)
    weight = _warp(soft, to_gen, (x0, y0), shape, order=1, mode="constant")
    weight[weight < 1.0 / 255.0] = 0.0
    np.clip(weight, 0.0, 1.0, out=weight)

    region = photo[y0:y1, x0:x1].astype(np.float32)
    if color_match and weight.sum() > 0:
        warped = _match_color(warped, region, weight)
    blended = region + weight[:, :, None] * (np.clip(warped, 0, 255) - region)
    result[y0:y1, x0:x1] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    full_mask[y0:y1, x0:x1] = weight
    return (result, full_mask) if return_mask else result


def _warp(image: np.ndarray, affine_xy: np.ndarray, origin: tuple[int, int], shape: tuple[int, int],
          order: int, mode: str) -> np.ndarray:
    """Sample `image` at affine_xy @ (x, y, 1) for every pixel of a `shape` region whose
    top-left pixel is `origin` (x, y) in the destination; scipy indexes (row, col), hence the swap."""
    a = affine_xy
    x0, y0 = origin
    matrix = np.array([[a[1, 1], a[1, 0]], [a[0, 1], a[0, 0]]])
    offset = np.array([a[1, 0] * x0 + a[1, 1] * y0 + a[1, 2], a[0, 0] * x0 + a[0, 1] * y0 + a[0, 2]])
    return scipy.ndimage.affine_transform(image, matrix, offset, output_shape=shape, order=order,
                                          mode=mode, cval=0.0, prefilter=order > 1)


def _match_color(source: np.ndarray, target: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Give `source` the weighted Lab mean and std of `target` (both float RGB 0-255)."""
    w = weight[:, :, None] / weight.sum()
    src, tgt = rgb_to_lab(np.clip(source, 0, 255) / 255.0), rgb_to_lab(target / 255.0)
    src_mean, tgt_mean = (src * w).sum(axis=(0, 1)), (tgt * w).sum(axis=(0, 1))
    src_std = np.sqrt(((src - src_mean) ** 2 * w).sum(axis=(0, 1)))
    tgt_std = np.sqrt(((tgt - tgt_mean) ** 2 * w).sum(axis=(0, 1)))
    # Clipped so a flat region (std ~ 0) cannot blow up the contrast of the other.
    ratio = np.clip(tgt_std / np.maximum(src_std, 1e-6), 0.5, 2.0)
    return lab_to_rgb((src - src_mean) * ratio + tgt_mean) * 255.0


# sRGB (D65) <-> CIE Lab, IEC 61966-2-1 and CIE 15.
_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
_WHITE = np.array([0.95047, 1.0, 1.08883])
_DELTA = 6.0 / 29.0


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1], [..., 3] -> CIE Lab (L in [0, 100])."""
    rgb = np.asarray(rgb, np.float64)
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _WHITE
    f = np.where(xyz > _DELTA ** 3, np.cbrt(xyz), xyz / (3 * _DELTA ** 2) + 4.0 / 29.0)
    return np.stack([116.0 * f[..., 1] - 16.0, 500.0 * (f[..., 0] - f[..., 1]),
                     200.0 * (f[..., 1] - f[..., 2])], axis=-1)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIE Lab [..., 3] -> sRGB in [0, 1] (clipped)."""
    lab = np.asarray(lab, np.float64)
    fy = (lab[..., 0] + 16.0) / 116.0
    f = np.stack([fy + lab[..., 1] / 500.0, fy, fy - lab[..., 2] / 200.0], axis=-1)
    xyz = np.where(f > _DELTA, f ** 3, 3 * _DELTA ** 2 * (f - 4.0 / 29.0)) * _WHITE
    linear = np.clip(xyz @ np.linalg.inv(_RGB_TO_XYZ).T, 0.0, 1.0)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def _generated_to_uint8(generated: Any) -> np.ndarray:
    if type(generated).__module__.startswith("torch"):
        from sgtcore.images import to_uint8  # imports torch: only when handed a tensor

        tensor = generated.detach().to("cpu").float()
        if tensor.ndim == 4:
            if tensor.shape[0] != 1:
                raise ValueError(f"paste one image at a time: got a batch of {tensor.shape[0]}")
            tensor = tensor[0]
        if tensor.ndim != 3 or tensor.shape[0] != 3:
            raise ValueError(f"generated tensor must be [1, 3, H, W] or [3, H, W] in [-1, 1], got {tuple(generated.shape)}")
        return to_uint8(tensor[None])[0]
    return to_rgb_uint8(generated, "generated image")


def _mask_to_float(mask: np.ndarray | PIL.Image.Image, shape: tuple[int, int]) -> np.ndarray:
    arr = np.asarray(mask.convert("L") if isinstance(mask, PIL.Image.Image) else mask)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim != 2:
        raise ValueError(f"mask must be a single-channel [H, W] array, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    arr = np.clip(arr.astype(np.float32), 0.0, 1.0)
    if arr.shape != shape:
        arr = np.asarray(PIL.Image.fromarray(arr).resize(shape[::-1], PIL.Image.Resampling.BILINEAR))
    return np.clip(arr, 0.0, 1.0)
