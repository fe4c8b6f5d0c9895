"""Finding centres are re-measured on a finer tile grid, so they are not stuck at the coarse
grid's tile centres."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

import vision.infer
from gis.exif import GeoTag, write_jpeg
from tests.vision.conftest import ColourCells, ColourRule
from vision.georef import PhotoGeoref
from vision.infer import Classifier
from vision.models import WeightsRecord

GEOD = Geod(ellps="WGS84")
LON, LAT = 120.14, 32.51


def _errors_m(classifier: Classifier, tmp_path, squares) -> list[float]:
    """Centre errors (m) of one square per photo at 0.2 m/px, north up."""
    errors = []
    for k, (cx, cy) in enumerate(squares):
        image = np.full((600, 900, 3), 110, dtype=np.uint8)
        image[cy - 15 : cy + 15, cx - 15 : cx + 15] = (255, 0, 0)  # 6 m
        path = write_jpeg(
            tmp_path / f"p{k}.jpg", image, GeoTag(LAT, LON, 80.0, relative_altitude_m=60.0)
        )
        result = classifier.classify_image(path, gsd_m=0.2)
        (finding,) = result.findings
        lon, lat = PhotoGeoref(LON, LAT, 0.2, 0.0, 900, 600).to_lonlat([cx], [cy])
        errors.append(GEOD.inv(*finding.centre, float(lon[0]), float(lat[0]))[2])
    return errors


def test_refined_centres_beat_the_coarse_grid(colour_classifier, tmp_path) -> None:
    rng = np.random.default_rng(3)
    # a tile (25.6 m = 128 px) from the edges: near an edge the tiles around an object are cut
    # off on one side, which biases coarse and refined centres alike
    xs, ys = rng.integers(128, 772, 8), rng.integers(128, 472, 8)
    squares = [(int(x), int(y)) for x, y in zip(xs, ys, strict=True)]
    refined = _errors_m(colour_classifier, tmp_path, squares)
    coarse_classifier = Classifier(
        colour_classifier.model, colour_classifier.record, threshold=0.5, refine_stride_px=0
    )
    coarse = _errors_m(coarse_classifier, tmp_path, squares)
    assert max(refined) < 1.5
    assert np.mean(refined) < np.mean(coarse) / 2


def test_refine_stride_must_not_be_negative(colour_classifier) -> None:
    from vision.errors import VisionError

    with pytest.raises(VisionError, match="refine stride"):
        Classifier(colour_classifier.model, colour_classifier.record, refine_stride_px=-1)


def _square_errors_m(classifier: Classifier, tmp_path, squares, side_px: int) -> list[float]:
    """Centre errors (m) of one red square of `side_px` per 1400×1000 photo at 0.2 m/px."""
    errors = []
    half = side_px // 2
    for k, (cx, cy) in enumerate(squares):
        image = np.full((1000, 1400, 3), 110, dtype=np.uint8)
        image[cy - half : cy + half, cx - half : cx + half] = (255, 0, 0)
        path = write_jpeg(
            tmp_path / f"big{k}.jpg", image, GeoTag(LAT, LON, 80.0, relative_altitude_m=60.0)
        )
        (finding,) = classifier.classify_image(path, gsd_m=0.2).findings
        lon, lat = PhotoGeoref(LON, LAT, 0.2, 0.0, 1400, 1000).to_lonlat([cx], [cy])
        errors.append(GEOD.inv(*finding.centre, float(lon[0]), float(lat[0]))[2])
    return errors


def test_objects_larger_than_a_tile_are_placed_from_the_score_map(tmp_path, monkeypatch) -> None:
    # a 60 m square (300 px, over two tiles) needs hundreds of fine tiles; their scores come
    # from one pass of the model over the photo and place it as scoring each tile would
    record = WeightsRecord(name="colour-cells")
    mapped = Classifier(ColourCells(record), record, threshold=0.5)
    tile_by_tile = Classifier(ColourRule(record), record, threshold=0.5)
    coarse = Classifier(ColourRule(record), record, threshold=0.5, refine_stride_px=0)
    passes = []
    real = vision.infer.tile_score_map

    def counted(*args, **kwargs):
        mapped = real(*args, **kwargs)
        passes.extend([mapped] if mapped is not None else [])
        return mapped

    monkeypatch.setattr(vision.infer, "tile_score_map", counted)
    rng = np.random.default_rng(5)
    xs, ys = rng.integers(300, 1100, 6), rng.integers(300, 700, 6)
    squares = [(int(x), int(y)) for x, y in zip(xs, ys, strict=True)]
    from_map = _square_errors_m(mapped, tmp_path, squares, 300)
    assert len(passes) == len(squares)  # one pass per photo, not per tile
    exact = _square_errors_m(tile_by_tile, tmp_path, squares, 300)
    assert len(passes) == len(squares)  # a model without `features` scores tile by tile
    rough = _square_errors_m(coarse, tmp_path, squares, 300)
    assert np.allclose(from_map, exact, atol=0.05)
    assert max(from_map) < 2.0
    assert np.mean(from_map) < np.mean(rough) / 2
    # an object larger than the window budget is scored tile by tile (one pass would need
    # too much memory), and placed the same
    small_windows = Classifier(ColourCells(record), record, threshold=0.5, max_window_px=256)
    assert np.allclose(_square_errors_m(small_windows, tmp_path, squares, 300), exact, atol=0.05)
    assert len(passes) == len(squares)


def test_score_map_matches_tile_scores_where_the_tile_is_the_whole_image() -> None:
    from vision.models import build_model, score_tiles, tile_score_map

    record = WeightsRecord(name="untrained")
    model = build_model().eval()
    rng = np.random.default_rng(1)
    tile = rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)
    mapped = tile_score_map(model, tile, record)
    assert mapped is not None and mapped.stride == 32 and mapped.scores.shape == (1, 1, 4)
    assert np.allclose(mapped.scores[0, 0], score_tiles(model, tile[None], record)[0], atol=1e-5)
    # a 200×300 image: origins every 32 px, the last row and column flush with the edges
    assert tile_score_map(
        model, rng.integers(0, 255, (200, 300, 3), dtype=np.uint8), record
    ).scores.shape == (4, 7, 4)
    assert tile_score_map(model, tile[:100], record) is None  # smaller than a tile
    assert tile_score_map(ColourRule(record), tile, record) is None  # not features → pool → linear
