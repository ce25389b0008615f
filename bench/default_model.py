"""Time the shipped default model (`sgtcore.registry.DEFAULT_GENERATOR`: `synthheads128` since 2026-12-06;
`--network synthheads` for v1) on CPU: batch-1 forward, and batch 16.

    OMP_NUM_THREADS=1 python bench/default_model.py [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

import stylegan
from sgtcore.registry import DEFAULT_GENERATOR


def time_forward(G: torch.nn.Module, batch: int, repeats: int = 20) -> float:
    """Median seconds for `G(z)` with `batch` latents (psi 0.7, const noise), after 3 warm-up calls."""
    z = torch.randn(batch, G.z_dim)
    times = []
    with torch.no_grad():
        for i in range(repeats + 3):
            t = time.perf_counter()
            G(z, truncation_psi=0.7)
            if i >= 3:
                times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--network", default=DEFAULT_GENERATOR)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t = time.perf_counter()
    G = stylegan.load(args.network)
    load_s = time.perf_counter() - t
    params = sum(p.numel() for p in G.parameters())
    print(f"{args.network}: {G.img_resolution}px, {params / 1e6:.2f} M parameters, load {load_s * 1000:.0f} ms, "
          f"{args.threads} thread(s)")
    for batch in (1, 16):
        s = time_forward(G, batch)
        print(f"  batch {batch:2d}: {s * 1000:7.1f} ms  ({batch / s:6.1f} img/s)")


if __name__ == "__main__":
    main()
