"""Mission Planner .waypoints (QGC WPL 110): home line, precision, tolerance and broken files."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymavlink import mavwp

from missions.errors import PlanFileError
from missions.formats.waypoints import (
    read_waypoints,
    write_fence_waypoints,
    write_rally_waypoints,
    write_waypoints,
)
from missions.items import Command, MissionItem, MissionPlan, fence_items, rally_items


def test_layout_header_home_line_and_tabs(tmp_path: Path, plan: MissionPlan) -> None:
    path = tmp_path / "grid.waypoints"
    write_waypoints(path, plan)
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[0] == "QGC WPL 110"
    assert lines[1] == "0\t1\t0\t16\t0.0\t0.0\t0.0\t0.0\t30.2592211\t120.1301853\t12.5\t1"
    assert lines[-1] == ""  # newline-terminated
    body = lines[2:-1]
    assert len(body) == len(plan.items)
    for seq, line in enumerate(body, start=1):
        fields = line.split("\t")
        assert len(fields) == 12 and fields[0] == str(seq) and fields[1] == "0"
    assert body[0].split("\t")[2:4] == ["3", "22"]
    assert body[0].split("\t")[7] == "NaN"  # as Mission Planner writes (and .NET parses) it
    assert body[2].split("\t")[8:11] == ["30.26012345678901", "120.13123456789012", "60.0"]


def test_round_trip_keeps_items_and_home(tmp_path: Path, plan: MissionPlan) -> None:
    path = tmp_path / "grid.waypoints"
    write_waypoints(path, plan)
    loaded = read_waypoints(path)
    assert loaded.home == plan.home
    assert loaded.name == "grid"
    assert len(loaded.items) == len(plan.items)
    for before, after in zip(plan.items, loaded.items, strict=True):
        assert after.same_as(before, position_tolerance_deg=1e-7)
        assert (after.lat, after.lon) == (before.lat, before.lon)  # stored exactly, not rounded
    assert math.isnan(loaded.items[0].params[3])
    # Fence and rally are not part of the format.
    assert loaded.fence_polygons == () and loaded.rally_points == ()


_degrees = st.floats(-89.9, 89.9, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    points=st.lists(
        st.tuples(_degrees, st.floats(-179.9, 179.9), st.floats(-100, 5000)), min_size=1, max_size=6
    ),
    home=st.tuples(_degrees, st.floats(-179.9, 179.9), st.floats(-400, 8000)),
)
def test_any_coordinates_survive_to_1e_7_degrees(
    tmp_path_factory: pytest.TempPathFactory,
    points: list[tuple[float, float, float]],
    home: tuple[float, float, float],
) -> None:
    items = tuple(MissionItem(command=16, lat=lat, lon=lon, alt=alt) for lat, lon, alt in points)
    plan = MissionPlan(items=items, home=home)
    path = tmp_path_factory.mktemp("wp") / "random.waypoints"
    write_waypoints(path, plan)
    loaded = read_waypoints(path)
    assert loaded.home == home
    for before, after in zip(items, loaded.items, strict=True):
        assert after.same_as(before, position_tolerance_deg=1e-7)


def test_pymavlink_reads_our_file_the_same(tmp_path: Path, plan: MissionPlan) -> None:
    """An independent reader (pymavlink's mavwp, used by MAVProxy) sees the same list."""
    path = tmp_path / "grid.waypoints"
    write_waypoints(path, plan)
    loader = mavwp.MAVWPLoader()
    assert loader.load(str(path)) == len(plan.items) + 1
    home = loader.wp(0)
    assert (home.x, home.y, home.z, home.frame) == (30.2592211, 120.1301853, 12.5, 0)
    for seq, item in enumerate(plan.items, start=1):
        theirs = loader.wp(seq)
        assert (theirs.command, theirs.frame) == (int(item.command), int(item.frame))
        assert abs(theirs.x - item.lat) < 1e-9 and abs(theirs.y - item.lon) < 1e-9


def test_fence_and_rally_files_list_their_items_from_zero(
    tmp_path: Path, plan: MissionPlan
) -> None:
    fence_path = tmp_path / "grid.fence.waypoints"
    rally_path = tmp_path / "grid.rally.waypoints"
    write_fence_waypoints(fence_path, plan)
    write_rally_waypoints(rally_path, plan)
    for path, expected in ((fence_path, fence_items(plan)), (rally_path, rally_items(plan))):
        loader = mavwp.MAVWPLoader()
        assert loader.load(str(path)) == len(expected)
        for seq, item in enumerate(expected):
            theirs = loader.wp(seq)
            assert theirs.seq == seq
            assert (theirs.command, theirs.x, theirs.y) == (int(item.command), item.lat, item.lon)
    fence_lines = fence_path.read_text(encoding="utf-8").splitlines()
    assert fence_lines[1].split("\t")[3] == str(int(Command.NAV_FENCE_POLYGON_VERTEX_INCLUSION))


def test_reading_tolerates_crlf_spaces_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "mission-planner.waypoints"
    path.write_bytes(
        b"\xef\xbb\xbfQGC WPL 110\r\n"
        b"0 1 0 16 0 0 0 0 30.2592211 120.1301853 12.5 1\r\n"
        b"# a comment MAVProxy wrote\r\n"
        b"\r\n"
        b"1\t0\t3\t22\t0.00000000\t0.00000000\t0.00000000\t0.00000000\t0\t0\t40\t1\r\n"
        b"2  0  3  16  0 0 0 0  30.26012345  120.13123456  60.000000  1   \r\n"
        b"3\t0\t2\t206\t25\t0\t1\t0\t0\t0\t0\t1\r\n"
    )
    plan = read_waypoints(path)
    assert plan.home == (30.2592211, 120.1301853, 12.5)
    assert [int(item.command) for item in plan.items] == [22, 16, 206]
    waypoint = plan.items[1]
    assert (waypoint.lat, waypoint.lon, waypoint.alt) == (30.26012345, 120.13123456, 60.0)
    assert plan.items[2].params == (25.0, 0.0, 1.0, 0.0)


def _broken(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "broken.waypoints"
    path.write_text(text, encoding="utf-8")
    return path


_HOME = "0\t1\t0\t16\t0\t0\t0\t0\t30.25\t120.13\t12.5\t1\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"the file is empty"),
        ("QGC WPL 100\n" + _HOME, r"line 1: not a .*expected the header 'QGC WPL 110'"),
        ('{"fileType": "Plan"}', r"line 1: not a"),
        ("QGC WPL 110\n", r"no home line"),
        ("QGC WPL 110\n" + _HOME + "1\t0\t3\t16\t0\t0\t0\t0\t30.26\t120", r"line 3: has 10 fields"),
        ("QGC WPL 110\n" + _HOME + "1\t0\t3\t16\t0\t0\t0\t0\t30.26\t120.13\tabc\t1\n",
         r"line 3: altitude 'abc' is not a number"),
        ("QGC WPL 110\n" + _HOME + "1\t0\t3\t16.5\t0\t0\t0\t0\t30.26\t120.13\t50\t1\n",
         r"line 3: command '16.5' is not an integer 0-65535"),
        ("QGC WPL 110\n" + _HOME + "1\t0\t3\t16\t0\t0\t0\t0\t30.26\t120.13\t50\t1\t9\n",
         r"line 3: has 13 fields, expected 12"),
        ("QGC WPL 110\n" + _HOME + "x\t0\t3\t16\t0\t0\t0\t0\t30.26\t120.13\t50\t1\n",
         r"line 3: sequence number 'x' is not a number"),
        ("QGC WPL 110\n" + _HOME + "2\t0\t3\t16\t0\t0\t0\t0\t30.26\t120.13\t50\t1\n",
         r"line 3: sequence number is 2, expected 1"),
        ("QGC WPL 110\n" + _HOME + "1\t0\t3\t16\t0\t0\t0\t0\t30.26\t120.13\t50\t7\n",
         r"line 3: autocontinue is 7, expected 0 or 1"),
        ("QGC WPL 110\n" + _HOME + "1\t0\t3\t16\t0\t0\t0\t0\t30.26\t120.13\tinf\t1\n",
         r"line 3: altitude 'inf' is infinite"),
        ("QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\t120.13\t30.25\t12.5\t1\n",
         r"line 2: home \(120.13, 30.25\) is not a WGS84"),
        ("QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\tnan\t30.25\t12.5\t1\n",
         r"line 2: home latitude is nan"),
        ("QGC WPL 110\n" + _HOME + "1\t0\t3\t16\t0\t0\t0\t0\t95.0\t120.13\t50\t1\n",
         r"line 3: \(95.0, 120.13\) is not a WGS84 lat, lon"),
    ],
)
def test_malformed_files_raise_plan_file_error(tmp_path: Path, text: str, message: str) -> None:
    path = _broken(tmp_path, text)
    with pytest.raises(PlanFileError, match=message) as caught:
        read_waypoints(path)
    assert str(caught.value).startswith(str(path))


def test_binary_file_raises_plan_file_error(tmp_path: Path) -> None:
    path = tmp_path / "photo.waypoints"
    path.write_bytes(b"\xff\xd8\xff\xe0JFIF")
    with pytest.raises(PlanFileError, match="not UTF-8"):
        read_waypoints(path)


def test_writing_infinite_values_is_refused(tmp_path: Path) -> None:
    plan = MissionPlan(items=(MissionItem(command=16, alt=math.inf),), home=(1.0, 2.0, 3.0))
    with pytest.raises(PlanFileError, match=r"cannot write item 1: inf is infinite"):
        write_waypoints(tmp_path / "bad.waypoints", plan)


_tokens = st.sampled_from(["0", "1", "16", "3", "-1", "1.5", "nan", "inf", "x", "30.25", "1e309"])


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(
        st.lists(_tokens, min_size=0, max_size=14).map("\t".join) | st.text(max_size=30),
        max_size=5,
    )
)
def test_any_text_after_the_header_loads_or_raises_plan_file_error(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str]
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.waypoints"
    path.write_text("\n".join(["QGC WPL 110", *lines]), encoding="utf-8", errors="replace")
    try:
        plan = read_waypoints(path)
    except PlanFileError as exc:
        assert str(exc).startswith(str(path))
    else:
        assert all(math.isfinite(v) for v in plan.home)
