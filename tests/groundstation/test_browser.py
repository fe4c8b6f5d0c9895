"""Browser tests (Playwright driving Debian's Chromium): sign in, review a finding with a keyboard
shortcut and see its ticket open, then take the ticket to closed as the right roles.

Screenshots go to test-artifacts/groundstation/ (git-ignored).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import ARTIFACTS, G1, add_grids, make_findings, sign_in
from playwright.sync_api import expect

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
    # the confirmation left an info line already: wait for the bulk result's own text
    expect(page.locator("#status-line.info")).to_have_text("已审核 2 条")
    assert page.locator(f"#finding-{first} .status").inner_text().startswith("已确认 · 案件 #")
    # a false alarm's case is filed as rejected: the row links to it (it can be reopened there)
    assert page.locator(f"#finding-{third} .status").inner_text().startswith("不予立案 · 案件 #")
    # a filter the API refuses (older browsers let any text into number fields)
    page.evaluate("document.querySelector('input[name=min_score]').type = 'text'")
    page.fill('input[name="min_score"]', "abc")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("#status-line.error")
    page.screenshot(path=str(ARTIFACTS / "06_review_buttons.png"))
    assert errors == []


def marker_offset(page, finding_id: int) -> tuple[float, float] | None:
    """Where the finding's map marker is from the map's centre (pixels), None when off the map
    (Leaflet draws a marker outside the map as an empty path)."""
    return page.evaluate(
        """id => {
          const map = document.getElementById("map").getBoundingClientRect();
          const dot = document.querySelector("#map .marker-" + id).getBoundingClientRect();
          if (!dot.width) { return null; }
          const x = dot.x + dot.width / 2, y = dot.y + dot.height / 2;
          if (x < map.left || x > map.right || y < map.top || y > map.bottom) { return null; }
          return [x - (map.left + map.width / 2), y - (map.top + map.height / 2)];
        }""",
        finding_id,
    )


def test_review_opens_the_queue_its_url_asks_for(live, page) -> None:
    """A link to a flight's findings and one finding fills in the filters, lists that flight and
    selects and zooms to the finding; the URL follows the filters and the selection."""
    from groundstation.models import Finding

    env, base = live
    add_grids(env, ("U-G1", G1))
    (other,) = make_findings(env, [("straw_burning", 0.2, (119.901, 32.401))], grid_code="U-G1")
    low, mid, high = make_findings(
        env,
        [
            ("illegal_construction", 0.3, (119.905, 32.405)),
            ("illegal_construction", 0.6, (119.906, 32.406)),
            ("illegal_construction", 0.9, (119.907, 32.407)),
        ],
        grid_code="U-G1",
    )
    with env.storage().session() as session:
        flight = session.get(Finding, mid).flight_id
        session.get(Finding, low).review_status = "rejected"
        session.commit()
    sign_in(page, base, "supervisor")
    page.goto(f"{base}/lang/en")
    held: list = []  # the grids arrive after the finding was selected (the map fits them)
    page.route("**/api/v1/grids.geojson", lambda route: held.append(route))
    page.goto(f"{base}/review?flight={flight}&status=all&finding={mid}")
    page.wait_for_selector(f"#finding-{mid}.current")
    while not held:
        page.wait_for_timeout(20)
    held[0].continue_()
    page.unroute("**/api/v1/grids.geojson")
    assert page.locator('select[name="flight"]').input_value() == str(flight)
    assert page.locator('select[name="status"]').input_value() == "all"
    rows = page.locator("#queue tbody tr")
    assert [rows.nth(i).get_attribute("id") for i in range(rows.count())] == [
        f"finding-{low}",
        f"finding-{mid}",
        f"finding-{high}",
    ]  # this flight's findings, the reviewed one too; not the other flight's
    assert page.locator(f"#finding-{other}").count() == 0
    # zoomed in on the finding, also after the grids arrived: its marker in the middle, its
    # neighbours 100 m away off the map
    page.wait_for_selector("#map path.leaflet-interactive:not(.finding-marker)")  # a grid
    page.wait_for_load_state("networkidle")
    page.wait_for_function(
        """id => { const map = document.getElementById("map").getBoundingClientRect();
                   const dot = document.querySelector("#map .marker-" + id);
                   if (!dot) { return false; }
                   const b = dot.getBoundingClientRect();
                   return Math.abs(b.x + b.width / 2 - (map.left + map.width / 2)) < 3 &&
                          Math.abs(b.y + b.height / 2 - (map.top + map.height / 2)) < 3; }""",
        arg=mid,
    )
    assert marker_offset(page, low) is None and marker_offset(page, high) is None
    page.screenshot(path=str(ARTIFACTS / "07_review_from_url.png"))

    page.keyboard.press("j")
    page.wait_for_url(re.compile(rf"/review\?flight={flight}&status=all&finding={high}$"))
    page.select_option('select[name="status"]', "pending")
    page.click("#filters button[type=submit]")
    page.wait_for_selector(f"#finding-{mid}.current")  # the first pending one
    assert page.locator(f"#finding-{low}").count() == 0
    page.wait_for_url(re.compile(rf"/review\?flight={flight}&finding={mid}$"))
    language = urlsplit(page.locator("#lang-zh").get_attribute("href"))
    assert parse_qs(language.query)["next"] == [f"/review?flight={flight}&finding={mid}"]
    page.reload()
    page.wait_for_selector(f"#finding-{mid}.current")
    assert page.locator('select[name="flight"]').input_value() == str(flight)
    assert page.locator('select[name="status"]').input_value() == "pending"

    # a finding the filters leave out: said so, with a link to its flight's findings
    page.goto(f"{base}/review?flight={flight}&finding={low}")
    link = page.wait_for_selector("#finding-elsewhere")
    said = page.locator("#status-line").inner_text()
    assert said.startswith((f"Finding #{low} is not in", f"发现 #{low} 不在当前列表中")), said
    link.click()
    page.wait_for_selector(f"#finding-{low}.current")

    # a score range nothing can be in is said to be empty, not "nothing to review"
    page.fill('input[name="min_score"]', "0.9")
    page.fill('input[name="max_score"]', "0.1")
    page.click("#filters button[type=submit]")
    expect(page.locator("#queue-empty")).to_have_text(
        "The score range is empty: ≥ 0.9 and ≤ 0.1 cannot both hold."
    )
    assert page.locator("#queue tbody tr").count() == 0


def test_review_double_press_and_signing_out_elsewhere(live, page) -> None:
    """Two quick presses of c confirm once and report no failure; after signing out in another
    tab, a review offers to sign in and comes back to the same queue."""
    env, base = live
    first, second = make_findings(
        env,
        [
            ("illegal_construction", 0.3, (119.905, 32.405)),
            ("illegal_construction", 0.5, (119.906, 32.406)),
        ],
    )
    reviews: list[str] = []

    def record(request) -> None:
        if request.method == "POST" and "/api/v1/findings/" in request.url:
            reviews.append(request.url)

    page.on("request", record)
    sign_in(page, base, "supervisor")
    page.goto(f"{base}/review")
    page.wait_for_selector(f"#finding-{first}.current")
    # both presses reach the page in one task, before the first answer can
    page.evaluate(
        """() => { for (let i = 0; i < 2; i++) {
             document.body.dispatchEvent(new KeyboardEvent("keydown", {key: "c", bubbles: true}));
           } }"""
    )
    page.wait_for_selector(f"#ticket-link-{first}")
    page.wait_for_selector(f"#finding-{second}.current")
    expect(page.locator("#status-line")).to_have_class("flash info")
    assert reviews == [f"{base}/api/v1/findings/{first}/review"]
    status = page.locator(f"#finding-{first} .status").inner_text()
    assert re.fullmatch(r"已确认 · 案件 #\d+", status), status  # reviewed, and its case

    other = page.context.new_page()
    other.goto(f"{base}/flights")
    other.click("header form button")
    other.wait_for_url("**/login")
    other.close()
    page.click("#btn-confirm")
    link = page.wait_for_selector("#status-line.error #sign-in-link")
    assert page.locator("#status-line").inner_text() == "请先登录。 登录"
    link.click()
    page.wait_for_url(re.compile(r"/login\?next="))
    page.fill("#username", "supervisor")
    page.fill("#password", "supervisor-password")
    page.click("#login-submit")
    page.wait_for_url(re.compile(rf"/review\?finding={second}$"))
    page.wait_for_selector(f"#finding-{second}.current")
    assert page.locator(f"#finding-{second} .status").inner_text() == "待审核"
