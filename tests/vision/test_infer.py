"""Tiling, merging, GSD resampling, windows, georeferencing and bad inputs of the classifier."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from pyproj import Geod
from rasterio.transform import from_origin
from shapely.geometry import Point, box

from gis.camera import PRESETS
from gis.exif import GeoTag, write_jpeg
from gis.grids import Grid
from vision import infer
from vision.georef import PhotoGeoref, RasterGeoref, box_polygon
from vision.infer import TileScores, merge_tiles, tile_origins

GEOD = Geod(ellps="WGS84")


def test_tile_origins_cover_the_length_with_the_last_tile_flush() -> None:
    assert tile_origins(100, 128, 96) == [0]
    assert tile_origins(320, 128, 96) == [0, 96, 192]
    assert tile_origins(330, 128, 96) == [0, 96, 192, 202]


def test_merge_joins_touching_tiles_and_keeps_separate_ones_apart() -> None:
    origins = np.array([[0, 0], [96, 0], [500, 500], [0, 500]])
    scores = np.array([[0.9, 0, 0, 0.1], [0.7, 0, 0, 0.3], [0.8, 0, 0, 0.2], [0.1, 0, 0, 0.9]])
    merged = merge_tiles(
        TileScores(origins, scores, 128), ("a", "b", "c", "background"), threshold=0.5, scale=0.5
    )
    assert [(m[0], m[1]) for m in merged] == [("a", 0.9), ("a", 0.8)]
    assert merged[0][2] == (0.0, 0.0, 448.0, 256.0)  # union of two tiles, / scale
    assert merged[1][2] == (1000.0, 1000.0, 1256.0, 1256.0)


def _scene_with_squares(shape, squares, colour=(255, 0, 0)) -> np.ndarray:
    image = np.full((*shape, 3), 110, dtype=np.uint8)
    for x0, y0, size in squares:
        image[y0 : y0 + size, x0 : x0 + size] = colour
    return image


def test_findings_enclose_planted_boxes_in_input_pixels(colour_classifier) -> None:
    # 0.1 m/px input resampled to the 0.2 m working GSD: boxes come back in input pixels
    squares = [(100, 120, 40), (1300, 700, 60)]
    image = _scene_with_squares((1000, 1600), squares)
    findings = colour_classifier.classify_array(image, gsd_m=0.1)
    assert len(findings) == 2
    for finding, (x0, y0, size) in zip(
        sorted(findings, key=lambda f: f.box_px[0]), squares, strict=True
    ):
        assert finding.label == "illegal_construction"
        bx0, by0, bx1, by1 = finding.box_px
        assert bx0 <= x0 and by0 <= y0 and bx1 >= x0 + size and by1 >= y0 + size
        assert bx1 - bx0 <= 2 * 128 / 0.5 and by1 - by0 <= 2 * 128 / 0.5


def test_image_label_is_background_when_nothing_passes(colour_classifier, tmp_path) -> None:
    path = tmp_path / "plain.png"
    from PIL import Image

    Image.fromarray(_scene_with_squares((600, 800), [])).save(path)
    result = colour_classifier.classify_image(path)
    assert result.error is None and result.label == "background" and result.findings == []


def _expected_lonlat(lon, lat, yaw, right_m, forward_m):
    distance = math.hypot(right_m, forward_m)
    azimuth = yaw + math.degrees(math.atan2(right_m, forward_m))
    lon2, lat2, _ = GEOD.fwd(lon, lat, azimuth, distance)
    return lon2, lat2


@pytest.mark.parametrize("yaw", [0.0, 37.0, 90.0, 200.0])
def test_photo_pixel_georeferencing_within_a_pixel(yaw) -> None:
    georef = PhotoGeoref(120.1, 32.4, 0.0274, yaw, 5472, 3648)
    col, row = 4000.0, 500.0
    lon, lat = georef.to_lonlat([col], [row])
    right, forward = (col - 2736) * 0.0274, (1824 - row) * 0.0274
    lon2, lat2 = _expected_lonlat(120.1, 32.4, yaw, right, forward)
    _, _, error = GEOD.inv(lon[0], lat[0], lon2, lat2)
    assert error < 0.0274


def test_geotiff_pixel_georeferencing_matches_rasterio(shared_data) -> None:
    path = shared_data / "geotiff" / "deepforest_OSBS_029.tif"
    with rasterio.open(path) as dataset:
        georef = RasterGeoref(dataset.transform, dataset.crs.to_wkt())
        x, y = dataset.xy(123, 321)  # row, col -> pixel centre in the raster CRS
        crs = dataset.crs
    lon, lat = georef.to_lonlat([321.5], [123.5])
    from pyproj import Transformer

    lon2, lat2 = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
    _, _, error = GEOD.inv(lon[0], lat[0], lon2, lat2)
    assert error < georef.pixel_size_m
    assert georef.pixel_size_m == pytest.approx(0.1)
    assert box_polygon(georef, (0, 0, 400, 400)).area > 0


def test_twenty_megapixel_photo_is_located_from_exif_and_camera(colour_classifier, tmp_path):
    camera = PRESETS["phantom4pro"]
    height_m, yaw = 100.0, 90.0
    gsd = camera.gsd_m(height_m)
    square = (4200, 600, 180)  # x0, y0, size in photo pixels (≈ 5 m)
    image = _scene_with_squares((3648, 5472), [square])
    path = write_jpeg(
        tmp_path / "DJI_0001.JPG",
        image,
        GeoTag(32.4, 120.1, 120.0, relative_altitude_m=height_m, yaw_deg=yaw),
    )
    grid = Grid("G-7", box(120.0, 32.3, 120.2, 32.5))
    result = colour_classifier.classify_image(path, grids=[grid])
    assert result.error is None and result.label == "illegal_construction"
    (finding,) = result.findings
    cx, cy = square[0] + square[2] / 2, square[1] + square[2] / 2
    lon2, lat2 = _expected_lonlat(120.1, 32.4, yaw, (cx - 2736) * gsd, (1824 - cy) * gsd)
    _, _, error = GEOD.inv(*finding.centre, lon2, lat2)
    assert error < 128 * 0.2 / 2  # the centre lies within half a tile of the truth
    assert finding.polygon.contains(Point(lon2, lat2))
    assert finding.grid_id == "G-7"


def _write_geotiff(path, image, west, north, res, crs="EPSG:32650", block=256) -> None:
    h, w = image.shape[:2]
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=w,
        height=h,
        count=3,
        dtype="uint8",
        crs=crs,
        transform=from_origin(west, north, res, res),
        tiled=True,
        blockxsize=block,
        blockysize=block,
        compress="deflate",
    ) as dst:
        dst.write(np.moveaxis(image, -1, 0))


def test_geotiff_larger_than_the_budget_is_read_in_windows(
    colour_classifier, tmp_path, monkeypatch
) -> None:
    squares = [(200, 300, 50), (2600, 2500, 50)]
    image = _scene_with_squares((3000, 3000), squares)
    path = tmp_path / "ortho.tif"
    west, north, res = 500000.0, 3600000.0, 0.1
    _write_geotiff(path, image, west, north, res)
    reads = []
    real = infer.gis_raster.read_window_resampled

    def spy(dataset, bounds, out_shape, **kwargs):
        reads.append(out_shape)
        return real(dataset, bounds, out_shape, **kwargs)

    monkeypatch.setattr(infer.gis_raster, "read_window_resampled", spy)
    colour_classifier.max_window_px = 400
    result = colour_classifier.classify_image(path)
    assert result.error is None
    assert len(reads) > 4 and all(h <= 400 and w <= 400 for h, w in reads)
    assert max(h * w for h, w in reads) < 1500 * 1500  # never the whole raster at once
    from pyproj import Transformer

    to_wgs = Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True)
    assert len(result.findings) == 2
    for finding in result.findings:
        lon, lat = finding.centre
        hits = [s for s in squares if finding.box_px[0] <= s[0] + 25 <= finding.box_px[2]]
        ((x0, y0, size),) = hits
        tx, ty = west + (x0 + size / 2) * res, north - (y0 + size / 2) * res
        lon2, lat2 = to_wgs.transform(tx, ty)
        _, _, error = GEOD.inv(lon, lat, lon2, lat2)
        assert error < 128 * 0.2 / 2
        assert finding.polygon.contains(Point(lon2, lat2))


def test_real_geotiff_with_a_planted_square(colour_classifier, shared_data, tmp_path) -> None:
    source = shared_data / "geotiff" / "deepforest_OSBS_029.tif"
    with rasterio.open(source) as src:
        pixels = np.moveaxis(src.read([1, 2, 3]), 0, -1).copy()
        profile = src.profile
    pixels[200:260, 100:160] = (0, 0, 255)  # 6 m blue square
    path = tmp_path / "planted.tif"
    profile.update(driver="GTiff", count=3)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.moveaxis(pixels, -1, 0))
    result = colour_classifier.classify_image(path)
    assert result.label == "illegal_fishing"
    with rasterio.open(path) as ds:
        x, y = ds.xy(230, 130)
        from pyproj import Transformer

        lon2, lat2 = Transformer.from_crs(ds.crs, "EPSG:4326", always_xy=True).transform(x, y)
    assert result.findings[0].polygon.contains(Point(lon2, lat2))


@pytest.mark.parametrize("content", [b"", b"not an image at all", None, "truncated"])
def test_bad_files_are_reported_not_raised(colour_classifier, tmp_path, content) -> None:
    path = tmp_path / "bad.jpg"
    if content == "truncated":
        write_jpeg(path, _scene_with_squares((400, 600), []), GeoTag(32.0, 120.0, 50.0))
        path.write_bytes(path.read_bytes()[:700])
    elif content is not None:
        path.write_bytes(content)
    result = colour_classifier.classify_image(path)
    assert result.error is not None and str(path) in result.error
    # not checked, so not "background": a script counting labels must not see it as clean
    assert result.label is None and result.score is None and result.findings == []
    assert result.to_dict()["label"] is None and result.to_dict()["score"] is None


@pytest.mark.parametrize("mask_kind", ["nodata", "alpha"])
def test_orthomosaic_no_data_collar_is_not_a_burn_scar(tmp_path, mask_kind) -> None:
    """An orthomosaic's black collar (nodata value or alpha 0) is not ground: the shipped model
    calls black beside grass a burn scar, so no-data pixels must never reach it as black."""
    rng = np.random.default_rng(3)
    h = w = 1200  # 5 cm/px: 60 m, about five working tiles a side
    grass = (np.array([110, 150, 60]) + rng.integers(-12, 12, (h, w, 3))).astype(np.uint8)
    rows, cols = np.mgrid[0:h, 0:w]
    valid = (rows + cols > 500) & (rows + cols < 1900) & (rows - cols < 700) & (cols - rows < 700)
    image = np.where(valid[..., None], grass, 0).astype(np.uint8)
    path = tmp_path / f"ortho_{mask_kind}.tif"
    profile = dict(
        driver="GTiff", width=w, height=h, dtype="uint8", crs="EPSG:32650",
        transform=from_origin(500000.0, 3600000.0, 0.05, 0.05),
    )  # fmt: skip
    if mask_kind == "nodata":
        with rasterio.open(path, "w", count=3, nodata=0, **profile) as dst:
            dst.write(np.moveaxis(image, -1, 0))
    else:
        with rasterio.open(path, "w", count=4, **profile) as dst:
            dst.write(np.moveaxis(image, -1, 0), [1, 2, 3])
            dst.write((valid * 255).astype(np.uint8), 4)
    result = infer.Classifier.load().classify_image(path)
    assert result.error is None
    assert result.findings == [], [(f.label, round(f.score, 2)) for f in result.findings]


def test_a_vrt_named_tif_is_not_opened_through_gdal(colour_classifier, tmp_path) -> None:
    """A .tif that is really a GDAL VRT (XML naming other files) must not be read: GDAL would
    follow it to whatever file or URL it names."""
    target = tmp_path / "secret.tif"
    image = _scene_with_squares((300, 300), [(100, 100, 40)])
    profile = dict(driver="GTiff", width=300, height=300, count=3, dtype="uint8")
    transform = from_origin(700000, 3600000, 0.2, 0.2)
    with rasterio.open(target, "w", crs="EPSG:32650", transform=transform, **profile) as dst:
        dst.write(np.moveaxis(image, -1, 0))
    vrt = tmp_path / "flight.tif"
    rasterio.shutil.copy(target, vrt, driver="VRT")
    assert vrt.read_bytes().startswith(b"<VRTDataset")
    result = colour_classifier.classify_image(vrt)
    assert result.findings == [] and result.error is not None
    assert colour_classifier.classify_image(target).findings  # the file it names has a finding


def _square_tiff(path, transform, crs=None):
    """A 1200 px square TIFF of grey with a 40 px pure-red square; ``transform`` as given."""
    pixels = np.full((1200, 1200, 3), 128, np.uint8)
    pixels[500:540, 700:740] = (255, 0, 0)
    profile = dict(driver="GTiff", width=1200, height=1200, count=3, dtype="uint8")
    with rasterio.open(path, "w", **profile, crs=crs, transform=transform) as dst:
        dst.write(np.moveaxis(pixels, -1, 0))
    return path


def test_a_geotiff_without_crs_is_read_at_its_metric_pixel_size(
    colour_classifier, tmp_path, monkeypatch
) -> None:
    """A transform in metres gives the scale even without a CRS: the file is read as its
    CRS-labelled twin is (same working size, same findings), and the warning says so."""
    sizes: list[tuple[int, int]] = []
    real = infer._decode
    monkeypatch.setattr(infer, "_decode", lambda path, size: sizes.append(size) or real(path, size))
    transform = from_origin(231192.45, 3600638.75, 0.05, 0.05)
    bare = colour_classifier.classify_image(_square_tiff(tmp_path / "bare.tif", transform))
    given = colour_classifier.classify_image(tmp_path / "bare.tif", gsd_m=0.05)
    assert sizes == [(300, 300), (300, 300)]  # 0.05 m/px read at the 0.2 m working GSD
    placed = colour_classifier.classify_image(
        _square_tiff(tmp_path / "placed.tif", transform, "EPSG:32650")
    )
    assert bare.error is None and bare.label == placed.label == "illegal_construction"
    assert [f.box_px for f in bare.findings] == [f.box_px for f in placed.findings]
    assert [f.box_px for f in bare.findings] == [f.box_px for f in given.findings]
    assert f"GeoTIFF {tmp_path / 'bare.tif'} has a geotransform but no CRS" in bare.warning
    assert "read as a plain picture at 0.05 m/px, its geotransform's pixel size read as" in (
        bare.warning
    )
    assert "at the given GSD of 0.05 m/px" in given.warning and "--gsd" not in given.warning


@pytest.mark.parametrize(
    ("transform", "kind"),
    [
        (from_origin(120.1, 32.5, 1e-6, 1e-6), "degrees"),
        (rasterio.Affine(1, 0, 0, 0, -1, 1200), "pixels"),
    ],
    ids=["degrees", "unit-pixels"],
)
def test_a_geotiff_without_crs_or_metres_asks_for_the_gsd(
    colour_classifier, tmp_path, monkeypatch, transform, kind
) -> None:
    """Degrees or a picture's own pixel grid give no scale: it is read as a plain picture and
    the warning asks for --gsd."""
    sizes: list[tuple[int, int]] = []
    real = infer._decode
    monkeypatch.setattr(infer, "_decode", lambda path, size: sizes.append(size) or real(path, size))
    path = _square_tiff(tmp_path / "bare.tif", transform)
    result = colour_classifier.classify_image(path)
    assert result.error is None and result.label == "illegal_construction"
    assert sizes == [(1200, 1200)]
    assert f"of unknown scale, as its pixel size is in {kind}: give its ground sample " in (
        result.warning
    )
    assert "(gridpatrol classify --gsd CM)" in result.warning


def test_a_result_has_a_label_exactly_when_it_has_no_error() -> None:
    from vision.infer import ImageResult

    assert ImageResult.unreadable("x.jpg", "x.jpg: broken").to_dict() == {
        "image": "x.jpg",
        "label": None,
        "score": None,
        "findings": [],
        "error": "x.jpg: broken",
        "skipped": "unreadable",
    }
    with pytest.raises(ValueError, match="exactly when it has no error"):
        ImageResult("x.jpg", "background", 0.0, [], "x.jpg: broken")
    with pytest.raises(ValueError, match="exactly when it has no error"):
        ImageResult("x.jpg", None, None)


def test_a_geotiff_far_from_every_grid_is_warned_about(colour_classifier, tmp_path) -> None:
    """Metres labelled EPSG:3857 land at about 2 E, 31 N; classified against grids near where
    they were flown (UTM 51N), the result says the file lies far from them; labelled right,
    or without grids to compare with, it says nothing."""
    transform = from_origin(231192.45, 3600638.75, 0.05, 0.05)
    wrong = _square_tiff(tmp_path / "wrong.tif", transform, "EPSG:3857")
    right = _square_tiff(tmp_path / "right.tif", transform, "EPSG:32651")
    grid = Grid("TZ-1", box(120.10, 32.49, 120.11, 32.50))  # within 5 km of the flight
    warned = colour_classifier.classify_image(wrong, grids=[grid])
    assert warned.error is None and warned.label == "illegal_construction"
    assert warned.warning.startswith(f"GeoTIFF {wrong} lies 1")
    km = int(warned.warning.split(" lies ")[1].split(" km ")[0].replace(",", ""))
    assert 10_000 < km < 12_000  # Jiangsu to the Sahara
    assert "by its CRS EPSG:3857): if it was flown over one of them, that CRS is wrong" in (
        warned.warning
    )
    assert colour_classifier.classify_image(right, grids=[grid]).warning is None
    assert colour_classifier.classify_image(wrong).warning is None  # nothing to compare with
