"""Hostile archives (KMZ, zipped layers) and XML: refused with one FormatError, nothing inflated."""

from __future__ import annotations

import io
import zipfile

import pytest

from gis.errors import FormatError
from gis.io import read_features_bytes

CHUNK = b" " * 2**20


def _bomb(name: str, mib: int) -> bytes:
    """A zip whose one member inflates to ``mib`` MiB of spaces (a few hundred KiB packed)."""
    packed = io.BytesIO()
    with (
        zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open(name, "w", force_zip64=True) as member,
    ):
        for _ in range(mib):
            member.write(CHUNK)
    return packed.getvalue()


@pytest.mark.parametrize(("filename", "member"), [("grids.zip", "g.geojson"), ("g.kmz", "doc.kml")])
def test_zip_bomb_is_refused_before_inflating(filename: str, member: str) -> None:
    data = _bomb(member, 300)
    assert len(data) < 2 * 2**20
    with pytest.raises(
        FormatError, match=r"would inflate to \d+ bytes, more than the 256 MiB allowed"
    ):
        read_features_bytes(data, filename)


def test_zip_with_too_many_entries_is_refused() -> None:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        for number in range(10_001):
            archive.writestr(f"d/{number}.txt", b"")
    with pytest.raises(FormatError, match="more than 10000 entries"):
        read_features_bytes(packed.getvalue(), "grids.zip")


@pytest.mark.parametrize(
    "xml",
    [
        b'<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b"<kml><Placemark><name>&b;</name></Placemark></kml>",
        b'<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
        b"<kml><Placemark><name>&x;</name></Placemark></kml>",
    ],
)
def test_kml_entities_are_refused(xml: bytes) -> None:
    with pytest.raises(FormatError, match="refused unsafe XML"):
        read_features_bytes(xml, "grids.kml")
