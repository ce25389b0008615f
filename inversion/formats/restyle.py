"""ReStyle encoder networks (Alaluf et al. 2021, yuval-alaluf/restyle-encoder `models/encoders/`), with
the original module names.

ReStyle encoders read 6 channels, the image and the current reconstruction (both 256 px), and predict a
residual on the current code; the iteration itself is `common.ReStyleEncoder`'s.

- `BackboneEncoder` (ReStyle-pSp, faces): IR-SE-50, every row's `GradualStyleBlock` on the last 16²
  map (no pyramid). `ProgressiveBackboneEncoder` (ReStyle-e4e): the same weights, e4e's forward
  (w0 = styles[0] on every row, rows >= 1 add their block's output).
- `ResNetBackboneEncoder` / `ResNetProgressiveBackboneEncoder` (other domains): a ResNet-34 body
  (torchvision `BasicBlock`s `body.0-15`, names `conv1/bn1/conv2/bn2/downsample`) behind a 7x7 stride-2
  stem (`conv1`, `bn1`, PReLU `relu`), no max-pool; built here without torchvision or ImageNet weights
  (the checkpoint holds them all).
- `GradualStyleEncoder` / `ResNetGradualStyleEncoder` (`fpn_encoders.py`): pSp's pyramid with 6 input
  channels; the ResNet one taps body 6, 12, 15.
"""
from __future__ import annotations

import re

import torch
import torch.nn as nn
import torch.nn.functional as F

from sgtcore.errors import ArchitectureMismatchError

from . import psp
from .common import INPUT_SIZE, ForeignEncoder, ForeignEncoderConfig, latent_avg_rows, load_weights, strip_prefix
from .irse import IRSEBackbone, IRSEConfig, config_from_state, resize
from .psp import GradualStyleBlock, count_styles, decoder_num_ws, pyramid_codes

#: ResNet-34 blocks per stage and widths (torchvision `resnet34`).
RESNET34_UNITS = (3, 4, 6, 3)
RESNET34_WIDTHS = (64, 128, 256, 512)


class BasicBlock(nn.Module):
    """torchvision's ResNet `BasicBlock`: two 3x3 conv+BN with ReLU, identity or 1x1-conv+BN shortcut."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                           if stride != 1 or cin != cout else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNetBackbone(nn.Module):
    """ReStyle's ResNet-34 trunk `[N, in_channels, H, W] -> [N, widths[-1], H/16, W/16]`: stem conv 7x7
    stride 2 + BN + PReLU, then the four torchvision stages (the first at stride 1, the others 2)."""

    def __init__(self, in_channels: int, widths: tuple[int, ...] = RESNET34_WIDTHS,
                 units: tuple[int, ...] = RESNET34_UNITS):
        super().__init__()
        self.widths, self.units = tuple(widths), tuple(units)
        c0 = widths[0]
        self.conv1 = nn.Conv2d(in_channels, c0, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(c0)
        self.relu = nn.PReLU(c0)
        blocks, cin = [], c0
        for s, (width, n) in enumerate(zip(widths, units)):
            for b in range(n):
                blocks.append(BasicBlock(cin, width, 2 if (b == 0 and s > 0) else 1))
                cin = width
        self.body = nn.Sequential(*blocks)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every stage's output (at 256 px: 64 ch 128², 128 ch 64², 256 ch 32², 512 ch 16²)."""
        x = self.relu(self.bn1(self.conv1(x)))
        ends, total, out = set(), 0, []
        for n in self.units:
            total += n
            ends.add(total - 1)
        for i, block in enumerate(self.body):
            x = block(x)
            if i in ends:
                out.append(x)
        return out


class _SingleMapHeads(nn.Module):
    """Every row's map2style block on the last (16²) map; e4e's forward optional."""

    def _heads(self, top: int, n_styles: int, w_dim: int, e4e: bool) -> None:
        self.e4e = e4e
        self.styles = nn.ModuleList(GradualStyleBlock(top, w_dim, 16) for _ in range(n_styles))

    def _codes(self, c: torch.Tensor) -> torch.Tensor:
        rows = [s(c) for s in self.styles]
        if self.e4e:
            rows = [rows[0]] + [rows[0] + r for r in rows[1:]]
        return torch.stack(rows, 1)


class BackboneEncoder(IRSEBackbone, _SingleMapHeads):
    """ReStyle's `BackboneEncoder` (`e4e=True`: `ProgressiveBackboneEncoder`), `[N, 6, 256, 256] -> [N, n, w_dim]`."""

    def __init__(self, cfg: IRSEConfig, n_styles: int, w_dim: int = 512, e4e: bool = False):
        super().__init__(cfg)
        self._heads(cfg.widths[-1], n_styles, w_dim, e4e)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._codes(self.features(x)[-1])


class ResNetBackboneEncoder(ResNetBackbone, _SingleMapHeads):
    """ReStyle's `ResNetBackboneEncoder` (`e4e=True`: `ResNetProgressiveBackboneEncoder`)."""

    def __init__(self, in_channels: int, n_styles: int, w_dim: int = 512, e4e: bool = False,
                 widths: tuple[int, ...] = RESNET34_WIDTHS, units: tuple[int, ...] = RESNET34_UNITS):
        super().__init__(in_channels, widths, units)
        self._heads(widths[-1], n_styles, w_dim, e4e)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._codes(self.features(x)[-1])


class ResNetGradualStyleEncoder(ResNetBackbone):
    """ReStyle's `ResNetGradualStyleEncoder`: pSp's pyramid on the ResNet-34 trunk (taps body 6, 12, 15)."""

    def __init__(self, in_channels: int, n_styles: int, w_dim: int = 512,
                 widths: tuple[int, ...] = RESNET34_WIDTHS, units: tuple[int, ...] = RESNET34_UNITS):
        super().__init__(in_channels, widths, units)
        top = widths[-1]
        spatial = {0: 16, 1: 32, 2: 64}
        self.styles = nn.ModuleList(GradualStyleBlock(top, w_dim, spatial[psp._level(i)]) for i in range(n_styles))
        self.latlayer1 = nn.Conv2d(widths[-2], top, 1)
        self.latlayer2 = nn.Conv2d(widths[-3], top, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *_, c1, c2, c3 = self.features(x)
        return pyramid_codes(self.styles, c3, lambda: psp._up_add(c3, self.latlayer1(c2)),
                             lambda p2: psp._up_add(p2, self.latlayer2(c1)), e4e=False)


#: encoder_type in a ReStyle file -> (trunk, heads, e4e forward)
RESTYLE_TYPES = {
    "BackboneEncoder": ("irse", "single", False),
    "ProgressiveBackboneEncoder": ("irse", "single", True),
    "ResNetBackboneEncoder": ("resnet", "single", False),
    "ResNetProgressiveBackboneEncoder": ("resnet", "single", True),
    "GradualStyleEncoder": ("irse", "pyramid", False),
    "ResNetGradualStyleEncoder": ("resnet", "pyramid", False),
}


def resnet_config_from_state(sd: dict[str, torch.Tensor], source: str) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """`(in_channels, widths, units)` of a ReStyle ResNet trunk; a stage starts at each `downsample`
    after the first block (torchvision's layer1 has none)."""
    try:
        in_channels = int(sd["conv1.weight"].shape[1])
        idx = sorted({int(m.group(1)) for k in sd if (m := re.fullmatch(r"body\.(\d+)\.conv1\.weight", k))})
        if not idx or idx != list(range(len(idx))):
            raise KeyError("body.0..N.conv1")
        widths: list[int] = []
        units: list[int] = []
        for i in idx:
            width = int(sd[f"body.{i}.conv1.weight"].shape[0])
            if i == 0 or f"body.{i}.downsample.0.weight" in sd:
                widths.append(width)
                units.append(0)
            units[-1] += 1
    except KeyError as exc:
        raise ArchitectureMismatchError(f"{source}: not a ReStyle ResNet-34 encoder (missing {exc})") from exc
    return in_channels, tuple(widths), tuple(units)


def build(encoder_type: str, sd: dict[str, torch.Tensor], n_styles: int, source: str) -> nn.Module:
    """The ReStyle network for `encoder_type`, shaped from `sd` (keys without the `encoder.` prefix).

    Raises:
        ArchitectureMismatchError: an unknown type, or shapes that disagree with it.
    """
    if encoder_type not in RESTYLE_TYPES:
        raise ArchitectureMismatchError(f"{source}: unknown ReStyle encoder_type {encoder_type!r} (known: "
                                        f"{', '.join(RESTYLE_TYPES)})")
    trunk, heads, e4e = RESTYLE_TYPES[encoder_type]
    try:
        w_dim = int(sd["styles.0.linear.weight"].shape[0])
    except KeyError as exc:
        raise ArchitectureMismatchError(f"{source}: not a ReStyle {encoder_type} (missing {exc})") from exc
    if trunk == "irse":
        cfg = config_from_state(sd, source)
        if heads == "single":
            return BackboneEncoder(cfg, n_styles, w_dim, e4e)
        return psp.GradualStyleEncoder(cfg, n_styles, w_dim)
    in_channels, widths, units = resnet_config_from_state(sd, source)
    if heads == "single":
        return ResNetBackboneEncoder(in_channels, n_styles, w_dim, e4e, widths, units)
    return ResNetGradualStyleEncoder(in_channels, n_styles, w_dim, widths, units)


# ---- the checkpoint -> our encoder call ----

#: ReStyle's default number of refinement steps (`--n_iters_per_batch`, inference and training).
ITERATIONS = 5


class ReStyleEncoder(ForeignEncoder):
    """A ReStyle encoder with our `Encoder`'s call: `img [N, 3, H, W]` in [-1, 1] -> ws `[N, num_ws, w_dim]`.

    Iterative refinement (ReStyle Sec. 3, `utils/inference_utils.run_on_batch`): step 0 reads the image
    beside the render of latent_avg and adds its output to latent_avg; each later step reads the image
    beside the current reconstruction (rendered at full size with the stored noise maps, then
    average-pooled to 256 px, their `face_pool`) and adds its output to the current code.

    The reconstructions are rendered by `decoder`: the generator stored in the same file, the one the
    encoder was trained with (as the original does), whatever generator the codes are used with later.

    Args:
        net, config, latent_avg: see `ForeignEncoder` (`config.iterations`: steps, default 5).
        decoder: a `stylegan.Generator`.
    """

    def __init__(self, net: nn.Module, config: ForeignEncoderConfig, latent_avg: torch.Tensor, decoder: nn.Module):
        super().__init__(net, config, latent_avg)
        self.decoder = decoder.eval().requires_grad_(False)
        with torch.no_grad():  # step 0's companion image, the same for every input
            avg = self.render(latent_avg[None])
        self.register_buffer("avg_image", avg, persistent=False)

    def render(self, ws: torch.Tensor) -> torch.Tensor:
        """`ws [N, num_ws, w_dim]` -> the decoder's image pooled to `[N, 3, 256, 256]` (`randomize_noise=False`)."""
        return resize(self.decoder.synthesis(ws, noise_mode="const"), INPUT_SIZE, pool=True)

    def forward(self, img: torch.Tensor, iterations: int | None = None, return_steps: bool = False):
        """ws after `iterations` (default `config.iterations`) steps; `return_steps`: also the list of every
        step's ws."""
        x = self.prepare(img)
        n = self.config.iterations if iterations is None else int(iterations)
        if n < 1:
            raise ValueError(f"ReStyle needs at least one iteration, got {n}")
        y = self.avg_image.expand(x.shape[0], -1, -1, -1)
        ws, steps = self.latent_avg, []
        for i in range(n):
            ws = ws + self.net(torch.cat([x, y], 1))
            steps.append(ws)
            if i + 1 < n:
                y = self.render(ws)
        return (ws, steps) if return_steps else ws


def from_checkpoint(obj: dict, encoder_type: str, source: str, iterations: int = ITERATIONS) -> ReStyleEncoder:
    """Build a `ReStyleEncoder` from a ReStyle checkpoint `{state_dict, opts, latent_avg}` (pSp or e4e
    variant), with its decoder.

    Raises:
        ArchitectureMismatchError: not 6 input channels, no decoder or latent_avg, sizes that disagree.
        CorruptCheckpointError: NaN/Inf weights.
    """
    from stylegan.formats import rosinality
    from stylegan.formats.infer import build_generator

    sd = strip_prefix(obj["state_dict"], "encoder.")
    dec = strip_prefix(obj["state_dict"], "decoder.")
    n = count_styles(sd)
    if not dec:
        raise ArchitectureMismatchError(f"{source}: a ReStyle checkpoint without its decoder (decoder.*): ReStyle "
                                        "renders every step with the generator it was trained with")
    if n != decoder_num_ws(dec):
        raise ArchitectureMismatchError(f"{source}: the encoder writes {n} rows but its decoder takes {decoder_num_ws(dec)}")
    net = build(encoder_type, sd, n, source)
    in_channels = net.irse.in_channels if isinstance(net, IRSEBackbone) else net.conv1.in_channels
    if in_channels != 6:
        raise ArchitectureMismatchError(f"{source}: a ReStyle {encoder_type} reads image + reconstruction (6 channels), "
                                        f"this one {in_channels}")
    la = latent_avg_rows(obj, n, source)
    if la is None:
        raise ArchitectureMismatchError(f"{source}: a ReStyle checkpoint without latent_avg (its first step starts there)")
    net = load_weights(net, sd, source, f"a ReStyle {encoder_type}")
    G = build_generator(rosinality.generator_from_rosinality(dec, la[0], source), source)
    w_dim = int(sd["styles.0.linear.weight"].shape[0])
    family = "restyle-e4e" if RESTYLE_TYPES[encoder_type][2] else "restyle"
    cfg = ForeignEncoderConfig(family=family, encoder_type=encoder_type, img_resolution=int(G.img_resolution),
                               num_ws=n, w_dim=w_dim, add_latent_avg=True, iterations=int(iterations), source=source)
    return ReStyleEncoder(net, cfg, la, G)
