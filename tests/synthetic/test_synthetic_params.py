"""Parameter groups: validation, sampling, serialisation, pairs and swap ground truth (no rendering)."""
import math

import numpy as np
import pytest

from synthetic import PAIR_ATTRIBUTES, HeadParams, param_ranges, sample_params, swap_truth, validate
from synthetic.pairs import ALIASES, pair_params


def test_defaults_and_samples_are_valid():
    validate(HeadParams())
    for seed in range(200):
        validate(sample_params(seed))


def test_identity_has_enough_shape_parameters():
    shape = [n for n, (g, (lo, hi)) in param_ranges().items() if g == "identity" and (lo, hi) == (-1, 1)]
    assert len(shape) >= 10


@pytest.mark.parametrize(
    "group, name, value, rng_text",
    [
        ("pose", "yaw", 90.0, "[-70, 70]"),
        ("pose", "pitch", -40.0, "[-35, 35]"),
        ("pose", "roll", math.nan, "[-25, 25]"),
        ("expression", "smile", 1.5, "[0, 1]"),
        ("identity", "nose_length", -1.2, "[-1, 1]"),
        ("lighting", "color_temperature", 1000.0, "[3000, 9000]"),
        ("lighting", "background", (0.1, 2.0, 0.3), "[0.0, 1.0]"),
    ],
)
def test_out_of_range_names_parameter_and_range(group, name, value, rng_text):
    p = HeadParams()
    setattr(getattr(p, group), name, value)
    with pytest.raises(ValueError) as e:
        validate(p)
    assert f"{group}.{name}" in str(e.value) and rng_text in str(e.value)


def test_hair_style_must_be_integer_and_background_rgb():
    p = HeadParams()
    p.identity.hair_style = 2.5
    with pytest.raises(ValueError, match="hair_style"):
        validate(p)
    p = HeadParams()
    p.lighting.background = (0.5, 0.5)
    with pytest.raises(ValueError, match="background"):
        validate(p)
    with pytest.raises(TypeError):
        validate({"pose": {}})


def test_sampling_is_seeded():
    assert sample_params(7) == sample_params(7)
    assert sample_params(7) != sample_params(8)
    assert sample_params(np.random.default_rng(3)) == sample_params(3)


def test_dict_round_trip_and_unknown_keys():
    p = sample_params(1)
    assert HeadParams.from_dict(p.to_dict()) == p
    d = p.to_dict()
    d["pose"]["yawn"] = 3
    with pytest.raises(ValueError, match="yawn"):
        HeadParams.from_dict(d)


def _flat(p):
    return {(g, k): v for g, sub in p.to_dict().items() for k, v in sub.items()}


@pytest.mark.parametrize("attribute", PAIR_ATTRIBUTES)
def test_pair_params_differ_only_in_attribute(attribute):
    a, b = pair_params(attribute, rng=11, strength=0.6)
    validate(a)
    validate(b)
    fa, fb = _flat(a), _flat(b)
    changed = {k for k in fa if fa[k] != fb[k]}
    assert changed, attribute
    if attribute in ("identity", "expression", "pose", "lighting"):
        assert {g for g, _ in changed} == {attribute}
    else:
        allowed = set(ALIASES.get(attribute, (attribute,)))
        assert {k for _, k in changed} <= allowed


def test_pair_strength_sets_the_difference():
    a, b = pair_params("yaw", rng=0, strength=0.5)
    assert b.pose.yaw - a.pose.yaw == pytest.approx(70.0)
    a, b = pair_params("smile", rng=0, strength=1.0)
    assert (a.expression.smile, b.expression.smile) == (0.0, 1.0)
    a, b = pair_params("eyes_closed", rng=0, strength=0.8)
    assert a.expression.eye_closed_left == a.expression.eye_closed_right
    assert b.expression.eye_closed_left == b.expression.eye_closed_right
    assert b.expression.eye_closed_left - a.expression.eye_closed_left == pytest.approx(0.8)
    with pytest.raises(ValueError, match="strength"):
        pair_params("yaw", 0, strength=1.5)
    with pytest.raises(ValueError, match="unknown pair attribute"):
        pair_params("nose_colour", 0)


def test_swap_truth_takes_identity_from_a_rest_from_b():
    a, b = sample_params(1), sample_params(2)
    t = swap_truth(a, b)
    assert t.identity == a.identity
    assert (t.expression, t.pose, t.lighting) == (b.expression, b.pose, b.lighting)
    t.identity.nose_length = 0.123  # a copy: the inputs stay untouched
    assert a.identity.nose_length != 0.123
