"""The IR-SE ResNet (Deng et al. 2019, ArcFace; TreB1eN/InsightFace_Pytorch `model.py`) that pSp, e4e,
ReStyle and their identity loss share, with the original module names so their state dicts load as they are.

IR-SE-50 is a 3x3 stem (`input_layer`: conv, BN, PReLU) and 24 units in four stages (3/4/14/3 units of
64/128/256/512 channels, `body.0-23`). A unit is `res_layer` = BN, 3x3 conv, PReLU, 3x3 conv (stride 2 in
a stage's first unit), BN, squeeze-excitation (`fc1`/`fc2`, reduction 16), plus `shortcut_layer`: a 1x1
conv + BN where the width changes, else `MaxPool2d(1, stride)` (plain subsampling, no weights).

Widths and unit counts are read from the state dict (`config_from_state`), so the same code builds the
40 M-parameter originals and the tiny networks of the tests.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from sgtcore.errors import ArchitectureMismatchError

#: IR-SE-50 as released: stage widths and units per stage.
IRSE50_WIDTHS = (64, 128, 256, 512)
IRSE50_UNITS = (3, 4, 14, 3)


@dataclass(frozen=True)
class IRSEConfig:
    """Shape of an IR(-SE) backbone: input channels, per-stage widths and unit counts, SE blocks on/off."""

    in_channels: int = 3
    widths: tuple[int, ...] = IRSE50_WIDTHS
    units: tuple[int, ...] = IRSE50_UNITS
    se: bool = True

    def unit_shapes(self) -> list[tuple[int, int, int]]:
        """`(in_channels, depth, stride)` per unit; every stage starts with a stride-2 unit (the originals'
        `get_block(..., stride=2)`), the stem keeps `widths[0]` channels."""
        out, cin = [], self.widths[0]
        for width, n in zip(self.widths, self.units):
            out += [(cin, width, 2)] + [(width, width, 1)] * (n - 1)
            cin = width
        return out

    def stage_ends(self) -> list[int]:
        """Index in `body` of each stage's last unit (IR-SE-50: 2, 6, 20, 23; pSp taps the last three)."""
        ends, total = [], 0
        for n in self.units:
            total += n
            ends.append(total - 1)
        return ends


class SEModule(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): channel gates from the pooled map, bias-free 1x1 convs."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean((2, 3), keepdim=True)))))
        return x * g


class BottleneckIR(nn.Module):
    """One IR(-SE) unit `[N, cin, H, W] -> [N, depth, H/stride, W/stride]` (`bottleneck_IR_SE` in the originals)."""

    def __init__(self, cin: int, depth: int, stride: int, se: bool = True):
        super().__init__()
        self.stride = stride
        self.shortcut_layer = (nn.MaxPool2d(1, stride) if cin == depth else
                               nn.Sequential(nn.Conv2d(cin, depth, 1, stride, bias=False), nn.BatchNorm2d(depth)))
        layers = [nn.BatchNorm2d(cin), nn.Conv2d(cin, depth, 3, 1, 1, bias=False), nn.PReLU(depth),
                  nn.Conv2d(depth, depth, 3, stride, 1, bias=False), nn.BatchNorm2d(depth)]
        if se:
            layers.append(SEModule(depth, 16))
        self.res_layer = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class IRSEBackbone(nn.Module):
    """Stem + body, `[N, in_channels, H, W] -> [N, widths[-1], H/16, W/16]`; subclasses add their heads."""

    def __init__(self, cfg: IRSEConfig):
        super().__init__()
        self.irse = cfg
        c0 = cfg.widths[0]
        self.input_layer = nn.Sequential(nn.Conv2d(cfg.in_channels, c0, 3, 1, 1, bias=False), nn.BatchNorm2d(c0),
                                         nn.PReLU(c0))
        self.body = nn.Sequential(*(BottleneckIR(ci, d, s, cfg.se) for ci, d, s in cfg.unit_shapes()))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output of every stage (IR-SE-50 at 256 px: 64 ch 128², 128 ch 64², 256 ch 32², 512 ch 16²)."""
        x = self.input_layer(x)
        ends, out = set(self.irse.stage_ends()), []
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i in ends:
                out.append(x)
        return out


def config_from_state(sd: dict[str, torch.Tensor], source: str, prefix: str = "") -> IRSEConfig:
    """Infer the `IRSEConfig` of the IR(-SE) backbone whose keys start with `prefix` in `sd`.

    A new stage starts where a unit's width changes (the originals' widths always grow); a width change
    must come with a conv shortcut, as the originals build it.

    Raises:
        ArchitectureMismatchError: no IR-SE stem/body under `prefix`, or units that do not chain.
    """
    try:
        stem = sd[f"{prefix}input_layer.0.weight"]
        idx = sorted({int(m.group(1)) for k in sd if (m := re.fullmatch(re.escape(prefix) + r"body\.(\d+)\.res_layer\.1\.weight", k))})
        if not idx or idx != list(range(len(idx))):
            raise KeyError(f"{prefix}body.0..N.res_layer")
        widths, units, cin = [], [], stem.shape[0]
        for i in idx:
            depth, unit_in = sd[f"{prefix}body.{i}.res_layer.1.weight"].shape[:2]
            has_conv = f"{prefix}body.{i}.shortcut_layer.0.weight" in sd
            if unit_in != cin or has_conv != (unit_in != depth):
                raise ArchitectureMismatchError(f"{source}: IR-SE unit body.{i} ({unit_in} -> {depth} channels) does not "
                                                f"follow its predecessor ({cin} channels)")
            if i == 0 or depth != widths[-1]:
                widths.append(int(depth))
                units.append(0)
            units[-1] += 1
            cin = depth
        se = f"{prefix}body.0.res_layer.5.fc1.weight" in sd
    except KeyError as exc:
        raise ArchitectureMismatchError(f"{source}: not an IR-SE backbone (missing {exc})") from exc
    if stem.shape[0] != widths[0]:
        raise ArchitectureMismatchError(f"{source}: IR-SE stem has {stem.shape[0]} channels, its first unit {widths[0]}")
    return IRSEConfig(in_channels=int(stem.shape[1]), widths=tuple(widths), units=tuple(units), se=se)


def resize(x: torch.Tensor, size: int, pool: bool = False) -> torch.Tensor:
    """`[N, C, H, W] -> [N, C, size, size]` as the pSp family does.

    `pool=False` (their input images): antialiased bilinear, torch's match of the PIL `Resize((256, 256))`
    their data loaders apply. `pool=True` (generator outputs fed back, identity-loss inputs): their
    `AdaptiveAvgPool2d((256, 256))` `face_pool` (a box average when `H` is a multiple of `size`) when
    shrinking; inputs smaller than `size` are upsampled bilinearly either way.
    """
    if tuple(x.shape[-2:]) == (size, size):
        return x
    if pool and x.shape[-1] >= size and x.shape[-2] >= size:
        return F.adaptive_avg_pool2d(x, (size, size))
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
