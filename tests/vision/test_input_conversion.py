"""One picture, one answer: GeoTIFFs of any bit depth are brought to 8 bits by their range
convention, and images too small or too coarse to show anything are skipped with that reason,
never called unreadable nor given a verdict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image

from vision.evaluate import classification_metrics, evaluate_folder, format_metrics
from vision.infer import Classifier

from .conftest import SHARED_DATA

SJER = SHARED_DATA / "geotiff" / "deepforest_SJER_image_477.tif"
COARSE = SHARED_DATA / "geotiff" / "rasterio_RGB.byte.tif"


@pytest.fixture(scope="module")
def shipped() -> Classifier:
    return Classifier.load()


def _copy(source: Path, path: Path, convert, dtype: str, **options) -> Path:
    with rasterio.open(source) as src:
        data, profile = src.read(), src.profile
    profile.update(dtype=dtype, **options)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(convert(data.astype(np.float64)).astype(dtype))
    return path


def _summary(result) -> list[tuple[str, float]]:
    return sorted((f.label, f.score) for f in result.findings)


@pytest.mark.skipif(not SJER.is_file(), reason="the shared DeepForest tile is not here")
@pytest.mark.parametrize(
    ("dtype", "convert", "options"),
    [
        ("uint16", lambda v: v * 257, {}),
        ("uint16", lambda v: np.round(v * 4095 / 255), {"nbits": 12}),
        ("float32", lambda v: v / 255, {}),
    ],
    ids=["uint16-full", "uint16-12bit-tagged", "float32-0-1"],
)
def test_the_same_picture_at_another_bit_depth_gives_the_same_findings(
    shipped, tmp_path, dtype, convert, options
) -> None:
    """QA: as uint16 it gained a straw_burning finding; as float 0–1 it read as background."""
    original = shipped.classify_image(SJER)
    other = shipped.classify_image(_copy(SJER, tmp_path / "copy.tif", convert, dtype, **options))
    assert other.error is None and original.error is None
    assert other.label == original.label
    assert [label for label, _ in _summary(other)] == [label for label, _ in _summary(original)]
    for (_, a), (_, b) in zip(_summary(other), _summary(original), strict=True):
        assert a == pytest.approx(b, abs=0.02)
    assert other.score == pytest.approx(original.score, abs=0.02)


@pytest.mark.parametrize("name", ["one.jpg", "one.png", "strip.png"])
def test_an_image_too_small_to_show_anything_is_skipped(colour_classifier, tmp_path, name) -> None:
    """QA: a 1x1 picture got "background 0.9752"."""
    size = (400, 15) if name == "strip.png" else (1, 1)
    path = tmp_path / name
    Image.new("RGB", size, (90, 120, 60)).save(path)
    result = colour_classifier.classify_image(path)
    assert result.skipped == "too small" and result.label is None and result.score is None
    assert result.error == (
        f"image {path} is {size[0]}x{size[1]} pixels, too small to classify: each side needs "
        "at least 16 px (the model sees 128x128 px tiles and an image is stretched at most 8x "
        "to fill one)"
    )


def test_an_image_of_the_smallest_size_is_classified(colour_classifier, tmp_path) -> None:
    path = tmp_path / "chip.png"
    Image.new("RGB", (16, 16), (0, 0, 255)).save(path)
    result = colour_classifier.classify_image(path)
    assert result.error is None and result.label == "illegal_fishing"


def test_a_geotiff_covering_too_little_ground_is_skipped(colour_classifier, tmp_path) -> None:
    from rasterio.transform import from_origin

    path = tmp_path / "chip.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=100,
        height=10,
        count=3,
        dtype="uint8",
        crs="EPSG:32650",
        transform=from_origin(500000.0, 3600000.0, 0.2, 0.2),
    ) as dst:
        dst.write(np.full((3, 10, 100), 120, np.uint8))
    result = colour_classifier.classify_image(path)
    assert result.skipped == "too small"
    assert "covers 20 x 2 m, too small to classify: each side needs at least 3.2 m" in (
        result.error
    )


@pytest.mark.skipif(not COARSE.is_file(), reason="the shared rasterio sample is not here")
def test_a_coarse_geotiff_is_skipped_as_too_coarse(colour_classifier) -> None:
    result = colour_classifier.classify_image(COARSE)
    assert result.skipped == "too coarse" and result.to_dict()["skipped"] == "too coarse"
    assert "300 m/px is far coarser than the model's working GSD" in result.error


def test_evaluate_skips_a_tiny_image_instead_of_scoring_it(colour_classifier, tmp_path) -> None:
    """QA: a 1x1 illegal_construction sample was counted as predicted background."""
    folder = tmp_path / "eval"
    (folder / "background").mkdir(parents=True)
    (folder / "illegal_construction").mkdir()
    Image.new("RGB", (200, 200), (90, 120, 60)).save(folder / "background" / "field.png")
    Image.new("RGB", (1, 1), (90, 120, 60)).save(folder / "illegal_construction" / "one.png")
    result = evaluate_folder(colour_classifier, folder)
    assert [Path(p).name for p, _ in result.errors] == ["one.png"]
    assert "too small to classify" in result.errors[0][1]
    assert result.metrics.support["illegal_construction"] == 0
    assert result.metrics.accuracy == 1.0


def test_macro_f1_counts_a_class_with_only_false_alarms() -> None:
    """QA: straw_burning predicted once with no straw_burning images was left out of the mean,
    which read 0.917 instead of scikit-learn's 0.611."""
    # illegal_construction 0, straw_burning 1, background 3
    m = classification_metrics([0, 0, 3, 3], [0, 1, 3, 3])
    assert m.f1["straw_burning"] == 0.0
    assert m.macro_f1 == pytest.approx((2 / 3 + 0 + 1) / 3)
    table = format_metrics(m)
    assert "macro-F1 0.556 (mean over illegal_construction, straw_burning, background)" in table
    assert "no ground truth for straw_burning: only false alarms, F1 0 in the average" in table
    assert m.to_dict()["macro_f1_classes"] == [
        "illegal_construction",
        "straw_burning",
        "background",
    ]
