"""`gridpatrol plan` as a pilot uses it: files in, plan files and a summary out, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from shapely.geometry import LineString, Point, Polygon, mapping, shape

from gis.crs import LocalFrame
from groundstation.cli import cli
from missions.formats import load_mission
from missions.items import Command

FRAME = LocalFrame(120.14, 32.51)  # Jiangyan, Taizhou


def _grid_file(path: Path, rings_m: dict[str, list[tuple[float, float]]], *, swap=False) -> Path:
    features = []
    for name, ring in rings_m.items():
        polygon = FRAME.to_wgs84(Polygon(ring))
        coords = [[y, x] if swap else [x, y] for x, y in polygon.exterior.coords]
        features.append(
            {
                "type": "Feature",
                "properties": {"grid_id": name},
                "geometry": {"type": "Polygon", "coordinates": [coords]},
            }
        )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


L_SHAPE = [(0, 0), (400, 0), (400, 150), (150, 150), (150, 400), (0, 400)]


def _plan(tmp_path: Path, *args: str):
    return CliRunner().invoke(cli, ["plan", *args], catch_exceptions=False)


def test_plan_writes_a_flyable_plan_and_a_json_summary(tmp_path: Path) -> None:
    grids = _grid_file(tmp_path / "grids.geojson", {"JY-02": L_SHAPE})
    out = tmp_path / "jy02.plan"
    result = _plan(tmp_path, str(grids), "--altitude", "80", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    (grid,) = summary["grids"]
    assert grid["grid_id"] == "JY-02"
    assert grid["coverage_once_pct"] >= 99.5
    assert summary["totals"]["photos"] > 0
    assert summary["files"] == [str(out)]
    mission = load_mission(out)
    commands = [item.command for item in mission.items]
    assert commands[0] == Command.NAV_TAKEOFF
    assert commands[-1] == Command.NAV_RETURN_TO_LAUNCH
    triggers = [i.params[0] for i in mission.items if i.command == Command.DO_SET_CAM_TRIGG_DIST]
    assert triggers and triggers[0] > 0 and triggers[-1] == 0
    # Every survey waypoint lies within reach of the grid: nothing flies off somewhere else.
    area = FRAME.to_local(shape(json.loads(grids.read_text())["features"][0]["geometry"]))
    for item in mission.items:
        if item.command == Command.NAV_WAYPOINT:
            x, y = FRAME.forward(item.lon, item.lat)
            assert area.distance(Point(x, y)) < 100


def test_plan_with_several_sorties_writes_one_file_each(tmp_path: Path) -> None:
    grids = _grid_file(
        tmp_path / "grids.geojson", {"big": [(0, 0), (900, 0), (900, 700), (0, 700)]}
    )
    out = tmp_path / "big.waypoints"
    result = _plan(
        tmp_path,
        str(grids),
        "--altitude",
        "60",
        "--battery-minutes",
        "10",
        "--out",
        str(out),
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    n = summary["totals"]["sorties"]
    assert n >= 2
    expected = [out] + [tmp_path / f"big-s{k}.waypoints" for k in range(1, n + 1)]
    assert summary["files"] == [str(p) for p in expected]
    assert all(p.exists() for p in expected)
    assert out.read_text() == (tmp_path / "big-s1.waypoints").read_text()
    for sortie in summary["sorties"]:
        assert sortie["flight_time_s"] <= 10 * 60 * 0.8 + 1e-6


def test_plan_prints_a_table_by_default(tmp_path: Path) -> None:
    grids = _grid_file(tmp_path / "grids.geojson", {"JY-02": L_SHAPE})
    result = _plan(
        tmp_path,
        str(grids),
        "--gsd",
        "2.5",
        "--profile",
        "patrol",
        "--out",
        str(tmp_path / "a.kml"),
    )
    assert result.exit_code == 0, result.output
    assert "JY-02" in result.output and "Sorties" in result.output
    assert "\n1 grid, 1 sortie, " in result.output  # not "1 grids, 1 sorties"
    assert (tmp_path / "a.kml").read_text(encoding="utf-8").startswith("<?xml")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--altitude", "600"], 1, "altitude must be between 10 and 500 m above ground, got 600 m"),
        (["--gsd", "20"], 1, "a GSD of 20 cm/px needs 730 m above ground with the phantom4pro"),
        (["--altitude", "100", "--side-overlap", "100"], 1, "below 100 %"),
        (
            ["--altitude", "100", "--side-overlap", "99.99"],
            1,
            "a plan may take at most 200,000",
        ),
        (
            ["--altitude", "100", "--front-overlap", "99.9", "--side-overlap", "99.9"],
            1,
            "a photo every 0.1 m (front overlap 99.9 %) at 10 m/s is one every 0.01 s, but the "
            "camera needs 1 s between photos",
        ),
        (
            ["--altitude", "30"],  # mapping: a photo every 7.5 m, at 10 m/s every 0.75 s
            1,
            "the camera needs 1 s between photos: fly at most 7.5 m/s",
        ),
        (
            ["--altitude", "30", "--speed", "5", "--min-photo-interval", "2"],
            1,
            "the camera needs 2 s between photos: fly at most 3.7 m/s",
        ),
        (["--altitude", "100", "--speed", "1000"], 2, "'--speed': 1000.0 is not in the range"),
        (["--altitude", "100", "--speed", "0.5"], 2, "'--speed': 0.5 is not in the range"),
        (["--altitude", "100", "--gsd", "3"], 2, "exactly one of --altitude and --gsd"),
        ([], 2, "exactly one of --altitude and --gsd"),
        (["--altitude", "100", "--home", "120.14,32.51"], 2, "did you mean 32.51,120.14?"),
        (["--altitude", "100", "--camera", "nokia"], 1, "unknown camera 'nokia'"),
        (["--altitude", "100", "--home", ""], 2, "expected LAT,LON in degrees, got ''"),
        (["--altitude", "100", "--home", "95,120"], 2, "latitude must be within ±90"),
        (["--altitude", "100", "--battery-reserve", "100"], 2, "'--battery-reserve': 100.0 is not"),
        (["--altitude", "100", "--speed", "0"], 2, "'--speed': 0.0 is not in the range 1.0"),
        (["--gsd", "0"], 2, "'--gsd': 0.0 is not in the range x>0"),
        (["--altitude", "100", "--lead-in", "-5"], 2, "'--lead-in': -5.0 is not in the range"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path: Path, args, code, message) -> None:
    grids = _grid_file(tmp_path / "grids.geojson", {"JY-02": L_SHAPE})
    result = _plan(tmp_path, str(grids), *args, "--out", str(tmp_path / "x.plan"))
    assert result.exit_code == code
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.plan").exists()


def test_swapped_grid_file_names_the_grid(tmp_path: Path) -> None:
    grids = _grid_file(tmp_path / "grids.geojson", {"JY-07": L_SHAPE}, swap=True)
    result = _plan(tmp_path, str(grids), "--altitude", "100", "--out", str(tmp_path / "x.plan"))
    assert result.exit_code == 1
    assert "JY-07" in result.stderr and "swapped" in result.stderr


def test_self_intersecting_grid_is_refused(tmp_path: Path) -> None:
    bowtie = [(0, 0), (300, 300), (300, 0), (0, 300)]
    grids = _grid_file(tmp_path / "grids.geojson", {"bow": bowtie})
    result = _plan(tmp_path, str(grids), "--altitude", "100", "--out", str(tmp_path / "x.plan"))
    assert result.exit_code == 1
    assert "bow" in result.stderr and "intersect" in result.stderr.lower()


def test_unknown_output_format_is_a_usage_error(tmp_path: Path) -> None:
    grids = _grid_file(tmp_path / "grids.geojson", {"JY-02": L_SHAPE})
    result = _plan(tmp_path, str(grids), "--altitude", "100", "--out", str(tmp_path / "x.docx"))
    assert result.exit_code == 2
    assert "unknown format" in result.output


def test_missing_grid_file_is_one_line(tmp_path: Path) -> None:
    result = _plan(
        tmp_path,
        str(tmp_path / "nope.geojson"),
        "--altitude",
        "100",
        "--out",
        str(tmp_path / "x.plan"),
    )
    assert result.exit_code == 1
    assert "nope.geojson" in result.stderr


def test_output_below_a_file_is_refused_before_planning(tmp_path: Path) -> None:
    grids = _grid_file(tmp_path / "grids.geojson", {"JY-02": L_SHAPE})
    (tmp_path / "notes").write_text("not a folder")
    out = tmp_path / "notes" / "jy" / "x.plan"
    result = _plan(tmp_path, str(grids), "--altitude", "100", "--out", str(out))
    assert result.exit_code == 2
    assert f"{tmp_path / 'notes'} is not a folder" in result.stderr
    assert "Traceback" not in result.output


def test_a_failed_output_writes_nothing_and_keeps_earlier_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from missions.errors import PlanFileError

    def refuse(path, plan, *, extra=()):
        raise PlanFileError(f"{path}: cannot write KML preview: No space left on device")

    monkeypatch.setattr("missions.formats.write_kml", refuse)
    grids = _grid_file(tmp_path / "grids.geojson", {"JY-02": L_SHAPE})
    earlier = tmp_path / "jy.plan"
    earlier.write_text("yesterday's plan")
    outputs = ["--out", str(earlier), "--out", str(tmp_path / "new" / "jy.geojson")]
    outputs += ["--out", str(tmp_path / "jy.kml")]
    result = _plan(tmp_path, str(grids), "--altitude", "100", *outputs)
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"error: {tmp_path / 'jy.kml'}: cannot write KML preview: No space left on device\n"
    )
    assert earlier.read_text() == "yesterday's plan"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grids.geojson", "jy.plan"]


def test_replanning_with_fewer_sorties_warns_of_the_files_left_over(tmp_path: Path) -> None:
    grids = _grid_file(
        tmp_path / "grids.geojson", {"big": [(0, 0), (900, 0), (900, 700), (0, 700)]}
    )
    out = tmp_path / "big.plan"
    first = _plan(tmp_path, str(grids), "--altitude", "60", "--battery-minutes", "10",
                  "--out", str(out))  # fmt: skip
    assert first.exit_code == 0 and "warning" not in first.stderr
    sorties = sorted(tmp_path.glob("big-s*.plan"))
    assert len(sorties) >= 2
    again = _plan(tmp_path, str(grids), "--altitude", "60", "--battery-minutes", "60",
                  "--out", str(out), "--json")  # fmt: skip
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["files"] == [str(out)]
    warnings = again.stderr.strip().splitlines()
    assert warnings == [f"warning: {p} is left from an earlier plan; delete it" for p in sorties]
    assert all(p.exists() for p in sorties)  # warned about, never deleted


def _zones_file(path: Path, rings_m: list[list[tuple[float, float]]]) -> Path:
    features = [
        {
            "type": "Feature",
            "properties": {"name": f"zone {k}"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[list(c) for c in FRAME.to_wgs84(Polygon(ring)).exterior.coords]],
            },
        }
        for k, ring in enumerate(rings_m)
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


SQUARE = [(0, 0), (400, 0), (400, 375), (0, 375)]  # 150,000 m²
EAST_ZONE = [(220, -50), (450, -50), (450, 425), (220, 425)]


def test_a_no_fly_zone_over_half_the_grid_is_in_the_summary_and_warned_of(tmp_path: Path) -> None:
    grids = _grid_file(tmp_path / "grids.geojson", {"Q-400": SQUARE})
    zones = _zones_file(tmp_path / "nofly.geojson", [EAST_ZONE])
    home = FRAME.inverse(-100.0, -100.0)
    args = [str(grids), "--nofly", str(zones), "--home", f"{home[1]},{home[0]}"]
    args += ["--altitude", "100", "--profile", "patrol", "--out", str(tmp_path / "q.plan")]
    args += ["--lead-in", "10"]  # strips entered square: full coverage of the flyable part
    as_json = _plan(tmp_path, *args, "--json")
    assert as_json.exit_code == 0, as_json.output
    (grid,) = json.loads(as_json.stdout)["grids"]
    left_out = Polygon(SQUARE).intersection(Polygon(EAST_ZONE).buffer(20)).area
    assert grid["grid_area_m2"] == pytest.approx(150_000, rel=0.005)
    assert grid["no_fly_excluded_m2"] == pytest.approx(left_out, rel=0.01)
    assert grid["no_fly_excluded_pct"] == pytest.approx(100 * left_out / 150_000, abs=0.5)
    assert grid["coverage_once_pct"] >= 99.5  # of the flyable part
    pct = f"{grid['no_fly_excluded_pct']:.1f} %"
    assert as_json.stderr.startswith(f"warning: grid Q-400: {grid['no_fly_excluded_m2']:,.0f} m²")
    assert pct in as_json.stderr and "no-fly" in as_json.stderr

    table = _plan(tmp_path, *args)
    assert table.exit_code == 0, table.output
    assert "no-fly m² (%)" in table.stdout and "flyable m²" in table.stdout
    assert f"({pct})" in table.stdout and "150,000" in table.stdout
    assert "of the flyable area" in table.stdout
    assert table.stderr == as_json.stderr


def test_no_warning_without_no_fly_zones(tmp_path: Path) -> None:
    grids = _grid_file(tmp_path / "grids.geojson", {"Q-400": SQUARE})
    result = _plan(tmp_path, str(grids), "--altitude", "100", "--out", str(tmp_path / "q.plan"))
    assert result.exit_code == 0, result.output
    assert result.stderr == "" and "0 (0.0 %)" in result.stdout


def test_a_grid_under_a_no_fly_zone_is_named_even_with_the_default_home(tmp_path: Path) -> None:
    grids = _grid_file(tmp_path / "grids.geojson", {"Q-400": SQUARE})
    zones = _zones_file(
        tmp_path / "nofly.geojson", [[(-50, -50), (450, -50), (450, 425), (-50, 425)]]
    )
    result = _plan(tmp_path, str(grids), "--nofly", str(zones), "--altitude", "100",
                   "--out", str(tmp_path / "q.plan"))  # fmt: skip
    assert result.exit_code == 1
    assert "grid Q-400: nothing left to fly outside the no-fly zones" in result.stderr
    assert "home" not in result.stderr
    assert not (tmp_path / "q.plan").exists()


def _mixed_file(path: Path, lines_m: dict[str, list[tuple[float, float]]], **rings_m) -> Path:
    _grid_file(path, rings_m)
    layer = json.loads(path.read_text())
    for name, coords in lines_m.items():
        line = FRAME.to_wgs84(LineString(coords))
        layer["features"].append(
            {"type": "Feature", "properties": {"grid_id": name}, "geometry": mapping(line)}
        )
    path.write_text(json.dumps(layer))
    return path


ROAD = [(600, 0), (1600, 200)]


def test_a_mixed_file_plans_areas_and_corridors_together(tmp_path: Path) -> None:
    grids = _mixed_file(tmp_path / "mixed.geojson", {"road": ROAD}, g=SQUARE)
    out = tmp_path / "m.plan"
    result = _plan(tmp_path, str(grids), "--altitude", "100", "--corridor-width", "50",
                   "--out", str(out), "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    by_id = {g["grid_id"]: g for g in json.loads(result.stdout)["grids"]}
    assert set(by_id) == {"g", "road"}
    assert not by_id["g"]["corridor"] and by_id["road"]["corridor"]
    assert all(g["coverage_once_pct"] >= 99.5 for g in by_id.values())


def test_a_line_without_a_corridor_width_is_refused_naming_it(tmp_path: Path) -> None:
    grids = _mixed_file(tmp_path / "mixed.geojson", {"road": ROAD}, g=SQUARE)
    out = tmp_path / "m.plan"
    result = _plan(tmp_path, str(grids), "--altitude", "100", "--out", str(out))
    assert result.exit_code == 1
    assert result.stderr == (  # named as every grid read from a file is
        f"error: grid road in {grids}: a line needs --corridor-width to be planned as a corridor\n"
    )
    assert not out.exists()
    two = _mixed_file(tmp_path / "two.geojson", {"road": ROAD, "canal": [(0, 500), (900, 500)]})
    result = _plan(tmp_path, str(two), "--altitude", "100", "--out", str(out))
    assert f"grids road, canal in {two}: lines need --corridor-width" in result.stderr


@pytest.mark.parametrize("width", ["5000", "100000"])
def test_a_corridor_wider_than_its_line_is_one_line(tmp_path: Path, width: str) -> None:
    bend = {"bend": [(0, 0), (100, 0), (100, 100), (0, 100)]}  # 300 m, turning back
    grids = _mixed_file(tmp_path / "line.geojson", bend)
    out = tmp_path / "c.plan"
    result = _plan(tmp_path, str(grids), "--altitude", "100", "--corridor-width", width,
                   "--out", str(out))  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: grid bend: the corridor is {width} m wide but its")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert not out.exists()


def test_a_corridor_bent_tighter_than_its_width_is_planned(tmp_path: Path) -> None:
    bend = {"bend": [(0, 0), (100, 0), (100, 100), (0, 100)]}
    grids = _mixed_file(tmp_path / "line.geojson", bend)
    result = _plan(tmp_path, str(grids), "--altitude", "100", "--corridor-width", "200",
                   "--out", str(tmp_path / "c.plan"), "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    (grid,) = json.loads(result.stdout)["grids"]
    assert grid["coverage_once_pct"] >= 99.5


def test_a_grid_across_longitude_180_has_its_own_message(tmp_path: Path) -> None:
    path = tmp_path / "chukotka.geojson"
    ring = [[179.99, 65.0], [180.01, 65.0], [180.01, 65.01], [179.99, 65.01], [179.99, 65.0]]
    feature = {"type": "Polygon", "coordinates": [ring]}
    path.write_text(
        json.dumps({"type": "Feature", "properties": {"name": "C"}, "geometry": feature})
    )
    result = _plan(tmp_path, str(path), "--altitude", "100", "--out", str(tmp_path / "x.plan"))
    assert result.exit_code == 1
    assert "grid C" in result.stderr and "antimeridian" in result.stderr
    assert "projected" not in result.stderr


def test_a_faster_camera_may_be_given(tmp_path: Path) -> None:
    grids = _grid_file(tmp_path / "grids.geojson", {"JY-02": L_SHAPE})
    args = [str(grids), "--altitude", "30", "--out", str(tmp_path / "x.plan")]
    assert _plan(tmp_path, *args).exit_code == 1  # a photo every 0.75 s at 10 m/s
    result = _plan(tmp_path, *args, "--min-photo-interval", "0.7", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["settings"]["trigger_distance_m"] == 7.5


# -- inputs are never overwritten, and input mistakes are explained ---------------------------


@pytest.mark.parametrize("which", ["grids", "nofly", "relative grids"])
def test_an_out_that_is_an_input_is_refused_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    grids = _grid_file(tmp_path / "A.geojson", {"Q-400": SQUARE})
    zones = _zones_file(tmp_path / "nofly.geojson", [EAST_ZONE])
    before = {p.name: p.read_bytes() for p in (grids, zones)}
    monkeypatch.chdir(tmp_path)
    out = {"grids": str(grids), "nofly": str(zones), "relative grids": "A.geojson"}[which]
    result = _plan(tmp_path, str(grids), "--nofly", str(zones), "--altitude", "100",
                   "--out", str(tmp_path / "ok.plan"), "--out", out)  # fmt: skip
    assert result.exit_code == 1
    what = "--nofly file" if which == "nofly" else "grid file"
    assert result.stderr.startswith(f"error: --out {out} is the {what} ")
    assert "would overwrite its input" in result.stderr
    assert {p.name: p.read_bytes() for p in (grids, zones)} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A.geojson", "nofly.geojson"]


def test_a_sortie_file_that_is_an_input_is_refused(tmp_path: Path) -> None:
    big = {"big": [(0, 0), (900, 0), (900, 700), (0, 700)]}
    grids = _grid_file(tmp_path / "big-s2.geojson", big)
    before = grids.read_bytes()
    result = _plan(tmp_path, str(grids), "--altitude", "60", "--battery-minutes", "10",
                   "--out", str(tmp_path / "big.geojson"))  # fmt: skip
    assert result.exit_code == 1
    assert f"is the grid file {grids}" in result.stderr
    assert grids.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big-s2.geojson"]


def test_a_self_crossing_centre_line_is_refused_naming_the_grid(tmp_path: Path) -> None:
    grids = _mixed_file(tmp_path / "line.geojson", {"canal": [(0, 0), (600, 0), (300, 300),
                                                              (300, -300)]})  # fmt: skip
    out = tmp_path / "c.plan"
    result = _plan(tmp_path, str(grids), "--altitude", "100", "--profile", "patrol",
                   "--corridor-width", "40", "--out", str(out))  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.startswith("error: grid canal in ")
    assert "centre line crosses or touches itself near lon 120.143" in result.stderr
    assert not out.exists()


def test_low_coverage_is_warned_of(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    import missions.planner

    real = missions.planner.coverage

    def patchy(*args, **kwargs):
        return dataclasses.replace(real(*args, **kwargs), once=0.637)

    monkeypatch.setattr(missions.planner, "coverage", patchy)
    grids = _grid_file(tmp_path / "grids.geojson", {"Q-400": SQUARE})
    out = ("--out", str(tmp_path / "q.plan"))
    result = _plan(tmp_path, str(grids), "--altitude", "100", "--lead-in", "10", *out)
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "warning: grid Q-400: only 63.7 % of its flyable area is photographed at least once "
        "(below 99.5 %); check the plan before flying it\n"
    )
    # without a lead-in, strip starts may be the cause: the warning says what closes them
    result = _plan(tmp_path, str(grids), "--altitude", "100", *out)
    assert result.stderr.endswith(
        "check the plan before flying it; without a lead-in each strip's first photo is taken "
        "while the vehicle still turns: try --lead-in 10\n"
    )


def _kinds_file(path: Path, kinds: list[str | None], *, projected: bool = False) -> Path:
    features = []
    for k, kind in enumerate(kinds):
        ring = Polygon(EAST_ZONE)
        if projected:  # metres, as a UTM file would hold them
            coords = [[500_000 + x, 3_600_000 + y] for x, y in ring.exterior.coords]
        else:
            coords = [list(c) for c in FRAME.to_wgs84(ring).exterior.coords]
        properties = {"name": f"zone {k}"} | ({"kind": kind} if kind else {})
        geometry = {"type": "Polygon", "coordinates": [coords]}
        features.append({"type": "Feature", "properties": properties, "geometry": geometry})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def test_no_fly_features_of_another_kind_are_explained(tmp_path: Path) -> None:
    grids = _grid_file(tmp_path / "grids.geojson", {"Q-400": SQUARE})
    zones = _kinds_file(tmp_path / "nofly.geojson", ["airport", "airport", "restricted", None])
    result = _plan(tmp_path, str(grids), "--nofly", str(zones), "--altitude", "100",
                   "--out", str(tmp_path / "q.plan"))  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {zones}: holds no no-fly polygons: features whose kind property is not "
        "no_fly_zone are skipped, and 4 of its 4 features are (1 (no kind), 2 airport, "
        "1 restricted); set kind to no_fly_zone on the no-fly zones, or remove the kind property\n"
    )
    mixed = _kinds_file(tmp_path / "mixed.geojson", ["no_fly_zone", "airport"])
    result = _plan(tmp_path, str(grids), "--nofly", str(mixed), "--altitude", "100",
                   "--out", str(tmp_path / "q.plan"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (
        f"warning: --nofly {mixed}: skipped 1 feature whose kind is not no_fly_zone (1 airport)"
        in result.stderr
    )


def test_projected_no_fly_coordinates_surface_behind_another_kind(tmp_path: Path) -> None:
    grids = _grid_file(tmp_path / "grids.geojson", {"Q-400": SQUARE})
    zones = _kinds_file(tmp_path / "nofly.geojson", ["airport"], projected=True)
    result = _plan(tmp_path, str(grids), "--nofly", str(zones), "--altitude", "100",
                   "--out", str(tmp_path / "q.plan"))  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: no-fly zone 'zone 0' in {zones}: coordinates reach")
    assert "projected metres" in result.stderr


def test_an_empty_no_fly_file_is_warned_of(tmp_path: Path) -> None:
    grids = _grid_file(tmp_path / "grids.geojson", {"Q-400": SQUARE})
    zones = tmp_path / "nofly.geojson"
    zones.write_text('{"type": "FeatureCollection", "features": []}')
    result = _plan(tmp_path, str(grids), "--nofly", str(zones), "--altitude", "100",
                   "--out", str(tmp_path / "q.plan"))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"warning: --nofly {zones}: holds no features; planning without no-fly zones\n"
    )


@pytest.mark.parametrize(
    ("home", "advice"),
    [
        ("120.088,32.515", "did you mean 32.515,120.088?"),
        (" 120.088, 32.515", "did you mean 32.515,120.088?"),
    ],
)
def test_a_home_given_as_lon_lat_gets_the_pair_to_give(tmp_path: Path, home, advice) -> None:
    grids = _grid_file(tmp_path / "grids.geojson", {"JY-02": L_SHAPE})
    result = _plan(tmp_path, str(grids), "--altitude", "100", "--home", home,
                   "--out", str(tmp_path / "x.plan"))  # fmt: skip
    assert result.exit_code == 2
    assert f"--home is LAT,LON; {home.strip()} looks like LON,LAT: {advice}" in result.stderr
    assert "(longitude, latitude) order" not in result.stderr
    assert not (tmp_path / "x.plan").exists()


def test_flying_above_120_m_is_warned_of_not_refused(tmp_path: Path) -> None:
    grids = _grid_file(tmp_path / "grids.geojson", {"JY-02": L_SHAPE})
    args = [str(grids), "--out", str(tmp_path / "x.plan")]
    high = _plan(tmp_path, *args, "--altitude", "130")
    assert high.exit_code == 0, high.output
    assert high.stderr.startswith("warning: the plan flies at 130 m above ground, above the 120 m")
    by_gsd = _plan(tmp_path, *args, "--gsd", "5")  # 182 m with the Phantom 4 Pro
    assert by_gsd.exit_code == 0 and "above the 120 m limit" in by_gsd.stderr
    assert _plan(tmp_path, *args, "--altitude", "120").stderr == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--altitude", "100", "--speed", "nan"], "settings: --speed must be between 1 and 30"),
        (["--altitude", "100", "--turn-seconds", "nan"], "settings: --turn-seconds must be 0 s"),
        (["--altitude", "100", "--battery-minutes", "nan"], "settings: --battery-minutes must"),
        (["--gsd", "nan"], "settings: --gsd must be a positive number of cm/px, got nan"),
    ],
)
def test_setting_errors_name_the_option(tmp_path: Path, args, message) -> None:
    grids = _grid_file(tmp_path / "grids.geojson", {"JY-02": L_SHAPE})
    result = _plan(tmp_path, str(grids), *args, "--out", str(tmp_path / "x.plan"))
    assert result.exit_code == 1
    assert message in result.stderr
    assert "_" not in result.stderr.split("settings:")[1]  # no speed_mps, battery_minutes ...
    assert " m/px" not in result.stderr


def test_help_says_altitude_or_gsd_is_required_and_camera_names_ignore_case(
    tmp_path: Path,
) -> None:
    text = CliRunner().invoke(cli, ["plan", "--help"], terminal_width=200).output
    assert "exactly one of --altitude and --gsd" in " ".join(text.split())
    assert "Required: this or --gsd." in text and "Required: this or --altitude." in text
    grids = _grid_file(tmp_path / "grids.geojson", {"JY-02": L_SHAPE})
    result = _plan(tmp_path, str(grids), "--altitude", "100", "--camera", "Phantom4PRO",
                   "--out", str(tmp_path / "x.plan"), "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["settings"]["camera"] == "phantom4pro"


def test_lead_in_enters_each_strip_camera_off_and_restores_the_promised_coverage(
    tmp_path: Path,
) -> None:
    """Without --lead-in the report counts each strip's first photo as still turned (patrol
    overlap does not hide it); --lead-in puts a camera-off waypoint on each strip's line before
    its start, and the report promises full coverage again, for a few seconds more."""
    grids = _grid_file(tmp_path / "grids.geojson", {"JY-02": L_SHAPE})
    runs = {}
    for lead in ("0", "10"):
        out = tmp_path / f"lead{lead}.plan"
        result = _plan(
            tmp_path, str(grids), "--profile", "patrol", "--altitude", "40", "--lead-in", lead,
            "--out", str(out), "--json",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        runs[lead] = (json.loads(result.output), load_mission(out))
    (plain,), (led,) = runs["0"][0]["grids"], runs["10"][0]["grids"]
    assert runs["10"][0]["settings"]["lead_in_m"] == 10.0
    assert plain["coverage_once_pct"] < 100.0
    assert led["coverage_once_pct"] == 100.0
    assert plain["flight_time_s"] < led["flight_time_s"]

    def strip_starts(mission) -> list[tuple[tuple[float, float], tuple[float, float]]]:
        """(waypoint before, camera-on waypoint) local positions for each camera-on item."""
        items, pairs = mission.items, []
        for k, item in enumerate(items):
            if item.command == Command.DO_SET_CAM_TRIGG_DIST and item.params[0] > 0:
                nav = [i for i in items[:k] if i.command == Command.NAV_WAYPOINT]
                pairs.append(tuple(FRAME.forward(i.lon, i.lat) for i in nav[-2:]))
        return pairs

    for (before, start), nxt in zip(
        strip_starts(runs["10"][1]), _strip_ends(runs["10"][1]), strict=True
    ):
        lead_vector = (start[0] - before[0], start[1] - before[1])
        strip_vector = (nxt[0] - start[0], nxt[1] - start[1])
        assert abs((lead_vector[0] ** 2 + lead_vector[1] ** 2) ** 0.5 - 10.0) < 0.01
        cross = lead_vector[0] * strip_vector[1] - lead_vector[1] * strip_vector[0]
        assert abs(cross) < 1e-3 * (strip_vector[0] ** 2 + strip_vector[1] ** 2) ** 0.5 * 10.0


def _strip_ends(mission) -> list[tuple[float, float]]:
    """Local position of the waypoint after each camera-on item (the strip's next point)."""
    items, ends = mission.items, []
    for k, item in enumerate(items):
        if item.command == Command.DO_SET_CAM_TRIGG_DIST and item.params[0] > 0:
            nxt = next(i for i in items[k:] if i.command == Command.NAV_WAYPOINT)
            ends.append(FRAME.forward(nxt.lon, nxt.lat))
    return ends


# ---------------------------------------------------------------------------- QA round 1


def _features_file(path: Path, features: list[tuple[dict, list[list[float]]]]) -> Path:
    """A FeatureCollection of polygons: (properties, lon/lat ring) each."""
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": props,
                        "geometry": {"type": "Polygon", "coordinates": [ring]},
                    }
                    for props, ring in features
                ],
            }
        )
    )
    return path


def test_each_sortie_says_how_far_it_goes_and_a_default_fence_is_warned_of(
    tmp_path: Path,
) -> None:
    """QA: the 3 km² sample grid's sorties went up to 2 km from home; the simulator's default
    1500 m fence refused them and the plan gave no hint."""
    from groundstation.cli.plan import DEFAULT_FENCE_RADIUS_M

    grids = _grid_file(
        tmp_path / "long.geojson", {"long": [(0, 0), (2200, 0), (2200, 200), (0, 200)]}
    )
    lon, lat = FRAME.inverse(0.0, 0.0)
    args = [str(grids), "--altitude", "100", "--home", f"{lat},{lon}"]
    result = _plan(tmp_path, *args, "--out", str(tmp_path / "a.plan"), "--json")
    assert result.exit_code == 0, result.output
    farthest = [o["farthest_m"] for o in json.loads(result.stdout)["sorties"]]
    assert 2150 < max(farthest) <= 2210  # the far end, 2.2 km out, less the strips' inset
    far = [f"s{k + 1}" for k, d in enumerate(farthest) if d > DEFAULT_FENCE_RADIUS_M]
    assert DEFAULT_FENCE_RADIUS_M == 1500.0 and far
    (warning,) = [line for line in result.stderr.splitlines() if "FENCE_RADIUS" in line]
    assert warning.startswith(f"warning: {len(far)} sortie")
    assert f"({', '.join(far)}) go up to {max(farthest):,.0f} m from home" in warning
    assert "beyond the default circular fence of 1,500 m" in warning and "--max-distance" in warning
    table = _plan(tmp_path, *args, "--out", str(tmp_path / "b.plan"))
    assert "farthest m" in table.stdout and f"{max(farthest):,.0f}" in table.stdout
    # the pilot who gave --max-distance chose the distance: no warning
    chosen = _plan(tmp_path, *args, "--max-distance", "2500", "--out", str(tmp_path / "c.plan"))
    assert chosen.exit_code == 0, chosen.output
    assert "FENCE_RADIUS" not in chosen.stderr


def test_a_grid_near_home_gets_no_fence_warning(tmp_path: Path) -> None:
    grids = _grid_file(tmp_path / "grids.geojson", {"JY-02": L_SHAPE})
    result = _plan(tmp_path, str(grids), "--altitude", "80", "--out", str(tmp_path / "a.plan"))
    assert result.exit_code == 0, result.output
    assert "FENCE_RADIUS" not in result.stderr


def test_a_polygon_around_the_pole_is_called_that(tmp_path: Path) -> None:
    """QA: it was said to cross longitude 180°."""
    ring = [[0, 89.99], [90, 89.99], [180, 89.99], [-90, 89.99], [0, 89.99]]
    path = _features_file(tmp_path / "pole.geojson", [({"grid_id": "N1"}, ring)])
    result = _plan(tmp_path, str(path), "--altitude", "100", "--out", str(tmp_path / "x.plan"))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: grid N1 in {path}: encloses the North Pole")
    assert "antimeridian" not in result.stderr


def test_too_many_photos_names_the_grid_that_needs_the_most(tmp_path: Path) -> None:
    """QA: "these grids would need about 9,263,501 photos" named no grid."""
    grids = _grid_file(
        tmp_path / "grids.geojson",
        {"small": [(0, 0), (100, 0), (100, 100), (0, 100)], "JY-02": L_SHAPE},
    )
    args = ["--altitude", "100", "--side-overlap", "99.99", "--out", str(tmp_path / "x.plan")]
    result = _plan(tmp_path, str(grids), *args)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: grid JY-02: would need about ")
    assert "and the 2 grids together " in result.stderr
    assert "a plan may take at most 200,000" in result.stderr


@pytest.mark.parametrize(
    ("grid_id", "shown"),
    [("a/b<script>\x00", "'a/b<script>\\x00'"), ("x\x1b[31m", "'x\\x1b[31m'")],
)
def test_a_grid_id_with_markup_or_control_characters_is_refused_escaped(
    tmp_path: Path, grid_id: str, shown: str
) -> None:
    """QA: a NUL byte and <script> went raw to the terminal and into the plan files."""
    ring = [list(c) for c in FRAME.to_wgs84(Polygon(L_SHAPE)).exterior.coords]
    path = _features_file(tmp_path / "ids.geojson", [({"grid_id": grid_id}, ring)])
    out = tmp_path / "x.plan"
    result = _plan(tmp_path, str(path), "--altitude", "100", "--out", str(out))
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {path}: grid id {shown} holds markup or control characters (<>&\"'` ...); "
        "use letters, digits, - and _\n"
    )
    assert not out.exists()


def test_grid_ids_differing_only_in_case_are_refused(tmp_path: Path) -> None:
    """QA: "a" and "A" were planned as two grids; the ground station takes them for one."""
    rings = [
        FRAME.to_wgs84(Polygon(L_SHAPE)),
        FRAME.to_wgs84(Polygon([(600, 0), (700, 0), (700, 100)])),
    ]
    features = [
        ({"grid_id": gid}, [list(c) for c in ring.exterior.coords])
        for gid, ring in zip(("a", "A"), rings, strict=True)
    ]
    path = _features_file(tmp_path / "case.geojson", features)
    result = _plan(tmp_path, str(path), "--altitude", "100", "--out", str(tmp_path / "x.plan"))
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"error: {path}: grid ids 'A' and 'a' differ only in case; grid ids must differ in more "
        "than case"
    )
