"""QGroundControl .plan: exact structure, round trips, QGC-authored input and malformed files."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from missions.errors import PlanFileError
from missions.formats.qgc_plan import plan_from_dict, plan_to_dict, read_plan, write_plan
from missions.items import Command, Frame, MissionItem, MissionPlan


def _assert_same_plan(a: MissionPlan, b: MissionPlan) -> None:
    assert len(a.items) == len(b.items)
    for k, (x, y) in enumerate(zip(a.items, b.items, strict=True), start=1):
        assert x.same_as(y), f"item {k}: {x} != {y}"
    assert a.home == b.home
    assert a.fence_polygons == b.fence_polygons
    assert a.fence_circles == b.fence_circles
    assert a.rally_points == b.rally_points
    assert (a.cruise_speed_mps, a.hover_speed_mps) == (b.cruise_speed_mps, b.hover_speed_mps)


def test_structure_has_exactly_the_spec_keys(plan: MissionPlan) -> None:
    data = plan_to_dict(plan)
    assert set(data) == {
        "fileType", "version", "groundStation", "mission", "geoFence", "rallyPoints"
    }
    assert (data["fileType"], data["version"], data["groundStation"]) == ("Plan", 1, "GridPatrol")
    mission = data["mission"]
    assert set(mission) == {
        "version", "firmwareType", "vehicleType", "cruiseSpeed", "hoverSpeed",
        "plannedHomePosition", "items",
    }
    assert (mission["version"], mission["firmwareType"], mission["vehicleType"]) == (2, 3, 2)
    assert (mission["cruiseSpeed"], mission["hoverSpeed"]) == (12.0, 4.0)
    assert mission["plannedHomePosition"] == [30.2592211, 120.1301853, 12.5]
    for k, item in enumerate(mission["items"], start=1):
        assert set(item) == {"type", "command", "frame", "params", "autoContinue", "doJumpId"}
        assert item["type"] == "SimpleItem"
        assert item["doJumpId"] == k
        assert len(item["params"]) == 7
    first_waypoint = mission["items"][2]
    assert first_waypoint["command"] == 16 and first_waypoint["frame"] == 3
    assert first_waypoint["params"] == [0.0, 0.0, 0.0, None, 30.26012345678901,
                                        120.13123456789012, 60.0]
    trigger = mission["items"][3]
    assert (trigger["command"], trigger["frame"]) == (206, 2)
    assert trigger["params"][:3] == [25.0, 0.0, 1.0]
    fence = data["geoFence"]
    assert set(fence) == {"version", "polygons", "circles"} and fence["version"] == 2
    assert set(fence["polygons"][0]) == {"polygon", "inclusion", "version"}
    assert fence["polygons"][0]["polygon"][1] == [30.27, 120.127]  # [lat, lon]
    assert [p["inclusion"] for p in fence["polygons"]] == [True, False]
    assert fence["circles"] == [
        {"circle": {"center": [30.2575, 120.129], "radius": 80.0}, "inclusion": False, "version": 1}
    ]
    assert data["rallyPoints"] == {"version": 2, "points": [[30.257, 120.131, 30.0]]}


def test_file_is_strict_json_with_null_for_nan(tmp_path: Path, plan: MissionPlan) -> None:
    path = tmp_path / "grid.plan"
    write_plan(path, plan)
    text = path.read_text(encoding="utf-8")
    assert "NaN" not in text
    data = json.loads(text, parse_constant=lambda name: pytest.fail(f"non-JSON constant {name}"))
    assert data["mission"]["items"][0]["params"][3] is None


def test_round_trip_plan_to_plan(tmp_path: Path, plan: MissionPlan) -> None:
    first = tmp_path / "first.plan"
    second = tmp_path / "second.plan"
    write_plan(first, plan)
    loaded = read_plan(first)
    _assert_same_plan(plan, loaded)
    assert math.isnan(loaded.items[0].params[3])  # NaN survives as null and back
    assert loaded.items[2].lat == plan.items[2].lat  # float exact, not just 1e-7
    assert loaded.name == "first"
    write_plan(second, loaded)
    assert json.loads(first.read_text(encoding="utf-8")) == json.loads(
        second.read_text(encoding="utf-8")
    )


def test_dict_round_trip_keeps_nan_positions() -> None:
    item = MissionItem(command=Command.NAV_WAYPOINT, params=(1.0, 2.0, 3.0, 4.0),
                       lat=math.nan, lon=math.nan, alt=math.nan, autocontinue=False)
    plan = MissionPlan(items=(item,), home=(0.5, 0.5, 0.0))
    data = plan_to_dict(plan)
    assert data["mission"]["items"][0]["params"][4:] == [None, None, None]
    assert data["mission"]["items"][0]["autoContinue"] is False
    (back,) = plan_from_dict(data).items
    # MissionItem.same_as compares positions numerically, so NaN positions are checked here.
    assert all(math.isnan(v) for v in (back.lat, back.lon, back.alt))
    assert (back.command, back.frame, back.params, back.autocontinue) == (16, 3, item.params, False)


def test_reads_a_qgc_survey_complex_item(qgc_survey: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "qgc-survey.plan"
    path.write_text(json.dumps(qgc_survey, indent=4), encoding="utf-8")
    plan = read_plan(path)
    commands = [int(item.command) for item in plan.items]
    # take-off, the survey's six stored items in order, then RTL
    assert commands == [22, 16, 206, 16, 16, 16, 206, 20]
    takeoff = plan.items[0]
    assert takeoff.frame == Frame.GLOBAL_RELATIVE_ALT
    assert (takeoff.alt, takeoff.lat) == (50.0, 30.2592211)
    assert plan.items[2].params[:3] == (18.75, 0.0, 1.0)
    assert plan.items[3].lat == 30.2651234 and plan.items[3].lon == 120.1312345
    assert math.isnan(plan.items[3].params[3])
    assert plan.home == (30.2592211, 120.1301853, 12.5)
    assert (plan.cruise_speed_mps, plan.hover_speed_mps) == (15.0, 5.0)
    assert plan.fence_polygons[0].inclusion and plan.fence_polygons[0].points[2] == (30.27, 120.14)
    assert plan.fence_circles[0].radius_m == 80.5 and not plan.fence_circles[0].inclusion
    assert plan.rally_points == ((30.257, 120.131, 30.0),)
    # and what we write from it is plain SimpleItems that read back the same
    rewritten = tmp_path / "rewritten.plan"
    write_plan(rewritten, plan)
    types = {item["type"] for item in json.loads(rewritten.read_text())["mission"]["items"]}
    assert types == {"SimpleItem"}
    _assert_same_plan(plan, read_plan(rewritten))


def test_do_jump_targets_are_translated_to_sequence_numbers(qgc_survey: dict[str, Any]) -> None:
    items = qgc_survey["mission"]["items"]
    # Old QGC numbered doJumpId with its own counter: the RTL is doJumpId 3 although it is
    # sequence 8 once the survey is expanded. A DO_JUMP (177) to it must become param1 = 8.
    items[2]["doJumpId"] = 3
    items.append({"type": "SimpleItem", "command": 177, "frame": 2, "autoContinue": True,
                  "doJumpId": 4, "params": [3, 2, 0, 0, 0, 0, 0]})
    plan = plan_from_dict(qgc_survey)
    assert plan.items[-1].command == 177
    assert plan.items[-1].params[:2] == (8.0, 2.0)
    assert plan.items[7].command == Command.NAV_RETURN_TO_LAUNCH


def test_survey_without_stored_items_is_refused(qgc_survey: dict[str, Any]) -> None:
    qgc_survey["mission"]["items"][1]["TransectStyleComplexItem"]["Items"] = []
    expected = r"mission\.items\[1\].*survey.*no stored mission items"
    with pytest.raises(PlanFileError, match=expected):
        plan_from_dict(qgc_survey, source="qgc.plan")


def test_structure_scan_without_transects_is_refused(qgc_survey: dict[str, Any]) -> None:
    qgc_survey["mission"]["items"][1] = {"type": "ComplexItem", "complexItemType": "StructureScan",
                                         "version": 3}
    with pytest.raises(PlanFileError, match="StructureScan"):
        plan_from_dict(qgc_survey, source="qgc.plan")


def test_terrain_altitude_computed_by_qgc_is_refused(qgc_survey: dict[str, Any]) -> None:
    qgc_survey["mission"]["items"].insert(
        1,
        {"AMSLAltAboveTerrain": None, "Altitude": 80, "AltitudeMode": 3, "autoContinue": True,
         "command": 16, "doJumpId": 2, "frame": 0, "type": "SimpleItem",
         "params": [0, 0, 0, None, 30.26, 120.13, None]},
    )
    with pytest.raises(PlanFileError, match="terrain"):
        plan_from_dict(qgc_survey, source="qgc.plan")


def _write(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "broken.plan"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(fileType="Mission"), r"fileType: is 'Mission'"),
        (lambda d: d.pop("fileType"), r"fileType"),
        (lambda d: d.update(version=2), r"version: is 2"),
        (lambda d: d["mission"].pop("items"), r"mission\.items: must be a list"),
        (lambda d: d.pop("mission"), r"mission: must be a JSON object"),
        (lambda d: d["mission"].update(version=1), r"mission\.version"),
        (lambda d: d["mission"].update(plannedHomePosition=[30.2, 120.1]),
         r"plannedHomePosition: must be 3 finite numbers"),
        (lambda d: d["mission"].update(plannedHomePosition=[120.1, 30.2, 0]),
         r"not a WGS84 latitude"),
        (lambda d: d["mission"]["items"][0]["params"].__setitem__(4, "30.25"),
         r"items\[0\]\.params\[4\]: must be a number or null, found str"),
        (lambda d: d["mission"]["items"][0]["params"].pop(), r"items\[0\]\.params: must be 7"),
        (lambda d: d["mission"]["items"][0]["params"].__setitem__(4, 95.0),
         r"items\[0\]\.params\[4:6\]: \(95.0, 120.1301853\) is not a WGS84 lat, lon"),
        (lambda d: d["mission"]["items"][0].update(command="22"), r"items\[0\]\.command"),
        (lambda d: d["mission"]["items"][0].update(command=-1), r"items\[0\]\.command"),
        (lambda d: d["mission"]["items"][0].update(frame=True), r"items\[0\]\.frame"),
        (lambda d: d["mission"]["items"][0].update(type="Waypoint"), r"items\[0\]\.type"),
        (lambda d: d["mission"]["items"][0].update(autoContinue="yes"), r"autoContinue"),
        (lambda d: d["mission"]["items"].__setitem__(0, 5), r"items\[0\]: must be a JSON object"),
        (lambda d: d["mission"].update(cruiseSpeed=-3), r"cruiseSpeed: is -3"),
        (lambda d: d["geoFence"]["polygons"][0].update(polygon=[[30.2, 120.1], [30.3, 120.1]]),
         r"has 2 vertices, needs 3 or more"),
        (lambda d: d["geoFence"]["polygons"][0].update(inclusion="no"), r"inclusion"),
        (lambda d: d["geoFence"]["circles"][0]["circle"].update(radius=0), r"must be positive"),
        (lambda d: d["rallyPoints"]["points"].append([30.2, 120.1]), r"rallyPoints\.points\[1\]"),
        (lambda d: d["mission"]["items"][1]["TransectStyleComplexItem"]["Items"][2]["params"]
         .__setitem__(0, [1]), r"Items\[2\]\.params\[0\]"),
    ],
)
def test_malformed_plans_raise_plan_file_error(
    tmp_path: Path, qgc_survey: dict[str, Any], mutate: Any, message: str
) -> None:
    mutate(qgc_survey)
    path = _write(tmp_path, json.dumps(qgc_survey))
    with pytest.raises(PlanFileError, match=message) as caught:
        read_plan(path)
    assert str(caught.value).startswith(str(path))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", r"invalid JSON at line 1"),
        ("QGC WPL 110\n0\t1\t0\t16", r"invalid JSON"),
        ('{"fileType": "Plan", "version": 1, "mission": {', r"invalid JSON"),
        ("[1, 2, 3]", r"top level: must be a JSON object"),
        (b"\xff\xfe{}", r"not UTF-8"),
        ("[" * 100_000 + "]" * 100_000, r"nested too deeply|invalid JSON"),
    ],
)
def test_files_that_are_not_plans_raise(tmp_path: Path, content: str | bytes, message: str) -> None:
    with pytest.raises(PlanFileError, match=message):
        read_plan(_write(tmp_path, content))


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError, match=r"missing\.plan: cannot read"):
        read_plan(tmp_path / "missing.plan")


def test_writing_an_infinite_position_is_refused(tmp_path: Path) -> None:
    plan = MissionPlan(items=(MissionItem(command=16, lat=math.inf),), home=(1.0, 2.0, 3.0))
    path = tmp_path / "bad.plan"
    with pytest.raises(PlanFileError, match=r"bad\.plan: cannot write.*item 1.*infinite"):
        write_plan(path, plan)
    assert not path.exists()


def test_writing_into_a_missing_directory_names_the_file(tmp_path: Path, plan: MissionPlan) -> None:
    with pytest.raises(PlanFileError, match=r"nowhere.*cannot write"):
        write_plan(tmp_path / "nowhere" / "grid.plan", plan)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 300) | st.floats(allow_nan=False)
    | st.sampled_from(["Plan", "SimpleItem", "ComplexItem", "survey"]),
    lambda children: st.lists(children, max_size=8)
    | st.dictionaries(
        st.sampled_from(["fileType", "version", "mission", "items", "type", "command", "frame",
                         "params", "plannedHomePosition", "geoFence", "polygons", "circles",
                         "circle", "center", "radius", "polygon", "rallyPoints", "points",
                         "TransectStyleComplexItem", "Items", "doJumpId", "autoContinue"]),
        children,
        max_size=8,
    ),
    max_leaves=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_json_values)
def test_any_json_either_loads_or_raises_plan_file_error(data: Any) -> None:
    try:
        plan_from_dict(data, source="fuzz.plan")
    except PlanFileError as exc:
        assert str(exc).startswith("fuzz.plan: ")


def _slots(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) in a JSON value, so a test can replace any one of them."""
    slots: list[tuple[Any, Any]] = []
    keys = value.keys() if isinstance(value, dict) else range(len(value))
    for key in keys:
        slots.append((value, key))
        if isinstance(value[key], dict | list):
            slots.extend(_slots(value[key]))
    return slots


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_qgc_plans_load_or_raise_plan_file_error(
    qgc_survey: dict[str, Any], data: st.DataObject
) -> None:
    document = copy.deepcopy(qgc_survey)
    container, key = data.draw(st.sampled_from(_slots(document)))
    container[key] = data.draw(_json_values)
    try:
        plan = plan_from_dict(document, source="fuzz.plan")
    except PlanFileError as exc:
        assert str(exc).startswith("fuzz.plan: ")
    else:
        assert isinstance(plan, MissionPlan)
