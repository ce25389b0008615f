"""Warm start: continue training from an exported model directory instead of a full checkpoint.

A run's checkpoints (optimizer states included) live in its run directory and are too large to keep
in git; what is kept is the exported model (`stylegan.train.export`: G_ema, plus D in
`discriminator/`). Warm starting copies those weights into a new run, G and G_ema both from the
exported G_ema, with fresh Adam states, and continues the kimg / step / wall-time counters from the
model's metadata so the schedule (EMA ramp-up, lazy regularisation phases) and the record stay
consistent. It does not repeat an uninterrupted run exactly (use `--resume` for that).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from stylegan.formats.errors import ArchitectureMismatchError
from stylegan.formats.ours import DISCRIMINATOR_SUBDIR, load_pretrained
from stylegan.train.checkpoint import TrainState


def _copy_weights(dst: torch.nn.Module, src: torch.nn.Module, what: str, directory: Path) -> None:
    want, have = dst.config.to_dict(), src.config.to_dict()
    diff = sorted(k for k in set(want) | set(have) if json.dumps(want.get(k)) != json.dumps(have.get(k)))
    if diff:
        detail = ", ".join(f"{k}: model {have.get(k)!r} vs run {want.get(k)!r}" for k in diff)
        raise ArchitectureMismatchError(f"--init-from {directory}: its {what} differs from the run's options "
                                        f"({detail})")
    dst.load_state_dict(src.state_dict())


def warm_start(directory: str | Path, G: torch.nn.Module, D: torch.nn.Module, G_ema: torch.nn.Module,
               device: torch.device) -> tuple[TrainState, dict]:
    """Load `directory`'s generator into G and G_ema (and `directory/discriminator/` into D, when present).

    Returns the starting state (counters from the model's metadata, empty optimizer states) and a record
    of the warm start for the new run's metadata: the source, its kimg, and the source's own metadata.

    Raises:
        ArchitectureMismatchError: the saved networks' configs differ from the run's.
    """
    directory = Path(directory)
    src_G = load_pretrained(directory)
    _copy_weights(G, src_G, "generator", directory)
    _copy_weights(G_ema, src_G, "generator", directory)
    d_dir = directory / DISCRIMINATOR_SUBDIR
    if (d_dir / "config.json").is_file():
        _copy_weights(D, load_pretrained(d_dir), "discriminator", directory)
        d_source = str(d_dir)
    else:
        warnings.warn(f"--init-from {directory}: no {DISCRIMINATOR_SUBDIR}/ there; D starts from scratch", stacklevel=2)
        d_source = None
    meta = json.loads((directory / "config.json").read_text()).get("metadata", {})
    kimg = float(meta.get("kimg", 0.0))
    steps = int(meta.get("steps", 0))
    state = TrainState(steps, round(kimg * 1000), float(meta.get("wall_time_s", 0.0)),
                       torch.zeros([], device=device), {}, {})
    record = {"from": str(directory), "kimg": kimg, "discriminator": d_source,
              "source_metadata": {k: v for k, v in meta.items() if k != "warm_start"},
              "earlier": meta.get("warm_start")}
    return state, record


def _copy_shared(dst: torch.nn.Module, src: torch.nn.Module, directory: Path, skip: tuple[str, ...] = ()) -> list[str]:
    """Copy every tensor of `src` into the same-named tensor of `dst` (names in `skip` excepted); returns the
    names of `dst` that `src` does not have (the new layers)."""
    mine, theirs = dst.state_dict(), src.state_dict()
    for k, v in theirs.items():
        if k in skip:
            continue
        if k not in mine or mine[k].shape != v.shape:
            have = "absent" if k not in mine else f"{tuple(mine[k].shape)}"
            raise ArchitectureMismatchError(f"--grow-from {directory}: its {k} {tuple(v.shape)} has no counterpart in "
                                            f"the run's network ({have}); only a new top block may differ")
        mine[k].copy_(v)
    return [k for k in mine if k not in theirs]


def grow_start(directory: str | Path, G: torch.nn.Module, D: torch.nn.Module, G_ema: torch.nn.Module,
               device: torch.device) -> tuple[TrainState, dict]:
    """Warm start from a model of half the run's resolution: one new top block on G and on D.

    Every layer of `directory`'s generator (and of its `discriminator/`, but for the old top block's
    fromRGB, which a lower block no longer has) is copied; G's new block starts with its ToRGB at zero,
    so that in the skip architecture (Karras et al. 2020, Fig. 7) the grown G first draws exactly the
    old image upsampled and the new block grows in from there, as residual blocks do from a zero
    branch. D's new top block is fresh. Counters continue from the model's metadata.

    Raises:
        ArchitectureMismatchError: not exactly one doubling of resolution, or other widths/dims.
    """
    directory = Path(directory)
    src_G = load_pretrained(directory)
    want, have = G.config.to_dict(), src_G.config.to_dict()
    res, old = want["img_resolution"], have["img_resolution"]
    if res != 2 * old:
        raise ArchitectureMismatchError(f"--grow-from {directory}: a {old} px model grows to {2 * old} px, the run is "
                                        f"{res} px")
    shared = {int(r): c for r, c in want["channels"].items() if int(r) <= old}
    if shared != {int(r): c for r, c in have["channels"].items()}:
        raise ArchitectureMismatchError(f"--grow-from {directory}: channels {have['channels']} must equal the run's "
                                        f"below {res} px ({shared}); only the {res} px block is new")
    diff = sorted(k for k in want if k not in ("img_resolution", "channels", "conv_clamp")
                  and json.dumps(want[k]) != json.dumps(have.get(k)))
    if diff:
        raise ArchitectureMismatchError(f"--grow-from {directory}: " + ", ".join(
            f"{k}: model {have.get(k)!r} vs run {want[k]!r}" for k in diff))
    with torch.no_grad():
        for net in (G, G_ema):
            new = _copy_shared(net, src_G, directory)
            top = getattr(net.synthesis, f"b{res}").torgb
            top.weight.zero_()
            top.bias.zero_()
            if any(f"b{res}." not in k for k in new):
                raise ArchitectureMismatchError(f"--grow-from {directory}: unexpected new layers "
                                                f"{[k for k in new if f'b{res}.' not in k]}")
        d_dir = directory / DISCRIMINATOR_SUBDIR
        d_source = None
        if (d_dir / "config.json").is_file():
            src_D = load_pretrained(d_dir)
            old_top = tuple(k for k in src_D.state_dict() if k.startswith(f"b{old}.fromrgb."))
            _copy_shared(D, src_D, directory, skip=old_top)
            d_source = str(d_dir)
        else:
            warnings.warn(f"--grow-from {directory}: no {DISCRIMINATOR_SUBDIR}/ there; D starts from scratch",
                          stacklevel=2)
    meta = json.loads((directory / "config.json").read_text()).get("metadata", {})
    state = TrainState(int(meta.get("steps", 0)), round(float(meta.get("kimg", 0.0)) * 1000),
                       float(meta.get("wall_time_s", 0.0)), torch.zeros([], device=device), {}, {})
    record = {"from": str(directory), "kimg": float(meta.get("kimg", 0.0)), "discriminator": d_source,
              "grown_from_resolution": old, "source_metadata": {k: v for k, v in meta.items() if k != "warm_start"},
              "earlier": meta.get("warm_start")}
    return state, record
