"""Independent transcription of rosinality/stylegan2-pytorch's generator forward (fused path) and
discriminator, over rosinality-named state dicts it creates itself (`init_params`, `init_d_params`).
Test-only; no library imports."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SQRT2 = math.sqrt(2)


def _make_kernel(k):
    k = torch.tensor(k, dtype=torch.float32)
    k = k[None, :] * k[:, None]
    return k / k.sum()


def _upfirdn2d_native(x, kernel, up, down, pad0, pad1):
    """rosinality's channel-last upfirdn2d: zero-pad interleave, pad, conv with the flipped kernel."""
    _, channel, in_h, in_w = x.shape
    x = x.reshape(-1, in_h, in_w, 1)
    out = x.view(-1, in_h, 1, in_w, 1, 1)
    out = F.pad(out, [0, 0, 0, up - 1, 0, 0, 0, up - 1])
    out = out.view(-1, in_h * up, in_w * up, 1)
    out = F.pad(out, [0, 0, pad0, pad1, pad0, pad1])
    out = out.permute(0, 3, 1, 2).reshape(-1, 1, in_h * up + pad0 + pad1, in_w * up + pad0 + pad1)
    kh, kw = kernel.shape
    out = F.conv2d(out, torch.flip(kernel, [0, 1]).view(1, 1, kh, kw))
    out = out.reshape(-1, channel, out.shape[2], out.shape[3])
    return out[:, :, ::down, ::down]


def channel_table(size, channel_multiplier=2, cap=512):
    base = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}
    return {r: min(cap, int(c * channel_multiplier)) for r, c in base.items() if r <= size}


def init_params(size=32, style_dim=32, n_mlp=2, channels=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s, scale=1.0: torch.randn(*s, generator=g) * scale  # noqa: E731
    ch = channels or channel_table(size)
    sd = {}
    for i in range(1, n_mlp + 1):
        sd[f"style.{i}.weight"] = r(style_dim, style_dim, scale=100.0)
        sd[f"style.{i}.bias"] = r(style_dim, scale=0.1)
    sd["input.input"] = r(1, ch[4], 4, 4)

    def styled(prefix, cin, cout, up):
        sd[f"{prefix}.conv.weight"] = r(1, cout, cin, 3, 3)
        sd[f"{prefix}.conv.modulation.weight"] = r(cin, style_dim)
        sd[f"{prefix}.conv.modulation.bias"] = 1 + r(cin, scale=0.1)
        if up:
            sd[f"{prefix}.conv.blur.kernel"] = _make_kernel([1, 3, 3, 1]) * 4
        sd[f"{prefix}.noise.weight"] = r(1, scale=0.2)
        sd[f"{prefix}.activate.bias"] = r(cout, scale=0.2)

    def torgb(prefix, cin, up):
        if up:
            sd[f"{prefix}.upsample.kernel"] = _make_kernel([1, 3, 3, 1]) * 4
        sd[f"{prefix}.conv.weight"] = r(1, 3, cin, 1, 1, scale=0.5)
        sd[f"{prefix}.conv.modulation.weight"] = r(cin, style_dim)
        sd[f"{prefix}.conv.modulation.bias"] = 1 + r(cin, scale=0.1)
        sd[f"{prefix}.bias"] = r(1, 3, 1, 1, scale=0.1)

    styled("conv1", ch[4], ch[4], False)
    torgb("to_rgb1", ch[4], False)
    log_size = int(math.log2(size))
    sd["noises.noise_0"] = r(1, 1, 4, 4)
    for layer_idx in range(1, (log_size - 2) * 2 + 1):
        res = 2 ** ((layer_idx + 5) // 2)
        sd[f"noises.noise_{layer_idx}"] = r(1, 1, res, res)
    cin = ch[4]
    for i in range(3, log_size + 1):
        cout = ch[2 ** i]
        styled(f"convs.{2 * (i - 3)}", cin, cout, True)
        styled(f"convs.{2 * (i - 3) + 1}", cout, cout, False)
        torgb(f"to_rgbs.{i - 3}", cout, True)
        cin = cout
    latent_avg = r(style_dim, scale=0.5)
    return sd, latent_avg


def style(sd, z, n_mlp=2, lr_mul=0.01):
    x = z * torch.rsqrt(torch.mean(z ** 2, dim=1, keepdim=True) + 1e-8)
    for i in range(1, n_mlp + 1):
        w = sd[f"style.{i}.weight"]
        out = F.linear(x, w * (1 / math.sqrt(w.shape[1])) * lr_mul)
        x = F.leaky_relu(out + (sd[f"style.{i}.bias"] * lr_mul).view(1, -1), 0.2) * SQRT2
    return x


def _modulated_conv(sd, prefix, x, s, demodulate, upsample):
    batch, in_channel, h, w = x.shape
    mw = sd[f"{prefix}.conv.modulation.weight"]
    s = F.linear(s, mw * (1 / math.sqrt(mw.shape[1])), sd[f"{prefix}.conv.modulation.bias"] * 1)
    s = s.view(batch, 1, in_channel, 1, 1)
    weight = sd[f"{prefix}.conv.weight"]
    _, out_channel, _, k, _ = weight.shape
    weight = (1 / math.sqrt(in_channel * k * k)) * weight * s
    if demodulate:
        demod = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8)
        weight = weight * demod.view(batch, out_channel, 1, 1, 1)
    weight = weight.view(batch * out_channel, in_channel, k, k)
    x = x.view(1, batch * in_channel, h, w)
    if upsample:
        weight = weight.view(batch, out_channel, in_channel, k, k).transpose(1, 2)
        weight = weight.reshape(batch * in_channel, out_channel, k, k)
        out = F.conv_transpose2d(x, weight, padding=0, stride=2, groups=batch)
        out = out.view(batch, out_channel, out.shape[2], out.shape[3])
        return _upfirdn2d_native(out, sd[f"{prefix}.conv.blur.kernel"], 1, 1, 1, 1)
    out = F.conv2d(x, weight, padding=k // 2, groups=batch)
    return out.view(batch, out_channel, out.shape[2], out.shape[3])


def forward(sd, latent, size=32):
    """latent `[N, n_latent, style_dim]` (input_is_latent=True, randomize_noise=False)."""
    log_size = int(math.log2(size))
    noise = [sd[f"noises.noise_{i}"] for i in range((log_size - 2) * 2 + 1)]

    def styled(prefix, x, s, nz, up):
        out = _modulated_conv(sd, prefix, x, s, True, up)
        out = out + sd[f"{prefix}.noise.weight"] * nz
        return F.leaky_relu(out + sd[f"{prefix}.activate.bias"].view(1, -1, 1, 1), 0.2) * SQRT2

    def to_rgb(prefix, x, s, skip):
        out = _modulated_conv(sd, prefix, x, s, False, False) + sd[f"{prefix}.bias"]
        if skip is not None:
            out = out + _upfirdn2d_native(skip, sd[f"{prefix}.upsample.kernel"], 2, 1, 2, 1)
        return out

    out = sd["input.input"].repeat(latent.shape[0], 1, 1, 1)
    out = styled("conv1", out, latent[:, 0], noise[0], False)
    skip = to_rgb("to_rgb1", out, latent[:, 1], None)
    i = 1
    for k in range(log_size - 2):
        out = styled(f"convs.{2 * k}", out, latent[:, i], noise[2 * k + 1], True)
        out = styled(f"convs.{2 * k + 1}", out, latent[:, i + 1], noise[2 * k + 2], False)
        skip = to_rgb(f"to_rgbs.{k}", out, latent[:, i + 2], skip)
        i += 2
    return skip


# ---- discriminator (rosinality `Discriminator`: ConvLayer / ResBlock / stddev / EqualLinear) ----

def init_d_params(size=32, channels=None, seed=0):
    """Random rosinality-named discriminator state dict (with the Blur kernels it stores)."""
    g = torch.Generator().manual_seed(seed)
    r = lambda *s, scale=1.0: torch.randn(*s, generator=g) * scale  # noqa: E731
    ch = channels or channel_table(size)
    sd = {"convs.0.0.weight": r(ch[size], 3, 1, 1), "convs.0.1.bias": r(ch[size], scale=0.2)}
    log_size = int(math.log2(size))
    cin = ch[size]
    for j, i in enumerate(range(log_size, 2, -1), start=1):
        cout = ch[2 ** (i - 1)]
        p = f"convs.{j}."
        sd[p + "conv1.0.weight"], sd[p + "conv1.1.bias"] = r(cin, cin, 3, 3), r(cin, scale=0.2)
        sd[p + "conv2.0.kernel"] = _make_kernel([1, 3, 3, 1])
        sd[p + "conv2.1.weight"], sd[p + "conv2.2.bias"] = r(cout, cin, 3, 3), r(cout, scale=0.2)
        sd[p + "skip.0.kernel"] = _make_kernel([1, 3, 3, 1])
        sd[p + "skip.1.weight"] = r(cout, cin, 1, 1)
        cin = cout
    sd["final_conv.0.weight"], sd["final_conv.1.bias"] = r(ch[4], cin + 1, 3, 3), r(ch[4], scale=0.2)
    sd["final_linear.0.weight"], sd["final_linear.0.bias"] = r(ch[4], ch[4] * 16), r(ch[4], scale=0.2)
    sd["final_linear.1.weight"], sd["final_linear.1.bias"] = r(1, ch[4]), r(1, scale=0.2)
    return sd


def _fused_lrelu(x, bias):
    return F.leaky_relu(x + bias.reshape(1, -1, *([1] * (x.ndim - 2))), 0.2) * SQRT2


def _conv_layer(sd, prefix, x, k, downsample=False, activate=True):
    """ConvLayer = [Blur(pad) if downsample] + EqualConv2d(stride 2 if downsample) + [FusedLeakyReLU]."""
    i = 0
    if downsample:
        p = (4 - 2) + (k - 1)
        x = _upfirdn2d_native(x, sd[f"{prefix}.{i}.kernel"], 1, 1, (p + 1) // 2, p // 2)
        i += 1
    w = sd[f"{prefix}.{i}.weight"]
    x = F.conv2d(x, w * (1 / math.sqrt(w.shape[1] * k * k)), stride=2 if downsample else 1,
                 padding=0 if downsample else k // 2)
    if activate:
        x = _fused_lrelu(x, sd[f"{prefix}.{i + 1}.bias"])
    return x


def discriminator(sd, img, stddev_group=4):
    """Logits `[N, 1]` and `{resolution: output of each ResBlock}`."""
    out = _conv_layer(sd, "convs.0", img, 1)
    feats = {}
    j = 1
    while f"convs.{j}.conv1.0.weight" in sd:
        p = f"convs.{j}."
        y = _conv_layer(sd, p + "conv1", out, 3)
        y = _conv_layer(sd, p + "conv2", y, 3, downsample=True)
        skip = _conv_layer(sd, p + "skip", out, 1, downsample=True, activate=False)
        out = (y + skip) / math.sqrt(2)
        feats[out.shape[-1]] = out
        j += 1
    batch, channel, height, width = out.shape
    group = min(batch, stddev_group)
    std = out.view(group, -1, 1, channel, height, width)
    std = torch.sqrt(std.var(0, unbiased=False) + 1e-8).mean([2, 3, 4], keepdim=True).squeeze(2)
    out = torch.cat([out, std.repeat(group, 1, height, width)], 1)
    out = _conv_layer(sd, "final_conv", out, 3).view(batch, -1)
    w0, w1 = sd["final_linear.0.weight"], sd["final_linear.1.weight"]
    out = _fused_lrelu(F.linear(out, w0 / math.sqrt(w0.shape[1])), sd["final_linear.0.bias"])
    return F.linear(out, w1 / math.sqrt(w1.shape[1]), sd["final_linear.1.bias"]), feats
