"""Shared test set-up: tests/reference importable, headless GL, two threads, and the tiny generator
every package's tests use (`SMALL`, `tiny_G`)."""
import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # make tests/reference (and this module) importable
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
torch.set_num_threads(min(2, torch.get_num_threads()))

# A 32 px StyleGAN2 with few channels: the whole pipeline runs in seconds on a CPU.
SMALL = dict(z_dim=32, w_dim=32, img_resolution=32, channel_base=512, channel_max=32, mapping_layers=2)


def make_tiny_G(seed: int = 0, **overrides):
    """A freshly initialised `SMALL` generator (eval mode), deterministic in `seed`."""
    import stylegan

    torch.manual_seed(seed)
    return stylegan.Generator(**{**SMALL, **overrides}).eval()


@pytest.fixture
def tiny_G():
    return make_tiny_G(0)


@pytest.fixture
def small_params():
    from reference import nvlabs_ref

    return nvlabs_ref.init_params(**SMALL, seed=1)
