"""Contact sheets for the README: random heads, landmarks, and one row per pair type.

    python -m synthetic.sheets --outdir docs
"""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np
from PIL import Image, ImageDraw

from .pairs import make_pair
from .params import sample_params
from .renderer import Render, render

PAIR_ROWS = (
    ("yaw", 0.6),
    ("pitch", 0.8),
    ("roll", 0.8),
    ("smile", 1.0),
    ("mouth_open", 1.0),
    ("eyes_closed", 1.0),
    ("wink", 1.0),
    ("brow_raise", 1.0),
    ("frown", 1.0),
    ("light_direction", 0.7),
    ("color_temperature", 1.0),
    ("nose_length", 1.0),
    ("hair", 1.0),
    ("glasses", 1.0),
    ("identity", 1.0),
    ("expression", 1.0),
)


def grid(images: list[np.ndarray], cols: int) -> Image.Image:
    """Tile equally sized ``[H, W, 3]`` images row-major."""
    h, w = images[0].shape[:2]
    rows = (len(images) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * w, rows * h), (255, 255, 255))
    for i, im in enumerate(images):
        sheet.paste(Image.fromarray(im), ((i % cols) * w, (i // cols) * h))
    return sheet


def heads_sheet(n: int = 24, size: int = 128, seed: int = 0, cols: int = 8) -> Image.Image:
    """``n`` random heads (seeded)."""
    return grid([render(sample_params(np.random.default_rng([seed, i])), size).image for i in range(n)], cols)


def draw_landmarks(r: Render, radius: float = 1.6) -> np.ndarray:
    """The render with its 68 landmarks (jaw red, brows/nose green, eyes/mouth blue) and mask outline
    (yellow) drawn on it: uint8 ``[H, W, 3]``."""
    im = Image.fromarray(r.image)
    d = ImageDraw.Draw(im)
    edge = r.mask ^ (np.roll(r.mask, 1, 0) & np.roll(r.mask, 1, 1))
    for y, x in zip(*np.nonzero(edge)):
        d.point((int(x), int(y)), fill=(255, 255, 0))
    for k, (x, y) in enumerate(r.landmarks):
        c = (255, 0, 0) if k < 17 else (0, 255, 0) if k < 36 else (0, 0, 255)
        d.ellipse((x - radius, y - radius, x + radius, y + radius), fill=c)
    return np.asarray(im)


def landmarks_sheet(size: int = 192, seed: int = 100, n: int = 4) -> Image.Image:
    """Renders with their 68 landmarks and mask outline (see :func:`draw_landmarks`)."""
    return grid([draw_landmarks(render(sample_params(np.random.default_rng([seed, i])), size)) for i in range(n)], n)


def pairs_sheet(size: int = 96, per_row: int = 3, seed: int = 0, label_w: int = 120) -> Image.Image:
    """One row per attribute in :data:`PAIR_ROWS`: ``per_row`` pairs (a | b)."""
    rows = []
    for r_i, (attr, strength) in enumerate(PAIR_ROWS):
        ims = []
        for j in range(per_row):
            a, b = make_pair(attr, np.random.default_rng([seed, r_i, j]), strength, size)
            ims += [a.image, b.image]
        row = grid(ims, 2 * per_row)
        canvas = Image.new("RGB", (label_w + row.width + 6 * (per_row - 1), size), (255, 255, 255))
        d = ImageDraw.Draw(canvas)
        d.text((6, size // 2 - 12), attr, fill=(0, 0, 0))
        d.text((6, size // 2 + 2), f"strength {strength:g}", fill=(90, 90, 90))
        for j in range(per_row):  # a small gap between pairs
            canvas.paste(row.crop((2 * j * size, 0, 2 * (j + 1) * size, size)), (label_w + j * (2 * size + 6), 0))
        rows.append(canvas)
    sheet = Image.new("RGB", (rows[0].width, len(rows) * size), (255, 255, 255))
    for i, r in enumerate(rows):
        sheet.paste(r, (0, i * size))
    return sheet


@click.command(context_settings={"show_default": True})
@click.option("--outdir", default="docs", type=click.Path(file_okay=False))
def main(outdir: str) -> None:
    """Write synthetic_heads.png, synthetic_landmarks.png and synthetic_pairs.png."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    heads_sheet().save(out / "synthetic_heads.png", optimize=True)
    landmarks_sheet().save(out / "synthetic_landmarks.png", optimize=True)
    pairs_sheet().save(out / "synthetic_pairs.png", optimize=True)
    click.echo(f"wrote sheets to {out}")


if __name__ == "__main__":
    main()
