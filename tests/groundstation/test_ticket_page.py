"""The ticket page shows where the case is: a map with its position and grid outline, a one-line
summary of a drone ticket's finding and links to its photo, the review queue, the grid and the
flight; tickets without a position, grid or finding still open. A department that returns a
case lands on the ticket list, not on a page it may no longer see."""

from __future__ import annotations

import itertools
import json
import re
from html import unescape
from html.parser import HTMLParser

import pytest
from conftest import (
    ARTIFACTS,
    G1,
    add_grids,
    login,
    make_findings,
    make_ticket,
    placed_finding,
    sign_in,
)

#: Each test files its tickets in a grid of its own.
_GRIDS = itertools.count(1)


def new_grid(env) -> str:
    code = f"TP-{next(_GRIDS)}"
    add_grids(env, (code, G1))
    return code


def drone_ticket(env, *, views: int = 3, session: bool = True) -> dict:
    """A filed drone ticket in a new grid whose finding was seen in ``views`` photos (one
    primary, the rest its sightings), and, with ``session``, the flight session that took them."""
    from groundstation.models import Finding, FlightSession
    from groundstation.tickets import Actor, open_ticket_for_finding

    grid = new_grid(env)
    specs = [("illegal_construction", 0.9 - 0.1 * i, (119.905, 32.405)) for i in range(views)]
    primary, *others = make_findings(env, specs, grid_code=grid)
    with env.storage().session() as db:
        for finding_id in others:
            db.get(Finding, finding_id).sighting_of = primary
        finding = db.get(Finding, primary)
        ticket = open_ticket_for_finding(db, finding, Actor("supervisor", "supervisor"))
        session_id = None
        if session:
            row = FlightSession(
                connection="sitl", simulated=True, state="done", flight_id=finding.flight_id
            )
            db.add(row)
            db.flush()
            session_id = row.id
        db.commit()
        return {
            "ticket": ticket.id,
            "finding": primary,
            "flight": finding.flight_id,
            "photo": finding.photo_id,
            "grid": grid,
            "session": session_id,
        }


def signed_in(env, who: str, *, english: bool = True):
    client = env.client()
    login(client, who)
    if english:
        client.get("/lang/en")
    return client


def page_of(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def element(html: str, element_id: str) -> str | None:
    """The text inside the element with ``element_id`` (no nested element of the same tag)."""
    match = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    return match.group(2) if match else None


def href(html: str, element_id: str) -> str | None:
    match = re.search(rf'<a [^>]*href="([^"]+)"[^>]*\bid="{element_id}"', html)
    return unescape(match.group(1)) if match else None


def map_attributes(html: str) -> dict[str, str]:
    tag = re.search(r'<div id="ticket-map"([^>]*)>', html)
    assert tag, "no ticket map"
    return dict(re.findall(r'data-([\w-]+)="([^"]*)"', tag.group(1)))


def test_drone_ticket_page_shows_map_summary_and_links(env) -> None:
    made = drone_ticket(env)
    client = signed_in(env, "supervisor")
    html = page_of(client, f"/tickets/{made['ticket']}")

    assert map_attributes(html) == {
        "lat": "32.405",
        "lon": "119.905",
        "finding": str(made["finding"]),  # its photo and box come from /findings/<id>/overlay
    }
    grid = json.loads(element(html, "ticket-grid"))
    assert grid["code"] == made["grid"]
    assert grid["geometry"]["coordinates"] == [G1]
    for script in ("map.js", "imagery.js", "ticket.js"):
        assert f"/static/{script}" in html

    summary = " ".join(unescape(element(html, "finding-summary")).split())
    assert summary == (
        f"Illegal construction, score 0.90, flight #{made['flight']}; photos that show it: 3"
    )
    assert f"finding {made['finding']}: illegal_construction" not in html  # the raw description

    links = {
        "link-photo": f"/api/v1/photos/{made['photo']}/image",
        "link-review": f"/review?flight={made['flight']}&status=all&finding={made['finding']}",
        "link-flight": f"/flights?flight={made['flight']}#flight-{made['flight']}",
        "link-session": f"/flights/{made['session']}",
        "link-grid": f"/grids/{made['grid']}",
    }
    assert {name: href(html, name) for name in links} == links
    for name, url in links.items():
        assert client.get(url.split("#")[0]).status_code == 200, name
    flights = page_of(client, links["link-flight"].split("#")[0])
    assert f'<tr id="flight-{made["flight"]}" class="highlight">' in flights


def test_summary_of_an_object_seen_by_two_flights_names_both(env) -> None:
    """Photos from another flight show the object too: the summary counts them under that
    flight instead of crediting every photo to the finding's own flight."""
    from groundstation.models import Finding

    made = drone_ticket(env, views=1)
    later = make_findings(
        env,
        [("illegal_construction", 0.6, (119.905, 32.405)), ("illegal_construction", 0.5, None)],
        grid_code=made["grid"],
    )
    with env.storage().session() as db:
        for finding_id in later:
            db.get(Finding, finding_id).sighting_of = made["finding"]
        other = db.get(Finding, later[0]).flight_id
        db.commit()
    client = signed_in(env, "supervisor")
    html = page_of(client, f"/tickets/{made['ticket']}")
    summary = " ".join(re.sub(r"<[^>]+>", " ", unescape(element(html, "finding-summary"))).split())
    assert summary == (
        "Illegal construction, score 0.90; photos that show it: 3 in 2 flights: "
        f"Flight #{made['flight']} (1), Flight #{other} (2)"
    )
    for flight in (made["flight"], other):
        assert href(html, f"summary-flight-{flight}") == f"/flights?flight={flight}#flight-{flight}"
    # the finding's own flight and its session keep their links
    assert href(html, "link-flight") == f"/flights?flight={made['flight']}#flight-{made['flight']}"
    assert href(html, "link-session") == f"/flights/{made['session']}"
    chinese = page_of(signed_in(env, "supervisor", english=False), f"/tickets/{made['ticket']}")
    assert f'id="summary-flight-{other}"' in chinese


def test_summary_names_the_class_in_chinese(env) -> None:
    made = drone_ticket(env, views=1, session=False)
    client = signed_in(env, "supervisor", english=False)
    html = page_of(client, f"/tickets/{made['ticket']}")
    summary = element(html, "finding-summary")
    assert "违法建设" in summary and "0.90" in summary and f"#{made['flight']}" in summary
    assert 'id="link-session"' not in html  # the flight came without a session


def test_a_department_sees_the_map_and_photo_but_no_review_link(env) -> None:
    from sqlalchemy import select

    from groundstation.models import Department, Ticket

    made = drone_ticket(env)
    with env.storage().session() as db:
        ticket = db.get(Ticket, made["ticket"])
        ticket.state = "dispatched"
        ticket.department_id = db.scalar(
            select(Department.id).where(Department.code == "urban_management")
        )
        db.commit()
    client = signed_in(env, "department")
    html = page_of(client, f"/tickets/{made['ticket']}")
    assert map_attributes(html)["finding"] == str(made["finding"])
    assert 'id="link-review"' not in html and client.get("/review").status_code == 403
    assert client.get(href(html, "link-photo")).status_code == 200
    overlay = client.get(f"/api/v1/findings/{made['finding']}/overlay")
    assert overlay.status_code != 403  # its photo has no geotag here: no overlay, but allowed


def test_ticket_with_a_position_only(env) -> None:
    ticket_id = make_ticket(env, "confirmed")  # at PHOTO_LONLAT, no grid, no finding
    html = page_of(signed_in(env, "supervisor"), f"/tickets/{ticket_id}")
    assert map_attributes(html) == {"lat": "32.405", "lon": "119.905"}
    assert 'id="ticket-grid"' not in html and 'id="ticket-links"' not in html
    assert 'id="finding-summary"' not in html and "fixture" in html  # its description


@pytest.mark.parametrize("with_grid", [False, True])
def test_ticket_without_a_position(env, with_grid: bool) -> None:
    """An Open311/API report without coordinates: no marker; a map only for its grid."""
    from sqlalchemy import select

    from groundstation.models import Grid
    from groundstation.tickets import Actor, open_ticket

    grid = new_grid(env) if with_grid else None
    with env.storage().session() as db:
        grid_id = db.scalar(select(Grid.id).where(Grid.code == grid)) if grid else None
        ticket = open_ticket(
            db,
            label="straw_burning",
            actor=Actor("open311", "supervisor"),
            grid_id=grid_id,
            source="open311",
            description="smoke behind the school",
        )
        db.commit()
        ticket_id = ticket.id
    html = page_of(signed_in(env, "supervisor"), f"/tickets/{ticket_id}")
    assert "smoke behind the school" in html
    if with_grid:
        assert map_attributes(html) == {}
        assert json.loads(element(html, "ticket-grid"))["code"] == grid
    else:
        assert 'id="ticket-map"' not in html and "ticket.js" not in html


def test_department_return_lands_on_the_ticket_list(env) -> None:
    ticket_id = make_ticket(env, "dispatched")
    client = signed_in(env, "department")
    html = page_of(client, f"/tickets/{ticket_id}")
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    form = {"csrf_token": token, "action": "return", "expected_state": "dispatched"}

    returned = client.post(
        f"/tickets/{ticket_id}/transition", data={**form, "reason": "not our area"}
    )
    assert returned.status_code == 302 and returned.headers["Location"] == "/tickets"
    listing = client.get("/tickets")
    assert listing.status_code == 200
    assert f"Ticket {ticket_id} is now: Filed" in unescape(listing.get_data(as_text=True))
    back = client.get(f"/tickets/{ticket_id}")  # no longer theirs: told so, on their list
    assert back.status_code == 302 and back.headers["Location"] == "/tickets"
    listing = unescape(client.get("/tickets").get_data(as_text=True))
    assert f"Ticket {ticket_id} is no longer assigned to your department." in listing
    state = client.get(f"/api/v1/tickets/{ticket_id}", headers=env.headers("supervisor")).json
    assert state["state"] == "confirmed" and state["department"] is None


def test_department_action_on_its_own_case_stays_on_the_ticket(env) -> None:
    ticket_id = make_ticket(env, "dispatched")
    client = signed_in(env, "department")
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', page_of(client, f"/tickets/{ticket_id}")
    ).group(1)
    started = client.post(
        f"/tickets/{ticket_id}/transition",
        data={"csrf_token": token, "action": "start"},
        follow_redirects=True,
    )
    assert started.status_code == 200 and started.request.path == f"/tickets/{ticket_id}"
    assert 'data-state="in_progress"' in started.get_data(as_text=True)
    # a refused return (no reason) leaves them on the page too
    refused = client.post(
        f"/tickets/{ticket_id}/transition",
        data={"csrf_token": token, "action": "return"},
        follow_redirects=True,
    )
    assert refused.status_code == 200 and refused.request.path == f"/tickets/{ticket_id}"


@pytest.mark.slow
def test_ticket_map_draws_position_grid_and_photo(live, page, tmp_path) -> None:
    """In the browser: the marker, the grid outline and the finding's photo as a layer."""
    from sqlalchemy import select

    from groundstation.models import Finding, Grid
    from groundstation.tickets import Actor, open_ticket_for_finding

    env, base = live
    add_grids(env, ("MAP-G1", G1))
    folder = tmp_path / "photos"
    folder.mkdir()
    placed = placed_finding(env, folder, yaw_deg=20.0, target_m=(10.0, 5.0), score=0.7)
    with env.storage().session() as db:
        finding = db.get(Finding, placed["finding"])
        finding.grid_id = db.scalar(select(Grid.id).where(Grid.code == "MAP-G1"))
        ticket = open_ticket_for_finding(db, finding, Actor("supervisor", "supervisor"))
        db.commit()
        ticket_id = ticket.id
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, base, "supervisor")
    page.goto(f"{base}/tickets/{ticket_id}")
    overlay = page.wait_for_selector("#ticket-map img.photo-overlay")
    assert f"/api/v1/photos/{placed['photo']}/overlay.png" in overlay.get_attribute("src")
    page.wait_for_function(
        "() => { const i = document.querySelector('#ticket-map img.photo-overlay'); "
        "return i && i.complete && i.naturalWidth > 0; }"
    )
    # the grid outline and the position marker are drawn
    assert page.locator("#ticket-map path.leaflet-interactive").count() >= 2
    assert page.locator("#layers-ticket-map label").count() == 2  # grid, photo
    page.screenshot(path=str(ARTIFACTS / "ticket_map.png"))
    assert errors == []


class _ActionForms(HTMLParser):
    """The ticket page's action forms: per form, its fieldsets, legend, labels (for → text) and
    the ids of its visible fields."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self._in: str | None = None  # "legend" or a label's for, while inside one

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "form" and "action-form" in (a.get("class") or ""):
            self.forms.append(
                {"id": a["id"], "fieldsets": 0, "legend": "", "labels": {}, "fields": []}
            )
        elif not self.forms or self.forms[-1] is None:
            return
        elif tag == "fieldset":
            self.forms[-1]["fieldsets"] += 1
        elif tag == "legend":
            self._in = "legend"
        elif tag == "label":
            self._in = a.get("for") or ""
            self.forms[-1]["labels"][self._in] = ""
        elif tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.forms[-1]["fields"].append(a.get("id"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.forms:
            self.forms.append(None)
        if tag in ("legend", "label"):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is None or not self.forms or self.forms[-1] is None:
            return
        form = self.forms[-1]
        if self._in == "legend":
            form["legend"] += data.strip()
        else:
            form["labels"][self._in] += data.strip()


@pytest.mark.parametrize("english", [True, False])
def test_every_action_form_is_a_named_group_whose_fields_have_labels(env, english) -> None:
    """In every state, each action's fields sit in a fieldset named by the action, each with a
    label of its own (the QA pass saw two unnamed 理由 boxes side by side)."""
    from groundstation.i18n import ACTION_NAMES
    from groundstation.tickets import TRANSITIONS

    client = signed_in(env, "admin", english=english)
    seen = set()
    for state in ("new", "confirmed", "dispatched", "in_progress", "resolved", "verified",
                  "closed", "rejected", "reopened"):  # fmt: skip
        parser = _ActionForms()
        parser.feed(page_of(client, f"/tickets/{make_ticket(env, state)}"))
        forms = [f for f in parser.forms if f is not None]
        assert forms, state
        for form in forms:
            action = form["id"].removeprefix("form-")
            seen.add(action)
            assert form["fieldsets"] == 1, form
            with client.application.test_request_context(f"/?lang={'en' if english else 'zh'}"):
                assert form["legend"] == str(ACTION_NAMES[action]), form
            assert form["fields"] and None not in form["fields"], form
            for field in form["fields"]:
                assert form["labels"].get(field), f"{state} {form['id']}: {field} has no label"
            assert len(set(form["labels"].values())) == len(form["labels"]), form
    assert seen == set(TRANSITIONS)  # every action's form was checked
