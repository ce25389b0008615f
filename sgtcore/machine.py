"""What machine a benchmark ran on (absolute timings differ 2-3x between VMs; every figure names its CPU)."""
from __future__ import annotations

import os
import platform
import subprocess


def cpu_description() -> str:
    """`lscpu`'s model name, the cores this process may use and torch's thread count."""
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name")), "")
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        import torch

        threads = f", {torch.get_num_threads()} torch thread(s)"
    except ImportError:
        threads = ""
    return f"{model or platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} cores usable{threads}"


__all__ = ["cpu_description"]
