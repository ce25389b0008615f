"""The StyleGAN2 training loop (NVlabs StyleGAN2-ADA's phases without ADA): per step Gmain, Greg (lazy
path length), Dmain, Dreg (lazy R1), then the G_ema update. Multi-process via DistributedDataParallel."""
from __future__ import annotations

import copy
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from stylegan.discriminator import Discriminator, DiscriminatorConfig
from stylegan.generator import Generator, GeneratorConfig
from stylegan.train.distributed import DistInfo, all_mean, close_distributed, init_distributed, wrap_ddp
from stylegan.train.checkpoint import TrainState, find_checkpoint, load_checkpoint, save_checkpoint
from stylegan.train.config import TrainConfig
from stylegan.train.dataset import ImageDataset
from stylegan.train.ema import ema_beta, update_ema
from stylegan.train.loss import TrainingGenerator, d_logistic, g_nonsaturating, path_lengths, r1_penalty
from stylegan.train.mixing import mixing_cutoff
from stylegan.train.samples import save_grid
from stylegan.train.warm_start import grow_start, warm_start


def build_networks(cfg: TrainConfig, resolution: int, use_amp: bool) -> tuple[Generator, Discriminator]:
    """G and D for `cfg` at `resolution` (same init on every rank: seeded by cfg.seed)."""
    torch.manual_seed(cfg.seed)
    clamp = 256.0 if use_amp else None  # keeps bf16 activations in range (NVlabs conv_clamp)
    G = Generator(GeneratorConfig(z_dim=cfg.z_dim, w_dim=cfg.w_dim, img_resolution=resolution,
                                  mapping_layers=cfg.mapping_layers, channel_base=cfg.channel_base,
                                  channel_max=cfg.channel_max, conv_clamp=clamp, channels=cfg.channels))
    D = Discriminator(DiscriminatorConfig(img_resolution=resolution, channel_base=cfg.channel_base,
                                          channel_max=cfg.channel_max, conv_clamp=clamp,
                                          mbstd_group_size=cfg.mbstd_group_size, channels=cfg.channels))
    return G, D


def _adam(params, lr: float, betas: tuple[float, float], reg_interval: int | None) -> torch.optim.Adam:
    # Lazy regularisation (Karras et al. 2020, App. B): the optimiser sees interval+1 updates per interval,
    # so learning rate and betas are rescaled by interval / (interval + 1).
    r = reg_interval / (reg_interval + 1) if reg_interval else 1.0
    return torch.optim.Adam(params, lr=lr * r, betas=(betas[0] ** r, betas[1] ** r), eps=1e-8)


def _step_seed(seed: int, step: int, rank: int) -> int:
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(1)[0])


def _check_resume(saved: dict, cfg: TrainConfig) -> None:
    now = cfg.to_dict()
    diff = [k for k in TrainConfig.TRAJECTORY_KEYS if json.dumps(saved.get(k)) != json.dumps(now.get(k))]
    if diff:
        detail = ", ".join(f"{k}: saved {saved.get(k)!r} vs now {now.get(k)!r}" for k in diff)
        raise ValueError(f"--resume: options differ from the checkpoint ({detail}); pass the same options or start "
                         "a new run")


def train(cfg: TrainConfig, on_step_end: Callable[[int, dict], None] | None = None, resume: str | Path | None = None
          ) -> Path:
    """Train (or continue) a StyleGAN2; returns the output directory.

    Writes `outdir/checkpoints/step-*/` (see `stylegan.train.checkpoint`), `outdir/samples/*.png` (G_ema
    grids), `outdir/stats.jsonl` (losses), `outdir/final/` (G_ema, our format). Call from every rank under
    torchrun, or plainly for one process.

    Args:
        cfg: options.
        on_step_end: called as `on_step_end(step, {'G': G, 'D': D, 'G_ema': G_ema})` after each step (tests use
            it to simulate a kill or to look at every rank's networks).
        resume: a run directory or checkpoint to continue from (same options required).
    """
    info = init_distributed(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _train(cfg, info, on_step_end, resume)
    finally:
        close_distributed(info)


def _train(cfg: TrainConfig, info: DistInfo, on_step_end, resume) -> Path:
    dev = info.device
    if cfg.batch % info.world_size:
        raise ValueError(f"--batch {cfg.batch} is not divisible by the {info.world_size} processes")
    batch_gpu = cfg.batch // info.world_size
    group = min(cfg.mbstd_group_size, batch_gpu)
    if batch_gpu % group:
        raise ValueError(f"per-process batch {batch_gpu} is not divisible by the minibatch-std group "
                         f"{cfg.mbstd_group_size}; change --batch or --mbstd-group")
    data = ImageDataset(cfg.data, cfg.resolution, cfg.max_images, cfg.resize)
    res = data.resolution
    use_amp = cfg.amp and dev.type == "cuda"
    G, D = build_networks(cfg, res, use_amp)
    G, D = G.to(dev).train(), D.to(dev).train()
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    G_reg = cfg.pl_interval if cfg.pl_weight > 0 else None
    opt_G = _adam(G.parameters(), cfg.g_lr, cfg.betas, G_reg)
    opt_D = _adam(D.parameters(), cfg.d_lr, cfg.betas, cfg.r1_interval)
    outdir = Path(cfg.outdir)
    ckpt_root = outdir / "checkpoints"
    state = TrainState(0, 0, 0.0, torch.zeros([], device=dev), {}, {})
    warm_meta: dict = {}
    if resume is not None:
        state, saved_cfg = load_checkpoint(find_checkpoint(resume), G, D, G_ema, dev)
        _check_resume(saved_cfg, cfg)
        opt_G.load_state_dict(state.opt_G)
        opt_D.load_state_dict(state.opt_D)
        warm_meta = saved_cfg.get("extra", {}).get("warm_start", {})
    elif cfg.init_from and cfg.grow_from:
        raise ValueError("--init-from and --grow-from both given: a warm start takes one model")
    elif cfg.init_from:
        state, warm_meta = warm_start(cfg.init_from, G, D, G_ema, dev)
    elif cfg.grow_from:
        state, warm_meta = grow_start(cfg.grow_from, G, D, G_ema, dev)
    if warm_meta:  # kept in every later checkpoint's train_config, so it survives further resumes
        cfg.extra = {**cfg.extra, "warm_start": warm_meta}
    if state.step >= cfg.total_steps():  # kimg continues from a resume or warm start: nothing would be trained
        raise ValueError(f"the run is already at {state.cur_nimg / 1000:.4g} kimg (resumed or warm-started), which "
                         f"reaches --kimg {cfg.total_kimg:g}; pass a larger --kimg to train further")

    TG = TrainingGenerator(G)
    G_train = wrap_ddp(TG, info, broadcast_buffers=False)
    D_train = wrap_ddp(D, info, broadcast_buffers=False)
    autocast = lambda: torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=use_amp)  # noqa: E731
    gamma = cfg.gamma_for(res)
    total_steps, snap_steps = cfg.total_steps(), cfg.snap_steps()
    grid_z = torch.from_numpy(np.random.RandomState(cfg.seed).randn(cfg.grid_size ** 2, cfg.z_dim)).float().to(dev)
    if info.is_main:
        outdir.mkdir(parents=True, exist_ok=True)
        (outdir / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
        if state.step == 0:
            save_grid(data.batch(torch.arange(min(len(data), cfg.grid_size ** 2))), outdir / "samples" / "reals.png",
                      cfg.grid_size)
    gen = torch.Generator()
    step, cur_nimg = state.step, state.cur_nimg
    pl_mean = state.pl_mean
    t_start, elapsed0, t_snap = time.time(), state.elapsed_s, time.time()
    stats: dict[str, float] = {}
    bar = tqdm(total=total_steps * cfg.batch, initial=step * cfg.batch, unit="img", unit_scale=True,
               desc="train", disable=not info.is_main, file=sys.stderr, dynamic_ncols=True)

    def snapshot() -> None:
        elapsed = elapsed0 + time.time() - t_start
        meta = {"kimg": round(cur_nimg / 1000, 3), "steps": step, "wall_time_s": round(elapsed, 1),
                "train_images": len(data), "dataset": str(cfg.data), "command": cfg.command,
                "processes": info.world_size, "device": dev.type}
        if warm_meta:
            meta["warm_start"] = warm_meta
        st = TrainState(step, cur_nimg, elapsed, pl_mean, opt_G.state_dict(), opt_D.state_dict())
        save_checkpoint(ckpt_root, G, D, G_ema, st, cfg.to_dict(), meta, keep=cfg.keep_snapshots)
        with torch.no_grad():
            imgs = G_ema(grid_z, noise_mode="const")
        save_grid(imgs, outdir / "samples" / f"fakes-step{step:07d}.png", cfg.grid_size)

    while step < total_steps:
        seed = _step_seed(cfg.seed, step, info.rank)
        gen.manual_seed(seed)
        torch.manual_seed(seed)  # noise_mode='random' inside the synthesis layers
        real = data.batch(torch.randint(len(data), (batch_gpu,), generator=gen), dev)

        def latents(n: int) -> tuple[torch.Tensor, torch.Tensor, int]:
            z = torch.randn(n, cfg.z_dim, generator=gen).to(dev)
            z2 = torch.randn(n, cfg.z_dim, generator=gen).to(dev)
            return z, z2, mixing_cutoff(G.num_ws, cfg.style_mixing, gen)

        # Gmain: non-saturating loss through a frozen D.
        G.requires_grad_(True)
        D.requires_grad_(False)
        with autocast():
            img, _ = G_train(*latents(batch_gpu))
            loss_G = g_nonsaturating(D(img).float()).mean()
        opt_G.zero_grad(set_to_none=True)
        loss_G.backward()
        opt_G.step()
        stats["loss_G"] = float(loss_G.detach())

        # Greg: path-length regularisation every pl_interval steps, on a smaller batch.
        if G_reg and step % cfg.pl_interval == 0:
            img, ws = G_train(*latents(max(batch_gpu // cfg.pl_batch_shrink, 1)))
            lengths = path_lengths(img, ws)
            pl_mean = pl_mean.lerp(all_mean(lengths.mean().detach(), info), cfg.pl_decay)
            penalty = (lengths - pl_mean).square()
            loss = (penalty * cfg.pl_weight).mean() * cfg.pl_interval + img[:, 0, 0, 0].mean() * 0
            opt_G.zero_grad(set_to_none=True)
            loss.backward()
            opt_G.step()
            stats["pl_penalty"] = float(penalty.detach().mean())

        # Dmain: fakes from the (frozen) current G, logistic loss on fakes and reals.
        G.requires_grad_(False)
        D.requires_grad_(True)
        with torch.no_grad(), autocast():
            fake, ws = TG(*latents(batch_gpu))
            # w_avg tracks the mapping output over all ranks' batches (truncation centre).
            w_mean = all_mean(ws[:, 0].float().mean(0), info)
            G.mapping.w_avg.copy_(w_mean.lerp(G.mapping.w_avg, G.mapping.w_avg_beta))
        opt_D.zero_grad(set_to_none=True)
        with autocast():
            fake_logits = D_train(fake.float()).float()
            loss_Dfake = d_logistic(fake_logits=fake_logits).mean()
        loss_Dfake.backward()
        with autocast():
            real_logits = D_train(real).float()
            loss_Dreal = d_logistic(real_logits=real_logits).mean()
        loss_Dreal.backward()
        opt_D.step()
        stats["loss_D"] = float(loss_Dfake.detach() + loss_Dreal.detach())
        stats["D_real"], stats["D_fake"] = float(real_logits.detach().mean()), float(fake_logits.detach().mean())

        # Dreg: lazy R1 on reals every r1_interval steps.
        if cfg.r1_interval and gamma > 0 and step % cfg.r1_interval == 0:
            real_r1 = real.detach().requires_grad_(True)
            with autocast():
                logits = D_train(real_r1).float()
            penalty = r1_penalty(logits, real_r1)
            loss = (penalty * (gamma / 2)).mean() * cfg.r1_interval + logits.mean() * 0
            opt_D.zero_grad(set_to_none=True)
            loss.backward()
            opt_D.step()
            stats["r1_penalty"] = float(penalty.detach().mean())

        cur_nimg += cfg.batch
        step += 1
        update_ema(G_ema, G, ema_beta(cfg.batch, cur_nimg, cfg.ema_kimg_value(), cfg.ema_rampup))
        bar.update(cfg.batch)
        if info.is_main:
            bar.set_postfix(kimg=f"{cur_nimg / 1000:.1f}", G=f"{stats['loss_G']:.3f}", D=f"{stats['loss_D']:.3f}",
                            refresh=False)
            if step % cfg.log_every == 0 or step == total_steps:
                rate = bar.format_dict.get("rate") or 0.0
                line = {"step": step, "kimg": round(cur_nimg / 1000, 3),
                        "elapsed_s": round(elapsed0 + time.time() - t_start, 1), "img_per_s": round(rate, 2),
                        **{k: round(v, 5) for k, v in stats.items()}}
                with open(outdir / "stats.jsonl", "a") as fh:
                    fh.write(json.dumps(line) + "\n")
            timed = cfg.snap_minutes is not None and time.time() - t_snap >= cfg.snap_minutes * 60
            if step % snap_steps == 0 or step == total_steps or timed:
                snapshot()
                t_snap = time.time()
        if on_step_end is not None:
            on_step_end(step, {"G": G, "D": D, "G_ema": G_ema})
    bar.close()
    if info.is_main:
        ckpt = find_checkpoint(outdir)
        G_final = outdir / "final"
        shutil.rmtree(G_final, ignore_errors=True)
        shutil.copytree(ckpt / "G_ema", G_final)
    return outdir
