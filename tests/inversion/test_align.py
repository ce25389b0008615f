"""FFHQ alignment: agreement with a transcription of the official script, exact geometry on
synthetic faces with known landmarks, face selection and errors."""
import json
import warnings

import numpy as np
import PIL.Image
import pytest
import scipy.ndimage
from skimage import data

from inversion import (AlignedFace, FaceIndexError, MultipleFacesWarning, NoFaceError, align, ffhq_quad)
from inversion.landmarks import DlibDetector


# --- the official recipe, transcribed step by step (NVlabs/ffhq-dataset `recreate_aligned_images`,
# REFERENCE.md §2); deliberately independent of inversion/align.py ---------------------------------
def reference_align(img, lm, output_size=1024, transform_size=4096, enable_padding=True):
    lm = np.array(lm, dtype=np.float64)
    lm_eye_left = lm[36:42]
    lm_eye_right = lm[42:48]
    lm_mouth_outer = lm[48:60]

    eye_left = np.mean(lm_eye_left, axis=0)
    eye_right = np.mean(lm_eye_right, axis=0)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_left = lm_mouth_outer[0]
    mouth_right = lm_mouth_outer[6]
    mouth_avg = (mouth_left + mouth_right) * 0.5
    eye_to_mouth = mouth_avg - eye_avg

    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    quad = np.stack([c - x - y, c - x + y, c + x + y, c + x - y])
    qsize = np.hypot(*x) * 2

    shrink = int(np.floor(qsize / output_size * 0.5))
    if shrink > 1:
        rsize = (int(np.rint(float(img.size[0]) / shrink)), int(np.rint(float(img.size[1]) / shrink)))
        img = img.resize(rsize, PIL.Image.Resampling.LANCZOS)
        quad /= shrink
        qsize /= shrink

    border = max(int(np.rint(qsize * 0.1)), 3)
    crop = (int(np.floor(min(quad[:, 0]))), int(np.floor(min(quad[:, 1]))),
            int(np.ceil(max(quad[:, 0]))), int(np.ceil(max(quad[:, 1]))))
    crop = (max(crop[0] - border, 0), max(crop[1] - border, 0),
            min(crop[2] + border, img.size[0]), min(crop[3] + border, img.size[1]))
    if crop[2] - crop[0] < img.size[0] or crop[3] - crop[1] < img.size[1]:
        img = img.crop(crop)
        quad -= crop[0:2]

    pad = (int(np.floor(min(quad[:, 0]))), int(np.floor(min(quad[:, 1]))),
           int(np.ceil(max(quad[:, 0]))), int(np.ceil(max(quad[:, 1]))))
    pad = (max(-pad[0] + border, 0), max(-pad[1] + border, 0),
           max(pad[2] - img.size[0] + border, 0), max(pad[3] - img.size[1] + border, 0))
    if enable_padding and max(pad) > border - 4:
        pad = np.maximum(pad, int(np.rint(qsize * 0.3)))
        img = np.pad(np.float32(img), ((pad[1], pad[3]), (pad[0], pad[2]), (0, 0)), 'reflect')
        h, w, _ = img.shape
        y, x, _ = np.ogrid[:h, :w, :1]
        mask = np.maximum(1.0 - np.minimum(np.float32(x) / pad[0], np.float32(w - 1 - x) / pad[2]),
                          1.0 - np.minimum(np.float32(y) / pad[1], np.float32(h - 1 - y) / pad[3]))
        blur = qsize * 0.02
        img += (scipy.ndimage.gaussian_filter(img, [blur, blur, 0]) - img) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
        img += (np.median(img, axis=(0, 1)) - img) * np.clip(mask, 0.0, 1.0)
        img = PIL.Image.fromarray(np.uint8(np.clip(np.rint(img), 0, 255)), 'RGB')
        quad += pad[0:2]

    img = img.transform((transform_size, transform_size), PIL.Image.Transform.QUAD,
                        (quad + 0.5).flatten(), PIL.Image.Resampling.BILINEAR)
    if output_size < transform_size:
        img = img.resize((output_size, output_size), PIL.Image.Resampling.LANCZOS)
    return np.asarray(img)


# --- a synthetic face whose landmarks are known exactly -------------------------------------------
def canonical_landmarks():
    """68 dlib-ordered points of an upright face, eyes 60 px apart, origin between the eyes."""
    lm = np.zeros((68, 2))
    t = np.linspace(0, np.pi, 17)
    lm[0:17] = np.stack([-65 * np.cos(t), -10 + 75 * np.sin(t)], 1)                 # jaw
    lm[17:27] = np.stack([np.r_[np.linspace(-50, -10, 5), np.linspace(10, 50, 5)], np.full(10, -45)], 1)
    lm[27:31] = np.stack([np.zeros(4), np.linspace(-15, 10, 4)], 1)                 # nose bridge
    lm[31:36] = np.stack([np.linspace(-10, 10, 5), np.full(5, 15)], 1)
    a = np.deg2rad(np.arange(6) * 60)
    ring = np.stack([8 * np.cos(a), 4 * np.sin(a)], 1)                               # mean exactly 0
    lm[36:42] = ring + [-30, -20]
    lm[42:48] = ring + [30, -20]
    a = np.deg2rad(180 - np.arange(12) * 30)
    lm[48:60] = np.stack([22 * np.cos(a), 40 + 8 * np.sin(a)], 1)                   # 48, 54 = corners
    a = np.deg2rad(180 - np.arange(8) * 45)
    lm[60:68] = np.stack([14 * np.cos(a), 40 + 3 * np.sin(a)], 1)
    return lm


def synthetic_face(canvas=(400, 400), center=(200, 200), scale=1.0, angle=0.0):
    """Grey image with Gaussian bumps: red at the left eye, green at the right, blue at the mouth.

    Returns (image, landmarks [68, 2], {name: (channel, centre)}).
    """
    r = np.deg2rad(angle)
    rot = scale * np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]])
    lm = canonical_landmarks() @ rot.T + center
    spots = {"eye_left": (0, lm[36:42].mean(0)), "eye_right": (1, lm[42:48].mean(0)),
             "mouth": (2, (lm[48] + lm[54]) / 2)}
    h, w = canvas
    yy, xx = np.mgrid[:h, :w]
    img = np.full((h, w, 3), 120.0)
    sigma = 4.0 * scale
    for ch, (px, py) in spots.values():
        img[:, :, ch] += 100 * np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * sigma ** 2))
    return np.uint8(np.rint(img)), lm, spots


def centroid(channel, near, radius):
    x0, y0 = np.maximum(np.round(near).astype(int) - radius, 0)
    win = channel[y0:y0 + 2 * radius + 1, x0:x0 + 2 * radius + 1].astype(np.float64)
    weight = np.clip(win - 120.0, 0, None)
    yy, xx = np.mgrid[:win.shape[0], :win.shape[1]]
    return np.array([(weight * xx).sum() / weight.sum() + x0, (weight * yy).sum() / weight.sum() + y0])


# --- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def astronaut():
    img = data.astronaut()
    faces = DlibDetector("hog", 1)(img)
    lm = max(faces, key=lambda f: ffhq_quad(f)[1])  # dlib also "finds" the mission patch
    return img, lm


# --- agreement with the official recipe ---------------------------------------------------------------
@pytest.mark.parametrize("size", [1024, 256])
def test_matches_official_recipe_on_a_photo(astronaut, size):
    img, lm = astronaut
    ours = align(img, landmarks=lm, output_size=size)
    ref = reference_align(PIL.Image.fromarray(img), lm, size, 4 * size)
    assert ours.image.shape == (size, size, 3) and ours.image.dtype == np.uint8
    # bit for bit: same Pillow calls on the same numbers (any resampling or supersampling change shows)
    np.testing.assert_array_equal(ours.image, ref)


def test_matches_official_recipe_with_padding(astronaut):
    img, lm = astronaut
    crop = img[60:, 150:]  # the face now touches the top and left edges: the padding branch runs
    lm = lm - [150, 60]
    quad, _ = ffhq_quad(lm)
    assert quad.min() < 0
    ours = align(crop, landmarks=lm, output_size=256)
    ref = reference_align(PIL.Image.fromarray(crop), lm, 256, 1024)
    np.testing.assert_array_equal(ours.image, ref)


def test_matches_official_recipe_with_shrink():
    img, lm, _ = synthetic_face(canvas=(1203, 1203), center=(590, 610), scale=4.0, angle=12)
    assert ffhq_quad(lm)[1] / 96 * 0.5 >= 2  # shrink step is taken
    ours = align(img, landmarks=lm, output_size=96)
    ref = reference_align(PIL.Image.fromarray(img), lm, 96, 384)
    np.testing.assert_array_equal(ours.image, ref)


# --- geometry: known landmarks land where the inverse matrix says -----------------------------------
@pytest.mark.parametrize("canvas,center,scale,angle,size", [
    ((400, 400), (200, 200), 1.0, 0.0, 256),       # plain
    ((400, 400), (190, 215), 1.3, 30.0, 256),      # rotated and scaled
    ((300, 300), (70, 80), 1.0, -20.0, 128),       # near the corner: padding
    ((1203, 1203), (590, 610), 4.0, 12.0, 96),     # large face: shrink by 5 with a non-integer resize
])
def test_known_landmarks_map_exactly(canvas, center, scale, angle, size):
    img, lm, spots = synthetic_face(canvas, center, scale, angle)
    face = align(img, landmarks=lm, output_size=size)
    radius = max(int(4 * 4.0 * scale * size / ffhq_quad(lm)[1]), 4)
    for ch, point in spots.values():
        expected = face.to_aligned(point)
        found = centroid(face.image[:, :, ch], expected, radius)
        assert np.abs(found - expected).max() < 0.25, (found, expected)
        np.testing.assert_allclose(face.to_original(expected), point, atol=1e-9)
    # The recipe is similarity-invariant: the aligned landmarks do not depend on pose or scale,
    # except that the official shrink step (quad / shrink, ignoring PIL's pixel-centre convention)
    # moves the crop by (shrink - 1) / 2 photo pixels; our matrix reports that shift faithfully.
    upright = align(synthetic_face()[0], landmarks=synthetic_face()[1], output_size=size)
    shrunk = ffhq_quad(lm)[1] / size * 0.5 >= 2
    np.testing.assert_allclose(face.landmarks_aligned, upright.landmarks_aligned, atol=0.25 if shrunk else 1e-6)
    # Eyes level and centred, as in FFHQ.
    eyes = upright.landmarks_aligned[36:48].reshape(2, 6, 2).mean(1)
    assert abs(eyes[0, 1] - eyes[1, 1]) < 1e-6
    assert abs(eyes.mean(0)[0] - (size - 1) / 2) < 1e-6


def test_aligned_face_record(astronaut):
    img, lm = astronaut
    face = align(img, landmarks=lm, output_size=64)
    np.testing.assert_allclose(face.landmarks, lm)
    np.testing.assert_allclose(face.to_original(face.landmarks_aligned), lm, atol=1e-9)
    inv = face.inverse_matrix
    np.testing.assert_allclose(inv @ np.r_[face.matrix[:, 2], 1], [0, 0], atol=1e-9)
    record = json.loads(json.dumps(face.to_dict()))
    back = AlignedFace.from_dict(record, face.image)
    np.testing.assert_array_equal(back.matrix, face.matrix)
    assert back.source_size == (512, 512) and back.output_size == 64
    assert repr(face).startswith("AlignedFace(output_size=64, face_index=0, source_size=(512, 512)")


# --- detection, face choice and errors -------------------------------------------------------------
def test_detects_the_astronaut(astronaut):
    img, lm = astronaut
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MultipleFacesWarning)
        face = align(img, output_size=64)
    np.testing.assert_allclose(face.landmarks, lm)
    np.testing.assert_allclose(lm[36:48].mean(0), [225, 103], atol=5)


def test_face_choice_and_warning():
    img = np.full((200, 600, 3), 90, np.uint8)
    base = canonical_landmarks()
    faces = [base * 0.5 + [480, 100], base * 0.8 + [300, 100], base * 0.4 + [100, 100]]

    def three_faces(image):
        return [f.copy() for f in faces]

    with pytest.warns(MultipleFacesWarning, match=r"3 faces found in the image; aligned the largest \(index 1"):
        largest = align(img, detector=three_faces, output_size=32)
    np.testing.assert_allclose(largest.landmarks, faces[1])
    every = align(img, detector=three_faces, output_size=32, face="all")
    assert [f.face_index for f in every] == [0, 1, 2]
    assert [f.landmarks[30, 0] for f in every] == sorted(f.landmarks[30, 0] for f in every)  # left to right
    np.testing.assert_allclose(align(img, detector=three_faces, output_size=32, face=2).landmarks, faces[0])
    np.testing.assert_allclose(align(img, detector=three_faces, output_size=32, face=np.int64(-1)).landmarks, faces[0])
    with pytest.raises(FaceIndexError, match=r"face index 5 requested but 3 face\(s\) found"):
        align(img, detector=three_faces, face=5)
    with pytest.raises(ValueError, match="landmarks .* must be"):
        align(img, landmarks=np.zeros((5, 2)))


def test_no_face_names_file_detector_and_fix(tmp_path):
    path = tmp_path / "wall.png"
    PIL.Image.fromarray(np.full((80, 80, 3), 200, np.uint8)).save(path)
    with pytest.raises(NoFaceError) as err:
        align(path)
    msg = str(err.value)
    assert "no face found in" in msg and "wall.png" in msg and "HOG detector, 1 upsample" in msg
    assert "--upsample 2" in msg and "--detector cnn" in msg


def test_grayscale_and_rgba_photos_align(astronaut):
    img, lm = astronaut
    gray = align(PIL.Image.fromarray(img).convert("L"), landmarks=lm, output_size=64).image
    assert (gray[:, :, 0] == gray[:, :, 2]).all()
    rgba = align(np.dstack([img, np.full(img.shape[:2], 255, np.uint8)]), landmarks=lm, output_size=64)
    np.testing.assert_array_equal(rgba.image, align(img, landmarks=lm, output_size=64).image)


@pytest.mark.slow
def test_cnn_detector_finds_the_astronaut(astronaut):
    img, lm = astronaut
    face = align(img, detector="cnn", output_size=64)
    assert np.abs(face.landmarks[36:48].mean(0) - lm[36:48].mean(0)).max() < 5


def test_needs_alignment_is_the_one_rule_of_every_entry_point():
    from inversion import needs_alignment

    square, photo = np.zeros((64, 64, 3), np.uint8), np.zeros((480, 640, 3), np.uint8)
    assert not needs_alignment(square, 64) and needs_alignment(photo, 64)
    assert needs_alignment(np.zeros((128, 128, 3)), 64)          # square but not the generator's size
    assert needs_alignment(square, 64, align=True) and not needs_alignment(photo, 64, align=False)
