"""Bugs found walking through the web product as a new supervisor, pilot and department user:
huge ids and odd filters, sloppy id parsing, upload checks, error pages in the user's language,
each role's start page, stale ticket forms and two users acting on one ticket at once, and
evidence photos on the ticket page."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from conftest import G1, add_grids, csrf_token, login, make_findings, make_ticket
from PIL import Image

HUGE = "99999999999999999999999"


def jpeg_bytes(size: tuple[int, int] = (320, 240)) -> bytes:
    noise = np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, "JPEG")
    return out.getvalue()


def flashes(html: str) -> list[str]:
    return re.findall(r'<p class="flash \w+" role="alert">(.*?)</p>', html)


def ticket_state(env, ticket_id: int) -> str:
    client = env.client()
    return client.get(f"/api/v1/tickets/{ticket_id}", headers=env.headers("admin")).json["state"]


# -- numbers and filters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/api/v1/tickets/{HUGE}", 404),
        (f"/api/v1/findings/{HUGE}", 404),
        (f"/api/v1/tickets?page={HUGE}", 400),
        (f"/api/v1/tickets?department_id={HUGE}", 400),
        (f"/api/v1/findings?flight={HUGE}", 400),
        ("/api/v1/tickets?label=xx", 400),
        ("/api/v1/tickets?overdue=maybe", 400),
    ],
)
def test_huge_numbers_and_unknown_filters_are_4xx_json(env, path: str, status: int) -> None:
    response = env.client().get(path, headers=env.headers("supervisor"))
    assert response.status_code == status and response.json["error"]


def test_ticket_filter_ignores_a_trailing_comma(env) -> None:
    response = env.client().get("/api/v1/tickets?state=new,", headers=env.headers("supervisor"))
    assert response.status_code == 200


def test_huge_ids_in_pages_are_404_not_500(env) -> None:
    client = env.client()
    login(client, "supervisor")
    for path in (f"/tickets/{HUGE}", f"/flights/{HUGE}"):
        assert client.get(path).status_code == 404
    page = client.get(f"/tickets?department_id={HUGE}")  # the list, under the banner
    assert page.status_code == 400 and flashes(page.get_data(as_text=True))


@pytest.mark.parametrize("bad", [0.5, True, HUGE, None])
def test_bulk_review_refuses_ids_that_are_not_integers(env, bad) -> None:
    (fid,) = make_findings(env, [("straw_burning", 0.7, None)])
    ids = [fid + bad] if bad == 0.5 else [int(HUGE)] if bad == HUGE else [bad]
    response = env.client().post(
        "/api/v1/findings/review",
        json={"ids": ids, "decision": "confirm"},
        headers=env.headers("supervisor"),
    )
    assert response.status_code == 400 and "finding id" in response.json["error"]
    finding = env.client().get(f"/api/v1/findings/{fid}", headers=env.headers("supervisor")).json
    assert finding["review_status"] == "pending"  # 1.5 used to review finding 1


def test_already_reviewed_sighting_is_named_as_asked(env) -> None:
    from groundstation.models import Finding

    primary, sighting = make_findings(
        env, [("straw_burning", 0.9, None), ("straw_burning", 0.8, None)]
    )
    with env.storage().session() as session:
        session.get(Finding, sighting).sighting_of = primary
        session.commit()
    client, headers = env.client(), env.headers("supervisor")
    url = f"/api/v1/findings/{primary}/review"
    assert client.post(url, json={"decision": "reject"}, headers=headers).status_code == 200
    again = client.post(
        f"/api/v1/findings/{sighting}/review", json={"decision": "reject"}, headers=headers
    )
    assert again.status_code == 409
    assert f"{sighting} (a sighting of {primary})" in again.json["error"]


# -- uploads ---------------------------------------------------------------------------------


def test_flight_from_a_missing_folder_is_400(env) -> None:
    client, headers = env.client(), env.headers("pilot")
    before = client.get("/api/v1/flights", headers=headers).json
    response = client.post(
        "/api/v1/flights",
        json={"source": str(env.data_dir / "photos" / "no-such-folder")},
        headers=headers,
    )
    assert response.status_code == 400 and "no such folder" in response.json["error"]
    assert client.get("/api/v1/flights", headers=headers).json == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"hello, not a photo", "not an image (JPEG, PNG or TIFF expected)"),
        (jpeg_bytes()[: len(jpeg_bytes()) * 9 // 10], "truncated or damaged"),
    ],
)
def test_bad_evidence_photo_is_400_with_a_clear_message(env, data: bytes, message: str) -> None:
    ticket_id = make_ticket(env, "in_progress")
    response = env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        data={"action": "resolve", "note": "done", "photo": (io.BytesIO(data), "after.jpg")},
        headers=env.headers("department"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert message in response.json["error"] and "BytesIO" not in response.json["error"]
    assert ticket_state(env, ticket_id) == "in_progress"


def test_photo_over_the_image_limit_is_413(env) -> None:
    big = io.BytesIO(b"\xff\xd8" + b"0" * (3 * 2**20))  # over MAX_IMAGE_BYTES (2 MiB) only
    response = env.client().post(
        "/api/v1/flights",
        data={"photos": (big, "big.jpg")},
        headers=env.headers("pilot"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 413 and "larger than 2 MiB" in response.json["error"]


# -- pages: errors, languages, start pages ----------------------------------------------------


def test_error_pages_explain_in_the_users_language_once(env) -> None:
    client = env.client()
    login(client, "supervisor")
    html = client.get("/tickets/99999999").get_data(as_text=True)
    assert "该页面或记录不存在" in html
    assert html.count("案件 99999999 不存在") == 1  # was flashed and shown: twice
    html = client.get("/no-such-page").get_data(as_text=True)
    assert "该页面或记录不存在" in html and "The requested URL" not in html
    client.get("/lang/en")
    html = client.get("/no-such-page").get_data(as_text=True)
    assert "This page or record does not exist." in html


def test_csrf_failure_asks_to_reload_in_chinese(env) -> None:
    client = env.client()
    login(client, "supervisor")
    ticket_id = make_ticket(env, "new")
    response = client.post(f"/tickets/{ticket_id}/transition", data={"action": "confirm"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "请刷新页面后重试" in html
    assert "CSRF check failed" not in html


def test_stale_login_form_shows_the_login_form_again(env) -> None:
    response = env.client().post("/login", data={"username": "pilot", "password": "pilot-password"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and "请刷新页面后重试" in html
    assert 'name="password"' in html and "CSRF check failed" not in html


@pytest.mark.parametrize(
    ("who", "home"), [("pilot", "/flights"), ("department", "/tickets"), ("supervisor", "/review")]
)
def test_each_role_starts_on_a_page_it_may_open(env, who: str, home: str) -> None:
    client = env.client()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"username": who, "password": f"{who}-password", "csrf_token": token}
    )
    assert response.headers["Location"] == home  # a pilot landed on /review: 403
    assert client.get("/").headers["Location"] == home
    assert client.get(home).status_code == 200


def test_grid_page_shows_review_status_in_chinese(env) -> None:
    add_grids(env, ("WT-G1", G1))
    make_findings(env, [("straw_burning", 0.7, (119.905, 32.405))], grid_code="WT-G1")
    client = env.client()
    login(client, "supervisor")
    html = client.get("/grids/WT-G1").get_data(as_text=True)
    assert "待审核" in html and ">pending<" not in html


# -- tickets: stale forms, concurrent users, form problems, evidence ------------------------


def test_stale_ticket_form_changes_nothing(env) -> None:
    ticket_id = make_ticket(env, "resolved")
    supervisor, admin = env.client(), env.client()
    sup_token, admin_token = login(supervisor, "supervisor"), login(admin, "admin")
    # both open the resolved ticket; the supervisor verifies it first
    supervisor.post(
        f"/tickets/{ticket_id}/transition",
        data={"action": "verify", "expected_state": "resolved", "csrf_token": sup_token},
    )
    response = admin.post(
        f"/tickets/{ticket_id}/transition",
        data={
            "action": "reopen",
            "reason": "photo unclear",
            "expected_state": "resolved",
            "csrf_token": admin_token,
        },
        follow_redirects=True,
    )
    assert any("其他人已更改" in m for m in flashes(response.get_data(as_text=True)))
    assert ticket_state(env, ticket_id) == "verified"
    api = env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        json={"action": "reopen", "reason": "x", "expected_state": "resolved"},
        headers=env.headers("admin"),
    )
    assert api.status_code == 409 and "changed meanwhile" in api.json["error"]


def test_second_of_two_concurrent_transitions_is_refused(env) -> None:
    from groundstation.errors import TransitionError
    from groundstation.models import Ticket
    from groundstation.tickets import Actor, transition

    ticket_id = make_ticket(env, "confirmed")
    storage = env.storage()
    with storage.session() as first, storage.session() as second:
        mine, theirs = first.get(Ticket, ticket_id), second.get(Ticket, ticket_id)
        transition(first, mine, "dispatch", Actor("a", "supervisor"))
        first.commit()
        with pytest.raises(TransitionError, match="changed meanwhile"):  # read "confirmed" before
            transition(second, theirs, "reject", Actor("b", "supervisor"), reason="dup")
        second.rollback()
    assert ticket_state(env, ticket_id) == "dispatched"


@pytest.mark.parametrize(
    ("state", "form", "message"),
    [
        ("resolved", {"action": "reopen"}, "需要填写理由"),
        ("confirmed", {"action": "dispatch", "deadline": "2020-01-01T10:00"}, "必须是将来"),
    ],
)
def test_ticket_form_problems_are_explained_in_chinese(env, state, form, message) -> None:
    ticket_id = make_ticket(env, state)
    client = env.client()
    token = login(client, "supervisor")
    response = client.post(
        f"/tickets/{ticket_id}/transition",
        data={**form, "csrf_token": token},
        follow_redirects=True,
    )
    assert any(message in m for m in flashes(response.get_data(as_text=True)))
    assert ticket_state(env, ticket_id) == state


def test_evidence_photo_is_shown_on_the_ticket_page(env) -> None:
    ticket_id = make_ticket(env, "in_progress")
    photo = jpeg_bytes()
    done = env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        data={"action": "resolve", "note": "拆除", "photo": (io.BytesIO(photo), "after.jpg")},
        headers=env.headers("department"),
        content_type="multipart/form-data",
    )
    assert done.status_code == 200
    index = next(i for i, e in enumerate(done.json["evidence"]) if "photo" in e)
    url = f"/api/v1/tickets/{ticket_id}/evidence/{index}"
    client = env.client()
    login(client, "supervisor")
    assert url in client.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    image = client.get(url)
    assert image.status_code == 200 and image.data == photo
    other = env.client().get(url, headers=env.headers("other_department"))
    assert other.status_code == 404
    missing = env.client().get(
        f"/api/v1/tickets/{ticket_id}/evidence/99", headers=env.headers("supervisor")
    )
    assert missing.status_code == 404 and missing.json["error"]
