"""GeoTIFFs of fewer than three bands (panchromatic, single- or two-band) are refused with a
clear reason, never classified as if they were colour."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

SOLARIS = Path("/work/shared/data/geotiff/solaris_sample_geotiff.tif")


def _geotiff(path: Path, count: int, dtype: str = "uint16") -> Path:
    data = np.full((count, 300, 300), 900 if dtype == "uint16" else 120, dtype)
    data[:, 100:150, 100:150] = 4000 if dtype == "uint16" else 255
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=300,
        height=300,
        count=count,
        dtype=dtype,
        crs="EPSG:32650",
        transform=from_origin(500000.0, 3600000.0, 0.2, 0.2),
    ) as dst:
        dst.write(data)
    return path


@pytest.mark.parametrize(("count", "bands"), [(1, "1 band"), (2, "2 bands")])
def test_fewer_than_three_bands_is_refused(colour_classifier, tmp_path, count, bands) -> None:
    path = _geotiff(tmp_path / f"pan{count}.tif", count)
    result = colour_classifier.classify_image(path)
    assert result.error == (
        f"GeoTIFF {path} has {bands} (uint16; e.g. panchromatic), not red, green and blue: the "
        "model classifies colour (RGB) imagery only, so it is not classified"
    )
    assert result.findings == []


def test_three_bands_are_still_classified(colour_classifier, tmp_path) -> None:
    result = colour_classifier.classify_image(_geotiff(tmp_path / "rgb.tif", 3, "uint8"))
    assert result.error is None


@pytest.mark.skipif(not SOLARIS.is_file(), reason="the shared sample GeoTIFF is not here")
def test_the_panchromatic_sample_yields_no_findings(colour_classifier) -> None:
    result = colour_classifier.classify_image(SOLARIS)
    assert result.error is not None and "has 1 band (uint16" in result.error
    assert result.findings == []


def _photo(path: Path, mode: str) -> Path:
    """A plain image (no georeference) in a Pillow mode, with a bright square as a target."""
    from PIL import Image

    data = np.full((300, 300), 120, np.uint8)
    data[100:150, 100:150] = 255
    grey = Image.fromarray(data)
    image = {"L": grey, "LA": Image.merge("LA", (grey, grey.point(lambda _: 255)))}.get(
        mode, grey.convert(mode)
    )
    image.save(path)
    return path


@pytest.mark.parametrize(
    ("name", "mode", "what"),
    [
        ("grey.png", "L", "1 band (greyscale)"),
        ("grey.jpg", "L", "1 band (greyscale)"),
        ("grey-alpha.png", "LA", "2 bands (greyscale and alpha)"),
        ("grey16.tif", "I;16", "1 band (greyscale)"),
    ],
)
def test_plain_photos_without_colour_are_refused_like_geotiffs(
    colour_classifier, tmp_path, decoded, name, mode, what
) -> None:
    """The same rule and reason as for GeoTIFFs, given before the photo is decoded."""
    path = _photo(tmp_path / name, mode)
    result = colour_classifier.classify_image(path)
    assert result.error == (
        f"image {path} has {what}, not red, green and blue: the model classifies colour (RGB) "
        "imagery only, so it is not classified"
    )
    assert result.findings == [] and decoded == []


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "CMYK"])
def test_colour_photos_are_still_classified(colour_classifier, tmp_path, mode) -> None:
    path = tmp_path / f"colour-{mode}.{'jpg' if mode == 'CMYK' else 'png'}"
    from PIL import Image

    rgb = np.full((300, 300, 3), 120, np.uint8)
    rgb[100:150, 100:150] = (0, 0, 255)
    Image.fromarray(rgb).convert(mode).save(path)
    result = colour_classifier.classify_image(path)
    assert result.error is None
    assert result.label == "illegal_fishing"  # the blue square, seen in colour
