"""`sgt edit` and `edits.resolve`: written latents and images equal the library's edits, composition
order, the photo path (align, invert, paste back), and bad input that writes nothing."""
from __future__ import annotations


import numpy as np
import PIL.Image
import pytest
import torch
from click.testing import CliRunner
from skimage import data

import edits
import stylegan
from conftest import make_tiny_G
from demos.cli import main
from edits.base import LinearEdit
from sgtcore import registry


def _unit(seed: int, dim: int = 32) -> torch.Tensor:
    d = torch.randn(dim, generator=torch.Generator().manual_seed(seed))
    return d / d.norm()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny G (and another one) as model folders, two edit folders for G, one for the other G, a latent file."""
    root = tmp_path_factory.mktemp("edit_cli")
    G, other = make_tiny_G(0), make_tiny_G(1)
    stylegan.save_pretrained(G, root / "tiny")
    stylegan.save_pretrained(other, root / "other")
    fp = stylegan.fingerprint(G)
    a = LinearEdit(_unit(1), range(0, 4), 0.7, name="test:yaw", method="interfacegan", attribute="yaw", unit="deg",
                   num_ws=G.num_ws, generator=fp)
    b = LinearEdit(_unit(2), range(2, 8), 1.3, name="sefa:0", method="sefa", num_ws=G.num_ws, generator=fp)
    c = LinearEdit(_unit(3), range(8), 1.0, name="sefa:0", method="sefa", num_ws=G.num_ws,
                   generator=stylegan.fingerprint(other))
    a.save(root / "edit_a"), b.save(root / "edit_b"), c.save(root / "edit_other")
    with torch.no_grad():
        ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(5)), truncation_psi=0.7)
    stylegan.save_ws(root / "w.npz", ws, metadata={"network": "tiny", "generator": fp})
    return dict(root=root, G=G, ws=ws, a=a, b=b)


def _run(*args: str):
    return CliRunner().invoke(main, ["edit", *map(str, args)])


def _latent(path) -> tuple[torch.Tensor, dict]:
    latents = stylegan.load_ws(path)
    return latents.ws, latents.metadata


def test_latent_edits_compose_in_order_and_match_the_library(setup, tmp_path):
    r, G, ws, a, b = setup["root"], setup["G"], setup["ws"], setup["a"], setup["b"]
    out = tmp_path / "out"
    res = _run(r / "w.npz", "--network", r / "tiny", "--edit", f"{r / 'edit_a'}=+15", "--edit", f"{r / 'edit_b'}=-2",
               "--outdir", out)
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["edited.png", "edited_w.npz", "reconstruction.png"]
    assert len(res.output.strip().splitlines()) == 3  # one line per output
    got, meta = _latent(out / "edited_w.npz")
    # the formula, independently of Edit.apply: ws[:, rows] += s * sigma * direction
    want = ws.clone()
    want[:, 0:4] += 15 * 0.7 * a.direction
    want[:, 2:8] += -2 * 1.3 * b.direction
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    torch.testing.assert_close(got, b.apply(a.apply(ws, 15.0), -2.0))
    assert meta["generator"] == stylegan.fingerprint(G) and meta["network"] == str(r / "tiny")
    assert [(e["name"], e["strength"], e["unit"]) for e in meta["edits"]] == [("test:yaw", 15.0, "deg"),
                                                                               ("sefa:0", -2.0, "σ")]
    with torch.no_grad():
        img = stylegan.images.to_uint8(G.synthesis(got, noise_mode="const"))[0]
        recon = stylegan.images.to_uint8(G.synthesis(ws, noise_mode="const"))[0]
    assert np.abs(np.asarray(PIL.Image.open(out / "edited.png")).astype(int) - img).max() <= 1
    assert np.abs(np.asarray(PIL.Image.open(out / "reconstruction.png")).astype(int) - recon).max() <= 1
    # linear edits commute, so the order shows in the metadata here (and in the next test, in the calls)
    res2 = _run(r / "w.npz", "--network", r / "tiny", "--edit", f"{r / 'edit_b'}=-2", "--edit", f"{r / 'edit_a'}=15",
                "--outdir", tmp_path / "swapped")
    assert res2.exit_code == 0, res2.output
    _, meta2 = _latent(tmp_path / "swapped" / "edited_w.npz")
    assert [e["name"] for e in meta2["edits"]] == ["sefa:0", "test:yaw"]


def test_a_strength_past_the_calibrated_range_is_applied_with_one_note(setup, tmp_path):
    from edits.calibration import Calibration

    r, G = setup["root"], setup["G"]
    cal = Calibration([-1, 0, 1], [-20.0, 0.0, 20.0], "yaw", "deg")
    e = LinearEdit(_unit(4), range(0, 4), 1.0, name="cal:yaw", method="interfacegan", attribute="yaw", unit="deg",
                   num_ws=G.num_ws, generator=stylegan.fingerprint(G), calibration=cal)
    e.save(tmp_path / "edit_cal")
    res = _run(r / "w.npz", "--network", r / "tiny", "--edit", f"{tmp_path / 'edit_cal'}=30", "--outdir", tmp_path / "o")
    assert res.exit_code == 0, res.output
    notes = [line for line in res.output.splitlines() if line.startswith("note:")]
    assert notes == ["note: yaw change +30 deg is outside the calibrated range [-20, +20] deg: extrapolated, "
                     "not measured (warned once per edit)"]
    got, _ = _latent(tmp_path / "o" / "edited_w.npz")
    torch.testing.assert_close(got, e.apply(setup["ws"], 30.0))  # extrapolated as the library does: 1.5 raw


def test_edits_are_applied_in_the_order_given(setup, tmp_path, monkeypatch):
    """A non-commuting pair: record the order in which the CLI calls `apply`."""
    r = setup["root"]
    calls = []
    original = LinearEdit._apply

    def spy(self, ws, strength, rows):
        calls.append(self.name)
        return original(self, ws, strength, rows)

    monkeypatch.setattr(LinearEdit, "_apply", spy)
    res = _run(r / "w.npz", "--network", r / "tiny", "--edit", f"{r / 'edit_b'}=1", "--edit", f"{r / 'edit_a'}=1",
               "--outdir", tmp_path / "o")
    assert res.exit_code == 0, res.output
    assert calls[:2] == ["sefa:0", "test:yaw"] and calls[2:] == ["sefa:0", "test:yaw"]  # latent, then render


def test_stylespace_edit_renders_but_stays_out_of_the_latent(setup, tmp_path):
    from edits.stylespace import StyleEdit

    r, G, ws, b = setup["root"], setup["G"], setup["ws"], setup["b"]
    layer, row = G.synthesis.style_layout()[3]
    s = StyleEdit([layer], [5], [0.5], layer_rows=[row], name="stylespace:test", num_ws=G.num_ws, w_dim=G.w_dim,
                  generator=stylegan.fingerprint(G))
    s.save(tmp_path / "edit_s")
    out = tmp_path / "out"
    res = _run(r / "w.npz", "--network", r / "tiny", "--edit", f"{tmp_path / 'edit_s'}=3", "--edit",
               f"{r / 'edit_b'}=1", "--outdir", out)
    assert res.exit_code == 0, res.output
    got, meta = _latent(out / "edited_w.npz")
    torch.testing.assert_close(got, b.apply(ws, 1.0))  # the W edit only
    assert meta["not_in_w"] == ["stylespace:test"] and "not_in_w" in res.output
    with torch.no_grad():
        want = stylegan.images.to_uint8(edits.render(G, ws, [(s, 3.0), (b, 1.0)]))[0]
        w_only = stylegan.images.to_uint8(G.synthesis(got))[0]
    img = np.asarray(PIL.Image.open(out / "edited.png")).astype(int)
    assert np.abs(img - want).max() <= 1 and (img != w_only).any()


def test_bare_attribute_resolves_through_the_registry(setup, tmp_path):
    r, ws, a = setup["root"], setup["ws"], setup["a"]
    try:
        registry.register("edit", "test_yaw", r / "edit_a")
        res = _run(r / "w.npz", "--network", r / "tiny", "--edit", "yaw=2.5", "--outdir", tmp_path / "o")
        assert res.exit_code == 0, res.output
        assert "test:yaw +2.5 deg" in res.output
        torch.testing.assert_close(_latent(tmp_path / "o" / "edited_w.npz")[0], a.apply(ws, 2.5))
        res = _run(r / "w.npz", "--network", r / "tiny", "--edit", "smile=1", "--outdir", tmp_path / "bad")
        assert res.exit_code == 2 and "available: test:yaw (attributes: yaw)" in res.output
        assert not (tmp_path / "bad").exists()
    finally:
        registry.unregister("edit", "test_yaw")


def test_resolve_prefers_dge_then_interfacegan_then_stylespace():
    def e(name, method, attribute=None):
        return LinearEdit(_unit(0, 4), [0], 1.0, name=name, method=method, attribute=attribute, num_ws=2)

    cat = {n: e(n, *n.split(":")[:1], a) for n, a in [("ganspace:0", None), ("foo:yaw", "yaw"),
                                                      ("interfacegan:yaw", "yaw"), ("dge:yaw", "yaw"),
                                                      ("stylespace:smile", "smile"), ("bar:smile", "smile"),
                                                      ("interfacegan:smile", "smile"), ("zeta:pitch", "pitch"),
                                                      ("alpha:pitch", "pitch")]}
    assert edits.resolve(cat, "yaw").name == "dge:yaw"
    assert edits.resolve(cat, "smile").name == "interfacegan:smile"
    assert edits.resolve(cat, "pitch").name == "alpha:pitch"  # others: by method name
    assert edits.resolve(cat, "foo:yaw").name == "foo:yaw"  # a full name is taken as is
    with pytest.raises(edits.UnknownEditError, match=r"unknown edit 'roll'; available: ganspace:0, .*"
                                                     r"\(attributes: pitch, smile, yaw\)"):
        edits.resolve(cat, "roll")
    with pytest.raises(edits.UnknownEditError, match="sgt directions"):
        edits.resolve({}, "yaw")


@pytest.mark.parametrize("case", ["no_equals", "not_a_number", "nan", "inf", "unknown", "other_G_edit",
                                  "paste_latent", "wrong_shape", "other_G_latent", "nan_latent", "not_npz",
                                  "unreadable_photo", "no_face", "missing_folder"])
def test_bad_input_is_one_error_line_and_writes_nothing(setup, tmp_path, case):
    r, G = setup["root"], setup["G"]
    src, net, edit = r / "w.npz", r / "tiny", f"{r / 'edit_b'}=1"
    extra: list = []
    if case == "no_equals":
        edit = "sefa:0"
    elif case == "not_a_number":
        edit = "sefa:0=big"
    elif case in ("nan", "inf"):
        edit = f"{r / 'edit_b'}={case}"
    elif case == "unknown":
        edit = "sefa:7=1"
    elif case == "missing_folder":
        edit = f"{tmp_path / 'nothere'}=1"
    elif case == "other_G_edit":
        edit = f"{r / 'edit_other'}=1"
    elif case == "paste_latent":
        extra = ["--paste"]
    elif case == "wrong_shape":
        src = tmp_path / "short.npz"
        stylegan.save_ws(src, torch.zeros(1, G.num_ws - 1, G.w_dim))
    elif case == "other_G_latent":
        src = tmp_path / "other.npz"
        stylegan.save_ws(src, setup["ws"], metadata={"generator": stylegan.fingerprint(make_tiny_G(1))})
    elif case == "nan_latent":
        src = tmp_path / "nan.npz"
        w = setup["ws"].numpy().copy()
        w[0, 0, 0] = np.nan
        np.savez(src, w=w)
    elif case == "not_npz":
        src = tmp_path / "junk.npz"
        src.write_text("not a zip")
    elif case == "unreadable_photo":
        src = tmp_path / "photo.jpg"
        src.write_text("not a picture")
    elif case == "no_face":
        src = tmp_path / "wall.png"
        PIL.Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(src)
    out = tmp_path / "out"
    res = _run(src, "--network", net, "--edit", edit, "--outdir", out, *extra)
    assert res.exit_code != 0 and not isinstance(res.exception, (AssertionError, TypeError, RuntimeError)), res.output
    assert "Traceback" not in res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and res.output.strip().endswith(errors[0]), res.output
    expected = {"no_equals": "NAME=STRENGTH", "not_a_number": "not a number", "nan": "finite", "inf": "finite",
                "unknown": "available: ", "missing_folder": "no such edit folder", "other_G_edit": "generator",
                "paste_latent": "--paste", "wrong_shape": "num_ws", "other_G_latent": "made for generator",
                "nan_latent": "NaN", "not_npz": "not a readable", "unreadable_photo": "photo.jpg",
                "no_face": "no face found"}[case]
    assert expected in errors[0], errors[0]
    assert not out.exists()


def test_photo_is_aligned_inverted_edited_and_pasted_back(setup, tmp_path):
    r, G, b = setup["root"], setup["G"], setup["b"]
    photo = tmp_path / "astronaut.png"
    PIL.Image.fromarray(data.astronaut()).save(photo)
    out = tmp_path / "out"
    res = _run(photo, "--network", r / "tiny", "--edit", f"{r / 'edit_b'}=2", "--outdir", out, "--paste",
               "--steps", "2")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["edited.png", "edited_w.npz", "pasted.png", "projected_w.npz",
                                                    "reconstruction.png"]
    projected = stylegan.load_ws(out / "projected_w.npz", G).ws
    torch.testing.assert_close(_latent(out / "edited_w.npz")[0], b.apply(projected, 2.0))
    pasted = np.asarray(PIL.Image.open(out / "pasted.png"))
    assert pasted.shape == data.astronaut().shape and (pasted != data.astronaut()).any()
    assert "pasted" in res.output and len(res.output.strip().splitlines()) >= 5
    # an already-aligned RxR image is used as is, as `sgt project` does; then there is nothing to paste into
    aligned = tmp_path / "aligned.png"
    PIL.Image.open(out / "reconstruction.png").save(aligned)
    res = _run(aligned, "--network", r / "tiny", "--edit", f"{r / 'edit_b'}=2", "--outdir", tmp_path / "o2",
               "--paste")
    assert res.exit_code == 2 and "--align" in res.output and not (tmp_path / "o2").exists()


def test_default_model_with_a_shipped_edit(tmp_path):
    gen = tmp_path / "gen"
    res = CliRunner().invoke(main, ["generate", "--network", "synthheads", "--seeds", "3", "--save-ws",
                                    "--outdir", str(gen)])
    assert res.exit_code == 0, res.output
    res = _run(gen / "seed0003.npz", "--network", "synthheads", "--edit", "sefa:0=2", "--outdir", tmp_path / "out")
    assert res.exit_code == 0, res.output
    G = stylegan.load("synthheads")
    latents = stylegan.load_ws(gen / "seed0003.npz", G)
    ws = latents.ws
    assert latents.metadata["generator"] == stylegan.fingerprint(G)  # what `sgt edit` checks a latent against
    got, meta = _latent(tmp_path / "out" / "edited_w.npz")
    torch.testing.assert_close(got, edits.available(G)["sefa:0"].apply(ws, 2.0))
    assert meta["generator"] == stylegan.fingerprint(G) and meta["edits"][0]["unit"] == "σ"
    with torch.no_grad():
        img = stylegan.images.to_uint8(edits.render(G, ws, [(edits.available(G)["sefa:0"], 2.0)]))[0]
    assert np.abs(np.asarray(PIL.Image.open(tmp_path / "out" / "edited.png")).astype(int) - img).max() <= 1
    # the edited image differs from the generated one, which the reconstruction reproduces
    assert (np.asarray(PIL.Image.open(tmp_path / "out" / "reconstruction.png"))
            == np.asarray(PIL.Image.open(gen / "seed0003.png"))).all()


def test_registered_and_documented():
    res = CliRunner().invoke(main, ["--help"])
    assert res.exit_code == 0 and " edit " in res.output
    res = _run("--help")
    assert res.exit_code == 0 and "sgt edit photo.jpg --edit yaw=+15" in res.output and "edits.resolve" in res.output
