"""Photo -> editable latent, timed stage by stage on this machine: load + FFHQ alignment (dlib), the
encoder's guess, and `inversion.project` with the library defaults (for a shipped model they find its
discriminator and use the D-feature loss; `--no-d`: the pixel loss a generator without one gets); the issue's targets are <= 1 s
to a latent and <= 3 s for the default inversion (2-core CPU).

    python bench/photo_latent.py --network synthheads --threads 2 --reps 5 --json runs/bench_photo_latent.json

The photo is scikit-image's astronaut (the only real face installed here; 512 x 512) unless --photo is
given. Every stage is a plain library call; the first repetition (warm-up: model loads, dlib's
detector) is reported apart and left out of the medians.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE.parent)]

import numpy as np
import torch

import stylegan
from sgtcore.machine import cpu_description
from sgtcore.registry import DEFAULT_GENERATOR


def photo_array(path: str | None) -> np.ndarray:
    """The photo as uint8 `[H, W, 3]` (default: skimage's astronaut)."""
    if path:
        from inversion import load_image

        return np.asarray(load_image(path))
    from skimage import data

    return np.asarray(data.astronaut())


def one_run(G, photo: np.ndarray, steps: int | None, no_d: bool = False) -> dict[str, float]:
    """Seconds for align, encoder, and the default projection (from the aligned face) of one photo."""
    import inversion
    from inversion.projection import prepare_target

    t0 = time.perf_counter()
    face = inversion.align(photo, output_size=G.img_resolution)
    t1 = time.perf_counter()
    target = prepare_target(face.image, G.img_resolution)
    encoder = inversion.find_encoder(G)
    with torch.no_grad():
        ws = encoder(target)
    t2 = time.perf_counter()
    kw = {} if steps is None else {"steps": steps}
    r = inversion.project(G, target, progress=False, **kw, **({"loss": "l2+msssim"} if no_d else {}))
    t3 = time.perf_counter()
    assert torch.isfinite(ws).all() and torch.isfinite(r.ws).all()
    return {"align_s": t1 - t0, "encoder_s": t2 - t1, "photo_to_latent_s": t2 - t0, "project_s": t3 - t2,
            "photo_to_default_s": t3 - t0, "settings": {**r.history["settings"], "loss": r.loss_name}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--network", default=DEFAULT_GENERATOR)
    p.add_argument("--photo", default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--steps", type=int, default=None, help="projection steps (default: the library's)")
    p.add_argument("--no-d", action="store_true",
                   help="the pixel loss (l2+msssim) of a generator without a discriminator, instead of the default's "
                        "D-feature loss")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    G = stylegan.load(args.network).eval().requires_grad_(False)
    photo = photo_array(args.photo)
    runs = [one_run(G, photo, args.steps, args.no_d) for _ in range(args.reps + 1)]
    keys = ("align_s", "encoder_s", "photo_to_latent_s", "project_s", "photo_to_default_s")
    out = {"network": args.network, "cpu": cpu_description(), "threads": args.threads, "reps": args.reps,
           "settings": runs[-1]["settings"], "warm_up": {k: runs[0][k] for k in keys},
           "median": {k: statistics.median(r[k] for r in runs[1:]) for k in keys}}
    print(f"{args.network}, CPU: {out['cpu']}, median of {args.reps} (warm-up apart)")
    print(f"settings: {out['settings']}")
    for k in keys:
        print(f"  {k:20s} {out['median'][k]:7.3f} s   (warm-up {out['warm_up'][k]:.3f} s)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
