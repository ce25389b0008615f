"""SeFa against an independent computation (NumPy SVD of the same matrix) and its layer -> ws row mapping."""
import numpy as np
import pytest
import torch

from conftest import SMALL
from edits.directions import sefa, sefa_factorize, sefa_layers


def _numpy_A(G, names):
    """The affine weights as the layers use them, built here from the parameters, one unit row per channel."""
    mats = []
    for name in names:
        block, layer = name.split(".")
        p = dict(G.synthesis.named_parameters())[f"{block}.{layer}.affine.weight"].detach().double().numpy()
        mats.append(p / np.sqrt(p.shape[1]))  # weight_gain = 1/sqrt(w_dim) (lr_multiplier 1)
    A = np.concatenate(mats, 0)
    return A / np.linalg.norm(A, axis=1, keepdims=True)


@pytest.mark.parametrize("layers", ["all", [0, 1], [2, 3, 4, 5]])
def test_sefa_matches_numpy_svd(tiny_G, layers):
    values, vectors, chosen = sefa_factorize(tiny_G, layers)
    A = _numpy_A(tiny_G, [n for n, _ in chosen])
    _, s, vt = np.linalg.svd(A, full_matrices=True)  # right singular vectors = eigenvectors of AᵀA
    np.testing.assert_allclose(values[:len(s)].numpy(), s ** 2, rtol=1e-9, atol=1e-9)
    assert torch.all(values[:-1] >= values[1:])
    V = vectors.numpy()
    k = min(5, len(s) - 1)
    cos = np.abs(np.sum(V[:k] * vt[:k], axis=1))
    np.testing.assert_allclose(cos, 1.0, atol=1e-8)  # same directions up to sign
    np.testing.assert_allclose(V @ V.T, np.eye(V.shape[0]), atol=1e-10)


def test_top_direction_maximises_the_style_change(tiny_G):
    values, vectors, chosen = sefa_factorize(tiny_G)
    A = torch.from_numpy(_numpy_A(tiny_G, [n for n, _ in chosen]))
    top = (A @ vectors[0]).norm()
    rand = torch.randn(2000, SMALL["w_dim"], dtype=torch.float64)
    rand = rand / rand.norm(dim=1, keepdim=True)
    assert (A @ rand.T).norm(dim=0).max() <= top + 1e-9
    assert torch.isclose(top ** 2, values[0])


def test_layers_map_to_the_ws_rows_they_read(tiny_G):
    layout = dict(tiny_G.synthesis.style_layout())
    # conv layer i reads ws row i (b4.conv1 -> 0, b8.conv0 -> 1, ...); e4e would edit row i-1 for its convs[i-1]
    assert sefa_layers(tiny_G, [3]) == [("b16.conv0", 3)] and layout["b16.conv0"] == 3
    assert sefa_layers(tiny_G, [3], include_torgb=True) == [("b8.torgb", 3), ("b16.conv0", 3)]
    assert [r for _, r in sefa_layers(tiny_G)] == list(range(tiny_G.num_ws - 1))
    assert sefa_layers(tiny_G, ["b8.conv1"]) == [("b8.conv1", 2)]
    edits = sefa(tiny_G, 2, layers=[2, 3], sigma_samples=500)
    assert all(e.rows == (2, 3) for e in edits)
    assert edits[0].info["layers"] == ["b8.conv1", "b16.conv0"]


def test_bad_layers_are_clear_errors(tiny_G):
    last = tiny_G.num_ws - 1
    with pytest.raises(ValueError, match="only ToRGB.*include_torgb"):
        sefa_layers(tiny_G, [last])
    with pytest.raises(ValueError, match="selects no layer"):
        sefa_layers(tiny_G, [])
    with pytest.raises(ValueError, match="unknown layer"):
        sefa_layers(tiny_G, ["b8.conv9"])
    with pytest.raises(ValueError, match=r"ws rows in 0\.\.7"):
        sefa_layers(tiny_G, [8])
    with pytest.raises(ValueError, match="num must be"):
        sefa(tiny_G, 0, sigma_samples=10)


def test_sefa_edits_are_unit_directions_in_sigma_units(tiny_G):
    made = sefa(tiny_G, 3, sigma_samples=4000, seed=5)
    assert [e.name for e in made] == ["sefa:0", "sefa:1", "sefa:2"] and made[0].generator == tiny_G.fingerprint()
    z = torch.from_numpy(np.random.default_rng(5).standard_normal((4000, SMALL["z_dim"]))).float()
    with torch.no_grad():
        w = tiny_G.mapping(z)[:, 0].double()
    for e in made:
        assert abs(float(e.direction.norm()) - 1) < 1e-6 and e.unit == "σ"
        proj = w @ e.direction.double()
        assert abs(float(proj.std()) - e.sigma) < 1e-4 * e.sigma
