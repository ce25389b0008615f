"""Projection into W / W+: honest reconstruction checks on a tiny random generator, input guards,
the NVlabs schedule, and that G is never modified."""
from __future__ import annotations

import warnings
from dataclasses import asdict

import numpy as np
import pytest
import torch

import inversion
import stylegan
from inversion.losses import make_loss, ms_ssim, psnr, ssim
from inversion.projection import (ProjectionError, TargetResizedWarning, lr_schedule, noise_buffers,
                                  noise_regularizer, prepare_target, project, render, resolve_settings, w_stats)
from conftest import SMALL



@pytest.fixture(scope="module")
def G():
    torch.manual_seed(0)
    return stylegan.Generator(**SMALL).eval()


@pytest.fixture(scope="module")
def targets(G):
    torch.manual_seed(1)
    with torch.no_grad():
        w_in = G.mapping(torch.randn(1, 32))
        a, b = G.mapping(torch.randn(2, 32)).split(1)
        w_out = torch.cat([a[:, :4], b[:, 4:]], 1)  # style mix: in W+ but not in W
        return {"in_w": (w_in, G.synthesis(w_in)), "mixed": (w_out, G.synthesis(w_out))}


def test_w_projection_recovers_a_generated_image(G, targets):
    _, target = targets["in_w"]
    r = project(G, target, space="w", steps=80, loss="l2+msssim", preset="nvlabs", progress=False)
    start, end = r.history["psnr"][0], float(psnr(r.image, target))
    assert end > start + 8 and end > 22, (start, end)
    assert r.ws.shape == (1, G.num_ws, G.w_dim)
    assert torch.equal(r.ws[:, 0], r.ws[:, -1])  # W: one w for all layers
    assert r.loss_name == "l2+msssim" and len(r.history["loss"]) == 80 and r.history["space"] == "w"
    mse0 = (render(G, w_stats(G)[0].expand(-1, G.num_ws, -1)) - target).square().mean()
    assert (r.image - target).square().mean() < 0.1 * mse0


def test_presets_fill_in_what_is_not_given(G):
    enc = inversion.encoder_for(G)
    auto, e = resolve_settings(G)  # no encoder is registered for a fresh tiny G
    assert e is None and asdict(auto) == dict(preset="auto", space="w+", steps=200, init="w_avg", candidates=16,
                                               lr=0.1, w_noise=0.0, identity=None, id_weight=0.0)  # not a shipped G
    from_enc, e = resolve_settings(G, encoder=enc)
    assert e is enc and (from_enc.init, from_enc.lr, from_enc.candidates, from_enc.w_noise, from_enc.steps) == \
        ("encoder", 0.05, 0, 0.0, 50)
    nv, e = resolve_settings(G, "nvlabs", encoder=enc)  # NVlabs ignores an encoder: w_avg start
    assert e is None and asdict(nv) == dict(preset="nvlabs", space="w", steps=1000, init="w_avg", candidates=0,
                                             lr=0.1, w_noise=0.05, identity=None, id_weight=0.0)
    mixed, _ = resolve_settings(G, "nvlabs", space="w+", steps=7, lr=0.3, candidates=4)
    assert (mixed.space, mixed.steps, mixed.lr, mixed.candidates, mixed.w_noise) == ("w+", 7, 0.3, 4, 0.0)
    given, _ = resolve_settings(G, init=torch.zeros(1, G.num_ws, G.w_dim))
    assert (given.init, given.lr, given.candidates, given.steps) == ("ws", 0.05, 0, 50)
    with pytest.raises(ValueError, match="preset"):
        resolve_settings(G, "fast")
    with pytest.raises(ValueError, match="lr"):
        resolve_settings(G, lr=-1.0)


class _Embedder(torch.nn.Module):
    """A small differentiable identity network: `embed(x) -> [N, 256]` (ArcFace's interface)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.conv = torch.nn.Conv2d(3, 16, 5, stride=2)

    def embed(self, x):
        f = torch.nn.functional.adaptive_avg_pool2d(self.conv(x), 4).flatten(1)
        return f - f.mean(1, keepdim=True)  # centred: unrelated images are far apart


def test_identity_term_is_one_minus_cosine_to_the_cached_target(G, targets):
    from inversion.identity_term import IdentityTerm

    torch.manual_seed(0)  # the embedder's weights and the images: the same draw whatever ran before
    net, (_, target) = _Embedder(), targets["in_w"]
    img = torch.randn(3, *target.shape[1:]).clamp(-1, 1)
    term = IdentityTerm(net)
    with pytest.raises(RuntimeError, match="set_target"):
        term(img)
    term.set_target(target)
    a, b = net.embed(img).double(), net.embed(target).double()
    want = 1 - (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))  # float64 formula
    # float32 against float64: 1 - cos of a vector with itself rounds to ~1e-7..1e-6 in float32 (seen failing
    # at 1e-6 once); a wrong formula is off by orders more
    assert torch.allclose(term(img).double(), want, atol=1e-5) and abs(float(term(target))) < 1e-5


def test_identity_term_mirror_option_follows_the_oracles_predict(targets):
    """mirror=False embeds the image alone (oracle.predict(mirror_identity=False)), the default averages it with
    its mirror image (the oracle's measuring default)."""
    from inversion.identity_term import IdentityTerm
    from synthetic import oracle as oracle_mod

    oracle = oracle_mod.load()
    x = targets["mixed"][1].clamp(-1, 1)
    with torch.no_grad():
        one = IdentityTerm(oracle, mirror=False).embed(x)
        both = IdentityTerm(oracle).embed(x)
        want_one = torch.nn.functional.normalize(oracle.predict(x, mirror_identity=False)["identity"], dim=1)
        want_both = torch.nn.functional.normalize(oracle.predict(x)["identity"], dim=1)
    torch.testing.assert_close(one, want_one, rtol=2e-3, atol=2e-4)
    torch.testing.assert_close(both, want_both, rtol=2e-3, atol=2e-4)
    assert float((one - both).abs().max()) > 1e-3

    class OwnPredict(torch.nn.Module):  # a user's network whose predict() takes no mirror keyword
        def predict(self, x):
            return {"identity": x.flatten(1)[:, :8]}

    torch.testing.assert_close(IdentityTerm(OwnPredict()).embed(x),
                               torch.nn.functional.normalize(x.flatten(1)[:, :8], dim=1))


def test_identity_term_in_the_refinement_pulls_the_embedding_and_is_recorded(G, targets):
    from inversion.identity_term import IdentityTerm
    from inversion.losses import ReconstructionLoss

    class NoPixels(ReconstructionLoss):  # isolates the identity term: nothing else moves the code
        name = "none"

        def forward(self, img, target):
            return img.flatten(1).sum(1) * 0

    _, target = targets["mixed"]
    net = _Embedder()
    term = IdentityTerm(net)
    term.set_target(target)
    kw = dict(steps=25, loss=NoPixels(), progress=False, seed=0, encoder=None, init="w_avg")
    start = project(G, target, steps=0, loss=NoPixels(), progress=False, init="w_avg")
    plain = project(G, target, identity=None, **kw)
    pulled = project(G, target, identity=net, id_weight=1.0, **kw)
    s = pulled.history["settings"]
    assert (s["identity"], s["id_weight"]) == ("_Embedder", 1.0) and plain.history["settings"]["identity"] is None
    assert plain.history["identity"] == [0.0] * 25 and len(pulled.history["identity"]) == 25
    with torch.no_grad():
        d0, d_plain, d_pulled = (float(term(r.image)) for r in (start, plain, pulled))
    assert abs(pulled.history["identity"][0] - d0) < 0.05 * d0  # the logged term is the term (same start)
    assert d_pulled < 0.3 * d0 and d_plain > 0.7 * d0, (d0, d_plain, d_pulled)
    assert project(G, target, identity=net, id_weight=0.0, **kw).history["settings"]["identity"] is None


def test_identity_term_refuses_the_judge_and_non_networks(G, targets):
    from synthetic import judge

    _, target = targets["in_w"]
    with pytest.raises(ValueError, match="judge.*never a loss"):
        project(G, target, steps=1, identity=judge.load(), progress=False)
    with pytest.raises(ValueError, match="identity must be"):
        project(G, target, steps=1, identity="arcface", progress=False)
    with pytest.raises(ValueError, match="predict\\(\\) or embed\\(\\)"):
        project(G, target, steps=1, identity=torch.nn.Linear(2, 2), progress=False)
    with pytest.raises(ValueError, match="id_weight"):
        project(G, target, steps=1, identity=_Embedder(), id_weight=-1.0, progress=False)


def test_identity_auto_is_the_oracle_for_shipped_generators_only(G):
    assert resolve_settings(G)[0].identity is None and not stylegan.is_shipped(G)
    shipped = stylegan.load("synthheads")
    assert stylegan.is_shipped(shipped)
    s = resolve_settings(shipped)[0]
    assert (s.identity, s.id_weight) == ("oracle", 0.1)
    assert resolve_settings(shipped, "nvlabs")[0].identity is None
    assert resolve_settings(shipped, identity=None)[0].identity is None
    nv = resolve_settings(shipped, "nvlabs", identity="oracle")[0]  # asked for by name: auto's weight
    assert (nv.identity, nv.id_weight) == ("oracle", 0.1)
    assert resolve_settings(G, identity="oracle")[0].identity == "oracle"


def test_inversion_project_is_the_function_and_records_its_settings(G, targets):
    _, target = targets["in_w"]
    assert callable(inversion.project) and inversion.project is project
    r = inversion.project(G, target, steps=3, progress=False)
    assert r.history["settings"]["space"] == "w+" and r.history["settings"]["init"] == "w_avg"
    assert len(r.history["step"]) == 3 and not torch.equal(r.ws[:, 0], r.ws[:, -1])
    enc = inversion.encoder_for(G)
    r = inversion.project(G, target, steps=0, encoder=enc, progress=False)
    with torch.no_grad():
        assert torch.allclose(r.ws, enc(target)) and r.history["settings"]["init"] == "encoder"


def test_w_plus_beats_w_outside_w(G, targets):
    _, target = targets["mixed"]
    kw = dict(steps=50, loss="l2+msssim", progress=False, candidates=8, w_noise=0.0)
    rw, rp = project(G, target, space="w", **kw), project(G, target, space="w+", **kw)
    err_w, err_p = [(r.image - target).square().mean().item() for r in (rw, rp)]
    assert err_p < 0.7 * err_w, (err_w, err_p)
    assert not torch.equal(rp.ws[:, 0], rp.ws[:, -1])


def test_init_tensor_and_zero_steps(G, targets):
    w, target = targets["mixed"]
    r = project(G, target, space="w+", steps=0, init=w, progress=False)
    assert torch.allclose(r.ws, w) and float(psnr(r.image, target)) > 60
    with pytest.raises(ProjectionError, match="NaN"):
        project(G, target, steps=1, init=torch.full_like(w, float("nan")), progress=False)
    with pytest.raises(ValueError, match="init"):
        project(G, target, steps=1, init="encoder", progress=False)
    with pytest.raises(ValueError, match="space"):
        project(G, target, space="z", steps=1, progress=False)


def test_generator_untouched_and_noise_optimised(G, targets):
    _, target = targets["in_w"]
    G2 = stylegan.Generator(**SMALL).eval()
    G2.load_state_dict(G.state_dict())
    for m in G2.synthesis.modules():
        if hasattr(m, "noise_strength"):
            m.noise_strength.data.fill_(0.2)
    before = {k: v.clone() for k, v in G2.state_dict().items()}
    r = project(G2, target, steps=5, progress=False, loss="l2")
    assert all(torch.equal(before[k], v) for k, v in G2.state_dict().items())
    assert set(r.noise) == {n for n in noise_buffers(G2)}
    for v in r.noise.values():  # renormalised after every step
        assert abs(v.mean().item()) < 1e-4 and abs(v.std(unbiased=False).item() - 1) < 1e-3
    assert r.history["noise_reg"][0] > 0
    assert torch.allclose(render(G2, r.ws, r.noise), r.image, atol=1e-5)


def test_targets_of_every_kind(G, targets, tmp_path):
    _, target = targets["in_w"]
    u8 = stylegan.images.to_uint8(target)[0]
    assert torch.allclose(prepare_target(u8, 32), stylegan.images.from_uint8(u8))
    path = tmp_path / "t.png"
    import PIL.Image

    PIL.Image.fromarray(u8).save(path)
    assert torch.equal(prepare_target(path, 32), prepare_target(u8, 32))
    with pytest.warns(TargetResizedWarning, match="64x48"):
        out = prepare_target(np.zeros((48, 64, 3), np.uint8), 32)
    assert out.shape == (1, 3, 32, 32)
    bad = target.clone()
    bad[0, 0, 0, 0] = float("inf")
    with pytest.raises(ProjectionError, match="NaN/Inf"):
        project(G, bad, steps=1, progress=False)
    with pytest.raises(ProjectionError, match="NaN/Inf"):
        prepare_target(np.full((32, 32, 3), np.nan, np.float32), 32)
    for wrong in (torch.zeros(2, 4, 32, 32), torch.zeros(0, 3, 32, 32), torch.zeros(32, 32)):
        with pytest.raises(ProjectionError, match="must be \\[N, 3, H, W\\]"):
            prepare_target(wrong, 32)
    assert prepare_target(torch.zeros(2, 3, 32, 32), 32).shape == (2, 3, 32, 32)  # a batch of targets


def test_lr_schedule_matches_nvlabs():
    assert lr_schedule(0.0, 0.1) == 0.0
    assert lr_schedule(0.025, 0.1) == pytest.approx(0.05)
    assert lr_schedule(0.5, 0.1) == pytest.approx(0.1)
    assert lr_schedule(0.875, 0.1) == pytest.approx(0.05)
    assert lr_schedule(1.0, 0.1) == pytest.approx(0.0)


def test_w_stats(G):
    mean, std = w_stats(G, num_samples=2000)
    assert mean.shape == (1, 1, 32) and std > 0
    assert torch.allclose(mean[0, 0], G.mapping(torch.randn(4000, 32))[:, 0].mean(0), atol=0.2 * std)


def test_losses_and_metrics(G, targets):
    t = targets["in_w"][1].clamp(-1, 1)
    noisy = (t + 0.1 * torch.randn_like(t)).clamp(-1, 1)
    assert ms_ssim(t, t).item() == pytest.approx(1.0, abs=1e-4) and ssim(t, t).item() == pytest.approx(1.0, abs=1e-4)
    assert ssim(noisy, t).item() < 0.99 and psnr(noisy, t).item() == pytest.approx(
        10 * np.log10(4 / (noisy - t).square().mean().item()), rel=1e-4)
    with pytest.warns(UserWarning, match="LPIPS unavailable"):
        import inversion.losses as L

        L._warned.discard("lpips")
        D = stylegan.Discriminator(img_resolution=32, channel_base=512, channel_max=32)
        loss = make_loss("auto", D=D)
    assert loss.name == "dfeat+l2+msssim"
    assert loss(t, t).item() == pytest.approx(0, abs=1e-4) and loss(noisy, t).item() > 0.01
    if L.find_vgg_weights() is None:
        with pytest.raises(FileNotFoundError, match="lpips-weights"):
            make_loss("lpips")
    with pytest.raises(FileNotFoundError, match="no such file"):
        make_loss("lpips", lpips_weights="/nonexistent/vgg16.pth")
    with pytest.raises(ValueError, match="discriminator"):
        make_loss("dfeat+l2+msssim")


def test_dfeat_target_cache_is_exact_and_follows_the_target(targets):
    """The D-feature loss keeps the target's features between calls: the cached value must equal a fresh
    loss's, and an in-place change of the target or another target must not reuse stale features."""
    torch.manual_seed(3)
    D = stylegan.Discriminator(img_resolution=32, channel_base=512, channel_max=32)
    t = targets["in_w"][1].clamp(-1, 1).clone()
    img = (t + 0.2 * torch.randn_like(t)).clamp(-1, 1)
    cached = make_loss("dfeat+l2+msssim", D=D)

    def fresh(target):
        return make_loss("dfeat+l2+msssim", D=D)(img, target).item()

    first = cached(img, t).item()
    assert cached(img, t).item() == pytest.approx(first, abs=0) == pytest.approx(fresh(t), rel=1e-6)
    t.mul_(0.5)  # in place: the version counter changes
    assert cached(img, t).item() == pytest.approx(fresh(t), rel=1e-6) and abs(cached(img, t).item() - first) > 1e-3
    other = targets["mixed"][1].clamp(-1, 1)
    assert cached(img, other).item() == pytest.approx(fresh(other), rel=1e-6)
    # a target that needs gradients is never cached, and gets them
    g = t.clone().requires_grad_(True)
    cached(img, g).backward()
    assert g.grad is not None and g.grad.abs().sum() > 0


def _noise_reg_float64(maps):
    """Karras et al. 2020 Eq. 4 written out in NumPy float64: for each map and each level of its 2x2
    average pyramid down to 8x8, the squared mean products with the left and the upper neighbour
    (wrapping around)."""
    total = 0.0
    for a in maps:
        a = np.asarray(a, dtype=np.float64)
        while True:
            h, w = a.shape
            left = np.array([[a[i, j] * a[i, (j - 1) % w] for j in range(w)] for i in range(h)]).mean()
            up = np.array([[a[i, j] * a[(i - 1) % h, j] for j in range(w)] for i in range(h)]).mean()
            total += left ** 2 + up ** 2
            if h <= 8:
                break
            a = a.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    return total


def test_noise_regularizer_against_float64_formula():
    rng = np.random.RandomState(0)
    stripes = np.where(np.arange(16)[:, None] % 2 == 0, 1.0, -1.0) * np.ones((1, 16))  # rows alternate
    known = {"ones": (np.ones((16, 16)), 4.0),   # both terms 1 at 16 and at 8 px
             "rows": (stripes, 2.0),             # left +1, up -1 at 16 px; pooled to zero at 8 px
             "cols": (stripes.T, 2.0)}
    for name, (a, value) in known.items():
        assert _noise_reg_float64([a]) == value
        got = noise_regularizer({name: torch.from_numpy(a)}).item()
        assert abs(got - value) <= 1e-12, (name, got, value)
    maps = [rng.randn(r, r) + 0.3 * np.roll(rng.randn(r, r), 1, axis=0) for r in (4, 8, 16, 32)]
    got = noise_regularizer({str(i): torch.from_numpy(m) for i, m in enumerate(maps)}).item()
    assert abs(got - _noise_reg_float64(maps)) <= 1e-12 * max(1.0, got)
    got32 = noise_regularizer({str(i): torch.from_numpy(m).float() for i, m in enumerate(maps)}).item()
    assert abs(got32 - _noise_reg_float64(maps)) <= 1e-5 * max(1.0, got)


def test_noise_regularizer_of_a_batch_is_the_sum_over_its_images():
    from inversion.projection import noise_regularizer

    maps = {"a": torch.randn(3, 16, 16, generator=torch.Generator().manual_seed(0)), "b": torch.randn(3, 8, 8)}
    each = sum(noise_regularizer({k: v[i] for k, v in maps.items()}) for i in range(3))
    torch.testing.assert_close(noise_regularizer(maps), each, rtol=1e-6, atol=1e-9)


def test_noise_is_renormalised_per_image():
    from inversion.projection import renormalise_noise

    v = torch.randn(3, 8, 8, generator=torch.Generator().manual_seed(1)) * torch.tensor([1.0, 3.0, 0.5])[:, None, None]
    v = v + torch.tensor([0.0, 2.0, -1.0])[:, None, None]
    first = v[0].clone()
    renormalise_noise({"a": v})
    torch.testing.assert_close(v.mean((1, 2)), torch.zeros(3), atol=1e-6, rtol=0)
    torch.testing.assert_close(v.square().mean((1, 2)), torch.ones(3), atol=1e-5, rtol=0)
    renormalise_noise({"b": first})  # one [r, r] map alone gets what its row of the batch got
    torch.testing.assert_close(first, v[0])


@pytest.mark.parametrize("network", ["tiny", "synthheads"])
def test_a_batch_of_targets_is_independent_projections(network):
    """project(G, [N, 3, R, R]) does what N single projections do: the shipped model covers the encoder start, the
    D-feature loss and the identity term; the tiny one the start from the best candidate. Not bit for bit:
    Adam's first steps move every element by about +-lr whatever its gradient's size, so the float noise of
    a batched convolution (1e-7) grows to ~1e-3 in ws by step 4, more with more threads (a 1e-6 change of the
    target moves a single projection 40x more), hence the mean and the per-image quality are compared."""
    import stylegan
    from conftest import make_tiny_G

    G = make_tiny_G(0) if network == "tiny" else stylegan.load(network)
    with torch.no_grad():
        targets = G(torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(5))).clamp(-1, 1)
    batch = project(G, targets, steps=4, progress=False)
    singles = [project(G, t, steps=4, progress=False) for t in targets.split(1)]
    assert batch.ws.shape == (3, G.num_ws, G.w_dim) and batch.image.shape == targets.shape
    one = torch.cat([r.ws for r in singles])
    assert (batch.ws - one).abs().mean() < 1e-2 * one.abs().mean()  # measured 0.1-0.2 % (1-2 threads)
    for k, r in enumerate(singles):
        assert float(psnr(batch.image[k:k + 1], targets[k:k + 1])) == pytest.approx(
            float(psnr(r.image, targets[k:k + 1])), abs=0.3)  # measured within 0.11 dB (1-2 threads)
        for name, v in r.noise.items():
            assert batch.noise[name].shape == (3, *v.shape)
            assert (batch.noise[name][k] - v).abs().mean() < 1e-3
    # at the start (before Adam's steps amplify float noise) each term is exactly the sum of the single ones:
    # nothing couples the images (the D-feature loss, the identity term, the regulariser)
    for key in ("dist", "identity", "noise_reg"):
        assert batch.history[key][0] == pytest.approx(sum(r.history[key][0] for r in singles), rel=1e-5, abs=1e-9)
    assert batch.history["dist"][-1] == pytest.approx(sum(r.history["dist"][-1] for r in singles), rel=1e-2)
