"""Latent files (`stylegan.save_ws` / `load_ws`): round trip, NVlabs files, every error, atomicity,
and `sgt generate --save-ws` files that re-render their PNGs."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import make_tiny_G
from PIL import Image

import stylegan
from stylegan import LatentFileError, Latents, load_ws, save_ws
from stylegan.images import to_uint8


@pytest.fixture(scope="module")
def G():
    return make_tiny_G(0)


def _ws(G, n=2):
    return G.mapping(torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(0))).detach()


def test_round_trip_is_bit_exact(G, tmp_path):
    ws = _ws(G, 3)
    shapes = G.synthesis.noise_shapes()
    noise = {"b4.conv1.noise_const": torch.randn(shapes["b4.conv1.noise_const"]),
             "b8.conv0.noise_const": torch.randn(3, 1, 8, 8)}
    path = save_ws(tmp_path / "a.npz", ws, noise=noise, metadata={"seed": 7, "note": "x"})
    assert path == tmp_path / "a.npz" and [p.name for p in tmp_path.iterdir()] == ["a.npz"]
    lat = load_ws(path, G)
    assert isinstance(lat, Latents) and lat.ws.dtype == torch.float32
    assert torch.equal(lat.ws, ws)
    assert lat.noise.keys() == noise.keys() and all(torch.equal(lat.noise[k], v) for k, v in noise.items())
    assert lat.metadata == {"seed": 7, "note": "x"}
    # the file renders exactly what the tensors render
    torch.testing.assert_close(G.synthesis(lat.ws, noise=lat.noise), G.synthesis(ws, noise=noise), atol=0, rtol=0)


def test_layer_names_without_suffix_are_stored_with_it(G, tmp_path):
    save_ws(tmp_path / "a.npz", _ws(G, 1), noise={"b8.conv1": torch.zeros(8, 8)})
    assert set(np.load(tmp_path / "a.npz").files) == {"w", "noise/b8.conv1.noise_const"}


@pytest.mark.parametrize("lead", [(1,), ()], ids=["1_num_ws_w_dim", "num_ws_w_dim"])
def test_reads_plain_nvlabs_files(G, tmp_path, lead):
    # NVlabs' projector.py: np.savez(f'{outdir}/projected_w.npz', w=projected_w.unsqueeze(0).cpu().numpy())
    w = _ws(G, 1)[0].numpy().reshape(*lead, G.num_ws, G.w_dim)
    np.savez(tmp_path / "projected_w.npz", w=w)
    lat = load_ws(tmp_path / "projected_w.npz", G)
    assert lat.ws.shape == (1, G.num_ws, G.w_dim) and lat.noise == {} and lat.metadata == {}
    assert np.array_equal(lat.ws.numpy().reshape(w.shape), w)


def test_our_files_read_like_nvlabs_ones(G, tmp_path):
    save_ws(tmp_path / "a.npz", _ws(G, 2), noise={"b4.conv1": torch.zeros(4, 4)}, metadata={"seed": 1})
    w = np.load(tmp_path / "a.npz")["w"]  # all NVlabs' generate.py --projected-w reads
    assert w.dtype == np.float32 and w.shape == (2, G.num_ws, G.w_dim)


def _one_nan():
    a = np.zeros((8, 8), np.float32)
    a[3, 4] = np.nan
    return a


@pytest.mark.parametrize("case,match", [
    ("nan", r"bad\.npz: 'w' contains 2 NaN and 0 Inf"),
    ("inf", r"bad\.npz: 'w' contains 0 NaN and 3 Inf"),
    ("noise_nan", r"'noise/b8.conv0.noise_const' contains 1 NaN"),
    ("num_ws", r"bad\.npz: 'w' has shape \[1, 6, 32\].*num_ws=8, w_dim=32"),
    ("w_dim", r"bad\.npz: 'w' has shape \[1, 8, 16\].*num_ws=8, w_dim=32"),
    ("ndim", r"bad\.npz: 'w' must be a float array \[N, num_ws, w_dim\].*\[1, 1, 8, 32\]"),
    ("int", r"bad\.npz: 'w' must be a float array.*int64"),
    ("missing_key", r"bad\.npz: no array 'w' \(found \['latent'\]\)"),
    ("noise_name", r"bad\.npz: noise: this generator has no noise layer 'b64.conv0.noise_const'"),
    ("noise_shape", r"bad\.npz: noise\['b8.conv0.noise_const'\] must be .*\[8, 8\].*got \[16, 16\]"),
])
def test_bad_contents_raise_naming_the_file(G, tmp_path, case, match):
    w = _ws(G, 1).numpy()
    nan, inf = w.copy(), w.copy()
    nan[0, 1, :2] = np.nan
    inf[0, 0, :3] = np.inf
    arrays = {"nan": {"w": nan}, "inf": {"w": inf},
              "noise_nan": {"w": w, "noise/b8.conv0.noise_const": _one_nan()},
              "num_ws": {"w": w[:, :6]}, "w_dim": {"w": w[..., :16]}, "ndim": {"w": w[None]},
              "int": {"w": w.astype(np.int64)}, "missing_key": {"latent": w},
              "noise_name": {"w": w, "noise/b64.conv0.noise_const": np.zeros((64, 64), np.float32)},
              "noise_shape": {"w": w, "noise/b8.conv0.noise_const": np.zeros((16, 16), np.float32)}}[case]
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(LatentFileError, match=match):
        load_ws(path, G)


def test_unreadable_files_raise_naming_the_file(G, tmp_path):
    with pytest.raises(LatentFileError, match=r"missing\.npz: no such latent file"):
        load_ws(tmp_path / "missing.npz")
    (tmp_path / "text.npz").write_text("w = [1, 2, 3]\n")
    with pytest.raises(LatentFileError, match=r"text\.npz: not a readable \.npz"):
        load_ws(tmp_path / "text.npz")
    np.save(tmp_path / "arr.npy", _ws(G, 1).numpy())
    with pytest.raises(LatentFileError, match=r"arr\.npy: a single \.npy array"):
        load_ws(tmp_path / "arr.npy")
    good = save_ws(tmp_path / "good.npz", _ws(G, 2), noise={"b32.conv1": torch.randn(32, 32)})
    data = good.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 40):
        (tmp_path / "cut.npz").write_bytes(data[:cut])
        with pytest.raises(LatentFileError, match=r"cut\.npz: (not a readable|truncated or corrupt)"):
            load_ws(tmp_path / "cut.npz")
    # a damaged member (bytes flipped inside the stored w) is caught as well
    bad = bytearray(data)
    start = data.index(b"\x93NUMPY")
    bad[start:start + 6] = b"XXXXXX"
    (tmp_path / "flip.npz").write_bytes(bytes(bad))
    with pytest.raises(LatentFileError, match=r"flip\.npz: truncated or corrupt"):
        load_ws(tmp_path / "flip.npz")


def test_save_refuses_bad_latents(G, tmp_path):
    ws = _ws(G, 1)
    with pytest.raises(ValueError, match=r"ws must have shape \[N, num_ws, w_dim\], got \[8, 32\]"):
        save_ws(tmp_path / "a.npz", ws[0])
    with pytest.raises(ValueError, match="w contains 1 NaN"):
        save_ws(tmp_path / "a.npz", ws.clone().index_put_((torch.tensor(0), torch.tensor(2), torch.tensor(3)),
                                                           torch.tensor(torch.nan)))
    with pytest.raises(ValueError, match=r"noise/b8.conv0.noise_const must have shape .*got \[3, 8, 8\]"):
        save_ws(tmp_path / "a.npz", ws, noise={"b8.conv0": torch.zeros(3, 8, 8)})
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_no_file_and_keeps_the_old_one(G, tmp_path, monkeypatch):
    old = save_ws(tmp_path / "a.npz", _ws(G, 1))
    old_bytes = old.read_bytes()

    def disk_full(f, **arrays):
        f.write(b"PK\x03\x04 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(OSError, match="No space left"):
        save_ws(tmp_path / "a.npz", _ws(G, 3))
    with pytest.raises(OSError, match="No space left"):
        save_ws(tmp_path / "new.npz", _ws(G, 3))
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"] and old.read_bytes() == old_bytes
    monkeypatch.undo()
    assert load_ws(old, G).ws.shape == (1, G.num_ws, G.w_dim)


@pytest.mark.parametrize("noise_mode", ["const", "random"])
def test_generate_save_ws_files_re_render_the_pngs(tmp_path, noise_mode):
    from demos.cli import main

    G = make_tiny_G(1)
    with torch.no_grad():
        for name, p in G.named_parameters():  # noise must matter for the random-mode check
            if name.endswith("noise_strength"):
                p.fill_(0.5)
    stylegan.save_pretrained(G, tmp_path / "net")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["generate", "--network", str(tmp_path / "net"), "--seeds", "3,5", "--trunc", "0.8",
                                    "--noise-mode", noise_mode, "--outdir", str(out), "--save-ws"])
    assert res.exit_code == 0, res.output
    for seed in (3, 5):
        lat = load_ws(out / f"seed{seed:04d}.npz", G)
        assert lat.metadata["seed"] == seed and lat.metadata["noise_mode"] == noise_mode
        assert bool(lat.noise) == (noise_mode == "random")
        with torch.no_grad():
            img = to_uint8(G.synthesis(lat.ws, noise=lat.noise, noise_mode=noise_mode))[0]
            ws = G.mapping(stylegan.seed_to_z(seed, G.z_dim), truncation_psi=0.8)
        assert np.array_equal(np.asarray(Image.open(out / f"seed{seed:04d}.png")), img)
        assert torch.equal(lat.ws, ws)
    assert json.loads(str(np.load(out / "seed0003.npz")["metadata"]))["truncation_psi"] == 0.8
