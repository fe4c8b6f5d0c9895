"""Working time for case deadlines: 数字城管 counts most deadlines in working hours or working days.

A :class:`WorkCalendar` knows the office hours of a working day (08:30-12:00 and 13:30-17:30 by
default, local time), the weekend, public holidays and the make-up working days that move them
(调休). A :class:`Deadline` is an amount in one of three units: calendar hours (around the clock,
for emergencies such as a field fire), working hours, or working days (due at the close of the
N-th working day after the day the clock starts). Pure computation, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gis.messages import Message, msg

__all__ = [
    "UNITS",
    "LIMITS",
    "Deadline",
    "DeadlineError",
    "WorkCalendar",
    "deadline_problem",
    "parse_dates",
    "parse_periods",
]

#: Deadline units: calendar hours, working hours, working days.
UNITS = ("hours", "work_hours", "work_days")
#: The smallest and largest amount of each unit: at least six minutes (0.1 h; a shorter
#: deadline is a slip of the keyboard, not a case a department can handle) or one working day,
#: and at most about a year: 8760 calendar hours, 2000 working hours (250 working days of 8 h),
#: 250 working days (China's working days in a year). Working days are whole.
LIMITS: Mapping[str, tuple[float, float]] = MappingProxyType(
    {"hours": (0.1, 8760), "work_hours": (0.1, 2000), "work_days": (1, 250)}
)

_MAX_DAYS = 3660  # ten years of calendar days: a search bound, never reached by a valid deadline


class DeadlineError(ValueError):
    """A deadline that is not valid; ``args[0]`` is its :class:`~gis.messages.Message`."""


def deadline_problem(amount: float, unit: str) -> Message | None:
    """What is wrong with a deadline of ``amount`` ``unit``, or None when it is valid.

    The one statement of the rules (a unit of :data:`UNITS`, an amount within its
    :data:`LIMITS`, whole working days): :class:`Deadline` raises it, the event-table edit
    (``groundstation.tickets``) shows it translated. The ``units`` value is the English list
    of :data:`UNITS` and ``unit`` the unit's key; a translating reader may put the units'
    display names in their place.
    """
    if unit not in UNITS:
        return msg(
            "the unit %(unit)s is not one of %(units)s",
            unit=repr(unit),
            units=", ".join(repr(u) for u in UNITS),
        )
    low, high = LIMITS[unit]
    if not (isinstance(amount, int | float) and low <= amount <= high):
        return msg(
            "the amount %(amount)s is out of range: a deadline in %(unit)s must be from "
            "%(min)s to %(max)s",
            amount=f"{amount:g}" if isinstance(amount, int | float) else repr(amount),
            unit=repr(unit),
            min=f"{low:g}",
            max=f"{high:g}",
        )
    if unit == "work_days" and amount != int(amount):
        return msg("working days must be whole, got %(amount)s", amount=f"{amount:g}")
    return None


@dataclass(frozen=True, slots=True)
class Deadline:
    """How long a department has: ``amount`` of ``unit`` (one of :data:`UNITS`)."""

    amount: float
    unit: str = "hours"

    def __post_init__(self) -> None:
        problem = deadline_problem(self.amount, self.unit)
        if problem is not None:
            raise DeadlineError(problem)


def parse_periods(text: str) -> tuple[tuple[time, time], ...]:
    """``"08:30-12:00,13:30-17:30"`` -> office periods, checked to be ordered and disjoint."""
    periods = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = re.fullmatch(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", part)
        if not match:
            raise ValueError(f"office period {part!r} is not like 08:30-12:00")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        try:
            start, end = time(h1, m1), time(h2, m2)
        except ValueError as exc:
            raise ValueError(f"office period {part!r}: {exc}") from None
        if end <= start:
            raise ValueError(f"office period {part!r} ends before it starts")
        if periods and start < periods[-1][1]:
            raise ValueError(f"office period {part!r} overlaps or precedes the one before it")
        periods.append((start, end))
    if not periods:
        raise ValueError("no office periods given")
    return tuple(periods)


def parse_dates(items: Iterable[str | date]) -> frozenset[date]:
    """ISO dates and inclusive ranges (``2026-10-01..2026-10-07``) -> a set of dates."""
    days: set[date] = set()
    for item in items:
        if isinstance(item, date):
            days.add(item)
            continue
        first, _, last = str(item).strip().partition("..")
        try:
            start = date.fromisoformat(first.strip())
            end = date.fromisoformat(last.strip()) if last else start
        except ValueError:
            raise ValueError(f"{item!r} is not a date (YYYY-MM-DD) or range (A..B)") from None
        if end < start or (end - start).days > 366:
            raise ValueError(f"date range {item!r} is reversed or longer than a year")
        days.update(start + timedelta(days=k) for k in range((end - start).days + 1))
    return frozenset(days)


@dataclass(frozen=True, slots=True)
class WorkCalendar:
    """Office hours, weekend, holidays and make-up working days of one administration."""

    timezone: str = "Asia/Shanghai"
    periods: tuple[tuple[time, time], ...] = (
        (time(8, 30), time(12, 0)),
        (time(13, 30), time(17, 30)),
    )
    weekend: frozenset[int] = frozenset({5, 6})  # Monday is 0
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)  # 调休: weekend days worked

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None
        if not self.periods:
            raise ValueError("a working day needs at least one office period")
        if len(self.weekend) >= 7 and not self.workdays:
            raise ValueError("every day of the week is a weekend day")
        both = self.holidays & self.workdays
        if both:
            raise ValueError(f"{min(both)} is both a holiday and a make-up working day")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def hours_per_day(self) -> float:
        return sum(_seconds(a, b) for a, b in self.periods) / 3600.0

    def is_workday(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() not in self.weekend and day not in self.holidays

    def due(self, start: datetime, deadline: Deadline) -> datetime:
        """When a deadline that starts counting at ``start`` (aware) falls due, in its time zone."""
        _aware(start)
        if deadline.unit == "hours":
            return start + timedelta(hours=deadline.amount)
        if deadline.unit == "work_hours":
            return self._add_work_seconds(start, deadline.amount * 3600.0)
        return self._close_of_workday(start, int(deadline.amount))

    def work_hours_between(self, start: datetime, end: datetime) -> float:
        """Office hours from ``start`` to ``end`` (both aware); negative if ``end`` comes first."""
        _aware(start)
        _aware(end)
        if end < start:
            return -self.work_hours_between(end, start)
        a, b = start.astimezone(self.tz), end.astimezone(self.tz)
        total = 0.0
        day = a.date()
        while day <= b.date():
            if self.is_workday(day):
                for p_start, p_end in self.periods:
                    lo = max(a, self._at(day, p_start))
                    hi = min(b, self._at(day, p_end))
                    total += max(0.0, (hi - lo).total_seconds())
            day += timedelta(days=1)
        return total / 3600.0

    # -- helpers ------------------------------------------------------------------------------

    def _at(self, day: date, moment: time) -> datetime:
        return datetime.combine(day, moment, tzinfo=self.tz)

    def _add_work_seconds(self, start: datetime, seconds: float) -> datetime:
        local = start.astimezone(self.tz)
        day = local.date()
        for _ in range(_MAX_DAYS):
            if self.is_workday(day):
                for p_start, p_end in self.periods:
                    lo = max(local, self._at(day, p_start))
                    hi = self._at(day, p_end)
                    available = (hi - lo).total_seconds()
                    if available <= 0:
                        continue
                    if seconds <= available:
                        return (lo + timedelta(seconds=seconds)).astimezone(start.tzinfo)
                    seconds -= available
            day += timedelta(days=1)
        raise ValueError("no working time found within ten years: check the calendar")

    def _close_of_workday(self, start: datetime, count: int) -> datetime:
        """Close of the ``count``-th working day after the day of ``start`` (not counted)."""
        day = start.astimezone(self.tz).date()
        for _ in range(_MAX_DAYS):
            day += timedelta(days=1)
            if self.is_workday(day):
                count -= 1
                if count == 0:
                    return self._at(day, self.periods[-1][1]).astimezone(start.tzinfo)
        raise ValueError("no working day found within ten years: check the calendar")


def _seconds(a: time, b: time) -> float:
    return (datetime.combine(date.min, b) - datetime.combine(date.min, a)).total_seconds()


def _aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone")
