"""Pages: login (fields, CSRF, wrong password), language switch, role checks, ticket forms,
grid import form, the dispatch table; and the translation catalogue."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from conftest import G1, csrf_token, grid_geojson, login, make_ticket

import groundstation

TRANSLATIONS = Path(groundstation.__file__).parent / "translations"


def test_login_page_fields_and_chinese_default(env) -> None:
    html = env.client().get("/login").get_data(as_text=True)
    for field in ('name="username"', 'name="password"', 'name="csrf_token"'):
        assert field in html
    assert "登录" in html and 'lang="zh-CN"' in html


def test_login_failures(env) -> None:
    client = env.client()
    assert (
        client.post("/login", data={"username": "admin", "password": "admin-password"}).status_code
        == 400
    )  # no CSRF token
    token = csrf_token(client.get("/login").get_data(as_text=True))
    wrong = client.post(
        "/login", data={"username": "admin", "password": "nope", "csrf_token": token}
    )
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.get_data(as_text=True)
    assert client.get("/review").status_code == 302  # still signed out → login
    too_long = client.post(
        "/login", data={"username": "a" * 300, "password": "nope", "csrf_token": token}
    )  # no account has such a name: wrong credentials, not "fill in both fields"
    assert too_long.status_code == 401 and "用户名或密码错误" in too_long.get_data(as_text=True)
    empty = client.post("/login", data={"username": "admin", "password": "", "csrf_token": token})
    assert empty.status_code == 400 and "请填写" in empty.get_data(as_text=True)


def test_open_redirect_is_refused(env) -> None:
    client = env.client()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login?next=https://evil.example/",
        data={"username": "admin", "password": "admin-password", "csrf_token": token},
    )
    assert response.headers["Location"] == "/review"


def test_english_switch(env) -> None:
    client = env.client()
    login(client, "supervisor")
    assert "审核队列" in client.get("/review").get_data(as_text=True)
    client.get("/lang/en")
    html = client.get("/review").get_data(as_text=True)
    assert "Review queue" in html and "审核队列" not in html


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        ("department", "/review", 403),
        ("pilot", "/review", 403),
        ("supervisor", "/review", 200),
        ("department", "/tickets", 200),
        ("pilot", "/grids", 200),
        ("pilot", "/admin/rules", 403),
        ("supervisor", "/admin/rules", 200),
    ],
)
def test_page_roles(env, who, path, status) -> None:
    client = env.client()
    login(client, who)
    assert client.get(path).status_code == status


def test_ticket_form_transition_and_flash(env) -> None:
    client = env.client()
    ticket_id = make_ticket(env, "confirmed")
    token = login(client, "supervisor")
    page = client.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    assert 'id="do-dispatch"' in page and 'id="do-start"' not in page
    no_csrf = client.post(f"/tickets/{ticket_id}/transition", data={"action": "dispatch"})
    assert no_csrf.status_code == 400
    done = client.post(
        f"/tickets/{ticket_id}/transition",
        data={"action": "dispatch", "csrf_token": token, "deadline": "2099-01-01T12:00"},
        follow_redirects=True,
    )
    html = done.get_data(as_text=True)
    assert 'data-state="dispatched"' in html and "已派遣" in html
    assert "2099-01-01 12:00" in html  # shown in China time, as entered
    illegal = client.post(
        f"/tickets/{ticket_id}/transition",
        data={"action": "close", "csrf_token": token},
        follow_redirects=True,
    )
    # the refusal is flashed in the page's language
    assert "案件当前状态为“已派遣”，不能执行“结案”操作" in illegal.get_data(as_text=True)


def test_grid_import_form_and_pages(env) -> None:
    client = env.client()
    token = login(client, "admin")
    response = client.post(
        "/grids/import",
        data={"csrf_token": token, "file": (io.BytesIO(grid_geojson(("UI-G1", G1))), "g.geojson")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "UI-G1" in response.get_data(as_text=True)
    bad = client.post(
        "/grids/import",
        data={"csrf_token": token, "file": (io.BytesIO(b"nope"), "g.geojson")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert 'class="flash error"' in bad.get_data(as_text=True)
    assert client.get("/grids/UI-G1").status_code == 200
    assert client.get("/grids/NOPE").status_code == 404
    assert client.get("/vendor/leaflet/leaflet.js").status_code == 200


def test_admin_edits_dispatch_table(env) -> None:
    client = env.client()
    token = login(client, "admin")
    client.post(
        "/admin/rules/illegal_fishing",
        data={"csrf_token": token, "deadline_amount": "3", "deadline_unit": "work_days"},
    )
    rules = {r["label"]: r for r in client.get("/api/v1/rules", headers=env.headers("pilot")).json}
    assert rules["illegal_fishing"]["deadline_amount"] == 3
    assert rules["illegal_fishing"]["deadline_unit"] == "work_days"
    page = client.get("/admin/rules").get_data(as_text=True)
    assert '<option value="work_days" selected>工作日</option>' in page
    for bad in ({"deadline_amount": "-3"}, {"deadline_amount": "1.5", "deadline_unit": "work_days"},
                {"deadline_unit": "fortnights"}):  # fmt: skip
        shown = client.post(
            "/admin/rules/illegal_fishing", data={"csrf_token": token, **bad}, follow_redirects=True
        ).get_data(as_text=True)
        assert 'class="flash error"' in shown
    rules = {r["label"]: r for r in client.get("/api/v1/rules", headers=env.headers("pilot")).json}
    assert (
        rules["illegal_fishing"]["deadline_amount"],
        rules["illegal_fishing"]["deadline_unit"],
    ) == (
        3,
        "work_days",
    )


def test_catalogue_is_complete_and_compiled() -> None:
    po_path = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po"
    with po_path.open("rb") as fh:
        po = read_po(fh)
    with (po_path.with_suffix(".mo")).open("rb") as fh:
        mo = read_mo(fh)
    with (TRANSLATIONS / "messages.pot").open("rb") as fh:
        pot = read_po(fh)
    untranslated = [m.id for m in po if m.id and not all(_forms(m.string))]
    assert untranslated == []
    assert {_forms(m.id) for m in pot if m.id} <= {_forms(m.id) for m in po if m.id}
    compiled = {_forms(m.id): _forms(m.string) for m in mo if m.id}
    assert {_forms(m.id): _forms(m.string) for m in po if m.id} == compiled


def _forms(value: str | tuple | list) -> tuple[str, ...]:
    """A message id or string as a tuple of its forms (plural ones have several)."""
    return (value,) if isinstance(value, str) else tuple(value)


def test_a_supervisor_reads_the_whole_filing_standards(env) -> None:
    client = env.client()
    token = login(client, "admin")
    standard = "违章搭建：" + "须附现场照片，" * 40 + "末句可见。"
    client.post(
        "/admin/rules/illegal_construction",
        data={"csrf_token": token, "filing_standard": standard},
    )
    reader = env.client()
    login(reader, "supervisor")
    page = reader.get("/admin/rules").get_data(as_text=True)
    assert f'<td class="standard">{standard}</td>' in page  # all of it, not a scrolled box
    assert "<textarea" not in page
