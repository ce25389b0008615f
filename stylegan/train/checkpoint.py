"""Training checkpoints: `G/`, `D/`, `G_ema/` in our model format (config.json + model.safetensors) plus
`state.pt` (optimizer states, step, images seen, path-length mean, wall time) and `train_config.json`.

A checkpoint and `checkpoints/LATEST` (which names the newest) are written atomically (`sgtcore.atomic`),
so a killed run never leaves a half one. Randomness is re-seeded from (seed, step, rank) at every step,
so the step count is the whole RNG state and a resumed run repeats the uninterrupted one exactly.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from sgtcore.atomic import atomic_dir, atomic_file
from stylegan.formats.ours import load_pretrained, save_pretrained

LATEST = "LATEST"


@dataclass
class TrainState:
    step: int
    cur_nimg: int
    elapsed_s: float
    pl_mean: torch.Tensor  # scalar
    opt_G: dict
    opt_D: dict


def save_checkpoint(ckpt_root: Path, G: torch.nn.Module, D: torch.nn.Module, G_ema: torch.nn.Module,
                    state: TrainState, train_config: dict, metadata: dict | None = None, keep: int = 3) -> Path:
    """Write `ckpt_root/step-XXXXXXX/` atomically, point LATEST at it, keep the newest `keep`."""
    name = f"step-{state.step:07d}"
    final = ckpt_root / name
    with atomic_dir(final) as tmp:
        save_pretrained(G, tmp / "G")
        save_pretrained(D, tmp / "D")
        save_pretrained(G_ema, tmp / "G_ema", metadata=metadata)
        torch.save({"step": state.step, "cur_nimg": state.cur_nimg, "elapsed_s": state.elapsed_s,
                    "pl_mean": state.pl_mean.detach().cpu(), "opt_G": state.opt_G, "opt_D": state.opt_D},
                   tmp / "state.pt")
        (tmp / "train_config.json").write_text(json.dumps(train_config, indent=2) + "\n")
    with atomic_file(ckpt_root / LATEST) as tmp:
        tmp.write_text(name + "\n")
    old = sorted(p for p in ckpt_root.glob("step-*") if p.is_dir())
    for p in old[:-keep] if keep > 0 else []:
        shutil.rmtree(p, ignore_errors=True)
    return final


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint directory from a run directory (its newest), a `checkpoints/` folder, or itself."""
    path = Path(path)
    for root in (path / "checkpoints", path):
        latest = root / LATEST
        if latest.is_file():
            ckpt = root / latest.read_text().strip()
            if (ckpt / "state.pt").is_file():
                return ckpt
    if (path / "state.pt").is_file():
        return path
    raise FileNotFoundError(f"no checkpoint in {path} (expected a run directory with checkpoints/LATEST or a "
                            "step-XXXXXXX directory with state.pt); start without --resume")


def load_checkpoint(ckpt: Path, G: torch.nn.Module, D: torch.nn.Module, G_ema: torch.nn.Module,
                    device: torch.device) -> tuple[TrainState, dict]:
    """Load weights into G, D, G_ema in place; return the saved state and training config."""
    for name, net in (("G", G), ("D", D), ("G_ema", G_ema)):
        net.load_state_dict(load_pretrained(ckpt / name).state_dict())
    s = torch.load(ckpt / "state.pt", map_location=device, weights_only=True)
    config = json.loads((ckpt / "train_config.json").read_text())
    return TrainState(int(s["step"]), int(s["cur_nimg"]), float(s["elapsed_s"]), s["pl_mean"].to(device),
                      s["opt_G"], s["opt_D"]), config
