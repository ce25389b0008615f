"""StyleSpace: channel ranking on planted examples, StyleEdit semantics, render composition, saving."""
import pytest
import torch

import edits
import stylegan
from conftest import make_tiny_G
from edits import LinearEdit
from edits.calibration import held_out_ws, roomy_ws
from edits.stylespace import StyleEdit, find_channels, style_stats, stylespace
from sgtcore.errors import ArchitectureMismatchError

LAYER = "b8.conv1"  # reads ws row 2 alone (no ToRGB shares it)


@pytest.fixture(scope="module")
def G():
    return make_tiny_G(0)


@pytest.fixture(scope="module")
def stats(G):
    return style_stats(G, 2000, seed=0)


def _affine(G, layer):
    block, name = layer.split(".")
    return getattr(getattr(G.synthesis, block), name).affine


def _planted(G, stats, channel, sign=1.0, k=10, seed=0):
    """Pairs whose style difference is +3σ on `channel` of LAYER (every pair) plus random noise everywhere."""
    gen = torch.Generator().manual_seed(seed)
    row = dict(G.synthesis.style_layout())[LAYER]
    A = (_affine(G, LAYER).weight * _affine(G, LAYER).weight_gain).detach().double()  # [C, w_dim]
    target = torch.zeros(A.shape[0], dtype=torch.float64)
    target[channel] = sign * 3.0 * stats[LAYER][1][channel]
    step = torch.linalg.lstsq(A, target[:, None]).solution[:, 0].float()  # A·step = target
    before = held_out_ws(G, k, seed=10 + seed)
    after = before + 0.05 * torch.randn(before.shape, generator=gen)
    after[:, row] += step
    return before, after


def test_style_stats_match_a_direct_computation(G, stats):
    from edits.directions.samples import mapped_w

    w = torch.cat(list(mapped_w(G, 2000, 0, 700))).float()
    styles = G.synthesis.ws_to_styles(w[:, None].repeat(1, G.num_ws, 1))
    for layer, s in styles.items():
        torch.testing.assert_close(stats[layer][0], s.double().mean(0), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(stats[layer][1], s.double().std(0), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("channel,sign", [(5, 1.0), (17, -1.0)])
def test_find_channels_recovers_a_planted_channel(G, stats, channel, sign):
    found = find_channels(G, _planted(G, stats, channel, sign), top=5, stats=stats)
    best = found[0]
    assert (best.layer, best.index, best.row) == (LAYER, channel, 2)
    assert best.score > 3 * found[1].score and abs(best.mean - 3.0 * sign) < 0.3
    assert best.sigma == pytest.approx(float(stats[LAYER][1][channel]))
    assert all(not c.layer.endswith("torgb") for c in found) and len(found) == 5
    # a sequence of (before, after) pairs works the same
    before, after = _planted(G, stats, channel, sign)
    again = find_channels(G, list(zip(before, after)), top=1, stats=stats)
    assert (again[0].layer, again[0].index) == (LAYER, channel)


def test_pairs_along_one_w_direction_give_finite_scores(G, stats):
    ws = held_out_ws(G, 6)
    n = torch.randn(G.w_dim)
    found = find_channels(G, (ws, ws + n), top=3, stats=stats)  # identical style differences: std 0
    assert all(torch.isfinite(torch.tensor(c.score)) for c in found)


def test_find_channels_bad_input(G, stats):
    ws = held_out_ws(G, 3)
    with pytest.raises(ValueError, match="at least 2 example pairs"):
        find_channels(G, (ws[:1], ws[:1] + 1), stats=stats)
    with pytest.raises(ValueError, match=r"\[N, num_ws, w_dim\]"):
        find_channels(G, (ws[:, :3], ws[:, :3]), stats=stats)
    bad = ws.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        find_channels(G, (ws, bad), stats=stats)
    with pytest.raises(ValueError, match="top must be"):
        find_channels(G, (ws, ws + 1), top=0, stats=stats)


def _edit(G, stats, channel=5, sign=-1.0):
    sigma = float(stats[LAYER][1][channel])
    return StyleEdit([LAYER], [channel], [sigma], [sign], layer_rows=[2], name="stylespace:test", num_ws=G.num_ws,
                     w_dim=G.w_dim, generator=stylegan.fingerprint(G))


def test_style_edit_moves_exactly_its_channel_by_alpha_sigma(G, stats):
    e = _edit(G, stats)
    ws = held_out_ws(G, 3)
    styles = G.synthesis.ws_to_styles(ws)
    out = e.apply_styles(styles, 2.5)
    sigma = float(stats[LAYER][1][5])
    for layer, s in styles.items():
        diff = out[layer] - s
        if layer == LAYER:
            torch.testing.assert_close(diff[:, 5], torch.full((3,), -2.5 * sigma), rtol=1e-6, atol=1e-6)
            assert torch.equal(diff[:, [c for c in range(s.shape[1]) if c != 5]], torch.zeros(3, s.shape[1] - 1))
        else:
            assert out[layer] is s
    assert all(torch.equal(e.apply_styles(styles, 0.0)[k], styles[k]) for k in styles)  # strength 0: identity
    per = e.apply_styles(styles, torch.tensor([0.0, 1.0, -1.0]))[LAYER][:, 5] - styles[LAYER][:, 5]
    torch.testing.assert_close(per, torch.tensor([0.0, -sigma, sigma]))
    assert torch.equal(e.apply_styles(styles, 3.0, layers=[0, 1])[LAYER], styles[LAYER])  # its row not allowed
    with pytest.raises(ValueError, match="finite"):
        e.apply_styles(styles, float("nan"))
    with pytest.raises(TypeError, match=r"edits.render\(G, ws"):
        e.apply(ws, 1.0)


def test_render_composes_w_edits_first_then_style_edits(G, stats):
    e = _edit(G, stats)
    lin = LinearEdit(torch.ones(G.w_dim) / G.w_dim ** 0.5, range(G.num_ws), 0.5, name="t:0", method="t",
                     num_ws=G.num_ws, generator=stylegan.fingerprint(G))
    ws = held_out_ws(G, 2)
    with torch.no_grad():
        manual = G.synthesis.ws_to_styles(lin.apply(ws, 1.5))
        manual[LAYER] = manual[LAYER].clone()
        manual[LAYER][:, 5] += 4.0 * -1.0 * float(stats[LAYER][1][5])
        ref = G.synthesis(styles=manual, noise_mode="const")
        img = edits.render(G, ws, [(e, 4.0), (lin, 1.5)])  # listed first, applied after the W edit
        torch.testing.assert_close(img, ref)
        styles = edits.apply_styles(G, ws, [(lin, 1.5), (e, 4.0)])
        torch.testing.assert_close(G.synthesis(styles=styles), ref)
        assert (img - edits.render(G, ws, [(lin, 1.5)])).abs().max() > 1e-4
        torch.testing.assert_close(edits.render(G, ws, [(lin, 1.5)]), G.synthesis(lin.apply(ws, 1.5)))
    with pytest.raises(ArchitectureMismatchError, match="sgt directions"):
        edits.render(make_tiny_G(1), ws, [(e, 1.0)])


def test_save_load_round_trip_and_other_generator(G, stats, tmp_path):
    e = _edit(G, stats)
    path = e.save(tmp_path / "se")
    back = edits.load(path, G)
    assert isinstance(back, StyleEdit) and back.name == e.name and back.layers == [LAYER] and back.channels == [5]
    assert back.rows == (2,) and back.space == "s" and back.unit == "σ"
    styles = G.synthesis.ws_to_styles(held_out_ws(G, 2))
    torch.testing.assert_close(back.apply_styles(styles, 3.0)[LAYER], e.apply_styles(styles, 3.0)[LAYER])
    with pytest.raises(ArchitectureMismatchError):
        edits.load(path, make_tiny_G(1))


class SpyOracle:
    """A stand-in oracle whose "smile" is a known function of the image: 10 × the mean green value."""

    def predict(self, images, mirror_identity=True):
        return {"smile": 10 * images[:, 1].mean(dim=(1, 2))}


def test_calibrated_stylespace_edit(G, stats, tmp_path):
    oracle = SpyOracle()
    e = stylespace(G, "smile", _planted(G, stats, 5), num_samples=2000, oracle=oracle, calibration_samples=8,
                   calibration_grid=(-10.0, 10.0))
    assert e.name == "stylespace:smile" and e.attribute == "smile" and e.unit == "0-1"
    assert (e.layers, e.channels) == ([LAYER], [5])
    lo, hi = e.range
    assert lo < 0 < hi
    cal = e.calibration
    target = cal.measured_achieved[-1]  # measured at raw +10 σ_c on the calibration samples (roomy_ws)
    ws = roomy_ws(G, oracle, "smile", 8)
    with torch.no_grad():
        got = oracle.predict(edits.render(G, ws, [(e, target)]))["smile"] - oracle.predict(G.synthesis(ws))["smile"]
    assert float(got.mean()) == pytest.approx(target, rel=1e-3, abs=1e-4)
    back = edits.load(e.save(tmp_path / "cal"), G)
    assert back.unit == "0-1" and back.range == e.range


def test_cli_stylespace_with_a_user_checkpoint(tmp_path):
    from click.testing import CliRunner

    from demos.cli import main
    from edits.delta.data import DeltaData

    tiny = make_tiny_G(0)
    stylegan.save_pretrained(tiny, tmp_path / "tiny")
    before = held_out_ws(tiny, 6)
    after = before + 0.3 * torch.randn(before.shape, generator=torch.Generator().manual_seed(0))
    DeltaData("yaw", [-30.0, 30.0], torch.stack([before, after], 1), torch.full((6, 2), 30.0),
              generator=stylegan.fingerprint(tiny)).save(tmp_path / "yaw_data.npz")
    base = ["directions", "--method", "stylespace", "--network", str(tmp_path / "tiny"), "--samples", "500",
            "--no-calibrate", "--examples", str(tmp_path / "yaw_data.npz")]
    result = CliRunner().invoke(main, base + ["--attribute", "yaw", "--out", str(tmp_path / "out"), "--channels", "2"])
    assert result.exit_code == 0, result.output
    e = edits.load(tmp_path / "out" / "tiny_stylespace_yaw", tiny)
    assert isinstance(e, StyleEdit) and e.name == "stylespace:yaw" and e.unit == "σ" and len(e.channels) == 2
    assert e.info["num_examples"] == 6 and "--examples" in e.metadata["command"]
    result = CliRunner().invoke(main, base + ["--attribute", "nose", "--out", str(tmp_path / "o2")])
    assert result.exit_code == 1 and "cannot score" in result.output and not (tmp_path / "o2").exists()
