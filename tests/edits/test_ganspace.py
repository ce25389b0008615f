"""GANSpace's batched PCA against a float64 NumPy PCA of the same samples, and batch-size independence."""
import numpy as np
import pytest
import torch

from conftest import SMALL
from edits.directions import ganspace, ganspace_pca
from edits.directions.samples import w_moments

N = 3000


def _numpy_pca(G, n, seed):
    z = torch.from_numpy(np.random.default_rng(seed).standard_normal((n, SMALL["z_dim"]))).float()
    with torch.no_grad():
        w = G.mapping(z)[:, 0].double().numpy()
    values, vectors = np.linalg.eigh(np.cov(w, rowvar=False))
    order = np.argsort(values)[::-1]
    return w.mean(0), vectors[:, order].T, values[order]


def test_ganspace_matches_numpy_pca(tiny_G):
    mean, comps, var = ganspace_pca(tiny_G, N, seed=1, batch_size=700)
    ref_mean, ref_comps, ref_var = _numpy_pca(tiny_G, N, seed=1)
    np.testing.assert_allclose(mean.numpy(), ref_mean, atol=1e-9)
    np.testing.assert_allclose(var.numpy(), ref_var, rtol=1e-7, atol=1e-12)
    k = 5
    # subspace comparison (sign- and rotation-insensitive): singular values of the overlap are the
    # cosines of the principal angles between the two top-k subspaces
    cosines = np.linalg.svd(comps[:k].numpy() @ ref_comps[:k].T, compute_uv=False)
    np.testing.assert_allclose(cosines, 1.0, atol=1e-6)
    gaps = np.diff(ref_var[:k + 1]) / ref_var[0]
    for i in range(k):  # components with a clear eigen-gap match one by one, up to sign
        if min(abs(gaps[i]), abs(gaps[i - 1]) if i else 1) > 1e-3:
            assert abs(float(comps[i].numpy() @ ref_comps[i])) > 1 - 1e-6


def test_result_does_not_depend_on_batch_size(tiny_G):
    # equal up to float32 rounding in the mapping network (its matmuls block differently per batch size)
    (m1, comps1, var1), (m2, comps2, var2) = (ganspace_pca(tiny_G, 1000, seed=2, batch_size=b) for b in (1000, 37))
    torch.testing.assert_close(m1, m2, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(var1, var2, rtol=1e-6, atol=1e-8)
    assert torch.all((comps1[:5] * comps2[:5]).sum(1) > 1 - 1e-6)  # same sign too: fix_sign is deterministic
    _, c1 = w_moments(tiny_G, 300, 2, 300)
    _, c2 = w_moments(tiny_G, 300, 2, 1)
    torch.testing.assert_close(c1, c2, rtol=1e-6, atol=1e-6 * float(c1.abs().max()))


def test_ganspace_edits(tiny_G):
    made = ganspace(tiny_G, 4, rows=range(0, 3), num_samples=N, seed=1, batch_size=512)
    _, _, ref_var = _numpy_pca(tiny_G, N, seed=1)
    assert [e.name for e in made] == [f"ganspace:{k}" for k in range(4)]
    for k, e in enumerate(made):
        assert e.rows == (0, 1, 2) and e.unit == "σ" and e.method == "ganspace"
        assert abs(e.sigma - np.sqrt(ref_var[k])) < 1e-6 * e.sigma
        assert abs(float(e.direction.norm()) - 1) < 1e-6
    assert ganspace(tiny_G, 1, num_samples=100)[0].rows == tuple(range(tiny_G.num_ws))
    with pytest.raises(ValueError, match="num_samples"):
        ganspace(tiny_G, 1, num_samples=1)
    with pytest.raises(ValueError, match=r"ws rows in 0\.\.7"):
        ganspace(tiny_G, 1, rows=[8], num_samples=100)
