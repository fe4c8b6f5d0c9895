"""Vehicle refusals and mission-transfer errors reach pilots in their language: the link raises
translatable messages, and the ground station renders them per reader (``lazy_reason``), on the
flight session's status and event stream as well, while what is stored stays English.

The Chinese texts come from a catalogue overlay (:mod:`fakecatalogue`), so these tests check that
each message is looked up, whatever ``translations/zh`` holds."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from conftest import flight_env, saved_plan
from fakecatalogue import overlay_catalogue
from flask import Flask
from flask_babel import Babel

from groundstation.i18n import lazy_reason
from missions.items import Command, MissionItem
from missions.link import transfer
from missions.link.connection import dialect as mav
from missions.link.errors import ArmRefused, LinkTimeout, MissionTransferError
from missions.link.transfer import TransferSettings
from missions.link.vehicle import Vehicle, VehicleSettings

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
#: Chinese for the messages these tests raise (the lead's catalogue may word them differently).
CHINESE = {
    "arm": "解锁",
    "%(step)s: vehicle refused (%(result)s): %(reason)s": (
        "%(step)s：飞行器拒绝执行（%(result)s）：%(reason)s"
    ),
    "no reason given": "未说明原因",
    "mission upload": "上传航线",
    "mission download": "下载航线",
    "%(step)s: vehicle answered %(result)s (%(meaning)s)": (
        "%(step)s：飞行器回复 %(result)s（%(meaning)s）"
    ),
    "command not supported": "不支持该指令",
    "%(step)s: no answer from the vehicle while waiting for %(waiting)s (tried %(tries)s times)": (
        "%(step)s：等待%(waiting)s时飞行器无应答（已尝试 %(tries)s 次）"
    ),
    "MISSION_COUNT after MISSION_REQUEST_LIST": "对 MISSION_REQUEST_LIST 的 MISSION_COUNT 回复",
}  # fmt: skip
FAST = VehicleSettings(command_timeout_s=0.1, command_retries=1)


class RefusingLink:
    """A vehicle (system 1) that refuses everything: COMMAND_LONG with DENIED (after the
    STATUSTEXT ``reason``, if any), a mission upload with MAV_MISSION_UNSUPPORTED."""

    def __init__(self, reason: str = "") -> None:
        self.reason = reason
        self._mav = mav.MAVLink(None, srcSystem=1, srcComponent=1)
        self._inbox: deque = deque()

    def _emit(self, message) -> None:
        self._inbox.append(mav.MAVLink(None).decode(bytearray(message.pack(self._mav))))

    def send(self, message) -> None:
        kind = message.get_type()
        if kind == "COMMAND_LONG":
            if self.reason:
                self._emit(mav.MAVLink_statustext_message(3, self.reason.encode()))
            self._emit(mav.MAVLink_command_ack_message(message.command, mav.MAV_RESULT_DENIED))
        elif kind == "MISSION_COUNT":
            self._emit(
                mav.MAVLink_mission_ack_message(
                    255, 190, mav.MAV_MISSION_UNSUPPORTED, message.mission_type
                )
            )

    def recv(self, timeout: float):
        if self._inbox:
            return self._inbox.popleft()
        time.sleep(min(timeout, 0.01))
        return None

    def close(self) -> None:
        pass


class SilentChannel:
    target_system = 1
    target_component = 1

    def send(self, message) -> None:
        pass

    def recv(self, timeout: float):
        time.sleep(min(timeout, 0.01))
        return None


@contextmanager
def reader(lang: str) -> Iterator[None]:
    """A request of a reader of ``lang`` in an app with flask-babel and the real catalogue."""
    app = Flask("groundstation")
    Babel(app, locale_selector=lambda: lang)
    with app.test_request_context("/"):
        yield


def rendered(exc: BaseException, lang: str) -> str:
    with reader(lang):
        return str(lazy_reason(exc))


def test_a_refused_command_reads_in_the_pilots_language(monkeypatch) -> None:
    overlay_catalogue(monkeypatch, CHINESE)
    vehicle = Vehicle(RefusingLink("PreArm: Throttle too high"), target_system=1,
                      target_component=1, settings=FAST)  # fmt: skip
    with pytest.raises(ArmRefused) as caught:
        vehicle.arm()
    english = "arm: vehicle refused (MAV_RESULT_DENIED): PreArm: Throttle too high"
    assert str(caught.value) == english  # the CLI and the log
    assert rendered(caught.value, "en") == english
    assert rendered(caught.value, "zh") == (
        "解锁：飞行器拒绝执行（MAV_RESULT_DENIED）：PreArm: Throttle too high"
    )

    silent = Vehicle(RefusingLink(), target_system=1, target_component=1, settings=FAST)
    with pytest.raises(ArmRefused) as caught:
        silent.arm()
    assert rendered(caught.value, "zh") == "解锁：飞行器拒绝执行（MAV_RESULT_DENIED）：未说明原因"


def test_transfer_errors_read_in_the_pilots_language(monkeypatch) -> None:
    overlay_catalogue(monkeypatch, CHINESE)
    vehicle = Vehicle(RefusingLink(), target_system=1, target_component=1, settings=FAST)
    with pytest.raises(MissionTransferError) as caught:
        transfer.upload_list(vehicle, [MissionItem(Command.NAV_WAYPOINT, lat=30.0, lon=120.0)])
    assert rendered(caught.value, "en") == (
        "mission upload: vehicle answered MAV_MISSION_UNSUPPORTED (command not supported)"
    )
    assert rendered(caught.value, "zh") == (
        "上传航线：飞行器回复 MAV_MISSION_UNSUPPORTED（不支持该指令）"
    )

    settings = TransferSettings(timeout_s=0.01, retries=1, max_timeout_s=0.02)
    with pytest.raises(LinkTimeout) as caught:
        transfer.download_list(SilentChannel(), settings=settings)
    assert rendered(caught.value, "zh") == (
        "下载航线：等待对 MISSION_REQUEST_LIST 的 MISSION_COUNT 回复时飞行器无应答（已尝试 2 次）"
    )


# ---------------------------------------------------------------- a flight session


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with flight_env(tmp_path_factory.mktemp("link_i18n"), "LI-S") as e:
        yield e


def _status(env, sid: int, zh: bool) -> dict:
    headers = {**env.headers("pilot"), **(ZH if zh else {})}
    return env.client().get(f"/api/v1/flight-sessions/{sid}", headers=headers).json


def _states(env, sid: int, zh: bool) -> list[dict]:
    headers = {**env.headers("pilot"), **(ZH if zh else {})}
    response = env.client().get(f"/api/v1/flight-sessions/{sid}/events", headers=headers)
    states = []
    for block in response.get_data(as_text=True).split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if fields.get("event") == "state":
            states.append(json.loads(fields["data"]))
    return states


def test_a_refused_upload_fails_the_session_in_each_readers_language(env, monkeypatch) -> None:
    import groundstation.flights as flights
    from groundstation.models import FlightSession

    overlay_catalogue(monkeypatch, CHINESE)
    monkeypatch.setattr(
        flights,
        "connect",
        lambda *a, **k: Vehicle(RefusingLink(), target_system=1, target_component=1, settings=FAST),
    )
    start = env.client().post(
        "/api/v1/flight-sessions",
        json={
            "plan_id": saved_plan(env, "LI-S", "refused upload"),
            "connection": "tcp:127.0.0.1:9",
        },
        headers=env.headers("pilot"),
    )
    assert start.status_code == 201, start.json
    sid = start.json["id"]
    env.app.extensions["gridpatrol_flights"].get(sid).join(10)

    english = "mission upload: vehicle answered MAV_MISSION_UNSUPPORTED (command not supported)"
    chinese = "上传航线：飞行器回复 MAV_MISSION_UNSUPPORTED（不支持该指令）"
    assert _status(env, sid, zh=False)["error"] == english
    assert _status(env, sid, zh=True)["error"] == chinese
    failed = _states(env, sid, zh=True)[-1]
    assert isinstance(failed.pop("at"), float)  # when it failed, for a replaying page
    assert failed == {"state": "failed", "error": chinese}
    with env.storage().session() as session:
        assert session.get(FlightSession, sid).error == english
