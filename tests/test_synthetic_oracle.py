"""The shipped attribute oracle: API, shapes, differentiability, and that it measures."""
import numpy as np
import pytest
import torch

from synthetic import HeadParams, Pose, render, sample_params
from synthetic import oracle
from synthetic.params import sample_identity


@pytest.fixture(scope="module")
def net():
    torch.set_num_threads(1)
    return oracle.load()


def _batch(plist, size=64):
    return torch.cat([render(p, size).to_tensor() for p in plist])


def test_predict_shapes_any_resolution_and_gradients(net):
    x = _batch([HeadParams()], size=96).requires_grad_(True)
    out = net.predict(x)
    assert out["yaw"].shape == (1,) and out["identity"].shape == (1, 128)
    assert out["landmarks"].shape == (1, 68, 2)
    assert torch.allclose(out["identity"].norm(dim=1), torch.ones(1), atol=1e-5)
    # landmarks come back in the input's pixel units: near the rendered ones
    r = render(HeadParams(), 96)
    assert (out["landmarks"][0] - torch.from_numpy(r.landmarks)).norm(dim=1).mean() < 6
    net.identity_distance(x, x.detach().flip(0)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="N, 3, H, W"):
        net.predict(torch.zeros(3, 64, 64))


def test_yaw_is_measured(net):
    rng = np.random.default_rng(123)
    yaws = [-50.0, -25.0, 0.0, 25.0, 50.0]
    plist = []
    for y in yaws:
        p = sample_params(rng)
        p.pose = Pose(yaw=y, pitch=0.0, roll=0.0)
        plist.append(p)
    with torch.no_grad():
        pred = net.predict(_batch(plist))["yaw"].numpy()
    assert np.all(np.diff(pred) > 0)  # ordered like the truth
    assert np.median(np.abs(pred - yaws)) < 8


def test_identity_embedding_separates_people(net):
    rng = np.random.default_rng(7)
    plist, ids = [], []
    for i in range(4):
        ident = sample_identity(rng)
        for _ in range(3):
            p = sample_params(rng)
            p.identity = ident
            p.pose = Pose(yaw=float(rng.uniform(-40, 40)), pitch=float(rng.uniform(-20, 20)), roll=0.0)
            plist.append(p)
            ids.append(i)
    with torch.no_grad():
        emb = net.predict(_batch(plist))["identity"]
    cos = (emb @ emb.t()).numpy()
    ids = np.array(ids)
    same = (ids[:, None] == ids[None]) & ~np.eye(len(ids), dtype=bool)
    diff = ids[:, None] != ids[None]
    assert cos[same].mean() > cos[diff].mean() + 0.2


def test_missing_weights_say_how_to_train(tmp_path):
    with pytest.raises(FileNotFoundError, match="synthetic.oracle_train"):
        oracle.load(tmp_path / "none.safetensors")
