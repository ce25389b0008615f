"""StyleGAN2 training: data, losses, EMA, DistributedDataParallel loop with exact resume, `sgt train`.

    >>> from stylegan.train import TrainConfig, train
    >>> train(TrainConfig(data="data/heads64", outdir="runs/heads64", total_kimg=100))  # doctest: +SKIP

Multi-process: `torchrun --nproc_per_node=K -m stylegan.train --data ... --outdir ...`.
"""
from stylegan.train.config import TrainConfig
from stylegan.train.dataset import ImageDataset
from stylegan.train.ema import ema_beta, update_ema
from stylegan.train.loop import train

__all__ = ["TrainConfig", "ImageDataset", "train", "update_ema", "ema_beta"]
