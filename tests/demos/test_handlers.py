"""The demo's handlers without a browser: plain inputs, plain outputs, the library's errors."""
import numpy as np
import pytest
import torch
from PIL import Image

import inversion
import stylegan
import synthetic
from demo_setup import examples, model  # noqa: F401 (fixtures)
from demos import edit_handlers, handlers
from demos.models import DemoModel, find_checkpoints
from sgtcore import registry
from stylegan.images import to_uint8


def test_generate_is_deterministic_and_matches_synthesis(model):
    G = model.get().G
    r1 = handlers.generate(model, None, 42, 0.7, "random", mix_seed=7, mix_from=0, mix_to=4)
    r2 = handlers.generate(model, None, 42, 0.7, "random", mix_seed=7, mix_from=0, mix_to=4)
    assert r1.image.dtype == np.uint8 and r1.image.shape == (G.img_resolution, G.img_resolution, 3)
    assert np.array_equal(r1.image, r2.image)
    lat = stylegan.load_ws(r1.latent_path, G)
    assert lat.ws.shape == (1, G.num_ws, G.w_dim) and lat.noise  # random noise is kept to reproduce the image
    with torch.no_grad():
        ws = G.mapping(stylegan.seed_to_z(42, G.z_dim), truncation_psi=0.7)
        mixed = G.mapping(stylegan.seed_to_z(7, G.z_dim), truncation_psi=0.7)
        assert torch.equal(lat.ws[:, :4], mixed[:, :4]) and torch.equal(lat.ws[:, 4:], ws[:, 4:])
        again = G.synthesis(lat.ws, noise=lat.noise, noise_mode="random")
    assert np.array_equal(to_uint8(again)[0], r1.image)
    assert "layers 0–3 from seed 7" in r1.info


def test_generate_seeds_differ_and_const_matches_plain_synthesis(model):
    G = model.get().G
    a, b = (handlers.generate(model, model.default, s, 1.0) for s in (0, 1))
    assert not np.array_equal(a.image, b.image)
    with torch.no_grad():
        img = G.synthesis(G.mapping(stylegan.seed_to_z(0, G.z_dim)), noise_mode="const")
    assert np.array_equal(to_uint8(img)[0], a.image)
    assert not stylegan.load_ws(a.latent_path).noise  # const noise: nothing to store


def test_generate_from_latent_file(model, tmp_path):
    first = handlers.generate(model, None, 3, 0.5)
    again = handlers.generate(model, None, 0, 1.0, latent_file=first.latent_path)
    assert np.array_equal(first.image, again.image) and "latent file" in again.info


@pytest.mark.parametrize("kwargs, message", [
    (dict(seed=-1), "seed must be an integer"),
    (dict(seed=1.5), "seed must be an integer"),
    (dict(seed=0, noise_mode="loud"), "noise_mode must be one of"),
    (dict(seed=0, truncation_psi=float("nan")), "truncation_psi must be a finite number"),
    (dict(seed=0, mix_seed=1, mix_from=0, mix_to=99), "mix_to must be an integer in [0, 12]"),  # v2: 12 ws
])
def test_generate_bad_inputs(model, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        handlers.generate(model, None, **kwargs)


def test_corrupt_latent_file_is_the_library_error(model, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(stylegan.LatentFileError, match="bad.npz"):
        handlers.generate(model, None, 0, latent_file=bad)


def test_invert_in_domain_image_reaches_sane_psnr(model, tmp_path):
    G = model.get().G
    target = handlers.generate(model, None, 11, 0.7).image
    Image.fromarray(target).save(tmp_path / "face.png")
    r = handlers.invert(model, None, tmp_path / "face.png", steps=30)
    assert r.aligned.shape == r.reconstruction.shape == (G.img_resolution, G.img_resolution, 3)
    assert r.reconstruction.dtype == np.uint8 and np.array_equal(r.aligned, target)  # 64x64: taken as aligned
    assert isinstance(r.psnr, float) and r.psnr > 24, r.psnr
    assert r.pasted is None and "taken as already aligned" in r.note  # no detected face: nothing to paste into
    lat = stylegan.load_ws(r.latent_path, G)
    assert lat.ws.shape == (1, G.num_ws, G.w_dim) and lat.metadata["photo"] == "face.png"
    recon = inversion.render(G, lat.ws, {k: v for k, v in lat.noise.items()})
    assert np.abs(to_uint8(recon)[0].astype(int) - r.reconstruction).max() <= 1


def test_invert_photo_is_aligned_pasted_and_noted(model, examples):
    astronaut = examples[-1]
    r = handlers.invert(model, None, astronaut, paste=True, steps=2)
    photo = np.asarray(Image.open(astronaut))
    assert r.pasted.shape == photo.shape and r.pasted.dtype == np.uint8 and not np.array_equal(r.pasted, photo)
    assert handlers.REAL_PHOTO_NOTE in r.note and "2 faces found in astronaut.png" in r.note  # and a face behind
    assert handlers.invert(model, None, astronaut, paste=False, steps=0).pasted is None


@pytest.mark.parametrize("kind, error", [
    ("text", inversion.ImageReadError),
    ("faceless", inversion.NoFaceError),
    ("huge", inversion.ImageTooLargeError),
])
def test_invert_bad_inputs_are_the_library_errors(model, tmp_path, kind, error):
    path = tmp_path / f"{kind}.png"
    if kind == "text":
        path.write_text("not an image")
    elif kind == "faceless":
        Image.fromarray(np.full((96, 128, 3), 200, np.uint8)).save(path)
    else:  # over inversion.MAX_PIXELS, yet a small file
        Image.new("L", (7000, 6000)).save(path)
    with pytest.raises(error, match=f"{kind}.png"):
        handlers.invert(model, None, path, steps=1)
    with pytest.raises(ValueError, match="no photo"):
        handlers.invert(model, None, None)


def test_render_uses_exact_params():
    values = dict(smile=0.8, yaw=25.0, light_azimuth=-40.0)
    r = handlers.render_head(5, 64, **values)
    p = synthetic.HeadParams(identity=synthetic.sample_params(5).identity)
    p.expression.smile, p.pose.yaw, p.lighting.light_azimuth = 0.8, 25.0, -40.0
    truth = synthetic.render(p, 64)
    assert np.array_equal(r.image, truth.image) and r.params == p.to_dict()
    assert r.overlay.shape == r.image.shape and not np.array_equal(r.overlay, r.image)
    with pytest.raises(ValueError, match=r"pose.yaw = 99.0 is out of range \[-70, 70\]"):
        handlers.render_head(5, 64, yaw=99)
    with pytest.raises(ValueError, match="unknown expression/pose/lighting parameter 'head_width'"):
        handlers.render_head(5, 64, head_width=0.5)


def test_render_pair_differs_in_one_attribute():
    p = handlers.render_pair("smile", 3, 1.0, 64)
    assert p.a.shape == p.b.shape == (64, 64, 3) and not np.array_equal(p.a, p.b)
    assert p.changed == "smile: 0.00 → 1.00"
    with pytest.raises(ValueError, match="unknown pair attribute"):
        handlers.render_pair("moustache", 0)


def test_models_dir_offers_checkpoints_by_name_only(tmp_path, tiny_G):
    stylegan.save_pretrained(tiny_G, tmp_path / "tiny")
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    assert list(find_checkpoints(tmp_path)) == ["tiny"]
    m = DemoModel("synthheads", tmp_path)
    try:
        registered = [e.name for e in registry.entries("generator") if e.name != "synthheads"]
        assert m.names == ["synthheads", *registered, "tiny"] and len(set(m.names)) == len(m.names)
        assert m.get("tiny").G.img_resolution == 32 and not m.get("tiny").synthetic
        assert handlers.REAL_PHOTO_NOTE not in handlers.network_info(m, "tiny")
        assert handlers.generate(m, "tiny", 0).image.shape == (32, 32, 3)
        with pytest.raises(ValueError, match="unknown network .*choose one of: synthheads, .*tiny"):
            m.get(str(tmp_path / "tiny"))  # a path typed into the UI is not a name on offer
    finally:
        m.close()


def test_registered_generators_are_in_the_network_menu(tmp_path, tiny_G):
    stylegan.save_pretrained(tiny_G, tmp_path / "tiny")
    registry.register("generator", "my_tiny", tmp_path / "tiny")
    try:
        m = DemoModel("synthheads")
        try:
            assert m.names[0] == "synthheads" and "my_tiny" in m.names
            assert {e.name for e in registry.shipped() if e.kind == "generator"} <= set(m.names)
            assert m.get("my_tiny").G.img_resolution == 32
        finally:
            m.close()
    finally:
        registry.unregister("generator", "my_tiny")


def test_default_network_is_marked_synthetic(model):
    assert model.get().synthetic and handlers.REAL_PHOTO_NOTE in handlers.network_info(model)
    assert handlers.layer_resolutions(10) == [4, 4, 8, 8, 16, 16, 32, 32, 64, 64]


# --------------------------------------------------------------------------------------------- edit
def _catalogue(num_ws: int = 10, w_dim: int = 512) -> dict:
    """Two calibrated edits of one attribute, one of another, and a component: what `edit_sliders` groups."""
    from edits import LinearEdit
    from edits.calibration import Calibration

    d = torch.ones(w_dim) / w_dim ** 0.5

    def lin(name, method, attribute=None, unit="σ", cal=None):
        return LinearEdit(d, range(num_ws), 1.0, name=name, method=method, attribute=attribute, unit=unit,
                          num_ws=num_ws, calibration=cal)

    return {"dge:smile": lin("dge:smile", "dge", "smile", "0-1", Calibration([0, 1, 2], [0, 0.4, 0.9], "smile", "0-1")),
            "dge:yaw": lin("dge:yaw", "dge", "yaw", "deg", Calibration([-2, 0, 2], [-31, 0, 29], "yaw", "deg")),
            "ganspace:0": lin("ganspace:0", "ganspace"),
            "interfacegan:yaw": lin("interfacegan:yaw", "interfacegan", "yaw", "deg",
                                    Calibration([-1, 0, 1], [-20, 0, 20], "yaw", "deg"))}


def test_edit_sliders_are_labelled_in_units_and_grouped():
    from types import SimpleNamespace

    specs = edit_handlers.edit_sliders(SimpleNamespace(edits=lambda network=None: _catalogue()))
    assert [s.name for s in specs] == ["dge:yaw", "interfacegan:yaw", "dge:smile", "ganspace:0"]  # attributes first
    assert [s.label for s in specs] == ["yaw (°)", "yaw (°, interfacegan)", "smile (0-1)", "ganspace:0 (σ)"]
    assert [s.group for s in specs] == [edit_handlers.CALIBRATED] * 3 + ["GANSpace components (σ)"]
    assert (specs[0].minimum, specs[0].maximum, specs[0].step) == (-31.0, 29.0, 0.1)
    assert (specs[2].minimum, specs[2].maximum) == (0.0, 0.9) and specs[3].step == 0.01  # ranges hold 0


def test_strengths_accept_a_bare_attribute_as_sgt_edit_does():
    catalogue = _catalogue()
    assert edit_handlers.parse_strengths('{"yaw": 15, "ganspace:0": -1}', catalogue) == (
        {"dge:yaw": 15.0, "ganspace:0": -1.0}, [])
    with pytest.raises(ValueError, match="dge:yaw is given twice"):
        edit_handlers.parse_strengths({"yaw": 1, "dge:yaw": 2}, catalogue)
    # past the measured range: clamped to it, with a note (the slider's ends; the API clamps the same way)
    values, notes = edit_handlers.parse_strengths({"yaw": 40, "ganspace:0": -3}, catalogue)
    assert values == {"dge:yaw": 29.0, "ganspace:0": -3.0}
    assert notes == ["dge:yaw +40 ° is outside its measured range [-31, 29]: clamped to +29"]


def test_edit_sliders_of_the_shipped_network(model):
    specs = edit_handlers.edit_sliders(model)
    assert {s.name for s in specs} == set(model.edits()) and {"sefa:0", "ganspace:0"} <= {s.name for s in specs}
    sefa = next(s for s in specs if s.name == "sefa:0")
    assert sefa.label == "sefa:0 (σ)" and (sefa.minimum, sefa.maximum) == (-3.0, 3.0)
    calibrated = [s.group == edit_handlers.CALIBRATED for s in specs]
    assert calibrated == sorted(calibrated, reverse=True)  # calibrated ones (if any are registered) first
    assert edit_handlers.reset_strengths(model) == {s.name: 0.0 for s in specs}


def test_edit_sliders_of_v2_show_its_own_edits_in_units(model):
    """The Network menu's v2 entry (the default) gets v2's edits (DGE first for each attribute, labelled in its
    unit), not v1's."""
    assert model.names[:2] == ["synthheads128", "synthheads"]
    specs = {s.name: s for s in edit_handlers.edit_sliders(model, "synthheads128")}
    assert set(specs) == set(model.edits("synthheads128")) == set(model.edits())
    assert set(specs) != set(model.edits("synthheads"))
    assert specs["dge:yaw"].label == "yaw (°)" and specs["dge:yaw"].group == edit_handlers.CALIBRATED
    assert specs["dge:mouth_open"].label == "mouth_open (0-1)" and specs["interfacegan:yaw"].label == "yaw (°, interfacegan)"
    assert specs["interfacegan:mouth_open"].label == "mouth_open (0-1, interfacegan)"
    assert specs["dge:smile"].label == "smile (0-1)" and specs["dge:eyes_closed"].label == "eyes_closed (0-1)"


def test_edit_renders_before_and_after_through_edits_render(model):
    import edits

    G = model.get().G
    g = handlers.generate(model, None, 3, 0.7)
    r0 = edit_handlers.edit(model, None, g.latent_path, {})
    assert np.array_equal(r0.before, g.image) and np.array_equal(r0.after, g.image) and r0.pasted is None
    assert np.array_equal(edit_handlers.edit(model, None, g.latent_path, '{"sefa:0": 0}').after, g.image)
    r = edit_handlers.edit(model, None, g.latent_path, '{"sefa:0": 2, "ganspace:1": -1.5}')
    catalogue = model.edits()
    with torch.no_grad():
        truth = edits.render(G, stylegan.load_ws(g.latent_path).ws, [(catalogue["sefa:0"], 2.0),
                                                                      (catalogue["ganspace:1"], -1.5)])
    assert np.array_equal(r.after, to_uint8(truth)[0]) and np.array_equal(r.before, g.image)
    assert r.info == "sefa:0 +2 σ; ganspace:1 -1.5 σ"


def test_edit_keeps_the_latents_noise_maps(model):
    g = handlers.generate(model, None, 4, 0.7, "random")
    assert np.array_equal(edit_handlers.edit(model, None, g.latent_path).before, g.image)


@pytest.mark.parametrize("strengths, message", [
    ('{"moustache": 1}', "unknown edit 'moustache'; available: dge:eyes_closed, "),
    ('{"sefa:0": 1, "sefa:1": 1, "sefa:0 ": 1}', "unknown edit 'sefa:0 '"),
    ('{"sefa:0": "NaN"}', "strength of sefa:0 must be a finite number"),
    ("[1, 2]", "strengths must be a JSON object"),
    ("sefa:0=1", "strengths must be a JSON object like"),
])
def test_edit_bad_strengths(model, strengths, message):
    g = handlers.generate(model, None, 0)
    with pytest.raises(ValueError, match=message):
        edit_handlers.edit(model, None, g.latent_path, strengths)


def test_edit_clamps_a_strength_past_the_range_and_says_so(model):
    g = handlers.generate(model, None, 0)
    far = edit_handlers.edit(model, None, g.latent_path, '{"sefa:0": 9}')
    end = edit_handlers.edit(model, None, g.latent_path, '{"sefa:0": 3}')
    assert np.array_equal(far.after, end.after) and not np.array_equal(far.after, far.before)
    assert far.info == "sefa:0 +3 σ\n\nsefa:0 +9 σ is outside its measured range [-3, 3]: clamped to +3"


def test_edit_bad_latents_are_the_library_error(model, tmp_path, tiny_G):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(stylegan.LatentFileError, match="bad.npz: not a readable .npz latent file"):
        edit_handlers.edit(model, None, bad, {"sefa:0": 1})
    other = stylegan.save_ws(tmp_path / "other.npz", torch.zeros(1, tiny_G.num_ws, tiny_G.w_dim))
    with pytest.raises(stylegan.LatentFileError, match="other.npz: .*made for another generator"):
        edit_handlers.edit(model, None, other, {})
    with pytest.raises(ValueError, match="no latent"):
        edit_handlers.edit(model, None, None, {})


def test_edit_of_an_inverted_photo_is_pasted_back(model, examples):
    astronaut = examples[-1]
    inv = handlers.invert(model, None, astronaut, paste=True, steps=1)
    assert stylegan.load_ws(inv.latent_path).metadata["alignment"]["source"] == "astronaut.png"
    r = edit_handlers.edit(model, None, inv.latent_path, {"sefa:1": 2.0}, photo=astronaut)
    photo = np.asarray(Image.open(astronaut))
    assert r.pasted.shape == photo.shape and not np.array_equal(r.pasted, inv.pasted)
    assert np.array_equal(edit_handlers.edit(model, None, inv.latent_path, {}, photo=astronaut).pasted, inv.pasted)
    assert edit_handlers.edit(model, None, inv.latent_path, {"sefa:1": 2.0}).pasted is None  # no photo given
    with pytest.raises(ValueError, match="synthetic_head_1.png is 256x256 but the face was aligned from a 512x512"):
        edit_handlers.edit(model, None, inv.latent_path, {}, photo=examples[0])


def test_a_newly_registered_calibrated_edit_gets_its_slider(tmp_path):
    """Edits registered for the network show up in the handlers and the app without any demo change."""
    import gradio as gr

    from demos.app import build
    from edits import LinearEdit
    from edits.calibration import Calibration
    from sgtcore import registry

    G = stylegan.load("synthheads")
    d = torch.randn(G.w_dim, generator=torch.Generator().manual_seed(0))
    roll = LinearEdit(d / d.norm(), range(G.num_ws), 1.0, name="test:roll", method="test", attribute="roll",
                     unit="deg", num_ws=G.num_ws, generator=stylegan.fingerprint(G),
                     calibration=Calibration([-2, 0, 2], [-30, 0, 30], "roll", "deg"))
    registry.register("edit", "test_roll", roll.save(tmp_path / "test_roll"))
    m = DemoModel("synthheads", G=G)
    try:
        spec = next(s for s in edit_handlers.edit_sliders(m) if s.name == "test:roll")  # no shipped roll edit
        assert (spec.name, spec.label, spec.group, spec.minimum, spec.maximum) == (
            "test:roll", "roll (°)", edit_handlers.CALIBRATED, -30.0, 30.0)
        g = handlers.generate(m, None, 1)
        r = edit_handlers.edit(m, None, g.latent_path, '{"roll": 10}')
        assert r.info == "test:roll +10 °" and not np.array_equal(r.after, r.before)
        app = build(m)  # built, not launched
        sliders = [b for b in app.blocks.values() if isinstance(b, gr.Slider) and b.elem_id == "edit-test-roll"]
        assert len(sliders) == 1 and sliders[0].label == "roll (°)" and sliders[0].value == 0
    finally:
        registry.unregister("edit", "test_roll")
        m.close()


# --------------------------------------------------------------------------------------------- swap
def test_swap_of_two_synthetic_heads_differs_from_both(model, examples):
    from demos import swap_handlers

    G = model.get().G
    r = swap_handlers.swap(model, None, examples[0], examples[1], "lcr", steps=5)
    res = (G.img_resolution, G.img_resolution, 3)
    assert r.result.shape == r.identity_aligned.shape == r.attribute_aligned.shape == res
    assert r.result.dtype == np.uint8
    assert not np.array_equal(r.result, r.identity_aligned) and not np.array_equal(r.result, r.attribute_aligned)
    assert r.pasted.shape == np.asarray(Image.open(examples[1])).shape  # into the attribute photo
    assert "LCR swap: style rows 0–1 (4 px: pose, head shape) from the attribute" in r.info
    assert handlers.REAL_PHOTO_NOTE in r.info


def test_swap_of_latents_is_lcr_of_their_ws(model):
    from demos import swap_handlers
    from edits.swap import default_split, lcr

    G = model.get().G
    a, b = handlers.generate(model, None, 1), handlers.generate(model, None, 2, 0.7, "random")
    r = swap_handlers.swap(model, None, a.latent_path, b.latent_path)
    assert np.array_equal(r.identity_aligned, a.image) and np.array_equal(r.attribute_aligned, b.image)
    lb = stylegan.load_ws(b.latent_path)
    with torch.no_grad():
        truth = G.synthesis(lcr(stylegan.load_ws(a.latent_path).ws, lb.ws, default_split(G.num_ws)),
                            noise=lb.noise)
    assert np.array_equal(r.result, to_uint8(truth)[0])
    assert r.pasted is None and "Nothing to paste back into" in r.info
    assert handlers.REAL_PHOTO_NOTE not in r.info


def test_trained_swaps_of_latents(model):
    """ftm: the shipped transfer network's code, rendered; blend: the attribute's own render where the learned
    face mask is 0 (a latent attribute is blended with its render)."""
    from demos import swap_handlers
    from edits.swap.api import find_network

    G = model.get().G
    a, b = handlers.generate(model, None, 1), handlers.generate(model, None, 2, 0.7, "random")
    wa, lb = stylegan.load_ws(a.latent_path).ws, stylegan.load_ws(b.latent_path)
    r = swap_handlers.swap(model, None, a.latent_path, b.latent_path, "ftm")
    with torch.no_grad():
        want = G.synthesis(find_network(G, "ftm")(wa, lb.ws), noise=lb.noise)
    assert np.array_equal(r.result, to_uint8(want)[0]) and "FTM swap" in r.info
    # blend on v1 too: the same handler, the network named
    a, b = handlers.generate(model, "synthheads", 1), handlers.generate(model, "synthheads", 2, 0.7, "random")
    G = model.get("synthheads").G
    wa, lb = stylegan.load_ws(a.latent_path).ws, stylegan.load_ws(b.latent_path)
    r = swap_handlers.swap(model, "synthheads", a.latent_path, b.latent_path, "blend")
    with torch.no_grad():
        _, mask = find_network(G, "blend")(G, find_network(G, "ftm")(wa, lb.ws), G.synthesis(lb.ws, noise=lb.noise),
                                           lb.noise)
    m = mask[0, 0].numpy()
    outside = m < 0.01
    assert 0.05 < outside.mean() < 0.95, "the learned mask should leave part of the image to the attribute"
    # output = m * render + (1 - m) * attribute: within m * 2 (the [-1, 1] range) of the attribute, in uint8 levels
    diff = np.abs(r.result.astype(float) - b.image.astype(float)).max(axis=2)
    assert (diff[outside] <= m[outside] * 255 + 1).all() and "BLEND swap" in r.info


def test_swap_tab_offers_the_methods_trained_for_the_network_shown(model):
    import gradio as gr

    from demos.app import build
    from edits.swap import trained_methods

    assert model.get().G is model.get("synthheads128").G  # the demo opens on v2, the default
    assert trained_methods(model.get().G) == ["lcr", "ftm", "blend", "inject"]  # v2: every method
    assert trained_methods(stylegan.load("synthheads")) == ["lcr", "ftm", "blend"]  # v1: no inject
    app = build(model)  # built, not launched
    radio = next(b for b in app.blocks.values() if isinstance(b, gr.Radio) and b.elem_id == "swap-method")
    assert [v for _, v in radio.choices] == ["lcr", "ftm", "blend", "inject"] and "inject" in radio.info


def test_swap_errors_are_readable(model, examples, tmp_path, tiny_G, monkeypatch):
    from demos import swap_handlers
    from edits.swap import SwapUntrainedError

    g = handlers.generate(model, None, 0).latent_path
    with monkeypatch.context() as m:  # a network without trained swap weights
        m.setattr("edits.swap.api._entry_path", lambda G, method: None)
        for method in ("ftm", "blend", "inject"):
            with pytest.raises(SwapUntrainedError, match=f"swap method '{method}' is not trained .*'lcr' needs no"):
                swap_handlers.swap(model, None, g, g, method)
    with pytest.raises(ValueError, match="unknown swap method 'megafs'"):
        swap_handlers.swap(model, None, g, g, "megafs")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(inversion.ImageReadError, match="identity: cannot read .*notes.png: not an image file"):
        swap_handlers.swap(model, None, tmp_path / "notes.png", g, steps=1)
    Image.fromarray(np.full((96, 128, 3), 200, np.uint8)).save(tmp_path / "wall.png")
    with pytest.raises(inversion.NoFaceError, match="attribute: no face found in .*wall.png"):
        swap_handlers.swap(model, None, g, tmp_path / "wall.png", steps=1)
    other = stylegan.save_ws(tmp_path / "other.npz", torch.zeros(1, tiny_G.num_ws, tiny_G.w_dim))
    with pytest.raises(stylegan.LatentFileError, match="other.npz: .*made for another generator"):
        swap_handlers.swap(model, None, other, g)
    with pytest.raises(ValueError, match="no attribute: upload a photo or a latent"):
        swap_handlers.swap(model, None, g, None)
