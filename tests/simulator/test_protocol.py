"""The simulator as a ground station sees it over TCP with plain pymavlink: identity, arming,
streams, parameters, and the mission protocol for mission, fence and rally lists."""

from __future__ import annotations

import time

import pytest
from pymavlink import mavutil

from tests.simulator.conftest import HOME

mavlink = mavutil.mavlink


def _mission(n_waypoints: int) -> list[tuple]:
    items = [(0, 16, 0, 0, 0, 0, HOME[0], HOME[1], HOME[2])]  # sequence 0: replaced by home
    items.append((3, 22, 0, 0, 0, 0, 0, 0, 30.0))
    for i in range(n_waypoints):
        items.append(
            (3, 16, 0, 0, 0, 0, HOME[0] + 1e-5 * i, HOME[1] + 2e-5 * (i % 7), 30.0 + i % 5)
        )
    return items


def test_heartbeat_identifies_an_arducopter(make_sitl, connect) -> None:
    sitl = make_sitl(sysid=7, compid=1)
    gcs = connect(sitl)
    heartbeat = gcs.wait("HEARTBEAT")
    assert heartbeat.get_srcSystem() == 7
    assert heartbeat.type == mavlink.MAV_TYPE_QUADROTOR
    assert heartbeat.autopilot == mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA
    assert heartbeat.base_mode & mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
    assert not heartbeat.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED
    assert gcs.conn.flightmode == "STABILIZE"


def test_a_fresh_vehicle_streams_only_heartbeats_until_asked(make_sitl, connect) -> None:
    gcs = connect(make_sitl())
    kinds: set[str] = set()
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        message = gcs.conn.recv_match(blocking=True, timeout=0.1)
        if message is not None:
            kinds.add(message.get_type())
    assert "GLOBAL_POSITION_INT" not in kinds
    gcs.mav.request_data_stream_send(1, 1, mavlink.MAV_DATA_STREAM_POSITION, 5, 1)
    position = gcs.wait("GLOBAL_POSITION_INT")
    assert abs(position.lat / 1e7 - HOME[0]) < 1e-6 and abs(position.lon / 1e7 - HOME[1]) < 1e-6
    gcs.command(mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, mavlink.MAVLINK_MSG_ID_ATTITUDE, 100_000)
    gcs.wait("ATTITUDE")


def test_arming_is_refused_before_gps_fix_with_a_prearm_reason(make_sitl, connect) -> None:
    gcs = connect(make_sitl(speedup=1, params={"SIM_GPS_DELAY": 30}))
    ack = gcs.arm()
    assert ack.result == mavlink.MAV_RESULT_FAILED
    text = gcs.wait("STATUSTEXT", condition=lambda m: m.text.startswith("PreArm"))
    assert "Fix" in text.text


def test_arming_in_auto_without_a_mission_is_refused(make_sitl, connect) -> None:
    gcs = connect(make_sitl())
    gcs.wait_gps()
    assert gcs.set_mode(3).result == mavlink.MAV_RESULT_ACCEPTED
    ack = gcs.arm()
    assert ack.result == mavlink.MAV_RESULT_FAILED
    assert "mission" in gcs.wait("STATUSTEXT", condition=lambda m: "Arm" in m.text).text


def test_arming_succeeds_after_fix_and_auto_disarms_on_the_ground(make_sitl, connect) -> None:
    gcs = connect(make_sitl(speedup=20))
    gcs.wait_gps()
    assert gcs.set_mode(4).result == mavlink.MAV_RESULT_ACCEPTED
    assert gcs.arm().result == mavlink.MAV_RESULT_ACCEPTED
    gcs.wait("HEARTBEAT", condition=lambda m: m.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED)
    # DISARM_DELAY is 10 simulated seconds: half a second of wall time at 20x.
    gcs.wait(
        "HEARTBEAT",
        timeout=5,
        condition=lambda m: not m.base_mode & mavlink.MAV_MODE_FLAG_SAFETY_ARMED,
    )


def test_uploads_are_refused_right_after_boot(make_sitl, connect) -> None:
    gcs = connect(make_sitl(speedup=1, params={"SIM_MIS_DELAY": 30}))
    gcs.mav.mission_count_send(1, 1, 3, 0)
    ack = gcs.wait("MISSION_ACK")
    assert ack.type == mavlink.MAV_MISSION_NO_SPACE


def test_200_item_mission_round_trip_replaces_item_0_by_home(make_sitl, connect) -> None:
    sitl = make_sitl(home=(32.5, 120.1, 12.5))
    gcs = connect(sitl)
    items = _mission(198)
    assert len(items) == 200
    assert gcs.upload(items) == mavlink.MAV_MISSION_ACCEPTED
    for use_int in (True, False):
        back = gcs.download(use_int=use_int)
        assert len(back) == 200
        scale = 1e7 if use_int else 1.0
        # Sequence 0 is the vehicle's home, not what was uploaded as item 0.
        assert back[0].x / scale == pytest.approx(32.5, abs=1e-6)
        assert back[0].y / scale == pytest.approx(120.1, abs=1e-5)
        assert back[0].z == pytest.approx(12.5)
        for sent, got in zip(items[1:], back[1:], strict=True):
            assert (got.frame, got.command) == (sent[0], sent[1])
            tolerance = 1e-7 if use_int else 1e-5
            assert (
                abs(got.x / scale - sent[6]) <= tolerance
                and abs(got.y / scale - sent[7]) <= tolerance
            )
            assert abs(got.z - sent[8]) < 1e-4


def test_requests_answer_the_requesters_ids(make_sitl, connect) -> None:
    sitl = make_sitl()
    gcs = connect(sitl, source_system=245, source_component=190)
    gcs.mav.mission_count_send(1, 1, 2, 0)
    request = gcs.wait(["MISSION_REQUEST_INT", "MISSION_REQUEST"])
    assert (request.target_system, request.target_component) == (245, 190)
    ack = gcs.command(mavlink.MAV_CMD_REQUEST_MESSAGE, mavlink.MAVLINK_MSG_ID_HOME_POSITION)
    assert (ack.target_system, ack.target_component) == (245, 190)


def test_lost_item_is_requested_again(make_sitl, connect) -> None:
    gcs = connect(make_sitl())
    items = _mission(3)
    gcs.mav.mission_count_send(1, 1, len(items), 0)
    first = gcs.wait(["MISSION_REQUEST_INT", "MISSION_REQUEST"])
    assert first.seq == 0
    # Ignore the request: the vehicle must ask again (the client "lost" it).
    again = gcs.wait(["MISSION_REQUEST_INT", "MISSION_REQUEST"], timeout=3)
    assert again.seq == 0
    assert gcs.upload(items) == mavlink.MAV_MISSION_ACCEPTED


def test_old_mission_item_answers_are_accepted(make_sitl, connect) -> None:
    """Clients such as dronekit answer with float MISSION_ITEM; positions keep 1e-7 degree ints."""
    sitl = make_sitl(params={"SIM_MIS_LEGACY": 1})
    gcs = connect(sitl)
    items = _mission(2)
    gcs.mav.mission_count_send(1, 1, len(items), 0)
    while True:
        message = gcs.wait(["MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK"])
        if message.get_type() == "MISSION_ACK":
            break
        assert message.get_type() == "MISSION_REQUEST"
        frame, command, p1, p2, p3, p4, lat, lon, alt = items[message.seq]
        gcs.mav.mission_item_send(
            1, 1, message.seq, frame, command, 0, 1, p1, p2, p3, p4, lat, lon, alt
        )
    assert message.type == mavlink.MAV_MISSION_ACCEPTED
    assert len(sitl.autopilot.lists[0]) == len(items) - 1


def test_fence_and_rally_lists_round_trip_and_clear(make_sitl, connect) -> None:
    said: list[str] = []
    sitl = make_sitl(on_event=said.append)
    gcs = connect(sitl)
    lat, lon = HOME[0], HOME[1]
    square = [
        (lat - 0.001, lon - 0.001),
        (lat - 0.001, lon + 0.001),
        (lat + 0.001, lon + 0.001),
        (lat + 0.001, lon - 0.001),
    ]
    fence = [(0, 5001, 4, 0, 0, 0, a, b, 0) for a, b in square]
    fence.append((0, 5004, 50.0, 0, 0, 0, lat + 0.0005, lon, 0))
    rally = [(3, 5100, 0, 0, 0, 0, lat + 0.0008, lon + 0.0008, 20.0)]
    assert gcs.upload(fence, mission_type=1) == mavlink.MAV_MISSION_ACCEPTED
    assert gcs.upload(rally, mission_type=2) == mavlink.MAV_MISSION_ACCEPTED
    fence_back = gcs.download(mission_type=1)
    assert [m.command for m in fence_back] == [5001] * 4 + [5004]
    assert fence_back[4].param1 == 50.0
    assert [(m.x, m.y) for m in fence_back[:4]] == [
        (round(a * 1e7), round(b * 1e7)) for a, b in square
    ]
    rally_back = gcs.download(mission_type=2)
    assert len(rally_back) == 1 and rally_back[0].z == 20.0
    assert any(line.endswith("Flight plan received: rally, 1 item") for line in said), said
    gcs.mav.mission_clear_all_send(1, 1, 1)
    assert gcs.wait("MISSION_ACK", condition=lambda m: m.mission_type == 1).type == 0
    assert gcs.download(mission_type=1) == []
    assert len(gcs.download(mission_type=2)) == 1


def test_parameters_list_read_and_set(make_sitl, connect, tmp_path) -> None:
    from simulator.params import read_parm_file

    parm = tmp_path / "copter.parm"
    parm.write_text("# test\nWPNAV_SPEED 1200\nRTL_ALT,2500\n", encoding="utf-8")
    sitl = make_sitl(params=read_parm_file(parm))
    gcs = connect(sitl)
    gcs.mav.param_request_list_send(1, 1)
    seen = {}
    for message in gcs.collect(
        "PARAM_VALUE",
        until=lambda m: (
            len(seen) >= m.param_count - 1 or seen.setdefault(m.param_id, m.param_value) is None
        ),
        timeout=10,
    ):
        seen[message.param_id] = message.param_value
    assert seen["WPNAV_SPEED"] == 1200 and seen["RTL_ALT"] == 2500
    assert {"BATT_CAPACITY", "FENCE_ENABLE", "FS_GCS_ENABLE", "CAM1_TYPE", "MAV1_POSITION"} <= set(
        seen
    )
    assert gcs.set_param("RTL_ALT", 3000).param_value == 3000
    gcs.mav.param_request_read_send(1, 1, b"RTL_ALT", -1)
    assert gcs.wait("PARAM_VALUE", condition=lambda m: m.param_id == "RTL_ALT").param_value == 3000
    assert sitl.params["RTL_ALT"] == 3000


def test_unknown_parameter_in_a_parm_file_is_an_error(tmp_path) -> None:
    from simulator import Sitl
    from simulator.errors import ParameterError
    from simulator.params import read_parm_file

    parm = tmp_path / "bad.parm"
    parm.write_text("WPNAV_SPED 1200\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="WPNAV_SPED"):
        Sitl(home=HOME, params=read_parm_file(parm))


def test_overrides_outside_arducopters_range_are_refused_at_start() -> None:
    from simulator.errors import ParameterError
    from simulator.params import DEFAULTS, ParamTable

    with pytest.raises(ParameterError, match=r"BATT_CAPACITY: -5 must be at least 0"):
        ParamTable({"BATT_CAPACITY": -5})
    assert ParamTable({"SIM_WIND_DIR": 360})["SIM_WIND_DIR"] == 360
    # every default lies in its own range
    assert all(spec.out_of_range(spec.default) is None for spec in DEFAULTS.values())
    # like ArduPilot, a ground station's PARAM_SET is not range-checked
    assert ParamTable().set("FENCE_RADIUS", 10) == 10


def test_two_clients_at_once(make_sitl, connect) -> None:
    sitl = make_sitl()
    first, second = connect(sitl), connect(sitl, source_system=254)
    first.wait_gps()
    assert first.set_mode(4).result == 0
    second.wait("HEARTBEAT", condition=lambda m: m.custom_mode == 4)
    assert second.download() and len(first.download()) == 1


def test_udp_output_reaches_a_listening_ground_station(make_sitl) -> None:
    import socket

    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    gcs = mavutil.mavlink_connection(f"udpin:127.0.0.1:{port}", source_system=255)
    try:
        sitl = make_sitl(out=f"udp:127.0.0.1:{port}")
        assert gcs.wait_heartbeat(timeout=5).get_srcSystem() == 1
        # Replies travel back over the same UDP socket.
        gcs.mav.command_long_send(1, 1, mavlink.MAV_CMD_DO_SET_MODE, 0, 1, 2, 0, 0, 0, 0, 0)
        ack = gcs.recv_match(type="COMMAND_ACK", blocking=True, timeout=5)
        assert ack is not None and ack.result == mavlink.MAV_RESULT_ACCEPTED
        assert sitl.snapshot().mode == "ALT_HOLD" or sitl.autopilot.mode.name == "ALT_HOLD"
    finally:
        gcs.close()
