"""Encoder training. On the generator's own samples the ws behind every image are known, so the loss is
latent L2 (to the true W+ code) + image reconstruction + e4e's delta-norm regulariser, with e4e's
progressive unlocking of the per-layer offsets.

With `data` (a folder of aligned images: `sgt render --dataset` renders or aligned photos) part of every
batch comes from that folder, where no code is known: there the loss is pSp's (Richardson et al. 2021,
eq. 5-6) image reconstruction (the perceptual loss: LPIPS when its weights are local, else D-feature)
plus an **identity** term, 1 − cos of the attribute oracle's identity embeddings of the reconstruction
and the image (the oracle is this toolkit's identity training signal; the identity *judge* never is).
Samples of G keep the latent loss, which holds the codes where G's own images live.

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
    data: str | None = None  # folder of aligned images mixed into every batch (see the module docstring)
    data_fraction: float = 0.5  # share of each batch drawn from `data`
    id_weight: float = 0.5  # oracle identity loss on the `data` part
    data_val: int = 64  # images at the end of `data` held out for validation (never trained on)
    init_from: str | None = None  # an encoder folder (of this G) to start from (its unlocked layers too)
    identity_net: str | None = None  # ArcFace's model_ir_se50.pth for the identity term instead of the oracle (photos)


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


class ImageFolderData:
    """The `data` folder of an encoder run: training images and the held-out tail, at G's resolution."""

    def __init__(self, root: str | os.PathLike, G: Generator, batch_share: int, val: int):
        from stylegan.train.dataset import ImageDataset

        ds = ImageDataset(root, resolution=G.img_resolution, resize=True)
        n_val = min(val, len(ds) // 5)
        self.train, self.val = ds.images[:len(ds) - n_val], ds.images[len(ds) - n_val:]
        if len(self.train) < batch_share:
            raise ValueError(f"{root}: {len(self.train)} training images (after holding out {n_val}) but each step "
                             f"takes {batch_share}; add images or lower --batch / --data-fraction")
        # renders of `sgt render --dataset` carry dataset.json: the oracle was made for them
        self.synthetic = (Path(root) / "dataset.json").is_file()

    def draw(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """`n` random training images `[n, 3, R, R]` in [-1, 1]."""
        from sgtcore.images import from_uint8

        return from_uint8(self.train[torch.randint(len(self.train), (n,), generator=gen)], channels_first=True)


@torch.no_grad()
def evaluate_images(G: Generator, encoder: Encoder, images: torch.Tensor, id_distance=None) -> dict[str, float]:
    """Held-out images (uint8 `[N, 3, R, R]`): PSNR of `G.synthesis(encoder(x))` vs x, and the identity distance
    (1 − cos) when `id_distance` (`(a, b) -> [N]`, e.g. `oracle.identity_distance`) is given."""
    from sgtcore.images import from_uint8

    p, d = [], []
    for i in range(0, len(images), 16):
        x = from_uint8(images[i:i + 16], channels_first=True)
        rec = G.synthesis(encoder(x), noise_mode="const")
        p.append(psnr(rec, x))
        if id_distance is not None:
            d.append(id_distance(rec, x))
    out = {"data_psnr": float(torch.cat(p).mean())} if p else {}
    if d:
        out["data_id_distance"] = float(torch.cat(d).mean())
    return out


def _start(G: Generator, cfg: EncoderTrainConfig) -> Encoder:
    """A fresh encoder, or `cfg.init_from`'s (checked against G) to continue from."""
    if cfg.init_from is None:
        return encoder_for(G, channels=cfg.channels)
    from .encoder import load_encoder

    enc = load_encoder(cfg.init_from, G)
    return enc.float().requires_grad_(True)


def train_encoder(G: Generator, outdir: str | os.PathLike, cfg: EncoderTrainConfig | None = None,
                  D: Discriminator | None = None, progress: bool = True, network: str = "") -> Encoder:
    """Train an encoder for `G` and save it to `outdir` (config.json + model.safetensors + log.jsonl).

    Args:
        G: the generator (not modified).
        outdir: encoder folder; snapshots replace the model atomically (`log.jsonl` beside it is kept).
        cfg: options (`EncoderTrainConfig`); `cfg.data` mixes a folder of aligned images into every batch.
        D: discriminator, for loss 'dfeat+l2+msssim' (and 'auto' without LPIPS weights).
        progress: tqdm bar (rank 0).
        network: name or path of G, recorded in the metadata.

    Returns:
        The trained encoder (eval mode).

    Raises:
        ValueError: `data` holds fewer images than a step takes, or `data_fraction` is outside [0, 1].
    """
    cfg = cfg or EncoderTrainConfig()
    if not 0 <= cfg.data_fraction <= 1:
        raise ValueError(f"data_fraction must be in [0, 1], got {cfg.data_fraction}")
    n_data = round(cfg.batch * cfg.data_fraction) if cfg.data else 0
    n_gen = cfg.batch - n_data
    data = ImageFolderData(cfg.data, G, n_data, cfg.data_val) if cfg.data else None
    info = init_distributed("cpu" if G.w_avg.device.type == "cpu" else "auto")
    outdir = Path(outdir)
    try:
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        encoder = _start(G, cfg).train()
        # e4e's progressive unlocking; a continued encoder goes on from the layers it had unlocked (a fresh
        # one from W alone). Skipping it would freeze a partly trained encoder at its first layers.
        first_k = int(encoder.active_layers) if cfg.init_from is not None else 1
        model = wrap_ddp(encoder, info)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
        loss_fn: ReconstructionLoss = make_loss(cfg.loss, D=D)
        oracle = id_distance = None  # the identity network and its `(a, b) -> 1 - cos [N]`
        if data is not None and cfg.id_weight > 0:
            if cfg.identity_net is not None:  # real faces: ArcFace IR-SE-50, as pSp/e4e train with
                from .identity import load_identity_net

                oracle = load_identity_net(cfg.identity_net, device=G.w_avg.device)
                id_distance = oracle.distance
            else:
                from synthetic import oracle as oracle_mod

                oracle = oracle_mod.load(device=G.w_avg.device)
                id_distance = oracle.identity_distance
        _, w_std = w_stats(G)
        latent_scale = G.w_dim / w_std ** 2  # makes the latent MSE ~1 for an uninformed guess
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + info.rank + 1)
        if info.is_main:
            outdir.mkdir(parents=True, exist_ok=True)
        log = open(outdir / "log.jsonl", "a") if info.is_main else None
        made_for = fingerprint(G)
        meta = {"network": network, "train": asdict(cfg), "world_size": info.world_size, "loss_name": loss_fn.name}
        if data is not None:
            meta.update(data_images=len(data.train), data_synthetic=data.synthetic)
        t0 = time.perf_counter()
        bar = tqdm(range(cfg.steps), desc="train encoder", unit="step", disable=not (progress and info.is_main))
        with frozen(G, loss_fn, oracle):
            for step in bar:
                encoder.set_active_layers(first_k + step // cfg.progressive_every if cfg.progressive_every else G.num_ws)
                decay = min(1.0, 5.0 * (1.0 - step / cfg.steps))  # linear decay over the last 20 %
                for g in opt.param_groups:
                    g["lr"] = cfg.lr * decay
                parts, ws = [], None
                if n_gen:
                    img, ws = sample(G, n_gen, gen, cfg.mixing_prob)
                    parts.append(img)
                if n_data:
                    parts.append(data.draw(n_data, gen).to(G.w_avg.device))
                img = torch.cat(parts)
                pred, delta = model(img, return_delta=True)  # one forward through DDP for both parts
                lat = (pred[:n_gen] - ws).square().mean() * latent_scale if n_gen else torch.zeros([])
                total = cfg.latent_weight * lat
                rec = ident = torch.zeros([])
                if cfg.image_weight or oracle is not None:
                    recon = G.synthesis(pred, noise_mode="const")
                    if cfg.image_weight:
                        rec = loss_fn(recon, img).mean()
                        total = total + cfg.image_weight * rec
                    if oracle is not None:
                        ident = id_distance(recon[n_gen:], img[n_gen:]).mean()
                        total = total + cfg.id_weight * ident
                reg = delta_norm(delta) / w_std
                total = total + cfg.reg_weight * reg
                opt.zero_grad(set_to_none=True)
                total.backward()
                opt.step()
                if info.is_main and (step % cfg.log_every == 0 or step == cfg.steps - 1):
                    rec_psnr = float(psnr(G.synthesis(pred.detach(), noise_mode="const"), img).mean())
                    rec_row = {"step": step, "latent": lat.item(), "image": rec.item(), "identity": ident.item(),
                               "reg": reg.item(), "active_layers": int(encoder.active_layers), "train_psnr": rec_psnr,
                               "lr": cfg.lr * decay, "time": time.perf_counter() - t0}
                    log.write(json.dumps(rec_row) + "\n")
                    log.flush()
                    bar.set_postfix(lat=f"{lat.item():.3f}", psnr=f"{rec_psnr:.1f}", k=int(encoder.active_layers))
                if info.is_main and cfg.snap_every and (step + 1) % cfg.snap_every == 0 and step + 1 < cfg.steps:
                    save_encoder(encoder, outdir, {**meta, "step": step + 1}, generator=made_for)
        encoder.eval()
        if info.is_main:
            val = evaluate(G, encoder, cfg.val_samples)
            if data is not None and len(data.val):
                val.update(evaluate_images(G, encoder, data.val, id_distance))
            log.write(json.dumps({"final": val, "time": time.perf_counter() - t0}) + "\n")
            log.close()
            save_encoder(encoder, outdir, {**meta, "step": cfg.steps, "validation": val}, half=cfg.half,
                         generator=made_for)
        return encoder.requires_grad_(False)
    finally:
        close_distributed(info)
