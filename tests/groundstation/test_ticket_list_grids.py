"""The ticket list filtered by several grids (repeated or comma-separated), on /tickets and in
the API alike; a grid code that names no grid is named, never answered with an empty list."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

from conftest import login
from test_ticket_list import new_grid, tickets_in


def _listed(html: str) -> set[int]:
    return {int(n) for n in re.findall(r'id="ticket-(\d+)"', html)}


def _banners(html: str) -> list[str]:
    return [unescape(m) for m in re.findall(r'<p class="flash error" role="alert">(.*?)</p>', html)]


def _api(env, query: str):
    return env.client().get(f"/api/v1/tickets?{query}", headers=env.headers("supervisor"))


def test_the_api_filters_by_several_grids(env) -> None:
    a, b, c = new_grid(env, "MG-A"), new_grid(env, "MG-B"), new_grid(env, "MG-C")
    in_a, in_b = tickets_in(env, a, 2), tickets_in(env, b, 1)
    tickets_in(env, c, 1)
    both = (f"grid={a}&grid={b}", f"grid={a},{b}", f"grid={a.lower()}&grid= {b} ", f"grid={a}，{b}")
    for query in both:
        response = _api(env, f"{query}&per_page=100")
        assert response.status_code == 200, response.json
        assert {t["id"] for t in response.json["items"]} == {*in_a, *in_b}
    paged = _api(env, f"grid={a}&grid={b}&page_size=1").json
    assert paged["total"] == 3
    assert parse_qs(urlsplit(paged["next"]).query)["grid"] == [a, b]  # the next page keeps both


def test_the_api_names_an_unknown_grid(env) -> None:
    known = new_grid(env, "MG-KNOWN")
    tickets_in(env, known, 1)
    one = _api(env, "grid=NOPE")
    assert one.status_code == 404 and one.json["error"] == "grid 'NOPE' does not exist"
    mixed = _api(env, f"grid={known}&grid=NOPE")
    assert mixed.status_code == 404 and "'NOPE'" in mixed.json["error"]
    both = _api(env, "grid=NOPE,ALSO-NOPE")
    assert both.status_code == 404
    assert both.json["error"] == "grids 'NOPE', 'ALSO-NOPE' do not exist"


def test_the_page_filters_by_several_grids_and_keeps_them(env) -> None:
    a, b, c = new_grid(env, "PG-A"), new_grid(env, "PG-B"), new_grid(env, "PG-C")
    in_a, in_b = tickets_in(env, a, 2), tickets_in(env, b, 2)
    tickets_in(env, c, 1)
    client = env.client()
    login(client, "supervisor")
    client.get("/lang/en")
    html = client.get(f"/tickets?grid={a}&grid={b}").get_data(as_text=True)
    assert _banners(html) == [] and _listed(html) == {*in_a, *in_b}
    assert f'name="grid" list="grid-codes" size="16" value="{a}, {b}"' in html  # both shown
    # the form sends the field back as one comma-separated value: the same list
    again = client.get(f"/tickets?grid={a}, {b}").get_data(as_text=True)
    assert _banners(again) == [] and _listed(again) == {*in_a, *in_b}
    # pages and the export keep both grids
    paged = client.get(f"/tickets?grid={a}&grid={b}&per_page=25").get_data(as_text=True)
    csv_link = unescape(re.search(r'id="csv-link" href="([^"]+)"', paged).group(1))
    assert parse_qs(urlsplit(csv_link).query)["grid"] == [a, b]
    rows = client.get(csv_link).get_data(as_text=True).lstrip("\ufeff").splitlines()[1:]
    assert {int(row.split(",")[0]) for row in rows} == {*in_a, *in_b}


def test_the_page_names_unknown_grids_among_several_and_filters_by_the_known(env) -> None:
    """QA: one unknown grid among several dropped the whole grid filter (every ticket shown)."""
    known, other = new_grid(env, "PG-KNOWN"), new_grid(env, "PG-OTHER")
    in_known = tickets_in(env, known, 2)
    tickets_in(env, other, 1)
    client = env.client()
    login(client, "supervisor")
    client.get("/lang/en")
    html = client.get(f"/tickets?grid={known}&grid=NOPE").get_data(as_text=True)
    assert _banners(html) == [
        "Grid “NOPE” does not exist; the list shows the tickets of the other grids only."
    ]
    assert _listed(html) == set(in_known)
    assert f'name="grid" list="grid-codes" size="16" value="{known}"' in html  # what applies
    html = client.get(f"/tickets?grid={known.lower()},NOPE,ALSO-NOPE").get_data(as_text=True)
    assert _banners(html) == [
        "Grids “NOPE”, “ALSO-NOPE” do not exist; the list shows the tickets of the other grids "
        "only."
    ]
    assert _listed(html) == set(in_known)
    # the export of a list that is not what was asked for is refused, naming the grid
    export = client.get(f"/tickets.csv?grid={known}&grid=NOPE")
    assert export.status_code == 404
    assert "grid 'NOPE' does not exist" in unescape(export.get_data(as_text=True))
    # none of them exists: named, and the list is not filtered by grid (as for one)
    html = client.get("/tickets?grid=NOPE&grid=ALSO-NOPE").get_data(as_text=True)
    assert _banners(html) == [
        "Grids “NOPE”, “ALSO-NOPE” do not exist; the list is not filtered by grid."
    ]


def test_grids_with_letters_beyond_ascii_are_found_in_any_case(env) -> None:
    """QA: a full-width id (typed on a Chinese keyboard in full-width mode) or an accented one
    was 'does not exist' on SQLite, whose own lower() folds ASCII only."""
    from urllib.parse import quote

    wide, accented = new_grid(env, "ＡＢ-01"), new_grid(env, "Übung-1")
    in_wide, in_accented = tickets_in(env, wide, 1), tickets_in(env, accented, 1)
    for typed, expected in ((wide, in_wide), ("ａｂ-01", in_wide), ("übung-1", in_accented)):
        response = _api(env, f"grid={quote(typed)}")
        assert response.status_code == 200, response.json
        assert [t["id"] for t in response.json["items"]] == expected
    findings = env.client().get(
        f"/api/v1/findings?grid={quote('ａｂ-01')}", headers=env.headers("supervisor")
    )
    assert findings.status_code == 200, findings.json
