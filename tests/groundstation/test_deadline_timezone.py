"""The station's time zone: ``TIMEZONE`` comes from the environment like the other settings, and
the ticket form's deadline (a ``datetime-local`` value) is read in it, or with the offset it
carries; a date that does not exist is refused as such."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from conftest import login, make_env, make_ticket

from groundstation.blueprints.tickets import form_deadline

NEW_YORK = "America/New_York"


@pytest.fixture(scope="module")
def env(database_url: str, tmp_path_factory):
    e = make_env(database_url, tmp_path_factory.mktemp("data"), TIMEZONE=NEW_YORK)
    yield e
    e.storage().dispose()


def test_timezone_is_read_from_the_environment(tmp_path) -> None:
    from groundstation.config import build_config, work_calendar

    config = build_config(data_dir=tmp_path, environ={"TIMEZONE": "Europe/Berlin"})
    assert config["TIMEZONE"] == "Europe/Berlin"
    assert work_calendar(config).tz == ZoneInfo("Europe/Berlin")
    assert build_config(data_dir=tmp_path, environ={})["TIMEZONE"] == "Asia/Shanghai"


def test_an_unknown_timezone_in_the_environment_stops_the_start(tmp_path, monkeypatch) -> None:
    from groundstation.app import create_app
    from groundstation.errors import ConfigError

    monkeypatch.setenv("TIMEZONE", "Mars/Olympus_Mons")
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus_Mons'"):
        create_app({"DATA_DIR": str(tmp_path), "JOB_WORKERS": 0})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-06-01T18:00", "2026-06-01T18:00:00+08:00"),
        ("2026-06-01T18:00:30", "2026-06-01T18:00:30+08:00"),
        ("2026-06-01T18:00+08:00", "2026-06-01T18:00:00+08:00"),
        ("2026-06-01T18:00-05:00", "2026-06-01T18:00:00-05:00"),
        ("2026-06-01T10:00Z", "2026-06-01T10:00:00+00:00"),
        ("2026-02-30T10:00", "2026-02-30T10:00"),  # no such day: left for the check to refuse
        ("garbage", "garbage"),
    ],
)
def test_form_deadline(text: str, expected: str) -> None:
    assert form_deadline(text, ZoneInfo("Asia/Shanghai")) == expected


def dispatch(env, deadline: str) -> tuple[int, list[str]]:
    ticket_id = make_ticket(env, "confirmed")
    client = env.client()
    token = login(client, "supervisor")
    client.get("/lang/en")
    client.post(
        f"/tickets/{ticket_id}/transition",
        data={
            "action": "dispatch",
            "expected_state": "confirmed",
            "deadline": deadline,
            "csrf_token": token,
        },
    )
    page = client.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    return ticket_id, [unescape(m) for m in re.findall(r'class="flash[^"]*"[^>]*>(.*?)<', page)]


def stored(env, ticket_id: int) -> dict:
    return env.client().get(f"/api/v1/tickets/{ticket_id}", headers=env.headers("admin")).json


@pytest.mark.parametrize(
    ("entered", "utc"),
    [
        ("2099-01-02T12:00", datetime(2099, 1, 2, 17, 0, tzinfo=UTC)),  # New York: UTC-5
        ("2099-07-02T12:00", datetime(2099, 7, 2, 16, 0, tzinfo=UTC)),  # summer time: UTC-4
        ("2099-01-02T12:00-05:00", datetime(2099, 1, 2, 17, 0, tzinfo=UTC)),
        ("2099-01-02T12:00+08:00", datetime(2099, 1, 2, 4, 0, tzinfo=UTC)),
    ],
)
def test_the_form_deadline_is_read_in_the_station_time_zone(env, entered, utc) -> None:
    ticket_id, messages = dispatch(env, entered)
    ticket = stored(env, ticket_id)
    assert ticket["state"] == "dispatched", messages
    assert datetime.fromisoformat(ticket["deadline"]) == utc


@pytest.mark.parametrize(
    ("entered", "message"),
    [
        ("2026-02-30T10:00", "The deadline is not a valid date and time."),
        ("garbage", "The deadline is not a valid date and time."),
        ("2099-13-01T10:00", "The deadline is not a valid date and time."),
        ("2020-01-01T10:00", "The deadline must be a date and time in the future."),
    ],
)
def test_a_bad_deadline_is_refused_with_its_own_message(env, entered, message) -> None:
    ticket_id, messages = dispatch(env, entered)
    assert messages == [message]
    assert stored(env, ticket_id)["state"] == "confirmed"


def test_an_impossible_deadline_is_explained_in_the_page_language(env) -> None:
    """In Chinese (the default) the message is the catalogue's, not the "future" one."""
    from flask_babel import force_locale, gettext

    ticket_id = make_ticket(env, "confirmed")
    client = env.client()
    token = login(client, "supervisor")
    data = {"action": "dispatch", "deadline": "garbage", "csrf_token": token}
    client.post(f"/tickets/{ticket_id}/transition", data=data)
    page = client.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    messages = [unescape(m) for m in re.findall(r'class="flash[^"]*"[^>]*>(.*?)<', page)]
    with env.app.test_request_context(), force_locale("zh"):
        expected = gettext("The deadline is not a valid date and time.")
        future = gettext("The deadline must be a date and time in the future.")
    assert messages == [expected] and expected != future
