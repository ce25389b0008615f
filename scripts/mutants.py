"""Plant listed one-line defects (mutants), one at a time, in a copy of the tree and run the tests that
should catch each; print killed / survived and the score. Not part of `make test`.

    .venv/bin/python scripts/mutants.py            # all mutants (a few minutes on 2 CPU cores)
    .venv/bin/python scripts/mutants.py --list     # what would be planted
    .venv/bin/python scripts/mutants.py --only D-skip-gain --only noise-shared

Each mutant is an exact text replacement that must match once (so a refactor that moves the code
makes the script fail loudly instead of testing nothing). The working tree is never modified: the
tracked and untracked-but-not-ignored files are copied to a temporary folder, which the script
checks is the code that gets imported.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]  # pytest arguments (files, -k expressions)
    what: str


T_LOAD = ("tests/stylegan/test_loaders.py",)
T_D = ("tests/stylegan/test_discriminator_parity.py",)
T_NOISE = ("tests/stylegan/test_random_noise.py", "tests/stylegan/test_generator.py")
T_OPS = ("tests/stylegan/test_ops.py",)

MUTANTS = [
    # --- issue 14's table: each of these passed the whole suite before
    Mutant("pick-G-not-G_ema", "stylegan/formats/nvlabs.py", 'keys = ("G_ema", "G") if which', 'keys = ("G", "G_ema") if which',
           T_LOAD, "NVlabs snapshot: training G instead of G_ema"),
    Mutant("pick-TF-G-not-Gs", "stylegan/formats/nvlabs.py", 'return obj[2] if which == "G"', 'return obj[0] if which == "G"',
           T_LOAD, "TF pickle: G instead of Gs"),
    Mutant("D-skip-gain", "stylegan/discriminator.py", "y = self.skip(x, gain=np.sqrt(0.5))", "y = self.skip(x, gain=1.0)",
           T_D, "residual skip gain sqrt(1/2) -> 1"),
    Mutant("D-main-gain", "stylegan/discriminator.py", "x = self.conv1(self.conv0(x), gain=np.sqrt(0.5))",
           "x = self.conv1(self.conv0(x), gain=1.0)", T_D, "residual main-branch gain sqrt(1/2) -> 1"),
    Mutant("mbstd-zeros", "stylegan/layers.py", "        return torch.cat([x, y], dim=1)",
           "        return torch.cat([x, torch.zeros_like(y)], dim=1)", T_D, "minibatch-std replaced by zeros"),
    Mutant("mbstd-contiguous-groups", "stylegan/layers.py", "y = x.reshape(g, -1, f, c // f, h, w)",
           "y = x.reshape(-1, g, f, c // f, h, w).transpose(0, 1)", T_D,
           "minibatch-std groups of consecutive samples instead of NVlabs' interleaved ones"),
    Mutant("noise-shared", "stylegan/layers.py",
           "noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device)",
           "noise = torch.randn([1, 1, self.resolution, self.resolution], device=x.device)", T_NOISE,
           "one random noise map shared by the batch"),
    Mutant("noise-unscaled", "stylegan/layers.py",
           "self.resolution, self.resolution], device=x.device) * self.noise_strength",
           "self.resolution, self.resolution], device=x.device)", T_NOISE, "random noise without noise_strength"),
    Mutant("align-2x", "inversion/align.py", "transform_size = transform_size or 4 * output_size",
           "transform_size = transform_size or 2 * output_size", ("tests/inversion/test_align.py",),
           "2x instead of 4x supersampling in the FFHQ transform"),
    Mutant("noise-reg-no-vertical", "inversion/projection.py",
           " + (v * torch.roll(v, 1, dims=2)).mean().square()", "",
           ("tests/inversion/test_project.py", "-k", "noise_regularizer"),
           "noise regulariser without its vertical term"),
    Mutant("colour-std-ratio-1", "inversion/paste.py",
           "ratio = np.clip(tgt_std / np.maximum(src_std, 1e-6), 0.5, 2.0)", "ratio = 1.0",
           ("tests/inversion/test_paste.py",), "colour matching ignores contrast"),
    # --- core numerics beyond the table
    Mutant("bias-act-no-db", "stylegan/ops/bias_act.py", "db = grads[1] if b is not None else None", "db = None",
           T_OPS, "CUDA bias_act wrapper drops the bias gradient"),
    Mutant("bias-act-first-order", "stylegan/ops/bias_act.py",
           "grads = torch.autograd.grad(y, inputs, dy, create_graph=torch.is_grad_enabled())",
           "grads = torch.autograd.grad(y, inputs, dy)", T_OPS, "CUDA bias_act backward not differentiable (R1)"),
    Mutant("fp16-no-prenorm", "stylegan/ops/modconv.py", "if x.dtype == torch.float16 and demodulate:",
           "if False:", T_OPS, "no fp16 pre-normalisation in modulated_conv2d"),
    Mutant("demod-eps", "stylegan/ops/modconv.py", "w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()",
           "w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-2).rsqrt()", T_OPS + ("tests/stylegan/test_parity.py",),
           "demodulation epsilon 1e-8 -> 1e-2 (grouped path)"),
    Mutant("lrelu-slope", "stylegan/ops/bias_act.py", "torch.nn.functional.leaky_relu(x, a), 0.2,",
           "torch.nn.functional.leaky_relu(x, a), 0.1,", T_OPS + ("tests/stylegan/test_parity.py",),
           "leaky ReLU default slope 0.2 -> 0.1"),
    Mutant("truncation-reversed", "stylegan/generator.py",
           "x[:, :cutoff] = self.w_avg.lerp(x[:, :cutoff], truncation_psi)",
           "x[:, :cutoff] = x[:, :cutoff].lerp(self.w_avg, truncation_psi)",
           ("tests/stylegan/test_generator.py",), "truncation towards w instead of w_avg"),
    Mutant("ssim-c2", "inversion/losses.py", "c1, c2 = 0.01 ** 2, 0.03 ** 2", "c1, c2 = 0.01 ** 2, 0.02 ** 2",
           ("tests/inversion/test_ssim_reference.py",), "SSIM constant C2 from K2 = 0.02"),
    Mutant("oracle-no-step", "synthetic/oracle_train.py", "        opt.step()\n", "",
           ("tests/synthetic/test_synthetic_oracle_train.py",), "oracle training never steps the optimiser"),
]


def copy_tree(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for f in filter(None, files):
        src = ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)


def run_tests(tree: Path, args: tuple[str, ...], timeout: float) -> tuple[int, float]:
    env = {**os.environ, "PYOPENGL_PLATFORM": "egl", "PYTHONDONTWRITEBYTECODE": "1"}
    t0 = time.time()
    try:
        rc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *args], cwd=tree,
                            env=env, capture_output=True, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        rc = -1
    return rc, time.time() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", default=[], help="run only these mutants (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per mutant")
    opts = ap.parse_args()
    chosen = [m for m in MUTANTS if not opts.only or m.name in opts.only]
    if opts.list:
        for m in chosen:
            found = (ROOT / m.file).read_text().count(m.old)
            print(f"{m.name:26s} {m.file:32s} {m.what}" + ("" if found == 1 else f"  [pattern found {found}x]"))
        return 0
    with tempfile.TemporaryDirectory(prefix="sgt-mutants-") as tmp:
        tree = Path(tmp)
        copy_tree(tree)
        where = subprocess.run([sys.executable, "-c", "import stylegan; print(stylegan.__file__)"], cwd=tree,
                               capture_output=True, text=True).stdout.strip()
        if not where.startswith(str(tree)):
            print(f"the copy is not what gets imported ({where}); aborting", file=sys.stderr)
            return 2
        t0 = time.time()
        for args in dict.fromkeys(m.tests for m in chosen):  # baseline: the unmutated copy must pass
            rc, _ = run_tests(tree, args, opts.timeout)
            if rc != 0:
                print(f"baseline fails in the copy (rc {rc}): pytest {' '.join(args)}; fix that first",
                      file=sys.stderr)
                return 2
        print(f"baseline: every selection passes unmutated ({time.time() - t0:.0f} s)")
        killed = 0
        for m in chosen:
            path = tree / m.file
            original = path.read_text()
            if original.count(m.old) != 1:
                print(f"{m.name}: pattern found {original.count(m.old)} times in {m.file}; update MUTANTS",
                      file=sys.stderr)
                return 2
            path.write_text(original.replace(m.old, m.new))
            try:
                rc, dt = run_tests(tree, m.tests, opts.timeout)
            finally:
                path.write_text(original)
            # pytest exits 1 when tests ran and failed; a mutant that breaks collection (2, 4) or hangs is
            # not "caught by a test", so it does not count as killed
            verdict = {0: "SURVIVED", 1: "killed"}.get(rc, "ERROR")
            killed += rc == 1
            note = {-1: " (timeout)", 2: " (collection error)", 4: " (usage error)"}.get(rc, "")
            print(f"{verdict:9s} {m.name:26s} {dt:5.0f} s  {m.what}{note}", flush=True)
        print(f"mutation score: {killed}/{len(chosen)} killed ({100 * killed / len(chosen):.0f} %)")
        return 0 if killed == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
