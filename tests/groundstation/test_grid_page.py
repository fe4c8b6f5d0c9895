"""A grid page's flights count the objects each flight saw in the grid among the findings the
reader may see, as the review queue it links to lists them; a department sees only its own."""

from __future__ import annotations

import re
import uuid
from html import unescape

from conftest import G1, add_grids, login, make_findings, make_ticket

HERE = (119.905, 32.405)
NEAR = (119.9052, 32.4052)


def grid_with_two_flights(env) -> dict:
    """Flight A sees objects P1 (three photos; urban management's ticket) and P2 (another
    department's ticket); flight B sees P1 again and a new object P3 (no ticket)."""
    from sqlalchemy import select

    from groundstation.models import Department, Finding, Grid, Ticket

    code = f"GP-{uuid.uuid4().hex[:6]}"
    add_grids(env, (code, G1))
    p1, s1, s2, p2 = make_findings(
        env,
        [
            ("illegal_construction", 0.9, HERE),
            ("illegal_construction", 0.8, HERE),
            ("illegal_construction", 0.7, HERE),
            ("straw_burning", 0.9, NEAR),
        ],
        grid_code=code,
    )
    s3, p3 = make_findings(
        env,
        [("illegal_construction", 0.6, HERE), ("illegal_fishing", 0.8, NEAR)],
        grid_code=code,
    )
    tickets = {
        finding: (make_ticket(env, "dispatched", department=dept), dept)
        for finding, dept in ((p1, "urban_management"), (p2, "ecology_environment"))
    }
    with env.storage().session() as session:
        for sighting in (s1, s2, s3):
            session.get(Finding, sighting).sighting_of = p1
        grid_id = session.scalar(select(Grid.id).where(Grid.code == code))
        for finding, (ticket_id, dept) in tickets.items():
            ticket = session.get(Ticket, ticket_id)
            ticket.finding_id, ticket.grid_id = finding, grid_id
            ticket.department_id = session.scalar(
                select(Department.id).where(Department.code == dept)
            )
        flights = [session.get(Finding, f).flight_id for f in (p1, p3)]
        session.commit()
    return {"grid": code, "a": flights[0], "b": flights[1], "p1": p1, "p2": p2, "p3": p3}


def flight_item(html: str, flight_id: int) -> str | None:
    match = re.search(rf'<li id="grid-flight-{flight_id}">(.*?)</li>', html, re.S)
    return match.group(1) if match else None


def text_of(fragment: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", unescape(fragment)).split())


def english(env, who: str):
    client = env.client()
    login(client, who)
    client.get("/lang/en")
    return client


def test_flights_count_objects_as_the_review_queue_they_link_to_lists_them(env) -> None:
    made = grid_with_two_flights(env)
    client = english(env, "supervisor")
    html = client.get(f"/grids/{made['grid']}").get_data(as_text=True)
    a, b = flight_item(html, made["a"]), flight_item(html, made["b"])
    assert text_of(a).endswith("· 2 findings +2")  # P1 in three photos, P2
    assert text_of(b).endswith("· 2 findings")  # P1 seen again, P3
    for flight, item, objects in ((made["a"], a, {"p1", "p2"}), (made["b"], b, {"p1", "p3"})):
        link = unescape(re.search(r'<a href="([^"]+)" class="review-link">', item).group(1))
        assert link == f"/review?grid={made['grid']}&flight={flight}&status=all"
        assert client.get(link).status_code == 200
        listed = client.get(
            f"/api/v1/findings?grid={made['grid']}&flight={flight}&status=all&primary=1",
            headers=env.headers("supervisor"),
        ).json
        assert {f["id"] for f in listed["items"]} == {made[k] for k in objects}
    detail = client.get(f"/api/v1/grids/{made['grid']}", headers=env.headers("supervisor")).json
    assert {f["id"]: (f["findings"], f["views"]) for f in detail["flights"]} == {
        made["a"]: (2, 4),
        made["b"]: (2, 2),
    }


def test_a_department_counts_only_the_findings_it_may_see(env) -> None:
    made = grid_with_two_flights(env)
    html = english(env, "department").get(f"/grids/{made['grid']}").get_data(as_text=True)
    # its P1 and P1's sightings (the ticket page shows their photos), not P2 nor P3
    assert text_of(flight_item(html, made["a"])).endswith("· 1 findings +2")
    assert text_of(flight_item(html, made["b"])).endswith("· 1 findings")  # P1 seen again
    assert "/review?" not in html
    detail = env.client().get(f"/api/v1/grids/{made['grid']}", headers=env.headers("department"))
    assert {f["id"]: (f["findings"], f["views"]) for f in detail.json["flights"]} == {
        made["a"]: (1, 3),
        made["b"]: (1, 1),
    }
    findings = {f["id"]: f["sighting_of"] for f in detail.json["findings"]}
    assert made["p1"] in findings and set(findings.values()) == {None, made["p1"]}
    assert len(findings) == 4  # P1 and its three sightings
