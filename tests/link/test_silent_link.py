"""`fly` over a link that goes silent with its connection still open (the lossy-relay QA pass):
the loss and the return are said and logged, the telemetry log gets no made-up rows while
nothing is heard, and the vehicle's GCS failsafe during the silence is not passed off as
another controller's mode change."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pytest

from missions.link import FlightAborted, connect, fly
from missions.link.flight import LINK_SILENT_S, ModeChange, mode_change
from tests.link.conftest import HOME
from tests.link.test_sitl import LOOPBACK, lawnmower
from tests.lossy_relay import LossyRelay

pytestmark = pytest.mark.slow

#: The vehicle's GCS failsafe: RTL after 5 s (its clock) without our heartbeat.
PARAMS = {"RTL_LOIT_TIME": 0, "FS_GCS_ENABLE": 1, "FS_GCS_TIMEOUT": 5}
CUT_S = LINK_SILENT_S + 2.0


def _fly_through_a_cut(tmp_path, *, hold: bool) -> tuple[str, list[str], dict, list[dict]]:
    """Fly a survey, cut the link for CUT_S once two waypoints are reached; the error, what
    on_link heard, flight.json and the telemetry rows."""
    from simulator import Sitl

    heard: list[str] = []
    with (
        Sitl(home=HOME, speedup=10, params=PARAMS) as sitl,
        LossyRelay(sitl.connection_string) as relay,
        connect(relay.url, timeout=30, settings=LOOPBACK) as vehicle,
    ):
        cut = []

        def cut_once(snapshot) -> None:
            if not cut and len(snapshot.mission.reached) >= 2:
                cut.append(snapshot.time_s)
                relay.cut(CUT_S, hold=hold)

        with pytest.raises(FlightAborted) as caught:
            fly(vehicle, lawnmower(14), log_dir=tmp_path / "log", on_status=cut_once,
                on_link=lambda m: heard.append(str(m)))  # fmt: skip
        assert cut, "the mission never reached its second waypoint"
    log = tmp_path / "log"
    document = json.loads((log / "flight.json").read_text())
    with (log / "telemetry.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return str(caught.value), heard, document, rows


def test_a_gcs_failsafe_in_a_silent_cut_is_said_as_made_while_the_link_was_lost(tmp_path) -> None:
    """QA: said "changed to RTL by another controller", no link loss said or logged, and ~200
    telemetry rows repeating the last position heard."""
    message, heard, document, rows = _fly_through_a_cut(tmp_path, hold=False)
    change = (
        "the vehicle switched to RTL while the link was lost (a failsafe, or another controller)"
    )
    assert message.startswith(f"flight ended early: {change}; "), message
    assert "by another controller (RC or ground station)" not in message
    assert heard[0] == f"link lost: no heartbeat for {LINK_SILENT_S:g} s", heard
    assert heard[1].startswith("link back after ") and heard[1].endswith(" s"), heard
    events = document["events"]
    link = [e["text"] for e in events if e["kind"] == "link"]
    assert link[0] == f"lost: no heartbeat for {LINK_SILENT_S:g} s" and link[1].startswith("back")
    changed = [e for e in events if e["kind"] == "mode_changed_while_link_lost"]
    assert [e["text"] for e in changed] == [change]
    # it happened after the last time AUTO was heard, before it was heard in RTL
    assert changed[0]["after_vehicle_time_s"] < changed[0]["vehicle_time_s"]
    assert document["summary"]["mode_changes"] == [change]
    assert document["summary"]["failsafes"] == []
    # no rows made up while nothing was heard (a row every 25 ms of ours would be ~280)
    repeats = Counter(row["vehicle_time_s"] for row in rows).most_common(1)[0][1]
    assert repeats < 10, repeats


def test_the_failsafe_text_in_the_burst_after_a_stalled_link_names_the_failsafe(tmp_path) -> None:
    """A stalled link that delivers everything late: the vehicle's "GCS Failsafe" text comes in
    the burst, with the vehicle's clock as it was said, and names the failsafe."""
    message, heard, document, _ = _fly_through_a_cut(tmp_path, hold=True)
    assert message.startswith(
        "flight ended by failsafe: vehicle switched to RTL (GCS Failsafe: no heartbeat from the "
        "ground station"
    ), message
    assert heard[0] == f"link lost: no heartbeat for {LINK_SILENT_S:g} s", heard
    kinds = [e["kind"] for e in document["events"]]
    assert "failsafe" in kinds and "mode_changed_while_link_lost" not in kinds


def test_mode_change_heard_after_a_silence_uses_the_vehicles_times() -> None:
    warnings = [(100.0, "GCS Failsafe: no heartbeat from the ground station")]
    # said at 100 s of the vehicle's, the change at 101 s, both heard at once much later
    assert mode_change("RTL", warnings, now_s=101.0, link_lost=True).failsafe
    unexplained = mode_change("RTL", [], now_s=101.0, link_lost=True)
    assert unexplained == ModeChange("RTL", (), link_lost=True)
    assert not unexplained.failsafe
    assert str(unexplained.text) == (
        "the vehicle switched to RTL while the link was lost (a failsafe, or another controller)"
    )
    assert str(mode_change("LOITER", [], now_s=101.0).text) == (
        "the mode was changed to LOITER by another controller (RC or ground station)"
    )
