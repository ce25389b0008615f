"""Trained swaps (ftm, blend): the networks against their formulas, the training data against exact re-renders,
training (single process, two DDP ranks, a photo folder without truth), the registry and `sgt train-swap`."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from conftest import make_tiny_G, mapped_ws, run_two_ranks
from edits.swap import SwapUntrainedError, lcr
from edits.swap import data as swap_data
from edits.swap.blend import BlendConfig, BlendNet
from edits.swap.ftm import FTMConfig, TransferNet
from edits.swap.train import SwapTrainConfig, train
from sgtcore import modelio, registry


def _net_with_random_cells(G, seed=0) -> TransferNet:
    torch.manual_seed(seed)
    net = TransferNet(FTMConfig(G.num_ws, G.w_dim, hidden=8, blocks=2), w_avg=G.w_avg, w_scale=1.7)
    with torch.no_grad():
        for p in (net.w2, net.b2, net.b1):
            p.normal_(0, 0.3)
        net.mix.normal_(0, 1)
    return net


def test_untrained_ftm_is_lcr_to_a_quarter_percent(tiny_G):
    net = TransferNet(FTMConfig(tiny_G.num_ws, tiny_G.w_dim), w_avg=tiny_G.w_avg, w_scale=2.0)
    a, b = mapped_ws(tiny_G, 1, 3), mapped_ws(tiny_G, 2, 3)
    bound = torch.sigmoid(torch.tensor(-6.0)) * (a - b).abs() + 1e-5  # sigma(+-6) mixes 0.25 % of the other code
    assert ((net(a, b) - lcr(a, b)).abs() <= bound).all()
    assert not torch.equal(net(a, b), lcr(a, b, 0))


def test_transfer_cells_follow_the_megafs_formula_in_float64(tiny_G):
    """One row at a time, written out as MegaFS Sec. 3.3 states it (with the 2 sigma gate), in float64."""
    net = _net_with_random_cells(tiny_G)
    a, b = mapped_ws(tiny_G, 3, 2), mapped_ws(tiny_G, 4, 2)
    got = net(a, b)
    d = tiny_G.w_dim
    w_avg, s = net.w_avg.double(), float(net.w_scale)
    for r in range(tiny_G.num_ws):
        li, lt = (a[:, r].double() - w_avg) / s, (b[:, r].double() - w_avg) / s
        for k in range(net.config.blocks):
            f = torch.cat([li, lt], 1)
            h = torch.nn.functional.leaky_relu(f @ net.w1[r, k].double() + net.b1[r, k].double(), 0.2)
            o = h @ net.w2[r, k].double() + net.b2[r, k].double()
            gi, bi, gt, bt = o[:, :d], o[:, d:2 * d], o[:, 2 * d:3 * d], o[:, 3 * d:]
            li = li * 2 * torch.sigmoid(gi) + torch.tanh(bi)
            lt = lt * 2 * torch.sigmoid(gt) + torch.tanh(bt)
        m = torch.sigmoid(net.mix[r].double())
        want = (m * li + (1 - m) * lt) * s + w_avg
        torch.testing.assert_close(got[:, r].double(), want, rtol=1e-5, atol=1e-5)


def test_blend_takes_the_attribute_outside_the_mask_and_the_render_inside(tiny_G):
    net = BlendNet(BlendConfig.for_generator(tiny_G, base="lcr", width=8))
    assert net.config.blend_res == [8, 16] and net.config.channels == [tiny_G.synthesis.b8.conv1.out_channels,
                                                                       tiny_G.synthesis.b16.conv1.out_channels]
    ws = mapped_ws(tiny_G, 5, 2)
    att = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        img, m = net(tiny_G, ws, att, mask=torch.zeros(2, 1, 32, 32))
        assert torch.equal(m, torch.zeros_like(m)) and torch.allclose(img, att, atol=1e-6)
        img, m = net(tiny_G, ws, att, mask=torch.ones(1, 1, 32, 32))
        torch.testing.assert_close(img, tiny_G.synthesis(ws), rtol=1e-5, atol=1e-5)  # blend weight 1 - m = 0
        img, m = net(tiny_G, ws, att)
    assert img.shape == (2, 3, 32, 32) and m.shape == (2, 1, 32, 32) and 0 < float(m.mean()) < 1


def _render_G():
    return make_tiny_G(0)


def test_build_renders_exact_truth_resumes_and_refuses_the_protocol_seed(tmp_path, tiny_G, monkeypatch):
    from synthetic import render, swap_truth

    from edits.swap.evaluate import PROTOCOL_SEED

    with pytest.raises(ValueError, match="held-out protocol"):
        swap_data.build(tiny_G, 3, 4, seed=PROTOCOL_SEED)
    calls = []
    real = swap_data._invert
    monkeypatch.setattr(swap_data, "_invert", lambda G_, imgs, kw: calls.extend([1] * len(imgs)) or real(G_, imgs, kw))
    path = tmp_path / "d.npz"
    d = swap_data.build(tiny_G, 3, 5, path, seed=7, steps=1, progress=False, save_every=1)
    assert d.heads == 3 and d.truth.shape == (5, 32, 32, 3) and len(calls) == 3
    i, j = d.pairs[2]
    want = render(swap_truth(swap_data.head_params(int(i), 7), swap_data.head_params(int(j), 7)), 32)
    assert np.array_equal(d.truth[2], want.image) and np.array_equal(d.truth_masks[2], want.mask)
    assert np.array_equal(d.images[1], render(swap_data.head_params(1, 7), 32).image)
    again = swap_data.build(tiny_G, 3, 5, path, seed=7, steps=1, progress=False)
    assert len(calls) == 3 and torch.equal(again.ws, d.ws)  # nothing inverted twice
    # a finished file read by a torchrun rank (a training start): nothing written, no rank parts, no merge
    import stylegan.train as st

    monkeypatch.setattr(st, "rank_world", lambda: (1, 2))
    monkeypatch.setattr(swap_data.SwapTrainData, "save", lambda *a, **k: pytest.fail("rewrote a finished file"))
    ranked = swap_data.build(tiny_G, 3, 5, path, seed=7, steps=1, progress=False)
    assert torch.equal(ranked.ws, d.ws) and np.array_equal(ranked.truth, d.truth)
    assert not list(tmp_path.glob("d.npz.rank*")) and len(calls) == 3
    monkeypatch.undo()
    with pytest.raises(ValueError, match="made for generator"):
        swap_data.load(path, make_tiny_G(1))



def test_build_grows_reuses_and_refuses_other_settings(tmp_path, tiny_G, monkeypatch):
    import synthetic

    inverted, rendered = [], []
    real_invert, real_render = swap_data._invert, synthetic.render
    monkeypatch.setattr(swap_data, "_invert",
                        lambda G_, imgs, kw: inverted.extend([1] * len(imgs)) or real_invert(G_, imgs, kw))
    monkeypatch.setattr(synthetic, "render", lambda *a, **k: rendered.append(1) or real_render(*a, **k))
    path = tmp_path / "d.npz"
    small = swap_data.build(tiny_G, 3, 5, path, seed=7, steps=1, progress=False, save_every=1, save_seconds=0)
    assert len(inverted) == 3
    # growing the head count inverts only the new heads; truths of (identity, attribute) pairs already rendered
    # are reused whatever their pair number
    rendered.clear()
    grown = swap_data.build(tiny_G, 5, 9, path, seed=7, steps=1, progress=False)
    assert len(inverted) == 5 and torch.equal(grown.ws[:3], small.ws)
    new_pairs = {tuple(x) for x in grown.pairs.tolist()} - {tuple(x) for x in small.pairs.tolist()}
    assert len(rendered) == 2 + len(new_pairs)  # two new heads, and only the new pairs' truths
    for q, (i, j) in enumerate(grown.pairs.tolist()):
        want = real_render(synthetic.swap_truth(swap_data.head_params(i, 7), swap_data.head_params(j, 7)), 32)
        assert np.array_equal(grown.truth[q], want.image)
    before = path.read_bytes()
    # settings that would silently start over (or drop heads) are refused, and the file is kept as it was
    for kw, match in ((dict(heads=5, steps=2), "other settings.*project_kw"), (dict(heads=5, seed=8), "other settings.*seed"),
                      (dict(heads=3), "up to #4")):
        with pytest.raises(ValueError, match=match):
            swap_data.build(tiny_G, kw.pop("heads"), 9, path, **{"seed": 7, "steps": 1, "progress": False, **kw})
    assert path.read_bytes() == before
    # a smaller set takes its heads from the bigger one instead of inverting them again
    sub = swap_data.build(tiny_G, 2, 4, tmp_path / "sub.npz", seed=7, steps=1, progress=False, heads_from=path)
    assert len(inverted) == 5 and torch.equal(sub.ws, grown.ws[:2]) and sub.pairs.max() <= 1
    assert torch.equal(swap_data.load(tmp_path / "sub.npz").ws, sub.ws)  # and holds them itself
    swap_data._folder_data({0: (small.images[0], small.ws[0], {k: v[0] for k, v in small.noise.items()}, small.masks[0],
                                small.landmarks[0])}, ["a.png"], 32, {"generator": None}).save(tmp_path / "photos.npz")
    with pytest.raises(ValueError, match="photo-folder data"):
        swap_data.build(tiny_G, 2, 4, None, seed=7, steps=1, progress=False, heads_from=tmp_path / "photos.npz")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    G = make_tiny_G(0)
    return G, swap_data.build(G, 4, 24, tmp_path_factory.mktemp("d") / "d.npz", seed=3, steps=2, progress=False)


def _rec_loss(G, net, data, method):
    from inversion.losses import make_loss

    loss = make_loss("l2+msssim")
    with torch.no_grad():
        i, j = data.pairs[:, 0], data.pairs[:, 1]
        noise = {k: v[j] for k, v in data.noise.items()}
        att = torch.from_numpy(data.images[j]).permute(0, 3, 1, 2).float() / 127.5 - 1
        img = G.synthesis(net(data.ws[i], data.ws[j]), noise=noise) if method == "ftm" else \
            net(G, lcr(data.ws[i], data.ws[j]), att, noise)[0]
        truth = torch.from_numpy(data.truth).permute(0, 3, 1, 2).float() / 127.5 - 1
        return float(loss(img, truth).mean())


@pytest.mark.parametrize("method", ["ftm", "blend"])
def test_training_lowers_the_loss_against_the_truth_and_resumes(tiny_data, tmp_path, method):
    G, data = tiny_data
    from edits.swap.train import new_network

    before = _rec_loss(G, new_network(G, data, method, "lcr"), data, method)
    steps = 40 if method == "ftm" else 100  # blend also learns its mask (BCE), which slows the image loss at first
    cfg = SwapTrainConfig(method=method, steps=steps, batch=8, lr=3e-3, noise=0.0, save_every=20)
    net = train(G, data, cfg, tmp_path / "log", progress=False)
    after = _rec_loss(G, net, data, method)
    assert after < 0.9 * before, (before, after)
    state = torch.load(tmp_path / "log" / "train_state.pt", weights_only=True)
    assert state["step"] == steps
    cfg.steps = steps + 1  # one more step continues from the saved state
    net2 = train(G, data, cfg, tmp_path / "log", progress=False)
    assert torch.load(tmp_path / "log" / "train_state.pt", weights_only=True)["step"] == steps + 1
    assert abs(_rec_loss(G, net2, data, method) - after) < 0.2 * before


def _ddp_train(outdir):
    G = make_tiny_G(0)
    data = swap_data.load(Path(outdir) / "d.npz")
    return train(G, data, SwapTrainConfig(method="ftm", steps=4, batch=4, save_every=100), None, progress=False)


def test_two_ranks_train_in_sync(tiny_data, tmp_path):
    G, data = tiny_data
    data.save(tmp_path / "d.npz")
    a, b = run_two_ranks(_ddp_train, tmp_path)
    single = torch.cat([p.flatten() for p in
                        TransferNet(FTMConfig(G.num_ws, G.w_dim), w_avg=G.w_avg).parameters()])
    assert torch.equal(a, b) and not torch.equal(a, single[:len(a)])


def test_photo_folder_path_trains_without_truth(tmp_path, tiny_G):
    folder = tmp_path / "photos"
    folder.mkdir()
    from synthetic import render

    for k in range(3):
        Image.fromarray(render(swap_data.head_params(k, 11), 32).image).save(folder / f"{k}.png")
    (folder / "broken.png").write_text("not an image")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = swap_data.from_folder(tiny_G, folder, tmp_path / "p.npz", steps=1, progress=False)
    assert any("broken.png" in str(w.message) for w in caught)
    assert d.heads == 3 and not d.synthetic and d.meta["files"] == ["0.png", "1.png", "2.png"]
    for method in ("ftm", "blend"):
        net = train(tiny_G, d, SwapTrainConfig(method=method, steps=3, batch=4), None, progress=False)
        assert all(torch.isfinite(p).all() for p in net.parameters())
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no images"):
        swap_data.from_folder(tiny_G, empty)


def test_cli_data_only_heads_from_and_a_refused_resume(tmp_path, tiny_G):
    from demos.cli import main as sgt

    G_dir = tmp_path / "G"
    modelio.save(tiny_G, G_dir)
    runner = CliRunner()
    base = ["train-swap", "--method", "blend", "--network", str(G_dir), "--invert-steps", "1", "--seed", "5"]
    res = runner.invoke(sgt, base + ["--out", str(tmp_path / "big"), "--heads", "4", "--pairs", "6", "--data-only"])
    assert res.exit_code == 0 and "4 heads, 6 pairs" in res.output, res.output
    assert not (tmp_path / "big").exists()  # nothing trained (blend did not even look for an ftm network)
    res = runner.invoke(sgt, base + ["--out", str(tmp_path / "small"), "--heads", "2", "--pairs", "3", "--data-only",
                                     "--heads-from", str(tmp_path / "big_data.npz")])
    assert res.exit_code == 0, res.output
    small, big = swap_data.load(tmp_path / "small_data.npz"), swap_data.load(tmp_path / "big_data.npz")
    assert torch.equal(small.ws, big.ws[:2])
    res = runner.invoke(sgt, base + ["--out", str(tmp_path / "big"), "--heads", "4", "--pairs", "6", "--data-only",
                                     "--invert-steps", "2"])
    assert res.exit_code == 1 and "other settings" in res.output and "Traceback" not in res.output, res.output
    res = runner.invoke(sgt, base + ["--out", str(tmp_path / "p"), "--photos", str(tmp_path), "--heads-from",
                                     str(tmp_path / "big_data.npz")])
    assert res.exit_code == 2 and "--heads-from" in res.output, res.output


def test_eval_swap_validation_split_reads_the_oracle_alone(tmp_path, tiny_G, monkeypatch):
    from demos.cli import main as sgt
    from edits.swap import evaluate as ev
    from synthetic import judge as judge_mod

    G_dir = tmp_path / "G"
    modelio.save(tiny_G, G_dir)
    seeds = []
    real_prepare = ev.prepare
    monkeypatch.setattr(ev, "prepare", lambda G, n, m, seed, *a, **k: seeds.append(seed) or real_prepare(G, n, m, seed, *a, **k))
    monkeypatch.setattr(judge_mod, "load", lambda *a, **k: pytest.fail("the validation split must not read the judge"))
    runner = CliRunner()
    base = ["eval-swap", "--network", str(G_dir), "--ids", "2", "--attributes", "1", "--invert-steps", "1"]
    res = runner.invoke(sgt, base + ["--validation", "--out", str(tmp_path / "v.json")])
    assert res.exit_code == 0 and "VALIDATION split (oracle only): 2 identities" in res.output, res.output
    assert seeds == [ev.VALIDATION_SEED] and ev.VALIDATION_SEED not in (ev.PROTOCOL_SEED, 0)
    import json

    row = json.loads((tmp_path / "v.json").read_text())["lcr"][0]
    assert "judge_id_top1" not in row and 0 <= row["id_top1"] <= 1
    res = runner.invoke(sgt, base + ["--validation", "--seed", "3"])
    assert res.exit_code == 2 and "--validation has its own seed" in res.output
    with pytest.raises(ValueError, match="validation split"):
        swap_data.build(tiny_G, 2, 2, seed=ev.VALIDATION_SEED)


def test_registry_cli_and_errors(tmp_path, tiny_G):
    from demos.cli import main as sgt

    G_dir = tmp_path / "G"
    modelio.save(tiny_G, G_dir)
    photos = tmp_path / "photos"
    photos.mkdir()
    from synthetic import render

    for k in range(2):
        Image.fromarray(render(swap_data.head_params(k, 12), 32).image).save(photos / f"{k}.png")
    from edits import swap

    a, b = mapped_ws(tiny_G, 1), mapped_ws(tiny_G, 2)
    with pytest.raises(SwapUntrainedError, match="sgt train-swap --method ftm"):
        swap(a, b, "ftm", tiny_G)
    runner = CliRunner()
    out = tmp_path / "ftm"
    res = runner.invoke(sgt, ["train-swap", "--method", "ftm", "--network", str(G_dir), "--photos", str(photos),
                              "--out", str(out), "--steps", "2", "--batch", "2", "--invert-steps", "1"])
    assert res.exit_code == 0, res.output
    assert modelio.read_config(out)["class_name"] == "TransferNet" and (tmp_path / "ftm_data.npz").exists()
    res = runner.invoke(sgt, ["train-swap", "--method", "ftm", "--network", str(G_dir), "--photos", str(photos),
                              "--out", str(tmp_path / "ftm2"), "--steps", "1", "--batch", "2", "--invert-steps", "1",
                              "--extra-data", str(tmp_path / "ftm_data.npz")])
    assert res.exit_code == 0 and "trained on 4 photos" in res.output, res.output  # 2 + the 2 of the extra file
    res = runner.invoke(sgt, ["swap", "--identity", str(photos / "0.png"), "--attribute", str(photos / "1.png"),
                              "--network", str(G_dir), "--method", "ftm", "--swap-net", str(out), "--steps", "1",
                              "--outdir", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o" / "swapped.png").exists()
    res = runner.invoke(sgt, ["eval-swap", "--network", str(G_dir), "--ids", "2", "--attributes", "1", "--method",
                              "lcr", "--method", "ftm", "--swap-net", str(out), "--invert-steps", "1", "--out",
                              str(tmp_path / "eval.json")])
    assert res.exit_code == 0, res.output
    import json

    rows = json.loads((tmp_path / "eval.json").read_text())["trained"]
    assert [r["method"] for r in rows] == ["ftm"] and rows[0]["pairs"] == 2 and 0 <= rows[0]["id_top1"] <= 1
    assert any(line.startswith("ftm ") for line in res.output.splitlines())
    other = tmp_path / "G2"
    modelio.save(make_tiny_G(1), other)
    res = runner.invoke(sgt, ["swap", "--identity", str(photos / "0.png"), "--attribute", str(photos / "1.png"),
                              "--network", str(other), "--method", "ftm", "--swap-net", str(out),
                              "--outdir", str(tmp_path / "o2")])
    assert res.exit_code != 0 and "Traceback" not in res.output and "--swap-net" in res.output
    assert not (tmp_path / "o2").exists()
    res = runner.invoke(sgt, ["train-swap", "--method", "blend", "--network", str(other), "--photos", str(photos),
                              "--ftm", str(out), "--out", str(tmp_path / "b2")])
    assert res.exit_code == 1 and "Traceback" not in res.output and "made for generator" in res.output, res.output
    assert not (tmp_path / "b2_data.npz").exists()  # refused before any photo was inverted
    res = runner.invoke(sgt, ["train-swap", "--method", "lcr", "--network", str(G_dir), "--out", str(tmp_path / "x")])
    assert res.exit_code != 0 and "Invalid value for '--method'" in res.output
    for entry in registry.entries("swap"):
        if not entry.shipped:
            registry.unregister("swap", entry.name)


def test_merge_reindexes_pairs_and_refuses_other_generators(tiny_data, tmp_path):
    G, a = tiny_data
    b = swap_data.build(G, 3, 5, tmp_path / "b.npz", seed=4, steps=1, progress=False)
    m = swap_data.merge([a, b])
    assert m.heads == a.heads + b.heads and len(m.pairs) == len(a.pairs) + len(b.pairs)
    for p in (0, len(a.pairs) + 2):
        src, q = (a, p) if p < len(a.pairs) else (b, p - len(a.pairs))
        i, j = m.pairs[p]
        assert np.array_equal(m.images[i], src.images[src.pairs[q, 0]]) and torch.equal(m.ws[j], src.ws[src.pairs[q, 1]])
        assert np.array_equal(m.truth[p], src.truth[q])
    other = swap_data.build(make_tiny_G(1), 2, 2, seed=4, steps=1, progress=False)
    with pytest.raises(ValueError, match="cannot merge training data of generator"):
        swap_data.merge([a, other])


def test_blend_with_a_user_mask_and_bad_masks(tmp_path, tiny_G):
    from edits import swap
    from edits.swap.train import new_network

    a, b = mapped_ws(tiny_G, 1), mapped_ws(tiny_G, 2)
    empty = swap_data.SwapTrainData(np.zeros((0, 32, 32, 3), np.uint8), torch.zeros(0), {}, np.zeros((0, 32, 32), bool),
                                    np.zeros((0, 2), np.int64), np.zeros((0, 32, 32, 3), np.uint8),
                                    np.zeros((0, 32, 32), bool), np.zeros((0, 68, 2), np.float32))
    modelio.save(new_network(tiny_G, empty, "blend", "lcr"), tmp_path / "blend", generator=tiny_G)
    registry.register("swap", "test-user-mask-blend", tmp_path / "blend")
    try:
        from edits.swap import find_network

        first = find_network(tiny_G, "blend")
        assert find_network(tiny_G, "blend") is first  # read once, reused by later swaps
        retrained = new_network(tiny_G, empty, "blend", "lcr")
        with torch.no_grad():
            retrained.m_out.bias.fill_(3.0)
        modelio.save(retrained, tmp_path / "blend", generator=tiny_G)  # a rewritten folder is read again
        again = find_network(tiny_G, "blend")
        assert again is not first and float(again.m_out.bias[0]) == 3.0
        with torch.no_grad():
            att = tiny_G.synthesis(b)
        r = swap(a, b, "blend", tiny_G, mask=np.zeros((32, 32)))  # nothing of the face: the attribute's render
        torch.testing.assert_close(r.image, att, rtol=0, atol=2e-6)
        half = torch.zeros(32, 32)
        half[:, :16] = 1
        r = swap(a, b, "blend", tiny_G, mask=half)
        assert torch.equal(r.mask[0, 0], half) and torch.allclose(r.image[..., 16:], att[..., 16:], atol=2e-6)
        with pytest.raises(ValueError, match=r"mask must be \[32, 32\] or \[1, 1, 32, 32\].*got \[64, 64\]"):
            swap(a, b, "blend", tiny_G, mask=np.zeros((64, 64)))
        with pytest.raises(ValueError, match=r"in \[0, 1\]"):
            swap(a, b, "blend", tiny_G, mask=np.full((32, 32), 2.0))
        with pytest.raises(ValueError, match=r"used by methods 'blend' and megafs-\* only"):
            swap(a, b, "lcr", tiny_G, mask=half)
    finally:
        registry.unregister("swap", "test-user-mask-blend")


class _Holder(torch.nn.Module):
    """The merged data's codes as a parameter, so `run_two_ranks` can compare what each rank ends with."""

    def __init__(self, *tensors):
        super().__init__()
        self.p = torch.nn.ParameterList([torch.nn.Parameter(t.float().flatten()) for t in tensors])


def _ddp_build(outdir):
    d = swap_data.build(make_tiny_G(0), 5, 7, Path(outdir) / "shared.npz", seed=9, steps=1, progress=False)
    return _Holder(d.ws, torch.from_numpy(d.truth), torch.from_numpy(d.pairs))


def test_two_ranks_share_the_data_building(tmp_path, monkeypatch):
    a, b = run_two_ranks(_ddp_build, tmp_path)
    assert torch.equal(a, b)  # both ranks end with the merged set
    parts = [swap_data.load(tmp_path / f"shared.npz.rank{r}") for r in range(2)]
    assert [p.meta["head_ids"] for p in parts] == [[0, 2, 4], [1, 3]]  # each rank inverted its own heads
    assert [p.meta["pair_ids"] for p in parts] == [[0, 2, 4, 6], [1, 3, 5]]
    merged = swap_data.load(tmp_path / "shared.npz")
    single = swap_data.build(make_tiny_G(0), 5, 7, tmp_path / "single.npz", seed=9, steps=1, progress=False)
    assert np.array_equal(merged.truth, single.truth) and np.array_equal(merged.pairs, single.pairs)
    torch.testing.assert_close(merged.ws, single.ws, rtol=1e-4, atol=1e-4)  # thread counts differ
    # one process continues what two ranks saved (the merged file gone): nothing is inverted again
    (tmp_path / "shared.npz").unlink()
    calls = []
    real = swap_data._invert
    monkeypatch.setattr(swap_data, "_invert", lambda G_, imgs, kw: calls.extend([1] * len(imgs)) or real(G_, imgs, kw))
    again = swap_data.build(make_tiny_G(0), 5, 7, tmp_path / "shared.npz", seed=9, steps=1, progress=False)
    assert calls == [] and torch.equal(again.ws, merged.ws) and np.array_equal(again.truth, merged.truth)
