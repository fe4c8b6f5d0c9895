"""A raster's coordinates against its CRS: a file whose corners lie outside the valid range of
the CRS it names is refused saying what looks wrong, and a file without a CRS gets the hint its
coordinates honestly allow (degrees, a zone-prefixed Gauss-Kruger easting, or just metres)."""

from __future__ import annotations

import pytest
from rasterio.transform import from_origin

from gis.errors import CoordinateError
from gis.raster import check_extent, crs_hint

#: 0.1 m pixels from a UTM-like origin: the metres of QA's report.
METRES = from_origin(500000.0, 3500000.0, 0.1, 0.1)
#: 1e-6 degree pixels (about 10 cm) near Taizhou, Jiangsu.
DEGREES = from_origin(120.1, 32.5, 1e-6, 1e-6)
#: a CGCS2000 3-degree Gauss-Kruger easting with its zone number (40) in front.
ZONE_40 = from_origin(40_500_000.0, 3_600_000.0, 0.1, 0.1)


def test_metres_labelled_wgs84_are_refused_naming_the_file_and_the_numbers() -> None:
    with pytest.raises(CoordinateError) as caught:
        check_extent("EPSG:4326", METRES, 300, 200, name="GeoTIFF ortho.tif")
    text = str(caught.value)
    assert text.startswith(
        "GeoTIFF ortho.tif: its CRS EPSG:4326 (WGS 84) counts in degrees, but its corners run "
        "from x 500000 to 500030 and y 3499980 to 3500000, beyond longitude ±180 and latitude "
        "±90: the file is labelled with the wrong CRS; its coordinates look like metres"
    )
    assert "the coordinates alone cannot tell which CRS or zone" in text


def test_matching_crs_and_coordinates_pass() -> None:
    check_extent("EPSG:32650", METRES, 300, 200, name="utm.tif")
    check_extent("EPSG:4326", DEGREES, 300, 200, name="wgs84.tif")
    check_extent("EPSG:4549", from_origin(500000.0, 3600000.0, 0.1, 0.1), 300, 200, name="gk.tif")


def test_a_whole_earth_grid_in_degrees_passes() -> None:
    check_extent("EPSG:4326", from_origin(-180.0, 90.0, 0.25, 0.25), 1440, 720, name="globe.tif")


def test_southern_metres_in_a_northern_utm_zone_are_refused() -> None:
    south = from_origin(500000.0, -3600000.0, 0.1, 0.1)
    with pytest.raises(CoordinateError, match="lie outside the area its CRS EPSG:32650") as caught:
        check_extent("EPSG:32650", south, 100, 100, name="south.tif")
    assert "(longitude 114 to 120, latitude 0 to 84)" in str(caught.value)
    assert "metres of another projected CRS (another zone or hemisphere, say)" in str(caught.value)


def test_zone_prefixed_eastings_in_a_central_meridian_crs_name_their_zone() -> None:
    with pytest.raises(CoordinateError) as caught:
        check_extent("EPSG:4549", ZONE_40, 100, 100, name="gk40.tif")
    assert str(caught.value).endswith(
        "most likely EPSG:4528 (CGCS2000 / 3-degree Gauss-Kruger zone 40)"
    )


def test_degrees_labelled_utm_are_refused_with_the_degrees_hint() -> None:
    with pytest.raises(CoordinateError) as caught:
        check_extent("EPSG:4549", DEGREES, 100, 100, name="deg.tif")
    assert str(caught.value).endswith("most likely EPSG:4326 (WGS 84)")


@pytest.mark.parametrize(
    ("transform", "expected"),
    [
        (DEGREES, "its coordinates look like degrees of longitude and latitude: most likely "
                  "EPSG:4326 (WGS 84)"),
        (ZONE_40, "its coordinates look like metres whose eastings start with Gauss-Kruger zone "
                  "number 40: most likely EPSG:4528 (CGCS2000 / 3-degree Gauss-Kruger zone 40)"),
        (METRES, "its coordinates look like metres of a projected CRS, such as EPSG:32650 (WGS "
                 "84 / UTM zone 50N) or EPSG:4549 (CGCS2000 / 3-degree Gauss-Kruger CM 120E); "
                 "the coordinates alone cannot tell which CRS or zone: ask whoever made the "
                 "file"),
        # small numbers, but 5 cm pixels: a local metric grid, not degrees
        (from_origin(10.0, 20.0, 0.05, 0.05), "its coordinates look like metres of a projected"),
    ],
)  # fmt: skip
def test_the_hint_for_a_raster_without_crs_fits_its_coordinates(transform, expected) -> None:
    assert str(crs_hint(transform, 200, 100)).startswith(expected)


def test_a_small_rasters_footprint_text_tells_its_edges_apart() -> None:
    """QA: a demo world about 280 m wide read "longitude 120.14 to 120.14" (five significant
    digits); six decimals (about 0.1 m) tell its edges apart, as they do the home beside it."""
    from rasterio.transform import from_bounds

    from gis.raster import raster_footprint

    world = raster_footprint(
        "EPSG:4326", from_bounds(120.1385, 32.5088, 120.1415, 32.5112, 300, 240), 300, 240
    )
    assert world.text() == "latitude 32.508800 to 32.511200, longitude 120.138500 to 120.141500"
    assert not world.contains(120.139, 32.512)  # the README's home, just north of it
