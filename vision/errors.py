"""The root of every error raised by :mod:`vision`."""

__all__ = [
    "VisionError",
    "ImageReadError",
    "ImageRefusedError",
    "WeightsError",
    "DatasetError",
    "SynthError",
    "TrainingError",
]


class VisionError(Exception):
    """Base class of all errors raised by the vision package."""


class ImageReadError(VisionError):
    """An image or raster is missing, corrupt, empty or in a format that cannot be read."""


class ImageRefusedError(VisionError):
    """A readable image the model cannot judge (too coarse, too small, too large, bands it
    cannot read as colour); `kind` names the reason in a few words, e.g. ``"too coarse"``."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class WeightsError(VisionError):
    """Model weights are unknown, missing, corrupt or do not fit the architecture."""


class DatasetError(VisionError):
    """A training or evaluation source (folder, review export, labels CSV) is malformed."""


class SynthError(VisionError):
    """A synthetic scene or world raster cannot be built with the options given."""


class TrainingError(VisionError):
    """Training cannot start or resume (bad options, incompatible checkpoint)."""
