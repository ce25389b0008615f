"""`sgt project`: NVlabs output names, batch folders, GIF, PTI delta, failures write nothing."""
from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch
from click.testing import CliRunner

import stylegan
from demos.cli import main
from inversion.project_io import load_projection
from inversion.pti import load_delta
from conftest import SMALL



@pytest.fixture(scope="module")
def network(tmp_path_factory):
    torch.manual_seed(0)
    G = stylegan.Generator(**SMALL).eval()
    d = tmp_path_factory.mktemp("net") / "tiny"
    stylegan.save_pretrained(G, d)
    imgs = tmp_path_factory.mktemp("imgs")
    with torch.no_grad():
        for i in range(2):
            PIL.Image.fromarray(stylegan.images.to_uint8(G(torch.randn(1, 32)))[0]).save(imgs / f"face{i}.png")
    return d, imgs


def test_project_folder_writes_nvlabs_names(network, tmp_path):
    net, imgs = network
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["project", str(imgs), "--network", str(net), "--outdir", str(out), "--steps", "6",
                                  "--candidates", "4", "--gif", "--pti-steps", "3", "--loss", "l2+msssim"])
    assert r.exit_code == 0, r.output
    for name in ("face0", "face1"):
        d = out / name
        assert {p.name for p in d.iterdir()} >= {"target.png", "proj.png", "projected_w.npz", "proj.gif",
                                                 "history.json", "pti_delta", "proj_pti.png"}
        ws, _ = load_projection(d / "projected_w.npz")
        assert ws.shape == (1, 8, 32)
        assert np.load(d / "projected_w.npz")["w"].shape == (1, 8, 32)
        assert PIL.Image.open(d / "proj.gif").n_frames > 2
        assert load_delta(d / "pti_delta").pivot.shape == (1, 8, 32)  # a model folder in the one format
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_failure_writes_nothing_for_that_input(network, tmp_path):
    net, imgs = network
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["project", str(bad), str(imgs / "face0.png"), "--network", str(net), "--outdir",
                                  str(out), "--steps", "2", "--no-align", "--loss", "l2"])
    assert r.exit_code == 1 and "broken.png" in r.output
    assert sorted(p.name for p in out.iterdir()) == ["face0"]


def test_wrong_size_is_resized_with_a_note(network, tmp_path):
    net, imgs = network
    big = tmp_path / "big.png"
    PIL.Image.open(imgs / "face0.png").resize((48, 48)).save(big)
    r = CliRunner().invoke(main, ["project", str(big), "--network", str(net), "--outdir", str(tmp_path / "o"),
                                  "--steps", "1", "--no-align", "--loss", "l2", "--candidates", "0"])
    assert r.exit_code == 0, r.output
    assert "resizing" in r.output
    assert PIL.Image.open(tmp_path / "o" / "big" / "target.png").size == (32, 32)


def test_encoder_init_without_encoder_is_a_usage_error(network, tmp_path):
    net, imgs = network
    r = CliRunner().invoke(main, ["project", str(imgs), "--network", str(net), "--outdir", str(tmp_path),
                                  "--init", "encoder"])
    assert r.exit_code == 2 and "--encoder" in r.output


def test_encoder_init_from_the_cli(network, tmp_path):
    from inversion.encoder_train import EncoderTrainConfig, train_encoder

    net, imgs = network
    train_encoder(stylegan.load(net), tmp_path / "enc", EncoderTrainConfig(steps=2, batch=2, image_weight=0.0,
                                                                          val_samples=2), progress=False)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["project", str(imgs / "face1.png"), "--network", str(net), "--outdir", str(out),
                                  "--init", "encoder", "--encoder", str(tmp_path / "enc"), "--steps", "3", "--loss", "l2"])
    assert r.exit_code == 0, r.output
    import json

    hist = json.loads((out / "face1" / "history.json").read_text())
    assert hist["init"] == "encoder" and hist["lr"][1] > 0 and max(hist["lr"]) <= 0.05


@pytest.mark.parametrize("args, expected", [
    ([], dict(preset="auto", space="w+", steps=2, init="w_avg", candidates=16, lr=0.1, w_noise=0.0, identity=None,
              id_weight=0.0)),  # no identity network for a generator that is not shipped
    (["--preset", "nvlabs"], dict(preset="nvlabs", space="w", steps=2, init="w_avg", candidates=0, lr=0.1,
                                  w_noise=0.05, identity=None, id_weight=0.0)),
    (["--preset", "nvlabs", "--space", "w+", "--lr", "0.2"], dict(preset="nvlabs", space="w+", steps=2,
                                                                   init="w_avg", candidates=0, lr=0.2, w_noise=0.05,
                                                                   identity=None, id_weight=0.0)),
    (["--identity-net", "ARCFACE"], dict(preset="auto", space="w+", steps=2, init="w_avg", candidates=16, lr=0.1,
                                         w_noise=0.0, identity="IdentityNet", id_weight=0.1)),
    (["--identity-net", "ARCFACE", "--id-weight", "2"], dict(preset="auto", space="w+", steps=2, init="w_avg",
                                                             candidates=16, lr=0.1, w_noise=0.0,
                                                             identity="IdentityNet", id_weight=2.0)),
    (["--identity-net", "ARCFACE", "--id-weight", "0"], dict(preset="auto", space="w+", steps=2, init="w_avg",
                                                             candidates=16, lr=0.1, w_noise=0.0, identity=None,
                                                             id_weight=0.0)),
])
def test_cli_takes_the_library_defaults(network, tmp_path, args, expected):
    """The CLI adds no policy: what it runs is `inversion.resolve_settings` of what the user typed."""
    import json

    from reference import psp_ref

    net, imgs = network
    if "ARCFACE" in args:  # ArcFace's file layout (model_ir_se50.pth), small widths
        torch.save(psp_ref.arcface_params((16, 24, 32, 48), (1, 2, 2, 1), dim=64, seed=4), tmp_path / "arcface.pth")
        args = [str(tmp_path / "arcface.pth") if a == "ARCFACE" else a for a in args]
    r = CliRunner().invoke(main, ["project", str(imgs / "face0.png"), "--network", str(net), "--outdir",
                                  str(tmp_path / "out"), "--steps", "2", "--loss", "l2", *args])
    assert r.exit_code == 0, r.output
    hist = json.loads((tmp_path / "out" / "face0" / "history.json").read_text())
    assert hist["settings"] == expected and "projecting with" in r.output
    assert len(hist["identity"]) == 2 and (hist["identity"][0] > 0) == (expected["identity"] is not None)


def test_identity_net_that_is_not_one_is_a_clear_error(network, tmp_path):
    net, imgs = network
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    r = CliRunner().invoke(main, ["project", str(imgs / "face0.png"), "--network", str(net), "--outdir",
                                  str(tmp_path / "out"), "--steps", "2", "--identity-net", str(tmp_path / "junk.pth")])
    assert r.exit_code != 0 and "--identity-net:" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "out" / "face0").exists()
