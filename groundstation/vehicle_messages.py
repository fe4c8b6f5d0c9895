"""The vehicle's own status texts (MAVLink STATUSTEXT) for the pilot's page: marked as the
vehicle's (``Vehicle: ...``) and, for the texts ArduCopter and our SITL send most (arming,
disarming, mission items reached, mission complete, the EKF using GPS, failsafes and their
fallbacks, the geofence, pre-arm refusals), in the reader's language. Any other text stays
verbatim under the label.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import current_app, has_app_context
from flask_babel import get_locale
from flask_babel.speaklater import LazyString

from groundstation.i18n import lazy_message as _l

__all__ = ["vehicle_message", "known_text", "vehicle_reasons"]

#: Why the vehicle disarmed (the text after "Disarming motors: "), as the reader says it.
_DISARM_REASONS: dict[str, Callable[[], LazyString]] = {
    "landed": lambda: _l("landed"),
    "mission complete": lambda: _l("mission complete"),
    "auto disarm": lambda: _l("disarmed automatically on the ground"),
    "failsafe": lambda: _l("failsafe"),
    "battery exhausted": lambda: _l("battery exhausted"),
}


def _disarming(reason: str) -> LazyString:
    said = _DISARM_REASONS.get(reason.strip().lower())
    return _l("disarming motors: %(reason)s", reason=said() if said else reason)


#: Known texts, matched whole (case-insensitive): a pattern and its message, given the
#: pattern's named groups.
_KNOWN: tuple[tuple[re.Pattern[str], Callable[..., LazyString]], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), make)
    for pattern, make in (
        (r"Arming motors", lambda: _l("arming motors")),
        (r"Disarming motors", lambda: _l("disarming motors")),
        (r"Disarming motors: (?P<reason>.+)", _disarming),
        (r"Reached command #(?P<seq>\d+)", lambda seq: _l("reached mission item %(seq)s", seq=seq)),
        (
            r"Reached waypoint #(?P<seq>\d+) dist (?P<dist>\d+)m",
            lambda seq, dist: _l("reached waypoint %(seq)s (%(dist)s m off)", seq=seq, dist=dist),
        ),
        (r"Mission complete", lambda: _l("mission complete")),
        (
            r"EKF(?P<ekf>\d) IMU(?P<imu>\d+) is using GPS",
            lambda ekf, imu: _l("EKF%(ekf)s IMU%(imu)s is using GPS", ekf=ekf, imu=imu),
        ),
        (
            r"EKF(?P<ekf>\d) IMU(?P<imu>\d+) origin set",
            lambda ekf, imu: _l("EKF%(ekf)s IMU%(imu)s origin set", ekf=ekf, imu=imu),
        ),
        (r"EKF variance", lambda: _l("EKF variance: position estimate unreliable")),
        (r"EKF Failsafe Cleared", lambda: _l("EKF failsafe cleared")),
        (r"GCS Failsafe(?:: .*)?", lambda: _l("ground station link failsafe")),
        (r"GCS Failsafe Cleared", lambda: _l("ground station link failsafe cleared")),
        (
            r"Battery (?P<n>\d+) is (?P<level>low|critical) (?P<volts>[\d.]+)V "
            r"used (?P<mah>\d+) mAh",
            lambda n, level, volts, mah: (
                _l("battery %(n)s low: %(volts)s V, %(mah)s mAh used", n=n, volts=volts, mah=mah)
                if level.lower() == "low"
                else _l(
                    "battery %(n)s critical: %(volts)s V, %(mah)s mAh used",
                    n=n,
                    volts=volts,
                    mah=mah,
                )
            ),
        ),
        (
            r"Fence Breached(?:: (?P<what>.+))?",
            lambda what=None: (
                _l("geofence breached: %(what)s", what=what) if what else _l("geofence breached")
            ),
        ),
        (r"Fence breach cleared", lambda: _l("geofence breach cleared")),
        # a mode change while breached: the fence ignores new breaches for a while
        (r"Manual recovery started", lambda: _l("geofence manual recovery started")),
        # a failsafe's fallbacks (do_failsafe_action): no SmartRTL, no DO_LAND_START, no BRAKE
        (
            r"SmartRTL Unavailable, Trying RTL Mode",
            lambda: _l("SmartRTL unavailable: trying RTL"),
        ),
        (
            r"SmartRTL Unavailable, Using Land Mode",
            lambda: _l("SmartRTL unavailable: landing (LAND)"),
        ),
        (r"Trying RTL Mode", lambda: _l("trying RTL")),
        (r"Trying Land Mode", lambda: _l("trying LAND")),
        (r"PreArm: (?P<detail>.+)", lambda detail: _l("pre-arm check: %(detail)s", detail=detail)),
        (r"Mission start failed: no mission", lambda: _l("cannot start the mission: no mission")),
        (
            r"Skipping invalid cmd #(?P<seq>\d+)",
            lambda seq: _l("skipping invalid mission item %(seq)s", seq=seq),
        ),
    )
)


def known_text(text: str) -> LazyString | None:
    """A known STATUSTEXT in the reader's language; None for any other text."""
    text = text.strip()
    for pattern, make in _KNOWN:
        match = pattern.fullmatch(text)
        if match:
            groups: dict[str, Any] = {k: v for k, v in match.groupdict().items() if v is not None}
            return make(**groups)
    return None


def vehicle_message(text: str) -> LazyString:
    """``Vehicle: arming motors``: a STATUSTEXT marked as the vehicle's, translated when it is
    a known one, else verbatim."""
    return _l("Vehicle: %(text)s", text=known_text(text) or text.strip())


def vehicle_reasons(texts: Iterable[str]) -> LazyString:
    """The STATUSTEXTs a vehicle gave for a failsafe, joined for a sentence that quotes them: for
    a reader of another language than English each known one in theirs (``；``-separated), any
    other verbatim; in English as the vehicle sent them (``; ``), as flight.json has them."""
    said = tuple(text.strip() for text in texts)
    return LazyString(_reasons, said)


def _reasons(texts: tuple[str, ...]) -> str:
    if not _foreign_reader():
        return "; ".join(texts)
    return "；".join(str(known_text(text) or text) for text in texts)


def _foreign_reader() -> bool:
    """Whether texts are rendered now for a reader of another language than English."""
    if not (has_app_context() and "babel" in current_app.extensions):
        return False
    locale = get_locale()
    return locale is not None and locale.language != "en"
