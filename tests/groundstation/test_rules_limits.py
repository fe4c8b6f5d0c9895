"""Dispatch-table limits: each deadline unit has its own sane range (stated once, in
``groundstation.workcal``), so no accepted deadline makes a later dispatch fail, a deadline
shorter than six minutes is refused, and a rule's name (its Open311 service_name) is never
blank."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from conftest import make_ticket

from groundstation.workcal import LIMITS, UNITS, Deadline, DeadlineError, WorkCalendar


def stored_rule(env, label: str) -> dict:
    rules = env.client().get("/api/v1/rules", headers=env.headers("admin")).json
    return next(r for r in rules if r["label"] == label)


def put_rule(env, label: str, body: dict, *, lang: str = "en"):
    headers = {**env.headers("admin"), "Accept-Language": lang}
    return env.client().put(f"/api/v1/rules/{label}", json=body, headers=headers)


@pytest.mark.parametrize("unit", UNITS)
def test_the_longest_deadline_of_each_unit_falls_due(unit) -> None:
    """Every deadline the rules accept has a due time on the default calendar, starting on the
    eve of a long holiday too (no 'no working day found within ten years')."""
    calendar = WorkCalendar(holidays=frozenset())
    start = datetime(2026, 9, 30, 17, 0, tzinfo=UTC)
    _low, high = LIMITS[unit]
    due = calendar.due(start, Deadline(high, unit))
    assert start < due < start.replace(year=start.year + 2)


@pytest.mark.parametrize(
    ("amount", "unit"),
    [(8760, "work_days"), (251, "work_days"), (2001, "work_hours"), (1e-9, "hours"),
     (0.05, "work_hours"), (0.5, "work_days")],
)  # fmt: skip
def test_deadlines_outside_their_units_range_are_refused(amount, unit) -> None:
    with pytest.raises(DeadlineError, match="out of range"):
        Deadline(amount, unit)


def test_a_year_of_working_days_is_refused_and_dispatch_keeps_working(env) -> None:
    """The QA case: 8760 working days was accepted, then every dispatch of the class was a 500."""
    before = stored_rule(env, "illegal_fishing")
    response = put_rule(
        env, "illegal_fishing", {"deadline_amount": 8760, "deadline_unit": "work_days"}
    )
    assert response.status_code == 400
    assert response.json["error"] == (
        "rule illegal_fishing: invalid deadline: the amount 8760 is out of range: a deadline "
        "in 'work_days' must be from 1 to 250"
    )
    assert stored_rule(env, "illegal_fishing") == before
    ticket_id = make_ticket(env, "confirmed", label="illegal_fishing")
    dispatched = env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        json={"action": "dispatch"},
        headers=env.headers("supervisor"),
    )
    assert dispatched.status_code == 200, dispatched.json
    assert dispatched.json["state"] == "dispatched" and dispatched.json["deadline"]


def test_the_range_message_names_the_unit_in_the_readers_language(env) -> None:
    response = put_rule(
        env, "illegal_fishing", {"deadline_amount": 300, "deadline_unit": "work_days"}, lang="zh"
    )
    assert response.status_code == 400
    error = response.json["error"]
    assert error.startswith("规则 ") and "工作日" in error
    assert "'work_days'" not in error and "illegal_fishing" not in error


@pytest.mark.parametrize("amount", [1e-9, 0.01, 0.09])
def test_a_deadline_under_six_minutes_is_refused(env, amount) -> None:
    before = stored_rule(env, "straw_burning")
    response = put_rule(env, "straw_burning", {"deadline_amount": amount, "deadline_unit": "hours"})
    assert response.status_code == 400
    assert "a deadline in 'hours' must be from 0.1 to 8760" in response.json["error"]
    assert stored_rule(env, "straw_burning") == before


def test_the_smallest_and_largest_amounts_are_accepted(env) -> None:
    try:
        for unit in UNITS:
            for amount in LIMITS[unit]:
                body = {"deadline_amount": amount, "deadline_unit": unit}
                response = put_rule(env, "straw_burning", body)
                assert response.status_code == 200, response.json
                assert response.json["deadline_amount"] == amount
    finally:
        put_rule(env, "straw_burning", {"deadline_amount": 4, "deadline_unit": "hours"})


@pytest.mark.parametrize("name", ["", "   "])
def test_a_blank_rule_name_is_refused_and_open311_keeps_its_service_name(env, name) -> None:
    before = stored_rule(env, "straw_burning")
    response = put_rule(env, "straw_burning", {"name": name})
    assert response.status_code == 400
    assert response.json["error"].startswith("rule straw_burning: the name may not be blank")
    assert stored_rule(env, "straw_burning") == before
    services = env.client().get("/open311/v2/services.json").json
    assert {s["service_code"]: s["service_name"] for s in services}["straw_burning"] == "秸秆焚烧"


def test_a_rule_name_is_stored_without_surrounding_spaces(env) -> None:
    try:
        response = put_rule(env, "straw_burning", {"name": "  秸秆焚烧（露天）  "})
        assert response.status_code == 200 and response.json["name"] == "秸秆焚烧（露天）"
    finally:
        put_rule(env, "straw_burning", {"name": "秸秆焚烧"})


def test_a_bad_deadline_stored_before_these_rules_is_a_clear_refusal_at_dispatch(env) -> None:
    """A row saved by an older version (8760 working days) makes dispatch a 400 saying what to
    fix, not a 500; a dispatch with a deadline of its own still goes through."""
    from groundstation.models import ClassRule

    with env.storage().session() as session:
        rule = session.get(ClassRule, "illegal_fishing")
        old = (rule.deadline_amount, rule.deadline_unit)
        rule.deadline_amount, rule.deadline_unit = 8760.0, "work_days"
        session.commit()
    try:
        ticket_id = make_ticket(env, "confirmed", label="illegal_fishing")
        url = f"/api/v1/tickets/{ticket_id}/transitions"
        headers = {**env.headers("supervisor"), "Accept-Language": "en"}
        refused = env.client().post(url, json={"action": "dispatch"}, headers=headers)
        assert refused.status_code == 400
        assert refused.json["error"].startswith(
            "the dispatch table's deadline for 'illegal_fishing' is invalid (the amount 8760 is "
            "out of range"
        )
        own = env.client().post(
            url,
            json={"action": "dispatch", "deadline": "2099-01-01T18:00:00+08:00"},
            headers=headers,
        )
        assert own.status_code == 200, own.json
    finally:
        with env.storage().session() as session:
            rule = session.get(ClassRule, "illegal_fishing")
            rule.deadline_amount, rule.deadline_unit = old
            session.commit()
