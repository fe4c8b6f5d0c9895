"""The end-to-end demo: the report maths on hand-made data, and one quick run of the command."""

from __future__ import annotations

import json
import math
from collections import defaultdict

import pytest
from click.testing import CliRunner
from shapely.geometry import Point, box, shape

from gis.crs import LocalFrame
from groundstation.demo import (
    CLASSES,
    FoundItem,
    TruthItem,
    cluster_findings,
    score_detections,
)

FRAME = LocalFrame(120.14, 32.51)


def at(x: float, y: float) -> tuple[float, float]:
    lon, lat = FRAME.inverse(x, y)
    return float(lon), float(lat)


def planted(label: str, x: float, y: float, half: float = 5.0) -> TruthItem:
    return TruthItem(label, at(x, y), FRAME.to_wgs84(box(x - half, y - half, x + half, y + half)))


def test_report_maths_on_hand_made_data() -> None:
    truth = [
        planted("illegal_construction", 0, 0),
        planted("illegal_construction", 200, 0),
        planted("straw_burning", 0, 100),
        planted("illegal_fishing", 100, 100),
    ]
    findings = [
        # one shed seen in two photos, 4 m and 8 m east of its centre: one detection
        FoundItem("illegal_construction", 0.9, at(4, 0)),
        FoundItem("illegal_construction", 0.6, at(8, 0)),
        # the second shed is missed; a fire is reported on it instead (wrong class)
        FoundItem("straw_burning", 0.7, at(200, 3)),
        # the fire, 3 m north
        FoundItem("straw_burning", 0.8, at(0, 103)),
        # fishing: 30 m from its footprint, too far to count
        FoundItem("illegal_fishing", 0.95, at(100, 140)),
    ]
    detections = cluster_findings(findings)
    assert sorted(len(d.members) for d in detections) == [1, 1, 1, 2]
    shed = next(d for d in detections if d.label == "illegal_construction")
    x, _y = FRAME.forward(*shed.centre)
    assert x == pytest.approx((4 * 0.9 + 8 * 0.6) / 1.5, abs=0.01)  # score-weighted

    scores = score_detections(truth, detections)
    c = scores.classes
    assert (c["illegal_construction"].planted, c["illegal_construction"].found) == (2, 1)
    assert c["illegal_construction"].recall == 0.5 and c["illegal_construction"].precision == 1.0
    assert (c["straw_burning"].found, c["straw_burning"].false_alarms) == (1, 1)
    assert c["straw_burning"].precision == 0.5
    assert (c["illegal_fishing"].found, c["illegal_fishing"].false_alarms) == (0, 1)
    assert c["illegal_fishing"].recall == 0.0 and c["illegal_fishing"].precision == 0.0
    assert sorted(scores.errors_m) == pytest.approx([3.0, 5.6], abs=0.05)


def test_matching_is_one_to_one_and_nearest_first() -> None:
    truth = [planted("straw_burning", 0, 0), planted("straw_burning", 12, 0)]
    # two findings 41 m apart stay two detections
    findings = [
        FoundItem("straw_burning", 0.9, at(11, 0)),
        FoundItem("straw_burning", 0.8, at(-30, 0)),
    ]
    scores = score_detections(truth, cluster_findings(findings))
    s = scores.classes["straw_burning"]
    # the detection at x=11 takes the nearer fire (x=12); x=-30 is 25 m from the other footprint
    assert (s.found, s.false_alarms) == (1, 1)
    assert scores.errors_m == pytest.approx([1.0], abs=0.05)
    assert score_detections([], []).classes["illegal_fishing"].recall is None


# -- the whole demo --------------------------------------------------------------------------


def _independent_figures(truth: list[dict], findings: list[dict], tolerance_m: float) -> dict:
    """Recall per class recomputed from the two GeoJSON files without the demo's functions."""
    groups: dict[int, list[dict]] = defaultdict(list)
    for f in findings:
        groups[f["properties"]["detection"]].append(f)
    detections = []
    for members in groups.values():
        total = sum(m["properties"]["score"] for m in members)
        lon = sum(m["properties"]["score"] * m["geometry"]["coordinates"][0] for m in members)
        lat = sum(m["properties"]["score"] * m["geometry"]["coordinates"][1] for m in members)
        lon, lat = lon / total, lat / total
        detections.append((members[0]["properties"]["class"], FRAME.forward(lon, lat)))
    out = {}
    for label in CLASSES:
        items = [t for t in truth if t["properties"]["class"] == label]
        found = 0
        for t in items:
            footprint = FRAME.to_local(shape(t["geometry"]))
            if any(
                dl == label and footprint.distance(Point(*xy)) <= tolerance_m
                for dl, xy in detections
            ):
                found += 1
        out[label] = {"planted": len(items), "found": found}
    return out


def test_the_demo_waits_for_an_ingest_job_a_running_station_took(tmp_path) -> None:
    """`gridpatrol demo` beside `gridpatrol serve` on the same data folder: the station's
    worker claims the sortie's ingest job first; the demo says so and waits for it to finish,
    instead of failing with "ingest job 3 ended busy"."""
    import threading

    from groundstation.demo import run_ingest
    from groundstation.jobs import JobRunner
    from groundstation.storage import Storage

    storage = Storage(f"sqlite:///{tmp_path / 'gridpatrol.sqlite3'}")
    storage.upgrade()
    handlers = {"ingest_flight": lambda ctx, payload: {"flight_id": payload["flight_id"]}}
    demo = JobRunner(storage, handlers=handlers, owner="demo")
    station = JobRunner(storage, handlers=handlers, owner="station:1234")
    job_id = demo.enqueue("ingest_flight", {"flight_id": 1})
    assert station.claim(job_id)  # the station's worker thread was quicker
    said: list[str] = []
    waiting = threading.Event()

    def log(line: str) -> None:
        said.append(line)
        waiting.set()

    errors: list[BaseException] = []

    def run() -> None:
        try:
            run_ingest(demo, job_id, sortie="s1", timeout_s=120, log=log)
        except Exception as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert waiting.wait(60), "the demo never said it was waiting"
    assert station.run_claimed(job_id).state == "done"
    thread.join(60)
    assert not thread.is_alive() and errors == []
    assert said == [
        f"s1: ingest job {job_id} is being run by another worker (station:1234), e.g. a "
        "station serving this data folder; waiting for it to finish"
    ]
    storage.dispose()


def test_a_failed_ingest_job_stops_the_demo_with_its_error(tmp_path) -> None:
    from groundstation.demo import DemoError, run_ingest
    from groundstation.jobs import JobRunner
    from groundstation.storage import Storage

    def broken(ctx, payload):
        raise OSError("photos folder unreadable")

    storage = Storage(f"sqlite:///{tmp_path / 'gridpatrol.sqlite3'}")
    storage.upgrade()
    runner = JobRunner(storage, handlers={"ingest_flight": broken})
    job_id = runner.enqueue("ingest_flight", {"flight_id": 1}, max_attempts=1)
    with pytest.raises(DemoError, match=rf"s1: ingest job {job_id} failed: .*folder unreadable"):
        run_ingest(runner, job_id, sortie="s1", timeout_s=60, log=lambda _line: None)
    storage.dispose()


def test_a_sorties_area_is_its_share_of_the_plans() -> None:
    """A grid flown over two sorties counts half for each: the sorties add up to the plan."""
    from types import SimpleNamespace

    route = SimpleNamespace(
        grids=[
            SimpleNamespace(area_m2=1000.0, sorties=(0,)),
            SimpleNamespace(area_m2=600.0, sorties=(0, 1)),
            SimpleNamespace(area_m2=50.0, sorties=(1,)),
        ]
    )
    from groundstation.demo import sortie_area_m2

    assert sortie_area_m2(route, 0) == 1300.0
    assert sortie_area_m2(route, 1) == 350.0
    assert sortie_area_m2(route, 2) == 0.0


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path) -> None:
    from sqlalchemy import create_engine, text

    from gis.exif import read_geotag
    from groundstation.cli import cli

    data = tmp_path / "demo"
    result = CliRunner().invoke(
        cli, ["demo", "--quick", "--no-serve", "--json", "--data-dir", str(data)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == {
        "classes", "position_error_m", "grids", "sorties", "photos", "tickets",
        "landing_to_ticket_s", "data_dir",
    }  # fmt: skip
    assert set(report["classes"]) == set(CLASSES)
    assert report["data_dir"] == str(data.resolve())

    truth = json.loads((data / "truth.geojson").read_text())["features"]
    findings = json.loads((data / "findings.geojson").read_text())["features"]
    grids = {
        f["properties"]["grid_id"]: FRAME.to_local(shape(f["geometry"]))
        for f in json.loads((data / "grids.geojson").read_text())["features"]
    }
    assert report["grids"] == len(grids) and report["sorties"] >= 1

    # the figures agree with the files, recomputed here
    recomputed = _independent_figures(truth, findings, tolerance_m=10.0)
    for label, figures in recomputed.items():
        assert report["classes"][label]["planted"] == figures["planted"] >= 1
        assert report["classes"][label]["found"] == figures["found"]
    ticket_ids = {f["properties"]["ticket_id"] for f in findings} - {None}
    assert report["tickets"] == len(ticket_ids)

    engine = create_engine(f"sqlite:///{data / 'gridpatrol.sqlite3'}")
    with engine.connect() as conn:
        tickets = conn.execute(
            text(
                "SELECT t.id, t.state, t.lon, t.lat, g.code, t.finding_id, t.description "
                "FROM tickets t "
                "LEFT JOIN grids g ON g.id = t.grid_id"
            )
        ).all()
        flights = conn.execute(text("SELECT id, status FROM flights")).all()
        photos = conn.execute(text("SELECT path, lat, lon FROM photos")).all()
    assert {t.id for t in tickets} == ticket_ids
    assert all(t.state == "new" and t.finding_id is not None for t in tickets)
    assert all(t.description == "" for t in tickets)  # the page describes them from the finding
    # every planted violation's grid has a ticket; no ticket lies outside the grids
    assert {t["properties"]["grid_id"] for t in truth} <= {t.code for t in tickets}
    for t in tickets:
        assert t.code in grids
        assert grids[t.code].distance(Point(*FRAME.forward(t.lon, t.lat))) <= 10.0
    # the database has the flights, and their photos carry EXIF positions
    assert len(flights) == report["sorties"] and all(f.status == "done" for f in flights)
    assert len(photos) == report["photos"] > 0
    for path, lat, lon in photos:
        tag = read_geotag(path)
        assert tag is not None and tag.relative_altitude_m and tag.relative_altitude_m > 30
        assert math.isclose(tag.lat, lat, abs_tol=1e-6) and math.isclose(tag.lon, lon, abs_tol=1e-6)
        assert abs(tag.lat - 32.51) < 0.01 and abs(tag.lon - 120.14) < 0.01

    # the photos were taken (on the sped-up simulator) before their tickets were filed, so the
    # dashboard's capture -> ticket median has figures to work from
    from datetime import UTC, datetime, timedelta

    from groundstation.stats import Period, build_dashboard, load_records
    from groundstation.storage import Storage

    with Storage(f"sqlite:///{data / 'gridpatrol.sqlite3'}").session() as session:
        records, flown, found = load_records(session)
    assert records and all(t.captured_at is not None for t in records)
    assert all(t.captured_at <= t.created_at for t in records), [
        (t.captured_at, t.created_at) for t in records
    ]
    now = datetime.now(UTC)
    day = Period("custom", now - timedelta(days=1), now + timedelta(days=1))
    board = build_dashboard(tickets=records, flights=flown, findings=found, period=day, now=now)
    assert 0 < board.tickets.median_capture_to_ticket_h < 1.0
    # the sorties were flown from a saved plan: the dashboard knows the area they covered
    assert board.flights == report["sorties"] and board.flights_without_area == 0
    planned = sum(grid.area for grid in grids.values())
    assert 0.9 * planned < board.area_flown_m2 < 1.01 * planned

    # run again on the same data folder, while a station serves it (its worker threads may take
    # the ingest jobs): the objects are known and awaiting review, so they are found again (as
    # sightings) under their existing tickets, and nothing is filed twice
    from groundstation.demo import demo_config
    from groundstation.jobs import build_queue

    station_storage = Storage(f"sqlite:///{data / 'gridpatrol.sqlite3'}")
    station = build_queue({**demo_config(data), "JOB_POLL_S": 0.02}, station_storage)
    station.start()
    try:
        again = CliRunner().invoke(
            cli, ["demo", "--quick", "--no-serve", "--json", "--data-dir", str(data)]
        )
    finally:
        station.stop()
        station_storage.dispose()
    assert again.exit_code == 0, again.output
    second = json.loads(again.stdout)
    for label in CLASSES:
        assert second["classes"][label]["found"] == report["classes"][label]["found"]
    assert second["tickets"] == 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tickets")).scalar() == len(ticket_ids)
