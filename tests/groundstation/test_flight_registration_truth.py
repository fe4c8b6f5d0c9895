"""Photo-flight registration and ingest say what is true: a GeoTIFF in a photo flight is placed
by its geotransform (registration, re-flight check, overlays, the image a browser gets); the
SITL's photos.csv is read by its file column and missing photos are refused up front; a resumed
ingest job reports the flight's totals; unknown fields, wrong types and merged duplicates are
said, not passed over."""

from __future__ import annotations

import io
import os
import uuid
import zlib
from pathlib import Path

import numpy as np
import pytest
import rasterio
from conftest import G1, PHOTO_LONLAT, add_grids, make_ticket, write_sidecar
from fakeclassifier import FakeClassifier
from PIL import Image
from pyproj import Geod, Transformer
from rasterio.transform import from_origin
from sqlalchemy import func, select

from gis.exif import GeoTag, write_jpeg
from groundstation.ingest import ingest_flight, register_flight
from groundstation.models import Finding, Flight, Job, Photo, TicketEvent
from groundstation.reflight import ACTION

GREY, RED = (120, 120, 120), (200, 40, 30)  # the fake classifier: construction, burning
GEOD = Geod(ellps="WGS84")
#: The GeoTIFF: 200 x 300 pixels of 0.5 m in UTM 50N, centred on PHOTO_LONLAT.
TIF_SIZE, TIF_PIXEL_M = (200, 300), 0.5


def _folder(env, name: str) -> Path:
    """A fresh folder under the data dir's photos/ (the API's default PHOTO_ROOTS)."""
    folder = env.data_dir / "photos" / f"{name}_{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    return folder


def write_geotiff(path: Path, rgb=GREY, centre=PHOTO_LONLAT, crs="EPSG:32650") -> Path:
    """An RGB GeoTIFF (an orthophoto) centred on ``centre``, north up."""
    width, height = TIF_SIZE
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(*centre)
    transform = from_origin(
        x - width * TIF_PIXEL_M / 2, y + height * TIF_PIXEL_M / 2, TIF_PIXEL_M, TIF_PIXEL_M
    )
    data = np.broadcast_to(np.array(rgb, dtype=np.uint8)[:, None, None], (3, height, width))
    with rasterio.open(
        path, "w", driver="GTiff", width=width, height=height, count=3, dtype="uint8",
        crs=crs, transform=transform,
    ) as dst:  # fmt: skip
        dst.write(data)
    return path


def write_geotagged(path: Path, rgb, lonlat) -> Path:
    """A small nadir JPEG with a GPS geotag at ``lonlat``, 100 m above ground; a corner pixel
    set from its name, so two photos of one colour are two contents, as a camera's are."""
    image = np.full((48, 64, 3), rgb, dtype=np.uint8)
    image[0, 0] = zlib.crc32(path.name.encode()) % 256
    write_jpeg(path, image, GeoTag(lonlat[1], lonlat[0], 120.0, relative_altitude_m=100.0))
    return path


def post_source(env, source: Path, **fields):
    return env.client().post(
        "/api/v1/flights", json={"source": str(source), **fields}, headers=env.headers("pilot")
    )


def flights_from(env, source: Path) -> int:
    with env.storage().session() as session:
        return session.scalar(
            select(func.count()).select_from(Flight).where(Flight.source == str(source.resolve()))
        )


# -- 1. a GeoTIFF is a placed photo ------------------------------------------------------------


def test_a_geotiff_flight_is_registered_as_placed_without_false_warnings(env) -> None:
    folder = _folder(env, "ortho")
    write_geotiff(folder / "world.tif")
    response = post_source(env, folder)
    assert response.status_code == 202, response.json
    body = response.json
    assert body["photos"] == 1 and body["photos_unplaced"] == 0
    assert body["photos_georeferenced"] == 1
    assert body["camera_size_mismatch"] is None and body["warnings"] == []
    with env.storage().session() as session:
        photo = session.scalars(select(Photo).where(Photo.flight_id == body["flight_id"])).one()
        _, _, off_m = GEOD.inv(photo.lon, photo.lat, *PHOTO_LONLAT)
    assert off_m < 0.5  # its centre, from the geotransform


def test_a_geotiff_through_a_staged_upload_is_placed(env) -> None:
    client, headers = env.client(), env.headers("pilot")
    # not the grey of the module's other GeoTIFFs: the same photo again would be refused
    path = write_geotiff(_folder(env, "staged") / "world.tif", rgb=(118, 122, 120))
    upload = client.post("/api/v1/photo-uploads", json={}, headers=headers).json
    added = client.post(
        upload["urls"]["photos"],
        data={"photos": (io.BytesIO(path.read_bytes()), "world.tif")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert added.status_code == 201, added.json
    finished = client.post(upload["urls"]["finish"], json={"photos": 1}, headers=headers)
    assert finished.status_code == 202, finished.json
    assert finished.json["photos_unplaced"] == 0 and finished.json["warnings"] == []


def test_a_geotiff_is_overlaid_shown_and_rechecked(env) -> None:
    """Ingested, the GeoTIFF photo gets its map overlay (photo and finding), is sent to the
    browser as PNG, and the re-flight check covers the resolved case it shows."""
    add_grids(env, ("T-G1", G1))
    ticket = make_ticket(env, "resolved", label="illegal_construction")
    folder = _folder(env, "recheck")
    path = write_geotiff(folder / "world.tif")
    write_sidecar(path, (PHOTO_LONLAT[0] + 0.00003, PHOTO_LONLAT[1]))  # the finding, 3 m east
    flight_id = register_flight(env.storage(), folder, allow_unplaced=False)
    ingest_flight(env.storage(), flight_id, FakeClassifier(), crops_dir=env.data_dir / "crops")
    with env.storage().session() as session:
        photo_id = session.scalar(select(Photo.id).where(Photo.flight_id == flight_id))
        finding_id = session.scalar(select(Finding.id).where(Finding.flight_id == flight_id))
        checks = [
            e.data
            for e in session.scalars(
                select(TicketEvent).where(
                    TicketEvent.ticket_id == ticket, TicketEvent.action == ACTION
                )
            )
        ]
    assert {"flight_id": flight_id, "photos": 1, "finding_id": finding_id} in checks

    client, headers = env.client(), env.headers("supervisor")
    overlay = client.get(f"/api/v1/photos/{photo_id}/overlay", headers=headers)
    assert overlay.status_code == 200, overlay.json
    (south, west), (north, east) = overlay.json["bounds"]
    width_m = GEOD.inv(west, PHOTO_LONLAT[1], east, PHOTO_LONLAT[1])[2]
    height_m = GEOD.inv(PHOTO_LONLAT[0], south, PHOTO_LONLAT[0], north)[2]
    # 100 m x 150 m, in a box a little larger: UTM north is 1.6° off true north here
    assert 100 < width_m < 106 and 150 < height_m < 154
    assert overlay.json["gsd_m"] == pytest.approx(TIF_PIXEL_M)
    png = client.get(overlay.json["url"], headers=headers)
    assert png.status_code == 200 and png.mimetype == "image/png"
    with Image.open(io.BytesIO(png.data)) as image:
        assert image.mode == "RGBA" and max(image.size) <= 1024
        assert image.getpixel((image.width // 2, image.height // 2))[:3] == GREY
    found = client.get(f"/api/v1/findings/{finding_id}/overlay", headers=headers)
    assert found.status_code == 200 and found.json["bounds"] == overlay.json["bounds"]

    shown = client.get(f"/api/v1/photos/{photo_id}/image", headers=headers)
    assert shown.status_code == 200 and shown.mimetype == "image/png"
    assert "world.png" in shown.headers["Content-Disposition"]
    with Image.open(io.BytesIO(shown.data)) as image:
        assert image.size == TIF_SIZE


def test_a_geotiff_labelled_with_the_wrong_crs_is_refused(env) -> None:
    folder = _folder(env, "wrongcrs")
    # UTM metres labelled as degrees: its corners lie far beyond longitude ±180
    write_geotiff(folder / "world.tif", crs="EPSG:32650")
    with rasterio.open(folder / "world.tif", "r+") as dst:
        dst.crs = "EPSG:4326"
    response = post_source(env, folder)
    assert response.status_code == 400
    assert "world.tif" in response.json["error"] and "EPSG:4326" in response.json["error"]
    assert flights_from(env, folder) == 0


# -- 2. flight logs: the CSV's file column; missing photos refused -----------------------------


def _sitl_log(folder: Path, names: list[str]) -> Path:
    """The SITL's photos.csv: a header, then one row per photo with its file name last."""
    rows = ["index,time,lat,lon,alt,rel_alt,yaw,file"]
    for k, name in enumerate(names, 1):
        rows.append(f"{k},2024-06-01T08:00:{k:02d}+00:00,32.405,119.905,130.00,100.00,0.0,{name}")
    rows.append("13,2024-06-01T08:00:59+00:00,32.405,119.905,130.00,100.00,0.0,")  # no photo
    log = folder / "photos.csv"
    log.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return log


def test_the_sitl_photo_log_is_read_by_its_file_column(env) -> None:
    folder = _folder(env, "sitl")
    names = [f"IMG_{k:05d}.jpg" for k in range(1, 13)]
    for name in names:
        write_geotagged(folder / name, RED, PHOTO_LONLAT)
    response = post_source(env, _sitl_log(folder, names))
    assert response.status_code == 202, response.json
    assert response.json["photos"] == 12 and response.json["photos_unplaced"] == 0
    with env.storage().session() as session:
        paths = session.scalars(
            select(Photo.path).where(Photo.flight_id == response.json["flight_id"])
        ).all()
    assert sorted(Path(p).name for p in paths) == names


def test_a_flight_log_naming_missing_photos_is_refused(env) -> None:
    folder = _folder(env, "missing")
    write_geotagged(folder / "IMG_00001.jpg", RED, PHOTO_LONLAT)
    log = _sitl_log(folder, ["IMG_00001.jpg", "IMG_00002.jpg"])
    response = post_source(env, log, allow_unplaced=True)
    assert response.status_code == 400
    assert "IMG_00002.jpg" in response.json["error"] and "does not exist" in response.json["error"]
    assert response.json["missing"] == [str(folder.resolve() / "IMG_00002.jpg")]
    assert flights_from(env, log) == 0

    plain = folder / "list.txt"
    plain.write_text("IMG_00001.jpg\ngone.jpg\n", encoding="utf-8")
    response = post_source(env, plain, allow_unplaced=True)
    assert response.status_code == 400 and "gone.jpg" in response.json["error"]
    assert flights_from(env, plain) == 0


# -- 3. a resumed ingest job reports the flight's totals ---------------------------------------


class WorkerKilled(BaseException):
    """The worker dies: not an error ingest catches per photo."""


class DiesAfter(FakeClassifier):
    def __init__(self, photos: int) -> None:
        super().__init__()
        self.left = photos

    def classify_image(self, path, **kw):
        if self.left == 0:
            raise WorkerKilled
        self.left -= 1
        return super().classify_image(path, **kw)


def test_a_resumed_ingest_job_reports_the_flights_totals(env) -> None:
    folder = _folder(env, "resumed")
    for k in range(12):
        write_geotagged(folder / f"p{k:02d}.jpg", RED if k % 4 else GREY, PHOTO_LONLAT)
    storage = env.storage()
    flight_id = register_flight(storage, folder)
    with pytest.raises(WorkerKilled):
        ingest_flight(storage, flight_id, DiesAfter(5), crops_dir=env.data_dir / "crops")
    runner = env.runner()
    job_id = runner.enqueue("ingest_flight", {"flight_id": flight_id})
    assert runner.run_job(job_id).state == "done"
    with storage.session() as session:
        result = session.get(Job, job_id).result
        findings = session.scalar(
            select(func.count()).select_from(Finding).where(Finding.flight_id == flight_id)
        )
    assert findings == 12
    assert result["photos"] == 12 and result["done"] == 12 and result["findings"] == 12
    assert result["pending"] == 0 and result["errors"] == 0
    assert result["this_run"] == {"photos": 7, "findings": 7, "errors": 0}


# -- 4. unknown fields, wrong types and merged duplicates --------------------------------------


def _staged(env, data: bytes) -> dict:
    client, headers = env.client(), env.headers("pilot")
    upload = client.post("/api/v1/photo-uploads", json={}, headers=headers).json
    client.post(
        upload["urls"]["photos"],
        data={"photos": (io.BytesIO(data), "a.jpg")},
        headers=headers,
        content_type="multipart/form-data",
    )
    return upload


def _jpeg(env, rgb=RED) -> bytes:
    """A geotagged JPEG of the running test's own (two pixels from its id): the same photo
    stored by another test would be refused as sent again."""
    mark = zlib.crc32(os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0].encode())
    image = np.full((48, 64, 3), rgb, dtype=np.uint8)
    image[0, :2] = np.array([mark & 255, (mark >> 8) & 255], dtype=np.uint8)[:, None]
    path = _folder(env, "jpeg") / "a.jpg"
    write_jpeg(
        path, image, GeoTag(PHOTO_LONLAT[1], PHOTO_LONLAT[0], 120.0, relative_altitude_m=100.0)
    )
    return path.read_bytes()


@pytest.mark.parametrize(
    ("body", "named"),
    [({"bogus": 1}, "'bogus'"), ({"photos": "1"}, "photos"), ({"photos": True}, "photos")],
)
def test_finishing_an_upload_refuses_unknown_fields_and_wrong_types(env, body, named) -> None:
    upload = _staged(env, _jpeg(env))
    client, headers = env.client(), env.headers("pilot")
    refused = client.post(upload["urls"]["finish"], json=body, headers=headers)
    assert refused.status_code == 400 and named in refused.json["error"]
    # nothing happened: the upload is still there and finishes when asked properly
    assert client.get(upload["urls"]["self"], headers=headers).json["photos"] == 1
    assert (
        client.post(upload["urls"]["finish"], json={"photos": 1}, headers=headers).status_code
        == 202
    )


def test_a_flight_upload_refuses_unknown_fields(env) -> None:
    client, headers = env.client(), env.headers("pilot")
    response = client.post(
        "/api/v1/flights",
        data={"photos": (io.BytesIO(_jpeg(env)), "a.jpg"), "alow_unplaced": "1"},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 400 and "'alow_unplaced'" in response.json["error"]
    assert "allow_unplaced" in response.json["error"]  # the fields it takes are listed
    response = client.post("/api/v1/flights", json={"source": "x", "sorce": "y"}, headers=headers)
    assert response.status_code == 400 and "'sorce'" in response.json["error"]


def test_duplicate_photos_in_one_upload_are_merged_with_a_warning(env) -> None:
    client, headers = env.client(), env.headers("pilot")
    same = _jpeg(env)
    response = client.post(
        "/api/v1/flights",
        data={"photos": [(io.BytesIO(same), "a.jpg"), (io.BytesIO(same), "a.jpg")]},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.json
    assert response.json["photos"] == 1 and response.json["duplicates_merged"] == 1
    assert any("same name with the same bytes" in w for w in response.json["warnings"])

    before = client.get("/api/v1/flights", headers=headers).json
    response = client.post(
        "/api/v1/flights",
        data={"photos": [(io.BytesIO(same), "a.jpg"), (io.BytesIO(_jpeg(env, GREY)), "a.jpg")]},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 400 and "'a.jpg'" in response.json["error"]
    assert client.get("/api/v1/flights", headers=headers).json == before
