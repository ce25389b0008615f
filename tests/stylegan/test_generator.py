"""Generator and discriminator behaviour: shapes, truncation, S space, features, noise, errors."""
import numpy as np
import pytest
import torch
from conftest import SMALL

from stylegan import Discriminator, Generator, GeneratorConfig
from stylegan.layers import MinibatchStdLayer


@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    g = Generator(**SMALL).eval()
    with torch.no_grad():
        g.mapping.w_avg.copy_(torch.randn(32))
        for name, p in g.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.3)
    return g


@pytest.mark.parametrize("res,num_ws", [(8, 4), (64, 10), (256, 14), (512, 16), (1024, 18)])
def test_num_ws_matches_official(res, num_ws):
    assert GeneratorConfig(img_resolution=res).num_ws == num_ws


def test_config_f_channels_and_size():
    cfg = GeneratorConfig()
    assert [cfg.channels_at(r) for r in (4, 32, 64, 128, 256, 512, 1024)] == [512, 512, 512, 256, 128, 64, 32]
    with pytest.raises(ValueError, match="power of two"):
        GeneratorConfig(img_resolution=96)


def test_forward_shapes_and_attributes(G):
    z = torch.randn(3, 32)
    ws = G.mapping(z)
    assert ws.shape == (3, G.num_ws, G.w_dim)
    img = G.synthesis(ws)
    assert img.shape == (3, 3, 32, 32) and img.dtype == torch.float32
    assert torch.equal(G(z), img)
    assert G.w_avg.shape == (32,)


def test_truncation_is_lerp_towards_w_avg(G):
    z = torch.randn(2, 32)
    w1 = G.mapping(z)
    w07 = G.mapping(z, truncation_psi=0.7)
    assert torch.allclose(w07, G.w_avg + 0.7 * (w1 - G.w_avg), atol=1e-6)
    wc = G.mapping(z, truncation_psi=0.0, truncation_cutoff=3)
    assert torch.allclose(wc[:, :3], G.w_avg.expand(2, 3, -1)) and torch.equal(wc[:, 3:], w1[:, 3:])


def test_styles_round_trip_and_edit(G):
    ws = G.mapping(torch.randn(2, 32))
    styles = G.synthesis.ws_to_styles(ws)
    assert len(styles) == 7 + 4  # every conv (1 + 2 * 3) and every ToRGB (4) has its own affine
    assert styles["b4.conv1"].shape == (2, 32) and styles["b32.torgb"].shape == (2, 16)
    assert torch.equal(G.synthesis(styles=styles), G.synthesis(ws))
    edited = dict(styles)
    edited["b16.conv1"] = edited["b16.conv1"].clone()
    edited["b16.conv1"][:, 0] += 5.0
    assert not torch.allclose(G.synthesis(styles=edited), G.synthesis(ws))


def test_return_features(G):
    ws = G.mapping(torch.randn(2, 32))
    img, feats = G.synthesis(ws, return_features=True)
    assert sorted(feats) == [4, 8, 16, 32]
    assert feats[16].shape == (2, 32, 16, 16) and feats[32].shape == (2, 16, 32, 32)
    assert torch.equal(img, G.synthesis(ws))


def test_noise_modes(G):
    ws = G.mapping(torch.randn(1, 32))
    const1, const2 = G.synthesis(ws, noise_mode="const"), G.synthesis(ws, noise_mode="const")
    assert torch.equal(const1, const2)
    torch.manual_seed(1)
    r1 = G.synthesis(ws, noise_mode="random")
    r2 = G.synthesis(ws, noise_mode="random")
    assert not torch.equal(r1, r2)
    assert not torch.equal(G.synthesis(ws, noise_mode="none"), const1)


def test_bad_inputs(G):
    with pytest.raises(ValueError, match="z must have shape \\[\\*, 32\\]"):
        G.mapping(torch.randn(2, 31))
    with pytest.raises(ValueError, match="ws must have shape \\[\\*, 8, 32\\]"):
        G.synthesis(torch.randn(1, 7, 32))
    with pytest.raises(ValueError, match="noise_mode"):
        G.synthesis(G.mapping(torch.randn(1, 32)), noise_mode="loud")


def test_conditional_mapping():
    G = Generator(**{**SMALL, "c_dim": 4})
    c = torch.nn.functional.one_hot(torch.tensor([0, 3]), 4).float()
    z = torch.randn(1, 32).repeat(2, 1)
    ws = G.mapping(z, c)
    assert not torch.allclose(ws[0], ws[1])
    with pytest.raises(ValueError, match="conditional"):
        G.mapping(z)


def test_w_avg_tracking():
    G = Generator(**SMALL)
    z = torch.randn(64, 32)
    G.mapping(z, update_emas=True)
    w = G.mapping(z)[:, 0]
    assert torch.allclose(G.w_avg, (1 - 0.995) * w.mean(0), atol=1e-5)


def test_grads_flow_to_ws():
    G = Generator(**SMALL)
    ws = G.mapping(torch.randn(2, 32)).detach().requires_grad_(True)
    G.synthesis(ws).square().mean().backward()
    assert ws.grad is not None and ws.grad.abs().sum() > 0


def test_discriminator_and_features():
    D = Discriminator(img_resolution=32, channel_base=512, channel_max=32)
    x = torch.randn(4, 3, 32, 32)
    logits, feats = D(x, return_features=True)
    assert logits.shape == (4, 1) and sorted(feats) == [4, 8, 16]
    assert feats[16].shape == (4, 32, 16, 16)
    with pytest.raises(ValueError, match="img must have shape"):
        D(torch.randn(4, 3, 16, 16))
    # R1 needs second-order gradients through D
    x.requires_grad_(True)
    (g,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    g.square().sum().backward()


def test_minibatch_std_matches_formula():
    x = torch.randn(8, 6, 3, 3, dtype=torch.float64)
    y = MinibatchStdLayer(group_size=4)(x)
    assert y.shape == (8, 7, 3, 3)
    groups = x.reshape(4, 2, 6, 3, 3)  # sample i belongs to group i % 2
    expected = groups.std(dim=0, unbiased=False).mean(dim=[1, 2, 3])  # [2]
    got = y[:, 6, 0, 0].reshape(4, 2)[0]
    assert torch.allclose(got, expected, atol=1e-6)


def test_inference_fast_path_matches_autograd_path(G):
    """Without autograd the CPU path overwrites its own intermediates; the images and the returned
    features must equal those of the out-of-place (autograd) computation, call after call."""
    ws = G.mapping(torch.randn(2, G.z_dim)).detach()
    with torch.no_grad():
        a = G.synthesis(ws)
        b, feats = G.synthesis(ws, return_features=True)
        c = G.synthesis(ws)
    ref, ref_feats = G.synthesis(ws.clone().requires_grad_(True), return_features=True)
    assert torch.allclose(a, ref, atol=1e-5) and torch.equal(a, b) and torch.equal(a, c)
    for res, f in feats.items():
        assert torch.allclose(f, ref_feats[res], atol=1e-5), res
