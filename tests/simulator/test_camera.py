"""Photos: rendered from a synthetic world GeoTIFF (UTM 51N), geotagged where the vehicle was,
with the footprint and orientation the camera model predicts."""

from __future__ import annotations

import csv
import itertools
import math

import numpy as np
import pytest
import rasterio
from PIL import Image
from pymavlink import mavutil
from pyproj import Transformer
from rasterio.transform import from_origin

from gis.camera import Camera
from gis.crs import LocalFrame
from gis.exif import read_geotag
from tests.simulator.conftest import HOME

mavlink = mavutil.mavlink
CAMERA = Camera("test-cam", 13.2, 8.8, 8.8, 300, 200)  # 60 m x 40 m footprint at 40 m
FRAME = LocalFrame(HOME[1], HOME[0])
SQUARE_CENTRE = (0.0, 80.0)  # metres east, north of home
SQUARE_SIZE = 20.0
SQUARE_CORNERS: list[tuple[float, float]] = []  # local-frame corners, filled by the `world` fixture


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A 600 m grey checkerboard in EPSG:32651 with a red 20 m square 80 m north of home."""
    to_utm = Transformer.from_crs(4326, 32651, always_xy=True)
    x0, y0 = to_utm.transform(HOME[1], HOME[0])
    pixel = 0.5
    size = 1200
    west, north = x0 - 300.0, y0 + 300.0
    cols = np.arange(size)
    checker = ((cols[None, :] // 20 + cols[:, None] // 20) % 2).astype(np.uint8)
    rgb = np.stack([60 + 60 * checker] * 3)
    # The square is placed from its WGS84 corners, so the test does not rely on UTM ~ local frame.
    lon_c, lat_c = FRAME.inverse(*SQUARE_CENTRE)
    sx, sy = to_utm.transform(lon_c, lat_c)
    c0, c1 = int((sx - SQUARE_SIZE / 2 - west) / pixel), int((sx + SQUARE_SIZE / 2 - west) / pixel)
    r0, r1 = (
        int((north - (sy + SQUARE_SIZE / 2)) / pixel),
        int((north - (sy - SQUARE_SIZE / 2)) / pixel),
    )
    rgb[:, r0:r1, c0:c1] = np.array([230, 20, 20], dtype=np.uint8)[:, None, None]
    # The square's true corners as rasterised (UTM grid north differs from true north by ~1.5°).
    to_wgs84 = Transformer.from_crs(32651, 4326, always_xy=True)
    corners = [
        FRAME.forward(*to_wgs84.transform(west + c * pixel, north - r * pixel))
        for c in (c0, c1)
        for r in (r0, r1)
    ]
    SQUARE_CORNERS[:] = [(float(x), float(y)) for x, y in corners]
    path = tmp_path_factory.mktemp("world") / "world.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=3,
        dtype="uint8",
        crs="EPSG:32651",
        transform=from_origin(west, north, pixel, pixel),
        tiled=True,
        blockxsize=256,
        blockysize=256,
    ) as dataset:
        dataset.write(rgb)
    return path


def _red_box(image: np.ndarray) -> tuple[float, float, float, float]:
    red = (image[..., 0] > 150) & (image[..., 1] < 90) & (image[..., 2] < 90)
    rows, cols = np.nonzero(red)
    assert rows.size, "the red square is not in the photo"
    return cols.min(), rows.min(), cols.max() + 1, rows.max() + 1


def _predicted_box(lat: float, lon: float, yaw: float, height: float):
    """Where the square's corners fall in the photo, from the camera model alone."""
    gsd = CAMERA.gsd_m(height)
    cx, cy = FRAME.forward(lon, lat)
    psi = math.radians(yaw)
    cols, rows = [], []
    for x, y in SQUARE_CORNERS:
        ex, ny = x - cx, y - cy
        right = ex * math.cos(psi) - ny * math.sin(psi)
        forward = ex * math.sin(psi) + ny * math.cos(psi)
        cols.append(CAMERA.image_width_px / 2 + right / gsd)
        rows.append(CAMERA.image_height_px / 2 - forward / gsd)
    return min(cols), min(rows), max(cols), max(rows)


def _goto(gcs, east: float, north: float, alt: float) -> None:
    lon, lat = FRAME.inverse(east, north)
    gcs.mav.set_position_target_global_int_send(
        0,
        1,
        1,
        mavlink.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
        0b110111111000,
        round(lat * 1e7),
        round(lon * 1e7),
        alt,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    )


def _photo_at(make_sitl, connect, world, tmp_path, path_points, yaw_check):
    sitl = make_sitl(speedup=25, world=world, camera=CAMERA, photos_dir=tmp_path / "photos")
    gcs = connect(sitl)
    gcs.wait_gps()
    assert gcs.set_mode(4).result == 0 and gcs.arm().result == 0
    assert gcs.command(mavlink.MAV_CMD_NAV_TAKEOFF, 0, 0, 0, 0, 0, 0, 40).result == 0
    gcs.wait("GLOBAL_POSITION_INT", timeout=20, condition=lambda m: m.relative_alt > 39_000)
    for east, north in path_points:
        _goto(gcs, east, north, 40.0)
        lon, lat = FRAME.inverse(east, north)

        def arrived(m, lat=lat, lon=lon) -> bool:
            return (
                abs(m.lat / 1e7 - lat) * 111_320 < 0.3
                and abs(m.lon / 1e7 - lon) * 94_000 < 0.3
                and abs(m.vx) + abs(m.vy) < 10
            )

        gcs.wait("GLOBAL_POSITION_INT", timeout=30, condition=arrived)
    assert yaw_check(sitl.snapshot().yaw_deg)
    ack = gcs.command(mavlink.MAV_CMD_DO_DIGICAM_CONTROL, 0, 0, 0, 0, 1)
    assert ack.result == 0
    feedback = gcs.wait("CAMERA_FEEDBACK")
    records = sitl.wait_photos(timeout=20)
    assert len(records) == 1 and records[0].file is not None
    return feedback, records[0]


@pytest.mark.parametrize(
    ("path_points", "yaw_check"),
    [
        ([(10.0, 40.0), (10.0, 80.0)], lambda yaw: min(yaw, 360 - yaw) < 2),  # heading north
        ([(-40.0, 85.0), (5.0, 85.0)], lambda yaw: abs(yaw - 90) < 2),  # heading east
    ],
    ids=["north", "east"],
)
def test_photo_shows_the_square_where_the_footprint_predicts(
    make_sitl, connect, world, tmp_path, path_points, yaw_check
) -> None:
    feedback, record = _photo_at(make_sitl, connect, world, tmp_path, path_points, yaw_check)
    tag = read_geotag(record.file)
    assert tag is not None
    # EXIF position is where the vehicle was sent, and matches CAMERA_FEEDBACK.
    east, north = FRAME.forward(tag.lon, tag.lat)
    assert math.dist((east, north), path_points[-1]) < 1.0
    assert abs(feedback.lat / 1e7 - tag.lat) < 1e-6 and abs(feedback.lng / 1e7 - tag.lon) < 1e-6
    assert tag.relative_altitude_m == pytest.approx(40.0, abs=0.6)
    assert tag.altitude_m == pytest.approx(HOME[2] + 40.0, abs=0.6)
    image = np.asarray(Image.open(record.file))
    assert image.shape == (CAMERA.image_height_px, CAMERA.image_width_px, 3)
    found = _red_box(image)
    predicted = _predicted_box(tag.lat, tag.lon, tag.yaw_deg, tag.relative_altitude_m)
    gsd = CAMERA.gsd_m(tag.relative_altitude_m)
    assert found == pytest.approx(predicted, abs=2.5)  # within 2.5 px = 0.5 m
    # The square's size in pixels is its ground size over the camera's GSD.
    assert (found[2] - found[0]) * gsd == pytest.approx(SQUARE_SIZE, abs=1.0)


@pytest.mark.slow
def test_distance_triggered_photos_lie_on_the_route(make_sitl, connect, tmp_path, world) -> None:
    sitl = make_sitl(speedup=50, world=world, camera=CAMERA, photos_dir=tmp_path / "photos")
    gcs = connect(sitl)
    start, end = FRAME.inverse(0.0, 20.0), FRAME.inverse(0.0, 260.0)
    items = [
        (0, 16, 0, 0, 0, 0, *HOME),
        (3, 22, 0, 0, 0, 0, 0, 0, 40.0),
        (3, 16, 0, 0, 0, 0, start[1], start[0], 40.0),
        (2, 206, 20.0, 0, 1, 0, 0, 0, 0),
        (3, 16, 0, 0, 0, 0, end[1], end[0], 40.0),
        (2, 206, 0, 0, 0, 0, 0, 0, 0),
        (3, 20, 0, 0, 0, 0, 0, 0, 0),
    ]
    assert gcs.upload(items) == 0
    gcs.wait_gps()
    assert gcs.set_mode(3).result == 0 and gcs.arm().result == 0
    feedback = gcs.collect(
        ["CAMERA_FEEDBACK", "HEARTBEAT"],
        timeout=30,
        until=lambda m: m.get_type() == "HEARTBEAT" and not m.base_mode & 128,
    )
    feedback = [m for m in feedback if m.get_type() == "CAMERA_FEEDBACK"]
    records = sitl.wait_photos(timeout=20)  # renders may finish after the disarm
    assert len(records) == len(feedback) >= 10
    positions = []
    for record in records:
        tag = read_geotag(record.file)
        east, north = FRAME.forward(tag.lon, tag.lat)
        positions.append((east, north))
        assert abs(east) < 1.5, "photo off the flight line"
        assert tag.relative_altitude_m == pytest.approx(40.0, abs=1.0)
    norths = [north for _, north in positions]
    # p3=1: one photo on reaching the line's start (2 m acceptance radius), then every 20 m.
    assert norths[0] == pytest.approx(20.0, abs=2.5)
    assert norths[-1] >= 260.0 - 20.0 - 2.5  # stopped on reaching the end of the line
    assert all(b - a == pytest.approx(20.0, abs=1.0) for a, b in itertools.pairwise(norths))
    with (tmp_path / "photos" / "photos.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["index"]) for row in rows] == [r.index for r in records]
    assert all((tmp_path / "photos" / row["file"]).exists() for row in rows)


def test_without_a_world_raster_photos_are_logged_and_fed_back(
    make_sitl, connect, tmp_path
) -> None:
    sitl = make_sitl(speedup=25, camera=CAMERA, photos_dir=tmp_path / "log")
    gcs = connect(sitl)
    assert gcs.command(mavlink.MAV_CMD_DO_DIGICAM_CONTROL, 0, 0, 0, 0, 1).result == 0
    assert gcs.wait("CAMERA_FEEDBACK").img_idx == 1
    records = sitl.wait_photos(timeout=5)
    assert len(records) == 1 and records[0].file is None
    assert len((tmp_path / "log" / "photos.csv").read_text(encoding="utf-8").splitlines()) == 2


def test_ground_beyond_the_world_is_a_plain_field_not_black(world) -> None:
    """A photo over the world's edge: the off-world part takes the photo's mean colour (black
    would look like a burn scar to the classifier), the on-world part is the world itself."""
    from simulator.camera import render_photo

    east_edge_lon, _ = FRAME.inverse(300.0, 0.0)  # the world spans 300 m each side of home
    with rasterio.open(world) as dataset:
        photo = render_photo(
            dataset, CAMERA, lat=HOME[0], lon=east_edge_lon, height_m=40.0, yaw_deg=0.0
        )
        inside = render_photo(dataset, CAMERA, lat=HOME[0], lon=HOME[1], height_m=40.0, yaw_deg=0.0)
    w = photo.shape[1]
    left, right = photo[:, : w // 2 - 10], photo[:, w // 2 + 10 :]
    assert left.min() >= 60 and left.max() <= 120 and left.std() > 20  # the checkerboard
    assert len(np.unique(right.reshape(-1, 3), axis=0)) == 1  # one plain colour
    assert 60 < right[0, 0, 0] < 120 and photo.min() >= 60
    assert inside.min() >= 60  # and nothing changes away from the edge


def test_a_world_raster_must_be_a_real_tiff(world, tmp_path) -> None:
    """A VRT named .tif (XML that makes GDAL read the files or URLs it names) is refused, as is
    a file that is no raster at all; the error says which file."""
    import rasterio.shutil

    from simulator.camera import PhotoCamera
    from simulator.errors import WorldError

    vrt = tmp_path / "world.tif"
    rasterio.shutil.copy(world, vrt, driver="VRT")
    with pytest.raises(WorldError, match=r"world raster .*world\.tif is not a TIFF"):
        PhotoCamera(camera=CAMERA, world=vrt)
    (tmp_path / "notes.tif").write_text("not a raster")
    with pytest.raises(WorldError, match=r"notes\.tif"):
        PhotoCamera(camera=CAMERA, world=tmp_path / "notes.tif")
    with pytest.raises(WorldError, match="cannot be read"):
        PhotoCamera(camera=CAMERA, world=tmp_path / "missing.tif")
    assert PhotoCamera(camera=CAMERA, world=world).world == world  # the real GeoTIFF opens
