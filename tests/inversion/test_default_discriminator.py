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


def test_the_found_loss_is_built_once_and_rebuilt_when_d_changes(tmp_path, monkeypatch):
    """Projections without D= reuse one feature loss (no reload and copy of D per call), and a retrained D
    (newer weights file) or another device is a new one."""
    import os
    import shutil

    from inversion import projection
    from sgtcore import registry

    G = stylegan.load("synthheads")
    loads = []
    real = projection.find_discriminator
    monkeypatch.setattr(projection, "find_discriminator", lambda g: loads.append(1) or real(g))
    projection._FOUND_LOSS.clear()
    target = G(torch.zeros(1, G.z_dim)).clamp(-1, 1)
    a = project(G, target, steps=1, progress=False)
    b = project(G, target, steps=1, progress=False)
    assert len(loads) == 1 and projection.found_feature_loss(G) is projection.found_feature_loss(G)
    assert a.loss_name == b.loss_name == "dfeat+l2+msssim" and torch.equal(a.ws, b.ws)
    # a retrained D (newer weights file) is built anew, the unchanged one is not
    copy = tmp_path / "discriminator"
    shutil.copytree(registry.find("generator", "synthheads") / "discriminator", copy)
    monkeypatch.setattr(projection, "discriminator_path", lambda g: copy)
    first = projection.found_feature_loss(G)
    assert len(loads) == 2 and projection.found_feature_loss(G) is first
    weights = copy / "model.safetensors"
    os.utime(weights, (weights.stat().st_mtime + 10,) * 2)
    assert projection.found_feature_loss(G) is not first and len(loads) == 3
