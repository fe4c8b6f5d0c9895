"""save_mission / load_mission: the suffix picks the format; anything else is a PlanFileError."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from shapely.geometry import Point

from missions.errors import MissionError, PlanFileError
from missions.formats import LOADABLE_SUFFIXES, SAVABLE_SUFFIXES, load_mission, save_mission
from missions.items import MissionPlan


@pytest.mark.parametrize("suffix", [".plan", ".waypoints", ".PLAN", ".Waypoints"])
def test_mission_formats_round_trip_through_dispatch(
    tmp_path: Path, plan: MissionPlan, suffix: str
) -> None:
    path = save_mission(tmp_path / f"grid{suffix}", plan)
    assert path == tmp_path / f"grid{suffix}"
    loaded = load_mission(path)
    assert loaded.home == plan.home
    assert all(a.same_as(b) for a, b in zip(plan.items, loaded.items, strict=True))
    assert len(loaded.items) == len(plan.items)


def test_each_format_writes_what_its_suffix_says(tmp_path: Path, plan: MissionPlan) -> None:
    extra = [(Point(120.13, 30.26), {"name": "photo"})]
    for suffix in SAVABLE_SUFFIXES:
        save_mission(tmp_path / f"grid{suffix}", plan, extra=extra)
    assert json.loads((tmp_path / "grid.plan").read_text())["fileType"] == "Plan"
    assert (tmp_path / "grid.waypoints").read_text().startswith("QGC WPL 110\n")
    assert ET.parse(tmp_path / "grid.kml").getroot().tag.endswith("}kml")
    features = json.loads((tmp_path / "grid.geojson").read_text())["features"]
    assert features[-1]["properties"] == {"kind": "extra", "name": "photo"}
    assert LOADABLE_SUFFIXES == (".plan", ".waypoints")


@pytest.mark.parametrize("name", ["grid.txt", "grid", "grid.plan.bak", "grid.kmz"])
def test_unknown_suffix_is_refused_on_save(tmp_path: Path, plan: MissionPlan, name: str) -> None:
    with pytest.raises(PlanFileError, match=rf"{name}: cannot save a mission as .*use one of"):
        save_mission(tmp_path / name, plan)
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize(
    ("name", "why"),
    [("grid.kml", "is a preview"), ("grid.geojson", "is a preview"), ("grid.csv", "not a mission")],
)
def test_previews_and_unknown_suffixes_are_refused_on_load(
    tmp_path: Path, plan: MissionPlan, name: str, why: str
) -> None:
    path = tmp_path / name
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(PlanFileError, match=rf"{name}: cannot load a mission .*{why}"):
        load_mission(path)


def test_malformed_file_is_a_mission_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "grid.plan"
    path.write_text("QGC WPL 110\n", encoding="utf-8")  # a .waypoints body under a .plan name
    with pytest.raises(MissionError, match=r"grid\.plan: not a QGroundControl \.plan file"):
        load_mission(path)
