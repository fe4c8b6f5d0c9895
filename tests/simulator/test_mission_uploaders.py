"""Two ground stations and one upload, as ArduPilot's MissionItemProtocol has it: another
station's MISSION_COUNT or items are denied while an upload is under way, an item out of
sequence is answered MAV_MISSION_INVALID_SEQUENCE, an item nobody asked for MAV_MISSION_ERROR."""

from __future__ import annotations

from pymavlink import mavutil

mavlink = mavutil.mavlink


def _waypoint(gcs, seq: int) -> None:
    gcs.mav.mission_item_int_send(1, 1, seq, 3, 16, 0, 1, 0, 0, 0, 0,
                                  325100000, 1201400000, 20.0, 0)  # fmt: skip


def _ack(gcs, **expected):
    return gcs.wait(
        "MISSION_ACK",
        condition=lambda m: all(getattr(m, k) == v for k, v in expected.items()),
        timeout=5,
    )


def test_another_stations_upload_is_denied_while_one_is_under_way(make_sitl, connect) -> None:
    sitl = make_sitl()
    first, second = connect(sitl), connect(sitl, source_system=254)
    first.mav.mission_count_send(1, 1, 3, 0)
    assert first.wait(["MISSION_REQUEST_INT", "MISSION_REQUEST"]).seq == 0
    second.mav.mission_count_send(1, 1, 2, 0)
    denied = _ack(second, target_system=254)
    assert denied.type == mavlink.MAV_MISSION_DENIED
    # the first station's upload goes on
    items = [(3, 16, 0, 0, 0, 0, 32.51, 120.14, 20.0)] * 3
    assert first.upload(items) == mavlink.MAV_MISSION_ACCEPTED


def test_another_stations_item_is_denied_on_the_uploads_link(make_sitl, connect) -> None:
    sitl = make_sitl()
    first, second = connect(sitl), connect(sitl, source_system=254)
    first.mav.mission_count_send(1, 1, 3, 0)
    assert first.wait(["MISSION_REQUEST_INT", "MISSION_REQUEST"]).seq == 0
    _waypoint(second, 0)
    denied = _ack(first, target_system=254)  # ArduPilot answers on the upload's link
    assert denied.type == mavlink.MAV_MISSION_DENIED


def test_an_item_out_of_sequence_is_answered_invalid_sequence(make_sitl, connect) -> None:
    gcs = connect(make_sitl())
    gcs.mav.mission_count_send(1, 1, 3, 0)
    assert gcs.wait(["MISSION_REQUEST_INT", "MISSION_REQUEST"]).seq == 0
    _waypoint(gcs, 2)
    assert _ack(gcs, target_system=255).type == mavlink.MAV_MISSION_INVALID_SEQUENCE
    # the upload goes on: item 0 is asked for again, then item 1
    assert gcs.wait(["MISSION_REQUEST_INT", "MISSION_REQUEST"]).seq == 0
    _waypoint(gcs, 0)
    assert gcs.wait(["MISSION_REQUEST_INT", "MISSION_REQUEST"], condition=lambda m: m.seq).seq == 1


def test_an_item_nobody_asked_for_is_an_error(make_sitl, connect) -> None:
    gcs = connect(make_sitl())
    _waypoint(gcs, 0)
    assert _ack(gcs).type == mavlink.MAV_MISSION_ERROR
