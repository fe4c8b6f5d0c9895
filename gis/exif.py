"""Geotags in JPEG photos: EXIF GPS plus DJI's XMP packet, written and read alike.

Real DJI survey photos carry position in EXIF GPS and the flight pose in an XMP packet
(``drone-dji:RelativeAltitude``, ``drone-dji:FlightYawDegree``, ``drone-dji:GimbalPitchDegree``);
the simulator writes the same so downstream code cannot tell its photos from a real drone's.
"""

from __future__ import annotations

import io
import math
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import numpy as np
import piexif
from PIL import Image

from gis.errors import FormatError

__all__ = ["GeoTag", "write_jpeg", "read_geotag", "xmp_packet"]

_DJI_NS = "http://www.dji.com/drone-dji/1.0/"
_XMP_ATTR = re.compile(rb'drone-dji:(\w+)\s*=\s*"([^"]*)"')
_XMP_ELEM = re.compile(rb"<drone-dji:(\w+)>([^<]*)</drone-dji:\1>")


@dataclass(frozen=True, slots=True)
class GeoTag:
    """Where and when a photo was taken: WGS84 position, altitude AMSL, height above take-off, yaw.

    `yaw_deg` is the vehicle heading, degrees clockwise from true north.
    """

    lat: float
    lon: float
    altitude_m: float
    relative_altitude_m: float | None = None
    yaw_deg: float | None = None
    time: datetime | None = None


def _dms(value: float) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    value = abs(value)
    degrees = int(value)
    minutes_full = (value - degrees) * 60.0
    minutes = int(minutes_full)
    seconds = (minutes_full - minutes) * 60.0
    return (degrees, 1), (minutes, 1), (round(seconds * 1_000_000), 1_000_000)


def _from_dms(values: object, ref: bytes | str, *, label: str) -> float:
    """EXIF (degrees, minutes, seconds) rationals -> signed degrees; FormatError if malformed."""
    if not (isinstance(values, tuple | list) and len(values) == 3):
        raise FormatError(f"{label}: expected degrees, minutes, seconds, got {values!r}")
    degrees, minutes, seconds = (_ratio(value, label=label) for value in values)
    value = degrees + minutes / 60.0 + seconds / 3600.0
    ref = ref.decode(errors="replace") if isinstance(ref, bytes) else ref
    return -value if ref in ("S", "W") else value


def _ratio(value: object, *, label: str) -> float:
    """An EXIF rational (numerator, denominator) as a float; FormatError if malformed."""
    if not (isinstance(value, tuple | list) and len(value) == 2):
        raise FormatError(f"{label}: expected a rational, got {value!r}")
    num, den = value
    if not (isinstance(num, int) and isinstance(den, int) and den > 0):
        raise FormatError(f"{label}: malformed rational {num!r}/{den!r}")
    return num / den


def _rational(value: float, denominator: int = 1000) -> tuple[int, int]:
    fraction = Fraction(round(abs(value) * denominator), denominator)
    return fraction.numerator, fraction.denominator


def _signed(value: float) -> str:
    return f"{value:+.2f}"


def xmp_packet(tag: GeoTag) -> bytes:
    """A DJI-style XMP packet for a geotag (nadir gimbal)."""
    attributes = {
        "GpsLatitude": f"{tag.lat:.8f}",
        "GpsLongitude": f"{tag.lon:.8f}",
        "AbsoluteAltitude": _signed(tag.altitude_m),
        "GimbalPitchDegree": "-90.00",
        "GimbalRollDegree": "+0.00",
        "FlightPitchDegree": "+0.00",
        "FlightRollDegree": "+0.00",
    }
    if tag.relative_altitude_m is not None:
        attributes["RelativeAltitude"] = _signed(tag.relative_altitude_m)
    if tag.yaw_deg is not None:
        yaw = (tag.yaw_deg + 180.0) % 360.0 - 180.0
        attributes["FlightYawDegree"] = _signed(yaw)
        attributes["GimbalYawDegree"] = _signed(yaw)
    body = " ".join(f'drone-dji:{key}="{value}"' for key, value in attributes.items())
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:drone-dji="{_DJI_NS}" {body}/>'
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def _exif_bytes(tag: GeoTag, size: tuple[int, int]) -> bytes:
    gps: dict[int, object] = {
        piexif.GPSIFD.GPSVersionID: (2, 3, 0, 0),
        piexif.GPSIFD.GPSLatitudeRef: b"N" if tag.lat >= 0 else b"S",
        piexif.GPSIFD.GPSLatitude: _dms(tag.lat),
        piexif.GPSIFD.GPSLongitudeRef: b"E" if tag.lon >= 0 else b"W",
        piexif.GPSIFD.GPSLongitude: _dms(tag.lon),
        piexif.GPSIFD.GPSAltitudeRef: 0 if tag.altitude_m >= 0 else 1,
        piexif.GPSIFD.GPSAltitude: _rational(tag.altitude_m),
        piexif.GPSIFD.GPSMapDatum: b"WGS-84",
    }
    if tag.yaw_deg is not None:
        gps[piexif.GPSIFD.GPSImgDirectionRef] = b"T"
        gps[piexif.GPSIFD.GPSImgDirection] = _rational(tag.yaw_deg % 360.0, 100)
    zeroth: dict[int, object] = {
        piexif.ImageIFD.Make: b"GridPatrol",
        piexif.ImageIFD.Software: b"gridpatrol",
    }
    exif: dict[int, object] = {
        piexif.ExifIFD.PixelXDimension: size[0],
        piexif.ExifIFD.PixelYDimension: size[1],
    }
    if tag.time is not None:
        utc = tag.time.astimezone(UTC) if tag.time.tzinfo else tag.time
        seconds = utc.second + utc.microsecond / 1e6
        gps[piexif.GPSIFD.GPSTimeStamp] = ((utc.hour, 1), (utc.minute, 1), _rational(seconds, 1000))
        gps[piexif.GPSIFD.GPSDateStamp] = utc.strftime("%Y:%m:%d").encode()
        stamp = tag.time.strftime("%Y:%m:%d %H:%M:%S").encode()
        exif[piexif.ExifIFD.DateTimeOriginal] = stamp
        exif[piexif.ExifIFD.SubSecTimeOriginal] = f"{tag.time.microsecond // 1000:03d}".encode()
        if tag.time.tzinfo is not None:
            offset = tag.time.strftime("%z")
            exif[piexif.ExifIFD.OffsetTimeOriginal] = f"{offset[:3]}:{offset[3:]}".encode()
        zeroth[piexif.ImageIFD.DateTime] = stamp
    return piexif.dump({"0th": zeroth, "Exif": exif, "GPS": gps})


def write_jpeg(
    path: str | Path, image: np.ndarray | Image.Image, tag: GeoTag, *, quality: int = 90
) -> Path:
    """Write an RGB image (HxWx3 uint8 array or PIL image) as a geotagged JPEG; returns the path."""
    if not (
        math.isfinite(tag.lat)
        and math.isfinite(tag.lon)
        and -90 <= tag.lat <= 90
        and -180 <= tag.lon <= 180
    ):
        raise FormatError(f"photo {path}: geotag ({tag.lat}, {tag.lon}) is not a WGS84 position")
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise FormatError(
                f"photo {path}: expected an HxWx3 uint8 array, got {image.shape} {image.dtype}"
            )
        picture = Image.fromarray(image, "RGB")
    else:
        picture = image.convert("RGB")
    target = Path(path)
    try:
        picture.save(
            target,
            "JPEG",
            quality=quality,
            exif=_exif_bytes(tag, picture.size),
            xmp=xmp_packet(tag),
        )
    except OSError as exc:
        raise FormatError(f"photo {target} cannot be written: {exc}") from None
    return target


def _xmp_fields(data: bytes) -> dict[str, str]:
    start = data.find(b"<x:xmpmeta")
    if start < 0:
        return {}
    end = data.find(b"</x:xmpmeta>", start)
    packet = data[start : end if end > 0 else start + 65536]
    fields = {k.decode(): v.decode("utf-8", "replace") for k, v in _XMP_ATTR.findall(packet)}
    fields.update({k.decode(): v.decode("utf-8", "replace") for k, v in _XMP_ELEM.findall(packet)})
    return fields


def _float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _load_exif(data: bytes, source: Path) -> dict:
    """The EXIF of a JPEG, TIFF, WebP or PNG file's bytes (empty when it has none).

    piexif takes bytes of any other kind for a file *name* and opens it, so they are refused
    here: a FormatError naming the photo, not a "no such file" for its contents."""
    if data[:4] == b"\x89PNG":
        try:
            with Image.open(io.BytesIO(data)) as image:
                block = image.info.get("exif")
        except (OSError, ValueError) as exc:
            raise FormatError(f"photo {source}: unreadable PNG: {exc}") from None
        if not block:
            return {"0th": {}, "Exif": {}, "GPS": {}}
        data = block if block[:4] == b"Exif" else b"Exif\x00\x00" + block
    elif not (
        data[:2] == b"\xff\xd8"
        or data[:4] in (b"II*\x00", b"MM\x00*")
        or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
    ):
        raise FormatError(f"photo {source} is not a JPEG, TIFF or PNG image")
    try:
        return piexif.load(data)
    except (ValueError, piexif.InvalidImageDataError, struct.error, OSError) as exc:
        raise FormatError(f"photo {source}: unreadable EXIF: {exc}") from None


def read_geotag(path: str | Path) -> GeoTag | None:
    """The geotag of a JPEG (EXIF GPS, completed by DJI XMP when present); None if it has none.

    Raises FormatError when the file cannot be read, is not a JPEG, TIFF, WebP or PNG image, or
    its geotag is malformed."""
    source = Path(path)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise FormatError(f"photo {source} cannot be read: {exc}") from None
    exif = _load_exif(data, source)
    gps = exif.get("GPS") or {}
    xmp = _xmp_fields(data)
    lat = lon = altitude = None
    if piexif.GPSIFD.GPSLatitude in gps and piexif.GPSIFD.GPSLongitude in gps:
        lat = _from_dms(
            gps[piexif.GPSIFD.GPSLatitude],
            gps.get(piexif.GPSIFD.GPSLatitudeRef, b"N"),
            label=f"photo {source}: EXIF GPS latitude",
        )
        lon = _from_dms(
            gps[piexif.GPSIFD.GPSLongitude],
            gps.get(piexif.GPSIFD.GPSLongitudeRef, b"E"),
            label=f"photo {source}: EXIF GPS longitude",
        )
    else:
        lat, lon = (
            _float(xmp.get("GpsLatitude")),
            _float(xmp.get("GpsLongitude") or xmp.get("GpsLongtitude")),
        )
    if lat is None or lon is None:
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):  # False for NaN too
        raise FormatError(f"photo {source}: geotag ({lat}, {lon}) is not a WGS84 position")
    if piexif.GPSIFD.GPSAltitude in gps:
        altitude = _ratio(
            gps[piexif.GPSIFD.GPSAltitude], label=f"photo {source}: EXIF GPS altitude"
        )
        if gps.get(piexif.GPSIFD.GPSAltitudeRef, 0) == 1:
            altitude = -altitude
    else:
        altitude = _float(xmp.get("AbsoluteAltitude")) or 0.0
    yaw = _float(xmp.get("FlightYawDegree"))
    if yaw is None and piexif.GPSIFD.GPSImgDirection in gps:
        num, den = gps[piexif.GPSIFD.GPSImgDirection]
        yaw = num / den if den else None
    return GeoTag(
        lat=lat,
        lon=lon,
        altitude_m=altitude,
        relative_altitude_m=_float(xmp.get("RelativeAltitude")),
        yaw_deg=yaw % 360.0 if yaw is not None else None,
        time=_photo_time(exif, gps),
    )


def _photo_time(exif: dict, gps: dict) -> datetime | None:
    date = gps.get(piexif.GPSIFD.GPSDateStamp)
    stamp = gps.get(piexif.GPSIFD.GPSTimeStamp)
    if date and stamp:
        try:
            hours, minutes, seconds = (num / den if den else 0.0 for num, den in stamp)
            day = datetime.strptime(date.decode().strip("\x00"), "%Y:%m:%d")
            whole = int(seconds)
            return day.replace(
                hour=int(hours),
                minute=int(minutes),
                second=whole,
                microsecond=round((seconds - whole) * 1e6) % 1_000_000,
                tzinfo=UTC,
            )
        except (ValueError, UnicodeDecodeError):
            pass
    original = (exif.get("Exif") or {}).get(piexif.ExifIFD.DateTimeOriginal)
    if original:
        try:
            return datetime.strptime(original.decode().strip("\x00"), "%Y:%m:%d %H:%M:%S")
        except (ValueError, UnicodeDecodeError):
            return None
    return None
