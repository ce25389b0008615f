"""The Delta-GAN encoder: network priors, the edit's contract, data building (sim-to-real on a tiny
generator), training on a planted world, save/load, and `sgt train-delta`."""
from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

import edits
import stylegan
from conftest import make_tiny_G, run_two_ranks
from demos.cli import main
from edits.attributes import get
from edits.delta import DeltaConfig, DeltaData, DeltaEdit, DeltaNet, DeltaTrainConfig, make_edit, train_delta
from edits.delta import data as delta_data
from sgtcore.errors import ArchitectureMismatchError


def _net(num_ws: int = 8, w_dim: int = 32, seed: int = 0, **kw) -> DeltaNet:
    torch.manual_seed(seed)
    return DeltaNet(DeltaConfig(num_ws, w_dim, **kw), torch.randn(w_dim) * 0.1, 0.7).eval()


def test_encoder_is_antisymmetric_and_the_decoder_is_exactly_zero_at_no_change():
    net = _net()
    a, b = torch.randn(5, 8, 32), torch.randn(5, 8, 32)
    with torch.no_grad():
        assert torch.equal(net.encode(a, a), torch.zeros(5, net.config.delta_dim))
        torch.testing.assert_close(net.encode(b, a), -net.encode(a, b))
        assert torch.equal(net.residual(a, torch.zeros(5, net.config.delta_dim)), torch.zeros_like(a))
        assert net.residual(a, net.encode(a, b)).abs().max() > 0


def test_training_noise_reaches_the_networks_not_the_codes_the_change_is_added_to():
    net = _net()
    a, b = torch.randn(3, 8, 32), torch.randn(3, 8, 32)
    with torch.no_grad():
        a_hat, b_hat = net(a, a, b, noise=0.5)   # same frame twice: Δ read off noisy copies is not 0
        a0, b0 = net(a, a, b)                    # without noise Δ = 0: the codes come back exactly
    assert torch.equal(a0, a) and torch.equal(b0, b)
    assert not torch.equal(b_hat, b)


def _edit(G, seed: int = 0) -> DeltaEdit:
    torch.manual_seed(seed)
    net = DeltaNet(DeltaConfig(G.num_ws, G.w_dim), G.w_avg, 0.5)
    return DeltaEdit(net, torch.randn(net.config.delta_dim), "yaw", generator=stylegan.fingerprint(G))


def test_edit_contract_identity_rows_and_per_sample_strength(tiny_G):
    e = _edit(tiny_G)
    ws = tiny_G.mapping(torch.randn(4, tiny_G.z_dim), truncation_psi=0.7).detach()
    assert torch.equal(e.apply(ws, 0.0), ws)
    assert e.unit == "Δ" and e.name == "dge:yaw" and e.method == "dge"
    out = e.apply(ws, 1.0, layers=range(2, 5))
    assert torch.equal(out[:, :2], ws[:, :2]) and torch.equal(out[:, 5:], ws[:, 5:])
    assert (out[:, 2:5] - ws[:, 2:5]).abs().max() > 0
    s = torch.tensor([0.5, -1.0, 0.0, 2.0])
    both = e.apply(ws, s)
    for i in range(4):
        torch.testing.assert_close(both[i:i + 1], e.apply(ws[i:i + 1], float(s[i])))
    # the module and function forms agree
    torch.testing.assert_close(edits.EditModule(e)(ws, 0.7), edits.apply_edit(ws, e, 0.7))


def test_save_load_round_trip_and_refusal_of_another_generator(tiny_G, tmp_path):
    e = _edit(tiny_G)
    with torch.no_grad():  # what make_edit does before saving: float16 storage gives these weights back
        for t in e.net.state_dict().values():
            t.copy_(t.half().float())
        e.reference = e.reference.half().float()
    e.save(tmp_path / "dge")
    back = edits.load(tmp_path / "dge", tiny_G)
    assert isinstance(back, DeltaEdit) and back.name == "dge:yaw"
    ws = tiny_G.mapping(torch.randn(3, tiny_G.z_dim), truncation_psi=0.7).detach()
    torch.testing.assert_close(back.apply(ws, 1.3), e.apply(ws, 1.3), rtol=0, atol=1e-6)
    with pytest.raises(ArchitectureMismatchError, match="generator"):
        edits.load(tmp_path / "dge", make_tiny_G(7))


def _planted(heads: int = 12, frames: int = 3, num_ws: int = 4, w_dim: int = 8, seed: int = 0) -> tuple[DeltaData, torch.Tensor]:
    """Codes whose change depends on the head: b(v) = base + v · (u + M base), exactly known."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(heads, num_ws, w_dim, generator=g)
    u, M = torch.randn(num_ws, w_dim, generator=g), torch.randn(w_dim, w_dim, generator=g) * 0.5
    values = torch.linspace(-1, 1, frames)
    ws = torch.stack([base + v * (u + base @ M) for v in values], dim=1)
    data = DeltaData("yaw", values.tolist(), ws, torch.zeros(heads, frames), [[{}] * frames] * heads, None, {})
    return data, ws


class _FakeG:
    """What training needs of a generator: shapes, w_avg, and mapped samples for the w scale."""

    def __init__(self, num_ws: int, w_dim: int):
        self.num_ws, self.w_dim, self.z_dim = num_ws, w_dim, w_dim
        self.w_avg = torch.zeros(w_dim)

    def mapping(self, z, c=None, truncation_psi=1.0):
        return z[:, None].repeat(1, self.num_ws, 1)


@pytest.fixture
def one_thread():
    """Tiny MLP steps gain nothing from threads, and lose a lot when other jobs share the cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_training_learns_a_head_dependent_change_the_mean_shift_cannot(one_thread):
    data, _ = _planted(heads=20)
    G = _FakeG(4, 8)
    cfg = DeltaTrainConfig(steps=400, batch=32, lr=3e-3, noise=0.0, val_heads=4, hidden=64)
    net, report = train_delta(data, G, cfg, progress=False)
    val = report["validation"]
    # on held-out heads, the linear baseline (mean change of the training heads) misses the
    # head-dependent part that the decoder learned (measured: ratio 0.36)
    assert val["ratio"] < 0.6, val
    assert report["final"]["transfer"] < 0.1 * val["mean_shift"]


def test_shift_decoder_makes_one_change_for_every_head_the_mean_change(one_thread):
    """decoder='shift' reads Δ alone: the same change lands on every code, zero at Δ = 0, and trained on the
    planted world it learns the training heads' mean change (the formula), so on held-out heads it does as
    well as the mean shift and no better (the code decoder beats it: the test above)."""
    net = _net(decoder="shift")
    a, b = torch.randn(5, 8, 32), torch.randn(5, 8, 32)
    with torch.no_grad():
        delta = net.encode(a, b)
        assert torch.equal(net.residual(a, torch.zeros_like(delta)), torch.zeros_like(a))
        torch.testing.assert_close(net.residual(a, delta), net.residual(b, delta))   # the code is not read
    with pytest.raises(ValueError, match="decoder must be one of"):
        _net(decoder="mean")
    data, ws = _planted(heads=20)
    cfg = DeltaTrainConfig(steps=400, batch=32, lr=3e-3, noise=0.0, val_heads=4, hidden=64, decoder="shift")
    net, report = train_delta(data, _FakeG(4, 8), cfg, progress=False)
    assert net.config.decoder == "shift"
    assert 0.9 < report["validation"]["ratio"] < 1.3, report["validation"]  # measured 1.14 (code decoder: 0.40)
    with torch.no_grad():  # the full-span change (first -> last frame) of the training heads, on average
        mean_change = (ws[:16, -1] - ws[:16, 0]).mean(0)
        ref = net.encode(ws[:16, 0], ws[:16, -1]).mean(0, keepdim=True)
        got = net.residual(ws[16:17, 0], ref)[0]
    assert (got - mean_change).square().mean() < 0.05 * mean_change.square().mean()


def test_one_head_learns_its_own_change(one_thread):
    """The one-pair end of the sample-efficiency study: with a single head B = A, and the change read off
    two of its frames must rebuild the third's code far better than no change does."""
    data, ws = _planted(heads=1, frames=3)
    net, report = train_delta(data, _FakeG(4, 8), DeltaTrainConfig(steps=300, batch=16, lr=3e-3, noise=0.0, hidden=32),
                              progress=False)
    with torch.no_grad():
        pred = ws[:, 0] + net.residual(ws[:, 0], net.encode(ws[:, 0], ws[:, 2]))
    err, none = (pred - ws[:, 2]).square().mean(), (ws[:, 0] - ws[:, 2]).square().mean()
    assert err < 0.05 * none, (float(err), float(none))
    assert report["heads"] == 1


def test_select_takes_these_heads_in_order_and_refuses_bad_ones():
    data, ws = _planted(heads=5)
    data.params = [[{"head": h}] * 3 for h in range(5)]
    sub = data.select([3, 0])
    assert torch.equal(sub.ws, ws[[3, 0]]) and sub.params[0][0] == {"head": 3} and sub.heads == 2
    assert torch.equal(data.subset(2).ws, ws[:2])
    for bad in ([], [1, 1], [5], [-1]):
        with pytest.raises(ValueError, match="distinct heads"):
            data.select(bad)


def test_training_is_deterministic_in_the_seed():
    data, _ = _planted(heads=4)
    cfg = DeltaTrainConfig(steps=20, hidden=16)
    n1, _ = train_delta(data, _FakeG(4, 8), cfg, progress=False)
    n2, _ = train_delta(data, _FakeG(4, 8), cfg, progress=False)
    for (k, v), v2 in zip(n1.state_dict().items(), n2.state_dict().values()):
        assert torch.equal(v, v2), k


def test_too_few_heads_and_bad_validation_split_are_refused(tiny_G):
    data, _ = _planted(heads=3)
    with pytest.raises(ValueError, match="no head of 3"):
        train_delta(data, _FakeG(4, 8), DeltaTrainConfig(steps=1, val_heads=3), progress=False)
    with pytest.raises(ValueError, match="at least 1 head"):
        delta_data.build(tiny_G, "yaw", heads=0)
    with pytest.raises(ValueError, match="oracle cannot score"):
        delta_data.build(tiny_G, "hair_color", heads=2)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The sim-to-real path on a tiny generator: CGI renders inverted into it (2 projection steps)."""
    G = make_tiny_G(0)
    path = tmp_path_factory.mktemp("delta") / "yaw.npz"
    data = delta_data.build(G, "yaw", heads=2, frames=2, path=path, steps=2, progress=False)
    return G, data, path


def test_build_renders_one_attribute_sequences_and_inverts_them(built):
    G, data, path = built
    assert data.ws.shape == (2, 2, G.num_ws, G.w_dim) and torch.isfinite(data.ws).all()
    assert data.values == [-30.0, 30.0] and data.generator == stylegan.fingerprint(G)
    attr = get("yaw")
    for head in data.params:
        first, last = head
        assert [first["pose"]["yaw"], last["pose"]["yaw"]] == data.values
        # everything but the attribute is the same head
        first["pose"].pop("yaw"), last["pose"].pop("yaw")
        assert first == last
    assert attr.params == ("yaw",)
    back = delta_data.load(path, G)
    assert torch.equal(back.ws, data.ws) and back.values == data.values


def test_build_resumes_without_inverting_again(built, monkeypatch):
    G, data, path = built

    def no(*a, **k):
        raise AssertionError("inverted again")

    monkeypatch.setattr(delta_data, "invert_head", no)
    again = delta_data.build(G, "yaw", heads=2, frames=2, path=path, steps=2, progress=False)
    assert torch.equal(again.ws, data.ws)


def test_build_refuses_a_file_of_other_settings_and_leaves_it_untouched(built, monkeypatch):
    """A data file is minutes of inversion per head: other settings (steps, frames, attribute, seed) or another
    generator are refused by name, never silently rebuilt over."""
    G, data, path = built
    monkeypatch.setattr(delta_data, "invert_head", lambda *a, **k: (_ for _ in ()).throw(AssertionError("inverted")))
    before = path.read_bytes()
    for kw, what in (({"steps": 3}, "project_kwargs"), ({"frames": 3}, "values"), ({"seed": 1}, "seed")):
        with pytest.raises(ValueError, match=f"other settings \\({what} "):
            delta_data.build(G, "yaw", **{"heads": 2, "frames": 2, "path": path, "steps": 2, "progress": False, **kw})
    with pytest.raises(ValueError, match="attribute 'yaw' there, 'pitch' here"):
        delta_data.build(G, "pitch", heads=2, frames=2, path=path, steps=2, progress=False)
    with pytest.raises(stylegan.LatentFileError, match="inverted into"):
        delta_data.build(make_tiny_G(3), "yaw", heads=2, frames=2, path=path, steps=2, progress=False)
    assert path.read_bytes() == before


def test_dataset_for_another_generator_is_refused(built):
    _, _, path = built
    with pytest.raises(stylegan.LatentFileError, match="another generator|inverted into"):
        delta_data.load(path, make_tiny_G(3))


def test_make_edit_uncalibrated_reference_is_the_mean_full_span_change(built):
    G, data, _ = built
    net, _ = train_delta(data, G, DeltaTrainConfig(steps=5, hidden=16), progress=False)
    e = make_edit(net, data, G, calibrate=False)
    with torch.no_grad():
        ref = net.encode(data.ws[:, 0], data.ws[:, -1]).mean(0)
    torch.testing.assert_close(e.reference, ref.half().float())
    assert e.unit == "Δ" and e.calibration is None and e.info["span"] == [-30.0, 30.0]


def test_sgt_train_delta_on_a_tiny_generator(tmp_path):
    G = make_tiny_G(0)
    stylegan.save_pretrained(G, tmp_path / "tiny")
    out = tmp_path / "yaw_edit"
    args = ["train-delta", "--network", str(tmp_path / "tiny"), "--attribute", "smile", "--pairs", "2", "--frames", "2",
            "--steps", "3", "--refine-steps", "1", "--refine-id-weight", "0", "--no-calibrate", "--out", str(out)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    e = edits.load(out, G)
    assert e.name == "dge:smile" and e.unit == "Δ"
    data = delta_data.load(tmp_path / "yaw_edit_data.npz", G)
    assert data.settings["project_kwargs"] == {"steps": 1, "id_weight": 0.0}  # the refining projection's settings
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["metadata"]["command"].startswith("sgt train-delta") and "--refine-id-weight 0.0" in cfg["metadata"]["command"]


@pytest.mark.parametrize("extra, message", [
    (["--pairs", "0"], "at least 1 head"),
    (["--frames", "1"], "at least 2 frames"),
    (["--attribute", "hair"], "Invalid value"),
])
def test_sgt_train_delta_bad_input_writes_nothing(tmp_path, extra, message):
    args = ["train-delta", "--network", "synthheads", "--attribute", "yaw", "--out", str(tmp_path / "e")] + extra
    res = CliRunner().invoke(main, args)
    assert res.exit_code != 0 and message in res.output
    assert "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []


def test_shipped_dge_edits_are_listed_calibrated_and_render():
    from edits.attributes import get

    G = stylegan.load("synthheads")
    cat = edits.available(G)
    shipped = [n for n in cat if n.startswith("dge:")]
    assert {"dge:yaw", "dge:pitch", "dge:light_direction", "dge:mouth_open", "dge:eyes_closed"} <= set(shipped)
    ws = G.mapping(torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(3)), truncation_psi=0.7).detach()
    for name in shipped:
        e = cat[name]
        assert isinstance(e, DeltaEdit) and e.calibration is not None and e.unit == get(e.attribute).unit
        lo, hi = e.range
        assert lo < 0 < hi
        assert torch.equal(e.apply(ws, 0.0), ws)
        with torch.no_grad():
            img = edits.render(G, ws, [(e, hi / 2)])
            assert (img - G.synthesis(ws)).abs().mean() > 1e-3, name


@pytest.mark.slow
@pytest.mark.parametrize("network, worst", [("synthheads", 0.15), ("synthheads128", 0.25)])
def test_shipped_dge_yaw_turns_the_head_by_the_requested_degrees(network, worst):
    """The issue's target: within 15 % on average over ±10-30° (measured on fresh heads of the population the
    calibration uses, yaw inside the central 60 % of the range; bench/RESULTS.md: v1 at most 7 % off, v2 12 %
    on average, its worst strength 17 % at -30°)."""
    from edits.calibration import roomy_ws
    from edits.evaluate import evaluate_edit
    from synthetic import oracle as oracle_mod

    G = stylegan.load(network)
    oracle = oracle_mod.load()
    e = edits.available(G)["dge:yaw"]
    ws = roomy_ws(G, oracle, "yaw", 100, seed=4_000_000)
    rows = evaluate_edit(G, e, [-30.0, -20.0, -10.0, 10.0, 20.0, 30.0], oracle=oracle, ws=ws)
    assert sum(r["relative_error"] for r in rows) / len(rows) < 0.15, rows
    for row in rows:
        assert row["relative_error"] < worst, row

def _train_planted(outdir: str) -> torch.nn.Module:
    data, _ = _planted(heads=6)
    return train_delta(data, _FakeG(4, 8), DeltaTrainConfig(steps=5, batch=4, hidden=16), progress=False)[0]


def test_ddp_two_processes_stay_in_sync(tmp_path):
    """Ranks draw different pairs; the weights stay equal only if the gradients were all-reduced."""
    got = run_two_ranks(_train_planted, tmp_path)
    assert torch.equal(got[0], got[1])
    torch.manual_seed(0)
    fresh = torch.cat([p.flatten() for p in DeltaNet(DeltaConfig(4, 8, hidden=16)).parameters()])
    assert not torch.equal(got[0], fresh)


def _build_two_ranks(outdir: str) -> torch.nn.Module:
    data = delta_data.build(make_tiny_G(0), "yaw", heads=3, frames=2, path=f"{outdir}/d.npz", steps=1, progress=False)
    return torch.nn.ParameterList([torch.nn.Parameter(data.ws.flatten())])


def test_build_under_torchrun_shares_the_heads_and_merges_them(tmp_path):
    """Rank r inverts heads r, r+2, ...; rank 0 merges the parts: every rank ends with all heads, equal to a
    one-process build (each head's projection is seeded by the head, not by the rank)."""
    got = run_two_ranks(_build_two_ranks, tmp_path)
    assert torch.equal(got[0], got[1])
    assert sorted(p.name for p in tmp_path.glob("d.npz*")) == ["d.npz", "d.npz.rank0", "d.npz.rank1"]
    merged = delta_data.load(tmp_path / "d.npz")
    assert merged.settings["head_ids"] == [0, 1, 2] and merged.heads == 3
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the ranks
    try:
        single = delta_data.build(make_tiny_G(0), "yaw", heads=3, frames=2, steps=1, progress=False)
    finally:
        torch.set_num_threads(n)
    torch.testing.assert_close(merged.ws, single.ws, rtol=0, atol=1e-5)
    torch.testing.assert_close(got[0], single.ws.flatten(), rtol=0, atol=1e-5)
