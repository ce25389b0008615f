"""Paste-back: the inverse warp reproduces the photo, leaves everything outside the mask alone,
and colour matching removes a skin-tone shift."""
import numpy as np
import PIL.Image
import pytest
import torch
from skimage import data

from inversion import align, face_mask, ffhq_quad, paste_back
from inversion.landmarks import DlibDetector
from inversion.paste import _match_color, lab_to_rgb, rgb_to_lab


@pytest.fixture(scope="module")
def photo():
    img = data.astronaut()
    lm = max(DlibDetector("hog", 1)(img), key=lambda f: ffhq_quad(f)[1])
    return img, lm


def _diff(a, b):
    return np.abs(a.astype(np.int32) - b.astype(np.int32)).mean(axis=-1)


@pytest.mark.parametrize("size", [1024, 256])
def test_unmodified_crop_reproduces_the_photo(photo, size):
    img, lm = photo
    face = align(img, landmarks=lm, output_size=size)
    out, mask = paste_back(img, face.image, face, return_mask=True, color_match=False)
    core = mask > 0.5
    assert core.sum() > 4000  # the face inside the jaw and brows (hull ~7000 px), not a sliver
    eyes = np.rint(lm[36:48].reshape(2, 6, 2).mean(1)).astype(int)
    assert (mask[eyes[:, 1], eyes[:, 0]] > 0.99).all()
    d = _diff(out, img)
    assert d[core].mean() < 2.0  # measured 1.1 (1024) / 1.4 (256) grey levels
    np.testing.assert_array_equal(out[mask == 0], img[mask == 0])  # untouched, bit for bit
    # With colour matching on, an unmodified face stays put.
    assert _diff(paste_back(img, face.image, face), img)[core].mean() < 2.0


def test_color_matching_removes_a_shift(photo):
    img, lm = photo
    face = align(img, landmarks=lm, output_size=256)
    shifted = np.clip(face.image.astype(np.int32) + [35, 5, -25], 0, 255).astype(np.uint8)
    plain, mask = paste_back(img, shifted, face, color_match=False, return_mask=True)
    matched = paste_back(img, shifted, face, color_match=True)
    core = mask > 0.5
    before, after = _diff(plain, img)[core].mean(), _diff(matched, img)[core].mean()
    assert before > 15 and after < before / 4, (before, after)
    # The seam: just inside the mask's edge the matched result is as close as the round trip.
    ring = (mask > 0.05) & (mask < 0.5)
    assert _diff(matched, img)[ring].mean() < 3.0
    np.testing.assert_array_equal(matched[mask == 0], img[mask == 0])


@pytest.mark.parametrize("contrast", [0.6, 1.5])
def test_color_matching_removes_a_contrast_change(photo, contrast):
    """A multiplicative change (contrast about the mean), not only an additive one."""
    img, lm = photo
    face = align(img, landmarks=lm, output_size=256)
    f = face.image.astype(np.float64)
    mean = f.reshape(-1, 3).mean(0)
    changed = np.clip(np.rint(mean + contrast * (f - mean)), 0, 255).astype(np.uint8)
    plain, mask = paste_back(img, changed, face, color_match=False, return_mask=True)
    matched = paste_back(img, changed, face, color_match=True)
    core = mask > 0.5
    before, after = _diff(plain, img)[core].mean(), _diff(matched, img)[core].mean()
    assert before > 15 and after < 3.0, (before, after)  # measured 17.8 -> 1.6 (0.6), 17.9 -> 2.8 (1.5)


def test_match_color_restores_lab_mean_and_std():
    """Source = target with its Lab deviations scaled by 0.6 (built with scikit-image's Lab, not ours):
    matching to the target's statistics must give the target back."""
    from skimage import color

    target = data.coffee()[100:228, 200:328].astype(np.float64)
    lab = color.rgb2lab(target / 255.0)
    mu = lab.reshape(-1, 3).mean(0)
    source = color.lab2rgb(mu + 0.6 * (lab - mu)) * 255.0
    assert np.abs(source - target).mean() > 15
    out = _match_color(source, target, np.ones(target.shape[:2]))
    assert np.abs(out - target).max() < 0.05  # measured 1e-3


def test_tensor_and_array_inputs_agree(photo):
    img, lm = photo
    face = align(img, landmarks=lm, output_size=128)
    tensor = torch.from_numpy(face.image).permute(2, 0, 1)[None].float() / 127.5 - 1
    np.testing.assert_array_equal(paste_back(img, tensor, face), paste_back(img, face.image, face))
    np.testing.assert_array_equal(paste_back(img, tensor[0], face), paste_back(img, PIL.Image.fromarray(face.image), face))
    with pytest.raises(ValueError, match="one image at a time"):
        paste_back(img, tensor.repeat(2, 1, 1, 1), face)


def test_any_generated_size_and_custom_masks(photo):
    img, lm = photo
    face = align(img, landmarks=lm, output_size=256)
    red = np.zeros((64, 64, 3), np.uint8)
    red[..., 0] = 255
    # A hard, full mask pastes the whole aligned square; an empty one changes nothing.
    out, mask = paste_back(img, red, face, mask=np.ones((32, 32), bool), color_match=False, return_mask=True)
    centre = np.rint(face.to_original([127.5, 127.5])).astype(int)
    assert tuple(out[centre[1], centre[0]]) == (255, 0, 0)
    assert (mask == 1).sum() > 0.8 * (face.matrix[:, 0] @ face.matrix[:, 0]) * 256 ** 2
    np.testing.assert_array_equal(paste_back(img, red, face, mask=np.zeros((256, 256), np.float32)), img)
    with pytest.raises(ValueError, match="aligned from a 512x512 image"):
        paste_back(img[:500], red, face)


def test_face_mask_shape_and_support():
    lm = np.zeros((68, 2))
    t = np.linspace(0, 2 * np.pi, 27, endpoint=False)
    lm[:27] = np.stack([128 + 60 * np.cos(t), 128 + 60 * np.sin(t)], 1)  # a circle of radius 60
    m = face_mask(lm, 256, feather=0.02)
    assert m.shape == (256, 256) and m.dtype == np.float32
    assert m[128, 128] == pytest.approx(1.0, abs=1e-4)
    yy, xx = np.mgrid[:256, :256]
    assert (m[np.hypot(xx - 128, yy - 128) > 61] == 0).all()
    np.testing.assert_allclose(face_mask(lm, 256, size=64).sum() * 16, m.sum(), rtol=0.15)


def test_lab_round_trip():
    rgb = np.random.default_rng(0).random((50, 3))
    np.testing.assert_allclose(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-9)
    np.testing.assert_allclose(rgb_to_lab(np.ones(3)), [100, 0, 0], atol=1e-3)
