"""`sgt train-encoder --data DIR`: an encoder trained on a folder of images (here: the images of another
generator, out of the tiny G's own samples) reconstructs held-out images of that folder better than one
trained on G's samples alone; the identity term is the oracle's; bad inputs are one error line."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import stylegan
from conftest import make_tiny_G, run_two_ranks
from demos.cli import main
from inversion.encoder import encoder_for, load_encoder
from inversion.encoder_train import EncoderTrainConfig, evaluate_images, train_encoder


def _folder(path, n: int = 40, seed: int = 5):
    """`n` 32 px images in PNG files: samples of another tiny generator (nothing G can hit exactly)."""
    path.mkdir(parents=True, exist_ok=True)
    other = make_tiny_G(seed, channel_max=48)
    with torch.no_grad():
        imgs = other(torch.randn(n, 32, generator=torch.Generator().manual_seed(seed)), noise_mode="const")
    arr = (imgs.permute(0, 2, 3, 1) * 127.5 + 128).clamp(0, 255).to(torch.uint8).numpy()
    for i, a in enumerate(arr):
        Image.fromarray(a).save(path / f"{i:03d}.png")
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return _folder(tmp_path_factory.mktemp("imgs"))


def test_folder_training_reconstructs_the_folders_held_out_images_better(folder, tmp_path):
    G = make_tiny_G(0)
    common = dict(steps=80, batch=8, lr=2e-3, progressive_every=0, loss="l2", log_every=10, val_samples=8,
                  data_val=8, id_weight=0.0)
    own = train_encoder(G, tmp_path / "own", EncoderTrainConfig(**common), progress=False)
    mixed = train_encoder(G, tmp_path / "mixed", EncoderTrainConfig(**common, data=str(folder)), progress=False)
    from stylegan.train.dataset import ImageDataset

    val = ImageDataset(folder).images[-8:]  # the held-out tail: never in a training batch
    a, b = evaluate_images(G, own, val)["data_psnr"], evaluate_images(G, mixed, val)["data_psnr"]
    assert b > a + 0.3, (a, b)
    meta = json.loads((tmp_path / "mixed" / "config.json").read_text())["metadata"]
    assert meta["data_images"] == 32 and meta["validation"]["data_psnr"] == pytest.approx(b, abs=1e-3)


def test_identity_term_is_the_oracles_and_moves_the_encoder(folder, tmp_path):
    G = make_tiny_G(0)
    cfg = EncoderTrainConfig(steps=4, batch=4, progressive_every=0, loss="l2", log_every=1, val_samples=4,
                             data=str(folder), data_fraction=1.0, image_weight=0.0, latent_weight=0.0, reg_weight=0.0,
                             id_weight=1.0, data_val=4)
    torch.manual_seed(cfg.seed)
    fresh = torch.cat([p.flatten() for p in encoder_for(G).parameters()])
    enc = train_encoder(G, tmp_path / "id", cfg, progress=False)
    rows = [json.loads(ln) for ln in (tmp_path / "id" / "log.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "step" in r]
    assert all(r["identity"] > 0 and r["image"] == 0 and r["latent"] == 0 for r in steps)
    assert "data_id_distance" in rows[-1]["final"]
    # with only the identity loss on, the weights moved: the oracle's gradient reached the encoder
    assert not torch.equal(torch.cat([p.flatten() for p in enc.parameters()]), fresh)


def test_init_from_continues_an_encoder_and_refuses_another_generators(folder, tmp_path):
    G = make_tiny_G(0)
    first = train_encoder(G, tmp_path / "a", EncoderTrainConfig(steps=2, batch=2, loss="l2", val_samples=2),
                          progress=False)
    cont = train_encoder(G, tmp_path / "b", EncoderTrainConfig(steps=1, batch=2, loss="l2", val_samples=2, lr=0.0,
                                                               init_from=str(tmp_path / "a")), progress=False)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(first(x), cont(x), atol=1e-5)  # lr 0: the loaded weights, unchanged
    # progressive unlocking goes on from the continued encoder's layers (2 after two steps, then 3 more: 4)
    part = train_encoder(G, tmp_path / "p", EncoderTrainConfig(steps=2, batch=2, loss="l2", val_samples=2,
                                                               progressive_every=1), progress=False)
    assert int(part.active_layers) == 2
    more = train_encoder(G, tmp_path / "q", EncoderTrainConfig(steps=3, batch=2, loss="l2", val_samples=2,
                                                               progressive_every=1, init_from=str(tmp_path / "p")),
                         progress=False)
    assert int(more.active_layers) == 4
    with pytest.raises(stylegan.CheckpointError, match="another generator|generator is"):
        train_encoder(make_tiny_G(1, w_dim=16), tmp_path / "c",
                      EncoderTrainConfig(steps=1, batch=2, loss="l2", init_from=str(tmp_path / "a")), progress=False)


def _cli(*args):
    return CliRunner().invoke(main, ["train-encoder", *map(str, args)])


def test_cli_trains_on_a_folder_and_bad_inputs_are_one_line(folder, tmp_path):
    stylegan.save_pretrained(make_tiny_G(0), tmp_path / "net")
    r = _cli("--network", tmp_path / "net", "--outdir", tmp_path / "enc", "--steps", "2", "--batch", "4", "--loss",
             "l2", "--data", folder)
    assert r.exit_code == 0, r.output
    load_encoder(tmp_path / "enc", G=stylegan.load(tmp_path / "net"))
    small = tmp_path / "small"
    small.mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(small / f"{i}.png")
    r = _cli("--network", tmp_path / "net", "--outdir", tmp_path / "enc2", "--batch", "16", "--data", small)
    assert r.exit_code == 1 and "Error:" in r.output and "training images" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "enc2" / "config.json").exists()
    r = _cli("--network", tmp_path / "net", "--outdir", tmp_path / "enc3", "--data", tmp_path / "missing")
    assert r.exit_code != 0 and "Traceback" not in r.output
    r = _cli("--network", tmp_path / "net", "--outdir", tmp_path / "enc4", "--init-from", tmp_path / "missing")
    assert r.exit_code == 1 and "Error:" in r.output and "Traceback" not in r.output


def _train_on_folder(outdir: str) -> torch.nn.Module:
    import pathlib

    import torch.distributed as dist

    # one folder per rank (the same seeded images): two ranks writing one folder raced, a rank reading a PNG
    # the other was still writing
    folder = _folder(pathlib.Path(outdir) / f"imgs{dist.get_rank()}", n=12)
    cfg = EncoderTrainConfig(steps=3, batch=4, loss="l2", val_samples=2, data=str(folder), id_weight=0.0, data_val=2)
    return train_encoder(make_tiny_G(0), pathlib.Path(outdir) / "enc", cfg, progress=False)


def test_two_ranks_with_a_folder_stay_in_sync(tmp_path):
    got = run_two_ranks(_train_on_folder, tmp_path)
    assert torch.equal(got[0], got[1])


def test_identity_net_replaces_the_oracle_for_photos(folder, tmp_path, monkeypatch):
    """`--identity-net model_ir_se50.pth` (ArcFace): its 1 - cos is the identity term, the oracle is not loaded."""
    from reference import psp_ref
    from synthetic import oracle as oracle_mod

    torch.save(psp_ref.arcface_params((16, 24, 32, 48), (1, 2, 2, 1), dim=64, seed=4), tmp_path / "arc.pth")
    monkeypatch.setattr(oracle_mod, "load", lambda *a, **k: pytest.fail("the oracle was loaded"))
    G = make_tiny_G(0)
    cfg = EncoderTrainConfig(steps=2, batch=4, progressive_every=0, loss="l2", log_every=1, val_samples=2,
                             data=str(folder), data_fraction=1.0, image_weight=0.0, latent_weight=0.0, reg_weight=0.0,
                             id_weight=1.0, data_val=4, identity_net=str(tmp_path / "arc.pth"))
    train_encoder(G, tmp_path / "enc", cfg, progress=False)
    rows = [json.loads(ln) for ln in (tmp_path / "enc" / "log.jsonl").read_text().splitlines()]
    assert all(r["identity"] > 0 for r in rows if "step" in r) and rows[-1]["final"]["data_id_distance"] > 0
    r = _cli("--network", tmp_path / "missing_net", "--outdir", tmp_path / "x", "--identity-net", tmp_path / "no.pth")
    assert r.exit_code != 0 and "Traceback" not in r.output
