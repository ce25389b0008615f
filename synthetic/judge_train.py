"""Train the identity judge (:mod:`synthetic.judge`) on renders of its own identities.

    python -m synthetic.oracle_data --ids 4000 --per-id 6 --seed 7 --workers 2 --out data/judge/train128.npz
    python -m synthetic.oracle_data --ids 200 --per-id 6 --seed 8 --workers 2 --out data/judge/val128.npz
    python -m synthetic.judge_train --data data/judge/train128.npz --val data/judge/val128.npz --minutes 40

Objective: regression of the 24 identity parameters (smooth L1 against
`synthetic.params.identity_vector`, each in [-1, 1]); the estimate is the judge's embedding. Batches
hold ``p`` identities x ``k`` renders (so every identity is seen under several poses, expressions and
lights in one step). Augmentation is aimed at what a generator and an inversion do
to a face: a softer image (Gaussian blur, a detour through a lower resolution), noise, colour gain,
and a slightly different alignment (scale, shift, roll), plus the mirror image.

This script is the only place that trains the judge. It imports nothing of the oracle's network.
"""
from __future__ import annotations

import math
import time

import click
import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from sgtcore import modelio
from sgtcore.images import from_uint8

from .judge import TRAIN_SEED, WEIGHTS, Judge, load, preprocess
from .oracle_data import load_set
from .oracle_train import batch_indices
from .retrieval import first_render_gallery, top1


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-item Gaussian blur of ``[N, C, H, W]`` with std ``sigma [N]`` (pixels; 0 = unchanged)."""
    r = 3
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-0.5 * (t[None] / sigma.clamp(min=1e-3)[:, None]) ** 2)
    k = k / k.sum(1, keepdim=True)  # [N, 2r+1]
    n, c, h, w = x.shape
    y = x.reshape(1, n * c, h, w)
    kk = k.repeat_interleave(c, 0)
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="reflect"), kk[:, None, None, :], groups=n * c)
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="reflect"), kk[:, None, :, None], groups=n * c)
    return y.reshape(n, c, h, w)


def augment(frames: torch.Tensor, gen: torch.Generator, size: int, crop: float) -> torch.Tensor:
    """Full frames ``[N, 3, R, R]`` -> augmented judge input ``[N, 3, size, size]`` (see the module docstring)."""
    n, _, r, _ = frames.shape
    u = lambda *shape: torch.rand(*shape, generator=gen)  # noqa: E731
    # alignment jitter: scale 0.95-1.05, shift +-3 % of the frame, roll +-4 degrees
    scale = 1 + 0.1 * (u(n) - 0.5)
    ang = math.radians(8) * (u(n) - 0.5)
    shift = 0.06 * (u(n, 2) - 0.5)
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(frames.shape), align_corners=False)
    x = F.grid_sample(frames, grid, mode="bilinear", padding_mode="border", align_corners=False)
    flip = u(n) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    x = _gaussian_blur(x, 1.2 * u(n) * (u(n) < 0.6))
    x = preprocess(x, size, crop)
    # a detour through a lower resolution for a third of the batch (a 64 px generator's frame and less)
    low = int(torch.randint(size // 3, size, (1,), generator=gen))
    sel = torch.arange(n) % 3 == 0
    small = F.interpolate(x[sel], size=(low, low), mode="bilinear", antialias=True, align_corners=False)
    x = x.clone()
    x[sel] = F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    gain = 1 + 0.1 * (u(n, 3, 1, 1) - 0.5)
    bias = 0.08 * (u(n, 1, 1, 1) - 0.5)
    noise = 0.04 * u(n, 1, 1, 1) * torch.randn(x.shape, generator=gen)
    return (x * gain + bias + noise).clamp(-1, 1)


@torch.no_grad()
def evaluate(net: Judge, data: str, size: int | None = None, batch: int = 256) -> dict[str, float]:
    """Retrieval on an `oracle_data` file of other identities: per identity, its first render is the
    gallery and every other render a query (pose, expression and light all differ).

    Args:
        size: resize the stored frames to this side first (e.g. 64, a v1 generator's frame).
    """
    d = load_set(data)
    x = from_uint8(d["images"])
    if size and size != x.shape[-1]:
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    was_training = net.training
    net.eval()
    emb = net.embed(x, batch)
    net.train(was_training)
    gallery, query, labels = first_render_gallery(d["identity"].numpy())
    return {"identity_top1": top1(emb[query], emb[gallery], labels), "identities": len(gallery),
            "queries": len(query), "input_px": int(x.shape[-1])}


def shrink_frames(images: torch.Tensor, size: int, chunk: int = 1000) -> torch.Tensor:
    """uint8 frames ``[N, H, W, 3]`` resized (antialiased) to uint8 ``[N, 3, size, size]``, once per run:
    augmenting 128 px frames cost twice the network's own step."""
    out = []
    for i in range(0, len(images), chunk):
        x = F.interpolate(from_uint8(images[i:i + chunk]), size=(size, size), mode="bilinear", antialias=True,
                          align_corners=False)
        out.append((x * 127.5 + 128).clamp(0, 255).to(torch.uint8))
    return torch.cat(out)


def train(data: str, out: str, minutes: float, val: str | None = None, p: int = 48, k: int = 4, lr: float = 2e-3,
          width: int = 24, seed: int = 0, threads: int = 2, val_every: float = 5.0, frame_size: int = 80,
          init_from: str | None = None) -> Judge:
    """Train and save the judge (the last weights; nothing is selected on `val`, it is only printed).

    Args:
        frame_size: the frames are first resized to this side (80: the judge's crop of it is its 64 px input).
        init_from: a judge folder to continue from (e.g. the partial weights of a stopped run).
    """
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    d = load_set(data)
    ids = d["identity"].numpy()
    frames = shrink_frames(d["images"], frame_size)
    net = Judge(width=width) if init_from is None else load(init_from).train().requires_grad_(True)
    if d["identity_params"].shape[1] != net.config["embed_dim"]:
        raise ValueError(f"{data}: {d['identity_params'].shape[1]} identity parameters, the judge regresses "
                         f"{net.config['embed_dim']}")
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=5e-4)
    t0 = last_val = last_save = time.time()
    step, run = 0, {}
    bar = tqdm(total=int(minutes * 60), desc="judge train", unit="s")
    while (frac := (time.time() - t0) / (minutes * 60)) < 1:
        for g in opt.param_groups:  # warm-up 3 %, then cosine to zero
            g["lr"] = lr * min(1.0, frac / 0.03) * 0.5 * (1 + math.cos(math.pi * frac))
        idx = batch_indices(ids, rng, p, k)
        x = augment(from_uint8(frames[idx], channels_first=True), gen, net.config["input_size"], net.config["crop"])
        target = d["identity_params"][idx]
        pred = net(x)
        loss = F.smooth_l1_loss(pred, target, beta=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        mae = float((pred.detach() - target).abs().mean())
        run = {n: 0.98 * run.get(n, v) + 0.02 * v for n, v in {"loss": loss.item(), "mae": mae}.items()}
        bar.n = min(int(time.time() - t0), bar.total)
        bar.refresh()
        if step % 50 == 0:
            tqdm.write(f"step {step} {(time.time() - t0) / 60:.1f} min " + " ".join(f"{n}={v:.3f}" for n, v in run.items()))
        if val and time.time() - last_val > val_every * 60:
            tqdm.write(f"val step {step}: {evaluate(net, val)}")
            last_val = time.time()
        if time.time() - last_save > 600:  # a killed run still leaves usable weights
            net.eval()
            net.save_pretrained(out, {"steps": step, "partial": True})
            net.train()
            last_save = time.time()
    bar.close()
    net.eval()
    info = {"steps": step, "minutes": round((time.time() - t0) / 60, 1), "train_set": str(data),
            "train_images": len(ids), "train_identities": int(len(np.unique(ids))), "train_seed": TRAIN_SEED,
            "batch": [p, k], "lr": lr, "objective": "identity parameter regression (smooth L1, beta 0.05)"}
    if init_from is not None:
        info["continued_from"] = {"path": str(init_from), **modelio.read_config(init_from).get("metadata", {})}
    if val:
        info["val"] = evaluate(net, val)
    net.save_pretrained(out, info)
    return net


@click.command(context_settings={"show_default": True})
@click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False),
              help=f"From synthetic.oracle_data with --seed {TRAIN_SEED} (identities the oracle never saw).")
@click.option("--out", default=str(WEIGHTS), help="Model folder (config.json + model.safetensors).")
@click.option("--minutes", type=float, default=40.0, help="Wall-clock budget (cosine schedule over it).")
@click.option("--val", default=None, type=click.Path(exists=True, dir_okay=False), help="Monitoring set.")
@click.option("--width", type=int, default=24)
@click.option("--p", "p", type=int, default=48, help="Identities per batch.")
@click.option("--k", "k", type=int, default=4, help="Renders per identity in a batch.")
@click.option("--lr", type=float, default=2e-3)
@click.option("--threads", type=int, default=2)
@click.option("--seed", type=int, default=0)
@click.option("--init-from", default=None, type=click.Path(exists=True, file_okay=False),
              help="Continue from this judge folder (e.g. a stopped run's partial weights).")
def main(data: str, out: str, minutes: float, val: str | None, width: int, p: int, k: int, lr: float, threads: int,
         seed: int, init_from: str | None) -> None:
    """Train the identity judge."""
    train(data, out, minutes, val, p=p, k=k, lr=lr, width=width, seed=seed, threads=threads, init_from=init_from)


if __name__ == "__main__":
    main()
