"""Delta-GAN encoder data: one-attribute sequences of CGI heads, inverted into the generator's W+.

For an attribute (`edits.attributes`), `heads` random synthetic heads are each rendered at the same
`frames` attribute values (everything else about a head fixed, so consecutive frames are one-attribute
pairs as `synthetic.make_pair` makes them, and every head goes through the same change), in the FFHQ
frame placed by the renderer from the head's exact landmarks, at the generator's resolution; every
frame is inverted with `inversion.project` (the library's default: encoder start and W+ refinement).
The codes are kept in one latent file so that training never inverts again:

    >>> data = build(G, "yaw", heads=20, frames=3, path="yaw_data.npz")    # doctest: +SKIP
    >>> data.ws.shape                                                     # [heads, frames, num_ws, w_dim]

Building is resumable (the file is rewritten after every head; a re-run continues) and, under torchrun,
shared: rank r inverts heads r, r+K, ... into its own part file and rank 0 merges them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..attributes import Attribute, get

FORMAT = "delta-data"


@dataclass
class DeltaData:
    """Inverted one-attribute sequences.

    Attributes:
        attribute: the attribute's name.
        values: `[frames]` attribute value of each frame (the same for every head), in the attribute's unit.
        ws: `[heads, frames, num_ws, w_dim]` inverted codes.
        psnr: `[heads, frames]` reconstruction PSNR (dB) of each inversion.
        params: per head, per frame, the exact `HeadParams.to_dict()` behind the render.
        generator: fingerprint of the generator the codes belong to.
        settings: how the data was made (seed, projection settings).
    """

    attribute: str
    values: list[float]
    ws: torch.Tensor
    psnr: torch.Tensor
    params: list[list[dict]] = field(default_factory=list)
    generator: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def heads(self) -> int:
        return self.ws.shape[0]

    def subset(self, heads: int) -> "DeltaData":
        """The first `heads` heads."""
        if not 1 <= heads <= self.heads:
            raise ValueError(f"subset of {heads} heads from a dataset of {self.heads}")
        return self.select(range(heads))

    def select(self, heads: Sequence[int]) -> "DeltaData":
        """These heads, in this order (the sample-efficiency study's draws of 1, 2, 5 ... heads)."""
        idx = [int(h) for h in heads]
        if not idx or len(set(idx)) != len(idx) or not all(0 <= h < self.heads for h in idx):
            raise ValueError(f"select needs distinct heads in 0..{self.heads - 1}, got {idx}")
        return DeltaData(self.attribute, list(self.values), self.ws[idx], self.psnr[idx],
                         [self.params[h] for h in idx] if self.params else [], self.generator, dict(self.settings))

    def save(self, path: str | os.PathLike) -> Path:
        """Write as one latent file (`stylegan.save_ws`: ws as `[heads * frames, ...]`, the rest in its metadata)."""
        from stylegan.latents import save_ws

        h, t = self.ws.shape[:2]
        meta = {"format": FORMAT, "attribute": self.attribute, "values": list(self.values), "heads": h,
                "frames": t, "psnr": self.psnr.tolist(), "params": self.params, "generator": self.generator,
                "settings": self.settings}
        return save_ws(path, self.ws.reshape(h * t, *self.ws.shape[2:]), metadata=meta)


def load(path: str | os.PathLike, G: Any = None) -> DeltaData:
    """Read a dataset written by `DeltaData.save`.

    Raises:
        LatentFileError: unreadable, not a Delta-GAN dataset, or made for another generator than `G`.
    """
    from stylegan import fingerprint
    from stylegan.latents import LatentFileError, load_ws

    lat = load_ws(path, G)
    m = lat.metadata
    if m.get("format") != FORMAT:
        raise LatentFileError(f"{path}: a latent file, but not a Delta-GAN dataset (made by `sgt train-delta` "
                              "or edits.delta.data.build)")
    try:
        h, t = int(m["heads"]), int(m["frames"])
        ws = lat.ws.reshape(h, t, *lat.ws.shape[1:])
        data = DeltaData(m["attribute"], [float(v) for v in m["values"]], ws, torch.tensor(m["psnr"]),
                         m.get("params", []), m.get("generator"), m.get("settings", {}))
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise LatentFileError(f"{path}: malformed Delta-GAN dataset ({type(exc).__name__}: {exc})") from exc
    if G is not None and data.generator is not None and data.generator != fingerprint(G):
        raise LatentFileError(f"{path}: these codes were inverted into generator {data.generator}, not into the one "
                              f"given ({fingerprint(G)}); build the data again for it")
    return data


def head_params(attribute: Attribute, head: int, values: list[float], seed: int) -> list:
    """The `HeadParams` of every frame of head number `head`: a random head (seeded by (seed, head)),
    with the attribute set to each value in turn."""
    from synthetic.params import sample_params

    base = sample_params(np.random.default_rng([seed, head]))
    return [attribute.set(base, v) for v in values]


def frame_values(attribute: Attribute, frames: int, span: tuple[float, float] | None = None) -> list[float]:
    """`frames` evenly spaced values over `span` (default: the attribute's)."""
    if frames < 2:
        raise ValueError(f"a sequence needs at least 2 frames, got {frames}")
    lo, hi = attribute.span if span is None else span
    return [float(v) for v in np.linspace(lo, hi, frames)]


def invert_head(G: Any, attribute: Attribute, head: int, values: list[float], seed: int,
                project_kwargs: dict[str, Any], D: Any = None) -> tuple[torch.Tensor, list[float], list[dict], dict]:
    """Render and invert one head's frames: ws `[frames, num_ws, w_dim]`, PSNRs, params dicts, settings."""
    from inversion import project
    from inversion.losses import psnr as psnr_of
    from synthetic import render

    ws, psnr, params, settings = [], [], [], {}
    for t, p in enumerate(head_params(attribute, head, values, seed)):
        target = render(p, G.img_resolution).to_tensor()
        res = project(G, target, seed=seed * 100_003 + head * len(values) + t, progress=False,
                      D=D, **project_kwargs)
        ws.append(res.ws.detach()[0])
        psnr.append(float(psnr_of(res.image.detach(), target).mean()))
        params.append(p.to_dict())
        settings = res.history.get("settings", {})
    return torch.stack(ws), psnr, params, settings


def build(G: Any, attribute: str, heads: int = 20, frames: int = 3, path: str | os.PathLike | None = None, *,
          span: tuple[float, float] | None = None, seed: int = 0, steps: int | None = None, D: Any = None,
          progress: bool = True, **project_kwargs: Any) -> DeltaData:
    """Render `heads` heads through the same one-attribute sequence and invert every frame.

    Args:
        G: the generator to invert into (the default model or a user's checkpoint: sim-to-real).
        attribute: an `edits.attributes` name ("yaw", "smile", ...).
        heads: how many heads (>= 2: training transfers a change from one head to another).
        frames: attribute values per head, evenly over `span` (2 = a plain pair).
        path: the dataset file; written after every head, and an existing file with the same settings
            is continued (resume).
        span: (from, to) in the attribute's unit (default `Attribute.span`).
        seed: seeds the heads and the projections.
        steps: projection refinement steps per frame. Default: 0 (the encoder's code as is) when an
            encoder is registered for G, else the projection default. Independent refinement of each
            frame adds frame-specific changes to the codes that no edit can learn: on the default model
            it doubled DGE's identity drift (README, Delta-GAN ablation).
        D: the generator's discriminator, for projection's D-feature loss when LPIPS weights are absent.
        progress: tqdm bar over heads.
        **project_kwargs: passed to `inversion.project` (steps, preset, ...).

    Returns:
        `DeltaData` with ws `[heads, frames, num_ws, w_dim]`.
    """
    import torch.distributed as dist

    from stylegan import fingerprint
    from stylegan.train import rank_file, rank_world

    attr = get(attribute)
    if steps is None:
        from inversion.encoder import find_encoder

        steps = 0 if find_encoder(G) is not None else None
    if steps is not None:
        project_kwargs = {**project_kwargs, "steps": int(steps)}
    if heads < 1:
        raise ValueError(f"at least 1 head is needed to learn a change, got {heads}")
    values = frame_values(attr, frames, span)
    fp = fingerprint(G)
    rank, world = rank_world()
    mine = list(range(rank, heads, world))
    part = None if path is None else rank_file(path)
    done: dict[int, tuple] = {}
    settings: dict[str, Any] = {}
    if part is not None and part.exists():
        old = load(part, G)  # another generator's or an unreadable file: refused (ValueError), not overwritten
        here = {"attribute": attr.name, "values": [round(v, 6) for v in values], "seed": seed,
                "project_kwargs": project_kwargs}
        there = {"attribute": old.attribute, "values": [round(float(v), 6) for v in old.values],
                 "seed": old.settings.get("seed"), "project_kwargs": old.settings.get("project_kwargs")}
        diff = [k for k in here if here[k] != there[k]]
        if diff:
            # like the swap data builder: a file of other settings is the user's earlier work, never silently
            # rebuilt over (it took minutes per head)
            raise ValueError(f"{part} was built with other settings (" + ", ".join(
                f"{k} {there[k]!r} there, {here[k]!r} here" for k in diff) + "): continue it with its own "
                "settings, or build into another file (--data)")
        for i, h in enumerate(old.settings.get("head_ids", range(old.heads))):
            done[h] = (old.ws[i], old.psnr[i].tolist(), old.params[i])
        settings = old.settings.get("projection", {})
    bar = tqdm(mine, desc=f"invert {attr.name} frames", unit="head", disable=not (progress and rank == 0))
    for h in bar:
        if h not in done:
            ws_h, psnr_h, params_h, settings = invert_head(G, attr, h, values, seed, project_kwargs, D)
            done[h] = (ws_h, psnr_h, params_h)
            if part is not None:
                _assemble(attr, values, done, fp, seed, project_kwargs, settings).save(part)
        bar.set_postfix(psnr=f"{np.mean(done[h][1]):.1f}")
    data = _assemble(attr, values, done, fp, seed, project_kwargs, settings)
    if world > 1:
        dist.barrier()
        parts = [load(f"{path}.rank{r}", G) for r in range(world)] if path is not None else None
        if parts is None:
            raise ValueError("building under torchrun needs a dataset path (the ranks meet through their files)")
        for p in parts:
            for i, h in enumerate(p.settings["head_ids"]):
                done[h] = (p.ws[i], p.psnr[i].tolist(), p.params[i])
        data = _assemble(attr, values, done, fp, seed, project_kwargs, settings)
        if rank == 0:
            data.save(path)
        dist.barrier()
    return data


def _assemble(attr: Attribute, values: list[float], done: dict[int, tuple], fp: str, seed: int,
              project_kwargs: dict, projection: dict) -> DeltaData:
    ids = sorted(done)
    ws = torch.stack([done[h][0] for h in ids])
    psnr = torch.tensor([done[h][1] for h in ids])
    settings = {"seed": seed, "head_ids": ids, "project_kwargs": project_kwargs, "projection": projection}
    return DeltaData(attr.name, values, ws, psnr, [done[h][2] for h in ids], fp, settings)


__all__ = ["DeltaData", "build", "load", "head_params", "frame_values", "invert_head", "FORMAT"]
