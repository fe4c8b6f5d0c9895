"""An independent MAVLink implementation we did not write (PyPI `mavsdk` 4.x, native library)
uploads, downloads and flies a mission on the simulator with its MissionRaw API."""

from __future__ import annotations

import time

import mavsdk
import pytest
from mavsdk.plugins.action import Action
from mavsdk.plugins.mission_raw import MissionRaw
from mavsdk.plugins.mission_raw.mission_raw import MissionItem
from mavsdk.plugins.telemetry import Telemetry

from tests.simulator.conftest import HOME


def _item(seq: int, command: int, frame: int, lat: float = 0.0, lon: float = 0.0, alt: float = 0.0):
    return MissionItem(
        seq=seq,
        frame=frame,
        command=command,
        current=int(seq == 0),
        autocontinue=1,
        x=round(lat * 1e7),
        y=round(lon * 1e7),
        z=alt,
        mission_type=0,
    )


@pytest.mark.slow
def test_mavsdk_uploads_downloads_and_flies_a_mission(make_sitl) -> None:
    sitl = make_sitl(speedup=50, params={"SIM_GPS_DELAY": 20.0})
    port = sitl.connection_string.rsplit(":", 1)[1]
    instance = mavsdk.Mavsdk(
        mavsdk.Configuration.create_with_component_type(mavsdk.ComponentType.GROUND_STATION)
    )
    try:
        assert (
            instance.add_any_connection(f"tcpout://127.0.0.1:{port}")
            == mavsdk.ConnectionResult.SUCCESS
        )
        system = instance.first_autopilot(5.0)
        assert system is not None
        mission, action, telemetry = MissionRaw(system), Action(system), Telemetry(system)
        north = HOME[0] + 120 / 111_320
        items = [
            _item(0, 16, 0, HOME[0], HOME[1], HOME[2]),
            _item(1, 22, 3, alt=25.0),
            _item(2, 16, 3, north, HOME[1], 25.0),
            _item(3, 20, 3),
        ]
        mission.upload_mission(items)
        back = mission.download_mission()
        assert [(i.seq, i.command, i.frame, i.x, i.y, i.z) for i in back[1:]] == [
            (i.seq, i.command, i.frame, i.x, i.y, i.z) for i in items[1:]
        ]
        # Before the GPS fix (20 simulated s = 0.4 s here) arming is refused; MAVSDK raises.
        refusals = 0
        deadline = time.monotonic() + 10
        while True:
            try:
                action.arm()
                break
            except mavsdk.MavsdkError:
                refusals += 1
                assert time.monotonic() < deadline, "never armed"
                time.sleep(0.05)
        assert refusals >= 1
        mission.start_mission()
        deadline = time.monotonic() + 30
        while not (mission.is_mission_finished() and not telemetry.armed()):
            assert time.monotonic() < deadline, "mission did not finish"
            time.sleep(0.1)
        snapshot = sitl.snapshot()
        assert snapshot.landed and abs(snapshot.lat - HOME[0]) * 111_320 < 3.0
        system.destroy()
    finally:
        instance.destroy()
