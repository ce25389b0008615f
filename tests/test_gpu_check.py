"""The prepared GPU run (`scripts/gpu_check.sh` + `bench/gpu.py`, issue 23), exercised without a GPU: the CPU
dry run goes through every stage and writes the JSON; a machine without CUDA gets a clear message, a JSON that
says so and exit status 0; the parity check passes kernels that agree with the reference (stub kernels made
of the reference forward, run through the CUDA autograd wrappers) and catches a planted defect; a compiler
error is kept verbatim; a failing or overrunning stage is recorded and the next one runs."""
from __future__ import annotations

import collections
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
OPS = ("bias_act", "upfirdn2d", "modulated_conv2d", "conv2d_resample")


@pytest.fixture(scope="module")
def gpu():
    spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "bench" / "gpu.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def _no_cuda_env(**extra) -> dict:
    # CUDA hidden: on a machine with a GPU these tests must still take the CPU paths (and not start a real run)
    return {**os.environ, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **extra}


def test_dry_run_cpu_goes_through_every_stage(tmp_path):
    proc = subprocess.run([sys.executable, "bench/gpu.py", "--dry-run-cpu", "--out", str(tmp_path)], cwd=ROOT,
                          env=_no_cuda_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert (tmp_path / "gpu_check.log").read_text().count("PASS") == 0  # a dry run passes nothing
    assert report["schema"] == "sgt-gpu-check/1" and report["mode"] == "dry-run-cpu" and report["measured"] is False
    stages = report["stages"]
    assert list(stages) == ["build", "parity", "cuda_tests", "generator", "end_to_end"]
    assert stages["build"]["status"] == "skipped" and "no CUDA device" in stages["build"]["result"]["skip_reason"]
    assert set(stages["build"]["result"]["ops"]) == {"bias_act", "upfirdn2d"}  # every kernel under stylegan/ops/cuda
    for name in ("parity", "cuda_tests", "generator", "end_to_end"):
        assert stages[name]["status"] == "ok", stages[name].get("error")

    cases = stages["parity"]["result"]["cases"]
    assert {c.split("/")[0] for c in cases} == set(OPS)
    for case, per in cases.items():
        assert set(per) == {"float32", "float16", "bfloat16"}
        for dtype, r in per.items():
            assert r["status"] == "ok", (case, dtype, r.get("error"))
            assert {"y", "dx"} <= set(r["tensors"]) and any(k.startswith("dd_") for k in r["tensors"])
            assert 0 < r["tensors"]["y"]["ref_vs_fp64"] < (1e-5 if dtype == "float32" else 5e-2)

    tests = stages["cuda_tests"]["result"]
    assert "tests/stylegan/test_ops.py" in tests["files"] and tests["skipped"] > 0 and tests["failures"] == 0

    gen = stages["generator"]["result"]
    assert gen["accuracy"]["ours-auto"]["rel_diff"] <= 1e-5  # our fp32 generator vs the NVlabs transcription
    assert gen["accuracy"]["float64"]["ours-auto_vs_fp64"] < 1e-5
    impls = gen["accuracy"]["ours-auto"]["impls"]  # which implementation each op call took, here all 'ref'
    assert set(impls["ops"]) == {"bias_act", "upfirdn2d"} and all(set(v) == {"ref"} for v in impls["ops"].values())
    for b in ("1", "2"):
        assert gen["speed"][b]["nvlabs-ref"]["img_per_s"] > 0
        assert gen["speed"][b]["ours-auto"]["speed_vs_nvlabs_ref"] > 0

    e2e = stages["end_to_end"]["result"]
    for name in ("project", "edit", "swap_lcr", "train_amp", "train_fp32"):
        assert e2e[name]["status"] == "ok", e2e[name].get("error")
    assert e2e["project"]["steps"] == 3 and e2e["project"]["init"] == "w_avg"  # no encoder: best-of-N start
    assert e2e["edit"]["mean_abs_image_change"] > 0 and e2e["swap_lcr"]["finite"]
    assert len(e2e["train_fp32"]["step_s"]) == 4 and e2e["train_fp32"]["finite"]

    assert report["targets"] and all(t["pass"] is None and "would_pass" in t for t in report["targets"])
    assert report["summary"]["not_measured"] == len(report["targets"])
    assert report["forbidden_imports"] == []


def test_no_cuda_device_says_so_writes_the_json_and_exits_0(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(["bash", "scripts/gpu_check.sh"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=_no_cuda_env(OUT=str(out), PYTHON=sys.executable))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "NO CUDA DEVICE PRESENT" in proc.stdout and "nothing measured" in proc.stdout
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["mode"] == "no-device" and report["measured"] is False and report["targets"] == []
    assert "is_available() is False" in report["reason"]
    assert {s["status"] for s in report["stages"].values()} == {"skipped"}
    assert "NO CUDA DEVICE PRESENT" in (out / "gpu_check_console.log").read_text()


class _StubKernels:
    """The compiled modules' interface, computed by the reference forward (optionally with a planted defect),
    so that `impl='cuda'` runs the CUDA autograd wrappers on CPU."""

    def __init__(self, gain_error: float = 0.0):
        self.gain_error = gain_error

    def bias_act(self, x, b, dim, act_id, alpha, gain, clamp):
        from stylegan.ops.bias_act import _bias_act_ref, activation_funcs

        act = next(k for k, v in activation_funcs.items() if v.cuda_id == act_id)
        return _bias_act_ref(x, b if b.numel() else None, dim, act, alpha, gain * (1 + self.gain_error), clamp)

    def upfirdn2d(self, x, f, upx, upy, downx, downy, px0, px1, py0, py1, flip, gain):
        from stylegan.ops.upfirdn2d import _upfirdn2d_ref

        return _upfirdn2d_ref(x, f, (upx, upy), (downx, downy), (px0, px1, py0, py1), flip,
                              gain * (1 + self.gain_error))


def _stub_resolve(monkeypatch, stub):
    from stylegan.ops import _ext

    monkeypatch.setattr(_ext, "resolve", lambda impl, x, name: ("cuda", stub) if impl == "cuda" else ("ref", None))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_parity_passes_matching_kernels_and_catches_a_planted_defect(gpu, monkeypatch, dtype):
    cases = [c for c in gpu.parity_cases(small=True)
             if c.name in ("bias_act/clamp256", "upfirdn2d/up2-down2-odd", "modulated_conv2d/up2",
                           "conv2d_resample/down2-3x3")]
    assert len(cases) == 4
    _stub_resolve(monkeypatch, _StubKernels())
    for case in cases:
        r = gpu.check_case(case, dtype, torch.device("cpu"), "cuda")
        # outputs, gradients and second-order gradients through the wrappers agree with the reference
        assert r["pass"] and r["max_rel_diff"] <= (1e-6 if dtype == torch.float32 else 2e-3), (case.name, r)
        assert all(ops.get("cuda") for ops in r["impls"]["ops"].values()) and not r["impls"]["fallbacks"]
    # a kernel 30 fp32 ulps off in its gain is caught in fp32; one 1 % off in fp16 too
    _stub_resolve(monkeypatch, _StubKernels(gain_error=3e-5 if dtype == torch.float32 else 1e-2))
    for case in cases:
        r = gpu.check_case(case, dtype, torch.device("cpu"), "cuda")
        assert not r["pass"] and r["max_rel_diff"] > r["tol"], (case.name, r["max_rel_diff"])


def test_fallbacks_and_failures_become_failed_targets(gpu):
    counts = collections.Counter({("bias_act", "auto", "ref", "bfloat16", "cuda"): 3,
                                  ("upfirdn2d", "cuda", "cuda", "float32", "cuda"): 2,
                                  ("upfirdn2d", "auto", "ref", "float32", "cpu"): 5})
    s = gpu.summarise_impls(counts)
    assert s["ops"] == {"bias_act": {"ref": 3}, "upfirdn2d": {"cuda": 2, "ref": 5}}
    assert s["fallbacks"] == [{"op": "bias_act", "asked": "auto", "dtype": "bfloat16", "calls": 3}]
    ok = {"status": "ok", "pass": True, "max_rel_diff": 0.0, "tol": 1e-5, "impls": gpu.summarise_impls({})}
    report = {"mode": "gpu", "stages": {
        "build": {"result": {"ops": {"bias_act": {"ok": True, "seconds": 40.0},
                                     "upfirdn2d": {"ok": False, "error": "upfirdn2d.cu(9): error: bad"}}}},
        "parity": {"result": {"cases": {"bias_act/x": {"float32": ok, "bfloat16": {"status": "failed",
                                                                                  "error": "RuntimeError: no bf16\n"}},
                                        "upfirdn2d/y": {"float32": {**ok, "pass": False, "max_rel_diff": 1e-3}}}}},
        "cuda_tests": {"result": {"tests": 10, "failures": 1, "errors": 0, "skipped": 0, "passed": 9}},
        "generator": {"result": {"accuracy": {"ours-auto": {"status": "ok", "rel_diff": 2e-6, "impls": s}},
                                 "speed": {"8": {"ours-auto": {"img_per_s": 90.0, "speed_vs_nvlabs_ref": 0.9},
                                                 "ours-cuda": {"img_per_s": 110.0, "speed_vs_nvlabs_ref": 1.1}}}}},
        "end_to_end": {"result": {"project": {"status": "ok"}, "train_amp": {"status": "failed", "error": "X\n"}}}}}
    verdict = {t["name"]: t["pass"] for t in gpu.evaluate_targets(report)}
    assert verdict == {
        "build bias_act": True, "build upfirdn2d": False,
        "parity bias_act/x float32": True, "parity bias_act/x bfloat16": False, "parity upfirdn2d/y float32": False,
        "cuda tests": False, "generator image ours-auto": True,
        "generator speed ours-auto batch 8": False, "generator speed ours-cuda batch 8": True,
        "end to end project runs": True, "end to end train_amp runs": False,
        "no-fallback": False,  # the generator's bf16 bias_act ran the reference on a CUDA tensor
    }


def test_a_build_error_is_kept_verbatim(gpu, monkeypatch, tmp_path):
    from torch.utils import cpp_extension

    from stylegan.ops import _ext

    log = "ninja: build stopped: subcommand failed.\n" + "x" * 500 + "\nbias_act.cu(34): error: identifier undefined"

    def broken(**kwargs):
        raise RuntimeError(f"Error building extension '{kwargs['name']}': {log}")

    monkeypatch.setattr(cpp_extension, "load", broken)
    monkeypatch.setattr(_ext, "_cache", {})
    monkeypatch.setenv("SGT_BUILD_DIR", str(tmp_path))
    r = gpu.build_one("bias_act")
    assert r["ok"] is False and r["error"].endswith("bias_act.cu(34): error: identifier undefined")
    assert log in r["error"]  # all of it: the library's own warning keeps only 300 characters
    assert cpp_extension.load is broken  # the recording wrapper is removed again

    monkeypatch.setattr(cpp_extension, "load", lambda **kwargs: type("Module", (), {"__file__": "/x/sgt.so"})())
    r = gpu.build_one("upfirdn2d")
    assert r["ok"] is True and r["module_file"] == "/x/sgt.so" and "error" not in r


def test_the_build_stage_runs_each_build_in_a_subprocess_and_reports_its_error(gpu, monkeypatch, tmp_path):
    """The GPU-only build path, made to fail fast: CUDA_HOME points nowhere, so ninja cannot find nvcc."""
    monkeypatch.setenv("CUDA_HOME", str(tmp_path / "no-cuda"))
    monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", "9.0")  # no device to ask for its architecture
    monkeypatch.setenv("SGT_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    ctx = gpu.Context(out=tmp_path, dry_run=False, deadline=time.monotonic() + 60, cuda=True, tmp=tmp_path)
    res: dict = {}
    gpu.stage_build(res, ctx)
    assert set(res["ops"]) == {"bias_act", "upfirdn2d"}
    for name, r in res["ops"].items():
        assert r["ok"] is False and r["cached_before"] is False and "import_here_ok" not in r
        assert f"{tmp_path / 'no-cuda'}/bin/nvcc" in r["error"] and f"{name}.cu" in r["error"]  # the build log
        assert r["error"].rstrip().endswith("ninja: build stopped: subcommand failed.")


def test_a_failing_or_overrunning_stage_is_recorded_and_the_next_runs(gpu, tmp_path):
    ctx = gpu.Context(out=tmp_path, dry_run=True, deadline=time.monotonic() + 60, tmp=tmp_path)
    ctx.report.update(stages={})
    boxes = {"build": (10, 0), "parity": (0.5, 0), "cuda_tests": (10, 0), "generator": (10, 0), "end_to_end": (10, 0)}

    def boom(res, ctx):
        res["partial"] = 1
        raise ValueError("boom")

    def slow(res, ctx):
        res["before"] = True
        time.sleep(5)
        res["after"] = True

    def with_slow_part(res, ctx):
        gpu.part(res, "slow", lambda e: time.sleep(5), box_s=0.2)
        gpu.part(res, "fails", lambda e: 1 / 0)
        gpu.part(res, "fine", lambda e: e.update(value=42))

    import signal

    old = signal.signal(signal.SIGALRM, gpu._on_alarm)
    try:
        t0 = time.perf_counter()
        gpu.run_stage(ctx, "build", boom, boxes)
        gpu.run_stage(ctx, "parity", slow, boxes)
        gpu.run_stage(ctx, "cuda_tests", with_slow_part, boxes)
        assert time.perf_counter() - t0 < 3
    finally:
        signal.signal(signal.SIGALRM, old)
    st = json.loads((tmp_path / "gpu_check.json").read_text())["stages"]
    assert st["build"]["status"] == "failed" and "ValueError: boom" in st["build"]["error"]
    assert st["build"]["result"] == {"partial": 1}
    assert st["parity"]["status"] == "timeout" and st["parity"]["result"] == {"before": True}
    parts = st["cuda_tests"]["result"]
    assert st["cuda_tests"]["status"] == "ok"
    assert parts["slow"]["status"] == "timeout" and parts["fails"]["status"] == "failed"
    assert "ZeroDivisionError" in parts["fails"]["error"] and parts["fine"] == {"value": 42, "status": "ok",
                                                                               "seconds": parts["fine"]["seconds"]}


def test_after_the_hard_limit_the_running_stage_is_marked_killed(gpu, tmp_path):
    (tmp_path / "gpu_check.json").write_text(json.dumps({"schema": "sgt-gpu-check/1", "stages": {
        "build": {"status": "ok"}, "parity": {"status": "ok"}, "cuda_tests": {"status": "running"}}}))
    assert gpu.main(["--out", str(tmp_path), "--mark-killed", "400"]) == 0
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert "400 s hard limit" in report["killed"]
    assert [s["status"] for s in report["stages"].values()] == ["ok", "ok", "killed", "not reached", "not reached"]
