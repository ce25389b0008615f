"""Generator speed on CPU: images/s and peak memory for each modulated-conv path vs. a transcription of
the NVlabs reference forward (grouped "fused" modconv), same weights, run interleaved in one process.

    python bench/generator.py [--configs 64,256,1024] [--batches 1,8] [--reps 5] [--threads 1]

Prints a Markdown table; ratios > 1 mean faster than the NVlabs reference.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

CONFIGS = {
    # name: (generator kwargs, description)
    "64": (dict(z_dim=256, w_dim=256, img_resolution=64, channel_base=8192, channel_max=256, mapping_layers=4),
           "64 px, default-model size"),
    "256": (dict(z_dim=512, w_dim=512, img_resolution=256, channel_base=32768, channel_max=512, mapping_layers=8),
            "256 px, FFHQ config-F widths"),
    "1024": (dict(z_dim=512, w_dim=512, img_resolution=1024, channel_base=32768, channel_max=512, mapping_layers=8),
             "1024 px, FFHQ config F"),
}


def _measure(kind: str, cfg_name: str, batch: int, reps: int, threads: int, queue) -> None:
    """Runs in a fresh process so ru_maxrss is this variant's own peak."""
    torch.set_num_threads(threads)
    from reference import nvlabs_ref

    from stylegan.formats.infer import build_generator

    cfg = CONFIGS[cfg_name][0]
    params = nvlabs_ref.init_params(**cfg, seed=0)
    G = build_generator(params, "bench")
    ws = G.mapping(torch.randn(batch, cfg["z_dim"]))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def run():
        with torch.no_grad():
            if kind == "nvlabs-ref":
                return nvlabs_ref.synthesis(params, ws, cfg["img_resolution"])
            return G.synthesis(ws, path=kind)

    run()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put((sorted(times)[len(times) // 2], (peak - base) / 1024))


def measure(kind, cfg_name, batch, reps, threads):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_measure, args=(kind, cfg_name, batch, reps, threads, q))
    p.start()
    out = q.get()
    p.join()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="64,256,1024")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    from stylegan.ops.modconv import choose_path

    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.threads} thread(s), median of {args.reps}")
    print("| config | batch | path | s/batch | img/s | peak MB | vs NVlabs ref | auto picks |")
    print("|---|---|---|---|---|---|---|---|")
    for cfg_name in args.configs.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            reps = max(1, args.reps if cfg_name != "1024" else min(args.reps, 2))
            results = {k: measure(k, cfg_name, batch, reps, args.threads) for k in ("nvlabs-ref", "grouped", "scaled")}
            auto = choose_path(torch.zeros(batch, 1, device="cpu"))
            ref_t = results["nvlabs-ref"][0]
            for kind, (t, mb) in results.items():
                ratio = ref_t / t
                print(f"| {CONFIGS[cfg_name][1]} | {batch} | {kind} | {t:.4f} | {batch / t:.2f} | {mb:.0f} | "
                      f"{ratio:.2f}x | {'<-' if kind == auto else ''} |", flush=True)


if __name__ == "__main__":
    main()
