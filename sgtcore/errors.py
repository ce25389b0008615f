"""Errors raised while reading checkpoints and trained modules: each names the file and the problem."""


class CheckpointError(Exception):
    """A checkpoint could not be used (base class)."""


class UnsafeCheckpointError(CheckpointError):
    """The file asks to import or call something outside the data-only allow-list."""


class CorruptCheckpointError(CheckpointError):
    """The file is truncated or damaged."""


class UnknownFormatError(CheckpointError):
    """The file is none of the formats we read."""


class ArchitectureMismatchError(CheckpointError):
    """The file holds a network we cannot use here: one we cannot map onto our StyleGAN2 (e.g. StyleGAN3,
    missing keys), another class than asked for, or a module made for another generator."""
