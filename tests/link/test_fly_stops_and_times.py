"""What `fly` tells a test engineer, from the QA report: a stop by SIGTERM or SIGHUP acts like
Ctrl-C (the vehicle told to return, flight.json written with why), stops are said in words,
another controller's mode change is no failsafe, and flight times are the vehicle's."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gis.messages import msg
from groundstation.cli.fly import StopSignals
from missions.formats import save_mission
from missions.link import FlightAborted, connect, fly
from missions.link.errors import Interrupted, StoppedAgain
from missions.link.flight import (
    FAILSAFE_TEXT_WINDOW_S,
    clock_text,
    estimate_mission,
    mode_change,
)
from tests.link.conftest import HOME
from tests.link.test_sitl import LOOPBACK, lawnmower

PARAMS = {"RTL_LOIT_TIME": 0}


def _wait_until(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout} s")
        time.sleep(0.05)


def _in_auto(sitl) -> bool:
    snapshot = sitl.snapshot()
    return snapshot.armed and snapshot.mode == "AUTO" and snapshot.relative_alt > 5.0


def _stamps(events: list[str], word: str) -> list[float]:
    """The simulator's clock at each event line ``[   60.2s] armed`` of ``word``."""
    return [float(line[1:].split("s]")[0]) for line in events if line.endswith(f"] {word}")]


def _summary(log_dir: Path) -> dict:
    return json.loads((log_dir / "flight.json").read_text())["summary"]


# -- 1. and 2. stops: signals like Ctrl-C, said in words ------------------------------------------


def _start_fly(plan_path: Path, url: str, log_dir: Path) -> subprocess.Popen:
    """`gridpatrol fly` in its own process, so that signals reach it as they would in a shell."""
    command = [sys.executable, "-m", "groundstation.cli", "fly", str(plan_path),
               "--connect", url, "--log", str(log_dir), "--timeout", "60"]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signal_name", "words"),
    [
        ("SIGTERM", "stopped by signal SIGTERM"),
        ("SIGHUP", "stopped by signal SIGHUP"),
        ("SIGINT", "interrupted (Ctrl-C)"),
    ],
)
def test_a_stop_signal_in_flight_commands_rtl_and_writes_flight_json(
    signal_name, words, tmp_path
) -> None:
    from simulator import Sitl

    plan_path = save_mission(tmp_path / "survey.plan", lawnmower(24, altitude=20.0))
    log_dir = tmp_path / "log"
    with Sitl(home=HOME, speedup=5, params=PARAMS) as sitl:
        process = _start_fly(plan_path, sitl.connection_string, log_dir)
        try:
            _wait_until(lambda: _in_auto(sitl), timeout=90.0, what="flying the mission")
            # a few waypoints on: fly has heard the AUTO heartbeat too (the message names the
            # mode fly knows, which trails the simulator's by up to a heartbeat)
            _wait_until(lambda: sitl.autopilot.current_seq >= 4, timeout=60.0, what="waypoints")
            process.send_signal(getattr(signal, signal_name))
            _stdout, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        _wait_until(lambda: sitl.snapshot().mode == "RTL", timeout=5.0, what="returning")
    expected = f"{words}; the vehicle was armed in AUTO: RTL commanded"
    assert process.returncode == 130, stderr  # as a shell reports Ctrl-C, not a failure (1)
    assert stderr.strip().splitlines()[-1] == f"error: {expected}"
    assert "Interrupt" not in stderr and "Traceback" not in stderr
    summary = _summary(log_dir)
    assert summary["outcome"] == "failed" and summary["landed"] is False
    assert summary["reason"] == expected
    assert summary["duration_s"] > 0 and summary["planned_s"] > 0
    assert (log_dir / "telemetry.csv").stat().st_size > 0


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signal_name", "words"),
    [("SIGTERM", "stopped by signal SIGTERM"), ("SIGINT", "interrupted (Ctrl-C)")],
)
def test_a_stop_before_takeoff_leaves_the_vehicle_alone_and_says_why(
    signal_name, words, tmp_path
) -> None:
    """Stopped while the pre-flight checks wait (the vehicle stands far from the plan's home):
    nothing armed, flight.json says the flight was aborted and why, exit status 130."""
    from simulator import Sitl

    far = lawnmower(8, altitude=20.0)
    far = type(far)(items=far.items, home=(HOME[0] + 0.05, HOME[1], HOME[2]))
    plan_path = save_mission(tmp_path / "far.plan", far)
    log_dir = tmp_path / "log"
    with Sitl(home=HOME, speedup=5, params=PARAMS) as sitl:
        process = _start_fly(plan_path, sitl.connection_string, log_dir)
        try:
            _wait_until(lambda: (log_dir / "telemetry.csv").exists(), timeout=60.0,
                        what="started")  # fmt: skip
            time.sleep(3.0)  # uploading or checking by now
            process.send_signal(getattr(signal, signal_name))
            _stdout, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        armed = sitl.snapshot().armed
    assert process.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    assert last == f"error: {words} before takeoff; fly had not armed the vehicle"
    assert "Traceback" not in stderr and "Aborted" not in stderr
    assert not armed
    summary = _summary(log_dir)
    assert summary["outcome"] == "aborted" and summary["reason"] == words
    assert summary["armed"] is False and summary["duration_s"] is None


def test_the_first_stop_signal_interrupts_and_a_second_exits_at_once() -> None:
    stops = StopSignals()
    with pytest.raises(Interrupted) as first:
        stops.handle(signal.SIGTERM, None)
    assert not isinstance(first.value, StoppedAgain)
    assert str(first.value) == "stopped by signal SIGTERM"
    with pytest.raises(StoppedAgain) as second:
        stops.handle(signal.SIGHUP, None)
    assert str(second.value) == (
        "stopped by signal SIGHUP again: exited at once, without waiting for the vehicle; check "
        "whether it is still armed"
    )
    assert stops.received == ["SIGTERM", "SIGHUP"]


def test_stop_signals_are_restored_after_use() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with StopSignals() as stops:
        assert signal.getsignal(signal.SIGTERM) == stops.handle
    assert signal.getsignal(signal.SIGTERM) == before


@pytest.mark.slow
def test_ctrl_c_in_flight_is_said_in_words(tmp_path) -> None:
    """The QA report: "error: KeyboardInterrupt; the vehicle was armed in AUTO: RTL commanded"."""
    from simulator import Sitl

    def ctrl_c(snapshot) -> None:
        if snapshot.mode == "AUTO" and snapshot.position.relative_alt_m > 5:
            raise KeyboardInterrupt

    with (
        Sitl(home=HOME, speedup=20, params=PARAMS) as sitl,
        connect(sitl.connection_string, timeout=30, settings=LOOPBACK) as vehicle,
        pytest.raises(FlightAborted) as caught,
    ):
        fly(vehicle, lawnmower(12, altitude=20.0), log_dir=tmp_path, on_status=ctrl_c,
            preflight_timeout_s=60)  # fmt: skip
    expected = "interrupted (Ctrl-C); the vehicle was armed in AUTO: RTL commanded"
    assert str(caught.value) == expected
    assert caught.value.args[0].values["error"] == msg("interrupted (Ctrl-C)")  # translatable
    assert _summary(tmp_path)["reason"] == expected


@pytest.mark.slow
def test_a_second_stop_while_bringing_the_vehicle_back_ends_fly_at_once(tmp_path) -> None:
    """The second stop comes while fly commands RTL: fly ends with it at once (no waiting for
    the vehicle), and flight.json still says what happened."""
    from simulator import Sitl

    def first_stop(snapshot) -> None:
        if snapshot.mode == "AUTO" and snapshot.position.relative_alt_m > 5:
            raise Interrupted.by_signal("SIGTERM")

    with (
        Sitl(home=HOME, speedup=20, params=PARAMS) as sitl,
        connect(sitl.connection_string, timeout=30, settings=LOOPBACK) as vehicle,
    ):
        stops = StopSignals()
        stops.received.append("SIGTERM")  # the first stop came already

        def rtl_interrupted() -> None:
            stops.handle(signal.SIGTERM, None)

        vehicle.rtl = rtl_interrupted  # the second signal arrives while RTL is being sent
        with pytest.raises(StoppedAgain):
            fly(vehicle, lawnmower(12, altitude=20.0), log_dir=tmp_path, on_status=first_stop,
                preflight_timeout_s=60)  # fmt: skip
    summary = _summary(tmp_path)
    assert summary["outcome"] == "failed" and summary["armed"] is True
    assert summary["reason"].startswith("stopped by signal SIGTERM again: exited at once")


# -- 3. a failsafe or another controller ----------------------------------------------------------


def test_a_mode_change_without_a_warning_before_it_is_another_controllers() -> None:
    warnings = [(100.0, "Battery 1 is low 10.2V used 4000 mAh")]
    late = mode_change("RTL", warnings, now_s=100.0 + FAILSAFE_TEXT_WINDOW_S + 60)
    assert not late.failsafe
    assert str(late.text) == (
        "the mode was changed to RTL by another controller (RC or ground station)"
    )
    prompt = mode_change("RTL", warnings, now_s=101.0)
    assert prompt.failsafe
    assert str(prompt.text) == "vehicle switched to RTL (Battery 1 is low 10.2V used 4000 mAh)"
    assert prompt.text.template == "vehicle switched to %(mode)s (%(reasons)s)"


@pytest.mark.slow
def test_rtl_by_another_ground_station_is_no_failsafe(tmp_path) -> None:
    from simulator import Sitl

    plan = lawnmower(24, altitude=20.0)
    with (
        Sitl(home=HOME, speedup=10, params=PARAMS) as sitl,
        connect(sitl.connection_string, timeout=30, settings=LOOPBACK) as vehicle,
    ):

        def other_station_takes_over(snapshot) -> None:
            if snapshot.mode == "AUTO" and 3 in snapshot.mission.reached:
                with connect(sitl.connection_string, timeout=30, settings=LOOPBACK) as other:
                    other.set_mode("RTL")

        with pytest.raises(FlightAborted) as caught:
            fly(vehicle, plan, log_dir=tmp_path, on_status=other_station_takes_over,
                preflight_timeout_s=60)  # fmt: skip
    change = "the mode was changed to RTL by another controller (RC or ground station)"
    assert caught.value.args[0].template == "flight ended early: %(changes)s; %(summary)s"
    message = str(caught.value)
    assert message.startswith(f"flight ended early: {change}; returned early: "), message
    assert "failsafe" not in message
    result = caught.value.result
    assert result.failsafes == () and result.mode_changes == (change,)
    document = json.loads((tmp_path / "flight.json").read_text())
    summary = document["summary"]
    assert summary["failsafes"] == [] and summary["mode_changes"] == [change]
    kinds = {event["kind"] for event in document["events"]}
    assert "mode_changed_by_other" in kinds and "failsafe" not in kinds


# -- 4. flight times by the vehicle's clock --------------------------------------------------------


@pytest.mark.slow
def test_flight_time_is_the_vehicles_next_to_the_plans(tmp_path) -> None:
    """At speed-up 20 the flight takes seconds of ours and minutes of the vehicle's: the
    result, its summary and flight.json give the vehicle's, next to the plan's estimate."""
    from simulator import Sitl

    plan = lawnmower(16, altitude=20.0, spacing_m=20.0)
    events: list[str] = []
    with (
        Sitl(home=HOME, speedup=20, params=PARAMS, on_event=events.append) as sitl,
        connect(sitl.connection_string, timeout=30, settings=LOOPBACK) as vehicle,
    ):
        result = fly(vehicle, plan, log_dir=tmp_path, preflight_timeout_s=60)
    assert result.landed and result.all_reached
    armed = _stamps(events, "armed")
    disarmed = _stamps(events, "disarmed")
    assert len(armed) == len(disarmed) == 1, events
    assert result.duration_s == pytest.approx(disarmed[0] - armed[0], abs=2.0)
    planned = estimate_mission(plan).duration_s
    assert result.planned_s == pytest.approx(planned)
    assert result.duration_s is not None and result.duration_wall_s is not None
    assert result.duration_s > 3 * result.duration_wall_s  # the vehicle's seconds, not ours
    assert 0.5 * planned < result.duration_s < 2.0 * planned
    flown, plan_time = clock_text(result.duration_s), clock_text(planned)
    assert result.summary().startswith(f"landed: {flown} flown (plan {plan_time}), 12/12 ")
    summary = _summary(tmp_path)
    assert summary["duration_s"] == pytest.approx(result.duration_s)
    assert summary["duration_wall_s"] == pytest.approx(result.duration_wall_s)
    assert summary["outcome"] == "complete" and "reason" not in summary
