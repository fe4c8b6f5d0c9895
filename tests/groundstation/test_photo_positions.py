"""Photo flights without GPS positions, photos not of the camera's size, and a folder registered
twice: registration tells the user (API fields, warnings, the flights page) or refuses until
they confirm, and a refusal stores nothing."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from conftest import login, write_photo
from sqlalchemy import func, select
from test_photo_upload import BLUE, RED, add, create, detail, finish, jpeg

from groundstation.models import Flight

IMAGERY = Path("/work/shared/data/imagery")


def _flights(env) -> int:
    with env.storage().session() as session:
        return session.scalar(select(func.count(Flight.id))) or 0


def _dataset_photos(n: int) -> list[Path]:
    """Photos from the shared imagery data set: real pictures with no EXIF GPS."""
    photos = sorted(IMAGERY.glob("*/*.jpg"))[:n]
    if len(photos) < n:
        pytest.skip("the shared imagery data set is not here")
    return photos


def _flight_row(env, flight_id: int) -> str:
    """The flight's row on the flights page, as a signed-in pilot reading English sees it."""
    client = env.client()
    login(client, "pilot")
    client.get("/lang/en")
    html = client.get(f"/flights?flight={flight_id}").get_data(as_text=True)
    row = html[html.index(f'id="flight-{flight_id}"') :]
    return row[: row.index("</tr>")]


def _post(env, files: list[tuple[bytes, str]], **fields):
    return env.client().post(
        "/api/v1/flights",
        data={"photos": [(io.BytesIO(b), name) for b, name in files], **fields},
        headers=env.headers("pilot"),
        content_type="multipart/form-data",
    )


def test_api_refuses_a_flight_with_no_positions_until_confirmed(env) -> None:
    photos = [(p.read_bytes(), p.name) for p in _dataset_photos(2)]
    before = _flights(env)
    refused = _post(env, photos, name="no gps")
    assert refused.status_code == 422, refused.json
    assert "none of the 2 photos has a GPS position" in refused.json["error"]
    assert refused.json["confirm"] == "allow_unplaced" and refused.json["photos_unplaced"] == 2
    assert _flights(env) == before
    assert not any((env.data_dir / "photos").glob("upload_*/" + photos[0][1]))  # not kept

    ok = _post(env, photos, name="no gps", allow_unplaced="1")
    assert ok.status_code == 202, ok.json
    assert ok.json["photos"] == 2 and ok.json["photos_unplaced"] == 2
    assert ok.json["warnings"][0] == (
        "2 of 2 photos have no GPS position: their findings cannot be placed on the map or in "
        "a grid"
    )
    # the data set's 150×150 pictures are not phantom4pro's 5472×3648: GSD unknown, said so
    assert ok.json["camera_size_mismatch"] == {
        "image_size": [150, 150],
        "photos": 2,
        "camera_size": [5472, 3648],
    }
    assert "150×150 pixels, not the 5472×3648 of camera phantom4pro" in ok.json["warnings"][1]
    assert "(GSD) is unknown" in ok.json["warnings"][1]
    assert _flights(env) == before + 1


def test_a_flight_partly_without_positions_is_registered_with_a_warning(env) -> None:
    response = _post(env, [(jpeg(RED), "a.jpg"), (jpeg(BLUE, lonlat=None), "b.jpg")])
    assert response.status_code == 202, response.json
    assert response.json["photos_unplaced"] == 1
    assert response.json["warnings"][0].startswith("1 of 2 photos has no GPS position")
    flight_id = response.json["flight_id"]
    assert "1 of 2 photos has no GPS position" in _flight_row(env, flight_id)  # one photo: "has"


def test_a_geotagged_flight_has_no_warnings(env) -> None:
    response = _post(env, [(jpeg(RED), "a.jpg")], camera="phantom4pro")
    assert response.status_code == 202, response.json
    assert response.json["photos_unplaced"] == 0
    assert not any("GPS" in w for w in response.json["warnings"])
    flight_id = response.json["flight_id"]
    assert "no GPS position" not in _flight_row(env, flight_id)


def test_staged_upload_without_positions_asks_before_finishing(env) -> None:
    upload_id = create(env).json["id"]
    for name, colour in (("a.jpg", RED), ("b.jpg", BLUE)):  # two photos, two contents
        assert add(env, upload_id, name, jpeg(colour, lonlat=None)).status_code == 201
    before = _flights(env)
    refused = finish(env, upload_id, photos=2)
    assert refused.status_code == 422, refused.json
    assert refused.json["confirm"] == "allow_unplaced"
    assert "none of the 2 photos has a GPS position" in refused.json["error"]
    assert _flights(env) == before
    assert len(detail(env, upload_id).json["files"]) == 2  # the photos stay for another try
    done = finish(env, upload_id, photos=2, allow_unplaced=True)
    assert done.status_code == 202, done.json
    assert done.json["photos_unplaced"] == 2 and done.json["photos"] == 2
    assert done.json["warnings"][0].startswith("2 of 2 photos have no GPS position")
    assert _flights(env) == before + 1


def test_bad_confirmation_value_is_refused(env) -> None:
    response = _post(env, [(jpeg(RED), "a.jpg")], allow_unplaced="maybe")
    assert response.status_code == 400
    assert "allow_unplaced 'maybe': 1 (yes) or 0 (no)" in response.json["error"]


def test_the_same_server_folder_twice_is_refused_unless_forced(env, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "root" / "flight"
    write_photo(folder / "a.jpg", RED)
    # a size of its own: other tests here store their photos, and stored photos are refused
    write_photo(folder / "b.jpg", BLUE, size=(70, 52))
    monkeypatch.setitem(env.app.config, "PHOTO_ROOTS", str(tmp_path / "root"))
    client, headers = env.client(), env.headers("pilot")
    body = {"source": str(folder), "allow_unplaced": True}
    first = client.post("/api/v1/flights", json=body, headers=headers)
    assert first.status_code == 202, first.json
    before = _flights(env)
    again = client.post("/api/v1/flights", json=body, headers=headers)
    assert again.status_code == 409
    flight_id = first.json["flight_id"]
    assert f"already registered as flight {flight_id}" in again.json["error"]
    assert again.json["existing_flights"] == [flight_id] and again.json["confirm"] == "force"
    assert _flights(env) == before
    forced = client.post("/api/v1/flights", json={**body, "force": 1}, headers=headers)
    assert forced.status_code == 202 and forced.json["flight_id"] != flight_id


def test_flight_session_page_tells_of_photos_without_positions(env) -> None:
    from groundstation.models import FlightSession

    response = _post(env, [(jpeg(RED), "a.jpg"), (jpeg(BLUE, lonlat=None), "b.jpg")])
    flight_id = response.json["flight_id"]
    with env.storage().session() as session:
        row = FlightSession(connection="sitl", simulated=True, state="done", flight_id=flight_id)
        session.add(row)
        session.commit()
        session_id = row.id
    client = env.client()
    login(client, "pilot")
    client.get("/lang/en")
    html = client.get(f"/flights/{session_id}").get_data(as_text=True)
    assert 'id="unplaced-photos"' in html
    assert "1 of 2 photos has no GPS position" in html


def test_a_non_image_photo_is_logged_as_such_not_as_a_missing_file(env, tmp_path, caplog) -> None:
    from groundstation.ingest import register_photos

    folder = tmp_path / "junk"
    write_photo(folder / "a.jpg", RED)
    (folder / "b.jpg").write_bytes(b"hello\n")
    with caplog.at_level("WARNING", logger="gridpatrol.ingest"):
        registration = register_photos(env.storage(), folder, allow_unplaced=True)
    assert registration.photos == 2 and registration.unplaced == 2
    logged = [r.getMessage() for r in caplog.records if "b.jpg" in r.getMessage()]
    assert logged == [
        f"photo {folder / 'b.jpg'}: geotag unreadable "
        f"(photo {folder / 'b.jpg'} is not a JPEG, TIFF or PNG image)"
    ]


def test_the_upload_dialog_texts_say_what_happens_in_the_users_language(env) -> None:
    """The page's texts for photos without positions: words, never the API's allow_unplaced,
    in either language."""
    import json

    client = env.client()
    login(client, "pilot")

    def texts() -> dict:
        html = client.get("/flights").get_data(as_text=True)
        return json.loads(html.split('<script id="upload-text" type="application/json">')[1]
                          .split("</script>")[0])  # fmt: skip

    client.get("/lang/en")
    english = texts()
    assert english["unplaced"].startswith("None of these photos has a GPS position")
    assert english["confirm_unplaced"] == "Register these photos as a flight anyway?"
    assert "stay in this upload" in english["kept_unplaced"]
    client.get("/lang/zh")
    chinese = texts()
    for key in ("unplaced", "confirm_unplaced", "kept_unplaced"):
        assert "allow_unplaced" not in english[key] + chinese[key]


@pytest.mark.slow
def test_upload_page_asks_before_registering_photos_without_positions(live, page, tmp_path) -> None:
    from conftest import sign_in

    env, base = live
    folder = tmp_path / "sd"
    folder.mkdir()
    for name, colour in (("IMG_1.jpg", RED), ("IMG_2.jpg", BLUE)):  # two contents
        (folder / name).write_bytes(jpeg(colour, lonlat=None))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    dialogs: list[str] = []

    def answer(dialog, accept: bool) -> None:
        dialogs.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    sign_in(page, base, "pilot")
    page.goto(f"{base}/lang/en?next=/flights")
    page.once("dialog", lambda d: answer(d, False))
    page.set_input_files("#upload-files", sorted(folder.iterdir()))
    page.click("#upload-start")
    page.wait_for_function("document.getElementById('photo-upload').dataset.busy === ''")
    # in words, not the API's field (QA: the dialog quoted "allow_unplaced=1")
    assert dialogs[0] == (
        "None of these photos has a GPS position: they are classified as usual, but their "
        "findings cannot be placed on the map or in a grid and are listed for review without "
        "a place.\n\nRegister these photos as a flight anyway?"
    )
    assert "stay in this upload" in page.inner_text("#upload-status")
    assert "allow_unplaced" not in page.inner_text("#upload-status")
    assert page.is_hidden("#upload-done") and page.is_visible("#upload-finish")
    assert _flights(env) == 0
    page.once("dialog", lambda d: answer(d, True))
    page.click("#upload-finish")
    page.wait_for_selector("#upload-done:not([hidden])")
    assert "2 of 2 photos have no GPS position" in page.inner_text("#upload-done-warnings")
    assert _flights(env) == 1 and errors == []
