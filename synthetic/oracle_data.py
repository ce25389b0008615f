"""Render the oracle's training / evaluation sets: ``n_ids`` identities, ``per_id`` renders each
under random expression, pose and lighting, stored as one ``.npz`` at the oracle's input size.

    nice -n 10 python -m synthetic.oracle_data --ids 2000 --per-id 6 --seed 0 --out data/oracle/train.npz
"""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np
from tqdm.auto import tqdm

from .batch import render_many
from .params import HeadParams, fields_of, identity_vector, sample_expression, sample_identity, sample_lighting
from .params import Expression, sample_pose


def dataset_params(n_ids: int, per_id: int, seed: int) -> list[HeadParams]:
    """``n_ids * per_id`` parameter sets; item ``i`` has identity ``i // per_id``."""
    out = []
    for j in range(n_ids):
        rng = np.random.default_rng([seed, j])
        ident = sample_identity(rng)
        for _ in range(per_id):
            out.append(HeadParams(ident, sample_expression(rng), sample_pose(rng), sample_lighting(rng)))
    return out


def build(n_ids: int, per_id: int, seed: int, out: Path, render_size: int = 96, workers: int = 2) -> None:
    """Render and save the set (see module docstring for the arrays it holds)."""
    import torch

    from .oracle import INPUT_SIZE, preprocess

    torch.set_num_threads(1)
    plist = dataset_params(n_ids, per_id, seed)
    n = len(plist)
    images = np.zeros((n, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    landmarks = np.zeros((n, 68, 2), np.float32)
    buf: list[np.ndarray] = []

    def flush(end: int) -> None:
        x = torch.from_numpy(np.stack(buf)).permute(0, 3, 1, 2).float() / 127.5 - 1
        y = ((preprocess(x) + 1) * 127.5).round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
        images[end - len(buf) : end] = y
        buf.clear()

    for i, r in enumerate(tqdm(render_many(plist, render_size, workers), total=n, desc="oracle data")):
        buf.append(r.image)
        landmarks[i] = r.landmarks / render_size
        if len(buf) == 256:
            flush(i + 1)
    if buf:
        flush(n)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        out,
        images=images,
        identity=np.repeat(np.arange(n_ids), per_id),
        pose=np.array([[p.pose.yaw, p.pose.pitch, p.pose.roll] for p in plist], np.float32),
        expression=np.array([[getattr(p.expression, k) for k in fields_of(Expression)] for p in plist], np.float32),
        light=np.array([[p.lighting.light_azimuth, p.lighting.light_elevation] for p in plist], np.float32),
        landmarks=landmarks,
        identity_params=np.stack([identity_vector(p.identity) for p in plist]),
    )


@click.command(context_settings={"show_default": True})
@click.option("--ids", type=int, default=2000, help="Number of identities.")
@click.option("--per-id", type=int, default=6, help="Renders per identity.")
@click.option("--seed", type=int, default=0, help="Use different seeds for train and eval sets.")
@click.option("--out", type=click.Path(dir_okay=False), required=True)
@click.option("--render-size", type=int, default=96, help="Rendered side before resizing to the oracle input.")
@click.option("--workers", type=int, default=2)
def main(ids: int, per_id: int, seed: int, out: str, render_size: int, workers: int) -> None:
    """Render an oracle training or evaluation set."""
    build(ids, per_id, seed, Path(out), render_size, workers)


if __name__ == "__main__":
    main()
