"""Generator speed on CPU: images/s and peak memory for each modulated-conv path vs. a transcription of
the NVlabs reference forward (grouped "fused" modconv), same weights. Timings alternate the variants
rep by rep in one process; peak memory is measured per variant in a fresh process.

    python bench/generator.py [--configs 64,256,1024] [--batches 1,8] [--reps 5] [--threads 1]

Prints a Markdown table; ratios > 1 mean faster than the NVlabs reference.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
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


VARIANTS = ("nvlabs-ref", "grouped", "scaled")


def _setup(cfg_name: str, batch: int):
    from reference import nvlabs_ref

    from stylegan.formats.infer import build_generator

    cfg = CONFIGS[cfg_name][0]
    params = nvlabs_ref.init_params(**cfg, seed=0)
    G = build_generator(params, "bench")
    ws = G.mapping(torch.randn(batch, cfg["z_dim"]))

    def run(kind: str):
        with torch.no_grad():
            if kind == "nvlabs-ref":
                return nvlabs_ref.synthesis(params, ws, cfg["img_resolution"])
            return G.synthesis(ws, path=kind)

    return run


def _peak_memory(kind: str, cfg_name: str, batch: int, threads: int, queue) -> None:
    """One forward in a fresh process: peak resident memory above the set-up, in MB."""
    torch.set_num_threads(threads)
    run = _setup(cfg_name, batch)
    # Reset the kernel's peak-RSS mark (Linux), so the set-up's own peak does not hide the forward's.
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    base = _status_kb("VmRSS")
    run(kind)
    queue.put((_status_kb("VmHWM") - base) / 1024)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_memory(kind, cfg_name, batch, threads) -> float:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_peak_memory, args=(kind, cfg_name, batch, threads, q))
    p.start()
    out = q.get()
    p.join()
    return out


def timings(cfg_name: str, batch: int, reps: int) -> dict[str, float]:
    """Median seconds per batch; the variants alternate rep by rep in this one process, so a load
    change on the machine hits all of them alike."""
    run = _setup(cfg_name, batch)
    for kind in VARIANTS:
        run(kind)  # warm-up
    times: dict[str, list[float]] = {k: [] for k in VARIANTS}
    for _ in range(reps):
        for kind in VARIANTS:
            t0 = time.perf_counter()
            run(kind)
            times[kind].append(time.perf_counter() - t0)
    return {k: sorted(v)[len(v) // 2] for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="64,256,1024")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from stylegan.ops.modconv import choose_path

    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.threads} thread(s), median of {args.reps}")
    print("| config | batch | path | s/batch | img/s | peak MB | vs NVlabs ref | auto picks |")
    print("|---|---|---|---|---|---|---|---|")
    for cfg_name in args.configs.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            reps = max(1, args.reps if cfg_name != "1024" else min(args.reps, 2))
            t_all = timings(cfg_name, batch, reps)
            auto = choose_path(torch.zeros(batch, 1, device="cpu"))
            for kind in VARIANTS:
                t, mb = t_all[kind], peak_memory(kind, cfg_name, batch, args.threads)
                ratio = t_all["nvlabs-ref"] / t
                print(f"| {CONFIGS[cfg_name][1]} | {batch} | {kind} | {t:.4f} | {batch / t:.2f} | {mb:.0f} | "
                      f"{ratio:.2f}x | {'<-' if kind == auto else ''} |", flush=True)


if __name__ == "__main__":
    main()
