"""Quality metrics of `stylegan.train.metrics`: the Fréchet distance formula and the CLI's choice of
held-out and floor sets."""
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import stylegan
from stylegan.train.metrics import frechet_distance, main


def test_frechet_distance_matches_1d_closed_form():
    """In 1-D the Fréchet distance of two Gaussians is (mu_a - mu_b)^2 + (sigma_a - sigma_b)^2."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 1))
    b = 2.5 * a + 3.0
    expected = (a.mean() - b.mean()) ** 2 + (a.std(ddof=1) - b.std(ddof=1)) ** 2
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
    x = rng.normal(size=(400, 6))
    assert abs(frechet_distance(x, x)) < 1e-6
    assert frechet_distance(x, x + 1.0) == pytest.approx(6.0, rel=1e-6)


def test_frechet_distance_matches_matrix_square_root_definition():
    """Correlated 5-D features (S_a, S_b do not commute): the trace term equals Tr(sqrtm(S_a S_b))."""
    from scipy import linalg

    rng = np.random.default_rng(2)
    a = rng.normal(size=(300, 5)) @ rng.normal(size=(5, 5))
    b = rng.normal(size=(250, 5)) @ rng.normal(size=(5, 5)) + 0.5
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(s_a @ s_b)
    root = root[0] if isinstance(root, tuple) else root
    expected = np.square(a.mean(0) - b.mean(0)).sum() + np.trace(s_a + s_b - 2 * np.real(root))
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-8)


@pytest.fixture
def setup(tmp_path):
    rng = np.random.default_rng(1)
    img_dir = tmp_path / "images"
    img_dir.mkdir()
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(img_dir / f"{i:06d}.png")
    G = stylegan.Generator(z_dim=8, w_dim=8, img_resolution=16, channel_base=64, channel_max=8, mapping_layers=1)
    stylegan.save_pretrained(G, tmp_path / "G")
    return tmp_path


def test_cli_floor_set_is_disjoint_and_reported(setup):
    out = setup / "m.json"
    args = ["--network", str(setup / "G"), "--data", str(setup / "images"), "--num", "4"]
    res = CliRunner().invoke(main, args + ["--real-start", "2", "--floor-start", "7", "--out", str(out)])
    assert res.exit_code == 0, res.output
    m = json.loads(out.read_text())
    assert m["floor_range"] == [7, 11] and m["num_real_eval"] == 4 and m["num_real_floor"] == 4
    assert m["fd_samples_vs_renders"] > 0 and m["fd_renders_vs_renders"] >= 0
    # the reported numbers are the distances between the right sets: recomputed from their parts
    from stylegan.train.dataset import ImageDataset
    from stylegan.train.metrics import generate, oracle_outputs
    from synthetic import oracle as oracle_mod

    orc, ds = oracle_mod.load(), ImageDataset(str(setup / "images"))
    G = stylegan.load(setup / "G")
    with torch.no_grad():
        fake = oracle_outputs(orc, generate(G, 4))["features"]
        held = oracle_outputs(orc, ds.batch(torch.arange(2, 6)))["features"]
        floor = oracle_outputs(orc, ds.batch(torch.arange(7, 11)))["features"]
    assert m["fd_samples_vs_renders"] == pytest.approx(frechet_distance(fake, held), rel=1e-5, abs=1e-6)
    assert m["fd_renders_vs_renders"] == pytest.approx(frechet_distance(floor, held), rel=1e-5, abs=1e-6)
    bad = CliRunner().invoke(main, args + ["--real-start", "2", "--floor-start", "4"])
    assert bad.exit_code != 0 and "overlaps" in bad.output
