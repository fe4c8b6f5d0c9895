"""Browser tests (Playwright + Debian Chromium): the review map shows the selected finding's photo
as a toggleable image overlay, and uploaded orthomosaics as layers in the layer control; the grid
maps show grid codes as text."""

from __future__ import annotations

import pytest
from conftest import ARTIFACTS, G1, add_grids, placed_finding, sign_in, upload_orthomosaic

pytestmark = [pytest.mark.slow]


def test_review_map_shows_photo_and_orthomosaic_overlays(live, page, tmp_path, rgb_tif):
    env, base = live
    folder = tmp_path / "photos"
    folder.mkdir()
    placed = placed_finding(env, folder, yaw_deg=20.0, target_m=(10.0, 5.0), score=0.7)
    finding_id, photo_id = placed["finding"], placed["photo"]
    uploaded = upload_orthomosaic(env.client(), env.headers("admin"), rgb_tif, name="RGB layer")
    assert uploaded.status_code == 201, uploaded.json

    sign_in(page, base, "supervisor")
    page.goto(f"{base}/review")
    page.wait_for_selector(f"#finding-{finding_id}.current")
    overlay = page.wait_for_selector("img.photo-overlay")
    assert f"/api/v1/photos/{photo_id}/overlay.png" in overlay.get_attribute("src")
    page.wait_for_function(
        "() => { const i = document.querySelector('img.photo-overlay'); "
        "return i && i.complete && i.naturalWidth > 0; }"
    )
    control = page.locator("#layers-map")
    page.wait_for_selector("#layers-map >> text=RGB layer")
    assert page.locator("img.ortho-overlay").count() == 0  # layers start hidden
    control.locator("label", has_text="RGB layer").locator("input").check()
    page.wait_for_selector("img.ortho-overlay")
    page.screenshot(path=str(ARTIFACTS / "imagery_review_overlays.png"))
    # the photo layer is toggleable
    control.locator("label", has_text="照片").locator("input").uncheck()
    page.wait_for_selector("img.photo-overlay", state="detached")


MARKUP_CODE = '<img id="xss-grid" src="x" onerror="window.xssGrid = 1">G'


@pytest.mark.parametrize(("path", "map_id"), [("/grids", "#map"), ("/plan", "#plan-map")])
def test_grid_code_with_markup_shows_as_text_in_the_map_tooltip(live, page, path, map_id):
    env, base = live
    add_grids(env, (MARKUP_CODE, G1))  # straight into the database, as older data or the CLI
    sign_in(page, base, "pilot")
    page.goto(f"{base}{path}")
    grid = page.wait_for_selector(f"{map_id} path.leaflet-interactive")
    grid.hover()
    tooltip = page.wait_for_selector(f"{map_id} .leaflet-tooltip")
    assert tooltip.inner_text() == MARKUP_CODE
    assert page.locator("#xss-grid").count() == 0
    assert page.evaluate("window.xssGrid") is None
