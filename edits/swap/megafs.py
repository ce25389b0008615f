"""MegaFS's released networks (Zhu et al., "One Shot Face Swapping on Megapixels", CVPR 2021), ported with
the original module names so that `checkpoint/{ftm,injection,lcr}_final.pth` load with `strict=True`.

Transcribed from zyainfal/One-Shot-Face-Swapping-on-Megapixels `inference/megafs.py` and `inference.py`
(the only code the authors released; there is no training code). A released file is `{e: HieRFE, s:
FaceTransferModule}`; `edits.swap.formats.megafs` reads it into a `MegaFS` module (widths from the shapes).

    HieRFE:  256 px RGB in [-1, 1] -> ResNet-50 (+ a 5th stage) -> FPN (512 ch at 4, 8, 16, 32 px)
             codes: 4 / 6 / 8 `styleMapping` conv stacks on the 8 / 16 / 32 px maps, tanh   [N, 18, 512]
             structure: the 4 px map                                                       [N, 512, 4, 4]
    swapper: rows < 4 from the target (attribute); rows 4-17 from `TransferCell`s (ftm), `InjectionResBlock`s
             (injection), or from the source (identity) as they are (lcr)
    render:  G.synthesis(codes, const=target's structure, noise_mode='const'), min-max rescaled

Quirks of the original kept here on purpose (they are what the released weights were trained with):
- `nn.LeakyReLU(True)` in the swapper cells sets negative_slope=True, i.e. 1.0: an identity, not a ReLU.
  (`styleMapping`'s `nn.LeakyReLU(inplace=True)` is a real leaky ReLU with slope 0.01.)
- The tanh codes go to the generator as W+ codes as they are: no latent_avg is added, no truncation.
- The output is rescaled by its own min and max over all pixels and channels, not clamped.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

#: HieRFE's input side (MegaFS resizes every face to 256 x 256 with cv2.resize, bilinear).
INPUT_SIZE = 256
#: The FPN maps the three code groups are read from, and how many stride-2 convs bring each to 1 x 1.
CODE_LEVELS = (8, 16, 32)
#: MegaFS's swap index: rows below it come from the target (`swap_indice = 4` in inference.py).
SWAP_INDEX = 4
KINDS = ("ftm", "injection", "lcr")


@dataclass
class MegaFSConfig:
    """Sizes of a released MegaFS file (defaults: the released ones).

    Attributes:
        kind: the swapper, 'ftm', 'injection' or 'lcr'.
        stem: ResNet stem width (conv1).
        widths, depths: each of the five bottleneck stages' width and block count (the 5th stage is
            MegaFS's addition: 2048 -> 2048 at 4 px).
        expansion: bottleneck expansion (ResNet-50: 4).
        features: FPN width = code width = the structure tensor's channels (the generator's w_dim and
            4 px channel count).
        split: codes read from the 8, 16 and 32 px FPN maps (`latent_split = [4, 6, 8]`).
        swap_index: rows below it come from the target.
        blocks: blocks per transfer cell (ftm: 3, injection: 1); 0 for lcr.
        hidden: the transfer cells' MLP width (ftm: 256).
    """

    kind: str = "ftm"
    stem: int = 64
    widths: tuple[int, ...] = (64, 128, 256, 512, 512)
    depths: tuple[int, ...] = (3, 4, 6, 3, 2)
    expansion: int = 4
    features: int = 512
    split: tuple[int, ...] = (4, 6, 8)
    swap_index: int = SWAP_INDEX
    blocks: int = 3
    hidden: int = 256

    @property
    def num_codes(self) -> int:
        return sum(self.split)

    def to_dict(self) -> dict:
        return asdict(self)


# ---- HieRFE ----------------------------------------------------------------------------------------------------

class Bottleneck(nn.Module):
    """torchvision's ResNet v1.5 bottleneck (stride on the 3x3 conv), as MegaFS copied it."""

    def __init__(self, cin: int, width: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)) \
            if stride != 1 or cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    """ResNet-50 without its classifier and with a 5th stage; returns the stage 2-5 maps (32, 16, 8, 4 px
    for a 256 px input)."""

    def __init__(self, c: MegaFSConfig):
        super().__init__()
        self.conv1 = nn.Conv2d(3, c.stem, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(c.stem)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = c.stem
        for k, (width, depth) in enumerate(zip(c.widths, c.depths), start=1):
            cout = width * c.expansion
            blocks = [Bottleneck(cin if i == 0 else cout, width, cout, 2 if i == 0 and k > 1 else 1)
                      for i in range(depth)]
            setattr(self, f"layer{k}", nn.Sequential(*blocks))
            cin = cout

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.layer1(self.maxpool(self.relu(self.bn1(self.conv1(x)))))
        c1 = self.layer2(x)
        c2 = self.layer3(c1)
        c3 = self.layer4(c2)
        return c1, c2, c3, self.layer5(c3)


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.ReLU())


class FPN(nn.Module):
    """Top-down pyramid over stages 3-5 (bilinear, align_corners=True); the 4 px map has no ReLU."""

    def __init__(self, c: MegaFSConfig):
        super().__init__()
        self.backbone = ResNet(c)
        outs = [w * c.expansion for w in c.widths]
        self.output1 = _conv_bn_relu(outs[1], c.features)
        self.output2 = _conv_bn_relu(outs[2], c.features)
        self.output3 = _conv_bn_relu(outs[3], c.features)
        self.output4 = nn.Sequential(nn.Conv2d(outs[4], c.features, 3, 1, 1), nn.BatchNorm2d(c.features))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        c1, c2, c3, c4 = self.backbone(x)
        p4 = self.output4(c4)
        p3 = self.output3(c3)
        p2 = self.output2(c2) + F.interpolate(p3, scale_factor=2, mode="bilinear", align_corners=True)
        p1 = self.output1(c1) + F.interpolate(p2, scale_factor=2, mode="bilinear", align_corners=True)
        return p4, p3, p2, p1


class StyleMapping(nn.Module):
    """log2(size) stride-2 conv + BN + LeakyReLU(0.01) steps: a `size` px map -> one code `[N, 1, C]`
    (MegaFS's `styleMapping`)."""

    def __init__(self, features: int, size: int):
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(int(math.log2(size))):
            layers += [nn.Conv2d(features, features, 3, 2, 1), nn.BatchNorm2d(features), nn.LeakyReLU(0.01)]
        self.convs = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x).flatten(1).unsqueeze(1)


class HieRFE(nn.Module):
    """MegaFS's hierarchical representation face encoder: `[N, 3, 256, 256]` in [-1, 1] ->
    `(codes [N, num_codes, features] in (-1, 1), structure [N, features, 4, 4])`."""

    def __init__(self, c: MegaFSConfig):
        super().__init__()
        self.fpn = FPN(c)
        self.act = nn.Tanh()
        for k, (n, size) in enumerate(zip(c.split, CODE_LEVELS), start=1):
            setattr(self, f"mapping{k}", nn.ModuleList(StyleMapping(c.features, size) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f4, f8, f16, f32 = self.fpn(x)
        codes = [m(f) for maps, f in ((self.mapping1, f8), (self.mapping2, f16), (self.mapping3, f32)) for m in maps]
        return self.act(torch.cat(codes, 1)), f4


# ---- swappers --------------------------------------------------------------------------------------------------

def _identity_lrelu() -> nn.LeakyReLU:
    # MegaFS writes nn.LeakyReLU(True): True lands in negative_slope, so slope 1.0 = the identity.
    return nn.LeakyReLU(1.0)


def _mlp(c: MegaFSConfig, out_act: nn.Module) -> nn.Sequential:
    return nn.Sequential(nn.Linear(2 * c.features, c.hidden), nn.ReLU(), nn.Linear(c.hidden, c.features), out_act)


class TransferCell(nn.Module):
    """One row's FTM cell (paper Sec. 3.3): `blocks` times, with f = [idd; att],
    idd <- act(idd * sigmoid(MLP(f)) + tanh(MLP(f))) and the same for att (act: the identity, see above)."""

    def __init__(self, c: MegaFSConfig):
        super().__init__()
        self.num_blocks = c.blocks
        self.idd_selectors = nn.ModuleList(_mlp(c, nn.Sigmoid()) for _ in range(c.blocks))
        self.idd_shifters = nn.ModuleList(_mlp(c, nn.Tanh()) for _ in range(c.blocks))
        self.att_selectors = nn.ModuleList(_mlp(c, nn.Sigmoid()) for _ in range(c.blocks))
        self.att_shifters = nn.ModuleList(_mlp(c, nn.Tanh()) for _ in range(c.blocks))
        self.act = _identity_lrelu()

    def forward(self, idd: torch.Tensor, att: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`idd, att [N, C]` -> both refined, `[N, 1, C]` each."""
        for i in range(self.num_blocks):
            fuse = torch.cat([idd, att], dim=1)  # both updates read the codes from before this block
            idd = self.act(idd * self.idd_selectors[i](fuse) + self.idd_shifters[i](fuse))
            att = self.act(att * self.att_selectors[i](fuse) + self.att_shifters[i](fuse))
        return idd.unsqueeze(1), att.unsqueeze(1)


class InjectionBlock(nn.Module):
    """AdaIN-like identity injection: BN(att) (no affine, running statistics) * (1 + gamma(idd)) + beta(idd)."""

    def __init__(self, c: MegaFSConfig):
        super().__init__()
        self.idd_linears = nn.Sequential(nn.Linear(c.features, c.features), nn.ReLU())
        self.idd_selectors = nn.Linear(c.features, c.features)
        self.idd_shifters = nn.Linear(c.features, c.features)
        self.att_bns = nn.BatchNorm1d(c.features, affine=False)

    def forward(self, x: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        idd, att = x  # a tuple: the block sits first in an nn.Sequential, as in the original
        actv = self.idd_linears(idd)
        return self.att_bns(att) * (1 + self.idd_selectors(actv)) + self.idd_shifters(actv)


class InjectionResBlock(nn.Module):
    """One row's injection cell: `blocks` residual steps att <- att + L2(inj2(L1(inj1(att)))) (act: identity)."""

    def __init__(self, c: MegaFSConfig):
        super().__init__()
        self.num_blocks = c.blocks

        def path() -> nn.Sequential:
            return nn.Sequential(InjectionBlock(c), _identity_lrelu(), nn.Linear(c.features, c.features))

        self.att_path1 = nn.ModuleList(path() for _ in range(c.blocks))
        self.att_path2 = nn.ModuleList(path() for _ in range(c.blocks))
        self.act = _identity_lrelu()

    def forward(self, idd: torch.Tensor, att: torch.Tensor) -> torch.Tensor:
        """`idd, att [N, C]` -> `[N, 1, C]`."""
        for i in range(self.num_blocks):
            att_bias = att
            att = self.att_path1[i]((idd, att))
            att = self.att_path2[i]((idd, att))
            att = att + att_bias
        return self.act(att.unsqueeze(1))


class FaceTransferModule(nn.Module):
    """MegaFS's swapper: `(idd [N, n, C], att [N, n, C]) -> [N, n, C]`; rows < swap_index are att's."""

    def __init__(self, c: MegaFSConfig):
        super().__init__()
        if c.kind not in KINDS:
            raise ValueError(f"MegaFS swapper kind must be one of {KINDS}, got {c.kind!r}")
        self.type, self.swap_indice = c.kind, c.swap_index
        self.num_latents = c.num_codes - c.swap_index
        if c.kind == "ftm":
            self.blocks = nn.ModuleList(TransferCell(c) for _ in range(self.num_latents))
            self.weight = nn.Parameter(torch.zeros(1, self.num_latents, c.features))
        elif c.kind == "injection":
            self.blocks = nn.ModuleList(InjectionResBlock(c) for _ in range(self.num_latents))

    def forward(self, idd: torch.Tensor, att: torch.Tensor) -> torch.Tensor:
        k = self.swap_indice
        if self.type == "lcr":
            return torch.cat([att[:, :k], idd[:, k:]], 1)
        rows = [self.blocks[i](idd[:, k + i], att[:, k + i]) for i in range(self.num_latents)]
        if self.type == "ftm":
            idds = torch.cat([r[0] for r in rows], 1)
            atts = torch.cat([r[1] for r in rows], 1)
            scale = torch.sigmoid(self.weight)  # learned per-row, per-channel share of the identity
            mixed = scale * idds + (1 - scale) * atts
        else:
            mixed = torch.cat(rows, 1)
        return torch.cat([att[:, :k], mixed], 1)


# ---- the pair --------------------------------------------------------------------------------------------------

class MegaFS(nn.Module):
    """One released MegaFS file: the encoder `e` and swapper `s` trained together (state dict keys `e.*`,
    `s.*` = the file's two dicts). Eval mode only (BatchNorm uses its running statistics)."""

    def __init__(self, config: MegaFSConfig | dict):
        super().__init__()
        self.config = c = MegaFSConfig(**config) if isinstance(config, dict) else config
        self.e = HieRFE(c)
        self.s = FaceTransferModule(c)
        self.eval()

    @property
    def kind(self) -> str:
        return self.config.kind

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Aligned faces `[N, 3, H, W]` in [-1, 1] -> `(codes [N, num_codes, C], structure [N, C, 4, 4])`.

        Faces of another size are resized to 256 px bilinearly without antialiasing (what MegaFS's
        `cv2.resize(img, (256, 256))` does to its 1024 px CelebA-HQ faces).
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"MegaFS encodes images [N, 3, H, W] in [-1, 1], got {list(images.shape)}")
        x = images.to(next(self.parameters()).device, torch.float32)
        if tuple(x.shape[-2:]) != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        return self.e(x)

    def mix(self, identity_codes: torch.Tensor, attribute_codes: torch.Tensor) -> torch.Tensor:
        """`[N | 1, num_codes, C]` each -> the swapped codes `[N, num_codes, C]`."""
        n = max(len(identity_codes), len(attribute_codes))
        return self.s(identity_codes.expand(n, -1, -1), attribute_codes.expand(n, -1, -1))

    @staticmethod
    def render(G: nn.Module, codes: torch.Tensor, structure: torch.Tensor) -> torch.Tensor:
        """`G.synthesis(codes, const=structure)` with G's stored noise (rosinality's randomize_noise=False),
        each image min-max rescaled to [-1, 1] as MegaFS does before saving: `[N, 3, R, R]`."""
        img = G.synthesis(codes, noise_mode="const", const=structure)
        lo = img.flatten(1).min(1).values.view(-1, 1, 1, 1)
        hi = img.flatten(1).max(1).values.view(-1, 1, 1, 1)
        return (img - lo) / (hi - lo).clamp_min(1e-8) * 2 - 1


def soft_erosion(mask: torch.Tensor, kernel_size: int = 17, threshold: float = 0.9, iterations: int = 7
                 ) -> torch.Tensor:
    """MegaFS's `SoftErosion` of a face-parsing mask before blending (its defaults are for 1024 px): erode
    by repeated min with a cone-kernel blur, then pixels >= `threshold` become 1 and the rest are divided
    by their maximum. `mask [N, 1, H, W]` in [0, 1] -> the same shape.

    MegaFS's mask is the union of CelebAMask-HQ classes skin, brows, eyes, glasses, nose, mouth and lips
    (no ears, neck or hair); pass such a mask from your own face parser through this for the original's
    blending, or use `inversion.face_mask` (already soft) as `swap` does.
    """
    r = kernel_size // 2
    yy, xx = torch.meshgrid(torch.arange(kernel_size, dtype=torch.float32),
                            torch.arange(kernel_size, dtype=torch.float32), indexing="ij")
    dist = torch.sqrt((xx - r) ** 2 + (yy - r) ** 2)
    kernel = dist.max() - dist
    kernel = (kernel / kernel.sum()).to(mask.device)[None, None].repeat(mask.shape[1], 1, 1, 1)
    x = mask.float()
    for _ in range(iterations - 1):
        x = torch.min(x, F.conv2d(x, kernel, groups=x.shape[1], padding=r))
    x = F.conv2d(x, kernel, groups=x.shape[1], padding=r)
    inside = x >= threshold
    rest = x[~inside]
    out = x.clone()
    out[inside] = 1.0
    if rest.numel():
        out[~inside] = rest / rest.max().clamp_min(1e-12)  # the original divides by max (0/0 when all-zero)
    return out


__all__ = ["MegaFS", "MegaFSConfig", "HieRFE", "FaceTransferModule", "TransferCell", "InjectionBlock",
           "InjectionResBlock", "soft_erosion", "INPUT_SIZE", "SWAP_INDEX", "KINDS"]
