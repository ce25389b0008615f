"""Evaluate the attribute oracle on held-out renders (identities never seen in training).

    python -m synthetic.oracle_eval --data data/oracle/eval.npz [--size 64]

Identity retrieval: for each identity the first render is the gallery, every other render a
query; top-1 is the share of queries whose nearest gallery embedding (cosine) is their own
identity, with pose, expression and lighting all random. ``--size`` first resizes the stored
frames (antialiased), to measure the oracle on smaller inputs such as 64 px generator samples.
"""
from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import torch
import torch.nn.functional as F

from sgtcore.images import from_uint8

from .oracle import EXPRESSION, LIGHT, POSE, Oracle, load
from .oracle_data import load_set
from .retrieval import first_render_gallery, top1


@torch.no_grad()
def evaluate(net: Oracle, data: str | Path, batch: int = 200, size: int | None = None) -> dict[str, float]:
    """Metrics on an oracle data file: MAEs (degrees / 0-1 units), landmark error, retrieval.

    Args:
        size: resize the frames to ``size`` px before prediction (None: as stored).
    """
    d = load_set(data)
    n = len(d["identity"])
    side = size or d["images"].shape[1]
    preds: dict[str, list[torch.Tensor]] = {}
    for s in range(0, n, batch):
        x = from_uint8(d["images"][s : s + batch])
        if side != x.shape[-1]:
            x = F.interpolate(x, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
        out = net.predict(x)
        for k, v in out.items():
            preds.setdefault(k, []).append(v)
    p = {k: torch.cat(v) for k, v in preds.items()}
    res: dict[str, float] = {"input_px": side}
    for i, k in enumerate(POSE):
        res[f"{k}_mae_deg"] = float((p[k] - d["pose"][:, i]).abs().mean())
    exp_err = torch.stack([(p[k] - d["expression"][:, i]).abs() for i, k in enumerate(EXPRESSION)], 1)
    res["expression_mae"] = float(exp_err.mean())
    # the error of always answering "neutral" (0), the baseline an oracle that sees nothing reaches
    res["expression_mae_neutral"] = float(d["expression"].abs().mean())
    for i, k in enumerate(EXPRESSION):
        res[f"{k}_mae"] = float(exp_err[:, i].mean())
    for i, k in enumerate(LIGHT):
        res[f"{k}_mae_deg"] = float((p[k] - d["light"][:, i]).abs().mean())
    lm_true = d["landmarks"] * side
    err = (p["landmarks"] - lm_true).norm(dim=2).mean(1)  # mean point error in pixels
    iod = (lm_true[:, 36:42].mean(1) - lm_true[:, 42:48].mean(1)).norm(dim=1)
    res["landmarks_px"] = float(err.mean())
    res["landmarks_nme_iod"] = float((err / iod.clamp(min=1e-6)).mean())
    ids = d["identity"].numpy()
    emb = p["identity"]
    gallery, query, labels = first_render_gallery(ids)
    res["identity_top1"] = top1(emb[query], emb[gallery], labels)
    res["identities"] = int(len(gallery))
    res["queries"] = int(len(query))
    same = (ids[:, None] == ids[None, :]) & ~np.eye(n, dtype=bool)
    cos = (emb @ emb.t()).numpy()
    res["identity_cos_same"] = float(cos[same].mean())
    res["identity_cos_diff"] = float(cos[~same & ~np.eye(n, dtype=bool)].mean())
    return res


@click.command(context_settings={"show_default": True})
@click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--weights", default=None, type=click.Path(exists=True),
              help="Model folder (or a first-layout .safetensors); default: the registered (shipped) oracle.")
@click.option("--size", type=int, default=None, help="Resize frames to this side first (default: as stored).")
@click.option("--json-out", default=None, type=click.Path(dir_okay=False), help="Also write the metrics here.")
def main(data: str, weights: str | None, size: int | None, json_out: str | None) -> None:
    """Print the oracle's metrics on a held-out set."""
    torch.set_num_threads(1)
    res = evaluate(load(weights), data, size=size)
    text = json.dumps(res, indent=1)
    click.echo(text)
    if json_out:
        Path(json_out).write_text(text)


if __name__ == "__main__":
    main()
