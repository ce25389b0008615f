"""Modulated convolution (StyleGAN2 eq. 1-3) and convolution with built-in resampling.

Two ways to compute the same thing:
- 'grouped' (NVlabs' "fused_modconv"): build per-sample weights `w * s` (and demodulate them),
  then run one grouped convolution over the batch. Cheap at batch 1, but on CPU batch 8 costs
  ~8x batch 1 because each group is a separate small convolution.
- 'scaled': scale the *activations* by the styles, run one ordinary convolution shared by the
  whole batch, then scale the output by the demodulation coefficients. Same maths (to ~1e-6);
  far better batching on CPU.
'auto' chooses by device (see `choose_path`, measured in bench/generator.py).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from stylegan.ops.upfirdn2d import _padding4, upfirdn2d

PATHS = ("auto", "grouped", "scaled")


def choose_path(x: torch.Tensor) -> str:
    """Pick the faster modulated-conv path. On CPU 'scaled' measured faster at batch 1 and much faster
    at batch 8 (bench/RESULTS.md); on GPU the grouped conv is NVlabs' established fast path."""
    return "scaled" if x.device.type == "cpu" else "grouped"


def conv2d_resample(
    x: torch.Tensor,
    w: torch.Tensor,
    f: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: int = 0,
    groups: int = 1,
    flip_weight: bool = True,
    impl: str = "auto",
) -> torch.Tensor:
    """2-D convolution with optional 2x up/downsampling through FIR filter `f` (NVlabs semantics).

    Args:
        x: `[N, C_in * groups?, H, W]`.
        w: `[C_out, C_in / groups, kh, kw]`.
        f: resampling filter `[fh, fw]` (needed when up or down > 1).
        up, down: 1 or 2.
        padding: symmetric padding in input pixels.
        groups: as in `torch.nn.functional.conv2d`.
        flip_weight: False performs a true convolution (weight flipped), True a correlation.

    Returns:
        `[N, C_out, H * up / down, W * up / down]` for a 3x3 kernel with padding 1.
    """
    out_channels, in_per_group, kh, kw = w.shape
    fh = fw = 1 if f is None else f.shape[-1]
    px0, px1, py0, py1 = _padding4(padding)
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2
    if kw == 1 and kh == 1 and down > 1 and up == 1:
        x = upfirdn2d(x, f, down=down, padding=[px0, px1, py0, py1], impl=impl)
        return F.conv2d(x, w, groups=groups)
    if kw == 1 and kh == 1 and up > 1 and down == 1:
        x = F.conv2d(x, w, groups=groups)
        return upfirdn2d(x, f, up=up, padding=[px0, px1, py0, py1], gain=up * up, impl=impl)
    if down > 1 and up == 1:
        x = upfirdn2d(x, f, padding=[px0, px1, py0, py1], impl=impl)
        wf = w if flip_weight else w.flip([2, 3])
        return F.conv2d(x, wf, stride=down, groups=groups)
    if up > 1:
        # Transposed convolution (stride = up), then the FIR filter with gain up^2.
        if groups == 1:
            wt = w.transpose(0, 1)
        else:
            wt = w.reshape(groups, out_channels // groups, in_per_group, kh, kw)
            wt = wt.transpose(1, 2).reshape(groups * in_per_group, out_channels // groups, kh, kw)
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        pxt = max(min(-px0, -px1), 0)
        pyt = max(min(-py0, -py1), 0)
        # conv_transpose2d is a true convolution; NVlabs passes flip_weight=not flip_weight here.
        wt = wt if not flip_weight else wt.flip([2, 3])
        x = F.conv_transpose2d(x, wt, stride=up, padding=[pyt, pxt], groups=groups)
        return upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up * up, impl=impl)
    if up == 1 and down == 1 and px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        wf = w if flip_weight else w.flip([2, 3])
        return F.conv2d(x, wf, padding=[py0, px0], groups=groups)
    raise NotImplementedError(f"conv2d_resample: unsupported combination up={up} down={down} padding={padding}")


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: torch.Tensor | None = None,
    up: int = 1,
    padding: int = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    flip_weight: bool = True,
    path: str = "auto",
    impl: str = "auto",
    bias: torch.Tensor | None = None,
    out_gain: float = 1.0,
    overwrite_input: bool = False,
) -> torch.Tensor:
    """Modulated (and optionally demodulated) convolution.

    Args:
        x: activations `[N, I, H, W]`.
        weight: `[O, I, kh, kw]`, unscaled.
        styles: per-sample input-channel scales `[N, I]`.
        noise: added after demodulation, broadcastable to `[N, O, H', W']`.
        up: 1 or 2 (transposed conv + FIR filter `resample_filter`).
        demodulate: divide each output channel by the norm of its modulated weights.
        path: 'auto' | 'grouped' | 'scaled' (see module docstring).
        bias: optional `[O]` added after the noise; with `out_gain`, the result is
            `(conv * dcoefs + noise + bias) * out_gain` — on the scaled path in one pass over the output.
        overwrite_input: the caller no longer needs `x`; without autograd the scaled path then
            modulates it in place instead of allocating an activation-sized copy.

    Returns:
        `[N, O, H * up, W * up]`.
    """
    if path not in PATHS:
        raise ValueError(f"path must be one of {PATHS}, got {path!r}")
    n = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    if styles.shape != (n, in_channels):
        raise ValueError(f"styles must have shape [{n}, {in_channels}], got {list(styles.shape)}")
    if path == "auto":
        path = choose_path(x)

    # Avoid fp16 overflow: normalise weight and styles before modulation (NVlabs does the same).
    if x.dtype == torch.float16 and demodulate:
        weight = weight * (1 / (in_channels * kh * kw) ** 0.5 / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    if path == "scaled" and kh == kw == 1 and up == 1 and padding == 0:
        return _modconv1x1(x, weight, styles, demodulate, noise, bias, out_gain)
    if path == "scaled":
        dcoefs = None
        if demodulate:
            # sum_{i,k} (w[o,i,k] s[n,i])^2 = (s^2 @ sum_k w^2 .T)[n,o]: a small matmul instead of
            # materialising the [N, O, I, kh, kw] modulated weights.
            dcoefs = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()  # [N, O]
        no_grad = not (torch.is_grad_enabled() and (x.requires_grad or styles.requires_grad))
        s_in = styles.to(x.dtype).reshape(n, -1, 1, 1)
        x = x.mul_(s_in) if overwrite_input and no_grad else x * s_in
        x = conv2d_resample(x, weight.to(x.dtype), f=resample_filter, up=up, padding=padding,
                            flip_weight=flip_weight, impl=impl)
        scale = dcoefs if dcoefs is not None else torch.ones(n, out_channels, dtype=x.dtype, device=x.device)
        return _epilogue(x, scale * out_gain, noise, bias, out_gain)

    w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)  # [N, O, I, kh, kw]
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(n, -1, 1, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = conv2d_resample(x, w.to(x.dtype), f=resample_filter, up=up, padding=padding, groups=n,
                        flip_weight=flip_weight, impl=impl)
    x = x.reshape(n, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise.to(x.dtype)
    if bias is not None:
        x = x + bias.to(x.dtype).reshape(1, -1, 1, 1)
    return x * out_gain if out_gain != 1 else x


def _modconv1x1(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool,
                noise: torch.Tensor | None, bias: torch.Tensor | None, gain: float) -> torch.Tensor:
    """1x1 modulated conv (ToRGB) as one batched matmul with per-sample weights `[N, O, I]`: reads
    the activations once and writes only the (few-channel) output, in x's memory layout."""
    n, i, h, w_ = x.shape
    wn = weight[:, :, 0, 0].to(x.dtype).unsqueeze(0) * styles.to(x.dtype).unsqueeze(1)  # [N, O, I]
    if demodulate:
        wn = wn * (wn.square().sum(dim=2, keepdim=True) + 1e-8).rsqrt()
    o = wn.shape[1]
    if _is_channels_last(x):
        y = torch.bmm(x.permute(0, 2, 3, 1).reshape(n, h * w_, i), wn.transpose(1, 2))  # [N, HW, O]
        y = y.reshape(n, h, w_, o).permute(0, 3, 1, 2)
    else:
        y = torch.bmm(wn, x.reshape(n, i, h * w_)).reshape(n, o, h, w_)
    return _epilogue(y, None if gain == 1 else torch.full((n, o), float(gain), dtype=x.dtype, device=x.device),
                     noise, bias, gain)


def _epilogue(x: torch.Tensor, scale: torch.Tensor | None, noise: torch.Tensor | None, bias: torch.Tensor | None,
              gain: float) -> torch.Tensor:
    """`x * scale[:, :, None, None] + (noise + bias) * gain` as one pass over the activations `x` [N, C, H, W];
    `scale` is `[N, C]` or None (no scaling), noise broadcasts to `[N, 1, H, W]`, bias is `[C]`.

    Large activations are memory-bound on CPU, so: the added term is materialised once at its own
    (small) broadcast size in x's memory layout — mixing an NCHW operand into a channels-last
    addcmul takes a strided path about 10x slower — and without autograd the result overwrites x
    (which is a fresh convolution output) instead of allocating another activation-sized tensor."""
    n, c = x.shape[:2]
    unit = scale is None
    if not unit:
        scale = scale.to(x.dtype).reshape(n, c, 1, 1)
    track = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, scale, noise, bias))
    add = None
    if noise is not None:
        noise = noise.to(x.dtype)
        add = noise * gain if gain != 1 else noise
    if bias is not None:
        b = bias.to(x.dtype).reshape(1, c, 1, 1)
        b = b * gain if gain != 1 else b
        if add is None:
            add = b
        else:
            noise4 = add.reshape((1, 1) + tuple(add.shape)) if add.ndim == 2 else add
            shape = (noise4.shape[0], c) + tuple(x.shape[2:])
            fmt = torch.channels_last if _is_channels_last(x) else torch.contiguous_format
            if track:
                add = (noise4 + b).contiguous(memory_format=fmt)
            else:
                buf = torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=fmt)
                add = torch.add(noise4, b, out=buf)
    if add is None:
        return x if unit else (x * scale if track else x.mul_(scale))
    if unit:
        return x + add if track else x.add_(add)
    return torch.addcmul(add, x, scale) if track else torch.addcmul(add, x, scale, out=x)


def _is_channels_last(x: torch.Tensor) -> bool:
    return x.ndim == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
