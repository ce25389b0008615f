"""Copy a run's newest G_ema into a model directory (e.g. the shipped `stylegan/weights/synthheads/`), with
its D in `discriminator/` (for `stylegan.load_discriminator` and for warm-starting later training).

    python -m stylegan.train.export runs/synthheads64 stylegan/weights/synthheads
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from stylegan.formats.ours import DISCRIMINATOR_SUBDIR, load_pretrained, save_pretrained
from stylegan.train.checkpoint import find_checkpoint


def export_ema(run: str | Path, dest: str | Path, extra: dict | None = None, with_discriminator: bool = True) -> dict:
    """Write the newest checkpoint's G_ema to `dest` (our format, float32) with its training metadata
    (kimg, steps, wall time, command, data) plus `extra`, and its D to `dest/discriminator/`; returns the
    metadata."""
    ckpt = find_checkpoint(run)
    meta = json.loads((ckpt / "G_ema" / "config.json").read_text()).get("metadata", {})
    meta = {**meta, "checkpoint": ckpt.name, **(extra or {})}
    save_pretrained(load_pretrained(ckpt / "G_ema"), dest, metadata=meta)
    if with_discriminator:
        save_pretrained(load_pretrained(ckpt / "D"), Path(dest) / DISCRIMINATOR_SUBDIR,
                        metadata={"kimg": meta.get("kimg"), "steps": meta.get("steps"), "checkpoint": ckpt.name})
    return meta


@click.command(context_settings={"show_default": True})
@click.argument("run", type=click.Path(exists=True))
@click.argument("dest", type=click.Path())
@click.option("--no-discriminator", is_flag=True, help="Export G_ema only.")
def main(run, dest, no_discriminator):
    """Export RUN's newest G_ema (and D) to DEST."""
    click.echo(json.dumps(export_ema(run, dest, with_discriminator=not no_discriminator), indent=2))


if __name__ == "__main__":
    main()
