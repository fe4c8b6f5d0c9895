"""Images whose headers declare absurd sizes, and folders with nothing readable: each is reported
and skipped (or refused as a whole), never decoded and never a traceback.

The bad files are tiny: a real 16×16 JPEG or PNG whose header is patched to claim a huge size.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.transform import from_origin

from tests.vision.conftest import ColourRule
from vision.errors import ImageReadError, VisionError
from vision.evaluate import evaluate_folder
from vision.infer import MAX_PHOTO_PIXELS, Classifier, pillow_limit_lifted
from vision.models import WeightsRecord

ROOT = Path(__file__).resolve().parents[2]


def patched_jpeg(path: Path, width: int, height: int) -> Path:
    """A 16×16 JPEG whose SOF0 segment claims `width`×`height`."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 120, 60)).save(buffer, "JPEG")
    data = bytearray(buffer.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    path.write_bytes(data)
    return path


def patched_png(path: Path, width: int, height: int) -> Path:
    """A 16×16 PNG whose IHDR claims `width`×`height` (with a correct checksum)."""
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (90, 120, 60)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(data)
    return path


def plain_png(path: Path, size: tuple[int, int] = (200, 150)) -> Path:
    Image.fromarray(np.full((size[1], size[0], 3), 120, np.uint8)).save(path)
    return path


@pytest.mark.parametrize("make", [patched_jpeg, patched_png])
def test_a_decompression_bomb_is_reported_not_raised(
    colour_classifier, tmp_path, make, decoded
) -> None:
    path = make(tmp_path / f"bomb{'.jpg' if make is patched_jpeg else '.png'}", 30000, 30000)
    assert path.stat().st_size < 1000
    result = colour_classifier.classify_image(path)
    assert result.error is not None
    assert str(path) in result.error and "too large" in result.error
    assert result.findings == [] and decoded == []


@pytest.mark.parametrize("make", [patched_jpeg, patched_png])
def test_a_bomb_under_the_lifted_pillow_limit_meets_the_classifier_limit(
    colour_classifier, tmp_path, make, decoded
) -> None:
    path = make(tmp_path / f"bomb{'.jpg' if make is patched_jpeg else '.png'}", 30000, 30000)
    with pillow_limit_lifted():
        result = colour_classifier.classify_image(path)
    assert result.error == (
        f"image {path} is 30000x30000 pixels (900,000,000), more than the "
        f"{MAX_PHOTO_PIXELS:,} allowed; give a larger orthomosaic as a georeferenced GeoTIFF"
    )
    assert decoded == []


def test_an_image_between_the_limit_and_twice_it_is_refused_undecoded(
    colour_classifier, tmp_path, decoded
) -> None:
    """Pillow only warns between its limit and twice it; the classifier refuses from the header."""
    path = patched_png(tmp_path / "big.png", 25000, 20000)  # 500 MP, under 2 × 400 MP
    with pillow_limit_lifted():
        result = colour_classifier.classify_image(path)
    assert result.error is not None
    assert "25000x20000" in result.error and f"{MAX_PHOTO_PIXELS:,} allowed" in result.error
    assert decoded == []


def test_the_pixel_limit_is_an_option_and_inclusive(tmp_path, decoded) -> None:
    path = plain_png(tmp_path / "plain.png", (200, 150))
    record = WeightsRecord(name="colour-rule")
    at_limit = Classifier(ColourRule(record), record, max_pixels=200 * 150)
    assert at_limit.classify_image(path).error is None
    below = Classifier(ColourRule(record), record, max_pixels=200 * 150 - 1)
    error = below.classify_image(path).error
    assert error is not None and "200x150 pixels (30,000), more than the 29,999 allowed" in error
    assert decoded == ["plain.png"]
    with pytest.raises(VisionError, match="at least 1"):
        Classifier(ColourRule(record), record, max_pixels=0)


def test_a_geotiff_larger_than_the_pixel_limit_is_still_classified(
    colour_classifier, tmp_path
) -> None:
    """Orthomosaics are read window by window: the whole-image limit does not apply."""
    image = np.full((600, 600, 3), 120, np.uint8)
    image[100:150, 100:150] = (0, 0, 255)
    path = tmp_path / "ortho.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=600,
        height=600,
        count=3,
        dtype="uint8",
        crs="EPSG:32650",
        transform=from_origin(500000.0, 3600000.0, 0.1, 0.1),
    ) as dst:
        dst.write(np.moveaxis(image, -1, 0))
    colour_classifier.max_pixels = 100 * 100
    result = colour_classifier.classify_image(path)
    assert result.error is None
    assert result.label == "illegal_fishing"


def test_a_plain_tiff_over_the_limit_is_refused(colour_classifier, tmp_path) -> None:
    path = tmp_path / "plain.tif"
    Image.fromarray(np.full((300, 300, 3), 120, np.uint8)).save(path)
    colour_classifier.max_pixels = 100 * 100
    error = colour_classifier.classify_image(path).error
    assert error is not None and "300x300 pixels" in error


def test_pillow_limit_lifted_restores_the_limit_even_after_an_error() -> None:
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(RuntimeError), pillow_limit_lifted():
        assert Image.MAX_IMAGE_PIXELS is None
        raise RuntimeError("boom")
    assert before == Image.MAX_IMAGE_PIXELS


def test_importing_vision_infer_leaves_pillows_limit_alone() -> None:
    script = (
        "from PIL import Image; before = Image.MAX_IMAGE_PIXELS; import vision.infer; "
        "print(before == Image.MAX_IMAGE_PIXELS)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def _labelled(root: Path) -> Path:
    (root / "background").mkdir(parents=True)
    return root / "background"


def test_evaluating_a_folder_with_no_readable_image_raises(colour_classifier, tmp_path) -> None:
    folder = _labelled(tmp_path / "eval")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "garbage.jpg").write_bytes(b"not a picture")
    with pytest.raises(ImageReadError, match=r"none of the 2 images under .* could be classified"):
        evaluate_folder(colour_classifier, tmp_path / "eval")


def test_evaluating_skips_bombs_and_scores_the_rest(colour_classifier, tmp_path) -> None:
    folder = _labelled(tmp_path / "eval")
    plain_png(folder / "good.png")
    patched_jpeg(folder / "bomb.jpg", 30000, 30000)
    patched_png(folder / "big.png", 25000, 20000)
    result = evaluate_folder(colour_classifier, tmp_path / "eval")
    assert sorted(Path(p).name for p, _ in result.errors) == ["big.png", "bomb.jpg"]
    assert result.metrics.support["background"] == 1


def test_a_bomb_in_training_data_is_a_dataset_error(tmp_path) -> None:
    from vision.datasets import load_tile
    from vision.errors import DatasetError

    with pytest.raises(DatasetError, match=r"huge\.png is not readable"):
        load_tile(patched_png(tmp_path / "huge.png", 30000, 30000), 64)
