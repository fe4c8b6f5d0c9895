"""Bad input files: each becomes one GisError naming the file (and feature), never a traceback."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
import shapely
import shapely.affinity
import shapely.geometry
from shapely.geometry import Point, Polygon, mapping

from gis.errors import CoordinateError, FormatError, GeometryError, GisError
from gis.io import (
    Feature,
    missing_attribute_table,
    read_features,
    read_features_bytes,
    read_grids,
    read_lines,
    read_no_fly,
    write_shapefile,
)
from gis.messages import Message

BOWTIE = {
    "type": "Polygon",
    "coordinates": [
        [[120.10, 32.50], [120.11, 32.51], [120.11, 32.50], [120.10, 32.51], [120.10, 32.50]]
    ],
}


def _feature(geometry: dict | None, **properties: object) -> dict:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def _layer(path: Path, *features: dict) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": list(features)}), "utf-8")
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"  \n ", "file is empty"),
        (
            b'{"type": "FeatureCollection", "features": [',
            "not valid JSON at line 1 column 44: the file ends before the JSON does",
        ),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2, 3]", "top level must be an object"),
        (b'{"type": "Topology", "objects": {}}', "unknown type 'Topology'"),
        (b'{"type": "FeatureCollection", "features": {}}', "no 'features' list"),
        (b'{"type": "FeatureCollection", "features": [{"type": "Point"}]}', "feature 1 is not"),
        (b'{"type": "Feature", "properties": [], "geometry": null}', "'properties' must be"),
        (
            b'{"type": "Feature", "properties": {"name": "g1"}, "geometry": null}',
            "'g1'.*no geometry",
        ),
        (b'{"type": "Circle", "coordinates": [120, 32]}', "unknown type 'Circle'"),
        (b'{"type": "Polygon", "coordinates": 5}', "no 'coordinates' list"),
        (
            b'{"type": "Polygon", "coordinates": [[["a", "b"], [1, 2], [3, 4]]]}',
            "malformed Polygon",
        ),
        (
            b'{"type": "Polygon", "coordinates": [[[120.1, 32.5], [120.2, 32.5]]]}',
            "malformed Polygon",
        ),
        (b'{"type": "Point", "coordinates": [120.1, 32.5], "crs": {"x": 1}}', "'crs' member"),
    ],
)
def test_bad_geojson(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.geojson"
    path.write_bytes(content)
    with pytest.raises(FormatError, match=message) as caught:
        read_features(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.kml", b"<kml><Placemark>", "not well-formed XML"),
        ("bad.kml", b"<html><body>hello</body></html>", "the root element is <html>"),
        (
            "bad.kml",
            b'<!DOCTYPE kml [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><kml>&b;</kml>',
            "unsafe XML",
        ),
        (
            "bad.kml",
            b"<kml><Placemark><Polygon><outerBoundaryIs><LinearRing><coordinates>"
            b"120.1;32.5 120.2;32.5</coordinates></LinearRing></outerBoundaryIs></Polygon>"
            b"</Placemark></kml>",
            "placemark 1: malformed KML coordinate '120.1;32.5'",
        ),
        (
            "bad.kml",
            b"<kml><Placemark><name>x</name><Polygon><innerBoundaryIs/></Polygon></Placemark></kml>",
            "placemark 1 \\('x'\\): Polygon has no outerBoundaryIs",
        ),
        ("bad.kmz", b"PK\x03\x04 not really a zip", "not a valid zip archive"),
        ("grids.txt", b"120.1,32.5", "unsupported file type '.txt'"),
        ("grids", b"120.1,32.5", "unsupported file type '\\(no suffix\\)'"),
        ("grids.shp", b"\x00\x00\x27\x0a garbage", "not a readable shapefile"),
    ],
)
def test_bad_other_formats(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(FormatError, match=message) as caught:
        read_features(path)
    assert str(path) in str(caught.value)
    with pytest.raises(FormatError, match=message):
        read_features_bytes(content, name)


def test_kmz_and_zip_without_usable_content(tmp_path: Path) -> None:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(FormatError, match=r"holds no \.kml"):
        read_features_bytes(packed.getvalue(), "grids.kmz")
    with pytest.raises(FormatError, match="exactly one shapefile, KML or GeoJSON"):
        read_features_bytes(packed.getvalue(), "grids.zip")
    with zipfile.ZipFile(packed, "a") as archive:
        archive.writestr("a.shp", b"")
        archive.writestr("b.shp", b"")
    with pytest.raises(FormatError, match="2 shapefiles"):
        read_features_bytes(packed.getvalue(), "grids.zip")


def test_missing_and_directory_paths(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="does not exist"):
        read_features(tmp_path / "nope.geojson")
    with pytest.raises(FormatError, match="is a directory"):
        read_grids(tmp_path)


def test_self_intersecting_bowtie_names_grid_and_place(tmp_path: Path) -> None:
    path = _layer(tmp_path / "g.geojson", _feature(BOWTIE, grid_id="HL-007"))
    with pytest.raises(GeometryError, match=r"self-intersection at lon 120\.105") as caught:
        read_grids(path)
    assert "grid HL-007" in str(caught.value) and str(path) in str(caught.value)


def test_swapped_lat_lon_around_taizhou(tmp_path: Path, square: Polygon) -> None:
    swapped = shapely.transform(square, lambda c: c[:, ::-1])
    path = _layer(tmp_path / "g.geojson", _feature(mapping(swapped), name="泰州"))
    with pytest.raises(CoordinateError, match="swapped") as caught:
        read_grids(path)
    assert "grid 泰州" in str(caught.value)


def test_projected_metres_without_crs(tmp_path: Path) -> None:
    metres = Polygon([(40_509_000, 3_597_000), (40_510_000, 3_597_000), (40_510_000, 3_598_000)])
    path = _layer(tmp_path / "g.geojson", _feature(mapping(metres), grid_id="GK"))
    with pytest.raises(CoordinateError, match="projected metres") as caught:
        read_grids(path)
    assert "grid GK" in str(caught.value)


def test_kml_without_polygons(tmp_path: Path) -> None:
    path = tmp_path / "points.kml"
    path.write_text(
        "<kml><Document><Placemark><name>home</name><Point><coordinates>120.1,32.5"
        "</coordinates></Point></Placemark></Document></kml>",
        encoding="utf-8",
    )
    with pytest.raises(FormatError, match=r"holds no polygon grids \(found 1 Point\)"):
        read_grids(path)
    with pytest.raises(FormatError, match="holds no no-fly polygons"):
        read_no_fly(path)
    with pytest.raises(FormatError, match="holds no LineString"):
        read_lines(path)
    empty = tmp_path / "empty.kml"
    empty.write_text("<kml><Document/></kml>", encoding="utf-8")
    with pytest.raises(FormatError, match="it has no features"):
        read_grids(empty)


def test_duplicate_grid_ids(tmp_path: Path, square: Polygon) -> None:
    moved = shapely.affinity.translate(square, 0.02)
    path = _layer(
        tmp_path / "g.geojson",
        _feature(mapping(square), grid_id="HL-1"),
        _feature(mapping(moved), grid_id="HL-1"),
    )
    with pytest.raises(FormatError, match="grid id 'HL-1' is used by features 1 and 2"):
        read_grids(path)


def test_missing_id_property(square: Polygon) -> None:
    with pytest.raises(FormatError, match="feature 1 has no 'code' property"):
        read_grids([Feature(square, {"name": "a"})], id_property="code")


def test_only_no_fly_zones_is_no_grid_layer(square: Polygon) -> None:
    with pytest.raises(FormatError, match="holds no polygon grids"):
        read_grids([Feature(square, {"kind": "no_fly_zone"})])


def test_no_fly_file_mixing_kinds_without_a_zone(square: Polygon) -> None:
    with pytest.raises(FormatError, match="holds no no-fly polygons"):
        read_no_fly([Feature(square, {"kind": "convex"})])
    assert read_no_fly([]) == []


def test_invalid_no_fly_and_line_name_the_feature(square: Polygon) -> None:
    bowtie = shapely.geometry.shape(BOWTIE)
    with pytest.raises(GeometryError, match="no-fly zone 'substation'"):
        read_no_fly([Feature(bowtie, {"name": "substation"})])
    with pytest.raises(GeometryError, match=r"line 'feature 1'.*zero length"):
        read_lines([Feature(shapely.LineString([(120.1, 32.5), (120.1, 32.5)]), {})])


def test_every_error_is_a_gis_error(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(GisError):
        read_grids(path)
    with pytest.raises(TypeError, match="Feature"):
        read_grids([Point(0, 0)])  # type: ignore[list-item]


def _zip(**members: bytes) -> bytes:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        for name, content in members.items():
            archive.writestr(name.replace("__", "."), content)
    return packed.getvalue()


def _message_of(call) -> Message:
    with pytest.raises(FormatError) as caught:
        call()
    (message,) = caught.value.args
    assert isinstance(message, Message)
    return message


def test_archive_and_shapefile_errors_are_translatable_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, square: Polygon
) -> None:
    """The ground station translates a gis error by looking its template up: a template with the
    file's name or counts baked in (an f-string) is never found, so the reader gets English."""
    cases = {
        "none": lambda: read_features_bytes(_zip(readme__txt=b"hi"), "noshp.zip"),
        "several": lambda: read_features_bytes(_zip(a__shp=b"x", b__shp=b"x"), "two.zip"),
        "not a zip": lambda: read_features_bytes(b"PK junk", "junk.zip"),
        "no kml": lambda: read_features_bytes(_zip(readme__txt=b"hi"), "g.kmz"),
        "bomb": lambda: read_features_bytes(_zip(g__geojson=b" " * 4096), "bomb.zip"),
        "mixed": lambda: write_shapefile(
            tmp_path / "mixed.shp", [Feature(square, {}), Feature(Point(120.1, 32.5), {})]
        ),
        "bad .shp": lambda: read_features_bytes(b"not a shapefile at all", "bad.shp"),
    }
    monkeypatch.setattr("gis.io._MAX_INFLATED_BYTES", 1024)
    english = {}
    for case, call in cases.items():
        message = _message_of(call)
        english[case] = str(message)
        for name in ("noshp.zip", "two.zip", "junk.zip", "g.kmz", "bomb.zip", "mixed", "bad.shp"):
            assert name not in message.template, case
        assert "{" not in message.template, case
    assert english["none"] == (
        "noshp.zip: zip must hold exactly one shapefile, KML or GeoJSON file (none found)"
    )
    assert english["several"] == "two.zip: zip holds 2 shapefiles (a.shp, b.shp); upload one"
    assert "bomb.zip: g.geojson would inflate to 4096 bytes, more than the 0 MiB" in english["bomb"]
    assert english["mixed"].endswith(
        "one geometry type (polygons, lines or points), got Point, Polygon"
    )
    # a message value that is itself text to translate is a Message too
    none = _message_of(cases["none"])
    assert (
        isinstance(none.values["found"], Message) and none.values["found"].template == "none found"
    )


def test_a_shapefile_without_its_attribute_table_is_named(tmp_path: Path, square: Polygon) -> None:
    write_shapefile(tmp_path / "grids.zip", [Feature(square, {"grid_id": "JY-01"})])
    with zipfile.ZipFile(tmp_path / "grids.zip") as archive:
        parts = {n: archive.read(n) for n in archive.namelist()}
    assert missing_attribute_table(_zip(**{k.replace(".", "__"): v for k, v in parts.items()}),
                                   "grids.zip") is None  # fmt: skip
    no_dbf = {k.replace(".", "__"): v for k, v in parts.items() if not k.endswith(".dbf")}
    data = _zip(**no_dbf)
    assert missing_attribute_table(data, "upload.zip") == "grids.dbf"
    assert [f.properties for f in read_features_bytes(data, "upload.zip")] == [{}]  # still read
    assert missing_attribute_table(parts["grids.shp"], "dir/grids.shp") == "grids.dbf"
    assert missing_attribute_table(b"{}", "grids.geojson") is None
    assert missing_attribute_table(b"junk", "grids.zip") is None  # read_features_bytes says why


def _shapefile_parts(tmp_path: Path, square: Polygon) -> dict[str, bytes]:
    write_shapefile(tmp_path / "grids.zip", [Feature(square, {"grid_id": "JY-01"})])
    with zipfile.ZipFile(tmp_path / "grids.zip") as archive:
        return {n: archive.read(n) for n in archive.namelist()}


def _zipped(parts: dict[str, bytes]) -> bytes:
    return _zip(**{name.replace(".", "__"): content for name, content in parts.items()})


def test_a_file_that_is_no_shapefile_is_said_so_in_one_line_without_pyshp(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """QA: GeoJSON text saved as .shp was blamed on a .cpg that did not exist, and pyshp
    printed a PossiblyCorruptFileHeader warning on stderr."""
    path = tmp_path / "x.shp"
    path.write_bytes(json.dumps({"type": "FeatureCollection", "features": []}).encode() * 20)
    message = _message_of(lambda: read_features(path))
    assert (
        str(message) == f"{path}: not a readable shapefile (it does not begin as a shapefile does)"
    )
    assert message.template == "%(source)s: not a readable shapefile (%(reason)s)"
    assert isinstance(message.values["reason"], Message)
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("keep", [60, 112, 150])
def test_a_cut_short_shapefile_in_a_zip_is_said_so_in_translatable_words(
    tmp_path: Path, square: Polygon, capfd: pytest.CaptureFixture[str], keep: int
) -> None:
    parts = _shapefile_parts(tmp_path, square)
    whole = len(parts["grids.shp"])
    parts["grids.shp"] = parts["grids.shp"][:keep]
    message = _message_of(lambda: read_features_bytes(_zipped(parts), "g.zip"))
    english = str(message)
    assert english.startswith("g.zip:grids.shp: not a readable shapefile (it is cut short: ")
    assert ("100-byte header" if keep < 100 else f"{keep} of the {whole} bytes") in english
    assert "unpack" not in english and "buffer" not in english  # no struct's English
    reason = message.values["reason"]
    assert isinstance(reason, Message) and str(keep) not in reason.template  # a value: translatable
    assert capfd.readouterr().err == ""


def test_a_shapefile_header_with_a_wrong_length_is_still_read_quietly(
    tmp_path: Path, square: Polygon, capfd: pytest.CaptureFixture[str]
) -> None:
    parts = _shapefile_parts(tmp_path, square)
    parts["grids.shp"] += b"\0" * 10  # longer than its header declares: pyshp reads to the end
    features = read_features_bytes(_zipped(parts), "g.zip")
    assert [f.properties["grid_id"] for f in features] == ["JY-01"]
    assert capfd.readouterr().err == ""


def test_an_unknown_cpg_encoding_is_named_and_an_empty_cpg_is_no_encoding(
    tmp_path: Path, square: Polygon, capfd: pytest.CaptureFixture[str]
) -> None:
    parts = _shapefile_parts(tmp_path, square)
    parts["grids.cpg"] = b"klingon\r\n"
    message = _message_of(lambda: read_features_bytes(_zipped(parts), "g.zip"))
    assert str(message) == "g.zip:grids.shp: the .cpg names an unknown encoding: klingon"
    for empty_or_code_page in (b"", b"936", b"65001"):
        parts["grids.cpg"] = empty_or_code_page
        assert len(read_features_bytes(_zipped(parts), "g.zip")) == 1
    assert capfd.readouterr().err == ""  # pyshp's "Empty .cpg file" warning neither


@pytest.mark.parametrize(
    ("content", "where", "problem"),
    [
        (b'{"type": "Feature",\n "properties": {"name": "cut', "line 2 column 25",
         "a string starting here runs to the end of the file (cut short?)"),
        (b'{"type": "Feature",\n "properties": {"name": ', "line 2 column 25",
         "the file ends before the JSON does (cut short?)"),
        (b'{"type" "Feature"}', "line 1 column 9", "a colon (:) is expected"),
        (b'{"type": "Feature",}', "line 1 column 20",
         "a property name in double quotes is expected"),
        (b'{"type": "Feature"} {}', "line 1 column 21", "more text after the end of the JSON"),
        (b'{"type": \'Feature\'}', "line 1 column 10", "a value is expected"),
    ],
)  # fmt: skip
def test_broken_json_is_placed_and_explained_in_translatable_words(
    tmp_path: Path, content: bytes, where: str, problem: str
) -> None:
    """QA: the parser's English reached the Chinese page, and "at" came twice in English."""
    path = tmp_path / "bad.geojson"
    path.write_bytes(content)
    message = _message_of(lambda: read_features(path))
    assert str(message) == f"{path}: not valid JSON at {where}: {problem}"
    assert message.template == (
        "%(source)s: not valid JSON at line %(line)d column %(column)d: %(problem)s"
    )
    assert isinstance(message.values["problem"], Message)
    assert message.values["problem"].template == problem
