"""Render the oracle's training / evaluation sets: ``n_ids`` identities, ``per_id`` renders each
under random expression, pose and lighting, stored as one ``.npz`` of full FFHQ-aligned frames.

    nice -n 10 python -m synthetic.oracle_data --ids 1200 --per-id 8 --seed 0 --out data/oracle/train.npz

Arrays: ``images`` uint8 ``[N, size, size, 3]``; ``identity`` int ``[N]`` (item ``i`` belongs to
identity ``i // per_id``); ``pose`` degrees ``[N, 3]``; ``expression`` ``[N, 6]``; ``light``
degrees ``[N, 2]``; ``landmarks`` ``[N, 68, 2]`` in units of the image side; ``identity_params``
``[N, 24]`` (:func:`synthetic.params.identity_vector`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np
from tqdm.auto import tqdm

from .batch import render_many
from .params import Expression, HeadParams, fields_of, identity_vector, sample_expression, sample_identity
from .params import sample_lighting, sample_pose


def dataset_params(n_ids: int, per_id: int, seed: int) -> list[HeadParams]:
    """``n_ids * per_id`` parameter sets; item ``i`` has identity ``i // per_id``."""
    out = []
    for j in range(n_ids):
        rng = np.random.default_rng([seed, j])
        ident = sample_identity(rng)
        for _ in range(per_id):
            out.append(HeadParams(ident, sample_expression(rng), sample_pose(rng), sample_lighting(rng)))
    return out


def labels(plist: list[HeadParams], per_id: int) -> dict[str, np.ndarray]:
    """Every array of the set except ``images`` and ``landmarks``, in the order of ``plist``."""
    return {
        "identity": np.arange(len(plist)) // per_id,
        "pose": np.array([[p.pose.yaw, p.pose.pitch, p.pose.roll] for p in plist], np.float32),
        "expression": np.array([[getattr(p.expression, k) for k in fields_of(Expression)] for p in plist], np.float32),
        "light": np.array([[p.lighting.light_azimuth, p.lighting.light_elevation] for p in plist], np.float32),
        "identity_params": np.stack([identity_vector(p.identity) for p in plist]),
    }


def load_set(path: str | Path) -> dict[str, Any]:
    """Arrays of a set written by :func:`build` as torch tensors (images stay uint8 ``[N, H, W, 3]``);
    read by both the oracle's training and its evaluation."""
    import torch  # rendering a set needs no torch; reading one for the oracle does

    d = np.load(path)
    return {k: torch.from_numpy(d[k]) for k in d.files}


def build(n_ids: int, per_id: int, seed: int, out: Path, size: int = 128, workers: int = 1) -> None:
    """Render and save the set (see the module docstring for the arrays it holds)."""
    plist = dataset_params(n_ids, per_id, seed)
    n = len(plist)
    images = np.zeros((n, size, size, 3), np.uint8)
    landmarks = np.zeros((n, 68, 2), np.float32)
    for i, r in enumerate(tqdm(render_many(plist, size, workers), total=n, desc="oracle data")):
        # render_many yields in order; the params check guards the label/image pairing
        if r.params != plist[i]:
            raise RuntimeError(f"render {i} came back out of order")
        images[i] = r.image
        landmarks[i] = r.landmarks / size
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, images=images, landmarks=landmarks, **labels(plist, per_id))


@click.command(context_settings={"show_default": True})
@click.option("--ids", type=int, default=1200, help="Number of identities.")
@click.option("--per-id", type=int, default=8, help="Renders per identity.")
@click.option("--seed", type=int, default=0, help="Use different seeds for train and eval sets.")
@click.option("--out", type=click.Path(dir_okay=False), required=True)
@click.option("--size", type=int, default=128, help="Render side (full aligned frame; the oracle crops the face).")
@click.option("--workers", type=int, default=1, help="Render processes.")
def main(ids: int, per_id: int, seed: int, out: str, size: int, workers: int) -> None:
    """Render an oracle training or evaluation set."""
    build(ids, per_id, seed, Path(out), size, workers)


if __name__ == "__main__":
    main()
