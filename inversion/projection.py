"""Optimisation-based projection of an image into W or W+ (Karras et al. 2020, Sec. 5 and NVlabs'
`projector.py`), with the library's own faster defaults.

`project(G, target)` uses the preset 'auto': W+, 50 Adam steps from the encoder registered for G
(e4e-style, `inversion.encoder.find_encoder`) at lr 0.05, or, when G has none, 200 steps from the best of 16
mapped candidates at lr 0.1, with no noise on w (the start is already a good guess), and, for the
shipped synthetic-head generators, an identity term (the attribute oracle's 1 - cos, weight 0.1,
`inversion.identity_term`) beside the reconstruction loss. On the default
model it reaches the NVlabs baseline's final PSNR in a small fraction of its time (bench/RESULTS.md).
`preset='nvlabs'` is the NVlabs schedule: W, 1000 steps from w_avg, Adam at lr 0.1 with a 5 % linear
ramp-up and a 25 % cosine ramp-down, Gaussian noise of 0.05 sigma_w added to w and fading out
(quadratically) by 75 % of the steps. Both optimise the per-layer noise maps too, with an
autocorrelation penalty (weight 1e5), renormalised after every step. Any argument given explicitly
overrides the preset. The generator is never modified: the optimised noise maps are passed to
`G.synthesis`.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
import weakref
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Literal, Union

import numpy as np
import PIL.Image
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from stylegan import Discriminator, Generator, discriminator_path, find_discriminator
from stylegan.images import from_uint8, to_uint8
from stylegan.utils import assert_shape

from .identity_term import resolve_identity
from .image_io import ImageLike, describe, load_image
from .losses import ReconstructionLoss, find_vgg_weights, make_loss, psnr

if TYPE_CHECKING:  # encoder.py is imported lazily (only when a start needs it)
    from .encoder import Encoder

Space = Literal["w", "w+"]
Preset = Literal["auto", "nvlabs"]
TargetLike = Union[torch.Tensor, ImageLike]


class ProjectionError(ValueError):
    """A target or latent that cannot be projected (NaN/Inf values, wrong shape)."""


class TargetResizedWarning(UserWarning):
    """The target was not at the generator's resolution and was resized (and centre-cropped)."""


@dataclass
class ProjectionResult:
    """What `project` found.

    Attributes:
        ws: `[N, num_ws, w_dim]`, N = 1 for one target (in W all rows are equal).
        noise: optimised noise maps `{name: [r, r]}` (`[N, r, r]` for a batch of targets), names relative
            to `G.synthesis` (e.g. 'b8.conv0.noise_const'); empty when noise was not optimised.
        history: per-step lists 'step', 'loss', 'dist', 'identity' (the identity term, 1 - cos; 0 without
            one), 'noise_reg', 'lr', 'psnr', 'time' (seconds
            since the start, including initialisation), plus 'loss_name' (the loss actually used),
            'space', 'init'.
        image: the final reconstruction `[N, 3, R, R]` in [-1, 1].
        frames: uint8 `[R, R, 3]` snapshots (of the first target) when `frame_every > 0` (for a progress GIF).
    """

    ws: torch.Tensor
    noise: dict[str, torch.Tensor]
    history: dict[str, Any]
    image: torch.Tensor
    frames: list[np.ndarray] = field(default_factory=list)

    @property
    def loss_name(self) -> str:
        return self.history["loss_name"]


def check_finite(t: torch.Tensor, name: str) -> None:
    """Raise `ProjectionError` if `t` holds NaN or Inf."""
    if not torch.isfinite(t).all():
        bad = (~torch.isfinite(t)).sum().item()
        raise ProjectionError(f"{name} contains {bad} NaN/Inf value(s); fix the input (e.g. re-save the "
                              "image, or check the code that produced the latent)")


def prepare_target(target: TargetLike, resolution: int) -> torch.Tensor:
    """Turn a path, PIL image, uint8 array or tensor into `[1, 3, R, R]` float in [-1, 1] (a tensor batch
    `[N, 3, H, W]` stays `[N, 3, R, R]`).

    A tensor must be `[3, H, W]` or `[N, 3, H, W]` in [-1, 1]; arrays and files go through
    `inversion.image_io.load_image` (format, size and EXIF guards). A non-square image is
    centre-cropped and any other size resized (Lanczos / antialiased bilinear), with a
    `TargetResizedWarning`: the result is only meaningful for an FFHQ-aligned face (`sgt align`).

    Raises:
        ProjectionError: NaN/Inf values, or a tensor of the wrong shape.
        ImageReadError: unreadable file or bad array (from `load_image`).
    """
    if isinstance(target, torch.Tensor):
        t = target.detach().float()
        if t.ndim == 3:
            t = t[None]
        if t.ndim != 4 or t.shape[1] != 3 or t.shape[0] < 1:
            raise ProjectionError(f"target tensor must be [N, 3, H, W] or [3, H, W] in [-1, 1], got {list(target.shape)}")
        check_finite(t, "target")
        name = "the target tensor"
    else:
        name = describe(target)
        if isinstance(target, np.ndarray) and np.issubdtype(target.dtype, np.floating) and not np.isfinite(target).all():
            raise ProjectionError(f"{name} contains NaN/Inf values; fix the input array")
        t = from_uint8(load_image(target).copy())  # PIL-backed arrays can be read-only
    h, w = t.shape[-2:]
    if (h, w) == (resolution, resolution):
        return t
    warnings.warn(f"{name} is {w}x{h}, the generator makes {resolution}x{resolution}: "
                  f"{'centre-cropping and ' if h != w else ''}resizing it. Projection expects an FFHQ-aligned face "
                  "(run `sgt align` or pass --align).", TargetResizedWarning, stacklevel=2)
    s = min(h, w)
    t = t[..., (h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
    return F.interpolate(t, size=(resolution, resolution), mode="bilinear", antialias=True,
                         align_corners=False).clamp(-1, 1)


#: `project(identity=...)` left out: the preset's choice ('auto' for preset 'auto', None for 'nvlabs').
FROM_PRESET: Any = type("FromPreset", (), {"__repr__": lambda self: "FROM_PRESET"})()

_W_STATS: "weakref.WeakKeyDictionary[Generator, tuple]" = weakref.WeakKeyDictionary()


@torch.no_grad()
def w_stats(G: Generator, num_samples: int = 10_000, seed: int = 123) -> tuple[torch.Tensor, float]:
    """Mean `[1, 1, w_dim]` and spread sigma_w of W, estimated from `num_samples` mapped z (cached per G).

    sigma_w = sqrt(E ||w - w_mean||^2), as in the NVlabs projector.
    """
    key = (num_samples, seed)
    cached = _W_STATS.get(G)
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    device = G.w_avg.device
    z = torch.from_numpy(np.random.RandomState(seed).randn(num_samples, G.z_dim)).float().to(device)
    w = torch.cat([G.mapping(zc, None)[:, :1] for zc in z.split(2048)])  # [N, 1, w_dim]
    w_mean = w.mean(0, keepdim=True)
    w_std = float(((w - w_mean).square().sum() / num_samples).sqrt())
    _W_STATS[G] = (key, w_mean, w_std)
    return w_mean, w_std


def noise_buffers(G: Generator) -> dict[str, torch.Tensor]:
    """`{name: noise_const [r, r]}` of every synthesis layer that uses noise."""
    return {n: b for n, b in G.synthesis.named_buffers() if n.endswith("noise_const")}


def render(G: Generator, ws: torch.Tensor, noise: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """`G.synthesis(ws, noise_mode='const')` with `noise` (from a `ProjectionResult`) in place of
    the stored noise maps, leaving G untouched. ws `[N, num_ws, w_dim]` -> `[N, 3, R, R]`."""
    return G.synthesis(ws, noise_mode="const", noise=noise or None)


#: (discriminator folder, its weights' mtime, device) -> the D-feature loss built on it. Kept (one entry) because
#: a projection without D= would otherwise load the found discriminator and copy it (channels-last) on every call:
#: milliseconds at 128 px, ~120 MB and a second per call for a 1024 px model. Sharing is safe: the loss has no
#: state but its target-feature cache, which checks the target's identity and version before use.
_FOUND_LOSS: dict[tuple[str, float, str], ReconstructionLoss] = {}


def found_feature_loss(G: Generator) -> ReconstructionLoss | None:
    """The 'auto' loss on the discriminator saved beside `G` (`stylegan.find_discriminator`), built once per
    (folder, weights' mtime, device); None when G has no saved discriminator."""
    path = discriminator_path(G)
    if path is None:
        return None
    key = (str(path), max(f.stat().st_mtime for f in path.iterdir()), str(G.w_avg.device))
    if key not in _FOUND_LOSS:
        _FOUND_LOSS.clear()
        _FOUND_LOSS[key] = make_loss("auto", D=find_discriminator(G)).to(G.w_avg.device)
    return _FOUND_LOSS[key]


@contextlib.contextmanager
def frozen(*modules: torch.nn.Module | None) -> Iterator[None]:
    """Temporarily turn off `requires_grad` on every parameter (no gradients wasted on G or D)."""
    saved = [(p, p.requires_grad) for m in modules if m is not None for p in m.parameters()]
    for p, _ in saved:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in saved:
            p.requires_grad_(flag)


def noise_regularizer(noise: dict[str, torch.Tensor]) -> torch.Tensor:
    """Squared autocorrelation of each noise map at shifts of one pixel, over a pyramid down to 8x8
    (Karras et al. 2020, Eq. 4): keeps the optimised noise from absorbing image content."""
    reg = next(iter(noise.values())).new_zeros([])
    for v in noise.values():
        v = v.reshape(-1, 1, *v.shape[-2:])  # [r, r] or one map per image [N, r, r]: each image's sum
        while True:
            reg = reg + ((v * torch.roll(v, 1, dims=3)).mean((1, 2, 3)).square()
                         + (v * torch.roll(v, 1, dims=2)).mean((1, 2, 3)).square()).sum()
            if v.shape[2] <= 8:
                break
            v = F.avg_pool2d(v, 2)
    return reg


@torch.no_grad()
def renormalise_noise(noise: dict[str, torch.Tensor]) -> None:
    """In place, each map (`[r, r]`, or each image's of `[N, r, r]`) back to zero mean and unit variance after an
    optimiser step (NVlabs' projector)."""
    for v in noise.values():
        v -= v.mean((-2, -1), keepdim=True)
        v *= v.square().mean((-2, -1), keepdim=True).rsqrt()


def lr_schedule(t: float, lr: float, rampup: float = 0.05, rampdown: float = 0.25) -> float:
    """NVlabs' learning rate at progress `t` in [0, 1]: linear ramp-up, cosine ramp-down."""
    ramp = min(1.0, (1.0 - t) / rampdown) if rampdown > 0 else 1.0
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return lr * ramp * (min(1.0, t / rampup) if rampup > 0 else 1.0)


@torch.no_grad()
def best_candidate(G: Generator, target: torch.Tensor, loss_fn: ReconstructionLoss, num: int,
                   seed: int = 0, batch: int = 16) -> torch.Tensor:
    """The best starting point among w_avg and `num` mapped samples (truncated by 0.7 toward the mean
    so that candidates are typical faces), judged by `loss_fn`. Returns `[1, 1, w_dim]`."""
    w_mean, _ = w_stats(G)
    z = torch.from_numpy(np.random.RandomState(seed).randn(num, G.z_dim)).float().to(target.device)
    cands = torch.cat([w_mean, w_mean + 0.7 * (G.mapping(z, None)[:, :1] - w_mean)])
    losses = torch.cat([loss_fn(G.synthesis(c.expand(-1, G.num_ws, -1), noise_mode="const"), target.expand(len(c), -1, -1, -1))
                        for c in cands.split(batch)])
    return cands[losses.argmin()][None]


# The library's policy lives here and nowhere else: the CLI, the demo and the benchmarks call
# `project` with the arguments their users chose and leave the rest to the preset. 'auto' is the
# measured best on the default model (bench/inversion.py, bench/RESULTS.md); 'nvlabs' is the
# baseline it is measured against (NVlabs projector.py defaults).
PRESETS: dict[str, dict[str, Any]] = {
    # 50 steps from an encoder: with the identity term they keep more identity (by the judge) than 200 did
    # without it, in a quarter of the time (bench/RESULTS.md, "Fast default inversion"); a start without
    # an encoder is far from the target and keeps 200. id_weight 0.1 (was 0.3): chosen on validation heads
    # by the oracle and PSNR alone (the smallest weight whose oracle retrieval is the best's, 100 %: higher
    # PSNR), never by the judge; on the held-out protocol it keeps the judge's figure and gains PSNR
    # (bench/RESULTS.md, "The identity term's weight")
    "auto": dict(space="w+", steps={"encoder": 50, "w_avg": 200, "ws": 50}, init="auto", candidates=16, w_noise=0.0,
                 lr={"encoder": 0.05, "w_avg": 0.1, "ws": 0.05}, identity="auto", id_weight=0.1),
    "nvlabs": dict(space="w", steps=1000, init="w_avg", candidates=0, w_noise=0.05,
                   lr={"encoder": 0.1, "w_avg": 0.1, "ws": 0.1}, identity=None, id_weight=0.0),
}


def preset_fingerprint(preset: str = "auto") -> str:
    """A short hash of a preset's settings: caches of inversions made with the library default (the swap and
    video protocols') key on it, so a changed default re-inverts instead of reusing stale codes."""
    import hashlib
    import json

    return hashlib.sha1(json.dumps(PRESETS[preset], sort_keys=True).encode()).hexdigest()[:12]


def default_signature(G: Generator, preset: str = "auto") -> str:
    """What `project(G, target)` with `preset` inverts with: the preset's settings and the loss 'auto' becomes for
    G ('lpips', 'dfeat' with the discriminator found beside G, or 'pixels'). Caches and training data made with
    the library default (the swap and video protocols, swap training data) key on it."""
    kind = "lpips" if find_vgg_weights(None) is not None else "dfeat" if discriminator_path(G) is not None else "pixels"
    return f"{preset_fingerprint(preset)}/{kind}"


@dataclass
class ProjectionSettings:
    """The settings a projection ran with, after the preset filled in what was not given.

    `init` is resolved: 'encoder', 'w_avg' (with `candidates` > 0: the best of that many mapped
    samples) or 'ws' (a given tensor). `identity` names the identity term's network (None: no term).
    """

    preset: str
    space: Space
    steps: int
    init: str
    candidates: int
    lr: float
    w_noise: float
    identity: str | None = None  # the identity term's network ('oracle', 'IdentityNet', ...) or None
    id_weight: float = 0.0


def resolve_settings(G: Generator, preset: str = "auto", *, space: Space | None = None, steps: int | None = None,
                     init: str | torch.Tensor | None = None, candidates: int | None = None, lr: float | None = None,
                     w_noise: float | None = None,
                     encoder: Encoder | None = None, identity: Any = FROM_PRESET,
                     id_weight: float | None = None) -> tuple[ProjectionSettings, Encoder | None]:
    """Fill in every setting not given from `preset` and find the encoder for init 'auto'.

    `identity` and `id_weight` are `project`'s (the identity term; see `inversion.identity_term`).

    Returns:
        The settings, and the encoder to start from (None unless init resolved to 'encoder').

    Raises:
        ValueError: unknown preset, space or init; init='encoder' with no encoder given or registered;
            a negative id_weight or an identity that is not one (the judge included).
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    p = PRESETS[preset]
    space = p["space"] if space is None else space
    if space not in ("w", "w+"):
        raise ValueError(f"space must be 'w' or 'w+', got {space!r}")
    init = p["init"] if init is None else init
    if isinstance(init, torch.Tensor):
        kind = "ws"
    elif init in ("auto", "encoder"):
        if encoder is None:
            from .encoder import find_encoder

            encoder = find_encoder(G)
        if encoder is None and init == "encoder":
            raise ValueError("init='encoder': no encoder given (encoder=inversion.load_encoder(DIR)) and none is "
                             "registered for this generator; train one with `sgt train-encoder`, or use init='w_avg'")
        kind = "encoder" if encoder is not None else "w_avg"
    elif init == "w_avg":
        kind = "w_avg"
    else:
        raise ValueError(f"init must be 'auto', 'encoder', 'w_avg' or a ws tensor [1, num_ws, w_dim], got {init!r}")
    if candidates is None:
        candidates = p["candidates"] if kind == "w_avg" else 0
    if w_noise is None:
        # noise on w helps only a start from the mean (NVlabs); it undoes a good guess
        w_noise = p["w_noise"] if kind == "w_avg" and candidates == 0 else 0.0
    if id_weight is None:  # a network given with a preset that has no term (nvlabs) gets auto's weight
        explicit = identity is not FROM_PRESET and identity is not None
        id_weight = p["id_weight"] or (PRESETS["auto"]["id_weight"] if explicit else 0.0)
    id_weight = float(id_weight)
    if not id_weight >= 0:
        raise ValueError(f"id_weight must be >= 0, got {id_weight}")
    term = resolve_identity(G, p["identity"] if identity is FROM_PRESET else identity) if id_weight > 0 else None
    preset_steps = p["steps"][kind] if isinstance(p["steps"], dict) else p["steps"]
    settings = ProjectionSettings(preset=preset, space=space, steps=preset_steps if steps is None else int(steps),
                                  init=kind, candidates=int(candidates),
                                  lr=p["lr"][kind] if lr is None else float(lr), w_noise=float(w_noise),
                                  identity=term.name if term is not None else None,
                                  id_weight=id_weight if term is not None else 0.0)
    if settings.steps < 0 or settings.candidates < 0 or settings.lr <= 0:
        raise ValueError(f"steps and candidates must be >= 0 and lr > 0, got {settings}")
    return settings, encoder if kind == "encoder" else None


def _initial_ws(G: Generator, init: str | torch.Tensor, space: Space, target: torch.Tensor,
                loss_fn: ReconstructionLoss, encoder: Encoder | None, candidates: int,
                seed: int) -> torch.Tensor:
    if isinstance(init, torch.Tensor):
        ws = init.detach().float().to(target.device)
        if ws.ndim == 2:
            ws = ws[None]
        if ws.shape[1] == 1:
            ws = ws.expand(-1, G.num_ws, -1)
        if ws.shape[0] == 1:
            ws = ws.expand(len(target), -1, -1)
        assert_shape(ws, [len(target), G.num_ws, G.w_dim], "init ws")
        check_finite(ws, "init ws")
    elif init == "encoder":
        with torch.no_grad():
            ws = encoder(target)
        check_finite(ws, "the encoder's ws")
    elif candidates > 0:
        ws = torch.cat([best_candidate(G, t, loss_fn, candidates, seed) for t in target.split(1)]).expand(
            -1, G.num_ws, -1)
    else:
        ws = w_stats(G)[0].expand(len(target), G.num_ws, -1)
    return ws.mean(1, keepdim=True) if space == "w" else ws.clone()


def project(
    G: Generator,
    target: TargetLike,
    space: Space | None = None,
    steps: int | None = None,
    init: str | torch.Tensor | None = None,
    *,
    preset: Preset = "auto",
    lr: float | None = None,
    lr_rampup: float = 0.05,
    lr_rampdown: float = 0.25,
    w_noise: float | None = None,
    w_noise_ramp: float = 0.75,
    noise_reg: float = 1e5,
    optimize_noise: bool | None = None,
    candidates: int | None = None,
    loss: str | ReconstructionLoss = "auto",
    D: Discriminator | None = None,
    lpips_weights: str | os.PathLike | None = None,
    encoder: Encoder | None = None,
    identity: Any = FROM_PRESET,
    id_weight: float | None = None,
    seed: int = 0,
    frame_every: int = 0,
    progress: bool = True,
) -> ProjectionResult:
    """Find ws whose image matches `target`, with the library's best defaults.

    Every argument left at None comes from `preset` (see `PRESETS`; the settings used are in
    `result.history['settings']`).

    Args:
        G: generator; not modified.
        target: aligned face: tensor `[1, 3, H, W]` in [-1, 1], uint8 array `[H, W, 3]`, PIL image
            or path (resized with a warning if not `R x R`); or a batch `[N, 3, H, W]`: N independent
            projections in one pass (each as if projected alone; cheaper per face on a CPU), and the
            result's ws, noise maps and image have N rows (`history` holds the sums and mean PSNR).
        space: 'w' (one w for all layers, NVlabs) or 'w+' (one w per layer). 'auto': w+.
        steps: optimisation steps (0: return the initialisation). 'auto': 50 from an encoder or a given ws,
            200 from candidates.
        init: 'auto' (the encoder registered for G, else w_avg with candidates), 'encoder' (start from
            `encoder(target)`), 'w_avg' (NVlabs; the best of `candidates` mapped samples when > 0) or
            a ws tensor `[1, num_ws, w_dim]`.
        preset: 'auto' (W+, 50 steps from the encoder or 200 from the best of 16, identity term) or 'nvlabs'
            (W, 1000 steps, w_avg,
            lr 0.1, w noise 0.05).
        lr, lr_rampup, lr_rampdown: Adam learning rate and its schedule (fractions of `steps`).
            'auto': 0.05 from an encoder or a given ws, 0.1 from candidates.
        w_noise, w_noise_ramp: noise on w, in units of sigma_w, fading out by `w_noise_ramp` of the steps.
            Default: 0.05 for a plain w_avg start, else 0 (noise undoes a good start).
        noise_reg: weight of the noise-map regulariser.
        optimize_noise: optimise the per-layer noise maps; default: when G's noise strengths are not all 0.
        candidates: with a w_avg start, start from the best of w_avg and this many mapped samples.
        loss: 'auto' | 'lpips' | 'dfeat+l2+msssim' | 'l2+msssim' | 'l2', or a `ReconstructionLoss`.
        D: discriminator for the D-feature fallback loss; with loss 'auto', the one saved beside G when G is a
            registered model of ours (`stylegan.find_discriminator`, as the encoder is found), so every caller of
            the default (`sgt project`, `swap()`, the data builders, the protocols) inverts alike.
        lpips_weights: local torchvision VGG16 weights for LPIPS.
        encoder: an `inversion.encoder.Encoder` to start from (instead of the registered one).
        identity: the identity term's network (`inversion.identity_term`): 'auto' (preset 'auto': the
            attribute oracle for the shipped synthetic-head generators, none for others), 'oracle', an
            identity network (e.g. ArcFace, `inversion.load_identity_net`), or None (preset 'nvlabs').
        id_weight: weight of the identity term, 1 - cos of the embeddings ('auto': 0.1; 0: off).
        seed: seeds the noise maps, the candidates and the w noise.
        frame_every: keep a uint8 snapshot every this many steps in `result.frames` (0: none).
        progress: show a tqdm bar.

    Returns:
        `ProjectionResult` with ws `[1, num_ws, w_dim]`, noise, history, image.

    Raises:
        ProjectionError: NaN/Inf in the target or an initial latent.
        ValueError: bad `preset` / `space` / `init` / `loss`.

    Example:
        >>> import torch, stylegan
        >>> _ = torch.manual_seed(0)
        >>> G = stylegan.Generator(z_dim=8, w_dim=8, img_resolution=8, channel_base=64, channel_max=8, mapping_layers=1)
        >>> r = project(G, G(torch.randn(1, 8)), steps=2, progress=False)
        >>> tuple(r.ws.shape), r.history['step'][-1], r.history['settings']['space']
        ((1, 4, 8), 1, 'w+')
    """
    t0 = time.perf_counter()  # history['time'] counts the encoder look-up and the start too
    settings, encoder = resolve_settings(G, preset, space=space, steps=steps, init=init, candidates=candidates,
                                         lr=lr, w_noise=w_noise, encoder=encoder, identity=identity, id_weight=id_weight)
    space, steps, lr, w_noise = settings.space, settings.steps, settings.lr, settings.w_noise
    init_arg = init if isinstance(init, torch.Tensor) else settings.init
    device = G.w_avg.device
    target_t = prepare_target(target, G.img_resolution).to(device)
    loss_fn = None
    if D is None and isinstance(loss, str) and loss == "auto" and find_vgg_weights(lpips_weights) is None:
        loss_fn = found_feature_loss(G)
    if loss_fn is None:
        loss_fn = loss if isinstance(loss, ReconstructionLoss) else make_loss(loss, D=D, lpips_weights=lpips_weights)
    loss_fn = loss_fn.to(device)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    id_term = None
    if settings.identity is not None and steps > 0:
        id_term = resolve_identity(G, PRESETS[preset]["identity"] if identity is FROM_PRESET else identity).to(device)
    with frozen(G, loss_fn, encoder, id_term):
        if id_term is not None:
            id_term.set_target(target_t)
        w_opt = _initial_ws(G, init_arg, space, target_t, loss_fn, encoder, settings.candidates,
                            seed).requires_grad_(True)
        _, w_std = w_stats(G)
        if optimize_noise is None:
            optimize_noise = any(float(m.noise_strength.abs()) > 0 for m in G.synthesis.modules()
                                 if hasattr(m, "noise_strength"))
        # every image starts from the same draw a single projection makes ([r, r]; one map per image for a
        # batch): the loss is a sum over images and Adam is per element, so a batch is N independent projections
        n_img = len(target_t)
        noise = {n: torch.randn(b.shape, generator=gen).to(device).expand(*([n_img] if n_img > 1 else []), *b.shape)
                 .clone().requires_grad_(True) for n, b in noise_buffers(G).items()} if optimize_noise and steps > 0 else {}
        opt = torch.optim.Adam([w_opt, *noise.values()], lr=lr, betas=(0.9, 0.999))
        hist: dict[str, Any] = {k: [] for k in ("step", "loss", "dist", "identity", "noise_reg", "lr", "psnr", "time")}
        hist.update(loss_name=loss_fn.name, space=space, init=settings.init, settings=asdict(settings))
        frames: list[np.ndarray] = []
        bar = tqdm(range(steps), desc=f"project {space}", unit="step", disable=not progress, leave=False)
        for step in bar:
            t = step / steps
            cur_lr = lr_schedule(t, lr, lr_rampup, lr_rampdown)
            for g in opt.param_groups:
                g["lr"] = cur_lr
            scale = w_std * w_noise * max(0.0, 1.0 - t / w_noise_ramp) ** 2 if w_noise_ramp > 0 else 0.0
            w_in = w_opt + torch.randn(w_opt.shape, generator=gen).to(device) * scale if scale > 0 else w_opt
            img = render(G, w_in.expand(-1, G.num_ws, -1), noise)
            dist = loss_fn(img, target_t).sum()
            ident = id_term(img).sum() if id_term is not None else torch.zeros([], device=device)
            reg = noise_regularizer(noise) if noise else torch.zeros([], device=device)
            total = dist + settings.id_weight * ident + noise_reg * reg
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            renormalise_noise(noise)
            for k, v in (("step", step), ("loss", total.item()), ("dist", dist.item()), ("identity", ident.item()),
                         ("noise_reg", reg.item()),
                         ("lr", cur_lr), ("psnr", float(psnr(img.detach(), target_t).mean())),
                         ("time", time.perf_counter() - t0)):
                hist[k].append(v)
            if frame_every and step % frame_every == 0:
                frames.append(to_uint8(img)[0])
            if step % 10 == 0:
                bar.set_postfix(dist=f"{hist['dist'][-1]:.4f}", psnr=f"{hist['psnr'][-1]:.2f}")
        ws = w_opt.detach().expand(-1, G.num_ws, -1).clone()
        noise_out = {n: v.detach().clone() for n, v in noise.items()}
        with torch.no_grad():
            image = render(G, ws, noise_out)
    if frame_every:
        frames.append(to_uint8(image)[0])
    check_finite(ws, "the projected ws (the optimisation diverged; lower lr)")
    return ProjectionResult(ws=ws, noise=noise_out, history=hist, image=image, frames=frames)


def save_gif(frames: list[np.ndarray], path: str | os.PathLike, duration_ms: int = 80) -> None:
    """Write uint8 `[H, W, 3]` frames as a looping GIF (the last frame held longer)."""
    imgs = [PIL.Image.fromarray(f) for f in frames]
    durations = [duration_ms] * (len(imgs) - 1) + [1000]
    imgs[0].save(path, format="GIF", save_all=True, append_images=imgs[1:], duration=durations, loop=0)
