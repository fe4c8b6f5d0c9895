"""Planning input messages as a pilot reads them: no-fly import errors name the uploaded file and
its geometry types in the page's language, coverage never reads as its own threshold, the drawn
area and the planning fields are named as the page names them."""

from __future__ import annotations

import io
import json

import pytest
from conftest import G1, add_grids, login
from fakecatalogue import overlay_catalogue
from flask_babel import force_locale

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
#: Chinese for the new messages (the lead's catalogue may word them differently).
CHINESE = {
    "Point": "点",
    "LineString": "线",
    "%(count)d %(type)s": "%(count)d 个%(type)s",
    "%(first)s, %(rest)s": "%(first)s、%(rest)s",
    "drawn area": "绘制区域",
}
NOPOLY_KML = b"""<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>mast</name>
<Point><coordinates>120.14,32.51,0</coordinates></Point></Placemark></Document></kml>"""
BOWTIE = [[120.30, 32.70], [120.31, 32.71], [120.31, 32.70], [120.30, 32.71], [120.30, 32.70]]


@pytest.fixture(scope="module", autouse=True)
def grids(env):
    add_grids(env, ("PIM-G1", G1))


def _import_no_fly(env, data: bytes, filename: str, *, zh: bool = False):
    return env.client().post(
        "/api/v1/no-fly",
        data={"name": "broken", "file": (io.BytesIO(data), filename)},
        headers={**env.headers("pilot"), **(ZH if zh else {})},
        content_type="multipart/form-data",
    )


def test_a_no_fly_file_without_polygons_is_named_and_its_types_translated(env, monkeypatch):
    overlay_catalogue(monkeypatch, CHINESE)
    english = _import_no_fly(env, NOPOLY_KML, "nopoly.kml")
    assert english.status_code == 400
    assert english.json["error"] == (
        "no-fly file 'nopoly.kml' cannot be read: nopoly.kml: holds no no-fly polygons "
        "(found 1 Point)"
    )
    chinese = _import_no_fly(env, NOPOLY_KML, "nopoly.kml", zh=True).json["error"]
    assert "nopoly.kml：" in chinese and "1 个点" in chinese, chinese
    assert "所给要素" not in chinese and "Point" not in chinese


def test_several_geometry_types_are_each_translated(env, monkeypatch) -> None:
    overlay_catalogue(monkeypatch, CHINESE)
    features = [
        {"type": "Feature", "properties": {}, "geometry": geometry}
        for geometry in (
            {"type": "Point", "coordinates": [120.14, 32.51]},
            {"type": "LineString", "coordinates": [[120.14, 32.51], [120.15, 32.52]]},
            {"type": "LineString", "coordinates": [[120.15, 32.51], [120.16, 32.52]]},
        )
    ]
    data = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    english = _import_no_fly(env, data, "lines.geojson").json["error"]
    assert english.endswith("lines.geojson: holds no no-fly polygons (found 2 LineString, 1 Point)")
    chinese = _import_no_fly(env, data, "lines.geojson", zh=True).json["error"]
    assert "2 个线、1 个点" in chinese, chinese


def test_a_bad_no_fly_zone_is_named_with_its_file(env) -> None:
    zone = {"type": "Feature", "properties": {"name": "bowtie"},
            "geometry": {"type": "Polygon", "coordinates": [BOWTIE]}}  # fmt: skip
    data = json.dumps({"type": "FeatureCollection", "features": [zone]}).encode()
    error = _import_no_fly(env, data, "bowtie.geojson").json["error"]
    assert error.startswith(
        "no-fly file 'bowtie.geojson' cannot be read: no-fly zone 'bowtie' in bowtie.geojson: "
    )
    assert "given features" not in error
    assert "所给要素" not in _import_no_fly(env, data, "bowtie.geojson", zh=True).json["error"]


def test_coverage_below_the_threshold_never_reads_as_the_threshold(env, monkeypatch) -> None:
    from groundstation.blueprints.plan import PlanWarning

    overlay_catalogue(monkeypatch, CHINESE)
    warning = PlanWarning("coverage", 99.49, 99.5, grid="drawn", lead_in_m=5.0)
    with env.app.test_request_context("/plan"), force_locale("en"):
        english = str(warning.text())
    assert english.startswith(
        "drawn area: only 99.4 % of its flyable area is photographed at least once (below 99.5 %)"
    )
    with env.app.test_request_context("/plan"), force_locale("zh"):
        chinese = str(warning.text())
    assert chinese.startswith("绘制区域：") and "99.4" in chinese and "99.5%）" in chinese
    assert "drawn" not in chinese
    grid = PlanWarning("coverage", 98.96, 99.5, grid="PIM-G1", lead_in_m=0.0)
    with env.app.test_request_context("/plan"), force_locale("en"):
        assert str(grid.text()).startswith("PIM-G1: only 98.9 % of its flyable area")


def test_the_cli_coverage_warning_never_reads_as_the_threshold() -> None:
    from groundstation.cli.plan import coverage_warnings

    summary = {
        "settings": {"lead_in_m": 5.0},
        "grids": [
            {"grid_id": "A", "coverage_once_pct": 99.49},
            {"grid_id": "B", "coverage_once_pct": 99.5},
        ],
    }
    (warning,) = coverage_warnings(summary)
    assert warning.startswith("grid A: only 99.4 % of its flyable area is photographed at least "
                              "once (below 99.5 %)")  # fmt: skip


def test_a_planner_error_names_the_drawn_area(env, monkeypatch) -> None:
    """A drawn area too far from home for the battery: the planner's error names the grid."""
    overlay_catalogue(monkeypatch, CHINESE)
    client = env.client()
    token = login(client, "pilot")
    square = [[120.139, 32.5095], [120.140, 32.5095], [120.140, 32.5100], [120.139, 32.5100]]
    body = {
        "polygon": {"type": "Polygon", "coordinates": [[*square, square[0]]]},
        "profile": "patrol",
        "altitude_m": 60,
        "battery_minutes": 3,
        "home": [120.0, 32.3],  # about 25 km away
    }

    def preview() -> str:
        response = client.post("/api/v1/plans/preview", json=body, headers={"X-CSRFToken": token})
        assert response.status_code == 400
        return response.json["error"]

    chinese = preview()
    assert "绘制区域" in chinese and "drawn" not in chinese, chinese
    client.get("/lang/en")
    english = preview()
    assert "drawn area" in english and "grid drawn:" not in english, english


def test_altitude_and_gsd_together_are_named_as_the_page_labels_them(env) -> None:
    client = env.client()
    token = login(client, "pilot")
    body = {"grids": ["PIM-G1"], "altitude_m": 100, "gsd_cm": 2}

    def preview() -> str:
        response = client.post("/api/v1/plans/preview", json=body, headers={"X-CSRFToken": token})
        assert response.status_code == 400
        return response.json["error"]

    zh = preview()
    assert "高度（米）" in zh and "地面分辨率（厘米/像素）" in zh and "altitude_m" not in zh, zh
    client.get("/lang/en")
    assert preview() == "give Altitude (m) or GSD (cm/px), not both"
    api = env.client().post("/api/v1/plans/preview", json=body, headers=env.headers("pilot"))
    assert api.json["error"] == "give altitude_m or gsd_cm, not both"  # API clients: the keys


def test_a_grid_layer_holding_a_no_fly_zone_imports_as_a_no_fly_layer(env) -> None:
    """The grid import leaves a layer's no-fly zones out and says to import the file as a no-fly
    layer: that import takes exactly the zones (kind no_fly_zone), not the grids beside them."""
    triangle = [[120.30, 32.70], [120.31, 32.71], [120.30, 32.71], [120.30, 32.70]]
    features = [
        {
            "type": "Feature",
            "properties": {"name": name, "kind": kind},
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }
        for name, kind, ring in (("g10", "near_no_fly", G1), ("nf10", "no_fly_zone", triangle))
    ]
    data = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    response = _import_no_fly(env, data, "grids_with_nf.geojson")
    assert response.status_code == 201, response.json
    assert response.json["zones"] == 1
