"""Browser test (Playwright + Debian Chromium): the review map shows the selected finding's photo
as a toggleable image overlay, and uploaded orthomosaics as layers in the layer control."""

from __future__ import annotations

import io

import pytest
from conftest import sitl_photo
from test_browser import ARTIFACTS, live, page, sign_in  # noqa: F401  (fixtures)

from gis.camera import PRESETS
from groundstation.ingest import register_flight
from groundstation.models import Finding, Flight

pytestmark = [pytest.mark.slow]


def test_review_map_shows_photo_and_orthomosaic_overlays(live, page, tmp_path, shared_data):  # noqa: F811
    env, base = live
    folder = tmp_path / "photos"
    folder.mkdir()
    target = sitl_photo(
        folder / "a.jpg",
        PRESETS["phantom4pro"],
        long_px=1280,
        height_m=80.0,
        yaw_deg=20.0,
        target_m=(10.0, 5.0),
        ground_m=20.0,
    )
    flight_id = register_flight(env.storage(), folder, camera="phantom4pro")
    with env.storage().session() as session:
        photo = session.get(Flight, flight_id).photos[0]
        finding = Finding(
            photo_id=photo.id,
            flight_id=flight_id,
            label="illegal_construction",
            score=0.7,
            box_px=[0.0, 0.0, 10.0, 10.0],
            lon=target[0],
            lat=target[1],
        )
        session.add(finding)
        session.commit()
        finding_id = finding.id
    tif = shared_data / "geotiff" / "rasterio_RGB.byte.tif"
    uploaded = env.client().post(
        "/api/v1/orthomosaics",
        data={"file": (io.BytesIO(tif.read_bytes()), tif.name), "name": "RGB layer"},
        headers=env.headers("admin"),
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 201, uploaded.json

    sign_in(page, base, "supervisor")
    page.goto(f"{base}/review")
    page.wait_for_selector(f"#finding-{finding_id}.current")
    overlay = page.wait_for_selector("img.photo-overlay")
    assert f"/api/v1/photos/{photo.id}/overlay.png" in overlay.get_attribute("src")
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
