"""LocalFrame: metric frames around Taizhou agree with the ellipsoid (pyproj.Geod)."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod
from shapely.geometry import Polygon

from gis.crs import LocalFrame
from gis.errors import CoordinateError

GEOD = Geod(ellps="WGS84")
FRAME = LocalFrame(120.1, 32.5)


def _points(count: int, spread_deg: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lon = 120.1 + rng.uniform(-spread_deg, spread_deg, count)
    lat = 32.5 + rng.uniform(-spread_deg, spread_deg, count)
    return lon, lat


def test_origin_maps_to_zero() -> None:
    x, y = FRAME.forward(120.1, 32.5)
    assert abs(x) < 1e-6 and abs(y) < 1e-6


def test_round_trip_is_below_a_millimetre() -> None:
    lon, lat = _points(500, 0.2, seed=1)
    x, y = FRAME.forward(lon, lat)
    lon2, lat2 = FRAME.inverse(x, y)
    _, _, error_m = GEOD.inv(lon, lat, lon2, lat2)
    assert np.max(error_m) < 1e-3


def test_distances_agree_with_geodesic_to_a_hundredth_of_a_percent() -> None:
    lon, lat = _points(400, 0.15, seed=2)
    x, y = FRAME.forward(lon, lat)
    planar = np.hypot(np.diff(x), np.diff(y))
    _, _, geodesic = GEOD.inv(lon[:-1], lat[:-1], lon[1:], lat[1:])
    keep = geodesic > 100.0
    assert np.max(np.abs(planar[keep] / geodesic[keep] - 1.0)) < 1e-4


def test_axes_point_east_and_north() -> None:
    x_east, y_east = FRAME.forward(120.11, 32.5)
    x_north, y_north = FRAME.forward(120.1, 32.51)
    assert x_east > 900 and abs(y_east) < 5
    assert y_north > 1000 and abs(x_north) < 1e-6


def test_polygon_round_trip_and_area(holed: Polygon) -> None:
    frame = LocalFrame.around(holed)
    local = frame.to_local(holed)
    back = frame.to_wgs84(local)
    assert back.equals_exact(holed, tolerance=1e-9)
    geodesic_area = abs(GEOD.geometry_area_perimeter(holed)[0])
    assert local.area == pytest.approx(geodesic_area, rel=1e-4)
    assert len(local.interiors) == 1


def test_around_centres_on_the_bounding_box(square: Polygon) -> None:
    frame = LocalFrame.around(square)
    assert (frame.lon0, frame.lat0) == pytest.approx((120.105, 32.505))


def test_bad_origin_and_empty_geometry_are_refused() -> None:
    with pytest.raises(CoordinateError):
        LocalFrame(32.5, 120.1)
    with pytest.raises(CoordinateError, match="empty"):
        LocalFrame.around(Polygon())


def test_a_hair_thin_spike_stays_valid_through_both_projections() -> None:
    """Rounding in a projection can fold a valid outline's sliver into a self-touch; the frame
    repairs that numerical noise so planning never meets an invalid polygon it did not get."""
    spike = Polygon(
        [
            (231.68004279338646, 1.7206973963582706e-174),
            (441.4455862947164, -5.002054280695467e-13),
            (-406.1922490657243, -0.7837464593217552),
            (-371.7701305172413, 49.10248153532144),
            (-366.1090356933247, 106.44243914129049),
            (398.64441245892846, 256.62975578693545),
            (255.35729330072363, 139.5023251299564),
            (197.57712305347619, 56.269199462313274),
            (206.40373215988637, 24.735695313847152),
            (459.1503185674097, 0.0004591503185676),
            (353.745617783582, 2.3960331444893078e-29),
        ]
    )
    assert spike.is_valid
    frame = LocalFrame(119.9, 32.5)
    there = frame.to_wgs84(spike)
    back = frame.to_local(there)
    assert there.is_valid and back.is_valid
    assert back.area == pytest.approx(spike.area, rel=1e-6)
