"""Every `sgt` sub-command that takes a network ends with one `Error:` line, never a traceback, for a
missing file, a file that is not a checkpoint and an unknown registered name."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from demos.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]
BAD = {
    "missing": ("missing.pkl", "no checkpoint at"),
    "not a checkpoint": ("notes.txt", "not a checkpoint"),
    "unknown name": ("no-such-model", "registered names: "),
}


def _args(command: str, network: str, tmp: Path) -> list[str]:
    """The shortest valid command line of `command`, with `network` as its network."""
    out = str(tmp / "out")
    return {
        "generate": ["generate", "--network", network, "--seeds", "0", "--outdir", out],
        "convert": ["convert", network, out],
        "project": ["project", str(tmp / "face.png"), "--network", network, "--outdir", out, "--steps", "1"],
        "train": ["train", "--data", str(tmp / "data"), "--outdir", out, "--init-from", network],
        "train-encoder": ["train-encoder", "--network", network, "--outdir", out, "--steps", "1"],
        "demo": ["demo", "--network", network],  # fails before anything is served
        "directions": ["directions", "--method", "sefa", "--network", network, "--out", out],
        "swap": ["swap", "--identity", str(tmp / "face.png"), "--attribute", str(tmp / "face.png"), "--network",
                 network, "--outdir", out],
        "eval-swap": ["eval-swap", "--network", network, "--ids", "2", "--attributes", "1"],
        "edit": ["edit", str(tmp / "face.png"), "--network", network, "--edit", "yaw=10", "--outdir", out],
        "train-delta": ["train-delta", "--network", network, "--attribute", "yaw", "--out", out],
        "train-swap": ["train-swap", "--method", "ftm", "--network", network, "--out", out],
    }[command]


TAKES_NETWORK = ["generate", "convert", "project", "train", "train-encoder", "demo", "directions", "swap",
                 "eval-swap", "edit", "train-delta", "train-swap"]


@pytest.fixture
def inputs(tmp_path):
    (tmp_path / "notes.txt").write_text("hello, not a checkpoint\n")
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(tmp_path / "face.png")
    (tmp_path / "data").mkdir()
    return tmp_path


def test_every_network_command_is_covered():
    assert set(TAKES_NETWORK) <= set(COMMANDS)
    assert set(COMMANDS) - set(TAKES_NETWORK) == {"render", "align"}, "a new sub-command: add it above if it " \
                                                                     "takes a network"


@pytest.mark.parametrize("kind", list(BAD))
@pytest.mark.parametrize("command", TAKES_NETWORK)
def test_bad_network_is_one_error_line(inputs, command, kind):
    name, expected = BAD[kind]
    network = name if kind == "unknown name" else str(inputs / name)
    result = CliRunner().invoke(main, _args(command, network, inputs))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exc_info
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert network in lines[0] and (expected in lines[0] or "not a model folder" in lines[0]), lines[0]
    assert "Traceback" not in result.output


def test_real_console_prints_no_traceback(inputs):
    missing = inputs / "missing.pkl"
    out = subprocess.run([sys.executable, "-m", "demos.cli", "project", str(inputs / "face.png"), "--network",
                          str(missing), "--outdir", str(inputs / "out")], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(f"Error: --network {missing}: cannot load a generator: no checkpoint at {missing}; "
                               "registered names: "), lines[0]
