"""Errors about the request itself read in the reader's language: a review page URL value the
queue cannot use (named by filter and parameter) and a failed CSRF check (HTML and JSON, 400).

The Chinese of new messages comes from a catalogue overlay (:mod:`fakecatalogue`), so the tests
check that each text is looked up, whatever ``translations/zh`` holds yet."""

from __future__ import annotations

import re
from html import unescape

import pytest
from conftest import login, make_ticket
from fakecatalogue import overlay_catalogue

#: Chinese for the new messages (the lead's catalogue may word them differently).
ZH_CSRF = "页面已过期或请求并非来自本站：请刷新页面后重试（CSRF 校验失败）。"
CHINESE = {
    "%(filter)s: the address gives %(param)s=%(value)s, but the queue takes %(expected)s; this "
    "filter is left out": (
        "%(filter)s：网址参数 %(param)s=%(value)s 无法使用，应为%(expected)s；已忽略此筛选条件"
    ),
    "Lowest score": "置信度下限",
    "a number from 0 to 1": "0 到 1 之间的数字",
    "One finding per object": "每个目标一条发现",
    "1 (one finding per object) or 0": "1（每个目标一条发现）或 0",
    "The page has expired or the request did not come from this site: reload the page and try "
    "again (CSRF check failed).": ZH_CSRF,
}


def _problems(html: str) -> list[str]:
    found = re.findall(r'<p class="flash error filter-problem"[^>]*>(.*?)</p>', html)
    return [unescape(p) for p in found]


@pytest.mark.parametrize(
    ("query", "chinese"),
    [
        (
            "min_score=high",
            "置信度下限：网址参数 min_score=high 无法使用，应为0 到 1 之间的数字；已忽略此筛选条件",
        ),
        (
            "primary=2",
            "每个目标一条发现：网址参数 primary=2 无法使用，应为1（每个目标一条发现）或 0；"
            "已忽略此筛选条件",
        ),
    ],
)
def test_a_review_url_value_is_named_in_the_readers_language(env, monkeypatch, query, chinese):
    overlay_catalogue(monkeypatch, CHINESE)
    client = env.client()
    login(client, "supervisor")  # the pages speak Chinese by default
    response = client.get(f"/review?{query}")
    assert response.status_code == 400  # the queue still opens, without the value it cannot use
    assert _problems(response.get_data(as_text=True)) == [chinese]


def test_a_review_url_status_reads_with_the_forms_label(env, monkeypatch) -> None:
    overlay_catalogue(monkeypatch, CHINESE)
    client = env.client()
    login(client, "supervisor")
    (problem,) = _problems(client.get("/review?status=done").get_data(as_text=True))
    assert problem.startswith("审核状态：网址参数 status=done 无法使用，应为")  # "Status" label
    client.get("/lang/en")
    (problem,) = _problems(client.get("/review?status=done").get_data(as_text=True))
    assert problem == (
        "Status: the address gives status=done, but the queue takes pending, confirmed, "
        "rejected or all; this filter is left out"
    )


def test_a_failed_csrf_check_asks_a_page_script_to_reload(env, monkeypatch) -> None:
    overlay_catalogue(monkeypatch, CHINESE)
    client = env.client()
    login(client, "pilot")
    refused = client.post("/api/v1/plans/preview", json={})  # no X-CSRFToken
    assert refused.status_code == 400
    assert (
        refused.json["error"] == "页面已过期或请求并非来自本站：请刷新页面后重试（CSRF 校验失败）。"
    )
    client.get("/lang/en")
    refused = client.post("/api/v1/plans/preview", json={})
    assert refused.status_code == 400
    assert refused.json["error"] == (
        "The page has expired or the request did not come from this site: reload the page and "
        "try again (CSRF check failed)."
    )  # not flask-wtf's "The CSRF token is missing."


def test_a_failed_csrf_check_on_a_form_explains_in_each_language(env) -> None:
    client = env.client()
    login(client, "supervisor")
    url = f"/tickets/{make_ticket(env, 'new')}/transition"
    refused = client.post(url, data={"action": "confirm"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "表单已过期或并非来自本站：请刷新页面后重试" in html
    assert "CSRF token" not in html
    client.get("/lang/en")
    refused = client.post(url, data={"action": "confirm"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "The form has expired or did not come from this site: reload the page" in html
    assert "CSRF token" not in html
