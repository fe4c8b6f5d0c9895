"""`gridpatrol upload` and `gridpatrol fly` through click's runner against the simulator."""

from __future__ import annotations

import json
import re
import socket
import time

import pytest
from click.testing import CliRunner

from groundstation.cli import cli
from missions.formats import save_mission
from missions.items import FencePolygon, MissionPlan
from tests.link.conftest import HOME, survey_items


@pytest.fixture
def plan_file(tmp_path):
    d = 1.5e-4  # about 16 m
    items = survey_items()
    # an inclusion fence with home and every waypoint well inside (fly enables it)
    fence = FencePolygon(((HOME[0] - 0.002, HOME[1] - 0.002), (HOME[0] - 0.002, HOME[1] + 0.002),
                          (HOME[0] + 0.002, HOME[1])), True)  # fmt: skip
    plan = MissionPlan(items=tuple(items), home=HOME, fence_polygons=(fence,),
                       rally_points=((HOME[0], HOME[1] + d, 20.0),))  # fmt: skip
    return save_mission(tmp_path / "survey.plan", plan)


@pytest.fixture
def sitl():
    from simulator import Sitl  # the agreed API: `from simulator import Sitl`

    with Sitl(home=HOME, speedup=20, params={"RTL_LOIT_TIME": 0, "CAM1_TYPE": 1}) as simulator:
        yield simulator


def test_upload_verifies_and_prints_one_line(sitl, plan_file) -> None:
    result = CliRunner().invoke(cli, ["upload", str(plan_file), "--connect",
                                      sitl.connection_string])  # fmt: skip
    assert result.exit_code == 0, result.output
    line = result.stdout.strip().splitlines()[-1]
    assert line.startswith("uploaded 7 mission items, 3 fence items and 1 rally point from")
    assert line.endswith(": verified")
    assert "verify mission" in result.stderr  # the progress bar


def test_upload_without_verify(sitl, plan_file) -> None:
    result = CliRunner().invoke(cli, ["upload", str(plan_file), "--no-verify", "--connect",
                                      sitl.connection_string])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "not verified (--no-verify)" in result.stdout
    assert "verify mission" not in result.stderr


def test_bad_connection_string_is_one_line_exit_1(plan_file) -> None:
    result = CliRunner().invoke(cli, ["upload", str(plan_file), "--connect", "bluetooth:drone"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: connection string 'bluetooth:drone': unknown scheme")
    assert "Traceback" not in result.output


def test_nobody_listening_is_one_line_exit_1(plan_file) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = CliRunner().invoke(cli, ["fly", str(plan_file), "--connect", f"tcp:127.0.0.1:{port}",
                                      "--timeout", "0.5"])  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: opening tcp:127.0.0.1:{port}")


def test_upload_to_a_port_nobody_listens_on_fails_in_seconds(plan_file) -> None:
    """With the default --timeout (30 s, for the heartbeat): a refused port is no vehicle."""
    kind = "tcp"
    with socket.socket(type=socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["upload", str(plan_file), "--connect",
                                      f"{kind}:127.0.0.1:{port}"])  # fmt: skip
    assert time.monotonic() - started < 6.0
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and f"{kind}:127.0.0.1:{port}: connection refused" in last


@pytest.mark.slow
def test_fly_lands_and_writes_the_log(sitl, plan_file, tmp_path) -> None:
    log_dir = tmp_path / "log"
    result = CliRunner().invoke(cli, ["fly", str(plan_file), "--connect", sitl.connection_string,
                                      "--log", str(log_dir)])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary, photos = result.stdout.strip().splitlines()[-2:]
    assert summary.startswith("survey.plan: landed: ")
    assert re.search(r"landed: \d+:\d\d flown \(plan \d+:\d\d\), ", summary), summary
    assert "photos taken by the vehicle, none downloaded" in photos  # see test_cli_fly_photos
    assert "4/4 waypoints" in summary and f"log in {log_dir}" in summary
    assert "AUTO armed" in result.stderr  # the live status line
    assert "\n\n" not in result.stderr  # off a terminal: no blank lines from the progress bars
    document = json.loads((log_dir / "flight.json").read_text())
    assert document["summary"]["landed"] and document["summary"]["all_reached"]
    assert (log_dir / "telemetry.csv").stat().st_size > 0


def test_fly_refused_arm_exits_1_with_the_reason(plan_file) -> None:
    from simulator import Sitl

    with Sitl(home=HOME, speedup=20, params={"BATT_ARM_VOLT": 30}) as sitl:
        result = CliRunner().invoke(cli, ["fly", str(plan_file), "--connect",
                                          sitl.connection_string])  # fmt: skip
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: arm: vehicle refused (MAV_RESULT_FAILED): PreArm: Battery 1")


@pytest.mark.parametrize(
    ("command", "options", "message"),
    [
        ("fly", ["--timeout", "0"], "'--timeout': 0.0 is not in the range x>0"),
        ("fly", ["--endurance", "-5"], "'--endurance': -5.0 is not in the range x>0"),
        ("fly", ["--reserve", "150"], "'--reserve': 150.0 is not in the range 0<=x<100"),
        ("upload", ["--timeout", "-1"], "'--timeout': -1.0 is not in the range x>0"),
    ],
)
def test_link_options_out_of_range_are_usage_errors(plan_file, command, options, message) -> None:
    result = CliRunner().invoke(cli, [command, str(plan_file), "--connect", "tcp:127.0.0.1:9",
                                      *options])  # fmt: skip
    assert result.exit_code == 2
    assert message in result.stderr


def test_fly_log_folder_below_a_file_is_refused_before_connecting(plan_file, tmp_path) -> None:
    (tmp_path / "notes").write_text("a file, not a folder")
    log_dir = tmp_path / "notes" / "flight1"
    result = CliRunner().invoke(cli, ["fly", str(plan_file), "--connect", "tcp:127.0.0.1:9",
                                      "--log", str(log_dir)])  # fmt: skip
    assert result.exit_code == 2
    assert f"{tmp_path / 'notes'} is not a folder" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_a_second_fly_on_the_same_vehicle_flies_the_whole_mission_again(sitl, plan_file) -> None:
    for _ in range(2):
        result = CliRunner().invoke(cli, ["fly", str(plan_file), "--connect",
                                          sitl.connection_string])  # fmt: skip
        assert result.exit_code == 0, result.output
        assert ": landed: " in result.stdout and "4/4 waypoints" in result.stdout


def test_fly_a_plan_without_waypoints_is_refused_before_take_off(sitl, tmp_path) -> None:
    plan = MissionPlan(items=(), home=HOME, rally_points=((HOME[0], HOME[1], 20.0),))
    path = save_mission(tmp_path / "empty.plan", plan)
    result = CliRunner().invoke(cli, ["fly", str(path), "--connect", sitl.connection_string,
                                      "--timeout", "5"])  # fmt: skip
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == "error: pre-flight checks failed: mission (the plan has no navigation items)"
    assert not sitl.snapshot().armed
