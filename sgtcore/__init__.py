"""The toolkit's foundation, shared by every package and importing none of them: atomic writes,
checkpoint errors, image conversions, FFHQ face framing (`sgtcore.ffhq`) (and, built on them, the one model format and the registry
of shipped artefacts). `synthetic`, `stylegan`, `inversion`, `edits` and `demos` may all import it."""
from .atomic import atomic_dir, atomic_file
from .errors import (ArchitectureMismatchError, CheckpointError, CorruptCheckpointError, UnknownFormatError,
                     UnsafeCheckpointError)

__all__ = [
    "atomic_dir", "atomic_file",
    "CheckpointError", "UnsafeCheckpointError", "CorruptCheckpointError", "UnknownFormatError",
    "ArchitectureMismatchError",
    "from_uint8", "to_uint8",
]


def __getattr__(name: str):
    # images import torch: loaded on first use, so `synthetic` stays torch-free until it needs it
    if name in ("from_uint8", "to_uint8"):
        from . import images

        return getattr(images, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
