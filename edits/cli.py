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
@click.option("--method", type=click.Choice(["sefa", "ganspace", "interfacegan", "stylespace"]), required=True)
@click.option("--attribute", default=None,
              help="InterFaceGAN / StyleSpace: the attribute (edits.attributes name, e.g. yaw, smile).")
@click.option("--condition", "conditions", multiple=True,
              help="InterFaceGAN: keep another boundary fixed (edit name such as interfacegan:pitch, or an edit "
                   "folder); repeatable.")
@click.option("--no-calibrate", is_flag=True, help="InterFaceGAN / StyleSpace: keep raw units, skip the oracle.")
@click.option("--fraction", type=float, default=None,
              help="InterFaceGAN: share of samples in each class, top and bottom (default: the library's, 2 %).")
@click.option("--calibration-grid", "calibration_grid", default=None,
              help="InterFaceGAN / StyleSpace: raw strengths the calibration measures, comma-separated, in σ_n "
                   "(std of w along the normal) or σ_c units, e.g. '--calibration-grid=-6,-3,3,6'; default: the "
                   "library's.")
@click.option("--channels", type=int, default=None,
              help="StyleSpace: how many top-ranked channels the edit moves (default: the library's).")
@click.option("--pairs", type=int, default=None,
              help="StyleSpace: oracle example pairs (lowest vs highest scoring samples); default: the library's.")
@click.option("--examples", type=click.Path(exists=True, dir_okay=False), default=None,
              help="StyleSpace: example pairs from a Delta-GAN dataset (each head's first and last frame); "
                   "default: the oracle's lowest- vs highest-scoring samples.")
@click.option("--network", required=True, help="Checkpoint path or registered name (e.g. synthheads).")
@click.option("--num", type=int, default=5, help="How many components (one edit each).")
@click.option("--out", "out", type=click.Path(file_okay=False), required=True,
              help="Folder that receives one model folder per edit: PREFIX_METHOD_K/.")
@click.option("--prefix", default=None, help="Folder name prefix; default: the network's name.")
@click.option("--layers", default="all",
              help="SeFa: ws rows whose layers are factorised and edited, e.g. '0-1', '2-5', '6-13'.")
@click.option("--include-torgb", is_flag=True, help="SeFa: factorise ToRGB affines too.")
@click.option("--rows", default="all", help="GANSpace / InterFaceGAN: ws rows the edits change, e.g. '0-3'.")
@click.option("--samples", type=int, default=None,
              help="Mapped samples: the PCA (GANSpace, default 100000), σ (SeFa, default 10000), the SVM "
                   "(InterFaceGAN, default 20000) or the style statistics (StyleSpace, default 10000).")
@click.option("--seed", type=int, default=0, help="Seed of the mapped samples.")
@click.option("--batch", type=int, default=4096, help="Mapped samples per batch (memory bound).")
def directions(method, network, attribute, conditions, no_calibrate, fraction, calibration_grid, channels, pairs,
               examples, num, out, prefix, layers, include_torgb, rows, samples, seed, batch):
    """Compute edit directions for --network and save them under --out (kind "edit"; σ units, or the
    attribute's unit for calibrated InterFaceGAN / StyleSpace edits)."""
    if method in ("interfacegan", "stylespace"):
        return _attribute_directions(method, network, attribute, conditions, no_calibrate, fraction, calibration_grid,
                                     channels, pairs, examples, out, prefix, rows, samples, seed)
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


def _attribute_directions(method, network, attribute, conditions, no_calibrate, fraction, calibration_grid, channels,
                          pairs, examples, out, prefix, rows, samples, seed):
    """`sgt directions --method interfacegan|stylespace`: one edit for --attribute (defaults live in the library)."""
    from sgtcore import registry

    import edits
    from edits.directions import interfacegan
    from stylegan.latents import LatentFileError

    if not attribute:
        raise click.UsageError(f"--method {method} needs --attribute (e.g. yaw, smile)")
    row_spec = _rows(rows, "--rows")
    G = load_network(network)
    args = ["--method", method, "--network", str(network), "--attribute", attribute, "--seed", str(seed)]
    args += ["--samples", str(samples)] if samples else []
    args += ["--no-calibrate"] if no_calibrate else []
    kwargs = {"seed": seed, "calibrate": not no_calibrate, "progress": True}
    if samples:
        kwargs["num_samples"] = samples
    if calibration_grid:
        try:
            kwargs["calibration_grid"] = [float(v) for v in calibration_grid.split(",") if v.strip()]
        except ValueError:
            raise click.BadParameter(f"{calibration_grid!r} is not a comma-separated list of numbers",
                                     param_hint="--calibration-grid") from None
        args += [f"--calibration-grid={calibration_grid}"]
    try:
        if method == "interfacegan":
            args += ["--rows", rows] + [a for c in conditions for a in ("--condition", c)]
            if fraction:
                args += ["--fraction", str(fraction)]
                kwargs["fraction"] = fraction
            cat = edits.available(G) if any(":" in c for c in conditions) else {}
            conds = [cat[c] if c in cat else edits.load(c, G) for c in conditions]
            meta = {"network": str(network), "command": "sgt directions " + shlex.join(args)}
            made = interfacegan(G, attribute, rows=row_spec, conditions=conds, metadata=meta, **kwargs)
        else:
            from edits.delta import data as delta_data
            from edits.stylespace import delta_examples, stylespace

            if channels:
                args += ["--channels", str(channels)]
                kwargs["top"] = channels
            if pairs:
                args += ["--pairs", str(pairs)]
                kwargs["num_examples"] = pairs
            if examples:
                args += ["--examples", str(examples)]
                kwargs["examples"] = delta_examples(delta_data.load(examples, G))
            meta = {"network": str(network), "command": "sgt directions " + shlex.join(args)}
            made = stylespace(G, attribute, metadata=meta, **kwargs)
    except (ValueError, FileNotFoundError, LatentFileError) as exc:
        raise click.ClickException(str(exc)) from None
    stem = prefix or (Path(network).stem if Path(network).exists() else str(network))
    path = made.save(Path(out) / f"{stem}_{method}_{attribute}")
    extra = f", val accuracy {made.info['val_accuracy']:.3f}" if "val_accuracy" in made.info else ""
    click.echo(f"{made.name}: unit {made.unit}, range {made.range[0]:+.4g}..{made.range[1]:+.4g}{extra} -> {path}")
    registry.refresh()
