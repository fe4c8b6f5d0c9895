"""Flight safety in the link layer, against our simulator: a takeoff whose ACK was lost is not
taken for a refusal, an error after arming brings the vehicle home, nothing is uploaded to an
armed vehicle, altitudes out of the planner's limits are refused before anything is sent, and
`fly` says when the link drops and comes back."""

from __future__ import annotations

import math
import threading
import time

import pytest
from click.testing import CliRunner
from pymavlink.dialects.v20 import ardupilotmega as mav

from groundstation.cli import cli
from missions.formats import save_mission
from missions.items import Command, Frame, MissionItem, MissionPlan
from missions.link import FlightAborted, UnsafePlan, VehicleArmed, connect, fly
from missions.link.transfer import MAX_ALTITUDE_M, MIN_ALTITUDE_M, altitude_problem
from missions.link.vehicle import Vehicle, VehicleSettings
from tests.link.conftest import HOME, LossyUdpRelay
from tests.link.test_reconnect import LOOPBACK
from tests.lossy_relay import LossyRelay

D = 1.5e-4  # about 16 m


def small_plan(*, altitude: float = 15.0, n: int = 4) -> MissionPlan:
    items = [
        MissionItem(Command.NAV_TAKEOFF, alt=altitude),
        *(
            MissionItem(Command.NAV_WAYPOINT, lat=HOME[0] + (k // 2) * D,
                        lon=HOME[1] + (k % 2) * D, alt=altitude)
            for k in range(n)
        ),
        MissionItem(Command.NAV_RETURN_TO_LAUNCH, frame=Frame.MISSION),
    ]  # fmt: skip
    return MissionPlan(items=tuple(items), home=HOME)


class AckDroppingRelay(LossyUdpRelay):
    """A UDP relay that loses the first COMMAND_ACK of ``command`` on its way to the ground."""

    def __init__(self, command: int) -> None:
        super().__init__(loss=0.0, reorder=0.0)
        self.command = command
        self.dropped_acks = 0
        self._parser = mav.MAVLink(None)

    def _forward(self, direction: int, data: bytes, out, to) -> None:
        if direction == 1 and self.dropped_acks == 0:
            try:
                messages = self._parser.parse_buffer(data) or []
            except mav.MAVError:
                messages = []
            if any(m.get_type() == "COMMAND_ACK" and m.command == self.command for m in messages):
                self.dropped_acks += 1
                return
        super()._forward(direction, data, out, to)


def _ready(vehicle: Vehicle) -> None:
    vehicle.wait_for(lambda t: t.gps is not None and t.gps.fix_type >= 3 and t.home is not None,
                     timeout=30, step="GPS fix")  # fmt: skip


def _airborne(vehicle: Vehicle, altitude: float = 15.0) -> None:
    _ready(vehicle)
    vehicle.set_mode("GUIDED")
    vehicle.arm()
    vehicle.takeoff(altitude)
    vehicle.wait_for(lambda t: t.position.relative_alt_m > 5, timeout=30, step="climb")


# -- 1. a lost ACK of a non-idempotent command; any error after arming brings it home ---------


def test_takeoff_whose_ack_was_lost_is_not_a_refusal() -> None:
    """The retry is refused (the vehicle already flies); the vehicle's state says it worked."""
    from simulator import Sitl

    settings = VehicleSettings(command_timeout_s=0.5, command_retries=4)
    with (
        AckDroppingRelay(mav.MAV_CMD_NAV_TAKEOFF) as relay,
        Sitl(home=HOME, speedup=10, out=f"udp:127.0.0.1:{relay.vehicle_port}"),
        connect(f"udpout:127.0.0.1:{relay.gcs_port}", timeout=30, settings=settings) as v,
    ):
        _ready(v)
        v.set_mode("GUIDED")
        v.arm()
        v.takeoff(20.0)  # before the fix: "vehicle refused (MAV_RESULT_FAILED)"
        v.wait_for(lambda t: t.position.relative_alt_m > 10, timeout=30, step="climb")
    assert relay.dropped_acks == 1


def test_an_error_after_arming_commands_rtl_and_says_so(tmp_path) -> None:
    from simulator import Sitl

    def operator_gone(snapshot) -> None:
        if snapshot.mode == "AUTO" and snapshot.position.relative_alt_m > 5:
            raise RuntimeError("status display crashed")

    with (
        Sitl(home=HOME, speedup=20, params={"RTL_LOIT_TIME": 0}) as sitl,
        connect(sitl.connection_string, timeout=30, settings=LOOPBACK) as vehicle,
        pytest.raises(FlightAborted) as caught,
    ):
        try:
            fly(vehicle, small_plan(n=8), on_status=operator_gone, preflight_timeout_s=60)
        finally:  # the simulator's own snapshot trails its heartbeats by a step or two
            waited = time.monotonic() + 5.0
            while sitl.snapshot().mode != "RTL" and time.monotonic() < waited:
                time.sleep(0.05)
            mode = sitl.snapshot().mode
    assert str(caught.value) == (
        "status display crashed; the vehicle was armed in AUTO: RTL commanded"
    )
    assert mode == "RTL"


# -- 2. nothing is uploaded to an armed vehicle ---------------------------------------------------


@pytest.fixture
def flying_sitl():
    from simulator import Sitl

    with (
        Sitl(home=HOME, speedup=20) as sitl,
        connect(sitl.connection_string, timeout=30, settings=LOOPBACK) as pilot,
    ):
        pilot.upload(small_plan())
        _airborne(pilot)
        yield sitl, pilot


def test_upload_to_an_armed_vehicle_is_refused_and_its_mission_kept(flying_sitl) -> None:
    sitl, pilot = flying_sitl
    other = small_plan(altitude=40.0, n=2)
    with (
        connect(sitl.connection_string, timeout=30, settings=LOOPBACK) as vehicle,
        pytest.raises(VehicleArmed) as caught,
    ):
        vehicle.upload(other)
    assert str(caught.value) == (
        "upload: the vehicle is armed: nothing is uploaded to a flying vehicle; land it first"
    )
    assert len(pilot.download_mission()) == 1 + len(small_plan().items)  # home + the old plan


def test_cli_upload_and_fly_refuse_an_armed_vehicle(flying_sitl, tmp_path) -> None:
    sitl, pilot = flying_sitl
    path = save_mission(tmp_path / "other.plan", small_plan(altitude=40.0, n=2))
    refusals = {
        "upload": "upload: the vehicle is armed: nothing is uploaded to a flying vehicle",
        # fly compares what it flies with the plan: its own would be taken over
        "fly": "upload: the vehicle is armed and flies another mission (",
    }
    for verb, refusal in refusals.items():
        result = CliRunner().invoke(cli, [verb, str(path), "--connect", sitl.connection_string])
        assert result.exit_code == 1, result.output
        assert refusal in result.stderr
        assert "nothing is uploaded to a flying vehicle" in result.stderr
    assert len(pilot.download_mission()) == 1 + len(small_plan().items)
    assert sitl.snapshot().mode == "GUIDED"  # fly left it alone: it never armed it


# -- 3. altitudes out of the planner's limits -----------------------------------------------------


def test_the_limits_are_the_planners() -> None:
    from gis.camera import load_camera
    from missions.errors import PlanningError
    from missions.planner.settings import PlanSettings

    camera = load_camera("mavic3e")
    for bad in (MIN_ALTITUDE_M - 0.1, MAX_ALTITUDE_M + 0.1):
        with pytest.raises(PlanningError, match="altitude must be between 10 and 500"):
            PlanSettings(camera=camera, altitude_m=bad, speed_mps=2.0)
    for good in (MIN_ALTITUDE_M, MAX_ALTITUDE_M):
        assert PlanSettings(camera=camera, altitude_m=good, speed_mps=2.0).altitude_m == good


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        (MissionItem(Command.NAV_WAYPOINT, lat=HOME[0], lon=HOME[1], alt=-50.0),
         "mission item 3 (vehicle seq 4, NAV_WAYPOINT): altitude -50 m above home is outside "
         "10 to 500 m"),
        (MissionItem(Command.NAV_WAYPOINT, lat=HOME[0], lon=HOME[1], alt=5000.0),
         "mission item 3 (vehicle seq 4, NAV_WAYPOINT): altitude 5000 m above home is outside "
         "10 to 500 m"),
        (MissionItem(Command.NAV_LOITER_TIME, lat=HOME[0], lon=HOME[1], alt=math.nan),
         "mission item 3 (vehicle seq 4, NAV_LOITER_TIME): altitude nan m above home is outside "
         "10 to 500 m"),
        (MissionItem(Command.NAV_TAKEOFF, alt=0.0),
         "mission item 3 (vehicle seq 4, NAV_TAKEOFF): takeoff altitude 0 m above home; it must "
         "be above 0 m and at most 500 m"),
        (MissionItem(Command.NAV_WAYPOINT, frame=Frame.GLOBAL, lat=HOME[0], lon=HOME[1], alt=5),
         None),  # above sea level: not the planner's heights
        (MissionItem(Command.NAV_TAKEOFF, alt=5.0), None),
        (MissionItem(Command.NAV_LAND, lat=HOME[0], lon=HOME[1], alt=0.0), None),
        (MissionItem(Command.NAV_RETURN_TO_LAUNCH, frame=Frame.MISSION), None),
        (MissionItem(Command.DO_SET_CAM_TRIGG_DIST, frame=Frame.MISSION), None),
    ],
)  # fmt: skip
def test_altitude_problem_names_the_item(item, problem) -> None:
    found = altitude_problem(3, item)
    assert (None if found is None else str(found)) == problem


def test_cli_upload_refuses_a_hand_edited_altitude_before_sending_anything(tmp_path) -> None:
    from simulator import Sitl

    plan = small_plan()
    items = list(plan.items)
    items[2] = MissionItem(Command.NAV_WAYPOINT, lat=items[2].lat, lon=items[2].lon, alt=-50.0)
    path = save_mission(tmp_path / "edited.plan", MissionPlan(items=tuple(items), home=HOME))
    with (
        Sitl(home=HOME, speedup=20) as sitl,
        connect(sitl.connection_string, timeout=30, settings=LOOPBACK) as pilot,
    ):
        pilot.upload(plan)
        for verb in ("upload", "fly"):
            result = CliRunner().invoke(cli, [verb, str(path), "--connect",
                                              sitl.connection_string])  # fmt: skip
            assert result.exit_code == 1, result.output
            assert result.stderr.strip().endswith(
                "upload refused: mission item 2 (vehicle seq 3, NAV_WAYPOINT): altitude -50 m "
                "above home is outside 10 to 500 m"
            ), result.stderr
        held = pilot.download_mission()
    assert [round(i.alt) for i in held[1:]] == [round(i.alt) for i in plan.items]


def test_vehicle_upload_refuses_before_sending(fake_vehicle) -> None:
    fake = fake_vehicle()
    vehicle = Vehicle(fake.link, target_system=1, target_component=1)
    bad = MissionPlan(items=(MissionItem(Command.NAV_TAKEOFF, alt=-3.0),), home=HOME)
    with pytest.raises(UnsafePlan, match=r"NAV_TAKEOFF\): takeoff altitude -3 m"):
        vehicle.upload(bad)
    assert "MISSION_COUNT" not in fake.received_types


# -- 4. `fly` says when the link drops, while it is down and when it is back ----------------------


@pytest.mark.slow
def test_fly_reports_a_lost_link_and_its_return(tmp_path) -> None:
    from simulator import Sitl

    heard: list[str] = []
    dropped = threading.Event()

    def drop_once(snapshot) -> None:
        if not dropped.is_set() and len(snapshot.mission.reached) >= 2:
            dropped.set()
            proxy.disconnect()
            threading.Timer(4.0, proxy.listen).start()

    with (
        Sitl(home=HOME, speedup=10, params={"RTL_LOIT_TIME": 0}) as sitl,
        LossyRelay(sitl.connection_string) as proxy,
        connect(proxy.url, timeout=30, settings=LOOPBACK) as vehicle,
    ):
        result = fly(vehicle, small_plan(n=8), on_status=drop_once,
                     on_link=lambda m: heard.append(str(m)))  # fmt: skip
    assert result.landed
    assert heard[0].startswith("link lost (") and heard[0].endswith(
        "the vehicle flies on; reconnecting"
    )
    assert heard[1].startswith("link still lost after ")
    assert "s: reconnect attempt 1 failed (" in heard[1]
    assert heard[-1].startswith("link back after ") and len(heard) == 3  # rate-limited
