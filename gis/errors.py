"""The root of every error raised by :mod:`gis`."""

__all__ = ["GisError", "GeometryError", "CoordinateError", "FormatError", "CameraError"]


class GisError(Exception):
    """Base class of all errors raised by the gis package."""


class GeometryError(GisError):
    """A geometry is invalid, empty, self-intersecting or of the wrong type."""


class CoordinateError(GisError):
    """Coordinates are outside WGS84, look swapped (lat/lon) or look projected (metres)."""


class FormatError(GisError):
    """A file cannot be read or written in the format it claims to be."""


class CameraError(GisError):
    """A camera model is unknown or its parameters are impossible."""
