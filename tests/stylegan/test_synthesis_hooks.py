"""`G.synthesis(ws, noise=..., blend=...)`: explicit per-image noise maps and feature blending.

References are independent of the new arguments: noise maps written into the `noise_const` buffers and
rendered in 'const' mode, and blending re-run block by block with the formula written out."""
import copy

import pytest
import torch
from conftest import make_tiny_G


@pytest.fixture(scope="module")
def G():
    g = make_tiny_G(0)
    with torch.no_grad():  # noise strengths start at 0: make noise matter, differently per layer
        for name, p in g.named_parameters():
            if name.endswith("noise_strength"):
                p.uniform_(0.2, 0.6)
    return g


def _ws(G, n, seed=1):
    return G.mapping(torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))).detach()


def _maps(G, lead=(), seed=2):
    gen = torch.Generator().manual_seed(seed)
    return {name: torch.randn(*lead, *shape, generator=gen) for name, shape in G.synthesis.noise_shapes().items()}


def _with_buffers(G, maps, zero_others=False):
    """A copy of G whose `noise_const` buffers hold `maps` (the other buffers zeroed if asked)."""
    g = copy.deepcopy(G)
    buffers = dict(g.synthesis.named_buffers())
    with torch.no_grad():
        for name in g.synthesis.noise_shapes():
            if name in maps:
                buffers[name].copy_(maps[name])
            elif zero_others:
                buffers[name].zero_()
    return g


def test_noise_names_are_the_buffer_names(G):
    buffers = {n: tuple(b.shape) for n, b in G.synthesis.named_buffers() if n.endswith("noise_const")}
    assert G.synthesis.noise_shapes() == buffers
    assert list(buffers)[:2] == ["b4.conv1.noise_const", "b8.conv0.noise_const"]


@pytest.mark.parametrize("path", ["scaled", "grouped"])
@pytest.mark.parametrize("mode", ["const", "random", "none"])
def test_shared_maps_equal_buffers_in_const_mode(G, path, mode):
    ws, maps = _ws(G, 3), _maps(G)
    with torch.no_grad():
        got = G.synthesis(ws, noise=maps, noise_mode=mode, path=path)
        want = _with_buffers(G, maps).synthesis(ws, noise_mode="const", path=path)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


def test_some_layers_given_others_follow_noise_mode(G):
    ws, maps = _ws(G, 2), _maps(G)
    some = {k[:-len(".noise_const")]: v for k, v in maps.items() if k.startswith(("b8.", "b32.conv1"))}
    with torch.no_grad():
        got = G.synthesis(ws, noise=some, noise_mode="none")  # names without the suffix work too
        want = _with_buffers(G, {k + ".noise_const": v for k, v in some.items()}, zero_others=True).synthesis(ws)
        assert not torch.allclose(got, G.synthesis(ws, noise_mode="none"), atol=1e-3)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


@pytest.mark.parametrize("lead", [(3,), (3, 1)], ids=["N_r_r", "N_1_r_r"])
def test_per_image_maps_equal_one_buffer_render_per_image(G, lead):
    ws, maps = _ws(G, 3), _maps(G, lead)
    with torch.no_grad():
        got = G.synthesis(ws, noise=maps)
        for i in range(3):
            gi = _with_buffers(G, {k: v[i].reshape(v.shape[-2:]) for k, v in maps.items()})
            # batch 1 vs 3 picks other conv algorithms: fp32 sums differ by ~1e-6
            torch.testing.assert_close(got[i:i + 1], gi.synthesis(ws[i:i + 1]), atol=1e-5, rtol=0)


def test_per_image_maps_differ_per_sample_and_shared_ones_do_not(G):
    ws = _ws(G, 1).repeat(2, 1, 1)  # the same w twice: only the noise can tell them apart
    with torch.no_grad():
        per = G.synthesis(ws, noise=_maps(G, (2, 1)))
        shared = G.synthesis(ws, noise=_maps(G))
    assert (per[0] - per[1]).abs().max() > 1e-2
    torch.testing.assert_close(shared[0], shared[1], atol=1e-6, rtol=0)


def test_generator_call_passes_noise_through(G):
    z, maps = torch.randn(2, G.z_dim), _maps(G)
    with torch.no_grad():
        torch.testing.assert_close(G(z, noise=maps), G.synthesis(G.mapping(z), noise=maps), atol=1e-6, rtol=0)


def test_gradients_reach_the_maps_and_inputs_are_not_written(G):
    maps = {k: v.requires_grad_(True) for k, v in _maps(G, (2, 1)).items()}
    G.synthesis(_ws(G, 2), noise=maps).square().mean().backward()
    assert all(v.grad is not None and v.grad.abs().sum() > 0 for v in maps.values())
    maps = _maps(G)
    before = {k: v.clone() for k, v in maps.items()}
    with torch.no_grad():  # the in-place inference path must not touch the caller's maps
        G.synthesis(_ws(G, 2), noise=maps)
    assert all(torch.equal(maps[k], before[k]) for k in maps)


def test_noise_gradcheck_float64():
    g = make_tiny_G(0, img_resolution=8, channel_max=4).double()
    with torch.no_grad():
        for name, p in g.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.4)
    ws = _ws(g, 2).double()
    m = torch.randn(2, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda m: g.synthesis(ws, noise={"b4.conv1": m}), (m,), fast_mode=True)


# ---- blending ------------------------------------------------------------------------------------------

def _manual(G, ws, res_blend, features, mask, img_b=None):
    """Synthesis re-run block by block, with `mask * features + (1 - mask) * x` written out after `res_blend`."""
    styles = G.synthesis.ws_to_styles(ws)
    x = img = None
    for res in G.synthesis.block_resolutions:
        block_styles = {k.split(".")[1]: v for k, v in styles.items() if k.startswith(f"b{res}.")}
        x, img = getattr(G.synthesis, f"b{res}")(x, img, block_styles, "const", False, "auto")
        if res == res_blend:
            x = mask * features + (1 - mask) * x
            if img_b is not None:
                img = mask * img_b + (1 - mask) * img
    return img


def test_blend_mask_zero_is_identity(G):
    ws = _ws(G, 2)
    with torch.no_grad():
        base, feats = G.synthesis(ws, return_features=True)
        for res in G.synthesis.block_resolutions:
            f = torch.randn_like(feats[res])
            img_b = torch.randn(2, 3, res, res)
            got = G.synthesis(ws, blend={res: (f, torch.zeros(1, 1, res, res), img_b)})
            torch.testing.assert_close(got, base, atol=1e-6, rtol=0)


def test_blend_mask_one_at_last_resolution_gives_that_image(G):
    ws, r = _ws(G, 2), G.img_resolution
    target = torch.rand(2, 3, r, r) * 2 - 1
    with torch.no_grad():
        _, feats = G.synthesis(ws, return_features=True)
        got = G.synthesis(ws, blend={r: (feats[r], torch.ones(2, 1, r, r), target)})
    torch.testing.assert_close(got, target, atol=1e-6, rtol=0)


@pytest.mark.parametrize("with_img", [False, True])
def test_blend_at_intermediate_res_equals_manual_rerun(G, with_img):
    ws = _ws(G, 2)
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        base, feats = G.synthesis(ws, return_features=True)
        f8 = feats[8] + torch.randn(feats[8].shape, generator=gen)  # modified features of another "image"
        mask = torch.rand(2, 1, 8, 8, generator=gen)
        img_b = torch.randn(2, 3, 8, 8, generator=gen) if with_img else None
        entry = (f8, mask, img_b) if with_img else (f8, mask)
        got, got_feats = G.synthesis(ws, blend={8: entry}, return_features=True)
        want = _manual(G, ws, 8, f8, mask, img_b)
        from_styles = G.synthesis(styles=G.synthesis.ws_to_styles(ws), blend={8: entry})
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    torch.testing.assert_close(from_styles, got, atol=1e-6, rtol=0)
    torch.testing.assert_close(got_feats[8], mask * f8 + (1 - mask) * feats[8], atol=1e-6, rtol=0)
    assert (got_feats[16] - feats[16]).abs().max() > 1e-3 and (got - base).abs().max() > 1e-3


@pytest.mark.parametrize("return_features", [False, True])
def test_blend_gradients_and_caller_tensors_untouched(G, return_features):
    ws = _ws(G, 2).requires_grad_(True)
    f = torch.randn(2, 32, 16, 16, requires_grad=True)
    mask = torch.rand(1, 1, 16, 16).requires_grad_(True)
    img_b = torch.randn(2, 3, 16, 16, requires_grad=True)
    out = G.synthesis(ws, blend={16: (f, mask, img_b)}, return_features=return_features)
    img = out[0] if return_features else out
    img.square().mean().backward()
    for t in (ws, f, mask, img_b):
        assert t.grad is not None and t.grad.abs().sum() > 0
    inputs = [t.detach().clone() for t in (f, mask, img_b)]
    copies = [t.clone() for t in inputs]
    with torch.no_grad():  # inference path: consume_input / overwrite_input must leave them alone
        G.synthesis(ws.detach(), blend={16: tuple(inputs), 8: (torch.randn(1, 32, 8, 8), torch.rand(1, 1, 8, 8))},
                    return_features=return_features)
    assert all(torch.equal(a, b) for a, b in zip(inputs, copies))


def test_blend_gradcheck_float64():
    g = make_tiny_G(0, img_resolution=8, channel_max=4).double()
    ws = _ws(g, 1).double()
    f = torch.randn(1, 4, 4, 4, dtype=torch.float64, requires_grad=True)
    m = torch.rand(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f, m: g.synthesis(ws, blend={4: (f, m)}), (f, m), fast_mode=True)


# ---- bad inputs -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("noise,match", [
    ({"b8.conv2.noise_const": torch.zeros(8, 8)}, r"no noise layer 'b8.conv2.noise_const'.*b4.conv1.noise_const"),
    ({"b8.conv0": torch.zeros(16, 16)}, r"noise\['b8.conv0'\].*\[8, 8\].*\[N, 1, 8, 8\] with N = 2.*\[16, 16\]"),
    ({"b8.conv0": torch.zeros(3, 8, 8)}, r"\[N, 8, 8\].*N = 2.*got \[3, 8, 8\]"),
    ({"b8.conv0": torch.zeros(2, 2, 8, 8)}, r"\[N, 1, 8, 8\].*got \[2, 2, 8, 8\]"),
    ({"b8.conv0": torch.zeros(8, 8, dtype=torch.long)}, r"float map.*torch.int64"),
    ({"b8.conv0": torch.zeros(8, 8), "b8.conv0.noise_const": torch.zeros(8, 8)}, "given twice"),
])
def test_bad_noise_raises(G, noise, match):
    with pytest.raises(ValueError, match=match):
        G.synthesis(_ws(G, 2), noise=noise)


@pytest.mark.parametrize("blend,match", [
    ({12: (torch.zeros(2, 32, 12, 12), torch.zeros(2, 1, 12, 12))}, r"no block at resolution 12.*\[4, 8, 16, 32\]"),
    ({8: torch.zeros(2, 32, 8, 8)}, r"\(features, mask\) or \(features, mask, img\)"),
    ({8: (torch.zeros(2, 16, 8, 8), torch.zeros(2, 1, 8, 8))}, r"blend\[8\] features.*\[2 \(or 1\), 32, 8, 8\].*\[2, 16, 8, 8\]"),
    ({8: (torch.zeros(2, 32, 8, 8), torch.zeros(2, 3, 8, 8))}, r"blend\[8\] mask.*\[2 \(or 1\), 1, 8, 8\]"),
    ({8: (torch.zeros(3, 32, 8, 8), torch.zeros(1, 1, 8, 8))}, r"blend\[8\] features.*got \[3, 32, 8, 8\]"),
    ({8: (torch.zeros(2, 32, 8, 8), torch.zeros(1, 1, 8, 8), torch.zeros(2, 3, 16, 16))}, r"blend\[8\] img.*\[2 \(or 1\), 3, 8, 8\]"),
])
def test_bad_blend_raises(G, blend, match):
    with pytest.raises(ValueError, match=match):
        G.synthesis(_ws(G, 2), blend=blend)
