"""Figures that must agree with what the pages show: the review queue filters by the class as
reviewed, a grid's area flown is that grid's part of each flight, and a department's counts
cover its tickets' findings with their sightings on every page and API."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import UTC, datetime
from html import unescape

from conftest import G1, G2, add_grids, login, make_findings, make_ticket

HERE = (119.905, 32.405)
NEAR = (119.9052, 32.4052)


def _code(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _review(env, finding_id: int, **body) -> dict:
    reply = env.client().post(
        f"/api/v1/findings/{finding_id}/review", json=body, headers=env.headers("supervisor")
    )
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()


def _queue(env, query: str, who: str = "supervisor") -> list[int]:
    reply = env.client().get(f"/api/v1/findings?{query}&page_size=100", headers=env.headers(who))
    assert reply.status_code == 200, reply.get_json()
    return [f["id"] for f in reply.get_json()["items"]]


# -- the class filter is the class as reviewed ----------------------------------------------


def test_the_class_filter_finds_findings_by_the_class_the_queue_shows(env) -> None:
    code = _code("RC")
    add_grids(env, (code, G1))
    fishing, shed, false_alarm = make_findings(
        env,
        [
            ("illegal_fishing", 0.7, HERE),
            ("illegal_construction", 0.8, (119.902, 32.402)),
            ("illegal_construction", 0.6, (119.908, 32.408)),
        ],
        grid_code=code,
    )
    reclassified = _review(env, fishing, decision="reclassify", label="straw_burning")
    assert reclassified["label"] == "illegal_fishing"  # the classifier's, kept for the record
    assert reclassified["reviewed_label"] == "straw_burning"  # what the queue shows
    _review(env, shed, decision="confirm")
    _review(env, false_alarm, decision="reject")

    base = f"grid={code}&status=all"
    assert _queue(env, f"{base}&label=straw_burning") == [fishing]
    assert _queue(env, f"{base}&label=illegal_fishing") == []
    assert _queue(env, f"{base}&label=illegal_construction") == [shed]
    assert _queue(env, f"{base}&label=background") == [false_alarm]  # rejected as false alarm
    assert _queue(env, f"grid={code}&status=pending&label=background") == []

    # the queue's class and the tickets' class agree for the confirmed objects
    for label in ("straw_burning", "illegal_construction"):
        findings = _queue(env, f"{base}&primary=1&label={label}")
        tickets = env.client().get(
            f"/api/v1/tickets?grid={code}&label={label}&state=confirmed",
            headers=env.headers("supervisor"),
        )
        assert tickets.status_code == 200, tickets.get_json()
        assert [t["finding_id"] for t in tickets.get_json()["items"]] == findings


def _tickets(env, query: str) -> list[dict]:
    reply = env.client().get(f"/api/v1/tickets?{query}", headers=env.headers("supervisor"))
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()["items"]


def test_a_false_alarms_ticket_is_listed_under_the_class_as_reviewed(env) -> None:
    """Rejected in review, a case is a false alarm: the ticket list's class filter, its rows,
    its CSV and the ticket page all say so, not the class it was reported as."""
    code = _code("RT")
    add_grids(env, (code, G1))
    fire, false_alarm = make_findings(
        env,
        [("straw_burning", 0.9, HERE), ("straw_burning", 0.6, (119.908, 32.408))],
        grid_code=code,
    )
    _review(env, fire, decision="confirm")
    _review(env, false_alarm, decision="reject")
    [rejected] = _tickets(env, f"grid={code}&state=rejected")
    assert (rejected["label"], rejected["final_label"]) == ("straw_burning", "background")

    burning = _tickets(env, f"grid={code}&label=straw_burning")
    assert [t["finding_id"] for t in burning] == [fire]
    assert [t["final_label"] for t in burning] == ["straw_burning"]
    assert [t["finding_id"] for t in _tickets(env, f"grid={code}&label=background")] == [
        false_alarm
    ]

    client = env.client()
    login(client, "supervisor")
    page = client.get(f"/tickets?grid={code}&label=straw_burning&lang=en").get_data(as_text=True)
    assert f'/tickets/{rejected["id"]}"' not in page
    assert "Straw burning" in page
    page = client.get(f"/tickets?grid={code}&label=background&lang=en").get_data(as_text=True)
    assert f'/tickets/{rejected["id"]}"' in page
    assert "Background (false positive)" in unescape(page.split("<tbody", 1)[1])
    exported = client.get(f"/tickets.csv?grid={code}&codes=1").get_data(as_text=True)
    rows = {r["id"]: r["label"] for r in csv.DictReader(io.StringIO(exported.lstrip("\ufeff")))}
    assert rows[str(rejected["id"])] == "background"
    detail = client.get(f"/tickets/{rejected['id']}?lang=en").get_data(as_text=True)
    assert re.search(r"<h1>[^<]*Background \(false positive\)", unescape(detail))

    # reopened, the case is real after all and back under its class
    reopened = client.post(
        f"/api/v1/tickets/{rejected['id']}/transitions",
        json={"action": "reopen", "reason": "复核：确有焚烧"},
        headers=env.headers("supervisor"),
    )
    assert reopened.status_code == 200, reopened.get_json()
    assert reopened.get_json()["final_label"] == "straw_burning"
    burning = _tickets(env, f"grid={code}&label=straw_burning")
    assert sorted(t["finding_id"] for t in burning) == sorted([fire, false_alarm])


def test_the_dashboard_counts_findings_by_the_reviewed_class(env) -> None:
    code = _code("RD")
    add_grids(env, (code, G1))
    (fishing,) = make_findings(env, [("illegal_fishing", 0.7, HERE)], grid_code=code)
    _review(env, fishing, decision="reclassify", label="straw_burning")
    reply = env.client().get(
        f"/api/v1/dashboard?period=day&grid={code}", headers=env.headers("supervisor")
    )
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["findings_by_class"] == {"straw_burning": 1}


# -- a grid's area flown is that grid's part of each flight ---------------------------------


def _landed_sortie(env, codes: list[str], area_m2: float, *, plan_areas: dict | None) -> None:
    """A landed flight session over ``codes`` on 2023-03-15 (and its plan, when
    ``plan_areas`` gives each grid's planned area)."""
    from groundstation.models import FlightSession, RoutePlan

    at = datetime(2023, 3, 15, 2, tzinfo=UTC)
    with env.storage().session() as session:
        plan_id = None
        if plan_areas is not None:
            grids = [{"grid_id": c, "area_m2": a, "sorties": ["s1"]} for c, a in plan_areas.items()]
            plan = RoutePlan(
                name="area test",
                params={},
                grid_codes=codes,
                area_m2=sum(plan_areas.values()),
                summary={"grids": grids, "sorties": [{"grid_ids": codes}]},
                warnings=[],
                layers={},
                missions=[],
            )
            session.add(plan)
            session.flush()
            plan_id = plan.id
        session.add(
            FlightSession(
                plan_id=plan_id,
                connection="sitl",
                simulated=True,
                state="done",
                grid_codes=codes,
                area_m2=area_m2,
                started_at=at,
                landed_at=at,
            )
        )
        session.commit()


def _area_flown(env, query: str) -> float | None:
    reply = env.client().get(
        f"/api/v1/dashboard?period=custom&start=2023-03-01&end=2023-03-31&{query}",
        headers=env.headers("supervisor"),
    )
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()["area_flown_m2"]


def test_a_grids_area_flown_is_its_own_part_of_each_flight(env) -> None:
    small, large = _code("AS"), _code("AL")
    add_grids(env, (small, G1), (large, G2))
    # one sortie over both grids (6,886 + 43,780 m² planned), flown in full ...
    _landed_sortie(env, [small, large], 50666.0, plan_areas={small: 6886.0, large: 43780.0})
    # ... and one that reached half its waypoints: half of each grid's part
    _landed_sortie(env, [small, large], 25333.0, plan_areas={small: 6886.0, large: 43780.0})
    assert _area_flown(env, f"grid={small}") == 6886.0 + 3443.0
    assert _area_flown(env, f"grid={large}") == 43780.0 + 21890.0

    client = env.client()
    login(client, "supervisor")
    csv_text = client.get(
        f"/dashboard.csv?codes=1&period=custom&start=2023-03-01&end=2023-03-31&grid={small}"
    ).get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(csv_text.lstrip("\ufeff"))))
    assert ["area_flown_m2", "10329.0"] in rows


def test_without_a_plan_a_sorties_area_is_shared_by_its_grids_polygons(env) -> None:
    """G1 and G2 are the same size: a planless session over both gave each half its area."""
    left, right = _code("NL"), _code("NR")
    add_grids(env, (left, G1), (right, G2))
    _landed_sortie(env, [left, right], 20000.0, plan_areas=None)
    assert abs(_area_flown(env, f"grid={left}") - 10000.0) < 1.0
    assert abs(_area_flown(env, f"grid={right}") - 10000.0) < 1.0


# -- a department sees its tickets' findings with their sightings ---------------------------


def _reflown_case(env) -> dict:
    """Flight A sees object P1 (urban management's ticket, seen in two photos) and P2 (another
    department's ticket); re-flight B sees P1 again (a sighting) and a new object P3."""
    from sqlalchemy import select

    from groundstation.models import Department, Finding, Grid, Ticket

    code = _code("VS")
    add_grids(env, (code, G1))
    p1, s1, p2 = make_findings(
        env,
        [
            ("illegal_construction", 0.9, HERE),
            ("illegal_construction", 0.8, HERE),
            ("straw_burning", 0.9, NEAR),
        ],
        grid_code=code,
    )
    s2, p3 = make_findings(
        env, [("illegal_construction", 0.7, HERE), ("illegal_fishing", 0.8, NEAR)], grid_code=code
    )
    tickets = {
        finding: (make_ticket(env, "dispatched", department=dept), dept)
        for finding, dept in ((p1, "urban_management"), (p2, "ecology_environment"))
    }
    with env.storage().session() as session:
        grid_id = session.scalar(select(Grid.id).where(Grid.code == code))
        for sighting in (s1, s2):
            session.get(Finding, sighting).sighting_of = p1
        for finding, (ticket_id, dept) in tickets.items():
            ticket = session.get(Ticket, ticket_id)
            ticket.finding_id, ticket.grid_id = finding, grid_id
            ticket.department_id = session.scalar(
                select(Department.id).where(Department.code == dept)
            )
        a, b = (session.get(Finding, f).flight_id for f in (p1, p3))
        photos = {f: session.get(Finding, f).photo_id for f in (s2, p3)}
        session.commit()
    return {"grid": code, "a": a, "b": b, "p1": p1, "s1": s1, "s2": s2, "p3": p3,
            "photos": photos}  # fmt: skip


def _flight_api(env, flight_id: int, who: str) -> dict:
    reply = env.client().get(f"/api/v1/flights/{flight_id}", headers=env.headers(who))
    assert reply.status_code == 200
    return reply.get_json()


def _flights_page_findings(env, who: str, flight_id: int) -> str:
    client = env.client()
    login(client, who)
    client.get("/lang/en")
    html = client.get("/flights").get_data(as_text=True)
    row = re.search(rf'<tr id="flight-{flight_id}"[^>]*>(.*?)</tr>', html, re.S).group(1)
    cell = re.search(r'<td class="findings">(.*?)</td>', unescape(row), re.S).group(1)
    return " ".join(re.sub(r"<[^>]+>", " ", cell).split())


def test_a_department_sees_the_sightings_of_its_tickets_everywhere(env) -> None:
    made = _reflown_case(env)
    # the re-flight's view of its case: in the queue API, its photo, its flight's counts
    assert _queue(env, f"flight={made['b']}&status=all", "department") == [made["s2"]]
    assert sorted(_queue(env, f"grid={made['grid']}&status=all", "department")) == sorted(
        [made["p1"], made["s1"], made["s2"]]
    )
    photo = env.client().get(
        f"/api/v1/photos/{made['photos'][made['s2']]}/image", headers=env.headers("department")
    )
    assert photo.status_code == 200
    assert _flight_api(env, made["b"], "department")["findings"] == 1
    assert _flight_api(env, made["a"], "department")["findings"] == 2  # P1 and its sighting
    assert _flights_page_findings(env, "department", made["b"]) == "1"
    assert _flights_page_findings(env, "department", made["a"]) == "1 +1"
    grid = env.client().get(f"/api/v1/grids/{made['grid']}", headers=env.headers("department"))
    assert {f["id"]: f["findings"] for f in grid.get_json()["flights"]} == {
        made["a"]: 1,
        made["b"]: 1,
    }


def test_flight_counts_never_tell_a_department_of_findings_it_may_not_see(env) -> None:
    made = _reflown_case(env)
    # P3 (no ticket) is on flight B and its photo: counted for the supervisor only
    assert _flight_api(env, made["b"], "supervisor")["findings"] == 2
    listed = env.client().get("/api/v1/flights", headers=env.headers("other_department"))
    counts = {f["id"]: (f["objects"], f["findings"]) for f in listed.get_json()}
    assert counts[made["b"]] == (0, 0)  # neither its P1 sighting nor P3
    assert counts[made["a"]] == (1, 1)  # its own P2
    photo = env.client().get(
        f"/api/v1/photos/{made['photos'][made['p3']]}/image", headers=env.headers("department")
    )
    assert photo.status_code == 404
    sighting = env.client().get(
        f"/api/v1/findings/{made['s2']}", headers=env.headers("other_department")
    )
    assert sighting.status_code == 404
