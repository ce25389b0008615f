"""Video swap on exact truth: moving synthetic heads (`synthetic.motion`), the true swap of every frame,
and what a method and a smoothing do to flicker, fidelity and identity over a whole sequence.

S identity heads (frontal, neutral) and S attribute sequences of T frames (the head of
`motion_sequence(s, seed, T)`); the truth of frame t is `render(swap_truth(identity_s, frame_t))`. Every
frame and identity is inverted with the library's default (`inversion.project`), cached. Per method and
smoothing (`video.swap_frames`):

- flicker: mean frame-to-frame change of the swap minus the truth's (`video.flicker`; 0 = as much
  motion as the truth, > 0 = jitter, < 0 = lag);
- temporal error: mean |(x_t - x_{t-1}) - (y_t - y_{t-1})|, how far each frame-to-frame change is from
  the true one (0 only when the swap moves exactly as the truth does);
- PSNR against the truth, pose and expression error (oracle of swap vs oracle of truth);
- identity: top-1 retrieval of every frame among the S identities plus `distractors` held-out identity
  renders, by the oracle and by the judge (independent: nothing trains against it).

    >>> data = prepare_video(G, sequences=3, frames=60, cache="runs/swap_video/cache.npz")   # doctest: +SKIP
    >>> evaluate_video(G, data, "lcr", smooth=0.3, oracle=oracle, judge=judge)              # doctest: +SKIP
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .evaluate import _errors, _invert, _read, _t, load_npz, save_npz

VIDEO_SEED = 20261205  # the sequences' seed: other heads than the swap protocol's and the training data's
CACHE_VERSION = 1


@dataclass
class VideoData:
    """S identities and S sequences of T frames at R px.

    Attributes:
        id_images: uint8 `[S, R, R, 3]` identity heads; `gallery`: uint8 `[G, R, R, 3]` further identities.
        frames, truth: uint8 `[S, T, R, R, 3]` the attribute sequences and their true swaps.
        id_ws `[S, num_ws, w_dim]`, frame_ws `[S, T, num_ws, w_dim]`; id_noise `{name: [S, r, r]}`,
        frame_noise `{name: [S, T, r, r]}`: the inversions.
        meta: seed, sizes, generator fingerprint, inversion steps.
    """

    id_images: np.ndarray
    gallery: np.ndarray
    frames: np.ndarray
    truth: np.ndarray
    id_ws: torch.Tensor
    frame_ws: torch.Tensor
    id_noise: dict[str, torch.Tensor]
    frame_noise: dict[str, torch.Tensor]
    meta: dict[str, Any]


def video_params(sequences: int, frames: int, distractors: int, seed: int = VIDEO_SEED) -> tuple[list, list, list]:
    """`(identities, sequences, distractors)` as `synthetic.HeadParams`: frontal neutral identity heads,
    `motion_sequence(s, seed, frames)` for each s, and further frontal neutral heads."""
    from synthetic import Expression, Pose, sample_params
    from synthetic.motion import motion_sequence

    def still(i: int):
        return sample_params(np.random.default_rng([seed, 7, i])).replace(pose=Pose(), expression=Expression())
    return ([still(s) for s in range(sequences)], [motion_sequence(s, seed, frames) for s in range(sequences)],
            [still(sequences + d) for d in range(distractors)])


@torch.no_grad()
def prepare_video(G: Any, sequences: int = 3, frames: int = 60, distractors: int = 47, seed: int = VIDEO_SEED,
                  invert_steps: int | None = None, cache: str | os.PathLike | None = None,
                  progress: bool = True) -> VideoData:
    """Render the identities, sequences and truths at G's resolution and invert identities and frames.

    Args:
        cache: an .npz reused when it was made with the same settings and the same library-default inversion
            (`inversion.projection.default_signature`), else (re)written.

    Raises:
        ValueError: fewer than 1 sequence or 2 frames.
    """
    import stylegan
    from inversion.projection import default_signature
    from synthetic import render, swap_truth

    if sequences < 1 or frames < 2:
        raise ValueError(f"need at least 1 sequence of 2 frames, got {sequences} of {frames}")
    res = int(G.img_resolution)
    want = dict(version=CACHE_VERSION, seed=int(seed), generator=stylegan.fingerprint(G), preset=default_signature(G),
                invert_steps=invert_steps, resolution=res, sequences=int(sequences), frames=int(frames),
                distractors=int(distractors))
    if cache is not None and Path(cache).is_file():
        d = load_npz(cache, VideoData)
        if d.meta.get("settings") == want:
            return d
    ids, seqs, others = video_params(sequences, frames, distractors, seed)
    bar = dict(disable=not progress)
    id_images = np.stack([render(p, res).image for p in ids])
    gallery = np.stack([render(p, res).image for p in tqdm(others, desc="render gallery", **bar)]) if others else \
        np.zeros((0, res, res, 3), np.uint8)
    frame_images = np.stack([np.stack([render(p, res).image for p in seq])
                             for seq in tqdm(seqs, desc="render sequences", **bar)])
    truth = np.stack([np.stack([render(swap_truth(a, p), res).image for p in seq])
                      for a, seq in tqdm(list(zip(ids, seqs)), desc="render truths", **bar)])
    id_ws, id_noise, _ = _invert(G, id_images, invert_steps, "invert identities", progress)
    flat_ws, flat_noise, sec = _invert(G, frame_images.reshape(-1, res, res, 3), invert_steps, "invert frames",
                                       progress)
    d = VideoData(id_images, gallery, frame_images, truth, id_ws, flat_ws.reshape(sequences, frames, *flat_ws.shape[1:]),
                  id_noise, {k: v.reshape(sequences, frames, *v.shape[1:]) for k, v in flat_noise.items()},
                  {"settings": want, "invert_s_per_frame": sec})
    if cache is not None:
        save_npz(cache, d)
    return d


@torch.no_grad()
def evaluate_video(G: Any, data: VideoData, method: str = "lcr", smooth: float = 0.0, oracle: Any = None,
                   judge: Any = None) -> dict[str, float]:
    """Swap each identity onto its sequence (`video.swap_frames`) and measure (see the module docstring).

    Returns:
        `flicker, temporal_error, psnr, pose_error, expression_error, id_top1` (and `judge_id_top1` with a
        judge), means over every frame of every sequence; `truth_change`: the truth's mean frame-to-frame change.
    """
    from inversion.losses import psnr

    from .api import Prepared
    from .video import flicker, frame_change, stack, swap_frames

    if oracle is None:
        from synthetic import oracle as oracle_mod

        oracle = oracle_mod.load()
    s_count = len(data.id_images)
    gallery = _read(oracle, _t(np.concatenate([data.id_images, data.gallery])), judge)
    rows: dict[str, list[float]] = {}
    hit_rows: dict[str, list[torch.Tensor]] = {}
    for s in range(s_count):
        ident = Prepared(data.id_ws[s:s + 1], {k: v[s] for k, v in data.id_noise.items()}, image=data.id_images[s])
        frames = [Prepared(data.frame_ws[s, t:t + 1], {k: v[s, t] for k, v in data.frame_noise.items()},
                           image=data.frames[s, t]) for t in range(data.frames.shape[1])]
        out = stack(swap_frames(ident, frames, method, G, smooth=smooth)).cpu()
        truth = _t(data.truth[s])
        rows.setdefault("flicker", []).append(flicker(out, truth))
        rows.setdefault("temporal_error", []).append(float(((out[1:] - out[:-1]) - (truth[1:] - truth[:-1])).abs().mean()))
        rows.setdefault("truth_change", []).append(frame_change(truth))
        rows.setdefault("psnr", []).append(float(psnr(out, truth).mean()))
        a, b = _read(oracle, out, judge), _read(oracle, truth)
        for k, v in _errors(a, b).items():
            rows.setdefault(k, []).append(v)
        labels = torch.full((len(out),), s)
        for key, name in (("identity", "id_top1"), ("judge_identity", "judge_id_top1")):
            if key in a:
                sims = torch.nn.functional.normalize(a[key], dim=1) @ torch.nn.functional.normalize(gallery[key], dim=1).T
                hit_rows.setdefault(name, []).append(sims.argmax(1) == labels)
    res = {k: float(np.mean(v)) for k, v in rows.items()}
    res.update({k: float(torch.cat(v).float().mean()) for k, v in hit_rows.items()})
    return res


@torch.no_grad()
def video_ceiling(G: Any, data: VideoData, oracle: Any, judge: Any = None) -> dict[str, float]:
    """The identity retrieval the measure allows: every truth frame (`id_top1`, `judge_id_top1`), and every
    attribute frame's own reconstruction retrieved as the attribute head would be meaningless, so the
    identities' reconstructions instead (`recon_id_top1`, ...: each identity's inversion among the gallery)."""
    s_count, t_count = data.truth.shape[:2]
    gallery = _read(oracle, _t(np.concatenate([data.id_images, data.gallery])), judge)
    truth = _read(oracle, _t(data.truth.reshape(-1, *data.truth.shape[2:])), judge)
    recon = G.synthesis(data.id_ws, noise={k: v for k, v in data.id_noise.items()} or None)
    rec = _read(oracle, recon, judge)
    out = {}
    for key, name in (("identity", "id_top1"), ("judge_identity", "judge_id_top1")):
        if key not in truth:
            continue
        g = torch.nn.functional.normalize(gallery[key], dim=1)
        hits = (torch.nn.functional.normalize(truth[key], dim=1) @ g.T).argmax(1) == \
            torch.arange(s_count).repeat_interleave(t_count)
        out[name] = float(hits.float().mean())
        hits = (torch.nn.functional.normalize(rec[key], dim=1) @ g.T).argmax(1) == torch.arange(s_count)
        out["recon_" + name] = float(hits.float().mean())
    return out


#: How much a smoothing may cost against no smoothing and still be chosen: degrees of pose error (the lag
#: behind the motion) and dB of PSNR against the truth.
LAG_POSE_TOLERANCE, LAG_PSNR_TOLERANCE = 0.25, 0.1


def choose_smooth(rows: list[dict[str, float]]) -> float:
    """The library's rule for a method's video smoothing, from `evaluate_video` rows of one method (each with
    `smooth`, `temporal_error`, `pose_error`, `psnr`; one of them at smooth 0): the smoothing with the lowest
    temporal error among those that lag little, i.e. whose pose error is at most `LAG_POSE_TOLERANCE`
    degrees and whose PSNR at most `LAG_PSNR_TOLERANCE` dB worse than unsmoothed (the temporal error alone
    keeps falling as the swap freezes; the lag shows in pose and PSNR first)."""
    base = [r for r in rows if r["smooth"] == 0.0]
    if not base:
        raise ValueError("choose_smooth needs the unsmoothed row (smooth 0) as the reference")
    ok = [r for r in rows if r["pose_error"] <= base[0]["pose_error"] + LAG_POSE_TOLERANCE
          and r["psnr"] >= base[0]["psnr"] - LAG_PSNR_TOLERANCE]
    return float(min(ok, key=lambda r: (r["temporal_error"], r["smooth"]))["smooth"])


__all__ = ["LAG_POSE_TOLERANCE", "LAG_PSNR_TOLERANCE", "VIDEO_SEED", "VideoData", "choose_smooth", "evaluate_video",
           "prepare_video", "video_ceiling", "video_params"]
