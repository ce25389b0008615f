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
