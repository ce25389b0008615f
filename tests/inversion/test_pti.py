"""Pivotal tuning: better reconstruction than the pivot, a small delta file, exact reload."""
from __future__ import annotations

import pytest
import torch

import stylegan
from inversion.losses import psnr
from inversion.projection import project
from inversion.pti import DeltaMismatchError, apply_delta, load_delta, pivotal_tuning
from conftest import SMALL



def test_pti_improves_on_the_pivot_and_saves_a_small_delta(tmp_path):
    torch.manual_seed(0)
    G = stylegan.Generator(**SMALL).eval()
    other = stylegan.Generator(**SMALL).eval()
    with torch.no_grad():
        target = other(torch.randn(1, 32))  # another generator's image: not reachable by G's latents alone
    pivot = project(G, target, space="w", steps=40, loss="l2+msssim", candidates=8, w_noise=0.0, progress=False)
    before = {k: v.clone() for k, v in G.state_dict().items()}
    delta = pivotal_tuning(G, target, pivot.ws, steps=40, loss="l2+msssim", progress=False)
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())
    p_pivot, p_tuned = float(psnr(pivot.image, target)), float(psnr(delta.image, target))
    assert p_tuned > p_pivot + 1.5, (p_pivot, p_tuned)

    path = delta.save(tmp_path / "delta")
    stylegan.save_pretrained(G, tmp_path / "full")
    size, full_size = (sum(p.stat().st_size for p in (tmp_path / d).iterdir()) for d in ("delta", "full"))
    assert size < full_size / 3, (size, full_size)

    tuned = apply_delta(G, path)
    with torch.no_grad():
        img = tuned.synthesis(pivot.ws, noise_mode="const")
    assert torch.allclose(img, delta.image, atol=1e-4)
    assert torch.equal(load_delta(path).pivot, pivot.ws)
    with pytest.raises(DeltaMismatchError, match="same --network"):
        apply_delta(other, path)
    with pytest.raises(stylegan.UnknownFormatError, match="not a PTI delta"):
        load_delta(tmp_path / "full" / "model.safetensors")
    with pytest.raises(stylegan.ArchitectureMismatchError, match="holds a Generator"):
        load_delta(tmp_path / "full")


def test_pti_renders_with_the_projection_noise_maps(tiny_G):
    with torch.no_grad():
        for name, p in tiny_G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.5)
        pivot = tiny_G.mapping(torch.randn(1, 32))
        noise = {n: torch.randn(s) for n, s in tiny_G.synthesis.noise_shapes().items()}
        want = tiny_G.synthesis(pivot, noise=noise)
    delta = pivotal_tuning(tiny_G, want, pivot, noise=noise, steps=1, lr=0.0, loss="l2", progress=False)
    torch.testing.assert_close(delta.image, want, atol=1e-6, rtol=0)
    assert (delta.image - tiny_G.synthesis(pivot).detach()).abs().max() > 1e-2
