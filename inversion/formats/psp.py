"""pSp (Richardson et al. 2021, eladrich/pixel2style2pixel `models/encoders/psp_encoders.py`) and e4e
(Tov et al. 2021, omertov/encoder4editing) encoder networks on the IR-SE backbone, with the original
module names (`input_layer`, `body`, `styles.i.convs/linear`, `latlayer1/2`, `output_layer_2`, `linear`).

- `GradualStyleEncoder` (pSp's default): a feature pyramid over the backbone's stages (c1 = 64² 128 ch,
  c2 = 32² 256 ch, c3 = 16² 512 ch at 256 px input); rows 0-2 from c3, 3-6 from p2 = up(c3) + lat1(c2),
  7+ from p1 = up(p2) + lat2(c1) (bilinear, `align_corners=True`). Each row: a `GradualStyleBlock`
  (log2(spatial) stride-2 3x3 convs with LeakyReLU(0.01) down to 1x1, then an equalised linear).
- e4e's `Encoder4Editing`: the same weights, another forward: `w0 = styles[0](c3)` on every row, and
  row i >= 1 adds `styles[i]` of its pyramid level as an offset (all rows: the saved, inference stage).
- `BackboneEncoderUsingLastLayerIntoW` (e4e: `SingleStyleCodeEncoder`): pooled c3 -> one w for all rows.
- `BackboneEncoderUsingLastLayerIntoWPlus`: BN, pool to 7x7, linear to 512, equalised linear to all rows.

Every network maps `[N, C, 256, 256]` to raw codes `[N, rows, w_dim]`; adding `latent_avg` and the
image preprocessing are the wrapper's (`inversion.formats.common.ForeignEncoder`).
"""
from __future__ import annotations

import math
import re

import torch
import torch.nn as nn
import torch.nn.functional as F

from sgtcore.errors import ArchitectureMismatchError

from .common import (ForeignEncoder, ForeignEncoderConfig, latent_avg_rows, load_weights, num_ws_for, opts_dict,
                     strip_prefix)
from .irse import IRSEBackbone, IRSEConfig, config_from_state

#: pSp / e4e rows per pyramid level: rows [0, 3) from c3, [3, 7) from p2, [7, n) from p1.
COARSE, MIDDLE = 3, 7


class EqualLinear(nn.Module):
    """rosinality's `EqualLinear` with `lr_mul=1`: weight `[out, in]` scaled by 1/sqrt(in) at run time."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim))
        self.bias = nn.Parameter(torch.zeros(out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * (1 / math.sqrt(self.weight.shape[1])), self.bias)


class GradualStyleBlock(nn.Module):
    """map2style: `[N, in_c, s, s] -> [N, out_c]` through log2(s) stride-2 convs and an equalised linear."""

    def __init__(self, in_c: int, out_c: int, spatial: int):
        super().__init__()
        self.out_c = out_c
        n = int(math.log2(spatial))
        layers: list[nn.Module] = []
        for i in range(n):
            layers += [nn.Conv2d(in_c if i == 0 else out_c, out_c, 3, 2, 1), nn.LeakyReLU()]  # slope 0.01, as theirs
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(out_c, out_c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).reshape(-1, self.out_c))


def _up_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """FPN merge: `x` upsampled bilinearly (align_corners=True, as theirs) to `y`'s size, plus `y`."""
    return F.interpolate(x, size=y.shape[-2:], mode="bilinear", align_corners=True) + y


class GradualStyleEncoder(IRSEBackbone):
    """pSp's FPN encoder, `[N, C, 256, 256] -> [N, n_styles, w_dim]`; `e4e=True` runs e4e's forward.

    Args:
        cfg: the backbone.
        n_styles: rows (num_ws of the generator).
        w_dim: code width (512 in the originals, equal to the backbone's last width).
        e4e: e4e's `Encoder4Editing` forward (base code + per-row offsets) instead of pSp's.
    """

    def __init__(self, cfg: IRSEConfig, n_styles: int, w_dim: int = 512, e4e: bool = False):
        super().__init__(cfg)
        self.e4e = e4e
        self.n_styles = n_styles
        top = cfg.widths[-1]
        spatial = {0: 16, 1: 32, 2: 64}  # the pyramid level's size at 256 px input
        self.styles = nn.ModuleList(GradualStyleBlock(top, w_dim, spatial[_level(i)]) for i in range(n_styles))
        self.latlayer1 = nn.Conv2d(cfg.widths[-2], top, 1)
        self.latlayer2 = nn.Conv2d(cfg.widths[-3], top, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *_, c1, c2, c3 = self.features(x)
        return pyramid_codes(self.styles, c3, lambda: _up_add(c3, self.latlayer1(c2)),
                             lambda p2: _up_add(p2, self.latlayer2(c1)), self.e4e)


def _level(i: int) -> int:
    return 0 if i < COARSE else 1 if i < MIDDLE else 2


def pyramid_codes(styles: nn.ModuleList, c3: torch.Tensor, make_p2, make_p1, e4e: bool) -> torch.Tensor:
    """Rows from the three pyramid levels (shared by the IR-SE and ReStyle's ResNet-34 pyramids).

    pSp: row i = styles[i](its level). e4e: every row starts at w0 = styles[0](c3); rows i >= 1 add
    styles[i](their level) (`Encoder4Editing.forward` at its inference stage). `make_p2()` / `make_p1(p2)`
    build the finer levels only when a row needs them.
    """
    n = len(styles)
    levels = [c3]
    if n > COARSE:
        levels.append(make_p2())
    if n > MIDDLE:
        levels.append(make_p1(levels[1]))
    rows = [styles[i](levels[_level(i)]) for i in range(n)]
    if not e4e:
        return torch.stack(rows, 1)
    w0 = rows[0]
    return torch.stack([w0] + [w0 + r for r in rows[1:]], 1)


class WEncoder(IRSEBackbone):
    """`BackboneEncoderUsingLastLayerIntoW` (e4e: `SingleStyleCodeEncoder`): average-pooled last stage ->
    equalised linear -> one code, repeated on all `n_styles` rows."""

    def __init__(self, cfg: IRSEConfig, n_styles: int, w_dim: int = 512):
        super().__init__(cfg)
        self.n_styles = n_styles
        self.linear = EqualLinear(cfg.widths[-1], w_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.linear(self.features(x)[-1].mean((2, 3)))
        return w[:, None].expand(-1, self.n_styles, -1)


class WPlusEncoder(IRSEBackbone):
    """`BackboneEncoderUsingLastLayerIntoWPlus`: BN, 7x7 average pool, linear to w_dim, equalised linear to
    `n_styles * w_dim`."""

    def __init__(self, cfg: IRSEConfig, n_styles: int, w_dim: int = 512, hidden: int = 512):
        super().__init__(cfg)
        self.n_styles, self.w_dim = n_styles, w_dim
        top = cfg.widths[-1]
        self.output_layer_2 = nn.Sequential(nn.BatchNorm2d(top), nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(),
                                            nn.Linear(top * 49, hidden))
        self.linear = EqualLinear(hidden, w_dim * n_styles)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.output_layer_2(self.features(x)[-1])).view(-1, self.n_styles, self.w_dim)


# ---- building a network from a state dict ----

#: encoder_type in the file -> (network, pSp forward or e4e forward)
PSP_TYPES = {
    "GradualStyleEncoder": "gradual",
    "Encoder4Editing": "gradual-e4e",
    "BackboneEncoderUsingLastLayerIntoW": "w",
    "SingleStyleCodeEncoder": "w",
    "BackboneEncoderUsingLastLayerIntoWPlus": "w+",
}


def count_styles(sd: dict[str, torch.Tensor]) -> int:
    """Number of `styles.i` blocks in an encoder state dict (0 when it has none)."""
    idx = {int(m.group(1)) for k in sd if (m := re.match(r"styles\.(\d+)\.", k))}
    return max(idx) + 1 if idx else 0


def build(encoder_type: str, sd: dict[str, torch.Tensor], n_styles: int, source: str) -> nn.Module:
    """The pSp/e4e network for `encoder_type`, shaped from `sd` (keys without the `encoder.` prefix).

    Raises:
        ArchitectureMismatchError: an unknown type, or shapes that disagree with it.
    """
    kind = PSP_TYPES.get(encoder_type)
    if kind is None:
        raise ArchitectureMismatchError(f"{source}: unknown pSp/e4e encoder_type {encoder_type!r} (known: "
                                        f"{', '.join(PSP_TYPES)})")
    cfg = config_from_state(sd, source)
    try:
        if kind.startswith("gradual"):
            if len(cfg.widths) < 3:
                raise ArchitectureMismatchError(f"{source}: a feature pyramid needs 3 backbone stages, got {cfg.widths}")
            w_dim = sd["styles.0.linear.weight"].shape[0]
            return GradualStyleEncoder(cfg, n_styles, w_dim, e4e=kind.endswith("e4e"))
        if kind == "w":
            return WEncoder(cfg, n_styles, sd["linear.weight"].shape[0])
        hidden = sd["output_layer_2.3.weight"].shape[0]
        out = sd["linear.weight"].shape[0]
        if out % n_styles:
            raise ArchitectureMismatchError(f"{source}: W+ head of {out} outputs for {n_styles} rows")
        return WPlusEncoder(cfg, n_styles, out // n_styles, hidden)
    except KeyError as exc:
        raise ArchitectureMismatchError(f"{source}: not a {encoder_type} (missing {exc})") from exc


# ---- the checkpoint -> our encoder call ----

class PSPEncoder(ForeignEncoder):
    """A pSp or e4e encoder with our `Encoder`'s call: `img [N, 3, H, W]` in [-1, 1] -> ws
    `[N, num_ws, w_dim]` = network(img at 256 px) (+ latent_avg when trained with `start_from_latent_avg`)."""

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.start(self.net(self.prepare(img)))


def decoder_num_ws(dec: dict[str, torch.Tensor]) -> int | None:
    """W+ rows of a rosinality generator state dict (2 + its `convs`), None without one."""
    convs = {int(m.group(1)) for k in dec if (m := re.match(r"convs\.(\d+)\.", k))}
    return len(convs) + 2 if dec else None


def from_checkpoint(obj: dict, family: str, encoder_type: str, source: str) -> PSPEncoder:
    """Build a `PSPEncoder` from a pSp (`family='psp'`) or e4e (`'e4e'`) checkpoint `{state_dict, opts,
    latent_avg?}`, with the original loader's rules: rows from the styles (else `output_size` /
    `stylegan_size`, default 1024), latent_avg added iff `opts.start_from_latent_avg`.

    Raises:
        ArchitectureMismatchError: a non-RGB input (pSp's sketch / segmentation models), shapes that
        disagree with the file's generator or options. CorruptCheckpointError: NaN/Inf weights.
    """
    opts = opts_dict(obj)
    sd = strip_prefix(obj["state_dict"], "encoder.")
    dec = strip_prefix(obj["state_dict"], "decoder.")
    size = int(opts.get("stylegan_size" if family == "e4e" else "output_size", 1024) or 1024)
    n = count_styles(sd) or decoder_num_ws(dec) or num_ws_for(size)
    if dec and decoder_num_ws(dec) != n:
        raise ArchitectureMismatchError(f"{source}: the encoder writes {n} rows but its decoder takes {decoder_num_ws(dec)}")
    net = build(encoder_type, sd, n, source)
    if net.irse.in_channels != 3:
        raise ArchitectureMismatchError(
            f"{source}: this {family} network reads {net.irse.in_channels}-channel inputs (pSp's sketch / segmentation "
            "-to-image models), not RGB photos; it cannot invert a face (use a pSp/e4e/ReStyle FFHQ encoder)")
    w_dim = int(sd.get("styles.0.linear.weight", sd.get("linear.weight", torch.empty(512, 0))).shape[0])
    if encoder_type == "BackboneEncoderUsingLastLayerIntoWPlus":
        w_dim //= n
    add = bool(opts.get("start_from_latent_avg", "latent_avg" in obj))
    la = latent_avg_rows(obj, n, source)
    if add and la is None:
        # e4e's own loader does this (pSp's would fail): the decoder's mean code, estimated with a warning
        import stylegan

        la = stylegan.load(source).w_avg.detach().float()[None].expand(n, -1).clone()
    cfg = ForeignEncoderConfig(family=family, encoder_type=encoder_type, img_resolution=2 ** (n // 2 + 1),
                               num_ws=n, w_dim=w_dim, add_latent_avg=add, iterations=1, source=source)
    return PSPEncoder(load_weights(net, sd, source, f"a {family} {encoder_type}"), cfg, la)
