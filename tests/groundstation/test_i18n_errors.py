"""Error messages answer in the client's language: Chinese for the pages (the default) and for an
API client that asks for it, English for English users, API clients by default and the CLI."""

from __future__ import annotations

import io

import pytest
from click.testing import CliRunner
from conftest import G1, login, make_ticket
from fakecatalogue import overlay_catalogue

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
AREA = {"type": "Polygon", "coordinates": [G1]}


def _api(env, who: str, zh: bool) -> dict[str, str]:
    return {**env.headers(who), **(ZH if zh else {})}


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_plan_error_follows_the_page_language(env) -> None:
    client = env.client()
    token = login(client, "pilot")
    body = {"polygon": AREA, "altitude_m": 5}

    def preview() -> str:
        response = client.post("/api/v1/plans/preview", json=body, headers={"X-CSRFToken": token})
        assert response.status_code == 400
        return response.json["error"]

    assert preview() == "高度（米）的值 5 超出范围 [10, 500]"  # the pages default to Chinese
    client.get("/lang/en")
    assert preview() == "Altitude (m) 5 is out of range [10, 500]"  # the page's label
    client.get("/lang/zh")
    assert preview() == "高度（米）的值 5 超出范围 [10, 500]"


def test_api_key_clients_choose_by_accept_language_or_lang(env) -> None:
    client = env.client()
    url = "/api/v1/plans/preview"
    body = {"polygon": AREA, "profile": "race"}
    english = client.post(url, json=body, headers=_api(env, "pilot", False)).json["error"]
    chinese = client.post(url, json=body, headers=_api(env, "pilot", True)).json["error"]
    by_arg = client.post(f"{url}?lang=zh", json=body, headers=_api(env, "pilot", False))
    assert english == "profile 'race': mapping or patrol"
    assert chinese == "飞行模式 'race' 无效：应为 mapping（测绘）或 patrol（巡查）"
    assert by_arg.json["error"] == chinese


def test_permission_error_is_translated(env) -> None:
    client = env.client()
    url = "/api/v1/plans/preview"
    zh = client.post(url, json={}, headers=_api(env, "department", True))
    en = client.post(url, json={}, headers=_api(env, "department", False))
    assert zh.status_code == en.status_code == 403
    assert zh.json["error"] == (
        "角色“责任部门”无权使用 /api/v1/plans/preview（需要角色：飞手、监督员、管理员）"
    )
    assert en.json["error"] == (
        "role 'department' may not use /api/v1/plans/preview (needs: pilot, supervisor, admin)"
    )


def test_lower_layer_errors_read_in_the_clients_language(env, monkeypatch) -> None:
    """gis errors carry translatable messages: lead and detail in the client's language."""
    overlay_catalogue(
        monkeypatch,
        {"%(source)s: not valid JSON at line %(line)d column %(column)d: %(problem)s":
             "%(source)s：不是有效的 JSON（第 %(line)d 行第 %(column)d 列：%(problem)s）",
         "a property name in double quotes is expected": "此处应为带双引号的属性名"},
    )  # fmt: skip

    def upload(zh: bool, content: bytes) -> str:
        response = env.client().post(
            "/api/v1/no-fly",
            data={"name": "broken", "file": (io.BytesIO(content), "bad.geojson")},
            headers=_api(env, "pilot", zh),
            content_type="multipart/form-data",
        )
        assert response.status_code == 400
        return response.json["error"]

    bad_json = b"{not json"
    assert upload(False, bad_json) == (
        "no-fly file 'bad.geojson' cannot be read: bad.geojson: not valid JSON at line 1 "
        "column 2: a property name in double quotes is expected"
    )
    assert upload(True, bad_json) == (
        "禁飞区文件 'bad.geojson' 无法读取：bad.geojson：不是有效的 JSON（第 1 行第 2 列："
        "此处应为带双引号的属性名）"
    )
    swapped = (
        b'{"type": "Polygon", "coordinates": [[[32.5, 120.1], [32.5, 120.2], [32.6, 120.2], '
        b"[32.5, 120.1]]]}"
    )
    zh = upload(True, swapped)
    assert "经纬度似乎颠倒了" in zh and "坐标须按（经度，纬度）顺序" in zh, zh
    assert "latitude and longitude look swapped" in upload(False, swapped)


def test_flight_session_errors_are_translated(env) -> None:
    client = env.client()
    body = {"plan_id": 99999999, "sortie": 1, "simulate": True}
    zh = client.post("/api/v1/flight-sessions", json=body, headers=_api(env, "pilot", True))
    en = client.post("/api/v1/flight-sessions", json=body, headers=_api(env, "pilot", False))
    assert zh.status_code == en.status_code == 404
    assert zh.json["error"] == "航线规划 99999999 不存在：请先在航线规划页面保存规划"
    assert en.json["error"] == "plan 99999999 does not exist: save a plan on the planning page"
    bad = client.post(
        "/api/v1/flight-sessions", json={"plan_id": "x"}, headers=_api(env, "pilot", True)
    )
    assert bad.status_code == 400
    assert bad.json["error"] == "plan_id 的值 'x' 不是整数"


def test_ticket_transition_and_stale_errors_are_translated(env) -> None:
    ticket_id = make_ticket(env, "new")
    client = env.client()
    url = f"/api/v1/tickets/{ticket_id}/transitions"
    body = {"action": "close", "reason": "done"}
    zh = client.post(url, json=body, headers=_api(env, "admin", True))
    en = client.post(url, json=body, headers=_api(env, "admin", False))
    assert zh.status_code == en.status_code == 409
    assert zh.json["error"].startswith("案件当前状态为“新收集”，不能执行“结案”操作（仅限以下状态：")
    assert en.json["error"].startswith("cannot close a ticket that is new (only from: ")
    stale = {"action": "confirm", "expected_state": "dispatched"}
    zh = client.post(url, json=stale, headers=_api(env, "admin", True))
    assert zh.status_code == 409
    assert zh.json["error"] == (
        f"案件 {ticket_id} 已被他人修改：当前状态为“新收集”，而不是“已派遣”；请刷新后重新处理"
    )
    # a signed-in supervisor on the ticket page (Chinese by default)
    token = login(client, "supervisor")
    page = client.post(url, json=body, headers={"X-CSRFToken": token})
    assert page.status_code == 409 and page.json["error"].startswith("案件当前状态为“新收集”")


def test_review_errors_are_translated(env) -> None:
    client = env.client()
    body = {"ids": [99999999], "decision": "confirm"}
    zh = client.post("/api/v1/findings/review", json=body, headers=_api(env, "supervisor", True))
    en = client.post("/api/v1/findings/review", json=body, headers=_api(env, "supervisor", False))
    assert zh.status_code == en.status_code == 404
    assert zh.json["error"] == "发现 99999999 不存在"
    assert en.json["error"] == "finding(s) 99999999 do not exist"
    bad = {"ids": [1], "decision": "maybe"}
    zh = client.post("/api/v1/findings/review", json=bad, headers=_api(env, "supervisor", True))
    assert zh.status_code == 400 and zh.json["error"].startswith("审核决定 'maybe' 无效，可选：")


def test_upload_errors_are_translated(env) -> None:
    ticket_id = make_ticket(env, "in_progress")
    url = f"/api/v1/tickets/{ticket_id}/transitions"

    def resolve(zh: bool) -> str:
        data = {
            "action": "resolve",
            "note": "done",
            "photo": (io.BytesIO(b"MZ\x90\x00 not an image"), "evil.jpg"),
        }
        response = env.client().post(
            url, data=data, headers=_api(env, "department", zh), content_type="multipart/form-data"
        )
        assert response.status_code == 400
        return response.json["error"]

    assert "不是图像文件" in resolve(True) and "%(" not in resolve(True)
    assert "is not an image" in resolve(False)


def test_error_page_shows_the_translated_detail(env) -> None:
    client = env.client()
    login(client, "supervisor")
    html = client.get("/tickets/99999999").get_data(as_text=True)
    assert "案件 99999999 不存在" in html


def test_errors_without_a_request_are_english(tmp_path) -> None:
    """CLI commands and scripts raise the same errors: str() gives English, no app needed."""
    from flask import Flask

    from groundstation.errors import PermissionDenied, ValidationError
    from groundstation.services import read_grid_file
    from groundstation.tickets import Actor, update_rule

    with pytest.raises(ValidationError) as raised:
        read_grid_file(b"{", "broken.geojson")
    message = str(raised.value)
    assert message.startswith("grid file 'broken.geojson' cannot be read: ")
    with Flask("no-babel").app_context():  # an app context without flask-babel
        assert str(raised.value) == message
    with pytest.raises(PermissionDenied) as denied:
        update_rule(None, "illegal_fishing", Actor(name="p", role="pilot"))
    assert str(denied.value) == "role 'pilot' may not edit the dispatch table (admin only)"

    from groundstation.cli import cli

    data = tmp_path / "data"
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade", "--data-dir", str(data)]).exit_code == 0
    broken = tmp_path / "broken.geojson"
    broken.write_text("{")
    result = runner.invoke(cli, ["db", "import-grids", str(broken), "--data-dir", str(data)])
    assert result.exit_code == 1
    assert "grid file 'broken.geojson' cannot be read" in result.stderr
    assert not _has_chinese(result.stderr)


def test_catalogue_has_every_error_message_with_its_placeholders() -> None:
    """Each error msgid in the Chinese catalogue keeps exactly its named placeholders."""
    import re
    from pathlib import Path

    from babel.messages.pofile import read_po

    import groundstation

    po = Path(groundstation.__file__).parent / "translations/zh/LC_MESSAGES/messages.po"
    with po.open("rb") as fh:
        catalog = read_po(fh)
    pattern = re.compile(r"%\(\w+\)[sd]")
    for message in catalog:
        if message.id and isinstance(message.id, str):
            assert sorted(pattern.findall(message.id)) == sorted(pattern.findall(message.string)), (
                message.id
            )
