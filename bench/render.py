"""Render throughput and memory of `synthetic` (headless pyrender, Mesa llvmpipe on CPU).

    python bench/render.py --n 200 --rss-n 2000

Prints renders/s at 128 and 256 px with worker processes (the `sgt render` path: PNG + JSON
written per image), and the resident memory of one process over a long run.
"""
from __future__ import annotations

import os
import tempfile
import time

import click


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def throughput(n: int, size: int, workers: int) -> float:
    from synthetic.batch import run_jobs

    with tempfile.TemporaryDirectory() as tmp:
        jobs = [{"index": i, "seed": 0, "size": size, "stem": os.path.join(tmp, f"{i:06d}")} for i in range(n)]
        it = run_jobs(jobs, workers)
        next(it)  # start-up (spawn, imports, EGL) is not throughput
        t = time.perf_counter()
        done = sum(1 for _ in it)
        return done / (time.perf_counter() - t)


@click.command(context_settings={"show_default": True})
@click.option("--n", default=200, help="Renders per throughput measurement.")
@click.option("--workers", default=2)
@click.option("--rss-n", default=2000, help="Renders in the memory run (one process).")
@click.option("--rss-size", default=64)
def main(n: int, workers: int, rss_n: int, rss_size: int) -> None:
    print(f"load average before: {os.getloadavg()}")
    for size in (128, 256):
        print(f"throughput {size}px, {workers} workers: {throughput(n, size, workers):.2f} renders/s")
    os.environ.setdefault("LP_NUM_THREADS", "1")
    os.environ.setdefault("SYNTHETIC_RENDER_IN_PROCESS", "1")  # this process only renders: measure GL's memory here
    from synthetic import render, sample_params

    samples = []
    t = time.perf_counter()
    for i in range(rss_n):
        render(sample_params(i), rss_size)
        if i % max(1, rss_n // 10) == 0 or i == rss_n - 1:
            samples.append((i + 1, rss_mb()))
    dt = time.perf_counter() - t
    print(f"memory run: {rss_n} renders at {rss_size}px in one process, {rss_n / dt:.1f} renders/s")
    print("RSS MB by render count: " + ", ".join(f"{k}:{v:.0f}" for k, v in samples))
    later = [v for k, v in samples if k > rss_n // 10]
    print(f"RSS growth after the first 10 %: {later[-1] - later[0]:.1f} MB")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
