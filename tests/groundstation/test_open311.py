"""Open311 GeoReport v2: services, requests GET/POST with api_key, request by id, spec errors.
Who may read and file, and what each reader sees: test_open311_access.py."""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from conftest import G1, add_grids, make_ticket

from groundstation.models import Ticket

BASE = "/open311/v2"


def _post(env, headers=None, **fields):
    """POST a request as a city system would (form fields; None leaves one out), with a
    supervisor's key (a role that may file)."""
    data = {
        "api_key": env.keys["supervisor"],
        "service_code": "straw_burning",
        "lat": "32.405",
        "long": "119.905",
        "description": "smoke over the field",
        **fields,
    }
    return env.client().post(
        f"{BASE}/requests.json",
        data={k: v for k, v in data.items() if v is not None},
        headers=headers or {},
    )


def _get(env, path: str, who: str = "admin", headers=None):
    """GET ``BASE + path`` with ``who``'s API key (reads take one), sent as the header."""
    return env.client().get(BASE + path, headers={"X-API-Key": env.keys[who], **(headers or {})})


def test_services(env) -> None:
    client = env.client()
    services = client.get(f"{BASE}/services.json").json
    codes = {s["service_code"]: s for s in services}
    assert set(codes) == {"illegal_construction", "straw_burning", "illegal_fishing"}
    assert codes["straw_burning"]["service_name"] == "秸秆焚烧"
    assert (
        codes["straw_burning"]["metadata"] is False and codes["straw_burning"]["type"] == "realtime"
    )
    assert client.get(f"{BASE}/services/straw_burning.json").json["service_code"] == "straw_burning"
    missing = client.get(f"{BASE}/services/nope.json")
    assert missing.status_code == 404 and missing.json[0]["code"] == 404
    assert client.get(f"{BASE}/services.xml").status_code == 400
    assert client.get(f"{BASE}/discovery.json").json["endpoints"][0]["url"].endswith("/open311/v2/")


def test_post_request_then_read_it(env) -> None:
    add_grids(env, ("O-G1", G1))
    response = _post(env, email=" li@example.cn ", first_name="Li", media_url="https://x.cn/a.jpg")
    assert response.status_code == 200, response.json
    request_id = response.json[0]["service_request_id"]
    got = _get(env, f"/requests/{request_id}.json").json
    assert len(got) == 1
    req = got[0]
    assert req["service_code"] == "straw_burning" and req["status"] == "open"
    assert req["service_name"] == "秸秆焚烧"
    assert req["address_id"] == "O-G1"  # the grid containing the point
    assert req["lat"] == pytest.approx(32.405) and req["long"] == pytest.approx(119.905)
    assert req["media_url"] == "https://x.cn/a.jpg"
    assert datetime.fromisoformat(req["requested_datetime"]).utcoffset().total_seconds() == 8 * 3600
    assert req["extended_attributes"]["state"] == "new"
    assert "li@example.cn" not in str(req)  # reporter details are not published
    ticket = env.client().get(f"/api/v1/tickets/{request_id}", headers=env.headers("admin")).json
    assert ticket["source"] == "open311" and ticket["events"][0]["actor"].startswith("open311:")
    with env.storage().session() as session:  # the address as meant, without the pasted spaces
        assert session.get(Ticket, request_id).reporter["email"] == "li@example.cn"


def test_dispatched_and_closed_mapping(env) -> None:
    open_id = make_ticket(env, "dispatched")
    closed_id = make_ticket(env, "closed")
    req = _get(env, f"/requests/{open_id}.json").json[0]
    assert req["status"] == "open" and req["agency_responsible"] == "城市管理综合行政执法局"
    assert req["expected_datetime"].endswith("+08:00")
    assert _get(env, f"/requests/{closed_id}.json").json[0]["status"] == "closed"
    listed = _get(env, f"/requests.json?service_request_id={open_id},{closed_id}").json
    assert {r["service_request_id"] for r in listed} == {str(open_id), str(closed_id)}
    closed = _get(env, "/requests.json?status=closed").json
    assert str(closed_id) in {r["service_request_id"] for r in closed}
    assert str(open_id) not in {r["service_request_id"] for r in closed}
    only = _get(env, "/requests.json?service_code=illegal_fishing&status=open").json
    assert all(r["service_code"] == "illegal_fishing" for r in only)


@pytest.mark.parametrize(
    ("fields", "status", "text"),
    [
        ({"api_key": None}, 403, "api_key"),
        ({"api_key": "wrong"}, 403, "api_key"),
        ({"service_code": None}, 400, "service_code"),
        ({"service_code": "potholes"}, 400, "potholes"),
        ({"lat": None, "long": None}, 400, "location"),
        ({"long": None}, 400, "both"),
        ({"lat": "north"}, 400, "not numbers"),
        ({"lat": "132.5"}, 400, "WGS84"),
        ({"description": "x" * 4001}, 400, "4000"),
        ({"media_url": "file:///etc/passwd"}, 400, "media_url"),
        ({"email": "notanemail"}, 400, "notanemail"),
        ({"first_name": "王" * 201}, 400, "first_name"),
    ],
)
def test_post_errors_follow_the_spec(env, fields, status, text) -> None:
    before = _get(env, "/requests.json").json
    response = _post(env, **fields)
    assert response.status_code == status
    assert response.json[0]["code"] == status and text in response.json[0]["description"]
    assert _get(env, "/requests.json").json == before


def test_a_json_body_is_told_to_be_form_encoded(env) -> None:
    before = _get(env, "/requests.json").json
    response = env.client().post(
        f"{BASE}/requests.json", json={"api_key": "any", "service_code": "straw_burning"}
    )
    assert response.status_code == 400
    assert "form-encoded" in response.json[0]["description"]
    assert _get(env, "/requests.json").json == before


def test_unknown_request_and_bad_parameters(env) -> None:
    assert _get(env, "/requests/99999999.json").status_code == 404
    assert _get(env, "/requests/abc.json").status_code == 404
    assert _get(env, "/requests.json?status=maybe").status_code == 400
    assert _get(env, "/requests.json?page_size=0").status_code == 400
    assert _get(env, "/requests.json?start_date=yesterday").status_code == 400
    assert env.client().get(f"{BASE}/tokens/abc.json").status_code == 404


def _ids(response) -> set[str]:
    assert response.status_code == 200, response.json
    return {r["service_request_id"] for r in response.json}


def test_list_filters_take_comma_delimited_values(env) -> None:
    """service_code and status may each be declared several times, comma delimited."""
    key = f"api_key={env.keys['admin']}"  # as GeoReport sends it: a query parameter
    client = env.client()
    fishing = str(make_ticket(env, "dispatched", label="illegal_fishing"))
    burning = str(make_ticket(env, "closed", label="straw_burning"))
    building = str(make_ticket(env, "new"))
    both = f"{BASE}/requests.json?{key}&service_code=illegal_fishing, straw_burning,"
    listed = client.get(both).json
    assert {fishing, burning} <= _ids(client.get(both)) and building not in _ids(client.get(both))
    assert {r["service_code"] for r in listed} == {"illegal_fishing", "straw_burning"}
    closed = client.get(f"{both}&status=closed")
    assert burning in _ids(closed) and fishing not in _ids(closed)
    assert {r["status"] for r in closed.json} == {"closed"}
    every = _ids(client.get(f"{BASE}/requests.json?{key}&status=open,closed"))
    assert {fishing, burning, building} <= every
    assert every == _ids(client.get(f"{BASE}/requests.json?{key}"))


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("service_code=cat", "service_code 'cat' is not a known service"),
        ("service_code=straw_burning,cat", "service_code 'cat' is not a known service"),
        ("status=open,maybe", "status 'maybe': open or closed"),
        (
            "start_date=2026-03-02T00:00:00Z&end_date=2026-03-01T00:00:00Z",
            "start_date 2026-03-02T00:00:00Z is after end_date 2026-03-01T00:00:00Z",
        ),
        ("end_date=tomorrow", "end_date 'tomorrow' is not an ISO 8601 datetime"),
    ],
)
def test_list_filters_that_match_nothing_known_are_georeport_errors(env, query, text) -> None:
    """A filter no request could match is a 400 with the spec's error body, as POST answers
    the same service_code, not an empty list that reads as "no such requests"."""
    make_ticket(env, "new", label="straw_burning")
    response = _get(env, f"/requests.json?{query}")
    assert response.status_code == 400
    assert response.json == [{"code": 400, "description": text}]


def test_address_only_request(env) -> None:
    response = _post(env, lat=None, long=None, address_string="泰州市海陵区 XX 村 3 组")
    assert response.status_code == 200
    req = _get(env, f"/requests/{response.json[0]['service_request_id']}.json").json[0]
    assert req["address"] == "泰州市海陵区 XX 村 3 组" and req["lat"] is None


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"priority": "high"}, "'priority'"),  # not a GeoReport field: would be dropped unread
        ({"lon": "119.905"}, "'lon'"),  # a misspelt long
        ({"csrf_token": "x"}, "'csrf_token'"),  # Open311 is not a page form
        ({"attribute": "x"}, "'attribute'"),  # an attribute without its code
    ],
)
def test_post_refuses_a_field_georeport_does_not_define(env, fields, named) -> None:
    before = _get(env, "/requests.json").json
    response = _post(env, headers={"Accept-Language": "en"}, **fields)
    assert response.status_code == 400
    [error] = response.json
    assert error["code"] == 400
    assert error["description"].startswith(f"unknown field {named}; this address takes")
    assert "service_code" in error["description"] and "attribute[CODE]" in error["description"]
    assert _get(env, "/requests.json").json == before


def test_post_refuses_a_file_it_does_not_take(env) -> None:
    response = env.client().post(
        f"{BASE}/requests.json",
        data={
            "api_key": env.keys["supervisor"],
            "service_code": "straw_burning",
            "lat": "32.405",
            "long": "119.905",
            "media": (io.BytesIO(b"\xff\xd8jpeg"), "smoke.jpg"),
        },
        content_type="multipart/form-data",
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 400
    assert response.json[0]["description"].startswith("unknown field 'media'")


def test_post_takes_every_georeport_field(env) -> None:
    response = _post(
        env,
        jurisdiction_id="taizhou",
        address_string="泰州市姜堰区",
        address_id="O-G1",
        email="li@example.cn",
        device_id="d-1",
        account_id="a-1",
        first_name="Li",
        last_name="Wei",
        phone="13800000000",
        media_url="https://x.cn/a.jpg",
        **{"attribute[WHERE]": "field", "attribute[SEEN][]": "smoke"},
    )
    assert response.status_code == 200, response.json
    assert response.json[0]["account_id"] == "a-1"
