"""Rendering and optimising in one process: OpenGL lives in the render worker, never beside torch
(Mesa's LLVM and triton's LLVM in one process crash; see synthetic/render_worker.py)."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import SMALL

import synthetic
from synthetic import render_worker

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, **env: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter (the crash happens once per process, so it cannot run in pytest's)."""
    full_env = {k: v for k, v in os.environ.items() if k != render_worker.IN_PROCESS_ENV}
    full_env.update(PYOPENGL_PLATFORM="egl", **env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=300)


def test_render_then_project_then_adam_in_one_process():
    out = _run(f"""
        import torch
        import inversion, stylegan, synthetic

        r = synthetic.render(synthetic.HeadParams(), 32)
        maps = open("/proc/self/maps").read()
        assert "swrast" not in maps and "libLLVM" not in maps, "OpenGL was loaded into the torch process"
        torch.manual_seed(0)
        G = stylegan.Generator(**{SMALL!r}).eval()
        res = inversion.project(G, r.image, steps=2, candidates=2, loss="l2", progress=False)
        p = torch.nn.Parameter(torch.zeros(3))
        opt = torch.optim.Adam([p], lr=0.1)  # imports torch._dynamo -> triton's libLLVM
        p.sum().backward()
        opt.step()
        synthetic.render(synthetic.HeadParams(), 32)
        print("OK", tuple(res.ws.shape))
    """)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "OK" in out.stdout


def test_worker_renders_what_the_process_itself_renders():
    # one llvmpipe thread: with several, a few pixels may differ between any two processes
    out = _run("""
        import os
        import numpy as np
        import synthetic

        plist = [synthetic.sample_params(np.random.default_rng(i)) for i in range(3)]
        away = [synthetic.render(p, 48) for p in plist]
        os.environ["SYNTHETIC_RENDER_IN_PROCESS"] = "1"
        here = [synthetic.render(p, 48) for p in plist]
        for a, h, p in zip(away, here, plist):
            assert a.params is p
            assert np.array_equal(a.image, h.image) and np.array_equal(a.mask, h.mask)
            assert np.array_equal(a.landmarks, h.landmarks) and a.camera.keys() == h.camera.keys()
        print("OK")
    """, LP_NUM_THREADS="1")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "OK" in out.stdout


def test_a_dead_worker_is_replaced():
    first = synthetic.render(synthetic.HeadParams(), 32)
    render_worker._worker.proc.kill()
    render_worker._worker.proc.wait()
    again = synthetic.render(synthetic.HeadParams(), 32)
    assert again.image.shape == first.image.shape


def test_errors_in_the_worker_reach_the_caller():
    with pytest.raises(ValueError, match="size"):
        synthetic.render(synthetic.HeadParams(), 8)  # checked before the worker is asked
    with pytest.raises(TypeError):
        render_worker.call("render_here", synthetic.HeadParams(), 32)  # raised inside the worker
    assert np.asarray(synthetic.render(synthetic.HeadParams(), 32).image).dtype == np.uint8
