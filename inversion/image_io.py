"""Loading photos for alignment: one entry point, `load_image`, that turns a path, a PIL image or
an array into a uint8 HWC RGB array, applying EXIF orientation and refusing bad input early."""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Union

import numpy as np
import PIL.Image
import PIL.ImageOps

from .errors import ImageReadError, ImageTooLargeError

#: Largest photo we decode. A 40 MP RGB image is 120 MB as uint8 and ~0.5 GB as float32 during
#: the FFHQ padding step; anything bigger is almost always a mistake or a decompression bomb.
MAX_PIXELS = 40_000_000

ImageLike = Union[str, os.PathLike, PIL.Image.Image, np.ndarray]


def describe(source: object) -> str:
    """A short name for `source` to put in error messages (the file name, or 'the image')."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    filename = getattr(source, "filename", None)  # PIL images opened from a file keep it
    return str(filename) if filename else "the image"


def open_image(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> PIL.Image.Image:
    """Open and fully decode an image file, checking its size from the header first.

    Args:
        path: file to read.
        max_pixels: refuse images with more pixels than this, before decoding them.

    Returns:
        The decoded PIL image, EXIF orientation applied.

    Raises:
        ImageReadError: the file is missing, not an image, or truncated.
        ImageTooLargeError: width x height exceeds `max_pixels`.
    """
    name = str(path)
    if not Path(path).is_file():
        raise ImageReadError(f"cannot read {name}: no such file")
    try:
        with warnings.catch_warnings():
            # We enforce our own, lower limit below; PIL's bomb warning would only be noise.
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
            img = PIL.Image.open(path)  # lazy: reads the header only
    except PIL.Image.DecompressionBombError as exc:
        raise ImageTooLargeError(
            f"{name} is too large to decode safely ({exc}); the limit is {max_pixels:,} pixels: "
            "downscale the photo first"
        ) from exc
    except PIL.UnidentifiedImageError as exc:
        raise ImageReadError(f"cannot read {name}: not an image file PIL understands") from exc
    except OSError as exc:
        raise ImageReadError(f"cannot read {name}: {exc}") from exc
    width, height = img.size
    if width * height > max_pixels:
        img.close()
        raise ImageTooLargeError(
            f"{name} is {width}x{height} = {width * height / 1e6:.1f} megapixels, over the "
            f"{max_pixels / 1e6:g} MP limit; downscale it first (or pass a larger max_pixels)"
        )
    try:
        img.load()
        return PIL.ImageOps.exif_transpose(img)
    except (OSError, SyntaxError, ValueError) as exc:
        # PIL reports truncated and corrupt data as OSError ("image file is truncated"),
        # SyntaxError (broken PNG chunks) or ValueError, depending on the plugin.
        raise ImageReadError(f"cannot decode {name}: the file is truncated or corrupt ({exc})") from exc
    finally:
        img.close()


def to_rgb_uint8(image: PIL.Image.Image | np.ndarray, name: str = "the image") -> np.ndarray:
    """Convert a PIL image or an array to uint8 HWC RGB.

    Grayscale is replicated, alpha is composited over white (transparent pixels often hold
    garbage colours), 16-bit data is scaled by 1/257 and float data in [0, 1] by 255.

    Args:
        image: PIL image of any mode, or an array [H, W], [H, W, 1], [H, W, 3] or [H, W, 4]
            of dtype uint8, uint16, bool or float.
        name: used in error messages.

    Returns:
        Array [H, W, 3], uint8, C-contiguous.
    """
    if isinstance(image, PIL.Image.Image):
        image = _pil_to_array(image)
    if not isinstance(image, np.ndarray):
        raise ImageReadError(f"{name}: expected a path, PIL image or numpy array, got {type(image).__name__}")
    arr = _to_uint8(image, name)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4) or min(arr.shape[:2]) < 1:
        raise ImageReadError(f"{name}: expected an image array [H, W(, C)] with 1-4 channels, got shape {image.shape}")
    if arr.shape[2] in (2, 4):  # gray+alpha or RGBA
        alpha = arr[:, :, -1:].astype(np.float32) / 255.0
        color = arr[:, :, :-1].astype(np.float32)
        arr = np.rint(color * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return np.ascontiguousarray(arr)


def load_image(source: ImageLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Load a photo as uint8 HWC RGB with EXIF orientation applied.

    Args:
        source: a file path, a PIL image or an array (see `to_rgb_uint8`).
        max_pixels: size limit for files, checked from the header before decoding.

    Returns:
        Array [H, W, 3], uint8.

    Raises:
        ImageReadError: unreadable, truncated or not an image.
        ImageTooLargeError: over `max_pixels`.

    Example:
        >>> import numpy as np
        >>> load_image(np.zeros((4, 5), np.uint8)).shape
        (4, 5, 3)
    """
    name = describe(source)
    if isinstance(source, (str, os.PathLike)):
        source = open_image(source, max_pixels)
    elif isinstance(source, PIL.Image.Image):
        source = PIL.ImageOps.exif_transpose(source)
    return to_rgb_uint8(source, name)


def _pil_to_array(img: PIL.Image.Image) -> np.ndarray:
    mode = img.mode
    if mode.startswith("I;16") or mode == "I":
        arr = np.asarray(img)
        # 16-bit files decode to I;16 or I; plain 8-bit data stored as I stays as is.
        if mode.startswith("I;16") or arr.max(initial=0) > 255:
            return arr.astype(np.uint16) if mode.startswith("I;16") else np.clip(arr, 0, 65535).astype(np.uint16)
        return arr.astype(np.uint8)
    if mode == "F":
        return np.asarray(img, dtype=np.float32)
    if mode in ("RGBA", "LA", "L", "RGB"):
        return np.asarray(img)
    if mode in ("PA", "RGBa", "La") or (mode == "P" and "transparency" in img.info):
        return np.asarray(img.convert("RGBA"))
    return np.asarray(img.convert("RGB"))  # 1, P, CMYK, YCbCr, ...


def _to_uint8(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if arr.dtype == np.uint16:
        return np.rint(arr / 257.0).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        finite = arr[np.isfinite(arr)]
        if finite.size != arr.size:
            raise ImageReadError(f"{name}: the image array contains NaN or infinite values")
        # Floats in [0, 1] are the common convention; anything larger is taken as [0, 255].
        scale = 255.0 if finite.size and finite.max() <= 1.0 else 1.0
        return np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ImageReadError(f"{name}: integer image values must lie in [0, 255], got [{arr.min()}, {arr.max()}]")
        return arr.astype(np.uint8)
    raise ImageReadError(f"{name}: unsupported array dtype {arr.dtype}")
