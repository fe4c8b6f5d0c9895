"""The CSV exports (/tickets.csv, /dashboard.csv) in the reader's language: translated headings,
class, state and source names in Chinese (the default) and English, the stable codes with
``codes=1``, and UTF-8 with a BOM so that Excel opens the Chinese correctly."""

from __future__ import annotations

import csv
import io

import pytest
from conftest import JUNE_2024, login, make_ticket, seed_dashboard

BOM = b"\xef\xbb\xbf"


def zh(env, text: str) -> str:
    """``text`` as the Chinese page shows it (the msgid while it has no translation)."""
    from flask_babel import force_locale, gettext

    with env.app.test_request_context(), force_locale("zh"):
        return gettext(text)


def read(response) -> list[list[str]]:
    """The rows of a CSV download, after checking it is UTF-8 with a BOM."""
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "text/csv" and response.mimetype_params["charset"] == "utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.data.startswith(BOM)
    return list(csv.reader(io.StringIO(response.data[len(BOM) :].decode("utf-8"))))


def ticket_row(rows: list[list[str]], ticket_id: int) -> list[str]:
    return next(r for r in rows[1:] if r[0] == str(ticket_id))


@pytest.fixture(scope="module")
def straw(env) -> int:
    """A new straw-burning ticket, entered on a page."""
    return make_ticket(env, "new", label="straw_burning", department=None)


def test_tickets_csv_is_in_chinese_on_the_chinese_pages(env, straw) -> None:
    client = env.client()
    login(client, "supervisor")
    response = client.get("/tickets.csv")
    rows = read(response)
    heading = rows[0]
    assert heading[1:7] == ["类别", "状态", "网格", "责任部门", "处置时限", "超期"]
    assert heading[0] == zh(env, "Ticket no.") and heading[8] == zh(env, "Source")
    assert "label" not in heading and "state" not in heading
    row = ticket_row(rows, straw)
    assert row[1:3] == ["秸秆焚烧", "新收集"]
    assert row[6] == zh(env, "No") and row[8] == zh(env, "Web page")
    text = response.data.decode("utf-8")
    assert "straw_burning" not in text and ",new," not in text


def test_tickets_csv_in_english(env, straw) -> None:
    client = env.client()
    login(client, "supervisor")
    rows = read(client.get("/tickets.csv?lang=en"))
    assert rows[0][:4] == ["Ticket no.", "Class", "State", "Grid"]
    assert rows[0][-2:] == ["Address", "Description"]
    row = ticket_row(rows, straw)
    assert row[1:3] == ["Straw burning", "New"] and row[6] == "No" and row[8] == "Web page"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_tickets_csv_codes_are_stable_in_every_language(env, straw, lang) -> None:
    from groundstation.blueprints.tickets import CSV_COLUMNS

    client = env.client()
    login(client, "supervisor")
    rows = read(client.get(f"/tickets.csv?codes=1&lang={lang}"))
    assert rows[0] == list(CSV_COLUMNS)
    row = dict(zip(CSV_COLUMNS, ticket_row(rows, straw), strict=True))
    assert (row["label"], row["state"], row["overdue"], row["source"]) == (
        "straw_burning",
        "new",
        "0",
        "ui",
    )


def test_tickets_csv_codes_give_the_department_code_and_pages_its_name(env) -> None:
    from sqlalchemy import select

    from groundstation.blueprints.tickets import CSV_COLUMNS
    from groundstation.models import Department

    dispatched = make_ticket(env, "dispatched", department="ecology_environment")
    with env.storage().session() as session:
        name = session.scalar(
            select(Department.name).where(Department.code == "ecology_environment")
        )
    client = env.client()
    login(client, "supervisor")
    for lang in ("zh", "en"):
        rows = read(client.get(f"/tickets.csv?codes=1&lang={lang}&state=dispatched"))
        row = dict(zip(CSV_COLUMNS, ticket_row(rows, dispatched), strict=True))
        assert row["department"] == "ecology_environment", lang
        named = ticket_row(
            read(client.get(f"/tickets.csv?lang={lang}&state=dispatched")), dispatched
        )
        assert named[4] == name != "ecology_environment", lang


@pytest.fixture(scope="module")
def seeded(env) -> None:
    seed_dashboard(env)


def test_dashboard_csv_is_in_chinese_on_the_chinese_pages(env, seeded) -> None:
    client = env.client()
    login(client, "admin")
    response = client.get(f"/dashboard.csv?{JUNE_2024}")
    rows = read(response)
    assert rows[0][:2] == ["统计周期", "自定义"]
    assert ["区域", "D-A"] in rows and ["航次", "1"] in rows
    assert ["发现", "违法建设", "1"] in rows
    heading = next(r for r in rows if r and r[0] == zh(env, "Group"))
    assert heading[1:8] == [
        "名称",
        "受理数",
        "已立案",
        "应结案数",
        "已结案",
        "结案率",
        "按期结案率",
    ]
    assert heading[-2:] == [
        zh(env, "Median capture → ticket (h)"),
        zh(env, "Median dispatch → close (h)"),
    ]
    assert next(r for r in rows if r and r[0] == "全部")[:8] == [
        "全部",
        "D-A",
        "2",
        "2",
        "2",
        "1",
        "0.5000",
        "0.5000",
    ]
    classes = {r[1] for r in rows if r and r[0] == "类别"}
    assert classes == {"违法建设", "秸秆焚烧"}
    text = response.data.decode("utf-8")
    for code in ("straw_burning", "illegal_construction", "received", "period", "custom"):
        assert code not in text


def test_dashboard_csv_in_english_and_in_codes(env, seeded) -> None:
    client = env.client()
    login(client, "admin")
    english = read(client.get(f"/dashboard.csv?{JUNE_2024}&lang=en"))
    assert english[0][:2] == ["Period", "Custom"]
    assert ["Findings", "Illegal construction", "1"] in english
    assert any(r[:2] == ["Class", "Straw burning"] for r in english)
    codes = read(client.get(f"/dashboard.csv?{JUNE_2024}&codes=1"))
    assert (
        codes[0][:2] == ["period", "custom"] and ["findings", "illegal_construction", "1"] in codes
    )
    assert any(r[:2] == ["class", "straw_burning"] for r in codes)
    assert next(r for r in codes if r and r[0] == "group")[:3] == ["group", "key", "received"]


def test_whole_district_row_is_named_in_the_readers_language(env, seeded) -> None:
    client = env.client()
    login(client, "admin")
    rows = read(client.get("/dashboard.csv?period=custom&start=2024-06-01&end=2024-06-30"))
    assert ["区域", "全区"] in rows
    codes = read(client.get("/dashboard.csv?period=custom&start=2024-06-01&end=2024-06-30&codes=1"))
    assert ["area", "district"] in codes
