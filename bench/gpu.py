"""The one prepared GPU run (issue 23): build the CUDA ops, check them against the pure-PyTorch reference,
time the config-F generator against the NVlabs transcription, and time the end-to-end paths. Each stage is
guarded (a failure is recorded with its traceback and the next stage runs) and time-boxed; everything goes
into one JSON, rewritten after every stage so that a killed run still leaves what it measured.

    OUT=/tmp/gpu_out bash scripts/gpu_check.sh           # what a lent GPU machine runs (<= 6 min on an H200)
    python bench/gpu.py --dry-run-cpu --out /tmp/dry     # every stage's code path on CPU, tiny sizes, ~20 s

Stages:
  build       compile every `stylegan/ops/cuda/*.cu` (one subprocess each, in parallel): time, compiler errors verbatim
  parity      each op with impl='cuda' vs impl='ref' on config-F shapes: forward, gradients, second-order
              gradients; float32 (tolerance 1e-5 of the reference's scale), float16 and bfloat16 (4 eps of their own)
  cuda_tests  `pytest -m cuda` on the test files that use the mark
  generator   config F, 1024 px, random weights: ours (impl 'cuda', 'auto') vs `tests/reference/nvlabs_ref.py`,
              image difference (strict fp32, and float64 truth) and images/s at batch 1, 8, 32, fp32 and mixed
  end_to_end  `inversion.project` defaults (no encoder: best-of-N start), one edit, one `lcr` swap, and
              steps of `stylegan.train` at 256 px, batch 32 (bf16 autocast as shipped, then fp32)

Which implementation ran is recorded for every op call (`stylegan.ops._ext.resolve` is wrapped): `auto` falls
back to the reference when a build fails, and `SGT_OPS_IMPL=ref` forces it; the target 'no-fallback' fails
if any CUDA tensor went through the reference. Without a CUDA device (and without --dry-run-cpu) the JSON
says so, nothing is measured, and the exit status is 0. The exit status is 0 whenever the JSON was
completed, whatever the targets say: read `targets` and `summary`.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
# The repository first (bench/ itself must not shadow it: bench/edits.py is no `edits`), tests/ last for
# tests/reference (the NVlabs transcription).
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() not in (ROOT, ROOT / "bench")] + \
    [str(ROOT / "tests")]

SCHEMA = "sgt-gpu-check/1"
IMPL_SELECTION = ("stylegan.ops._ext.resolve: impl='ref' or a CPU tensor -> reference; 'auto' on a CUDA tensor -> "
                  "the kernel if its build succeeded, else the reference after one RuntimeWarning; 'cuda' -> the "
                  "kernel, or RuntimeError if the build failed; SGT_OPS_IMPL=ref -> the reference for every call, "
                  "'cuda' included, without a warning")
JSON_NAME, LOG_NAME = "gpu_check.json", "gpu_check.log"
STAGES = ("build", "parity", "cuda_tests", "generator", "end_to_end")
FP32_TOL = 1e-5  # relative to the reference's largest magnitude (SPEC: fp32 atol 1e-5 at unit scale)
LOW_EPS_MULT = 4  # float16 / bfloat16: within 4 machine epsilons of their own, relative likewise
NEEDED = ("numpy", "scipy", "PIL", "tqdm", "safetensors", "pytest", "ninja")  # what the checked modules import
FORBIDDEN = ("dlib", "pyrender", "gradio")  # absent on the device image: nothing checked may import them
MIXED_IMAGE_TOL = 5e-2  # whole generator with fp16 blocks vs fp32 reference: heuristic (~50 fp16 eps, 17 layers)


class StageTimeout(BaseException):
    """A stage (or part of one) ran past its time box. A BaseException, like KeyboardInterrupt, so that no
    `except Exception` in the code under test (the kernel loader has one) swallows it."""


# ---------------------------------------------------------------- time boxes (SIGALRM, nestable)

_deadlines: list[float] = []


def _arm() -> None:
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        return
    if not _deadlines:
        signal.setitimer(signal.ITIMER_REAL, 0)
        return
    signal.setitimer(signal.ITIMER_REAL, max(_deadlines[-1] - time.monotonic(), 0.001))


def _on_alarm(signum, frame):  # noqa: ARG001
    raise StageTimeout("time box exceeded")


@contextlib.contextmanager
def time_box(seconds: float):
    """Raise `StageTimeout` inside the block after `seconds` (never later than an enclosing box). Works between
    Python-level calls: a CUDA kernel already launched finishes first; the shell's `timeout` is the hard stop."""
    deadline = time.monotonic() + seconds
    _deadlines.append(min(deadline, _deadlines[-1]) if _deadlines else deadline)
    _arm()
    try:
        yield
    finally:
        _deadlines.pop()
        _arm()


def box_left() -> float:
    """Seconds left in the innermost time box (inf outside any)."""
    return _deadlines[-1] - time.monotonic() if _deadlines else float("inf")


def _outer_expired() -> bool:
    return bool(_deadlines) and time.monotonic() >= _deadlines[-1]


def part(result: dict, name: str, fn: Callable[[dict], Any], box_s: float | None = None) -> None:
    """Run one sub-measurement `fn(entry)` guarded: its failure or timeout is recorded in `result[name]` and the
    caller goes on (unless the enclosing stage's own time box is what ran out)."""
    entry: dict = {}
    result[name] = entry
    t0 = time.perf_counter()
    try:
        with time_box(box_s if box_s is not None else 1e9):
            fn(entry)
        entry["status"] = "ok"
    except StageTimeout:
        entry.update(status="timeout", error=traceback.format_exc(limit=3))
        if _outer_expired():
            raise
    except Exception:  # noqa: BLE001 - a diagnostic run records every failure and continues
        entry.update(status="failed", error=traceback.format_exc())
    entry["seconds"] = round(time.perf_counter() - t0, 3)


# ---------------------------------------------------------------- the report

@dataclass
class Context:
    """What every stage needs: where to write, the device, the sizes of this mode and the time left."""

    out: Path
    dry_run: bool
    deadline: float
    device: Any = None  # torch.device
    cuda: bool = False
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sgt_gpu_check_")))
    report: dict = field(default_factory=dict)
    log_file: Any = None

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def log(self, msg: str) -> None:
        line = f"[gpu_check {time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        if self.log_file is not None:
            self.log_file.write(line + "\n")
            self.log_file.flush()

    def save(self) -> None:
        from sgtcore.atomic import atomic_file

        self.report["wall_s"] = round(time.monotonic() - self.report.get("_t0", time.monotonic()), 1)
        data = {k: v for k, v in self.report.items() if not k.startswith("_")}
        with atomic_file(self.out / JSON_NAME) as tmp:
            tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")


# (cap, minimum) seconds per stage: a stage gets min(cap, time left - the later stages' minimums).
BOXES_GPU = {"build": (180, 30), "parity": (60, 10), "cuda_tests": (60, 10), "generator": (120, 30),
             "end_to_end": (150, 30)}
BOXES_DRY = {"build": (30, 1), "parity": (30, 2), "cuda_tests": (60, 2), "generator": (30, 2), "end_to_end": (60, 2)}


def run_stage(ctx: Context, name: str, fn: Callable[[dict, Context], None], boxes: dict) -> None:
    """Run stage `fn(result, ctx)` in its time box; record status, seconds, result so far, traceback."""
    cap, minimum = boxes[name]
    later = sum(boxes[s][1] for s in STAGES[STAGES.index(name) + 1:])
    box = min(cap, ctx.left() - later)
    result: dict = {}
    entry = {"status": "running", "time_box_s": round(box, 1), "result": result}
    ctx.report["stages"][name] = entry
    if box < minimum:
        entry.update(status="skipped", reason=f"only {max(box, 0):.0f} s left for it (needs {minimum} s)")
        ctx.log(f"{name}: skipped ({entry['reason']})")
        ctx.save()
        return
    ctx.log(f"{name}: start (time box {box:.0f} s)")
    ctx.save()
    t0 = time.perf_counter()
    try:
        with time_box(box):
            fn(result, ctx)
        entry["status"] = "skipped" if result.get("skip_reason") else "ok"
    except StageTimeout:
        entry.update(status="timeout", error=traceback.format_exc())
    except Exception:  # noqa: BLE001
        entry.update(status="failed", error=traceback.format_exc())
    entry["seconds"] = round(time.perf_counter() - t0, 2)
    _free_memory()
    ctx.log(f"{name}: {entry['status']} in {entry['seconds']:.1f} s")
    if entry.get("error"):
        ctx.log(entry["error"].rstrip().splitlines()[-1])
    ctx.save()


def _free_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ---------------------------------------------------------------- which implementation ran

@contextlib.contextmanager
def record_impls(force: str | None = None):
    """Count every `stylegan.ops._ext.resolve` call as (op, requested, chosen, dtype, device). `force='cuda'`
    turns 'auto' into 'cuda', so a missing kernel raises instead of falling back (the generator has no impl
    argument: its layers call the ops with 'auto')."""
    from stylegan.ops import _ext

    orig = _ext.resolve
    counts: collections.Counter = collections.Counter()

    def resolve(impl, x, name):
        asked = force if force is not None and impl == "auto" else impl
        which, module = orig(asked, x, name)
        counts[(name, asked, which, str(x.dtype).replace("torch.", ""), x.device.type)] += 1
        return which, module

    _ext.resolve = resolve
    try:
        yield counts
    finally:
        _ext.resolve = orig


def summarise_impls(counts: collections.Counter) -> dict:
    """`{'ops': {op: {chosen impl: calls}}, 'fallbacks': [...]}`; a fallback is a CUDA tensor that ran the
    reference although the kernel was asked for ('cuda') or allowed ('auto')."""
    ops: dict = {}
    fallbacks = []
    for (name, asked, which, dtype, dev), n in sorted(counts.items()):
        ops.setdefault(name, {}).setdefault(which, 0)
        ops[name][which] += n
        if dev == "cuda" and which == "ref" and asked in ("cuda", "auto"):
            fallbacks.append({"op": name, "asked": asked, "dtype": dtype, "calls": n})
    return {"ops": ops, "fallbacks": fallbacks}


# ---------------------------------------------------------------- small helpers

def rel_err(a, b) -> float:
    """max|a - b| / max|b| (max|a - b| where b is all zero); NaN anywhere gives NaN."""
    import torch

    a, b = a.detach().double(), b.detach().double()
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {list(a.shape)} vs {list(b.shape)}")
    diff = (a - b).abs().max().item() if a.numel() else 0.0
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        return float("nan")
    scale = b.abs().max().item() if b.numel() else 0.0
    return diff / scale if scale > 0 else diff


def _sync(ctx: Context) -> None:
    import torch

    if ctx.cuda:
        torch.cuda.synchronize()


@contextlib.contextmanager
def strict_fp32():
    """No TF32 in convolutions and matmuls (cuDNN convolutions use TF32 by default): accuracy is read in true fp32."""
    import torch

    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def _run(cmd: list[str], timeout: float = 20) -> str | None:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return (p.stdout + p.stderr).strip()
    except (OSError, subprocess.SubprocessError):
        return None


# ---------------------------------------------------------------- stage 1: build

def build_one(name: str) -> dict:
    """Compile and import one kernel through the library's own loader; the compiler's output verbatim on
    failure (the loader itself only warns with the first 300 characters and falls back)."""
    import warnings

    from torch.utils import cpp_extension

    from stylegan.ops import _ext

    errors: dict = {}
    orig = cpp_extension.load

    def load(*args, **kwargs):
        try:
            return orig(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            errors["error"] = f"{type(exc).__name__}: {exc}"  # ninja's log: every compiler message
            raise

    build_dir = Path(os.environ.get("SGT_BUILD_DIR", Path.home() / ".cache" / "sgt_ops")) / \
        f"{name}_{_ext.source_hash(name)}"
    cached = any(build_dir.glob("*.so"))
    cpp_extension.load = load
    _ext._cache.pop(name, None)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = _ext.load_cuda_extension(name)
    finally:
        cpp_extension.load = orig
    out = {"ok": module is not None, "seconds": round(time.perf_counter() - t0, 2), "cached_before": cached,
           "build_dir": str(build_dir), "source_hash": _ext.source_hash(name)}
    if module is not None:
        out["module_file"] = getattr(module, "__file__", None)
    else:
        out["error"] = errors.get("error") or "; ".join(str(w.message) for w in caught) or "no module, no error"
    return out


def stage_build(res: dict, ctx: Context) -> None:
    from stylegan.ops import _ext

    names = sorted(p.stem for p in _ext._CUDA_DIR.glob("*.cu"))
    res["ops"] = {n: {"source_hash": _ext.source_hash(n)} for n in names}
    res["env"] = {k: os.environ.get(k) for k in ("TORCH_CUDA_ARCH_LIST", "SGT_BUILD_DIR", "SGT_OPS_IMPL", "CUDA_HOME",
                                                  "MAX_JOBS")}
    nvcc = _run(["nvcc", "--version"])
    res["nvcc"] = nvcc.splitlines()[-1] if nvcc else None
    if not ctx.cuda:
        res["skip_reason"] = "no CUDA device: nothing is compiled in a dry run (tests/stylegan/test_ops.py::" \
                         "test_cuda_kernels_compile checks that nvcc builds them, without a GPU)"
        return
    # One subprocess per kernel, in parallel: nvcc compiles one file single-threaded, and a crash in a
    # build cannot take this process down. This process then imports the cached builds.
    procs = {n: subprocess.Popen([sys.executable, __file__, "--build-one", n], cwd=ROOT, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for n in names}
    try:
        for n, p in procs.items():
            out, err = p.communicate(timeout=max(min(box_left(), ctx.left()), 1))
            lines = [ln for ln in out.splitlines() if ln.startswith("{")]
            info = json.loads(lines[-1]) if lines else {"ok": False, "error": f"exit {p.returncode}: {err[-4000:]}"}
            info["stderr_tail"] = err[-2000:]  # compiler warnings of a build that worked land here
            res["ops"][n].update(info)
            ctx.log(f"build {n}: {'ok' if info['ok'] else 'FAILED'} in {info.get('seconds', '?')} s")
            if not info["ok"]:
                ctx.log(info["error"][-2000:])
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
    for n in names:
        if res["ops"][n].get("ok"):
            t0 = time.perf_counter()
            res["ops"][n]["import_here_ok"] = _ext.load_cuda_extension(n) is not None
            res["ops"][n]["import_here_s"] = round(time.perf_counter() - t0, 2)


# ---------------------------------------------------------------- stage 2: op parity

@dataclass
class Case:
    """One op call: `make(dtype, device, gen)` -> inputs; `call(inputs, impl)` -> output."""

    name: str
    make: Callable
    call: Callable
    grad_wrt: tuple[str, ...]
    gradgrad: tuple[str, ...] = ()  # second-order gradients wanted w.r.t. these ('dy' = the incoming gradient)
    nvlabs: Callable | None = None  # the NVlabs transcription of the same call (fp32 inputs), for modconv


def parity_cases(small: bool) -> list[Case]:
    """Config-F shapes (ToRGB at 1024 px, convs at 32-64 px with 512 channels, the discriminator's resampling);
    tiny ones for the CPU dry run."""
    import torch
    from reference import nvlabs_ref

    from stylegan.ops import bias_act, conv2d_resample, modulated_conv2d, setup_filter

    s = (lambda big, tiny: tiny) if small else (lambda big, tiny: big)  # noqa: E731

    def rn(gen, dtype, dev, *shape, scale=1.0):
        return (torch.randn(*shape, generator=gen, device=gen.device) * scale).to(dev, dtype)

    def fir(dev):
        return setup_filter([1, 3, 3, 1], device=dev)

    cases = []
    for label, shape, act, clamp, scale in [
        ("synthesis-lrelu", s((4, 512, 32, 32), (2, 8, 8, 8)), "lrelu", None, 1.0),
        ("clamp256", s((4, 128, 128, 128), (2, 8, 8, 8)), "lrelu", 256.0, 300.0),  # large enough to clamp
        ("mapping-fc", s((32, 512), (4, 16)), "lrelu", None, 1.0),
        ("torgb-linear", s((2, 3, 1024, 1024), (2, 3, 16, 16)), "linear", None, 1.0),
        ("relu", s((4, 64, 64, 64), (2, 4, 8, 8)), "relu", None, 1.0),
    ]:
        cases.append(Case(
            f"bias_act/{label}",
            lambda dt, dev, g, shape=shape, scale=scale: {"x": rn(g, dt, dev, *shape, scale=scale),
                                                         "b": rn(g, dt, dev, shape[1])},
            lambda t, impl, act=act, clamp=clamp: bias_act(t["x"], t["b"], act=act, clamp=clamp, impl=impl),
            ("x", "b"), ("dy",)))
    from stylegan.ops import upfirdn2d

    for label, shape, kw in [
        ("modconv-up-fir", s((4, 512, 65, 65), (2, 8, 17, 17)), dict(padding=1, gain=4)),
        ("modconv-up-fir-1024", s((2, 32, 1025, 1025), (1, 4, 33, 33)), dict(padding=1, gain=4)),
        ("img-upsample", s((4, 3, 512, 512), (2, 3, 16, 16)), dict(up=2, padding=[2, 1, 2, 1], gain=4)),
        ("D-down-pad", s((4, 256, 128, 128), (2, 8, 16, 16)), dict(padding=2)),
        ("D-skip-down2", s((4, 256, 128, 128), (2, 8, 16, 16)), dict(down=2, padding=1)),
        ("up2-down2-odd", s((3, 16, 37, 29), (2, 3, 9, 10)), dict(up=2, down=2, padding=[2, 1, 0, 3])),
    ]:
        cases.append(Case(
            f"upfirdn2d/{label}",
            lambda dt, dev, g, shape=shape: {"x": rn(g, dt, dev, *shape), "f": fir(dev)},
            lambda t, impl, kw=kw: upfirdn2d(t["x"], t["f"], impl=impl, **kw),
            ("x",), ("dy",)))
    for label, (n, ci, co, r, k, up, demod), path in [
        ("3x3", s((4, 512, 512, 32, 3, 1, True), (2, 8, 8, 8, 3, 1, True)), "grouped"),
        ("3x3-scaled", s((4, 512, 512, 32, 3, 1, True), (2, 8, 8, 8, 3, 1, True)), "scaled"),
        ("up2", s((4, 512, 512, 32, 3, 2, True), (2, 8, 8, 8, 3, 2, True)), "grouped"),
        ("up2-scaled", s((4, 512, 512, 32, 3, 2, True), (2, 8, 8, 8, 3, 2, True)), "scaled"),
        ("up2-1024", s((1, 64, 32, 512, 3, 2, True), (1, 4, 4, 16, 3, 2, True)), "grouped"),
        ("torgb", s((2, 32, 3, 1024, 1, 1, False), (2, 8, 3, 16, 1, 1, False)), "grouped"),
    ]:
        def make(dt, dev, g, n=n, ci=ci, co=co, r=r, k=k):
            # activations in dt; weights, styles and filter stay fp32, as in the generator's fp16 blocks
            return {"x": rn(g, dt, dev, n, ci, r, r), "weight": rn(g, torch.float32, dev, co, ci, k, k),
                    "styles": 1 + rn(g, torch.float32, dev, n, ci, scale=0.2), "f": fir(dev)}

        def call(t, impl, up=up, demod=demod, path=path, k=k):
            return modulated_conv2d(t["x"], t["weight"], t["styles"], up=up, padding=k // 2, resample_filter=t["f"],
                                    demodulate=demod, flip_weight=(up == 1), path=path, impl=impl)

        def nv(t, up=up, demod=demod):
            return nvlabs_ref._modconv_fused(t["x"], t["weight"], t["styles"], demod, up, t["f"])

        cases.append(Case(f"modulated_conv2d/{label}", make, call, ("x", "weight", "styles"), ("dy", "weight"), nv))
    for label, (n, ci, co, r, k) in [("down2-3x3", s((4, 256, 512, 64, 3), (2, 4, 8, 16, 3))),
                                      ("down2-1x1", s((4, 256, 512, 64, 1), (2, 4, 8, 16, 1)))]:
        cases.append(Case(
            f"conv2d_resample/{label}",
            lambda dt, dev, g, n=n, ci=ci, co=co, r=r, k=k: {
                "x": rn(g, dt, dev, n, ci, r, r), "w": rn(g, dt, dev, co, ci, k, k, scale=(ci * k * k) ** -0.5),
                "f": fir(dev)},
            lambda t, impl, k=k: conv2d_resample(t["x"], t["w"], f=t["f"], down=2, padding=k // 2, impl=impl),
            ("x", "w"), ("dy",)))
    return cases


def _evaluate(case: Case, inputs: dict, impl: str, seed: int) -> dict:
    """Output, gradients (`d<name>`) and second-order gradients (`dd_<name>`) of one call."""
    import torch

    leaves = {k: v.detach().clone().requires_grad_(k in case.grad_wrt) for k, v in inputs.items()}
    y = case.call(leaves, impl)
    gen = torch.Generator(device=y.device).manual_seed(seed)
    dy = torch.randn(y.shape, generator=gen, device=y.device).to(y.dtype).requires_grad_(bool(case.gradgrad))
    grads = torch.autograd.grad(y, [leaves[k] for k in case.grad_wrt], dy, create_graph=bool(case.gradgrad))
    out = {"y": y.detach(), **{f"d{k}": g.detach() for k, g in zip(case.grad_wrt, grads)}}
    if case.gradgrad:
        # d/d(targets) of sum_k <grad_k, v_k>: the double backward that R1 and path length take
        total = sum((g.float() * torch.randn(g.shape, generator=gen, device=g.device)).sum() for g in grads)
        targets = [dy if k == "dy" else leaves[k] for k in case.gradgrad]
        for k, g in zip(case.gradgrad, torch.autograd.grad(total, targets, allow_unused=True)):
            out[f"dd_{k}"] = g.detach() if g is not None else torch.zeros_like(targets[case.gradgrad.index(k)])
    return out


def check_case(case: Case, dtype, device, cand_impl: str, seed: int = 0) -> dict:
    """`cand_impl` vs impl='ref' in the same dtype (the pass criterion), and both vs a float64 reference."""
    import torch

    tol = FP32_TOL if dtype == torch.float32 else LOW_EPS_MULT * torch.finfo(dtype).eps
    gen = torch.Generator(device=device).manual_seed(seed)
    inputs = case.make(dtype, device, gen)
    ref = _evaluate(case, inputs, "ref", seed)
    with record_impls() as counts:
        cand = _evaluate(case, inputs, cand_impl, seed)
    truth = _evaluate(case, {k: v.double() for k, v in inputs.items()}, "ref", seed)
    per = {}
    for k in ref:
        per[k] = {"rel_diff": rel_err(cand[k], ref[k]), "cand_vs_fp64": rel_err(cand[k], truth[k]),
                  "ref_vs_fp64": rel_err(ref[k], truth[k])}
    diffs = [v["rel_diff"] for v in per.values()]
    worst = float("nan") if any(d != d for d in diffs) else max(diffs)  # max() would step over a NaN
    out = {"tol": tol, "max_rel_diff": worst, "pass": bool(worst <= tol), "tensors": per,
           "impls": summarise_impls(counts)}
    if case.nvlabs is not None and dtype == torch.float32:
        with torch.no_grad():
            out["vs_nvlabs_transcription"] = rel_err(cand["y"], case.nvlabs(inputs))
    return out


def stage_parity(res: dict, ctx: Context) -> None:
    import torch

    cand = "cuda" if ctx.cuda else "ref"
    res["candidate_impl"] = cand
    res["note"] = "rel_diff = max|impl - ref| / max|ref| in the same dtype; *_vs_fp64 against float64 ref; " \
                  "modulated_conv2d and conv2d_resample have no kernel of their own (torch convolutions + " \
                  "upfirdn2d, whose implementation 'impls' records)"
    if not ctx.cuda:
        res["note"] += "; dry run: the candidate is the reference itself (exercises the code, measures nothing)"
    cases = res.setdefault("cases", {})
    with strict_fp32():
        for case in parity_cases(small=ctx.dry_run):
            cases[case.name] = {}
            for dtype in (torch.float32, torch.float16, torch.bfloat16):
                key = str(dtype).replace("torch.", "")
                part(cases[case.name], key, lambda e, c=case, d=dtype: e.update(check_case(c, d, ctx.device, cand)))
            ctx.log(f"parity {case.name}: " + ", ".join(
                f"{k} {v['max_rel_diff']:.2g}" if "max_rel_diff" in v else f"{k} {v['status']}"
                for k, v in cases[case.name].items()))


# ---------------------------------------------------------------- stage 3: the CUDA-marked tests

def stage_cuda_tests(res: dict, ctx: Context) -> None:
    import importlib.util

    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("test_*.py")
                   if "mark.cuda" in p.read_text(errors="replace"))
    res["files"] = files
    if importlib.util.find_spec("pytest") is None:
        raise RuntimeError("pytest is not installed here; carry a pytest wheel (see scripts/gpu_check.sh)")
    xml = ctx.tmp / "cuda_tests.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", f"--junitxml={xml}", *files]
    res["command"] = " ".join(cmd[1:])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env,
                              timeout=max(min(box_left(), ctx.left()) - 5, 1))
    except subprocess.TimeoutExpired as exc:
        res["output_tail"] = ((exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes)
                              else (exc.stdout or ""))[-3000:]
        raise
    res["returncode"] = proc.returncode
    res["output_tail"] = (proc.stdout + proc.stderr)[-3000:]
    if not xml.exists():
        raise RuntimeError(f"pytest wrote no report (exit {proc.returncode})")
    suite = ET.parse(xml).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    res.update(counts, passed=counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"])
    res["problems"] = [{"test": f"{tc.get('classname')}::{tc.get('name')}",
                        "message": (bad.get("message") or "")[:1500]}
                       for tc in suite.iter("testcase") for bad in tc if bad.tag in ("failure", "error")]
    ctx.log(f"cuda tests: {res['passed']} passed, {counts['failures']} failed, {counts['errors']} errors, "
            f"{counts['skipped']} skipped")


# ---------------------------------------------------------------- stage 4: the whole generator

GEN_F = dict(z_dim=512, w_dim=512, img_resolution=1024, channel_base=32768, channel_max=512, mapping_layers=8)
GEN_TINY = dict(z_dim=32, w_dim=32, img_resolution=32, channel_base=512, channel_max=32, mapping_layers=2)
MIXED = dict(num_fp16_res=4, conv_clamp=256.0)  # NVlabs' mixed-precision settings (StyleGAN2-ADA)


def _generators(cfg: dict, ctx: Context, seed: int = 0, mixed: bool = True):
    """NVlabs-named random parameters (on the device), our G from them, and G in mixed precision."""
    from reference import nvlabs_ref

    from stylegan.formats.infer import build_generator

    params = nvlabs_ref.init_params(**cfg, seed=seed)
    G = build_generator(params, "gpu-check").to(ctx.device)
    G_mixed = build_generator(params, "gpu-check", **MIXED).to(ctx.device) if mixed else None
    return {k: v.to(ctx.device) for k, v in params.items()}, G, G_mixed


def stage_generator(res: dict, ctx: Context) -> None:
    import numpy as np
    import torch
    from reference import nvlabs_ref

    cfg = GEN_TINY if ctx.dry_run else GEN_F
    batches = (1, 2) if ctx.dry_run else (1, 8, 32)
    reps = 1 if ctx.dry_run else 5
    p, G, G_mixed = _generators(cfg, ctx)
    R = cfg["img_resolution"]
    res["config"] = {**cfg, "num_ws": G.num_ws, "weights": "random (tests/reference/nvlabs_ref.init_params, seed 0)",
                     "mixed": MIXED, "truncation_psi": 0.7, "noise_mode": "const"}
    z = torch.from_numpy(np.random.RandomState(0).randn(max(batches), cfg["z_dim"])).float().to(ctx.device)
    with torch.no_grad(), strict_fp32():
        ws = G.mapping(z, truncation_psi=0.7)
        res["mapping_rel_diff"] = rel_err(ws, nvlabs_ref.mapping(p, z, G.num_ws, 0.7, cfg["mapping_layers"]))

    def ours(model, force, **kw):
        def run(b):
            with record_impls(force) as counts:
                img = model.synthesis(ws[:b], **kw)
            run.impls = summarise_impls(counts)
            return img
        return run

    autocast = torch.float16 if ctx.cuda else torch.bfloat16  # CPU autocast: bf16 (dry run only)
    variants = {
        "nvlabs-ref": lambda b: nvlabs_ref.synthesis(p, ws[:b], R),
        "ours-cuda": ours(G, "cuda"), "ours-auto": ours(G, None), "ours-auto-scaled": ours(G, None, path="scaled"),
        "nvlabs-ref-autocast16": lambda b: _autocast(ctx, autocast, nvlabs_ref.synthesis, p, ws[:b], R,
                                                     conv_clamp=MIXED["conv_clamp"]),
        "ours-mixed-cuda": ours(G_mixed, "cuda"), "ours-mixed-auto": ours(G_mixed, None),
    }
    if not ctx.cuda:  # forcing the kernels needs CUDA tensors
        for k in ("ours-cuda", "ours-mixed-cuda"):
            variants.pop(k)
        res["skipped_variants"] = {"ours-cuda": "no CUDA device", "ours-mixed-cuda": "no CUDA device"}

    acc = res.setdefault("accuracy", {})
    n = min(2, max(batches))
    with strict_fp32(), torch.no_grad():
        ref32 = nvlabs_ref.synthesis(p, ws[:n], R)
        ref32c = nvlabs_ref.synthesis(p, ws[:n], R, conv_clamp=MIXED["conv_clamp"])
        acc["batch"], acc["ref_image_absmax"] = n, ref32.abs().max().item()
        imgs = {}
        for name in [k for k in variants if k.startswith("ours")]:
            def measure(e, name=name):
                imgs[name] = variants[name](n)
                against = ref32c if "mixed" in name else ref32
                e.update(rel_diff=rel_err(imgs[name], against), max_abs_diff=(imgs[name] - against).abs().max().item(),
                         against="nvlabs-ref" + (" (conv_clamp 256, fp32)" if "mixed" in name else " (fp32)"),
                         impls=variants[name].impls)
            part(acc, name, measure)

        def truth(e):  # float64 NVlabs transcription: which fp32 forward is closer to the exact image?
            t = nvlabs_ref.synthesis({k: v.double() for k, v in p.items()}, ws[:1].double(), R)
            e["nvlabs-ref_fp32_vs_fp64"] = rel_err(ref32[:1], t)
            e.update({f"{k}_vs_fp64": rel_err(v[:1], t) for k, v in imgs.items() if "mixed" not in k})
        part(acc, "float64", truth, box_s=max(min(60.0, ctx.left() / 4), 1))
    ctx.log("generator accuracy: " + ", ".join(f"{k} {v.get('rel_diff', v.get('status'))}" for k, v in acc.items()
                                               if isinstance(v, dict) and k.startswith("ours")))

    speed = res.setdefault("speed", {})
    res["timing"] = {"reps": reps, "statistic": "median seconds per forward (torch.no_grad, synchronised)",
                     "tf32_convs": bool(torch.backends.cudnn.allow_tf32),
                     "cudnn_benchmark": bool(torch.backends.cudnn.benchmark)}
    per_image = None
    for b in batches:
        if per_image is not None and per_image * b * (reps + 1) * len(variants) > min(box_left(), ctx.left()) - 10:
            speed[str(b)] = {"skipped": f"not enough time left in the stage's box ({box_left():.0f} s)"}
            continue
        row = speed.setdefault(str(b), {})
        times: dict[str, list[float]] = {}
        with torch.no_grad():
            for name, fn in variants.items():  # warm-up (cuDNN algorithm choice, allocator) and peak memory
                def warm(e, fn=fn, name=name):
                    if ctx.cuda:
                        torch.cuda.reset_peak_memory_stats()
                    fn(b)
                    _sync(ctx)
                    if ctx.cuda:
                        e["peak_mem_gb"] = round(torch.cuda.max_memory_allocated() / 2 ** 30, 2)
                    times[name] = []
                part(row, name, warm)
            for _ in range(reps):  # variants alternate rep by rep: drifting clocks hit all alike
                for name in list(times):
                    t0 = time.perf_counter()
                    try:
                        variants[name](b)
                        _sync(ctx)
                    except Exception:  # noqa: BLE001 - recorded; StageTimeout is no Exception and passes
                        row[name].update(status="failed", error=traceback.format_exc())
                        times.pop(name)
                        continue
                    times[name].append(time.perf_counter() - t0)
        for name, ts in times.items():
            med = statistics.median(ts)
            row[name].update(median_s=med, img_per_s=b / med, times_s=[round(t, 5) for t in ts])
            if getattr(variants[name], "impls", None) is not None:
                row[name]["impls"] = variants[name].impls
        if "nvlabs-ref" in times:
            for name in times:
                row[name]["speed_vs_nvlabs_ref"] = row[name]["img_per_s"] / row["nvlabs-ref"]["img_per_s"]
            per_image = max(statistics.median(ts) for ts in times.values()) / b
        ctx.log(f"generator batch {b}: " + ", ".join(f"{k} {row[k]['img_per_s']:.1f} img/s" for k in times))
        ctx.save()


def _autocast(ctx: Context, dtype, fn, *args, **kw):
    import torch

    with torch.autocast(device_type=ctx.device.type, dtype=dtype):
        return fn(*args, **kw)


# ---------------------------------------------------------------- stage 5: end to end

def stage_end_to_end(res: dict, ctx: Context) -> None:
    import numpy as np
    import torch

    import edits
    import inversion
    from edits.base import LinearEdit
    from edits.directions.sefa import sefa_factorize
    from edits.swap import swap

    cfg = GEN_TINY if ctx.dry_run else GEN_F
    _, G, _ = _generators(cfg, ctx, seed=1, mixed=False)
    G.requires_grad_(False)
    res["generator"] = {**cfg, "num_ws": G.num_ws}

    def ws_of(seed):
        z = torch.from_numpy(np.random.RandomState(seed).randn(1, G.z_dim)).float().to(ctx.device)
        with torch.no_grad():
            return G.mapping(z, truncation_psi=0.7)

    with torch.no_grad():  # a target the generator can make: its own image of another seed, clipped to [-1, 1]
        target = G.synthesis(ws_of(123)).clamp(-1, 1)
    found: dict = {}

    def project(e):
        kw = dict(steps=3, candidates=2) if ctx.dry_run else {}
        t0 = time.perf_counter()
        r = inversion.project(G, target, progress=False, **kw)
        _sync(ctx)
        e.update(project_s=round(time.perf_counter() - t0, 3), steps=len(r.history["step"]),
                 loss=r.loss_name, init=r.history.get("init"), space=r.history.get("space"),
                 final_psnr=r.history["psnr"][-1] if r.history.get("psnr") else None, arguments=kw or "defaults")
        found["ws"] = r.ws.detach()
    part(res, "project", project, box_s=max(min(90.0, box_left() - 100), 5))  # 100 s kept for the rest
    ws0 = found.get("ws", ws_of(123))

    def timed(fn, reps):
        fn()
        _sync(ctx)
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            _sync(ctx)
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts)

    reps = 1 if ctx.dry_run else 5

    def edit(e):
        t0 = time.perf_counter()
        values, vectors, chosen = sefa_factorize(G)
        _sync(ctx)
        e["direction_s"] = round(time.perf_counter() - t0, 4)
        ed = LinearEdit(vectors[0], sorted({r for _, r in chosen}), 1.0, name="sefa:0", method="sefa",
                        num_ws=G.num_ws)
        with torch.no_grad():
            e["apply_and_render_s"] = timed(lambda: edits.render(G, ws0, [(ed, 2.0)]), reps)
            changed = (edits.render(G, ws0, [(ed, 2.0)]) - G.synthesis(ws0)).abs().mean().item()
        e.update(edit="SeFa component 0, +2 (sigma 1), rows it reads", mean_abs_image_change=changed)
    part(res, "edit", edit, box_s=20)

    def swap_lcr(e):
        a, b = ws_of(2), ws_of(3)
        with torch.no_grad():
            e["swap_s"] = timed(lambda: swap(a, b, method="lcr", G=G), reps)
            r = swap(a, b, method="lcr", G=G)
        e.update(split=r.split if hasattr(r, "split") else None, image_shape=list(r.image.shape),
                 finite=bool(torch.isfinite(r.image).all()), inputs="ws (no photo: projection is timed above)")
    part(res, "swap_lcr", swap_lcr, box_s=20)

    for amp in (True, False):  # bf16 autocast as shipped (TrainConfig.amp), then plain fp32
        part(res, "train_amp" if amp else "train_fp32", lambda e, amp=amp: _train_steps(e, ctx, amp),
             box_s=max(min(60.0, box_left() - (30 if amp else 1)), 1))


def _train_steps(e: dict, ctx: Context, amp: bool) -> None:
    """Four steps of `stylegan.train.train` (step 0 runs both lazy regularisers; the last one also writes the
    end-of-run snapshot), each timed to its `on_step_end`."""
    import numpy as np
    import PIL.Image

    from stylegan.train import TrainConfig, train

    res_px, batch = (32, 4) if ctx.dry_run else (256, 32)
    widths = dict(z_dim=32, w_dim=32, mapping_layers=2, channel_base=512, channel_max=32) if ctx.dry_run else \
        dict(z_dim=512, w_dim=512, mapping_layers=8, channel_base=32768, channel_max=512)  # config F
    data = ctx.tmp / f"data{res_px}"
    if not data.exists():
        data.mkdir()
        rng = np.random.RandomState(0)
        for i in range(batch):  # smooth random colour fields: any images will do for timing
            small = rng.randint(0, 256, (8, 8, 3), dtype=np.uint8)
            PIL.Image.fromarray(small).resize((res_px, res_px), PIL.Image.Resampling.BILINEAR).save(
                data / f"{i:03d}.png")
    steps = 4
    cfg = TrainConfig(data=str(data), outdir=str(ctx.tmp / f"run_amp{int(amp)}"), batch=batch,
                      total_kimg=steps * batch / 1000, snap_kimg=1e6, grid_size=2, keep_snapshots=1, amp=amp,
                      seed=0, device=ctx.device.type, **widths)
    stamps = [time.perf_counter()]
    losses = []

    def on_step_end(step, nets):
        _sync(ctx)
        stamps.append(time.perf_counter())

    with record_impls() as counts:
        train(cfg, on_step_end=on_step_end)
    dt = np.diff(stamps).tolist()
    stats = (Path(cfg.outdir) / "stats.jsonl")
    if stats.exists():
        losses = [json.loads(ln) for ln in stats.read_text().splitlines() if ln.strip()]
    plain = statistics.median(dt[1:-1]) if len(dt) > 2 else None
    e.update(resolution=res_px, batch=batch, amp_bf16=amp and ctx.cuda, widths=widths, step_s=dt,
             plain_step_s=plain, img_per_s=batch / plain if plain else None,
             note="step_s[0]: set-up, first step (path length + R1) and warm-up; step_s[-1]: includes the snapshot; "
                  "plain_step_s: median of the others (Gmain + Dmain + EMA)",
             finite=all(np.isfinite(v) for ln in losses for k, v in ln.items() if k.startswith(("loss", "D_")))
             if losses else None,
             impls=summarise_impls(counts))


# ---------------------------------------------------------------- targets

def evaluate_targets(report: dict) -> list[dict]:
    """Each target with pass True / False, or None when it was not measured."""
    out = []
    st = {k: v.get("result", {}) for k, v in report.get("stages", {}).items()}

    def add(name, ok, detail):
        out.append({"name": name, "pass": ok, "detail": detail})

    for op, info in st.get("build", {}).get("ops", {}).items():
        add(f"build {op}", info.get("ok"), info.get("error", "")[-500:] or f"{info.get('seconds')} s")
    fallbacks = []
    for case, per in st.get("parity", {}).get("cases", {}).items():
        for dt, r in per.items():
            ok = r.get("pass") if r.get("status") == "ok" else False
            detail = f"rel diff {r['max_rel_diff']:.3g} (tol {r['tol']:.3g})" if "max_rel_diff" in r else \
                (r.get("error") or "").strip().splitlines()[-1:] or r.get("status")
            add(f"parity {case} {dt}", ok, detail)
            fallbacks += [dict(f, where=f"parity {case} {dt}") for f in r.get("impls", {}).get("fallbacks", [])]
    ct = st.get("cuda_tests", {})
    if "tests" in ct:
        add("cuda tests", ct["failures"] == ct["errors"] == 0 and ct["passed"] > 0,
            f"{ct['passed']} passed, {ct['failures']} failed, {ct['errors']} errors, {ct['skipped']} skipped")
    gen = st.get("generator", {})
    for name, r in gen.get("accuracy", {}).items():
        if isinstance(r, dict) and name.startswith("ours"):
            tol = MIXED_IMAGE_TOL if "mixed" in name else FP32_TOL
            add(f"generator image {name}", r.get("rel_diff", float("inf")) <= tol if r.get("status") == "ok" else False,
                f"rel diff {r.get('rel_diff')} (tol {tol})")
            fallbacks += [dict(f, where=f"generator {name}") for f in r.get("impls", {}).get("fallbacks", [])]
    for b, row in gen.get("speed", {}).items():
        for name, r in row.items():
            if name.startswith("ours") and isinstance(r, dict) and "speed_vs_nvlabs_ref" in r:
                add(f"generator speed {name} batch {b}", r["speed_vs_nvlabs_ref"] >= 1.0,
                    f"{r['img_per_s']:.2f} img/s = {r['speed_vs_nvlabs_ref']:.2f}x nvlabs-ref")
    for name, r in st.get("end_to_end", {}).items():
        if isinstance(r, dict) and "status" in r:
            add(f"end to end {name} runs", r["status"] == "ok", r.get("error", "").strip().splitlines()[-1:] or "ok")
            fallbacks += [dict(f, where=f"end to end {name}") for f in r.get("impls", {}).get("fallbacks", [])]
    if "forbidden_imports" in report:
        add("imports nothing of dlib/pyrender/gradio", not report["forbidden_imports"],
            report["forbidden_imports"] or "none imported")
    measured_cuda = bool(st.get("parity", {}).get("cases")) and report.get("mode") == "gpu"
    add("no-fallback", (not fallbacks) if measured_cuda else None, fallbacks or "no CUDA tensor ran the reference")
    return out


# ---------------------------------------------------------------- main

def environment(ctx: Context) -> dict:
    import torch

    import importlib.util

    env = {"python": platform.python_version(), "torch": torch.__version__, "torch_cuda": torch.version.cuda,
           "missing_modules": [m for m in NEEDED if importlib.util.find_spec(m) is None],
           "cuda_available": torch.cuda.is_available(), "platform": platform.platform(),
           "sgt_env": {k: v for k, v in os.environ.items() if k.startswith("SGT_")},
           "git_commit": _run(["git", "-C", str(ROOT), "rev-parse", "HEAD"])}
    if ctx.cuda:
        props = torch.cuda.get_device_properties(0)
        env.update(device_name=props.name, capability=f"{props.major}.{props.minor}",
                   memory_gb=round(props.total_memory / 2 ** 30, 1), multiprocessors=props.multi_processor_count,
                   cudnn=torch.backends.cudnn.version(),
                   driver=_run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]))
    return env


def no_device(out: Path, reason: str) -> int:
    """Write the 'nothing measured' JSON and say so; exit status 0."""
    from sgtcore.atomic import atomic_file

    report = {"schema": SCHEMA, "mode": "no-device", "measured": False, "reason": reason,
              "stages": {s: {"status": "skipped", "reason": "no CUDA device"} for s in STAGES}, "targets": [],
              "summary": {"pass": 0, "fail": 0, "not_measured": "all"}}
    with atomic_file(out / JSON_NAME) as tmp:
        tmp.write_text(json.dumps(report, indent=1) + "\n")
    msg = f"gpu_check: NO CUDA DEVICE PRESENT ({reason}); nothing measured. Wrote {out / JSON_NAME}"
    (out / LOG_NAME).write_text(msg + "\n")
    print(msg, flush=True)
    return 0


@contextlib.contextmanager
def _removed(folder: Path):
    """Delete `folder` (training runs, datasets, the pytest report) when the block ends."""
    try:
        yield folder
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def mark_killed(out: Path, limit_s: float) -> int:
    """After the shell's hard stop: the stage that was running is marked 'killed', later ones 'not reached'."""
    from sgtcore.atomic import atomic_file

    path = out / JSON_NAME
    report = json.loads(path.read_text()) if path.exists() else {"schema": SCHEMA, "stages": {}}
    report["killed"] = f"the process was killed at the {limit_s:.0f} s hard limit (scripts/gpu_check.sh)"
    for name in STAGES:
        entry = report["stages"].setdefault(name, {"status": "not reached"})
        if entry.get("status") == "running":
            entry["status"] = "killed"
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(report, indent=1) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or ROOT / "out" / "gpu_check"),
                    help="folder for gpu_check.json and gpu_check.log (default: $OUT, else out/gpu_check)")
    ap.add_argument("--dry-run-cpu", action="store_true",
                    help="run every stage's code on CPU at tiny sizes (impl='ref'); measures nothing")
    ap.add_argument("--budget-s", type=float, default=None, help="whole-run time budget (default 360 GPU, 150 dry)")
    ap.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {','.join(STAGES)}")
    ap.add_argument("--build-one", help=argparse.SUPPRESS)  # internal: one kernel build in a subprocess
    ap.add_argument("--mark-killed", type=float, help=argparse.SUPPRESS)  # internal: scripts/gpu_check.sh's hard stop
    args = ap.parse_args(argv)
    if args.build_one:
        print(json.dumps(build_one(args.build_one)), flush=True)
        return 0
    if args.mark_killed is not None:
        return mark_killed(args.out, args.mark_killed)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        import torch
    except ImportError as exc:
        return no_device(args.out, f"torch cannot be imported: {exc}")
    cuda = torch.cuda.is_available() and not args.dry_run_cpu
    if not cuda and not args.dry_run_cpu:
        return no_device(args.out, f"torch {torch.__version__}: torch.cuda.is_available() is False")
    if args.dry_run_cpu:  # tiny tensors: more threads only contend (badly, on a loaded 2-core machine)
        torch.set_num_threads(1)
    # 6 min by default: with the machine's start (1-2 min) one call stays near 8 min of the 15-minute device budget,
    # which leaves time for a second, partial call (--stages ...) if something needs a rerun.
    budget = args.budget_s or (150.0 if args.dry_run_cpu else 360.0)
    ctx = Context(out=args.out, dry_run=args.dry_run_cpu, deadline=time.monotonic() + budget,
                  device=torch.device("cuda" if cuda else "cpu"), cuda=cuda)
    wanted = [s for s in args.stages.split(",") if s]
    unknown = set(wanted) - set(STAGES)
    if unknown:
        ap.error(f"unknown stage(s) {sorted(unknown)}; choose from {','.join(STAGES)}")
    ctx.report.update(_t0=time.monotonic(), schema=SCHEMA, mode="dry-run-cpu" if ctx.dry_run else "gpu",
                      measured=not ctx.dry_run, budget_s=budget, started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                      impl_selection=IMPL_SELECTION, stages={})
    if ctx.dry_run:
        ctx.report["note"] = "CPU dry run (1 thread): every stage's code path at tiny sizes with impl='ref'; " \
                             "nothing here measures the CUDA kernels, and targets say would_pass instead of pass"
    signal.signal(signal.SIGALRM, _on_alarm)
    boxes = BOXES_DRY if ctx.dry_run else BOXES_GPU
    with open(ctx.out / LOG_NAME, "a") as ctx.log_file, _removed(ctx.tmp):
        ctx.log(f"mode {ctx.report['mode']}, budget {budget:.0f} s, out {ctx.out}")
        try:
            ctx.report["environment"] = environment(ctx)
        except Exception:  # noqa: BLE001
            ctx.report["environment"] = {"error": traceback.format_exc()}
        ctx.log(f"environment: {json.dumps(ctx.report['environment'], default=str)[:600]}")
        if os.environ.get("SGT_OPS_IMPL", "").strip().lower() == "ref":
            ctx.log("WARNING: SGT_OPS_IMPL=ref is set: every op runs the reference; unset it to check the kernels")
        if ctx.report["environment"].get("missing_modules"):
            ctx.log(f"MISSING modules (carry wheels, see scripts/gpu_check.sh): "
                    f"{ctx.report['environment']['missing_modules']}")
        fns = {"build": stage_build, "parity": stage_parity, "cuda_tests": stage_cuda_tests,
               "generator": stage_generator, "end_to_end": stage_end_to_end}
        for name in STAGES:
            if name in wanted:
                run_stage(ctx, name, fns[name], boxes)
            else:
                ctx.report["stages"][name] = {"status": "skipped", "reason": "not in --stages"}
        ctx.report["forbidden_imports"] = sorted(m for m in FORBIDDEN if m in sys.modules)
        targets = evaluate_targets(ctx.report)
        if ctx.dry_run:
            for t in targets:
                t["would_pass"] = t.pop("pass")
                t["pass"] = None
        ctx.report["targets"] = targets
        verdicts = [t["pass"] for t in targets]
        ctx.report["summary"] = {"pass": verdicts.count(True), "fail": verdicts.count(False),
                                 "not_measured": verdicts.count(None)}
        ctx.save()
        for t in targets:
            mark = {True: "PASS", False: "FAIL", None: "----"}[t["pass"]]
            ctx.log(f"{mark}  {t['name']}: {str(t['detail'])[:160]}")
        ctx.log(f"summary {ctx.report['summary']}; wrote {ctx.out / JSON_NAME} in {ctx.report['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
