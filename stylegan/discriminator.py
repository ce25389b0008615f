"""StyleGAN2 residual discriminator with minibatch-std (NVlabs names), also a feature extractor."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from stylegan.netconfig import ChannelTable
from stylegan.layers import Conv2dLayer, FullyConnectedLayer, MinibatchStdLayer
from stylegan.utils import assert_shape


@dataclass
class DiscriminatorConfig(ChannelTable):
    img_resolution: int = 1024
    img_channels: int = 3
    c_dim: int = 0
    channel_base: int = 32768
    channel_max: int = 512
    conv_clamp: float | None = None
    mbstd_group_size: int = 4
    mbstd_num_channels: int = 1
    channels: dict[int, int] | None = None

    def __post_init__(self) -> None:
        self._validate()
        if self.c_dim:
            raise NotImplementedError("conditional discriminators (c_dim > 0) are not supported")


class DiscriminatorBlock(torch.nn.Module):
    """(fromrgb at the top) -> conv0 -> conv1 (2x down), plus a 1x1 downsampling skip; sum / sqrt(2)."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, img_channels: int,
                 conv_clamp: float | None):
        super().__init__()
        self.in_channels = in_channels
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, activation="lrelu", down=2, conv_clamp=conv_clamp)
        self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor) -> torch.Tensor:
        if self.in_channels == 0:
            x = self.fromrgb(img)
        y = self.skip(x, gain=np.sqrt(0.5))
        x = self.conv1(self.conv0(x), gain=np.sqrt(0.5))
        return y + x


class DiscriminatorEpilogue(torch.nn.Module):
    def __init__(self, in_channels: int, resolution: int, mbstd_group_size: int, mbstd_num_channels: int,
                 conv_clamp: float | None):
        super().__init__()
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, 3, activation="lrelu",
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        return self.out(self.fc(x.flatten(1)))


class Discriminator(torch.nn.Module):
    """image `[N, C, R, R]` in [-1, 1] -> logits `[N, 1]` (and, on request, each block's features)."""

    def __init__(self, config: DiscriminatorConfig | None = None, **kwargs):
        super().__init__()
        cfg = config if config is not None else DiscriminatorConfig(**kwargs)
        self.config = cfg
        self.img_resolution, self.img_channels = cfg.img_resolution, cfg.img_channels
        self.block_resolutions = [2 ** i for i in range(int(np.log2(cfg.img_resolution)), 2, -1)]
        for res in self.block_resolutions:
            in_ch = cfg.channels_at(res) if res < cfg.img_resolution else 0
            block = DiscriminatorBlock(in_ch, cfg.channels_at(res), cfg.channels_at(res // 2), cfg.img_channels,
                                       cfg.conv_clamp)
            setattr(self, f"b{res}", block)
        self.b4 = DiscriminatorEpilogue(cfg.channels_at(4), 4, cfg.mbstd_group_size, cfg.mbstd_num_channels,
                                        cfg.conv_clamp)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None, return_features: bool = False):
        """Args: img `[N, img_channels, R, R]`. Returns logits `[N, 1]`, or `(logits, {res: features})`
        where features at `res` is the block input `[N, C_res, res, res]` (useful as a perceptual space)."""
        assert_shape(img, [None, self.img_channels, self.img_resolution, self.img_resolution], "img")
        x = None
        features: dict[int, torch.Tensor] = {}
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(x, img)
            features[res // 2] = x
        logits = self.b4(x)
        return (logits, features) if return_features else logits
