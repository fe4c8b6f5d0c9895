"""Browser test of the dispatch table (Playwright driving Debian's Chromium): each row's fields
belong to that row's form in the browser's DOM, and a deadline's amount field follows the unit
chosen beside it (whole working days from 1), so the browser refuses 2.5 working days."""

from __future__ import annotations

import pytest
from conftest import sign_in

pytestmark = [
    pytest.mark.slow,
]


def test_a_row_is_saved_with_its_own_fields_and_the_unit_sets_the_bounds(live, page) -> None:
    env, base = live
    sign_in(page, base, "admin")
    page.goto(f"{base}/lang/en?next=/admin/rules")
    row = page.locator("#rule-illegal_construction")
    amount = row.locator('input[name="deadline_amount"]')
    # the browser puts every field of the row in the row's form (none is left formless)
    owners = row.locator("input[name], select[name], textarea[name]").evaluate_all(
        "fields => fields.map(f => f.form && f.form.id)"
    )
    assert owners and set(owners) == {"rule-form-illegal_construction"}
    row.locator('select[name="deadline_unit"]').select_option("work_days")
    assert (amount.get_attribute("min"), amount.get_attribute("step")) == ("1", "1")
    assert amount.get_attribute("max") == "250"
    amount.fill("2.5")
    assert amount.evaluate("field => field.validity.stepMismatch") is True
    row.locator('select[name="deadline_unit"]').select_option("hours")
    assert (amount.get_attribute("min"), amount.get_attribute("step")) == ("0.1", "any")
    assert amount.evaluate("field => field.validity.valid") is True
    row.locator('select[name="deadline_unit"]').select_option("work_days")
    amount.fill("3")
    row.locator('button[type="submit"]').click()
    page.wait_for_selector("text=Saved.")
    rules = env.client().get("/api/v1/rules", headers=env.headers("admin")).json
    saved = next(r for r in rules if r["label"] == "illegal_construction")
    assert (saved["deadline_amount"], saved["deadline_unit"]) == (3, "work_days")
