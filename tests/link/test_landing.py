"""How a flight ends after the vehicle disarms: the one decision `fly` and the ground station
share (landed, disarmed in the air, rebooted, or not yet), its outcome names, and the English
summary `fly` prints."""

from __future__ import annotations

import doctest
from dataclasses import replace

import pytest

import gis.messages
import missions.link.flight
import missions.link.landing
from missions.link.flight import FlightResult, clock_text
from missions.link.landing import (
    LANDED_AWAY_M,
    LANDED_STATE_GRACE_S,
    LANDED_WITHIN_M,
    LandingWatch,
    Touchdown,
    flight_outcome,
    landing_place,
    watch_landing,
)
from missions.link.telemetry import (
    DisarmHeights,
    HeightFix,
    LandedState,
    Position,
    Reboot,
    TelemetryTracker,
)

GROUND, AIR = LandedState.ON_GROUND, LandedState.IN_AIR


def snap(*, armed: bool, landed: LandedState = LandedState.UNDEFINED, alt: float = 0.0, **more):
    """A telemetry snapshot with just what the decision reads."""
    position = Position(30.0, 120.0, alt, alt, heading_deg=None, groundspeed_mps=0.0, climb_mps=0.0)
    return replace(
        TelemetryTracker().snapshot(), armed=armed, landed_state=landed, position=position, **more
    )


def run(steps, *, watch: LandingWatch | None = None) -> list[Touchdown]:
    """Feed ``(snapshot, clock_confirmed, now)`` steps; the verdict after each."""
    watch = watch or LandingWatch()
    verdicts = []
    for snapshot, confirmed, now in steps:
        watch, verdict = watch_landing(watch, snapshot, clock_confirmed=confirmed, now=now)
        verdicts.append(verdict)
    return verdicts


def test_the_module_examples_hold() -> None:
    for module in (missions.link.landing, missions.link.flight, gis.messages):
        assert doctest.testmod(module).failed == 0


def test_on_the_ground_before_arming_is_no_landing() -> None:
    assert run([(snap(armed=False, landed=GROUND), True, 0.0)] * 3) == [Touchdown.FLYING] * 3


def test_a_disarm_on_the_ground_after_a_flight_is_a_landing_at_once() -> None:
    verdicts = run(
        [
            (snap(armed=True, landed=GROUND), True, 0.0),
            (snap(armed=True, landed=AIR, alt=30.0), True, 1.0),
            (snap(armed=False, landed=GROUND, alt=0.2), True, 2.0),
        ]
    )
    assert verdicts == [Touchdown.FLYING, Touchdown.FLYING, Touchdown.LANDED]


def test_a_landed_state_that_trails_the_disarm_is_waited_for() -> None:
    """The web session used to call this a landing at once, whatever the landed state said."""
    flown = LandingWatch(armed_once=True, airborne_seen=True)
    verdicts = run(
        [
            (snap(armed=False, landed=AIR, alt=0.5), True, 10.0),
            (snap(armed=False, landed=AIR, alt=0.3), True, 11.0),
            (snap(armed=False, landed=GROUND, alt=0.1), True, 12.0),
        ],
        watch=flown,
    )
    assert verdicts == [Touchdown.SETTLING, Touchdown.SETTLING, Touchdown.LANDED]


def test_a_vehicle_still_in_the_air_after_the_grace_was_disarmed_in_the_air() -> None:
    """The web session used to store this as a landed flight; `fly` raised. Both fail it now."""
    flown = LandingWatch(armed_once=True, airborne_seen=True)
    verdicts = run(
        [
            (snap(armed=False, landed=AIR, alt=25.0), True, 10.0),
            (snap(armed=False, landed=AIR, alt=20.0), True, 10.0 + LANDED_STATE_GRACE_S - 0.1),
            (snap(armed=False, landed=AIR, alt=15.0), True, 10.0 + LANDED_STATE_GRACE_S),
        ],
        watch=flown,
    )
    assert verdicts == [Touchdown.SETTLING, Touchdown.SETTLING, Touchdown.DISARMED_IN_AIR]
    assert Touchdown.DISARMED_IN_AIR.over and not Touchdown.SETTLING.over


def test_after_a_reconnect_a_landing_waits_for_the_vehicles_clock_or_the_grace() -> None:
    flown = LandingWatch(armed_once=True, airborne_seen=True)
    on_ground = snap(armed=False, landed=GROUND)
    assert run([(on_ground, False, 5.0), (on_ground, True, 5.5)], watch=flown) == [
        Touchdown.SETTLING,
        Touchdown.LANDED,
    ]
    late = 5.0 + LANDED_STATE_GRACE_S
    assert run([(on_ground, False, 5.0), (on_ground, False, late)], watch=flown) == [
        Touchdown.SETTLING,
        Touchdown.LANDED,
    ]


def test_a_disarm_that_rearms_starts_the_grace_again() -> None:
    flown = LandingWatch(armed_once=True, airborne_seen=True)
    steps = [
        (snap(armed=False, landed=AIR, alt=5.0), True, 0.0),
        (snap(armed=True, landed=AIR, alt=5.0), True, 1.0),
        (snap(armed=False, landed=AIR, alt=5.0), True, 2.0),
        (snap(armed=False, landed=AIR, alt=5.0), True, 2.0 + LANDED_STATE_GRACE_S - 0.5),
    ]
    assert run(steps, watch=flown)[-1] is Touchdown.SETTLING


def test_a_disarm_in_the_air_before_it_ever_flew_is_not_counted() -> None:
    """Armed, landed state says airborne, but it never rose above a metre: not a landing yet."""
    verdicts = run(
        [
            (snap(armed=True, landed=AIR, alt=0.5), True, 0.0),
            (snap(armed=False, landed=AIR, alt=0.5), True, 10.0),
        ]
    )
    assert verdicts == [Touchdown.FLYING, Touchdown.FLYING]


def test_a_vehicle_that_rebooted_after_arming_never_lands() -> None:
    reboot = Reboot(time_s=3.0, kind="clock", before="120.0", after="2.0")
    rebooted = snap(armed=False, landed=GROUND, reboot=reboot)
    assert run([(snap(armed=True), True, 0.0), (rebooted, True, 1.0)]) == [
        Touchdown.FLYING,
        Touchdown.REBOOTED,
    ]
    # before arming a restart is no flight's business
    assert run([(rebooted, True, 0.0)]) == [Touchdown.FLYING]


# -- the height at the disarm: ArduCopter and our SITL say ON_GROUND the moment they disarm --


FLOWN = LandingWatch(armed_once=True, airborne_seen=True)


def disarmed(*, before: float | None, after: float | None, alt: float = 0.0, **more):
    """A snapshot after the disarm heartbeat, landed state ON_GROUND as ArduCopter sends it,
    with the last height heard while armed and the first heard after the disarm (m; vehicle
    clock 100 s and 100.02 s)."""
    heights = DisarmHeights(
        before=None if before is None else HeightFix(before, 100.0),
        after=None if after is None else HeightFix(after, 100.02),
    )
    return snap(armed=False, landed=GROUND, alt=alt, disarm=heights, **more)


def test_a_landing_whose_first_position_after_the_disarm_is_on_the_ground_lands_at_once() -> None:
    assert run([(disarmed(before=0.1, after=0.0), True, 5.0)], watch=FLOWN) == [Touchdown.LANDED]


def test_a_barometer_drifted_a_metre_or_two_still_lands() -> None:
    assert run([(disarmed(before=2.2, after=2.3, alt=2.3), True, 5.0)], watch=FLOWN) == [
        Touchdown.LANDED
    ]


def test_a_disarm_high_up_is_in_the_air_whatever_the_landed_state_says() -> None:
    """A force-disarm at 60 m: ON_GROUND at once, and the vehicle falls. It read 'landed'."""
    verdicts = run(
        [
            (snap(armed=True, landed=AIR, alt=60.0), True, 0.0),
            (disarmed(before=60.0, after=59.9, alt=59.9), True, 0.1),
        ]
    )
    assert verdicts == [Touchdown.FLYING, Touchdown.DISARMED_IN_AIR]
    just_above = LANDED_WITHIN_M + 0.5
    steps = [(disarmed(before=just_above, after=just_above, alt=just_above), True, 0.1)]
    assert run(steps, watch=FLOWN) == [Touchdown.DISARMED_IN_AIR]


def test_the_first_position_after_the_disarm_decides_not_the_last_before_it() -> None:
    """Sped up, the last armed height is many vehicle seconds old: a landing seen at 6 m on the
    way down, then on the ground right after its disarm, is a landing (the demo's case)."""
    assert run([(disarmed(before=6.0, after=0.0), True, 5.0)], watch=FLOWN) == [Touchdown.LANDED]


def test_without_a_position_after_the_disarm_the_last_one_before_decides_after_the_grace() -> None:
    """The link went at the disarm: wait the grace for a position, then judge by the last."""
    late = 5.0 + LANDED_STATE_GRACE_S
    high = disarmed(before=45.0, after=None, alt=45.0)
    assert run([(high, True, 5.0), (high, True, late)], watch=FLOWN) == [
        Touchdown.SETTLING,
        Touchdown.DISARMED_IN_AIR,
    ]
    low = disarmed(before=0.3, after=None, alt=0.3)
    assert run([(low, True, 5.0), (low, True, late)], watch=FLOWN) == [
        Touchdown.SETTLING,
        Touchdown.LANDED,
    ]


def test_a_position_arriving_within_the_grace_decides_at_once() -> None:
    waiting = disarmed(before=0.2, after=None, alt=0.2)
    fell = disarmed(before=0.2, after=12.0, alt=12.0)  # link back: it was not on the ground
    assert run([(waiting, True, 5.0), (fell, True, 6.0)], watch=FLOWN) == [
        Touchdown.SETTLING,
        Touchdown.DISARMED_IN_AIR,
    ]


def test_a_vehicle_that_rebooted_stays_rebooted_whatever_its_height() -> None:
    reboot = Reboot(time_s=3.0, kind="clock", before="120.0", after="2.0")
    for heights in ((0.0, 0.0), (40.0, None), (40.0, 40.0)):
        steps = [(disarmed(before=heights[0], after=heights[1], reboot=reboot), True, 9.0)]
        assert run(steps, watch=FLOWN) == [Touchdown.REBOOTED]


@pytest.mark.parametrize(
    ("landed", "all_reached", "outcome"),
    [(True, True, "complete"), (True, False, "returned_early"), (False, True, "failed")],
)
def test_flight_outcome(landed: bool, all_reached: bool, outcome: str) -> None:
    assert flight_outcome(landed=landed, all_reached=all_reached) == outcome


HOME = (32.51501, 120.08802)


def test_a_landing_kilometres_from_home_is_landed_away_with_where() -> None:
    """QA: a failsafe LAND 9.3 km south of home was reported "returned early"."""
    place = landing_place((32.43161, 120.08802), home=HOME)
    assert place.away and place.home_distance_m == pytest.approx(9274, abs=5)
    assert place.bearing_deg == pytest.approx(180.0, abs=0.1)
    assert place.text() == "9.3 km S of home at 32.431610,120.088020"
    assert flight_outcome(landed=True, all_reached=False, landed_away=True) == "landed_away"
    assert flight_outcome(landed=True, all_reached=True, landed_away=True) == "landed_away"
    assert flight_outcome(landed=False, all_reached=False, landed_away=True) == "failed"


def test_a_landing_near_home_or_a_rally_point_is_not_away() -> None:
    near = (HOME[0] + 20 / 111_320, HOME[1])  # 20 m north: RTL drift in wind
    assert not landing_place(near, home=HOME).away
    rally = (32.52, 120.10)  # an RTL may head for a rally point instead of home
    place = landing_place((rally[0] + 10 / 111_320, rally[1]), home=HOME, allowed=[rally])
    assert not place.away and place.home_distance_m > 1000
    edge = (HOME[0] + (LANDED_AWAY_M + 5) / 111_320, HOME[1])
    assert landing_place(edge, home=HOME).away
    assert landing_place(edge, home=HOME).text().startswith("55 m N of home at ")


def _result(**changes) -> FlightResult:
    base = FlightResult(
        landed=True, duration_s=312.0, waypoints=(2, 3, 4), reached=(2, 3, 4), photos=1,
        max_relative_alt_m=80.0, failsafes=(), status_texts=(), log_dir=None,
    )  # fmt: skip
    return replace(base, **changes)


def test_fly_summary_uses_plurals_and_names_the_outcome() -> None:
    assert _result().summary() == "landed: 5:12 flown, 3/3 waypoints, 1 photo, max 80 m"
    early = _result(waypoints=(2,), reached=(), photos=2, photos_unreported=1)
    assert early.outcome == "returned_early"
    assert early.summary() == (
        "returned early: 5:12 flown, 0/1 waypoint, 2 photos, max 80 m "
        "(3 photos taken, 1 not reported over the link)"
    )
    assert _result(landed=False).summary().startswith("NOT landed: 5:12 flown, ")


def test_fly_summary_and_json_say_where_a_flight_landed_away() -> None:
    place = landing_place((32.43161, 120.08802), home=HOME)
    away = _result(waypoints=(2, 3), reached=(2,), landing=place)
    assert away.outcome == "landed_away"
    assert away.summary().startswith(
        "landed away from home, 9.3 km S of home at 32.431610,120.088020: 5:12 flown, 1/2 "
    )
    summary = away.to_json()
    assert summary["outcome"] == "landed_away"
    assert summary["landing"]["lat"] == 32.43161 and summary["landing"]["away"] is True
    assert summary["landing"]["home_distance_m"] == pytest.approx(9274, abs=5)
    home = _result(landing=landing_place(HOME, home=HOME))
    assert home.outcome == "complete" and home.summary().startswith("landed: ")
    assert _result(landed=False, landing=place).outcome == "failed"


def test_fly_summary_gives_the_vehicles_flight_time_next_to_the_plans() -> None:
    """The QA report: "landed after 12 s" for a flight the plan puts at 3:16, flown at a
    simulator speed-up: the vehicle's clock says how long it flew, ours only how long we
    waited."""
    flown = _result(duration_s=194.4, planned_s=196.0, duration_wall_s=12.1)
    assert flown.summary().startswith("landed: 3:14 flown (plan 3:16), 3/3 waypoints")
    assert flown.to_json()["duration_s"] == 194.4 and flown.to_json()["duration_wall_s"] == 12.1
    unheard = _result(duration_s=None, planned_s=196.0, duration_wall_s=12.1)
    assert unheard.flight_time() == "0:12 flown by our clock (plan 3:16)"


def test_clock_text_reads_like_a_clock() -> None:
    assert [clock_text(s) for s in (0, 59.4, 59.6, 196, 3600, 3723.2)] == [
        "0:00", "0:59", "1:00", "3:16", "1:00:00", "1:02:03",
    ]  # fmt: skip
