"""Browser test: a review another supervisor made first (409) refreshes the queue's rows to
their current state and says so, instead of leaving them pending; the selected finding's photo
is named as it was sent."""

from __future__ import annotations

import pytest
from conftest import ARTIFACTS, make_findings, sign_in
from playwright.sync_api import expect

pytestmark = [pytest.mark.slow]


def test_a_review_someone_made_first_shows_the_current_state(live, page) -> None:
    from groundstation.models import Finding

    env, base = live
    first, second, third = make_findings(
        env,
        [
            ("illegal_construction", 0.3, (119.905, 32.405)),
            ("straw_burning", 0.4, (119.906, 32.406)),
            ("illegal_fishing", 0.5, (119.907, 32.407)),
        ],
    )
    with env.storage().session() as session:
        session.get(Finding, first).photo.original_name = "航拍_001.jpg"
        session.commit()
    sign_in(page, base, "supervisor")
    page.goto(f"{base}/review")
    page.wait_for_selector(f"#finding-{first}.current")
    expect(page.locator("#photo-name")).to_have_text("航拍_001.jpg")

    # another reviewer confirms the first finding while this page still lists it as pending
    admin = env.client()
    answer = admin.post(
        f"/api/v1/findings/{first}/review",
        json={"decision": "confirm"},
        headers=env.headers("admin"),
    )
    assert answer.status_code == 200
    ticket = answer.json["ticket_id"]
    page.keyboard.press("c")
    expect(page.locator("#status-line")).to_have_class("flash error")
    line = page.locator("#status-line").inner_text()
    assert f"#{first}" in line and "admin" in line and "已确认" in line, line
    expect(page.locator(f"#ticket-link-{first}")).to_have_attribute("href", f"/tickets/{ticket}")
    expect(page.locator(f"#finding-{first} .review-status")).to_have_text("已确认")
    expect(page.locator(f"#finding-{first}")).to_have_class("current")  # still selected
    page.screenshot(path=str(ARTIFACTS / "review_conflict.png"))

    # a bulk rejection of two findings, one of which another reviewer rejected meanwhile:
    # nothing is applied, that row shows its state and leaves the selection, the other stays
    for finding in (second, third):
        page.click(f"#finding-{finding} .pick")
    answer = admin.post(
        f"/api/v1/findings/{second}/review",
        json={"decision": "reject"},
        headers=env.headers("admin"),
    )
    assert answer.status_code == 200
    page.keyboard.press("Shift+R")
    expect(page.locator(f"#finding-{second} .review-status")).to_have_text("不予立案")
    line = page.locator("#status-line").inner_text()
    assert f"#{second}" in line and f"#{third}" not in line, line
    expect(page.locator(f"#finding-{second} .pick")).not_to_be_checked()
    expect(page.locator(f"#finding-{third} .pick")).to_be_checked()
    expect(page.locator(f"#finding-{third} .review-status")).to_have_text("待审核")
