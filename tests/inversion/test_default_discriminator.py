"""The library default finds a shipped model's discriminator itself (as it finds its encoder), so `sgt project`,
`swap()`, the data builders and the protocols invert alike; other generators keep the pixel loss."""
from __future__ import annotations

import pytest
import torch

import stylegan
from conftest import make_tiny_G
from inversion import project
from inversion.losses import find_vgg_weights
from inversion.projection import default_signature

pytestmark = pytest.mark.skipif(find_vgg_weights() is not None, reason="LPIPS weights present: 'auto' is LPIPS")


def test_find_discriminator_matches_by_fingerprint_only():
    G = stylegan.load("synthheads")
    D = stylegan.find_discriminator(G)
    ref = stylegan.load_discriminator("synthheads")
    assert D is not None and D.img_resolution == G.img_resolution
    assert all(torch.equal(a, b) for a, b in zip(D.state_dict().values(), ref.state_dict().values()))
    assert stylegan.find_discriminator(stylegan.load("synthheads128")).img_resolution == 128
    assert stylegan.find_discriminator(make_tiny_G(0)) is None and stylegan.discriminator_path(make_tiny_G(0)) is None
    from sgtcore import registry

    assert stylegan.discriminator_path(G) == registry.find("generator", "synthheads") / "discriminator"
    changed = stylegan.load("synthheads")
    with torch.no_grad():
        changed.synthesis.b4.conv1.weight.add_(1.0)  # no longer the shipped model: not its discriminator
    assert stylegan.find_discriminator(changed) is None


def test_project_default_uses_the_found_discriminator(tmp_path):
    G = stylegan.load("synthheads")
    target = G(torch.zeros(1, G.z_dim)).clamp(-1, 1)
    r = project(G, target, steps=1, progress=False)
    assert r.loss_name == "dfeat+l2+msssim" and default_signature(G).endswith("/dfeat")
    assert project(G, target, steps=1, progress=False, loss="l2+msssim").loss_name == "l2+msssim"
    tiny = make_tiny_G(0)
    assert project(tiny, tiny(torch.zeros(1, tiny.z_dim)), steps=1, progress=False).loss_name == "l2+msssim"
    assert default_signature(tiny).endswith("/pixels") and default_signature(tiny) != default_signature(G)


def test_a_damaged_registered_model_is_skipped_with_a_warning(tmp_path):
    from sgtcore import registry

    bad = tmp_path / "broken"
    (bad / "discriminator").mkdir(parents=True)
    (bad / "config.json").write_text("{not json")
    registry.register("generator", "broken_for_test", bad)
    try:
        with pytest.warns(UserWarning, match="skipped while looking for G's discriminator"):
            assert stylegan.find_discriminator(make_tiny_G(0)) is None
        assert stylegan.find_discriminator(stylegan.load("synthheads")) is not None  # the others still found
    finally:
        registry.unregister("generator", "broken_for_test")
