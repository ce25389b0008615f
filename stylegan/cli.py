"""`sgt generate` and `sgt convert`."""
from __future__ import annotations

import sys
from pathlib import Path

import click
import torch
from tqdm.auto import tqdm

from stylegan.cli_network import load_network
from stylegan.utils import parse_range

_CTX = {"show_default": True}


def _fail(exc: Exception) -> None:
    raise click.ClickException(f"{type(exc).__name__}: {exc}")


@click.command(context_settings=_CTX)
@click.option("--network", "network", required=True, help="Checkpoint path or registered name (e.g. synthheads).")
@click.option("--seeds", default="0-3", help="Seeds, e.g. '0,1,4-6'.")
@click.option("--trunc", "truncation_psi", type=float, default=1.0, help="Truncation psi.")
@click.option("--trunc-cutoff", "truncation_cutoff", type=int, default=None, help="Truncate only the first N ws.")
@click.option("--noise-mode", type=click.Choice(["const", "random", "none"]), default="const")
@click.option("--outdir", type=click.Path(file_okay=False), required=True, help="Where to write PNGs.")
@click.option("--save-ws", is_flag=True,
              help="Also write seed####.npz beside each PNG: key 'w' [1, num_ws, w_dim] as NVlabs' projected_w.npz "
                   "(read by stylegan.load_ws and NVlabs' --projected-w), plus the drawn noise maps with "
                   "--noise-mode random, so that G.synthesis(w, noise=..., noise_mode=...) re-renders the PNG.")
@click.option("--device", default="cpu", help="torch device.")
def generate(network, seeds, truncation_psi, truncation_cutoff, noise_mode, outdir, save_ws, device):
    """Generate images from seeds (same z per seed as the official NVlabs scripts)."""
    from PIL import Image

    import stylegan
    from stylegan.images import to_uint8
    from stylegan.latents import save_ws as write_ws

    try:
        seed_list = parse_range(seeds)
    except ValueError as exc:
        _fail(exc)
    G = load_network(network, device=device)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    for seed in tqdm(seed_list, desc="generate", unit="img", file=sys.stderr):
        z = stylegan.seed_to_z(seed, G.z_dim, device)
        noise = None
        if save_ws and noise_mode == "random":
            # Draw the random maps here (as the layers would) so that the latent file can reproduce the image.
            noise = {name: torch.randn(shape, device=device) for name, shape in G.synthesis.noise_shapes().items()}
        with torch.no_grad():
            ws = G.mapping(z, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
            img = G.synthesis(ws, noise_mode=noise_mode, noise=noise)
        arr = to_uint8(img)[0]
        Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(out / f"seed{seed:04d}.png")
        if save_ws:
            write_ws(out / f"seed{seed:04d}.npz", ws, noise=noise,
                     metadata={"seed": seed, "network": str(network), "generator": stylegan.fingerprint(G),
                               "truncation_psi": truncation_psi, "truncation_cutoff": truncation_cutoff,
                               "noise_mode": noise_mode})
    click.echo(f"wrote {len(seed_list)} image(s) to {out}")


@click.command(context_settings=_CTX)
@click.argument("src")
@click.argument("dst", type=click.Path())
@click.option("--to", "fmt", type=click.Choice(["ours", "rosinality"]), default="ours",
              help="ours: a directory with config.json + model.safetensors; rosinality: a .pt file.")
@click.option("--with-d/--no-d", default=False, help="Also convert the discriminator (ours only).")
def convert(src, dst, fmt, with_d):
    """Convert a checkpoint SRC (any supported format) to DST."""
    import stylegan

    if with_d and fmt != "ours":
        raise click.ClickException("--with-d needs --to ours (the rosinality writer stores the generator only)")
    G = load_network(src, option="SRC")
    D = load_network(src, "discriminator", option="SRC") if with_d else None
    try:
        if fmt == "ours":
            # a w_avg estimated on load (rosinality training snapshots) is stored, and said so
            note = getattr(G, "w_avg_source", None)
            stylegan.save_pretrained(G, dst, metadata={"w_avg_source": note} if note else None)
            if D is not None:
                stylegan.save_pretrained(D, Path(dst) / "discriminator")
        else:
            stylegan.save_rosinality(G, dst)
    except OSError as exc:
        _fail(exc)
    click.echo(f"wrote {dst} ({fmt})")
