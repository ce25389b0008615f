"""`synthetic.motion`: seeded, smooth, inside the renderer's ranges, only pose and expression move;
`sgt render --motion` writes the frames with their exact parameters."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from synthetic import param_ranges, sample_params, swap_truth
from synthetic.motion import MOTION_BANDS, motion, motion_curve, motion_sequence


def _values(frames, name):
    group = param_ranges()[name][0]
    return np.array([getattr(getattr(f, group), name) for f in frames])


def test_curve_is_the_two_sinusoids_it_claims():
    rng = np.random.default_rng(5)
    curve = motion_curve(61, rng)
    rng = np.random.default_rng(5)  # the same draws, in the documented order
    f1, f2 = rng.uniform(0.5, 1.5), rng.uniform(1.5, 3.0)
    p1, p2 = rng.uniform(0, 2 * np.pi, size=2)
    t = np.arange(61) / 60
    np.testing.assert_allclose(curve, 0.7 * np.sin(2 * np.pi * f1 * t + p1) + 0.3 * np.sin(2 * np.pi * f2 * t + p2))
    assert np.abs(curve).max() <= 1.0


def test_sixty_frames_move_smoothly_inside_their_bands_and_only_pose_and_expression_move():
    base = sample_params(3)
    frames = motion(base, frames=60, seed=1)
    assert len(frames) == 60
    ranges = param_ranges()
    for name, (group, lo, hi) in MOTION_BANDS.items():
        v = _values(frames, name)
        assert lo <= v.min() and v.max() <= hi, name
        assert v.max() - v.min() > 0.2 * (hi - lo), name            # it really moves
        # d/dt of 0.7 sin(2π f1 t) + 0.3 sin(2π f2 t) is at most 2π(0.7·1.5 + 0.3·3) = 12.3 per sequence:
        # over 59 steps and half the band per unit of curve, <= 0.105 of the band per frame
        assert np.abs(np.diff(v)).max() <= 0.105 * (hi - lo) + 1e-9, name
    for name, (group, _) in ranges.items():
        if name not in MOTION_BANDS:
            assert np.all(_values(frames, name) == _values([base], name)[0]), name   # eyes, frown: still
    assert all(f.identity == base.identity and f.lighting == base.lighting for f in frames)
    assert motion(base, 60, seed=1) == frames and motion(base, 60, seed=2) != frames


def test_swap_truth_of_a_sequence_keeps_the_identity_and_takes_each_frames_motion():
    ident = sample_params(11)
    frames = motion_sequence(0, seed=4, frames=10)
    truth = [swap_truth(ident, f) for f in frames]
    assert all(t.identity == ident.identity and t.pose == f.pose and t.expression == f.expression
               for t, f in zip(truth, frames))
    assert all(f.expression.eye_closed_left == 0 for f in frames)  # the sequence's resting face: eyes open


@pytest.mark.parametrize("kwargs, match", [
    (dict(frames=1), "frames must be an integer >= 2"),
    (dict(bands={"skin_tone": (0, 1)}), "not a pose or expression parameter"),
    (dict(bands={"yaw": (-90, 90)}), "band of yaw must satisfy -70 <= low <= high <= 70"),
    (dict(bands={"smile": (0.8, 0.2)}), "band of smile"),
])
def test_bad_requests_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        motion(sample_params(0), **{"frames": 10, **kwargs})


def test_a_band_replaces_the_default_and_a_zero_band_holds_still():
    frames = motion(sample_params(0), 20, seed=0, bands={"yaw": (0, 0), "frown": (0.1, 0.3)})
    assert np.all(_values(frames, "yaw") == 0)
    f = _values(frames, "frown")
    assert 0.1 <= f.min() and f.max() <= 0.3 and f.max() > f.min()


def test_cli_writes_sequences_with_exact_parameters(tmp_path):
    from demos.cli import main

    res = CliRunner().invoke(main, ["render", "--motion", "3", "--n", "2", "--size", "32", "--workers", "1",
                                    "--outdir", str(tmp_path / "mot"), "--seed", "7"])
    assert res.exit_code == 0, res.output
    assert "2 sequence(s) of 3 frames (6 images)" in res.output
    for i in range(2):
        expected = motion_sequence(i, 7, 3)
        for t in range(3):
            rec = json.loads((tmp_path / "mot" / f"{i:06d}" / f"{t:04d}.json").read_text())
            assert rec["params"] == expected[t].to_dict() and rec["motion"] == {"sequence": i, "frames": 3, "frame": t}
            assert (tmp_path / "mot" / f"{i:06d}" / f"{t:04d}.png").is_file()
    res = CliRunner().invoke(main, ["render", "--motion", "3", "--pairs", "smile", "--outdir", str(tmp_path / "x")])
    assert res.exit_code != 0 and "cannot be combined" in res.output
