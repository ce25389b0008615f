"""FFHQ's face framing, shared by the renderer (which frames its virtual camera with it) and photo
alignment (which crops with it), so that renders and aligned photos are framed alike."""
from __future__ import annotations

import numpy as np


def ffhq_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The oriented crop square of the FFHQ recipe from 68 dlib-order landmarks `[68, 2]` (x, y).

    Steps 1-2 of Karras et al. 2019's `ffhq-dataset` `recreate_aligned_images` (REFERENCE.md §2).

    Returns:
        (centre [2], x [2], qsize): the square's centre, half its side along its own x axis (its y
        axis is x turned by 90 degrees), and its side length, all in input pixels.
    """
    lm = np.asarray(landmarks, np.float64)
    eye_left = lm[36:42].mean(axis=0)
    eye_right = lm[42:48].mean(axis=0)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (lm[48] + lm[54]) * 0.5
    eye_to_mouth = mouth_avg - eye_avg

    # x points along the eye line, tilted by the eye-mouth axis so that the face is upright;
    # its length sets the crop scale from whichever of the two distances is relatively larger.
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    c = eye_avg + eye_to_mouth * 0.1
    return c, x, float(np.hypot(*x) * 2)
