"""`sgt align`: FFHQ-align the faces in photos, writing each aligned PNG with a JSON record
(landmarks, quad, inverse matrix) from which `paste_back` can later put an edit back."""
from __future__ import annotations

import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

import click
import PIL.Image
from tqdm.auto import tqdm

from .align import AlignedFace
from .align import align as align_face
from .errors import AlignmentError, MultipleFacesWarning


def _parse_face(value: str) -> str | int:
    if value in ("largest", "all"):
        return value
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"expected 'largest', 'all' or an integer index, got {value!r}") from None


def _temp_for(path: Path) -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600; the outputs are ordinary shareable files
    return Path(tmp)


def _to_json(data: dict) -> str:
    """One key per line, each value on one line (68 landmark pairs stay readable)."""
    return "{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in data.items()) + "\n}\n"


def _save(faces: list[AlignedFace], stem: str, outdir: Path, numbered: bool, meta: dict) -> list[Path]:
    """Write every file of one photo to temporary names first and rename them only when all
    succeeded, so an error (disk full, interrupt) never leaves a partial set behind."""
    pending: list[tuple[Path, Path]] = []
    try:
        for face in faces:
            name = f"{stem}_{face.face_index:02d}" if numbered else stem
            png, record = outdir / f"{name}.png", outdir / f"{name}.json"
            tmp_png, tmp_json = _temp_for(png), _temp_for(record)
            pending += [(tmp_png, png), (tmp_json, record)]
            PIL.Image.fromarray(face.image).save(tmp_png, format="PNG")
            tmp_json.write_text(_to_json({**face.to_dict(image_file=png.name), **meta}))
        for tmp, final in pending:
            os.replace(tmp, final)
    finally:
        for tmp, _ in pending:
            tmp.unlink(missing_ok=True)
    return [final for _, final in pending]


@click.command(context_settings={"show_default": True})
@click.argument("photos", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--outdir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Where to write NAME.png + NAME.json (NAME_II.* per face with --face all).")
@click.option("--size", "output_size", default=1024, type=click.IntRange(min=4),
              help="Side of the aligned image (FFHQ: 1024).")
@click.option("--face", "face", default="largest",
              help="Which face: 'largest', 'all', or an index counted left to right.")
@click.option("--detector", default="hog", type=click.Choice(["hog", "cnn"]),
              help="dlib detector: HOG (fast) or CNN/MMOD (slower, finds harder faces).")
@click.option("--upsample", default=1, type=click.IntRange(min=0),
              help="Times dlib doubles the image before detecting (finds smaller faces, slower).")
def align(photos: tuple[Path, ...], outdir: Path, output_size: int, face: str, detector: str, upsample: int) -> None:
    """Align the faces in PHOTOS exactly as FFHQ was aligned.

    A photo that fails (unreadable, no face, ...) is reported and skipped; nothing is written
    for it, and the command exits with status 1 after processing the rest.
    """
    choice = _parse_face(face)
    stems: dict[str, Path] = {}
    for photo in photos:
        if photo.stem in stems and stems[photo.stem] != photo:
            raise click.UsageError(f"{stems[photo.stem]} and {photo} would both be written as {photo.stem}.png; "
                                   "rename one or align them into different --outdir folders")
        stems[photo.stem] = photo
    outdir.mkdir(parents=True, exist_ok=True)
    failures = []
    meta = {"detector": detector, "upsample": upsample}
    for photo in tqdm(photos, desc="align", unit="photo", disable=len(photos) < 2):
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", MultipleFacesWarning)
                result = align_face(photo, face=choice, output_size=output_size, detector=detector, upsample=upsample)
            for warning in caught:
                tqdm.write(f"note: {warning.message}", file=sys.stderr)
        except (AlignmentError, FileNotFoundError, ImportError) as exc:
            failures.append(photo)
            tqdm.write(f"error: {exc}", file=sys.stderr)
            continue
        faces = result if isinstance(result, list) else [result]
        written = _save(faces, photo.stem, outdir, numbered=choice == "all", meta=meta)
        tqdm.write(f"{photo}: {len(faces)} face(s) -> {', '.join(p.name for p in written if p.suffix == '.png')}")
    if failures:
        raise click.ClickException(f"{len(failures)} of {len(photos)} photo(s) failed: {', '.join(map(str, failures))}")
