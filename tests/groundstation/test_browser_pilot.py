"""Browser tests of the pilots' and managers' pages (Playwright driving Debian's Chromium):
plan a route over a grid and see it drawn with its summary, change the altitude and see the
summary change, draw an area by hand; fly a SITL test flight from the page and watch the live
position move and the mission progress reach the end; find the seeded figures on the dashboard.

Screenshots go to test-artifacts/groundstation/ (git-ignored).
"""

from __future__ import annotations

import io
import json
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from conftest import ARTIFACTS, G1, G2, JUNE_2024, SMALL, add_grids, seed_dashboard, sign_in

pytestmark = [
    pytest.mark.slow,
]


def summary_photos(page) -> int:
    return int(page.get_attribute("#summary", "data-photos"))


def test_plan_route_summary_and_drawn_area(live, page) -> None:
    env, base = live
    add_grids(env, ("BP-S", SMALL))
    sign_in(page, base, "pilot")
    page.goto(f"{base}/plan")
    page.check("#grid-BP-S")
    page.wait_for_selector("#plan-status[data-state='planned']")
    assert page.locator("path.strip-line").count() > 0
    assert page.locator("path.route-line").count() == 1
    assert page.locator("#sum-sorties").inner_text() == "1"
    before = summary_photos(page)
    version = page.get_attribute("#summary", "data-version")
    page.screenshot(path=str(ARTIFACTS / "pilot_01_plan.png"))

    page.fill("#altitude_m", "40")
    page.wait_for_function(
        f"document.getElementById('summary').dataset.version !== '{version}'"
        " && document.getElementById('plan-status').dataset.state === 'planned'"
    )
    assert summary_photos(page) > 2 * before
    page.screenshot(path=str(ARTIFACTS / "pilot_02_lower.png"))

    page.uncheck("#grid-BP-S")
    page.click("#draw-start")
    box = page.locator("#plan-map").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for dx, dy in ((-60, -40), (60, -40), (60, 40), (-60, 40)):
        page.mouse.click(cx + dx, cy + dy)
    page.click("#draw-finish")
    page.wait_for_function(
        "document.getElementById('plan-status').dataset.state === 'planned'"
        " && document.querySelector('#sortie-table tbody').innerText.includes('绘制区域')"
    )  # the drawn area by its display name, not its id 'drawn'
    page.screenshot(path=str(ARTIFACTS / "pilot_03_drawn.png"))
    page.fill("#plan-name", "drawn area")
    page.click("#save-plan")
    page.wait_for_selector("#saved:not([hidden])")
    href = page.get_attribute("#download-plan", "href")
    assert href.endswith("/download/plan?sortie=1")


def test_plan_home_point_failed_plan_and_second_sortie(live, page) -> None:
    """A no-fly zone over the default home: the plan takes off from flyable ground instead; a
    home the pilot types into the zone is refused and the old route does not stay shown beside
    the error; the pilot picks another home on the map, and sortie 2 of the saved plan can be
    downloaded."""
    env, base = live
    add_grids(env, ("BH-G", G1))
    zone = {"type": "Polygon", "coordinates": [[[119.904, 32.404], [119.906, 32.404],
            [119.906, 32.406], [119.904, 32.406], [119.904, 32.404]]]}  # fmt: skip
    layer = env.client().post(
        "/api/v1/no-fly",
        data={"name": "tower", "file": (io.BytesIO(json.dumps(zone).encode()), "t.geojson")},
        headers=env.headers("pilot"),
        content_type="multipart/form-data",
    )
    assert layer.status_code == 201, layer.json
    sign_in(page, base, "pilot")
    page.goto(f"{base}/plan")
    page.fill("#battery_minutes", "11")
    page.check("#grid-BH-G")
    page.wait_for_selector("#plan-status[data-state='planned']")
    assert page.locator("path.route-line").count() > 1
    page.select_option("#no_fly_layer", str(layer.json["id"]))
    page.wait_for_selector("#nofly-warning", state="visible")  # planned around the zone
    assert page.locator("#plan-status[data-state='planned']").count() == 1
    page.fill("#home", "32.405,119.905")  # a home chosen inside the zone
    page.press("#home", "Tab")
    page.wait_for_selector("#plan-status[data-state='error']")
    assert "起降点" in page.inner_text("#plan-error")  # the planner speaks the page's language
    assert page.locator("#summary").is_hidden() and page.locator("path.route-line").count() == 0

    page.click("#home-pick")
    box = page.locator("#plan-map").bounding_box()
    # south-west of the zone in the grid's middle, still inside the grid
    page.mouse.click(box["x"] + box["width"] / 2 - 150, box["y"] + box["height"] / 2 + 150)
    page.wait_for_selector("#plan-status[data-state='planned']")
    lat, lon = (float(v) for v in page.input_value("#home").split(","))
    assert lat < 32.404 and lon < 119.904
    assert int(page.inner_text("#sum-sorties")) > 1
    page.screenshot(path=str(ARTIFACTS / "pilot_08_home.png"))

    page.click("#save-plan")
    page.wait_for_selector("#saved:not([hidden])")
    saved = page.inner_text("#saved-id").lstrip("#")
    page.select_option("#download-sortie", "2")
    assert page.locator("#saved").is_visible()
    href = page.get_attribute("#download-waypoints", "href")
    assert href == f"/api/v1/plans/{saved}/download/waypoints?sortie=2"
    plan = env.client().get(f"/api/v1/plans/{saved}", headers=env.headers("pilot")).json
    assert plan["params"]["home"] == pytest.approx([lon, lat])


def hold_posts(page, path: str) -> None:
    """Hold the page's requests to ``path`` until ``window.release()``: the answer comes after
    whatever the test does meanwhile, as on a slow link."""
    page.evaluate(
        """path => {
          const original = window.fetch;
          window.held = [];
          window.fetch = function (url, options) {
            if (url !== path) { return original.apply(this, arguments); }
            return new Promise(answer => window.held.push(() => answer(original(url, options))));
          };
          window.release = () => {
            window.fetch = original;
            window.held.splice(0).forEach(go => go());
          };
        }""",
        path,
    )


def test_plan_page_after_bad_input_shows_no_stale_plan(live, page) -> None:
    """QA: after bad input (altitude 5, overlap 100, speed 0, a far home) the page said Failed
    but kept the earlier plan's summary and route, errors named the API's keys (altitude_m)
    instead of the fields' labels, and a save answered after the change offered its plan to
    fly. While a new plan is on its way, the old one is marked stale."""
    env, base = live
    add_grids(env, ("BS-S", SMALL))
    sign_in(page, base, "pilot")
    page.goto(f"{base}/lang/en?next=/plan")
    page.check("#grid-BS-S")
    page.wait_for_selector("#plan-status[data-state='planned']")

    hold_posts(page, "/api/v1/plans/preview")
    page.fill("#altitude_m", "60")
    page.wait_for_selector("#summary[data-stale]")  # still shown, marked as not the answer
    assert page.locator("#plan-map.stale-plan").count() == 1
    page.evaluate("window.release()")
    page.wait_for_selector("#plan-status[data-state='planned']")
    page.wait_for_selector("#summary:not([data-stale])")
    assert page.locator("#plan-map.stale-plan").count() == 0

    hold_posts(page, "/api/v1/plans")
    page.click("#save-plan")  # answered only after the settings changed
    for field, bad, good in (("altitude_m", "5", "60"), ("front_overlap", "100", ""),
                             ("speed_mps", "0", "10")):  # fmt: skip
        label = page.locator(f"label:has(#{field})").inner_text().strip()
        page.fill(f"#{field}", bad)
        page.wait_for_selector("#plan-status[data-state='error']")
        assert page.inner_text("#plan-error").startswith(f"{label} {bad} is out of range [")
        assert page.locator("#summary").is_hidden() and page.locator("path.route-line").count() == 0
        if field == "altitude_m":
            page.evaluate("window.release()")  # the plan saved at 60 m arrives now
            page.wait_for_selector("#saved-plans tr[data-plan]")  # listed with the saved plans
            assert page.locator("#saved").is_hidden()  # but not offered as these settings' plan
            assert page.get_attribute("#plan-status", "data-state") == "error"
            page.click("#save-plan")  # these settings cannot be saved either
            page.wait_for_selector("#plan-status[data-state='error']")
            assert page.locator("#saved").is_hidden() and page.locator("#summary").is_hidden()
            assert page.locator("#saved-plans tr[data-plan]").count() == 1
        page.fill(f"#{field}", good)
        page.wait_for_selector("#plan-status[data-state='planned']")
        assert page.locator("#summary").is_visible() and page.is_hidden("#plan-error")

    # QA: an emptied Altitude planned at 100 m without a word; the field is named, as GSD's
    for by, field, error in (
        ("altitude", "altitude_m", "Altitude (m) is empty: give a value from 10 to 500"),
        ("gsd", "gsd_cm", "GSD (cm/px) is empty: give a value from 0.1 to 50"),
    ):
        page.select_option("#height-by", by)
        page.wait_for_selector("#plan-status[data-state='planned']")
        good = page.input_value(f"#{field}")
        page.fill(f"#{field}", "")
        page.wait_for_selector("#plan-status[data-state='error']")
        assert page.inner_text("#plan-error") == error
        assert page.locator("#summary").is_hidden() and page.locator("path.route-line").count() == 0
        page.fill(f"#{field}", good)
        page.wait_for_selector("#plan-status[data-state='planned']")
    page.select_option("#height-by", "altitude")
    page.wait_for_selector("#plan-status[data-state='planned']")

    page.fill("#home", "40.0, 116.4")  # about 900 km away
    page.press("#home", "Tab")
    page.wait_for_selector("#plan-status[data-state='error']")
    assert page.inner_text("#plan-error").startswith("cannot plan:")
    assert page.locator("#summary").is_hidden() and page.locator("path.route-line").count() == 0
    page.screenshot(path=str(ARTIFACTS / "pilot_11_bad_input.png"))


def test_plan_zooms_to_the_grid_warns_of_no_fly_and_lists_downloads(live, page) -> None:
    """Ticking a small grid in a wide district zooms to it (a parameter change does not move the
    map), a zone over half the grid is warned of, the saved plan appears in the list with all
    four formats, and the upload button stays disabled while an upload is under way."""
    env, base = live
    env.app.config["LINK_TIMEOUT_S"] = 2.0
    add_grids(env, ("BZ-S", SMALL), ("BZ-FAR", G2))
    zone = {"type": "Polygon", "coordinates": [[[119.8908, 32.399], [119.893, 32.399],
            [119.893, 32.402], [119.8908, 32.402], [119.8908, 32.399]]]}  # fmt: skip
    layer = env.client().post(
        "/api/v1/no-fly",
        data={"name": "east half", "file": (io.BytesIO(json.dumps(zone).encode()), "z.geojson")},
        headers=env.headers("pilot"),
        content_type="multipart/form-data",
    )
    assert layer.status_code == 201, layer.json
    sign_in(page, base, "pilot")
    page.goto(f"{base}/plan")
    page.wait_for_function(
        "document.querySelectorAll('#plan-map path.leaflet-interactive').length === 2"
    )
    assert page.locator("#layers-plan-map").is_hidden()  # no orthomosaics: no empty box
    district = int(page.get_attribute("#plan-map", "data-zoom"))
    page.fill("#home", "32.3995, 119.8895")  # south-west of the grid, clear of the zone
    page.check("#grid-BZ-S")
    page.wait_for_selector("#plan-status[data-state='planned']")
    page.wait_for_function(f"Number(document.getElementById('plan-map').dataset.zoom) > {district}")
    zoomed = page.get_attribute("#plan-map", "data-zoom")
    grid_box = page.locator("#plan-map path[stroke='#d35400']").bounding_box()  # the ticked grid
    assert grid_box["height"] > 100  # about 130 m: there to see, not a dot

    version = page.get_attribute("#summary", "data-version")
    page.select_option("#no_fly_layer", str(layer.json["id"]))
    page.wait_for_function(
        f"document.getElementById('summary').dataset.version !== '{version}'"
        " && document.getElementById('plan-status').dataset.state === 'planned'"
    )
    assert page.get_attribute("#plan-map", "data-zoom") == zoomed  # replanned in place
    warning = page.inner_text("#nofly-warning p[data-grid='BZ-S']")
    excluded = float(page.get_attribute("#summary", "data-excluded-pct"))
    assert 30 < excluded < 80 and f"{excluded:.1f}" in warning
    assert page.inner_text("#sum-excluded").endswith(f"({excluded:.1f} %)")
    page.screenshot(path=str(ARTIFACTS / "pilot_09_no_fly_warning.png"))

    page.fill("#plan-name", "east half closed")
    page.click("#save-plan")
    page.wait_for_selector("#saved:not([hidden])")
    saved = page.inner_text("#saved-id").lstrip("#")
    row = f"#saved-plans tr[data-plan='{saved}']"
    page.wait_for_selector(row)  # the list is refreshed without reloading the page
    formats = page.locator(f"{row} .plan-downloads [data-format]")
    assert sorted(formats.evaluate_all("els => els.map(e => e.dataset.format)")) == [
        "geojson", "kml", "plan", "waypoints"
    ]  # fmt: skip
    href = page.get_attribute(f"{row} [data-format='geojson'] a", "href")
    assert href == f"/api/v1/plans/{saved}/download/geojson?sortie=1"
    download = page.request.get(base + href)
    assert download.ok and download.json()["type"] == "FeatureCollection"

    uploads = []
    page.on("request", lambda r: uploads.append(r) if r.url.endswith("/upload") else None)
    page.fill("#upload-connection", "tcp:127.0.0.1:1")
    page.dblclick("#upload-plan")  # the button is disabled at the first click
    page.wait_for_selector("#upload-result[data-state='error']", timeout=20000)
    assert len(uploads) == 1
    assert page.is_enabled("#upload-plan")  # and ready for another try
    assert "tcp:127.0.0.1:1" in page.inner_text("#upload-result")
    page.screenshot(path=str(ARTIFACTS / "pilot_10_saved_list.png"), full_page=True)


def hold_arm_until_start_is_queued(monkeypatch) -> None:
    """Force the interleaving a loaded machine produces: the page shows "airborne" (published
    while the session thread is still finishing ARM), the pilot presses START at once, and START
    waits in the queue behind ARM."""
    from groundstation.flights import FlightRunner

    queued = threading.Event()
    command, execute = FlightRunner.command, FlightRunner._execute

    def command_then_signal(self, verb):
        future = command(self, verb)
        if verb == "start":
            queued.set()
        return future

    def execute_then_hold(self, vehicle, snapshot, verb):
        message = execute(self, vehicle, snapshot, verb)
        if verb == "arm":
            queued.wait(timeout=30)
        return message

    monkeypatch.setattr(FlightRunner, "command", command_then_signal)
    monkeypatch.setattr(FlightRunner, "_execute", execute_then_hold)


def start_sitl_session(env, base, page, grid: str, *, speedup: str = "25", **plan) -> None:
    """As a pilot: a saved plan over ``grid``, a SITL session started from /flights, ready."""
    add_grids(env, (grid, SMALL))
    body = {"grids": [grid], **plan}
    saved = env.client().post("/api/v1/plans", json=body, headers=env.headers("pilot")).json
    sign_in(page, base, "pilot")
    page.goto(f"{base}/flights?plan={saved['id']}")
    page.check("#start-simulate")
    page.fill("#start-speedup", speedup)
    page.click("#start-flight")
    page.wait_for_url("**/flights/*")
    page.wait_for_selector("#flight-state[data-state='ready']", timeout=30000)


def test_sitl_flight_from_the_page(live, page, monkeypatch) -> None:
    hold_arm_until_start_is_queued(monkeypatch)
    env, base = live
    start_sitl_session(env, base, page, "BF-S", altitude_m=40, name="browser flight")
    assert page.locator("#checks li.ok").count() >= 5
    # QA: START and RTL were enabled before the vehicle was armed ("vehicle not armed")
    assert enabled_commands(page) == ["arm", "cancel"]
    page.screenshot(path=str(ARTIFACTS / "pilot_04_ready.png"))
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.click("#cmd-arm")
    page.wait_for_selector("#flight-state[data-state='airborne']")
    # armed (the state says so before the telemetry does): no arming again, no cancel
    assert page.is_disabled("#cmd-cancel") and page.is_enabled("#cmd-land")
    assert page.is_disabled("#cmd-arm") and page.is_disabled("#cmd-resume")
    assert page.is_enabled("#cmd-start") and page.is_enabled("#cmd-rtl")
    page.click("#cmd-start")
    page.wait_for_selector("#flight-state[data-state='mission']")
    assert page.is_disabled("#cmd-start") and page.is_enabled("#cmd-rtl")  # started already
    # The trail only grows (a point per move of more than 0.5 m), so this cannot be missed the
    # way the live position can (the drone lands back at home); the timeout is the flight's.
    page.wait_for_function(
        "Number(document.getElementById('flight-map').dataset.trail) > 10", timeout=30000
    )
    page.screenshot(path=str(ARTIFACTS / "pilot_05_flying.png"))
    page.wait_for_function(
        "(() => { const p = document.getElementById('progress-text').dataset;"
        " return Number(p.waypoints) > 0 && p.reached === p.waypoints; })()",
        timeout=30000,
    )
    page.wait_for_selector("#flight-state[data-state='done']", timeout=30000)
    assert len(dialogs) == 2 and page.locator("#progress").evaluate("e => e.value") == 1
    assert page.locator("#messages li.error").all_inner_texts() == []
    assert int(page.locator("#t-photos").inner_text()) > 3
    # the finished flight's summary: every photo reported, none taken unheard
    assert page.is_visible("#flight-summary") and page.is_hidden("#g-photos-unreported")
    assert page.inner_text("#s-photos-taken") == page.inner_text("#t-photos")
    assert page.inner_text("#s-photos-unreported") == "0"
    # QA: the log was a server path; once landed the page offers its files as downloads
    sid = page.url.rstrip("/").rsplit("/", 1)[-1]
    page.wait_for_selector("#flight-log:not([hidden])")
    assert page.inner_text("#flight-log") == "飞行日志: flight.json, telemetry.csv, camera.csv"
    assert page.locator("#log-dir").count() == 0  # the server path: admins only
    with page.expect_download() as download:
        page.click("#log-files a >> text=flight.json")
    assert json.loads(download.value.path().read_text())["summary"]["landed"] is True
    # QA: the time before START (the climb, hovering) is told apart from the mission's
    assert page.is_visible("#s-mission-time") and page.is_visible("#s-before-mission")
    # the session's number, named as the flights table names it (not a photo flight's)
    assert page.inner_text("h1").startswith(f"飞行记录 #{sid} ")
    page.screenshot(path=str(ARTIFACTS / "pilot_06_landed.png"))


def test_the_sitl_world_is_chosen_from_a_list_that_says_what_covers_the_sortie(live, page) -> None:
    import numpy as np
    import rasterio
    from rasterio.transform import from_bounds
    from test_flights_page import write_world  # around SMALL

    env, base = live
    add_grids(env, ("BF-W", SMALL))
    body = {"grids": ["BF-W"], "altitude_m": 40, "name": "world choice"}
    saved = env.client().post("/api/v1/plans", json=body, headers=env.headers("pilot")).json
    write_world(env.data_dir / "worlds" / "bf_small.tif")
    far = env.data_dir / "worlds" / "bf_far.tif"
    with rasterio.open(
        far, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8",
        crs="EPSG:4326", transform=from_bounds(10.0, 10.0, 10.01, 10.01, 4, 4),
    ) as ds:  # fmt: skip
        ds.write(np.zeros((1, 4, 4), dtype="uint8"))
    sign_in(page, base, "pilot")
    page.goto(f"{base}/flights?plan={saved['id']}")
    assert page.is_hidden("#world-field")
    page.check("#start-simulate")
    assert page.is_visible("#start-world") and page.is_visible("#world-help")
    labels = page.locator("#start-world option").all_inner_texts()
    assert page.eval_on_selector("#start-world", "s => s.options[0].value") == ""  # none
    assert "bf_far.tif — " in " ".join(labels) and "bf_small.tif — " in " ".join(labels)
    covers = page.eval_on_selector_all(
        "#start-world option[data-name]", "os => os.map(o => [o.dataset.name, o.dataset.covers])"
    )
    assert ["bf_small.tif", "yes"] in covers and ["bf_far.tif", "no"] in covers
    page.select_option("#start-world", label=next(x for x in labels if x.startswith("bf_far")))
    page.click("#start-flight")
    page.wait_for_selector("#start-error:not([hidden])")
    assert "bf_far.tif" in page.inner_text("#start-error")  # refused: it misses the route
    page.screenshot(path=str(ARTIFACTS / "pilot_world_choice.png"))


def test_start_after_a_pause_in_the_climb_flies_the_mission(live, page) -> None:
    """QA: paused during the takeoff climb, "Start mission" stayed enabled but never worked
    (the server dropped it: "no longer taking off"). It is enabled and it works: the vehicle
    climbs on and flies the mission."""
    env, base = live
    start_sitl_session(env, base, page, "BC-S", speedup="5", altitude_m=60, name="climb")
    page.on("dialog", lambda d: d.accept())
    page.click("#cmd-arm")
    page.wait_for_function("Number(document.getElementById('t-alt').textContent) > 3")
    page.click("#cmd-pause")
    page.wait_for_selector("#flight-state[data-state='paused']")
    assert float(page.inner_text("#t-alt")) < 0.8 * 60  # held on the way up
    assert page.is_enabled("#cmd-start") and page.is_disabled("#cmd-resume")
    page.click("#cmd-start")
    page.wait_for_selector("#flight-state[data-state='mission']")
    assert page.is_disabled("#cmd-start")
    page.wait_for_function(
        "Number(document.getElementById('t-alt').textContent) > 50", timeout=30000
    )  # climbed on
    assert page.locator("#messages li.error").all_inner_texts() == []
    env.app.extensions["gridpatrol_flights"].shutdown()  # the rest of the flight is not needed


def enabled_commands(page) -> list[str]:
    """The flight page's command buttons that are enabled, by command."""
    return page.eval_on_selector_all(
        "#commands button", "bs => bs.filter(b => !b.disabled).map(b => b.dataset.command)"
    )


def test_refused_commands_are_shown_once_with_translated_states(live, page) -> None:
    """START before ARM and LAND on the ground, from a page whose buttons lag the vehicle (the
    page disables them; the server still refuses): one message each (not one from the stream
    and one from the command's answer); the session's state reads in the page's language."""
    env, base = live
    start_sitl_session(env, base, page, "BR-S")
    assert page.inner_text("#flight-state") == "准备解锁"
    assert page.is_disabled("#cmd-start") and page.is_disabled("#cmd-land")
    page.on("dialog", lambda d: d.accept())
    before = datetime.now(ZoneInfo("Asia/Shanghai"))
    for verb in ("start", "land"):
        with page.expect_response(lambda r: r.url.endswith("/commands")) as answer:
            # enabled and clicked in one step: the next telemetry would disable it again
            page.evaluate(
                "v => { const b = document.getElementById('cmd-' + v);"
                " b.disabled = false; b.click(); }",
                verb,
            )
        assert answer.value.status == 409
    page.wait_for_function("document.querySelectorAll('#messages li.error').length >= 2")
    page.wait_for_timeout(500)  # a duplicate would come from the answers, already received
    errors = page.locator("#messages li.error").all_inner_texts()  # newest first, timed
    assert len(errors) == 2
    # timed in the office's time zone (TIMEZONE, as the tables), whatever the browser's
    shanghai = {datetime.now(ZoneInfo("Asia/Shanghai")).hour, before.hour}
    assert int(errors[0].split(":")[0]) in shanghai, errors[0]
    assert errors[0].endswith(" 降落：飞行器未解锁")  # in the page's language
    assert errors[1].endswith(" 开始任务：飞行器未解锁")
    page.click("#cmd-cancel")
    page.wait_for_selector("#flight-state[data-state='cancelled']")
    assert page.inner_text("#flight-state") == "已取消"
    page.goto(f"{base}/flights")
    assert page.inner_text("#sessions tbody tr:first-child td[data-state]") == "已取消"


def test_a_failure_reads_the_time_it_happened_not_the_time_the_page_opened(live, page) -> None:
    """QA: a failed session's reason showed the time the page was opened (every reload a new
    one): the state event had no time of its own."""
    env, base = live
    add_grids(env, ("BT-S", SMALL))
    pilot = env.headers("pilot")
    body = {"grids": ["BT-S"], "name": "refused"}
    plan = env.client().post("/api/v1/plans", json=body, headers=pilot).json
    body = {"plan_id": plan["id"], "connection": "tcp:127.0.0.1:17431"}  # nobody listens
    started = env.client().post("/api/v1/flight-sessions", json=body, headers=pilot)
    assert started.status_code == 201, started.json
    sid = started.json["id"]
    runner = env.app.extensions["gridpatrol_flights"].get(sid)
    runner.join(30)
    assert runner.state == "failed"
    failed_at = [e.data["at"] for e in runner.events.after(0)[0] if e.kind == "state"][-1]
    when = datetime.fromtimestamp(failed_at, ZoneInfo("Asia/Shanghai")).strftime("%H:%M:%S")
    time.sleep(max(0.0, failed_at + 2.2 - time.time()))  # the page opens seconds later
    sign_in(page, base, "pilot")
    page.goto(f"{base}/flights/{sid}")
    page.wait_for_selector("#messages li.error")
    error = page.locator("#messages li.error").first.inner_text()
    assert error.startswith(when + " ") and "tcp:127.0.0.1:17431" in error, (when, error)


def test_dashboard_shows_the_figures(live, page) -> None:
    env, base = live
    seed_dashboard(env)
    sign_in(page, base, "supervisor")
    page.goto(f"{base}/dashboard?{JUNE_2024}")
    assert page.locator("#card-closure-rate .value").inner_text() == "50.0%"
    assert page.locator("#card-on-time-rate .value").inner_text() == "50.0%"
    assert page.locator("#card-overdue .value").inner_text() == "1"
    assert page.locator("#card-flights .value").inner_text() == "1"
    assert page.locator("#by-grid tr[data-key='D-A'] td").nth(1).inner_text() == "2"
    page.wait_for_selector("#dash-map[data-markers='1']")
    page.locator("#dash-map path.open-ticket").dispatch_event("mouseover")
    tooltip = page.wait_for_selector("#dash-map .leaflet-tooltip").inner_text()
    assert "秸秆焚烧" in tooltip and "straw_burning" not in tooltip, tooltip  # names, not codes
    assert page.locator("#chart-findings svg rect").count() == 1
    page.screenshot(path=str(ARTIFACTS / "pilot_07_dashboard.png"), full_page=True)
