"""`sgt generate` and `sgt convert` on every supported format (through the real click commands)."""
import argparse

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from reference import nvlabs_ref, pickles, rosinality_ref

import stylegan
from demos.cli import main
from stylegan.formats.infer import build_generator
from stylegan.images import to_uint8


@pytest.fixture
def checkpoints(tmp_path):
    p = nvlabs_ref.init_params(z_dim=32, w_dim=32, img_resolution=16, channel_base=256, channel_max=16,
                               mapping_layers=2, seed=3)
    kwargs = dict(z_dim=32, w_dim=32, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=2))
    (tmp_path / "ada.pkl").write_bytes(pickles.nvlabs_snapshot(p, kwargs))
    (tmp_path / "tf.pkl").write_bytes(pickles.tf_snapshot(p, dict(resolution=16)))
    sd, la = rosinality_ref.init_params(size=16, style_dim=32, n_mlp=2, channels={4: 16, 8: 16, 16: 8})
    torch.save({"g_ema": sd, "latent_avg": la}, tmp_path / "ro.pt")
    torch.save({"g_ema": sd, "latent_avg": la, "args": argparse.Namespace(size=16)}, tmp_path / "ro_snap.pt")
    stylegan.save_pretrained(build_generator(p, "p"), tmp_path / "ours")
    return tmp_path


@pytest.mark.parametrize("name", ["ada.pkl", "tf.pkl", "ro.pt", "ro_snap.pt", "ours"])
def test_generate_every_format(checkpoints, name):
    out = checkpoints / f"out_{name}"
    res = CliRunner().invoke(main, ["generate", "--network", str(checkpoints / name), "--seeds", "0-1,5",
                                    "--trunc", "0.7", "--outdir", str(out), "--save-ws"])
    assert res.exit_code == 0, res.output
    files = sorted(p.name for p in out.iterdir())
    assert files == ["seed0000.npz", "seed0000.png", "seed0001.npz", "seed0001.png", "seed0005.npz", "seed0005.png"]
    img = np.asarray(Image.open(out / "seed0005.png"))
    assert img.shape == (16, 16, 3) and img.std() > 0
    # the PNG is exactly the generator's output for that seed's official z
    G = stylegan.load(checkpoints / name)
    ws = G.mapping(stylegan.seed_to_z(5, 32), truncation_psi=0.7)
    assert np.array_equal(img, to_uint8(G.synthesis(ws))[0])
    assert np.load(out / "seed0005.npz")["w"].shape == (1, G.num_ws, 32)


def test_convert_round_trip(checkpoints):
    r = CliRunner()
    assert r.invoke(main, ["convert", str(checkpoints / "ada.pkl"), str(checkpoints / "c.pt"), "--to",
                           "rosinality"]).exit_code == 0
    assert r.invoke(main, ["convert", str(checkpoints / "c.pt"), str(checkpoints / "c_ours")]).exit_code == 0
    a, b = stylegan.load(checkpoints / "ada.pkl"), stylegan.load(checkpoints / "c_ours")
    for k, v in a.state_dict().items():
        assert torch.equal(b.state_dict()[k], v), k


def test_cli_errors_are_clear(tmp_path):
    r = CliRunner()
    res = r.invoke(main, ["generate", "--network", str(tmp_path / "missing.pkl"), "--outdir", str(tmp_path / "o")])
    assert res.exit_code != 0 and "no checkpoint at" in res.output
    res = r.invoke(main, ["generate", "--network", str(tmp_path), "--seeds", "3-1", "--outdir", str(tmp_path / "o")])
    assert res.exit_code != 0 and "end before start" in res.output
    assert not (tmp_path / "o").exists()


def test_parse_range():
    from stylegan.utils import parse_range

    assert parse_range("0,1,4-6") == [0, 1, 4, 5, 6]
    with pytest.raises(ValueError, match="cannot parse"):
        parse_range("a-b")
