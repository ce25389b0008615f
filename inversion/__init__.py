"""Put real photos into a StyleGAN's world and back: FFHQ alignment and paste-back.

dlib (detection) and torch (tensor inputs to `paste_back`) are imported only when used.
"""
from .align import AlignedFace, align, ffhq_quad, warp_ffhq
from .errors import (AlignmentError, FaceIndexError, ImageReadError, ImageTooLargeError,
                     MultipleFacesWarning, NoFaceError)
from .image_io import MAX_PIXELS, load_image
from .landmarks import Detector, DlibDetector, model_path
from .paste import face_mask, paste_back

__all__ = [
    "AlignedFace", "align", "ffhq_quad", "warp_ffhq",
    "AlignmentError", "FaceIndexError", "ImageReadError", "ImageTooLargeError", "MultipleFacesWarning", "NoFaceError",
    "MAX_PIXELS", "load_image",
    "Detector", "DlibDetector", "model_path",
    "face_mask", "paste_back",
]
