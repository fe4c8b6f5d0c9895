"""The ticket list for a case office: pages, filters, orders and CSV export, in the API and on the
/tickets page, with department staff seeing their own department's cases only."""

from __future__ import annotations

import csv
import io
import itertools
import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import add_grids, login, make_ticket

#: Each test files its tickets in grids of its own, east of the fixtures' grids.
_GRID_SLOTS = itertools.count(1)


def new_grid(env, code: str) -> str:
    """Store a small grid ``code`` apart from every other grid; returns the code."""
    lon = 121.0 + next(_GRID_SLOTS) * 0.01
    ring = [[lon, 31.0], [lon + 0.005, 31.0], [lon + 0.005, 31.005], [lon, 31.005], [lon, 31.0]]
    add_grids(env, (code, ring))
    return code


def tickets_in(env, grid: str, count: int, state: str = "new", **fields) -> list[int]:
    """``count`` tickets made by make_ticket, moved into ``grid`` and given ``fields``
    (deadline_h: a deadline that many hours from now; an escalation_level archived as the
    escalation job does)."""
    from sqlalchemy import select

    from groundstation.models import Grid, Ticket, utcnow
    from groundstation.tickets import SYSTEM, record_event

    department = fields.pop("department", "urban_management")
    label = fields.pop("label", "illegal_construction")
    deadline_h = fields.pop("deadline_h", None)
    ids = [make_ticket(env, state, label=label, department=department) for _ in range(count)]
    deadline = utcnow() + timedelta(hours=deadline_h) if deadline_h is not None else None
    with env.storage().session() as session:
        grid_id = session.scalar(select(Grid.id).where(Grid.code == grid))
        for ticket_id in ids:
            ticket = session.get(Ticket, ticket_id)
            ticket.grid_id = grid_id
            if deadline is not None:
                ticket.deadline = deadline  # the same for all: ties the order must break
            for key, value in fields.items():
                setattr(ticket, key, value)
            if fields.get("escalation_level"):
                record_event(
                    session, ticket, "escalate", SYSTEM, data={"level": ticket.escalation_level}
                )
        session.commit()
    return ids


def get_list(env, query: str, who: str = "supervisor") -> dict:
    response = env.client().get(f"/api/v1/tickets?{query}", headers=env.headers(who))
    assert response.status_code == 200, response.json
    return response.json


def ids_of(body: dict) -> list[int]:
    return [t["id"] for t in body["items"]]


def department_id(env, code: str) -> int:
    from sqlalchemy import select

    from groundstation.models import Department

    with env.storage().session() as session:
        return session.scalar(select(Department.id).where(Department.code == code))


# -- API paging ------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["newest", "deadline", "grid"])
def test_three_pages_list_every_ticket_once_in_a_stable_order(env, order: str) -> None:
    grid = new_grid(env, f"PAGE-{order}")
    # equal deadlines and one grid: the order must still be total for pages not to overlap
    made = tickets_in(env, grid, 75, "dispatched", deadline_h=24)
    first = get_list(env, f"grid={grid}&order={order}&per_page=25")
    assert (first["total"], first["pages"], first["page"], first["page_size"]) == (75, 3, 1, 25)
    assert first["prev"] is None
    seen, body = [], first
    while True:
        seen += ids_of(body)
        if body["next"] is None:
            break
        body = env.client().get(body["next"], headers=env.headers("supervisor")).json
    assert body["page"] == 3 and len(body["items"]) == 25
    assert len(seen) == 75 and set(seen) == set(made)  # no duplicates, no gaps
    whole = get_list(env, f"grid={grid}&order={order}&per_page=100")
    assert seen == ids_of(whole)  # the same order as one big page
    typed = get_list(env, f"grid={grid.lower()}&order={order}&per_page=100")
    assert ids_of(typed) == ids_of(whole)  # the grid as typed, in any case
    if order in ("newest", "grid"):
        assert seen == sorted(made, reverse=True)
    else:
        assert seen == sorted(made)


def test_next_and_prev_links_keep_the_filters_and_past_the_end_is_empty(env) -> None:
    grid = new_grid(env, "LINKS")
    tickets_in(env, grid, 30, "dispatched", deadline_h=-1)  # overdue
    tickets_in(env, grid, 5, "closed")
    second = get_list(env, f"grid={grid}&state=dispatched&overdue=1&page_size=10&page=2")
    assert second["total"] == 30 and second["pages"] == 3
    for link, page in ((second["next"], "3"), (second["prev"], "1")):
        params = parse_qs(urlsplit(link).query)
        assert params["page"] == [page] and params["grid"] == [grid]
        assert params["state"] == ["dispatched"] and params["overdue"] == ["1"]
    beyond = get_list(env, f"grid={grid}&state=dispatched&page_size=10&page=9")
    assert beyond["items"] == [] and beyond["total"] == 30 and beyond["next"] is None
    assert parse_qs(urlsplit(beyond["prev"]).query)["page"] == ["3"]
    nothing = get_list(env, f"grid={grid}&state=new")
    assert (nothing["total"], nothing["pages"]) == (0, 0)
    assert nothing["next"] is None and nothing["prev"] is None


@pytest.mark.parametrize(
    "query",
    [
        "page=0",
        "page=-1",
        "page=two",
        "page=1.5",
        "per_page=0",
        "per_page=501",
        "page_size=10&per_page=20",
        "order=random",
        "escalated=maybe",
        "q=" + "x" * 201,
    ],
)
def test_invalid_list_parameters_are_400_with_a_message(env, query: str) -> None:
    response = env.client().get(f"/api/v1/tickets?{query}", headers=env.headers("supervisor"))
    assert response.status_code == 400 and response.json["error"]


def test_per_page_is_an_alias_of_page_size(env) -> None:
    grid = new_grid(env, "ALIAS")
    tickets_in(env, grid, 12)
    body = get_list(env, f"grid={grid}&per_page=5")
    assert body["page_size"] == 5 and len(body["items"]) == 5 and body["pages"] == 3
    assert get_list(env, f"grid={grid}&per_page=5&page_size=5")["page_size"] == 5


# -- filters and orders ----------------------------------------------------------------------


def test_filters_combine(env) -> None:
    grid, other = new_grid(env, "FLT-A"), new_grid(env, "FLT-B")
    built = tickets_in(env, grid, 2, "dispatched", deadline_h=48)
    late = tickets_in(env, grid, 2, "in_progress", deadline_h=-2)
    late_escalated = tickets_in(env, grid, 1, "in_progress", deadline_h=-30, escalation_level=2)
    closed_escalated = tickets_in(env, grid, 1, "closed", escalation_level=1)
    burning = tickets_in(
        env, grid, 2, "dispatched", label="straw_burning", department="ecology_environment",
        deadline_h=3, description="村东 秸秆焚烧 100% 烟雾",
    )  # fmt: skip
    elsewhere = tickets_in(env, other, 2, "new", description="秸秆 elsewhere")
    (thousand,) = tickets_in(env, other, 1, "new", description="罚款 1000 元")

    def ids(query: str) -> set[int]:
        return set(ids_of(get_list(env, f"{query}&per_page=500")))

    assert ids(f"grid={grid}&state=dispatched,in_progress&label=illegal_construction") == {
        *built, *late, *late_escalated
    }  # fmt: skip
    assert ids(f"grid={grid}&state=closed&state=dispatched") == {
        *built, *closed_escalated, *burning
    }  # fmt: skip
    assert ids(f"grid={grid}&overdue=1") == {*late, *late_escalated}
    assert ids(f"grid={grid}&escalated=1") == {*late_escalated, *closed_escalated}
    assert ids(f"grid={grid}&escalated=1&overdue=1") == set(late_escalated)
    eco = department_id(env, "ecology_environment")
    assert ids(f"grid={grid}&department_id={eco}") == set(burning)
    assert ids(f"grid={grid}&label=straw_burning&department_id={eco}&overdue=1") == set()
    # text search: words of the description, a grid code, a ticket number
    assert ids("q=秸秆焚烧") >= set(burning) and not ids("q=秸秆焚烧") & set(elsewhere)
    assert ids(f"q=秸秆&grid={other}") == set(elsewhere)
    assert ids("q=100%25") >= set(burning) and thousand not in ids("q=100%25")  # % is literal
    assert ids("q=FLT-") >= {*built, *elsewhere}
    assert ids(f"q=%23{late[0]}") >= {late[0]} and ids(f"q={late[1]}&grid={grid}") == {late[1]}
    assert ids("q=flt-b") == {*elsewhere, thousand}  # case does not matter


def test_deadline_order_puts_the_most_urgent_active_cases_first(env) -> None:
    grid = new_grid(env, "URGENT")
    (later,) = tickets_in(env, grid, 1, "dispatched", deadline_h=72)
    (overdue,) = tickets_in(env, grid, 1, "in_progress", deadline_h=-5)
    (soon,) = tickets_in(env, grid, 1, "dispatched", deadline_h=2)
    (done,) = tickets_in(env, grid, 1, "closed", deadline_h=-50)  # past, but finished
    (undated,) = tickets_in(env, grid, 1, "new")
    body = get_list(env, f"grid={grid}&order=deadline")
    assert ids_of(body) == [overdue, soon, later, done, undated]


def test_grid_order_sorts_by_grid_code(env) -> None:
    b, a = new_grid(env, "ORD-B"), new_grid(env, "ORD-A")
    in_b = tickets_in(env, b, 2)
    in_a = tickets_in(env, a, 2)
    body = get_list(env, "q=ORD-&order=grid")
    assert ids_of(body) == [in_a[1], in_a[0], in_b[1], in_b[0]]


# -- departments -----------------------------------------------------------------------------


def test_department_pages_hold_only_its_own_tickets(env) -> None:
    grid = new_grid(env, "DEPT")
    mine = tickets_in(env, grid, 30, "dispatched", deadline_h=10)
    theirs = tickets_in(env, grid, 10, "dispatched", department="ecology_environment",
                        label="straw_burning", deadline_h=10)  # fmt: skip
    first = get_list(env, f"grid={grid}&per_page=25", who="department")
    assert first["total"] == 30 and first["pages"] == 2
    second = env.client().get(first["next"], headers=env.headers("department")).json
    assert set(ids_of(first)) | set(ids_of(second)) == set(mine)
    eco = department_id(env, "ecology_environment")
    assert get_list(env, f"grid={grid}&department_id={eco}", who="department")["total"] == 0
    assert get_list(env, f"grid={grid}&per_page=25", who="supervisor")["total"] == 40
    # the page and the export show the same
    client = env.client()
    login(client, "department")
    html = client.get(f"/tickets?grid={grid}&per_page=25&page=2").get_data(as_text=True)
    listed = {int(n) for n in re.findall(r'id="ticket-(\d+)"', html)}
    assert len(listed) == 5 and listed <= set(mine)
    rows = read_csv(client.get(f"/tickets.csv?grid={grid}&codes=1"))
    assert {int(r["id"]) for r in rows} == set(mine) and not {int(r["id"]) for r in rows} & set(
        theirs
    )


# -- CSV export ------------------------------------------------------------------------------


def read_csv(response) -> list[dict[str, str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_csv_exports_the_whole_filtered_list_not_one_page(env) -> None:
    grid = new_grid(env, "CSV")
    late = tickets_in(env, grid, 60, "in_progress", deadline_h=-1)  # more than a page of 50
    tickets_in(env, grid, 5, "in_progress", deadline_h=5)
    tickets_in(env, grid, 5, "closed")
    (formula,) = tickets_in(env, grid, 1, "dispatched", deadline_h=-3,
                            description="=HYPERLINK(\"http://evil\")")  # fmt: skip
    client = env.client()
    login(client, "supervisor")
    url = f"/tickets.csv?grid={grid}&overdue=1&order=deadline&page=2&per_page=25&codes=1"
    rows = read_csv(client.get(url))
    assert len(rows) == 61 and {int(r["id"]) for r in rows} == {*late, formula}
    assert int(rows[0]["id"]) == formula  # the list's order: the most overdue first
    assert all(r["overdue"] == "1" and r["grid"] == grid for r in rows)
    assert rows[0]["description"] == '\'=HYPERLINK("http://evil")'  # not run by a spreadsheet
    assert rows[1]["deadline"].endswith("+08:00") and rows[1]["state"] == "in_progress"
    page = client.get(f"/tickets?grid={grid}&overdue=1").get_data(as_text=True)
    link = unescape(re.search(r'id="csv-link" href="([^"]+)"', page).group(1))
    assert parse_qs(urlsplit(link).query) == {"grid": [grid], "overdue": ["1"]}
    assert len(read_csv(client.get(link))) == 61


def error_detail(response) -> str:
    """The detail line of the error page."""
    html = unescape(response.get_data(as_text=True))
    found = re.search(r'<p class="error-message"><small>Detail: (.*?)</small>', html)
    assert found, html[:500]
    return found.group(1)


@pytest.mark.parametrize(
    ("query", "status", "detail"),
    [
        (
            "state=bogus",
            400,
            "state bogus unknown (known: new, confirmed, dispatched, in_progress, resolved, "
            "verified, closed, rejected, reopened)",
        ),
        ("order=random", 400, "order 'random': one of newest, deadline, grid"),
        ("grid=NOPE", 404, "grid 'NOPE' does not exist"),
        (
            "sort=bogus",
            400,
            "unknown query parameter 'sort'; this address takes state, label, grid, "
            "department_id, overdue, escalated, q, order, page, per_page, codes, lang",
        ),
    ],
)
def test_csv_with_a_bad_filter_exports_nothing_and_says_why(env, query, status, detail) -> None:
    """The QA case: ``/tickets.csv?state=bogus`` returned the HTML list instead of a CSV or a
    400; a filter the export cannot apply is refused as the API refuses it."""
    client = env.client()
    login(client, "supervisor")
    client.get("/lang/en")
    response = client.get(f"/tickets.csv?{query}")
    assert response.status_code == status and response.mimetype == "text/html"
    assert error_detail(response) == detail


# -- the page ----------------------------------------------------------------------------------


def test_page_shows_page_links_that_keep_the_filters(env) -> None:
    grid = new_grid(env, "HTML")
    made = tickets_in(env, grid, 60, "dispatched", deadline_h=8, escalation_level=1)
    tickets_in(env, grid, 3, "new")
    client = env.client()
    login(client, "supervisor")
    query = f"grid={grid}&state=dispatched&escalated=1&q=HTM&order=deadline&per_page=25"
    html = client.get(f"/tickets?{query}&page=2").get_data(as_text=True)
    listed = [int(n) for n in re.findall(r'id="ticket-(\d+)"', html)]
    assert listed == sorted(made)[25:50]
    assert "26–50，共 60 条" in html
    pager = re.search(r'<nav class="pager" id="pager-top".*?</nav>', html, re.S).group(0)
    links = {}
    for href, text in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', pager):
        links[text.strip()] = parse_qs(urlsplit(unescape(href)).query)
    assert set(links) == {"‹ 上一页", "1", "3", "下一页 ›"}
    for params in links.values():
        assert params["grid"] == [grid] and params["state"] == ["dispatched"]
        assert params["escalated"] == ["1"] and params["q"] == ["HTM"]
        assert params["order"] == ["deadline"] and params["per_page"] == ["25"]
    assert links["下一页 ›"]["page"] == ["3"] and links["‹ 上一页"]["page"] == ["1"]
    # the form shows the filters it applied
    assert 'name="state" value="dispatched" checked' in html
    assert 'name="escalated" value="1" checked' in html and 'value="HTM"' in html
    last = client.get(f"/tickets?{query}&page=3").get_data(as_text=True)
    assert len(re.findall(r'id="ticket-(\d+)"', last)) == 10


def test_page_past_the_end_is_empty_and_bad_values_get_a_banner(env) -> None:
    grid = new_grid(env, "EDGE")
    tickets_in(env, grid, 3)
    client = env.client()
    login(client, "supervisor")
    beyond = client.get(f"/tickets?grid={grid}&page=7")
    html = beyond.get_data(as_text=True)
    # past the last page: a banner saying so, and the last page, not an empty table
    assert beyond.status_code == 400
    (banner,) = re.findall(r'<p class="flash error" role="alert">(.*?)</p>', html)
    assert "7" in banner and "（1）" in banner, banner
    assert len(re.findall(r'id="ticket-(\d+)"', html)) == 3
    client.get("/lang/en")
    response = client.get(f"/tickets?grid={grid}&page=abc&per_page=7&order=random")
    assert response.status_code == 400  # the list still shows what it could apply
    bad = unescape(response.get_data(as_text=True))
    banners = re.findall(r'<p class="flash error" role="alert">(.*?)</p>', bad)
    assert banners == [
        "Sort: the address gives order='random', but the list takes newest, deadline, grid; "
        "it is left out.",
        "Page: the address gives page='abc', but the list takes a page number from 1 to "
        "1000000000; it is left out.",
        "Rows per page: the address gives per_page='7', but the list takes 25, 50, 100, 200; "
        "it is left out.",
    ]
    assert len(re.findall(r'id="ticket-(\d+)"', bad)) == 3  # the valid filter still applies


def test_a_parameter_the_list_does_not_take_is_named_not_ignored(env) -> None:
    """The QA case: ``/tickets?sort=bogus`` listed the tickets as if nothing was asked."""
    grid = new_grid(env, "SORT")
    tickets_in(env, grid, 2)
    client = env.client()
    login(client, "supervisor")
    client.get("/lang/en")
    response = client.get(f"/tickets?grid={grid}&sort=bogus")
    assert response.status_code == 400
    banners, html = english_banners(client, f"/tickets?grid={grid}&sort=bogus")
    assert banners == [
        "unknown query parameter 'sort'; this address takes state, label, grid, department_id, "
        "overdue, escalated, q, order, page, per_page, lang"
    ]
    assert len(re.findall(r'id="ticket-(\d+)"', html)) == 2  # the grid filter still applies


def english_banners(client, url: str) -> tuple[list[str], str]:
    response = client.get(url, follow_redirects=True)
    html = response.get_data(as_text=True)
    return [
        unescape(m) for m in re.findall(r'<p class="flash error" role="alert">(.*?)</p>', html)
    ], html


def test_an_unknown_grid_is_named_not_shown_as_an_empty_list(env) -> None:
    grid = new_grid(env, "KNOWN")
    made = tickets_in(env, grid, 2)
    client = env.client()
    login(client, "supervisor")
    client.get("/lang/en")
    banners, html = english_banners(client, "/tickets?grid=NOPE")
    assert banners == ["Grid “NOPE” does not exist; the list is not filtered by grid."]
    assert re.findall(r'id="ticket-(\d+)"', html)  # left out: the list is not emptied by it
    # a grid that exists, typed in another case, filters without a banner
    banners, html = english_banners(client, f"/tickets?grid={grid.lower()}")
    assert banners == [] and sorted(int(n) for n in re.findall(r'id="ticket-(\d+)"', html)) == made
    # the export does not export the unfiltered list: it is refused, naming the grid
    refused = client.get("/tickets.csv?grid=NOPE")
    assert refused.status_code == 404 and error_detail(refused) == "grid 'NOPE' does not exist"


def test_a_too_long_search_says_it_is_too_long(env) -> None:
    client = env.client()
    login(client, "supervisor")
    client.get("/lang/en")
    banners, _html = english_banners(client, "/tickets?q=" + "x" * 5000)
    assert banners == ["The search text is longer than 200 characters and is not applied."]
