"""Independent transcription of rosinality/stylegan2-pytorch's generator forward (fused path), over
a rosinality-named state dict it creates itself (`init_params`). Test-only; no library imports."""
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
