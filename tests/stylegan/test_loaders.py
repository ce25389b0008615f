"""Every checkpoint format users have: NVlabs pickles (ADA snapshot, stylegan3-repo StyleGAN2, TF),
rosinality .pt (inference and training snapshot), our directory format; hostile and damaged files."""
import argparse
import pickle

import numpy as np
import pytest
import torch
from conftest import SMALL
from reference import nvlabs_ref, pickles, rosinality_ref

import stylegan
from stylegan import (ArchitectureMismatchError, CorruptCheckpointError, UnknownFormatError,
                      UnsafeCheckpointError)

ADA_KWARGS = dict(z_dim=32, c_dim=0, w_dim=32, img_resolution=32, img_channels=3,
                  mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=512, channel_max=32,
                                                                              num_fp16_res=4, conv_clamp=256))


def _reference_images(params, z, psi=1.0, conv_clamp=None):
    ws = nvlabs_ref.mapping(params, z, 8, psi)
    return nvlabs_ref.synthesis(params, ws, 32, conv_clamp=conv_clamp)


def _check_matches_reference(G, params, conv_clamp=None):
    z = torch.from_numpy(np.random.RandomState(3).randn(2, 32)).float()
    for psi in (1.0, 0.7):
        with torch.no_grad():
            ours = G(z, truncation_psi=psi)
        ref = _reference_images(params, z, psi, conv_clamp)
        assert (ours - ref).abs().max().item() <= 1e-5


def test_nvlabs_ada_snapshot_loads_without_running_module_src(tmp_path, small_params):
    canary = tmp_path / "module_src_ran"
    src = f"open({str(canary)!r}, 'w').write('pwned')\nclass Generator: pass\n"
    path = tmp_path / "network-snapshot-000100.pkl"
    path.write_bytes(pickles.nvlabs_snapshot(small_params, ADA_KWARGS, module_src=src))
    G = stylegan.load(path)
    assert not canary.exists()
    assert (G.num_ws, G.z_dim, G.w_dim, G.img_resolution) == (8, 32, 32, 32)
    assert G.config.conv_clamp == 256 and G.config.num_fp16_res == 4
    assert torch.equal(G.w_avg, small_params["mapping.w_avg"])
    _check_matches_reference(G, small_params, conv_clamp=256)


@pytest.mark.parametrize("fmt", ["nvlabs", "tf"])
def test_snapshots_give_the_ema_generator_not_the_training_one(tmp_path, small_params, fmt):
    """Snapshots hold G (training) and G_ema (TF: G and Gs) with different weights: the EMA one must come back."""
    path = tmp_path / f"{fmt}.pkl"
    if fmt == "nvlabs":
        path.write_bytes(pickles.nvlabs_snapshot(small_params, ADA_KWARGS))
    else:
        path.write_bytes(pickles.tf_snapshot(small_params, dict(latent_size=32, dlatent_size=32, resolution=32,
                                                                mapping_layers=2, fmap_base=256, fmap_max=32)))
    sd = stylegan.load(path).state_dict()
    training = pickles.training_weights(small_params)
    for k, v in small_params.items():
        if not k.endswith("resample_filter"):
            assert torch.equal(sd[k], v), k
            assert not torch.equal(sd[k], training[k]), k


def test_stylegan3_repo_stylegan2_pickle_with_flat_kwargs(tmp_path, small_params):
    kwargs = dict(z_dim=32, c_dim=0, w_dim=32, img_resolution=32, img_channels=3, mapping_kwargs=dict(num_layers=2),
                  channel_base=512, channel_max=32, num_fp16_res=0, conv_clamp=None)
    path = tmp_path / "sg3-stylegan2.pkl"
    path.write_bytes(pickles.nvlabs_snapshot(small_params, kwargs))
    _check_matches_reference(stylegan.load(path), small_params)


def test_stylegan3_alias_free_generator_is_refused(tmp_path, small_params):
    params = dict(small_params)
    params["synthesis.input.freqs"] = torch.zeros(4, 2)
    path = tmp_path / "sg3-t.pkl"
    path.write_bytes(pickles.nvlabs_snapshot(params, ADA_KWARGS))
    with pytest.raises(ArchitectureMismatchError, match="StyleGAN3"):
        stylegan.load(path)


def test_tf_legacy_pickle(tmp_path, small_params):
    path = tmp_path / "stylegan2-tf.pkl"
    path.write_bytes(pickles.tf_snapshot(small_params, dict(latent_size=32, dlatent_size=32, resolution=32,
                                                            mapping_layers=2, fmap_base=256, fmap_max=32)))
    G = stylegan.load(path)
    for k, v in small_params.items():
        if not k.endswith("resample_filter"):
            assert torch.equal(G.state_dict()[k], v), k
    _check_matches_reference(G, small_params)


def test_nvlabs_discriminator(tmp_path, small_params):
    D0 = stylegan.Discriminator(img_resolution=32, channel_base=512, channel_max=32)
    d_params = {k: v + 0.01 * torch.randn_like(v) if not k.endswith("resample_filter") else v
                for k, v in D0.state_dict().items()}
    path = tmp_path / "snap.pkl"
    path.write_bytes(pickles.nvlabs_snapshot(small_params, ADA_KWARGS, d_params=d_params,
                                             d_kwargs=dict(c_dim=0, img_resolution=32, img_channels=3)))
    D = stylegan.load_discriminator(path)
    for k, v in d_params.items():
        assert torch.equal(D.state_dict()[k], v)
    assert D(torch.zeros(4, 3, 32, 32)).shape == (4, 1)


def _rosinality_file(tmp_path, snapshot=False):
    sd, latent_avg = rosinality_ref.init_params(size=32, style_dim=32, n_mlp=2, channels={4: 32, 8: 32, 16: 16, 32: 8})
    obj = {"g_ema": sd, "latent_avg": latent_avg}
    if snapshot:
        obj.update(g=sd, d={}, g_optim={}, d_optim={}, ada_aug_p=0.0,
                   args=argparse.Namespace(size=32, latent=32, n_mlp=2, channel_multiplier=2))
    path = tmp_path / ("snap.pt" if snapshot else "g.pt")
    torch.save(obj, path)
    return path, sd, latent_avg


@pytest.mark.parametrize("snapshot", [False, True])
def test_rosinality_matches_rosinality_reference(tmp_path, snapshot):
    path, sd, latent_avg = _rosinality_file(tmp_path, snapshot)
    G = stylegan.load(path)
    assert torch.equal(G.w_avg, latent_avg)
    z = torch.from_numpy(np.random.RandomState(0).randn(2, 32)).float()
    for psi in (1.0, 0.7):
        w = rosinality_ref.style(sd, z)
        w = latent_avg + psi * (w - latent_avg)  # rosinality's truncation formula
        latent = w[:, None].repeat(1, G.num_ws, 1)
        with torch.no_grad():
            ours = G(z, truncation_psi=psi)
        assert (ours - rosinality_ref.forward(sd, latent, 32)).abs().max().item() <= 1e-5


def _training_snapshot(tmp_path):
    """What rosinality's train.py writes: no latent_avg; args is an argparse.Namespace."""
    sd, _ = rosinality_ref.init_params(size=32, style_dim=32, n_mlp=2, channels={4: 32, 8: 32, 16: 16, 32: 8})
    p = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.Adam([p], lr=0.002, betas=(0.0, 0.99))
    p.sum().backward()
    opt.step()
    obj = dict(g=sd, d={}, g_ema=sd, g_optim=opt.state_dict(), d_optim=opt.state_dict(), ada_aug_p=0.0,
               args=argparse.Namespace(size=32, latent=32, n_mlp=2, channel_multiplier=2, iter=800000))
    path = tmp_path / "000100.pt"
    torch.save(obj, path)
    return path, sd


def test_rosinality_training_snapshot_gets_an_estimated_w_avg(tmp_path):
    from stylegan.formats.rosinality import EstimatedWAvgWarning

    path, sd = _training_snapshot(tmp_path)
    with pytest.warns(EstimatedWAvgWarning, match="without latent_avg.*estimated from 131072 mapped samples"):
        G = stylegan.load(path)
    assert G.w_avg_source.startswith("estimated from 131072 mapped samples (seed 0)")
    # the same ws give rosinality's images, with the estimate as the truncation centre
    z = torch.from_numpy(np.random.RandomState(0).randn(2, 32)).float()
    for psi in (1.0, 0.7):
        w = rosinality_ref.style(sd, z)
        w = G.w_avg + psi * (w - G.w_avg)
        latent = w[:, None].repeat(1, G.num_ws, 1)
        with torch.no_grad():
            ours = G(z, truncation_psi=psi)
        assert (ours - rosinality_ref.forward(sd, latent, 32)).abs().max().item() <= 1e-5


def test_converting_a_snapshot_keeps_the_estimate_and_says_so(tmp_path):
    import json

    from click.testing import CliRunner

    from stylegan.cli import convert

    path, _ = _training_snapshot(tmp_path)
    with pytest.warns(UserWarning, match="estimated"):
        res = CliRunner().invoke(convert, [str(path), str(tmp_path / "ours")])
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "ours" / "config.json").read_text())["metadata"]
    assert meta["w_avg_source"].startswith("estimated from 131072 mapped samples")
    with pytest.warns(UserWarning):
        G = stylegan.load(path)
    assert torch.equal(stylegan.load(tmp_path / "ours").w_avg, G.w_avg)


def test_estimated_w_avg_is_the_mean_of_the_mapping(tmp_path):
    path, sd = _training_snapshot(tmp_path)
    with pytest.warns(UserWarning):
        G = stylegan.load(path)
    # independent: rosinality's own mapping in float64 over 2**20 plain Gaussian latents
    n, sums, squares = 2 ** 20, 0.0, 0.0
    gen = torch.Generator().manual_seed(123)
    sd64 = {k: v.double() for k, v in sd.items()}
    for _ in range(8):
        w = rosinality_ref.style(sd64, torch.randn(n // 8, 32, generator=gen, dtype=torch.float64))
        sums, squares = sums + w.sum(0), squares + (w * w).sum(0)
    mean = sums / n
    std = (squares / n - mean ** 2).sqrt()
    # 5 standard errors of the difference (the estimator's own error is at most a plain sample mean's)
    tol = 5 * std * (1 / n + 1 / 131072) ** 0.5
    assert ((G.w_avg.double() - mean).abs() <= tol).all(), ((G.w_avg.double() - mean).abs() / tol).max()
    assert ((G.w_avg.double() - mean).abs() / std).max() < 0.01  # within 1 % of w's spread


def test_loading_exports_only_what_it_defines():
    import stylegan.loading

    assert all(getattr(stylegan.loading, n).__module__ == "stylegan.loading" for n in stylegan.loading.__all__)


def test_rosinality_discriminator_matches_nvlabs_layout(tmp_path):
    D0 = stylegan.Discriminator(img_resolution=16, channel_base=256, channel_max=16)
    sd = {k: torch.randn_like(v) for k, v in D0.state_dict().items() if not k.endswith("resample_filter")}
    k4 = torch.tensor([1.0, 3, 3, 1])
    k4 = k4.ger(k4) / 64
    rd = {"convs.0.0.weight": sd["b16.fromrgb.weight"], "convs.0.1.bias": sd["b16.fromrgb.bias"]}
    for j, res in ((1, 16), (2, 8)):
        rd.update({f"convs.{j}.conv1.0.weight": sd[f"b{res}.conv0.weight"], f"convs.{j}.conv1.1.bias": sd[f"b{res}.conv0.bias"],
                   f"convs.{j}.conv2.0.kernel": k4, f"convs.{j}.conv2.1.weight": sd[f"b{res}.conv1.weight"],
                   f"convs.{j}.conv2.2.bias": sd[f"b{res}.conv1.bias"], f"convs.{j}.skip.0.kernel": k4,
                   f"convs.{j}.skip.1.weight": sd[f"b{res}.skip.weight"]})
    rd.update({"final_conv.0.weight": sd["b4.conv.weight"], "final_conv.1.bias": sd["b4.conv.bias"],
               "final_linear.0.weight": sd["b4.fc.weight"], "final_linear.0.bias": sd["b4.fc.bias"],
               "final_linear.1.weight": sd["b4.out.weight"], "final_linear.1.bias": sd["b4.out.bias"]})
    path = tmp_path / "snap.pt"
    torch.save({"g_ema": {}, "d": rd}, path)
    D = stylegan.load_discriminator(path)
    for k, v in sd.items():
        assert torch.equal(D.state_dict()[k], v), k


def test_ours_round_trip_and_rosinality_round_trip_are_exact(tmp_path, small_params):
    from stylegan.formats.infer import build_generator

    G = build_generator(small_params, "params")
    stylegan.save_pretrained(G, tmp_path / "ours")
    G2 = stylegan.load(tmp_path / "ours")
    stylegan.save_rosinality(G2, tmp_path / "r.pt")
    G3 = stylegan.load(tmp_path / "r.pt")
    for k, v in G.state_dict().items():
        assert torch.equal(G2.state_dict()[k], v) and torch.equal(G3.state_dict()[k], v), k
    # the written rosinality file is what rosinality's own forward expects
    obj = torch.load(tmp_path / "r.pt", weights_only=True)
    z = torch.randn(2, 32)
    ws = G.mapping(z)
    assert (G.synthesis(ws) - rosinality_ref.forward(obj["g_ema"], ws, 32)).abs().max() <= 1e-5


# ---- hostile files: nothing from the file may run ----

@pytest.mark.parametrize("kind", ["os_system", "open_file"])
@pytest.mark.parametrize("where", ["top_level", "persistence_state", "nested_module"])
def test_hostile_pickles_are_refused_and_never_run(tmp_path, small_params, kind, where):
    canary = tmp_path / "pwned"
    payload = (pickles.os_system_payload if kind == "os_system" else pickles.open_file_payload)(str(canary))
    path = tmp_path / "evil.pkl"
    if where == "top_level":
        data = pickle.dumps({"G_ema": payload})
    elif where == "persistence_state":
        data = pickles.nvlabs_snapshot(small_params, ADA_KWARGS, extra_state={"_hook": payload})
    else:
        data = pickles.nvlabs_snapshot(small_params, ADA_KWARGS,
                                       nested_extra={"path": "synthesis.b8.conv0", "state": {"x": payload}})
    path.write_bytes(data)
    with pytest.raises(UnsafeCheckpointError, match="refusing"):
        stylegan.load(path)
    assert not canary.exists()


def test_hostile_torch_file_is_refused(tmp_path):
    canary = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": {}, "latent_avg": torch.zeros(4), "x": pickles.os_system_payload(str(canary))}, path)
    with pytest.raises(UnsafeCheckpointError):
        stylegan.load(path)
    assert not canary.exists()


def test_storage_bytes_are_not_unpickled_unsafely(tmp_path):
    """`torch.storage._load_from_bytes` normally runs torch.load(weights_only=False) on its bytes."""
    import io

    canary = tmp_path / "pwned"
    inner = io.BytesIO()
    torch.save(pickles.os_system_payload(str(canary)), inner, _use_new_zipfile_serialization=False)
    evil = pickles.Payload(torch.storage._load_from_bytes, inner.getvalue())
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": evil}))
    with pytest.raises(UnsafeCheckpointError, match="refusing"):
        stylegan.load(path)
    assert not canary.exists()


# ---- damaged and foreign files ----

def test_truncated_pickle(tmp_path, small_params):
    data = pickles.nvlabs_snapshot(small_params, ADA_KWARGS)
    path = tmp_path / "cut.pkl"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptCheckpointError, match="cut.pkl"):
        stylegan.load(path)


def test_truncated_torch_file(tmp_path):
    path, _, _ = _rosinality_file(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(CorruptCheckpointError, match="g.pt"):
        stylegan.load(path)


def test_unknown_and_missing_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UnknownFormatError, match="notes.txt"):
        stylegan.load(tmp_path / "notes.txt")
    (tmp_path / "empty.pkl").write_bytes(b"")
    with pytest.raises(CorruptCheckpointError, match="empty"):
        stylegan.load(tmp_path / "empty.pkl")
    with pytest.raises(FileNotFoundError, match="registered names"):
        stylegan.load(tmp_path / "nope.pkl")
    torch.save({"model": {}}, tmp_path / "other.pt")
    with pytest.raises(UnknownFormatError, match="not a rosinality"):
        stylegan.load(tmp_path / "other.pt")


def test_wrong_architecture_names_the_problem(tmp_path, small_params):
    params = dict(small_params)
    params["synthesis.b8.conv0.weight"] = torch.zeros(5, 32, 3, 3)  # out-channels differ from conv1
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickles.nvlabs_snapshot(params, ADA_KWARGS))
    with pytest.raises(ArchitectureMismatchError, match="synthesis.b8"):
        stylegan.load(path)
    path.write_bytes(pickles.nvlabs_snapshot({k: v for k, v in small_params.items() if "torgb" not in k}, ADA_KWARGS))
    with pytest.raises(ArchitectureMismatchError):
        stylegan.load(path)


def test_corrupt_ours(tmp_path, small_params):
    from stylegan.formats.infer import build_generator

    d = stylegan.save_pretrained(build_generator(small_params, "p"), tmp_path / "m")
    w = d / "model.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    with pytest.raises(CorruptCheckpointError, match="model.safetensors"):
        stylegan.load(d)
    (d / "config.json").write_text("{not json")
    with pytest.raises(CorruptCheckpointError, match="config.json"):
        stylegan.load(d)
