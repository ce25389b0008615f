"""StyleGAN2 training: data, losses, EMA, DistributedDataParallel loop with exact resume, `sgt train`.

    >>> from stylegan.train import TrainConfig, train
    >>> train(TrainConfig(data="data/heads64", outdir="runs/heads64", total_kimg=100))  # doctest: +SKIP

Multi-process: `torchrun --nproc_per_node=K -m stylegan.train --data ... --outdir ...`.

Other trainers build on the same pieces::

    info = init_distributed("auto")            # torchrun's env, or one process
    try:
        model = wrap_ddp(net, info)            # DDP only when several processes train
        ws = sample_ws(G, 8, gen, mixing_prob=0.5)
        ...                                    # log and save where info.is_main
    finally:
        close_distributed(info)
"""
from stylegan.train.config import TrainConfig
from stylegan.train.dataset import ImageDataset
from stylegan.train.distributed import (DistInfo, all_mean, close_distributed, init_distributed, rank_file, rank_world,
                                        wrap_ddp)
from stylegan.train.ema import ema_beta, update_ema
from stylegan.train.loop import train
from stylegan.train.mixing import mix_styles, mixing_cutoff, sample_ws

__all__ = [
    "TrainConfig", "ImageDataset", "train", "update_ema", "ema_beta",
    # for every trainer (generator, encoder, Delta-GAN, swap): torchrun / DDP set-up and style mixing
    "DistInfo", "init_distributed", "close_distributed", "wrap_ddp", "all_mean", "rank_world", "rank_file",
    "mixing_cutoff", "mix_styles", "sample_ws",
]
