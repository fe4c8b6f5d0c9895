"""Fixtures for the gis tests: the shared sample data, polygons near Taizhou (32.5 N, 120.1 E)."""

from __future__ import annotations

from pathlib import Path

import pytest
from shapely.geometry import Polygon

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """../shared/data beside the repository; tests that need it skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not available")
    return SHARED_DATA.resolve()


@pytest.fixture
def benchmark_grids(shared_data: Path) -> Path:
    return shared_data / "polygons" / "benchmark_grids.geojson"


@pytest.fixture
def square() -> Polygon:
    """About 940 m × 1,110 m of farmland south-east of Taizhou, lon/lat order."""
    return Polygon([(120.10, 32.50), (120.11, 32.50), (120.11, 32.51), (120.10, 32.51)])


@pytest.fixture
def holed() -> Polygon:
    """A grid with one pond (hole) in the middle."""
    shell = [(120.10, 32.50), (120.12, 32.50), (120.12, 32.52), (120.10, 32.52)]
    pond = [(120.105, 32.505), (120.105, 32.51), (120.11, 32.51), (120.11, 32.505)]
    return Polygon(shell, [pond])
