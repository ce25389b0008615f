"""SSIM against scikit-image's `structural_similarity` (Gaussian window, sigma 1.5, population
covariances, as Wang et al. 2004), and MS-SSIM (Wang et al. 2003) against a float64 composition whose
every scale is itself checked against scikit-image; on natural images, not only on noise."""
import numpy as np
import pytest
import scipy.ndimage as ndi
import torch
from skimage import data, transform
from skimage.metrics import structural_similarity

from inversion.losses import ms_ssim, ssim

C1, C2 = 0.01 ** 2, 0.03 ** 2
WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
WEIGHTS = WEIGHTS / WEIGHTS.sum()  # they sum to 1.0001; ours renormalises (docstring)


@pytest.fixture(scope="module")
def images():
    a = transform.resize(data.astronaut()[30:230, 130:330], (176, 176), anti_aliasing=True)
    b = transform.resize(data.coffee()[50:250, 200:400], (176, 176), anti_aliasing=True)
    c = np.clip(a + 0.1 * np.random.RandomState(0).randn(*a.shape), 0, 1)
    return {"astronaut": a, "coffee": b, "noisy": c}


def _t(x):
    return torch.from_numpy(x).permute(2, 0, 1)[None].float() * 2 - 1


def _skimage_ssim(x, y):
    return structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=1.0, channel_axis=-1)


def _parts64(x, y):
    """Mean SSIM and mean contrast-structure term over the valid (fully windowed) region, float64."""
    f = lambda z: ndi.gaussian_filter(z, [1.5, 1.5, 0], truncate=3.5)  # noqa: E731  (11 taps)
    mx, my = f(x), f(y)
    sxx, syy, sxy = f(x * x) - mx * mx, f(y * y) - my * my, f(x * y) - mx * my
    cs = (2 * sxy + C2) / (sxx + syy + C2)
    lum = (2 * mx * my + C1) / (mx ** 2 + my ** 2 + C1)
    return (lum * cs)[5:-5, 5:-5].mean(), cs[5:-5, 5:-5].mean()


PAIRS = [("astronaut", "coffee"), ("astronaut", "noisy"), ("coffee", "noisy")]


@pytest.mark.parametrize("a,b", PAIRS)
def test_ssim_matches_scikit_image(images, a, b):
    x, y = images[a], images[b]
    assert ssim(_t(x), _t(y)).item() == pytest.approx(_skimage_ssim(x, y), abs=2e-5)


@pytest.mark.parametrize("a,b", PAIRS)
def test_ms_ssim_matches_float64_composition(images, a, b):
    x, y = images[a], images[b]  # 176 px: five scales, the smallest 11 px (one full window)
    want = 1.0
    for i in range(5):
        s, cs = _parts64(x, y)
        assert s == pytest.approx(_skimage_ssim(x, y), abs=1e-9)  # each scale's statistics = scikit-image's
        want *= max(s if i == 4 else cs, 1e-6) ** WEIGHTS[i]
        if i < 4:
            x, y = (z.reshape(z.shape[0] // 2, 2, z.shape[1] // 2, 2, 3).mean((1, 3)) for z in (x, y))
    assert ms_ssim(_t(images[a]), _t(images[b])).item() == pytest.approx(want, abs=2e-5)
