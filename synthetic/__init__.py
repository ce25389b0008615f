"""Synthetic CGI heads with exact ground truth: parametric head, headless renderer,
one-attribute pairs, swap ground truth and an attribute oracle.

Nothing here imports OpenGL or torch until it is used.
"""
from sgtcore import modelio

from .pairs import PAIR_ATTRIBUTES, make_pair, swap_truth
from .params import Expression, HeadParams, Identity, Lighting, Pose, param_ranges, sample_params, validate
from .renderer import Render, RendererUnavailable, project_landmarks, render

# The oracle in the toolkit's one model format; its class (and torch) is imported on first load.
modelio.register_class("Oracle", "oracle", "synthetic.oracle:Oracle")
# The identity judge (evaluation only; see synthetic/judge.py), same format, kind "judge".
modelio.register_class("Judge", "judge", "synthetic.judge:Judge",
                       remake="train it with `python -m synthetic.judge_train`")

__all__ = [
    "Expression",
    "HeadParams",
    "Identity",
    "Lighting",
    "PAIR_ATTRIBUTES",
    "Pose",
    "Render",
    "RendererUnavailable",
    "make_pair",
    "param_ranges",
    "project_landmarks",
    "render",
    "sample_params",
    "swap_truth",
    "validate",
]
