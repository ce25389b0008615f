"""Independent transcription of the pSp family's encoder forwards (eladrich/pixel2style2pixel
`models/encoders/{helpers,psp_encoders,model_irse}.py`, omertov/encoder4editing `psp_encoders.py`,
yuval-alaluf/restyle-encoder `restyle_psp_encoders.py` / `fpn_encoders.py`, TreB1eN/InsightFace_Pytorch
`model.py`) as plain functions over state dicts in their key layout, which `*_params` build here.
Test-only; no library imports.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class _Init:
    def __init__(self, seed, device):
        self.g = torch.Generator().manual_seed(seed)
        self.device = device

    def __call__(self, *shape, scale=1.0, offset=0.0):
        if self.device == "meta":
            return torch.empty(*shape, device="meta")
        return torch.randn(*shape, generator=self.g) * scale + offset


def _bn(sd, p, c, r):
    sd[f"{p}.weight"] = r(c, scale=0.1, offset=1.0)
    sd[f"{p}.bias"] = r(c, scale=0.1)
    sd[f"{p}.running_mean"] = r(c, scale=0.1)
    sd[f"{p}.running_var"] = r(c, scale=0.1, offset=1.0).abs() if r.device != "meta" else r(c)
    sd[f"{p}.num_batches_tracked"] = torch.tensor(7) if r.device != "meta" else torch.empty((), dtype=torch.long, device="meta")


def _conv(sd, p, cout, cin, k, r, bias=False):
    sd[f"{p}.weight"] = r(cout, cin, k, k, scale=1 / math.sqrt(cin * k * k))
    if bias:
        sd[f"{p}.bias"] = r(cout, scale=0.1)


def irse_params(sd, r, in_nc=3, widths=(64, 128, 256, 512), units=(3, 4, 14, 3), prefix=""):
    """`get_blocks(50)` + `bottleneck_IR_SE`: every stage starts with a stride-2 unit."""
    _conv(sd, f"{prefix}input_layer.0", widths[0], in_nc, 3, r)
    _bn(sd, f"{prefix}input_layer.1", widths[0], r)
    sd[f"{prefix}input_layer.2.weight"] = r(widths[0], scale=0.05, offset=0.25)
    i, cin = 0, widths[0]
    for depth, n in zip(widths, units):
        for _ in range(n):
            p = f"{prefix}body.{i}"
            if cin != depth:
                _conv(sd, f"{p}.shortcut_layer.0", depth, cin, 1, r)
                _bn(sd, f"{p}.shortcut_layer.1", depth, r)
            _bn(sd, f"{p}.res_layer.0", cin, r)
            _conv(sd, f"{p}.res_layer.1", depth, cin, 3, r)
            sd[f"{p}.res_layer.2.weight"] = r(depth, scale=0.05, offset=0.25)
            _conv(sd, f"{p}.res_layer.3", depth, depth, 3, r)
            _bn(sd, f"{p}.res_layer.4", depth, r)
            _conv(sd, f"{p}.res_layer.5.fc1", depth // 16, depth, 1, r)
            _conv(sd, f"{p}.res_layer.5.fc2", depth, depth // 16, 1, r)
            i, cin = i + 1, depth
    return sd


def _style_block(sd, p, in_c, out_c, spatial, r):
    for j in range(int(math.log2(spatial))):
        _conv(sd, f"{p}.convs.{2 * j}", out_c, in_c if j == 0 else out_c, 3, r, bias=True)
    sd[f"{p}.linear.weight"] = r(out_c, out_c)  # EqualLinear stores N(0, 1) / lr_mul
    sd[f"{p}.linear.bias"] = r(out_c, scale=0.1)


def gradual_params(n_styles=18, in_nc=3, widths=(64, 128, 256, 512), units=(3, 4, 14, 3), w_dim=512,
                   seed=0, device="cpu", resnet=False):
    """pSp GradualStyleEncoder / e4e Encoder4Editing (same keys); `resnet`: ReStyle's ResNet-34 trunk."""
    r = _Init(seed, device)
    sd = resnet_params({}, r, in_nc, widths, units) if resnet else irse_params({}, r, in_nc, widths, units)
    top = widths[-1]
    for i in range(n_styles):
        _style_block(sd, f"styles.{i}", top, w_dim, 16 if i < 3 else 32 if i < 7 else 64, r)
    _conv(sd, "latlayer1", top, widths[-2], 1, r, bias=True)
    _conv(sd, "latlayer2", top, widths[-3], 1, r, bias=True)
    return sd


def backbone_params(n_styles=18, in_nc=6, widths=(64, 128, 256, 512), units=(3, 4, 14, 3), w_dim=512,
                    seed=0, device="cpu", resnet=False):
    """ReStyle BackboneEncoder / ProgressiveBackboneEncoder (or their ResNet variants): styles on 16²."""
    r = _Init(seed, device)
    sd = resnet_params({}, r, in_nc, widths, units) if resnet else irse_params({}, r, in_nc, widths, units)
    for i in range(n_styles):
        _style_block(sd, f"styles.{i}", widths[-1], w_dim, 16, r)
    return sd


def w_params(w_dim=512, in_nc=3, widths=(64, 128, 256, 512), units=(3, 4, 14, 3), seed=0, device="cpu"):
    r = _Init(seed, device)
    sd = irse_params({}, r, in_nc, widths, units)
    sd["linear.weight"] = r(w_dim, widths[-1])
    sd["linear.bias"] = r(w_dim, scale=0.1)
    return sd


def wplus_params(n_styles=18, w_dim=512, in_nc=3, widths=(64, 128, 256, 512), units=(3, 4, 14, 3), seed=0,
                 device="cpu"):
    r = _Init(seed, device)
    sd = irse_params({}, r, in_nc, widths, units)
    top = widths[-1]
    _bn(sd, "output_layer_2.0", top, r)
    sd["output_layer_2.3.weight"] = r(512, top * 49, scale=1 / math.sqrt(top * 49))
    sd["output_layer_2.3.bias"] = r(512, scale=0.1)
    sd["linear.weight"] = r(w_dim * n_styles, 512)
    sd["linear.bias"] = r(w_dim * n_styles, scale=0.1)
    return sd


def resnet_params(sd, r, in_nc=6, widths=(64, 128, 256, 512), units=(3, 4, 6, 3)):
    """ReStyle's ResNet-34 trunk: conv1 7x7/2, bn1, PReLU relu, torchvision BasicBlocks as body.0-15."""
    _conv(sd, "conv1", widths[0], in_nc, 7, r)
    _bn(sd, "bn1", widths[0], r)
    sd["relu.weight"] = r(widths[0], scale=0.05, offset=0.25)
    i, cin = 0, widths[0]
    for s, (w, n) in enumerate(zip(widths, units)):
        for b in range(n):
            p = f"body.{i}"
            stride = 2 if (b == 0 and s > 0) else 1
            _conv(sd, f"{p}.conv1", w, cin, 3, r)
            _bn(sd, f"{p}.bn1", w, r)
            _conv(sd, f"{p}.conv2", w, w, 3, r)
            _bn(sd, f"{p}.bn2", w, r)
            if stride != 1 or cin != w:
                _conv(sd, f"{p}.downsample.0", w, cin, 1, r)
                _bn(sd, f"{p}.downsample.1", w, r)
            i, cin = i + 1, w
    return sd


def arcface_params(widths=(64, 128, 256, 512), units=(3, 4, 14, 3), dim=512, seed=0, device="cpu"):
    """TreB1eN `Backbone(50, drop_ratio, 'ir_se')`: model_ir_se50.pth's keys."""
    r = _Init(seed, device)
    sd = irse_params({}, r, 3, widths, units)
    top = widths[-1]
    _bn(sd, "output_layer.0", top, r)
    sd["output_layer.3.weight"] = r(dim, top * 49, scale=1 / math.sqrt(top * 49))
    sd["output_layer.3.bias"] = r(dim, scale=0.1)
    _bn(sd, "output_layer.4", dim, r)
    return sd


# ---- forwards, transcribed from the original modules ----

def _bn_f(sd, p, x):
    return F.batch_norm(x, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd[f"{p}.weight"], sd[f"{p}.bias"],
                        False, 0.0, 1e-5)


def _unit(sd, p, x, stride):
    """bottleneck_IR_SE.forward: res_layer(x) + shortcut_layer(x)."""
    if f"{p}.shortcut_layer.0.weight" in sd:
        sc = _bn_f(sd, f"{p}.shortcut_layer.1", F.conv2d(x, sd[f"{p}.shortcut_layer.0.weight"], stride=stride))
    else:
        sc = F.max_pool2d(x, 1, stride)  # MaxPool2d(1, stride)
    y = _bn_f(sd, f"{p}.res_layer.0", x)
    y = F.conv2d(y, sd[f"{p}.res_layer.1.weight"], padding=1)
    y = F.prelu(y, sd[f"{p}.res_layer.2.weight"])
    y = F.conv2d(y, sd[f"{p}.res_layer.3.weight"], stride=stride, padding=1)
    y = _bn_f(sd, f"{p}.res_layer.4", y)
    # SEModule: AdaptiveAvgPool2d(1), fc1, ReLU, fc2, Sigmoid, multiply
    g = F.adaptive_avg_pool2d(y, 1)
    g = torch.sigmoid(F.conv2d(F.relu(F.conv2d(g, sd[f"{p}.res_layer.5.fc1.weight"])), sd[f"{p}.res_layer.5.fc2.weight"]))
    return y * g + sc


def irse_body(sd, x, units=(3, 4, 14, 3)):
    """input_layer, then body units; returns every unit's output (pSp taps i == 6, 20, 23)."""
    x = F.prelu(_bn_f(sd, "input_layer.1", F.conv2d(x, sd["input_layer.0.weight"], padding=1)), sd["input_layer.2.weight"])
    outs, i = [], 0
    for n in units:
        for b in range(n):
            x = _unit(sd, f"body.{i}", x, 2 if b == 0 else 1)
            outs.append(x)
            i += 1
    return outs


def _basic(sd, p, x, stride):
    out = F.relu(_bn_f(sd, f"{p}.bn1", F.conv2d(x, sd[f"{p}.conv1.weight"], stride=stride, padding=1)))
    out = _bn_f(sd, f"{p}.bn2", F.conv2d(out, sd[f"{p}.conv2.weight"], padding=1))
    if f"{p}.downsample.0.weight" in sd:
        x = _bn_f(sd, f"{p}.downsample.1", F.conv2d(x, sd[f"{p}.downsample.0.weight"], stride=stride))
    return F.relu(out + x)


def resnet_body(sd, x, units=(3, 4, 6, 3)):
    x = F.prelu(_bn_f(sd, "bn1", F.conv2d(x, sd["conv1.weight"], stride=2, padding=3)), sd["relu.weight"])
    outs, i = [], 0
    for s, n in enumerate(units):
        for b in range(n):
            x = _basic(sd, f"body.{i}", x, 2 if (b == 0 and s > 0) else 1)
            outs.append(x)
            i += 1
    return outs


def _equal_linear(sd, p, x):
    w = sd[f"{p}.weight"]
    return F.linear(x, w * (1 / math.sqrt(w.shape[1])) * 1, sd[f"{p}.bias"] * 1)


def style_block(sd, p, x):
    """GradualStyleBlock.forward: convs (stride 2, LeakyReLU default slope), view, EqualLinear."""
    j = 0
    while f"{p}.convs.{j}.weight" in sd:
        x = F.leaky_relu(F.conv2d(x, sd[f"{p}.convs.{j}.weight"], sd[f"{p}.convs.{j}.bias"], stride=2, padding=1))
        j += 2
    out_c = sd[f"{p}.linear.weight"].shape[0]
    return _equal_linear(sd, f"{p}.linear", x.view(-1, out_c))


def _upsample_add(x, y):
    _, _, H, W = y.size()
    return F.interpolate(x, size=(H, W), mode="bilinear", align_corners=True) + y


def gradual_forward(sd, x, n_styles, units=(3, 4, 14, 3), e4e=False, resnet=False):
    """GradualStyleEncoder.forward (pSp / ReStyle fpn) or, with `e4e`, Encoder4Editing.forward."""
    outs = resnet_body(sd, x, units) if resnet else irse_body(sd, x, units)
    ends = [sum(units[:k + 1]) - 1 for k in range(len(units))]
    c1, c2, c3 = outs[ends[1]], outs[ends[2]], outs[ends[3]]
    if not e4e:
        latents = [style_block(sd, f"styles.{j}", c3) for j in range(3)]
        p2 = _upsample_add(c3, F.conv2d(c2, sd["latlayer1.weight"], sd["latlayer1.bias"]))
        latents += [style_block(sd, f"styles.{j}", p2) for j in range(3, 7)]
        p1 = _upsample_add(p2, F.conv2d(c1, sd["latlayer2.weight"], sd["latlayer2.bias"]))
        latents += [style_block(sd, f"styles.{j}", p1) for j in range(7, n_styles)]
        return torch.stack(latents, dim=1)
    w0 = style_block(sd, "styles.0", c3)
    w = w0.repeat(n_styles, 1, 1).permute(1, 0, 2)
    features = c3
    for i in range(1, n_styles):
        if i == 3:
            p2 = _upsample_add(c3, F.conv2d(c2, sd["latlayer1.weight"], sd["latlayer1.bias"]))
            features = p2
        elif i == 7:
            p1 = _upsample_add(p2, F.conv2d(c1, sd["latlayer2.weight"], sd["latlayer2.bias"]))
            features = p1
        w[:, i] += style_block(sd, f"styles.{i}", features)
    return w


def w_forward(sd, x, units=(3, 4, 14, 3)):
    """BackboneEncoderUsingLastLayerIntoW: pool to 1x1, view, EqualLinear -> [N, 512]."""
    x = irse_body(sd, x, units)[-1]
    x = F.adaptive_avg_pool2d(x, (1, 1)).view(x.shape[0], -1)
    return _equal_linear(sd, "linear", x)


def wplus_forward(sd, x, n_styles, units=(3, 4, 14, 3)):
    x = irse_body(sd, x, units)[-1]
    x = _bn_f(sd, "output_layer_2.0", x)
    x = F.adaptive_avg_pool2d(x, (7, 7)).view(x.shape[0], -1)
    x = F.linear(x, sd["output_layer_2.3.weight"], sd["output_layer_2.3.bias"])
    x = _equal_linear(sd, "linear", x)
    return x.view(-1, n_styles, x.shape[1] // n_styles)


def backbone_forward(sd, x, n_styles, units=(3, 4, 14, 3), e4e=False, resnet=False):
    """ReStyle BackboneEncoder.forward (or ProgressiveBackboneEncoder with `e4e`)."""
    x = (resnet_body(sd, x, units) if resnet else irse_body(sd, x, units))[-1]
    if not e4e:
        return torch.stack([style_block(sd, f"styles.{j}", x) for j in range(n_styles)], dim=1)
    w0 = style_block(sd, "styles.0", x)
    w = w0.repeat(n_styles, 1, 1).permute(1, 0, 2)
    for i in range(1, n_styles):
        w[:, i] += style_block(sd, f"styles.{i}", x)
    return w


def arcface_forward(sd, x, units=(3, 4, 14, 3)):
    """TreB1eN Backbone.forward on 112 px crops: output_layer (BN2d, dropout (eval), flatten, Linear, BN1d), l2_norm."""
    x = irse_body(sd, x, units)[-1]
    x = _bn_f(sd, "output_layer.0", x).view(x.shape[0], -1)
    x = F.linear(x, sd["output_layer.3.weight"], sd["output_layer.3.bias"])
    x = _bn_f(sd, "output_layer.4", x)
    return torch.div(x, torch.norm(x, 2, 1, True))


def id_loss_feats(sd, x, units=(3, 4, 14, 3)):
    """pSp criteria/id_loss.py `extract_feats` on a 256 px batch: crop, AdaptiveAvgPool2d(112), facenet."""
    x = x[:, :, 35:223, 32:220]
    return arcface_forward(sd, F.adaptive_avg_pool2d(x, (112, 112)), units)
