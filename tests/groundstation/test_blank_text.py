"""Text that shows nothing is no text: evidence, reasons, a rule's name and standards and an
Open311 address made only of invisible characters (zero-width space, joiners, BOM, NBSP...)
are refused like empty ones, by one rule (:mod:`groundstation.text`), and the filing and
closing standards of the dispatch table may not be saved blank."""

from __future__ import annotations

import re
from html import unescape

import pytest
from conftest import csrf_token, login, make_ticket

from groundstation.text import is_blank, strip_blank

#: Text that draws nothing: each made of characters str.strip() keeps.
INVISIBLE = {
    "zero-width space": "\u200b",
    "joiners": "\u200c\u200d\u2060",
    "BOM": "\ufeff",
    "NBSP and ideographic space": "\u00a0\u3000",
    "direction marks": "\u200e\u200f",
    "Hangul filler": "\u3164",
    "braille blank": "\u2800",
    "soft hyphen and spaces": " \u00ad ",
}
BLANK = pytest.mark.parametrize("blank", list(INVISIBLE.values()), ids=list(INVISIBLE))


# -- the rule ------------------------------------------------------------------------------------


@BLANK
def test_invisible_text_is_blank(blank) -> None:
    assert is_blank(blank) and strip_blank(blank) == ""


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("\ufeff 违建已拆除\u200b ", "违建已拆除"),
        ("a\u200bb", "a\u200bb"),  # inside the text: kept as written
        ("已处理 ❤\ufe0f", "已处理 ❤\ufe0f"),  # the emoji keeps its presentation selector
        ("\u00a0.", "."),
    ],
)
def test_visible_text_is_kept_without_invisible_ends(text, kept) -> None:
    assert not is_blank(text) and strip_blank(text) == kept


def test_none_and_empty_are_blank() -> None:
    assert is_blank(None) and is_blank("")


# -- evidence and reasons ------------------------------------------------------------------------


def post(env, ticket_id: int, who: str, **body):
    return env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions", json=body, headers=env.headers(who)
    )


@BLANK
def test_invisible_evidence_is_refused(env, blank) -> None:
    ticket_id = make_ticket(env, "in_progress")
    for body in ({"note": blank}, {"evidence": [{"note": blank}]}):
        response = post(env, ticket_id, "department", action="resolve", **body)
        assert response.status_code == 400, response.json
        assert "resolve needs evidence" in response.json["error"]
    ticket = env.client().get(f"/api/v1/tickets/{ticket_id}", headers=env.headers("admin")).json
    assert ticket["state"] == "in_progress" and ticket["evidence"] == []


def test_evidence_is_kept_without_invisible_ends(env) -> None:
    ticket_id = make_ticket(env, "in_progress")
    response = post(env, ticket_id, "department", action="resolve", note="\u200b违建已拆除\ufeff")
    assert response.status_code == 200, response.json
    assert [e["note"] for e in response.json["evidence"]] == ["违建已拆除"]


@BLANK
def test_an_invisible_reason_is_no_reason(env, blank) -> None:
    ticket_id = make_ticket(env, "dispatched")
    response = post(env, ticket_id, "supervisor", action="recall", reason=blank)
    assert response.status_code == 400
    assert "needs a reason" in response.json["error"]


def flashes(html: str) -> list[str]:
    return [unescape(m) for m in re.findall(r'class="flash error"[^>]*>(.*?)<', html)]


def test_the_ticket_form_refuses_invisible_evidence_and_reasons(env) -> None:
    client = env.client()
    login(client, "admin")
    client.get("/lang/en")
    resolving = make_ticket(env, "in_progress")
    page = client.get(f"/tickets/{resolving}").get_data(as_text=True)
    form = {"csrf_token": csrf_token(page), "action": "resolve", "note": "\u200b\u200d"}
    html = client.post(f"/tickets/{resolving}/transition", data=form, follow_redirects=True)
    assert flashes(html.get_data(as_text=True)) == [
        "Report resolved needs evidence: a note or a photo of the result."
    ]
    recalling = make_ticket(env, "dispatched")
    form = {**form, "action": "recall", "reason": "\ufeff\u00a0"}
    html = client.post(f"/tickets/{recalling}/transition", data=form, follow_redirects=True)
    assert flashes(html.get_data(as_text=True)) == [
        "“Recall from department” needs a reason for the case archive."
    ]


# -- the dispatch table --------------------------------------------------------------------------


def stored_rule(env, label: str = "straw_burning") -> dict:
    rules = env.client().get("/api/v1/rules", headers=env.headers("admin")).json
    return next(r for r in rules if r["label"] == label)


def put_rule(env, body: dict):
    headers = {**env.headers("admin"), "Accept-Language": "en"}
    return env.client().put("/api/v1/rules/straw_burning", json=body, headers=headers)


@BLANK
def test_an_invisible_rule_name_is_refused(env, blank) -> None:
    before = stored_rule(env)
    response = put_rule(env, {"name": blank})
    assert response.status_code == 400
    assert response.json["error"].startswith("rule straw_burning: the name may not be blank")
    assert stored_rule(env) == before


EXPECTED_STANDARD_ERRORS = {
    "filing_standard": "rule straw_burning: the filing standard may not be blank (it says when "
    "a finding is filed as a case)",
    "closing_standard": "rule straw_burning: the closing standard may not be blank (it says when "
    "a case may be closed)",
}


@pytest.mark.parametrize("field", ["filing_standard", "closing_standard"])
@pytest.mark.parametrize("blank", ["", "   ", "\u200b", "\ufeff\u00a0"])
def test_a_blank_standard_is_refused_by_the_api(env, field, blank) -> None:
    before = stored_rule(env)
    response = put_rule(env, {field: blank})
    assert response.status_code == 400
    assert response.json["error"] == EXPECTED_STANDARD_ERRORS[field]
    assert stored_rule(env) == before


@pytest.mark.parametrize("field", ["filing_standard", "closing_standard"])
@pytest.mark.parametrize("blank", ["", "\u200b\u200b"])
def test_the_admin_form_refuses_a_blank_standard(env, field, blank) -> None:
    before = stored_rule(env)
    client = env.client()
    token = login(client, "admin")
    client.get("/lang/en")
    form = {
        "csrf_token": token,
        "filing_standard": before["filing_standard"],
        "closing_standard": before["closing_standard"],
        field: blank,
    }
    response = client.post("/admin/rules/straw_burning", data=form, follow_redirects=True)
    heading = "Filing standard" if field == "filing_standard" else "Closing standard"
    assert flashes(response.get_data(as_text=True)) == [f"{heading}: give a value"]
    assert stored_rule(env) == before


def test_a_standard_is_stored_without_invisible_ends(env) -> None:
    before = stored_rule(env)
    try:
        response = put_rule(env, {"filing_standard": "\ufeff 露天焚烧秸秆，可见明火 \u200b"})
        assert response.status_code == 200, response.json
        assert response.json["filing_standard"] == "露天焚烧秸秆，可见明火"
    finally:
        put_rule(env, {"filing_standard": before["filing_standard"]})


# -- Open311 ---------------------------------------------------------------------------------------


@BLANK
def test_an_invisible_open311_address_is_no_location(env, blank) -> None:
    response = env.client().post(
        "/open311/v2/requests.json",
        data={
            "api_key": env.keys["supervisor"],
            "service_code": "straw_burning",
            "description": "smoke over the field",
            "address_string": blank,
        },
    )
    assert response.status_code == 400
    assert response.json[0]["description"] == (
        "a location is required: lat and long, or address_string"
    )
