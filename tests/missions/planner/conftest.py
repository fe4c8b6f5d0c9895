"""Shared fixtures for the planner tests: the benchmark camera and the sample grids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shapely.geometry import shape

from gis.camera import Camera
from missions.planner import PlanSettings

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "polygons"


@pytest.fixture(scope="session")
def camera() -> Camera:
    return Camera("phantom4pro-like", 13.2, 8.8, 8.8, 5472, 3648)


@pytest.fixture(scope="session")
def settings(camera: Camera) -> PlanSettings:
    """100 m, 75/70 %, 10 m/s, 3 s per 90° turn: the anchor measurements' settings."""
    return PlanSettings(camera=camera, altitude_m=100.0)


@pytest.fixture(scope="session")
def sample_features() -> dict[str, dict]:
    path = DATA / "benchmark_grids.geojson"
    if not path.exists():
        pytest.skip(f"sample grids not found at {path}")
    data = json.loads(path.read_text(encoding="utf-8"))
    return {f["properties"]["name"]: f for f in data["features"]}


@pytest.fixture(scope="session")
def sample_geometries(sample_features: dict[str, dict]) -> dict:
    return {name: shape(f["geometry"]) for name, f in sample_features.items()}


@pytest.fixture(scope="session")
def anchor_times() -> dict[str, dict[str, str]]:
    import csv

    path = DATA / "anchor_times.csv"
    if not path.exists():
        pytest.skip(f"anchor times not found at {path}")
    with path.open(encoding="utf-8") as fh:
        return {row["polygon"]: row for row in csv.DictReader(fh)}
