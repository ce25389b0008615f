"""StyleGAN2 layers with equalised learning rate. Parameter names follow NVlabs exactly, so an
NVlabs state dict loads without renaming."""
from __future__ import annotations

import numpy as np
import torch

from stylegan.ops import bias_act, conv2d_resample, modulated_conv2d, setup_filter
from stylegan.ops.modconv import choose_path
from stylegan.ops.bias_act import activation_funcs


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Pixel norm: `x / sqrt(mean(x^2) + eps)` along `dim`."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class FullyConnectedLayer(torch.nn.Module):
    """Linear layer; weights stored unscaled and multiplied by `lr_multiplier / sqrt(in)` at run time."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.in_features, self.out_features, self.activation = in_features, out_features, activation
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = torch.nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`[N, in_features] -> [N, out_features]`."""
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)


class SynthesisLayer(torch.nn.Module):
    """Modulated 3x3 conv (optionally 2x upsampling) + noise + bias + lrelu (+ clamp)."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, conv_clamp: float | None = None,
                 resample_filter: tuple[int, ...] = (1, 3, 3, 1)):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.resolution, self.up, self.use_noise, self.conv_clamp = resolution, up, use_noise, conv_clamp
        self.padding = kernel_size // 2
        self.act_gain = activation_funcs["lrelu"].def_gain
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x: torch.Tensor, styles: torch.Tensor, noise_mode: str = "const", gain: float = 1.0,
                path: str = "auto", overwrite_input: bool = False, noise: torch.Tensor | None = None) -> torch.Tensor:
        """`x [N, I, r/up, r/up]`, `styles [N, I]` (= `affine(w)`) -> `[N, O, r, r]`.

        `noise`: a map `[r, r]` or `[N | 1, 1, r, r]` used instead of the one `noise_mode` picks (still
        scaled by `noise_strength`; never written to, so it may require grad).
        `overwrite_input=True` lets the scaled path reuse `x`'s memory when autograd is off."""
        if noise is not None:
            if not self.use_noise:
                raise ValueError("this layer was built with use_noise=False; it takes no noise map")
            noise = noise.to(x.device) * self.noise_strength
        elif self.use_noise and noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        if (path if path != "auto" else choose_path(x)) == "scaled":
            # lrelu(v) * g == lrelu(v * g) for g > 0, so the gain and bias ride in the conv's epilogue,
            # and without autograd the activation and clamp work in place: 2 passes instead of 5.
            x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                                 resample_filter=self.resample_filter, flip_weight=(self.up == 1), path="scaled",
                                 bias=self.bias, out_gain=self.act_gain * gain, overwrite_input=overwrite_input)
            inplace = not (torch.is_grad_enabled() and x.requires_grad)
            x = torch.nn.functional.leaky_relu(x, 0.2, inplace=inplace)
            if act_clamp is not None:
                x = x.clamp_(-act_clamp, act_clamp) if inplace else x.clamp(-act_clamp, act_clamp)
            return x
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, flip_weight=(self.up == 1), path=path)
        return bias_act(x, self.bias.to(x.dtype), act="lrelu", gain=self.act_gain * gain, clamp=act_clamp)


class ToRGBLayer(torch.nn.Module):
    """Modulated 1x1 conv without demodulation, to image channels."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None):
        super().__init__()
        self.in_channels, self.out_channels, self.conv_clamp = in_channels, out_channels, conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, 1, 1]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / np.sqrt(in_channels)

    def forward(self, x: torch.Tensor, styles: torch.Tensor, path: str = "auto") -> torch.Tensor:
        """`x [N, I, r, r]`, `styles [N, I]` (= `affine(w)`) -> `[N, C_img, r, r]`."""
        x = modulated_conv2d(x, self.weight, styles * self.weight_gain, demodulate=False, path=path)
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


class Conv2dLayer(torch.nn.Module):
    """Plain conv with equalised lr, optional 2x down/upsampling, bias and activation (discriminator)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1,
                 resample_filter: tuple[int, ...] = (1, 3, 3, 1), conv_clamp: float | None = None):
        super().__init__()
        self.activation, self.up, self.down, self.conv_clamp = activation, up, down, conv_clamp
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / np.sqrt(in_channels * kernel_size ** 2)
        self.act_gain = activation_funcs[activation].def_gain
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels])) if bias else None

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight * self.weight_gain
        b = self.bias.to(x.dtype) if self.bias is not None else None
        x = conv2d_resample(x, w.to(x.dtype), f=self.resample_filter, up=self.up, down=self.down,
                            padding=self.padding, flip_weight=(self.up == 1))
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, b, act=self.activation, gain=self.act_gain * gain, clamp=act_clamp)


class MinibatchStdLayer(torch.nn.Module):
    """Appends the std of features over groups of `group_size` samples as `num_channels` extra maps."""

    def __init__(self, group_size: int = 4, num_channels: int = 1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`[N, C, H, W] -> [N, C + num_channels, H, W]`; N must be divisible by the group size."""
        n, c, h, w = x.shape
        g = min(self.group_size, n) if self.group_size is not None else n
        if n % g:
            raise ValueError(f"minibatch-std needs a batch divisible by {g}, got {n}")
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0)
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4]).reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)
