"""The event table's edits: the /admin/rules form and ``PUT /api/v1/rules/<label>`` check their
input with one function, refuse bad values with a message in the reader's language (never a
500 or Python's own text) and store nothing when they refuse."""

from __future__ import annotations

import json
import re
from html import unescape
from html.parser import HTMLParser

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
        (
            {"deadline_amount": "9000"},
            "rule Straw burning: invalid deadline: the amount 9000 is out of range: a deadline in "
            "hours (around the clock) must be from 0.1 to 8760",
        ),
        ({"deadline_amount": "0"}, "the amount 0 is out of range"),
        ({"deadline_amount": "1.5", "deadline_unit": "work_days"}, "working days must be whole"),
        (
            {"deadline_unit": "fortnights"},
            "the unit 'fortnights' is not one of hours (around the clock), working hours, "
            "working days",
        ),
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


def test_form_and_api_refuse_alike_naming_what_their_readers_know(env) -> None:
    """One check, one message: the page names the class and the unit as its table shows them,
    the API (in English) by the keys its clients send."""
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
    assert api.status_code == 400
    assert api.json["error"] == (
        "rule straw_burning: invalid deadline: the amount 9000 is out of range: a deadline in "
        "'hours' must be from 0.1 to 8760"
    )
    assert shown == (
        "rule Straw burning: invalid deadline: the amount 9000 is out of range: a deadline in "
        "hours (around the clock) must be from 0.1 to 8760"
    )


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (
            {"deadline_amount": "2.5", "deadline_unit": "work_days"},
            "rule Illegal construction: invalid deadline: working days must be whole, got 2.5",
        ),
        (
            {"deadline_amount": "300", "deadline_unit": "work_days"},
            "rule Illegal construction: invalid deadline: the amount 300 is out of range: a "
            "deadline in working days must be from 1 to 250",
        ),
    ],
)
def test_the_page_names_the_class_and_unit_not_their_codes(env, form, message) -> None:
    """The QA case: "rule illegal_construction: … a deadline in 'work_days' must be …"."""
    before = stored_rule(env, "illegal_construction")
    client, token = english_admin(env)
    client.post("/admin/rules/illegal_construction", data={**form, "csrf_token": token})
    assert flashed(client) == [message]
    assert stored_rule(env, "illegal_construction") == before


def test_the_chinese_page_names_the_class_and_unit_not_their_codes(env) -> None:
    client = env.client()
    token = login(client, "admin")  # the pages speak Chinese by default
    client.post(
        "/admin/rules/illegal_construction",
        data={"deadline_amount": "2.5", "deadline_unit": "work_days", "csrf_token": token},
    )
    (message,) = flashed(client)
    assert message.startswith("规则 ") and "2.5" in message
    assert "illegal_construction" not in message and "work_days" not in message


def test_deadline_messages_are_translated_as_a_whole(env) -> None:
    """The range check's message is a message of ours (a translatable msgid), not the English
    text of workcal's ValueError inside a Chinese frame."""
    headers = {**env.headers("admin"), "Accept-Language": "zh-CN"}
    response = env.client().put(
        "/api/v1/rules/straw_burning", json={"deadline_amount": 9000}, headers=headers
    )
    assert response.status_code == 400
    assert "must be in (0, 8760]" not in response.json["error"]
    assert response.json["error"].startswith("规则 ")
    assert "straw_burning" not in response.json["error"]  # the class by its name


def test_unknown_unit_is_refused_with_the_units_display_names(env) -> None:
    """In Chinese the refusal lists the units by their display names, not the API's keys."""
    headers = {**env.headers("admin"), "Accept-Language": "zh-CN"}
    response = env.client().put(
        "/api/v1/rules/straw_burning", json={"deadline_unit": "fortnights"}, headers=headers
    )
    assert response.status_code == 400
    error = response.json["error"]
    assert error.startswith("规则 ") and "straw_burning" not in error and "'fortnights'" in error
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


#: The fields each row's form sends.
ROW_FIELDS = (
    "department_id",
    "deadline_amount",
    "deadline_unit",
    "filing_standard",
    "closing_standard",
    "csrf_token",
)


def all_rules(env) -> list[dict]:
    return env.client().get("/api/v1/rules", headers=env.headers("admin")).json


class _Controls(HTMLParser):
    """The dispatch table's forms and named fields, with the element each form sits in."""

    VOID = frozenset({"input", "br", "img", "meta", "link", "hr", "col", "area", "source"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict]] = []
        self.forms: dict[str, str] = {}  # form id -> its parent element
        self.fields: list[tuple[dict, str | None]] = []  # (attributes, enclosing form id)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self.forms[attributes.get("id", "")] = self.stack[-1][0] if self.stack else ""
        inside = any(t == "rules-table" for t, _ in self.stack)
        if inside and tag in ("input", "select", "textarea") and "name" in attributes:
            form = next((a.get("id") for t, a in reversed(self.stack) if t == "form"), None)
            self.fields.append((attributes, form))
        if tag == "table" and attributes.get("id") == "rules":
            tag = "rules-table"
        if tag not in self.VOID:
            self.stack.append((tag, attributes))

    def handle_endtag(self, tag: str) -> None:
        for k in range(len(self.stack) - 1, -1, -1):
            name = "table" if self.stack[k][0] == "rules-table" else self.stack[k][0]
            if name == tag:
                del self.stack[k:]
                return


def test_every_field_of_the_table_belongs_to_its_rows_form(env) -> None:
    """No <form> is a child of <tr> (browsers move it out, leaving the fields formless): one
    form per row in its last cell, the other cells' fields joining it by their form attribute;
    each amount field has its unit's bounds (whole working days from 1)."""
    from groundstation.workcal import LIMITS

    client, _token = english_admin(env)
    html = client.get("/admin/rules").get_data(as_text=True)
    parser = _Controls()
    parser.feed(html)
    rule_forms = {i: parent for i, parent in parser.forms.items() if i.startswith("rule-form-")}
    rules = {r["label"]: r for r in all_rules(env)}
    assert set(rule_forms) == {f"rule-form-{label}" for label in rules}
    assert set(rule_forms.values()) == {"td"}
    owner = {id(a): a.get("form") or form for a, form in parser.fields}
    assert all(owner.values())  # no field is left outside every form
    for label in rules:
        owned = sorted(a["name"] for a, _ in parser.fields if owner[id(a)] == f"rule-form-{label}")
        assert owned == sorted(ROW_FIELDS), label
    for attributes, _ in parser.fields:
        if attributes["name"] == "deadline_amount":
            unit = rules[owner[id(attributes)].removeprefix("rule-form-")]["deadline_unit"]
            low, high = LIMITS[unit]
            assert (attributes["min"], attributes["max"]) == (f"{low:g}", f"{high:g}")
            assert attributes["step"] == ("1" if unit == "work_days" else "any")
    bounds = re.search(r'<script id="deadline-bounds" type="application/json">(.*?)</script>', html)
    assert bounds is not None
    assert json.loads(bounds.group(1))["work_days"] == {"low": "1", "high": "250", "step": "1"}


def test_a_supervisor_reads_the_table_without_any_form(env) -> None:
    client = env.client()
    login(client, "supervisor")
    html = client.get("/admin/rules").get_data(as_text=True)
    parser = _Controls()
    parser.feed(html)
    assert not [i for i in parser.forms if i.startswith("rule-form-")]
    assert parser.fields and all("disabled" in a for a, _form in parser.fields)
