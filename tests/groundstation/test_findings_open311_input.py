"""The findings queue looks grids up as the ticket list does (an unknown grid is a 404 naming
it, not an empty queue) and takes scores only from 0 to 1; an Open311 request whose only
location is spaces is refused."""

from __future__ import annotations

import re
from html import unescape

import pytest
from conftest import G1, add_grids, login, make_findings

from groundstation.models import Ticket


@pytest.fixture(scope="module")
def findings(env) -> list[int]:
    add_grids(env, ("FQ-G1", G1))
    return make_findings(
        env,
        [("straw_burning", 0.91, (119.905, 32.405)), ("illegal_fishing", 0.42, None)],
        grid_code="FQ-G1",
    )


def queue(env, query: str):
    return env.client().get(f"/api/v1/findings?{query}", headers=env.headers("supervisor"))


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("grid=nope", "grid 'nope' does not exist"),
        ("grid=FQ-G1,nope,gone", "grids 'nope', 'gone' do not exist"),
    ],
)
def test_an_unknown_grid_is_a_404_naming_it(env, findings, query, message) -> None:
    response = queue(env, query)
    assert response.status_code == 404 and response.json["error"] == message
    tickets = env.client().get(f"/api/v1/tickets?{query}", headers=env.headers("supervisor"))
    assert tickets.status_code == 404 and tickets.json["error"] == message  # the same answer


def test_grids_are_found_as_the_ticket_list_finds_them(env, findings) -> None:
    for query in ("grid=FQ-G1", "grid=fq-g1", "grid=fq-g1,FQ-G1", "grid=FQ-G1&grid=fq-g1"):
        response = queue(env, f"{query}&status=all")
        assert response.status_code == 200, response.json
        assert sorted(f["id"] for f in response.json["items"]) == sorted(findings), query


@pytest.mark.parametrize(
    "query", ["min_score=2", "min_score=-0.1", "max_score=1.5", "max_score=-1", "min_score=1e9"]
)
def test_a_score_outside_0_to_1_is_a_400(env, findings, query) -> None:
    response = queue(env, query)
    assert response.status_code == 400
    assert "is not a score from 0 to 1" in response.json["error"]


def test_the_bounds_themselves_are_scores(env, findings) -> None:
    response = queue(env, "min_score=0&max_score=1&status=all&grid=FQ-G1")
    assert response.status_code == 200 and response.json["total"] == 2


def test_the_review_page_names_a_score_it_cannot_use_and_takes_a_grid_in_any_case(
    env, findings
) -> None:
    client = env.client()
    login(client, "supervisor")
    client.get("/lang/en")
    html = client.get("/review?min_score=2").get_data(as_text=True)
    (problem,) = [
        unescape(p)
        for p in re.findall(r'<p class="flash error filter-problem"[^>]*>(.*?)</p>', html)
    ]
    assert "min_score=2, but the queue takes a number from 0 to 1" in problem
    html = client.get("/review?grid=fq-g1").get_data(as_text=True)
    assert "filter-problem" not in html
    assert re.search(
        r'<option[^>]*selected[^>]*>FQ-G1</option>|<option value="FQ-G1"[^>]*selected', html
    )


# -- Open311 ---------------------------------------------------------------------------------------


def open311(env, **fields):
    data = {
        "api_key": env.keys["supervisor"],
        "service_code": "straw_burning",
        "description": "smoke over the field",
        **fields,
    }
    return env.client().post(
        "/open311/v2/requests.json", data={k: v for k, v in data.items() if v is not None}
    )


def tickets_stored(env) -> int:
    from sqlalchemy import func, select

    with env.storage().session() as session:
        return session.scalar(select(func.count()).select_from(Ticket))


@pytest.mark.parametrize("address", ["   ", "\t", "\u3000"])
def test_an_open311_address_of_spaces_is_no_location(env, address) -> None:
    before = tickets_stored(env)
    response = open311(env, address_string=address)
    assert response.status_code == 400
    assert response.json[0]["description"] == (
        "a location is required: lat and long, or address_string"
    )
    assert tickets_stored(env) == before


def test_an_open311_address_is_kept_without_its_surrounding_spaces(env) -> None:
    response = open311(env, address_string="  江苏省扬州市 仪征路 12 号 ")
    assert response.status_code == 200, response.json
    request_id = response.json[0]["service_request_id"]
    got = (
        env.client()
        .get(f"/open311/v2/requests/{request_id}.json", headers=env.headers("supervisor"))
        .json[0]
    )
    assert got["address"] == "江苏省扬州市 仪征路 12 号"
