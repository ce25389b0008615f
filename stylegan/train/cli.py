"""`sgt train` (also `torchrun --nproc_per_node=K -m stylegan.train`): train a StyleGAN2 on a folder of images."""
from __future__ import annotations

import shlex
import sys

import click

_CTX = {"show_default": True}


def _parse_channels(spec: str | None) -> dict[int, int] | None:
    """'4:128,8:128,16:64' -> {4: 128, 8: 128, 16: 64}."""
    if not spec:
        return None
    try:
        return {int(k): int(v) for k, v in (part.split(":") for part in spec.split(","))}
    except ValueError as exc:
        raise click.BadParameter(f"{spec!r}: expected 'res:channels,...' e.g. '4:128,8:128,16:64,32:32,64:16'") \
            from exc


def _command_line() -> str:
    """How this run was started, for the exported model's metadata."""
    import os

    if sys.argv[0].endswith("__main__.py"):
        world = int(os.environ.get("WORLD_SIZE", 1))
        head = [f"torchrun --nproc_per_node={world}"] if world > 1 else ["python"]
        return " ".join(head + ["-m stylegan.train", shlex.join(sys.argv[1:])])
    args = sys.argv[1:]
    return shlex.join(["sgt", *args] if args[:1] == ["train"] else ["sgt", "train", *args])


@click.command(context_settings=_CTX)
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False),
              help="`sgt render --dataset` output or any folder of square images.")
@click.option("--outdir", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--kimg", "total_kimg", type=float, default=100.0, help="Training length in thousands of real images.")
@click.option("--batch", type=int, default=16, help="Global batch size (split over processes).")
@click.option("--resolution", type=int, default=None, help="Image side; default: the data's.")
@click.option("--resize", is_flag=True, help="Resize images of another size to --resolution.")
@click.option("--max-images", type=int, default=None, help="Train on the first N images only.")
@click.option("--z-dim", type=int, default=128)
@click.option("--w-dim", type=int, default=128)
@click.option("--map", "mapping_layers", type=int, default=2, help="Mapping network depth.")
@click.option("--cbase", "channel_base", type=int, default=4096, help="Channels at resolution r: cbase / r ...")
@click.option("--cmax", "channel_max", type=int, default=128, help="... capped at cmax.")
@click.option("--channels", default=None, help="Explicit 'res:ch,...' for G and D (overrides --cbase/--cmax).")
@click.option("--mbstd-group", "mbstd_group_size", type=int, default=4)
@click.option("--glr", "g_lr", type=float, default=0.0025)
@click.option("--dlr", "d_lr", type=float, default=0.0025)
@click.option("--gamma", "r1_gamma", type=float, default=None, help="R1 weight; default 0.0002 * R^2 / batch.")
@click.option("--r1-interval", type=int, default=16, help="Lazy R1 every N steps.")
@click.option("--pl-weight", type=float, default=2.0, help="Path-length regularisation weight (0 = off).")
@click.option("--pl-interval", type=int, default=4)
@click.option("--mixing", "style_mixing", type=float, default=0.9, help="Style-mixing probability.")
@click.option("--ema", "ema_kimg", type=float, default=None, help="G_ema half-life in kimg; default batch * 10/32.")
@click.option("--amp/--no-amp", default=True, help="bf16 autocast on CUDA (no effect on CPU).")
@click.option("--seed", type=int, default=0)
@click.option("--snap", "snap_kimg", type=float, default=4.0, help="Checkpoint + sample grid every N kimg.")
@click.option("--snap-minutes", type=float, default=None, help="Also checkpoint every N minutes of wall time.")
@click.option("--keep", "keep_snapshots", type=int, default=3, help="Checkpoints to keep.")
@click.option("--resume", default=None, type=click.Path(exists=True),
              help="Continue a run: its directory or one checkpoint (same options).")
@click.option("--init-from", default=None,
              help="Warm start from a model folder or registered name (e.g. synthheads): G and G_ema from its "
                   "generator, D from its discriminator/ subdirectory; fresh optimisers; kimg continues. "
                   "Ignored with --resume (the checkpoint wins).")
@click.option("--grow-from", default=None,
              help="Warm start from a model of half the resolution (folder or registered name): every layer copied, "
                   "one new top block on G (its ToRGB at zero: training starts from the old images upsampled) and "
                   "on D. --channels must repeat the model's widths and add the new resolution's.")
@click.option("--device", default="auto", help="'auto' (cuda:LOCAL_RANK if available, else cpu), 'cpu', 'cuda:0'.")
@click.option("--threads", type=int, default=None, help="torch threads per process.")
def train(data, outdir, resume, channels, init_from, grow_from, **opts):
    """Train a StyleGAN2 (non-saturating loss, lazy R1, style mixing, G_ema, path-length reg.).

    Example: sgt train --data data/heads64 --outdir runs/heads64 --kimg 200.
    Several processes: torchrun --nproc_per_node=2 -m stylegan.train --data ... --outdir ...
    """
    from stylegan.cli_network import model_dir
    from stylegan.formats.errors import CheckpointError
    from stylegan.train.config import TrainConfig
    from stylegan.train.loop import train as run

    if init_from is not None:
        init_from = str(model_dir(init_from, option="--init-from"))
    if grow_from is not None:
        grow_from = str(model_dir(grow_from, option="--grow-from"))
    cfg = TrainConfig(data=data, outdir=outdir, channels=_parse_channels(channels), command=_command_line(),
                      init_from=init_from, grow_from=grow_from, **opts)
    try:
        out = run(cfg, resume=resume)
    except (ValueError, FileNotFoundError, CheckpointError) as exc:  # e.g. --init-from of other shapes
        raise click.ClickException(str(exc)) from exc
    click.echo(f"done: {out}/final (G_ema), checkpoints in {out}/checkpoints")
