"""The root of every error raised by :mod:`vision`."""

__all__ = ["VisionError"]


class VisionError(Exception):
    """Base class of all errors raised by the vision package."""
