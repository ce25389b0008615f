"""Self-supervised encoder training on the generator's own samples: the ws behind every generated
image are known, so the loss is latent L2 (to the true W+ code) + image reconstruction + e4e's
delta-norm regulariser, with e4e's progressive unlocking of the per-layer offsets.

Runs as one process or under torchrun (DistributedDataParallel, gloo on CPU / nccl on GPU), through
`stylegan.train`'s DDP set-up; every rank draws its own samples, rank 0 logs and saves.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from stylegan import Discriminator, Generator, fingerprint
from stylegan.train import close_distributed, init_distributed, sample_ws, wrap_ddp

from .encoder import Encoder, delta_norm, encoder_for, save_encoder
from .losses import ReconstructionLoss, make_loss, psnr
from .projection import frozen, w_stats


@dataclass
class EncoderTrainConfig:
    """Options of `train_encoder` (also written into the encoder's config metadata)."""

    steps: int = 4000
    batch: int = 8
    lr: float = 1e-3
    progressive_every: int = 200  # unlock one more layer's offset every this many steps (e4e: 2000)
    latent_weight: float = 1.0
    image_weight: float = 1.0
    reg_weight: float = 1e-3
    mixing_prob: float = 0.5
    channels: int = 32
    loss: str = "l2+msssim"
    seed: int = 0
    log_every: int = 50
    snap_every: int = 1000
    val_samples: int = 64
    half: bool = False  # store the final encoder in float16 (snapshots stay float32)


@torch.no_grad()
def sample(G: Generator, n: int, gen: torch.Generator, mixing_prob: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generated images `[n, 3, R, R]` (random noise) and their true ws `[n, num_ws, w_dim]`, with
    style mixing so that the encoder sees codes off the W manifold too."""
    ws = sample_ws(G, n, gen, mixing_prob)
    return G.synthesis(ws, noise_mode="random"), ws


@torch.no_grad()
def evaluate(G: Generator, encoder: Encoder, num: int = 64, seed: int = 10_000) -> dict[str, float]:
    """Mean PSNR of `G.synthesis(encoder(img))` vs img on held-out samples (no mixing), and latent MSE."""
    gen = torch.Generator().manual_seed(seed)
    p, lat = [], []
    for _ in range(0, num, 16):
        img, ws = sample(G, min(16, num), gen, 0.0)
        pred = encoder(img)
        p.append(psnr(G.synthesis(pred, noise_mode="const"), img))
        lat.append((pred - ws).square().mean((1, 2)))
    return {"psnr": float(torch.cat(p).mean()), "latent_mse": float(torch.cat(lat).mean())}


def train_encoder(G: Generator, outdir: str | os.PathLike, cfg: EncoderTrainConfig | None = None,
                  D: Discriminator | None = None, progress: bool = True, network: str = "") -> Encoder:
    """Train an encoder for `G` and save it to `outdir` (config.json + model.safetensors + log.jsonl).

    Args:
        G: the generator (not modified).
        outdir: encoder folder; snapshots replace the model atomically (`log.jsonl` beside it is kept).
        cfg: options (`EncoderTrainConfig`).
        D: discriminator, for loss 'dfeat+l2+msssim'.
        progress: tqdm bar (rank 0).
        network: name or path of G, recorded in the metadata.

    Returns:
        The trained encoder (eval mode).
    """
    cfg = cfg or EncoderTrainConfig()
    info = init_distributed("cpu" if G.w_avg.device.type == "cpu" else "auto")
    outdir = Path(outdir)
    try:
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        encoder = encoder_for(G, channels=cfg.channels).train()
        model = wrap_ddp(encoder, info)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
        loss_fn: ReconstructionLoss = make_loss(cfg.loss, D=D)
        _, w_std = w_stats(G)
        latent_scale = G.w_dim / w_std ** 2  # makes the latent MSE ~1 for an uninformed guess
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + info.rank + 1)
        if info.is_main:
            outdir.mkdir(parents=True, exist_ok=True)
        log = open(outdir / "log.jsonl", "a") if info.is_main else None
        made_for = fingerprint(G)
        meta = {"network": network, "train": asdict(cfg), "world_size": info.world_size, "loss_name": loss_fn.name}
        t0 = time.perf_counter()
        bar = tqdm(range(cfg.steps), desc="train encoder", unit="step", disable=not (progress and info.is_main))
        with frozen(G, loss_fn):
            for step in bar:
                encoder.set_active_layers(1 + step // cfg.progressive_every if cfg.progressive_every else G.num_ws)
                decay = min(1.0, 5.0 * (1.0 - step / cfg.steps))  # linear decay over the last 20 %
                for g in opt.param_groups:
                    g["lr"] = cfg.lr * decay
                img, ws = sample(G, cfg.batch, gen, cfg.mixing_prob)
                pred, delta = model(img, return_delta=True)  # one forward through DDP
                lat = (pred - ws).square().mean() * latent_scale
                total = cfg.latent_weight * lat
                rec = torch.zeros([])
                if cfg.image_weight:
                    rec = loss_fn(G.synthesis(pred, noise_mode="const"), img).mean()
                    total = total + cfg.image_weight * rec
                reg = delta_norm(delta) / w_std
                total = total + cfg.reg_weight * reg
                opt.zero_grad(set_to_none=True)
                total.backward()
                opt.step()
                if info.is_main and (step % cfg.log_every == 0 or step == cfg.steps - 1):
                    rec_psnr = float(psnr(G.synthesis(pred.detach(), noise_mode="const"), img).mean())
                    rec_row = {"step": step, "latent": lat.item(), "image": rec.item(), "reg": reg.item(),
                               "active_layers": int(encoder.active_layers), "train_psnr": rec_psnr,
                               "lr": cfg.lr * decay, "time": time.perf_counter() - t0}
                    log.write(json.dumps(rec_row) + "\n")
                    log.flush()
                    bar.set_postfix(lat=f"{lat.item():.3f}", psnr=f"{rec_psnr:.1f}", k=int(encoder.active_layers))
                if info.is_main and cfg.snap_every and (step + 1) % cfg.snap_every == 0 and step + 1 < cfg.steps:
                    save_encoder(encoder, outdir, {**meta, "step": step + 1}, generator=made_for)
        encoder.eval()
        if info.is_main:
            val = evaluate(G, encoder, cfg.val_samples)
            log.write(json.dumps({"final": val, "time": time.perf_counter() - t0}) + "\n")
            log.close()
            save_encoder(encoder, outdir, {**meta, "step": cfg.steps, "validation": val}, half=cfg.half,
                         generator=made_for)
        return encoder.requires_grad_(False)
    finally:
        close_distributed(info)
