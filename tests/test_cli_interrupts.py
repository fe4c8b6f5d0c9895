"""Ctrl-C in any `gridpatrol` command: exit status 130 (as a shell reports it) and one line saying
what was stopped and what it left, never a traceback nor click's "Aborted!" and status 1.

fly stopped after connecting to our SITL: tests/link/test_fly_stops_and_times.py; sitl finishing
its photos: tests/simulator/test_photo_backlog.py."""

from __future__ import annotations

import io
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import click
import pytest
from click.testing import CliRunner

from groundstation.cli import INTERRUPTED_EXIT, cli
from missions.errors import MissionError

#: Settings that would point a command at a shared station instead of its --data-dir.
_SHARED = ("DATABASE_URL", "REDIS_URL", "GRIDPATROL_DATA_DIR")


class _Command:
    """`gridpatrol ARGS` in its own process, so that signals reach it as they do from a shell;
    its output lines are read as they come."""

    def __init__(self, *args: str) -> None:
        env = {name: value for name, value in os.environ.items() if name not in _SHARED}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "groundstation.cli", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.stdout: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.stdout.put(line)

    def wait_for_line(self, text: str, *, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.stdout.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if text in line:
                return
        raise AssertionError(f"no {text!r} on stdout after {timeout} s")

    def stop(self, signal_number: int) -> tuple[int, str]:
        """Send the signal; the exit status and stderr."""
        self.process.send_signal(signal_number)
        try:
            stderr = self.process.stderr.read()
            return self.process.wait(timeout=60), stderr
        finally:
            self.close()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _udp_port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def test_ctrl_c_while_fly_waits_for_the_vehicle_says_nothing_was_flown(tmp_path) -> None:
    """fly listening on a UDP port nobody sends to: Ctrl-C once it listens (its stops are
    handled by then) is status 130, not 1."""
    from missions.formats import save_mission
    from tests.link.test_sitl import lawnmower

    plan = save_mission(tmp_path / "survey.plan", lawnmower(4, altitude=20.0))
    port = _free_port()
    command = _Command("fly", str(plan), "--connect", f"udp:127.0.0.1:{port}", "--timeout", "60")
    try:
        deadline = time.monotonic() + 60
        while not _udp_port_taken(port):
            assert command.process.poll() is None, command.process.stderr.read()
            assert time.monotonic() < deadline, "fly did not listen"
            time.sleep(0.05)
        status, stderr = command.stop(signal.SIGINT)
    finally:
        command.close()
    assert status == INTERRUPTED_EXIT, stderr
    assert stderr.splitlines()[-1] == (
        "error: interrupted (Ctrl-C) while connecting to the vehicle; nothing was flown"
    )
    assert "Traceback" not in stderr and "Aborted" not in stderr


def _wait_until_served(url: str, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except urllib.error.HTTPError:  # any answer will do
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.parametrize(
    ("signal_number", "status"),
    [(signal.SIGINT, INTERRUPTED_EXIT), (signal.SIGTERM, 0)],
)
def test_serve_ends_130_on_ctrl_c_and_0_on_sigterm(tmp_path, signal_number, status) -> None:
    """SIGTERM is how a service manager stops the station: a clean exit, as before."""
    port = _free_port()
    command = _Command("serve", "--port", str(port), "--data-dir", str(tmp_path))
    try:
        command.wait_for_line("GridPatrol ground station on")
        _wait_until_served(f"http://127.0.0.1:{port}/")  # stopped in waitress's loop
        code, stderr = command.stop(signal_number)
    finally:
        command.close()
    assert code == status, stderr
    assert "Traceback" not in stderr and "Aborted" not in stderr
    if status:
        assert stderr.splitlines()[-1] == "error: interrupted; serve stopped"


def test_ctrl_c_stops_the_worker_with_130(tmp_path) -> None:
    env = {name: value for name, value in os.environ.items() if name not in _SHARED}
    upgrade = subprocess.run(
        [sys.executable, "-m", "groundstation.cli", "db", "upgrade", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    command = _Command("worker", "--data-dir", str(tmp_path))
    try:
        command.wait_for_line("gridpatrol worker:")
        status, stderr = command.stop(signal.SIGINT)
    finally:
        command.close()
    assert status == INTERRUPTED_EXIT, stderr
    assert stderr.splitlines()[-1] == (
        "error: interrupted; worker stopped: a job it did not finish is taken up again once "
        "its lease expires"
    )
    assert "Traceback" not in stderr


def test_ctrl_c_while_planning_writes_no_plan_file(tmp_path, monkeypatch) -> None:
    import missions.planner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(missions.planner, "plan", interrupted)
    ring = [[120.139, 32.512], [120.141, 32.512], [120.141, 32.514], [120.139, 32.514]]
    grid = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    grids = tmp_path / "grids.geojson"
    grids.write_text(json.dumps(grid), encoding="utf-8")
    out = tmp_path / "out" / "jy.plan"
    result = CliRunner().invoke(
        cli,
        ["plan", str(grids), "--home", "32.512,120.139", "--altitude", "100", "--out", str(out)],
    )
    assert result.exit_code == INTERRUPTED_EXIT, result.output
    assert result.stderr == "error: interrupted; plan stopped: no plan file written\n"
    assert [path.name for path in tmp_path.rglob("*")] == ["grids.geojson"]


def test_an_error_a_stop_caused_ends_as_the_stop_does() -> None:
    """fly's (and the demo's) flight brought back after Ctrl-C ends in an error saying what was
    commanded: that line, but Ctrl-C's status (it used to be 1, as for a failure)."""

    @click.command("stopped")
    def stopped() -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            message = "interrupted (Ctrl-C); the vehicle was armed in AUTO: RTL commanded"
            raise MissionError(message) from exc

    @click.command("failed")
    def failed() -> None:
        raise MissionError("flight ended early: battery failsafe")

    cli.add_command(stopped)
    cli.add_command(failed)
    try:
        stop = CliRunner().invoke(cli, ["stopped"])
        failure = CliRunner().invoke(cli, ["failed"])
    finally:
        cli.commands.pop("stopped")
        cli.commands.pop("failed")
    assert stop.exit_code == INTERRUPTED_EXIT
    assert stop.stderr == (
        "error: interrupted (Ctrl-C); the vehicle was armed in AUTO: RTL commanded\n"
    )
    assert failure.exit_code == 1


class _CtrlCAtTheKeyboard(io.RawIOBase):
    """Standard input on which the user presses Ctrl-C instead of typing."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:
        if not len(buffer):  # click probes whether this is a binary stream
            return 0
        raise KeyboardInterrupt


def test_ctrl_c_at_a_password_prompt_is_130_not_aborted() -> None:
    """click's prompts turn Ctrl-C into "Aborted!" and status 1 (db create-user asks so)."""

    @click.command("ask")
    def ask() -> None:
        click.prompt("password", hide_input=True, confirmation_prompt=True)

    cli.add_command(ask)
    try:
        result = CliRunner().invoke(cli, ["ask"], input=_CtrlCAtTheKeyboard())
    finally:
        cli.commands.pop("ask")
    assert result.exit_code == INTERRUPTED_EXIT, result.output
    assert result.stderr.splitlines()[-1] == "error: interrupted; ask stopped"
    assert "Aborted" not in result.output
