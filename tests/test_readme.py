"""README's Python examples run as written: every ```python block, in order, as one session (later
blocks use names earlier ones made), in a temporary folder where `ffhq.pkl` is a tiny NVlabs
snapshot and `photo.jpg` a real photo (scikit-image's astronaut), the two files the README asks the
reader to bring."""
from __future__ import annotations

import re
from pathlib import Path

import PIL.Image
import pytest
import torch

from conftest import SMALL

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def _bring_files(folder: Path) -> None:
    from reference import nvlabs_ref, pickles
    from skimage import data

    import stylegan

    params = nvlabs_ref.init_params(**SMALL, seed=1)
    D = stylegan.Discriminator(img_resolution=32, channel_base=512, channel_max=32)
    kwargs = dict(z_dim=32, c_dim=0, w_dim=32, img_resolution=32, img_channels=3, mapping_kwargs=dict(num_layers=2),
                  channel_base=512, channel_max=32, num_fp16_res=0, conv_clamp=None)
    (folder / "ffhq.pkl").write_bytes(pickles.nvlabs_snapshot(
        params, kwargs, d_params=D.state_dict(), d_kwargs=dict(c_dim=0, img_resolution=32, img_channels=3)))
    PIL.Image.fromarray(data.astronaut()).save(folder / "photo.jpg", quality=95)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 7, "the README's API examples are what this test runs"


def test_readme_python_examples_run_as_written(tmp_path, monkeypatch):
    _bring_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    session: dict = {"__name__": "readme"}
    for i, block in enumerate(BLOCKS):
        line = README.read_text().split("```python\n" + block)[0].count("\n") + 2
        try:
            exec(compile(block, f"README.md (block {i + 1}, line {line})", "exec"), session)
        except Exception as exc:  # name the block: the traceback's file name says where in the README
            pytest.fail(f"README.md python block {i + 1} (line {line}) failed: {type(exc).__name__}: {exc}")
