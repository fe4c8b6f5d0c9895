"""The web and API grid import tell an administrator what they can do: markers left out of a
layer are named by type and count on the page, and a layer holding lines is refused with advice
a web user can follow (no command-line flag); the CLI keeps its own advice."""

from __future__ import annotations

import io
import json
import re
import zipfile
from html import unescape

from click.testing import CliRunner
from conftest import login
from fakecatalogue import overlay_catalogue

SQUARE = [[120.20, 32.60], [120.21, 32.60], [120.21, 32.61], [120.20, 32.61], [120.20, 32.60]]


def _layer(code: str, *others: dict) -> bytes:
    features = [
        {
            "type": "Feature",
            "properties": {"grid_id": code},
            "geometry": {"type": "Polygon", "coordinates": [SQUARE]},
        },
        *({"type": "Feature", "properties": {"name": "x"}, "geometry": g} for g in others),
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


POINT = {"type": "Point", "coordinates": [120.205, 32.605]}
MULTIPOINT = {"type": "MultiPoint", "coordinates": [[120.201, 32.601], [120.202, 32.602]]}


def _road(code: str) -> dict:
    return {
        "type": "Feature",
        "properties": {"grid_id": code},
        "geometry": {"type": "LineString", "coordinates": [[120.20, 32.60], [120.22, 32.62]]},
    }


def _with_road(code: str, road: str) -> bytes:
    layer = json.loads(_layer(code))
    layer["features"].append(_road(road))
    return json.dumps(layer).encode()


def _import_page(
    client, token: str, data: bytes, filename: str = "district.geojson"
) -> list[tuple[str, str]]:
    """POST the layer on the grids page; the (category, text) of every banner shown after."""
    response = client.post(
        "/grids/import",
        data={"csrf_token": token, "file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    return [
        (category, unescape(text))
        for category, text in re.findall(
            r'<p class="flash (\w+)" role="alert">(.*?)</p>', html, re.S
        )
    ]


def _grid_codes(env) -> set[str]:
    from sqlalchemy import select

    from groundstation.models import Grid

    with env.storage().session() as session:
        return set(session.scalars(select(Grid.code)))


def test_the_page_says_which_markers_were_left_out(env) -> None:
    client = env.client()
    token = login(client, "admin")
    client.get("/lang/en")
    banners = _import_page(client, token, _layer("WEB-M1", POINT, POINT, MULTIPOINT))
    assert banners == [
        ("info", "Imported: 1 new, 0 updated, 0 unchanged."),
        (
            "warning",
            "Left out, not grids: multi-points × 1, points (markers) × 2. Markers and points "
            "are not imported; only areas (Polygon, MultiPolygon) become grids.",
        ),
    ]
    assert "WEB-M1" in _grid_codes(env)
    # a layer of areas only: no such banner
    assert _import_page(client, token, _layer("WEB-M2")) == [
        ("info", "Imported: 1 new, 0 updated, 0 unchanged.")
    ]


def test_the_left_out_banner_is_translated(env) -> None:
    client = env.client()
    token = login(client, "admin")
    client.get("/lang/zh")
    banners = _import_page(client, token, _layer("WEB-M3", POINT))
    assert [category for category, _text in banners] == ["info", "warning"]
    assert "Imported" not in banners[0][1]  # the page's language, not English
    assert "× 1" in banners[1][1]


def test_the_page_refuses_lines_with_advice_a_web_user_can_follow(env) -> None:
    client = env.client()
    token = login(client, "admin")
    client.get("/lang/en")
    banners = _import_page(client, token, _with_road("WEB-L1", "road-1"))
    assert len(banners) == 1 and banners[0][0] == "error"
    text = banners[0][1]
    assert "holds lines (road-1)" in text and "a line is a centre line, not a grid" in text
    assert "buffer each line into a corridor polygon" in text
    assert "--corridor-width" not in text and "gridpatrol" not in text
    assert "WEB-L1" not in _grid_codes(env)  # nothing stored


def test_the_api_refuses_lines_with_the_same_advice(env) -> None:
    response = env.client().post(
        "/api/v1/grids",
        data={"file": (io.BytesIO(_with_road("API-L1", "canal")), "district.geojson")},
        headers=env.headers("admin"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    error = response.json["error"]
    assert "holds lines (canal)" in error and "buffer each line into a corridor polygon" in error
    assert "--corridor-width" not in error
    assert "API-L1" not in _grid_codes(env)


def test_the_cli_keeps_its_own_advice(tmp_path) -> None:
    from groundstation.cli import cli

    data = tmp_path / "data"
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade", "--data-dir", str(data)]).exit_code == 0
    layer = tmp_path / "district.geojson"
    layer.write_bytes(_with_road("CLI-L1", "road"))
    result = runner.invoke(cli, ["db", "import-grids", str(layer), "--data-dir", str(data)])
    assert result.exit_code == 1
    assert "holds lines (road)" in result.output
    assert "plan a line as a corridor with gridpatrol plan --corridor-width" in result.output


def _zip(members: dict[str, bytes]) -> bytes:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return packed.getvalue()


def _shapefile_zip(tmp_path, code: str, *, dbf: bool) -> bytes:
    """A zipped shapefile of one grid ``code``, with or without its .dbf (attribute table)."""
    from shapely.geometry import Polygon

    from gis.io import Feature, write_shapefile

    write_shapefile(tmp_path / "grids.zip", [Feature(Polygon(SQUARE), {"grid_id": code})])
    with zipfile.ZipFile(tmp_path / "grids.zip") as archive:
        parts = {n: archive.read(n) for n in archive.namelist()}
    return _zip({n: c for n, c in parts.items() if dbf or not n.endswith(".dbf")})


ZIP_NONE = "%(source)s: zip must hold exactly one shapefile, KML or GeoJSON file (%(found)s)"
NO_TABLE = (
    "grid file %(name)s lacks the shapefile's attribute table %(table)s (the .dbf that holds "
    "the grids' grid_id or name); put it beside the .shp and .shx"
)


def test_a_zip_without_a_layer_is_refused_in_the_readers_language(env, monkeypatch) -> None:
    """QA: the detail of this refusal stayed English on Chinese pages (an f-string)."""
    overlay_catalogue(
        monkeypatch,
        {ZIP_NONE: "%(source)s：压缩包须恰好包含一个 Shapefile、KML 或 GeoJSON 文件（%(found)s）",
         "none found": "一个也没有"},
    )  # fmt: skip
    client = env.client()
    token = login(client, "admin")
    client.get("/lang/zh")
    banners = _import_page(client, token, _zip({"readme.txt": b"hi"}), "noshp.zip")
    assert len(banners) == 1 and banners[0][0] == "error"
    text = banners[0][1]
    assert "noshp.zip：压缩包须恰好包含一个 Shapefile、KML 或 GeoJSON 文件（一个也没有）" in text
    assert "zip must hold" not in text and "none" not in text


def test_a_shapefile_without_its_dbf_is_named_not_blamed_on_the_grids(env, tmp_path) -> None:
    client = env.client()
    token = login(client, "admin")
    client.get("/lang/en")
    data = _shapefile_zip(tmp_path, "WEB-D1", dbf=False)
    banners = _import_page(client, token, data, "shp_nodbf.zip")
    assert len(banners) == 1 and banners[0][0] == "error"
    text = banners[0][1]
    assert "'shp_nodbf.zip' lacks the shapefile's attribute table 'grids.dbf'" in text
    assert "no grid_id or name" not in text
    assert "WEB-D1" not in _grid_codes(env) and "1" not in _grid_codes(env)
    # with its .dbf the same zip imports its grid by id
    banners = _import_page(client, token, _shapefile_zip(tmp_path, "WEB-D1", dbf=True), "g.zip")
    assert [category for category, _text in banners] == ["info"]
    assert "WEB-D1" in _grid_codes(env)


def test_the_missing_dbf_reads_in_the_readers_language(env, tmp_path, monkeypatch) -> None:
    overlay_catalogue(
        monkeypatch,
        {NO_TABLE: "网格文件 %(name)s 缺少 Shapefile 属性表 %(table)s（存放网格 grid_id 或 name 的 "
                   ".dbf 文件）；请把它与 .shp、.shx 放在一起"},
    )  # fmt: skip
    response = env.client().post(
        "/api/v1/grids",
        data={"file": (io.BytesIO(_shapefile_zip(tmp_path, "API-D1", dbf=False)), "a.zip")},
        headers={**env.headers("admin"), "Accept-Language": "zh"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert response.json["error"].startswith("网格文件 'a.zip' 缺少 Shapefile 属性表 'grids.dbf'")


UNREADABLE_SHP = "%(source)s: not a readable shapefile (%(reason)s)"
SHP_CUT = "it is cut short: %(size)d of the %(declared)d bytes its header declares"
BAD_JSON = "%(source)s: not valid JSON at line %(line)d column %(column)d: %(problem)s"
JSON_CUT = "a string starting here runs to the end of the file (cut short?)"


def test_broken_shapefiles_and_json_read_in_the_readers_language(
    env, tmp_path, monkeypatch
) -> None:
    """QA: a cut .shp showed struct's "unpack requires a buffer of 112 bytes", and broken JSON
    the parser's English, on the Chinese page."""
    overlay_catalogue(
        monkeypatch,
        {UNREADABLE_SHP: "%(source)s：不是可读取的 Shapefile（%(reason)s）",
         SHP_CUT: "文件不完整：只有文件头声明的 %(declared)d 字节中的 %(size)d 字节",
         BAD_JSON: "%(source)s：不是有效的 JSON（第 %(line)d 行第 %(column)d 列：%(problem)s）",
         JSON_CUT: "从此处开始的字符串直到文件末尾都未结束（文件不完整？）"},
    )  # fmt: skip
    client = env.client()
    token = login(client, "admin")
    client.get("/lang/zh")
    data = _shapefile_zip(tmp_path, "WEB-CUT", dbf=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        parts = {n: archive.read(n) for n in archive.namelist()}
    whole = len(parts["grids.shp"])
    parts["grids.shp"] = parts["grids.shp"][:112]
    (banner,) = _import_page(client, token, _zip(parts), "cut.zip")
    assert banner[0] == "error"
    assert (
        f"cut.zip:grids.shp：不是可读取的 Shapefile（文件不完整：只有文件头声明的 {whole} 字节中的 "
        "112 字节）"
    ) in banner[1]
    assert "unpack" not in banner[1] and "bytes" not in banner[1]

    layer = _layer("WEB-CUT")
    cut = layer[: layer.index(b"WEB-CUT") + 3]
    (banner,) = _import_page(client, token, cut, "cut.geojson")
    assert banner[0] == "error"
    assert "cut.geojson：不是有效的 JSON（第 1 行第 " in banner[1]
    assert "列：从此处开始的字符串直到文件末尾都未结束（文件不完整？））" in banner[1]
    assert "Unterminated" not in banner[1] and " at " not in banner[1]
    assert "WEB-CUT" not in _grid_codes(env)
