"""The planning page and its JSON API: preview, save, downloads, no-fly layers, upload with
verification to our SITL, roles, CSRF and bad input as 4xx JSON."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

import pytest
from conftest import G1, G2, SMALL, add_grids, grid_geojson, login

NOFLY = [
    [119.908, 32.408],
    [119.912, 32.408],
    [119.912, 32.412],
    [119.908, 32.412],
    [119.908, 32.408],
]  # fmt: skip  (cuts G1's north-east corner)


@pytest.fixture(scope="module", autouse=True)
def grids(env):
    add_grids(env, ("P-G1", G1), ("P-G2", G2), ("P-S", SMALL))


def preview(env, who="pilot", **params):
    body = {"grids": ["P-G1"], "profile": "patrol", "altitude_m": 100, **params}
    return env.client().post("/api/v1/plans/preview", json=body, headers=env.headers(who))


def test_preview_draws_route_and_summary(env) -> None:
    response = preview(env)
    assert response.status_code == 200, response.json
    data = response.json
    totals = data["summary"]["totals"]
    assert totals["grids"] == 1 and totals["sorties"] >= 1 and totals["photos"] > 10
    kinds = {f["properties"]["kind"] for f in data["layers"]["features"]}
    assert {"cell", "strip", "route", "home"} <= kinds
    grid = data["summary"]["grids"][0]
    assert grid["grid_id"] == "P-G1" and grid["coverage_once_pct"] > 95


def test_summary_follows_the_parameters(env) -> None:
    high = preview(env, altitude_m=120).json["summary"]["totals"]
    low = preview(env, altitude_m=60).json["summary"]["totals"]
    assert low["photos"] > 2 * high["photos"]
    assert low["flight_time_s"] > high["flight_time_s"]
    gsd = preview(env, altitude_m=None, gsd_cm=2.0).json["summary"]["settings"]
    assert gsd["gsd_cm"] == pytest.approx(2.0, abs=0.01)
    mapping = preview(env, profile="mapping", front_overlap=80).json["summary"]["settings"]
    assert mapping["front_overlap_pct"] == 80 and mapping["side_overlap_pct"] == 70


def test_an_emptied_height_field_is_refused_and_no_height_at_all_flies_100_m(env) -> None:
    """QA: an emptied Altitude field planned at 100 m without a word. The page sends only the
    height it plans by, so an empty one is named (GSD as altitude); a request that gives no
    height at all keeps the documented 100 m."""
    body = {"grids": ["P-S"], "profile": "patrol"}
    by_gsd = env.client().post(
        "/api/v1/plans/preview", json={**body, "gsd_cm": None}, headers=env.headers("pilot")
    )
    assert by_gsd.status_code == 400
    assert by_gsd.json["error"] == "gsd_cm is empty: give a value from 0.1 to 50"
    neither = env.client().post("/api/v1/plans/preview", json=body, headers=env.headers("pilot"))
    assert neither.status_code == 200
    assert neither.json["summary"]["settings"]["altitude_m"] == 100


def test_drawn_polygon_and_no_fly_layer(env) -> None:
    client = env.client()
    upload = client.post(
        "/api/v1/no-fly",
        data={"name": "airport", "file": (io.BytesIO(grid_geojson(("NF", NOFLY))), "nf.geojson")},
        headers=env.headers("pilot"),
        content_type="multipart/form-data",
    )
    assert upload.status_code == 201, upload.json
    layer = upload.json["id"]
    assert upload.json["zones"] == 1
    assert any(
        r["id"] == layer for r in client.get("/api/v1/no-fly", headers=env.headers("pilot")).json
    )
    drawn = {"type": "Polygon", "coordinates": [G1]}
    with_zone = preview(env, grids=[], polygon=drawn, no_fly_layer=layer).json
    kinds = [f["properties"]["kind"] for f in with_zone["layers"]["features"]]
    assert "no_fly" in kinds
    assert with_zone["summary"]["grids"][0]["grid_id"] == "drawn"
    without = preview(env, grids=[], polygon=drawn).json
    assert with_zone["summary"]["grids"][0]["area_m2"] < without["summary"]["grids"][0]["area_m2"]


@pytest.mark.parametrize(
    ("params", "status", "needle"),
    [
        ({"grids": []}, 400, "pick at least one grid"),
        ({"grids": ["NOPE"]}, 404, "NOPE"),
        ({"altitude_m": 5}, 400, "altitude_m 5 is out of range"),
        ({"altitude_m": "high"}, 400, "not a number"),
        ({"camera": "hasselblad"}, 400, "camera 'hasselblad'"),
        ({"profile": "race"}, 400, "mapping or patrol"),
        ({"polygon": {"type": "Point", "coordinates": [1, 2]}}, 400, "Polygon"),
        (
            {
                "polygon": {
                    "type": "Polygon",
                    "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]],
                }
            },
            400,
            "crosses itself",
        ),
        ({"no_fly_layer": 999999}, 404, "no-fly layer"),
        ({"altitude_m": 100, "gsd_cm": 2}, 400, "not both"),
    ],
)
def test_bad_input_is_a_4xx_json_error(env, params, status, needle) -> None:
    response = preview(env, **params)
    assert response.status_code == status
    assert needle in response.json["error"]


@pytest.mark.parametrize(
    ("params", "page_error", "api_error"),
    [
        ({"altitude_m": 5}, "Altitude (m) 5 is out of range", "altitude_m 5 is out of range"),
        (
            {"front_overlap": 100},
            "Front overlap (%) 100 is out of range [0, 95]",
            "front_overlap 100 is out of range",
        ),
        ({"speed_mps": 0}, "Speed (m/s) 0 is out of range [1, 30]", "speed_mps 0 is out of"),
        ({"battery_minutes": "x"}, "Battery (min) 'x' is not a number", "battery_minutes 'x'"),
        ({"lead_in_m": -1}, "Lead-in (m) -1 is out of range [0, 50]", "lead_in_m -1 is out of"),
        (
            {"altitude_m": None},
            "Altitude (m) is empty: give a value from 10 to 500",
            "altitude_m is empty: give a value from 10 to 500",
        ),
        (
            {"altitude_m": "", "gsd_cm": ""},
            "Altitude (m) is empty: give a value from 10 to 500",
            "altitude_m is empty",
        ),
    ],
)
def test_the_page_reads_its_field_labels_in_errors_and_api_clients_their_keys(
    env, params, page_error, api_error
) -> None:
    """QA: the planning page said "altitude_m 5 is out of range": it names the field by the
    label the pilot sees beside it; an API client keeps the JSON key it sent."""
    client = env.client()
    token = login(client, "pilot")
    client.get("/lang/en")
    body = {"grids": ["P-S"], "profile": "patrol", "altitude_m": 100, **params}
    on_page = client.post("/api/v1/plans/preview", json=body, headers={"X-CSRFToken": token})
    assert on_page.status_code == 400
    assert on_page.json["error"].startswith(page_error), on_page.json
    by_api = preview(env, grids=["P-S"], **params)
    assert by_api.status_code == 400
    assert by_api.json["error"].startswith(api_error), by_api.json


def test_camera_presets_are_taken_in_any_case_as_the_cli_takes_them(env) -> None:
    """QA: the page refused 'Phantom4Pro', which `gridpatrol plan --camera` takes."""
    exact = preview(env, camera="m300-p1")
    mixed = preview(env, camera=" M300-P1 ")
    assert mixed.status_code == 200, mixed.json
    assert mixed.json["summary"]["totals"] == exact.json["summary"]["totals"]
    saved = save(env, camera="Phantom4Pro")
    assert saved["params"]["camera"] == "phantom4pro"  # stored as the preset's own name
    unknown = preview(env, camera="Phantom5")
    assert unknown.status_code == 400
    assert unknown.json["error"].startswith("camera 'Phantom5' is not one of phantom4pro, ")


def test_planner_error_is_shown(env) -> None:
    zone = {"type": "Polygon", "coordinates": [SMALL]}
    client = env.client()
    layer = client.post(
        "/api/v1/no-fly",
        data={"name": "whole", "file": (io.BytesIO(json.dumps(zone).encode()), "w.geojson")},
        headers=env.headers("pilot"),
        content_type="multipart/form-data",
    ).json["id"]
    response = preview(env, grids=["P-S"], no_fly_layer=layer, home=[119.88, 32.39])
    assert response.status_code == 400
    assert response.json["error"].startswith("cannot plan:") and "P-S" in response.json["error"]


def _import_zones(env, name: str, zones: list[list[list[float]]]) -> int:
    features = [
        {"type": "Feature", "properties": {"name": f"z{k}"},
         "geometry": {"type": "Polygon", "coordinates": [ring]}}
        for k, ring in enumerate(zones)
    ]  # fmt: skip
    data = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    response = env.client().post(
        "/api/v1/no-fly",
        data={"name": name, "file": (io.BytesIO(data), f"{name}.geojson")},
        headers=env.headers("pilot"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.json
    return response.json["id"]


def _square(lon: float, lat: float, size: float = 0.0005) -> list[list[float]]:
    return [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]


def test_a_province_wide_no_fly_layer_plans_with_the_zones_near_the_area(env) -> None:
    """A layer of thousands of zones across a province (towers, sites) used to take the planner
    minutes and end in a 500: only the zones the routes can meet matter."""
    far = [_square(120.5 + 0.01 * (k % 60), 32.0 + 0.01 * (k // 60)) for k in range(3000)]
    layer = _import_zones(env, "province", [NOFLY, *far])
    with_layer = preview(env, no_fly_layer=layer)
    assert with_layer.status_code == 200, with_layer.json
    near_only = preview(env, no_fly_layer=_import_zones(env, "near", [NOFLY]))
    assert with_layer.json["summary"] == near_only.json["summary"]
    zones = [
        f for f in with_layer.json["layers"]["features"] if f["properties"]["kind"] == "no_fly"
    ]
    assert len(zones) == 1


def test_too_many_no_fly_zones_near_the_area_is_a_clear_400(env) -> None:
    dense = [_square(119.85 + 0.003 * (k % 40), 32.35 + 0.003 * (k // 40)) for k in range(1600)]
    layer = _import_zones(env, "dense", dense)
    response = preview(env, no_fly_layer=layer, home=[119.84, 32.34])
    assert response.status_code == 400
    assert "no-fly zones" in response.json["error"] and "at most" in response.json["error"]


def test_roles_and_csrf(env) -> None:
    assert preview(env, who="department").status_code == 403
    assert preview(env, who="supervisor").status_code == 200
    client = env.client()
    assert client.post("/api/v1/plans/preview", json={"grids": ["P-G1"]}).status_code == 401
    login(client, "pilot")
    no_token = client.post("/api/v1/plans/preview", json={"grids": ["P-G1"]})
    assert no_token.status_code == 400 and "CSRF" in no_token.json["error"]
    token = login(client, "pilot")
    ok = client.post(
        "/api/v1/plans/preview", json={"grids": ["P-G1"]}, headers={"X-CSRFToken": token}
    )
    assert ok.status_code == 200


def test_page_renders_for_planners_only(env) -> None:
    client = env.client()
    login(client, "pilot")
    html = client.get("/plan").get_data(as_text=True)
    assert 'id="plan-map"' in html and "P-G1" in html and "规划" in html
    assert "draw.js" in html and "leaflet.js" in html and "https://" not in html
    login(client, "department")
    assert client.get("/plan").status_code == 403


def save(env, **params):
    body = {"grids": ["P-S"], "profile": "patrol", "altitude_m": 40, "name": "small", **params}
    response = env.client().post("/api/v1/plans", json=body, headers=env.headers("pilot"))
    assert response.status_code == 201, response.json
    return response.json


def test_save_list_and_download(env) -> None:
    saved = save(env)
    client = env.client()
    plan_id = saved["id"]
    assert saved["grids"] == ["P-S"] and saved["sorties"] == 1
    listed = client.get("/api/v1/plans", headers=env.headers("department")).json
    assert plan_id in [p["id"] for p in listed]
    detail = client.get(f"/api/v1/plans/{plan_id}", headers=env.headers("pilot")).json
    assert detail["params"]["altitude_m"] == 40 and detail["summary"]["totals"]["photos"] > 0

    qgc = client.get(
        f"/api/v1/plans/{plan_id}/download/plan?sortie=1", headers=env.headers("pilot")
    )
    assert qgc.status_code == 200 and "attachment" in qgc.headers["Content-Disposition"]
    document = json.loads(qgc.data)
    assert document["fileType"] == "Plan"
    commands = [item["command"] for item in document["mission"]["items"]]
    assert commands[0] == 22 and commands[-1] == 20 and 16 in commands and 206 in commands

    wp = client.get(f"/api/v1/plans/{plan_id}/download/waypoints", headers=env.headers("pilot"))
    lines = wp.get_data(as_text=True).splitlines()
    assert lines[0] == "QGC WPL 110" and len(lines) == len(commands) + 2

    kml = client.get(f"/api/v1/plans/{plan_id}/download/kml", headers=env.headers("pilot"))
    assert ET.fromstring(kml.data).tag.endswith("kml")

    assert (
        client.get(
            f"/api/v1/plans/{plan_id}/download/exe", headers=env.headers("pilot")
        ).status_code
        == 400
    )
    assert (
        client.get(
            f"/api/v1/plans/{plan_id}/download/plan?sortie=9", headers=env.headers("pilot")
        ).status_code
        == 400
    )
    assert client.get("/api/v1/plans/999999", headers=env.headers("pilot")).status_code == 404


def test_upload_to_sitl_with_verification(env) -> None:
    from simulator import Sitl

    saved = save(env)
    home = saved["summary"]["home"]
    client = env.client()
    with Sitl(home=(home["lat"], home["lon"], 0.0), speedup=20) as sitl:
        response = client.post(
            f"/api/v1/plans/{saved['id']}/upload",
            json={"connection": sitl.connection_string, "sortie": 1},
            headers=env.headers("pilot"),
        )
    assert response.status_code == 200, response.json
    verified = response.json["verified"]
    qgc = client.get(f"/api/v1/plans/{saved['id']}/download/plan", headers=env.headers("pilot"))
    document = json.loads(qgc.data)
    assert verified["mission"] == len(document["mission"]["items"])
    assert verified["fence"] == sum(len(p["polygon"]) for p in document["geoFence"]["polygons"])
    assert verified["rally"] == 1


def test_upload_to_a_port_nobody_listens_on_answers_in_seconds(env, monkeypatch) -> None:
    """With the production link timeout (15 s, for a slow vehicle's heartbeat)."""
    import socket
    import time

    monkeypatch.delitem(env.app.config, "LINK_TIMEOUT_S", raising=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    saved = save(env)
    started = time.monotonic()
    refused = env.client().post(
        f"/api/v1/plans/{saved['id']}/upload",
        json={"connection": f"tcp:127.0.0.1:{port}", "sortie": 1},
        headers=env.headers("pilot"),
    )
    assert time.monotonic() - started < 6.0
    assert refused.status_code == 502
    assert refused.json["error"].endswith(
        f"to tcp:127.0.0.1:{port} failed: opening tcp:127.0.0.1:{port}: connection refused: "
        "nothing listens there"
    )


def test_upload_failure_is_reported(env, monkeypatch) -> None:
    monkeypatch.setitem(env.app.config, "LINK_TIMEOUT_S", 1.0)
    saved = save(env)
    client = env.client()
    refused = client.post(
        f"/api/v1/plans/{saved['id']}/upload",
        json={"connection": "tcp:127.0.0.1:1", "sortie": 1},
        headers=env.headers("pilot"),
    )
    assert refused.status_code == 502 and "tcp:127.0.0.1:1" in refused.json["error"]
    zh = client.post(
        f"/api/v1/plans/{saved['id']}/upload",
        json={"connection": "tcp:127.0.0.1:1", "sortie": 1},
        headers={**env.headers("pilot"), "Accept-Language": "zh-CN"},
    ).json["error"]
    assert "打开 tcp:127.0.0.1:1 失败：连接被拒绝" in zh, zh  # the link's words translated too
    bad = client.post(
        f"/api/v1/plans/{saved['id']}/upload",
        json={"connection": "carrier-pigeon", "sortie": 1},
        headers=env.headers("pilot"),
    )
    # a connection string that does not parse is the caller's mistake, named with the forms
    assert bad.status_code == 400, bad.json
    assert bad.json["error"].startswith("connection string 'carrier-pigeon': unknown scheme")
    assert "Accepted forms: tcp:HOST:PORT" in bad.json["error"]
    missing = client.post(
        f"/api/v1/plans/{saved['id']}/upload", json={}, headers=env.headers("pilot")
    )
    assert missing.status_code == 400
    supervisor = client.post(
        f"/api/v1/plans/{saved['id']}/upload",
        json={"connection": "tcp:127.0.0.1:1"},
        headers=env.headers("supervisor"),
    )
    assert supervisor.status_code == 403


# -- no-fly zones in the summary --------------------------------------------------------------

SMALL_EAST = [
    [119.8908, 32.3990],
    [119.8930, 32.3990],
    [119.8930, 32.4020],
    [119.8908, 32.4020],
    [119.8908, 32.3990],
]  # fmt: skip  (over the east half of P-S and beyond)
HOME_SW = [119.8895, 32.3995]  # outside P-S and the zone


def test_summary_reports_the_area_a_no_fly_zone_leaves_out(env) -> None:
    """Half the grid under a zone: the summary gives the whole grid, the part left out (m² and
    %) and coverage of the rest, so the pilot is not told 100 % of a shrunken grid."""
    from shapely.geometry import Polygon

    from gis.crs import LocalFrame

    layer = _import_zones(env, "half of P-S", [SMALL_EAST])
    clear = preview(env, grids=["P-S"], home=HOME_SW)
    cut = preview(env, grids=["P-S"], home=HOME_SW, no_fly_layer=layer)
    assert cut.status_code == 200, cut.json
    whole, grid = clear.json["summary"]["grids"][0], cut.json["summary"]["grids"][0]
    assert whole["no_fly_excluded_m2"] == 0 and whole["grid_area_m2"] == whole["area_m2"]

    frame = LocalFrame(119.8908, 32.4006)
    margin = cut.json["summary"]["settings"]["nofly_margin_m"]
    left_out = (
        frame.to_local(Polygon(SMALL))
        .intersection(frame.to_local(Polygon(SMALL_EAST)).buffer(margin))
        .area
    )
    assert grid["grid_area_m2"] == pytest.approx(whole["grid_area_m2"], rel=0.001)
    assert grid["no_fly_excluded_m2"] == pytest.approx(left_out, rel=0.02)
    assert grid["no_fly_excluded_pct"] == pytest.approx(
        100 * left_out / grid["grid_area_m2"], abs=0.5
    )
    assert 40 < grid["no_fly_excluded_pct"] < 80
    assert grid["area_m2"] + grid["no_fly_excluded_m2"] == pytest.approx(
        grid["grid_area_m2"], abs=1
    )
    assert grid["coverage_once_pct"] > 95  # of the flyable part, as labelled
    totals = cut.json["summary"]["totals"]
    assert totals["no_fly_excluded_pct"] == grid["no_fly_excluded_pct"]


def test_page_labels_coverage_and_has_the_no_fly_warning(env) -> None:
    client = env.client()
    login(client, "pilot")
    html = client.get("/plan").get_data(as_text=True)
    for element in ("nofly-warning", "sum-grid-area", "sum-excluded", "sum-area", "sum-coverage"):
        assert f'id="{element}"' in html
    text = json.loads(
        html.split('<script id="plan-text" type="application/json">')[1].split("<")[0]
    )
    assert "{grid}" in text["nofly_warning"] and "{pct}" in text["nofly_warning"]
    assert "{margin}" in text["nofly_warning"] and "%%" not in text["nofly_warning"]
    for key in ("{mission}", "{fence}", "{rally}"):
        assert key in text["verified"]
    assert "{seconds}" in text["uploading_for"]


@pytest.mark.parametrize(
    ("home", "home_too"),
    [(None, False), ([119.8908, 32.4006], True)],
    ids=["default home", "home chosen inside"],
)
def test_a_grid_wholly_under_a_no_fly_zone_names_the_grid_first(env, home, home_too) -> None:
    """The default home lies in the grid, so in the zone too: the grid is what to fix."""
    layer = _import_zones(env, "all of P-S", [_square(119.889, 32.399, 0.004)])
    response = preview(env, grids=["P-S"], no_fly_layer=layer, home=home)
    assert response.status_code == 400
    error = response.json["error"]
    assert error.startswith("cannot plan: grid P-S: nothing left to fly outside the no-fly zones")
    assert ("home" in error) == home_too
    body = {"grids": ["P-S"], "profile": "patrol", "altitude_m": 100, "no_fly_layer": layer}
    if home is not None:
        body["home"] = home
    headers = {**env.headers("pilot"), "Accept-Language": "zh-CN"}
    zh = env.client().post("/api/v1/plans/preview", json=body, headers=headers).json["error"]
    assert zh.startswith("航线规划失败：网格 P-S：禁飞区之外已没有可飞区域"), zh
    assert ("起降点" in zh) == home_too


# -- saved plans: downloads in every format ---------------------------------------------------


def test_geojson_download_of_a_saved_plan_is_valid_geojson(env) -> None:
    from shapely.geometry import shape

    saved = save(env, name="geojson please")
    assert saved["downloads"]["geojson"] == [
        f"/api/v1/plans/{saved['id']}/download/geojson?sortie=1"
    ]
    response = env.client().get(saved["downloads"]["geojson"][0], headers=env.headers("pilot"))
    assert response.status_code == 200, response.json
    assert response.mimetype == "application/geo+json"
    disposition = response.headers["Content-Disposition"]
    assert "attachment" in disposition and f"plan{saved['id']}-s1.geojson" in disposition
    collection = json.loads(response.data)
    assert collection["type"] == "FeatureCollection"
    kinds = {f["properties"]["kind"] for f in collection["features"]}
    assert {"route", "waypoint", "cell"} <= kinds  # cells as `gridpatrol plan` writes them
    for feature in collection["features"]:
        assert feature["type"] == "Feature"
        geometry = shape(feature["geometry"])
        assert geometry.is_valid and not geometry.is_empty
        lon, lat = geometry.representative_point().coords[0][:2]
        assert 119.88 < lon < 119.90 and 32.39 < lat < 32.41  # WGS84 lon, lat at P-S


def test_saved_plans_list_offers_every_format_for_every_sortie(env) -> None:
    saved = save(env, grids=["P-G1"], altitude_m=100, battery_minutes=10, name="two batteries")
    sorties = saved["sorties"]
    assert sorties >= 2
    client = env.client()
    listed = {p["id"]: p for p in client.get("/api/v1/plans", headers=env.headers("pilot")).json}
    downloads = listed[saved["id"]]["downloads"]
    assert set(downloads) == {"plan", "waypoints", "kml", "geojson"}
    assert all(len(urls) == sorties for urls in downloads.values())

    login(client, "pilot")
    html = client.get("/plan").get_data(as_text=True)
    row = html.split(f'<tr data-plan="{saved["id"]}">')[1].split("</tr>")[0]
    for fmt, urls in downloads.items():
        for url in urls:
            assert f'href="{url.replace("&", "&amp;")}"' in row, (fmt, url)
            response = client.get(url)
            assert response.status_code == 200, (url, response.data[:200])
            assert response.headers["Content-Disposition"].startswith("attachment")


def _post_no_fly(env, fields: dict, filename: str = "zones.geojson"):
    features = [{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon",
                 "coordinates": [_square(119.85, 32.35)]}}]  # fmt: skip
    data = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    return env.client().post(
        "/api/v1/no-fly",
        data={**fields, "file": (io.BytesIO(data), filename)},
        headers=env.headers("pilot"),
        content_type="multipart/form-data",
    )


@pytest.mark.parametrize(
    ("fields", "filename", "needle"),
    [
        ({"name": "zones\x00x"}, "zones.geojson", "U+0000"),
        ({"name": "z" * 201}, "zones.geojson", "at most 200"),
        ({}, "zones\x00x.geojson", "U+0000"),  # no name: the file's, which must be storable too
    ],
)
def test_a_no_fly_name_no_database_stores_is_a_400(env, fields, filename, needle) -> None:
    before = env.client().get("/api/v1/no-fly", headers=env.headers("pilot")).json
    response = _post_no_fly(env, fields, filename)
    assert response.status_code == 400, response.json
    assert needle in response.json["error"]
    assert env.client().get("/api/v1/no-fly", headers=env.headers("pilot")).json == before


def test_a_no_fly_name_fills_its_column(env) -> None:
    name = "长" * 200
    response = _post_no_fly(env, {"name": f"  {name} "})
    assert response.status_code == 201, response.json
    assert response.json["name"] == name
    long_file = _post_no_fly(env, {}, filename="f" * 230 + ".geojson")
    assert long_file.status_code == 201 and long_file.json["name"] == "f" * 200


def test_upload_to_an_armed_vehicle_is_refused_with_409(env) -> None:
    """A flying vehicle's mission and fence are never overwritten; it keeps what it flies by."""
    from missions.link import connect
    from simulator import Sitl

    saved = save(env)
    home = saved["summary"]["home"]
    with (
        Sitl(home=(home["lat"], home["lon"], 0.0), speedup=20) as sitl,
        connect(sitl.connection_string, timeout=30) as pilot,
    ):
        pilot.wait_for(lambda t: t.gps is not None and t.gps.fix_type >= 3 and t.home is not None,
                       timeout=30, step="GPS fix")  # fmt: skip
        pilot.set_mode("GUIDED")
        pilot.arm()
        pilot.takeoff(20.0)
        response = env.client().post(
            f"/api/v1/plans/{saved['id']}/upload",
            json={"connection": sitl.connection_string, "sortie": 1},
            headers=env.headers("pilot"),
        )
        held = pilot.download_mission()
    assert response.status_code == 409, response.json
    assert response.json["error"].endswith(
        "upload: the vehicle is armed: nothing is uploaded to a flying vehicle; land it first"
    )
    assert len(held) == 1  # home only: nothing was uploaded


# -- warnings before flying, and a swapped home explained ---------------------------------------


def test_an_altitude_above_120_m_is_planned_with_a_warning(env) -> None:
    high = preview(env, altitude_m=130)
    assert high.status_code == 200, high.json
    (warning,) = high.json["warnings"]
    assert warning.startswith("The plan flies at 130 m above ground, above the 120 m limit")
    assert preview(env, altitude_m=120).json["warnings"] == []


def test_low_coverage_is_a_warning_on_the_page(env, monkeypatch) -> None:
    import dataclasses

    import missions.planner

    real = missions.planner.coverage
    monkeypatch.setattr(
        missions.planner,
        "coverage",
        lambda *a, **k: dataclasses.replace(real(*a, **k), once=0.637),
    )
    response = preview(env, lead_in_m=10)
    assert response.status_code == 200, response.json
    assert response.json["warnings"] == [
        "P-G1: only 63.7 % of its flyable area is photographed at least once (below 99.5 %); "
        "check the plan before flying it."
    ]


HIGH = "The plan flies at 130 m above ground, above the 120 m limit for light UAVs in China"


def _plan_warnings_shown(env, plan_id: int) -> tuple[str, str]:
    """The saved plan's row on the planning page and its warnings on the flights page (the
    plan chosen to fly), as a pilot reading English sees them."""
    client = env.client()
    login(client, "pilot")
    client.get("/lang/en")
    plan_page = client.get("/plan").get_data(as_text=True)
    row = plan_page.split(f'<tr data-plan="{plan_id}">')[1].split("</tr>")[0]
    flights_page = client.get(f"/flights?plan={plan_id}").get_data(as_text=True)
    marker = f'<div class="flash warning plan-warnings" data-plan="{plan_id}" role="alert">'
    shown = flights_page.split(marker)[1].split("</div>")[0] if marker in flights_page else ""
    return row, shown


def test_warnings_are_stored_with_the_saved_plan_and_shown_when_it_is_reopened(
    env, monkeypatch
) -> None:
    """QA: a plan made with warnings showed none once saved and opened again."""
    import dataclasses

    import missions.planner
    from groundstation.models import RoutePlan

    real = missions.planner.coverage
    with monkeypatch.context() as planning:  # a grid covered on too little of its area
        planning.setattr(
            missions.planner,
            "coverage",
            lambda *a, **k: dataclasses.replace(real(*a, **k), once=0.9),
        )
        saved = save(env, altitude_m=130, name="too high")
    low = "P-S: only 90.0 % of its flyable area is photographed at least once (below 99.5 %)"
    assert [w[:40] for w in saved["warnings"]] == [HIGH[:40], low[:40]]
    # reopened after the planner changed: the warnings are those stored, not planned again
    client, pilot = env.client(), env.headers("pilot")
    detail = client.get(f"/api/v1/plans/{saved['id']}", headers=pilot).json
    assert detail["warnings"] == saved["warnings"]
    assert detail["warnings"][0].startswith(HIGH) and detail["warnings"][1].startswith(low)
    listed = {p["id"]: p for p in client.get("/api/v1/plans", headers=pilot).json}
    assert listed[saved["id"]]["warnings"] == saved["warnings"]
    with env.storage().session() as session:
        stored = session.get(RoutePlan, saved["id"]).warnings
    assert stored == [
        {"kind": "altitude", "value": 130.0, "limit": 120.0, "grid": None},
        {"kind": "coverage", "value": 90.0, "limit": 99.5, "grid": "P-S", "lead_in_m": 0.0},
    ]
    row, flights = _plan_warnings_shown(env, saved["id"])
    assert HIGH in row and low in row
    assert HIGH in flights and low in flights


def test_a_strip_start_shortfall_suggests_a_lead_in_that_closes_it(env) -> None:
    """Without a lead-in each strip's first photo is taken while the vehicle still turns (its
    footprint rotated): on a small patrol grid that leaves coverage below 99.5 %, and the warning
    says why and what closes it; with the lead-in it suggests, the plan has no warning."""
    without = preview(env, grids=["P-S"], profile="patrol", altitude_m=40)
    assert without.status_code == 200
    (warning,) = without.json["warnings"]
    assert warning.startswith("P-S: only ") and warning.endswith(
        "check the plan before flying it. Without a lead-in each strip's first photo is taken "
        "while the vehicle still turns: try a lead-in of 10 m."
    )
    with_lead_in = preview(env, grids=["P-S"], profile="patrol", altitude_m=40, lead_in_m=10)
    assert with_lead_in.json["warnings"] == []
    assert with_lead_in.json["summary"]["settings"]["lead_in_m"] == 10


def test_a_plan_without_warnings_shows_none(env) -> None:
    saved = save(env, altitude_m=40, name="low and whole", lead_in_m=10)
    assert saved["warnings"] == []
    row, flights = _plan_warnings_shown(env, saved["id"])
    assert "saved-plan-warning" not in row and flights == ""


def test_a_plan_saved_before_warnings_were_stored_gets_those_of_its_summary(env) -> None:
    from groundstation.models import RoutePlan

    saved = save(env, altitude_m=130, name="old plan")
    with env.storage().session() as session:
        session.get(RoutePlan, saved["id"]).warnings = None  # as migration 0009 leaves it
        session.commit()
    detail = env.client().get(f"/api/v1/plans/{saved['id']}", headers=env.headers("pilot")).json
    assert len(detail["warnings"]) == 1 and detail["warnings"][0].startswith(HIGH)


def test_a_swapped_home_gets_the_pair_to_give(env) -> None:
    response = preview(env, home=[32.515, 120.088])
    assert response.status_code == 400
    assert response.json["error"] == (
        "home [32.515, 120.088] looks swapped: it is [lon, lat]; did you mean [120.088, 32.515]?"
    )
    client = env.client()
    login(client, "pilot")
    html = client.get("/plan").get_data(as_text=True)
    text = json.loads(
        html.split('<script id="plan-text" type="application/json">')[1].split("<")[0]
    )
    assert "{given}" in text["swapped_home"] and "{swapped}" in text["swapped_home"]
    # in the pilot's language (Chinese by default): it names the order to use
    assert "纬度" in text["swapped_home"] and "经度" in text["swapped_home"]


def test_grid_ids_are_taken_in_any_case_and_the_plan_names_the_stored_ones(env) -> None:
    """QA: ``"grids": ["P-S", "p-g1"]`` was "grid(s) p-g1 do not exist", though grid pages, the
    grid API and the ticket filter take ids in any case; the saved plan names the stored ids."""
    saved = save(env, grids=["p-s", "P-g1"])
    assert saved["grids"] == ["P-S", "P-G1"]
    assert [g["grid_id"] for g in saved["summary"]["grids"]] == ["P-S", "P-G1"]
    assert saved["name"] == "small"
    once = save(env, grids=["P-S", "p-s"], name="")  # one grid, named once
    assert once["grids"] == ["P-S"] and once["name"] == "plan P-S"
    preview_grids = preview(env, grids=["p-g2"]).json["summary"]["grids"]
    assert [g["grid_id"] for g in preview_grids] == ["P-G2"]
    missing = preview(env, grids=["p-s", "jy-02"])
    assert missing.status_code == 404
    assert missing.json["error"] == "grid(s) jy-02 do not exist"
