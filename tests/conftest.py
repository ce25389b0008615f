import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # make tests/reference importable
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
torch.set_num_threads(min(2, torch.get_num_threads()))

SMALL = dict(z_dim=32, w_dim=32, img_resolution=32, channel_base=512, channel_max=32, mapping_layers=2)


@pytest.fixture
def small_params():
    from reference import nvlabs_ref

    return nvlabs_ref.init_params(**SMALL, seed=1)
