"""MegaFS's released networks (`edits.swap.megafs`, `edits.swap.formats.megafs`, methods megafs-*).

Tiny checkpoints are built here key by key in the released layout (`{e: HieRFE state dict, s: swapper state
dict}`, torch.save legacy and zip), and every output is compared with a compact functional transcription of
zyainfal/One-Shot-Face-Swapping-on-Megapixels `inference/megafs.py` + `inference.py` written below (including
`nn.LeakyReLU(True)`, slope True = 1.0), with rosinality's generator forward (tests/reference) fed the
structure tensor in place of `input.input`, as MegaFS's modified Generator does.
"""
from __future__ import annotations

import math
import os

import numpy as np
import PIL.Image
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from skimage import data

import stylegan
from conftest import make_tiny_G
from demos.cli import main
from edits.swap import SwapUntrainedError, swap
from reference import rosinality_ref
from sgtcore.errors import (ArchitectureMismatchError, CorruptCheckpointError, UnknownFormatError,
                            UnsafeCheckpointError)

FEAT, SPLIT, HIDDEN, STEM = 16, (2, 3, 3), 12, 8       # a 32 px generator: num_ws 8, w_dim 16, 16 ch at 4 px
WIDTHS, DEPTHS = (2, 4, 4, 8, 8), (1, 2, 1, 1, 2)       # bottleneck widths (x4 expansion) and blocks per stage
BLOCKS = {"ftm": 3, "injection": 2, "lcr": 0}
G_CHANNELS = {4: FEAT, 8: 16, 16: 8, 32: 8}


# ---- a released-layout checkpoint, key by key ------------------------------------------------------------------

def init_megafs(kind: str, seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    r = lambda *s, scale=1.0: torch.randn(*s, generator=g) * scale  # noqa: E731
    e: dict[str, torch.Tensor] = {}

    def conv(sd, p, cout, cin, k, bias):
        sd[p + ".weight"] = r(cout, cin, k, k, scale=1.5 / math.sqrt(cin * k * k))
        if bias:
            sd[p + ".bias"] = r(cout, scale=0.1)

    def bn(sd, p, c, affine=True):
        if affine:
            sd[p + ".weight"], sd[p + ".bias"] = 1 + r(c, scale=0.1), r(c, scale=0.1)
        sd[p + ".running_mean"] = r(c, scale=0.2)
        sd[p + ".running_var"] = 0.5 + torch.rand(c, generator=g)
        sd[p + ".num_batches_tracked"] = torch.tensor(1000)

    def lin(sd, p, cout, cin, gain=1.5):
        sd[p + ".weight"], sd[p + ".bias"] = r(cout, cin, scale=gain / math.sqrt(cin)), r(cout, scale=0.1)

    b = "fpn.backbone."
    conv(e, b + "conv1", STEM, 3, 7, False)
    bn(e, b + "bn1", STEM)
    cin = STEM
    for k, (w, d) in enumerate(zip(WIDTHS, DEPTHS), start=1):
        cout = 4 * w
        for i in range(d):
            p = f"{b}layer{k}.{i}."
            conv(e, p + "conv1", w, cin if i == 0 else cout, 1, False)
            bn(e, p + "bn1", w)
            conv(e, p + "conv2", w, w, 3, False)
            bn(e, p + "bn2", w)
            conv(e, p + "conv3", cout, w, 1, False)
            bn(e, p + "bn3", cout)
            if i == 0 and (k > 1 or cin != cout):  # torchvision's rule: stride 2 or a width change
                conv(e, p + "downsample.0", cout, cin, 1, False)
                bn(e, p + "downsample.1", cout)
        cin = cout
    for j, stage in ((1, 1), (2, 2), (3, 3), (4, 4)):
        conv(e, f"fpn.output{j}.0", FEAT, 4 * WIDTHS[stage], 3, True)
        bn(e, f"fpn.output{j}.1", FEAT)
    for m, (n, size) in enumerate(zip(SPLIT, (8, 16, 32)), start=1):
        for i in range(n):
            for j in range(int(math.log2(size))):
                conv(e, f"mapping{m}.{i}.convs.{3 * j}", FEAT, FEAT, 3, True)
                bn(e, f"mapping{m}.{i}.convs.{3 * j + 1}", FEAT)
    s: dict[str, torch.Tensor] = {}
    cells = sum(SPLIT) - 4
    if kind == "ftm":
        s["weight"] = r(1, cells, FEAT)
        for i in range(cells):
            for name in ("idd_selectors", "idd_shifters", "att_selectors", "att_shifters"):
                for j in range(BLOCKS[kind]):
                    lin(s, f"blocks.{i}.{name}.{j}.0", HIDDEN, 2 * FEAT)
                    lin(s, f"blocks.{i}.{name}.{j}.2", FEAT, HIDDEN)
    elif kind == "injection":
        for i in range(cells):
            for path in ("att_path1", "att_path2"):
                for j in range(BLOCKS[kind]):
                    p = f"blocks.{i}.{path}.{j}."
                    lin(s, p + "0.idd_linears.0", FEAT, FEAT)
                    lin(s, p + "0.idd_selectors", FEAT, FEAT, gain=0.3)  # keeps codes O(1) over the blocks
                    lin(s, p + "0.idd_shifters", FEAT, FEAT, gain=0.3)
                    bn(s, p + "0.att_bns", FEAT, affine=False)
                    lin(s, p + "2", FEAT, FEAT, gain=0.7)
    return {"e": e, "s": s}


# ---- the original forward, transcribed (functional, over the raw state dicts) ----------------------------------

def _bn(x, sd, p):
    return F.batch_norm(x, sd[p + ".running_mean"], sd[p + ".running_var"], sd.get(p + ".weight"),
                        sd.get(p + ".bias"), False, 0.0, 1e-5)


def _conv(x, sd, p, stride=1, pad=0):
    return F.conv2d(x, sd[p + ".weight"], sd.get(p + ".bias"), stride, pad)


def ref_hierfe(e, x):
    """HieRFE(resnet50) forward: (tanh codes, p4)."""
    b = "fpn.backbone."
    x = F.max_pool2d(F.relu(_bn(_conv(x, e, b + "conv1", 2, 3), e, b + "bn1")), 3, 2, 1)
    stages = []
    for k in range(1, 6):
        i = 0
        while f"{b}layer{k}.{i}.conv1.weight" in e:
            p, st = f"{b}layer{k}.{i}.", 2 if k > 1 and i == 0 else 1
            out = F.relu(_bn(_conv(x, e, p + "conv1"), e, p + "bn1"))
            out = F.relu(_bn(_conv(out, e, p + "conv2", st, 1), e, p + "bn2"))
            out = _bn(_conv(out, e, p + "conv3"), e, p + "bn3")
            short = _bn(_conv(x, e, p + "downsample.0", st), e, p + "downsample.1") \
                if p + "downsample.0.weight" in e else x
            x = F.relu(out + short)
            i += 1
        stages.append(x)
    c1, c2, c3, c4 = stages[1:]
    up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=True)  # noqa: E731
    p4 = _bn(_conv(c4, e, "fpn.output4.0", 1, 1), e, "fpn.output4.1")
    p3 = F.relu(_bn(_conv(c3, e, "fpn.output3.0", 1, 1), e, "fpn.output3.1"))
    p2 = F.relu(_bn(_conv(c2, e, "fpn.output2.0", 1, 1), e, "fpn.output2.1")) + up(p3)
    p1 = F.relu(_bn(_conv(c1, e, "fpn.output1.0", 1, 1), e, "fpn.output1.1")) + up(p2)
    codes = []
    for m, f in ((1, p3), (2, p2), (3, p1)):
        i = 0
        while f"mapping{m}.{i}.convs.0.weight" in e:
            y, j = f, 0
            while f"mapping{m}.{i}.convs.{3 * j}.weight" in e:
                y = F.leaky_relu(_bn(_conv(y, e, f"mapping{m}.{i}.convs.{3 * j}", 2, 1), e,
                                     f"mapping{m}.{i}.convs.{3 * j + 1}"), 0.01)
                j += 1
            codes.append(y.squeeze(2).squeeze(2).unsqueeze(1))
            i += 1
    return torch.tanh(torch.cat(codes, 1)), p4


def _act(t):
    return F.leaky_relu(t, True)  # the original's nn.LeakyReLU(True): negative_slope=True


def _lin(x, s, p):
    return F.linear(x, s[p + ".weight"], s[p + ".bias"])


def ref_swapper(s, idd, att, kind, k=4):
    """FaceTransferModule forward (typ = kind, swap_indice = k)."""
    if kind == "lcr":
        return torch.cat([att[:, :k], idd[:, k:]], 1)
    rows = []
    for i in range(idd.shape[1] - k):
        a, t = idd[:, k + i], att[:, k + i]
        j = 0
        if kind == "ftm":
            mlp = lambda x, p, out: out(_lin(F.relu(_lin(x, s, p + ".0")), s, p + ".2"))  # noqa: E731
            while f"blocks.{i}.idd_selectors.{j}.0.weight" in s:
                fuse = torch.cat([a, t], 1)
                q = f"blocks.{i}."
                a = _act(a * mlp(fuse, f"{q}idd_selectors.{j}", torch.sigmoid)
                         + mlp(fuse, f"{q}idd_shifters.{j}", torch.tanh))
                t = _act(t * mlp(fuse, f"{q}att_selectors.{j}", torch.sigmoid)
                         + mlp(fuse, f"{q}att_shifters.{j}", torch.tanh))
                j += 1
            w = torch.sigmoid(s["weight"][:, i])
            rows.append(w * a + (1 - w) * t)
        else:
            def inject(p, idd_, att_):
                norm = F.batch_norm(att_, s[p + ".att_bns.running_mean"], s[p + ".att_bns.running_var"], None, None,
                                    False, 0.0, 1e-5)
                actv = F.relu(_lin(idd_, s, p + ".idd_linears.0"))
                return norm * (1 + _lin(actv, s, p + ".idd_selectors")) + _lin(actv, s, p + ".idd_shifters")

            while f"blocks.{i}.att_path1.{j}.0.idd_selectors.weight" in s:
                bias = t
                for path in ("att_path1", "att_path2"):
                    p = f"blocks.{i}.{path}.{j}"
                    t = _lin(_act(inject(p + ".0", a, t)), s, p + ".2")
                t = t + bias
                j += 1
            rows.append(_act(t))
    return torch.cat([att[:, :k], torch.stack(rows, 1)], 1)


def ref_resize(img, size=256):
    """cv2.resize(INTER_LINEAR) on a float image: half-pixel centres, edges replicated; `[1, 3, h, w]`."""
    def weights(n_in):
        src = np.clip((np.arange(size) + 0.5) * n_in / size - 0.5, 0, n_in - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        m = np.zeros((size, n_in))
        m[np.arange(size), lo] += 1 - (src - lo)
        m[np.arange(size), hi] += src - lo
        return torch.tensor(m, dtype=torch.float32)

    return weights(img.shape[2]) @ img @ weights(img.shape[3]).T


def ref_swap_image(ckpt, g_sd, kind, source, target):
    """MegaFS.swap: encode [target, source], swap, G(att_struct, [swapped, None]), min-max; in [-1, 1]."""
    lats, struct = ref_hierfe(ckpt["e"], torch.cat([ref_resize(target), ref_resize(source)]))
    swapped = ref_swapper(ckpt["s"], lats[1:], lats[:1], kind)
    fake = rosinality_ref.forward({**g_sd, "input.input": struct[:1]}, swapped, size=32)
    return (fake - fake.min()) / (fake.max() - fake.min()) * 2 - 1, swapped


# ---- fixtures --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("megafs")
    ckpts = {kind: init_megafs(kind, seed=k) for k, kind in enumerate(BLOCKS)}
    for kind, ckpt in ckpts.items():
        # the released files were written by PyTorch 1.5 (legacy serialisation); newer ones are zips
        torch.save(ckpt, root / f"{kind}_final.pth", _use_new_zipfile_serialization=False)
        torch.save(ckpt, root / f"{kind}_zip.pth")
    g_sd, latent_avg = rosinality_ref.init_params(size=32, style_dim=FEAT, channels=G_CHANNELS, seed=5)
    torch.save({"g_ema": g_sd, "latent_avg": latent_avg}, root / "G.pt")
    G = stylegan.load(root / "G.pt")
    gen = torch.Generator().manual_seed(11)
    images = [torch.rand(1, 3, 32, 32, generator=gen) * 2 - 1 for _ in range(2)]
    return dict(root=root, ckpts=ckpts, g_sd=g_sd, G=G, source=images[0], target=images[1])


def _path(files, kind, zip_=False):
    return files["root"] / f"{kind}_{'zip' if zip_ else 'final'}.pth"


# ---- loader ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("zip_", [False, True], ids=["legacy", "zip"])
@pytest.mark.parametrize("kind", list(BLOCKS))
def test_loader_reads_the_released_layout_and_infers_its_sizes(files, kind, zip_):
    from edits.swap.formats.megafs import load_megafs

    net = load_megafs(_path(files, kind, zip_), G=files["G"], kind=kind)
    c = net.config
    assert (c.kind, c.stem, c.widths, c.depths, c.expansion, c.features, c.split, c.swap_index) == \
        (kind, STEM, WIDTHS, DEPTHS, 4, FEAT, SPLIT, 4)
    assert c.blocks == BLOCKS[kind] and (kind != "ftm" or c.hidden == HIDDEN)
    ckpt = files["ckpts"][kind]
    sd = net.state_dict()
    for part in ("e", "s"):  # the same keys, exactly (strict), with the file's values
        mine = {k[2:]: v for k, v in sd.items() if k.startswith(part + ".")}
        assert sorted(mine) == sorted(ckpt[part])
        assert all(torch.equal(mine[k], ckpt[part][k]) for k in mine)
    assert not net.training and not any(p.requires_grad for p in net.parameters())


def test_full_size_layout_is_megafs_resnet50_fpn():
    """The defaults rebuild the released networks: ResNet-50 stages 3/4/6/3 (+2), 4/6/8 codes, 14 FTM cells."""
    from edits.swap.megafs import MegaFS, MegaFSConfig

    net = MegaFS(MegaFSConfig(kind="ftm"))
    sd = net.state_dict()
    assert sd["e.fpn.backbone.layer5.0.downsample.0.weight"].shape == (2048, 2048, 1, 1)
    assert sd["e.fpn.output1.0.weight"].shape == (512, 512, 3, 3) and sd["e.fpn.output4.0.weight"].shape[1] == 2048
    assert sd["e.mapping3.7.convs.12.weight"].shape == (512, 512, 3, 3) and "e.mapping3.8.convs.0.weight" not in sd
    assert sd["s.weight"].shape == (1, 14, 512) and sd["s.blocks.13.att_shifters.2.0.weight"].shape == (256, 1024)


# ---- numerics against the transcription ------------------------------------------------------------------------

@pytest.mark.parametrize("kind", list(BLOCKS))
def test_encoder_and_swapper_match_the_original_forward(files, kind):
    from edits.swap.formats.megafs import load_megafs

    net = load_megafs(_path(files, kind))
    ckpt = files["ckpts"][kind]
    x = torch.rand(3, 3, 256, 256, generator=torch.Generator().manual_seed(2)) * 2 - 1
    with torch.no_grad():
        codes, structure = net.encode(x)
        mixed = net.mix(codes[1:], codes[:1])
    want_codes, want_structure = ref_hierfe(ckpt["e"], x)
    assert codes.shape == (3, sum(SPLIT), FEAT) and structure.shape == (3, FEAT, 4, 4)
    assert 0.05 < codes.abs().mean() < 0.95  # not saturated: a wrong pre-tanh value would show
    torch.testing.assert_close(codes, want_codes, rtol=0, atol=1e-5)
    torch.testing.assert_close(structure, want_structure, rtol=0, atol=1e-5)
    torch.testing.assert_close(mixed, ref_swapper(ckpt["s"], codes[1:], codes[:1].expand(2, -1, -1), kind),
                               rtol=0, atol=1e-5)
    torch.testing.assert_close(mixed[:, :4], codes[:1, :4].expand(2, -1, -1), rtol=0, atol=0)  # rows 0-3: target


def test_leaky_relu_true_is_kept_as_the_identity(files):
    """`nn.LeakyReLU(True)` means slope 1.0: the cells must not clip negatives (a real leaky ReLU would)."""
    from edits.swap.formats.megafs import load_megafs

    net = load_megafs(_path(files, "injection"))
    assert torch.equal(F.leaky_relu(torch.tensor([-2.0, 3.0]), True), torch.tensor([-2.0, 3.0]))
    idd, att = torch.randn(1, 8, FEAT), torch.randn(1, 8, FEAT)
    with torch.no_grad():
        out = net.mix(idd, att)
    assert (out[:, 4:] < 0).any()
    leaky = ref_swapper({**files["ckpts"]["injection"]["s"]}, idd, att, "injection")
    torch.testing.assert_close(out, leaky, rtol=0, atol=1e-5)


def test_structure_tensor_replaces_the_generator_constant(files):
    """`G.synthesis(ws, const=x)` is rosinality's generator with `input.input = x` (MegaFS's `strucs`)."""
    G, g_sd = files["G"], files["g_sd"]
    ws = torch.randn(2, 8, FEAT, generator=torch.Generator().manual_seed(4)) * 0.5
    x = torch.randn(2, FEAT, 4, 4, generator=torch.Generator().manual_seed(5))
    keep = x.clone()
    with torch.no_grad():
        out = G.synthesis(ws, const=x)
        shared = G.synthesis(ws, const=x[:1])
        own = G.synthesis(ws, const=G.synthesis.b4.const[None])
        plain = G.synthesis(ws)
    assert torch.equal(x, keep)  # the caller's tensor is not overwritten
    for n in range(2):
        torch.testing.assert_close(out[n:n + 1], rosinality_ref.forward({**g_sd, "input.input": x[n:n + 1]},
                                                                        ws[n:n + 1], size=32), rtol=0, atol=1e-5)
    torch.testing.assert_close(shared[1:], rosinality_ref.forward({**g_sd, "input.input": x[:1]}, ws[1:], size=32),
                               rtol=0, atol=1e-5)
    assert torch.equal(own, plain)
    with pytest.raises(ValueError, match=r"const must be a float tensor of shape \[2 \(or 1\), 16, 4, 4\]"):
        G.synthesis(ws, const=torch.zeros(1, 8, 4, 4))


@pytest.mark.parametrize("kind", list(BLOCKS))
def test_swap_reproduces_megafs_inference(files, kind):
    """`swap(..., method='megafs-*')` on aligned image tensors = MegaFS.swap (resize, encode, swap, G with the
    target's structure, min-max)."""
    r = swap(files["source"], files["target"], f"megafs-{kind}", files["G"], swap_net=_path(files, kind))
    want, want_codes = ref_swap_image(files["ckpts"][kind], files["g_sd"], kind, files["source"], files["target"])
    assert r.image.shape == (1, 3, 32, 32) and r.mask is None  # tensors: no landmarks, so no blending
    torch.testing.assert_close(r.ws, want_codes, rtol=0, atol=1e-5)
    torch.testing.assert_close(r.image, want, rtol=0, atol=1e-4)
    assert float(r.image.min()) == -1.0 and float(r.image.max()) == 1.0
    assert r.attribute.structure.shape == (1, FEAT, 4, 4) and r.split == (4 if kind == "lcr" else None)


def test_mask_blends_the_swap_into_the_attribute_image(files):
    G, path = files["G"], _path(files, "ftm")
    raw = swap(files["source"], files["target"], "megafs-ftm", G, swap_net=path).image
    target = stylegan.images.from_uint8(stylegan.images.to_uint8(files["target"]))  # the aligned image, as uint8
    m = torch.rand(32, 32, generator=torch.Generator().manual_seed(7))
    r = swap(files["source"], files["target"], "megafs-ftm", G, swap_net=path, mask=m)
    torch.testing.assert_close(r.image, m * raw + (1 - m) * target, rtol=0, atol=1e-6)
    assert r.mask.shape == (1, 1, 32, 32)
    zero = swap(files["source"], files["target"], "megafs-ftm", G, swap_net=path,
                mask=np.zeros((32, 32), np.float32))
    assert torch.equal(zero.image, target)


def test_latents_are_rendered_then_encoded_and_megafs_lcr_takes_a_split(files):
    G, path = files["G"], _path(files, "lcr")
    ws = [torch.randn(1, 8, FEAT, generator=torch.Generator().manual_seed(s)) * 0.3 for s in (1, 2)]
    with torch.no_grad():
        imgs = [G.synthesis(w) for w in ws]
    from_ws = swap(ws[0], ws[1], "megafs-lcr", G, swap_net=path)
    from_img = swap(imgs[0], imgs[1], "megafs-lcr", G, swap_net=path)
    torch.testing.assert_close(from_ws.image, from_img.image, rtol=0, atol=1e-6)
    r6 = swap(imgs[0], imgs[1], "megafs-lcr", G, swap_net=path, split=6)
    torch.testing.assert_close(r6.ws[:, :6], from_img.attribute.ws[:, :6], rtol=0, atol=0)
    torch.testing.assert_close(r6.ws[:, 6:], from_img.identity.ws[:, 6:], rtol=0, atol=0)
    assert r6.split == 6


def test_soft_erosion_matches_megafs():
    from edits.swap.megafs import soft_erosion

    k, thr, iters = 9, 0.9, 3
    yy, xx = torch.meshgrid(torch.arange(0.0, k), torch.arange(0.0, k), indexing="ij")
    dist = torch.sqrt((xx - k // 2) ** 2 + (yy - k // 2) ** 2)
    kern = (dist.max() - dist) / (dist.max() - dist).sum()
    mask = torch.zeros(1, 1, 48, 48)
    mask[..., 10:40, 8:36] = 1
    x = mask.clone()
    for _ in range(iters - 1):
        x = torch.min(x, F.conv2d(x, kern[None, None], padding=k // 2))
    x = F.conv2d(x, kern[None, None], padding=k // 2)
    inside = x >= thr
    x[inside] = 1.0
    x[~inside] /= x[~inside].max()
    out = soft_erosion(mask, k, thr, iters)
    torch.testing.assert_close(out, x, rtol=0, atol=1e-6)
    assert 0 < out.sum() < mask.sum() and torch.equal(mask, (mask > 0).float())  # eroded; input untouched


# ---- bad input -------------------------------------------------------------------------------------------------

class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _bad_file(files, tmp_path, case):
    ckpt = files["ckpts"]["ftm"]
    p = tmp_path / f"{case}.pth"
    if case == "truncated":
        p.write_bytes(_path(files, "ftm", zip_=True).read_bytes()[:5000])
    elif case == "truncated_legacy":
        p.write_bytes(_path(files, "ftm").read_bytes()[:-5000])
    elif case == "empty":
        p.write_bytes(b"")
    elif case == "hostile":
        torch.save({"e": _Evil(tmp_path / "pwned"), "s": {}}, p)
    elif case == "hostile_legacy":
        torch.save({"e": _Evil(tmp_path / "pwned"), "s": {}}, p, _use_new_zipfile_serialization=False)
    elif case == "generator":  # a rosinality generator file passed by mistake
        p = files["root"] / "G.pt"
    elif case == "nan":
        torch.save({"e": {**ckpt["e"], "fpn.output1.0.weight": ckpt["e"]["fpn.output1.0.weight"] * float("nan")},
                    "s": ckpt["s"]}, p)
    elif case == "missing_key":
        torch.save({"e": {k: v for k, v in ckpt["e"].items() if k != "fpn.output2.1.running_var"}, "s": ckpt["s"]}, p)
    elif case == "wrong_shape":
        torch.save({"e": {**ckpt["e"], "mapping2.0.convs.3.weight": torch.zeros(FEAT, FEAT, 1, 1)}, "s": ckpt["s"]}, p)
    elif case == "scalar_weight":
        torch.save({"e": ckpt["e"], "s": {**ckpt["s"], "weight": torch.tensor(1.0)}}, p)
    return p


BAD = {"truncated": (CorruptCheckpointError, "damaged"), "truncated_legacy": (CorruptCheckpointError, "damaged"),
       "empty": (CorruptCheckpointError, "empty"), "hostile": (UnsafeCheckpointError, "refusing"),
       "hostile_legacy": (UnsafeCheckpointError, "refusing"),
       "generator": (UnknownFormatError, "not a MegaFS checkpoint"), "nan": (CorruptCheckpointError, "NaN"),
       "missing_key": (ArchitectureMismatchError, "running_var"),
       "wrong_shape": (ArchitectureMismatchError, "mapping2.0.convs.3.weight"),
       "scalar_weight": (ArchitectureMismatchError, "shaped like no MegaFS")}


@pytest.mark.parametrize("case", list(BAD))
def test_corrupt_hostile_or_foreign_files_are_refused(files, tmp_path, case):
    path = _bad_file(files, tmp_path, case)
    err, words = BAD[case]
    with pytest.raises(err, match=words):
        swap(files["source"], files["target"], "megafs-ftm", files["G"], swap_net=path)
    assert not (tmp_path / "pwned").exists()


def test_generator_it_does_not_fit_and_method_misuse_are_refused(files):
    src, tgt, path = files["source"], files["target"], _path(files, "ftm")
    with pytest.raises(ArchitectureMismatchError, match=r"num_ws 8 and w_dim 16.*w_dim 32"):
        swap(src, tgt, "megafs-ftm", make_tiny_G(0), swap_net=path)       # w_dim 32
    G16 = make_tiny_G(0, w_dim=FEAT, channel_max=FEAT, img_resolution=16)  # num_ws 6
    with pytest.raises(ArchitectureMismatchError, match="num_ws 6"):
        swap(src[..., :16, :16], tgt[..., :16, :16], "megafs-ftm", G16, swap_net=path)
    with pytest.raises(ArchitectureMismatchError, match="'megafs-ftm'"):
        swap(src, tgt, "megafs-injection", files["G"], swap_net=path)
    with pytest.raises(SwapUntrainedError, match="swap_net=PATH"):
        swap(src, tgt, "megafs-ftm", files["G"])
    with pytest.raises(FileNotFoundError, match="ftm_final.pth"):
        swap(src, tgt, "megafs-ftm", files["G"], swap_net=files["root"] / "nope.pth")
    with pytest.raises(ValueError, match="leave split unset"):
        swap(src, tgt, "megafs-ftm", files["G"], swap_net=path, split=4)
    with pytest.raises(ValueError, match="megafs"):
        swap(src, tgt, "lcr", files["G"], swap_net=path)
    with pytest.raises(ValueError, match="target"):  # NaN input, named
        swap(src, tgt * float("nan"), "megafs-ftm", files["G"], swap_net=path)


# ---- sgt swap --------------------------------------------------------------------------------------------------

def _run(*args):
    return CliRunner().invoke(main, [*map(str, args)])


def test_cli_swaps_photos_with_a_megafs_file_and_pastes_back(files, tmp_path):
    root = files["root"]
    PIL.Image.fromarray(data.astronaut()).save(tmp_path / "astronaut.png")
    out = tmp_path / "out"
    res = _run("swap", "--identity", tmp_path / "astronaut.png", "--attribute", tmp_path / "astronaut.png",
               "--method", "megafs-lcr", "--swap-net", _path(files, "lcr"), "--network", root / "G.pt",
               "--outdir", out, "--paste")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == ["pasted.png", "swapped.png", "swapped_w.npz"]
    assert np.asarray(PIL.Image.open(out / "pasted.png")).shape == data.astronaut().shape
    r = swap(tmp_path / "astronaut.png", tmp_path / "astronaut.png", "megafs-lcr", files["G"],
             swap_net=_path(files, "lcr"))
    assert r.mask is not None and 0 < float(r.mask.mean()) < 1  # the landmark face mask stands in for parsing
    assert np.array_equal(np.asarray(PIL.Image.open(out / "swapped.png")), stylegan.images.to_uint8(r.image)[0])


@pytest.mark.parametrize("case", ["no_file", "two_files", "wrong_kind", "other_G", "frames"])
def test_cli_megafs_mistakes_are_one_error_line(files, tmp_path, case):
    root = files["root"]
    img = tmp_path / "face.png"
    PIL.Image.fromarray(np.full((32, 32, 3), 120, np.uint8)).save(img)
    net, method, extra = root / "G.pt", "megafs-ftm", ["--swap-net", _path(files, "ftm")]
    expected = {"no_file": "exactly one --swap-net FILE", "two_files": "exactly one --swap-net FILE",
                "wrong_kind": "'megafs-ftm'", "other_G": "w_dim 32", "frames": "video mode"}[case]
    if case == "no_file":
        extra = []
    elif case == "two_files":
        extra += ["--swap-net", _path(files, "ftm", zip_=True)]
    elif case == "wrong_kind":
        method = "megafs-injection"
    elif case == "other_G":
        stylegan.save_pretrained(make_tiny_G(0), tmp_path / "tiny")
        net = tmp_path / "tiny"
    side = ["--attribute-frames", tmp_path] if case == "frames" else ["--attribute", img]
    out = tmp_path / "out"
    res = _run("swap", "--identity", img, *side, "--method", method, "--network", net, "--outdir", out, *extra)
    assert res.exit_code != 0 and "Traceback" not in res.output, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and expected in errors[0], res.output
    assert not out.exists()


def test_a_file_is_read_once_and_again_when_replaced(files, tmp_path):
    from edits.swap.formats.megafs import load_megafs, resolve

    path = tmp_path / "ftm_final.pth"
    path.write_bytes(_path(files, "ftm").read_bytes())
    first = resolve(path, files["G"], "ftm")
    assert resolve(str(path), files["G"], "ftm") is first
    torch.save(files["ckpts"]["ftm"], path)  # rewritten (zip now): another size, read again
    assert resolve(path, files["G"], "ftm") is not first
    held = load_megafs(path)  # a loaded network passes through, checked
    assert resolve(held, files["G"], "ftm") is held
    with pytest.raises(ArchitectureMismatchError, match="'megafs-ftm'"):
        resolve(held, files["G"], "lcr")
    with pytest.raises(TypeError, match="swap_net must be"):
        resolve(3, files["G"], "ftm")
