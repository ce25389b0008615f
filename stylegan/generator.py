"""StyleGAN2 generator (Karras et al. 2020, config F, 'skip' outputs) with NVlabs' names and API."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import torch

from stylegan.netconfig import ChannelTable
from stylegan.layers import FullyConnectedLayer, SynthesisLayer, ToRGBLayer, normalize_2nd_moment
from stylegan.ops import setup_filter, upsample2d
from stylegan.utils import assert_shape

NOISE_MODES = ("const", "random", "none")
NOISE_SUFFIX = ".noise_const"  # noise maps are named like the buffers they replace: 'b8.conv0.noise_const'
CHANNELS_LAST_MIN_RES = 32  # CPU blocks from this resolution up compute channels-last


@dataclass
class GeneratorConfig(ChannelTable):
    """Everything needed to rebuild a generator; written to `config.json` by `save_pretrained`."""

    z_dim: int = 512
    c_dim: int = 0
    w_dim: int = 512
    img_resolution: int = 1024
    img_channels: int = 3
    mapping_layers: int = 8
    mapping_lr_multiplier: float = 0.01
    channel_base: int = 32768
    channel_max: int = 512
    conv_clamp: float | None = None
    num_fp16_res: int = 0
    w_avg_beta: float = 0.995
    channels: dict[int, int] | None = field(default=None)  # explicit {resolution: channels}, overrides base/max

    def __post_init__(self) -> None:
        self._validate()

    @property
    def block_resolutions(self) -> list[int]:
        return [2 ** i for i in range(2, int(np.log2(self.img_resolution)) + 1)]

    @property
    def num_ws(self) -> int:
        """Number of w vectors: one per conv plus the final ToRGB (blocks share boundary ws)."""
        return 2 * len(self.block_resolutions)


class MappingNetwork(torch.nn.Module):
    """z (and optional label c) -> ws `[N, num_ws, w_dim]` through `num_layers` lrelu FC layers."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int = 8,
                 lr_multiplier: float = 0.01, w_avg_beta: float = 0.995):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        embed_features = w_dim if c_dim else 0
        features = [z_dim + embed_features] + [w_dim] * num_layers
        if c_dim:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(features[i], features[i + 1], activation="lrelu",
                                                        lr_multiplier=lr_multiplier))
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, update_emas: bool = False) -> torch.Tensor:
        assert_shape(z, [None, self.z_dim], "z")
        dtype = self.w_avg.dtype  # fp32 (fp64 after .double(), for reference checks)
        x = normalize_2nd_moment(z.to(dtype))
        if self.c_dim:
            if c is None:
                raise ValueError(f"this generator is conditional: pass c of shape [N, {self.c_dim}]")
            assert_shape(c, [z.shape[0], self.c_dim], "c")
            x = torch.cat([x, normalize_2nd_moment(self.embed(c.to(dtype)))], dim=1)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if update_emas:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            x[:, :cutoff] = self.w_avg.lerp(x[:, :cutoff], truncation_psi)
        return x


class SynthesisBlock(torch.nn.Module):
    """One resolution: (const | 2x up conv0) -> conv1 -> ToRGB added to the upsampled image."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 conv_clamp: float | None = None, use_fp16: bool = False):
        super().__init__()
        self.in_channels, self.resolution, self.use_fp16 = in_channels, resolution, use_fp16
        self.register_buffer("resample_filter", setup_filter([1, 3, 3, 1]))
        if in_channels == 0:
            self.const = torch.nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=conv_clamp)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1

    def layer_names(self) -> list[str]:
        return (["conv1"] if self.in_channels == 0 else ["conv0", "conv1"]) + ["torgb"]

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, styles: dict[str, torch.Tensor],
                noise_mode: str, force_fp32: bool, path: str, consume_input: bool = False,
                noise: Mapping[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """`x [N, C_in, r/2, r/2]` (for the first block: None, or `[N | 1, C, r, r]` replacing its constant)
        and `img` -> `(x [N, C, r, r], img)`.
        `consume_input`: x is not needed afterwards, so inference may overwrite it.
        `noise`: `{'conv0' | 'conv1': map}` overriding those layers' noise (see `SynthesisLayer`)."""
        noise = noise or {}
        dtype = torch.float16 if self.use_fp16 and not force_fp32 and styles["conv1"].device.type == "cuda" \
            else self.conv1.weight.dtype  # fp32 (fp64 after .double(): float64 reference checks)
        if self.in_channels == 0:
            n = styles["conv1"].shape[0]
            # a given x replaces the constant (copied: conv1 may overwrite its input)
            x = self.const.to(dtype).unsqueeze(0).repeat(n, 1, 1, 1) if x is None else \
                x.to(dtype).expand(n, -1, -1, -1).clone()
            consume_input = True
        if x.device.type == "cpu":
            # From 32 px up, oneDNN's convolutions, transposed convolutions and depthwise FIR filters run
            # 1.1-5x faster on NHWC tensors; below, NCHW is faster, and its fp32 sums over wide layers are
            # also ~10x more accurate (bench/RESULTS.md).
            fmt = torch.channels_last if self.resolution >= CHANNELS_LAST_MIN_RES else torch.contiguous_format
            x_fmt = x.contiguous(memory_format=fmt)
            consume_input = consume_input or x_fmt.data_ptr() != x.data_ptr()
            x = x_fmt
        if self.in_channels != 0:
            x_in = x.to(dtype)
            x = self.conv0(x_in, styles["conv0"], noise_mode=noise_mode, path=path,
                           overwrite_input=consume_input or x_in.data_ptr() != x.data_ptr(), noise=noise.get("conv0"))
        # conv1's input is always this block's own intermediate tensor.
        x = self.conv1(x, styles["conv1"], noise_mode=noise_mode, path=path, overwrite_input=True,
                       noise=noise.get("conv1"))
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        y = self.torgb(x, styles["torgb"], path=path)
        y = y.float() if y.dtype == torch.float16 else y  # the image accumulates in fp32 (fp64 if the model is)
        img = y if img is None else img + y
        return x, img


class SynthesisNetwork(torch.nn.Module):
    """ws `[N, num_ws, w_dim]` -> image `[N, img_channels, R, R]`."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = cfg.w_dim, cfg.img_resolution, cfg.img_channels
        self.block_resolutions = cfg.block_resolutions
        self.num_ws = cfg.num_ws
        fp16_resolution = max(2 ** (int(np.log2(cfg.img_resolution)) + 1 - cfg.num_fp16_res), 8)
        for res in self.block_resolutions:
            in_ch = cfg.channels_at(res // 2) if res > 4 else 0
            block = SynthesisBlock(in_ch, cfg.channels_at(res), cfg.w_dim, res, cfg.img_channels,
                                   conv_clamp=cfg.conv_clamp, use_fp16=(res >= fp16_resolution))
            setattr(self, f"b{res}", block)

    def style_layout(self) -> list[tuple[str, int]]:
        """`[(layer name, index into ws), ...]` for every modulated layer, in forward order."""
        out, w_idx = [], 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            for k, name in enumerate(block.layer_names()):
                out.append((f"b{res}.{name}", w_idx + k))
            w_idx += block.num_conv
        return out

    def noise_shapes(self) -> dict[str, tuple[int, int]]:
        """`{'b4.conv1.noise_const': (4, 4), 'b8.conv0.noise_const': (8, 8), ...}`: every noise map's name
        (the buffer's, relative to `G.synthesis`, as the projector saves them) and shape, in forward order."""
        return {name + NOISE_SUFFIX: (m.resolution, m.resolution) for name, m in self.named_modules()
                if isinstance(m, SynthesisLayer) and m.use_noise}

    def check_noise(self, noise: Mapping[str, torch.Tensor], batch: int) -> dict[str, torch.Tensor]:
        """Validate per-layer noise maps for a batch of `batch` images.

        Args:
            noise: `{name: map}`; names as in `noise_shapes` (the '.noise_const' suffix may be left
                out); a map is `[r, r]` (shared by the batch), `[N, r, r]` or `[N, 1, r, r]` (per image,
                N = `batch` or 1).

        Returns:
            `{full name: [r, r] or [N, 1, r, r]}` (the caller's tensors, reshaped at most).

        Raises:
            ValueError: an unknown or repeated layer name, a wrong shape or a non-float map; the
                message names the layer and the expected shape.
        """
        if not noise:
            return {}
        shapes = self.noise_shapes()
        out: dict[str, torch.Tensor] = {}
        for key, value in noise.items():
            name = key if key.endswith(NOISE_SUFFIX) else key + NOISE_SUFFIX
            if name not in shapes:
                raise ValueError(f"noise: this generator has no noise layer {key!r}; its layers are "
                                 f"{', '.join(shapes)} (the '{NOISE_SUFFIX}' suffix is optional)")
            if name in out:
                raise ValueError(f"noise: layer {name!r} is given twice (with and without '{NOISE_SUFFIX}')")
            r = shapes[name][0]
            v = torch.as_tensor(value)
            per_image = v.ndim in (3, 4) and v.shape[0] in (1, batch) and tuple(v.shape[-2:]) == (r, r) \
                and (v.ndim == 3 or v.shape[1] == 1)
            if not (per_image or tuple(v.shape) == (r, r)) or not v.is_floating_point():
                raise ValueError(f"noise[{key!r}] must be a float map of shape [{r}, {r}] (shared), or [N, {r}, {r}] "
                                 f"or [N, 1, {r}, {r}] with N = {batch} (per image); got {list(v.shape)} {v.dtype}")
            out[name] = v.unsqueeze(1) if v.ndim == 3 else v
        return out

    def check_blend(self, blend: Mapping[int, Sequence[torch.Tensor | None]], batch: int
                    ) -> dict[int, tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
        """Validate `blend` for `forward`: `{res: (features, mask)}` or `{res: (features, mask, img)}`.

        Shapes (N = `batch` or 1, broadcast over the batch): features `[N, C_res, res, res]`, mask
        `[N, 1, res, res]`, img `[N, img_channels, res, res]`.

        Raises:
            ValueError: a resolution without a block, a malformed entry or a wrong shape (the message
                gives the expected one).
        """
        out = {}
        for res, entry in blend.items():
            if res not in self.block_resolutions:
                raise ValueError(f"blend: no block at resolution {res!r}; blocks are {self.block_resolutions}")
            if not isinstance(entry, (tuple, list)) or len(entry) not in (2, 3):
                raise ValueError(f"blend[{res}] must be (features, mask) or (features, mask, img)")
            features, mask, img = (*entry, None)[:3]
            channels = getattr(self, f"b{res}").conv1.out_channels
            _check_batched(features, [channels, res, res], batch, f"blend[{res}] features")
            _check_batched(mask, [1, res, res], batch, f"blend[{res}] mask")
            if img is not None:
                _check_batched(img, [self.img_channels, res, res], batch, f"blend[{res}] img")
            out[res] = (features, mask, img)
        return out

    def ws_to_styles(self, ws: torch.Tensor) -> dict[str, torch.Tensor]:
        """S space: every layer's affine output, `{'b4.conv1': [N, C_in], ...}`."""
        assert_shape(ws, [None, self.num_ws, self.w_dim], "ws")
        styles = {}
        for name, idx in self.style_layout():
            block, layer = name.split(".")
            affine = getattr(getattr(self, block), layer).affine
            styles[name] = affine(ws[:, idx].to(affine.weight.dtype))  # fp32, or fp64 for a .double() model
        return styles

    def forward(self, ws: torch.Tensor | None = None, noise_mode: str = "const", return_features: bool = False,
                styles: dict[str, torch.Tensor] | None = None, force_fp32: bool = False, path: str = "auto",
                noise: Mapping[str, torch.Tensor] | None = None,
                blend: Mapping[int, Sequence[torch.Tensor | None]] | None = None,
                const: torch.Tensor | None = None):
        """Render images from `ws` (or from precomputed S-space `styles`).

        Args:
            ws: `[N, num_ws, w_dim]`.
            noise_mode: 'const' (stored noise), 'random' or 'none'.
            return_features: also return `{resolution: [N, C_r, r, r]}`, each block's features
                (after blending, where `blend` asks for it).
            styles: S-space dict from `ws_to_styles` (possibly edited); replaces `ws`.
            force_fp32: ignore fp16 resolutions (always the case on CPU).
            path: modulated-conv path 'auto' | 'grouped' | 'scaled'.
            noise: per-layer noise maps `{'b8.conv0.noise_const': [r, r] | [N, r, r] | [N, 1, r, r], ...}`
                (names from `noise_shapes`, suffix optional); they replace those layers' noise whatever
                `noise_mode` says (other layers follow it), are scaled by each layer's `noise_strength`
                and are differentiable (projection optimises them).
            blend: `{res: (features, mask)}` or `{res: (features, mask, img)}`: after block `res`,
                `x = mask * features + (1 - mask) * x` (and the same for its skip image when `img` is
                given), and the next blocks continue from there; differentiable in all three. features
                `[N, C_res, res, res]`, mask `[N | 1, 1, res, res]` in [0, 1], img `[N, img_channels, res, res]`.
                Blending encoder features into the generator's per resolution under a soft mask is
                how feature-space swapping works (FSLSD; Xu et al. 2022).
            const: `[N | 1, C_4, 4, 4]` in place of the learned 4x4 constant input (C_4: b4's channels);
                MegaFS's encoder predicts this "structure tensor" from the target face (Zhu et al. 2021).

        Returns:
            img `[N, img_channels, R, R]` in about [-1, 1], or `(img, features)`.

        Raises:
            ValueError: a bad `noise_mode`, shape, noise layer name or blend resolution.
        """
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if styles is None:
            if ws is None:
                raise ValueError("pass ws [N, num_ws, w_dim] or styles")
            styles = self.ws_to_styles(ws)
        batch = next(iter(styles.values())).shape[0]
        block_noise: dict[str, dict[str, torch.Tensor]] = {}
        for name, v in self.check_noise(noise or {}, batch).items():
            block, layer = name.split(".")[:2]
            block_noise.setdefault(block, {})[layer] = v
        blend = self.check_blend(blend or {}, batch)
        x = img = None
        if const is not None:
            r0 = self.block_resolutions[0]
            _check_batched(const, [getattr(self, f"b{r0}").conv1.in_channels, r0, r0], batch, "const")
            x = const
        features: dict[int, torch.Tensor] = {}
        for res in self.block_resolutions:
            block_styles = {k.split(".")[1]: v for k, v in styles.items() if k.startswith(f"b{res}.")}
            # Without return_features, each block's output is only read by the next block (or by the
            # blend below, which makes a new tensor, so the caller's blend tensors are never overwritten).
            x, img = getattr(self, f"b{res}")(x, img, block_styles, noise_mode, force_fp32, path,
                                              consume_input=not return_features, noise=block_noise.get(f"b{res}"))
            if res in blend:
                x, img = _blend(x, img, *blend[res])
            if return_features:
                features[res] = x
        return (img, features) if return_features else img


def _check_batched(t: torch.Tensor, shape: list[int], batch: int, name: str) -> None:
    """Raise ValueError unless `t` is a float tensor `[batch or 1, *shape]`."""
    if not (isinstance(t, torch.Tensor) and t.is_floating_point() and t.ndim == len(shape) + 1
            and t.shape[0] in (1, batch) and list(t.shape[1:]) == shape):
        got = f"{list(t.shape)} {t.dtype}" if isinstance(t, torch.Tensor) else type(t).__name__
        raise ValueError(f"{name} must be a float tensor of shape [{batch} (or 1), {', '.join(map(str, shape))}], "
                         f"got {got}")


def _blend(x: torch.Tensor, img: torch.Tensor, features: torch.Tensor, mask: torch.Tensor,
           img_b: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """`mask * features + (1 - mask) * x` (and the same for the skip image) as one `lerp` each, which
    returns x exactly where mask is 0 and features exactly where it is 1; the result is a new tensor."""
    x = torch.lerp(x, features.to(x.device, x.dtype), mask.to(x.device, x.dtype))
    if img_b is not None:
        img = torch.lerp(img, img_b.to(img.device, img.dtype), mask.to(img.device, img.dtype))
    return x, img


class Generator(torch.nn.Module):
    """`G(z) = G.synthesis(G.mapping(z))`. Attributes: z_dim, c_dim, w_dim, num_ws, img_resolution,
    img_channels, w_avg (= mapping.w_avg)."""

    def __init__(self, config: GeneratorConfig | None = None, **kwargs):
        super().__init__()
        cfg = config if config is not None else GeneratorConfig(**kwargs)
        self.config = cfg
        self.z_dim, self.c_dim, self.w_dim = cfg.z_dim, cfg.c_dim, cfg.w_dim
        self.img_resolution, self.img_channels = cfg.img_resolution, cfg.img_channels
        self.synthesis = SynthesisNetwork(cfg)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(cfg.z_dim, cfg.c_dim, cfg.w_dim, self.num_ws, cfg.mapping_layers,
                                      cfg.mapping_lr_multiplier, cfg.w_avg_beta)

    @property
    def w_avg(self) -> torch.Tensor:
        """Average w `[w_dim]` (the truncation centre)."""
        return self.mapping.w_avg

    def fingerprint(self) -> str:
        """`stylegan.fingerprint(self)`: what encoders, PTI deltas and edits made for G record."""
        from stylegan.fingerprints import fingerprint

        return fingerprint(self)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, noise_mode: str = "const", update_emas: bool = False,
                **synthesis_kwargs):
        """`z [N, z_dim]` -> images `[N, img_channels, R, R]` in about [-1, 1]."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, noise_mode=noise_mode, **synthesis_kwargs)
