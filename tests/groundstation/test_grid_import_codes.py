"""Grid import, by the CLI, the API and the grids page alike: ids that cannot name a grid's page
(too long for the column, holding / ? # ..., differing only in case from another) are refused
with a message naming the grid, and nothing is stored; no-fly zones sharing the layer are
reported as left out; an unchanged layer imports as "unchanged"; broken coordinates and empty
geometries get messages of ours that name the file."""

from __future__ import annotations

import io
import json
import re
import uuid
from html import unescape
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from conftest import login

from groundstation.cli import cli

SQUARE = [[120.30, 32.70], [120.31, 32.70], [120.31, 32.71], [120.30, 32.71], [120.30, 32.70]]
EAST = [[120.31, 32.70], [120.32, 32.70], [120.32, 32.71], [120.31, 32.71], [120.31, 32.70]]


def feature(code: str | None, ring=SQUARE, **properties) -> dict:
    props = {"grid_id": code, **properties} if code is not None else properties
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def layer(*features: dict) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def post_layer(env, data: bytes, *, lang: str = "en", name: str = "district.geojson"):
    return env.client().post(
        "/api/v1/grids",
        data={"file": (io.BytesIO(data), name)},
        headers={**env.headers("admin"), "Accept-Language": lang},
        content_type="multipart/form-data",
    )


def stored_codes(env) -> set[str]:
    from sqlalchemy import select

    from groundstation.models import Grid

    with env.storage().session() as session:
        return set(session.scalars(select(Grid.code)))


@pytest.fixture
def run(tmp_path):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, [*args, "--data-dir", str(tmp_path / "data")])

    assert invoke("db", "upgrade").exit_code == 0
    return invoke


def import_file(run, tmp_path, data: bytes, name: str = "district.geojson"):
    path = tmp_path / name
    path.write_bytes(data)
    return run("db", "import-grids", str(path))


# -- ids the pages cannot use ------------------------------------------------------------------


def test_a_code_longer_than_the_column_is_a_400_naming_it_and_stores_nothing(env) -> None:
    """On PostgreSQL this was a 500 (value too long for type character varying(120))."""
    long = "JY-" + "9" * 130
    ok = unique("LONG-OK")
    response = post_layer(env, layer(feature(ok), feature(long, EAST)))
    assert response.status_code == 400
    assert response.json["error"] == (
        f"grid id {'JY-' + '9' * 37 + '…'!r} is 133 characters long; at most 120 are allowed"
    )
    assert ok not in stored_codes(env)
    exact = "J" * 120  # as long as the column: stored
    assert post_layer(env, layer(feature(exact))).status_code == 201


def test_the_cli_refuses_a_long_code_in_one_line(run, tmp_path) -> None:
    result = import_file(run, tmp_path, layer(feature("G" * 121)))
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: grid id {'G' * 40 + '…'!r} is 121 characters long; at most 120 are allowed\n"
    )


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        ("JY/01", "'/'"),
        ("JY?01", "'?'"),
        ("JY#01", "'#'"),
        ("JY\\01", "'\\\\'"),
        ("JY%01", "'%'"),
        ("JY,01", "','"),
        ("JY/01?a", "'/' '?'"),
    ],
)
def test_codes_that_break_the_grids_address_are_refused(env, run, tmp_path, code, shown) -> None:
    expected = (
        f"grid id {code!r} holds {shown}: grid ids name the grid's page and filters "
        "(/grids/<id>, ?grid=<id>), so they may not hold / \\ ? # % or ,; use letters, digits, "
        "- and _"
    )
    response = post_layer(env, layer(feature(code)))
    assert response.status_code == 400 and response.json["error"] == expected
    assert code not in stored_codes(env)
    result = import_file(run, tmp_path, layer(feature(code)))
    assert result.exit_code == 1 and result.stderr == f"error: {expected}\n"


def test_the_cli_refuses_markup_as_the_web_does(run, tmp_path) -> None:
    """The command line used to store ids the web import refuses (<img ...> in a map tooltip)."""
    result = import_file(run, tmp_path, layer(feature("<b>G</b>")))
    assert result.exit_code == 1
    assert result.stderr == (
        "error: grid id '<b>G</b>' holds markup or control characters (<>&\"'` ...); use "
        "letters, digits, - and _\n"
    )


@pytest.mark.parametrize("code", [".", ".."])
def test_codes_of_dots_only_are_refused(env, code) -> None:
    response = post_layer(env, layer(feature(code)))
    assert response.status_code == 400
    assert response.json["error"] == (
        f"grid id {code!r} is made of dots only, which web addresses drop; use letters, digits, "
        "- and _"
    )


def test_the_grids_page_shows_the_refusal(env) -> None:
    client = env.client()
    token = login(client, "admin")
    client.get("/lang/en")
    page = client.post(
        "/grids/import",
        data={"csrf_token": token, "file": (io.BytesIO(layer(feature("A/B"))), "d.geojson")},
        content_type="multipart/form-data",
        follow_redirects=True,
    ).get_data(as_text=True)
    (shown,) = re.findall(r'<p class="flash error" role="alert">(.*?)</p>', page, re.S)
    assert unescape(shown).startswith("grid id 'A/B' holds '/': grid ids name the grid's page")


def test_codes_still_allowed_open_their_pages(env) -> None:
    codes = [unique("江堰 村-1"), unique("jy.01_a+b")]
    assert post_layer(env, layer(feature(codes[0]), feature(codes[1], EAST))).status_code == 201
    client = env.client()
    login(client, "admin")
    for code in codes:
        assert client.get(f"/grids/{quote(code)}").status_code == 200
        api = env.client().get(f"/api/v1/grids/{quote(code)}", headers=env.headers("admin"))
        assert api.status_code == 200 and api.json["code"] == code


# -- codes differing only in case ---------------------------------------------------------------


def test_codes_differing_only_in_case_within_a_layer_are_refused(env) -> None:
    code = unique("jy")
    response = post_layer(env, layer(feature(code), feature(code.upper(), EAST)))
    assert response.status_code == 400
    assert response.json["error"] == (
        f"grid ids {code.upper()!r} and {code!r} differ only in case; grid ids must differ in "
        "more than case (the ticket filter finds grids ignoring case)"
    )
    assert code not in stored_codes(env)


def test_a_code_differing_only_in_case_from_a_stored_grid_is_refused(env) -> None:
    code = unique("JY")
    assert post_layer(env, layer(feature(code))).status_code == 201
    response = post_layer(env, layer(feature(code.lower(), EAST)))
    assert response.status_code == 400
    assert response.json["error"] == (
        f"grid id {code.lower()!r} differs only in case from the stored grid {code!r}; use the "
        "stored grid's id to update it, or another id"
    )
    assert code.lower() not in stored_codes(env)
    # the stored grid's own id updates it
    again = post_layer(env, layer(feature(code, EAST)))
    assert again.status_code == 200 and again.json["updated"] == 1


# -- what the import says it did -----------------------------------------------------------------


def test_reimporting_an_unchanged_layer_says_unchanged(env, run, tmp_path) -> None:
    a, b = unique("U"), unique("U")
    first = layer(feature(a, name="村 A"), feature(b, EAST))
    response = post_layer(env, first)
    assert response.json == {"created": 2, "updated": 0, "unchanged": 0, "left_out": {}}
    response = post_layer(env, first)
    assert response.json == {"created": 0, "updated": 0, "unchanged": 2, "left_out": {}}
    renamed = layer(feature(a, name="村 A（新）"), feature(b, EAST))
    response = post_layer(env, renamed)
    assert response.json == {"created": 0, "updated": 1, "unchanged": 1, "left_out": {}}

    assert (
        import_file(run, tmp_path, first).stdout
        == "district.geojson: 2 new, 0 updated, 0 unchanged\n"
    )
    assert (
        import_file(run, tmp_path, first).stdout
        == "district.geojson: 0 new, 0 updated, 2 unchanged\n"
    )
    assert import_file(run, tmp_path, renamed).stdout == (
        "district.geojson: 0 new, 1 updated, 1 unchanged\n"
    )


def test_the_api_answers_201_only_when_it_created_a_grid(env) -> None:
    """201 Created says a new grid exists; a layer that only updates or changes nothing is a
    200 with the same counts."""
    a, b = unique("S"), unique("S")
    first = layer(feature(a), feature(b, EAST))
    created = post_layer(env, first)
    assert created.status_code == 201 and created.json["created"] == 2
    again = post_layer(env, first)
    assert again.status_code == 200
    assert again.json == {"created": 0, "updated": 0, "unchanged": 2, "left_out": {}}
    renamed = post_layer(env, layer(feature(a, name="村 S"), feature(b, EAST)))
    assert renamed.status_code == 200 and renamed.json["updated"] == 1
    one_more = post_layer(env, layer(feature(a, name="村 S"), feature(unique("S"), EAST)))
    assert one_more.status_code == 201 and one_more.json["created"] == 1


def test_the_grids_page_counts_unchanged_grids(env) -> None:
    client = env.client()
    token = login(client, "admin")
    client.get("/lang/en")
    data = layer(feature(unique("P")))
    pages = []
    for _ in range(2):
        html = client.post(
            "/grids/import",
            data={"csrf_token": token, "file": (io.BytesIO(data), "d.geojson")},
            content_type="multipart/form-data",
            follow_redirects=True,
        ).get_data(as_text=True)
        pages.append(re.findall(r'<p class="flash info" role="alert">(.*?)</p>', html, re.S))
    assert pages == [
        ["Imported: 1 new, 0 updated, 0 unchanged."],
        ["Imported: 0 new, 0 updated, 1 unchanged."],
    ]


def no_fly(name: str = "school") -> dict:
    return {**feature(None, EAST, name=name, kind="no_fly_zone")}


def test_no_fly_zones_in_the_layer_are_reported_left_out(env, run, tmp_path) -> None:
    code = unique("NF")
    data = layer(feature(code), no_fly("school"), no_fly("barracks"))
    response = post_layer(env, data)
    assert response.status_code == 201
    assert response.json["left_out"] == {"no_fly_zone": 2} and response.json["created"] == 1
    assert stored_codes(env) >= {code} and "school" not in stored_codes(env)

    result = import_file(run, tmp_path, data)
    assert result.exit_code == 0
    assert result.stderr == (
        "warning: district.geojson: left out 2 no-fly zones (kind no_fly_zone) (not grids)\n"
    )

    client = env.client()
    token = login(client, "admin")
    client.get("/lang/en")
    html = client.post(
        "/grids/import",
        data={
            "csrf_token": token,
            "file": (io.BytesIO(layer(feature(code), no_fly())), "d.geojson"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    ).get_data(as_text=True)
    warnings = [
        unescape(w)
        for w in re.findall(r'<p class="flash warning" role="alert">(.*?)</p>', html, re.S)
    ]
    assert warnings == [
        "Left out, not grids: 1 no-fly zone (a feature of kind no_fly_zone). To keep the vehicle "
        "out of it, import the file as a no-fly layer on the plan page."
    ]


def test_a_layer_of_no_fly_zones_only_says_what_it_found(run, tmp_path) -> None:
    result = import_file(run, tmp_path, layer(no_fly()))
    assert result.exit_code == 1
    # the station takes areas only: it does not offer centre lines as an alternative
    assert "holds no polygon grids (found 1 no_fly_zone)" in result.stderr


# -- broken geometries: messages of ours, naming the file -----------------------------------------


def nan_ring() -> list:
    ring = [list(p) for p in SQUARE]
    ring[0][0] = ring[-1][0] = float("nan")  # the ring's closing point: shapely's GEOS error
    return ring


@pytest.mark.parametrize(
    ("geometry", "expected"),
    [
        (
            {"type": "Polygon", "coordinates": [nan_ring()]},
            "grid file 'district.geojson' cannot be read: district.geojson: feature 1: "
            "coordinates contain NaN or infinite values",
        ),
        (
            None,
            "grid file 'district.geojson' cannot be read: district.geojson: feature 1 has no "
            "geometry (its geometry is null): give it one, or leave the feature out of the file",
        ),
    ],
)
def test_broken_geometries_are_explained(env, geometry, expected) -> None:
    data = json.dumps(
        {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": {"grid_id": "X"}, "geometry": geometry}],
        }
    ).encode()
    response = post_layer(env, data)
    assert response.status_code == 400 and response.json["error"] == expected
    assert "IllegalArgumentException" not in response.json["error"]


def test_the_nan_message_is_translated(env) -> None:
    data = layer({**feature("X"), "geometry": {"type": "Polygon", "coordinates": [nan_ring()]}})
    error = post_layer(env, data, lang="zh").json["error"]
    assert (
        error.startswith("网格文件 'district.geojson' 无法读取：")
        and "坐标中含有 NaN 或无穷大" in error
    )


def test_a_bad_grid_is_named_with_its_file_not_the_given_features(env) -> None:
    bowtie = [[120.30, 32.70], [120.31, 32.71], [120.31, 32.70], [120.30, 32.71], [120.30, 32.70]]
    response = post_layer(env, layer(feature("BOW", bowtie)), name="jiangyan.geojson")
    assert response.status_code == 400
    error = response.json["error"]
    assert error.startswith(
        "grid file 'jiangyan.geojson' cannot be read: grid BOW in jiangyan.geojson: "
    )
    assert "given features" not in error


def test_older_data_holding_both_cases_still_updates_the_exact_grid(env) -> None:
    """Grids stored before this rule may differ only in case: importing one of them by its
    own code updates it rather than being refused."""
    from groundstation.models import Grid

    code = unique("leg").lower()  # lower-case letters, so that its upper case differs
    with env.storage().session() as session:
        polygon = {"type": "Polygon", "coordinates": [SQUARE]}
        bounds = {"min_lon": 120.30, "min_lat": 32.70, "max_lon": 120.31, "max_lat": 32.71}
        for stored in (code, code.upper()):
            session.add(Grid(code=stored, name=stored, geometry=polygon, properties={}, **bounds))
        session.commit()
    response = post_layer(env, layer(feature(code, EAST)))
    assert response.status_code == 200 and response.json["updated"] == 1
