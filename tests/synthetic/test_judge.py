"""The identity judge: model format and registry, measuring without gradients, its augmentation against
closed forms, training on a tiny set, and the shipped judge telling held-out identities apart."""
import json

import numpy as np
import pytest
import torch

from sgtcore import modelio, registry
from synthetic import judge
from synthetic.judge_train import _gaussian_blur, augment, evaluate, train
from synthetic.retrieval import first_render_gallery, top1


def _small() -> judge.Judge:
    torch.manual_seed(0)
    return judge.Judge(width=8, embed_dim=16, input_size=32).eval()


def test_embed_gives_unit_vectors_mirror_invariant_and_without_gradient():
    net = _small()
    x = (torch.rand(5, 3, 48, 48) * 2 - 1).requires_grad_(True)
    e = net.embed(x)
    assert e.shape == (5, 16) and not e.requires_grad
    assert torch.allclose(e.norm(dim=1), torch.ones(5), atol=1e-5)
    assert torch.allclose(e, net.embed(x.detach().flip(-1)), atol=1e-5)  # a head and its mirror are one identity
    assert torch.allclose(net.embed(x, batch=2), e, atol=1e-5)
    with pytest.raises(ValueError, match="NaN"):
        net.embed(torch.full((1, 3, 32, 32), float("nan")))
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        net.embed(torch.zeros(3, 32, 32))
    net.train()
    with pytest.raises(RuntimeError, match="eval mode"):
        net.embed(x)


def test_model_folder_round_trip_and_registry(tmp_path):
    net = _small()
    out = net.save_pretrained(tmp_path / "judge", {"steps": 1})
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["class_name"], cfg["kind"]) == ("Judge", "judge")
    loaded = judge.load(out)
    assert loaded.config == net.config and not loaded.training
    assert all(not p.requires_grad for p in loaded.parameters())
    x = torch.rand(3, 3, 40, 40) * 2 - 1
    assert torch.allclose(loaded.embed(x), net.embed(x), atol=2e-3)  # fp16 storage
    registry.register("judge", "mine", out)
    try:
        assert registry.find("judge", "mine") == out
    finally:
        registry.unregister("judge", "mine")
    with pytest.raises(FileNotFoundError, match="judge_train"):
        judge.load(tmp_path / "none")


def test_blur_is_a_normalised_gaussian():
    x = torch.zeros(2, 1, 15, 15)
    x[:, :, 7, 7] = 1
    y = _gaussian_blur(x, torch.tensor([1.0, 0.0]))
    t = np.arange(-3, 4)
    k = np.exp(-0.5 * t ** 2)
    k2 = np.outer(k, k) / np.outer(k, k).sum()
    assert np.allclose(y[0, 0, 4:11, 4:11].numpy(), k2, atol=1e-6)
    assert torch.allclose(y[1], x[1], atol=1e-6)  # sigma 0: unchanged


def test_augment_shape_range_and_seeded():
    frames = torch.rand(6, 3, 64, 64) * 2 - 1
    a = augment(frames, torch.Generator().manual_seed(0), 32, 0.8)
    b = augment(frames, torch.Generator().manual_seed(0), 32, 0.8)
    assert a.shape == (6, 3, 32, 32) and a.min() >= -1 and a.max() <= 1 and torch.equal(a, b)
    assert not torch.allclose(a, judge.preprocess(frames, 32, 0.8), atol=1e-2)


def test_first_render_gallery_and_top1():
    ids = np.array([3, 3, 3, 5, 5, 9, 9, 9])
    gallery, query, labels = first_render_gallery(ids)
    assert gallery.tolist() == [0, 3, 5] and query.tolist() == [1, 2, 4, 6, 7] and labels.tolist() == [0, 0, 1, 2, 2]
    emb = torch.eye(3)[torch.tensor([0, 0, 0, 1, 1, 2, 2, 1])]
    assert top1(emb[query], emb[gallery], labels) == pytest.approx(4 / 5)


def _fake_set(path, n_ids=8, per_id=3, size=32):
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 255, (n_ids, 3))
    imgs = np.repeat(colours[:, None, None, None, :], per_id, 1).repeat(size, 2).repeat(size, 3).reshape(-1, size, size, 3)
    imgs = np.clip(imgs + rng.integers(-20, 20, imgs.shape), 0, 255).astype(np.uint8)
    n = n_ids * per_id
    np.savez(path, images=imgs, identity=np.arange(n) // per_id, pose=np.zeros((n, 3), np.float32),
             expression=np.zeros((n, 6), np.float32), light=np.zeros((n, 2), np.float32),
             landmarks=np.zeros((n, 68, 2), np.float32),
             identity_params=np.repeat(rng.uniform(-1, 1, (n_ids, 24)).astype(np.float32), per_id, 0))
    return path


def test_training_writes_a_loadable_judge(tmp_path):
    data = _fake_set(tmp_path / "train.npz")
    net = train(str(data), str(tmp_path / "out"), minutes=0.05, val=str(data), p=4, k=2, width=8, threads=1)
    loaded = judge.load(tmp_path / "out")
    meta = modelio.read_config(tmp_path / "out")["metadata"]
    assert meta["train_identities"] == 8 and meta["steps"] >= 1 and "identity_top1" in meta["val"]
    assert "regression" in meta["objective"]
    r = evaluate(loaded, str(data))
    assert (r["identities"], r["queries"]) == (8, 16) and 0 <= r["identity_top1"] <= 1
    assert net.config == loaded.config


def test_shipped_judge_tells_held_out_identities_apart():
    """Renders of identities outside the judge's training seeds, each under two random poses, expressions and lights."""
    from synthetic.batch import render_many
    from synthetic.oracle_data import dataset_params
    from sgtcore.images import from_uint8

    net = judge.load()
    plist = dataset_params(12, 2, seed=11)
    images = torch.cat([from_uint8(r.image) for r in render_many(plist, 64, workers=1)])
    emb = net.embed(images)
    gallery, query, labels = first_render_gallery(np.arange(24) // 2)
    assert top1(emb[query], emb[gallery], labels) >= 0.75
