"""Checkpoint errors; owned by `sgtcore.errors` (every trained module's loader raises them)."""
from sgtcore.errors import (ArchitectureMismatchError, CheckpointError, CorruptCheckpointError, UnknownFormatError,
                            UnsafeCheckpointError)

__all__ = ["CheckpointError", "UnsafeCheckpointError", "CorruptCheckpointError", "UnknownFormatError",
           "ArchitectureMismatchError"]
