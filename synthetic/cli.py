"""``sgt render``: write random heads, one-attribute pairs, moving-head sequences or a training set to disk."""
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
@click.option("--motion", "motion", type=click.IntRange(min=2), default=None, metavar="FRAMES",
              help="Write --n sequences of one head moving smoothly (pose and expression) for FRAMES frames each: "
                   "OUTDIR/<i>/<t>.png + .json (synthetic.motion).")
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
    motion: int | None,
) -> None:
    """Render synthetic heads: PNGs plus one JSON per image (parameters and 68 landmarks).

    With --dataset N, writes OUTDIR/images/*.png and OUTDIR/dataset.json (per-image parameters
    and landmarks; "labels": null so NVlabs-style loaders read it as unconditional). With --motion
    FRAMES, writes --n sequences OUTDIR/<i>/<t>.png (+ .json with the frame's exact parameters).
    """
    out = Path(outdir)
    if sum(x is not None for x in (dataset, pairs, motion)) > 1:
        raise click.UsageError("--dataset, --pairs and --motion cannot be combined")
    if motion is not None:
        return _render_motion(n, motion, size, out, seed, workers, align, masks)
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


def _render_motion(n: int, frames: int, size: int, out: Path, seed: int, workers: int, align: bool,
                   masks: bool) -> None:
    """`sgt render --motion FRAMES`: n sequences, one folder each, one job per frame."""
    jobs = []
    for i in range(n):
        (out / f"{i:06d}").mkdir(parents=True, exist_ok=True)
        jobs += [{"index": i, "seed": seed, "size": size, "motion": (frames, t), "align": align,
                  "stem": str(out / f"{i:06d}" / f"{t:04d}"), "save_mask": masks} for t in range(frames)]
    done = 0
    for recs in tqdm(run_jobs(jobs, workers), total=len(jobs), desc="render", unit="frame"):
        done += len(recs)
    click.echo(f"wrote {n} sequence(s) of {frames} frames ({done} images) to {out}")
