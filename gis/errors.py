"""The root of every error raised by :mod:`gis`, and the translatable message they carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "GisError",
    "GeometryError",
    "CoordinateError",
    "FormatError",
    "CameraError",
    "Message",
    "msg",
]


@dataclass(frozen=True, slots=True)
class Message:
    """An error message kept as its English template and values: ``str()`` is the English text,
    and a user interface can look the template up in its own catalogue to show the message in
    its reader's language (gis and missions know no languages). Values may be Messages too."""

    template: str
    values: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.template % self.values if self.values else self.template


def msg(template: str, /, **values: Any) -> Message:
    """A :class:`Message` (``%(name)s`` placeholders); the catalogue extractor looks for ``msg``."""
    return Message(template, values)


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
