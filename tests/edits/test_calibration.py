"""Calibration to physical units and the oracle-based evaluation, against formulas and a planted reader."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from edits.attributes import ATTRIBUTES, SCORABLE, get
from edits.base import LinearEdit
from edits.calibration import Calibration, OutOfRangeWarning, measure, roomy_ws
from edits.evaluate import evaluate_edit


def test_to_raw_inverts_the_measured_curve_like_numpy_interp():
    raw, ach = [-2, -1, 0, 1, 2], [-31.0, -14.0, 0.0, 16.0, 29.0]
    cal = Calibration(raw, ach, "yaw", "deg")
    x = torch.tensor([-30.0, -5.0, 7.5, 16.0, 28.0], dtype=torch.float64)
    torch.testing.assert_close(cal.to_raw(x), torch.from_numpy(np.interp(x.numpy(), ach, raw)))
    torch.testing.assert_close(cal.to_unit(cal.to_raw(x)), x)
    assert float(cal.to_raw(torch.tensor([0.0]))) == 0.0 and cal.range == (-31.0, 29.0)
    # beyond the measured ends: the end segment extends linearly (with a warning, next test)
    with pytest.warns(OutOfRangeWarning):
        assert float(cal.to_raw(torch.tensor([42.0], dtype=torch.float64))) == pytest.approx(2 + 13 / 13)


def test_beyond_the_measured_range_warns_once_per_calibration():
    def make():
        return Calibration([-2, -1, 0, 1, 2], [-31.0, -14.0, 0.0, 16.0, 29.0], "yaw", "deg")
    cal = make()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the range's ends and everything between: no warning
        cal.to_raw(torch.tensor([-31.0, -3.0, 0.0, 29.0]))
    with pytest.warns(OutOfRangeWarning, match=r"yaw change \+42 deg is outside the calibrated range \[-31, \+29\] deg"):
        cal.to_raw(torch.tensor([5.0, 42.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cal.to_raw(torch.tensor([-50.0]))  # once per calibration, i.e. per edit
    with pytest.warns(OutOfRangeWarning, match="-50 deg"):
        make().to_raw(torch.tensor([-50.0]))  # another edit warns on its own
    edit = LinearEdit(torch.ones(4), [0], 1.0, name="interfacegan:yaw", method="interfacegan", num_ws=2,
                      attribute="yaw", unit="deg", calibration=make())
    with pytest.warns(OutOfRangeWarning) as caught:  # through the Edit protocol, pointing at the caller
        edit.apply(torch.zeros(1, 2, 4), 40.0)
    assert caught[0].filename == __file__


def test_decreasing_and_non_monotone_curves():
    cal = Calibration([-1, 0, 1], [3.0, 0.0, -2.0], "pitch", "deg")
    assert cal.sign == -1 and float(cal.to_raw(torch.tensor([-2.0]))) == pytest.approx(1.0)
    # a violation (0.5 at raw 1 below 0.6 at raw 0.5) is pooled: the inverse stays a function
    cal = Calibration([0, 0.5, 1, 2], [0.0, 0.6, 0.5, 1.0], "smile", "0-1")
    assert torch.all(torch.diff(cal.achieved_points) > 0)
    assert float(cal.to_raw(torch.tensor([0.55]))) == pytest.approx(0.75)


@pytest.mark.parametrize("raw, ach, match", [
    ([-1, 1, 2], [0.0, 1.0, 2.0], "raw = 0"),
    ([-1, 0, 1], [0.0, 0.0, 0.0], "cannot be calibrated"),
    ([0, 1], [0.0, 1.0], ">= 3"),
    ([-1, 0, 1], [float("nan"), 0.0, 1.0], ">= 3 finite"),
])
def test_bad_curves_are_refused(raw, ach, match):
    with pytest.raises(ValueError, match=match):
        Calibration(raw, ach, "yaw", "deg")


class PlantedOracle:
    """Reads every attribute as a fixed smooth function of the image: `k · tanh(mean brightness · 4)`
    (degrees for angles, 0-1 around 0.5 for expressions), identity from the top-left pixels."""

    def predict(self, images: torch.Tensor, mirror_identity: bool = True) -> dict[str, torch.Tensor]:
        m = torch.tanh(images.mean((1, 2, 3)) * 4)
        out = {k: (60 * m if get_unit(k) == "deg" else 0.5 + 0.5 * m) for k in SCORABLE}
        out["identity"] = torch.nn.functional.normalize(images[:, :, :4, :4].flatten(1), dim=1)
        return out


def get_unit(param: str) -> str:
    return next(a.unit for a in ATTRIBUTES.values() if param in a.params) if any(
        param in a.params for a in ATTRIBUTES.values()) else "deg"


def _brightness_edit(G) -> LinearEdit:
    """A W direction that raises the tiny generator's mean brightness (found by least squares)."""
    torch.manual_seed(0)
    z = torch.randn(256, G.z_dim)
    with torch.no_grad():
        w = G.mapping(z)[:, 0]
        y = G(z, noise_mode="const").mean((1, 2, 3))
    d = torch.linalg.lstsq(torch.cat([w - w.mean(0), torch.ones(256, 1)], 1), y[:, None]).solution[:-1, 0]
    return LinearEdit(d / d.norm(), range(G.num_ws), 1.0, name="test:yaw", method="test", num_ws=G.num_ws,
                      attribute="yaw", unit="deg")


def test_calibrated_edit_achieves_the_requested_change_read_independently(tiny_G):
    oracle, e = PlantedOracle(), _brightness_edit(tiny_G)
    ws = roomy_ws(tiny_G, oracle, "yaw", 32, seed=7)
    cal = measure(tiny_G, lambda w, a: e.apply(w, a), "yaw", [-4, -3, -2, -1.5, -1, -0.5, 0.5, 1, 1.5, 2, 3, 4],
                  oracle=oracle, ws=ws)
    e.calibration = cal
    with torch.no_grad():
        before = oracle.predict(tiny_G.synthesis(ws, noise_mode="const"))["yaw"]

        def achieved(s: float) -> float:
            return float((oracle.predict(tiny_G.synthesis(e.apply(ws, s), noise_mode="const"))["yaw"] - before).mean())

        # a request equal to a measured point lands exactly on it; between points, the interpolation is close
        at2 = cal.measured_achieved[cal.measured_raw.index(2.0)]
        assert achieved(at2) == pytest.approx(at2, rel=1e-4)
        lo, hi = cal.range
        for s in (0.7 * lo, 0.4 * lo, 0.3 * hi, 0.8 * hi):
            assert achieved(s) == pytest.approx(s, rel=0.15)
    rows = evaluate_edit(tiny_G, e, [0.3 * hi], oracle=oracle, ws=ws)
    assert rows[0]["achieved"] == pytest.approx(achieved(0.3 * hi), rel=1e-4) and rows[0]["n"] == 32
    assert set(rows[0]["leakage"]) == set(ATTRIBUTES) - {"yaw"} and "judge_identity_drift" not in rows[0]
    # with a judge, its identity drift too: 1 - cos of its embeddings of the renders before and after
    from synthetic.judge import Judge

    torch.manual_seed(0)
    jd = Judge(width=8, input_size=32).eval()
    rows = evaluate_edit(tiny_G, e, [0.3 * hi], oracle=oracle, ws=ws, judge=jd)
    with torch.no_grad():
        a = jd.embed(tiny_G.synthesis(ws, noise_mode="const"))
        b = jd.embed(tiny_G.synthesis(e.apply(ws, 0.3 * hi), noise_mode="const"))
    assert rows[0]["judge_identity_drift"] == pytest.approx(float((1 - (a * b).sum(1)).mean()), rel=1e-4, abs=1e-6)
    assert rows[0]["judge_identity_drift"] > 0


def test_roomy_samples_read_inside_the_central_range(tiny_G):
    oracle = PlantedOracle()
    ws = roomy_ws(tiny_G, oracle, "yaw", 16, central=0.2)
    with torch.no_grad():
        y = oracle.predict(tiny_G.synthesis(ws, noise_mode="const"))["yaw"]
    lo, hi = get("yaw").limits
    assert len(ws) == 16 and float(y.abs().max()) <= (hi - lo) / 2 * 0.2


def test_an_edit_that_changes_nothing_noticeable_is_not_calibrated(tiny_G):
    oracle, e = PlantedOracle(), _brightness_edit(tiny_G)
    with pytest.raises(ValueError, match="noticeably"):
        measure(tiny_G, lambda ws, a: e.apply(ws, a * 1e-4), "yaw", [-1, 1], oracle=oracle, num=8)


def test_unknown_attribute_names_the_known_ones():
    with pytest.raises(ValueError, match="oracle cannot score.*yaw"):
        get("hair_color")


def test_feasible_only_skips_requests_outside_the_renderer_range(tiny_G):
    oracle, e = PlantedOracle(), _brightness_edit(tiny_G)
    e.calibration = Calibration([-1, 0, 1], [-10.0, 0.0, 10.0], "yaw", "deg")
    ws = roomy_ws(tiny_G, oracle, "yaw", 8, central=0.2)   # reads within ±14°
    with torch.no_grad():
        y = oracle.predict(tiny_G.synthesis(ws, noise_mode="const"))["yaw"]
    rows = evaluate_edit(tiny_G, e, [62.0, 200.0], oracle=oracle, ws=ws)
    assert rows[0]["n"] == int((y + 62 <= 70).sum())          # only heads with room for the turn
    assert rows[1]["n"] == 0 and "achieved" not in rows[1]     # no head can turn 200° more


def test_the_curve_is_pinned_at_zero_and_keeps_each_sides_sign():
    # noisy points on the wrong side of 0 near raw 0 are flattened to 0, never moved through it
    cal = Calibration([-1, -0.5, 0, 0.5, 1], [-0.2, 0.02, 0.0, -0.01, 0.3], "smile", "0-1")
    assert cal.range == (-0.2, 0.3)
    assert float(cal.to_unit(torch.tensor([0.0], dtype=torch.float64))) == 0.0
    assert torch.all(torch.diff(cal.achieved_points) > 0)
    assert float(cal.to_raw(torch.tensor([0.15], dtype=torch.float64))) > 0


def test_an_edit_that_moves_the_attribute_one_way_only_is_refused(tiny_G):
    oracle, e = PlantedOracle(), _brightness_edit(tiny_G)
    with pytest.raises(ValueError, match="both ways"):   # |a|: brighter whichever the sign
        measure(tiny_G, lambda ws, a: e.apply(ws, a.abs()), "yaw", [-4, -2, 2, 4], oracle=oracle, num=8)


def test_recalibrate_measures_the_raw_edit_again_and_leaves_the_edit_alone(tiny_G):
    from edits.calibration import recalibrate

    oracle, e = PlantedOracle(), _brightness_edit(tiny_G)
    grid = [-4, -2, 2, 4]
    first = measure(tiny_G, lambda ws, a: e.apply(ws, a), "yaw", grid, oracle=oracle, num=16)
    e.calibration = first
    again = recalibrate(tiny_G, e, oracle=oracle, num=16)
    assert e.calibration is first
    assert again.measured_raw == first.measured_raw
    np.testing.assert_allclose(again.measured_achieved, first.measured_achieved, rtol=1e-5, atol=1e-6)


def test_attribute_change_with_a_known_before_reading_equals_reading_both(tiny_G):
    from edits.calibration import attribute_change, read_attribute

    oracle, e = PlantedOracle(), _brightness_edit(tiny_G)
    ws = roomy_ws(tiny_G, oracle, "yaw", 8)
    edited = e.apply(ws, 1.5)
    with torch.no_grad():
        direct = oracle.predict(tiny_G.synthesis(edited, noise_mode="const"))["yaw"] - \
            oracle.predict(tiny_G.synthesis(ws, noise_mode="const"))["yaw"]
    before = read_attribute(tiny_G, oracle, "yaw", ws)
    torch.testing.assert_close(attribute_change(tiny_G, oracle, "yaw", ws, edited), direct)
    torch.testing.assert_close(attribute_change(tiny_G, oracle, "yaw", ws, edited, before=before), direct)


def test_summarise_against_least_squares_and_plain_means():
    """The benchmark line: slope of a line through 0 (numpy's lstsq), R², means, leakage in 10° / 0.1 units."""
    from edits.evaluate import bench_strengths, summarise

    others = {k: 0.0 for k in ATTRIBUTES if k != "yaw"}
    rows = [{"requested": -20.0, "achieved": -18.0, "relative_error": 0.1, "identity_drift": 0.2,
             "judge_identity_drift": 0.3, "leakage": {**others, "pitch": 2.0, "smile": 0.05}},
            {"requested": 10.0, "achieved": 11.0, "relative_error": 0.1, "identity_drift": 0.1,
             "judge_identity_drift": 0.1, "leakage": dict(others)},
            {"requested": 30.0, "n": 1}]  # unmeasured (no room): left out
    s = summarise(rows)
    req, ach = np.array([-20.0, 10.0]), np.array([-18.0, 11.0])
    slope = np.linalg.lstsq(req[:, None], ach, rcond=None)[0][0]
    assert s["slope"] == pytest.approx(slope)
    assert s["r2"] == pytest.approx(1 - ((ach - slope * req) ** 2).sum() / ((ach - ach.mean()) ** 2).sum())
    assert s["identity_drift"] == pytest.approx(0.15) and s["judge_identity_drift"] == pytest.approx(0.2)
    assert s["drift_per_unit"] == pytest.approx((0.2 / 18 + 0.1 / 11) / 2)
    n = len(others)
    assert s["leakage"] == pytest.approx((2.0 / 10 + 0.05 / 0.1) / n / 2)
    del rows[1]["judge_identity_drift"]
    assert "judge_identity_drift" not in summarise(rows)
    with pytest.raises(ValueError, match="no strength"):
        summarise([{"requested": 5.0, "n": 0}])
    assert bench_strengths("yaw") == [-30, -20, -10, 10, 20, 30] and bench_strengths("smile") == [-0.5, -0.25, 0.25, 0.5]


def test_true_change_drift_against_renders_embedded_by_hand():
    """The yardstick of an edit's identity drift: the same heads rendered and re-rendered with the attribute
    moved. By hand for one strength; 0 moves nothing; a request past the renderer's range skips the head."""
    from edits.attributes import get
    from edits.evaluate import true_change_drift
    from stylegan.images import from_uint8
    from synthetic import judge as judge_mod, oracle as oracle_mod, render, sample_params

    oracle, jd = oracle_mod.load(), judge_mod.load()
    rows = true_change_drift("yaw", [0.0, 15.0, 500.0], 64, num=3, seed=11, oracle=oracle, judge=jd)
    assert rows[0]["n"] == 3 and rows[0]["identity_drift"] < 1e-3 and rows[0]["judge_identity_drift"] < 1e-3
    assert rows[2] == {"requested": 500.0, "n": 0}
    yaw = get("yaw")
    heads = [sample_params(np.random.default_rng([11, i])) for i in range(3)]
    keep = [h for h in heads if yaw.limits[0] <= yaw.value(h) + 15 <= yaw.limits[1]]
    assert rows[1]["n"] == len(keep) > 0
    a = torch.cat([from_uint8(render(h, 64).image) for h in keep])
    b = torch.cat([from_uint8(render(yaw.set(h, yaw.value(h) + 15), 64).image) for h in keep])
    with torch.no_grad():
        want = float((1 - torch.nn.functional.cosine_similarity(oracle.predict(a)["identity"],
                                                                oracle.predict(b)["identity"])).mean())
        want_j = float((1 - torch.nn.functional.cosine_similarity(jd.embed(a), jd.embed(b))).mean())
    assert rows[1]["identity_drift"] == pytest.approx(want, rel=2e-3, abs=1e-4) and want > 1e-3
    assert rows[1]["judge_identity_drift"] == pytest.approx(want_j, rel=2e-3, abs=1e-4)
    with torch.no_grad():
        pa, pb = oracle.predict(a), oracle.predict(b)
    assert set(rows[1]["leakage"]) == set(ATTRIBUTES) - {"yaw"}
    for k in ("pitch", "smile", "light_direction"):
        want_k = float((get(k).score(pb) - get(k).score(pa)).abs().mean())
        assert rows[1]["leakage"][k] == pytest.approx(want_k, rel=5e-3, abs=2e-3)
