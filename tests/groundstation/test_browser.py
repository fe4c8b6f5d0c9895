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


def test_review_with_buttons_and_bulk_reject(live, page) -> None:
    """A new supervisor who knows no shortcuts reviews with the mouse; filter errors show."""
    env, base = live
    first, second, third = make_findings(
        env,
        [
            ("straw_burning", 0.31, (119.905, 32.405)),
            ("straw_burning", 0.52, (119.906, 32.406)),
            ("straw_burning", 0.73, (119.907, 32.407)),
        ],
    )
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, base, "supervisor")
    page.goto(f"{base}/review")
    page.wait_for_selector(f"#finding-{first}.current")
    page.click("#btn-confirm")
    page.wait_for_selector(f"#ticket-link-{first}")
    page.click(f"#finding-{second} .pick")
    page.click(f"#finding-{third} .pick")
    page.click("#btn-bulk-reject")
    page.wait_for_selector("#status-line.info")
    assert page.locator(f"#finding-{third} .status").inner_text() == "不予立案"
    # a filter the API refuses (older browsers let any text into number fields)
    page.evaluate("document.querySelector('input[name=min_score]').type = 'text'")
    page.fill('input[name="min_score"]', "abc")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("#status-line.error")
    page.screenshot(path=str(ARTIFACTS / "06_review_buttons.png"))
    assert errors == []
