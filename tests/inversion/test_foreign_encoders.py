"""pSp / e4e / ReStyle checkpoints (inversion.formats): tiny files in the original layouts, outputs against
an independent transcription of the original forwards (tests/reference/psp_ref.py), the decoder through
stylegan.load, the generator checks, and hostile or damaged files."""
from __future__ import annotations

import argparse
import pathlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import inversion
import stylegan
from inversion import formats
from reference import pickles, psp_ref, rosinality_ref
from sgtcore.errors import (ArchitectureMismatchError, CorruptCheckpointError, UnknownFormatError,
                            UnsafeCheckpointError)

WIDTHS, UNITS = (16, 24, 32, 48), (1, 2, 2, 1)  # a tiny IR-SE (SE needs >= 16 channels)
RES_UNITS = (1, 2, 1, 1)  # a tiny ResNet-34-shaped trunk
N = 8  # num_ws of the 32 px decoder
DEC_CHANNELS = {4: 32, 8: 32, 16: 16, 32: 8}


@pytest.fixture(scope="module")
def decoder():
    return rosinality_ref.init_params(size=32, style_dim=32, n_mlp=2, channels=DEC_CHANNELS, seed=3)


def _file(tmp_path, enc_sd, dec, opts, latent_avg=None, name="enc.pt", namespace=False):
    """A checkpoint as pSp/e4e/ReStyle's coach writes it: {state_dict: encoder.* + decoder.*, opts, latent_avg}."""
    obj = {"state_dict": {**{"encoder." + k: v for k, v in enc_sd.items()},
                          **{"decoder." + k: v for k, v in dec.items()}},
           "opts": argparse.Namespace(**opts) if namespace else dict(opts)}
    if latent_avg is not None:
        obj["latent_avg"] = latent_avg
    path = tmp_path / name
    torch.save(obj, path)
    return path


def _images(n=2, size=32, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _at256(img):  # the originals' PIL Resize((256, 256)), bilinear
    return F.interpolate(img, size=(256, 256), mode="bilinear", align_corners=False, antialias=True)


# ---- pSp and e4e ----

PSP_CASES = {  # name: (encoder_type, opts size key, reference forward)
    "psp-gradual": ("GradualStyleEncoder", "output_size",
                    lambda sd, x: psp_ref.gradual_forward(sd, x, N, UNITS)),
    "e4e": ("Encoder4Editing", "stylegan_size", lambda sd, x: psp_ref.gradual_forward(sd, x, N, UNITS, e4e=True)),
    "psp-w": ("BackboneEncoderUsingLastLayerIntoW", "output_size",
              lambda sd, x: psp_ref.w_forward(sd, x, UNITS)[:, None].expand(-1, N, -1)),
    "e4e-w": ("SingleStyleCodeEncoder", "stylegan_size",
              lambda sd, x: psp_ref.w_forward(sd, x, UNITS)[:, None].expand(-1, N, -1)),
    "psp-wplus": ("BackboneEncoderUsingLastLayerIntoWPlus", "output_size",
                  lambda sd, x: psp_ref.wplus_forward(sd, x, N, UNITS)),
}


def _psp_params(encoder_type, seed=1):
    if encoder_type in ("GradualStyleEncoder", "Encoder4Editing"):
        return psp_ref.gradual_params(N, 3, WIDTHS, UNITS, 32, seed=seed)
    if encoder_type == "BackboneEncoderUsingLastLayerIntoWPlus":
        return psp_ref.wplus_params(N, 32, 3, WIDTHS, UNITS, seed=seed)
    return psp_ref.w_params(32, 3, WIDTHS, UNITS, seed=seed)


@pytest.mark.parametrize("case", list(PSP_CASES))
@pytest.mark.parametrize("namespace", [False, True])
def test_psp_family_matches_the_original_forward(tmp_path, decoder, case, namespace):
    et, size_key, ref = PSP_CASES[case]
    dec, w_avg = decoder
    sd = _psp_params(et)
    la = w_avg[None].repeat(N, 1) if "w" not in case.split("-")[-1] else w_avg[None]  # W encoders: [1, 512]
    path = _file(tmp_path, sd, dec, {"encoder_type": et, size_key: 32, "start_from_latent_avg": True,
                                     "checkpoint_path": pathlib.PurePosixPath("/x/y.pt")}, la, namespace=namespace)
    enc = inversion.load_encoder(path)
    img = _images()
    with torch.no_grad():
        ws = enc(img)
        expected = ref(sd, _at256(img)) + w_avg
    assert ws.shape == (2, N, 32)
    assert enc.config.family == case.split("-")[0] and enc.config.num_ws == N and enc.config.img_resolution == 32
    assert (ws - expected).abs().max().item() <= 1e-5
    assert torch.equal(enc.w_avg, w_avg)


@pytest.mark.parametrize("shape", ["rows", "one", "flat"])
def test_latent_avg_shapes_and_start_from_latent_avg(tmp_path, decoder, shape):
    dec, w_avg = decoder
    sd = _psp_params("GradualStyleEncoder")
    la = {"rows": w_avg[None].repeat(N, 1), "one": w_avg[None], "flat": w_avg}[shape]
    img = _images()
    with torch.no_grad():
        raw = psp_ref.gradual_forward(sd, _at256(img), N, UNITS)
        on = inversion.load_encoder(_file(tmp_path, sd, dec, {"encoder_type": "GradualStyleEncoder", "output_size": 32,
                                                              "start_from_latent_avg": True}, la))(img)
        off = inversion.load_encoder(_file(tmp_path, sd, dec, {"encoder_type": "GradualStyleEncoder", "output_size": 32,
                                                               "start_from_latent_avg": False}, name="off.pt"))(img)
    assert (on - (raw + w_avg)).abs().max() <= 1e-5
    assert (off - raw).abs().max() <= 1e-5  # pSp adds latent_avg only when trained with it


def test_full_size_psp_encoder_has_the_original_621_keys():
    """IR-SE-50 GradualStyleEncoder at full size, built on the meta device (no 267 MB of weights)."""
    from inversion.formats import psp
    from inversion.formats.irse import IRSEConfig

    with torch.device("meta"):
        net = psp.GradualStyleEncoder(IRSEConfig(), 18)
    ours = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in psp_ref.gradual_params(device="meta").items()}
    assert len(ours) == 621 and ours == theirs
    assert ours["latlayer1.weight"] == (512, 256, 1, 1) and ours["latlayer2.weight"] == (512, 128, 1, 1)
    assert ours["styles.17.convs.10.weight"] == (512, 512, 3, 3) and "styles.0.convs.8.weight" not in ours


# ---- ReStyle ----

RESTYLE_CASES = {  # encoder_type: (params builder, reference forward of one step)
    "BackboneEncoder": (lambda: psp_ref.backbone_params(N, 6, WIDTHS, UNITS, 32, seed=2),
                        lambda sd, x: psp_ref.backbone_forward(sd, x, N, UNITS)),
    "ProgressiveBackboneEncoder": (lambda: psp_ref.backbone_params(N, 6, WIDTHS, UNITS, 32, seed=2),
                                   lambda sd, x: psp_ref.backbone_forward(sd, x, N, UNITS, e4e=True)),
    "ResNetBackboneEncoder": (lambda: psp_ref.backbone_params(N, 6, WIDTHS, RES_UNITS, 32, seed=2, resnet=True),
                              lambda sd, x: psp_ref.backbone_forward(sd, x, N, RES_UNITS, resnet=True)),
    "GradualStyleEncoder": (lambda: psp_ref.gradual_params(N, 6, WIDTHS, UNITS, 32, seed=2),
                            lambda sd, x: psp_ref.gradual_forward(sd, x, N, UNITS)),
}


def _restyle_reference(sd, step, dec, w_avg, img, iterations):
    """restyle-encoder `run_on_batch`: the average image, then image ⊕ reconstruction, residual codes."""
    la = w_avg[None].repeat(N, 1)

    def render(ws):  # decoder(randomize_noise=False), then face_pool to 256 (bilinear upsampling here: 32 px)
        return F.interpolate(rosinality_ref.forward(dec, ws, 32), size=(256, 256), mode="bilinear", align_corners=False)

    x = _at256(img)
    y_hat = render(la[None]).repeat(img.shape[0], 1, 1, 1)
    latent = None
    for _ in range(iterations):
        codes = step(sd, torch.cat([x, y_hat], 1))
        codes = codes + (latent if latent is not None else la.repeat(img.shape[0], 1, 1))
        latent = codes
        y_hat = render(codes)
    return latent


@pytest.mark.parametrize("et", list(RESTYLE_CASES))
def test_restyle_iterates_like_the_original(tmp_path, decoder, et):
    dec, w_avg = decoder
    build, step = RESTYLE_CASES[et]
    sd = build()
    path = _file(tmp_path, sd, dec, {"encoder_type": et, "input_nc": 6, "output_size": 32}, w_avg[None].repeat(N, 1))
    enc = inversion.load_encoder(path)
    assert isinstance(enc, formats.ReStyleEncoder) and enc.config.iterations == 5  # ReStyle's default
    img = _images()
    with torch.no_grad():
        ws, steps = enc(img, iterations=3, return_steps=True)
        expected = _restyle_reference(sd, step, dec, w_avg, img, 3)
    assert len(steps) == 3 and ws.shape == (2, N, 32)
    assert (ws - expected).abs().max().item() <= 1e-5
    assert (steps[0] - steps[1]).abs().max() > 1e-3  # each step moves the code


def test_restyle_defaults_to_five_steps(tmp_path, decoder):
    dec, w_avg = decoder
    build, step = RESTYLE_CASES["BackboneEncoder"]
    sd = build()
    enc = inversion.load_encoder(_file(tmp_path, sd, dec, {"encoder_type": "BackboneEncoder", "input_nc": 6,
                                                           "output_size": 32}, w_avg[None].repeat(N, 1)))
    img = _images(1)
    with torch.no_grad():
        assert (enc(img) - _restyle_reference(sd, step, dec, w_avg, img, 5)).abs().max() <= 1e-5


# ---- the decoder, the generator checks, the projection start ----

def test_stylegan_load_reads_the_decoder(tmp_path, decoder):
    dec, w_avg = decoder
    path = _file(tmp_path, _psp_params("Encoder4Editing"), dec, {"encoder_type": "Encoder4Editing",
                                                                   "stylegan_size": 32, "start_from_latent_avg": True},
                 w_avg[None].repeat(N, 1))
    G = stylegan.load(path)
    assert torch.equal(G.w_avg, w_avg) and G.num_ws == N
    ws = w_avg[None, None].repeat(2, N, 1) + 0.3 * torch.randn(2, N, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (G.synthesis(ws, noise_mode="const") - rosinality_ref.forward(dec, ws, 32)).abs().max() <= 1e-5
    with pytest.raises(ArchitectureMismatchError, match="no image discriminator"):
        stylegan.load_discriminator(path)
    enc = inversion.load_encoder(path, G=G)  # the file's own generator passes the checks
    assert enc.config.family == "e4e"


def test_encoder_for_another_generator_is_refused(tmp_path, decoder):
    import conftest

    dec, w_avg = decoder
    path = _file(tmp_path, _psp_params("GradualStyleEncoder"), dec, {"encoder_type": "GradualStyleEncoder",
                                                                       "output_size": 32, "start_from_latent_avg": True},
                 w_avg[None].repeat(N, 1))
    other = conftest.make_tiny_G(0)  # 32 px, num_ws 8, w_dim 32 too, but another mapping
    with pytest.raises(ArchitectureMismatchError, match="another generator"):
        inversion.load_encoder(path, G=other)
    small = conftest.make_tiny_G(0, img_resolution=16)
    with pytest.raises(ArchitectureMismatchError, match="num_ws 8.*num_ws 6"):
        inversion.load_encoder(path, G=small)
    wide = conftest.make_tiny_G(0, w_dim=16, z_dim=16)
    with pytest.raises(ArchitectureMismatchError, match="w_dim 32.*w_dim 16"):
        inversion.load_encoder(path, G=wide)


def test_projection_starts_from_a_foreign_encoder(tmp_path, decoder):
    dec, w_avg = decoder
    path = _file(tmp_path, _psp_params("GradualStyleEncoder"), dec, {"encoder_type": "GradualStyleEncoder",
                                                                       "output_size": 32, "start_from_latent_avg": True},
                 w_avg[None].repeat(N, 1))
    G = stylegan.load(path)
    enc = inversion.load_encoder(path, G=G)
    target = _images(1)
    r = inversion.project(G, target, steps=0, init="encoder", encoder=enc, loss="l2", progress=False)
    with torch.no_grad():
        assert torch.allclose(r.ws, enc(target), atol=1e-6)


def test_sgt_project_accepts_an_encoder_file(tmp_path, decoder):
    from click.testing import CliRunner

    from demos.cli import main

    dec, w_avg = decoder
    path = _file(tmp_path, _psp_params("GradualStyleEncoder"), dec, {"encoder_type": "GradualStyleEncoder",
                                                                       "output_size": 32, "start_from_latent_avg": True},
                 w_avg[None].repeat(N, 1))
    Image.fromarray((np.random.RandomState(0).rand(32, 32, 3) * 255).astype(np.uint8)).save(tmp_path / "face.png")
    args = ["project", str(tmp_path / "face.png"), "--network", str(path), "--encoder", str(path), "--init", "encoder",
            "--steps", "0", "--loss", "l2", "--no-align", "--outdir", str(tmp_path / "out")]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "face" / "projected_w.npz").is_file()
    r = CliRunner().invoke(main, args[:2] + ["--network", "synthheads"] + args[4:])  # another generator
    assert r.exit_code == 1 and "num_ws 8" in r.output and "Traceback" not in r.output


def test_demo_offers_the_encoder_stored_with_the_generator(tmp_path, decoder):
    from demos.models import DemoModel

    dec, w_avg = decoder
    _file(tmp_path, _psp_params("Encoder4Editing"), dec, {"encoder_type": "Encoder4Editing", "stylegan_size": 32,
                                                           "start_from_latent_avg": True}, w_avg[None].repeat(N, 1),
          name="e4e_tiny.pt")
    model = DemoModel("synthheads", models_dir=tmp_path)
    try:
        net = model.get("e4e_tiny.pt")
        assert isinstance(net.encoder, formats.PSPEncoder) and net.G.num_ws == N
    finally:
        model.close()


# ---- bad files and inputs ----

def test_unknown_encoder_type_and_non_rgb_inputs(tmp_path, decoder):
    dec, w_avg = decoder
    sd = _psp_params("GradualStyleEncoder")
    with pytest.raises(UnknownFormatError, match="'FancyEncoder'.*known"):
        inversion.load_encoder(_file(tmp_path, sd, dec, {"encoder_type": "FancyEncoder", "output_size": 32}))
    seg = psp_ref.gradual_params(N, 19, WIDTHS, UNITS, 32)  # pSp's segmentation-to-image model
    with pytest.raises(ArchitectureMismatchError, match="19-channel"):
        inversion.load_encoder(_file(tmp_path, seg, dec, {"encoder_type": "GradualStyleEncoder", "output_size": 32,
                                                          "label_nc": 19, "input_nc": 19}, name="seg.pt"))
    torch.save({"model": {"w": torch.zeros(2)}}, tmp_path / "other.pt")
    with pytest.raises(UnknownFormatError, match="not a pSp"):
        inversion.load_encoder(tmp_path / "other.pt")
    (tmp_path / "notes.pt").write_text("hello")
    with pytest.raises(UnknownFormatError, match="not a torch file"):
        inversion.load_encoder(tmp_path / "notes.pt")


def test_shapes_that_disagree_are_named(tmp_path, decoder):
    dec, w_avg = decoder
    sd = _psp_params("GradualStyleEncoder")
    sd["styles.3.linear.weight"] = sd["styles.3.linear.weight"][:, :16]
    with pytest.raises(ArchitectureMismatchError, match="styles.3.linear.weight"):
        inversion.load_encoder(_file(tmp_path, sd, dec, {"encoder_type": "GradualStyleEncoder", "output_size": 32}))
    small_dec, _ = rosinality_ref.init_params(size=16, style_dim=32, n_mlp=2, channels={4: 32, 8: 32, 16: 16})
    with pytest.raises(ArchitectureMismatchError, match="writes 8 rows but its decoder takes 6"):
        inversion.load_encoder(_file(tmp_path, _psp_params("GradualStyleEncoder"), small_dec,
                                     {"encoder_type": "GradualStyleEncoder", "output_size": 16}, name="b.pt"))


def test_nan_weights_and_inputs(tmp_path, decoder):
    dec, w_avg = decoder
    sd = _psp_params("GradualStyleEncoder")
    sd["body.1.res_layer.1.weight"][0, 0, 0, 0] = float("nan")
    with pytest.raises(CorruptCheckpointError, match="body.1.res_layer.1.weight.*NaN"):
        inversion.load_encoder(_file(tmp_path, sd, dec, {"encoder_type": "GradualStyleEncoder", "output_size": 32}))
    enc = inversion.load_encoder(_file(tmp_path, _psp_params("GradualStyleEncoder"), dec,
                                       {"encoder_type": "GradualStyleEncoder", "output_size": 32}, name="ok.pt"))
    bad = _images(1)
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        enc(bad)
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        enc(torch.zeros(1, 1, 32, 32))


@pytest.mark.parametrize("where", ["opts", "latent_avg"])
def test_hostile_encoder_file_never_runs(tmp_path, decoder, where):
    dec, w_avg = decoder
    canary = tmp_path / "pwned"
    opts = {"encoder_type": "GradualStyleEncoder", "output_size": 32}
    la = w_avg
    if where == "opts":
        opts["hook"] = pickles.os_system_payload(str(canary))
    else:
        la = pickles.open_file_payload(str(canary))
    path = _file(tmp_path, _psp_params("GradualStyleEncoder"), dec, opts, la)
    with pytest.raises(UnsafeCheckpointError, match="refusing"):
        inversion.load_encoder(path)
    with pytest.raises(UnsafeCheckpointError, match="refusing"):
        stylegan.load(path)
    assert not canary.exists()


def test_truncated_encoder_file(tmp_path, decoder):
    dec, w_avg = decoder
    path = _file(tmp_path, _psp_params("GradualStyleEncoder"), dec, {"encoder_type": "GradualStyleEncoder",
                                                                       "output_size": 32})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptCheckpointError, match="enc.pt"):
        inversion.load_encoder(path)


def test_legacy_torch_files_are_read(tmp_path, decoder):
    """Files from torch < 1.6 (not zip) go through the same restricted unpickler."""
    dec, w_avg = decoder
    sd = _psp_params("GradualStyleEncoder")
    obj = {"state_dict": {**{"encoder." + k: v for k, v in sd.items()}, **{"decoder." + k: v for k, v in dec.items()}},
           "opts": {"encoder_type": "GradualStyleEncoder", "output_size": 32, "start_from_latent_avg": True},
           "latent_avg": w_avg[None].repeat(N, 1)}
    torch.save(obj, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    enc = inversion.load_encoder(tmp_path / "old.pt", G=stylegan.load(tmp_path / "old.pt"))
    img = _images(1)
    with torch.no_grad():
        assert (enc(img) - (psp_ref.gradual_forward(sd, _at256(img), N, UNITS) + w_avg)).abs().max() <= 1e-5


def test_large_inputs_and_renders_are_resized_as_the_originals(tmp_path):
    """Input photos: PIL-like antialiased bilinear to 256; ReStyle's renders above 256 px: face_pool (average)."""
    dec, w_avg = rosinality_ref.init_params(size=512, style_dim=32, n_mlp=2, seed=5,
                                            channels={4: 16, 8: 16, 16: 16, 32: 8, 64: 8, 128: 4, 256: 4, 512: 4})
    n = 16
    sd = psp_ref.backbone_params(n, 6, WIDTHS, UNITS, 32, seed=6)
    path = _file(tmp_path, sd, dec, {"encoder_type": "BackboneEncoder", "input_nc": 6, "output_size": 512},
                 w_avg[None].repeat(n, 1))
    enc = inversion.load_encoder(path)
    img = _images(1, 512)

    def render(ws):
        return F.adaptive_avg_pool2d(rosinality_ref.forward(dec, ws, 512), (256, 256))

    x = _at256(img)
    with torch.no_grad():
        latent = w_avg[None].repeat(n, 1)[None] + psp_ref.backbone_forward(
            sd, torch.cat([x, render(w_avg[None, None].repeat(1, n, 1))], 1), n, UNITS)
        latent = latent + psp_ref.backbone_forward(sd, torch.cat([x, render(latent)], 1), n, UNITS)
        assert (enc(img, iterations=2) - latent).abs().max().item() <= 1e-5
