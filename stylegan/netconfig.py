"""Shared behaviour of the dataclass configs (generator, discriminator, training): JSON round trip
of an optional `{resolution: channels}` table, whose keys JSON stores as strings."""
from __future__ import annotations

import dataclasses


class ConfigDict:
    """`to_dict` / `from_dict` for a dataclass with an optional `channels` field."""

    strict_keys = True  # from_dict refuses unknown keys (False: ignores them)

    def _normalise_channels(self) -> None:
        if getattr(self, "channels", None) is not None:
            self.channels = {int(k): int(v) for k, v in self.channels.items()}

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if d.get("channels") is not None:
            d["channels"] = {str(k): v for k, v in d["channels"].items()}
        return d

    @classmethod
    def from_dict(cls, d: dict):
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown and cls.strict_keys:
            raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
        return cls(**{k: v for k, v in d.items() if k in known})


class ChannelTable(ConfigDict):
    """Network configs: a power-of-two resolution and channels per resolution."""

    def _validate(self) -> None:
        r = self.img_resolution
        if r < 8 or r & (r - 1):
            raise ValueError(f"img_resolution must be a power of two >= 8, got {r}")
        self._normalise_channels()

    def channels_at(self, res: int) -> int:
        """Channels at resolution `res`: the explicit table, else `min(channel_base // res, channel_max)`."""
        if self.channels is not None:
            return self.channels[res]
        return min(self.channel_base // res, self.channel_max)
