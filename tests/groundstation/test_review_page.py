"""The review page opens the queue its URL asks for: the filters form starts from the query
(``/review?flight=3&status=all``), the links of the ticket page, the flights page and flight
sessions land on their flight's findings, ``finding=`` names the row to select, and values the
API would refuse are named and dropped. Every page links the favicon."""

from __future__ import annotations

import itertools
import re
from html import unescape
from html.parser import HTMLParser

import pytest
from conftest import G1, add_grids, login, make_findings

#: Each test files its findings in a grid of its own.
_GRIDS = itertools.count(1)

DEFAULTS = {
    "label": "",
    "min_score": "",
    "max_score": "",
    "grid": "",
    "flight": "",
    "status": "pending",
    "primary": "1",
}


class FiltersForm(HTMLParser):
    """The #filters form's inputs (name: value) and selects (name: [(value, selected)])."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, str] = {}
        self.selects: dict[str, list[tuple[str, bool]]] = {}
        self._in_form = False
        self._select: str | None = None
        self._option: tuple[str | None, bool] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self._in_form = a.get("id") == "filters"
        elif not self._in_form:
            return
        elif tag == "input":
            self.inputs[a["name"]] = a.get("value") or ""
        elif tag == "select":
            self._select = a["name"]
            self.selects[self._select] = []
        elif tag == "option":
            self._option = (a.get("value"), "selected" in a)

    def handle_data(self, data: str) -> None:
        if self._option is not None and self._select:
            value, selected = self._option
            self.selects[self._select].append((data.strip() if value is None else value, selected))
            self._option = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "form":
            self._in_form = False


def form_values(html: str) -> dict[str, str]:
    """What the form starts with: each input's value, each select's selected option (else its
    first, as a browser shows it)."""
    form = FiltersForm()
    form.feed(html)
    chosen = {
        name: next((v for v, selected in options if selected), options[0][0])
        for name, options in form.selects.items()
    }
    return {**form.inputs, **chosen}


def problems(html: str) -> list[str]:
    return [
        unescape(p)
        for p in re.findall(r'<p class="flash error filter-problem"[^>]*>(.*?)</p>', html)
    ]


def queue_attributes(html: str) -> dict[str, str]:
    tag = re.search(r'<table id="queue"([^>]*)>', html)
    assert tag, "no queue table"
    return {k: unescape(v) for k, v in re.findall(r'data-([\w-]+)="([^"]*)"', tag.group(1))}


def signed_in(env, who: str = "supervisor"):
    client = env.client()
    login(client, who)
    client.get("/lang/en")
    return client


def page_of(client, path: str, *, status: int = 200) -> str:
    """The page's HTML; a page that could not use all of its address answers 400."""
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code)
    return response.get_data(as_text=True)


def new_grid(env) -> str:
    code = f"RP-{next(_GRIDS)}"
    add_grids(env, (code, G1))
    return code


def flight_of(env, finding_id: int) -> int:
    from groundstation.models import Finding

    with env.storage().session() as session:
        return session.get(Finding, finding_id).flight_id


def test_without_parameters_the_page_is_the_pending_queue(env) -> None:
    html = page_of(signed_in(env), "/review")
    assert form_values(html) == DEFAULTS
    assert problems(html) == [] and queue_attributes(html) == {}


def test_the_url_fills_in_every_filter(env) -> None:
    grid = new_grid(env)
    (finding,) = make_findings(env, [("straw_burning", 0.5, (119.905, 32.405))], grid_code=grid)
    flight = flight_of(env, finding)
    query = (
        f"label=straw_burning&min_score=0.3&max_score=0.8&grid={grid}&flight={flight}"
        "&status=confirmed&primary=0"
    )
    html = page_of(signed_in(env), f"/review?{query}")
    assert form_values(html) == {
        "label": "straw_burning",
        "min_score": "0.3",
        "max_score": "0.8",
        "grid": grid,
        "flight": str(flight),
        "status": "confirmed",
        "primary": "0",
    }
    assert problems(html) == []


def test_links_of_the_ticket_flights_and_session_pages_open_their_flight(env) -> None:
    """The three links other pages build to their flight's findings all pre-fill the form."""
    from groundstation.models import Finding, FlightSession
    from groundstation.tickets import Actor, open_ticket_for_finding

    (finding_id,) = make_findings(env, [("illegal_construction", 0.8, (119.905, 32.405))])
    with env.storage().session() as session:
        finding = session.get(Finding, finding_id)
        ticket = open_ticket_for_finding(session, finding, Actor("supervisor", "supervisor"))
        row = FlightSession(
            connection="sitl", simulated=True, state="done", flight_id=finding.flight_id
        )
        session.add(row)
        session.commit()
        ticket_id, flight, session_id = ticket.id, finding.flight_id, row.id
    client = signed_in(env)

    ticket_page = page_of(client, f"/tickets/{ticket_id}")
    flights_page = page_of(client, "/flights")
    links = {
        "ticket": re.search(r'<a href="([^"]+)" id="link-review"', ticket_page).group(1),
        "flights": re.search(
            rf'<a href="([^"]+flight={flight}&amp;[^"]*)" class="review-link"', flights_page
        ).group(1),
        "session": client.get(f"/api/v1/flight-sessions/{session_id}").json["findings_url"],
    }
    for page, link in links.items():
        html = page_of(client, unescape(link))
        assert form_values(html) == {**DEFAULTS, "flight": str(flight), "status": "all"}, page
        assert problems(html) == [], page


def test_a_flight_older_than_the_listed_ones_is_added_to_the_choice(env, monkeypatch) -> None:
    from groundstation.blueprints import review

    (old,) = make_findings(env, [("illegal_fishing", 0.4, None)])
    make_findings(env, [("illegal_fishing", 0.4, None)])  # a newer flight
    monkeypatch.setattr(review, "FLIGHT_CHOICES", 1)
    flight = flight_of(env, old)
    html = page_of(signed_in(env), f"/review?flight={flight}")
    assert form_values(html)["flight"] == str(flight)
    assert len(re.findall(r'<option value="\d+"[^>]*>#\d+ ', html)) == 2


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "status=done",
            "Status: the address gives status=done, but the queue takes pending, "
            "confirmed, rejected or all; this filter is left out",
        ),
        (
            "label=boat",
            "Class: the address gives label=boat, but the queue takes one of "
            "illegal_construction, straw_burning",
        ),
        (
            "min_score=high",
            "Lowest score: the address gives min_score=high, but the queue takes a number",
        ),
        ("max_score=inf", "Highest score: the address gives max_score=inf"),
        ("flight=abc", "Flight: the address gives flight=abc, but the queue takes a flight number"),
        ("flight=99999999999", "Flight: the address gives flight=99999999999"),
        (
            "primary=2",
            "One finding per object: the address gives primary=2, but the queue takes 1 "
            "(one finding per object) or 0",
        ),
        ("flight=999999", "flight 999999 does not exist"),
        ("grid=NO-SUCH", "grid NO-SUCH does not exist"),
        ("finding=999999", "finding 999999 does not exist"),
        ("finding=abc", "finding abc does not exist"),
    ],
)
def test_a_value_the_queue_cannot_use_is_named_and_dropped(env, query, message) -> None:
    html = page_of(signed_in(env), f"/review?{query}", status=400)
    (problem,) = problems(html)
    assert message in problem, problem
    assert form_values(html) == DEFAULTS  # the form shows what the queue lists
    assert queue_attributes(html) == {}


def test_the_problems_speak_the_readers_language(env) -> None:
    client = env.client()
    login(client, "supervisor")  # Chinese by default
    assert problems(page_of(client, "/review?grid=NO-SUCH", status=400)) == ["网格 NO-SUCH 不存在"]


def test_a_parameter_the_queue_does_not_take_is_named_not_ignored(env) -> None:
    """The QA case: ``/review?score_min=abc`` listed every score as if nothing was asked."""
    html = page_of(signed_in(env), "/review?score_min=abc&status=all", status=400)
    assert problems(html) == [
        "unknown query parameter 'score_min'; this address takes label, min_score, max_score, "
        "grid, flight, status, primary, finding, lang"
    ]
    assert form_values(html) == {**DEFAULTS, "status": "all"}  # the rest still applies


def test_finding_names_the_row_to_select_and_where_to_find_it(env) -> None:
    from groundstation.models import Finding

    primary, sighting = make_findings(
        env, [("illegal_construction", 0.7, None), ("illegal_construction", 0.6, None)]
    )
    with env.storage().session() as session:
        session.get(Finding, sighting).sighting_of = primary
        session.commit()
    flight = flight_of(env, primary)
    client = signed_in(env)
    expected = {
        "finding": str(primary),
        "finding-url": f"/review?flight={flight}&status=all&finding={primary}",
    }
    assert queue_attributes(page_of(client, f"/review?finding={primary}")) == expected
    # the queue lists an object once, as its primary finding: a sighting selects that row
    assert queue_attributes(page_of(client, f"/review?finding={sighting}")) == expected
    html = page_of(client, f"/review?flight={flight}&status=all&finding={primary}")
    assert form_values(html) == {**DEFAULTS, "flight": str(flight), "status": "all"}


def test_the_page_carries_the_texts_and_sign_in_url_the_script_uses(env) -> None:
    html = page_of(signed_in(env), "/review")
    assert 'data-login-url="/login"' in html
    for key in ("sign_in_first", "sign_in", "empty_range", "not_listed", "show_flight"):
        assert f'"{key}": ' in html, key
    assert "The score range is empty: \\u2265 {min} and \\u2264 {max} cannot both hold." in html


@pytest.mark.parametrize("path", ["/login", "/review", "/tickets", "/flights"])
def test_every_page_links_the_favicon(env, path) -> None:
    client = env.client() if path == "/login" else signed_in(env)
    html = page_of(client, path)
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in html
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert icon.get_data(as_text=True).lstrip().startswith("<svg")
