"""Mission protocol state machines against an in-memory ArduPilot-like vehicle; comparison."""

from __future__ import annotations

import math

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mav

from missions.items import (
    Command,
    FenceCircle,
    FencePolygon,
    Frame,
    MissionItem,
    MissionPlan,
    MissionType,
)
from missions.link import transfer
from missions.link.errors import LinkTimeout, MissionTransferError, VerifyError
from missions.link.transfer import TransferSettings, compare_items
from missions.link.vehicle import Vehicle, VehicleSettings
from tests.link.conftest import HOME

FAST = TransferSettings(timeout_s=0.03, retries=8, backoff=1.3, max_timeout_s=0.1,
                        busy_delay_s=0.01)  # fmt: skip


def survey(n: int, *, fence: bool = True) -> MissionPlan:
    items = [MissionItem(Command.NAV_TAKEOFF, alt=40.0)]
    for i in range(n - 2):
        items.append(MissionItem(Command.NAV_WAYPOINT, lat=30.27 + i * 1.23456e-5,
                                 lon=120.15 + (i % 7) * 2.1e-5, alt=40.0 + (i % 3)))  # fmt: skip
    items.append(MissionItem(Command.NAV_RETURN_TO_LAUNCH, frame=Frame.MISSION))
    polygons = (
        (FencePolygon(((30.26, 120.14), (30.29, 120.14), (30.29, 120.17), (30.26, 120.17)), True),)
        if fence
        else ()
    )
    return MissionPlan(
        items=tuple(items[:n]),
        home=HOME,
        fence_polygons=polygons,
        fence_circles=(FenceCircle((30.275, 120.155), 30.0, False),) if fence else (),
        rally_points=((30.2745, 120.1555, 30.0),) if fence else (),
    )


def vehicle_on(fake) -> Vehicle:
    return Vehicle(fake.link, target_system=1, target_component=1,
                   settings=VehicleSettings(transfer=FAST, command_timeout_s=0.1))  # fmt: skip


# ---------------------------------------------------------------- result codes and conversions


@pytest.mark.parametrize(
    ("code", "name"),
    [(0, "MAV_MISSION_ACCEPTED"), (4, "MAV_MISSION_NO_SPACE"), (13, "MAV_MISSION_INVALID_SEQUENCE"),
     (15, "MAV_MISSION_OPERATION_CANCELLED"), (99, "result 99")],
)  # fmt: skip
def test_mission_result_names(code: int, name: str) -> None:
    assert transfer.mission_result_name(code) == name


def test_every_mission_result_maps_to_a_distinct_explanation() -> None:
    texts = set()
    for code in range(16):
        error = transfer.mission_result_error(code, step="fence upload")
        assert str(error).startswith("fence upload: vehicle answered MAV_MISSION_")
        assert error.result == code
        texts.add(str(error))
    assert len(texts) == 16


def test_item_survives_the_wire_as_degE7() -> None:
    item = MissionItem(Command.NAV_WAYPOINT, params=(2.0, math.nan, 0.0, 90.0),
                       lat=30.123456789, lon=-120.987654321, alt=55.5)  # fmt: skip
    message = transfer.item_to_message(item, 3, target_system=1, target_component=1,
                                       mission_type=MissionType.MISSION)  # fmt: skip
    buf = message.pack(mav.MAVLink(None, srcSystem=255, srcComponent=190))
    assert buf[0] == 0xFD  # MAVLink 2
    decoded = mav.MAVLink(None).decode(bytearray(buf))
    assert decoded.x == 301234568 and decoded.y == -1209876543
    back = transfer.message_to_item(decoded)
    assert back.same_as(item)
    assert not back.same_as(MissionItem(Command.NAV_WAYPOINT, lat=30.1234570, lon=-120.987654321))


# ---------------------------------------------------------------- comparison


def test_compare_equal_lists() -> None:
    plan = survey(20)
    assert compare_items(plan.items, plan.items) is None


def test_compare_names_the_first_differing_field() -> None:
    items = list(survey(10).items)
    changed = list(items)
    changed[4] = MissionItem(items[4].command, lat=items[4].lat + 2e-7, lon=items[4].lon,
                             alt=items[4].alt)  # fmt: skip
    mismatch = compare_items(items, changed)
    assert mismatch is not None and (mismatch.index, mismatch.field) == (4, "lat")
    assert "mission item 4 (vehicle seq 5): lat" in mismatch.describe(what="mission", offset=1)
    changed[4] = MissionItem(Command.NAV_LOITER_TIME, lat=items[4].lat, lon=items[4].lon)
    assert compare_items(items, changed).field == "command"
    changed[4] = MissionItem(items[4].command, params=(0, 0, 5.0, 0), lat=items[4].lat,
                             lon=items[4].lon, alt=items[4].alt)  # fmt: skip
    assert compare_items(items, changed).field == "param3"


def test_compare_tolerates_rounding_and_vehicle_re_encodings() -> None:
    planned = [
        MissionItem(Command.NAV_WAYPOINT, params=(0.0, math.nan, 0.0, math.nan), lat=30.0,
                    lon=120.0, alt=50.0),
        MissionItem(Command.DO_CHANGE_SPEED, frame=Frame.MISSION, params=(1, 8.0, -1, 0)),
    ]  # fmt: skip
    stored = [
        MissionItem(Command.NAV_WAYPOINT, frame=6, lat=30.00000004, lon=119.99999996, alt=50.0),
        MissionItem(Command.DO_CHANGE_SPEED, frame=Frame.GLOBAL_RELATIVE_ALT,
                    params=(1, 8.0, -1, 0)),
    ]  # fmt: skip
    assert compare_items(planned, stored) is None
    stored[1] = MissionItem(Command.DO_CHANGE_SPEED, params=(1, 9.0, -1, 0))
    assert compare_items(planned, stored).field == "param2"


def test_compare_reports_a_count_difference() -> None:
    items = list(survey(5).items)
    mismatch = compare_items(items, items[:3])
    assert mismatch is not None and mismatch.field == "count"
    assert mismatch.describe(what="fence") == "fence: the vehicle holds 3 items, the plan has 5"


# ---------------------------------------------------------------- transfers


def test_upload_download_roundtrip_with_home_at_zero(fake_vehicle) -> None:
    fake = fake_vehicle()
    plan = survey(30)
    vehicle = vehicle_on(fake)
    progress: list[tuple[str, int, int]] = []
    vehicle.upload(plan, on_progress=lambda what, done, total: progress.append((what, done, total)))
    assert len(fake.plan_items(0)) == 31  # home + 30
    assert len(fake.plan_items(1)) == 5 and len(fake.plan_items(2)) == 1
    assert ("mission", 31, 31) in progress
    lists = vehicle.verify(plan)
    assert lists.home is not None and lists.home.lat == pytest.approx(30.2741)
    assert len(lists.mission) == 30


def test_empty_fence_and_rally_lists_clear_the_vehicle(fake_vehicle) -> None:
    fake = fake_vehicle()
    vehicle = vehicle_on(fake)
    vehicle.upload(survey(6))
    plan = survey(6, fence=False)
    vehicle.upload(plan)
    assert fake.plan_items(1) == [] and fake.plan_items(2) == []
    vehicle.verify(plan)


def test_old_mission_request_is_answered(fake_vehicle) -> None:
    fake = fake_vehicle(old_requests=True)
    plan = survey(12)
    vehicle = vehicle_on(fake)
    vehicle.upload(plan)
    vehicle.verify(plan)


def test_lossy_link_still_uploads_and_verifies(fake_vehicle) -> None:
    fake = fake_vehicle(loss=0.2, seed=7)
    plan = survey(50)
    vehicle = vehicle_on(fake)
    vehicle.upload(plan)
    vehicle.verify(plan)
    assert fake.link.sent > 2 * (50 + 6)  # re-sends happened


def test_lost_final_ack_is_confirmed_by_reading_the_count(fake_vehicle) -> None:
    fake = fake_vehicle(lose_final_acks=3)
    plan = survey(10)
    vehicle = vehicle_on(fake)
    vehicle.upload(plan)
    assert fake.received_types.count("MISSION_REQUEST_LIST") >= 3  # one confirm per list
    vehicle.verify(plan)


def test_no_space_right_after_boot_is_retried(fake_vehicle) -> None:
    fake = fake_vehicle(busy_uploads=3)
    plan = survey(5)
    vehicle_on(fake).upload(plan)
    assert len(fake.plan_items(0)) == 6


def test_refused_item_names_the_step_and_code(fake_vehicle) -> None:
    fake = fake_vehicle(reject=(4, mav.MAV_MISSION_INVALID_PARAM7))
    with pytest.raises(MissionTransferError) as caught:
        vehicle_on(fake).upload(survey(8))
    assert caught.value.result == mav.MAV_MISSION_INVALID_PARAM7
    assert "mission upload (at item 4 of 9, the last one sent)" in str(caught.value)
    assert "MAV_MISSION_INVALID_PARAM7" in str(caught.value)


def test_generic_error_on_the_last_item_is_told_apart_from_a_lost_ack(fake_vehicle) -> None:
    fake = fake_vehicle(reject=(8, mav.MAV_MISSION_ERROR))
    with pytest.raises(MissionTransferError, match=r"upload \(last item\): .*MISSION_ERROR"):
        vehicle_on(fake).upload(survey(8))
    assert fake.plan_items(0) == []


def test_silent_vehicle_times_out_naming_the_step(fake_vehicle) -> None:
    fake = fake_vehicle(silent=True)
    with pytest.raises(LinkTimeout, match=r"mission upload: no answer .* MISSION_COUNT=6"):
        vehicle_on(fake).upload(survey(5))


def test_verify_catches_a_changed_item(fake_vehicle) -> None:
    fake = fake_vehicle()
    plan = survey(20)
    vehicle = vehicle_on(fake)
    vehicle.upload(plan)
    stored = fake.plan_items(0)[7]
    stored.y += 5  # 5e-7 degrees east on the vehicle
    with pytest.raises(VerifyError) as caught:
        vehicle.verify(plan)
    assert caught.value.index == 6
    assert "mission item 6 (vehicle seq 7): lon" in str(caught.value)


def test_verify_catches_a_missing_fence(fake_vehicle) -> None:
    fake = fake_vehicle()
    plan = survey(6)
    vehicle = vehicle_on(fake)
    vehicle.upload(plan)
    transfer.clear_list(vehicle, mission_type=MissionType.FENCE, settings=FAST)
    with pytest.raises(VerifyError, match="fence: the vehicle holds 0 items, the plan has 5"):
        vehicle.verify(plan)


def test_clear_and_set_current(fake_vehicle) -> None:
    fake = fake_vehicle()
    vehicle = vehicle_on(fake)
    vehicle.upload(survey(6))
    vehicle.set_current(3)
    assert fake.current == 3
    vehicle.clear()
    assert all(not items for items in fake.lists.values())
    assert vehicle.download().mission == ()
