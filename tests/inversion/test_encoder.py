"""e4e-style encoder: progressive offsets, delta-norm, training improves reconstructions,
save/load guards, encoder-initialised projection, and a 2-process DDP (gloo) run."""
from __future__ import annotations

import pytest
import torch

import stylegan
from inversion.encoder import delta_norm, encoder_for, load_encoder, save_encoder
from inversion.encoder_train import EncoderTrainConfig, evaluate, train_encoder
from inversion.losses import psnr
from inversion.projection import project
from conftest import SMALL, run_two_ranks



def tiny_g(seed: int = 0):
    torch.manual_seed(seed)
    return stylegan.Generator(**SMALL).eval()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    G = tiny_g()
    out = tmp_path_factory.mktemp("enc")
    cfg = EncoderTrainConfig(steps=60, batch=6, progressive_every=6, log_every=20, val_samples=32)
    enc = train_encoder(G, out, cfg, progress=False)
    return G, enc, out


def test_progressive_mask_and_start_at_w_avg():
    G = tiny_g()
    enc = encoder_for(G)
    img = torch.randn(2, 3, 32, 32)
    enc.set_active_layers(1)
    ws, delta = enc(img, return_delta=True)
    assert ws.shape == (2, G.num_ws, G.w_dim)
    assert torch.equal(delta, torch.zeros_like(delta)) and torch.allclose(ws[:, 0], ws[:, -1])  # pure W
    enc.set_active_layers(3)
    _, delta = enc(img, return_delta=True)
    nonzero = delta.abs().sum((0, 2)) > 0
    assert nonzero.tolist() == [False, True, True] + [False] * (G.num_ws - 3)
    assert delta_norm(delta) > 0
    assert (ws - G.w_avg).abs().mean() < (G.mapping(torch.randn(64, 32)) - G.w_avg).abs().mean()
    with pytest.raises(ValueError, match="shape"):
        enc(torch.randn(1, 3, 16, 16))


def test_training_beats_the_untrained_encoder(trained):
    G, enc, out = trained
    fresh = encoder_for(G).eval()
    before, after = evaluate(G, fresh, 32), evaluate(G, enc, 32)
    assert after["latent_mse"] < 0.7 * before["latent_mse"], (before, after)
    assert after["psnr"] > before["psnr"] + 2, (before, after)
    assert int(enc.active_layers) == G.num_ws
    assert (out / "log.jsonl").read_text().count("\n") >= 5


def test_save_load_roundtrip_and_guards(trained, tmp_path):
    G, enc, out = trained
    loaded = load_encoder(out, G=G)
    img = G(torch.randn(2, 32))
    assert torch.allclose(loaded(img), enc(img), atol=1e-6)
    with pytest.raises(stylegan.ArchitectureMismatchError, match=f"made for generator {stylegan.fingerprint(G)}"):
        load_encoder(out, G=tiny_g(5))
    with pytest.raises(stylegan.ArchitectureMismatchError, match="num_ws"):
        load_encoder(out, G=stylegan.Generator(**{**SMALL, "img_resolution": 16}))
    with pytest.raises(FileNotFoundError, match="train-encoder"):
        load_encoder(tmp_path)


def test_load_encoder_relative_path_from_elsewhere_and_by_name(tmp_path, monkeypatch):
    """A shipped path typed relative to the repository, run from another folder: the error names the
    working directory and the registered names, not 'train an encoder'; the name itself works anywhere."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="working directory") as err:
        load_encoder("inversion/weights/synthheads_encoder")
    assert "synthheads_encoder" in str(err.value) and "train-encoder" not in str(err.value)
    enc = load_encoder("synthheads_encoder")
    assert enc.config.num_ws == stylegan.load("synthheads").num_ws
    assert save_encoder(enc, tmp_path / "copy").joinpath("config.json").is_file()


def test_half_storage_halves_the_file_and_keeps_the_outputs(trained, tmp_path):
    G, enc, out = trained
    save_encoder(enc, tmp_path / "half", half=True)
    full, half = out / "model.safetensors", tmp_path / "half" / "model.safetensors"
    assert half.stat().st_size < 0.55 * full.stat().st_size
    loaded = load_encoder(tmp_path / "half", G=G)  # w_avg kept exact: the generator check passes
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    img = G(torch.randn(4, 32))
    ref, got = enc(img), loaded(img)
    assert not torch.equal(ref, got)  # the weights were rounded ...
    assert (got - ref).abs().max() < 1e-2 * ref.abs().max()  # ... to float16 precision only


def test_encoder_init_then_refine(trained):
    G, enc, _ = trained
    with torch.no_grad():
        target = G(torch.randn(1, 32, generator=torch.Generator().manual_seed(77)))
    with torch.no_grad():
        start = float(psnr(G.synthesis(enc(target)), target))
    r = project(G, target, space="w+", steps=40, init="encoder", encoder=enc, w_noise=0.0, lr=0.05,
                loss="l2+msssim", progress=False)
    assert r.history["psnr"][0] == pytest.approx(start, abs=0.5)
    assert float(psnr(r.image, target)) > start + 3
    assert r.history["init"] == "encoder"


def _train_tiny_encoder(outdir: str) -> torch.nn.Module:
    return train_encoder(tiny_g(), outdir, EncoderTrainConfig(steps=3, batch=2, image_weight=0.0, val_samples=4,
                                                              progressive_every=1), progress=False)


def test_ddp_two_processes_stay_in_sync(tmp_path):
    got = run_two_ranks(_train_tiny_encoder, tmp_path)
    assert torch.equal(got[0], got[1])  # gradients were all-reduced
    fresh = torch.cat([p.flatten() for p in encoder_for(tiny_g()).parameters()])
    assert not torch.equal(got[0], fresh)
    assert (tmp_path / "config.json").is_file()


def test_train_encoder_cli(tmp_path):
    from click.testing import CliRunner

    from demos.cli import main

    stylegan.save_pretrained(tiny_g(), tmp_path / "net")
    r = CliRunner().invoke(main, ["train-encoder", "--network", str(tmp_path / "net"), "--outdir", str(tmp_path / "enc"),
                                  "--steps", "3", "--batch", "2", "--loss", "l2", "--half"])
    assert r.exit_code == 0, r.output
    enc = load_encoder(tmp_path / "enc", G=stylegan.load(tmp_path / "net"))
    assert enc.config.num_ws == 8
    from safetensors.torch import load_file

    stored = load_file(str(tmp_path / "enc" / "model.safetensors"))
    assert stored["to_w.weight"].dtype == torch.float16 and stored["w_avg"].dtype == torch.float32
