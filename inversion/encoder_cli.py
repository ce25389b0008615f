"""`sgt train-encoder`: train an e4e-style encoder on a generator's own samples, and with `--data DIR` on
a folder of aligned images too (pixel + perceptual + oracle identity losses there).

Single process: `sgt train-encoder --network synthheads --outdir runs/enc [--data data/heads64]`.
Several processes (DistributedDataParallel, gloo on CPU):
`torchrun --nproc_per_node 2 -m inversion.encoder_cli --network synthheads --outdir runs/enc`.
"""
from __future__ import annotations

from pathlib import Path

import click

from sgtcore.registry import DEFAULT_GENERATOR


@click.command(context_settings={"show_default": True})
@click.option("--network", default=DEFAULT_GENERATOR, help="Generator: registered name, .pkl, .pt or model folder.")
@click.option("--outdir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Encoder folder (config.json, model.safetensors, log.jsonl).")
@click.option("--steps", default=4000, type=click.IntRange(min=1), help="Training steps.")
@click.option("--batch", default=8, type=click.IntRange(min=1), help="Images per step and process.")
@click.option("--lr", default=1e-3, type=float, help="Adam learning rate (linear decay over the last 20 %).")
@click.option("--progressive-every", default=200, type=click.IntRange(min=0),
              help="Unlock one more layer's W+ offset every N steps (e4e progressive training; 0: all at once).")
@click.option("--image-weight", default=1.0, type=float, help="Weight of the image reconstruction loss (0: latent only).")
@click.option("--reg-weight", default=1e-3, type=float, help="Weight of the delta-norm regulariser.")
@click.option("--loss", default="l2+msssim", type=click.Choice(["auto", "lpips", "dfeat+l2+msssim", "l2+msssim", "l2"]),
              help="Image reconstruction loss.")
@click.option("--channels", default=32, type=click.IntRange(min=4), help="Encoder width at full resolution.")
@click.option("--seed", default=0, type=int, help="Random seed.")
@click.option("--half", is_flag=True, help="Store the final encoder in float16 (half the file; snapshots stay float32).")
@click.option("--data", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="A folder of aligned images (`sgt render --dataset` renders or aligned photos) mixed into every "
                   "batch, with image and identity losses (no latent is known there).")
@click.option("--data-fraction", default=0.5, type=click.FloatRange(0, 1), help="Share of each batch from --data.")
@click.option("--id-weight", default=0.5, type=click.FloatRange(min=0),
              help="Identity loss weight on --data images (1 - cos of the attribute oracle's embeddings).")
@click.option("--identity-net", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="ArcFace's model_ir_se50.pth: the identity term on --data photos (default: the attribute oracle, "
                   "made for the synthetic heads).")
@click.option("--init-from", default=None, type=click.Path(path_type=Path),
              help="Start from this encoder (a folder or registered name, made for NETWORK) instead of a fresh one; unlocking continues from its active layers.")
def train_encoder(network: str, outdir: Path, steps: int, batch: int, lr: float, progressive_every: int,
                  image_weight: float, reg_weight: float, loss: str, channels: int, seed: int, half: bool,
                  data: Path | None, data_fraction: float, id_weight: float, identity_net: Path | None,
                  init_from: Path | None) -> None:
    """Train an encoder (image -> W+) for NETWORK on its own generated samples (and --data images)."""
    from sgtcore.errors import CheckpointError
    from stylegan.cli_network import load_network

    from .encoder_train import EncoderTrainConfig
    from .encoder_train import train_encoder as run

    G = load_network(network)
    D = None
    if loss in ("auto", "dfeat+l2+msssim"):  # --loss dfeat+l2+msssim needs one, auto uses one when there
        D = load_network(network, "discriminator", required=loss != "auto")
    cfg = EncoderTrainConfig(steps=steps, batch=batch, lr=lr, progressive_every=progressive_every,
                             image_weight=image_weight, reg_weight=reg_weight, loss=loss, channels=channels, seed=seed,
                             half=half, data=None if data is None else str(data), data_fraction=data_fraction,
                             id_weight=id_weight, init_from=None if init_from is None else str(init_from),
                             identity_net=None if identity_net is None else str(identity_net))
    try:
        run(G, outdir, cfg, D=D, network=str(network))
    except (ValueError, FileNotFoundError, CheckpointError) as exc:
        raise click.ClickException(" ".join(str(exc).split())) from None
    click.echo(f"encoder written to {outdir}/")


if __name__ == "__main__":
    train_encoder()
