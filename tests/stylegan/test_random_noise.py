"""`noise_mode="random"` by value: per-sample maps, scaled by `noise_strength`, drawn as NVlabs draws
them (`torch.randn([N, 1, r, r])` per layer, in forward order)."""
import math

import pytest
import torch
from conftest import make_tiny_G

from stylegan.layers import SynthesisLayer


def _pre_activation(out, bias):
    """Invert bias + leaky ReLU(0.2) x sqrt(2) (no clamp): the conv output plus noise."""
    v = out / math.sqrt(2)
    v = torch.where(v >= 0, v, v / 0.2)
    return v - bias.reshape(1, -1, 1, 1)


@pytest.mark.parametrize("strength", [0.0, 0.37, -1.5])
def test_random_noise_is_strength_times_independent_per_sample_maps(strength):
    torch.manual_seed(0)
    layer = SynthesisLayer(8, 6, w_dim=8, resolution=16, up=2).eval()
    with torch.no_grad():
        layer.noise_strength.fill_(strength)
        layer.bias.normal_()
    n = 4
    x, styles = torch.randn(n, 8, 8, 8), torch.randn(n, 8) + 1
    with torch.no_grad():
        none = layer(x, styles, noise_mode="none")
        torch.manual_seed(123)
        rand = layer(x, styles, noise_mode="random")
    diff = _pre_activation(rand, layer.bias) - _pre_activation(none, layer.bias)  # [N, O, r, r]
    torch.manual_seed(123)
    expected = strength * torch.randn(n, 1, 16, 16).double()  # drawn here, independently
    assert (diff.double() - expected).abs().max().item() <= 1e-4 * max(1.0, abs(strength))
    # the same map for every channel of a sample, a different one for every sample
    assert torch.allclose(diff, diff[:, :1].expand_as(diff), atol=1e-4)
    if strength:
        maps = diff[:, 0].reshape(n, -1)
        corr = torch.corrcoef(maps)
        assert (corr - torch.eye(n)).abs().max() < 0.3, corr  # 256 values each: independent draws


def test_generator_random_noise_equals_explicit_maps_drawn_in_forward_order():
    G = make_tiny_G(0)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.5)
    ws = G.mapping(torch.randn(3, 32))
    shapes = G.synthesis.noise_shapes()
    with torch.no_grad():
        torch.manual_seed(7)
        rand = G.synthesis(ws, noise_mode="random")
        torch.manual_seed(7)
        maps = {k: torch.randn(3, 1, *rs) for k, rs in shapes.items()}  # dict order = forward order
        explicit = G.synthesis(ws, noise=maps)
        torch.manual_seed(7)
        shared = G.synthesis(ws, noise={k: v[:1].expand(3, 1, *v.shape[2:]) for k, v in
                                        {k: torch.randn(1, 1, *rs) for k, rs in shapes.items()}.items()})
    assert (rand - explicit).abs().max().item() <= 1e-5
    assert (rand - shared).abs().max().item() > 1e-3
