"""Exceptions raised by alignment and paste-back; each message names the file and the fix."""
from __future__ import annotations


class AlignmentError(ValueError):
    """Base class of the errors a bad photo or a bad argument can cause in `inversion`."""


class ImageReadError(AlignmentError):
    """The file is missing, is not an image, or is truncated/corrupt."""


class ImageTooLargeError(ImageReadError):
    """The image has more pixels than the configured limit (checked before decoding)."""


class NoFaceError(AlignmentError):
    """The detector found no face in the image."""


class FaceIndexError(AlignmentError, IndexError):
    """`face=INDEX` asked for a face that the detector did not find."""


class MultipleFacesWarning(UserWarning):
    """Several faces were found and one was chosen for the caller (the largest by default)."""
