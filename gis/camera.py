"""Camera models and the survey geometry that follows from them (GSD, footprint, spacing, trigger).

Formulas (nadir, landscape: the sensor's width lies across the flight track):
GSD = H·s_w/(f·W_px); footprint across = H·s_w/f; along = H·s_h/f;
line spacing = across·(1 − side overlap); trigger distance = along·(1 − front overlap).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gis.errors import CameraError
from gis.messages import Message, msg

__all__ = ["PRESETS", "Camera", "camera_from_dict", "load_camera", "preset_name"]

_FIELDS = (
    "sensor_width_mm",
    "sensor_height_mm",
    "focal_length_mm",
    "image_width_px",
    "image_height_px",
)


@dataclass(frozen=True, slots=True)
class Camera:
    """A pinhole camera pointing straight down, long side across track."""

    name: str
    sensor_width_mm: float
    sensor_height_mm: float
    focal_length_mm: float
    image_width_px: int
    image_height_px: int

    def __post_init__(self) -> None:
        for field in _FIELDS:
            value = getattr(self, field)
            if not _is_positive_number(value):
                raise CameraError(
                    msg(
                        "camera %(name)r: %(field)s must be a positive number, got %(value)r",
                        name=self.name,
                        field=field,
                        value=value,
                    )
                )

    def takes_size(self, width: int, height: int) -> bool:
        """Whether a photo of `width`×`height` pixels is this camera's image size (either
        orientation): a photo of another size (a crop, another camera) has an unknown GSD, so
        its findings' positions computed with this camera may be wrong."""
        native = (self.image_width_px, self.image_height_px)
        return (width, height) in (native, native[::-1])

    def gsd_m(self, altitude_m: float) -> float:
        """Ground sampling distance in metres per pixel at a height above ground."""
        return altitude_m * self.sensor_width_mm / (self.focal_length_mm * self.image_width_px)

    def altitude_for_gsd(self, gsd_m: float) -> float:
        """Height above ground that gives a ground sampling distance (metres per pixel)."""
        if not gsd_m > 0:
            raise CameraError(msg("GSD must be positive, got %(value)r", value=gsd_m))
        return gsd_m * self.focal_length_mm * self.image_width_px / self.sensor_width_mm

    def footprint_m(self, altitude_m: float) -> tuple[float, float]:
        """Ground footprint (across track, along track) in metres."""
        return (
            altitude_m * self.sensor_width_mm / self.focal_length_mm,
            altitude_m * self.sensor_height_mm / self.focal_length_mm,
        )

    def line_spacing_m(self, altitude_m: float, side_overlap: float) -> float:
        """Distance between neighbouring survey lines for a side overlap in [0, 1)."""
        _check_overlap(side_overlap, "side")
        return self.footprint_m(altitude_m)[0] * (1.0 - side_overlap)

    def trigger_distance_m(self, altitude_m: float, front_overlap: float) -> float:
        """Distance flown between photos for a front overlap in [0, 1)."""
        _check_overlap(front_overlap, "front")
        return self.footprint_m(altitude_m)[1] * (1.0 - front_overlap)

    def to_dict(self) -> dict[str, str | float | int]:
        """The camera as a JSON-ready dict with the keys :func:`load_camera` reads."""
        return asdict(self)


def _is_positive_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and value > 0
        and math.isfinite(value)
    )


def _check_overlap(overlap: float, which: str) -> None:
    if not 0.0 <= overlap < 1.0:
        raise CameraError(
            f"{which} overlap must be at least 0% and below 100%, got {overlap * 100:g}%"
        )


PRESETS: dict[str, Camera] = {
    camera.name: camera
    for camera in (
        Camera("phantom4pro", 13.2, 8.8, 8.8, 5472, 3648),
        Camera("mavic3e", 17.3, 13.0, 12.29, 5280, 3956),
        Camera("m300-p1", 35.9, 24.0, 35.0, 8192, 5460),
        Camera("generic-1/2.3", 6.17, 4.55, 4.5, 4000, 3000),
    )
}


def preset_name(name: str) -> str | None:
    """The :data:`PRESETS` key ``name`` means, in any case and without surrounding spaces
    (``" Phantom4Pro"`` is ``"phantom4pro"``); None when it names no preset.

    >>> preset_name("M300-P1"), preset_name("phantom5")
    ('m300-p1', None)
    """
    wanted = name.strip().casefold()
    return next((key for key in PRESETS if key.casefold() == wanted), None)


def camera_from_dict(data: Mapping[str, Any], *, origin: Message | str | None = None) -> Camera:
    """A camera from a mapping with the keys of :class:`Camera` (a camera JSON file, a flight's
    stored camera, a request); numbers may also be numeric strings such as ``"13.2"``.

    Errors name ``origin`` (default: the camera's name) and the offending key.
    """
    keys = ("name", *_FIELDS)
    what: Message | str = origin or msg("camera")
    if not isinstance(data, Mapping):
        raise CameraError(
            msg("%(what)s must be an object with %(keys)s", what=what, keys=", ".join(keys))
        )
    missing = [key for key in keys if key not in data]
    if missing:
        raise CameraError(msg("%(what)s lacks %(keys)s", what=what, keys=", ".join(missing)))
    name = str(data["name"])
    where: Message | str = origin or msg("camera %(name)r", name=name)
    return Camera(name=name, **{key: _parse_field(data[key], key, where) for key in _FIELDS})


def _parse_field(raw: object, key: str, where: Message | str) -> float | int:
    """One number of a camera dict: a number or a numeric string; pixel counts whole."""
    value = raw
    if isinstance(raw, str):
        try:
            value = float(raw)
        except ValueError:
            value = None
    whole = key.endswith("_px")
    if whole and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not _is_positive_number(value) or (whole and not isinstance(value, int)):
        kind = msg("a positive whole number") if whole else msg("a positive number")
        raise CameraError(
            msg(
                "%(where)s: %(key)s must be %(kind)s, got %(value)r",
                where=where,
                key=key,
                kind=kind,
                value=raw,
            )
        )
    return value


def load_camera(name_or_path: str | Path) -> Camera:
    """A preset by name in any case (:func:`preset_name`), or a camera from a JSON file (see
    :func:`camera_from_dict`)."""
    key = str(name_or_path)
    preset = preset_name(key)
    if preset is not None:
        return PRESETS[preset]
    path = Path(key)
    if not path.suffix.lower() == ".json":
        raise CameraError(
            msg(
                "unknown camera %(name)r; presets: %(presets)s, or a .json file",
                name=key,
                presets=", ".join(sorted(PRESETS)),
            )
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CameraError(msg("camera file %(path)s does not exist", path=str(path))) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CameraError(
            msg("camera file %(path)s is not readable JSON: %(detail)s", path=str(path), detail=exc)
        ) from None
    if not isinstance(data, dict):
        raise CameraError(msg("camera file %(path)s must hold a JSON object", path=str(path)))
    return camera_from_dict(data, origin=msg("camera file %(path)s", path=str(path)))
