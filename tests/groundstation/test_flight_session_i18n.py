"""A flight session's messages are rendered per reader: one running session read in Chinese and
in English (event stream, command answers, status), while what is stored stays English."""

from __future__ import annotations

import json
import re
import time

import pytest
from conftest import flight_env, login, saved_plan

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with flight_env(tmp_path_factory.mktemp("flight_i18n"), "FI-S") as e:
        yield e


@pytest.fixture(scope="module")
def plan_id(env) -> int:
    return saved_plan(env, "FI-S", "i18n flight")


def _headers(env, zh: bool) -> dict[str, str]:
    return {**env.headers("pilot"), **(ZH if zh else {})}


def _status(env, sid: int, zh: bool = False) -> dict:
    return env.client().get(f"/api/v1/flight-sessions/{sid}", headers=_headers(env, zh)).json


def _wait(env, sid: int, states: set[str], timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = _status(env, sid)
        if data["state"] in states:
            return data
        time.sleep(0.1)
    raise AssertionError(f"session {sid} still {data['state']} after {timeout} s")


def _command(env, sid: int, verb: str, zh: bool):
    url = f"/api/v1/flight-sessions/{sid}/commands"
    return env.client().post(url, json={"command": verb}, headers=_headers(env, zh))


def _events(env, sid: int, zh: bool) -> list[tuple[str, dict]]:
    response = env.client().get(f"/api/v1/flight-sessions/{sid}/events", headers=_headers(env, zh))
    events = []
    for block in response.get_data(as_text=True).split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def _ready_session(env, plan_id: int) -> int:
    """A SITL session of the plan, waited for until it is ready to arm; its id."""
    start = env.client().post(
        "/api/v1/flight-sessions",
        json={"plan_id": plan_id, "simulate": True, "speedup": 40},
        headers=env.headers("pilot"),
    )
    assert start.status_code == 201, start.json
    _wait(env, start.json["id"], {"ready"})
    return start.json["id"]


def _messages(events: list[tuple[str, dict]]) -> list[str]:
    return [data["text"] for kind, data in events if kind == "message"]


def test_one_session_read_in_two_languages(env, plan_id) -> None:
    sid = _ready_session(env, plan_id)

    en_status, zh_status = _status(env, sid), _status(env, sid, zh=True)
    en_labels = {c["name"]: c["label"] for c in en_status["checks"]}
    zh_labels = {c["name"]: c["label"] for c in zh_status["checks"]}
    assert en_labels["gps fix"] == "GPS fix" and zh_labels["gps fix"] == "GPS 定位"
    assert zh_labels["home set"] == "返航点已设置"

    refused = _command(env, sid, "start", zh=True)  # not armed yet
    assert refused.status_code == 409
    assert refused.json["error"] == "开始任务：飞行器未解锁"
    cancelled = _command(env, sid, "cancel", zh=False)
    assert cancelled.status_code == 200
    assert cancelled.json["message"] == "session cancelled on the ground"
    _wait(env, sid, {"cancelled"})

    en, zh = _events(env, sid, zh=False), _events(env, sid, zh=True)
    assert [k for k, _ in en] == [k for k, _ in zh] and en[-1][0] == "end"
    en_texts, zh_texts = _messages(en), _messages(zh)
    assert en_texts[0].startswith("SITL started at tcp:127.0.0.1:")
    assert zh_texts[0].startswith("仿真飞行器（SITL）已启动：tcp:127.0.0.1:")
    assert en_texts[1].startswith("verified: ") and zh_texts[1].startswith("校验通过：航线 ")
    assert en_texts[2:] == ["start: the vehicle is not armed", "session cancelled on the ground"]
    assert zh_texts[2:] == ["开始任务：飞行器未解锁", "已在地面取消本次飞行记录"]
    checks = [data["checks"] for kind, data in zh if kind == "checks"][-1]
    assert {c["label"] for c in checks} >= {"GPS 定位", "电池电量", "航线已校验"}
    transfers = {data["what"] for kind, data in zh if kind == "transfer"}
    assert "上传航线" in transfers and "校验航线" in transfers

    # a late reader gets the same history in its own language; str() without a request: English
    runner = env.app.extensions["gridpatrol_flights"].get(sid)
    stored = [e.data["text"] for e in runner.events.after(0)[0] if e.kind == "message"]
    assert [str(t) for t in stored[2:]] == en_texts[2:]


def test_stored_error_is_english_while_readers_get_theirs(env, plan_id, monkeypatch) -> None:
    """The session's failure is saved in English; the live status and stream translate it."""
    import groundstation.flights as flights
    from groundstation.errors import ValidationError
    from groundstation.i18n import lazy_message as _l
    from groundstation.models import FlightSession

    def refuse(*args, **kwargs):
        raise ValidationError(_l("already armed"))

    monkeypatch.setattr(flights, "connect", refuse)
    start = env.client().post(
        "/api/v1/flight-sessions",
        json={"plan_id": plan_id, "connection": "tcp:127.0.0.1:9"},
        headers=env.headers("pilot"),
    )
    sid = start.json["id"]
    env.app.extensions["gridpatrol_flights"].get(sid).join(10)
    ended = time.time()
    assert _status(env, sid)["error"] == "already armed"
    assert _status(env, sid, zh=True)["error"] == "已解锁"
    time.sleep(0.2)  # a page opened later still shows when it failed, not when it was opened
    zh_state = [d for k, d in _events(env, sid, zh=True) if k == "state"][-1]
    failed_at = zh_state.pop("at")
    assert zh_state == {"state": "failed", "error": "已解锁"}
    assert ended - 10 < failed_at <= ended + 0.001  # 'at' is rounded to the millisecond
    # a command to the ended session names its state as the pages do, not the API's code
    zh_refused = _command(env, sid, "cancel", zh=True)
    assert zh_refused.status_code == 409
    assert zh_refused.json["error"] == f"飞行记录 {sid} 已处于“失败”状态，不再接受指令"
    en_refused = _command(env, sid, "cancel", zh=False).json["error"]
    assert en_refused == f"flight session {sid} is failed: no more commands"
    with env.storage().session() as session:
        assert session.get(FlightSession, sid).error == "already armed"


def test_check_details_are_read_in_each_language(env, plan_id) -> None:
    """What each pre-flight check saw is translated like its name: status, stream and page."""
    sid = _ready_session(env, plan_id)

    en = {c["name"]: c["detail"] for c in _status(env, sid)["checks"]}
    zh = {c["name"]: c["detail"] for c in _status(env, sid, zh=True)["checks"]}
    assert en["mission verified"] == "matches the plan" and zh["mission verified"] == "与计划一致"
    assert re.fullmatch(r"fix type \d, \d+ satellites", en["gps fix"])
    assert re.fullmatch(r"定位类型 \d，\d+ 颗卫星", zh["gps fix"])
    # worked out from the vehicle's BATT_CAPACITY (our SITL's 16000 mAh), nested texts too
    assert re.fullmatch(
        r"\d+% on board, mission needs \d+%: \d+ mAh for [\d.]+ min at [\d.]+ A \(assumed: "
        r"1\.5C, .+\) and \d+ mAh reserve \(BATT_LOW_VOLT 10\.5 V: .+\) of 16000 mAh",
        en["battery"],
    )
    assert re.fullmatch(
        r"机载电量 \d+%，任务需要 \d+%：以 [\d.]+ A（假定：1\.5C，.+）飞行 [\d.]+ 分钟需 \d+ "
        r"mAh，另需保留 \d+ mAh（BATT_LOW_VOLT 10\.5 V.+），电池容量 16000 mAh",
        zh["battery"],
    )
    assert zh["home set"] == en["home set"]  # coordinates only

    client = env.client()
    login(client, "pilot")
    page = client.get(f"/flights/{sid}", headers=ZH).get_data(as_text=True)
    assert f"航线已校验: {zh['mission verified']}" in page

    cancelled = _command(env, sid, "cancel", zh=False)
    assert cancelled.status_code == 200
    _wait(env, sid, {"cancelled"})
    streamed = [data["checks"] for kind, data in _events(env, sid, zh=True) if kind == "checks"]
    assert {c["name"]: c["detail"] for c in streamed[-1]}["mission verified"] == "与计划一致"
