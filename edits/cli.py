"""`sgt directions`: compute SeFa / GANSpace edits for a generator and save one model folder per edit."""
from __future__ import annotations

import shlex
from pathlib import Path

import click

from stylegan.cli_network import load_network

_CTX = {"show_default": True}


def _rows(spec: str, what: str):
    from stylegan.utils import parse_range

    if spec == "all":
        return "all"
    try:
        return parse_range(spec)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=what) from None


@click.command(context_settings=_CTX)
@click.option("--method", type=click.Choice(["sefa", "ganspace"]), required=True)
@click.option("--network", required=True, help="Checkpoint path or registered name (e.g. synthheads).")
@click.option("--num", type=int, default=5, help="How many components (one edit each).")
@click.option("--out", "out", type=click.Path(file_okay=False), required=True,
              help="Folder that receives one model folder per edit: PREFIX_METHOD_K/.")
@click.option("--prefix", default=None, help="Folder name prefix; default: the network's name.")
@click.option("--layers", default="all",
              help="SeFa: ws rows whose layers are factorised and edited, e.g. '0-1', '2-5', '6-13'.")
@click.option("--include-torgb", is_flag=True, help="SeFa: factorise ToRGB affines too.")
@click.option("--rows", default="all", help="GANSpace: ws rows the edits change, e.g. '0-3'.")
@click.option("--samples", type=int, default=None,
              help="Mapped samples: the PCA (GANSpace, default 100000) or σ (SeFa, default 10000).")
@click.option("--seed", type=int, default=0, help="Seed of the mapped samples.")
@click.option("--batch", type=int, default=4096, help="Mapped samples per batch (memory bound).")
def directions(method, network, num, out, prefix, layers, include_torgb, rows, samples, seed, batch):
    """Compute edit directions for --network and save them under --out (kind "edit", σ units)."""
    from sgtcore import registry

    from edits.directions import ganspace, sefa

    layer_spec, row_spec = _rows(layers, "--layers"), _rows(rows, "--rows")
    G = load_network(network)
    args = ["--method", method, "--network", str(network), "--num", str(num), "--seed", str(seed)]
    if method == "sefa":
        args += ["--layers", layers] + (["--include-torgb"] if include_torgb else [])
    else:
        args += ["--rows", rows]
    args += ["--samples", str(samples)] if samples else []
    meta = {"network": str(network), "command": "sgt directions " + shlex.join(args)}
    try:
        if method == "sefa":
            made = sefa(G, num, layer_spec, include_torgb=include_torgb, sigma_samples=samples or 10_000, seed=seed,
                        batch_size=batch, metadata=meta)
        else:
            made = ganspace(G, num, row_spec, num_samples=samples or 100_000, seed=seed, batch_size=batch,
                            progress=True, metadata=meta)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    stem = prefix or (Path(network).stem if Path(network).exists() else str(network))
    for edit in made:
        path = edit.save(Path(out) / f"{stem}_{method}_{edit.info['component']}")
        click.echo(f"{edit.name}: sigma {edit.sigma:.4g}, rows {list(edit.rows)} -> {path}")
    registry.refresh()
