"""Quality of a generator trained on synthetic heads, measured with the attribute oracle
(`synthetic.oracle`): Fréchet distance between oracle features of samples and of held-out renders (with
the same distance between two disjoint sets of real renders as the floor), and the oracle's predicted
pose / expression distributions on samples vs. renders.

    python -m stylegan.train.metrics --network synthheads --data data/heads64/images --real-start 2500 \
        --num 5000 --out docs/default_model_metrics.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np
import torch
from tqdm.auto import tqdm

from sgtcore.registry import DEFAULT_GENERATOR

ATTRIBUTES = ("yaw", "pitch", "roll")


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to features `a [N, D]` and `b [M, D]` (Heusel et al. 2017):
    `|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))`."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a = np.atleast_2d(np.cov(np.asarray(a, np.float64), rowvar=False))
    s_b = np.atleast_2d(np.cov(np.asarray(b, np.float64), rowvar=False))
    # Tr((S_a S_b)^(1/2)) = sum of sqrt(eig(S_a^(1/2) S_b S_a^(1/2))): that matrix is symmetric PSD and similar
    # to S_a S_b, so eigh suffices (no scipy.linalg.sqrtm, whose signature changes between SciPy versions).
    evals, evecs = np.linalg.eigh(s_a)
    root_a = (evecs * np.sqrt(np.clip(evals, 0, None))) @ evecs.T
    cross = np.linalg.eigvalsh(root_a @ s_b @ root_a)
    tr_covmean = np.sqrt(np.clip(cross, 0, None)).sum()
    return float(np.square(mu_a - mu_b).sum() + np.trace(s_a) + np.trace(s_b) - 2 * tr_covmean)


@torch.no_grad()
def oracle_outputs(oracle: torch.nn.Module, images: torch.Tensor, batch: int = 128) -> dict[str, np.ndarray]:
    """Oracle trunk features `[N, 512]` ('features') and named predictions for images `[N, 3, H, W]` in [-1, 1]."""
    from synthetic.oracle import preprocess

    feats, preds = [], []
    for i in range(0, len(images), batch):
        x = images[i:i + batch]
        feats.append(oracle.fc(oracle.trunk(preprocess(x))))
        p = oracle.predict(x, mirror_identity=False)  # the identity embedding is not used here
        preds.append({k: v for k, v in p.items() if v.ndim == 1})
    out = {"features": torch.cat(feats).numpy()}
    for k in preds[0]:
        out[k] = torch.cat([p[k] for p in preds]).numpy()
    return out


@torch.no_grad()
def generate(G: torch.nn.Module, num: int, seed: int = 0, psi: float = 1.0, batch: int = 64) -> torch.Tensor:
    """`num` samples `[num, 3, R, R]` (z from seed `seed`, truncation `psi`, const noise)."""
    z = torch.from_numpy(np.random.RandomState(seed).randn(num, G.z_dim)).float()
    return torch.cat([G(z[i:i + batch], truncation_psi=psi) for i in tqdm(range(0, num, batch), desc="generate",
                                                                          file=sys.stderr)]).clamp(-1, 1)


def _describe(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    from scipy import stats

    return {"samples_mean": float(a.mean()), "samples_std": float(a.std()), "renders_mean": float(b.mean()),
            "renders_std": float(b.std()), "wasserstein": float(stats.wasserstein_distance(a, b))}


def evaluate(G: torch.nn.Module, oracle: torch.nn.Module, real_eval: torch.Tensor, real_floor: torch.Tensor,
             num: int, psi: float = 1.0) -> dict:
    """All numbers for the report. `real_eval` and `real_floor` are disjoint sets of renders `[M, 3, R, R]`."""
    fake = oracle_outputs(oracle, generate(G, num, psi=psi))
    real = oracle_outputs(oracle, real_eval)
    floor = oracle_outputs(oracle, real_floor)
    keys = [k for k in real if k != "features"]
    expr = [k for k in keys if k not in ATTRIBUTES and not k.startswith("light")]
    return {
        "num_samples": num, "num_real_eval": len(real_eval), "num_real_floor": len(real_floor), "psi": psi,
        "fd_samples_vs_renders": frechet_distance(fake["features"], real["features"]),
        "fd_renders_vs_renders": frechet_distance(floor["features"], real["features"]),
        "pose": {k: _describe(fake[k], real[k]) for k in ATTRIBUTES},
        "expression": {k: _describe(fake[k], real[k]) for k in expr},
        "lighting": {k: _describe(fake[k], real[k]) for k in keys if k.startswith("light")},
    }


@click.command(context_settings={"show_default": True})
@click.option("--network", default=DEFAULT_GENERATOR, help="Generator: registered name or path.")
@click.option("--data", required=True, type=click.Path(exists=True), help="Renders (folder or render output).")
@click.option("--real-start", type=int, required=True, help="First held-out image index (the model trained on "
              "images before it); the floor set is taken from the images before it.")
@click.option("--num", type=int, default=5000, help="Samples and (at most) held-out renders.")
@click.option("--floor-start", type=int, default=None, help="Take the floor set from images "
              "[floor-start, floor-start + num) instead of the images before --real-start; it must not "
              "overlap the held-out set.")
@click.option("--psi", type=float, default=1.0)
@click.option("--oracle", "oracle_path", default=None, help="Oracle weights; default the shipped ones.")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write the numbers as JSON here.")
def main(network, data, real_start, num, floor_start, psi, oracle_path, out):
    """Fréchet distance on oracle features and pose/expression distributions, samples vs. renders."""
    import stylegan
    from stylegan.train.dataset import ImageDataset
    from synthetic import oracle as oracle_mod

    torch.set_num_threads(1)
    oracle = oracle_mod.load(oracle_path) if oracle_path else oracle_mod.load()
    G = stylegan.load(network)
    ds = ImageDataset(data)
    held = torch.arange(real_start, min(len(ds), real_start + num))
    n_real = len(held)
    if n_real < 2:
        raise click.ClickException(f"no held-out images from index {real_start} in {data} ({len(ds)} images)")
    if floor_start is None:
        floor = torch.arange(0, min(n_real, real_start))
    else:
        floor = torch.arange(floor_start, min(len(ds), floor_start + num))
        if len(floor) < 2 or (int(floor[0]) <= int(held[-1]) and int(floor[-1]) >= int(held[0])):
            raise click.ClickException(f"floor set [{floor_start}, {floor_start + num}) is empty or overlaps "
                                       f"the held-out set [{real_start}, {int(held[-1]) + 1}) of {len(ds)} images")
    res = evaluate(G, oracle, ds.batch(held), ds.batch(floor), num=min(num, n_real) if num > n_real else num,
                   psi=psi)
    res.update(network=str(network), data=str(data), real_start=real_start,
               floor_range=[int(floor[0]), int(floor[-1]) + 1])
    text = json.dumps(res, indent=2)
    if out:
        Path(out).write_text(text + "\n")
    click.echo(text)


if __name__ == "__main__":
    main()
