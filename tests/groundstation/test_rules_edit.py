"""The event table's edits: the /admin/rules form and ``PUT /api/v1/rules/<label>`` check their
input with one function, refuse bad values with a message in the reader's language (never a
500 or Python's own text) and store nothing when they refuse."""

from __future__ import annotations

import re
from html import unescape

import pytest
from conftest import login


def stored_rule(env, label: str = "straw_burning") -> dict:
    rules = env.client().get("/api/v1/rules", headers=env.headers("admin")).json
    return next(r for r in rules if r["label"] == label)


def flashed(client) -> list[str]:
    page = client.get("/admin/rules").get_data(as_text=True)
    return [unescape(m) for m in re.findall(r'class="flash error"[^>]*>(.*?)<', page)]


def english_admin(env):
    client = env.client()
    token = login(client, "admin")
    client.get("/lang/en")
    return client, token


@pytest.mark.parametrize(
    ("form", "needle"),
    [
        ({"department_id": "99999999999"}, "Department 99999999999 must be at most 2147483647"),
        ({"department_id": "-99999999999"}, "department -99999999999 does not exist"),
        ({"department_id": "abc"}, "Department 'abc' is not an integer"),
        ({"department_id": "1.5"}, "Department '1.5' is not an integer"),
        ({"deadline_amount": "abc"}, "Deadline 'abc' is not a number"),
        ({"deadline_amount": "nan"}, "Deadline is NaN"),
        ({"deadline_amount": "inf"}, "is not a finite number"),
        ({"deadline_amount": "9000"}, "a deadline in 'hours' must be from 0.1 to 8760"),
        ({"deadline_amount": "0"}, "the amount 0 is out of range"),
        ({"deadline_amount": "1.5", "deadline_unit": "work_days"}, "working days must be whole"),
        ({"deadline_unit": "fortnights"}, "the unit 'fortnights' is not one of 'hours'"),
        ({"filing_standard": "a\x00b"}, "Filing standard"),
        ({"deadline_amount": "  "}, "Deadline: give a value"),  # not "keep the old one"
        ({"department_id": ""}, "Department: give a value"),
    ],
)
def test_form_refuses_bad_values_with_a_message_and_stores_nothing(env, form, needle) -> None:
    before = stored_rule(env)
    client, token = english_admin(env)
    # a valid department in the same form: refused with the rest, not stored
    other = 3 if before["department_id"] != 3 else 2
    data = {"department_id": str(other), **form, "csrf_token": token}
    response = client.post("/admin/rules/straw_burning", data=data)
    assert response.status_code == 302
    messages = flashed(client)
    assert len(messages) == 1 and needle in messages[0], messages
    assert "invalid literal" not in messages[0] and "could not convert" not in messages[0]
    assert "(0, 8760]" not in messages[0]
    after = stored_rule(env)
    assert after == before


def test_form_and_api_give_the_same_message(env) -> None:
    client, token = english_admin(env)
    client.post(
        "/admin/rules/straw_burning",
        data={"deadline_amount": "9000", "deadline_unit": "hours", "csrf_token": token},
    )
    (shown,) = flashed(client)
    api = client.put(
        "/api/v1/rules/straw_burning",
        json={"deadline_amount": 9000, "deadline_unit": "hours"},
        headers=env.headers("admin"),
    )
    assert api.status_code == 400 and api.json["error"] == shown


def test_deadline_messages_are_translated_as_a_whole(env) -> None:
    """The range check's message is a message of ours (a translatable msgid), not the English
    text of workcal's ValueError inside a Chinese frame."""
    headers = {**env.headers("admin"), "Accept-Language": "zh-CN"}
    response = env.client().put(
        "/api/v1/rules/straw_burning", json={"deadline_amount": 9000}, headers=headers
    )
    assert response.status_code == 400
    assert "must be in (0, 8760]" not in response.json["error"]
    assert response.json["error"].startswith("规则 straw_burning")


def test_unknown_unit_is_refused_with_the_units_display_names(env) -> None:
    """In Chinese the refusal lists the units by their display names, not the API's keys."""
    headers = {**env.headers("admin"), "Accept-Language": "zh-CN"}
    response = env.client().put(
        "/api/v1/rules/straw_burning", json={"deadline_unit": "fortnights"}, headers=headers
    )
    assert response.status_code == 400
    error = response.json["error"]
    assert error.startswith("规则 straw_burning") and "'fortnights'" in error
    assert "工作时、工作日" in error and "'work_hours'" not in error


def test_api_refuses_out_of_range_departments_without_a_database_error(env) -> None:
    before = stored_rule(env)
    client = env.client()
    for value, status in ((99999999999, 400), (-99999999999, 404), (0, 404)):
        response = client.put(
            "/api/v1/rules/straw_burning",
            json={"department_id": value, "deadline_amount": 3},
            headers=env.headers("admin"),
        )
        assert response.status_code == status, response.json
    assert stored_rule(env) == before


def test_form_still_saves_good_values(env) -> None:
    client, token = english_admin(env)
    before = stored_rule(env, "illegal_fishing")
    response = client.post(
        "/admin/rules/illegal_fishing",
        data={
            "department_id": str(before["department_id"]),
            "deadline_amount": "36",
            "deadline_unit": "work_hours",
            "filing_standard": "新标准",
            "csrf_token": token,
        },
        follow_redirects=True,
    )
    assert "Saved." in response.get_data(as_text=True)
    after = stored_rule(env, "illegal_fishing")
    assert (after["deadline_amount"], after["deadline_unit"]) == (36, "work_hours")
    assert after["filing_standard"] == "新标准"
