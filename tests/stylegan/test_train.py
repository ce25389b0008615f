"""Trainer: data loading, losses, EMA, a short run, exact resume, `sgt train`."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from stylegan.train import ImageDataset, TrainConfig, ema_beta, mixing_cutoff, train, update_ema
from stylegan.train.checkpoint import find_checkpoint
from stylegan.train.loss import d_logistic, g_nonsaturating, path_lengths, r1_penalty

TINY = dict(z_dim=16, w_dim=16, mapping_layers=1, channels={4: 16, 8: 16, 16: 8}, batch=4, mbstd_group_size=2,
            r1_interval=2, pl_interval=2, grid_size=2, log_every=1, device="cpu")


def write_images(root, n=8, size=16, render_layout=False):
    """`n` random-blob RGB images; with `render_layout`, the `sgt render --dataset` layout."""
    rng = np.random.default_rng(0)
    img_dir = root / "images" if render_layout else root
    img_dir.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:size, :size]
    records = []
    for i in range(n):
        cx, cy, r = rng.uniform(4, size - 4, 2).tolist() + [rng.uniform(2, 5)]
        blob = ((xx - cx) ** 2 + (yy - cy) ** 2 < r * r)[..., None]
        img = np.where(blob, rng.integers(0, 256, 3), 40).astype(np.uint8)
        Image.fromarray(img).save(img_dir / f"{i:06d}.png")
        records.append({"file": f"images/{i:06d}.png"})
    if render_layout:
        (root / "dataset.json").write_text(json.dumps({"labels": None, "images": records[::-1]}))
    return root


@pytest.fixture
def data_dir(tmp_path):
    return write_images(tmp_path / "data")


# ---- data -----------------------------------------------------------------------------------------------

def test_dataset_render_layout_order_and_range(tmp_path):
    root = write_images(tmp_path / "r", n=5, render_layout=True)
    ds = ImageDataset(root)
    assert len(ds) == 5 and ds.resolution == 16 and ds.images.dtype == torch.uint8
    first = np.array(Image.open(root / "images" / "000004.png"))  # dataset.json lists files in reverse
    assert torch.equal(ds.images[0], torch.from_numpy(first).permute(2, 0, 1))
    x = ds.batch(torch.tensor([0, 1]))
    assert x.shape == (2, 3, 16, 16) and x.min() >= -1 and x.max() <= 1
    assert len(ImageDataset(root, max_size=3)) == 3


def test_dataset_plain_folder_and_errors(tmp_path):
    root = write_images(tmp_path / "p", n=3)
    (root / "sub").mkdir()
    Image.new("RGB", (32, 32)).save(root / "sub" / "big.png")
    with pytest.raises(ValueError, match="expected 16x16.*--resize"):
        ImageDataset(root)
    ds = ImageDataset(root, resolution=16, resize=True)
    assert len(ds) == 4
    with pytest.raises(FileNotFoundError, match="sgt render --dataset"):
        ImageDataset(tmp_path / "missing")


# ---- losses -------------------------------------------------------------------------------------------

def test_logistic_losses_match_log_sigmoid():
    logits = torch.tensor([[-3.0], [0.0], [2.5]])
    assert torch.allclose(g_nonsaturating(logits), -torch.log(torch.sigmoid(logits)).flatten())
    d = d_logistic(fake_logits=logits, real_logits=-logits)
    assert torch.allclose(d, -2 * torch.log(1 - torch.sigmoid(logits)).flatten(), atol=1e-6)


def test_r1_penalty_equals_direct_gradient_norm():
    x = torch.randn(3, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    a = torch.randn(2, 4, 4, dtype=torch.float64)
    # D(x) = sum(a * x^2): dD/dx = 2 a x, so the penalty is ||2 a x||^2 per sample.
    logits = (a * x.square()).sum(dim=[1, 2, 3])[:, None]
    pen = r1_penalty(logits, x)
    assert torch.allclose(pen, (2 * a * x).square().sum(dim=[1, 2, 3]).detach())
    # The graph is kept: d pen / d x = 8 a^2 x (needed to train D on the penalty).
    (g,) = torch.autograd.grad(pen.sum(), x)
    assert torch.allclose(g, 8 * a.square() * x)


def test_r1_penalty_on_discriminator_matches_finite_differences():
    from stylegan import Discriminator, DiscriminatorConfig

    torch.manual_seed(0)
    D = Discriminator(DiscriminatorConfig(img_resolution=8, channels={4: 4, 8: 4}, mbstd_group_size=1)).double()
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    pen = r1_penalty(D(x), x)
    eps, fd = 1e-6, torch.zeros_like(x)
    with torch.no_grad():
        for i in range(x.numel()):
            e = torch.zeros_like(x).flatten()
            e[i] = eps
            e = e.view_as(x)
            fd.view(-1)[i] = (D(x + e) - D(x - e)).item() / (2 * eps)
    assert torch.allclose(pen, fd.square().sum().reshape(1), rtol=1e-5)


def test_path_lengths_of_a_linear_generator():
    w_dim, num_ws = 5, 2
    A = torch.randn(3 * 4 * 4, w_dim, dtype=torch.float64)
    ws = torch.randn(2, num_ws, w_dim, dtype=torch.float64, requires_grad=True)
    img = (ws.sum(1) @ A.T).view(2, 3, 4, 4)
    y = torch.randn_like(img)
    got = path_lengths(img, ws, noise=y)
    jty = y.flatten(1) @ A  # the same J^T y for every w
    assert torch.allclose(got, jty.square().sum(1).sqrt().detach())


def test_mixing_cutoff():
    g = torch.Generator().manual_seed(0)
    cut = [mixing_cutoff(10, 0.5, g) for _ in range(2000)]
    assert all(1 <= c <= 10 for c in cut)
    assert 0.4 < np.mean([c == 10 for c in cut]) < 0.6 + 0.1  # no-mix: 50 % + 1/9 of the mixed draws
    assert all(mixing_cutoff(10, 0.0, g) == 10 for _ in range(50))


def test_sample_ws_mixes_two_latents_from_a_cutoff(tiny_G):
    from stylegan.train import sample_ws

    plain = sample_ws(tiny_G, 3, torch.Generator().manual_seed(1))
    z = torch.randn(3, tiny_G.z_dim, generator=torch.Generator().manual_seed(1))
    assert torch.equal(plain, tiny_G.mapping(z))
    mixed = sample_ws(tiny_G, 3, torch.Generator().manual_seed(1), mixing_prob=1.0)
    first = (mixed == plain).all(dim=(0, 2))
    cutoff = int(first.logical_not().nonzero()[0])
    assert 1 <= cutoff < tiny_G.num_ws and first[:cutoff].all() and not first[cutoff:].any()


def test_ema_update_formula_and_rampup():
    torch.manual_seed(0)
    G, G_ema = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    G.register_buffer("avg", torch.ones(2))
    G_ema.register_buffer("avg", torch.zeros(2))
    before = [p.clone() for p in G_ema.parameters()]
    update_ema(G_ema, G, 0.9)
    for p_ema, p0, p in zip(G_ema.parameters(), before, G.parameters()):
        assert torch.allclose(p_ema, 0.9 * p0 + 0.1 * p)
    assert torch.equal(G_ema.avg, G.avg)
    assert ema_beta(32, 10**9, 10.0, 0.05) == pytest.approx(0.5 ** (32 / 10_000))
    assert ema_beta(32, 1000, 10.0, 0.05) == pytest.approx(0.5 ** (32 / 50))  # ramp-up: 5 % of 1000 images
    assert ema_beta(32, 1000, 10.0, None) == pytest.approx(0.5 ** (32 / 10_000))


# ---- training runs ------------------------------------------------------------------------------------

def _cfg(data, out, steps, snap_every, **kw):
    b = kw.pop("batch", TINY["batch"])
    return TrainConfig(data=str(data), outdir=str(out), total_kimg=steps * b / 1000, snap_kimg=snap_every * b / 1000,
                       **{**TINY, "batch": b, **kw})


def _weights(run_dir, name):
    from stylegan import load_pretrained

    return load_pretrained(find_checkpoint(run_dir) / name).state_dict()


def test_short_run_writes_everything(data_dir, tmp_path):
    import stylegan

    out = train(_cfg(data_dir, tmp_path / "run", steps=3, snap_every=2))
    assert sorted(p.name for p in (out / "checkpoints").glob("step-*")) == ["step-0000002", "step-0000003"]
    assert (out / "samples" / "fakes-step0000003.png").is_file() and (out / "samples" / "reals.png").is_file()
    lines = [json.loads(s) for s in (out / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3]
    assert all(np.isfinite(r["loss_G"]) and np.isfinite(r["loss_D"]) for r in lines)
    assert "r1_penalty" in lines[0] and "pl_penalty" in lines[0]  # regularisers ran at step 0
    G = stylegan.load(out / "final")
    meta = json.loads((out / "final" / "config.json").read_text())["metadata"]
    assert meta["steps"] == 3 and meta["kimg"] == pytest.approx(0.012)
    img = G(torch.randn(2, 16))
    assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()
    ema, g = _weights(out, "G_ema"), _weights(out, "G")
    assert not torch.equal(ema["synthesis.b16.conv1.weight"], g["synthesis.b16.conv1.weight"])


class Killed(Exception):
    pass


def test_resume_after_kill_matches_uninterrupted_run(data_dir, tmp_path):
    full = train(_cfg(data_dir, tmp_path / "full", steps=4, snap_every=2))

    def kill_at_3(step, nets):
        if step == 3:
            raise Killed  # after the step-2 checkpoint, before step 4: step 3's work is lost

    with pytest.raises(Killed):
        train(_cfg(data_dir, tmp_path / "cut", steps=4, snap_every=2), on_step_end=kill_at_3)
    assert find_checkpoint(tmp_path / "cut").name == "step-0000002"
    resumed = train(_cfg(data_dir, tmp_path / "cut", steps=4, snap_every=2), resume=tmp_path / "cut")
    assert find_checkpoint(resumed).name == find_checkpoint(full).name == "step-0000004"
    for name in ("G_ema", "G", "D"):
        a, b = _weights(full, name), _weights(resumed, name)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.allclose(a[k], b[k], atol=1e-6, rtol=0), (name, k)
    sa = torch.load(find_checkpoint(full) / "state.pt", weights_only=True)
    sb = torch.load(find_checkpoint(resumed) / "state.pt", weights_only=True)
    assert sa["step"] == sb["step"] == 4 and sa["cur_nimg"] == sb["cur_nimg"] == 16
    assert torch.allclose(sa["pl_mean"], sb["pl_mean"], atol=1e-7)
    # Adam moments were restored too (otherwise the weights above would differ).
    ea = sa["opt_G"]["state"][0]["exp_avg_sq"]
    assert torch.allclose(ea, sb["opt_G"]["state"][0]["exp_avg_sq"], atol=1e-9)


def test_resume_refuses_changed_options(data_dir, tmp_path):
    train(_cfg(data_dir, tmp_path / "run", steps=1, snap_every=1))
    with pytest.raises(ValueError, match="g_lr"):
        train(_cfg(data_dir, tmp_path / "run", steps=2, snap_every=1, g_lr=0.01), resume=tmp_path / "run")


def test_batch_not_divisible_by_mbstd_group(data_dir, tmp_path):
    with pytest.raises(ValueError, match="minibatch-std"):
        train(_cfg(data_dir, tmp_path / "run", steps=1, snap_every=1, batch=3, mbstd_group_size=2))


def test_cli_train_and_resume(data_dir, tmp_path):
    from click.testing import CliRunner

    from stylegan.train.cli import train as cli

    out = tmp_path / "cli"
    args = ["--data", str(data_dir), "--outdir", str(out), "--kimg", "0.008", "--batch", "4", "--snap", "0.004",
            "--z-dim", "16", "--w-dim", "16", "--map", "1", "--channels", "4:16,8:16,16:8", "--mbstd-group", "2",
            "--device", "cpu"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert find_checkpoint(out).name == "step-0000002"
    r = CliRunner().invoke(cli, [*args[:5], "0.016", *args[6:], "--resume", str(out)])
    assert r.exit_code == 0, r.output
    assert find_checkpoint(out).name == "step-0000004"
    # resuming (or warm-starting) a run that is already past --kimg: one clear line, nothing written
    r = CliRunner().invoke(cli, [*args, "--resume", str(out)])
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert "already at 0.016 kimg" in r.output and "reaches --kimg 0.008" in r.output and "larger --kimg" in r.output
    assert find_checkpoint(out).name == "step-0000004"
    r = CliRunner().invoke(cli, [*args[:-6], "--channels", "4:x"])
    assert r.exit_code != 0 and "res:channels" in r.output
    assert "[default: 16]" in CliRunner().invoke(cli, ["--help"]).output.replace("\n", " ")


def test_mix_styles_takes_a_crossover_or_a_range_of_rows():
    from stylegan.train.mixing import mix_styles

    a, b = torch.zeros(2, 6, 3), torch.ones(2, 6, 3)
    rows_from_b = lambda m: [int(r) for r in m[0, :, 0]]  # noqa: E731
    assert rows_from_b(mix_styles(a, b, 4)) == [0, 0, 0, 0, 1, 1]
    assert rows_from_b(mix_styles(a, b, range(1, 3))) == [0, 1, 1, 0, 0, 0]
    assert rows_from_b(mix_styles(a, b, range(3, 3))) == [0] * 6 and a.sum() == 0  # inputs untouched
