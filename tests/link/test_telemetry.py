"""Telemetry tracking, the flight log, pre-flight checks and the mission estimate (all pure)."""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import replace

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mav

from gis.messages import Message
from missions.items import Command, Frame, MissionItem, MissionPlan
from missions.link.flight import estimate_mission, preflight_checks, waypoint_sequences
from missions.link.telemetry import FlightLog, LandedState, TelemetryTracker, mode_name


def wire(message):
    """Pack as the vehicle (system 1) would and parse back, so headers are real."""
    buf = message.pack(mav.MAVLink(None, srcSystem=1, srcComponent=1))
    return mav.MAVLink(None).decode(bytearray(buf))


def fed_tracker() -> TelemetryTracker:
    tracker = TelemetryTracker(target_system=1)
    for message in [
        mav.MAVLink_heartbeat_message(2, 3, 1 | 128, 3, 4, 3),
        mav.MAVLink_global_position_int_message(1000, 302741000, 1201551000, 52000, 40000,
                                                300, 400, -100, 9000),
        mav.MAVLink_attitude_message(1000, 0.1, -0.05, math.radians(270), 0, 0, 0),
        mav.MAVLink_sys_status_message(0, 0, 0, 500, 12100, 1500, 78, 0, 0, 0, 0, 0, 0),
        mav.MAVLink_gps_raw_int_message(0, 3, 0, 0, 0, 0, 0, 0, 0, 14),
        mav.MAVLink_ekf_status_report_message(16 | 8 | 1, 0, 0, 0, 0, 0),
        mav.MAVLink_extended_sys_state_message(0, 2),
        mav.MAVLink_home_position_message(302740000, 1201550000, 12000, 0, 0, 0, [1, 0, 0, 0],
                                          0, 0, 0),
        mav.MAVLink_mission_current_message(5),
        mav.MAVLink_mission_item_reached_message(3),
        mav.MAVLink_mission_item_reached_message(4),
        mav.MAVLink_statustext_message(4, b"Battery 1 is low"),
        mav.MAVLink_camera_feedback_message(0, 1, 0, 7, 302741000, 1201551000, 52.0, 40.0,
                                            0, 0, 90, 8.8, 0),
    ]:  # fmt: skip
        tracker.on_message(wire(message))
    return tracker


def test_tracker_folds_messages_into_a_snapshot() -> None:
    tracker = fed_tracker()
    t = tracker.snapshot(texts_since=0)
    assert (t.mode, t.armed) == ("AUTO", True)
    assert t.position.lat == pytest.approx(30.2741) and t.position.relative_alt_m == 40.0
    assert t.position.groundspeed_mps == pytest.approx(5.0) and t.position.climb_mps == 1.0
    assert t.attitude.yaw_deg == pytest.approx(270.0)
    assert t.battery.voltage_v == pytest.approx(12.1) and t.battery.remaining_pct == 78
    assert (t.gps.fix_type, t.gps.satellites) == (3, 14)
    assert t.ekf_ok is True
    assert t.landed_state == LandedState.IN_AIR and not t.on_ground
    assert t.home == pytest.approx((30.274, 120.155, 12.0))
    assert (t.mission.current, t.mission.reached) == (5, (3, 4))
    assert t.photos == 1 and tracker.camera_events[0].image_index == 7
    assert [s.text for s in t.status_texts] == ["Battery 1 is low"]
    assert tracker.snapshot(texts_since=tracker.status_count).status_texts == ()
    line = t.one_line()
    assert line.startswith("AUTO armed 30.274100,120.155100 40m 5.0m/s")
    assert "78%" in line and line.endswith("| 1 photo")  # not "1 photos"


def test_tracker_ignores_other_systems_and_gcs_heartbeats() -> None:
    tracker = TelemetryTracker(target_system=1)
    gcs = mav.MAVLink_heartbeat_message(6, 8, 0, 0, 4, 3)
    tracker.on_message(wire(gcs))
    other = mav.MAVLink_heartbeat_message(2, 3, 128, 6, 4, 3)
    buf = other.pack(mav.MAVLink(None, srcSystem=2, srcComponent=1))
    tracker.on_message(mav.MAVLink(None).decode(bytearray(buf)))
    assert tracker.heartbeats == 0 and tracker.mode == "UNKNOWN"


def test_ekf_constant_position_mode_is_not_ok() -> None:
    tracker = TelemetryTracker()
    tracker.on_message(wire(mav.MAVLink_ekf_status_report_message(16 | 128, 0, 0, 0, 0, 0)))
    assert tracker.ekf_ok is False
    assert mode_name(6) == "RTL" and mode_name(99) == "MODE99"


def test_flight_log_writes_csv_and_json(tmp_path) -> None:
    tracker = fed_tracker()
    log = FlightLog(tmp_path / "log")
    log.record(tracker.snapshot(texts_since=0))
    log.camera(tracker.camera_events[0])
    log.event("mode", "GUIDED -> AUTO", time_s=1.5)
    path = log.close({"landed": True})
    rows = list(csv.DictReader((tmp_path / "log" / "telemetry.csv").open()))
    assert rows[0]["mode"] == "AUTO" and rows[0]["lat"] == "30.2741000"
    photos = list(csv.DictReader((tmp_path / "log" / "camera.csv").open()))
    assert photos[0]["image_index"] == "7"
    document = json.loads(path.read_text())
    assert document["summary"] == {"landed": True}
    assert [e["kind"] for e in document["events"]] == ["statustext", "mode"]
    assert document["camera_events"][0]["lat"] == pytest.approx(30.2741)


def test_rows_and_events_carry_the_vehicles_clock_next_to_ours(tmp_path) -> None:
    """QA: at 50x speed-up the time_s columns counted our seconds while duration_s counts the
    vehicle's, so rows, photos and events could not be lined up with the flight."""
    tracker = fed_tracker()  # time_boot_ms 1000 in every clocked message so far
    log = FlightLog(tmp_path / "log", vehicle_clock=lambda: tracker.vehicle_time_s)
    log.record(tracker.snapshot(texts_since=0))
    log.camera(tracker.camera_events[0])
    tracker.on_message(wire(mav.MAVLink_attitude_message(51_000, 0, 0, 0, 0, 0, 0)))
    log.event("mode", "AUTO -> RTL", time_s=1.0)  # our clock barely moved; the vehicle's did
    log.record(tracker.snapshot())
    path = log.close({"landed": True})
    rows = list(csv.DictReader((tmp_path / "log" / "telemetry.csv").open()))
    assert [row["vehicle_time_s"] for row in rows] == ["1.000", "51.000"]
    assert next(csv.DictReader((tmp_path / "log" / "camera.csv").open()))["vehicle_time_s"] == "1.0"
    events = json.loads(path.read_text())["events"]
    assert [(e["kind"], e["vehicle_time_s"]) for e in events] == [
        ("statustext", 1.0),
        ("mode", 51.0),
    ]
    unclocked = FlightLog(tmp_path / "none")  # no clock heard: the column stays empty
    unclocked.record(TelemetryTracker().snapshot())
    unclocked.event("link", "lost", time_s=0.5)
    document = json.loads(unclocked.close({}).read_text())
    assert document["events"][0]["vehicle_time_s"] is None


def test_snapshots_are_spaced_by_the_vehicles_clock() -> None:
    from missions.link.flight import MIN_SNAPSHOT_WALL_S, snapshot_interval_s

    class Clocked:
        clock_rate: float | None = None

    tracker = Clocked()
    assert snapshot_interval_s(tracker, 0.25) == 0.25  # rate unknown: our seconds
    tracker.clock_rate = 5.0  # a simulator at 5x: 0.25 vehicle s is 0.05 of ours
    assert snapshot_interval_s(tracker, 0.25) == pytest.approx(0.05)
    tracker.clock_rate = 100.0  # never faster than the simulator streams
    assert snapshot_interval_s(tracker, 0.25) == MIN_SNAPSHOT_WALL_S
    tracker.clock_rate = 0.5  # a slow clock never stretches the wait
    assert snapshot_interval_s(tracker, 0.25) == 0.25


def small_plan(**kwargs) -> MissionPlan:
    items = (
        MissionItem(Command.NAV_TAKEOFF, alt=30.0),
        MissionItem(Command.NAV_WAYPOINT, lat=30.2750, lon=120.1551, alt=30.0),
        MissionItem(Command.DO_SET_CAM_TRIGG_DIST, frame=Frame.MISSION, params=(20, 0, 0, 0)),
        MissionItem(Command.NAV_WAYPOINT, lat=30.2750, lon=120.1560, alt=30.0),
        MissionItem(Command.NAV_RETURN_TO_LAUNCH, frame=Frame.MISSION),
    )
    return MissionPlan(items=items, home=(30.2741, 120.1551, 12.0), cruise_speed_mps=5.0, **kwargs)


def test_estimate_and_waypoints() -> None:
    plan = small_plan()
    estimate = estimate_mission(plan, climb_rate_mps=3.0)
    # 100 m north, 86.5 m east, back ~132 m
    assert 300 < estimate.distance_m < 330
    # the planner's model: legs at 5 m/s, 3 s per 90 deg of turn at each waypoint, climb at
    # 3 m/s, RTL's 5 s hover, descent at 1.5 m/s to 10 m and 0.5 m/s below: more than the legs
    # and a straight climb alone
    legs_and_vertical = estimate.distance_m / 5.0 + 30 / 3.0 + 5.0 + 20 / 1.5 + 10 / 0.5
    assert legs_and_vertical + 3.0 < estimate.duration_s < legs_and_vertical + 3 * 6.0
    assert waypoint_sequences(plan) == (2, 4)


def test_preflight_checks_pass_and_fail() -> None:
    snapshot = fed_tracker().snapshot()
    plan = small_plan()
    checks = preflight_checks(snapshot, plan, verified=True, endurance_s=1200, reserve_pct=20)
    assert all(c.ok for c in checks), checks
    names = [c.name for c in checks]
    assert names == ["gps fix", "ekf position", "battery", "mission verified", "home set",
                     "home at plan", "geofence"]  # fmt: skip
    failing = preflight_checks(snapshot, plan, verified=False, endurance_s=100, reserve_pct=20,
                               require_fence=True)  # fmt: skip
    failed = {c.name: str(c.detail) for c in failing if not c.ok}
    assert set(failed) == {"battery", "mission verified", "geofence"}
    assert "mission needs" in failed["battery"]


def test_preflight_details_are_messages_whose_str_is_english() -> None:
    """The ground station shows each detail in its reader's language; str() (CLI, flight.json)
    keeps the English text."""
    snapshot = fed_tracker().snapshot()
    checks = preflight_checks(snapshot, small_plan(), verified=True, endurance_s=1200,
                              reserve_pct=20)  # fmt: skip
    assert all(isinstance(c.detail, Message) for c in checks)
    assert {c.name: str(c.detail) for c in checks} == {
        "gps fix": "fix type 3, 14 satellites",
        "ekf position": "absolute position OK",
        "battery": "78% on board, mission needs 30% incl. 20% reserve",
        "mission verified": "matches the plan",
        "home set": "30.274000,120.155000",
        "home at plan": "15 m from the plan's home (at most 50 m)",  # no advice: it passed
        "geofence": "the plan has no geofence",
    }
    battery = checks[2].detail
    assert battery.template.startswith("%(remaining)s%% on board")
    assert battery.values == {"remaining": "78", "need": "30", "reserve": "20"}
    blind = replace(snapshot, gps=None, ekf_ok=None, home=None)
    failing = preflight_checks(blind, small_plan(), verified=False, endurance_s=1200,
                               reserve_pct=20)  # fmt: skip
    assert [str(c.detail) for c in failing if not c.ok] == [
        "no GPS_RAW_INT",
        "no EKF_STATUS_REPORT; using the GPS fix",
        "not verified",
        "no HOME_POSITION",
        "no home or position to compare yet",
    ]


class _LandingVehicle:
    """Telemetry of a vehicle that lands and disarms, its landed state arriving a beat late."""

    def __init__(self, snapshots):
        self.snapshots = snapshots
        self.last = snapshots[0]
        self.tracker = self
        self.clock_confirmed = True
        self.camera_events = []  # no camera: no image count to ask for after landing
        self.image_count = None
        self.vehicle_time_s = None  # no vehicle clock heard: flight limits count in ours
        self.heartbeats = self.messages = 0  # a link that never goes silent for long here
        self.mode_heard = None

    def now(self) -> float:
        return self.last.time_s

    def telemetry(self, *, interval_s: float, texts_since: int | None = None):
        for snapshot in self.snapshots:
            self.last = snapshot
            yield snapshot

    def snapshot(self):
        return self.last

    def rtl(self) -> None:
        raise AssertionError("no RTL expected")


def test_a_landed_state_trailing_the_disarm_is_not_a_disarm_in_the_air() -> None:
    from missions.link.flight import FlightTiming, _watch
    from missions.link.telemetry import MissionProgress, Position, Telemetry

    plan = small_plan()
    reached = (1, 2, 3, 4, 5)

    def at(t, *, armed, alt, landed):
        position = Position(30.2741, 120.1551, 12.0 + alt, alt, 0.0, 0.0, 0.0)
        return Telemetry(t, "AUTO", armed, position, None, None, None, None,
                         landed, None, MissionProgress(5, 6, reached), 0)  # fmt: skip

    snapshots = [
        at(1.0, armed=True, alt=40.0, landed=LandedState.IN_AIR),
        at(2.0, armed=True, alt=0.2, landed=LandedState.LANDING),
        at(3.0, armed=False, alt=0.0, landed=LandedState.LANDING),  # disarm heartbeat first
        at(3.1, armed=False, alt=0.0, landed=LandedState.ON_GROUND),  # then EXTENDED_SYS_STATE
    ]
    result = _watch(_LandingVehicle(snapshots), plan, log=None, record=lambda s: None,
                    started=FlightTiming(60.0, time.monotonic(), None), interval_s=0.0,
                    timeout_s=60.0)  # fmt: skip
    assert result.landed and result.max_relative_alt_m == 40.0
