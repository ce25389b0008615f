"""`edits.swap.video_eval` on a tiny generator: the data (renders, truths, inversions) and its cache, and the
measures against hand computations."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import make_tiny_G
from edits.swap import lcr
from edits.swap import video_eval as ve
from edits.swap.video import ema, flicker
from inversion.losses import psnr
from stylegan.images import from_uint8


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    G = make_tiny_G(0)
    cache = tmp_path_factory.mktemp("video_eval") / "cache.npz"
    data = ve.prepare_video(G, sequences=2, frames=4, distractors=2, invert_steps=1, cache=cache, progress=False)
    return G, data, cache


def test_data_holds_the_moving_heads_their_truths_and_the_inversions(setup):
    from synthetic import render, swap_truth

    G, data, _ = setup
    r = G.img_resolution
    assert data.frames.shape == data.truth.shape == (2, 4, r, r, 3) and data.gallery.shape == (2, r, r, 3)
    assert data.frame_ws.shape == (2, 4, G.num_ws, G.w_dim) and data.id_ws.shape == (2, G.num_ws, G.w_dim)
    ids, seqs, _ = ve.video_params(2, 4, 2)
    assert np.array_equal(data.truth[1, 2], render(swap_truth(ids[1], seqs[1][2]), r).image)
    assert not np.array_equal(data.frames[0, 0], data.frames[0, 3])  # the head moves


def test_cache_is_reused_only_for_the_same_settings(setup, monkeypatch):
    G, data, cache = setup
    monkeypatch.setattr(ve, "_invert", lambda *a, **k: (_ for _ in ()).throw(AssertionError("inverted again")))
    again = ve.prepare_video(G, sequences=2, frames=4, distractors=2, invert_steps=1, cache=cache, progress=False)
    torch.testing.assert_close(again.frame_ws, data.frame_ws)
    with pytest.raises(AssertionError, match="inverted again"):  # other settings: made anew
        ve.prepare_video(G, sequences=2, frames=5, distractors=2, invert_steps=1, cache=cache, progress=False)
    from inversion.projection import PRESETS

    monkeypatch.setitem(PRESETS, "auto", {**PRESETS["auto"], "id_weight": 0.123})
    with pytest.raises(AssertionError, match="inverted again"):  # another library default: made anew
        ve.prepare_video(G, sequences=2, frames=4, distractors=2, invert_steps=1, cache=cache, progress=False)


def test_measures_match_a_hand_computed_lcr_swap(setup):
    G, data, _ = setup
    res = ve.evaluate_video(G, data, "lcr", smooth=0.5)
    flick, temp, ps = [], [], []
    for s in range(2):
        codes = lcr(data.id_ws[s:s + 1].expand(4, -1, -1), ema(data.frame_ws[s], 0.5))
        with torch.no_grad():
            out = torch.cat([G.synthesis(codes[t:t + 1], noise={k: v[s, t] for k, v in data.frame_noise.items()} or None)
                             for t in range(4)])
        truth = torch.cat([from_uint8(x.copy()) for x in data.truth[s]])
        flick.append(flicker(out, truth))
        temp.append(float(((out[1:] - out[:-1]) - (truth[1:] - truth[:-1])).abs().mean()))
        ps.append(float(psnr(out, truth).mean()))
    assert res["flicker"] == pytest.approx(np.mean(flick), abs=1e-5)
    assert res["temporal_error"] == pytest.approx(np.mean(temp), abs=1e-5)
    assert res["psnr"] == pytest.approx(np.mean(ps), abs=1e-3)
    assert 0 <= res["id_top1"] <= 1 and "judge_id_top1" not in res
    assert ve.evaluate_video(G, data, "lcr", smooth=0.0)["flicker"] != res["flicker"]


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="at least 1 sequence of 2 frames"):
        ve.prepare_video(make_tiny_G(0), sequences=1, frames=1, progress=False)


def test_choose_smooth_takes_the_smoothest_that_does_not_lag():
    def row(smooth, temporal, pose, ps):
        return {"smooth": smooth, "temporal_error": temporal, "pose_error": pose, "psnr": ps}
    rows = [row(0.0, 0.06, 5.0, 20.0), row(0.3, 0.05, 5.1, 20.0), row(0.5, 0.045, 5.2, 19.95),
            row(0.7, 0.04, 5.4, 19.85)]
    assert ve.choose_smooth(rows) == 0.5               # 0.7 lags: +0.4 deg of pose error
    rows[3]["pose_error"] = 5.2
    assert ve.choose_smooth(rows) == 0.5               # ... and 0.15 dB of PSNR
    rows[3]["psnr"] = 19.95
    assert ve.choose_smooth(rows) == 0.7
    assert ve.choose_smooth([row(0.0, 0.01, 1.0, 30.0), row(0.5, 0.02, 1.0, 30.0)]) == 0.0   # smoothing did not help
    with pytest.raises(ValueError, match="unsmoothed row"):
        ve.choose_smooth(rows[1:])


def test_ceiling_is_retrieval_of_the_truth_frames_by_hand(setup):
    from synthetic import oracle as oracle_mod
    from synthetic.retrieval import top1

    G, data, _ = setup
    oracle = oracle_mod.load()
    res = ve.video_ceiling(G, data, oracle)
    emb = lambda imgs: oracle.predict(torch.cat([from_uint8(x.copy()) for x in imgs]))["identity"]  # noqa: E731
    gallery = emb(np.concatenate([data.id_images, data.gallery]))
    want = top1(emb(data.truth.reshape(-1, *data.truth.shape[2:])), gallery, torch.arange(2).repeat_interleave(4))
    assert res["id_top1"] == pytest.approx(want) and 0 <= res["recon_id_top1"] <= 1
    assert "judge_id_top1" not in res
