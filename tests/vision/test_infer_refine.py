"""Finding centres are re-measured on a finer tile grid, so they are not stuck at the coarse
grid's tile centres."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from gis.exif import GeoTag, write_jpeg
from vision.georef import PhotoGeoref
from vision.infer import Classifier

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
