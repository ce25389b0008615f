"""Inversion benchmark: reconstruction quality (PSNR, SSIM, LPIPS when its weights are local) vs.
wall time for `inversion.project` with its defaults against the NVlabs-style baseline
(`preset='nvlabs'`), on held-out targets. Every method is a plain `project` call: the policy under
test is the library's, not this script's.

    nice -n 5 python bench/inversion.py --network synthheads --targets 20 --source renders \
        --json runs/bench_inversion_renders.json

Targets: `renders` = synthetic heads rendered at 4x the resolution and FFHQ-aligned with their exact
landmarks (`inversion.align(image, landmarks=...)`); `generated` = the generator's own images from
held-out seeds (random noise). Each method's per-step history (PSNR, time) also gives the time at
which it first reached the NVlabs baseline's final PSNR on the same target.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

# Run as a script, this file's folder would come first on sys.path and shadow the `inversion` package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE.parent)]

import torch

import stylegan
from inversion.losses import LPIPSLoss, find_vgg_weights, make_loss, psnr, ssim
from inversion.projection import project, resolve_settings, w_stats
from sgtcore.machine import cpu_description
from sgtcore.registry import DEFAULT_GENERATOR


def load_targets(G: torch.nn.Module, source: str, n: int, seed: int = 10_000) -> list[torch.Tensor]:
    """`n` targets `[1, 3, R, R]` in [-1, 1]."""
    res = G.img_resolution
    if source == "generated":
        out = []
        with torch.no_grad():
            for i in range(n):
                z = stylegan.seed_to_z(seed + i, G.z_dim)
                out.append(G(z, noise_mode="random"))
        return out
    from synthetic import sample_params
    from synthetic.batch import render_many

    from inversion import align

    out = []
    # rendered in spawned workers: OpenGL must not share a process with an initialised torch
    for r in render_many([sample_params(seed + i) for i in range(n)], size=4 * res, workers=2):
        face = align(r.image, landmarks=r.landmarks, output_size=res)
        out.append(stylegan.images.from_uint8(face.image))
    return out


def methods(args: argparse.Namespace) -> dict[str, dict]:
    """Name -> `project()` keyword arguments (on top of the shared loss, seed and progress=False)."""
    out = {
        "nvlabs_w": dict(preset="nvlabs"),  # the baseline: NVlabs projector defaults
        "default": dict(),  # the library's defaults: what `inversion.project(G, target)` does
        "default_no_encoder": dict(init="w_avg"),  # its fallback for a generator without an encoder
        "encoder_only": dict(steps=0),  # the default start alone (the registered encoder, if any)
    }
    if args.nvlabs_steps is not None:
        out["nvlabs_w"]["steps"] = args.nvlabs_steps
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--network", default=DEFAULT_GENERATOR)
    p.add_argument("--discriminator", default=None, help="for the D-feature loss (default: from --network)")
    p.add_argument("--targets", type=int, default=20)
    p.add_argument("--source", choices=["renders", "generated"], default="renders")
    p.add_argument("--nvlabs-steps", type=int, default=None, help="override the baseline's 1000 steps (quick runs)")
    p.add_argument("--only", default=None, help="comma-separated method names")
    p.add_argument("--json", default="runs/bench_inversion.json")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--first", type=int, default=0, help="index of the first target (to extend an earlier run)")
    p.add_argument("--merge", nargs="*", default=[],
                   help="JSONs of earlier runs (same network and source) whose rows to include, by target index")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    G = stylegan.load(args.network)
    try:
        D = stylegan.load_discriminator(args.discriminator or args.network)
    except (stylegan.CheckpointError, FileNotFoundError):
        D = None
    loss = make_loss("auto", D=D)
    vgg = find_vgg_weights()
    lpips_metric = LPIPSLoss(vgg) if vgg is not None else None
    targets = load_targets(G, args.source, args.targets, seed=10_000 + args.first)
    w_stats(G)  # estimated once per G (10k samples); not charged to any method
    todo = methods(args)
    if args.only:
        todo = {k: v for k, v in todo.items() if k in args.only.split(",")}
    rows: dict[str, list[dict]] = {k: [] for k in todo}
    for i, target in enumerate(targets, start=args.first):
        for name, kw in todo.items():
            t0 = time.perf_counter()
            r = project(G, target, loss=loss, seed=i, progress=False, **kw)
            wall = time.perf_counter() - t0
            row = {"target": i, "wall_s": wall, "psnr": float(psnr(r.image, target)), "ssim": float(ssim(r.image, target)),
                   "hist_psnr": r.history["psnr"], "hist_time": r.history["time"]}
            if lpips_metric is not None:
                with torch.no_grad():
                    row["lpips"] = float(lpips_metric(r.image, target))
            rows[name].append(row)
            print(f"target {i:2d} {name:15s} {wall:7.1f}s PSNR {row['psnr']:6.2f} SSIM {row['ssim']:.4f}", flush=True)
    for path in args.merge:  # e.g. the NVlabs baseline measured in an earlier run
        old = json.loads(Path(path).read_text())
        assert old["source"] == args.source and old["network"] == args.network, "merge only runs on the same targets"
        for name, old_rows in old["rows"].items():
            have = {r["target"] for r in rows.get(name, [])}
            rows[name] = sorted([r for r in old_rows if r["target"] not in have] + rows.get(name, []),
                                key=lambda r: r["target"])
    summary = summarize(rows)
    settings = {name: str(resolve_settings(G, **kw)[0]) for name, kw in todo.items()}
    result = {"network": args.network, "cpu": cpu_description(), "threads": args.threads, "settings": settings,
              "source": args.source, "targets": max(len(v) for v in rows.values()), "loss": loss.name,
              "lpips_metric": lpips_metric is not None, "args": {k: v for k, v in vars(args).items()},
              "summary": summary, "rows": rows}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result))
    print(table(result))


def summarize(rows: dict[str, list[dict]]) -> dict[str, dict]:
    base = {r["target"]: r["psnr"] for r in rows.get("nvlabs_w", [])}
    base_time = {r["target"]: r["wall_s"] for r in rows.get("nvlabs_w", [])}
    out = {}
    for name, rs in rows.items():
        s = {"n": len(rs), "psnr": statistics.mean(r["psnr"] for r in rs), "ssim": statistics.mean(r["ssim"] for r in rs),
             "wall_s": statistics.mean(r["wall_s"] for r in rs)}
        if all("lpips" in r for r in rs):
            s["lpips"] = statistics.mean(r["lpips"] for r in rs)
        if base:
            reached, ratios = 0, []
            for r in rs:
                goal = base[r["target"]]
                if r["psnr"] >= goal:
                    reached += 1
                hit = [t for p_, t in zip(r["hist_psnr"], r["hist_time"]) if p_ >= goal]
                t_hit = hit[0] if hit else (r["wall_s"] if r["psnr"] >= goal else None)
                if t_hit is not None:
                    ratios.append(t_hit / base_time[r["target"]])
            s["reached_baseline"] = reached
            s["median_time_to_baseline_ratio"] = statistics.median(ratios) if ratios else None
        out[name] = s
    return out


def table(result: dict) -> str:
    lines = ["| method | targets | PSNR (dB) | SSIM | LPIPS | mean wall (s) | reached NVlabs final PSNR | "
             "median time to it / NVlabs time |", "|---|---|---|---|---|---|---|---|"]
    for name, s in result["summary"].items():
        ratio = s.get("median_time_to_baseline_ratio")
        lines.append(f"| {name} | {s['n']} | {s['psnr']:.2f} | {s['ssim']:.4f} | {s.get('lpips', float('nan')):.4f} | "
                     f"{s['wall_s']:.1f} | {s.get('reached_baseline', '-')}/{s['n']} | "
                     f"{'-' if ratio is None else f'{ratio:.3f}'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()  # the __main__ guard matters: render workers are spawned processes
