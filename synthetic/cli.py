"""``sgt render``: write random heads, one-attribute pairs or a training set to disk."""
from __future__ import annotations

import json
import os
from pathlib import Path

import click
from tqdm.auto import tqdm

from .batch import run_jobs
from .pairs import PAIR_ATTRIBUTES


@click.command(context_settings={"show_default": True})
@click.option("--n", "n", type=click.IntRange(min=1), default=16, help="Number of heads (or pairs with --pairs).")
@click.option("--size", type=click.IntRange(16, 4096), default=256, help="Image side in pixels.")
@click.option("--outdir", type=click.Path(file_okay=False), required=True, help="Where to write the files.")
@click.option("--pairs", type=click.Choice(PAIR_ATTRIBUTES), default=None, help="Write one-attribute pairs (<i>_a/<i>_b).")
@click.option("--strength", type=click.FloatRange(0, 1, min_open=True), default=1.0, help="Pair strength.")
@click.option("--seed", type=int, default=0, help="Random seed (item i uses default_rng([seed, i])).")
@click.option("--workers", type=click.IntRange(min=1), default=min(2, os.cpu_count() or 1), help="Render processes.")
@click.option("--dataset", type=click.IntRange(min=1), default=None, help="Write a training set of this many images instead.")
@click.option("--align/--no-align", default=True, help="FFHQ framing.")
@click.option("--masks", is_flag=True, help="Also write <i>_mask.png (head mask).")
def render(
    n: int,
    size: int,
    outdir: str,
    pairs: str | None,
    strength: float,
    seed: int,
    workers: int,
    dataset: int | None,
    align: bool,
    masks: bool,
) -> None:
    """Render synthetic heads: PNGs plus one JSON per image (parameters and 68 landmarks).

    With --dataset N, writes OUTDIR/images/*.png and OUTDIR/dataset.json (per-image parameters
    and landmarks; "labels": null so NVlabs-style loaders read it as unconditional).
    """
    out = Path(outdir)
    if dataset is not None and pairs:
        raise click.UsageError("--dataset and --pairs cannot be combined")
    img_dir = out / "images" if dataset is not None else out
    img_dir.mkdir(parents=True, exist_ok=True)
    count = dataset if dataset is not None else n
    jobs = [
        {
            "index": i,
            "seed": seed,
            "size": size,
            "pairs": pairs,
            "strength": strength,
            "align": align,
            "stem": str(img_dir / f"{i:06d}"),
            "write_json": dataset is None,
            "save_mask": masks,
        }
        for i in range(count)
    ]
    records = []
    for recs in tqdm(run_jobs(jobs, workers), total=count, desc="render", unit="pair" if pairs else "img"):
        records.extend(recs)
    if dataset is not None:
        for r in records:
            r["file"] = "images/" + r["file"]
        meta = {"labels": None, "resolution": size, "count": count, "seed": seed, "align": align, "images": records}
        (out / "dataset.json").write_text(json.dumps(meta))
    click.echo(f"wrote {len(records)} images to {out}")
