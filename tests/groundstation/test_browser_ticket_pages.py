"""Browser tests (Playwright + Debian Chromium) of findings from a browser QA pass on the review,
ticket and plan pages: a finding whose photo has no footprint costs no console error, each ticket
action is its own labelled group, and the plan page's hints and summary read whole and right."""

from __future__ import annotations

import json

import pytest
from conftest import (
    ARTIFACTS,
    G1,
    SMALL,
    add_grids,
    make_findings,
    make_ticket,
    saved_plan,
    sign_in,
)
from fakecatalogue import overlay_catalogue

pytestmark = [pytest.mark.slow]

#: The Chinese proposed for the new messages, until the catalogue has it.
CHINESE = {
    "Reason (optional)": "理由（可选）",
    "Area size": "区域面积",
    "Imported %(name)s: %(num)s zone": "已导入“%(name)s”：%(num)s 个区域",
}

#: The findings' place, inside G1; their photos are at the same place but have no height.
LONLAT = (119.905, 32.405)


def unplaced_findings(env, count: int) -> list[int]:
    """``count`` pending findings with a position, each on a photo with a GPS position but no
    height above ground (relative altitude): the photo cannot be drawn on the map."""
    from groundstation.models import Finding

    ids = make_findings(env, [("illegal_construction", 0.9, LONLAT)] * count)
    with env.storage().session() as session:
        for finding_id in ids:
            photo = session.get(Finding, finding_id).photo
            photo.lon, photo.lat, photo.relative_altitude_m = LONLAT[0], LONLAT[1], None
        session.commit()
    return ids


def watch_errors(page) -> list[str]:
    """Console errors, uncaught exceptions and 4xx/5xx answers of the page, as they come."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else 0)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on(
        "response",
        lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else 0,
    )
    return errors


def test_a_finding_without_a_footprint_costs_no_console_error(live, page) -> None:
    from groundstation.models import Finding
    from groundstation.tickets import Actor, open_ticket_for_finding

    env, base = live
    reviewed, filed = unplaced_findings(env, 2)
    with env.storage().session() as session:
        ticket = open_ticket_for_finding(
            session, session.get(Finding, filed), Actor("supervisor", "supervisor")
        )
        session.commit()
        ticket_id = ticket.id
    sign_in(page, base, "supervisor")
    page.goto(f"{base}/tickets")  # a page without a map: no overlay request still on its way
    page.wait_for_load_state("networkidle")
    errors = watch_errors(page)

    with page.expect_response(f"**/api/v1/findings/{reviewed}/overlay") as asked:
        page.goto(f"{base}/review?finding={reviewed}")
    answer = asked.value
    assert answer.status == 200
    assert answer.json()["url"] is None and "没有相对地面高度" in answer.json()["reason"]
    page.wait_for_selector(f"#finding-{reviewed}.current")
    page.wait_for_load_state("networkidle")
    assert page.locator("img.photo-overlay").count() == 0

    with page.expect_response(f"**/api/v1/findings/{filed}/overlay") as asked:
        page.goto(f"{base}/tickets/{ticket_id}")
    assert asked.value.status == 200
    page.wait_for_selector("#ticket-map .leaflet-interactive")  # the map is drawn
    page.wait_for_load_state("networkidle")
    assert page.locator("#ticket-map img.photo-overlay").count() == 0
    assert errors == []


#: JS: each action form's group (legend, border), its fields' labels and where it sits.
ACTION_GROUPS = """() => Array.from(document.querySelectorAll("form.action-form")).map((form) => {
  const sets = form.querySelectorAll(":scope > fieldset");
  const legend = form.querySelector(":scope > fieldset > legend");
  const box = sets.length ? sets[0].getBoundingClientRect() : null;
  const fields = Array.from(form.querySelectorAll("input:not([type=hidden]), select, textarea"));
  return {
    id: form.id,
    groups: sets.length,
    legend: legend ? legend.textContent.trim() : "",
    button: form.querySelector("button[type=submit]").textContent.trim(),
    border: sets.length ? parseFloat(getComputedStyle(sets[0]).borderTopWidth) : 0,
    box: box && [box.left, box.top, box.right, box.bottom],
    fields: fields.map((f) => ({
      name: f.name,
      labels: Array.from(f.labels).map((l) => l.textContent.trim()),
      tied: Array.from(f.labels).every((l) => l.htmlFor === f.id && f.id !== ""),
      inGroup: sets.length ? sets[0].contains(f) : false,
    })),
  };
})"""


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize(
    ("who", "states", "lang"),
    [
        (
            "supervisor",
            ["new", "confirmed", "dispatched", "resolved", "verified", "rejected"],
            "zh",
        ),
        ("supervisor", ["confirmed", "in_progress"], "en"),
        ("department", ["dispatched", "in_progress"], "zh"),
        ("department", ["dispatched", "in_progress"], "en"),
    ],
)
def test_each_ticket_action_is_its_own_labelled_group(
    live, page, monkeypatch, who, states, lang
) -> None:
    overlay_catalogue(monkeypatch, CHINESE)
    env, base = live
    tickets = {state: make_ticket(env, state) for state in states}
    sign_in(page, base, who)
    page.goto(f"{base}/lang/{lang}")  # sets the session's language, then goes home
    for state, ticket_id in tickets.items():
        page.goto(f"{base}/tickets/{ticket_id}")
        forms = page.evaluate(ACTION_GROUPS)
        assert forms, f"{state}: no action form"
        for form in forms:
            where = f"{lang} {state} {form['id']}"
            assert form["groups"] == 1 and form["border"] > 0, where
            assert form["legend"] and form["legend"] == form["button"], where
            assert form["fields"], where  # every action takes at least a reason
            for field in form["fields"]:
                assert field["inGroup"] and field["tied"], f"{where} {field['name']}"
                assert len(field["labels"]) == 1 and field["labels"][0], f"{where} {field}"
        legends = [f["legend"] for f in forms]
        assert len(set(legends)) == len(legends), legends
        for i, a in enumerate(forms):  # the groups sit apart: no box overlaps another
            assert not any(_overlap(a["box"], b["box"]) for b in forms[i + 1 :]), state
        page.screenshot(path=str(ARTIFACTS / f"ticket_actions_{who}_{lang}_{state}.png"))


def test_a_reason_label_says_whether_the_reason_is_needed(live, page) -> None:
    env, base = live
    ticket_id = make_ticket(env, "confirmed")
    sign_in(page, base, "supervisor")
    page.goto(f"{base}/lang/en")
    page.goto(f"{base}/tickets/{ticket_id}")
    reject = page.locator("#form-reject")
    assert reject.locator("legend").inner_text() == "Reject"
    assert reject.get_by_label("Reason", exact=True).get_attribute("required") is not None
    dispatch = page.locator("#form-dispatch")
    assert dispatch.get_by_label("Reason (optional)").get_attribute("required") is None
    assert dispatch.get_by_label("Department").evaluate("e => e.tagName") == "SELECT"


#: JS: inputs whose placeholder is wider than the room the input gives it.
CUT_PLACEHOLDERS = """(scope) => {
  const ctx = document.createElement("canvas").getContext("2d");
  return Array.from(document.querySelectorAll(scope + " input[placeholder]"))
    .filter((i) => i.offsetParent !== null && i.placeholder)
    .map((i) => {
      const s = getComputedStyle(i);
      ctx.font = s.font;
      const room = i.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight)
        - (i.type === "number" ? 16 : 0);  // the spin buttons shown on hover
      return {id: i.id, text: i.placeholder, need: ctx.measureText(i.placeholder).width, room};
    })
    .filter((p) => p.need > p.room);
}"""


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_plan_page_hints_read_whole(live, page, lang) -> None:
    env, base = live
    add_grids(env, ("PL-1", G1))
    sign_in(page, base, "pilot")
    page.goto(f"{base}/lang/{lang}")
    page.goto(f"{base}/plan")
    assert page.evaluate(CUT_PLACEHOLDERS, "#plan-form") == []
    home = page.locator("#home")
    assert home.get_attribute("placeholder") in (None, "")
    hint = page.locator("#" + home.get_attribute("aria-describedby"))
    assert hint.is_visible()
    expected = "纬度,经度（默认：第一个网格内）" if lang == "zh" else "first grid"
    assert expected in hint.inner_text()
    page.screenshot(path=str(ARTIFACTS / f"plan_hints_{lang}.png"))


def _draw_square(page) -> None:
    """Draw a small square on the plan map (in the middle of the view) and close it."""
    page.click("#draw-start")
    box = page.locator("#plan-map").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for dx, dy in ((-60, -60), (60, -60), (60, 60), (-60, 60)):
        page.mouse.click(cx + dx, cy + dy)
    page.click("#draw-finish")


def test_plan_summary_names_a_drawn_area_area_and_grids_grid_area(live, page, monkeypatch):
    overlay_catalogue(monkeypatch, CHINESE)
    env, base = live
    add_grids(env, ("PL-S", SMALL))
    sign_in(page, base, "pilot")
    page.goto(f"{base}/plan")
    page.wait_for_selector("#plan-map path.leaflet-interactive")
    page.check("#grid-PL-S")
    page.wait_for_selector("#plan-status[data-state=planned]")
    assert page.inner_text("#sum-grid-area-label") == "网格面积"

    page.uncheck("#grid-PL-S")
    page.wait_for_selector("#summary", state="hidden")
    _draw_square(page)
    page.wait_for_selector("#plan-status[data-state=planned]")
    assert page.inner_text("#sum-grid-area-label") == "区域面积"
    assert page.inner_text("#sum-grid-area").endswith("m²")

    page.goto(f"{base}/lang/en")
    page.goto(f"{base}/plan")
    page.wait_for_selector("#plan-map path.leaflet-interactive")
    _draw_square(page)
    page.wait_for_selector("#plan-status[data-state=planned]")
    assert page.inner_text("#sum-grid-area-label") == "Area size"
    page.screenshot(path=str(ARTIFACTS / "plan_drawn_area_summary.png"))


def _square(lon: float, lat: float, size: float) -> list[list[float]]:
    return [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]


def _zones_file(tmp_path, count: int):
    path = tmp_path / f"zones{count}.geojson"
    features = [
        {
            "type": "Feature",
            "properties": {},
            "geometry": {
                "type": "Polygon",
                "coordinates": [_square(lon, 32.3, 0.001)],
            },
        }
        for lon in (119.8 + 0.01 * k for k in range(count))
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


@pytest.mark.parametrize(
    ("lang", "count", "said"),
    [
        ("zh", 1, "已导入“基准”：1 个区域"),
        ("en", 1, "Imported 基准: 1 zone"),
        ("en", 3, "Imported 基准: 3 zones"),
    ],
)
def test_a_no_fly_import_says_what_its_number_counts(
    live, page, tmp_path, monkeypatch, lang, count, said
) -> None:
    overlay_catalogue(monkeypatch, CHINESE)
    _env, base = live
    sign_in(page, base, "pilot")
    page.goto(f"{base}/lang/{lang}")
    page.goto(f"{base}/plan")
    form = page.locator("#nofly-form")
    form.locator("input[name=name]").fill("基准")
    form.locator("input[type=file]").set_input_files(str(_zones_file(tmp_path, count)))
    form.locator("button[type=submit]").click()
    page.wait_for_function("() => document.getElementById('nofly-result').textContent !== ''")
    assert page.inner_text("#nofly-result") == said


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_flight_start_hints_read_whole(live, page, lang) -> None:
    env, base = live
    add_grids(env, ("FL-S", SMALL))
    saved_plan(env, "FL-S", "hints")
    sign_in(page, base, "pilot")
    page.goto(f"{base}/lang/{lang}")
    page.goto(f"{base}/flights")
    endurance = page.locator("#start-endurance")
    assert endurance.is_visible()
    assert page.evaluate(CUT_PLACEHOLDERS, "#endurance-field") == []
