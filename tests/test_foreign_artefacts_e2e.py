"""The user's journey with the files they bring, end to end through `sgt`: a rosinality generator
(`ffhq.pt`), an e4e encoder whose decoder is that generator (`e4e_ffhq_encode.pt`), an e4e direction
(`smile.pt`, saved on a GPU as e4e's are) and MegaFS's `ftm_final.pth` (legacy serialization, as released):
tiny stand-ins in the real containers, built by the other tests' builders.

    sgt project photo.png --network ffhq.pt --encoder e4e_ffhq_encode.pt --outdir proj
    sgt edit proj/photo/projected_w.npz --network ffhq.pt --direction smile.pt=1 --outdir edit
    sgt swap --identity edit/edited_w.npz --attribute photo.png --method megafs-ftm --swap-net ftm_final.pth ...

Each step's outputs are checked against independent transcriptions of the originals (tests/reference,
the MegaFS test's forward), not against our code.
"""
from __future__ import annotations

import pathlib
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import stylegan
from conftest import import_test_module, save_torch
from reference import psp_ref, rosinality_ref
from sgtcore.images import from_uint8, to_uint8

fe = import_test_module("inversion/test_foreign_encoders.py")  # the tiny IR-SE widths, the 256 px resize
mf = import_test_module("edits/test_megafs.py")                # MegaFS's released layout and its forward

W_DIM, NUM_WS = mf.FEAT, 8  # MegaFS's tiny layout fits a 32 px generator with w_dim 16


@pytest.fixture(scope="module")
def journey(tmp_path_factory):
    import synthetic

    root = tmp_path_factory.mktemp("journey")
    g_sd, latent_avg = rosinality_ref.init_params(size=32, style_dim=W_DIM, channels=mf.G_CHANNELS, seed=5)
    save_torch({"g_ema": g_sd, "latent_avg": latent_avg}, root / "ffhq.pt")  # convert_weight.py's {g_ema, latent_avg}
    enc = psp_ref.gradual_params(NUM_WS, 3, fe.WIDTHS, fe.UNITS, W_DIM, seed=1)
    save_torch({"state_dict": {**{"encoder." + k: v for k, v in enc.items()},
                               **{"decoder." + k: v for k, v in g_sd.items()}},
                "opts": {"encoder_type": "Encoder4Editing", "stylegan_size": 32, "start_from_latent_avg": True,
                         "checkpoint_path": pathlib.PurePosixPath("/checkpoints/e4e_ffhq_encode.pt")},
                "latent_avg": latent_avg[None].repeat(NUM_WS, 1)}, root / "e4e_ffhq_encode.pt")
    smile = torch.randn(1, W_DIM, generator=torch.Generator().manual_seed(9))
    save_torch(smile, root / "smile.pt", device_tag="cuda:0")
    megafs = mf.init_megafs("ftm")
    save_torch(megafs, root / "ftm_final.pth", legacy=True)
    # a face photo at the generator's size (so it is taken as aligned): a synthetic head render
    Image.fromarray(synthetic.render(synthetic.sample_params(np.random.default_rng(3)), 32).image).save(
        root / "photo.png")
    return SimpleNamespace(root=root, g_sd=g_sd, latent_avg=latent_avg, enc=enc, smile=smile[0], megafs=megafs)


def _sgt(*args):
    from demos.cli import main

    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 0 and "Traceback" not in res.output, res.output
    return res


def _png(path) -> np.ndarray:
    return np.array(Image.open(path).convert("RGB"))


def test_project_edit_swap_with_the_files_users_bring(journey, tmp_path):
    j, r = journey, journey.root
    photo = from_uint8(_png(r / "photo.png"))  # [1, 3, 32, 32] in [-1, 1]

    # 1. project with the e4e encoder (e4e's inversion is the encoder's code, no optimisation steps)
    _sgt("project", r / "photo.png", "--network", r / "ffhq.pt", "--encoder", r / "e4e_ffhq_encode.pt",
         "--init", "encoder", "--steps", "0", "--loss", "l2", "--no-align", "--outdir", tmp_path / "proj")
    out = tmp_path / "proj" / "photo"
    assert {"projected_w.npz", "proj.png", "target.png"} <= {p.name for p in out.iterdir()}
    projected = stylegan.load_ws(out / "projected_w.npz").ws
    with torch.no_grad():  # e4e's forward (omertov/encoder4editing), transcribed, + latent_avg
        want = psp_ref.gradual_forward(j.enc, fe._at256(photo), NUM_WS, fe.UNITS, e4e=True) + j.latent_avg
    assert projected.shape == (1, NUM_WS, W_DIM)
    assert (projected - want).abs().max().item() <= 1e-5
    with torch.no_grad():  # proj.png is rosinality's generator on that code
        render = rosinality_ref.forward(j.g_sd, projected, 32)
    assert np.abs(_png(out / "proj.png").astype(int) - to_uint8(render)[0].astype(int)).max() <= 1

    # 2. edit with e4e's smile.pt: one σ along the unit direction, on every ws row
    _sgt("edit", out / "projected_w.npz", "--network", r / "ffhq.pt", "--direction", f"{r / 'smile.pt'}=1",
         "--outdir", tmp_path / "edit")
    assert {"edited.png", "edited_w.npz"} <= {p.name for p in (tmp_path / "edit").iterdir()}
    edited = stylegan.load_ws(tmp_path / "edit" / "edited_w.npz")
    assert edited.metadata["edits"][0]["name"] == "interfacegan:smile"
    unit = j.smile / j.smile.norm()
    step = edited.ws - projected  # [1, num_ws, w_dim]
    assert torch.allclose(step, (step @ unit)[..., None] * unit, atol=1e-5)  # along the direction only
    with torch.no_grad():  # σ: std of rosinality's mapped w along it, on samples of our own
        w = rosinality_ref.style(j.g_sd, torch.randn(20_000, W_DIM, generator=torch.Generator().manual_seed(1)))
    sigma = float((w @ unit).std())
    assert torch.allclose(step @ unit, torch.full((1, NUM_WS), sigma), rtol=0.05)
    assert not np.array_equal(_png(tmp_path / "edit" / "edited.png"), _png(out / "proj.png"))

    # 3. swap: the edited face's identity onto the photo, with MegaFS's FTM network and the same generator
    _sgt("swap", "--identity", tmp_path / "edit" / "edited_w.npz", "--attribute", r / "photo.png",
         "--method", "megafs-ftm", "--swap-net", r / "ftm_final.pth", "--network", r / "ffhq.pt",
         "--outdir", tmp_path / "swap")
    swapped = stylegan.load_ws(tmp_path / "swap" / "swapped_w.npz").ws
    image = _png(tmp_path / "swap" / "swapped.png")
    with torch.no_grad():  # MegaFS.swap on (the identity latent's render, the photo), transcribed
        source = rosinality_ref.forward(j.g_sd, edited.ws, 32)
        want_img, want_codes = mf.ref_swap_image(j.megafs, j.g_sd, "ftm", source, photo)
    assert swapped.shape == (1, NUM_WS, W_DIM) and image.shape == (32, 32, 3)
    assert (swapped - want_codes).abs().max().item() <= 1e-4
    assert np.abs(image.astype(int) - to_uint8(want_img)[0].astype(int)).max() <= 1
    assert image.std() > 5 and not np.array_equal(image, _png(r / "photo.png"))
