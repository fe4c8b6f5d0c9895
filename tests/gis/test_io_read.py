"""Reading vector files: GeoJSON forms, KML/KMZ, Shapefile (.prj, zipped) and the sample layer."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import shapefile
import shapely
import shapely.affinity
from pyproj import CRS, Transformer
from pyproj.enums import WktVersion
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, mapping

from gis.crs import LocalFrame
from gis.io import Feature, read_features, read_features_bytes, read_grids, read_lines, read_no_fly

KML_NS = "http://www.opengis.net/kml/2.2"

KML_HOLED = f"""<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="{KML_NS}">
 <Document><name>海陵区网格</name>
  <Folder><name>第一片区</name>
   <Placemark>
    <name>HL-001</name>
    <description>fish ponds</description>
    <ExtendedData>
     <Data name="grid_id"><value>321202-001</value></Data>
     <Data name="网格员"><displayName>Gridman</displayName><value>张三</value></Data>
     <SchemaData schemaUrl="#s"><SimpleData name="street">城东街道</SimpleData></SchemaData>
    </ExtendedData>
    <Polygon>
     <outerBoundaryIs><LinearRing><coordinates>
      120.10,32.50,0 120.12,32.50,0 120.12,32.52,0 120.10,32.52,0 120.10,32.50,0
     </coordinates></LinearRing></outerBoundaryIs>
     <innerBoundaryIs><LinearRing><coordinates>
      120.105, 32.505 120.105, 32.51 120.11, 32.51 120.11, 32.505 120.105, 32.505
     </coordinates></LinearRing></innerBoundaryIs>
    </Polygon>
   </Placemark>
   <Placemark>
    <name>HL-002</name>
    <MultiGeometry>
     <Polygon><outerBoundaryIs><LinearRing><coordinates>
      120.20,32.50 120.21,32.50 120.21,32.51 120.20,32.50
     </coordinates></LinearRing></outerBoundaryIs></Polygon>
     <Polygon><outerBoundaryIs><LinearRing><coordinates>
      120.22,32.50 120.23,32.50 120.23,32.51 120.22,32.50
     </coordinates></LinearRing></outerBoundaryIs></Polygon>
    </MultiGeometry>
   </Placemark>
   <Placemark><name>take-off</name><Point><coordinates>120.1,32.49</coordinates></Point></Placemark>
   <Placemark><name>canal</name>
    <LineString><coordinates>120.1,32.49 120.2,32.49</coordinates></LineString></Placemark>
   <Placemark><name>no geometry</name></Placemark>
  </Folder>
 </Document>
</kml>
"""

KML_PREFIXED = f"""<?xml version="1.0"?>
<kml:kml xmlns:kml="{KML_NS}"><kml:Placemark><kml:name>P</kml:name>
 <kml:Polygon><kml:outerBoundaryIs><kml:LinearRing>
  <kml:coordinates>120.1,32.5 120.11,32.5 120.11,32.51 120.1,32.5</kml:coordinates>
 </kml:LinearRing></kml:outerBoundaryIs></kml:Polygon>
</kml:Placemark></kml:kml>"""

KML_NO_NAMESPACE = KML_PREFIXED.replace("kml:", "").replace(f' xmlns="{KML_NS}"', "")


def _collection(*features: Feature) -> dict:
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": f.properties, "geometry": mapping(f.geometry)}
            for f in features
        ],
    }


def _project(geometry, epsg: int):
    """A WGS84 geometry in another CRS, as a GIS office would export it."""
    transformer = Transformer.from_crs(4326, epsg, always_xy=True)
    return shapely.transform(
        geometry, lambda c: np.column_stack(transformer.transform(c[:, 0], c[:, 1]))
    )


def _write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


# --- GeoJSON


def test_geojson_feature_collection(tmp_path: Path, square: Polygon, holed: Polygon) -> None:
    path = _write(
        tmp_path / "grids.geojson",
        _collection(Feature(square, {"name": "a"}), Feature(holed, {"name": "b", "n": 3})),
    )
    features = read_features(path)
    assert [f.properties for f in features] == [{"name": "a"}, {"name": "b", "n": 3}]
    assert features[1].geometry.equals(holed)
    assert len(features[1].geometry.interiors) == 1


def test_geojson_single_feature_with_id_and_null_properties(tmp_path: Path, square) -> None:
    doc = {"type": "Feature", "id": "G-9", "properties": None, "geometry": mapping(square)}
    (feature,) = read_features(_write(tmp_path / "one.json", doc))
    assert feature.properties == {"id": "G-9"}
    assert feature.geometry.equals(square)


def test_geojson_bare_geometry_and_geometry_collection(tmp_path: Path, square, holed) -> None:
    (bare,) = read_features(_write(tmp_path / "bare.geojson", mapping(square)))
    assert bare.geometry.equals(square) and bare.properties == {}
    collection = {"type": "GeometryCollection", "geometries": [mapping(square), mapping(holed)]}
    features = read_features(_write(tmp_path / "gc.geojson", collection))
    assert [f.geometry.geom_type for f in features] == ["Polygon", "Polygon"]


def test_geojson_z_values_and_bom_are_tolerated(tmp_path: Path, square) -> None:
    text = json.dumps(mapping(shapely.force_3d(square, 12.0)))
    path = tmp_path / "z.geojson"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    (feature,) = read_features(path)
    assert not feature.geometry.has_z and feature.geometry.equals(square)


def test_geojson_named_crs_is_reprojected(tmp_path: Path, square: Polygon) -> None:
    utm = _project(square, 32651)
    doc = {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32651"}},
        "features": [{"type": "Feature", "properties": {}, "geometry": mapping(utm)}],
    }
    (feature,) = read_features(_write(tmp_path / "utm.geojson", doc))
    assert feature.geometry.equals_exact(square, tolerance=1e-8)


# --- KML / KMZ


def test_kml_polygon_with_hole_multigeometry_and_extended_data(tmp_path: Path, holed) -> None:
    path = tmp_path / "grids.kml"
    path.write_text(KML_HOLED, encoding="utf-8")
    features = read_features(path)
    kinds = [f.geometry.geom_type for f in features]
    assert kinds == ["Polygon", "MultiPolygon", "Point", "LineString"]
    first = features[0]
    assert first.geometry.equals(holed)
    assert first.properties == {
        "name": "HL-001",
        "description": "fish ponds",
        "grid_id": "321202-001",
        "网格员": "张三",
        "street": "城东街道",
    }
    assert len(features[1].geometry.geoms) == 2


@pytest.mark.parametrize("text", [KML_PREFIXED, KML_NO_NAMESPACE])
def test_kml_namespace_prefix_or_none(tmp_path: Path, text: str) -> None:
    path = tmp_path / "p.kml"
    path.write_text(text, encoding="utf-8")
    (feature,) = read_features(path)
    assert feature.properties == {"name": "P"}
    assert feature.geometry.geom_type == "Polygon"
    assert feature.geometry.area > 0


def test_kmz_reads_doc_kml(tmp_path: Path) -> None:
    path = tmp_path / "grids.kmz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("files/other.kml", KML_PREFIXED)
        archive.writestr("doc.kml", KML_HOLED)
    assert [f.properties["name"] for f in read_features(path)][:2] == ["HL-001", "HL-002"]


def test_kml_grids_skip_markers_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "grids.kml"
    path.write_text(KML_HOLED, encoding="utf-8")
    grids = read_grids(path)
    assert [g.grid_id for g in grids] == ["321202-001", "HL-002"]
    assert isinstance(grids[1].geometry, MultiPolygon)
    (canal,) = read_lines(path)
    assert canal.properties["name"] == "canal"


# --- Shapefile


def _shapefile_parts(features, *, shape_type: int, prj: str | None, encoding="utf-8") -> dict:
    streams = {key: io.BytesIO() for key in ("shp", "shx", "dbf")}
    with shapefile.Writer(shapeType=shape_type, encoding=encoding, **streams) as writer:
        writer.field("GRID_ID", "C", 20)
        writer.field("名称", "C", 40)
        writer.field("AREA", "N", 18, 0)
        for geometry, grid_id, name, area in features:
            writer.shape(json.loads(shapely.to_geojson(geometry)))
            writer.record(grid_id, name, area)
    parts = {f".{key}": stream.getvalue() for key, stream in streams.items()}
    if prj is not None:
        parts[".prj"] = prj.encode("ascii")
    return parts


def _save(parts: dict, folder: Path, stem: str) -> Path:
    for suffix, content in parts.items():
        (folder / f"{stem}{suffix}").write_bytes(content)
    return folder / f"{stem}.shp"


def test_shapefile_with_projected_prj_is_reprojected(tmp_path: Path, holed, square) -> None:
    # CGCS2000 3-degree Gauss-Krüger, central meridian 120 E: how Jiangsu's GIS offices export.
    crs = CRS.from_epsg(4549)
    rows = [
        (_project(holed, 4549), "HL-1", "城东一", 1),
        (_project(square, 4549), "HL-2", "城东二", 2),
    ]
    path = _save(
        _shapefile_parts(rows, shape_type=shapefile.POLYGON, prj=crs.to_wkt(WktVersion.WKT1_ESRI)),
        tmp_path,
        "grids",
    )
    grids = read_grids(path)
    assert [g.grid_id for g in grids] == ["HL-1", "HL-2"]
    assert grids[0].properties == {"GRID_ID": "HL-1", "名称": "城东一", "AREA": 1}
    # CGCS2000 and WGS84 agree to centimetres; compare in metres.
    frame = LocalFrame.around(holed)
    shift = frame.to_local(grids[0].geometry).symmetric_difference(frame.to_local(holed)).area
    assert shift < 1.0
    assert len(grids[0].geometry.interiors) == 1


def test_shapefile_without_prj_and_gbk_dbf(tmp_path: Path, square) -> None:
    rows = [(square, "HL-3", "泰州", 7)]
    parts = _shapefile_parts(rows, shape_type=shapefile.POLYGON, prj=None, encoding="gbk")
    (feature,) = read_features(_save(parts, tmp_path, "gbk"))
    assert feature.properties["名称"] == "泰州"
    assert feature.geometry.equals(square)


def test_zipped_shapefile_in_a_folder_with_mac_litter(tmp_path: Path, square) -> None:
    rows = [(_project(square, 32651), "Z-1", "zip", 1)]
    crs = CRS.from_epsg(32651).to_wkt(WktVersion.WKT1_ESRI)
    parts = _shapefile_parts(rows, shape_type=shapefile.POLYGON, prj=crs)
    path = tmp_path / "grids.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for suffix, content in parts.items():
            archive.writestr(f"export/Grids{suffix.upper()}", content)
        archive.writestr("__MACOSX/export/._Grids.SHP", b"junk")
    (feature,) = read_features(path)
    assert feature.properties["GRID_ID"] == "Z-1"
    assert feature.geometry.normalize().equals_exact(square.normalize(), tolerance=1e-8)


# --- uploads


def test_read_features_bytes_dispatches_on_filename(square, tmp_path: Path) -> None:
    geojson = json.dumps(mapping(square)).encode()
    assert read_features_bytes(geojson, "upload.GEOJSON")[0].geometry.equals(square)
    assert read_features_bytes(KML_PREFIXED.encode(), "网格.kml")[0].properties == {"name": "P"}
    rows = [(square, "B-1", "bytes", 1)]
    parts = _shapefile_parts(rows, shape_type=shapefile.POLYGON, prj=None)
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        for suffix, content in parts.items():
            archive.writestr(f"b{suffix}", content)
    (feature,) = read_features_bytes(packed.getvalue(), "C:\\Users\\me\\grids.zip")
    assert feature.properties["GRID_ID"] == "B-1"
    (lone,) = read_features_bytes(parts[".shp"], "grids.shp")
    assert lone.properties == {} and lone.geometry.equals(square)


# --- grid layers


def test_grid_ids_come_from_grid_id_then_name_then_index(tmp_path: Path, square) -> None:
    def moved(dx: float) -> Polygon:
        return shapely.affinity.translate(square, dx)

    features = [
        Feature(moved(0.00), {"grid_id": "G1", "name": "ignored"}),
        Feature(moved(0.02), {"name": "东村"}),
        Feature(moved(0.04), {"note": "no id"}),
        Feature(moved(0.06), {"grid_id": 12.0}),
    ]
    grids = read_grids(features)
    assert [g.grid_id for g in grids] == ["G1", "东村", "3", "12"]
    assert grids[1].properties == {"name": "东村"}
    path = _write(tmp_path / "g.geojson", _collection(*features[:2]))
    assert [g.grid_id for g in read_grids(path, id_property="name")] == ["ignored", "东村"]


def test_sample_layer_grids(benchmark_grids: Path) -> None:
    grids = read_grids(benchmark_grids)
    assert len(grids) == 10
    assert grids[0].grid_id == "g01_convex_field"
    assert "nf10_substation" not in {g.grid_id for g in grids}
    by_id = {g.grid_id: g for g in grids}
    assert len(by_id["g04_two_ponds"].geometry.interiors) == 2
    assert len(by_id["g09_three_parcels"].geometry.geoms) == 3
    for grid in grids:
        area = LocalFrame.around(grid.geometry).to_local(grid.geometry).area
        assert area == pytest.approx(grid.properties["area_m2"], rel=0.005), grid.grid_id


def test_sample_layer_no_fly_and_centre_line(benchmark_grids: Path) -> None:
    (zone,) = read_no_fly(benchmark_grids)
    assert isinstance(zone, Polygon)
    assert LocalFrame.around(zone).to_local(zone).area == pytest.approx(195090.2, rel=0.005)
    grid = {g.grid_id: g for g in read_grids(benchmark_grids)}["g10_near_nofly"]
    assert grid.geometry.intersects(zone)
    river = {g.grid_id: g for g in read_grids(benchmark_grids)}["g05_river_corridor"]
    centre = LineString(river.properties["centerline_wgs84"])
    (line,) = read_lines([Feature(centre, {"name": "boundary river"})])
    assert line.geometry.equals(centre)


def test_no_fly_without_kinds_takes_every_polygon_and_explodes_multipolygons(square) -> None:
    parts = MultiPolygon([square, shapely.affinity.translate(square, 0.05)])
    zones = read_no_fly([Feature(parts, {}), Feature(Point(120.1, 32.5), {})])
    assert len(zones) == 2 and all(isinstance(z, Polygon) for z in zones)


def test_a_counter_clockwise_shapefile_ring_reads_without_pyshp_noise(tmp_path, caplog) -> None:
    """pyshp expects clockwise exteriors and logs a warning for other tools' rings; the grid
    reads the same and the user's terminal stays clean."""
    writer = shapefile.Writer(str(tmp_path / "g"), shapeType=shapefile.POLYGON)
    writer.field("name", "C")
    ring = [(120.0, 32.0), (120.01, 32.0), (120.01, 32.01), (120.0, 32.01), (120.0, 32.0)]
    writer.poly([ring])  # counter-clockwise
    writer.record("A")
    writer.close()
    with caplog.at_level("WARNING"):
        (grid,) = read_grids(tmp_path / "g.shp")
    assert grid.grid_id == "A" and grid.geometry.area > 0
    assert not [r for r in caplog.records if r.name == "shapefile"]
