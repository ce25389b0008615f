"""Export with D, `stylegan.load_discriminator` on an exported model, and warm-starting a run from it."""
import json

import pytest
import torch

import stylegan
from stylegan.formats.errors import ArchitectureMismatchError
from stylegan.train import train
from stylegan.train.checkpoint import find_checkpoint
from stylegan.train.export import export_ema
from stylegan.train.loop import build_networks
from stylegan.train.warm_start import warm_start
from test_train import TINY, _cfg, write_images


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("warm")
    data = write_images(root / "data")
    run = train(_cfg(data, root / "run", steps=3, snap_every=3))
    meta = export_ema(run, root / "model")
    return data, run, root / "model", meta


def _same(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_export_keeps_discriminator_and_load_discriminator_finds_it(exported):
    _, run, model, meta = exported
    ckpt = find_checkpoint(run)
    _same(stylegan.load(model), stylegan.load_pretrained(ckpt / "G_ema"))
    _same(stylegan.load_discriminator(model), stylegan.load_pretrained(ckpt / "D"))
    assert meta["steps"] == 3 and meta["checkpoint"] == "step-0000003"


def test_warm_start_copies_weights_and_continues_counters(exported, tmp_path):
    data, _, model, meta = exported
    cfg = _cfg(data, tmp_path / "w", steps=5, snap_every=5, seed=7)  # seed 7: different initial weights
    G, D = build_networks(cfg, 16, use_amp=False)
    G_ema = build_networks(cfg, 16, use_amp=False)[0]
    state, record = warm_start(model, G, D, G_ema, torch.device("cpu"))
    _same(G, stylegan.load(model))
    _same(G_ema, stylegan.load(model))
    _same(D, stylegan.load_discriminator(model))
    assert state.step == 3 and state.cur_nimg == 12 and state.opt_G == {} and state.opt_D == {}
    assert record["from"] == str(model) and record["kimg"] == pytest.approx(0.012)
    assert record["source_metadata"]["steps"] == 3


def test_warm_started_run_continues_and_records_its_origin(exported, tmp_path):
    data, _, model, _ = exported
    out = train(_cfg(data, tmp_path / "w", steps=5, snap_every=5, init_from=str(model)))
    assert find_checkpoint(out).name == "step-0000005"  # steps 4 and 5 trained after the 3 of the source
    meta = json.loads((out / "final" / "config.json").read_text())["metadata"]
    assert meta["steps"] == 5 and meta["kimg"] == pytest.approx(0.020)
    assert meta["warm_start"]["from"] == str(model) and meta["warm_start"]["kimg"] == pytest.approx(0.012)
    exported_again = export_ema(out, tmp_path / "model2")
    assert exported_again["warm_start"]["source_metadata"]["checkpoint"] == "step-0000003"
    # resuming the warm-started run keeps the record (and the run continues from its own checkpoint)
    out = train(_cfg(data, tmp_path / "w", steps=6, snap_every=6), resume=out)
    meta = json.loads((out / "final" / "config.json").read_text())["metadata"]
    assert meta["steps"] == 6 and meta["warm_start"]["from"] == str(model)


def test_warm_start_refuses_other_architecture_and_warns_without_d(exported, tmp_path):
    data, run, _, _ = exported
    model = tmp_path / "g_only"
    export_ema(run, model, with_discriminator=False)
    cfg = _cfg(data, tmp_path / "w", steps=5, snap_every=5)
    G, D = build_networks(cfg, 16, use_amp=False)
    with pytest.warns(UserWarning, match="D starts from scratch"):
        warm_start(model, G, D, G, torch.device("cpu"))
    wide = _cfg(data, tmp_path / "w", steps=5, snap_every=5, channels={**TINY["channels"], 16: 16})
    G2, D2 = build_networks(wide, 16, use_amp=False)
    with pytest.raises(ArchitectureMismatchError, match="channels"):
        warm_start(model, G2, D2, G2, torch.device("cpu"))


# ------------------------------------------------------------------------------------------ growing a block
def test_grow_start_draws_the_old_image_upsampled_and_copies_d(exported, tmp_path):
    from stylegan.ops import upsample2d
    from stylegan.train.warm_start import grow_start

    data, _, model, meta = exported
    cfg = _cfg(data, tmp_path / "g", steps=1, snap_every=1, channels={4: 16, 8: 16, 16: 8, 32: 8}, seed=3)
    G, D = build_networks(cfg, 32, use_amp=False)
    G_ema = build_networks(cfg, 32, use_amp=False)[0]
    state, record = grow_start(model, G, D, G_ema, torch.device("cpu"))
    old, old_D = stylegan.load(model), stylegan.load_discriminator(model)
    ws = old.mapping(torch.randn(3, 16, generator=torch.Generator().manual_seed(1)))
    with torch.no_grad():
        small = old.synthesis(ws, noise_mode="const")
        big = G.synthesis(ws[:, :1].expand(-1, G.num_ws, -1), noise_mode="const")  # two more rows, same w
    assert big.shape == (3, 3, 32, 32)
    # the skip architecture adds the new block's ToRGB (zero) to the old image upsampled with G's own FIR filter
    want = upsample2d(small, G.synthesis.b32.resample_filter)
    assert torch.allclose(big, want, atol=1e-6)
    # every shared layer copied, in G_ema too; D's lower blocks copied, its new top block fresh
    for k, v in old.state_dict().items():
        assert torch.equal(G.state_dict()[k], v) and torch.equal(G_ema.state_dict()[k], v), k
    for k, v in old_D.state_dict().items():
        if not k.startswith("b16.fromrgb"):
            assert torch.equal(D.state_dict()[k], v), k
    assert "b32.fromrgb.weight" in D.state_dict() and "b16.fromrgb.weight" not in D.state_dict()
    assert state.step == meta["steps"] and record["grown_from_resolution"] == 16


def test_grown_run_trains_and_wrong_growths_are_refused(exported, tmp_path):
    from test_train import write_images as write

    data, _, model, _ = exported
    big = write(tmp_path / "big", size=32)
    with pytest.raises(ArchitectureMismatchError, match="channels"):
        train(_cfg(big, tmp_path / "a", steps=1, snap_every=1, channels={4: 16, 8: 16, 16: 16, 32: 8},
                   grow_from=str(model)))
    with pytest.raises(ArchitectureMismatchError, match="grows to 32"):
        train(_cfg(write(tmp_path / "bigger", size=64), tmp_path / "b", steps=1, snap_every=1,
                   channels={4: 16, 8: 16, 16: 8, 32: 8, 64: 8}, grow_from=str(model)))
    with pytest.raises(ValueError, match="one model"):
        train(_cfg(big, tmp_path / "c", steps=1, snap_every=1, channels={4: 16, 8: 16, 16: 8, 32: 8},
                   grow_from=str(model), init_from=str(model)))
    out = train(_cfg(big, tmp_path / "d", steps=5, snap_every=5, channels={4: 16, 8: 16, 16: 8, 32: 8},
                     grow_from=str(model)))
    meta = json.loads((out / "final" / "config.json").read_text())["metadata"]
    assert meta["warm_start"]["grown_from_resolution"] == 16 and stylegan.load(out / "final").img_resolution == 32
