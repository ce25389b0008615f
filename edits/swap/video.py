"""Video mode of identity swap: one identity onto every frame of an attribute sequence, with temporal smoothing.

Each frame is inverted on its own, so its code jitters from frame to frame even where the head moves
smoothly; the swap then flickers. We smooth the attribute frames' codes over time before mixing them with
the identity (LCR). The smoother is a causal exponential moving average (EMA) over the frames' ws:

    s_0 = w_0,    s_t = smooth * s_{t-1} + (1 - smooth) * w_t,

`smooth` in [0, 1): 0 turns it off (each frame's own code), larger values average over more past frames
(about `(1 + smooth) / (1 - smooth)` frames effective) at the price of a lag behind fast motion. We chose a
causal EMA over a centred window because it is one parameter, needs no look-ahead (it runs on a stream) and
keeps the first frame exact. Noise maps stay per frame (they are the attribute's pixel detail at its own
pose; averaging them across poses blurs it).

`flicker` measures what smoothing buys: the mean frame-to-frame change of the swap minus that of the truth.

    >>> results = swap_frames("me.npz", ["f0.npz", "f1.npz", "f2.npz"], G="synthheads")  # doctest: +SKIP
    >>> flicker(stack(results), truth)                                                    # doctest: +SKIP
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from tqdm.auto import tqdm

from sgtcore.registry import DEFAULT_GENERATOR

from .api import (Prepared, SourceLike, SwapResult, Swapper, _entry_path, attribute_tensor, check_method,
                  network_metadata, prepare, prepare_many)


#: Default EMA weight of the past (`swap_frames(smooth=...)`, `sgt swap --smooth`) where the swap network
#: records none (`default_smooth`), chosen by `video_eval.choose_smooth` on 3 rendered 60-frame sequences of
#: smooth head motion (bench/swap_video.py, library-default inversion): 0.5 for each of lcr, ftm and blend on
#: v1 — temporal error down by 18-27 % against no smoothing for at most +0.16° of pose error; 0.7 lags (+0.36
#: to +0.78°) — and for lcr and inject on v2. (Before, 0.3, from one 5-frame yaw sweep in 15° steps.)
DEFAULT_SMOOTH = 0.5
#: The metadata key of a trained swap network that records the smoothing measured for it (v2's ftm, blend: 0.3).
SMOOTH_KEY = "video_smooth"
#: Frames inverted in one projection (`prepare_many`): each as if alone, fewer passes per frame on a CPU.
FRAME_BATCH = 4


def ema(ws: torch.Tensor, smooth: float = DEFAULT_SMOOTH) -> torch.Tensor:
    """Causal exponential moving average over time: `s_0 = w_0`, `s_t = smooth * s_{t-1} + (1 - smooth) * w_t`.

    Args:
        ws: `[T, ...]` (e.g. `[T, num_ws, w_dim]`), time first.
        smooth: weight of the past in [0, 1); 0 returns `ws` unchanged (a copy).

    Returns:
        `[T, ...]`, same dtype and device.

    Raises:
        ValueError: `smooth` outside [0, 1).

    Example:
        >>> ema(torch.tensor([0.0, 4.0, 4.0]), 0.5).tolist()
        [0.0, 2.0, 3.0]
    """
    smooth = check_smooth(smooth)
    out = ws.clone()
    for t in range(1, len(ws)):
        out[t] = smooth * out[t - 1] + (1.0 - smooth) * ws[t]
    return out


def check_smooth(smooth: float) -> float:
    """`smooth` as a float in [0, 1); ValueError otherwise (1 would freeze the first frame forever)."""
    try:
        value = float(smooth)
    except (TypeError, ValueError):
        raise ValueError(f"smooth must be a number in [0, 1), got {smooth!r}") from None
    if not 0.0 <= value < 1.0:
        raise ValueError(f"smooth = {smooth} is out of range [0, 1): 0 turns smoothing off, values near 1 average "
                         "over many frames (1 would freeze the first frame)")
    return value


def default_smooth(G: Any, method: str = "lcr") -> float:
    """The smoothing `swap_frames` uses when given none: the value measured for the trained network that runs
    `method` for G (its metadata's `SMOOTH_KEY`, set from bench/swap_video.py, which applies `choose_smooth`
    per method: on v2 it picks 0.3 for ftm and blend, 0.5 for lcr and inject), else `DEFAULT_SMOOTH` (lcr, MegaFS's
    networks, trained networks nobody measured). The value lives with the network because it was measured
    for those weights: another generator's ftm may want another.

    Raises:
        ValueError: a recorded value outside [0, 1) (the message names the network's folder).
    """
    import stylegan

    G = stylegan.load(G) if isinstance(G, str) else G
    meta = network_metadata(G, method)
    if SMOOTH_KEY not in meta:
        return DEFAULT_SMOOTH
    try:
        return check_smooth(meta[SMOOTH_KEY])
    except ValueError as exc:
        raise ValueError(f"the {method} network {_entry_path(G, method)} records a bad {SMOOTH_KEY}: {exc}; pass "
                         "smooth= (--smooth) or fix its config.json") from None


def swap_frames(identity: SourceLike | Prepared, frames: Sequence[SourceLike], method: str = "lcr",
                G: Any = DEFAULT_GENERATOR, *, smooth: float | None = None, split: int | None = None,
                steps: int | None = None, detector: str = "hog", upsample: int = 1, progress: bool = False,
                identity_net: Any = None, **project_kw: Any) -> list[SwapResult]:
    """Swap one identity onto every frame of a sequence, smoothing the frames' codes over time (see module doc).

    Args:
        identity: who, as for `swap` (photo, aligned image, `.npz`, ws `[1, num_ws, w_dim]`) or a `Prepared`;
            prepared once.
        frames: T attribute frames in time order, each as for `swap`'s attribute; each is aligned and
            inverted with the library's defaults (or read as a latent).
        method: 'lcr', 'ftm', 'blend' or 'inject' (as `swap`; blend blends each frame's own image).
        G: a `stylegan.Generator` or a registered name.
        smooth: EMA weight of the past in [0, 1) applied to the frames' ws; 0: off (every frame equals `swap`);
            None: `default_smooth(G, method)`, the value measured for the network that runs.
        split: LCR split (default `edits.swap.latent.default_split`).
        steps, detector, upsample, **project_kw: photo inputs: see `prepare`.
        progress: a tqdm bar over the frames.
        identity_net: inject trained on a user's identity network: that network (see `Swapper`).

    Returns:
        T `SwapResult`s (`.image [1, 3, R, R]`, `.ws [1, num_ws, w_dim]` the swapped code, `.attribute.ws` the
        frame's own, unsmoothed code); `stack(results)` gives `[T, 3, R, R]`.

    Raises:
        ValueError: no frames, bad smooth/split/method, a bad frame (the message names it: 'attribute frame k').
    """
    import stylegan

    check_method(method)
    smooth = None if smooth is None else check_smooth(smooth)
    if len(frames) == 0:
        raise ValueError("no attribute frames given: pass a non-empty list of photos or latents")
    G = stylegan.load(G) if isinstance(G, str) else G
    smooth = default_smooth(G, method) if smooth is None else smooth
    swapper = Swapper(G, method, split, identity_net=identity_net)
    kw = dict(steps=steps, detector=detector, upsample=upsample, **project_kw)
    ident = identity if isinstance(identity, Prepared) else prepare(identity, G, "identity", **kw)
    atts: list[Prepared] = []
    with tqdm(total=len(frames), desc="frames", disable=not progress) as bar:  # closed before an error is shown
        for k in range(0, len(frames), FRAME_BATCH):  # inverted FRAME_BATCH at a time (cheaper per frame)
            chunk = list(frames[k:k + FRAME_BATCH])
            atts += prepare_many(chunk, G, [f"attribute frame {k + i}" for i in range(len(chunk))],
                                 landmarks=[True] * len(chunk), batch=FRAME_BATCH, **kw)
            bar.update(len(chunk))
    smoothed = ema(torch.cat([a.ws for a in atts]), smooth)  # [T, num_ws, w_dim]
    id_image = attribute_tensor(ident)  # inject embeds it
    results = []
    with torch.no_grad():
        for k, att in enumerate(atts):
            image, ws, mask = swapper(ident.ws, smoothed[k:k + 1], att.noise, attribute_tensor(att),
                                      identity_image=id_image)
            mask = _mask(att, G, image.device) if mask is None else mask
            results.append(SwapResult(image, ws, mask, ident, att, method, swapper.split))
    return results


def _mask(att: Prepared, G: Any, device: torch.device) -> torch.Tensor | None:
    if att.landmarks is None:
        return None
    from inversion.paste import face_mask

    return torch.from_numpy(face_mask(att.landmarks, G.img_resolution))[None, None].to(device)


def stack(results: Sequence[SwapResult]) -> torch.Tensor:
    """The swapped frames as one tensor `[T, 3, R, R]` in [-1, 1]."""
    return torch.cat([r.image for r in results])


def frame_change(frames: torch.Tensor) -> float:
    """Mean frame-to-frame change `mean_t mean |x_t - x_{t-1}|` of `[T, C, H, W]` (T >= 2), in the frames' units."""
    if not isinstance(frames, torch.Tensor) or frames.ndim != 4 or len(frames) < 2:
        raise ValueError(f"frames must be a tensor [T, C, H, W] with T >= 2, got "
                         f"{list(frames.shape) if isinstance(frames, torch.Tensor) else type(frames).__name__}")
    x = frames.double()
    return float((x[1:] - x[:-1]).abs().mean())


def flicker(frames: torch.Tensor, truth: torch.Tensor) -> float:
    """Flicker of a swapped sequence: its mean frame-to-frame change minus that of the true sequence.

    `mean_t mean |x_t - x_{t-1}| - mean_t mean |y_t - y_{t-1}|` (issue 12, "Video mode"): 0 when the swap changes
    as much as the truth does; positive when it jitters more. Pass both in the same units (e.g. [-1, 1]).

    Args:
        frames: `[T, C, H, W]` the swap, T >= 2.
        truth: `[T, C, H, W]` the true swapped sequence.

    Returns:
        A float (may be negative: a swap that moves less than the truth, e.g. over-smoothed).

    Raises:
        ValueError: not 4-D tensors, T < 2, or shapes that differ.

    Example:
        >>> x = torch.zeros(3, 1, 1, 2); x[1] = 1.0
        >>> flicker(x, torch.zeros(3, 1, 1, 2))
        1.0
    """
    for name, t in (("frames", frames), ("truth", truth)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{name} must be a tensor [T, C, H, W], got {type(t).__name__}")
    if frames.shape != truth.shape:
        raise ValueError(f"frames {list(frames.shape)} and truth {list(truth.shape)} must have the same shape [T, C, H, W]")
    return frame_change(frames) - frame_change(truth)


__all__ = ["DEFAULT_SMOOTH", "SMOOTH_KEY", "check_smooth", "default_smooth", "ema", "flicker", "frame_change", "stack",
           "swap_frames"]
