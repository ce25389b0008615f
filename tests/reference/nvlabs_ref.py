"""Independent transcription of NVlabs' StyleGAN2 generator (stylegan2-ada-pytorch, eval mode:
fused grouped modulated conv) and resnet discriminator, as plain functions over an NVlabs-named
parameter dict.

Test-only: imports nothing from the library, so a naming or convention bug there shows up as a
mismatch here. Parameters are created here too (`init_params`), in NVlabs' shapes."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

SQRT2 = math.sqrt(2)


def channels(res, channel_base, channel_max):
    return min(channel_base // res, channel_max)


def init_params(z_dim=32, w_dim=32, img_resolution=32, channel_base=512, channel_max=32, mapping_layers=2,
                seed=0, img_channels=3):
    """Random NVlabs-named parameters, with non-trivial biases, noise strengths and w_avg."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s, scale=1.0: torch.randn(*s, generator=g) * scale  # noqa: E731
    p = {}
    for i in range(mapping_layers):
        p[f"mapping.fc{i}.weight"] = r(w_dim, z_dim if i == 0 else w_dim, scale=100.0)  # randn / lr_mul
        p[f"mapping.fc{i}.bias"] = r(w_dim, scale=0.1)
    p["mapping.w_avg"] = r(w_dim, scale=0.5)
    f = torch.tensor([1.0, 3, 3, 1])
    f = f.ger(f) / f.ger(f).sum()
    res_list = [2 ** i for i in range(2, int(np.log2(img_resolution)) + 1)]
    for res in res_list:
        c_out = channels(res, channel_base, channel_max)
        b = f"synthesis.b{res}."
        p[b + "resample_filter"] = f.clone()
        layers = ["conv1"] if res == 4 else ["conv0", "conv1"]
        if res == 4:
            p[b + "const"] = r(c_out, 4, 4)
        for name in layers:
            c_in = channels(res // 2, channel_base, channel_max) if name == "conv0" else c_out
            q = b + name + "."
            p[q + "weight"] = r(c_out, c_in, 3, 3)
            p[q + "bias"] = r(c_out, scale=0.2)
            p[q + "noise_strength"] = r(1, scale=0.2).reshape([])
            p[q + "noise_const"] = r(res, res)
            p[q + "affine.weight"] = r(c_in, w_dim)
            p[q + "affine.bias"] = 1 + r(c_in, scale=0.1)
            p[q + "resample_filter"] = f.clone()
        q = b + "torgb."
        p[q + "weight"] = r(img_channels, c_out, 1, 1, scale=0.5)
        p[q + "bias"] = r(img_channels, scale=0.1)
        p[q + "affine.weight"] = r(c_out, w_dim)
        p[q + "affine.bias"] = 1 + r(c_out, scale=0.1)
    return p


def _bias_act(x, b, act, gain, clamp):
    x = x + b.reshape(1, -1, *([1] * (x.ndim - 2)))
    if act == "lrelu":
        x = F.leaky_relu(x, 0.2)
    x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def _upfirdn2d(x, f, up=1, down=1, pad=(0, 0, 0, 0), gain=1.0):
    """Zero-insertion upsampling by index assignment, pad, true convolution with f, decimation."""
    n, c, h, w = x.shape
    if up > 1:
        y = x.new_zeros(n, c, h * up, w * up)
        y[:, :, ::up, ::up] = x
        x = y
    px0, px1, py0, py1 = pad
    x = F.pad(x, [px0, px1, py0, py1])
    k = (f * gain).flip([0, 1])[None, None].repeat(c, 1, 1, 1)
    x = F.conv2d(x, k, groups=c)
    return x[:, :, ::down, ::down]


def mapping(p, z, num_ws, truncation_psi=1.0, mapping_layers=2, lr_mul=0.01):
    x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
    for i in range(mapping_layers):
        w = p[f"mapping.fc{i}.weight"]
        x = x.matmul((w * (lr_mul / np.sqrt(w.shape[1]))).t())
        x = _bias_act(x, p[f"mapping.fc{i}.bias"] * lr_mul, "lrelu", SQRT2, None)
    ws = x.unsqueeze(1).repeat(1, num_ws, 1)
    if truncation_psi != 1:
        ws = p["mapping.w_avg"].lerp(ws, truncation_psi)
    return ws


def _affine(p, q, w):
    aw = p[q + "affine.weight"]
    return torch.addmm(p[q + "affine.bias"].unsqueeze(0), w, (aw * (1 / np.sqrt(aw.shape[1]))).t())


def _modconv_fused(x, weight, styles, demodulate, up, f):
    n = x.shape[0]
    o, i, kh, kw = weight.shape
    w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(n, -1, 1, 1, 1)
    xg = x.reshape(1, -1, *x.shape[2:])
    if up == 1:
        y = F.conv2d(xg, w.reshape(-1, i, kh, kw), padding=kh // 2, groups=n)
    else:
        # transposed conv (stride 2, no flip) then the FIR filter, gain 4, pad (1, 1)
        wt = w.transpose(1, 2).reshape(n * i, o, kh, kw)
        y = F.conv_transpose2d(xg, wt, stride=2, groups=n)
        y = _upfirdn2d(y, f, pad=(1, 1, 1, 1), gain=4)
    return y.reshape(n, -1, *y.shape[2:])


def synthesis(p, ws, img_resolution=32, conv_clamp=None, noise_mode="const"):
    res_list = [2 ** i for i in range(2, int(np.log2(img_resolution)) + 1)]
    x = img = None
    w_idx = 0
    for res in res_list:
        b = f"synthesis.b{res}."
        f = p[b + "resample_filter"]
        block_ws = ws[:, w_idx: w_idx + (1 if res == 4 else 2) + 1]
        w_idx += 1 if res == 4 else 2
        k = 0
        if res == 4:
            x = p[b + "const"].unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            names = ["conv1"]
        else:
            names = ["conv0", "conv1"]
        for name in names:
            q = b + name + "."
            styles = _affine(p, q, block_ws[:, k])
            k += 1
            x = _modconv_fused(x, p[q + "weight"], styles, True, 2 if name == "conv0" else 1, f)
            if noise_mode == "const":
                x = x + p[q + "noise_const"] * p[q + "noise_strength"]
            x = _bias_act(x, p[q + "bias"], "lrelu", SQRT2, conv_clamp)
        if img is not None:
            img = _upfirdn2d(img, f, up=2, pad=(2, 1, 2, 1), gain=4)
        q = b + "torgb."
        styles = _affine(p, q, block_ws[:, k]) * (1 / np.sqrt(p[q + "weight"].shape[1]))
        y = _modconv_fused(x, p[q + "weight"], styles, False, 1, f)
        y = _bias_act(y, p[q + "bias"], "linear", 1.0, conv_clamp)
        img = y if img is None else img + y
    return img


# ---- discriminator (stylegan2-ada-pytorch `Discriminator`, architecture 'resnet', c_dim 0) ----

def init_d_params(img_resolution=32, channel_base=512, channel_max=32, img_channels=3, mbstd_num_channels=1, seed=0):
    """Random NVlabs-named discriminator parameters (filters omitted: they are fixed buffers)."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s, scale=1.0: torch.randn(*s, generator=g) * scale  # noqa: E731
    p = {}
    block_res = [2 ** i for i in range(int(np.log2(img_resolution)), 2, -1)]
    for res in block_res:
        tmp, out = channels(res, channel_base, channel_max), channels(res // 2, channel_base, channel_max)
        b = f"b{res}."
        if res == img_resolution:
            p[b + "fromrgb.weight"], p[b + "fromrgb.bias"] = r(tmp, img_channels, 1, 1), r(tmp, scale=0.2)
        p[b + "conv0.weight"], p[b + "conv0.bias"] = r(tmp, tmp, 3, 3), r(tmp, scale=0.2)
        p[b + "conv1.weight"], p[b + "conv1.bias"] = r(out, tmp, 3, 3), r(out, scale=0.2)
        p[b + "skip.weight"] = r(out, tmp, 1, 1)
    c4 = channels(4, channel_base, channel_max)
    p["b4.conv.weight"], p["b4.conv.bias"] = r(c4, c4 + mbstd_num_channels, 3, 3), r(c4, scale=0.2)
    p["b4.fc.weight"], p["b4.fc.bias"] = r(c4, c4 * 16), r(c4, scale=0.2)
    p["b4.out.weight"], p["b4.out.bias"] = r(1, c4), r(1, scale=0.2)
    return p


def _fir_filter():
    f = torch.tensor([1.0, 3, 3, 1])
    return f.ger(f) / f.ger(f).sum()


def _d_conv(p, q, x, act="lrelu", down=1, gain=1.0, clamp=None):
    """NVlabs Conv2dLayer: weight x 1/sqrt(fan_in); with down=2 the FIR filter runs first (padded by
    (k//2) + 1 per side), then a stride-2 conv (conv2d_resample's 'downsampling only' path)."""
    w = p[q + "weight"]
    o, i, kh, kw = w.shape
    w = w * (1 / np.sqrt(i * kh * kw))
    if down == 2:
        pad = kh // 2 + 1
        x = _upfirdn2d(x, _fir_filter(), pad=(pad, pad, pad, pad))
        x = F.conv2d(x, w, stride=2)
    else:
        x = F.conv2d(x, w, padding=kh // 2)
    b = p.get(q + "bias")
    if b is None:
        b = torch.zeros(o)
    act_gain = SQRT2 if act == "lrelu" else 1.0
    return _bias_act(x, b, act, act_gain * gain, clamp * gain if clamp is not None else None)


def minibatch_std(x, group_size=4, num_channels=1):
    """Per sample n: the std over its group {j, j + N/G, j + 2N/G, ...} (j = n mod N/G), each of the
    `num_channels` channel groups averaged over its channels and pixels, appended as constant maps.
    Written with explicit index sets (NVlabs does it with one reshape)."""
    n, c, h, w = x.shape
    g = n if group_size is None else min(group_size, n)
    m = n // g
    assert m * g == n
    stat = torch.empty(n, num_channels)
    for j in range(m):
        members = [j + k * m for k in range(g)]
        grp = x[members]  # [G, C, H, W]
        std = ((grp - grp.mean(0)).square().mean(0) + 1e-8).sqrt()  # [C, H, W]
        per = std.reshape(num_channels, c // num_channels, h, w).mean(dim=[1, 2, 3])
        stat[members] = per
    return torch.cat([x, stat[:, :, None, None].expand(n, num_channels, h, w)], dim=1)


def discriminator(p, img, conv_clamp=None, mbstd_group_size=4, mbstd_num_channels=1):
    """Logits `[N, 1]` and `{res // 2: output of block res}` of NVlabs' resnet discriminator."""
    r = img.shape[-1]
    x = None
    feats = {}
    for res in [2 ** i for i in range(int(np.log2(r)), 2, -1)]:
        b = f"b{res}."
        if x is None:
            x = _d_conv(p, b + "fromrgb.", img, clamp=conv_clamp)
        y = _d_conv(p, b + "skip.", x, act="linear", down=2, gain=np.sqrt(0.5))
        x = _d_conv(p, b + "conv0.", x, clamp=conv_clamp)
        x = _d_conv(p, b + "conv1.", x, down=2, gain=np.sqrt(0.5), clamp=conv_clamp)
        x = y + x  # residual: each branch carries gain sqrt(1/2)
        feats[res // 2] = x
    if mbstd_num_channels:
        x = minibatch_std(x, mbstd_group_size, mbstd_num_channels)
    x = _d_conv(p, "b4.conv.", x, clamp=conv_clamp)
    x = x.flatten(1)
    fw = p["b4.fc.weight"]
    x = _bias_act(x.matmul((fw / np.sqrt(fw.shape[1])).t()), p["b4.fc.bias"], "lrelu", SQRT2, None)
    ow = p["b4.out.weight"]
    return x.matmul((ow / np.sqrt(ow.shape[1])).t()) + p["b4.out.bias"], feats
