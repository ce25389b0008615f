"""Files of video mode: the frame folder a user hands `sgt swap --attribute-frames` (checked before any
work), and the MP4 written beside the swapped frames when imageio-ffmpeg is installed."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

#: Frame rate of the MP4 unless told otherwise (`sgt swap --fps`).
DEFAULT_FPS = 25


class FrameFolder(NamedTuple):
    frames: list[Path]     # images and latents, in file-name order
    skipped: list[Path]    # other files (named to the user, not read)
    size: tuple[int, int] | None  # (width, height) shared by the image frames; None: latents only


def read_frame_folder(folder: str | Path, image_suffixes: Sequence[str], latent_suffixes: Sequence[str]) -> FrameFolder:
    """The frames of `folder`, checked without decoding them: every image readable (its header) and all
    images of one size (a video's frames share their size; mixed sizes mean mixed sources).

    Raises:
        ValueError: no frame at all, an unreadable image, or images of different sizes (the message names
            one file of each size).
    """
    from PIL import Image, UnidentifiedImageError

    folder = Path(folder)
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    suffixes = {s.lower() for s in (*image_suffixes, *latent_suffixes)}
    frames = [p for p in entries if p.is_file() and p.suffix.lower() in suffixes]
    skipped = [p for p in entries if p not in frames]
    if not frames:
        what = "is empty" if not entries else f"holds no frames ({len(entries)} other file(s), e.g. {entries[0].name})"
        raise ValueError(f"{folder} {what}; put the frames in it: images {', '.join(image_suffixes)} or latents "
                         f"{', '.join(latent_suffixes)}")
    sizes: dict[tuple[int, int], Path] = {}
    for p in frames:
        if p.suffix.lower() not in {s.lower() for s in image_suffixes}:
            continue
        try:
            with Image.open(p) as im:
                sizes.setdefault(im.size, p)
        except (UnidentifiedImageError, OSError) as exc:
            raise ValueError(f"{p}: not a readable image ({type(exc).__name__}); remove it or replace it") from None
    if len(sizes) > 1:
        listed = ", ".join(f"{w}x{h} ({p.name})" for (w, h), p in sizes.items())
        raise ValueError(f"{folder}: the frames have different sizes: {listed}; a video's frames share one size")
    return FrameFolder(frames, skipped, next(iter(sizes), None))


def mp4_available() -> bool:
    """Whether `write_mp4` can run: imageio-ffmpeg (which brings its own ffmpeg binary) is installed."""
    import importlib.util

    return importlib.util.find_spec("imageio_ffmpeg") is not None


def write_mp4(path: str | Path, frames: Sequence[np.ndarray], fps: float = DEFAULT_FPS) -> None:
    """Write uint8 `[H, W, 3]` frames as an H.264 MP4 (yuv420p, so every player reads it; odd sides are
    padded by one pixel).

    Raises:
        ImportError: imageio-ffmpeg is not installed (`mp4_available()` says so beforehand).
        ValueError: no frames.
    """
    import imageio_ffmpeg

    if not frames:
        raise ValueError("no frames to write")
    h, w = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(str(path), (w + w % 2, h + h % 2), fps=float(fps), codec="libx264",
                                         pix_fmt_out="yuv420p", quality=8, macro_block_size=1,
                                         ffmpeg_log_level="error")
    writer.send(None)  # start the encoder
    try:
        for f in frames:
            f = np.ascontiguousarray(np.pad(f, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge"))
            writer.send(f)
    finally:
        writer.close()


__all__ = ["DEFAULT_FPS", "FrameFolder", "mp4_available", "read_frame_folder", "write_mp4"]
