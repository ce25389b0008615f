"""StyleSpace: single-channel edits of the per-layer styles (Wu, Lischinski & Shechtman, CVPR 2021).

S space is every modulated layer's affine output, `s = A_l w_row + b_l` (`G.synthesis.ws_to_styles`).
The paper finds the channels that control an attribute from a few examples: normalise each channel
by its mean μ_c and standard deviation σ_c over many mapped samples, and rank channels by
|mean| / std of the examples' normalised codes (§4); ToRGB channels are left out (they recolour
rather than reshape). Here an example is a pair of latents (before, after) of one attribute change and
the normalised code is the style *difference* (s_after − s_before) / σ_c, so a channel scores high when
every example moves it the same way by a similar amount. An edit is `s_c += α · σ_c` (α ≈ ±5…20 in the
paper).

Where the example pairs come from (measured on synthheads, see the README): pairs (w, w + t·n) along
one fixed W direction (an InterFaceGAN boundary) are useless, because styles are affine in w: every
pair has exactly the same style difference, std = 0 for every channel and the ranking is rounding
noise. Pairs along each sample's oracle gradient were tried too: scores stayed ~1.3 and the top
channels moved yaw by < 1°. The default, `tail_examples`, pairs the lowest- with the highest-scoring
mapped samples of the attribute (the paper's exemplars, paired); `delta_examples` takes inverted
renders of real one-attribute sequences (`edits.delta.data`, the Delta-GAN data) where they exist.

StyleSpace edits act on styles, not on ws: `StyleEdit.apply(ws, ...)` raises; use
`edits.render(G, ws, [(edit, strength)])` (W/W+ edits first, then style edits, one synthesis) or
`edits.apply_styles(G, ws, [(edit, strength)])` for the styles dict.

    >>> channels = find_channels(G, tail_examples(G, "yaw"), top=5)    # doctest: +SKIP
    >>> e = stylespace(G, "yaw")                                        # doctest: +SKIP
    >>> img = edits.render(G, ws, [(e, 10.0)])                          # 10° to the image right; doctest: +SKIP
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

import torch

from sgtcore import modelio
from sgtcore.errors import CorruptCheckpointError

from .base import Edit, Strength, check_rows, check_strength, check_ws
from .calibration import Calibration

# calibration grid: α in units of σ_c (the paper edits with |α| of about 5 to 20)
CALIBRATION_GRID = (-20.0, -10.0, -5.0, 5.0, 10.0, 20.0)


@dataclass(frozen=True)
class Channel:
    """One style channel and how strongly the examples involve it.

    Attributes:
        layer: modulated layer ("b16.conv0").
        index: channel in that layer's style.
        row: the ws row the layer reads.
        score: |mean| / std of the examples' normalised style differences.
        mean: their signed mean (σ_c units): positive = the attribute grows with s_c.
        sigma: σ_c, the channel's std over mapped samples.
    """

    layer: str
    index: int
    row: int
    score: float
    mean: float
    sigma: float


def style_stats(G: torch.nn.Module, num_samples: int = 10_000, seed: int = 0,
                batch_size: int = 4096) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Mean and std (float64 `[C]` each) of every layer's style over `num_samples` mapped w (ψ = 1)."""
    from .directions.samples import mapped_w

    sums: dict[str, list[torch.Tensor]] = {}
    n = 0
    for w in mapped_w(G, num_samples, seed, batch_size):
        with torch.no_grad():
            styles = G.synthesis.ws_to_styles(w.float().to(G.w_avg.device)[:, None].repeat(1, G.num_ws, 1))
        for k, s in styles.items():
            s = s.double().cpu()
            acc = sums.setdefault(k, [torch.zeros(s.shape[1], dtype=torch.float64)] * 2)
            mean_b = s.mean(0)
            # Chan et al. pairwise merge of (count, mean, scatter), as edits.directions.samples does for w
            total = n + len(s)
            delta = mean_b - acc[0]
            sums[k] = [acc[0] + delta * (len(s) / total),
                       acc[1] + ((s - mean_b) ** 2).sum(0) + delta ** 2 * (n * len(s) / total)]
        n += len(w)
    return {k: (m, (sc / (n - 1)).sqrt()) for k, (m, sc) in sums.items()}


def _pairs(examples: Any, num_ws: int, w_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`(before, after)` `[K, num_ws, w_dim]` from a pair of tensors or a sequence of (before, after) pairs."""
    if isinstance(examples, tuple) and len(examples) == 2 and all(isinstance(e, torch.Tensor) for e in examples) \
            and examples[0].ndim == 3:
        before, after = examples
    else:
        items = list(examples)
        if not items or any(len(p) != 2 for p in items):
            raise ValueError("examples must be (before [K, num_ws, w_dim], after [K, num_ws, w_dim]) or a sequence "
                             "of (ws_before, ws_after) pairs")
        before = torch.cat([torch.as_tensor(p[0]).reshape(-1, num_ws, w_dim) for p in items])
        after = torch.cat([torch.as_tensor(p[1]).reshape(-1, num_ws, w_dim) for p in items])
    check_ws(before, num_ws, w_dim, "examples (before)")
    check_ws(after, num_ws, w_dim, "examples (after)")
    if before.shape != after.shape:
        raise ValueError(f"examples: before {list(before.shape)} and after {list(after.shape)} differ in shape")
    if len(before) < 2:
        raise ValueError(f"find_channels needs at least 2 example pairs (about 10 are typical), got {len(before)}")
    return before, after


def find_channels(G: torch.nn.Module, examples: Any, num_samples: int = 10_000, top: int = 10, *, seed: int = 0,
                  include_torgb: bool = False,
                  stats: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None) -> list[Channel]:
    """Rank style channels by how consistently the examples move them (StyleSpace §4).

    Args:
        G: the generator.
        examples: ~10 pairs of one attribute change: `(before, after)` tensors `[K, num_ws, w_dim]`, or a
            sequence of `(ws_before, ws_after)` pairs (each `[num_ws, w_dim]` or `[n, num_ws, w_dim]`).
        num_samples: mapped samples for μ_c, σ_c (seed `seed`); ignored when `stats` is given.
        top: how many channels to return.
        include_torgb: rank ToRGB channels too (the paper drops them).
        stats: precomputed `style_stats(G, ...)`.

    Returns:
        The `top` channels, best first.

    Raises:
        ValueError: fewer than 2 pairs, wrong shapes, NaN/Inf, a bad `top`.
    """
    before, after = _pairs(examples, G.num_ws, G.w_dim)
    stats = style_stats(G, num_samples, seed) if stats is None else stats
    rows = dict(G.synthesis.style_layout())
    dev = G.w_avg.device
    with torch.no_grad():
        sa, sb = G.synthesis.ws_to_styles(after.float().to(dev)), G.synthesis.ws_to_styles(before.float().to(dev))
    found: list[Channel] = []
    for layer, row in rows.items():
        if layer.endswith("torgb") and not include_torgb:
            continue
        sigma = stats[layer][1]
        d = (sa[layer].double().cpu() - sb[layer].double().cpu()) / sigma.clamp_min(1e-12)  # [K, C]
        mean, std = d.mean(0), d.std(0)
        # std 0 (identical differences, e.g. pairs along one fixed W direction) must not score infinite
        score = torch.where(mean.abs() < 1e-9, torch.zeros_like(mean), mean.abs() / std.clamp_min(1e-6))
        found += [Channel(layer, c, row, float(score[c]), float(mean[c]), float(sigma[c]))
                  for c in range(len(mean))]
    if not 1 <= top <= len(found):
        raise ValueError(f"top must be in 1..{len(found)} (the channels ranked), got {top}")
    found.sort(key=lambda ch: -ch.score)
    return found[:top]


def tail_examples(G: torch.nn.Module, attribute: str, num: int = 10, *, num_samples: int = 20_000,
                  seed: int = 2_000_000, oracle: Any = None,
                  batch_size: int = 250) -> tuple[torch.Tensor, torch.Tensor]:
    """Example pairs from the oracle: the `num` lowest- and the `num` highest-scoring of `num_samples` mapped
    samples, paired in rank order (lowest with highest, ...): `(before, after)` `[num, num_ws, w_dim]`.

    The paper ranks channels on exemplars that show the attribute; pairing high with low samples of
    random identities keeps the channels that differ consistently between them, while everything else
    (identity, the other attributes) varies from pair to pair and lands in the std.

    Args:
        G: the generator.
        attribute: an `edits.attributes` name.
        num: pairs (the paper uses about 10).
        num_samples: mapped samples scored (seed `seed`, apart from training and calibration seeds).
        oracle: default `synthetic.oracle.load()`.
    """
    from .directions.interfacegan import oracle_scorer, sample_ws, score_ws

    if not 2 <= 2 * num <= num_samples:
        raise ValueError(f"need 2 <= num and 2 * num <= num_samples, got num {num}, num_samples {num_samples}")
    w = sample_ws(G, num_samples, seed)
    order = torch.argsort(score_ws(G, w, oracle_scorer(attribute, oracle), batch_size))
    ws = w[:, None].repeat(1, G.num_ws, 1)
    return ws[order[:num]], ws[order.flip(0)[:num]]


def delta_examples(data: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Example pairs from a Delta-GAN dataset (`edits.delta.data.load(path, G)`): each head's first and last
    frame, `[heads, num_ws, w_dim]` each (inverted renders of the same change)."""
    return data.ws[:, 0].float(), data.ws[:, -1].float()


class StyleEdit(Edit):
    """`s[layer_k][:, c_k] += strength · sign_k · σ_k` for a few style channels.

    Args:
        layers: `[K]` layer names ("b16.conv0").
        channels: `[K]` channel indices.
        sigmas: `[K]` σ_c of each channel (strength is in σ_c units when uncalibrated).
        signs: `[K]` ±1: the direction each channel moves for positive strength.
        layer_rows: `[K]` ws row each layer reads (`G.synthesis.style_layout()`).
        name, method, attribute, unit, generator, metadata, calibration: see `Edit`.
        num_ws, w_dim: latent shape of the generator.
        info: how it was found (channel scores, examples).
    """

    space = "s"

    def __init__(self, layers: Sequence[str], channels: Sequence[int], sigmas: Sequence[float] | torch.Tensor,
                 signs: Sequence[float] | torch.Tensor | None = None, *, layer_rows: Sequence[int], name: str,
                 num_ws: int, w_dim: int, method: str = "stylespace", attribute: str | None = None, unit: str = "σ",
                 generator: str | None = None, info: dict | None = None, metadata: dict | None = None,
                 calibration: Calibration | None = None):
        k = len(layers)
        sig = torch.as_tensor(sigmas, dtype=torch.float32).reshape(-1).cpu()
        sgn = torch.ones(k) if signs is None else torch.as_tensor(signs, dtype=torch.float32).reshape(-1).cpu()
        ch = [int(c) for c in channels]
        if k == 0 or not (len(ch) == len(sig) == len(sgn) == len(layer_rows) == k):
            raise ValueError(f"StyleEdit needs K >= 1 channels with one layer, index, sigma, sign and row each; got "
                             f"{k} layers, {len(ch)} channels, {len(sig)} sigmas, {len(sgn)} signs, "
                             f"{len(layer_rows)} rows")
        if not torch.isfinite(sig).all() or (sig <= 0).any() or any(c < 0 for c in ch) or \
                not set(sgn.tolist()) <= {-1.0, 1.0}:
            raise ValueError("StyleEdit: sigmas must be positive and finite, channels >= 0, signs ±1")
        self.layers, self.channels, self.sigmas, self.signs = [str(x) for x in layers], ch, sig, sgn
        self.num_ws, self.w_dim = int(num_ws), int(w_dim)
        self.layer_rows = [check_rows(r, self.num_ws)[0] for r in layer_rows]
        self.rows = tuple(sorted(set(self.layer_rows)))
        self.name, self.method, self.attribute, self.unit = name, method, attribute, unit
        self.generator, self.info, self.metadata = generator, dict(info or {}), dict(metadata or {})
        self.calibration = calibration

    @classmethod
    def from_channels(cls, G: torch.nn.Module, channels: Sequence[Channel], *, name: str | None = None,
                      attribute: str | None = None, **kwargs: Any) -> "StyleEdit":
        """An edit of `channels` (from `find_channels`); each moves the way its examples' mean says."""
        from stylegan import fingerprint

        if not channels:
            raise ValueError("from_channels needs at least one Channel")
        name = name or (f"stylespace:{attribute}" if attribute else
                        "stylespace:" + "+".join(f"{c.layer}:{c.index}" for c in channels))
        info = {"channels": [asdict(c) for c in channels], **kwargs.pop("info", {})}
        return cls([c.layer for c in channels], [c.index for c in channels], [c.sigma for c in channels],
                   [1.0 if c.mean >= 0 else -1.0 for c in channels], layer_rows=[c.row for c in channels],
                   name=name, num_ws=G.num_ws, w_dim=G.w_dim, attribute=attribute, generator=fingerprint(G),
                   info=info, **kwargs)

    @property
    def range(self) -> tuple[float, float]:
        """Calibrated: the measured range in `unit`; uncalibrated: α = ±20 σ_c (about the paper's largest edits)."""
        return self.calibration.range if self.calibration is not None else (-20.0, 20.0)

    def apply(self, ws: torch.Tensor, strength: Strength, layers: int | Iterable[int] | None = None) -> torch.Tensor:
        """Not available: a StyleSpace edit changes styles, which no ws can express.

        Raises:
            TypeError: always, naming `edits.render` and `edits.apply_styles`.
        """
        raise TypeError(f"{self.name} is a StyleSpace edit: it changes S-space styles, not ws; render it with "
                        f"edits.render(G, ws, [(edit, strength)]) or get the styles with "
                        f"edits.apply_styles(G, ws, [(edit, strength)]) (or edit.apply_styles(styles, strength))")

    def _apply(self, ws: torch.Tensor, strength: torch.Tensor, rows: tuple[int, ...]) -> torch.Tensor:
        raise TypeError(f"{self.name} is a StyleSpace edit; use apply_styles")

    def apply_styles(self, styles: dict[str, torch.Tensor], strength: Strength,
                     layers: int | Iterable[int] | None = None) -> dict[str, torch.Tensor]:
        """Edit S-space styles; strength 0 returns equal tensors (bit for bit).

        Args:
            styles: `{layer: [N, C]}` from `G.synthesis.ws_to_styles` (not modified).
            strength: a number or a `[N]` tensor, in `self.unit`.
            layers: ws rows whose layers may change (default: all of the edit's).

        Returns:
            A new dict (edited layers are new tensors, the others shared); differentiable.
        """
        missing = [l for l in self.layers if l not in styles]
        if missing:
            raise ValueError(f"styles lack layer(s) {missing} of {self.name}; pass G.synthesis.ws_to_styles(ws) "
                             "of the generator the edit was made for")
        first = styles[self.layers[0]]
        s = check_strength(strength, first.shape[0], like=first)
        if self.calibration is not None:
            s = self.calibration.to_raw(s)
        rows = set(self.rows if layers is None else check_rows(layers, self.num_ws))
        out = dict(styles)
        for layer, c, sig, sgn, row in zip(self.layers, self.channels, self.sigmas, self.signs, self.layer_rows):
            if row not in rows:
                continue
            t = out[layer]
            if c >= t.shape[1]:
                raise ValueError(f"{self.name}: channel {c} of {layer} does not exist (it has {t.shape[1]})")
            onehot = torch.zeros(t.shape[1], dtype=t.dtype, device=t.device)
            onehot[c] = float(sig * sgn)
            out[layer] = t + s[:, None].to(t.dtype) * onehot[None, :]
        return out

    def to_bundle(self) -> modelio.Bundle:
        config = {"name": self.name, "method": self.method, "attribute": self.attribute, "unit": self.unit,
                  "layers": self.layers, "layer_rows": self.layer_rows, "num_ws": self.num_ws, "w_dim": self.w_dim,
                  "info": self.info,
                  "calibration": None if self.calibration is None else self.calibration.to_config()}
        tensors = {"channels": torch.tensor(self.channels, dtype=torch.int64), "sigmas": self.sigmas,
                   "signs": self.signs}
        return modelio.Bundle("StyleEdit", "edit", tensors, config, self.generator, self.metadata)

    @classmethod
    def from_bundle(cls, bundle: modelio.Bundle, where: str | os.PathLike = "edit") -> "StyleEdit":
        """Rebuild from what `to_bundle` made (as `modelio.load` returns it)."""
        c, t = bundle.config, bundle.tensors
        try:
            return cls(c["layers"], t["channels"].tolist(), t["sigmas"], t["signs"], layer_rows=c["layer_rows"],
                       name=c["name"], num_ws=c["num_ws"], w_dim=c["w_dim"], method=c.get("method", "stylespace"),
                       attribute=c.get("attribute"), unit=c.get("unit", "σ"), generator=bundle.generator,
                       info=c.get("info"), metadata=bundle.metadata,
                       calibration=Calibration.from_config(c["calibration"]) if c.get("calibration") else None)
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptCheckpointError(f"{where}: not a valid StyleEdit ({type(exc).__name__}: {exc})") from exc

    def __repr__(self) -> str:
        chans = ", ".join(f"{l}:{c}" for l, c in zip(self.layers, self.channels))
        return f"StyleEdit(name={self.name!r}, attribute={self.attribute!r}, unit={self.unit!r}, channels=[{chans}])"


def stylespace(G: torch.nn.Module, attribute: str, examples: Any = None, *, top: int = 1, num_examples: int = 10,
               num_samples: int = 10_000, seed: int = 0, calibrate: bool = True, oracle: Any = None,
               calibration_samples: int = 64, calibration_grid: Sequence[float] = CALIBRATION_GRID,
               metadata: dict | None = None, progress: bool = False) -> StyleEdit:
    """The top `top` channels for `attribute` as one edit "stylespace:<attribute>".

    Args:
        G: the generator.
        attribute: an `edits.attributes` name.
        examples: pairs for `find_channels`; default `tail_examples(G, attribute, num_examples)` (the oracle).
        top: channels moved together (the paper edits one).
        num_examples: pairs `tail_examples` makes when `examples` is None (the paper uses about 10).
        num_samples, seed: mapped samples for the channel statistics.
        calibrate: measure with the oracle so strength is in the attribute's unit; False: σ_c units.
        oracle: default `synthetic.oracle.load()`.
        calibration_samples, calibration_grid: held-out samples and α values (σ_c units) measured.
        metadata: saved with the edit.

    Raises:
        ValueError: an unknown attribute, bad examples, or channels that do not move the attribute.
    """
    from .attributes import get
    from .calibration import measure

    attr = get(attribute)
    if oracle is None and (examples is None or calibrate):
        from synthetic import oracle as oracle_mod

        oracle = oracle_mod.load()
    source = "oracle tails" if examples is None else "given"
    if examples is None:
        examples = tail_examples(G, attr.name, num_examples, oracle=oracle)
    channels = find_channels(G, examples, num_samples, top, seed=seed)
    edit = StyleEdit.from_channels(G, channels, attribute=attr.name, metadata=metadata,
                                   info={"examples": source,
                                         "num_examples": len(_pairs(examples, G.num_ws, G.w_dim)[0]),
                                         "num_samples": num_samples, "seed": seed})
    if calibrate:
        def apply_raw(ws: torch.Tensor, raw: torch.Tensor) -> dict[str, torch.Tensor]:
            return edit.apply_styles(G.synthesis.ws_to_styles(ws), raw)  # uncalibrated: raw α in σ_c units

        try:
            edit.calibration = measure(G, apply_raw, attr.name, calibration_grid, oracle=oracle,
                                       num=calibration_samples, progress=progress)
        except ValueError as exc:
            raise ValueError(f"{edit.name}: {exc}") from None
        edit.unit = attr.unit
    return edit


__all__ = ["Channel", "StyleEdit", "find_channels", "style_stats", "tail_examples", "delta_examples",
           "stylespace"]
