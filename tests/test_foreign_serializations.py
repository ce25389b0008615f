"""Every loader of the files users bring, on both torch serializations (the zip of torch >= 1.6 and the
legacy stream of older torch, `_use_new_zipfile_serialization=False`) and with storages saved on
`cuda:0` (read on this CPU-only machine); `pathlib` paths in `opts`; and each kind of file handed to every
other loader: one specific error that names the file and says what it is.

Fixtures are the other tests' builders in the originals' layouts (imported, see `conftest.import_test_module`);
numbers are checked against the independent transcriptions in tests/reference and those test files.
"""
from __future__ import annotations

import argparse
import pathlib

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import edits
import inversion
import stylegan
from conftest import import_test_module, make_tiny_G, save_torch
from edits.swap.formats.megafs import load_megafs
from inversion.identity import load_identity_net
from reference import psp_ref, rosinality_ref
from sgtcore import artefacts
from sgtcore.errors import ArchitectureMismatchError, UnknownFormatError

fe = import_test_module("inversion/test_foreign_encoders.py")   # pSp / e4e / ReStyle builders and references
df = import_test_module("edits/test_direction_formats.py")      # e4e / GANSpace transcriptions
mf = import_test_module("edits/test_megafs.py")                 # MegaFS's released layout
idn = import_test_module("inversion/test_identity_net.py")      # the tiny IR-SE's widths

SAVES = {"zip": (False, None), "legacy": (True, None), "zip-cuda": (False, "cuda:0"), "legacy-cuda": (True, "cuda:0")}
N, W = fe.N, 32  # the 32 px decoder's num_ws and w_dim


def _save(obj, path, how: str) -> pathlib.Path:
    legacy, tag = SAVES[how]
    save_torch(obj, path, legacy=legacy, device_tag=tag)
    data = path.read_bytes()
    # the helper really wrote what is claimed: zip or the legacy stream; storages tagged cuda:0 or cpu
    assert data[:2] != b"PK" if legacy else data[:2] == b"PK"
    assert (b"cuda:0" in data) == (tag is not None)
    return path


@pytest.fixture(scope="module")
def decoder():
    return rosinality_ref.init_params(size=32, style_dim=W, n_mlp=2, channels=fe.DEC_CHANNELS, seed=3)


def test_a_cuda_tagged_file_needs_map_location_elsewhere(tmp_path, decoder):
    """The fixture is faithful: plain torch.load of it fails on a machine without CUDA, as users' files do."""
    path = _save({"g_ema": decoder[0], "latent_avg": decoder[1]}, tmp_path / "g.pt", "legacy-cuda")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RuntimeError, match="CUDA"):
        torch.load(path, weights_only=True)


# ---- generators and discriminators (rosinality .pt) ----

@pytest.mark.parametrize("how", list(SAVES))
def test_rosinality_generator_and_discriminator(tmp_path, decoder, how):
    sd, latent_avg = decoder
    d_sd = rosinality_ref.init_d_params(size=32, channels=fe.DEC_CHANNELS, seed=4)
    # a training snapshot as rosinality's train.py writes it (args an argparse.Namespace), kept latent_avg
    path = _save({"g": sd, "d": d_sd, "g_ema": sd, "latent_avg": latent_avg, "g_optim": {}, "d_optim": {},
                  "ada_aug_p": 0.0, "args": argparse.Namespace(size=32, latent=W, n_mlp=2, channel_multiplier=2)},
                 tmp_path / "snapshot.pt", how)
    G = stylegan.load(path)
    assert torch.equal(G.w_avg, latent_avg) and G.w_avg.device.type == "cpu"
    ws = latent_avg[None, None].repeat(2, N, 1) + 0.3 * torch.randn(2, N, W, generator=torch.Generator().manual_seed(0))
    D = stylegan.load_discriminator(path)
    img = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        assert (G.synthesis(ws, noise_mode="const") - rosinality_ref.forward(sd, ws, 32)).abs().max() <= 1e-5
        assert (D(img) - rosinality_ref.discriminator(d_sd, img)[0]).abs().max() <= 1e-4


# ---- encoders: pSp, e4e, ReStyle ----

def _encoder_file(path, sd, dec, opts, latent_avg, how):
    """pSp/e4e/ReStyle's coach layout: {state_dict: encoder.* + decoder.*, opts, latent_avg}."""
    obj = {"state_dict": {**{"encoder." + k: v for k, v in sd.items()}, **{"decoder." + k: v for k, v in dec.items()}},
           "opts": opts, "latent_avg": latent_avg}
    return _save(obj, path, how)


ENCODERS = {  # name: (opts, params, reference ws of one image batch)
    "psp": ({"encoder_type": "GradualStyleEncoder", "output_size": 32},
            lambda: fe._psp_params("GradualStyleEncoder"),
            lambda sd, dec, w_avg, img: psp_ref.gradual_forward(sd, fe._at256(img), N, fe.UNITS) + w_avg),
    "e4e": ({"encoder_type": "Encoder4Editing", "stylegan_size": 32},
            lambda: fe._psp_params("Encoder4Editing"),
            lambda sd, dec, w_avg, img: psp_ref.gradual_forward(sd, fe._at256(img), N, fe.UNITS, e4e=True) + w_avg),
    "restyle": ({"encoder_type": "BackboneEncoder", "input_nc": 6, "output_size": 32},
                fe.RESTYLE_CASES["BackboneEncoder"][0],
                lambda sd, dec, w_avg, img: fe._restyle_reference(sd, fe.RESTYLE_CASES["BackboneEncoder"][1], dec,
                                                                  w_avg, img, 2)),
}


@pytest.mark.parametrize("how", list(SAVES))
@pytest.mark.parametrize("family", list(ENCODERS))
def test_encoders(tmp_path, decoder, family, how):
    dec, w_avg = decoder
    opts, params, reference = ENCODERS[family]
    sd = params()
    # opts as the originals keep them: an argparse.Namespace in old files, with pathlib paths among the values
    opts = argparse.Namespace(**opts, start_from_latent_avg=True, exp_dir=pathlib.PosixPath("/exp/run1"),
                              checkpoint_path=pathlib.PureWindowsPath(r"C:\models\e4e.pt"))
    path = _encoder_file(tmp_path / f"{family}.pt", sd, dec, opts, w_avg[None].repeat(N, 1), how)
    G = stylegan.load(path)  # the decoder, through the same reader
    enc = inversion.load_encoder(path, G=G)
    assert enc.config.family == family and enc.latent_avg.device.type == "cpu"
    img = fe._images(1)
    with torch.no_grad():
        ws = enc(img, iterations=2) if family == "restyle" else enc(img)
        assert (ws - reference(sd, dec, w_avg, img)).abs().max().item() <= 1e-5


def test_paths_in_opts_are_read_as_strings(tmp_path, decoder):
    from inversion.formats.common import opts_dict, read

    dec, w_avg = decoder
    opts = {"encoder_type": "Encoder4Editing", "stylegan_size": 32, "exp_dir": pathlib.PosixPath("/exp/run1"),
            "checkpoint_path": pathlib.PureWindowsPath(r"C:\models\e4e.pt")}
    for how in ("zip", "legacy"):
        path = _encoder_file(tmp_path / f"{how}.pt", fe._psp_params("Encoder4Editing"), dec, opts, w_avg, how)
        got = opts_dict(read(path))
        assert got["exp_dir"] == "/exp/run1" and got["checkpoint_path"] == r"C:\models\e4e.pt"
        assert got["stylegan_size"] == 32


# ---- ArcFace ----

@pytest.mark.parametrize("how", list(SAVES))
def test_identity_net(tmp_path, how):
    weights = psp_ref.arcface_params(idn.WIDTHS, idn.UNITS, dim=64, seed=4)
    net = load_identity_net(_save(weights, tmp_path / "model_ir_se50.pth", how))
    x = idn._faces(2)
    with torch.no_grad():
        assert (net.embed(x) - psp_ref.id_loss_feats(weights, x, idn.UNITS)).abs().max().item() <= 1e-5


# ---- direction files ----

@pytest.fixture(scope="module")
def tiny():
    G = make_tiny_G(0)  # w_dim 32, num_ws 8: the direction tests' generator
    with torch.no_grad():
        ws = G.mapping(torch.randn(2, G.z_dim, generator=torch.Generator().manual_seed(7)), truncation_psi=0.8)
    return G, ws


@pytest.mark.parametrize("how", list(SAVES))
def test_direction_files(tmp_path, tiny, how):
    G, ws = tiny
    age = torch.from_numpy(df._unit(4).astype(np.float32))                      # e4e age.pt [1, 512]
    pose = torch.from_numpy(df._unit(5, (1, df.NUM_WS, df.W_DIM)).astype(np.float32))  # pose.pt [1, 18, 512]
    mean, comp, std, _ = df._pca_of(G, n=600, n_std=300)                        # ffhq_pca.pt
    pca = {"mean": torch.from_numpy(mean).float(), "comp": torch.from_numpy(comp[:, None]).float(),
           "std": torch.from_numpy(std).float()}
    for name, value in (("age", age), ("pose", pose), ("ffhq_pca", pca)):
        _save(value, tmp_path / f"{name}.pt", how)
    w = ws.double().numpy()
    for name, d in (("age", age), ("pose", pose)):  # e4e: latent + factor * direction
        e = edits.import_direction(tmp_path / f"{name}.pt", G, unit="svm distance")
        np.testing.assert_allclose(e.apply(ws, -2.0).double().numpy(), w - 2.0 * d.double().numpy(), atol=1e-5)
    e = edits.import_direction(f"{tmp_path / 'ffhq_pca.pt'}#3@2:5", G)
    np.testing.assert_allclose(e.apply(ws, 1.7).double().numpy(),
                               df._gs_set_reference(w, mean, comp[3], std[3], 1.7, 2, 5), atol=2e-5)


# ---- MegaFS ----

@pytest.mark.parametrize("how", list(SAVES))
def test_megafs(tmp_path, how):
    ckpt = mf.init_megafs("ftm")
    net = load_megafs(_save(ckpt, tmp_path / "ftm_final.pth", how), kind="ftm")
    sd = net.state_dict()
    for part in ("e", "s"):
        assert all(torch.equal(sd[f"{part}.{k}"], v) and sd[f"{part}.{k}"].device.type == "cpu"
                   for k, v in ckpt[part].items())


# ---- a file of another kind: one specific error, naming the file and what it is ----

@pytest.fixture(scope="module")
def artefacts_dir(tmp_path_factory, decoder):
    """One file of each kind, legacy-saved as the older releases are."""
    root = tmp_path_factory.mktemp("kinds")
    dec, w_avg = decoder
    save_torch({"g_ema": dec, "latent_avg": w_avg}, root / "ffhq.pt", legacy=True)
    _encoder_file(root / "e4e_ffhq_encode.pt", fe._psp_params("Encoder4Editing"), dec,
                  {"encoder_type": "Encoder4Editing", "stylegan_size": 32}, w_avg[None].repeat(N, 1), "legacy")
    save_torch(psp_ref.arcface_params(idn.WIDTHS, idn.UNITS, dim=64, seed=4), root / "model_ir_se50.pth", legacy=True)
    save_torch(torch.from_numpy(df._unit(4).astype(np.float32)), root / "smile.pt", legacy=True)
    save_torch(mf.init_megafs("ftm"), root / "ftm_final.pth", legacy=True)
    return root


FILES = {"generator": "ffhq.pt", "encoder": "e4e_ffhq_encode.pt", "identity": "model_ir_se50.pth",
         "direction": "smile.pt", "megafs": "ftm_final.pth"}
LOADERS = {  # loader: (call, the kind it reads)
    "stylegan.load": (lambda p, G: stylegan.load(p), ("generator", "encoder")),
    "inversion.load_encoder": (lambda p, G: inversion.load_encoder(p), ("encoder",)),
    "load_identity_net": (lambda p, G: load_identity_net(p), ("identity",)),
    "edits.import_direction": (lambda p, G: edits.import_direction(p, G, unit="svm distance"), ("direction",)),
    "load_megafs": (lambda p, G: load_megafs(p), ("megafs",)),
}
# what the message must add, per kind: the sgt option / call the file is for
WHERE = {"generator": "--network", "encoder": "--encoder", "identity": "--identity-net",
         "direction": "--direction", "megafs": "--swap-net"}


@pytest.mark.parametrize("kind", list(FILES))
@pytest.mark.parametrize("loader", list(LOADERS))
def test_a_file_of_another_kind_is_named_and_placed(artefacts_dir, tiny, kind, loader):
    call, reads = LOADERS[loader]
    path = artefacts_dir / FILES[kind]
    if kind in reads:
        call(path, tiny[0])  # its own loader reads it (stylegan.load reads an encoder's decoder)
        return
    with pytest.raises(UnknownFormatError) as info:
        call(path, tiny[0])
    message = str(info.value)
    assert message.startswith(str(path)), message
    expected = "load it with inversion.identity.load_identity_net" if (kind, loader) == (
        "identity", "inversion.load_encoder") else WHERE[kind]  # the encoder loader's own sentence for ArcFace
    assert expected in message, message


def test_identify_knows_every_kind(artefacts_dir):
    from stylegan.formats.safe_pickle import safe_torch_load

    for kind, name in FILES.items():
        assert artefacts.identify(safe_torch_load(artefacts_dir / name)) == kind
    assert artefacts.identify({"w": np.zeros((1, 8, 32))}) == "latent"
    assert artefacts.identify({"lat_comp": 0, "lat_mean": 0, "lat_stdev": 0}) == "pca"
    assert artefacts.identify({"model": {}}) is None and artefacts.describe(torch.zeros(2, 3)) == ""


def test_sgt_swap_with_the_megafs_file_as_network_says_what_it_is(artefacts_dir, tmp_path):
    """MegaFS's files hold no generator: `--network ftm_final.pth` is one error line that says where it goes."""
    from demos.cli import main

    face = tmp_path / "face.png"
    Image.fromarray(np.full((32, 32, 3), 120, np.uint8)).save(face)
    res = CliRunner().invoke(main, ["swap", "--identity", str(face), "--attribute", str(face), "--method",
                                    "megafs-ftm", "--swap-net", str(artefacts_dir / "ftm_final.pth"), "--network",
                                    str(artefacts_dir / "ftm_final.pth"), "--outdir", str(tmp_path / "out")])
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert res.exit_code != 0 and "Traceback" not in res.output, res.output
    assert len(errors) == 1 and "MegaFS swap network" in errors[0] and "--network" in errors[0], res.output


def test_megafs_with_a_generator_it_does_not_fit_says_which_it_needs(artefacts_dir, tiny):
    from edits.swap import swap

    x = torch.zeros(1, 3, 32, 32)
    with pytest.raises(ArchitectureMismatchError) as info:  # the tiny w_dim 32 generator; the file makes w_dim 16
        swap(x, x, "megafs-ftm", tiny[0], swap_net=artefacts_dir / "ftm_final.pth")
    message = str(info.value)
    assert message.startswith(str(artefacts_dir / "ftm_final.pth")) and "w_dim 16" in message
    assert "--network" in message


def test_an_encoder_for_a_256px_generator_with_a_1024px_one(tmp_path, decoder):
    """The sizes scaled down: an encoder for a 16 px generator (num_ws 6) beside a 32 px one (num_ws 8)."""
    small_dec, small_avg = rosinality_ref.init_params(size=16, style_dim=W, n_mlp=2, channels={4: 32, 8: 32, 16: 16})
    sd = psp_ref.gradual_params(6, 3, fe.WIDTHS, fe.UNITS, W, seed=1)
    path = _encoder_file(tmp_path / "e4e_16.pt", sd, small_dec, {"encoder_type": "Encoder4Editing",
                                                                 "stylegan_size": 16}, small_avg[None].repeat(6, 1),
                         "legacy")
    G = stylegan.load(_save({"g_ema": decoder[0], "latent_avg": decoder[1]}, tmp_path / "g.pt", "zip"))
    with pytest.raises(ArchitectureMismatchError, match=r"e4e_16\.pt: .*16 px generator \(num_ws 6.*32 px \(num_ws 8"):
        inversion.load_encoder(path, G=G)


def test_a_direction_of_the_wrong_width(tmp_path, tiny):
    path = _save(torch.from_numpy(df._unit(4, (1, 16)).astype(np.float32)), tmp_path / "smile.pt", "legacy-cuda")
    with pytest.raises(ArchitectureMismatchError, match=r"smile\.pt: .*16 values per row.*w_dim 32"):
        edits.import_direction(path, tiny[0])
