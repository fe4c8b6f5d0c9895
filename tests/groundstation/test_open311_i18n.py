"""Open311 errors speak the client's language: ``?lang=``, else ``Accept-Language``, else
English, like the JSON API's."""

from __future__ import annotations

import pytest
from test_open311 import BASE, _get, _post

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def _description(response, status: int) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    (error,) = response.json
    assert error["code"] == status
    return error["description"]


def test_unknown_request_in_english_and_chinese(env) -> None:
    url = "/requests/999999.json"
    english = "service_request_id '999999' does not exist"
    chinese = "service_request_id '999999' 不存在"
    assert _description(_get(env, url), 404) == english
    assert _description(_get(env, url, headers=ZH), 404) == chinese
    assert _description(_get(env, f"{url}?lang=zh"), 404) == chinese
    assert _description(_get(env, f"{url}?lang=en", headers=ZH), 404) == english


def test_post_errors_in_chinese(env) -> None:
    outside = _description(_post(env, ZH, lat="132.5"), 400)
    assert outside == "位置 (132.5, 119.905) 超出 WGS84 经纬度范围"
    english = _description(_post(env, lat="132.5"), 400)
    assert english == "position (132.5, 119.905) is outside WGS84 lat/long"


def test_list_parameter_errors_in_chinese(env) -> None:
    date = _get(env, "/requests.json?start_date=yesterday&lang=zh")
    assert _description(date, 400) == "start_date 的值 'yesterday' 不是 ISO 8601 日期时间"
    size = _get(env, "/requests.json?page_size=0", headers=ZH)
    assert _description(size, 400) == "page_size 的值 0 不能小于 1"
    unknown = env.client().get(f"{BASE}/nothing-here", headers=ZH)
    assert _description(unknown, 404) == "该页面或记录不存在。"


@pytest.fixture
def marked(monkeypatch):
    """Every message looked up in the catalogue comes back between « and »: a message that
    does not is built in English only."""
    import groundstation.i18n

    lookup = groundstation.i18n.gettext
    monkeypatch.setattr(
        groundstation.i18n, "gettext", lambda string, **values: f"«{lookup(string, **values)}»"
    )


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"api_key": "wrong"}, 403),
        ({"service_code": None}, 400),
        ({"service_code": "potholes"}, 400),
        ({"lat": None, "long": None}, 400),
        ({"long": None}, 400),
        ({"lat": "north"}, 400),
        ({"lat": "132.5"}, 400),
        ({"description": "x" * 4001}, 400),
        ({"address_string": "x" * 501}, 400),
        ({"media_url": "https://x.cn/" + "a" * 2000}, 400),
        ({"media_url": "file:///etc/passwd"}, 400),
        ({"description": "a\u0000b"}, 400),
        ({"email": "notanemail"}, 400),
        ({"last_name": "x" * 201}, 400),
    ],
)
def test_every_post_error_is_translatable(env, marked, fields, status) -> None:
    description = _description(_post(env, ZH, **fields), status)
    assert description.startswith("«") and description.endswith("»")


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/services.xml", 400),
        ("/services/potholes.json", 404),
        ("/requests/abc.json", 404),
        ("/requests/2147483648.json", 404),
        ("/tokens/abc.json", 404),
        ("/requests.json?status=maybe", 400),
        ("/requests.json?service_request_id=1,x", 400),
        ("/requests.json?page=0", 400),
        ("/requests.json?page_size=1001", 400),
        ("/requests.json?page=x", 400),
        ("/requests.json?start_date=yesterday", 400),
        ("/requests.json?end_date=9999-12-31T23:59:59-12:00", 400),
        ("/requests.json?service_code=%00", 400),
    ],
)
def test_every_read_error_is_translatable(env, marked, url, status) -> None:
    description = _description(_get(env, url, headers=ZH), status)
    assert description.startswith("«") and description.endswith("»")


def test_rate_limit_error_is_translatable(env, marked, monkeypatch) -> None:
    monkeypatch.setitem(env.app.config, "OPEN311_MAX_REQUESTS_PER_HOUR", 0)
    description = _description(_post(env, ZH), 429)
    assert description.startswith("«") and "api_key" in description
