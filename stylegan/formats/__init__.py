"""Readers and writers for the checkpoint formats users have; kept apart from the model code."""
from stylegan.formats.errors import (
    ArchitectureMismatchError, CheckpointError, CorruptCheckpointError, UnknownFormatError, UnsafeCheckpointError,
)

__all__ = ["ArchitectureMismatchError", "CheckpointError", "CorruptCheckpointError", "UnknownFormatError",
           "UnsafeCheckpointError"]
