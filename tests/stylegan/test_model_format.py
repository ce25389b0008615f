"""Generators in the one model format and the registry: `stylegan.fingerprint`, `stylegan.load(name)`,
`stylegan.register`, float16 storage, and the folder layout shipped before `kind` existed."""
import json
from pathlib import Path

import pytest
import torch

import stylegan
from sgtcore import registry
from conftest import make_tiny_G

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def synthheads():
    return stylegan.load("synthheads")


def test_fingerprint_is_frozen_for_the_shipped_generator(synthheads):
    # the shipped encoder records this value: the algorithm must never change
    assert stylegan.fingerprint(synthheads) == synthheads.fingerprint() == "5184caac4bde2d83"


def test_fingerprint_follows_weight_changes():
    G, other = make_tiny_G(0), make_tiny_G(1)
    fp = stylegan.fingerprint(G)
    assert fp == stylegan.fingerprint(make_tiny_G(0)) != stylegan.fingerprint(other)
    with torch.no_grad():
        G.synthesis.b4.conv1.weight.add_(1)  # an in-place change invalidates the cached value
    assert stylegan.fingerprint(G) != fp
    G.load_state_dict(make_tiny_G(0).state_dict())
    assert stylegan.fingerprint(G) == fp
    G.load_state_dict(other.state_dict())
    assert stylegan.fingerprint(G) == stylegan.fingerprint(other)


def test_shipped_layout_before_kind_loads_by_name(synthheads):
    cfg = json.loads((ROOT / "stylegan" / "weights" / "synthheads" / "config.json").read_text())
    assert "kind" not in cfg and cfg["format_version"] == 1  # the layout this test keeps readable
    assert registry.find("generator", "synthheads") == ROOT / "stylegan" / "weights" / "synthheads"
    assert synthheads.img_resolution == 64 and not synthheads.training
    assert isinstance(stylegan.load_discriminator("synthheads"), stylegan.Discriminator)


def test_register_a_user_generator_by_name(tmp_path):
    G = make_tiny_G(3)
    stylegan.save_pretrained(G, tmp_path / "tiny", metadata={"note": "test"})
    try:
        stylegan.register("tiny-test", tmp_path / "tiny")
        assert "tiny-test" in stylegan.registered_names() and "synthheads" in stylegan.registered_names()
        assert stylegan.fingerprint(stylegan.load("tiny-test")) == stylegan.fingerprint(G)
        assert registry.entries("generator")[0].metadata == {"note": "test"}
    finally:
        registry.unregister("generator", "tiny-test")
    with pytest.raises(FileNotFoundError, match="registered names: synthheads"):
        stylegan.load("tiny-test")


def test_half_storage_and_resave_keep_w_avg_and_the_discriminator(tmp_path):
    G = make_tiny_G(0)
    out = stylegan.save_pretrained(G, tmp_path / "g", half=True)
    stylegan.save_pretrained(stylegan.Discriminator(img_resolution=32, channel_base=512, channel_max=32),
                             out / "discriminator")
    G2 = stylegan.load(out)
    assert torch.equal(G2.w_avg, G.w_avg) and G2.synthesis.b4.conv1.weight.dtype == torch.float32
    assert (G2.synthesis.b4.conv1.weight - G.synthesis.b4.conv1.weight).abs().max() < 1e-2
    stylegan.save_pretrained(G, out)  # replacing G keeps the discriminator beside it
    assert isinstance(stylegan.load_discriminator(out), stylegan.Discriminator)
    assert json.loads((out / "config.json").read_text())["kind"] == "generator"


def test_another_kind_of_model_folder_is_refused(tmp_path):
    from sgtcore import modelio

    modelio.save(modelio.Bundle("LinearDirection", "edit", {"d": torch.zeros(3)}), tmp_path / "edit")
    with pytest.raises(stylegan.ArchitectureMismatchError, match="holds a LinearDirection \\(edit\\)"):
        stylegan.load(tmp_path / "edit")
