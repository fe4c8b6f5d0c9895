"""`gridpatrol plan` on a grid file that also holds no-fly zones (kind no_fly_zone): the plan
avoids them as it avoids --nofly zones, and says it uses them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from shapely.geometry import LineString, shape

from gis.crs import LocalFrame
from groundstation.cli import cli
from missions.formats import load_mission
from missions.items import Command

BENCHMARK = Path("/work/shared/data/polygons/benchmark_grids.geojson")
HOME = (32.404, 119.925)  # lat, lon: south-west of g10, so the route passes the substation


def _g10_with_its_zone(path: Path) -> tuple[Path, dict]:
    document = json.loads(BENCHMARK.read_text())
    wanted = {"g10_near_nofly", "nf10_substation"}
    features = [f for f in document["features"] if f["properties"]["name"] in wanted]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    (zone,) = [f for f in features if f["properties"]["kind"] == "no_fly_zone"]
    return path, zone


def _plan(*args: str):
    return CliRunner().invoke(cli, ["plan", *args], catch_exceptions=False)


def _flown_inside(plan_file: Path, zone, frame: LocalFrame) -> float:
    """Metres of the sortie's path (home, waypoints, back home) inside the zone."""
    mission = load_mission(plan_file)
    home_lat, home_lon = mission.home[:2]
    points = [(home_lon, home_lat)]
    points += [(i.lon, i.lat) for i in mission.items if i.command == Command.NAV_WAYPOINT]
    points.append((home_lon, home_lat))
    path = frame.to_local(LineString(points))
    return path.intersection(frame.to_local(zone)).length


def test_the_grid_files_no_fly_zone_is_avoided_and_fenced(tmp_path: Path) -> None:
    grids, feature = _g10_with_its_zone(tmp_path / "g10_with_nf.geojson")
    zone = shape(feature["geometry"])
    out = tmp_path / "g10.plan"
    home = f"{HOME[0]},{HOME[1]}"
    result = _plan(
        str(grids),
        "--home",
        home,
        "--altitude",
        "100",
        "--profile",
        "patrol",
        "--out",
        str(out),
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert "using 1 no-fly zone from g10_with_nf.geojson" in result.stderr
    assert "left out" not in result.stderr
    (grid,) = json.loads(result.stdout)["grids"]
    assert grid["no_fly_excluded_m2"] > 20_000  # the zone overlaps g10 by about 22,400 m²

    frame = LocalFrame(*zone.centroid.coords[0])
    sorties = sorted(tmp_path.glob("g10-s*.plan")) or [out]
    for sortie in sorties:
        assert _flown_inside(sortie, zone, frame) < 0.01, sortie.name
        fences = load_mission(sortie).fence_polygons
        exclusions = [f for f in fences if not f.inclusion]
        assert len(exclusions) == 1, sortie.name
        fenced = shape(
            {"type": "Polygon", "coordinates": [[(lon, lat) for lat, lon in exclusions[0].points]]}
        )
        assert fenced.buffer(1e-6).contains(zone), sortie.name


def test_the_same_file_as_nofly_is_not_counted_twice(tmp_path: Path) -> None:
    grids, _ = _g10_with_its_zone(tmp_path / "g10_with_nf.geojson")
    out = tmp_path / "g10.plan"
    result = _plan(
        str(grids),
        "--nofly",
        str(grids),
        "--home",
        f"{HOME[0]},{HOME[1]}",
        "--altitude",
        "100",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    assert "using 1 no-fly zone from g10_with_nf.geojson" in result.stderr
    fences = load_mission(out).fence_polygons
    assert len([f for f in fences if not f.inclusion]) == 1


def test_without_the_zone_the_route_crosses_it(tmp_path: Path) -> None:
    """The check above can fail: planned without its zone, g10's route enters the substation."""
    grids, feature = _g10_with_its_zone(tmp_path / "g10_with_nf.geojson")
    document = json.loads(grids.read_text())
    document["features"] = [
        f for f in document["features"] if f["properties"]["kind"] != "no_fly_zone"
    ]
    grids.write_text(json.dumps(document))
    zone = shape(feature["geometry"])
    out = tmp_path / "g10.plan"
    result = _plan(
        str(grids),
        "--home",
        f"{HOME[0]},{HOME[1]}",
        "--altitude",
        "100",
        "--profile",
        "patrol",
        "--out",
        str(out),
    )
    assert result.exit_code == 0, result.output
    frame = LocalFrame(*zone.centroid.coords[0])
    sorties = sorted(tmp_path.glob("g10-s*.plan")) or [out]
    assert sum(_flown_inside(s, zone, frame) for s in sorties) > 50
