"""Upsample, FIR-filter, downsample (`upfirdn2d`): the resampling primitive of StyleGAN2."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from stylegan.ops import _ext


def setup_filter(f: Sequence[float] | torch.Tensor, normalize: bool = True, separable: bool = False,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """Make a 2-D FIR filter `[k, k]` from 1-D taps (outer product), normalised to sum 1."""
    f = torch.as_tensor(f, dtype=torch.float32, device=device)
    if f.ndim == 1 and not separable:
        f = f.ger(f)
    if f.ndim not in (1, 2):
        raise ValueError(f"filter must be 1-D or 2-D, got shape {list(f.shape)}")
    if normalize:
        f = f / f.sum()
    return f


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _padding4(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    if isinstance(padding, int):
        return (padding,) * 4
    if len(padding) == 2:
        return (padding[0], padding[0], padding[1], padding[1])
    if len(padding) != 4:
        raise ValueError(f"padding must be an int, [px, py] or [x0, x1, y0, y1], got {padding}")
    return tuple(int(p) for p in padding)


def _upfirdn2d_ref(x, f, up, down, padding, flip_filter, gain):
    """The specification: zero-insert upsampling, pad/crop, correlate with (flipped) f, decimate."""
    upx, upy = up
    downx, downy = down
    padx0, padx1, pady0, pady1 = padding
    n, c, h, w = x.shape
    # Symmetric zero padding without upsampling is left to the convolution itself: an explicit pad
    # would copy the whole (often channels-last) tensor first.
    conv_pad = (pady0, padx0) if upx == upy == 1 and padx0 == padx1 >= 0 and pady0 == pady1 >= 0 else (0, 0)
    if conv_pad == (0, 0):
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
        x = x.reshape(n, c, h * upy, w * upx)
        x = F.pad(x, [max(padx0, 0), max(padx1, 0), max(pady0, 0), max(pady1, 0)])
        x = x[:, :, max(-pady0, 0): x.shape[2] - max(-pady1, 0), max(-padx0, 0): x.shape[3] - max(-padx1, 0)]
    f = (f * (gain ** (f.ndim / 2))).to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    if f.ndim == 2:
        x = F.conv2d(x, f[None, None].repeat(c, 1, 1, 1), padding=conv_pad, groups=c)
    else:
        x = F.conv2d(x, f[None, None, None].repeat(c, 1, 1, 1), padding=(0, conv_pad[1]), groups=c)
        x = F.conv2d(x, f[None, None, :, None].repeat(c, 1, 1, 1), padding=(conv_pad[0], 0), groups=c)
    return x[:, :, ::downy, ::downx]


def _upfirdn2d_cuda_forward(module):
    def run(x, f, up, down, padding, flip_filter, gain):
        # The kernel takes one 2-D filter; a separable f gets gain**(1/2) per pass in the reference,
        # i.e. `gain` in total, exactly what the outer product with `gain` gives.
        f2 = f if f.ndim == 2 else f.ger(f)
        return module.upfirdn2d(x.contiguous(), f2.to(x.dtype).contiguous(), up[0], up[1], down[0], down[1],
                                *padding, bool(flip_filter), float(gain))
    return run


class _UpFirDn2d(torch.autograd.Function):
    """Custom autograd wrapper whose gradient is another upfirdn2d (filter flipped, up/down
    swapped); used for the compiled kernel and tested on CPU with the reference forward."""

    @staticmethod
    def forward(ctx, x, f, up, down, padding, flip_filter, gain, fwd):
        y = fwd(x, f, up, down, padding, flip_filter, gain)
        ctx.save_for_backward(f)
        ctx.cfg = (x.shape, y.shape, up, down, padding, flip_filter, gain, fwd)
        return y

    @staticmethod
    def backward(ctx, dy):
        (f,) = ctx.saved_tensors
        x_shape, y_shape, up, down, padding, flip_filter, gain, fwd = ctx.cfg
        fh, fw = (f.shape[0], f.shape[-1])
        ih, iw = x_shape[2], x_shape[3]
        oh, ow = y_shape[2], y_shape[3]
        padx0, padx1, pady0, pady1 = padding
        p = (fw - padx0 - 1, iw * up[0] - ow * down[0] + padx0 - up[0] + 1,
             fh - pady0 - 1, ih * up[1] - oh * down[1] + pady0 - up[1] + 1)
        dx = _UpFirDn2d.apply(dy, f, down, up, p, not flip_filter, gain, fwd)
        return dx, None, None, None, None, None, None, None


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: int | Sequence[int] = 1,
    down: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
    impl: str = "auto",
) -> torch.Tensor:
    """Pad, upsample, filter and downsample a batch of images.

    Args:
        x: `[N, C, H, W]`.
        f: FIR filter `[fh, fw]` (or separable `[fw]`); None means identity `[[1]]`.
        up, down: integer factors (int or `[x, y]`).
        padding: int, `[px, py]` or `[x0, x1, y0, y1]`, applied after upsampling (negative crops).
        flip_filter: convolve (False) or correlate (True) — NVlabs' convention.
        gain: overall scale (the filter is multiplied by `gain ** (f.ndim / 2)` per pass).
        impl: 'auto' | 'ref' | 'cuda'.

    Returns:
        `[N, C, (H*up + px0 + px1 - fw) // down + 1, ...]`.
    """
    if x.ndim != 4:
        raise ValueError(f"upfirdn2d expects x of shape [N, C, H, W], got {list(x.shape)}")
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    up, down, padding = _pair(up), _pair(down), _padding4(padding)
    if min(up) < 1 or min(down) < 1:
        raise ValueError(f"up and down must be >= 1, got up={up}, down={down}")
    which, module = _ext.resolve(impl, x, "upfirdn2d")
    if which == "cuda":
        return _UpFirDn2d.apply(x, f, up, down, padding, flip_filter, gain, _upfirdn2d_cuda_forward(module))
    return _upfirdn2d_ref(x, f, up, down, padding, flip_filter, gain)


def filter2d(x: torch.Tensor, f: torch.Tensor, padding: int | Sequence[int] = 0, flip_filter: bool = False,
             gain: float = 1.0, impl: str = "auto") -> torch.Tensor:
    """Filter `[N, C, H, W]` with `f`, padding so that the output keeps the input size."""
    fw, fh = f.shape[-1], f.shape[0]
    px0, px1, py0, py1 = _padding4(padding)
    p = [px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2, padding: int | Sequence[int] = 0,
               flip_filter: bool = False, gain: float = 1.0, impl: str = "auto") -> torch.Tensor:
    """2x (or `up`x) upsampling with FIR filter `f`: `[N, C, H, W] -> [N, C, H*up, W*up]`."""
    fw, fh = f.shape[-1], f.shape[0]
    px0, px1, py0, py1 = _padding4(padding)
    p = [px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2, py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2]
    return upfirdn2d(x, f, up=up, padding=p, flip_filter=flip_filter, gain=gain * up * up, impl=impl)


def downsample2d(x: torch.Tensor, f: torch.Tensor, down: int = 2, padding: int | Sequence[int] = 0,
                 flip_filter: bool = False, gain: float = 1.0, impl: str = "auto") -> torch.Tensor:
    """2x (or `down`x) downsampling with FIR filter `f`: `[N, C, H, W] -> [N, C, H/down, W/down]`."""
    fw, fh = f.shape[-1], f.shape[0]
    px0, px1, py0, py1 = _padding4(padding)
    p = [px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2, py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2]
    return upfirdn2d(x, f, down=down, padding=p, flip_filter=flip_filter, gain=gain, impl=impl)
