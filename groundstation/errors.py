"""The root of every error raised by :mod:`groundstation`."""

__all__ = ["GroundStationError"]


class GroundStationError(Exception):
    """Base class of all errors raised by the groundstation package."""
