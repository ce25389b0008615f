"""A wheel built from the source tree carries what a user of an installed package needs: the shipped
weights (default generator and its discriminator, the oracle, the encoder, the edits) and the CUDA sources."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = {".git", ".venv", "data", "runs", "out", "build", ".pytest_cache", "__pycache__", ".gl", ".whl"}

# every file below is looked up by code at run time (the registry, oracle.load, `sgt project --init auto`)
SHIPPED = [
    "stylegan/weights/synthheads/config.json",
    "stylegan/weights/synthheads/model.safetensors",
    "stylegan/weights/synthheads/discriminator/config.json",
    "stylegan/weights/synthheads/discriminator/model.safetensors",
    "synthetic/weights/oracle.json",
    "synthetic/weights/oracle.safetensors",
    "synthetic/weights/judge/config.json",
    "synthetic/weights/judge/model.safetensors",
    "stylegan/weights/synthheads128/config.json",
    "stylegan/weights/synthheads128/model.safetensors",
    "stylegan/weights/synthheads128/discriminator/config.json",
    "stylegan/weights/synthheads128/discriminator/model.safetensors",
    "inversion/weights/synthheads_encoder/config.json",
    "inversion/weights/synthheads_encoder/model.safetensors",
    "inversion/weights/synthheads128_encoder/config.json",
    "inversion/weights/synthheads128_encoder/model.safetensors",
    "edits/weights/synthheads_sefa_0/config.json",
    "edits/weights/synthheads_sefa_0/model.safetensors",
    "edits/weights/synthheads_ganspace_4/config.json",
    "edits/weights/synthheads_ganspace_4/model.safetensors",
    "edits/weights/synthheads128_dge_yaw/config.json",
    "edits/weights/synthheads128_dge_yaw/model.safetensors",
    "edits/weights/synthheads128_interfacegan_mouth_open/config.json",
    "edits/weights/synthheads128_sefa_0/model.safetensors",
    "stylegan/ops/cuda/bias_act.cu",
    "stylegan/ops/cuda/upfirdn2d.cu",
]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> set[str]:
    src = tmp_path_factory.mktemp("src")
    shutil.copytree(ROOT, src / "repo", ignore=lambda d, names: [n for n in names if n in SKIP or n.endswith(".egg-info")])
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src / "repo"), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(dist)], check=True, capture_output=True)
    (whl,) = dist.glob("*.whl")
    return set(zipfile.ZipFile(whl).namelist())


def test_every_shipped_file_exists_in_the_tree():
    missing = [p for p in SHIPPED if not (ROOT / p).is_file()]
    assert not missing, missing


def test_wheel_carries_the_shipped_weights_and_kernels(wheel_names):
    missing = [p for p in SHIPPED if p not in wheel_names]
    assert not missing, f"not in the wheel: {missing}"
    assert "demos/cli.py" in wheel_names and "inversion/projection.py" in wheel_names
    assert {"sgtcore/modelio.py", "sgtcore/registry.py"} <= wheel_names  # the registry scans its siblings' weights
    assert not any(n.startswith(("tests/", "bench/", "data/", "runs/")) for n in wheel_names)
