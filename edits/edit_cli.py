"""`sgt edit`: apply edits to a latent file or a photo; write the edited image and latent, the unedited
reconstruction and, for a photo, the result pasted back.

Every check (edit names and strengths, the latent against the generator, the photo's face, the edits'
shapes) runs before anything is written; the outputs then appear together (`sgtcore.atomic`), so a
bad input leaves OUTDIR as it was.
"""
from __future__ import annotations

import contextlib
import math
import os
import warnings
from pathlib import Path
from typing import Any

import click

from sgtcore.registry import DEFAULT_GENERATOR
from stylegan.latents import LATENT_SUFFIXES

from .cli_io import read_latents as _read_latents
from .cli_io import write_png as _png


def parse_edit(text: str) -> tuple[str, float]:
    """`"yaw=+15"` -> `("yaw", 15.0)`; the last '=' splits, so a folder name may hold one.

    Raises:
        click.BadParameter: no '=', no name, a strength that is not a finite number.
    """
    name, sep, value = text.rpartition("=")
    if not sep or not name.strip():
        raise click.BadParameter(f"{text!r}: expected NAME=STRENGTH, e.g. yaw=+15, sefa:0=2 or PATH/TO/EDIT=1.5",
                                 param_hint="--edit")
    try:
        strength = float(value)
    except ValueError:
        raise click.BadParameter(f"{text!r}: strength {value!r} is not a number", param_hint="--edit") from None
    if not math.isfinite(strength):
        raise click.BadParameter(f"{text!r}: strength must be a finite number, got {value!r}", param_hint="--edit")
    return name.strip(), strength


def _looks_like_path(name: str) -> bool:
    return "/" in name or os.sep in name or name.startswith(".")


def resolve_edits(specs: list[tuple[str, float]], G: Any) -> list[tuple[Any, float, str | None]]:
    """Each `(NAME, strength)` as `(Edit, strength, folder or None)`.

    NAME is tried as a path when it looks like one, else as a catalogue name or bare attribute
    (`edits.resolve`), else as an existing folder.

    Raises:
        click.BadParameter: unknown name (the message lists the available ones), or a folder that is
            not an edit for G.
    """
    import edits
    from sgtcore.errors import CheckpointError

    catalogue = edits.available(G)
    out = []
    for name, strength in specs:
        folder = None
        if not _looks_like_path(name):
            try:
                out.append((edits.resolve(catalogue, name), strength, None))
                continue
            except edits.UnknownEditError as exc:
                if not Path(name).is_dir():
                    raise click.BadParameter(str(exc), param_hint="--edit") from None
        folder = Path(name)
        if not folder.is_dir():
            raise click.BadParameter(f"{name}: no such edit folder (one saved by Edit.save or `sgt directions`); "
                                     f"catalogue names: {edits.names.describe(catalogue)}", param_hint="--edit")
        try:
            out.append((edits.load(folder, G), strength, str(folder)))
        except (CheckpointError, OSError, ValueError) as exc:
            raise click.BadParameter(" ".join(str(exc).split()), param_hint="--edit") from None
    return out


def resolve_directions(specs: list[tuple[str, float]], G: Any) -> list[tuple[Any, float, str]]:
    """Each `--direction SPEC=STRENGTH` as `(Edit, strength, SPEC)` via `edits.import_direction`.

    Raises:
        click.BadParameter: a file that is not a direction for G (the message says why).
    """
    import edits
    from sgtcore.errors import CheckpointError

    out = []
    for spec, strength in specs:
        try:
            out.append((edits.import_direction(spec, G), strength, spec))
        except (CheckpointError, OSError, ValueError) as exc:
            raise click.BadParameter(" ".join(str(exc).split()), param_hint="--direction") from None
    return out


def _invert_photo(path: Path, G: Any, network: str, do_align: bool | None, paste: bool,
                  steps: int | None = None, detector: str = "hog", upsample: int = 1) -> tuple[Any, Any, Any]:
    """Align (when `sgt project` would) and invert a photo with the library's defaults (`steps`: None = the preset's).

    Returns:
        `(ProjectionResult, AlignedFace or None, target [1, 3, R, R])`.
    """
    from inversion.align import align as align_face
    from inversion.align import needs_alignment
    from inversion.errors import AlignmentError, MultipleFacesWarning
    from inversion.image_io import load_image
    from inversion.projection import ProjectionError, prepare_target
    from inversion.projection import project as project_image
    from stylegan.cli_network import load_network

    res = G.img_resolution
    try:
        image = load_image(path)
        face = None
        if needs_alignment(image, res, do_align):  # the rule of `sgt project`
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", MultipleFacesWarning)
                face = align_face(path, output_size=res, detector=detector, upsample=upsample)
            for warning in caught:
                click.echo(f"note: {warning.message}", err=True)
            image = face.image
        elif paste:
            raise click.UsageError(f"--paste: {path} is already {res}x{res} and is used as an aligned face, so there "
                                   "is no photo to paste into; pass --align to align it first")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            target = prepare_target(image, res)
        for warning in caught:
            click.echo(f"note: {path}: {warning.message}", err=True)
    except (AlignmentError, FileNotFoundError, ImportError, ValueError) as exc:
        raise click.ClickException(" ".join(str(exc).split())) from None
    D = load_network(network, "discriminator", required=False)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = project_image(G, target, steps=steps, D=D)
    except (ProjectionError, ValueError) as exc:
        raise click.ClickException(f"{path}: {exc}") from None
    for warning in caught:
        click.echo(f"note: {warning.message}", err=True)
    return result, face, target


def _numbered(name: str, i: int, n: int) -> str:
    stem, suffix = name.rsplit(".", 1)
    return name if n == 1 else f"{stem}_{i:02d}.{suffix}"


@click.command(context_settings={"show_default": True})
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--network", default=DEFAULT_GENERATOR, help="Generator: registered name, .pkl, .pt or model folder.")
@click.option("--edit", "edit_specs", multiple=True, metavar="NAME=STRENGTH",
              help="An edit and its strength in the edit's unit, applied in the order given: a catalogue name "
                   "(dge:yaw, sefa:0), a bare attribute (yaw: edits.resolve picks dge, then interfacegan, then "
                   "stylespace, then others) or an edit folder. Repeatable.")
@click.option("--direction", "direction_specs", multiple=True, metavar="FILE[#K][@START:END]=STRENGTH",
              help="A direction file of another tool, applied after the --edit ones, in the order given: an "
                   "InterFaceGAN *_w_boundary.npy or e4e .pt direction (strength in σ), or GANSpace component K "
                   "of a .npz cache / e4e's ffhq_pca.pt (sets the coordinate to STRENGTH σ) on ws rows "
                   "START..END-1 (default all). See docs/formats_directions.md. Repeatable.")
@click.option("--outdir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Writes edited.png, edited_w.npz, reconstruction.png; for a photo also projected_w.npz "
                   "(and pasted.png with --paste).")
@click.option("--paste", is_flag=True, help="Photo input: also paste the edited face back into the photo.")
@click.option("--align/--no-align", "do_align", default=None,
              help="Photo input: FFHQ-align first [default: as `sgt project`, align photos not already RxR].")
@click.option("--steps", default=None, type=click.IntRange(min=0),
              help="Photo input: projection steps [default: the library's preset, as `sgt project`].")
@click.option("--detector", default="hog", type=click.Choice(["hog", "cnn"]),
              help="Photo input: dlib face detector, as `sgt align`.")
@click.option("--upsample", default=1, type=click.IntRange(min=0),
              help="Photo input: times dlib doubles the photo before detecting, as `sgt align`.")
def edit(source: Path, network: str, edit_specs: tuple[str, ...], direction_specs: tuple[str, ...], outdir: Path,
         paste: bool, do_align: bool | None, steps: int | None, detector: str, upsample: int) -> None:
    """Edit SOURCE, a latent file (.npz, from `sgt generate --save-ws` or `sgt project`) or a photo
    (aligned and inverted as `sgt project` does), and write the results to OUTDIR.

    \b
    Examples:
      sgt edit seed0001.npz --network synthheads --edit sefa:0=2 --outdir out
      sgt edit photo.jpg --edit yaw=+15 --edit smile=0.5 --outdir out --paste
      sgt edit w.npz --network ffhq.pkl --direction age.pt=2 --direction 'ffhq_pca.pt#46@4:5=-2' --outdir out
    """
    import torch

    import stylegan
    from inversion.paste import paste_back
    from sgtcore.atomic import atomic_file
    from stylegan.cli_network import load_network

    # 1. Everything that can be checked without the network or the input.
    if not edit_specs and not direction_specs:
        raise click.UsageError("give at least one --edit NAME=STRENGTH or --direction FILE=STRENGTH")
    specs = [parse_edit(text) for text in edit_specs]
    dir_specs = []
    for text in direction_specs:
        try:
            dir_specs.append(parse_edit(text))
        except click.BadParameter as exc:
            exc.param_hint = "--direction"
            raise
    is_latent = source.suffix.lower() in LATENT_SUFFIXES
    if paste and is_latent:
        raise click.UsageError(f"--paste needs a photo to paste into; {source} is a latent file")
    # 2. The network, the edits, the input.
    G = load_network(network)
    fp = stylegan.fingerprint(G)
    chosen = resolve_edits(specs, G)
    chosen += resolve_directions(dir_specs, G)
    face = result = None
    if is_latent:
        latents = _read_latents(source, G, network)
        ws, noise = latents.ws, latents.noise
        mode = latents.metadata.get("noise_mode")
        noise_mode = mode if mode in ("const", "none") else "const"  # 'random' maps are stored in the file
    else:
        result, face, _ = _invert_photo(source, G, network, do_align, paste, steps, detector, upsample)
        ws, noise, noise_mode = result.ws, result.noise, "const"
    # 3. The edits, in order: the image through edits.render (W/W+ edits, then StyleSpace ones on the
    #    styles); the latent by applying the W/W+ edits one after another (styles have no ws to store).
    import edits

    style_edits = [e.name for e, _, _ in chosen if getattr(e, "space", "w") == "s"]
    try:
        with torch.no_grad(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", edits.OutOfRangeWarning)
            edited_ws = ws
            for e, s, _ in chosen:
                if getattr(e, "space", "w") != "s":
                    edited_ws = e.apply(edited_ws, s)
            edited = edits.render(G, ws, [(e, s) for e, s, _ in chosen], noise_mode=noise_mode, noise=noise or None)
            recon = G.synthesis(ws, noise_mode=noise_mode, noise=noise or None)
    except ValueError as exc:
        raise click.ClickException(" ".join(str(exc).split())) from None
    for message in dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, edits.OutOfRangeWarning)):
        click.echo(f"note: {message}", err=True)  # once each: the ws and the image apply every edit
    if not torch.isfinite(edited_ws).all() or not torch.isfinite(edited).all():
        raise click.ClickException("the edits made NaN/Inf values; lower the strengths")
    pasted = None
    if paste:
        try:
            pasted = paste_back(source, edited, face)
        except ValueError as exc:
            raise click.ClickException(f"--paste: {exc}") from None
    meta = {"network": str(network), "generator": fp, "source": str(source), "noise_mode": noise_mode,
            "edits": [{"name": e.name, "strength": s, "unit": e.unit, "method": e.method, "attribute": e.attribute,
                       "space": getattr(e, "space", "w"),
                       **({"file" if i >= len(specs) else "folder": folder} if folder else {})}
                      for i, (e, s, folder) in enumerate(chosen)]}
    if style_edits:
        meta["not_in_w"] = style_edits
    # 4. Write: every file under a temporary name, renamed only when all succeeded.
    n = len(ws)
    written: list[tuple[Path, str]] = []
    with contextlib.ExitStack() as stack:
        for i in range(n):
            written.append((_png(stack, outdir / _numbered("edited.png", i, n), edited[i:i + 1]), "edited image"))
            written.append((_png(stack, outdir / _numbered("reconstruction.png", i, n), recon[i:i + 1]),
                            "unedited reconstruction"))
        latent_path = outdir / "edited_w.npz"
        stylegan.save_ws(stack.enter_context(atomic_file(latent_path)), edited_ws, noise=noise, metadata=meta)
        written.append((latent_path, "edited latent"))
        if result is not None:
            proj_path = outdir / "projected_w.npz"
            stylegan.save_ws(stack.enter_context(atomic_file(proj_path)), ws, noise=noise,
                             metadata={"network": str(network), "generator": fp, "source": str(source)})
            written.append((proj_path, "projected latent (unedited)"))
        if pasted is not None:
            written.append((_png(stack, outdir / "pasted.png", pasted), "edited face pasted into the photo"))
    applied = ", ".join(f"{e.name} {s:+g} {e.unit}" for e, s, _ in chosen)
    for path, what in written:
        click.echo(f"{path}: {what}" + (f" ({applied})" if path.name.startswith(("edited", "pasted")) else ""))
    if style_edits:
        click.echo(f"note: edited_w.npz holds the W/W+ edits only; StyleSpace edits ({', '.join(style_edits)}) act "
                   "on styles: re-apply them with edits.render (its metadata lists them under 'not_in_w')", err=True)
