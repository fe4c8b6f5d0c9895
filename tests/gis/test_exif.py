"""Geotags from photos with malformed EXIF GPS: an error naming the photo, never a guess."""

from __future__ import annotations

from pathlib import Path

import piexif
import pytest
from PIL import Image

from gis.errors import FormatError
from gis.exif import read_geotag

LAT = ((32, 1), (30, 1), (0, 1))
LON = ((120, 1), (5, 1), (0, 1))


def _photo(path: Path, **gps: object) -> Path:
    tags = {
        piexif.GPSIFD.GPSLatitudeRef: b"N",
        piexif.GPSIFD.GPSLatitude: LAT,
        piexif.GPSIFD.GPSLongitudeRef: b"E",
        piexif.GPSIFD.GPSLongitude: LON,
        piexif.GPSIFD.GPSAltitude: (100, 1),
    }
    tags.update({getattr(piexif.GPSIFD, key): value for key, value in gps.items()})
    exif = piexif.dump({"0th": {}, "Exif": {}, "GPS": tags, "1st": {}, "thumbnail": None})
    Image.new("RGB", (64, 48), (90, 120, 60)).save(path, exif=exif)
    return path


def test_well_formed_gps_is_read(tmp_path: Path) -> None:
    tag = read_geotag(_photo(tmp_path / "ok.jpg"))
    assert tag is not None
    assert (tag.lat, tag.lon, tag.altitude_m) == (32.5, pytest.approx(120.0833333), 100.0)


@pytest.mark.parametrize(
    ("gps", "message"),
    [
        ({"GPSLatitude": ((32, 0), (30, 1), (0, 1))}, "latitude: malformed rational 32/0"),
        ({"GPSLatitude": ((32, 1),)}, "latitude: expected degrees, minutes, seconds"),
        ({"GPSLongitude": ((200, 1), (0, 1), (0, 1))}, "is not a WGS84 position"),
        ({"GPSAltitude": (100, 0)}, "altitude: malformed rational 100/0"),
    ],
)
def test_malformed_gps_is_a_format_error(tmp_path: Path, gps: dict, message: str) -> None:
    path = _photo(tmp_path / "bad.jpg", **gps)
    with pytest.raises(FormatError) as caught:
        read_geotag(path)
    assert str(caught.value).startswith(f"photo {path}")
    assert message in str(caught.value)


def test_a_file_that_is_no_image_is_a_format_error_not_a_path(tmp_path: Path) -> None:
    path = tmp_path / "hello.jpg"
    path.write_bytes(b"hello\n")
    with pytest.raises(FormatError) as caught:
        read_geotag(path)
    assert str(caught.value) == f"photo {path} is not a JPEG, TIFF or PNG image"
    assert "Errno" not in str(caught.value)


def test_png_without_exif_has_no_geotag_and_with_exif_has_one(tmp_path: Path) -> None:
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    assert read_geotag(plain) is None
    tags = {
        piexif.GPSIFD.GPSLatitudeRef: b"N",
        piexif.GPSIFD.GPSLatitude: LAT,
        piexif.GPSIFD.GPSLongitudeRef: b"E",
        piexif.GPSIFD.GPSLongitude: LON,
    }
    tagged = tmp_path / "tagged.png"
    exif = piexif.dump({"0th": {}, "Exif": {}, "GPS": tags, "1st": {}, "thumbnail": None})
    Image.new("RGB", (8, 8)).save(tagged, exif=exif)
    tag = read_geotag(tagged)
    assert tag is not None and tag.lat == 32.5
