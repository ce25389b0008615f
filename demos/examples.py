"""Example inputs for the Invert tab, made at start-up from installed things (nothing is downloaded):
renders of synthetic heads and one real photo, scikit-image's astronaut (Eileen Collins, NASA, public
domain; part of the scikit-image wheel)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

#: Seeds of the synthetic heads offered; their poses are damped (see `example_head`) so dlib's HOG
#: detector finds every one of them.
HEAD_SEEDS = (1, 2, 4)
POSE_DAMPING = 0.25


def example_head(seed: int):
    """`synthetic.sample_params(seed)` with a quarter of its random pose: a near-frontal head."""
    import synthetic

    p = synthetic.sample_params(seed)
    return p.replace(pose=synthetic.Pose(**{k: v * POSE_DAMPING for k, v in vars(p.pose).items()}))


def write_examples(folder: str | Path, size: int = 256) -> list[Path]:
    """Write the example photos into `folder` (`synthetic_head_<seed>.png`, `astronaut.png`).

    Returns:
        Their paths, synthetic heads first.
    """
    import synthetic
    from skimage import data

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in HEAD_SEEDS:
        paths.append(folder / f"synthetic_head_{seed}.png")
        Image.fromarray(synthetic.render(example_head(seed), size).image).save(paths[-1])
    paths.append(folder / "astronaut.png")
    Image.fromarray(np.asarray(data.astronaut())).save(paths[-1])
    return paths
