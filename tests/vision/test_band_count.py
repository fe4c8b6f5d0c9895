"""Images without colour: grey (a 1-band GeoTIFF, a greyscale photo, grey and alpha) is
classified as grey copied into red, green and blue, with a warning that the model errs more on
grey; two bands that are not grey and alpha are refused with the reason, never as unreadable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp
from rasterio.transform import from_origin

from vision.infer import Classifier

SOLARIS = Path("/work/shared/data/geotiff/solaris_sample_geotiff.tif")


@pytest.fixture(scope="module")
def shipped() -> Classifier:
    return Classifier.load()


def _geotiff(path: Path, count: int, dtype: str = "uint16", grey: np.ndarray | None = None) -> Path:
    if grey is None:
        grey = np.full((300, 300), 900 if dtype == "uint16" else 120, dtype)
        grey[100:150, 100:150] = 4000 if dtype == "uint16" else 255
    data = np.repeat(grey[None].astype(dtype), count, axis=0)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=grey.shape[1],
        height=grey.shape[0],
        count=count,
        dtype=dtype,
        crs="EPSG:32650",
        transform=from_origin(500000.0, 3600000.0, 0.2, 0.2),
    ) as dst:
        dst.write(data)
    return path


def _scene(size: int = 300) -> np.ndarray:
    """A grey scene with structure (bright roofs on a darker field) for the shipped model."""
    rng = np.random.default_rng(3)
    grey = (90 + rng.normal(0, 12, (size, size))).clip(0, 255)
    grey[60:140, 80:200] = 230
    grey[180:260, 40:120] = 40
    return grey.astype(np.uint8)


def test_a_one_band_geotiff_is_classified_as_grey_in_all_three_bands(shipped, tmp_path) -> None:
    grey = _scene()
    one = shipped.classify_image(_geotiff(tmp_path / "pan.tif", 1, "uint8", grey))
    three = shipped.classify_image(_geotiff(tmp_path / "rgb.tif", 3, "uint8", grey))
    assert one.error is None and one.skipped is None
    assert (one.label, round(one.score, 4)) == (three.label, round(three.score, 4))
    assert [f.label for f in one.findings] == [f.label for f in three.findings]
    assert f"GeoTIFF {tmp_path / 'pan.tif'} has 1 band (uint8)" in one.warning
    assert "errs more often on grey imagery" in one.warning
    assert three.warning is None


def test_grey_and_alpha_is_grey_but_two_other_bands_are_refused(
    colour_classifier, tmp_path
) -> None:
    alpha = _geotiff(tmp_path / "grey-alpha.tif", 2, "uint8")
    with rasterio.open(alpha, "r+") as dst:
        dst.colorinterp = [ColorInterp.gray, ColorInterp.alpha]
    grey = colour_classifier.classify_image(alpha)
    assert grey.error is None and "has 2 bands (grey and alpha; uint8)" in grey.warning
    other = _geotiff(tmp_path / "two.tif", 2)
    result = colour_classifier.classify_image(other)
    assert result.skipped == "not colour"
    assert result.error == (
        f"GeoTIFF {other} has 2 bands (uint16) that are not grey and alpha: which colours they "
        "hold is unknown, so it is not classified"
    )
    assert result.findings == [] and result.label is None


def test_three_bands_are_still_classified(colour_classifier, tmp_path) -> None:
    result = colour_classifier.classify_image(_geotiff(tmp_path / "rgb.tif", 3, "uint8"))
    assert result.error is None and result.warning is None


@pytest.mark.skipif(not SOLARIS.is_file(), reason="the shared sample GeoTIFF is not here")
def test_the_panchromatic_sample_is_classified_with_a_warning(colour_classifier) -> None:
    result = colour_classifier.classify_image(SOLARIS)
    assert result.error is None and result.label is not None
    assert "has 1 band (uint16)" in result.warning


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
def test_plain_photos_without_colour_are_classified_with_a_warning(
    colour_classifier, tmp_path, name, mode, what
) -> None:
    path = _photo(tmp_path / name, mode)
    result = colour_classifier.classify_image(path)
    assert result.error is None and result.label == "background"
    assert result.warning.startswith(
        f"image {path} has {what}, not red, green and blue: classified as grey in all three"
    )


def test_a_16_bit_grey_photo_reads_as_its_8_bit_copy(shipped, tmp_path) -> None:
    """16-bit grey was clipped at 255 (all white) when converted to RGB."""
    from PIL import Image

    grey = _scene()
    Image.fromarray(grey).save(tmp_path / "grey8.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "grey16.png")
    eight = shipped.classify_image(tmp_path / "grey8.png")
    sixteen = shipped.classify_image(tmp_path / "grey16.png")
    assert sixteen.error is None
    assert (sixteen.label, round(sixteen.score, 3)) == (eight.label, round(eight.score, 3))


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
