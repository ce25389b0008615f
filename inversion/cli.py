"""`sgt align`: FFHQ-align the faces in photos, writing each aligned PNG with a JSON record
(landmarks, quad, inverse matrix) from which `paste_back` can later put an edit back."""
from __future__ import annotations

import contextlib
import json
import sys
import warnings
from pathlib import Path

import click
import PIL.Image
from tqdm.auto import tqdm

from sgtcore.atomic import atomic_file
from sgtcore.registry import DEFAULT_GENERATOR

from .align import AlignedFace, needs_alignment
from .align import align as align_face
from .errors import AlignmentError, MultipleFacesWarning


def _parse_face(value: str) -> str | int:
    if value in ("largest", "all"):
        return value
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"expected 'largest', 'all' or an integer index, got {value!r}") from None


def _to_json(data: dict) -> str:
    """One key per line, each value on one line (68 landmark pairs stay readable)."""
    return "{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in data.items()) + "\n}\n"


def _save(faces: list[AlignedFace], stem: str, outdir: Path, numbered: bool, meta: dict) -> list[Path]:
    """Write every file of one photo under a temporary name (one `atomic_file` each, in one ExitStack)
    and rename them only when all succeeded, so an error (disk full, interrupt) never leaves a partial
    set behind."""
    written: list[Path] = []
    with contextlib.ExitStack() as stack:
        for face in faces:
            name = f"{stem}_{face.face_index:02d}" if numbered else stem
            png, record = outdir / f"{name}.png", outdir / f"{name}.json"
            PIL.Image.fromarray(face.image).save(stack.enter_context(atomic_file(png)), format="PNG")
            stack.enter_context(atomic_file(record)).write_text(_to_json({**face.to_dict(image_file=png.name), **meta}))
            written += [png, record]
    return written


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
    _check_unique_stems(photos, "{stem}.png", "align")
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


# ---------------------------------------------------------------------------------------------
# sgt project

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def _expand_inputs(inputs: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for p in inputs:
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES and not q.name.startswith("."))
            if not found:
                raise click.UsageError(f"{p} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            files += found
        else:
            files.append(p)
    _check_unique_stems(files, "OUTDIR/{stem}/", "project")
    return files


def _check_unique_stems(files, target: str, verb: str) -> None:
    """Refuse inputs whose outputs (named after the file stem) would overwrite each other."""
    stems: dict[str, Path] = {}
    for f in files:
        if f.stem in stems and stems[f.stem] != f:
            raise click.UsageError(f"{stems[f.stem]} and {f} would both be written as {target.format(stem=f.stem)}; "
                                   f"rename one or {verb} them into different --outdir folders")
        stems[f.stem] = f


@click.command(context_settings={"show_default": True})
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--network", default=DEFAULT_GENERATOR, help="Generator: registered name, .pkl, .pt or model folder.")
@click.option("--outdir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Writes OUTDIR/NAME/{target.png, proj.png, projected_w.npz, history.json} per input.")
@click.option("--preset", default="auto", type=click.Choice(["auto", "nvlabs"]),
              help="Defaults for the options below left unset: 'auto' = W+, 50 steps from the encoder registered "
                   "for --network with an identity term (else 200 from the best of 16 samples); 'nvlabs' = W, 1000 "
                   "steps from w_avg (inversion.PRESETS, bench/RESULTS.md).")
@click.option("--space", default=None, type=click.Choice(["w", "w+"]), help="Latent space [default: from --preset].")
@click.option("--steps", default=None, type=click.IntRange(min=0), help="Optimisation steps [default: from --preset].")
@click.option("--init", "init", default=None, type=click.Choice(["auto", "w_avg", "encoder"]),
              help="Start point; 'auto' = the encoder registered for --network when there is one, else w_avg "
                   "[default: from --preset].")
@click.option("--encoder", "encoder_dir", default=None, type=click.Path(exists=True, path_type=Path),
              help="Start from this encoder instead of the registered one: one of our encoder folders, or a "
                   "pSp / e4e / ReStyle .pt file (docs/formats_encoders.md).")
@click.option("--candidates", default=None, type=click.IntRange(min=0),
              help="With a w_avg start, start from the best of this many mapped samples [default: from --preset].")
@click.option("--lr", default=None, type=float, help="Adam learning rate with NVlabs' ramps [default: from --preset].")
@click.option("--w-noise", default=None, type=float,
              help="Noise on w in sigma_w units [default: 0.05 from a plain w_avg start, else 0].")
@click.option("--loss", default="auto", type=click.Choice(["auto", "lpips", "dfeat+l2+msssim", "l2+msssim", "l2"]),
              help="Reconstruction loss; 'auto' uses LPIPS only if its VGG weights are local.")
@click.option("--lpips-weights", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="torchvision vgg16-397923af.pth for LPIPS (nothing is downloaded).")
@click.option("--align/--no-align", "do_align", default=None,
              help="FFHQ-align the inputs first [default: align inputs not already RxR].")
@click.option("--pti-steps", default=0, type=click.IntRange(min=0),
              help="Pivotal tuning steps after projection (0: off); writes pti_delta/ (a model folder) + proj_pti.png.")
@click.option("--gif", is_flag=True, help="Also write proj.gif showing the optimisation.")
@click.option("--id-weight", default=None, type=click.FloatRange(min=0),
              help="Weight of the identity term (default: the preset's, 0.1 for auto; 0: off).")
@click.option("--identity-net", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="ArcFace's model_ir_se50.pth as the identity term's network (default: the oracle for the shipped "
                   "synthetic-head models, none for other generators).")
@click.option("--seed", default=0, type=int, help="Seed for noise maps and w noise.")
def project(inputs: tuple[Path, ...], network: str, outdir: Path, preset: str, space: str | None, steps: int | None,
            init: str | None, encoder_dir: Path | None, candidates: int | None, lr: float | None,
            w_noise: float | None, loss: str,
            lpips_weights: Path | None, do_align: bool | None, pti_steps: int, gif: bool, id_weight: float | None,
            identity_net: Path | None, seed: int) -> None:
    """Project aligned faces (or photos, aligned first) into a generator's W / W+ space.

    INPUTS are image files or folders of images. An input that fails is reported and skipped,
    nothing is written for it, and the command exits with status 1 after the rest.

    With a folder among INPUTS the run is a dataset job (inversion.project_folder): finished results
    made with the same settings are kept (a re-run continues), OUTDIR/index.json and index.csv list
    every photo (result, PSNR, seconds, or why it was skipped), and skipped photos do not fail the
    command (only "nothing could be inverted" does). Under torchrun each rank takes its share:
    torchrun --nproc_per_node K -m inversion.project_folder DIR --outdir OUT [options].
    """
    from dataclasses import asdict

    import stylegan
    import stylegan.images
    from stylegan.cli_network import load_network
    from stylegan.train import close_distributed, init_distributed, rank_world

    from .image_io import load_image
    from .losses import make_loss, psnr
    from .project_folder import INDEX_CSV, RESULT_FILES, project_files
    from .projection import FROM_PRESET, ProjectionError, prepare_target, resolve_settings
    from .projection import project as project_image
    from .project_io import save_projection

    files = _expand_inputs(inputs)
    G = load_network(network)
    D = load_network(network, "discriminator", required=False)
    encoder = None
    if encoder_dir is not None:
        from .encoder import load_encoder

        try:
            encoder = load_encoder(encoder_dir, G=G)
        except (stylegan.CheckpointError, OSError) as exc:
            raise click.ClickException(f"--encoder: {' '.join(str(exc).split())}") from None
    identity = FROM_PRESET
    if identity_net is not None:
        from .identity import load_identity_net

        try:
            identity = load_identity_net(identity_net)
        except (stylegan.CheckpointError, OSError) as exc:
            raise click.ClickException(f"--identity-net: {' '.join(str(exc).split())}") from None
    loss_fn = make_loss(loss, D=D, lpips_weights=lpips_weights)
    if loss_fn.name != loss:
        tqdm.write(f"note: loss {loss!r} -> {loss_fn.name!r}", file=sys.stderr)
    try:  # the library owns the defaults; resolve once to report them and fail early
        settings, encoder = resolve_settings(G, preset, space=space, steps=steps, init=init, candidates=candidates,
                                             lr=lr, w_noise=w_noise, encoder=encoder, identity=identity,
                                             id_weight=id_weight)
    except ValueError as exc:
        raise click.UsageError(f"{exc} (an encoder folder: --encoder DIR)" if "encoder" in str(exc) else str(exc)) from None
    steps = settings.steps
    tqdm.write(f"projecting with {settings}", file=sys.stderr)
    res = G.img_resolution
    outdir.mkdir(parents=True, exist_ok=True)

    def invert_one(path: Path) -> tuple[Path, float]:
        """Align if needed, project and write `outdir/stem/` atomically: (folder, PSNR in dB)."""
        image = load_image(path)
        if needs_alignment(image, res, do_align):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", MultipleFacesWarning)
                image = align_face(path, output_size=res).image
            for warning in caught:
                tqdm.write(f"note: {warning.message}", file=sys.stderr)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            target = prepare_target(image, res)
        for warning in caught:
            tqdm.write(f"note: {path}: {warning.message}", file=sys.stderr)
        result = project_image(G, target, preset=preset, space=settings.space, steps=steps, init=settings.init,
                               encoder=encoder, lr=settings.lr, w_noise=settings.w_noise,
                               candidates=settings.candidates, loss=loss_fn, seed=seed, identity=identity,
                               id_weight=settings.id_weight,
                               frame_every=max(1, steps // 50) if gif else 0,
                               progress=rank_world()[0] == 0)  # one bar, not one per rank
        extra = None
        if pti_steps:
            from .pti import pivotal_tuning

            tuned = pivotal_tuning(G, target, result.ws, noise=result.noise, steps=pti_steps, loss=loss_fn)

            def extra(tmp: Path, tuned=tuned) -> None:
                tuned.save(tmp / "pti_delta")
                PIL.Image.fromarray(stylegan.images.to_uint8(tuned.image)[0]).save(tmp / "proj_pti.png")
        dest = save_projection(outdir / path.stem, target, result, gif=gif, extra=extra)
        value = float(psnr(result.image, target))
        h = result.history
        tqdm.write(f"{path} -> {dest}/ ({h['space']}, {steps} steps, loss {h['loss_name']}, PSNR {value:.2f} dB)")
        return dest, value

    batch = any(p.is_dir() for p in inputs)
    # what makes a finished result reusable by a re-run: same generator, same resolved settings, same options
    key = {"generator": stylegan.fingerprint(G), "settings": asdict(settings), "loss": loss_fn.name, "seed": seed,
           "align": do_align, "encoder": None if encoder_dir is None else str(encoder_dir), "pti_steps": pti_steps,
           "identity_net": None if identity_net is None else str(identity_net),
           "gif": gif}
    required = [*RESULT_FILES, *(["proj.gif"] if gif else []), *(["pti_delta", "proj_pti.png"] if pti_steps else [])]
    info = init_distributed("cpu")  # torchrun's process group (gloo), or one process
    try:
        report = project_files(files, outdir, invert_one, key, resume=batch, index=batch,
                               errors=(AlignmentError, ProjectionError, FileNotFoundError, ImportError, ValueError),
                               meta={"network": str(network)}, required=required)
    finally:
        close_distributed(info)
    failures = [e.photo for e in report.entries if e.status == "skipped"]
    if not batch:
        if failures:
            raise click.ClickException(f"{len(failures)} of {len(files)} input(s) failed: {', '.join(failures)}")
        return
    if info.rank != 0:
        return
    if report.stale:
        tqdm.write(f"note: {report.stale} result folder(s) made with other settings were projected again",
                   file=sys.stderr)
    done = report.count("inverted") + report.count("resumed")
    line = (f"{report.count('inverted')} inverted, {report.count('resumed')} already done, {len(failures)} skipped "
            f"(listed in {outdir / INDEX_CSV})")
    if not done:
        raise click.ClickException(f"none of the {len(files)} image(s) could be inverted: {line}")
    click.echo(line)
