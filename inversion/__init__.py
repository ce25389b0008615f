"""Put real photos into a StyleGAN's world and back: FFHQ alignment and paste-back.

dlib (detection) and torch (tensor inputs to `paste_back`) are imported only when used.
"""
from sgtcore import modelio

from .align import AlignedFace, align, ffhq_quad, needs_alignment, warp_ffhq
from .errors import (AlignmentError, FaceIndexError, ImageReadError, ImageTooLargeError,
                     MultipleFacesWarning, NoFaceError)
from .image_io import MAX_PIXELS, load_image
from .landmarks import Detector, DlibDetector, model_path
from .paste import face_mask, paste_back

__all__ = [
    "AlignedFace", "align", "ffhq_quad", "needs_alignment", "warp_ffhq",
    "AlignmentError", "FaceIndexError", "ImageReadError", "ImageTooLargeError", "MultipleFacesWarning", "NoFaceError",
    "MAX_PIXELS", "load_image",
    "Detector", "DlibDetector", "model_path",
    "face_mask", "paste_back",
]

# The encoder in the toolkit's one model format; its class is imported on first load (sgtcore.modelio).
modelio.register_class("Encoder", "encoder", "inversion.encoder:Encoder", fp32=("w_avg",),
                       remake="train one for it with `sgt train-encoder --network ...`")

# Projection, pivotal tuning and the encoder import torch: loaded on first use, like dlib above.
_LAZY = {
    "project": "projection", "PRESETS": "projection", "ProjectionSettings": "projection",
    "resolve_settings": "projection",
    "ProjectionResult": "projection", "ProjectionError": "projection", "prepare_target": "projection",
    "render": "projection", "save_projection": "project_io", "load_projection": "project_io",
    "make_loss": "losses", "psnr": "losses", "ssim": "losses",
    "pivotal_tuning": "pti", "apply_delta": "pti", "load_delta": "pti", "PTIDelta": "pti",
    "Encoder": "encoder", "load_encoder": "encoder", "save_encoder": "encoder", "encoder_for": "encoder",
    "find_encoder": "encoder",
    "train_encoder": "encoder_train", "EncoderTrainConfig": "encoder_train",
}
__all__ += list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
