"""FFHQ face alignment (Karras et al. 2019, `recreate_aligned_images` in NVlabs/ffhq-dataset),
exact, at any output size, with the inverse mapping the original script never returned.

Coordinates: (x, y) pixel coordinates with pixel centres at integers (dlib's convention), in the
original photo ("original") or in the aligned output ("aligned").
"""
from __future__ import annotations

import json
import numbers
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Sequence, Union

import numpy as np
import PIL.Image
import scipy.ndimage

from sgtcore.ffhq import ffhq_frame

from .errors import FaceIndexError, MultipleFacesWarning, NoFaceError
from .image_io import MAX_PIXELS, ImageLike, describe, load_image
from .landmarks import Detector, describe_detector, get_detector

FaceChoice = Union[Literal["largest", "all"], int]
FORMAT_VERSION = 1


@dataclass
class AlignedFace:
    """One aligned face and everything needed to map it back onto its photo.

    Attributes:
        image: the aligned crop, uint8 [S, S, 3] RGB.
        landmarks: the 68 landmarks in original-photo coordinates, float64 [68, 2] (x, y).
        quad: the FFHQ crop square in original coordinates, [4, 2], corners in the order
            top-left, bottom-left, bottom-right, top-right of the aligned image (as in the
            official script, before its shrink step).
        matrix: [2, 3] affine map from aligned pixel coordinates (x, y, 1) to original ones.
            It accounts for the recipe's shrink/crop/pad steps, so it is exact for the output.
        source_size: (height, width) of the original photo.
        face_index: index of this face among the faces found, ordered left to right.
        source: the photo's path, when known.
    """

    image: np.ndarray
    landmarks: np.ndarray
    quad: np.ndarray
    matrix: np.ndarray
    source_size: tuple[int, int]
    face_index: int = 0
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # the default would print the whole image array
        eyes = self.landmarks[36:48].mean(axis=0)
        return (f"AlignedFace(output_size={self.output_size}, face_index={self.face_index}, "
                f"source_size={self.source_size}, eyes_at=({eyes[0]:.1f}, {eyes[1]:.1f}), source={self.source!r})")

    @property
    def output_size(self) -> int:
        """Side S of the aligned image in pixels."""
        return int(self.image.shape[0])

    @property
    def inverse_matrix(self) -> np.ndarray:
        """[2, 3] affine map from original coordinates to aligned ones."""
        full = np.vstack([self.matrix, [0.0, 0.0, 1.0]])
        return np.linalg.inv(full)[:2]

    @property
    def landmarks_aligned(self) -> np.ndarray:
        """The landmarks in aligned-image coordinates, [68, 2]."""
        return self.to_aligned(self.landmarks)

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """Map aligned (x, y) points [..., 2] to original-photo coordinates."""
        return _apply_affine(self.matrix, points)

    def to_aligned(self, points: np.ndarray) -> np.ndarray:
        """Map original-photo (x, y) points [..., 2] to aligned coordinates."""
        return _apply_affine(self.inverse_matrix, points)

    def to_dict(self, image_file: str | None = None) -> dict[str, Any]:
        """JSON-serialisable description (everything but the pixels, which live in `image_file`)."""
        return {
            "format": "sgt-aligned-face",
            "version": FORMAT_VERSION,
            "source": self.source,
            "source_size": list(self.source_size),
            "output_size": self.output_size,
            "face_index": self.face_index,
            "image_file": image_file,
            "landmarks": self.landmarks.tolist(),
            "landmarks_aligned": self.landmarks_aligned.tolist(),
            "quad": self.quad.tolist(),
            "matrix": self.matrix.tolist(),
            **self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], image: np.ndarray | None = None) -> "AlignedFace":
        """Rebuild from `to_dict` output; `image` defaults to a black S x S placeholder."""
        if data.get("format") != "sgt-aligned-face":
            raise ValueError("not an aligned-face record (written by `sgt align` / AlignedFace.to_dict)")
        size = int(data["output_size"])
        if image is None:
            image = np.zeros((size, size, 3), np.uint8)
        known = {"format", "version", "source", "source_size", "output_size", "face_index",
                 "image_file", "landmarks", "landmarks_aligned", "quad", "matrix"}
        return cls(
            image=image,
            landmarks=np.asarray(data["landmarks"], np.float64),
            quad=np.asarray(data["quad"], np.float64),
            matrix=np.asarray(data["matrix"], np.float64),
            source_size=(int(data["source_size"][0]), int(data["source_size"][1])),
            face_index=int(data.get("face_index", 0)),
            source=data.get("source"),
            extra={k: v for k, v in data.items() if k not in known},
        )

    @classmethod
    def load(cls, json_path: str | os.PathLike) -> "AlignedFace":
        """Read a JSON written by `sgt align` together with the aligned PNG next to it."""
        json_path = Path(json_path)
        data = json.loads(json_path.read_text())
        image = None
        if data.get("image_file"):
            image = load_image(json_path.parent / data["image_file"])
        return cls.from_dict(data, image)


def ffhq_quad(landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    """The oriented crop square of the FFHQ recipe (REFERENCE.md §2, steps 1-2).

    Args:
        landmarks: [68, 2] dlib-order landmarks (x, y).

    Returns:
        (quad [4, 2], qsize): corners top-left, bottom-left, bottom-right, top-right of the
        output, and the side length of the square in input pixels.
    """
    c, x, qsize = ffhq_frame(landmarks)  # the renderer frames its camera with the same square
    y = np.flipud(x) * [-1, 1]
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y]), qsize


def warp_ffhq(image: np.ndarray, quad: np.ndarray, qsize: float, output_size: int = 1024,
              transform_size: int | None = None, padding: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Resample the FFHQ square `quad` of `image` (REFERENCE.md §2, steps 3-6).

    Args:
        image: uint8 [H, W, 3] RGB.
        quad, qsize: from `ffhq_quad`.
        output_size: side of the result.
        transform_size: side of the supersampled intermediate; default 4 x output_size
            (FFHQ used 4096 for 1024).
        padding: reflect-pad with blur and median fill where the square leaves the photo.

    Returns:
        (aligned uint8 [S, S, 3], matrix [2, 3] mapping aligned pixel coordinates to `image`'s).
    """
    transform_size = transform_size or 4 * output_size
    quad = np.array(quad, np.float64)
    img = PIL.Image.fromarray(image)
    height, width = image.shape[:2]

    # Step 3: a face much larger than the output is first shrunk by an integer factor, so the
    # later bilinear sampling does not alias. `scale` is the exact factor PIL's resize applies.
    shrink = int(np.floor(qsize / output_size * 0.5))
    scale = np.array([1.0, 1.0])
    if shrink > 1:
        rsize = (int(np.rint(float(width) / shrink)), int(np.rint(float(height) / shrink)))
        img = img.resize(rsize, PIL.Image.Resampling.LANCZOS)
        scale = np.array([width / rsize[0], height / rsize[1]])
        quad /= shrink
        qsize /= shrink
    else:
        shrink = 1
    # `offset` is where the working image's pixel (0, 0) lies in the shrunk image.
    offset = np.zeros(2)

    # Step 4: crop to the square's bounding box plus a border.
    border = max(int(np.rint(qsize * 0.1)), 3)
    crop = _bbox(quad)
    crop = (max(crop[0] - border, 0), max(crop[1] - border, 0),
            min(crop[2] + border, img.size[0]), min(crop[3] + border, img.size[1]))
    if crop[2] - crop[0] < img.size[0] or crop[3] - crop[1] < img.size[1]:
        img = img.crop(crop)
        quad -= crop[0:2]
        offset += crop[0:2]

    # Step 5: where the square leaves the photo, mirror the photo and fade the mirrored part
    # into a blurred, then flat (median) colour, so the generator never sees a hard edge.
    box = _bbox(quad)
    pad = (max(-box[0] + border, 0), max(-box[1] + border, 0),
           max(box[2] - img.size[0] + border, 0), max(box[3] - img.size[1] + border, 0))
    if padding and max(pad) > border - 4:
        pad = np.maximum(pad, int(np.rint(qsize * 0.3)))
        img = PIL.Image.fromarray(_soft_pad(np.asarray(img), pad, qsize))
        quad += pad[0:2]
        offset -= pad[0:2]

    # Step 6: the square is a parallelogram, so PIL's QUAD transform is affine here; sample it
    # 4x supersampled with bilinear filtering, then Lanczos down to the output size.
    img = img.transform((transform_size, transform_size), PIL.Image.Transform.QUAD,
                        (quad + 0.5).flatten(), PIL.Image.Resampling.BILINEAR)
    if output_size < transform_size:
        img = img.resize((output_size, output_size), PIL.Image.Resampling.LANCZOS)
    aligned = np.array(img)  # a writable copy: callers edit crops in place

    # Aligned pixel (i, j) samples working-image point quad[0] + (q3 - q0)(i + .5)/S + (q1 - q0)(j + .5)/S
    # (PIL samples pixel centres at +0.5); then undo the crop/pad shift and the shrink resize.
    ex = (quad[3] - quad[0]) / output_size
    ey = (quad[1] - quad[0]) / output_size
    origin = quad[0] + 0.5 * (ex + ey) + offset
    matrix = np.stack([ex * scale, ey * scale, (origin + 0.5) * scale - 0.5], axis=1)
    return aligned, matrix


def needs_alignment(image, resolution: int, align: bool | None = None) -> bool:
    """Whether an input image must be aligned before inverting it into an `resolution`-px generator.

    The one rule every entry point follows (`sgt project`, `sgt edit`, `edits.swap`): align when asked
    (`align=True`), never when told not to (`False`), and by default (`None`) unless the image is already
    `resolution x resolution`, which is taken as an FFHQ-aligned crop.

    Args:
        image: uint8 `[H, W, 3]` (or anything with `.shape[:2]`).
    """
    return bool(align) if align is not None else tuple(image.shape[:2]) != (resolution, resolution)


def align(
    image: ImageLike,
    face: FaceChoice = "largest",
    output_size: int = 1024,
    landmarks: np.ndarray | Sequence[np.ndarray] | None = None,
    detector: str | Detector | Callable[[np.ndarray], list[np.ndarray]] = "hog",
    upsample: int = 1,
    transform_size: int | None = None,
    padding: bool = True,
    max_pixels: int = MAX_PIXELS,
) -> AlignedFace | list[AlignedFace]:
    """Detect faces in a photo and align them exactly as FFHQ was aligned.

    Args:
        image: a path, PIL image or array (see `load_image`); EXIF orientation is applied and
            grayscale / RGBA / 16-bit input is converted to 8-bit RGB.
        face: 'largest' (default), 'all', or the index of a face, faces ordered left to right.
        output_size: side of the aligned image (1024 for FFHQ-1024 models, 256 for 256 ones).
        landmarks: skip detection and use these: [68, 2], or several faces [N, 68, 2].
        detector: 'hog' (default), 'cnn' (dlib's MMOD; slower, more robust), or any callable
            returning a list of [68, 2] landmark arrays for a uint8 RGB image.
        upsample: dlib's upsampling count for the built-in detectors.
        transform_size: supersampling size, default 4 x output_size.
        padding: FFHQ's mirror-blur padding where the crop leaves the photo.
        max_pixels: refuse larger image files before decoding them.

    Returns:
        One `AlignedFace`, or a list of them (left to right) for face='all'.

    Raises:
        ImageReadError, ImageTooLargeError: the photo cannot be read.
        NoFaceError: no face found.
        FaceIndexError: `face` is an index beyond the faces found.

    Example:
        >>> from skimage import data
        >>> aligned = align(data.astronaut(), output_size=256)   # doctest: +SKIP
        >>> aligned.image.shape                                  # doctest: +SKIP
        (256, 256, 3)
    """
    name = describe(image)
    rgb = load_image(image, max_pixels=max_pixels)
    if isinstance(face, numbers.Integral) and not isinstance(face, bool):
        face = int(face)
    elif face not in ("largest", "all"):
        raise ValueError(f"face must be 'largest', 'all' or an index, got {face!r}")
    if int(output_size) < 4:
        raise ValueError(f"output_size must be at least 4, got {output_size}")

    if landmarks is None:
        found_by = get_detector(detector, upsample)
        faces = [np.asarray(lm, np.float64) for lm in found_by(rgb)]
        if not faces:
            hint = getattr(found_by, "hint", None)
            raise NoFaceError(
                f"no face found in {name} ({describe_detector(found_by)})"
                + (f"; {hint()}" if callable(hint) else "; try another detector or a tighter crop")
            )
    else:
        faces = _check_landmarks(landmarks, name)
    faces.sort(key=lambda lm: float(lm[36:48, 0].mean()))  # left to right, by the eyes

    if face == "all":
        chosen = list(range(len(faces)))
    elif face == "largest":
        sizes = [ffhq_quad(lm)[1] for lm in faces]
        chosen = [int(np.argmax(sizes))]
        if len(faces) > 1:
            warnings.warn(
                f"{len(faces)} faces found in {name}; aligned the largest (index {chosen[0]}, faces "
                "counted left to right); pass face=INDEX (--face INDEX) or face='all' (--face all) to choose",
                MultipleFacesWarning, stacklevel=2)
    else:
        if not -len(faces) <= face < len(faces):
            raise FaceIndexError(
                f"face index {face} requested but {len(faces)} face(s) found in {name}; "
                f"use 0..{len(faces) - 1} (left to right) or 'largest' / 'all'")
        chosen = [face % len(faces)]

    results = []
    for index in chosen:
        quad, qsize = ffhq_quad(faces[index])
        crop, matrix = warp_ffhq(rgb, quad, qsize, output_size, transform_size, padding)
        results.append(AlignedFace(
            image=crop, landmarks=faces[index], quad=quad, matrix=matrix,
            source_size=(rgb.shape[0], rgb.shape[1]), face_index=index,
            source=name if isinstance(image, (str, os.PathLike)) else None,
        ))
    return results if face == "all" else results[0]


def _soft_pad(img: np.ndarray, pad: Sequence[int], qsize: float) -> np.ndarray:
    """FFHQ's padding: reflect, then blend towards a blur and the median by distance to the edge."""
    left, top, right, bottom = (int(p) for p in pad)
    out = np.pad(np.float32(img), ((top, bottom), (left, right), (0, 0)), "reflect")
    h, w, _ = out.shape
    y, x, _ = np.ogrid[:h, :w, :1]
    # mask: 0 on the photo's own pixels' edge, rising to 1 at the outer border of the padding.
    mask = np.maximum(1.0 - np.minimum(np.float32(x) / left, np.float32(w - 1 - x) / right),
                      1.0 - np.minimum(np.float32(y) / top, np.float32(h - 1 - y) / bottom))
    blur = qsize * 0.02
    out += (scipy.ndimage.gaussian_filter(out, [blur, blur, 0]) - out) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
    out += (np.median(out, axis=(0, 1)) - out) * np.clip(mask, 0.0, 1.0)
    return np.uint8(np.clip(np.rint(out), 0, 255))


def _bbox(quad: np.ndarray) -> tuple[int, int, int, int]:
    return (int(np.floor(min(quad[:, 0]))), int(np.floor(min(quad[:, 1]))),
            int(np.ceil(max(quad[:, 0]))), int(np.ceil(max(quad[:, 1]))))


def _apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def _check_landmarks(landmarks: np.ndarray | Sequence[np.ndarray], name: str) -> list[np.ndarray]:
    arr = np.asarray(landmarks, np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != (68, 2):
        raise ValueError(f"landmarks for {name} must be [68, 2] or [N, 68, 2] (dlib order), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"landmarks for {name} contain NaN or infinite values")
    if len(arr) == 0:
        raise NoFaceError(f"no landmarks given for {name}")
    return list(arr)
