"""The shipped default model `synthheads`: loads by name with nothing downloaded, and its outputs match the
statistics recorded when the weights were committed (regenerate EXPECTED with `python
tests/stylegan/test_train_default_model.py` after re-exporting the weights)."""
import json
import re
from pathlib import Path

import pytest
import torch

import stylegan

# Per-image (mean, std) for seeds 0-3, psi 0.7, noise 'const'; recorded for the committed weights.
EXPECTED = {"steps": 31250, "stats": [[0.28814, 0.30908], [-0.16613, 0.4121], [-0.06127, 0.38746], [-0.21587, 0.44422]]}


def _stats(G):
    z = torch.cat([stylegan.seed_to_z(s, G.z_dim) for s in range(4)])
    with torch.no_grad():
        img = G(z, truncation_psi=0.7, noise_mode="const")
    return img, [[round(float(x.mean()), 5), round(float(x.std()), 5)] for x in img]


def test_default_model_loads_by_name_and_matches_recorded_outputs():
    assert "synthheads" in stylegan.registered_names()
    G = stylegan.load("synthheads")
    meta = json.loads((stylegan.loading._PKG_WEIGHTS / "synthheads" / "config.json").read_text())["metadata"]
    assert G.img_resolution == 64 and G.img_channels == 3 and G.num_ws == 10
    img, stats = _stats(G)
    assert img.shape == (4, 3, 64, 64) and torch.isfinite(img).all()
    assert img.min() > -3 and img.max() < 3  # near the data range (a few speckle pixels overshoot)
    assert (img.abs() > 1).float().mean() < 0.05
    assert img.std() > 0.1  # not a constant image
    assert meta["steps"] == EXPECTED["steps"], "weights changed: rerun this file as a script to record new values"
    for got, want in zip(stats, EXPECTED["stats"]):
        assert got == pytest.approx(want, abs=2e-4)
    # Different seeds give different heads.
    assert (img[0] - img[1]).abs().mean() > 0.02


def test_sgt_generate_with_default_model(tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from stylegan.cli import generate

    r = CliRunner().invoke(generate, ["--network", "synthheads", "--seeds", "0-1", "--outdir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    im = Image.open(tmp_path / "seed0001.png")
    assert im.size == (64, 64) and im.mode == "RGB"


if __name__ == "__main__":  # record EXPECTED for the current weights
    G = stylegan.load("synthheads")
    meta = json.loads((stylegan.loading._PKG_WEIGHTS / "synthheads" / "config.json").read_text())["metadata"]
    new = {"steps": meta["steps"], "stats": _stats(G)[1]}
    path = Path(__file__)
    path.write_text(re.sub(r"^EXPECTED = .*$", "EXPECTED = " + json.dumps(new), path.read_text(), count=1,
                           flags=re.M))
    print("recorded", new)


def test_v2_is_registered_beside_v1_grown_from_it_and_draws_128_px_heads():
    """`synthheads128` (issue 19's v2, frozen at 640 kimg): registered by name, 128 px with v1's widths plus one block,
    warm-started by growing v1, trained on 50 000 renders; its images are in range and differ by seed."""
    G1, G2 = stylegan.load("synthheads"), stylegan.load("synthheads128")
    meta = json.loads((stylegan.loading._PKG_WEIGHTS / "synthheads128" / "config.json").read_text())["metadata"]
    assert (G2.img_resolution, G2.num_ws, G2.w_dim, G2.z_dim) == (128, G1.num_ws + 2, G1.w_dim, G1.z_dim)
    assert meta["warm_start"]["grown_from_resolution"] == 64 and meta["train_images"] >= 50_000
    assert meta["kimg"] > meta["warm_start"]["kimg"]
    # the README and docs/training.md state how far it has trained: the shipped milestone's numbers
    root = Path(__file__).resolve().parents[2]
    at_128 = re.search(r"(\d+) kimg at 128 px", (root / "README.md").read_text())
    assert at_128 and int(at_128.group(1)) == round(meta["kimg"] - meta["warm_start"]["kimg"]), at_128
    training_md = (root / "docs" / "training.md").read_text()
    assert f"Milestone shipped: {meta['kimg']:.1f} kimg" in training_md
    # ... and the Fréchet distance measured on it (docs/synthheads128_metrics.json, stylegan.train.metrics)
    m = json.loads((root / "docs" / "synthheads128_metrics.json").read_text())
    fd, floor = m["fd_samples_vs_renders"], m["fd_renders_vs_renders"]
    assert m["network"].endswith("synthheads128") and m["num_samples"] == 5000
    assert f"**{fd:.2f} against a floor of {floor:.2f}, {fd / floor:.1f}×**" in training_md
    assert stylegan.is_shipped(G2) and stylegan.is_shipped(G1)
    img, _ = _stats(G2)
    assert img.shape == (4, 3, 128, 128) and torch.isfinite(img).all() and (img.abs() > 1).float().mean() < 0.05
    assert (img[0] - img[1]).abs().mean() > 0.02 and img.std() > 0.1
