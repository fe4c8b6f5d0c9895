"""Link errors carry translatable messages (:class:`gis.messages.Message`): English templates with
named values, which the ground station renders in its pilot's language and ``str()`` renders as
the English the CLI prints."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pymavlink.dialects.v20 import ardupilotmega as mav

from gis.messages import Message, msg
from missions.items import Command, MissionItem
from missions.link import transfer
from missions.link.errors import ArmRefused, LinkError, LinkTimeout, MissionTransferError
from missions.link.transfer import TransferSettings, compare_items
from missions.link.vehicle import Vehicle, VehicleSettings
from tests.link.test_transfer import survey, vehicle_on

LINK = Path(__file__).resolve().parents[2] / "missions" / "link"
FAST = VehicleSettings(command_timeout_s=0.1, command_retries=1, arm_timeout_s=0.5)


def _message(exc: BaseException) -> Message:
    (message,) = exc.args
    assert isinstance(message, Message), f"{type(exc).__name__} carries {message!r}"
    return message


@pytest.mark.parametrize("module", ["vehicle.py", "transfer.py", "connection.py"])
def test_no_error_is_raised_with_plain_english(module: str) -> None:
    """Every error the link raises (or builds) gets a msg(...), never an f-string or literal."""
    tree = ast.parse((LINK / module).read_text())
    plain = [
        f"{module}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id.endswith(("Error", "Timeout", "Refused", "Lost"))
        and node.args
        and isinstance(node.args[0], ast.JoinedStr | ast.Constant | ast.BinOp)
    ]
    assert plain == []


def test_a_refused_command_names_step_result_and_reason_as_values(fake_vehicle) -> None:
    fake = fake_vehicle(arm_refusal="PreArm: GPS 1: Bad fix")
    vehicle = Vehicle(fake.link, target_system=1, target_component=1, settings=FAST)
    with pytest.raises(ArmRefused) as caught:
        vehicle.arm()
    message = _message(caught.value)
    assert message.template == "%(step)s: vehicle refused (%(result)s): %(reason)s"
    assert message.values == {
        "step": msg("arm"),
        "result": "MAV_RESULT_FAILED",  # the MAVLink name stays as it is: data, not text
        "reason": "PreArm: GPS 1: Bad fix",  # the vehicle's own words
    }
    assert str(caught.value) == "arm: vehicle refused (MAV_RESULT_FAILED): PreArm: GPS 1: Bad fix"


def test_a_refusal_without_reasons_says_so_translatably(fake_vehicle) -> None:
    fake = fake_vehicle(arm_refusal="PreArm: dropped")
    emit = fake.emit
    fake.emit = lambda m: None if m.get_type() == "STATUSTEXT" else emit(m)  # refuse, say nothing
    vehicle = Vehicle(fake.link, target_system=1, target_component=1, settings=FAST)
    with pytest.raises(ArmRefused) as caught:
        vehicle.arm()
    assert caught.value.status_texts == ()
    assert _message(caught.value).values["reason"] == msg("no reason given")
    assert str(caught.value) == "arm: vehicle refused (MAV_RESULT_FAILED): no reason given"


def test_unknown_mode_and_silent_vehicle_are_messages(fake_vehicle) -> None:
    vehicle = Vehicle(fake_vehicle().link, target_system=1, target_component=1, settings=FAST)
    with pytest.raises(LinkError) as caught:
        vehicle.set_mode("hover")
    assert _message(caught.value).template == "set_mode: unknown mode %(mode)r; known: %(known)s"
    assert str(caught.value).startswith("set_mode: unknown mode 'hover'; known: ACRO, ALT_HOLD")
    silent = Vehicle(fake_vehicle(silent=True).link, target_system=1, target_component=1,
                     settings=FAST)  # fmt: skip
    with pytest.raises(LinkTimeout) as caught:
        silent.set_mode("RTL")
    message = _message(caught.value)
    assert message.values == {"step": msg("set_mode %(mode)s", mode="RTL"), "tries": 2}
    assert str(caught.value) == "set_mode RTL: no COMMAND_ACK after 2 tries"


def test_a_refused_upload_nests_its_step(fake_vehicle) -> None:
    fake = fake_vehicle(reject=(4, mav.MAV_MISSION_INVALID_PARAM7))
    with pytest.raises(MissionTransferError) as caught:
        vehicle_on(fake).upload(survey(8))
    message = _message(caught.value)
    assert message.template == "%(step)s: vehicle answered %(result)s (%(meaning)s)"
    assert message.values == {
        "step": msg(
            "%(step)s (at item %(seq)s of %(count)s, the last one sent)",
            step=msg("mission upload"),
            seq=4,
            count=9,
        ),
        "result": "MAV_MISSION_INVALID_PARAM7",
        "meaning": msg("z / param7 (altitude) has an invalid value"),
    }
    assert str(caught.value) == (
        "mission upload (at item 4 of 9, the last one sent): vehicle answered "
        "MAV_MISSION_INVALID_PARAM7 (z / param7 (altitude) has an invalid value)"
    )


def test_a_silent_transfer_names_what_it_waited_for(fake_vehicle) -> None:
    fake = fake_vehicle(silent=True)
    settings = TransferSettings(timeout_s=0.01, retries=1, max_timeout_s=0.02)
    with pytest.raises(LinkTimeout) as caught:
        transfer.download_list(vehicle_on(fake), settings=settings)
    assert _message(caught.value).values == {
        "step": msg("mission download"),
        "waiting": msg("MISSION_COUNT after MISSION_REQUEST_LIST"),
        "tries": 2,
    }
    assert str(caught.value) == (
        "mission download: no answer from the vehicle while waiting for MISSION_COUNT after "
        "MISSION_REQUEST_LIST (tried 2 times)"
    )


@pytest.mark.parametrize("code", range(17))
def test_every_mission_result_has_a_translatable_meaning(code: int) -> None:
    error = transfer.mission_result_error(code, step=msg("fence clear"))
    meaning = _message(error).values["meaning"]
    assert isinstance(meaning, Message) and not meaning.values
    assert str(error) == f"fence clear: vehicle answered {transfer.mission_result_name(code)} " + (
        f"({meaning.template})"
    )


def test_a_mismatch_is_a_message_and_describes_itself_in_english() -> None:
    items = [MissionItem(Command.NAV_WAYPOINT, lat=30.0, lon=120.0, alt=40.0)] * 3
    count = compare_items(items, items[:1])
    assert count is not None
    assert count.message(what="rally") == msg(
        "%(what)s: the vehicle holds %(actual)s items, the plan has %(expected)s",
        what=msg("rally"),
        actual=1,
        expected=3,
    )
    assert count.describe(what="rally") == "rally: the vehicle holds 1 items, the plan has 3"
    changed = compare_items(items, [items[0], MissionItem(Command.NAV_WAYPOINT, lat=30.0,
                                                          lon=120.0, alt=45.0)])  # fmt: skip
    assert changed is not None
    assert changed.describe(offset=1) == (
        "mission item 1 (vehicle seq 2): alt is 45.0 on the vehicle, 40.0 in the plan"
    )
    assert changed.message(offset=1).values["what"] == msg("mission")


@pytest.mark.parametrize("module", ["vehicle.py", "transfer.py", "connection.py", "flight.py"])
def test_every_message_is_extracted_for_the_catalogue(module: str) -> None:
    """babel skips a msg(...) nested inside another call's arguments: such a text would never
    reach the catalogue, so the ground station could not translate it."""
    from babel.messages.extract import extract_python

    path = LINK / module
    written = {
        node.args[0].value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "msg"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    with path.open("rb") as fh:
        extracted = {
            text if isinstance(text, str) else text[0]
            for _line, _keyword, text, _comments in extract_python(fh, ["msg"], [], {})
        }
    assert written - extracted == set()
