"""Map imagery: photos warped north-up to WGS84 overlays, and GeoTIFF orthomosaic layers."""

from __future__ import annotations

import io
import shutil
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pytest
import rasterio
from conftest import (
    PHOTO_LONLAT,
    make_env,
    make_findings,
    placed_finding,
    upload_orthomosaic,
    write_photo,
)
from PIL import Image
from pyproj import Geod, Transformer

GEOD = Geod(ellps="WGS84")
LON, LAT = PHOTO_LONLAT


def _distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    return abs(GEOD.inv(a[0], a[1], b[0], b[1])[2])


def _pixel_lonlat(bounds, size, col: float, row: float) -> tuple[float, float]:
    (south, west), (north, east) = bounds
    width, height = size
    return west + (east - west) * col / width, north - (north - south) * row / height


@pytest.fixture(scope="module")
def placed(env, tmp_path_factory):
    """A registered flight of one geotagged photo (yaw 35°) and a finding on its red square;
    plus a photo without a geotag in the same flight."""
    folder = tmp_path_factory.mktemp("overlay_photos")
    write_photo(folder / "b.jpg", (10, 10, 10))  # no EXIF: cannot be placed
    made = placed_finding(
        env, folder, yaw_deg=35.0, target_m=(25.0, -12.0), score=0.9, name="overlay"
    )
    _, bare = made["photos"]
    return {**made, "bare": bare}


def test_finding_overlay_contains_the_finding_and_centres_on_the_exif_position(env, placed):
    client = env.client()
    meta = client.get(
        f"/api/v1/findings/{placed['finding']}/overlay", headers=env.headers("supervisor")
    )
    assert meta.status_code == 200, meta.json
    (south, west), (north, east) = meta.json["bounds"]
    lon, lat = placed["target"]
    assert west < lon < east and south < lat < north
    assert meta.json["finding_id"] == placed["finding"] and meta.json["photo_id"] == placed["photo"]

    png = client.get(meta.json["url"], headers=env.headers("supervisor"))
    assert png.status_code == 200 and png.mimetype == "image/png"
    image = np.asarray(Image.open(io.BytesIO(png.data)).convert("RGBA"))
    height, width = image.shape[:2]
    assert max(width, height) <= 1024
    size = (width, height)
    # the opaque footprint (the photo) is centred on the EXIF position
    rows, cols = np.nonzero(image[..., 3] > 127)
    centre = _pixel_lonlat(meta.json["bounds"], size, cols.mean() + 0.5, rows.mean() + 0.5)
    assert _distance_m(centre, (LON, LAT)) < 1.0
    # transparent corners: a rotated photo does not fill its north-up box
    assert image[0, 0, 3] == 0 and image[-1, -1, 3] == 0
    # the red square (off-centre, rotated with the yaw) lands on the finding's position
    red = (image[..., 0] > 200) & (image[..., 1] < 80) & (image[..., 3] > 127)
    rows, cols = np.nonzero(red)
    assert len(rows) > 20
    square = _pixel_lonlat(meta.json["bounds"], size, cols.mean() + 0.5, rows.mean() + 0.5)
    assert _distance_m(square, placed["target"]) < 1.5


def test_overlay_png_is_cached_in_the_data_dir(env, placed):
    client = env.client()
    url = f"/api/v1/photos/{placed['photo']}/overlay.png"
    first = client.get(url, headers=env.headers("pilot"))
    cached = list((env.data_dir / "overlays").glob(f"photo_{placed['photo']}_*.png"))
    assert first.status_code == 200 and len(cached) == 1
    mtime = cached[0].stat().st_mtime_ns
    second = client.get(url, headers=env.headers("supervisor"))
    assert second.data == first.data and cached[0].stat().st_mtime_ns == mtime


def test_flight_overlays_list_placeable_photos_and_say_why_not(env, placed):
    response = env.client().get(
        f"/api/v1/flights/{placed['flight']}/overlays", headers=env.headers("pilot")
    )
    assert response.status_code == 200
    assert [i["photo_id"] for i in response.json["items"]] == [placed["photo"]]
    skipped = response.json["skipped"]
    assert [s["photo_id"] for s in skipped] == [placed["bare"]]
    assert "GPS position" in skipped[0]["error"]
    item = response.json["items"][0]
    assert _distance_m(tuple(item["centre"]), (LON, LAT)) < 0.5
    assert item["yaw_deg"] == pytest.approx(35.0, abs=0.01)


def test_a_finding_on_a_photo_without_height_has_no_overlay_and_says_why(env, placed):
    """No footprint is no error: 200 with url and bounds null and the reason, so the review and
    ticket maps skip the photo without a 404 in the browser's console."""
    from groundstation.models import Finding

    (finding_id,) = make_findings(env, [("illegal_construction", 0.8, (LON, LAT))])
    with env.storage().session() as session:
        photo = session.get(Finding, finding_id).photo
        photo.lon, photo.lat, photo.relative_altitude_m = LON, LAT, None  # GPS, but no height
        session.commit()
        photo_id = photo.id
    client = env.client()
    answer = client.get(f"/api/v1/findings/{finding_id}/overlay", headers=env.headers("supervisor"))
    assert answer.status_code == 200
    assert answer.json["finding_id"] == finding_id and answer.json["photo_id"] == photo_id
    assert answer.json["url"] is None and answer.json["bounds"] is None
    assert "no height above ground" in answer.json["reason"]
    assert answer.json["position"] == [LON, LAT]
    placed_answer = client.get(
        f"/api/v1/findings/{placed['finding']}/overlay", headers=env.headers("supervisor")
    )
    assert placed_answer.json["url"] and placed_answer.json["reason"] is None
    # the photo itself is still no map overlay: its own address says so
    photo = client.get(f"/api/v1/photos/{photo_id}/overlay", headers=env.headers("supervisor"))
    assert photo.status_code == 404


@pytest.mark.parametrize(
    ("url", "status", "words"),
    [
        ("/api/v1/photos/{bare}/overlay", 404, "no GPS position"),
        ("/api/v1/photos/{bare}/overlay.png", 404, "no GPS position"),
        ("/api/v1/photos/999999/overlay", 404, "does not exist"),
        ("/api/v1/findings/999999/overlay", 404, "does not exist"),
        ("/api/v1/flights/999999/overlays", 404, "does not exist"),
    ],
)
def test_photo_overlay_bad_input(env, placed, url, status, words):
    response = env.client().get(url.format(**placed), headers=env.headers("admin"))
    assert response.status_code == status
    assert words in response.json["error"]


def test_photo_overlay_needs_a_user(env, placed):
    response = env.client().get(f"/api/v1/photos/{placed['photo']}/overlay")
    assert response.status_code == 401 and "error" in response.json


# -- orthomosaics ------------------------------------------------------------------------------


def _edge_bounds(path: Path) -> tuple[float, float, float, float]:
    """The GeoTIFF's WGS84 footprint from its edges (every pixel corner along them), with pyproj."""
    with rasterio.open(path) as src:
        transform, crs, width, height = src.transform, src.crs.to_wkt(), src.width, src.height
    cols = np.concatenate(
        [
            np.arange(width + 1),
            np.full(height + 1, width),
            np.arange(width + 1),
            np.zeros(height + 1),
        ]
    )
    rows = np.concatenate(
        [
            np.zeros(width + 1),
            np.arange(height + 1),
            np.full(width + 1, height),
            np.arange(height + 1),
        ]
    )
    xs, ys = transform @ (cols, rows)
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(xs, ys)
    return float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())


def test_orthomosaic_upload_preview_and_layers(env, rgb_tif):
    client = env.client()
    response = upload_orthomosaic(client, env.headers("pilot"), rgb_tif, name="RGB sample")
    assert response.status_code == 201, response.json
    ortho = response.json
    assert ortho["name"] == "RGB sample" and ortho["crs"] == "EPSG:32618"
    assert (ortho["width"], ortho["height"], ortho["bands"]) == (791, 718, 3)
    # stored in the data dir
    stored = list((env.data_dir / "orthomosaics").rglob("rasterio_RGB.byte.tif"))
    assert any(p.read_bytes() == rgb_tif.read_bytes() for p in stored)

    png = client.get(ortho["preview_url"], headers=env.headers("department"))
    assert png.status_code == 200 and png.mimetype == "image/png"
    preview = Image.open(io.BytesIO(png.data))
    assert preview.mode == "RGBA" and max(preview.size) <= 2048
    assert list(preview.size) == ortho["preview_size"]
    # the preview's bounds are the GeoTIFF's footprint, within one preview pixel
    west, south, east, north = _edge_bounds(rgb_tif)
    (b_south, b_west), (b_north, b_east) = ortho["bounds"]
    px_x = (b_east - b_west) / preview.size[0]
    px_y = (b_north - b_south) / preview.size[1]
    assert abs(b_west - west) < px_x and abs(b_east - east) < px_x
    assert abs(b_south - south) < px_y and abs(b_north - north) < px_y
    # the raster's nodata collar is transparent, its middle opaque and coloured
    rgba = np.asarray(preview)
    assert rgba[0, 0, 3] == 0 and rgba[-1, -1, 3] == 0
    mid = rgba[rgba.shape[0] // 2, rgba.shape[1] // 2]
    assert mid[3] == 255 and mid[:3].any()

    # listed for every role (the review and plan maps read this)
    for who in ("supervisor", "department", "pilot", "admin"):
        listed = client.get("/api/v1/orthomosaics", headers=env.headers(who))
        assert listed.status_code == 200
        assert ortho["id"] in [o["id"] for o in listed.json]
    detail = client.get(f"/api/v1/orthomosaics/{ortho['id']}", headers=env.headers("admin"))
    assert detail.json["bounds"] == ortho["bounds"]

    # delete: refused for a supervisor, done by an admin (row and files gone)
    refused = client.delete(
        f"/api/v1/orthomosaics/{ortho['id']}", headers=env.headers("supervisor")
    )
    assert refused.status_code == 403
    gone = client.delete(f"/api/v1/orthomosaics/{ortho['id']}", headers=env.headers("admin"))
    assert gone.status_code == 200
    assert client.get(ortho["preview_url"], headers=env.headers("admin")).status_code == 404


@pytest.mark.parametrize("who", ["supervisor", "department", "other_department"])
def test_orthomosaic_upload_roles(env, rgb_tif, who):
    response = upload_orthomosaic(env.client(), env.headers(who), rgb_tif)
    assert response.status_code == 403 and "may not" in response.json["error"]


def test_orthomosaic_upload_needs_a_user(env, rgb_tif):
    response = upload_orthomosaic(env.client(), {}, rgb_tif)
    assert response.status_code == 401


def _geotiff(path: Path) -> Path:
    pixels = np.random.default_rng(0).integers(0, 255, (3, 200, 300), dtype=np.uint8)
    transform = rasterio.transform.from_origin(119.90, 32.41, 3e-5, 3e-5)
    profile = {"driver": "GTiff", "width": 300, "height": 200, "count": 3, "dtype": "uint8"}
    with rasterio.open(path, "w", crs="EPSG:4326", transform=transform, **profile) as dst:
        dst.write(pixels)
    return path


def _plain_tiff(path: Path) -> Path:
    Image.fromarray(np.full((32, 32, 3), 90, dtype=np.uint8)).save(path, "TIFF")
    return path


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("plain_tiff", "not georeferenced"),
        ("png_named_tif", "not a TIFF file"),
        ("garbage", "not a readable GeoTIFF"),
        ("wrong_suffix", ".tif/.tiff"),
        ("empty", "is empty"),
        ("truncated", "not a readable GeoTIFF"),
    ],
)
def test_orthomosaic_bad_files_are_refused_and_nothing_is_kept(env, tmp_path, kind, words):
    path = tmp_path / "ortho.tif"
    filename = None
    if kind == "plain_tiff":
        _plain_tiff(path)
    elif kind == "png_named_tif":
        Image.new("RGB", (16, 16)).save(path, "PNG")
    elif kind == "garbage":
        path.write_bytes(b"II*\x00 definitely not a tiff" * 10)
    elif kind == "wrong_suffix":
        _plain_tiff(path)
        filename = "ortho.jpg"
    elif kind == "truncated":  # header and georeference intact, pixels cut off (a broken copy)
        _geotiff(path)
        path.write_bytes(path.read_bytes()[:1000])
    else:
        path.write_bytes(b"")
    client = env.client()
    before = client.get("/api/v1/orthomosaics", headers=env.headers("admin")).json
    folders = set((env.data_dir / "orthomosaics").glob("*"))
    response = upload_orthomosaic(client, env.headers("admin"), path, filename=filename)
    assert response.status_code == 400, response.json
    assert words in response.json["error"]
    assert client.get("/api/v1/orthomosaics", headers=env.headers("admin")).json == before
    assert set((env.data_dir / "orthomosaics").glob("*")) == folders


def test_orthomosaic_upload_without_file(env):
    response = env.client().post(
        "/api/v1/orthomosaics", data={"name": "x"}, headers=env.headers("admin")
    )
    assert response.status_code == 400 and "'file'" in response.json["error"]


def test_orthomosaic_size_limit(tmp_path, rgb_tif):
    """Over MAX_ORTHOMOSAIC_BYTES (by less than the request's 1 MiB of room for the form's other
    fields, so the body is read): 413 JSON, nothing stored; the photo limit does not apply."""
    e = make_env(
        f"sqlite:///{tmp_path / 'db.sqlite3'}",
        tmp_path / "data",
        MAX_ORTHOMOSAIC_BYTES=1_000_000,
        MAX_CONTENT_LENGTH=256 * 1024,  # smaller than the GeoTIFF: orthomosaics lift it
    )
    try:
        client = e.client()
        too_big = upload_orthomosaic(client, e.headers("admin"), rgb_tif)  # 1.7 MB
        assert too_big.status_code == 413, too_big.json
        assert "'rasterio_RGB.byte.tif' is larger than 1,000,000 bytes" in too_big.json["error"]
        assert client.get("/api/v1/orthomosaics", headers=e.headers("admin")).json == []
        assert list((e.data_dir / "orthomosaics").glob("*")) == []
        # under the orthomosaic limit but over the photo request limit: accepted
        small = tmp_path / "small.tif"
        with rasterio.open(rgb_tif) as src:
            window = rasterio.windows.Window(300, 300, 300, 300)
            profile = src.profile | {"width": 300, "height": 300, "compress": None}
            profile["transform"] = src.window_transform(window)
            data = src.read(window=window)
        with rasterio.open(small, "w", **profile) as dst:
            dst.write(data)
        assert 256 * 1024 < small.stat().st_size < 1_000_000
        ok = upload_orthomosaic(client, e.headers("pilot"), small)
        assert ok.status_code == 201, ok.json
    finally:
        e.storage().dispose()
        shutil.rmtree(tmp_path / "data", ignore_errors=True)


def _warped_vrt(source: str) -> str:
    """A warped VRT (XML) over ``source``: GDAL opens the source as soon as the VRT is opened."""
    gt = "119.9,1e-4,0,32.41,0,-1e-4"
    inv = "-1199000,10000,0,324100,0,-10000"
    return (
        '<VRTDataset rasterXSize="10" rasterYSize="10" subClass="VRTWarpedDataset">'
        f"<SRS>EPSG:4326</SRS><GeoTransform>{gt}</GeoTransform>"
        '<VRTRasterBand dataType="Byte" band="1" subClass="VRTWarpedRasterBand"/>'
        "<GDALWarpOptions><WarpMemoryLimit>6e7</WarpMemoryLimit>"
        "<ResampleAlg>NearestNeighbour</ResampleAlg><WorkingDataType>Byte</WorkingDataType>"
        f'<SourceDataset relativeToVRT="0">{source}</SourceDataset>'
        "<Transformer><ApproxTransformer><MaxError>0.125</MaxError><BaseTransformer>"
        f"<GenImgProjTransformer><SrcGeoTransform>{gt}</SrcGeoTransform>"
        f"<SrcInvGeoTransform>{inv}</SrcInvGeoTransform><DstGeoTransform>{gt}</DstGeoTransform>"
        f"<DstInvGeoTransform>{inv}</DstInvGeoTransform></GenImgProjTransformer>"
        "</BaseTransformer></ApproxTransformer></Transformer>"
        '<BandList><BandMapping src="1" dst="1"/></BandList></GDALWarpOptions></VRTDataset>'
    )


def test_orthomosaic_vrt_named_tif_is_never_opened(env, tmp_path, rgb_tif):
    """A VRT posing as a GeoTIFF is refused before GDAL sees it: it fetches no URL and tells
    nothing about the server files it names."""
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_HEAD(self):
            requests.append(self.path)
            self.send_error(404)

        do_GET = do_HEAD

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"/vsicurl/http://127.0.0.1:{server.server_port}/{uuid.uuid4().hex}.tif"
    sources = {"url": url, "server file": str(rgb_tif), "missing": str(tmp_path / "nope.tif")}
    client = env.client()
    before = client.get("/api/v1/orthomosaics", headers=env.headers("admin")).json
    folders = set((env.data_dir / "orthomosaics").glob("*"))
    errors = {}
    try:
        for what, source in sources.items():
            path = tmp_path / f"{what.replace(' ', '_')}.tif"
            path.write_text(_warped_vrt(source))
            response = upload_orthomosaic(client, env.headers("pilot"), path, filename="o.tif")
            assert response.status_code == 400, response.json
            errors[what] = response.json["error"]
    finally:
        server.shutdown()
        server.server_close()
    assert requests == []
    assert set(errors.values()) == {"'o.tif' is not a TIFF file: a GeoTIFF is needed"}
    assert client.get("/api/v1/orthomosaics", headers=env.headers("admin")).json == before
    assert set((env.data_dir / "orthomosaics").glob("*")) == folders


def _sparse_geotiff(path: Path, width: int, height: int) -> Path:
    """A GeoTIFF declaring ``width`` x ``height`` px with no pixel data stored (a few KiB)."""
    transform = rasterio.transform.from_origin(119.90, 32.41, 1e-8, 1e-8)
    profile = {"driver": "GTiff", "width": width, "height": height, "count": 3, "dtype": "uint8"}
    with rasterio.open(
        path, "w", crs="EPSG:4326", transform=transform, tiled=True, sparse_ok=True, **profile
    ):
        pass
    return path


@pytest.mark.parametrize(
    ("limit", "size", "words"),
    [
        (None, (20_500, 20_500), "20500×20500 pixels, more than the 400,000,000 allowed"),
        (50_000, (300, 200), "300×200 pixels, more than the 50,000 allowed"),
    ],
)
def test_orthomosaic_declaring_too_many_pixels_is_refused(
    env, tmp_path, monkeypatch, limit, size, words
):
    """The pixel count is read from the header, before any preview is rendered: 413, nothing
    stored (the default, and MAX_ORTHOMOSAIC_PIXELS when set)."""
    if limit is not None:
        monkeypatch.setitem(env.app.config, "MAX_ORTHOMOSAIC_PIXELS", limit)
    path = _sparse_geotiff(tmp_path / "huge.tif", *size)
    assert path.stat().st_size < 200_000
    client = env.client()
    before = client.get("/api/v1/orthomosaics", headers=env.headers("admin")).json
    folders = set((env.data_dir / "orthomosaics").glob("*"))
    response = upload_orthomosaic(client, env.headers("pilot"), path)
    assert response.status_code == 413, response.json
    assert words in response.json["error"]
    assert client.get("/api/v1/orthomosaics", headers=env.headers("admin")).json == before
    assert set((env.data_dir / "orthomosaics").glob("*")) == folders


@pytest.mark.parametrize(
    ("name", "words"),
    [("ortho\x00x", "U+0000"), ("o" * 201, "at most 200")],
)
def test_an_orthomosaic_name_no_database_stores_is_a_400(env, rgb_tif, name, words):
    """Refused before the file is stored (PostgreSQL cannot hold a NUL; the column 200 chars)."""
    client = env.client()
    before = client.get("/api/v1/orthomosaics", headers=env.headers("admin")).json
    folders = set((env.data_dir / "orthomosaics").glob("*"))
    response = upload_orthomosaic(client, env.headers("pilot"), rgb_tif, name=name)
    assert response.status_code == 400, response.json
    assert response.json["error"].startswith("name ") and words in response.json["error"]
    assert client.get("/api/v1/orthomosaics", headers=env.headers("admin")).json == before
    assert set((env.data_dir / "orthomosaics").glob("*")) == folders


def test_an_orthomosaic_name_fills_its_column(env, rgb_tif):
    name = "正射影像" * 50
    response = upload_orthomosaic(env.client(), env.headers("pilot"), rgb_tif, name=f" {name} ")
    assert response.status_code == 201, response.json
    assert response.json["name"] == name
    unnamed = upload_orthomosaic(
        env.client(), env.headers("pilot"), rgb_tif, filename="r" * 230 + ".tif"
    )
    assert unnamed.status_code == 201 and unnamed.json["name"] == "r" * 200


def test_orthomosaic_limits_are_read_from_the_environment(tmp_path, rgb_tif, monkeypatch):
    """MAX_ORTHOMOSAIC_BYTES and MAX_ORTHOMOSAIC_PIXELS set in the environment (as for
    ``gridpatrol serve``) refuse a larger GeoTIFF with 413, in whole MiB when they are."""
    monkeypatch.setenv("MAX_ORTHOMOSAIC_BYTES", str(2**20))
    e = make_env(f"sqlite:///{tmp_path / 'db.sqlite3'}", tmp_path / "data")
    try:
        assert e.app.config["MAX_ORTHOMOSAIC_BYTES"] == 2**20
        refused = upload_orthomosaic(e.client(), e.headers("admin"), rgb_tif)  # 1.7 MB
        assert refused.status_code == 413, refused.json
        assert "'rasterio_RGB.byte.tif' is larger than 1 MiB" in refused.json["error"]
        doc = e.client().get("/api/v1/openapi.json").json
        assert "413" in doc["paths"]["/orthomosaics"]["post"]["responses"]
    finally:
        e.storage().dispose()
    monkeypatch.setenv("MAX_ORTHOMOSAIC_BYTES", str(2 * 2**30))
    monkeypatch.setenv("MAX_ORTHOMOSAIC_PIXELS", "1000")
    e = make_env(f"sqlite:///{tmp_path / 'db2.sqlite3'}", tmp_path / "data2")
    try:
        refused = upload_orthomosaic(e.client(), e.headers("admin"), rgb_tif)
        assert refused.status_code == 413, refused.json
        assert "1,000" in refused.json["error"]
        assert e.client().get("/api/v1/orthomosaics", headers=e.headers("admin")).json == []
    finally:
        e.storage().dispose()


def _metric_geotiff(path: Path, crs: str) -> Path:
    """A 300 x 200 GeoTIFF at 5 cm/px whose UTM 50N metres lie inside grid G1, labelled ``crs``."""
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True).transform(
        119.902, 32.408
    )
    pixels = np.random.default_rng(1).integers(0, 255, (3, 200, 300), dtype=np.uint8)
    transform = rasterio.transform.from_origin(x, y, 0.05, 0.05)
    profile = {"driver": "GTiff", "width": 300, "height": 200, "count": 3, "dtype": "uint8"}
    with rasterio.open(path, "w", crs=crs, transform=transform, **profile) as dst:
        dst.write(pixels)
    return path


def test_an_orthomosaic_outside_every_grid_is_stored_with_a_warning(env, tmp_path):
    """Metres labelled EPSG:3857 land 1,500 km west of the grid they were flown over: stored
    (the CRS may be right), but the answer warns; the correctly labelled file does not."""
    from conftest import G1, add_grids

    client, headers = env.client(), env.headers("pilot")
    lonely = upload_orthomosaic(client, headers, _metric_geotiff(tmp_path / "a.tif", "EPSG:3857"))
    assert lonely.status_code == 201 and lonely.json["warnings"] == []  # no grids: nothing known
    add_grids(env, ("IMG-G1", G1))
    right = upload_orthomosaic(client, headers, _metric_geotiff(tmp_path / "b.tif", "EPSG:32650"))
    assert right.status_code == 201 and right.json["warnings"] == []
    wrong = upload_orthomosaic(client, headers, _metric_geotiff(tmp_path / "c.tif", "EPSG:3857"))
    assert wrong.status_code == 201, wrong.json
    _, south, east, _ = wrong.json["bbox"]
    assert east < 110 and south < 31  # placed where EPSG:3857 puts the numbers
    (warning,) = wrong.json["warnings"]
    assert warning.startswith("orthomosaic 'c.tif' lies in none of the grids (centre at longitude ")
    assert warning.endswith("if it was flown over a grid, its CRS EPSG:3857 is wrong")
    listed = client.get("/api/v1/orthomosaics", headers=headers).json
    assert {o["id"] for o in listed} >= {right.json["id"], wrong.json["id"]}
