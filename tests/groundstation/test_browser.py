"""Browser tests (Playwright driving Debian's Chromium): sign in, review a finding with a keyboard
shortcut and see its ticket open, then take the ticket to closed as the right roles.

Screenshots go to test-artifacts/groundstation/ (git-ignored).
"""

from __future__ import annotations

import pytest
from conftest import ARTIFACTS, G1, add_grids, make_findings, sign_in

pytestmark = [
    pytest.mark.slow,
]


def sign_out(page) -> None:
    page.click("header form button")
    page.wait_for_url("**/login")


def act(page, action: str, **fields: str) -> None:
    form = page.locator(f"#form-{action}")
    for name, value in fields.items():
        form.locator(f'[name="{name}"]').fill(value)
    form.locator(f"#do-{action}").click()
    page.wait_for_load_state()


def test_review_with_keyboard_then_close_the_ticket(live, page) -> None:
    env, base = live
    add_grids(env, ("B-G1", G1))
    low, high = make_findings(
        env,
        [
            ("illegal_construction", 0.41, (119.905, 32.405)),
            ("illegal_construction", 0.93, (119.906, 32.406)),
        ],
        grid_code="B-G1",
    )
    sign_in(page, base, "supervisor")
    page.goto(f"{base}/review")
    page.wait_for_selector(f"#finding-{low}.current")  # lowest confidence first, selected
    assert page.locator("#queue tbody tr").first.get_attribute("id") == f"finding-{low}"
    page.wait_for_function(
        "document.getElementById('box') && !document.getElementById('box').hidden"
    )
    page.screenshot(path=str(ARTIFACTS / "01_review_queue.png"))
    page.keyboard.press("c")
    link = page.wait_for_selector(f"#ticket-link-{low}")
    page.screenshot(path=str(ARTIFACTS / "02_confirmed.png"))
    assert page.locator(f"#finding-{high}").get_attribute("class") == "current"
    link.click()
    page.wait_for_selector("#ticket-state[data-state='confirmed']")
    ticket_url = page.url
    page.screenshot(path=str(ARTIFACTS / "03_ticket_filed.png"))

    act(page, "dispatch")
    page.wait_for_selector("#ticket-state[data-state='dispatched']")
    sign_out(page)

    sign_in(page, base, "department")
    page.goto(ticket_url)
    act(page, "start")
    page.wait_for_selector("#ticket-state[data-state='in_progress']")
    act(page, "resolve", note="违建已拆除")
    page.wait_for_selector("#ticket-state[data-state='resolved']")
    page.screenshot(path=str(ARTIFACTS / "04_resolved.png"))
    sign_out(page)

    sign_in(page, base, "pilot")
    page.goto(ticket_url)
    act(page, "verify", reason="re-flight photo shows bare ground")
    page.wait_for_selector("#ticket-state[data-state='verified']")
    sign_out(page)

    sign_in(page, base, "supervisor")
    page.goto(ticket_url)
    act(page, "close")
    page.wait_for_selector("#ticket-state[data-state='closed']")
    page.screenshot(path=str(ARTIFACTS / "05_closed.png"), full_page=True)
    archive = page.locator("#archive tbody tr")
    assert archive.count() == 7  # open, confirm, dispatch, start, resolve, verify, close
    text = page.locator("#archive").inner_text()
    for who in ("supervisor", "department", "pilot"):
        assert who in text
