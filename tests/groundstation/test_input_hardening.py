"""Bad input is a 4xx answer with a message, never a 500, and changes nothing stored, on SQLite
and on PostgreSQL: NUL characters and lone surrogates in text, numbers beyond the columns'
range, datetimes beyond year 9999, deep JSON, JSON values of the wrong type, and concurrent
reviews of one finding."""

from __future__ import annotations

import json
import threading

import pytest
from click.testing import CliRunner
from conftest import PHOTO_LONLAT, login, make_findings, make_ticket

from groundstation.cli import cli

OPEN311 = "/open311/v2"


def _state(env, ticket_id: int) -> tuple[str, int]:
    """A ticket's state and how many archive entries it has."""
    ticket = env.client().get(f"/api/v1/tickets/{ticket_id}", headers=env.headers("admin")).json
    return ticket["state"], len(ticket["events"])


def _ticket_count(env) -> int:
    response = env.client().get("/api/v1/tickets?page_size=1", headers=env.headers("admin"))
    return response.json["total"]


def _post_ticket(env, body, **kwargs):
    return env.client().post("/api/v1/tickets", headers=env.headers("supervisor"), **body, **kwargs)


def _error(response) -> str:
    """A JSON error's message: the API's ``{"error"}`` or Open311's ``[{description}]``."""
    body = response.json
    return body[0]["description"] if isinstance(body, list) else body["error"]


def _transition(env, ticket_id: int, body: dict, who: str = "supervisor"):
    return env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions", json=body, headers=env.headers(who)
    )


# -- NUL characters and lone surrogates ---------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"label": "straw_burning", "description": "smoke\u0000"},
        {"label": "straw_burning\u0000"},
        {"label": "straw_burning", "description": "x", "note\u0000": "key"},
    ],
)
def test_nul_in_a_json_body_is_refused(env, body) -> None:
    before = _ticket_count(env)
    response = _post_ticket(env, {"json": body})
    assert response.status_code == 400 and "U+0000" in response.json["error"]
    assert _ticket_count(env) == before


def test_lone_surrogate_in_a_json_body_is_refused(env) -> None:
    before = _ticket_count(env)
    raw = '{"label": "straw_burning", "description": "burn \\ud800"}'
    response = _post_ticket(env, {"data": raw}, content_type="application/json")
    assert response.status_code == 400 and "U+D800" in response.json["error"]
    assert "'description'" in response.json["error"]
    assert _ticket_count(env) == before


def test_nul_in_a_transition_is_refused_from_json_form_and_page(env) -> None:
    ticket_id = make_ticket(env, "new")
    before = _state(env, ticket_id)
    response = _transition(env, ticket_id, {"action": "reject", "reason": "dup\u0000"})
    assert response.status_code == 400 and "U+0000" in response.json["error"]
    evidence = {"action": "reject", "reason": "dup", "evidence": [{"note": "a\u0000"}]}
    assert _transition(env, ticket_id, evidence).status_code == 400
    form = env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        data={"action": "reject", "reason": "dup\u0000"},
        headers=env.headers("supervisor"),
    )
    assert form.status_code == 400 and "U+0000" in form.json["error"]
    client = env.client()
    token = login(client, "supervisor")
    page = client.post(
        f"/tickets/{ticket_id}/transition",
        data={"csrf_token": token, "action": "reject", "reason": "dup\u0000"},
        follow_redirects=True,
    )
    assert page.status_code == 200 and "U+0000" in page.get_data(as_text=True)
    assert _state(env, ticket_id) == before


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/grids/%00",
        "/api/v1/tickets?q=%00",
        "/api/v1/tickets?grid=%00",
        "/api/v1/findings?grid=a%00b",
        f"{OPEN311}/requests.json?service_code=%00",
        f"{OPEN311}/services/%00.json",
    ],
)
def test_nul_in_the_address_is_400(env, url) -> None:
    response = env.client().get(url, headers=env.headers("admin"))
    assert response.status_code == 400 and "U+0000" in _error(response)


def test_nul_in_a_page_address_is_an_error_page(env) -> None:
    client = env.client()
    login(client, "supervisor")
    response = client.get("/tickets?q=%00")
    assert response.status_code == 400 and "U+0000" in response.get_data(as_text=True)


@pytest.mark.parametrize("field", ["description", "address_string", "first_name", "service_code"])
def test_nul_in_an_open311_request_is_refused(env, field) -> None:
    before = _ticket_count(env)
    data = {
        "api_key": env.keys["supervisor"],
        "service_code": "straw_burning",
        "lat": "32.405",
        "long": "119.905",
        "address_string": "village 3",
        field: "smoke\u0000",
    }
    response = env.client().post(f"{OPEN311}/requests.json", data=data)
    assert response.status_code == 400 and "U+0000" in _error(response)
    assert _ticket_count(env) == before


# -- numbers and datetimes the columns cannot hold ---------------------------------------------


@pytest.mark.parametrize("request_id", ["2147483648", "99999999999999999999999", "0", "²"])
def test_open311_ids_beyond_the_columns_are_404(env, request_id) -> None:
    response = env.client().get(
        f"{OPEN311}/requests/{request_id}.json", headers=env.headers("admin")
    )
    assert response.status_code == 404 and "does not exist" in _error(response)


def test_ids_beyond_the_columns_are_404_or_400(env) -> None:
    client, admin = env.client(), env.headers("admin")
    listed = client.get(f"{OPEN311}/requests.json?service_request_id=1,2147483648", headers=admin)
    assert listed.status_code == 400 and "service_request_id" in _error(listed)
    page = client.get(f"{OPEN311}/requests.json?page=99999999999999999999", headers=admin)
    assert page.status_code == 400 and "page" in _error(page)
    missing = client.get("/api/v1/tickets/2147483648", headers=admin)
    assert missing.status_code == 404 and "error" in missing.json
    for url in ("/api/v1/tickets?department_id=2147483648", "/api/v1/findings?flight=2147483648"):
        response = client.get(url, headers=admin)
        assert response.status_code == 400 and "2147483647" in response.json["error"]


@pytest.mark.parametrize("department_id", [9223372036854775807, 2147483648, 10**30])
def test_dispatch_to_a_department_id_beyond_the_column_is_400(env, department_id) -> None:
    ticket_id = make_ticket(env, "confirmed")
    before = _state(env, ticket_id)
    response = _transition(env, ticket_id, {"action": "dispatch", "department_id": department_id})
    assert response.status_code == 400 and "department_id" in response.json["error"]
    assert _state(env, ticket_id) == before


@pytest.mark.parametrize(
    "lat",
    [
        "1" * 400,  # an integer no float holds
        "1e400",  # parsed as infinity
        "-1e400",
    ],
)
def test_numbers_beyond_a_float_are_400(env, lat) -> None:
    before = _ticket_count(env)
    raw = f'{{"label": "straw_burning", "lat": {lat}, "lon": 119.9}}'
    response = _post_ticket(env, {"data": raw}, content_type="application/json")
    assert response.status_code == 400 and "lat" in response.json["error"]
    assert _ticket_count(env) == before


def test_deeply_nested_json_is_400(env) -> None:
    before = _ticket_count(env)
    depth = 100_000
    raw = '{"label": "straw_burning", "description": ' + "[" * depth + "]" * depth + "}"
    response = _post_ticket(env, {"data": raw}, content_type="application/json")
    assert response.status_code == 400 and "nested" in response.json["error"]
    shallow = '{"label": "straw_burning", "x": ' + "[" * 70 + "]" * 70 + "}"
    response = _post_ticket(env, {"data": shallow}, content_type="application/json")
    assert response.status_code == 400 and "nested" in response.json["error"]
    assert _ticket_count(env) == before


@pytest.mark.parametrize("deadline", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"])
def test_dispatch_deadline_beyond_the_datetime_range_is_400(env, deadline) -> None:
    ticket_id = make_ticket(env, "confirmed")
    before = _state(env, ticket_id)
    response = _transition(env, ticket_id, {"action": "dispatch", "deadline": deadline})
    assert response.status_code == 400 and "9999" in response.json["error"]
    assert _state(env, ticket_id) == before


@pytest.mark.parametrize(
    "query",
    [
        "start_date=9999-12-31T23:59:59-12:00",
        "start_date=0001-01-01T00:00:00%2B14:00",
        "end_date=0001-01-01T00:00:00",  # no zone: in TIMEZONE (+08:00), before year 1 in UTC
    ],
)
def test_open311_dates_beyond_the_datetime_range_are_400(env, query) -> None:
    response = env.client().get(f"{OPEN311}/requests.json?{query}", headers=env.headers("admin"))
    assert response.status_code == 400 and "9999" in _error(response)


# -- JSON types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"lat": True, "lon": False}, "lat must be a JSON number, not true"),
        ({"lat": "32.5", "lon": "119.9"}, 'lat must be a JSON number, not "32.5"'),
        ({"lat": None, "lon": ""}, 'lon must be a JSON number, not ""'),
        ({"description": 123}, "must be a JSON string, not 123"),
        ({"description": ["a"]}, 'must be a JSON string, not ["a"]'),
    ],
)
def test_json_values_must_have_their_json_type(env, body, text) -> None:
    before = _ticket_count(env)
    response = _post_ticket(env, {"json": {"label": "straw_burning", **body}})
    assert response.status_code == 400 and text in response.json["error"]
    assert _ticket_count(env) == before


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"action": "reject", "reason": {"a": 1}}, 'not {"a": 1}'),  # a note: resolve only
        ({"action": "reject", "reason": 5}, "not 5"),
        ({"action": ["reject"], "reason": "dup"}, "action"),
        ({"action": "dispatch", "department_id": "1"}, "department_id must be a JSON integer"),
    ],
)
def test_transition_json_values_must_have_their_json_type(env, body, text) -> None:
    ticket_id = make_ticket(env, "confirmed")
    before = _state(env, ticket_id)
    response = _transition(env, ticket_id, body)
    assert response.status_code == 400 and text in response.json["error"]
    assert _state(env, ticket_id) == before


def test_forms_still_send_numbers_as_text(env) -> None:
    """A form (the API's multipart/urlencoded transitions, the ticket page) is all text."""
    departments = env.client().get("/api/v1/departments", headers=env.headers("admin")).json
    ticket_id = make_ticket(env, "confirmed")
    response = env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        data={"action": "dispatch", "department_id": str(departments[0]["id"])},
        headers=env.headers("supervisor"),
    )
    assert response.status_code == 200, response.json
    assert response.json["department"]["id"] == departments[0]["id"]
    client = env.client()
    token = login(client, "supervisor")
    other = make_ticket(env, "new")
    page = client.post(
        f"/tickets/{other}/transition",
        data={"csrf_token": token, "action": "reject", "reason": "not a case"},
    )
    assert page.status_code == 302 and _state(env, other)[0] == "rejected"


def test_unknown_expected_state_is_400_not_409(env) -> None:
    ticket_id = make_ticket(env, "new")
    before = _state(env, ticket_id)
    body = {"action": "confirm", "expected_state": "bogus"}
    response = _transition(env, ticket_id, body)
    assert response.status_code == 400 and "'bogus'" in response.json["error"]
    assert "changed meanwhile" not in response.json["error"]
    stale = _transition(env, ticket_id, {"action": "confirm", "expected_state": "dispatched"})
    assert stale.status_code == 409 and "changed meanwhile" in stale.json["error"]
    assert _state(env, ticket_id) == before


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/api/v1/tickets"),
        ("put", "/api/v1/rules/straw_burning"),
        ("post", "/api/v1/findings/review"),
        ("post", "/api/v1/findings/1/review"),
    ],
)
def test_json_only_endpoints_refuse_a_form(env, method, url) -> None:
    before = _ticket_count(env)
    body = json.dumps({"label": "straw_burning", "decision": "confirm", "ids": [1]})
    response = getattr(env.client(), method)(
        url,
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers=env.headers("admin"),
    )
    assert response.status_code == 400
    assert "request body must be JSON" in response.json["error"]
    assert _ticket_count(env) == before


def test_rule_name_longer_than_its_column_is_400(env) -> None:
    url = "/api/v1/rules/straw_burning"
    before = env.client().get("/api/v1/rules", headers=env.headers("admin")).json
    response = env.client().put(url, json={"name": "x" * 101}, headers=env.headers("admin"))
    assert response.status_code == 400 and "100" in response.json["error"]
    response = env.client().put(url, json={"deadline_amount": "4"}, headers=env.headers("admin"))
    assert response.status_code == 400 and "JSON number" in response.json["error"]
    assert env.client().get("/api/v1/rules", headers=env.headers("admin")).json == before


# -- the client's language ----------------------------------------------------------------------


def test_an_api_client_without_credentials_gets_english_unless_it_asks(env) -> None:
    client = env.client()
    english = client.get("/api/v1/me")
    assert english.status_code == 401
    assert english.json["error"] == "authentication required: sign in or send an API key"
    chinese = client.get("/api/v1/me", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert chinese.status_code == 401 and english.json["error"] != chinese.json["error"]
    assert client.get("/api/v1/me?lang=zh").json["error"] == chinese.json["error"]


def test_a_signed_in_page_session_keeps_the_page_language(env) -> None:
    client = env.client()
    token = login(client, "supervisor")
    response = client.post(
        "/api/v1/tickets", json={"label": "nope"}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 400
    assert any("\u4e00" <= ch <= "\u9fff" for ch in response.json["error"])


# -- concurrent reviews -------------------------------------------------------------------------


def test_concurrent_reviews_of_one_finding_decide_once(env) -> None:
    """15 confirms and 15 rejects at once: one wins, every other is told 409, and the finding
    and its ticket show the winner's decision only."""
    (finding_id,) = make_findings(env, [("illegal_construction", 0.9, PHOTO_LONLAT)])
    decisions = ["confirm", "reject"] * 15
    barrier = threading.Barrier(len(decisions))
    results: list[tuple[str, int, dict]] = []

    def review(decision: str) -> None:
        client = env.client()
        barrier.wait()
        response = client.post(
            f"/api/v1/findings/{finding_id}/review",
            json={"decision": decision},
            headers=env.headers("supervisor"),
        )
        results.append((decision, response.status_code, response.json))

    threads = [threading.Thread(target=review, args=(d,)) for d in decisions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(status for _, status, _ in results) == [200] + [409] * 29, results
    (winner,) = [decision for decision, status, _ in results if status == 200]
    assert all("already reviewed" in body["error"] for _, s, body in results if s == 409)
    finding = (
        env.client().get(f"/api/v1/findings/{finding_id}", headers=env.headers("supervisor")).json
    )
    decided = {"confirm": "confirmed", "reject": "rejected"}[winner]
    assert finding["review_status"] == decided
    state, events = _state(env, finding["ticket_id"])
    assert (state, events) == (decided, 2)  # opened, then filed or rejected: nothing after


# -- the CLI ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("w" * 5000, "5000 characters long; at most 80"),
        ("wang\tli", "unprintable"),
        ("\x1b[31mroot\x1b[0m", "unprintable"),
        ("wang\nli", "unprintable"),
    ],
)
def test_create_user_refuses_long_names_and_control_characters(tmp_path, name, text) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    assert runner.invoke(cli, ["db", "upgrade", *data]).exit_code == 0
    result = runner.invoke(
        cli, ["db", "create-user", name, "--role", "pilot", *data], input="long-password\n"
    )
    assert result.exit_code == 1 and text in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "\x1b" not in result.stderr
    key = runner.invoke(cli, ["db", "create-api-key", name, *data])
    assert key.exit_code == 1 and text in key.stderr
