"""Display names for labels, states, actions and roles (English msgids; zh in translations/)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from flask import current_app, has_app_context, has_request_context
from flask_babel import force_locale, get_locale, gettext, ngettext
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from gis.messages import Message

__all__ = [
    "lazy_message",
    "lazy_names",
    "lazy_reason",
    "lazy_text",
    "deferred_locale",
    "LABEL_NAMES",
    "STATE_NAMES",
    "ACTION_NAMES",
    "ROLE_NAMES",
    "DEADLINE_UNITS",
    "COMMAND_NAMES",
    "SESSION_STATE_NAMES",
    "CHECK_NAMES",
    "template_names",
    "overdue_span",
    "span_unit",
]

LABEL_NAMES = {
    "illegal_construction": _l("Illegal construction"),
    "straw_burning": _l("Straw burning"),
    "illegal_fishing": _l("Illegal fishing"),
    "background": _l("Background (false positive)"),
}
STATE_NAMES = {
    "new": _l("New"),
    "confirmed": _l("Filed"),
    "dispatched": _l("Dispatched"),
    "in_progress": _l("In progress"),
    "resolved": _l("Resolved"),
    "verified": _l("Verified"),
    "closed": _l("Closed"),
    "rejected": _l("Rejected"),
    "reopened": _l("Reopened"),
}
ACTION_NAMES = {
    "open": _l("Opened"),
    "confirm": _l("File"),
    "reject": _l("Reject"),
    "dispatch": _l("Dispatch"),
    "return": _l("Return to dispatcher"),
    "start": _l("Start handling"),
    "resolve": _l("Report resolved"),
    "verify": _l("Verify"),
    "close": _l("Close"),
    "reopen": _l("Reopen"),
    "recall": _l("Recall from department"),
    "extend": _l("Extend deadline"),
    "escalate": _l("Escalated (overdue)"),
    "reflight_check": _l("Re-flight check"),
    "relabel": _l("Reclassified"),
}
ROLE_NAMES = {
    "pilot": _l("Pilot"),
    "supervisor": _l("Supervisor"),
    "department": _l("Department"),
    "admin": _l("Administrator"),
    "system": _l("System"),
}

DEADLINE_UNITS = {
    "hours": _l("hours (around the clock)"),
    "work_hours": _l("working hours"),
    "work_days": _l("working days"),
}

#: Pilot commands of a flight session, for its messages (the API keeps the keys).
COMMAND_NAMES = {
    "arm": _l("arm and take off"),
    "start": _l("start the mission"),
    "pause": _l("pause (hover)"),
    "resume": _l("resume the mission"),
    "rtl": _l("return to launch"),
    "land": _l("land"),
    "cancel": _l("cancel the session"),
}
#: Flight session states as the pilot reads them (the API keeps the codes).
SESSION_STATE_NAMES = {
    "starting": _l("starting"),
    "connecting": _l("connecting"),
    "uploading": _l("uploading the mission"),
    "verifying": _l("verifying the mission"),
    "preflight": _l("pre-flight checks"),
    "ready": _l("ready to arm"),
    "airborne": _l("airborne"),
    "mission": _l("flying the mission"),
    "paused": _l("paused, holding position"),
    "returning": _l("returning to launch"),
    "landing": _l("landing"),
    "landed": _l("landed"),
    "done": _l("done"),
    "failed": _l("failed"),
    "cancelled": _l("cancelled"),
}
#: Pre-flight checks by the names ``missions.link.flight.preflight_checks`` gives them.
CHECK_NAMES = {
    "gps fix": _l("GPS fix"),
    "ekf position": _l("EKF position"),
    "battery": _l("battery level"),
    "mission verified": _l("mission verified"),
    "home set": _l("home position set"),
    "home at plan": _l("home at the plan's home"),
    "geofence": _l("geofence"),
}


def template_names() -> dict[str, object]:
    """Context for every template."""
    return {
        "LABEL_NAMES": LABEL_NAMES,
        "STATE_NAMES": STATE_NAMES,
        "ACTION_NAMES": ACTION_NAMES,
        "ROLE_NAMES": ROLE_NAMES,
        "DEADLINE_UNITS": DEADLINE_UNITS,
        "overdue_span": overdue_span,
    }


def span_unit(hours: float) -> tuple[str, float]:
    """The unit people read a span of ``hours`` in and its amount: whole minutes under an hour
    (at least 1: 1 minute for 36 s), hours under a day, else days."""
    minutes = round(hours * 60)
    if minutes < 60:
        return "minutes", max(1, minutes)
    if round(hours, 1) < 24:
        return "hours", hours
    return "days", hours / 24


def overdue_span(hours: float) -> str:
    """How long past a deadline, in the request's language (:func:`span_unit`; hours and days
    with one decimal)."""
    unit, amount = span_unit(hours)
    if unit == "minutes":
        return ngettext("%(num)d minute", "%(num)d minutes", int(amount))
    if unit == "hours":
        return gettext("%(num).1f hours", num=amount)
    return gettext("%(num).1f days", num=amount)


def _translating() -> bool:
    """Whether lazy texts can be translated here: inside an app that has flask-babel (not in
    CLI commands, scripts or worker threads, which get English)."""
    return has_app_context() and "babel" in current_app.extensions


def _message(string: str, **variables: Any) -> str:
    """``string`` in the current request's language; English (the msgid) without an app that
    has flask-babel (CLI commands, scripts, worker threads). Values that are messages of gis or
    missions (:class:`gis.errors.Message`, or an error carrying one) are rendered likewise."""
    if _translating():
        return gettext(string, **{k: _localised(v) for k, v in variables.items()})
    return string % variables if variables else string


def _localised(value: Any) -> Any:
    """A gis/missions message (or an error made of one) in the current language; else ``value``."""
    if isinstance(value, BaseException) and value.args and isinstance(value.args[0], Message):
        value = value.args[0]
    if isinstance(value, Message):
        return _message(value.template, **value.values)
    return value


def lazy_message(string: str, **variables: Any) -> LazyString:
    """An error message rendered when ``str()`` is called, i.e. in the locale of the request
    that shows it; English where there is no request. Import it as ``_l`` so that
    ``translations/update.py`` extracts its msgids."""
    return LazyString(_message, string, **variables)


def _names(names: dict[str, Any], keys: tuple[str, ...], quote: bool, display: bool) -> str:
    if _translating():
        locale = get_locale()
        if locale is not None and locale.language != "en":
            return "、".join(str(names.get(k, k)) for k in keys)
    if display:
        return ", ".join(str(names.get(k, k)) for k in keys)
    return ", ".join(repr(k) if quote else k for k in keys)


def lazy_names(
    names: dict[str, Any], *keys: str, quote: bool = False, display: bool = False
) -> LazyString:
    """States, actions or roles for an error message: the API's keys in English (``repr()``'d
    with ``quote``), their display names (``STATE_NAMES`` ...) in other languages; with
    ``display`` the display names in English too (a page's messages, whose readers see the
    names, never the keys)."""
    return LazyString(_names, names, tuple(keys), quote, display)


def lazy_text(value: Any) -> LazyString:
    """A gis/missions :class:`~gis.messages.Message` (or any value) for a later reader: rendered
    in their language when ``str()`` is called, English without a request."""
    return LazyString(lambda: str(_localised(value)))


def lazy_reason(exc: BaseException) -> LazyString | str:
    """An exception's message for a later reader: its lazy message when it has one (so each
    reader gets their language), else its English text."""
    if len(exc.args) == 1 and isinstance(exc.args[0], LazyString):
        return exc.args[0]
    if len(exc.args) == 1 and isinstance(exc.args[0], Message):
        return lazy_text(exc.args[0])
    return str(exc)


def deferred_locale() -> Callable[[], AbstractContextManager[Any]]:
    """Contexts that render lazy texts in the current request's language after the request has
    gone (a streamed response is read after its view returned). English without a request."""
    if not (has_request_context() and _translating()):
        return nullcontext
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    locale = str(get_locale() or "en")

    @contextmanager
    def context() -> Iterator[None]:
        with app.app_context(), force_locale(locale):
            yield

    return context
