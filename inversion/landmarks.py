"""Face detection and 68-point landmarks with dlib, and where its model files live.

dlib is imported lazily, on the first detection: callers that pass landmarks themselves (e.g.
synthetic renders, which carry exact ones) never need it.
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any, Callable, Literal, Protocol, runtime_checkable

import numpy as np

LANDMARK_MODEL = "shape_predictor_68_face_landmarks.dat"
CNN_MODEL = "mmod_human_face_detector.dat"

DetectorKind = Literal["hog", "cnn"]


@runtime_checkable
class Detector(Protocol):
    """Anything that finds faces: `detector(image) -> [landmarks [68, 2], ...]`.

    `image` is uint8 HWC RGB; landmarks are (x, y) pixel coordinates in dlib's 68-point order
    (iBUG 300-W), pixel centres at integers. `describe()` names the detector in error messages.
    """

    def __call__(self, image: np.ndarray) -> list[np.ndarray]: ...

    def describe(self) -> str: ...


def model_path(filename: str) -> Path:
    """Locate a dlib model file shipped by the `face-recognition-models` package.

    The package's `__init__` imports `pkg_resources`, which new setuptools no longer has, so we
    find its directory through the import system without executing it.

    Raises:
        FileNotFoundError: the package or the file is missing, with the pip command that fixes it.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        for candidate in (Path(location) / "models" / filename, Path(location) / filename):
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(
        f"dlib model {filename} not found (looked in the face-recognition-models package: "
        f"{locations or 'not installed'}); run `pip install face-recognition-models`"
    )


def _import_dlib() -> Any:
    try:
        import dlib
    except ImportError as exc:
        raise ImportError(
            "face detection needs dlib: run `pip install dlib-bin` (or pass landmarks= yourself)"
        ) from exc
    return dlib


@functools.lru_cache(maxsize=None)
def _hog_detector() -> Any:
    return _import_dlib().get_frontal_face_detector()


@functools.lru_cache(maxsize=None)
def _cnn_detector() -> Any:
    return _import_dlib().cnn_face_detection_model_v1(str(model_path(CNN_MODEL)))


@functools.lru_cache(maxsize=None)
def _shape_predictor() -> Any:
    return _import_dlib().shape_predictor(str(model_path(LANDMARK_MODEL)))


class DlibDetector:
    """dlib's HOG (default, fast) or CNN/MMOD (slower, finds rotated and small faces) detector,
    followed by the 68-point shape predictor.

    Args:
        kind: 'hog' or 'cnn'.
        upsample: how many times dlib doubles the image before detecting; each step finds faces
            half as large and costs ~4x the time.
    """

    def __init__(self, kind: DetectorKind = "hog", upsample: int = 1) -> None:
        if kind not in ("hog", "cnn"):
            raise ValueError(f"unknown detector {kind!r}; choose 'hog' or 'cnn'")
        if int(upsample) < 0:
            raise ValueError(f"upsample must be >= 0, got {upsample}")
        self.kind = kind
        self.upsample = int(upsample)

    def describe(self) -> str:
        return f"{self.kind.upper()} detector, {self.upsample} upsample"

    def hint(self) -> str:
        """What to try when this detector finds nothing."""
        tips = [f"--upsample {self.upsample + 1} (upsample={self.upsample + 1})"]
        if self.kind == "hog":
            tips.append("--detector cnn (detector='cnn')")
        tips.append("a tighter crop around the face")
        return "try " + ", ".join(tips[:-1]) + " or " + tips[-1]

    def rectangles(self, image: np.ndarray) -> list[Any]:
        """dlib rectangles of the faces in `image` (uint8 HWC RGB)."""
        image = np.ascontiguousarray(image)
        if self.kind == "hog":
            return list(_hog_detector()(image, self.upsample))
        return [d.rect for d in _cnn_detector()(image, self.upsample)]

    def __call__(self, image: np.ndarray) -> list[np.ndarray]:
        image = np.ascontiguousarray(image)
        predictor = _shape_predictor()
        faces = []
        for rect in self.rectangles(image):
            shape = predictor(image, rect)
            faces.append(np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64))
        return faces

    def __repr__(self) -> str:
        return f"DlibDetector(kind={self.kind!r}, upsample={self.upsample})"


def get_detector(detector: DetectorKind | Detector | Callable[[np.ndarray], list[np.ndarray]] = "hog",
                 upsample: int = 1) -> Detector | Callable[[np.ndarray], list[np.ndarray]]:
    """Turn 'hog' / 'cnn' into a `DlibDetector`; pass any other callable through unchanged."""
    if isinstance(detector, str):
        return DlibDetector(detector, upsample)  # type: ignore[arg-type]
    if not callable(detector):
        raise TypeError(f"detector must be 'hog', 'cnn' or a callable, got {type(detector).__name__}")
    return detector


def describe_detector(detector: object) -> str:
    """Human-readable name of a detector for messages."""
    describe = getattr(detector, "describe", None)
    return describe() if callable(describe) else getattr(detector, "__name__", type(detector).__name__)
