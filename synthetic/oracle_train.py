"""Train the attribute oracle on a set written by :mod:`synthetic.oracle_data`.

    nice -n 10 python -m synthetic.oracle_train --data data/oracle/train.npz --minutes 60 \\
        --out synthetic/weights/oracle.safetensors

Batches hold ``P`` identities x ``K`` renders each so the identity embedding can be trained with a
supervised contrastive loss (Khosla et al. 2020) next to plain L1 regression of pose,
expression, light direction, landmarks and the identity parameters themselves. With
``--minutes`` the cosine learning-rate schedule runs on wall-clock time, so a run fits a fixed
budget on any machine (and is therefore not bit-reproducible); ``--epochs`` gives a fixed
schedule.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import click
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .oracle import LIGHT_SCALE, POSE_SCALE, WEIGHTS, Oracle


def load_set(path: str | Path) -> dict[str, torch.Tensor]:
    """Arrays of an oracle data file as tensors (images stay uint8 ``[N, 64, 64, 3]``)."""
    d = np.load(path)
    return {k: torch.from_numpy(d[k]) for k in d.files}


def targets(d: dict[str, torch.Tensor], idx: torch.Tensor) -> dict[str, torch.Tensor]:
    """Normalised regression targets for items ``idx`` (the units :class:`Oracle` outputs)."""
    return {
        "pose": d["pose"][idx] / torch.tensor(POSE_SCALE),
        "expression": d["expression"][idx],
        "light": d["light"][idx] / torch.tensor(LIGHT_SCALE),
        "landmarks": d["landmarks"][idx].reshape(len(idx), -1),
        "identity_params": d["identity_params"][idx],
    }


def to_input(images_u8: torch.Tensor) -> torch.Tensor:
    """``[N, H, W, 3]`` uint8 -> ``[N, 3, H, W]`` float in [-1, 1]."""
    return images_u8.permute(0, 3, 1, 2).float() / 127.5 - 1


def supcon(emb: torch.Tensor, labels: torch.Tensor, tau: float = 0.1) -> torch.Tensor:
    """Supervised contrastive loss of unit embeddings ``[N, D]`` with integer ``labels`` ``[N]``."""
    sim = emb @ emb.t() / tau
    eye = torch.eye(len(emb), dtype=torch.bool)
    sim = sim.masked_fill(eye, -1e9)
    pos = (labels[:, None] == labels[None, :]) & ~eye
    logp = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    return -(logp * pos).sum(1).div(pos.sum(1).clamp(min=1)).mean()


LOSS_WEIGHTS = {"pose": 2.0, "expression": 1.0, "light": 1.0, "landmarks": 8.0, "identity_params": 0.5, "supcon": 0.5}


def batch_indices(ids: np.ndarray, rng: np.random.Generator, p: int, k: int) -> torch.Tensor:
    """``p`` random identities x ``k`` of their renders."""
    uniq = np.unique(ids)
    chosen = rng.choice(uniq, size=p, replace=False)
    out = []
    for c in chosen:
        members = np.flatnonzero(ids == c)
        out.append(rng.choice(members, size=k, replace=len(members) < k))
    return torch.from_numpy(np.concatenate(out))


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mild photometric noise so the oracle tolerates generator outputs, not only clean renders."""
    n = len(x)
    gain = 1 + 0.08 * (torch.rand(n, 1, 1, 1, generator=gen) - 0.5)
    bias = 0.06 * (torch.rand(n, 1, 1, 1, generator=gen) - 0.5)
    noise = 0.03 * torch.rand(n, 1, 1, 1, generator=gen) * torch.randn(x.shape, generator=gen)
    return (x * gain + bias + noise).clamp(-1, 1)


def train(
    data: str,
    out: str,
    minutes: float = 0.0,
    epochs: int = 30,
    p: int = 32,
    k: int = 4,
    lr: float = 2e-3,
    seed: int = 0,
    threads: int = 1,
    init: str | None = None,
) -> Oracle:
    """Train and save the oracle; returns the trained network (eval mode)."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    d = load_set(data)
    ids = d["identity"].numpy()
    steps_per_epoch = max(1, len(ids) // (p * k))
    total = epochs * steps_per_epoch
    net = Oracle(n_identity=d["identity_params"].shape[1])
    if init:  # continue from saved weights (a second, shorter schedule)
        from .oracle import load

        net.load_state_dict(load(init).state_dict())
        net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    t0 = time.time()
    last_save = t0
    step = 0
    bar = tqdm(total=int(minutes * 60) if minutes else total, desc="oracle train", unit="s" if minutes else "step")
    while True:
        frac = (time.time() - t0) / (minutes * 60) if minutes else step / total
        if frac >= 1:
            break
        for g in opt.param_groups:  # warm-up 2 %, then cosine to zero
            g["lr"] = lr * min(1.0, frac / 0.02) * 0.5 * (1 + math.cos(math.pi * frac))
        idx = batch_indices(ids, rng, p, k)
        x = augment(to_input(d["images"][idx]), gen)
        tgt = targets(d, idx)
        outp = net(x)
        losses = {name: F.smooth_l1_loss(outp[name], tgt[name], beta=0.02) for name in tgt}
        losses["supcon"] = supcon(outp["identity"], d["identity"][idx])
        loss = sum(LOSS_WEIGHTS[n] * v for n, v in losses.items())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if minutes:
            bar.n = min(int(time.time() - t0), bar.total)
            bar.refresh()
        else:
            bar.update(1)
        if step % 50 == 0:
            bar.set_postfix({n: f"{v.item():.3f}" for n, v in losses.items()})
        if time.time() - last_save > 600:  # a crash or a kill still leaves usable weights
            net.eval()
            net.save_pretrained(out, {"steps": step, "partial": True})
            net.train()
            last_save = time.time()
    bar.close()
    net.eval()
    net.save_pretrained(out, {"steps": step, "minutes": round((time.time() - t0) / 60, 1), "train_set": str(data), "train_images": len(ids)})
    return net


@click.command(context_settings={"show_default": True})
@click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False), help="From synthetic.oracle_data.")
@click.option("--out", default=str(WEIGHTS), help="Weights file (.safetensors; config .json written next to it).")
@click.option("--minutes", type=float, default=0.0, help="Wall-clock budget (0 = use --epochs).")
@click.option("--epochs", type=int, default=30)
@click.option("--lr", type=float, default=2e-3)
@click.option("--seed", type=int, default=0)
@click.option("--threads", type=int, default=1, help="torch threads.")
@click.option("--init", default=None, type=click.Path(exists=True, dir_okay=False), help="Start from these weights.")
@click.option("--p", "p", type=int, default=32, help="Identities per batch.")
@click.option("--k", "k", type=int, default=4, help="Renders per identity in a batch.")
def main(
    data: str, out: str, minutes: float, epochs: int, lr: float, seed: int, threads: int, init: str | None, p: int, k: int
) -> None:
    """Train the attribute oracle."""
    train(data, out, minutes=minutes, epochs=epochs, p=p, k=k, lr=lr, seed=seed, threads=threads, init=init)


if __name__ == "__main__":
    main()
