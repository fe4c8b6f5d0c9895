"""`gridpatrol sitl`: starts, prints state changes, stops; bad options are one-line errors."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from pymavlink import mavutil

from groundstation.cli import cli


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_runs_for_a_duration_and_reports(runner: CliRunner, tmp_path) -> None:
    parm = tmp_path / "p.parm"
    parm.write_text("SIM_GPS_DELAY 0.5\n", encoding="utf-8")
    result = runner.invoke(
        cli,
        [
            "sitl",
            "--listen",
            "tcp:127.0.0.1:0",
            "--speedup",
            "10",
            "--params",
            str(parm),
            "--duration",
            "0.5",
        ],
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"listening on tcp:127\.0\.0\.1:\d+", result.output)
    assert "EKF3 IMU0 is using GPS" in result.output
    assert "stopped after" in result.output


def test_photos_without_a_world_are_warned_about(runner: CliRunner, tmp_path) -> None:
    args = ["sitl", "--listen", "tcp:127.0.0.1:0", "--duration", "0"]
    result = runner.invoke(cli, [*args, "--photos", str(tmp_path / "photos")])
    assert result.exit_code == 0, result.output
    assert "warning: no --world GeoTIFF" in result.stderr
    assert "warning" not in runner.invoke(cli, args).output  # no photos asked for: nothing said


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--home", "32.5,120.1"], "LAT,LON,ALT"),
        (["--home", "132.5,20.1,5"], "latitude"),
        (["--wind", "fast"], "SPEED,DIR"),
        (["--wind", "10,400"], "wind direction must be 0 to 360 degrees"),
        (["--wind", "10,-1"], "wind direction must be 0 to 360 degrees"),
        (["--speedup", "0"], "speedup"),
    ],
)
def test_bad_options_are_usage_errors(runner: CliRunner, options, message) -> None:
    result = runner.invoke(cli, ["sitl", *options, "--duration", "0"])
    assert result.exit_code == 2
    assert message in result.output


def test_simulator_errors_are_one_line(runner: CliRunner, tmp_path) -> None:
    parm = tmp_path / "p.parm"
    parm.write_text("NO_SUCH_PARAM 1\n", encoding="utf-8")
    result = runner.invoke(cli, ["sitl", "--params", str(parm), "--duration", "0"])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {parm}:1: unknown parameter 'NO_SUCH_PARAM'"
    bad = runner.invoke(cli, ["sitl", "--listen", "serial:/dev/ttyS0", "--duration", "0"])
    assert bad.exit_code == 1 and "tcp:HOST:PORT" in bad.stderr


def test_prints_mode_and_arming_changes_to_a_real_client(tmp_path) -> None:
    """The command in its own process, driven by pymavlink, until the test ends it."""
    params = tmp_path / "fast.parm"
    params.write_text("SIM_GPS_DELAY 0.2\n", encoding="utf-8")
    script = (
        "from groundstation.cli import cli\n"
        "cli(['sitl', '--listen', 'tcp:127.0.0.1:0', '--speedup', '20', '--duration', '20',"
        f" '--params', {str(params)!r}])\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline()
        address = re.search(r"tcp:127\.0\.0\.1:\d+", first).group(0)
        conn = mavutil.mavlink_connection(address, source_system=255)
        conn.wait_heartbeat(timeout=5)
        time.sleep(0.2)
        conn.mav.command_long_send(1, 1, 176, 0, 1, 4, 0, 0, 0, 0, 0)
        conn.mav.command_long_send(1, 1, 400, 0, 1, 0, 0, 0, 0, 0, 0)
        lines = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("armed" in line for line in lines):
            lines.append(process.stdout.readline())
        conn.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert any("mode GUIDED" in line for line in lines), lines
    assert any(line.rstrip().endswith("armed") for line in lines), lines


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("BATT_CAPACITY -5", "BATT_CAPACITY value '-5' must be at least 0"),
        ("SIM_WIND_DIR 400", "SIM_WIND_DIR value '400' must be 0 to 360"),
        ("FENCE_RADIUS 10", "FENCE_RADIUS value '10' must be 30 to 10000"),
    ],
)
def test_parameters_out_of_arducopters_range_are_refused_with_file_and_line(
    runner: CliRunner, tmp_path, line: str, message: str
) -> None:
    # A negative capacity would start a vehicle whose battery reads empty: refuse it at start,
    # naming the file and line like a value that is not a number.
    parm = tmp_path / "p.parm"
    parm.write_text(f"# tuned\nSIM_GPS_DELAY 0.5\n{line}\n", encoding="utf-8")
    result = runner.invoke(cli, ["sitl", "--params", str(parm), "--duration", "0"])
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {parm}:3: {message}"
