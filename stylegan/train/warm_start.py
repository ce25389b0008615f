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
