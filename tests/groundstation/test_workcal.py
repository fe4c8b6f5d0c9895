"""Working-time deadlines: office hours, weekends, holidays and make-up working days (调休)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from groundstation.tickets import deadline_problem as edit_refusal
from groundstation.workcal import (
    Deadline,
    DeadlineError,
    WorkCalendar,
    parse_dates,
    parse_periods,
)

CST = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar()


def at(y, m, d, hh=0, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=CST)


def test_working_hours_skip_the_evening_and_the_weekend() -> None:
    friday = at(2026, 11, 20, 16, 0)  # 1.5 h left on Friday, then Monday morning
    assert CAL.due(friday, Deadline(4, "work_hours")) == at(2026, 11, 23, 11, 0)


def test_working_hours_start_after_lunch_and_cross_it() -> None:
    assert CAL.due(at(2026, 11, 24, 12, 30), Deadline(1, "work_hours")) == at(2026, 11, 24, 14, 30)
    assert CAL.due(at(2026, 11, 24, 11, 0), Deadline(2, "work_hours")) == at(2026, 11, 24, 14, 30)


def test_a_case_filed_on_saturday_starts_counting_on_monday() -> None:
    saturday = at(2026, 11, 21, 9, 0)
    assert CAL.due(saturday, Deadline(4, "work_hours")) == at(2026, 11, 23, 14, 0)


def test_working_days_end_at_close_of_the_nth_working_day_after() -> None:
    monday = at(2026, 11, 23, 10, 0)
    assert CAL.due(monday, Deadline(7, "work_days")) == at(2026, 12, 2, 17, 30)
    assert CAL.due(monday, Deadline(1, "work_days")) == at(2026, 11, 24, 17, 30)


def test_calendar_hours_run_around_the_clock() -> None:
    friday_night = at(2026, 11, 20, 22, 0)
    assert CAL.due(friday_night, Deadline(4, "hours")) == at(2026, 11, 21, 2, 0)


def test_holidays_and_make_up_days_move_the_deadline() -> None:
    cal = WorkCalendar(
        holidays=parse_dates(["2026-10-01..2026-10-07"]), workdays=parse_dates(["2026-10-10"])
    )
    before = at(2026, 9, 30, 17, 0)  # 0.5 h left, then the week off, then Thursday 8 October
    assert cal.due(before, Deadline(4, "work_hours")) == at(2026, 10, 8, 12, 0)
    # Thursday, Friday, then the make-up Saturday counts as the third working day
    assert cal.due(before, Deadline(3, "work_days")) == at(2026, 10, 10, 17, 30)
    assert not cal.is_workday(date(2026, 10, 5)) and cal.is_workday(date(2026, 10, 10))


def test_due_keeps_the_callers_time_zone() -> None:
    start = datetime(2026, 11, 24, 0, 30, tzinfo=UTC)  # 08:30 in Beijing
    due = CAL.due(start, Deadline(1, "work_hours"))
    assert due.tzinfo is UTC and due == datetime(2026, 11, 24, 1, 30, tzinfo=UTC)


def test_overdue_is_measured_in_office_hours() -> None:
    due = at(2026, 11, 20, 17, 30)  # Friday close
    assert CAL.work_hours_between(due, at(2026, 11, 23, 9, 30)) == pytest.approx(1.0)
    assert CAL.work_hours_between(at(2026, 11, 23, 9, 30), due) == pytest.approx(-1.0)
    assert CAL.hours_per_day == pytest.approx(7.5)


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(CST)
    ),
    hours=st.floats(min_value=0.25, max_value=200.0),
)
def test_working_hours_between_start_and_due_are_the_deadline(start, hours) -> None:
    due = CAL.due(start, Deadline(hours, "work_hours"))
    assert due > start
    assert CAL.work_hours_between(start, due) == pytest.approx(hours, abs=1e-6)
    local = due.astimezone(CST)
    assert any(a < local.time() <= b for a, b in CAL.periods)
    assert CAL.is_workday(local.date())


@pytest.mark.parametrize(
    "bad",
    [
        lambda: Deadline(0, "hours"),
        lambda: Deadline(3, "fortnights"),
        lambda: Deadline(1.5, "work_days"),
        lambda: WorkCalendar(timezone="Mars/Olympus"),
        lambda: WorkCalendar(
            holidays=parse_dates(["2026-10-10"]), workdays=parse_dates(["2026-10-10"])
        ),
        lambda: parse_periods("8:30-12:00,11:00-17:30"),
        lambda: parse_periods("17:30-08:30"),
        lambda: parse_periods("morning"),
        lambda: parse_dates(["2026-10-07..2026-10-01"]),
        lambda: parse_dates(["10/01/2026"]),
        lambda: CAL.due(datetime(2026, 11, 24, 9, 0), Deadline(1, "work_hours")),
    ],
)
def test_bad_calendar_input_is_refused_with_a_reason(bad) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        bad()


def test_office_periods_parse() -> None:
    assert parse_periods("08:30-12:00, 13:30-17:30") == (
        (time(8, 30), time(12, 0)),
        (time(13, 30), time(17, 30)),
    )
    assert len(parse_dates(["2026-10-01..2026-10-07", "2026-10-03"])) == 7
    assert timedelta(hours=CAL.hours_per_day) == timedelta(hours=7, minutes=30)


def test_the_calendar_comes_from_settings_and_bad_settings_stop_the_start(tmp_path) -> None:
    from groundstation.app import create_app
    from groundstation.config import build_config, work_calendar
    from groundstation.errors import ConfigError

    environ = {
        "WORK_HOLIDAYS": "2026-10-01..2026-10-07, 2027-01-01",
        "WORK_MAKEUP_DAYS": "2026-10-10",
    }
    cal = work_calendar(build_config(data_dir=tmp_path, environ=environ))
    assert len(cal.holidays) == 8 and cal.is_workday(date(2026, 10, 10))
    settings = {"DATA_DIR": str(tmp_path), "JOB_WORKERS": 0, "WORK_PERIODS": "9-17"}
    with pytest.raises(ConfigError, match="working calendar: office period '9-17'"):
        create_app(settings)


@pytest.mark.parametrize(
    ("amount", "unit"),
    [
        (0, "hours"),
        (9000, "work_hours"),
        (float("nan"), "hours"),
        (3, "fortnights"),
        (1.5, "work_days"),
    ],
)
def test_deadline_refusal_is_the_event_table_edits_refusal(amount, unit) -> None:
    """One statement of the deadline rules: the dataclass and the /admin/rules edit refuse the
    same deadlines with the same words."""
    with pytest.raises(DeadlineError) as refused:
        Deadline(amount, unit)
    assert str(refused.value) == str(edit_refusal(amount, unit))


@pytest.mark.parametrize(
    ("amount", "unit"), [(8760, "hours"), (0.5, "work_hours"), (3, "work_days")]
)
def test_valid_deadlines_pass_both(amount, unit) -> None:
    assert Deadline(amount, unit).amount == amount and edit_refusal(amount, unit) is None
