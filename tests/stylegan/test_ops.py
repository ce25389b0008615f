"""Ops against independent references (float64 NumPy loops and formulas), gradients (gradcheck),
function/module agreement, bad input, implementation selection, and CUDA parity when a GPU exists."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stylegan.ops import _ext, bias_act, downsample2d, modulated_conv2d, setup_filter, upfirdn2d, upsample2d
from stylegan.ops.bias_act import BiasAct
from stylegan.ops.upfirdn2d import _UpFirDn2d, _upfirdn2d_ref

CUDA = torch.cuda.is_available()


# ---------------------------------------------------------------- bias_act

def _bias_act_np(x, b, act, alpha, gain, clamp):
    y = x + b.reshape(1, -1, 1, 1)
    if act == "relu":
        y = np.maximum(y, 0)
    elif act == "lrelu":
        y = np.where(y > 0, y, y * alpha)
    y = y * gain
    return np.clip(y, -clamp, clamp) if clamp is not None else y


@pytest.mark.parametrize("act,alpha,gain,clamp", [("linear", 0, 1, None), ("relu", 0, np.sqrt(2), None),
                                                   ("lrelu", 0.2, np.sqrt(2), None), ("lrelu", 0.2, 0.7, 0.5)])
def test_bias_act_matches_formula(act, alpha, gain, clamp):
    x = torch.randn(3, 5, 4, 4, dtype=torch.float64)
    b = torch.randn(5, dtype=torch.float64)
    y = bias_act(x, b, act=act, alpha=alpha or None, gain=gain, clamp=clamp)
    ref = _bias_act_np(x.numpy(), b.numpy(), act, alpha, gain, clamp)
    np.testing.assert_allclose(y.numpy(), ref, rtol=0, atol=1e-12)


def test_bias_act_default_gain_and_dim():
    x = torch.randn(4, 6)
    b = torch.randn(6)
    assert torch.allclose(bias_act(x, b, act="lrelu"), F.leaky_relu(x + b, 0.2) * np.sqrt(2))
    x3 = torch.randn(2, 3, 7)
    b3 = torch.randn(7)
    assert torch.allclose(bias_act(x3, b3, dim=2), x3 + b3)


def test_bias_act_gradcheck_float64():
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, b: bias_act(x, b, act="lrelu", clamp=1.5), (x, b))
    assert torch.autograd.gradgradcheck(lambda x, b: bias_act(x, b, act="lrelu"), (x, b))


def test_bias_act_module_matches_function():
    m = BiasAct(5, act="lrelu", clamp=2.0)
    with torch.no_grad():
        m.bias.copy_(torch.randn(5))
    x = torch.randn(2, 5, 3, 3)
    assert torch.equal(m(x), bias_act(x, m.bias, act="lrelu", clamp=2.0))


def test_bias_act_bad_input():
    with pytest.raises(ValueError, match="bias must have shape \\[5\\]"):
        bias_act(torch.zeros(2, 5, 3, 3), torch.zeros(4))
    with pytest.raises(ValueError, match="unknown activation"):
        bias_act(torch.zeros(2, 5), act="swish")


# ---------------------------------------------------------------- upfirdn2d

def _upfirdn2d_loop(x, f, up, down, pad, flip_filter=False, gain=1.0):
    """Direct definition: y[o] = sum_k u[o*down + k - pad0] * f'[k], u = zero-inserted upsampling."""
    n, c, h, w = x.shape
    px0, px1, py0, py1 = pad
    fh, fw = f.shape
    fk = f if flip_filter else f[::-1, ::-1]
    oh = (h * up + py0 + py1 - fh) // down + 1
    ow = (w * up + px0 + px1 - fw) // down + 1
    y = np.zeros((n, c, oh, ow))
    for oy in range(oh):
        for ox in range(ow):
            acc = np.zeros((n, c))
            for ky in range(fh):
                sy = oy * down + ky - py0
                if sy < 0 or sy % up or sy // up >= h:
                    continue
                for kx in range(fw):
                    sx = ox * down + kx - px0
                    if sx < 0 or sx % up or sx // up >= w:
                        continue
                    acc += x[:, :, sy // up, sx // up] * fk[ky, kx]
            y[:, :, oy, ox] = acc * gain
    return y


CASES = [(1, 1, (1, 1, 1, 1)), (2, 1, (2, 1, 2, 1)), (1, 2, (1, 1, 1, 1)), (2, 1, (1, 1, 1, 1)),
         (1, 1, (-1, 2, 0, -1)), (3, 2, (0, 3, 1, 2))]


@pytest.mark.parametrize("up,down,pad", CASES)
@pytest.mark.parametrize("flip", [False, True])
def test_upfirdn2d_matches_direct_loop(up, down, pad, flip):
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    f = torch.rand(4, 3, dtype=torch.float64)  # asymmetric, so a flip error shows
    y = upfirdn2d(x, f, up=up, down=down, padding=pad, flip_filter=flip, gain=1.7)
    ref = _upfirdn2d_loop(x.numpy(), f.numpy(), up, down, pad, flip, 1.7)
    np.testing.assert_allclose(y.numpy(), ref, rtol=0, atol=1e-12)


def test_separable_filter_equals_2d():
    x = torch.randn(1, 2, 8, 8, dtype=torch.float64)
    f1 = setup_filter([1, 3, 3, 1], separable=True).double()
    f2 = setup_filter([1, 3, 3, 1]).double()
    assert torch.allclose(upsample2d(x, f1), upsample2d(x, f2), atol=1e-12)
    assert f2.sum().item() == pytest.approx(1.0)


def test_resampling_shapes_and_dc_gain():
    x = torch.ones(2, 3, 8, 8, dtype=torch.float64)
    f = setup_filter([1, 3, 3, 1]).double()
    up = upsample2d(x, f)
    down = downsample2d(x, f)
    assert up.shape == (2, 3, 16, 16) and down.shape == (2, 3, 4, 4)
    # a constant image stays constant away from the borders (the filter has unit DC gain)
    assert torch.allclose(up[:, :, 2:-2, 2:-2], torch.ones_like(up[:, :, 2:-2, 2:-2]))
    assert torch.allclose(down[:, :, 1:-1, 1:-1], torch.ones_like(down[:, :, 1:-1, 1:-1]))


def test_upfirdn2d_gradcheck_float64():
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    f = torch.rand(4, 4, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: upfirdn2d(x, f, up=2, down=1, padding=[2, 1, 2, 1]), (x,))
    assert torch.autograd.gradcheck(lambda x: upfirdn2d(x, f, down=2, padding=[1, 1, 1, 1]), (x,))


@pytest.mark.parametrize("up,down,pad", CASES[:4] + [(2, 2, (1, 2, 2, 1))])
def test_custom_autograd_backward_formula(up, down, pad):
    """The CUDA wrapper's gradient is another upfirdn2d; check that formula on CPU with the ref forward."""
    x = torch.randn(1, 1, 5, 4, dtype=torch.float64, requires_grad=True)
    f = torch.rand(4, 4, dtype=torch.float64)
    args = ((up, up), (down, down), pad, False, 1.3)
    assert torch.autograd.gradcheck(lambda x: _UpFirDn2d.apply(x, f, *args, _upfirdn2d_ref), (x,))
    assert torch.autograd.gradgradcheck(lambda x: _UpFirDn2d.apply(x, f, *args, _upfirdn2d_ref), (x,))


def test_upfirdn2d_bad_input():
    with pytest.raises(ValueError, match="\\[N, C, H, W\\]"):
        upfirdn2d(torch.zeros(3, 8, 8), setup_filter([1, 1]))
    with pytest.raises(ValueError, match="up and down"):
        upfirdn2d(torch.zeros(1, 1, 8, 8), setup_filter([1, 1]), up=0)
    with pytest.raises(ValueError, match="padding"):
        upfirdn2d(torch.zeros(1, 1, 8, 8), setup_filter([1, 1]), padding=[1, 2, 3])


# ---------------------------------------------------------------- modulated conv

def _modconv_loop(x, weight, styles, demodulate, up, f):
    """Per-sample definition (StyleGAN2 eq. 1-3) with an explicit modulated weight per sample."""
    outs = []
    for i in range(x.shape[0]):
        w = weight * styles[i].reshape(1, -1, 1, 1)
        if demodulate:
            w = w / (w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).sqrt()
        if up == 1:
            outs.append(F.conv2d(x[i:i + 1], w, padding=weight.shape[-1] // 2))
        else:
            y = F.conv_transpose2d(x[i:i + 1], w.transpose(0, 1), stride=2)
            outs.append(torch.from_numpy(_upfirdn2d_loop(y.numpy(), f.numpy(), 1, 1, (1, 1, 1, 1), False, 4.0)))
    return torch.cat(outs)


@pytest.mark.parametrize("path", ["grouped", "scaled"])
@pytest.mark.parametrize("up,demod", [(1, True), (2, True), (1, False)])
def test_modulated_conv_matches_per_sample_definition(path, up, demod):
    x = torch.randn(3, 4, 6, 6, dtype=torch.float64)
    k = 3 if demod else 1
    weight = torch.randn(5, 4, k, k, dtype=torch.float64)
    styles = torch.randn(3, 4, dtype=torch.float64)
    f = setup_filter([1, 3, 3, 1]).double()
    y = modulated_conv2d(x, weight, styles, up=up, padding=k // 2, resample_filter=f, demodulate=demod,
                         flip_weight=(up == 1), path=path)
    ref = _modconv_loop(x, weight, styles, demod, up, f)
    assert y.shape == ref.shape
    assert torch.allclose(y, ref, atol=1e-10)


@pytest.mark.parametrize("path", ["grouped", "scaled"])
def test_modulated_conv_gradcheck_float64(path):
    x = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    s = torch.randn(2, 2, dtype=torch.float64, requires_grad=True)
    f = setup_filter([1, 3, 3, 1]).double()
    assert torch.autograd.gradcheck(
        lambda x, w, s: modulated_conv2d(x, w, s, up=2, padding=1, resample_filter=f, flip_weight=False, path=path),
        (x, w, s))


def test_modulated_conv_bad_styles():
    with pytest.raises(ValueError, match="styles must have shape \\[2, 3\\]"):
        modulated_conv2d(torch.zeros(2, 3, 4, 4), torch.zeros(4, 3, 3, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="path"):
        modulated_conv2d(torch.zeros(1, 3, 4, 4), torch.zeros(4, 3, 3, 3), torch.zeros(1, 3), path="magic")


# ---------------------------------------------------------------- implementation selection

def test_impl_selection_on_cpu(monkeypatch):
    x = torch.zeros(1, 1, 4, 4)
    assert _ext.resolve("auto", x, "bias_act") == ("ref", None)
    with pytest.raises(ValueError, match="needs a CUDA tensor"):
        bias_act(x, impl="cuda")
    with pytest.raises(ValueError, match="impl must be one of"):
        upfirdn2d(x, None, impl="fast")
    monkeypatch.setenv("SGT_OPS_IMPL", "ref")
    assert _ext.forced_ref()


def test_failed_build_warns_once_and_falls_back(monkeypatch, tmp_path):
    from torch.utils import cpp_extension

    calls = []

    def broken(**kwargs):
        calls.append(kwargs["name"])
        raise RuntimeError("nvcc exploded")

    monkeypatch.setattr(cpp_extension, "load", broken)
    monkeypatch.setattr(_ext, "_cache", {})
    monkeypatch.setenv("SGT_BUILD_DIR", str(tmp_path))
    with pytest.warns(RuntimeWarning, match="nvcc exploded"):
        assert _ext.load_cuda_extension("bias_act") is None
    assert _ext.load_cuda_extension("bias_act") is None  # cached: no second build, no second warning
    assert len(calls) == 1


def test_build_dir_is_keyed_by_source_hash():
    h = _ext.source_hash("upfirdn2d")
    assert len(h) == 12 and h != _ext.source_hash("bias_act")


# ---------------------------------------------------------------- CUDA parity (GPU only)

@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("up,down,pad", CASES)
def test_cuda_upfirdn2d_parity(up, down, pad):
    x = torch.randn(2, 3, 9, 10, device="cuda", requires_grad=True)
    f = torch.rand(4, 4, device="cuda")
    y_ref = upfirdn2d(x, f, up=up, down=down, padding=pad, impl="ref")
    y_cu = upfirdn2d(x, f, up=up, down=down, padding=pad, impl="cuda")
    assert (y_ref - y_cu).abs().max().item() <= 1e-5
    dy = torch.randn_like(y_ref)
    g_ref, = torch.autograd.grad(y_ref, x, dy)
    g_cu, = torch.autograd.grad(y_cu, x, dy)
    assert (g_ref - g_cu).abs().max().item() <= 1e-5


@pytest.mark.cuda
@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("act,clamp", [("linear", None), ("lrelu", None), ("lrelu", 0.3), ("relu", None)])
def test_cuda_bias_act_parity(act, clamp):
    x = torch.randn(4, 8, 16, 16, device="cuda", requires_grad=True)
    b = torch.randn(8, device="cuda", requires_grad=True)
    y_ref = bias_act(x, b, act=act, clamp=clamp, impl="ref")
    y_cu = bias_act(x, b, act=act, clamp=clamp, impl="cuda")
    assert (y_ref - y_cu).abs().max().item() <= 1e-5
    dy = torch.randn_like(y_ref)
    for a, c in zip(torch.autograd.grad(y_ref, (x, b), dy), torch.autograd.grad(y_cu, (x, b), dy)):
        assert (a - c).abs().max().item() <= 1e-4 * max(1.0, a.abs().max().item())


@pytest.mark.slow
def test_cuda_kernels_compile(tmp_path, monkeypatch):
    """Compiling needs nvcc but no GPU; skipped where there is no CUDA toolkit."""
    from torch.utils import cpp_extension

    if cpp_extension.CUDA_HOME is None or torch.version.cuda is None:
        pytest.skip("no CUDA toolkit / CPU-only torch build")
    monkeypatch.setattr(_ext, "_cache", {})
    monkeypatch.setenv("SGT_BUILD_DIR", str(tmp_path))
    if not CUDA:  # no device to query the architecture from
        monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", "8.0;9.0")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("bias_act", "upfirdn2d"):
            assert _ext.load_cuda_extension(name) is not None


@pytest.mark.parametrize("path", ["grouped", "scaled"])
def test_modulated_conv_epilogue_bias_and_gain(path):
    """`bias` and `out_gain` give (conv * dcoefs + noise + bias) * out_gain on both paths."""
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64)
    s = torch.randn(2, 3, dtype=torch.float64)
    noise = torch.randn(5, 5, dtype=torch.float64)
    b = torch.randn(4, dtype=torch.float64)
    plain = modulated_conv2d(x, w, s, noise=noise, padding=1, path=path)
    fused = modulated_conv2d(x, w, s, noise=noise, padding=1, path=path, bias=b, out_gain=1.7)
    assert torch.allclose(fused, (plain + b.reshape(1, -1, 1, 1)) * 1.7, atol=1e-12)


@pytest.mark.parametrize("k,up,demod", [(3, 1, True), (3, 2, True), (1, 1, False), (1, 1, True)])
@pytest.mark.parametrize("noise_shape", [None, (6, 6), (2, 1, 6, 6)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_scaled_inference_epilogue_matches_definition(k, up, demod, noise_shape, channels_last):
    """The no-autograd scaled path (in-place epilogue, layout-matched added term, 1x1 as a batched
    matmul) equals the per-sample definition plus noise and bias, and leaves its input alone
    unless told it may overwrite it."""
    x = torch.randn(2, 4, 6 // up, 6 // up, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight = torch.randn(5, 4, k, k, dtype=torch.float64)
    styles = torch.randn(2, 4, dtype=torch.float64)
    bias = torch.randn(5, dtype=torch.float64)
    noise = None if noise_shape is None else torch.randn(noise_shape, dtype=torch.float64)
    f = setup_filter([1, 3, 3, 1]).double()
    ref = _modconv_loop(x.contiguous(), weight, styles, demod, up, f)
    if noise is not None:
        ref = ref + noise
    ref = (ref + bias.reshape(1, -1, 1, 1)) * 1.3
    x_before = x.clone()
    kwargs = dict(noise=noise, up=up, padding=k // 2, resample_filter=f, demodulate=demod, flip_weight=(up == 1),
                  path="scaled", bias=bias, out_gain=1.3)
    with torch.no_grad():
        y = modulated_conv2d(x, weight, styles, **kwargs)
        assert torch.equal(x, x_before)
        assert torch.allclose(y, ref, atol=1e-10)
        if channels_last and k == 3:
            assert y.is_contiguous(memory_format=torch.channels_last)
        y2 = modulated_conv2d(x, weight, styles, overwrite_input=True, **kwargs)
    assert torch.allclose(y2, ref, atol=1e-10)
    # With autograd on, the same call is out of place and differentiable.
    xg = x_before.clone().requires_grad_(True)
    yg = modulated_conv2d(xg, weight, styles, overwrite_input=True, **kwargs)
    assert torch.allclose(yg, ref, atol=1e-10)
    yg.sum().backward()
    assert torch.equal(xg.detach(), x_before) and xg.grad is not None


# ---------------------------------------------------------------- CUDA wrappers reachable on CPU

class _StubBiasActKernel:
    """Stands in for the compiled kernel: the `bias_act(x, b, dim, act_id, alpha, gain, clamp)` contract
    (act_id 0 linear / 1 relu / 2 lrelu, clamp < 0 = none, empty b = no bias), written from that contract."""

    def bias_act(self, x, b, dim, act_id, alpha, gain, clamp):
        y = x + b.reshape([-1 if i == dim else 1 for i in range(x.ndim)]) if b.numel() else x
        y = {0: y, 1: y.clamp_min(0), 2: torch.where(y > 0, y, y * alpha)}[act_id] * gain
        return y.clamp(-clamp, clamp) if clamp >= 0 else y


@pytest.mark.parametrize("act,clamp,with_bias", [("lrelu", None, True), ("relu", 0.8, True), ("linear", None, False)])
def test_bias_act_cuda_wrapper_forward_and_gradients_with_stub_kernel(monkeypatch, act, clamp, with_bias):
    import sys

    mod = sys.modules["stylegan.ops.bias_act"]
    monkeypatch.setattr(mod._ext, "resolve", lambda impl, x, name: ("cuda", _StubBiasActKernel()))
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True) if with_bias else None
    y = bias_act(x, b, act=act, clamp=clamp)
    assert y.grad_fn is not None and "BiasActCuda" in type(y.grad_fn).__name__  # the wrapper ran
    spec_gain = 1.0 if act == "linear" else np.sqrt(2)
    want = _bias_act_np(x.detach().numpy(), (b if with_bias else torch.zeros(3)).detach().numpy(), act, 0.2,
                        spec_gain, clamp)
    np.testing.assert_allclose(y.detach().numpy(), want, atol=1e-12)
    inputs = (x, b) if with_bias else (x,)
    fn = (lambda x, b: bias_act(x, b, act=act, clamp=clamp)) if with_bias else (lambda x: bias_act(x, None, act=act,
                                                                                                    clamp=clamp))
    assert torch.autograd.gradcheck(fn, inputs)
    assert torch.autograd.gradgradcheck(fn, inputs)  # R1 / path-length need second order


@pytest.mark.parametrize("path", ["grouped", "scaled"])
@pytest.mark.parametrize("up", [1, 2])
def test_modulated_conv_fp16_prenormalisation(path, up):
    """Half-precision input takes NVlabs' pre-normalisation branch: weights and styles big enough that
    the modulated weights' squared norm (~1e11) would overflow fp16 still give the float64 result."""
    torch.manual_seed(0)
    x = torch.randn(2, 4, 6, 6, dtype=torch.float64)
    w = torch.randn(5, 4, 3, 3, dtype=torch.float64) * 300
    s = torch.randn(2, 4, dtype=torch.float64) * 300
    f = setup_filter([1, 3, 3, 1]).double()
    ref = _modconv_loop(x, w, s, True, up, f)
    y = modulated_conv2d(x.half(), w.half(), s.half(), up=up, padding=1, resample_filter=f.half(),
                         flip_weight=(up == 1), path=path)
    assert y.dtype == torch.float16 and torch.isfinite(y).all()
    assert (y.double() - ref).abs().max().item() < 1e-2  # measured 1.3e-3 to 2.1e-3, outputs up to 3
