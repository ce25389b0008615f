"""Rendering: shapes, determinism, framing, landmarks following the pose, pair locality."""
import os
import subprocess
import sys

import numpy as np
import pytest

from synthetic import HeadParams, Pose, make_pair, project_landmarks, render, sample_params
from sgtcore.ffhq import ffhq_frame

SIZE = 96


@pytest.fixture(scope="module")
def frontal():
    return render(HeadParams(), SIZE)


def test_render_outputs(frontal):
    r = frontal
    assert r.image.shape == (SIZE, SIZE, 3) and r.image.dtype == np.uint8
    assert r.mask.shape == (SIZE, SIZE) and r.mask.dtype == bool
    assert r.landmarks.shape == (68, 2)
    # the head covers a good part of the frame, the corners are background
    assert 0.25 < r.mask.mean() < 0.8
    bg = np.round(np.array(r.params.lighting.background) * 255)
    assert np.abs(r.image[0, 0].astype(float) - bg).max() <= 1
    assert not r.mask[0, 0] and r.mask[SIZE // 2, SIZE // 2]
    # the face is not a flat blob: eyes, lips and skin differ in colour
    assert r.image[r.mask].std(axis=0).mean() > 15
    t = r.to_tensor()
    assert t.shape == (1, 3, SIZE, SIZE) and -1 <= float(t.min()) and float(t.max()) <= 1


def test_deterministic(frontal):
    render(sample_params(5), SIZE)  # something else in between
    again = render(HeadParams(), SIZE)
    assert np.array_equal(again.image, frontal.image)
    assert np.array_equal(again.mask, frontal.mask)
    assert np.array_equal(again.landmarks, frontal.landmarks)


def test_landmarks_inside_head_and_ordered(frontal):
    lm = frontal.landmarks
    ij = np.clip(np.round(lm).astype(int), 0, SIZE - 1)
    assert frontal.mask[ij[:, 1], ij[:, 0]].mean() > 0.95
    # dlib order: jaw left to right, right brow (image left) before left brow, eyes, mouth below nose
    assert lm[0, 0] < lm[8, 0] < lm[16, 0] and lm[8, 1] == lm[:17, 1].max()
    assert lm[17:22, 0].max() < lm[22:27, 0].min()
    assert lm[36:42, 0].mean() < lm[42:48, 0].mean()
    assert lm[27, 1] < lm[30, 1] < lm[51, 1] < lm[57, 1] < lm[8, 1]
    assert lm[48, 0] < lm[54, 0]
    # the eyes are dark-ish (iris, pupil, lash line) compared with the forehead
    eye = frontal.image[int(lm[37:42, 1].mean()), int(lm[36:42, 0].mean())].astype(float).mean()
    forehead = frontal.image[int(lm[19, 1] - 6), int(lm[27, 0])].astype(float).mean()
    assert eye < forehead - 20


def test_ffhq_framing(frontal):
    c, x, qsize = ffhq_frame(frontal.landmarks)
    np.testing.assert_allclose(c, [SIZE / 2, SIZE / 2], atol=0.5)
    assert qsize == pytest.approx(SIZE, rel=0.01) and abs(x[1]) < 0.01 * SIZE
    eyes_y = frontal.landmarks[36:48, 1].mean() / SIZE
    assert 0.38 < eyes_y < 0.5
    # expression does not move the frame: the eye corners stay put when the mouth opens
    p = HeadParams()
    p.expression.mouth_open = 1.0
    np.testing.assert_allclose(project_landmarks(p, SIZE)[36:48], frontal.landmarks[36:48], atol=1e-3)


def test_landmarks_follow_pose():
    def lm(**pose):
        return project_landmarks(HeadParams(pose=Pose(**pose)), SIZE, align=False)

    nose = [lm(yaw=y)[30, 0] for y in (-40, -20, 0, 20, 40)]
    assert np.all(np.diff(nose) > 1)  # yaw > 0 turns the nose to image right
    # relative to the face outline too (what an aligned crop shows)
    rel = [lm(yaw=y)[30, 0] - lm(yaw=y)[[0, 16], 0].mean() for y in (-30, 0, 30)]
    assert rel[0] < -2 and abs(rel[1]) < 0.5 and rel[2] > 2
    assert lm(pitch=20)[30, 1] < lm(pitch=0)[30, 1] - 1  # looks up: the nose tip rises
    eyes = lm(roll=20)
    d = eyes[42:48].mean(0) - eyes[36:42].mean(0)
    assert np.degrees(np.arctan2(-d[1], d[0])) == pytest.approx(20, abs=2)  # counter-clockwise


def test_bad_size_and_params():
    with pytest.raises(ValueError, match="size"):
        render(HeadParams(), 8)
    p = HeadParams(pose=Pose(yaw=80))
    with pytest.raises(ValueError, match=r"pose.yaw .* \[-70, 70\]"):
        render(p, SIZE)


def _dilate(m):
    """3x3 binary dilation."""
    out = m.copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            out |= np.roll(np.roll(m, dy, 0), dx, 1)
    return out


def _changed(a, b, tol=8):
    return np.abs(a.image.astype(int) - b.image.astype(int)).max(-1) > tol


def test_smile_pair_changes_only_mouth_and_cheeks():
    a, b = make_pair("smile", rng=3, strength=1.0, size=SIZE)
    ch = _changed(a, b)
    assert ch.sum() > 20
    ys, xs = np.nonzero(ch)
    # position along the head's own vertical axis: 0 at the eyes, 1 at the mouth
    lm = a.landmarks.astype(float)
    eye, mouth = lm[36:48].mean(0), (lm[48] + lm[54]) / 2
    axis = (mouth - eye) / np.sum((mouth - eye) ** 2)
    t = (np.stack([xs, ys], -1) - eye) @ axis
    assert t.min() > 0.15  # eyes (|t| < 0.1), brows, forehead and hair do not change
    assert not (ch & ~_dilate(a.mask | b.mask)).any()  # background untouched (but anti-aliased edges)


def test_eyes_closed_pair_changes_only_eyes():
    a, b = make_pair("eyes_closed", rng=4, strength=1.0, size=SIZE)
    ch = _changed(a, b)
    assert ch.sum() > 10
    ys, xs = np.nonzero(ch)
    eyes = np.concatenate([a.landmarks[36:48], b.landmarks[36:48]])
    assert ys.min() >= eyes[:, 1].min() - 4 and ys.max() <= eyes[:, 1].max() + 4
    assert xs.min() >= eyes[:, 0].min() - 4 and xs.max() <= eyes[:, 0].max() + 4


def test_yaw_pair_differs_and_moves_landmarks():
    a, b = make_pair("yaw", rng=5, strength=0.4, size=SIZE)
    assert b.params.pose.yaw - a.params.pose.yaw == pytest.approx(56)
    assert _changed(a, b).mean() > 0.1
    rel = [r.landmarks[30, 0] - r.landmarks[[0, 16], 0].mean() for r in (a, b)]
    assert rel[1] > rel[0] + 3


def test_lighting_pair_changes_only_the_person():
    a, b = make_pair("light_direction", rng=6, strength=0.8, size=SIZE)
    ch = _changed(a, b, tol=3)
    assert (ch & a.mask).sum() > 50
    assert np.array_equal(a.mask, b.mask)  # same geometry
    bg = ~a.mask & (a.image == a.image[0, 0]).all(-1)
    assert not ch[bg].any()


def test_background_pair_keeps_the_head():
    a, b = make_pair("background", rng=7, strength=1.0, size=SIZE)
    inner = ~_dilate(_dilate(~a.mask))  # erode: edge pixels blend with the background
    assert inner.sum() > 0.2 * SIZE * SIZE
    assert np.array_equal(a.image[inner], b.image[inner])
    assert _changed(a, b)[0, 0]


def test_unavailable_renderer_explains_fix():
    code = (
        "import synthetic\n"
        "try:\n    synthetic.render(synthetic.HeadParams(), 32)\n"
        "except synthetic.RendererUnavailable as e:\n    print('MSG', e)\n"
    )
    env = dict(os.environ, PYOPENGL_PLATFORM="no-such-platform")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert "MSG" in out.stdout, out.stderr[-2000:]
    assert "libegl1" in out.stdout and "libosmesa6" in out.stdout and "PYOPENGL_PLATFORM=egl" in out.stdout
