"""`sgt swap` (one identity onto one attribute image or latent) and `sgt eval-swap` (the synthetic protocol)."""
from __future__ import annotations

import json
from pathlib import Path

import click

from sgtcore.registry import DEFAULT_GENERATOR

_CTX = {"show_default": True}


def _splits(spec: str, num_ws: int) -> list[int]:
    from stylegan.utils import parse_range

    if spec == "all":
        return list(range(num_ws + 1))
    try:
        return [int(s) for s in parse_range(spec)]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--splits") from None


@click.command(context_settings=_CTX)
@click.option("--network", default=DEFAULT_GENERATOR, help="Generator: registered name, .pkl, .pt or model folder.")
@click.option("--ids", "n_ids", default=100, type=click.IntRange(min=2), help="N held-out identity heads.")
@click.option("--attributes", "n_att", default=10, type=click.IntRange(min=1), help="M held-out attribute heads.")
@click.option("--seed", default=None, type=int, help="Protocol seed [default: edits.swap.evaluate.PROTOCOL_SEED].")
@click.option("--validation", is_flag=True,
              help="The validation split instead (edits.swap.evaluate.VALIDATION_SEED), read by the oracle alone: "
                   "where training losses and weights are chosen (the protocol and the judge stay for the result).")
@click.option("--method", "methods", multiple=True, default=("lcr",),
              type=click.Choice(["lcr", "ftm", "blend", "inject"]), help="Methods to measure (repeatable).")
@click.option("--splits", default="default", help="LCR: 'default' (the library's), 'all' (sweep 0..num_ws) or a "
                                                   "list such as 2,4,6-8.")
@click.option("--invert-steps", "--steps", "invert_steps", default=None, type=click.IntRange(min=0),
              help="Projection steps per head [default: the library's preset]; 0: the encoder's guess alone.")
@click.option("--real-identities", default=None, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Real-photo protocol: a folder of identity photos (with --real-attributes).")
@click.option("--real-attributes", default=None, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Real-photo protocol: a folder of attribute photos; every pair is swapped and read by dlib.")
@click.option("--cache", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="An .npz of renders and inverted codes, reused when it fits (re-runs skip inversion).")
@click.option("--swap-net", "swap_nets", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A trained ftm/blend network folder (`sgt train-swap --out`) to use with --network (repeatable); "
                   "the shipped ones for synthheads are found without it.")
@click.option("--out", "out_json", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the results as JSON.")
@click.option("--identity-net", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Real-photo protocol: ArcFace's model_ir_se50.pth as a second identity judge beside dlib "
                   "(column 'ArcFace').")
def eval_swap(network: str, n_ids: int, n_att: int, seed: int | None, validation: bool, methods: tuple[str, ...],
              splits: str,
              invert_steps: int | None, real_identities: Path | None, real_attributes: Path | None,
              cache: Path | None, swap_nets: tuple[Path, ...], out_json: Path | None,
              identity_net: Path | None) -> None:
    """Measure swap methods on held-out synthetic heads with exact truth (ID retrieval, pose and
    expression error, PSNR/SSIM against the true swap render, time per swap) next to the ceiling.

    \b
    Example:
      sgt eval-swap --network synthheads --ids 100 --attributes 10 --splits all --cache runs/swap_cache.npz
      sgt eval-swap --network synthheads128 --validation --method ftm --swap-net runs/ftm_a --cache runs/val.npz
      sgt eval-swap --real-identities ids/ --real-attributes atts/ --network ffhq --steps 200 --out real.json
    """
    from stylegan.cli_network import load_network
    from synthetic import judge as judge_mod
    from synthetic import oracle as oracle_mod

    from . import evaluate as ev
    from .api import check_method
    from .latent import default_split

    for m in methods:
        try:
            check_method(m)
        except ValueError as exc:
            raise click.ClickException(" ".join(str(exc).split())) from None
    if validation and seed is not None:
        raise click.UsageError("--validation has its own seed (edits.swap.evaluate.VALIDATION_SEED); drop --seed")
    if validation and real_identities is not None:
        raise click.UsageError("--validation is a synthetic split; the real-photo protocol has no validation seed")
    G = load_network(network)
    _register_nets(swap_nets, G)
    for m in methods:
        _check_trained(m, G)
    if (real_identities is None) != (real_attributes is None):
        raise click.UsageError("the real-photo protocol needs both --real-identities and --real-attributes")
    if real_identities is not None:
        return _eval_real(G, network, real_identities, real_attributes, methods, splits, invert_steps, out_json,
                          identity_net)
    split_list = [default_split(G.num_ws)] if splits == "default" else _splits(splits, G.num_ws)
    # every identity figure by both (the judge trains nothing), except on the validation split, where choices
    # are made: what chooses must not be the judge
    oracle, judge = oracle_mod.load(), None if validation else judge_mod.load()
    seed = ev.VALIDATION_SEED if validation else ev.PROTOCOL_SEED if seed is None else seed
    data = ev.prepare(G, n_ids, n_att, seed, invert_steps, cache)
    ceil = ev.ceiling(G, data, oracle, judge)
    rows = ev.sweep_lcr(G, data, split_list, oracle, judge=judge) if "lcr" in methods else []
    from .api import Swapper

    trained = [{"method": m, **ev.evaluate(G, data, Swapper(G, m), oracle, progress=True, desc=m, judge=judge)}
               for m in methods if m != "lcr"]
    result = {"network": str(network), "protocol": data.meta, "ceiling": ceil,
              "lcr": rows, "default_split": default_split(G.num_ws), "trained": trained}
    if len(rows) > 1:
        result["chosen_split"] = ev.choose_split(rows)
    click.echo(("VALIDATION split (oracle only): " if validation else "") +
               f"{n_ids} identities x {n_att} attribute heads at {G.img_resolution} px, inversion "
               f"{'library default' if invert_steps is None else f'{invert_steps} steps'} "
               f"({data.meta.get('invert_s_per_head', float('nan')):.2f} s/head)")
    click.echo(f"ceiling: ID top-1 on truth renders {ceil['id_top1']:.3f} (judge {_fmt(ceil, 'judge_id_top1')}); "
               f"reconstruction alone: ID top-1 {ceil['recon_id_top1']:.3f} (judge {_fmt(ceil, 'judge_recon_id_top1')}), "
               f"pose {ceil['recon_pose_error']:.2f} deg, expression {ceil['recon_expression_error']:.3f}, "
               f"PSNR {ceil['recon_psnr']:.2f} dB")
    click.echo(f"method  split  ID top-1  judge  pose err (deg)  expr err  success@{ev.POSE_TOLERANCE:g}deg  PSNR (dB)"
               "  SSIM   ms/swap")
    for r in [{"method": "lcr", **r} for r in rows] + [{"split": "-", **r} for r in trained]:
        click.echo(f"{r['method']:<6}  {r['split']:>5}  {r['id_top1']:>8.3f}  {_fmt(r, 'judge_id_top1'):>5}  "
                   f"{r['pose_error']:>14.2f}  {r['expression_error']:>8.3f}  {r['success']:>14.3f}  {r['psnr']:>9.2f}  "
                   f"{r['ssim']:.3f}  {r['ms_per_swap']:>7.1f}")
    if "chosen_split" in result:
        click.echo(f"split chosen by edits.swap.evaluate.choose_split: {result['chosen_split']} "
                   f"(library default now: {result['default_split']})")
    if out_json is not None:
        out_json.parent.mkdir(parents=True, exist_ok=True)
        out_json.write_text(json.dumps(result, indent=1))
        click.echo(f"{out_json}: results")


def _fmt(row: dict, key: str) -> str:
    """A judge figure, or '-' where the judge was not read (the validation split)."""
    return f"{row[key]:.3f}" if key in row else "-"


def _eval_real(G: object, network: str, id_dir: Path, att_dir: Path, methods: tuple[str, ...], splits: str,
               steps: int | None, out_json: Path | None, identity_net: Path | None = None) -> None:
    """`sgt eval-swap --real-identities --real-attributes`: `edits.swap.real_eval.swap_folders` per method."""
    from sgtcore.errors import CheckpointError

    from tqdm.auto import tqdm

    from . import real_eval
    from .api import Swapper, prepare

    split_list = [None] if splits == "default" else _splits(splits, G.num_ws)  # type: ignore[attr-defined]
    try:
        arcface = None
        if identity_net is not None:
            from inversion.identity import load_identity_net

            arcface = load_identity_net(identity_net)
        ids, atts = real_eval.list_photos(id_dir), real_eval.list_photos(att_dir)
        for m in methods:
            Swapper(G, m)  # an untrained method fails before any photo is inverted
        # every photo aligned and inverted once for all methods and splits
        ids = [prepare(p, G, "identity", steps=steps) for p in tqdm(ids, desc="invert identities")]
        atts = [prepare(p, G, "attribute", steps=steps, landmarks=True) for p in tqdm(atts, desc="invert attributes")]
        rows = [real_eval.swap_folders(G, ids, atts, m, s, steps, identity_net=arcface)
                for m in methods for s in split_list]
    except (ValueError, CheckpointError, ImportError, FileNotFoundError) as exc:
        raise click.ClickException(" ".join(str(exc).split())) from None
    click.echo(f"real photos: {len(ids)} identities x {len(atts)} attributes ({id_dir}, {att_dir})")
    click.echo("method  split  ID top-1  ArcFace  pose err (deg)  yaw/pitch/roll  expr err  measured  no face "
               "(id/att/swap)")
    for r in rows:
        nf = r["not_found"]
        arc = f"{r['arcface_id_top1']:>7.3f}" if "arcface_id_top1" in r else f"{'-':>7}"
        click.echo(f"{r['method']:<6}  {r['split']:>5}  {r['id_top1']:>8.3f}  {arc}  {r['pose_error']:>14.2f}  "
                   f"{r['yaw_error']:.1f}/{r['pitch_error']:.1f}/{r['roll_error']:.1f}  {r['expression_error']:>8.4f}"
                   f"  {r['pairs_measured']:>4}/{r['pairs']:<4} {len(nf['identities'])}/{len(nf['attributes'])}/"
                   f"{len(nf['swaps'])}")
    if out_json is not None:
        out_json.parent.mkdir(parents=True, exist_ok=True)
        out_json.write_text(json.dumps({"network": str(network), "protocol": "real", "rows": rows}, indent=1))
        click.echo(f"{out_json}: results")


@click.command(context_settings=_CTX)
@click.option("--identity", "identity", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Who: a photo (aligned and inverted on the fly) or a latent file (.npz).")
@click.option("--attribute", "attribute", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Pose, expression, lighting: a photo or a latent file (.npz).")
@click.option("--attribute-frames", "attribute_frames", default=None,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Video mode (instead of --attribute): a folder of frames (photos of one size, or .npz), in "
                   "file-name order; writes swapped_0000.png ..., swapped_w.npz [T, num_ws, w_dim] and swapped.mp4 "
                   "(when imageio-ffmpeg is installed).")
@click.option("--fps", default=25.0, type=click.FloatRange(min=1.0, max=240.0),
              help="Video mode: frame rate of swapped.mp4.")
@click.option("--smooth", default=None, type=click.FloatRange(0.0, 1.0, max_open=True),
              help="Video mode: EMA weight of the past on the frames' codes; 0: off  [default: the library's, "
                   "edits.swap.video.default_smooth: measured for the swap network, else 0.5]")
@click.option("--method", default="lcr", help="lcr (layer-wise code replacement, no weights); ftm (trained code "
                                              "mixing); blend (trained feature blending: keeps the attribute's "
                                              "background and hair); inject (trained: the identity's embedding "
                                              "modulates the attribute's code); megafs-ftm, megafs-injection, "
                                              "megafs-lcr (MegaFS's released networks: --swap-net FILE).")
@click.option("--split", default=None, type=int,
              help="LCR: ws rows < split come from the attribute [default: edits.swap.latent.DEFAULT_SPLIT].")
@click.option("--network", default=DEFAULT_GENERATOR, help="Generator: registered name, .pkl, .pt or model folder.")
@click.option("--outdir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Writes swapped.png and swapped_w.npz (and pasted.png with --paste).")
@click.option("--paste", is_flag=True, help="Also paste the swap back into the attribute photo.")
@click.option("--steps", default=None, type=click.IntRange(min=0),
              help="Photo input: projection steps [default: the library's preset, as `sgt project`].")
@click.option("--detector", default="hog", type=click.Choice(["hog", "cnn"]), help="Photo input: dlib face detector.")
@click.option("--upsample", default=1, type=click.IntRange(min=0), help="Photo input: dlib upsampling count.")
@click.option("--swap-net", "swap_nets", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="A trained ftm/blend network folder (`sgt train-swap --out`) to use with --network (repeatable); "
                   "the shipped ones for synthheads are found without it. megafs-* methods: MegaFS's "
                   "{ftm,injection,lcr}_final.pth file.")
@click.option("--identity-net", "identity_net", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="inject trained on a user's identity network (`sgt train-swap --method inject --identity-net`): "
                   "the same ArcFace model_ir_se50.pth, to embed the identity as in training.")
def swap(identity: Path, attribute: Path | None, attribute_frames: Path | None, fps: float, smooth: float,
         method: str, split: int | None, network: str, outdir: Path, paste: bool, steps: int | None, detector: str,
         upsample: int, swap_nets: tuple[Path, ...] = (), identity_net: Path | None = None) -> None:
    """Put the identity of IDENTITY onto the pose, expression and lighting of ATTRIBUTE.

    Every check runs before anything is written; the outputs then appear together.

    \b
    Examples:
      sgt swap --identity a.npz --attribute b.npz --outdir out
      sgt swap --identity me.jpg --attribute them.jpg --method lcr --outdir out --paste
      sgt swap --identity me.jpg --attribute-frames frames/ --smooth 0.5 --outdir out
    """
    import contextlib
    import warnings

    import stylegan
    from edits.cli_io import write_png
    from sgtcore.atomic import atomic_file
    from sgtcore.errors import CheckpointError
    from stylegan.latents import LATENT_SUFFIXES

    from .api import check_method
    from .api import swap as swap_fn

    try:
        check_method(method)
    except ValueError as exc:
        raise click.ClickException(" ".join(str(exc).split())) from None
    if (attribute is None) == (attribute_frames is None):
        raise click.UsageError("pass exactly one of --attribute (one image or latent) and --attribute-frames (a folder)")
    id_net = None
    if identity_net is not None:
        if method != "inject":
            raise click.UsageError(f"--identity-net is for --method inject (it embeds the identity), not {method}")
        from inversion.identity import load_identity_net

        try:
            id_net = load_identity_net(identity_net)
        except (CheckpointError, OSError, ValueError) as exc:
            raise click.BadParameter(" ".join(str(exc).split()), param_hint="--identity-net") from None
    if attribute_frames is not None:
        if paste:
            raise click.UsageError("--paste works with a single --attribute photo, not with --attribute-frames")
        if method.startswith("megafs-"):
            raise click.UsageError(f"video mode (--attribute-frames) runs lcr, ftm, blend and inject, not {method}")
        return _swap_frames(identity, attribute_frames, fps, smooth, method, split, network, outdir, steps, detector,
                            upsample, swap_nets, id_net)
    is_latent = {p: p.suffix.lower() in LATENT_SUFFIXES for p in (identity, attribute)}
    if paste and is_latent[attribute]:
        raise click.UsageError(f"--paste needs a photo to paste into; the attribute {attribute} is a latent file")
    G = _network_checked(network, split, [identity, attribute], method, swap_nets)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = swap_fn(identity, attribute, method, G, split=split, steps=steps, detector=detector,
                        upsample=upsample, swap_net=_megafs_file(method, swap_nets), identity_net=id_net)
            pasted = r.paste() if paste else None
    except (ValueError, CheckpointError, ImportError, FileNotFoundError) as exc:  # ImportError: no dlib
        raise click.ClickException(" ".join(str(exc).split())) from None
    for w in caught:
        click.echo(f"note: {w.message}", err=True)
    meta = {"network": str(network), "generator": stylegan.fingerprint(G), "method": r.method, "split": r.split,
            "identity": str(identity), "attribute": str(attribute),
            "noise": "attribute" if r.attribute.noise else "const"}
    written: list[tuple[Path, str]] = []
    with contextlib.ExitStack() as stack:
        written.append((write_png(stack, outdir / "swapped.png", r.image), "swapped face (aligned frame)"))
        latent_path = outdir / "swapped_w.npz"
        stylegan.save_ws(stack.enter_context(atomic_file(latent_path)), r.ws, noise=r.attribute.noise or None,
                         metadata=meta)
        written.append((latent_path, "swapped latent"))
        if pasted is not None:
            written.append((write_png(stack, outdir / "pasted.png", pasted), "swap pasted into the attribute photo"))
    for path, what in written:
        click.echo(f"{path}: {what} ({r.method}{'' if r.split is None else f', split {r.split}'})")


def _swap_frames(identity: Path, folder: Path, fps: float, smooth: float | None, method: str, split: int | None,
                 network: str, outdir: Path, steps: int | None, detector: str, upsample: int,
                 swap_nets: tuple[Path, ...], identity_net: object = None) -> None:
    """`sgt swap --attribute-frames`: every check and every frame's swap before anything is written."""
    import contextlib
    import warnings

    import torch

    import stylegan
    from edits.cli_io import write_png
    from inversion.cli import IMAGE_SUFFIXES
    from sgtcore.atomic import atomic_file
    from sgtcore.errors import CheckpointError
    from stylegan.latents import LATENT_SUFFIXES

    from stylegan.images import to_uint8

    from .video import default_smooth, swap_frames
    from .video_io import mp4_available, read_frame_folder, write_mp4

    try:
        frames, skipped, _ = read_frame_folder(folder, IMAGE_SUFFIXES, LATENT_SUFFIXES)
    except ValueError as exc:
        raise click.ClickException(f"--attribute-frames {exc}") from None
    if skipped:
        click.echo(f"note: skipping {len(skipped)} file(s) that are not frames (images "
                   f"{', '.join(IMAGE_SUFFIXES)} or latents {', '.join(LATENT_SUFFIXES)}): "
                   f"{', '.join(p.name for p in skipped[:5])}{' ...' if len(skipped) > 5 else ''}", err=True)
    G = _network_checked(network, split, [identity, *frames], method, swap_nets)
    try:
        smooth = default_smooth(G, method) if smooth is None else smooth  # the library's, for the network that runs
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results = swap_frames(identity, frames, method, G, smooth=smooth, split=split, steps=steps,
                                  detector=detector, upsample=upsample, progress=True, identity_net=identity_net)
    except (ValueError, CheckpointError, ImportError, FileNotFoundError) as exc:  # ImportError: no dlib
        raise click.ClickException(" ".join(str(exc).split())) from None
    for w in caught:
        click.echo(f"note: {w.message}", err=True)
    noise = None
    if all(r.attribute.noise for r in results) and len({tuple(r.attribute.noise) for r in results}) == 1:
        noise = {k: torch.stack([r.attribute.noise[k] for r in results]) for k in results[0].attribute.noise}
    meta = {"network": str(network), "generator": stylegan.fingerprint(G), "method": results[0].method,
            "split": results[0].split, "smooth": smooth, "identity": str(identity),
            "frames": [str(p) for p in frames], "noise": "attribute" if noise is not None else "const"}
    with contextlib.ExitStack() as stack:
        for k, r in enumerate(results):
            write_png(stack, outdir / f"swapped_{k:04d}.png", r.image)
        latent_path = outdir / "swapped_w.npz"
        stylegan.save_ws(stack.enter_context(atomic_file(latent_path)), torch.cat([r.ws for r in results]),
                         noise=noise, metadata=meta)
        video = outdir / "swapped.mp4" if mp4_available() else None
        if video is not None:
            write_mp4(stack.enter_context(atomic_file(video)), [to_uint8(r.image)[0] for r in results], fps)
    click.echo(f"{outdir}: {len(results)} swapped frames swapped_0000.png .. swapped_{len(results) - 1:04d}.png "
               f"({results[0].method}{'' if results[0].split is None else f', split {results[0].split}'}, "
               f"smooth {smooth:g})")
    click.echo(f"{latent_path}: swapped latents [{len(results)}, {G.num_ws}, {G.w_dim}]")
    if video is not None:
        click.echo(f"{video}: the swapped frames as a video, {fps:g} fps")
    else:
        click.echo("note: no swapped.mp4: `pip install imageio-ffmpeg` to get one", err=True)


def _megafs_file(method: str, paths: tuple[Path, ...]) -> Path | None:
    """The one --swap-net FILE a megafs-* method runs (None for other methods)."""
    if not method.startswith("megafs-"):
        return None
    if len(paths) != 1 or not paths[0].is_file():
        kind = method.split("-", 1)[1]
        raise click.BadParameter(f"{method} needs exactly one --swap-net FILE: MegaFS's {kind}_final.pth",
                                 param_hint="--swap-net")
    return paths[0]


def _register_nets(paths: tuple[Path, ...], G: object) -> None:
    """Register each --swap-net folder for this run (checked: one of our swap networks, made for G)."""
    from sgtcore import modelio, registry
    from sgtcore.errors import CheckpointError

    from .api import NETWORK_CLASSES

    for k, p in enumerate(paths):
        if p.is_file():
            raise click.BadParameter(f"{p} is a file: --swap-net FILE is MegaFS's .pth, for the megafs-* methods; "
                                     "trained ftm/blend networks are folders", param_hint="--swap-net")
        try:
            config = modelio.read_config(p)
            modelio.check_generator(config, G, p)
            kind = config.get("class_name")
        except (ValueError, CheckpointError, FileNotFoundError) as exc:
            raise click.BadParameter(" ".join(str(exc).split()), param_hint="--swap-net") from None
        if kind not in NETWORK_CLASSES.values():
            raise click.BadParameter(f"{p} holds a {kind}, not a swap network ({', '.join(NETWORK_CLASSES.values())})",
                                     param_hint="--swap-net")
        registry.register("swap", f"cli-swap-net-{k}", p)


def _check_trained(method: str, G: object) -> None:
    from .api import check_method

    try:
        check_method(method, G)
    except ValueError as exc:
        raise click.ClickException(" ".join(str(exc).split())) from None


def _network_checked(network: str, split: int | None, inputs: list[Path], method: str = "lcr",
                     swap_nets: tuple[Path, ...] = ()):
    """Load --network, register --swap-net, check --method, --split and every latent-file input against it
    (one-line errors naming the option)."""
    from edits.cli_io import read_latents
    from stylegan.cli_network import load_network
    from stylegan.latents import LATENT_SUFFIXES

    from .latent import check_split

    G = load_network(network)
    megafs = _megafs_file(method, swap_nets)
    if megafs is None:
        _register_nets(swap_nets, G)
        _check_trained(method, G)
    else:
        from sgtcore.errors import CheckpointError

        from .api import Swapper
        try:
            Swapper(G, method, split, megafs)  # read (then cached for the swap) and checked against G
        except (CheckpointError, FileNotFoundError) as exc:
            raise click.BadParameter(" ".join(str(exc).split()), param_hint="--swap-net") from None
        except ValueError as exc:  # a split for megafs-ftm/injection, or out of range
            raise click.BadParameter(" ".join(str(exc).split()), param_hint="--split") from None
    if split is not None:
        try:
            check_split(split, G.num_ws)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--split") from None
    for p in inputs:
        if p.suffix.lower() in LATENT_SUFFIXES:
            read_latents(p, G, network)  # the message names --network
    return G
