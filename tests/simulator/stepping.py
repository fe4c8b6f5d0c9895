"""Stepping an :class:`~simulator.autopilot.Autopilot` by hand (no thread, no link): hover it in
GUIDED, run it for a while, and read the texts and mode changes it made."""

from __future__ import annotations

from simulator.autopilot import Autopilot, Mode, ModeChanged, Text
from simulator.params import ParamTable

HOME = (32.5145, 120.0860, 5.0)


def airborne(params: dict[str, float], *, altitude: float = 40.0, step: float = 0.02) -> Autopilot:
    """An autopilot hovering at `altitude` in GUIDED, events drained."""
    ap = Autopilot(home=HOME, params=ParamTable({"SIM_GPS_DELAY": 0, **params}))
    assert ap.set_mode(Mode.GUIDED) and ap.arm()[0] and ap.takeoff(altitude)
    while ap.state.h < altitude - 0.5:
        ap.tick(ap.now + step, step)
    ap.drain_events()
    return ap


def run(ap: Autopilot, seconds: float, *, until=lambda ap: False, step: float = 0.02) -> list:
    """Step up to `seconds` (or until `until(ap)`); the events seen with their times."""
    seen = []
    end = ap.now + seconds
    while ap.now < end and not until(ap):
        ap.tick(ap.now + step, step)
        seen.extend((ap.now, event) for event in ap.drain_events())
    return seen


def texts(seen) -> list[str]:
    return [event.text for _, event in seen if isinstance(event, Text)]


def modes(seen) -> list[Mode]:
    return [event.mode for _, event in seen if isinstance(event, ModeChanged)]
