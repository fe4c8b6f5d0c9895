"""The JSON API: every route, authentication, CSRF, bad input (4xx, nothing stored), uploads."""

from __future__ import annotations

import io
import re

import pytest
from conftest import (
    G1,
    G2,
    add_grids,
    csrf_token,
    grid_geojson,
    login,
    make_findings,
    make_ticket,
    write_photo,
)

from groundstation.blueprints.api import bp as api_bp


def test_openapi_lists_every_api_route(env) -> None:
    doc = env.client().get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.")
    documented = {
        (path, method)
        for path, ops in doc["paths"].items()
        for method in ops
        if method != "parameters"
    }
    routes = set()
    for rule in env.app.url_map.iter_rules():
        if rule.endpoint.startswith(f"{api_bp.name}."):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes.add((path, method.lower()))
    assert routes == documented


def _fields_the_view_reads(view) -> set[str]:
    """The request fields a view reads: ``data.get("x")`` on its request data and
    ``request.files.getlist("x")``, found in its source."""
    import ast
    import inspect
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(view))))
    fields = set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner, method = node.func.value, node.func.attr
        reads_data = method == "get" and isinstance(owner, ast.Name) and owner.id == "data"
        reads_files = method == "getlist" and ast.unparse(owner) == "request.files"
        if (reads_data or reads_files) and node.args and isinstance(node.args[0], ast.Constant):
            fields.add(node.args[0].value)
    return fields


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/flights", "api.post_flight"),
        ("/photo-uploads", "api.photo_upload_create"),
        ("/photo-uploads/{upload_id}/photos", "api.photo_upload_add"),
        ("/photo-uploads/{upload_id}/finish", "api.photo_upload_finish"),
    ],
)
def test_photo_registration_documents_every_field_its_view_reads(env, path, endpoint) -> None:
    """QA: allow_unplaced and force were read by the views but missing from the document."""
    doc = env.client().get("/api/v1/openapi.json").json
    content = doc["paths"][path]["post"]["requestBody"]["content"]
    documented = {name for body in content.values() for name in body["schema"]["properties"]}
    read = _fields_the_view_reads(env.app.view_functions[endpoint])
    assert read and documented == read


ERROR = {"$ref": "#/components/responses/Error"}
REFUSED = {"$ref": "#/components/responses/RegistrationRefused"}


@pytest.mark.parametrize(
    ("path", "answers"),
    [
        ("/flights", {"409": REFUSED, "413": ERROR, "422": REFUSED}),
        ("/photo-uploads/{upload_id}/photos", {"409": ERROR, "413": ERROR, "507": ERROR}),
        ("/photo-uploads/{upload_id}/finish", {"409": ERROR, "422": REFUSED}),
    ],
)
def test_photo_registration_documents_its_answers(env, path, answers) -> None:
    doc = env.client().get("/api/v1/openapi.json").json
    responses = doc["paths"][path]["post"]["responses"]
    assert {status: responses.get(status) for status in answers} == answers


def test_a_registration_refusal_has_the_documented_fields(env) -> None:
    doc = env.client().get("/api/v1/openapi.json").json
    refused = doc["components"]["responses"]["RegistrationRefused"]
    schema = refused["content"]["application/json"]["schema"]
    no_gps = env.client().post(
        "/api/v1/flights",
        data={"photos": [(io.BytesIO(_jpeg_without_gps()), "a.jpg")]},
        headers=env.headers("pilot"),
        content_type="multipart/form-data",
    )
    assert no_gps.status_code == 422, no_gps.json
    assert set(schema["required"]) <= set(no_gps.json) <= set(schema["properties"])
    assert no_gps.json["confirm"] in schema["properties"]["confirm"]["enum"]


def _jpeg_without_gps() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/me",
        "/api/v1/tickets",
        "/api/v1/findings",
        "/api/v1/grids",
        "/api/v1/rules",
        "/api/v1/stats",
    ],
)
def test_routes_need_authentication(env, path: str) -> None:
    client = env.client()
    assert client.get(path).status_code == 401
    response = client.get(path, headers={"Authorization": "Bearer not-a-key"})
    assert response.status_code == 401 and "API key" in response.json["error"]


def test_me_and_reference_lists(env) -> None:
    client = env.client()
    me = client.get("/api/v1/me", headers={"X-API-Key": env.keys["department"]}).json
    assert me["username"] == "department" and me["role"] == "department"
    departments = client.get("/api/v1/departments", headers=env.headers("pilot")).json
    assert {d["code"] for d in departments} >= {
        "urban_management",
        "ecology_environment",
        "agriculture_fisheries",
    }
    rules = client.get("/api/v1/rules", headers=env.headers("pilot")).json
    assert {r["label"] for r in rules} == {
        "illegal_construction",
        "straw_burning",
        "illegal_fishing",
    }


def test_session_post_needs_csrf_token(env) -> None:
    client = env.client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        "/login",
        data={"username": "supervisor", "password": "supervisor-password", "csrf_token": token},
    )
    assert response.status_code == 302
    ticket_id = make_ticket(env, "new")
    url = f"/api/v1/tickets/{ticket_id}/transitions"
    refused = client.post(url, json={"action": "confirm"})
    assert refused.status_code == 400 and "CSRF" in refused.json["error"]
    stale = client.post(url, json={"action": "confirm"}, headers={"X-CSRFToken": token})
    assert stale.status_code == 400  # signing in starts a new session with a new token
    token = csrf_token(client.get("/tickets").get_data(as_text=True))
    assert client.get(f"/api/v1/tickets/{ticket_id}").json["state"] == "new"
    ok = client.post(url, json={"action": "confirm"}, headers={"X-CSRFToken": token})
    assert ok.status_code == 200 and ok.json["state"] == "confirmed"


def test_grids_import_list_detail(env) -> None:
    client = env.client()
    data = {"file": (io.BytesIO(grid_geojson(("API-G1", G1), ("API-G2", G2))), "grids.geojson")}
    assert (
        client.post(
            "/api/v1/grids",
            data=data,
            headers=env.headers("pilot"),
            content_type="multipart/form-data",
        ).status_code
        == 403
    )
    data = {"file": (io.BytesIO(grid_geojson(("API-G1", G1), ("API-G2", G2))), "grids.geojson")}
    response = client.post(
        "/api/v1/grids",
        data=data,
        headers=env.headers("supervisor"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.json
    assert response.json["created"] + response.json["updated"] == 2
    assert response.json["left_out"] == {}  # markers a layer holds besides are counted here
    codes = [g["code"] for g in client.get("/api/v1/grids", headers=env.headers("pilot")).json]
    assert {"API-G1", "API-G2"} <= set(codes)
    fc = client.get("/api/v1/grids.geojson", headers=env.headers("pilot")).json
    assert fc["type"] == "FeatureCollection"
    detail = client.get("/api/v1/grids/API-G1", headers=env.headers("pilot")).json
    assert detail["geometry"]["type"] == "Polygon"
    assert detail["bbox"] == pytest.approx([119.90, 32.40, 119.91, 32.41])
    assert client.get("/api/v1/grids/NOPE", headers=env.headers("pilot")).status_code == 404


@pytest.mark.parametrize(
    ("payload", "name", "message"),
    [
        (b"{not json", "grids.geojson", "grid file"),
        (b'{"type": "FeatureCollection", "features": []}', "grids.geojson", "grid"),
        (grid_geojson(("BAD", [[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]])), "bowtie.geojson", "BAD"),
        (b"hello", "grids.exe", "grid file"),
    ],
)
def test_bad_grid_files_are_400_and_store_nothing(env, payload, name, message) -> None:
    client = env.client()
    before = client.get("/api/v1/grids", headers=env.headers("admin")).json
    response = client.post(
        "/api/v1/grids",
        data={"file": (io.BytesIO(payload), name)},
        headers=env.headers("admin"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 400, response.json
    assert message in response.json["error"]
    assert client.get("/api/v1/grids", headers=env.headers("admin")).json == before


def test_findings_queue_filters_and_order(env) -> None:
    add_grids(env, ("Q-G1", G1))
    ids = make_findings(
        env,
        [
            ("straw_burning", 0.91, (119.905, 32.405)),
            ("straw_burning", 0.42, None),
            ("illegal_fishing", 0.67, None),
        ],
        grid_code="Q-G1",
    )
    client = env.client()
    page = client.get("/api/v1/findings?grid=Q-G1", headers=env.headers("pilot")).json
    assert [f["id"] for f in page["items"]] == [ids[1], ids[2], ids[0]]  # lowest score first
    assert page["total"] == 3
    burning = client.get(
        "/api/v1/findings?grid=Q-G1&label=straw_burning&min_score=0.5", headers=env.headers("pilot")
    ).json
    assert [f["id"] for f in burning["items"]] == [ids[0]]
    flight = burning["items"][0]["flight_id"]
    by_flight = client.get(
        f"/api/v1/findings?flight={flight}&order=-score", headers=env.headers("pilot")
    ).json
    assert [f["id"] for f in by_flight["items"]] == [ids[0], ids[2], ids[1]]
    for bad in (
        "label=cats",
        "min_score=high",
        "status=done",
        "order=random",
        "page=0",
        "page_size=100000",
    ):
        response = client.get(f"/api/v1/findings?{bad}", headers=env.headers("pilot"))
        assert response.status_code == 400, bad
    one = client.get(f"/api/v1/findings/{ids[0]}", headers=env.headers("pilot")).json
    assert one["grid"] == "Q-G1" and one["box_px"] == [10.0, 10.0, 30.0, 30.0]
    crop = client.get(one["crop_url"], headers=env.headers("pilot"))
    assert crop.status_code == 200 and crop.data[:2] == b"\xff\xd8"
    photo = client.get(one["photo_url"], headers=env.headers("pilot"))
    assert photo.status_code == 200
    assert client.get("/api/v1/findings/99999999", headers=env.headers("pilot")).status_code == 404


def test_review_confirm_opens_ticket_reject_keeps_false_positive(env) -> None:
    ids = make_findings(
        env,
        [
            ("illegal_construction", 0.8, (119.905, 32.405)),
            ("illegal_fishing", 0.3, None),
            ("straw_burning", 0.5, None),
        ],
    )
    client = env.client()
    assert (
        client.post(
            f"/api/v1/findings/{ids[0]}/review",
            json={"decision": "confirm"},
            headers=env.headers("pilot"),
        ).status_code
        == 403
    )
    confirmed = client.post(
        f"/api/v1/findings/{ids[0]}/review",
        json={"decision": "confirm"},
        headers=env.headers("supervisor"),
    ).json
    assert confirmed["review_status"] == "confirmed" and confirmed["ticket_id"]
    ticket = client.get(
        f"/api/v1/tickets/{confirmed['ticket_id']}", headers=env.headers("admin")
    ).json
    assert ticket["state"] == "confirmed" and ticket["finding_id"] == ids[0]
    assert [e["action"] for e in ticket["events"]] == ["open", "confirm"]
    rejected = client.post(
        f"/api/v1/findings/{ids[1]}/review",
        json={"decision": "reject", "note": "a moored boat"},
        headers=env.headers("supervisor"),
    ).json
    assert rejected["review_status"] == "rejected" and rejected["reviewed_label"] == "background"
    # the false alarm's case is filed as rejected, in the class it was reported as
    case = client.get(f"/api/v1/tickets/{rejected['ticket_id']}", headers=env.headers("admin")).json
    assert (case["state"], case["label"]) == ("rejected", "illegal_fishing")
    assert [(e["action"], e["reason"]) for e in case["events"]] == [
        ("open", ""),
        ("reject", "a moored boat"),
    ]
    again = client.post(
        f"/api/v1/findings/{ids[1]}/review",
        json={"decision": "confirm"},
        headers=env.headers("supervisor"),
    )
    assert again.status_code == 409
    # a rejection made in error is undone on its case: reopening confirms the finding
    reopened = client.post(
        f"/api/v1/tickets/{rejected['ticket_id']}/transitions",
        json={"action": "reopen", "reason": "a net after all", "expected_state": "rejected"},
        headers=env.headers("supervisor"),
    )
    assert reopened.status_code == 200, reopened.json
    finding = client.get(f"/api/v1/findings/{ids[1]}", headers=env.headers("supervisor")).json
    assert (finding["review_status"], finding["reviewed_label"]) == (
        "confirmed",
        "illegal_fishing",
    )
    moved = client.post(
        f"/api/v1/findings/{ids[2]}/review",
        json={"decision": "reclassify", "label": "illegal_construction"},
        headers=env.headers("admin"),
    ).json
    assert moved["reviewed_label"] == "illegal_construction" and moved["ticket_id"]
    ticket = client.get(f"/api/v1/tickets/{moved['ticket_id']}", headers=env.headers("admin")).json
    assert ticket["label"] == "illegal_construction"
    bad = client.post(
        f"/api/v1/findings/{ids[2]}/review",
        json={"decision": "reclassify", "label": "ufo"},
        headers=env.headers("admin"),
    )
    assert bad.status_code == 400


def test_bulk_review_is_all_or_nothing(env) -> None:
    ids = make_findings(env, [("straw_burning", 0.6, None), ("straw_burning", 0.7, None)])
    client = env.client()
    response = client.post(
        "/api/v1/findings/review",
        json={"ids": [ids[0], 99999999], "decision": "reject"},
        headers=env.headers("supervisor"),
    )
    assert response.status_code == 404 and "99999999" in response.json["error"]
    assert (
        client.get(f"/api/v1/findings/{ids[0]}", headers=env.headers("pilot")).json["review_status"]
        == "pending"
    )
    for bad in (
        {"ids": [], "decision": "reject"},
        {"ids": "1,2", "decision": "reject"},
        {"ids": ["x"], "decision": "reject"},
        {"ids": ids, "decision": "maybe"},
    ):
        assert (
            client.post(
                "/api/v1/findings/review", json=bad, headers=env.headers("supervisor")
            ).status_code
            == 400
        )
    response = client.post(
        "/api/v1/findings/review",
        json={"ids": ids, "decision": "confirm"},
        headers=env.headers("supervisor"),
    )
    assert response.status_code == 200
    assert all(item["ticket_id"] for item in response.json["items"])


def test_a_ticket_filed_through_the_api_lands_in_its_grid(env) -> None:
    add_grids(env, ("API-G1", [[101.0, 41.0], [101.01, 41.0], [101.01, 41.01], [101.0, 41.01]]))
    client = env.client()
    inside = client.post(
        "/api/v1/tickets",
        json={"label": "straw_burning", "lat": 41.005, "lon": 101.005},
        headers=env.headers("supervisor"),
    )
    assert inside.status_code == 201 and inside.json["grid"] == "API-G1"
    outside = client.post(
        "/api/v1/tickets",
        json={"label": "straw_burning", "lat": 41.5, "lon": 101.5},
        headers=env.headers("supervisor"),
    )
    assert outside.status_code == 201 and outside.json["grid"] is None
    half = client.post(
        "/api/v1/tickets",
        json={"label": "straw_burning", "lat": 41.005},
        headers=env.headers("supervisor"),
    )
    assert half.status_code == 400 and "lat and lon" in half.json["error"]


def test_over_long_text_is_refused_not_cut(env) -> None:
    ticket_id = make_ticket(env, "new")
    client = env.client()
    refused = client.post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        json={"action": "reject", "reason": "x" * 4001},
        headers=env.headers("supervisor"),
    )
    assert refused.status_code == 400
    assert "4001 characters" in refused.json["error"] and "4000" in refused.json["error"]
    detail = client.get(f"/api/v1/tickets/{ticket_id}", headers=env.headers("supervisor")).json
    assert detail["state"] == "new"  # nothing changed
    kept = client.post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        json={"action": "reject", "reason": "y" * 4000},
        headers=env.headers("supervisor"),
    )
    assert kept.status_code == 200 and kept.json["events"][-1]["reason"] == "y" * 4000


def test_ticket_classes_in_the_document_are_the_ones_a_ticket_may_have(env) -> None:
    client = env.client()
    doc = client.get("/api/v1/openapi.json").json
    body = doc["paths"]["/tickets"]["post"]["requestBody"]["content"]["application/json"]
    offered = body["schema"]["properties"]["label"]["enum"]
    assert "background" not in offered
    for label in offered:
        created = client.post(
            "/api/v1/tickets", json={"label": label}, headers=env.headers("supervisor")
        )
        assert created.status_code == 201, created.json


def test_tickets_filed_with_an_api_key_are_recorded_as_from_the_api(env) -> None:
    client = env.client()
    by_key = client.post(
        "/api/v1/tickets", json={"label": "straw_burning"}, headers=env.headers("supervisor")
    )
    assert by_key.status_code == 201 and by_key.json["source"] == "api"
    token = login(client, "supervisor")  # a page of the station, signed in
    by_page = client.post(
        "/api/v1/tickets", json={"label": "straw_burning"}, headers={"X-CSRFToken": token}
    )
    assert by_page.status_code == 201 and by_page.json["source"] == "ui"


def test_tickets_list_create_and_department_view(env) -> None:
    client = env.client()
    created = client.post(
        "/api/v1/tickets",
        json={"label": "illegal_fishing", "lat": 32.4, "lon": 119.9, "description": "nets"},
        headers=env.headers("supervisor"),
    )
    assert created.status_code == 201 and created.json["state"] == "new"
    for bad in (
        {"label": "background"},
        {"label": "illegal_fishing", "lat": 132.0, "lon": 1},
        {"label": "illegal_fishing", "lat": "north"},
    ):
        assert (
            client.post("/api/v1/tickets", json=bad, headers=env.headers("supervisor")).status_code
            == 400
        )
    assert (
        client.post(
            "/api/v1/tickets", json={"label": "illegal_fishing"}, headers=env.headers("pilot")
        ).status_code
        == 403
    )
    mine = make_ticket(env, "dispatched", department="urban_management")
    theirs = make_ticket(env, "dispatched", department="ecology_environment")
    seen = client.get("/api/v1/tickets?page_size=500", headers=env.headers("department")).json
    ids = {t["id"] for t in seen["items"]}
    assert mine in ids and theirs not in ids and created.json["id"] not in ids
    assert (
        client.get(f"/api/v1/tickets/{theirs}", headers=env.headers("department")).status_code
        == 404
    )
    mine_detail = client.get(f"/api/v1/tickets/{mine}", headers=env.headers("department")).json
    assert mine_detail["actions"] == ["return", "start"]
    filtered = client.get(
        "/api/v1/tickets?state=dispatched&label=illegal_construction", headers=env.headers("admin")
    ).json
    assert all(t["state"] == "dispatched" for t in filtered["items"])
    assert (
        client.get("/api/v1/tickets?state=flying", headers=env.headers("admin")).status_code == 400
    )
    assert client.get("/api/v1/tickets/99999999", headers=env.headers("admin")).status_code == 404


def test_resolve_with_evidence_photo_and_bad_uploads(env, tmp_path) -> None:
    ticket_id = make_ticket(env, "in_progress")
    client = env.client()
    url = f"/api/v1/tickets/{ticket_id}/transitions"
    not_image = {
        "action": "resolve",
        "note": "done",
        "photo": (io.BytesIO(b"MZ\x90\x00 not an image"), "evil.jpg"),
    }
    response = client.post(
        url, data=not_image, headers=env.headers("department"), content_type="multipart/form-data"
    )
    assert response.status_code == 400 and "not an image" in response.json["error"]
    assert (
        client.get(f"/api/v1/tickets/{ticket_id}", headers=env.headers("admin")).json["state"]
        == "in_progress"
    )
    photo = write_photo(tmp_path / "after.jpg", (120, 120, 120))
    good = {
        "action": "resolve",
        "note": "demolished",
        "photo": (photo.open("rb"), "../../../etc/passwd.jpg"),
    }
    response = client.post(
        url, data=good, headers=env.headers("department"), content_type="multipart/form-data"
    )
    assert response.status_code == 200, response.json
    evidence = response.json["evidence"]
    stored = [e["photo"] for e in evidence if "photo" in e]
    assert len(stored) == 1 and ".." not in stored[0] and stored[0].startswith("evidence/")
    assert (env.data_dir / stored[0]).is_file()


def test_upload_size_limit_is_413(env) -> None:
    client = env.client()
    big = io.BytesIO(b"\xff\xd8" + b"0" * (9 * 2**20))
    response = client.post(
        "/api/v1/flights",
        data={"photos": (big, "big.jpg")},
        headers=env.headers("pilot"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 413 and "too large" in response.json["error"]


def test_flight_upload_rejects_non_images_and_outside_paths(env, tmp_path) -> None:
    client = env.client()
    before = client.get("/api/v1/flights", headers=env.headers("pilot")).json
    response = client.post(
        "/api/v1/flights",
        data={"photos": (io.BytesIO(b"GIF89a..."), "a.jpg")},
        headers=env.headers("pilot"),
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    response = client.post(
        "/api/v1/flights", json={"source": str(tmp_path)}, headers=env.headers("pilot")
    )
    assert response.status_code == 400 and "outside" in response.json["error"]
    response = client.post(
        "/api/v1/flights",
        json={"source": str(env.data_dir / ".." / "..")},
        headers=env.headers("pilot"),
    )
    assert response.status_code == 400
    assert client.post("/api/v1/flights", json={}, headers=env.headers("pilot")).status_code == 400
    assert (
        client.post(
            "/api/v1/flights", json={"source": str(env.data_dir)}, headers=env.headers("department")
        ).status_code
        == 403
    )
    assert client.get("/api/v1/flights", headers=env.headers("pilot")).json == before


def test_stats_and_notifications_roles(env) -> None:
    client = env.client()
    stats = client.get("/api/v1/stats", headers=env.headers("supervisor")).json
    assert stats["total"] == sum(stats["by_state"].values())
    for who in ("pilot", "department"):  # the dashboard's readers only
        assert client.get("/api/v1/stats", headers=env.headers(who)).status_code == 403
    assert client.get("/api/v1/notifications", headers=env.headers("pilot")).status_code == 403
    assert client.post("/api/v1/escalations", headers=env.headers("department")).status_code == 403
    assert client.get("/api/v1/jobs/99999999", headers=env.headers("pilot")).status_code == 404
    assert client.get("/api/v1/flights/99999999", headers=env.headers("pilot")).status_code == 404


def test_department_staff_may_not_read_jobs(env) -> None:
    """QA F4: a job's result counts the whole flight's findings, most of them other
    departments' cases; department staff start no jobs and no page of theirs reads one."""
    client = env.client()
    queued = client.post("/api/v1/escalations", headers=env.headers("supervisor"))
    job_id = queued.json["job_id"]
    for who in ("pilot", "supervisor", "admin"):
        got = client.get(f"/api/v1/jobs/{job_id}", headers=env.headers(who))
        assert got.status_code == 200 and got.json["kind"] == "escalate"
    refused = client.get(f"/api/v1/jobs/{job_id}?lang=en", headers=env.headers("department"))
    assert refused.status_code == 403
    assert refused.json == {
        "error": "role 'department' may not use /api/v1/jobs/"
        f"{job_id} (needs: pilot, supervisor, admin)"
    }
    doc = client.get("/api/v1/openapi.json").json
    assert doc["paths"]["/jobs/{job_id}"]["get"]["description"] == (
        "Roles: pilot, supervisor, admin."
    )


NO_LIMIT = (
    "unknown query parameter 'limit'; this address takes state, label, grid, department_id, "
    "overdue, escalated, q, order, page, page_size, per_page, lang"
)


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/api/v1/tickets?limit=-1", NO_LIMIT),
        ("/api/v1/tickets?limit=abc", NO_LIMIT),
        ("/api/v1/tickets?page_size=-1", "page_size -1 must be at least 1"),
        ("/api/v1/tickets?page_size=abc", "page_size 'abc' is not an integer"),
        (
            "/api/v1/findings?score_min=0.5&limit=3",
            "unknown query parameters 'score_min', 'limit'; this address takes status, label, "
            "min_score, max_score, grid, flight, primary, order, page, page_size, lang",
        ),
        ("/api/v1/grids?code=X", "unknown query parameter 'code'; this address takes lang"),
    ],
)
def test_a_query_parameter_the_api_does_not_take_is_a_400_naming_it(env, path, error) -> None:
    """The QA case: ``?limit=-1`` and ``?limit=abc`` returned 200 (the parameter was ignored)
    while ``?primary=maybe`` was a 400: every parameter is read, or refused."""
    response = env.client().get(path, headers=env.headers("admin"))
    assert response.status_code == 400 and response.json == {"error": error}


def test_the_language_parameter_is_taken_everywhere(env) -> None:
    """``lang`` picks the language of the answer on every address, and is never refused."""
    response = env.client().get("/api/v1/tickets?lang=zh&limit=1", headers=env.headers("admin"))
    assert response.status_code == 400
    assert "'limit'" in response.json["error"] and "'lang'" not in response.json["error"]
    grids = env.client().get("/api/v1/grids?lang=en", headers=env.headers("admin"))
    assert grids.status_code == 200
