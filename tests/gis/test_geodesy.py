"""Ground distances the flight watchers use (home, rally points, landing place)."""

import pytest

from gis.geodesy import ground_distance_m


def test_a_degree_of_latitude_is_111_km_and_longitude_shrinks_with_latitude() -> None:
    assert ground_distance_m((0.0, 120.0), (1.0, 120.0)) == pytest.approx(111_195, rel=1e-4)
    at_60 = ground_distance_m((60.0, 120.0), (60.0, 121.0))
    assert at_60 == pytest.approx(111_195 / 2, rel=1e-3)


def test_distance_is_symmetric_and_zero_for_one_point() -> None:
    a, b = (32.5145, 120.0860), (32.4316, 120.0880)
    assert ground_distance_m(a, b) == pytest.approx(ground_distance_m(b, a))
    assert ground_distance_m(a, a) == 0.0
    assert ground_distance_m(a, b) == pytest.approx(9_220, rel=0.01)
