"""ArcFace IR-SE identity network (inversion.identity): model_ir_se50.pth's layout, the original forward and
the editing repos' ID-loss crop (tests/reference/psp_ref.py), and bad files."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from inversion.identity import IdentityNet, identity_loss, load_identity_net
from reference import pickles, psp_ref
from sgtcore.errors import ArchitectureMismatchError, CorruptCheckpointError, UnknownFormatError, UnsafeCheckpointError

WIDTHS, UNITS = (16, 24, 32, 48), (1, 2, 2, 1)


@pytest.fixture(scope="module")
def weights():
    return psp_ref.arcface_params(WIDTHS, UNITS, dim=64, seed=4)


def _faces(n=3, size=256, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("legacy", [False, True])
def test_matches_the_original_forward_and_id_loss_crop(tmp_path, weights, legacy):
    path = tmp_path / "model_ir_se50.pth"
    torch.save(weights, path, _use_new_zipfile_serialization=not legacy)  # a bare state dict, as released
    net = load_identity_net(path)
    x = _faces()
    with torch.no_grad():
        ours = net.embed(x)
        theirs = psp_ref.id_loss_feats(weights, x, UNITS)
    assert ours.shape == (3, 64)
    assert (ours - theirs).abs().max().item() <= 1e-5
    assert torch.allclose(ours.norm(dim=1), torch.ones(3), atol=1e-5)


def test_larger_inputs_are_pooled_to_256_like_face_pool(tmp_path, weights):
    path = tmp_path / "arc.pth"
    torch.save(weights, path)
    net = load_identity_net(path)
    x = _faces(2, 512)
    with torch.no_grad():  # pSp pools generator output with AdaptiveAvgPool2d((256, 256)) before the ID loss
        expected = psp_ref.id_loss_feats(weights, F.adaptive_avg_pool2d(x, (256, 256)), UNITS)
        assert (net.embed(x) - expected).abs().max() <= 1e-5


def test_identity_loss_is_one_minus_cos(tmp_path, weights):
    path = tmp_path / "arc.pth"
    torch.save(weights, path)
    net = load_identity_net(path)
    a, b = _faces(2, seed=1), _faces(2, seed=2)
    with torch.no_grad():
        ea, eb = net.embed(a), net.embed(b)
        assert torch.allclose(identity_loss(ea, ea), torch.zeros(2), atol=1e-6)
        assert torch.allclose(identity_loss(ea, eb), 1 - (ea * eb).sum(1), atol=1e-6)
        assert torch.allclose(net.distance(a, b), identity_loss(ea, eb), atol=1e-6)
    # differentiable through the images (the trainers' use)
    img = a.clone().requires_grad_(True)
    identity_loss(net.embed(img), eb).sum().backward()
    assert img.grad is not None and img.grad.abs().sum() > 0


def test_full_size_arcface_has_the_original_397_keys():
    with torch.device("meta"):
        net = IdentityNet()
    ours = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in psp_ref.arcface_params(device="meta").items()}
    assert len(ours) == 397 and ours == theirs
    assert ours["output_layer.3.weight"] == (512, 25088)


def test_old_files_without_num_batches_tracked_load(tmp_path, weights):
    sd = {k: v for k, v in weights.items() if not k.endswith("num_batches_tracked")}
    torch.save(sd, tmp_path / "old.pth")
    assert load_identity_net(tmp_path / "old.pth").embed(_faces(1)).shape == (1, 64)


def test_bad_files(tmp_path, weights):
    canary = tmp_path / "pwned"
    torch.save({**weights, "x": pickles.os_system_payload(str(canary))}, tmp_path / "evil.pth")
    with pytest.raises(UnsafeCheckpointError, match="refusing"):
        load_identity_net(tmp_path / "evil.pth")
    assert not canary.exists()
    torch.save(weights, tmp_path / "cut.pth")
    data = (tmp_path / "cut.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptCheckpointError, match="cut.pth"):
        load_identity_net(tmp_path / "cut.pth")
    bad = dict(weights)
    bad["output_layer.3.weight"] = bad["output_layer.3.weight"][:, :100]
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(ArchitectureMismatchError, match="output_layer.3"):
        load_identity_net(tmp_path / "bad.pth")
    nan = {k: v.clone() for k, v in weights.items()}
    nan["output_layer.4.running_var"][0] = float("nan")
    torch.save(nan, tmp_path / "nan.pth")
    with pytest.raises(CorruptCheckpointError, match="NaN"):
        load_identity_net(tmp_path / "nan.pth")
    torch.save({"state_dict": {"encoder.x": torch.zeros(1)}, "opts": {}}, tmp_path / "psp.pt")
    with pytest.raises(UnknownFormatError, match="load_encoder"):
        load_identity_net(tmp_path / "psp.pt")
    with pytest.raises(UnknownFormatError, match="identity network, not an encoder"):
        import inversion

        torch.save(weights, tmp_path / "arc.pth")
        inversion.load_encoder(tmp_path / "arc.pth")


def test_swap_training_uses_the_identity_net(tmp_path, weights, tiny_G):
    """`train(..., identity_net=)` (`sgt train-swap --identity-net`): ArcFace gives the photo identity term."""
    from PIL import Image

    from edits.swap import data as swap_data
    from edits.swap.train import SwapTrainConfig, train
    from synthetic import render

    torch.save(weights, tmp_path / "arc.pth")
    net = load_identity_net(tmp_path / "arc.pth")
    calls = []
    embed = net.embed
    net.embed = lambda x: calls.append(x.shape[0]) or embed(x)
    folder = tmp_path / "photos"
    folder.mkdir()
    for k in range(3):
        Image.fromarray(render(swap_data.head_params(k, 11), 32).image).save(folder / f"{k}.png")
    d = swap_data.from_folder(tiny_G, folder, tmp_path / "p.npz", steps=0, progress=False)
    out = train(tiny_G, d, SwapTrainConfig(method="ftm", steps=2, batch=8, seed=1), None, identity_net=net,
                progress=False)
    assert calls and all(torch.isfinite(p).all() for p in out.parameters())


def test_train_swap_cli_refuses_a_bad_identity_net(tmp_path):
    from click.testing import CliRunner

    from demos.cli import main

    torch.save({"model": torch.zeros(2)}, tmp_path / "nope.pth")
    r = CliRunner().invoke(main, ["train-swap", "--method", "ftm", "--network", "synthheads", "--out",
                                  str(tmp_path / "run"), "--identity-net", str(tmp_path / "nope.pth")])
    assert r.exit_code == 1 and "not ArcFace IR-SE weights" in r.output and "Traceback" not in r.output
