"""Reconstruction losses and image metrics for projection, pivotal tuning and the encoder.

LPIPS-VGG (Zhang et al. 2018) is the loss the NVlabs projector uses, but its VGG backbone needs
torchvision's ImageNet weights, which we never download. `make_loss('auto')` therefore uses LPIPS
only when those weights are on disk (torch hub cache or an explicit path) and otherwise falls back,
with one warning, to a loss that needs nothing downloaded:

* ``'dfeat+l2+msssim'`` when a discriminator is given: channel-normalised D features at every
  resolution (the LPIPS recipe applied to D's blocks; even a discriminator is a usable perceptual
  space), plus pixel L2 and 1 - MS-SSIM;
* ``'l2+msssim'`` otherwise.

Every loss object has a ``name`` that `project` records in its history, so a result always says
which loss produced it.
"""
from __future__ import annotations

import copy
import logging
import math
import os
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from stylegan import Discriminator

log = logging.getLogger(__name__)

#: File name torchvision gives the VGG16 ImageNet weights in its hub cache.
VGG16_FILE = "vgg16-397923af.pth"
LOSS_NAMES = ("auto", "lpips", "dfeat+l2+msssim", "l2+msssim", "l2")
_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message)
        import warnings

        warnings.warn(message, stacklevel=3)


def find_vgg_weights(path: str | os.PathLike | None = None) -> Path | None:
    """The local VGG16 weights LPIPS needs: `path` if given (must exist), else torch's hub cache."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"--lpips-weights {p}: no such file; pass torchvision's {VGG16_FILE}")
        return p
    p = Path(torch.hub.get_dir()) / "checkpoints" / VGG16_FILE
    return p if p.is_file() else None


# ---------------------------------------------------------------------------------------------
# Metrics (images [N, 3, H, W] in [-1, 1])


def psnr(img: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB for images in [-1, 1] (peak-to-peak 2). Returns `[N]`."""
    mse = (img.clamp(-1, 1) - target.clamp(-1, 1)).square().flatten(1).mean(1)
    return 10 * torch.log10(4.0 / mse.clamp_min(1e-10))


def _gauss_1d(size: int, sigma: float, device: torch.device) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-x.square() / (2 * sigma ** 2))
    return g / g.sum()


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """'valid' Gaussian filtering of every channel of `x [N, C, H, W]` by the separable window `g [K]`: a
    K x K window is the outer product of two 1-D ones, so two 1-D passes (2K taps) give the same result as
    one 2-D pass (K^2 taps)."""
    c, k = x.shape[1], len(g)
    x = F.conv2d(x, g.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)


def _ssim_parts(x: torch.Tensor, y: torch.Tensor, win: int = 11) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean SSIM and contrast-structure term `[N]` for images in [0, 1] (Wang et al. 2004)."""
    c = x.shape[1]
    win = min(win, x.shape[-1], x.shape[-2])
    x, y = torch.broadcast_tensors(x, y)
    # the five local statistics in one filtering pass: mu_x, mu_y, E[x^2], E[y^2], E[xy]
    mu_x, mu_y, exx, eyy, exy = _blur(torch.cat([x, y, x * x, y * y, x * y], 1),
                                      _gauss_1d(win, 1.5 * win / 11, x.device)).split(c, 1)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    sxx, syy, sxy = exx - mu_x.square(), eyy - mu_y.square(), exy - mu_x * mu_y
    cs = (2 * sxy + c2) / (sxx + syy + c2)
    lum = (2 * mu_x * mu_y + c1) / (mu_x.square() + mu_y.square() + c1)
    return (lum * cs).flatten(1).mean(1), cs.flatten(1).mean(1)


def ssim(img: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Single-scale SSIM (11x11 Gaussian window, sigma 1.5) of images in [-1, 1]. Returns `[N]`."""
    return _ssim_parts((img.clamp(-1, 1) + 1) / 2, (target.clamp(-1, 1) + 1) / 2)[0]


_MS_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim(img: torch.Tensor, target: torch.Tensor, min_size: int = 8) -> torch.Tensor:
    """Multi-scale SSIM (Wang et al. 2003) of images in [-1, 1], `[N]`.

    Uses as many of the 5 standard scales as fit while the image side stays >= `min_size`
    (32 px images get 3), with the standard weights renormalised over those scales.
    """
    x, y = (img.clamp(-1, 1) + 1) / 2, (target.clamp(-1, 1) + 1) / 2
    levels = max(1, min(5, int(math.log2(min(x.shape[-2:]) / min_size)) + 1))
    weights = torch.tensor(_MS_WEIGHTS[:levels], device=x.device)
    weights = weights / weights.sum()
    out = torch.ones(x.shape[0], device=x.device)
    for i in range(levels):
        s, cs = _ssim_parts(x, y)
        # relu: cs can be slightly negative early on, and a fractional power of it would be NaN.
        val = s if i == levels - 1 else cs
        out = out * F.relu(val).clamp_min(1e-6) ** weights[i]
        if i < levels - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return out


# ---------------------------------------------------------------------------------------------
# Losses: module(img, target) -> [N], images [N, 3, H, W] in [-1, 1]


class ReconstructionLoss(torch.nn.Module):
    """Base class: ``forward(img, target) -> [N]``; ``name`` says which loss this is."""

    name = "base"


class PixelLoss(ReconstructionLoss):
    """``l2_weight * MSE + ssim_weight * (1 - MS-SSIM)``; needs no network."""

    def __init__(self, l2_weight: float = 1.0, ssim_weight: float = 0.5):
        super().__init__()
        self.l2_weight, self.ssim_weight = l2_weight, ssim_weight
        self.name = "l2+msssim" if ssim_weight else "l2"

    def forward(self, img: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        out = self.l2_weight * (img - target).square().flatten(1).mean(1)
        if self.ssim_weight:
            out = out + self.ssim_weight * (1 - ms_ssim(img, target))
        return out


class DiscriminatorFeatureLoss(ReconstructionLoss):
    """LPIPS-style distance in a StyleGAN discriminator's block features, plus `PixelLoss`.

    Features at each resolution are unit-normalised over channels and compared by mean squared
    difference (LPIPS without learned per-channel weights); the per-layer terms are averaged.

    Args:
        D: a `stylegan.Discriminator` at the generator's resolution (its parameters are frozen).
        feature_weight: weight of the feature term.
        l2_weight, ssim_weight: weights of the pixel terms (see `PixelLoss`).
    """

    name = "dfeat+l2+msssim"

    def __init__(self, D: Discriminator, feature_weight: float = 1.0, l2_weight: float = 1.0,
                 ssim_weight: float = 0.5):
        super().__init__()
        # a channels-last copy: mkldnn's convolutions run ~20 % faster on it on CPU (same values; measured at
        # 128 px, bench/photo_latent.py); a copy, so the caller's D keeps its layout
        self.D = copy.deepcopy(D).eval().requires_grad_(False).to(memory_format=torch.channels_last)
        self._target_cache: tuple = (None, -1, [])
        self.feature_weight = feature_weight
        self.pixel = PixelLoss(l2_weight, ssim_weight)

    def features(self, img: torch.Tensor) -> list[torch.Tensor]:
        """Channel-normalised features `[N, C_r, r, r]` of every D block."""
        _, feats = self.D(img.contiguous(memory_format=torch.channels_last), return_features=True)
        return [f / (f.square().sum(1, keepdim=True) + 1e-10).sqrt() for f in feats.values()]

    def _target_features(self, target: torch.Tensor) -> list[torch.Tensor]:
        """`features(target)`, kept for the next call with the same unchanged target: a projection compares
        every step's image with one fixed target, and D's pass over it is ~15 % of a step at 128 px."""
        if target.requires_grad:
            return self.features(target)
        ref, version, feats = self._target_cache
        if ref is None or ref() is not target or version != target._version:
            with torch.no_grad():
                feats = self.features(target)
            # a weak reference: the cache never keeps a target alive, and a new tensor never matches an old one
            self._target_cache = (weakref.ref(target), target._version, feats)
        return feats

    def forward(self, img: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fi, ft = self.features(img), self._target_features(target)
        feat = torch.stack([(a - b).square().sum(1).flatten(1).mean(1) for a, b in zip(fi, ft)]).mean(0)
        return self.feature_weight * feat + self.pixel(img, target)


class LPIPSLoss(ReconstructionLoss):
    """LPIPS-VGG (v0.1) with the backbone read from a local torchvision file; nothing downloaded.

    Images larger than 256 px are area-downsampled to 256 first, as in the NVlabs projector.
    """

    name = "lpips"

    def __init__(self, vgg_weights: str | os.PathLike):
        super().__init__()
        import lpips

        self.net = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False)
        state = torch.load(str(vgg_weights), map_location="cpu", weights_only=True)
        feats = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
        if not feats:
            raise ValueError(f"{vgg_weights}: not torchvision VGG16 weights (no 'features.*' tensors)")
        for i in range(1, 6):
            for name, module in getattr(self.net.net, f"slice{i}").named_children():
                if isinstance(module, torch.nn.Conv2d):
                    module.weight.data.copy_(feats[f"{name}.weight"])
                    module.bias.data.copy_(feats[f"{name}.bias"])
        self.net.eval().requires_grad_(False)

    def forward(self, img: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if img.shape[-1] > 256:
            img, target = F.adaptive_avg_pool2d(img, 256), F.adaptive_avg_pool2d(target, 256)
        return self.net(img, target).flatten(1).sum(1)


def make_loss(kind: str = "auto", D: Discriminator | None = None,
              lpips_weights: str | os.PathLike | None = None) -> ReconstructionLoss:
    """Build a reconstruction loss.

    Args:
        kind: 'auto' (LPIPS if its VGG weights are local, else D features if `D` is given, else
            pixels), or one of 'lpips', 'dfeat+l2+msssim', 'l2+msssim', 'l2'.
        D: discriminator for the feature loss.
        lpips_weights: path to torchvision's `vgg16-397923af.pth`; default: the torch hub cache.

    Returns:
        A `ReconstructionLoss`; its ``name`` is what was actually used.

    Raises:
        ValueError: unknown kind, or 'dfeat+l2+msssim' without a discriminator.
        FileNotFoundError: 'lpips' asked for but no local VGG weights.
    """
    if kind not in LOSS_NAMES:
        raise ValueError(f"unknown loss {kind!r}; choose one of {', '.join(LOSS_NAMES)}")
    if kind in ("auto", "lpips"):
        vgg = find_vgg_weights(lpips_weights)
        if vgg is not None:
            return LPIPSLoss(vgg)
        if kind == "lpips":
            raise FileNotFoundError(
                f"LPIPS needs torchvision's VGG16 weights ({VGG16_FILE}) and none are in "
                f"{Path(torch.hub.get_dir()) / 'checkpoints'}; pass --lpips-weights PATH or use --loss auto")
        fallback = "dfeat+l2+msssim" if D is not None else "l2+msssim"
        _warn_once("lpips", f"LPIPS unavailable (no local {VGG16_FILE}; nothing is downloaded): using "
                            f"'{fallback}' instead. Pass lpips_weights=/--lpips-weights to use LPIPS.")
        kind = fallback
    if kind == "dfeat+l2+msssim":
        if D is None:
            raise ValueError("loss 'dfeat+l2+msssim' needs a discriminator (D=...); use 'l2+msssim' without one")
        return DiscriminatorFeatureLoss(D)
    return PixelLoss(ssim_weight=0.0 if kind == "l2" else 0.5)
