"""Image conversions (uint8 <-> NCHW in [-1, 1]); owned by `sgtcore.images`, re-exported here."""
from sgtcore.images import from_uint8, to_uint8

__all__ = ["from_uint8", "to_uint8"]
