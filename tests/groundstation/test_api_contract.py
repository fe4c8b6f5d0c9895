"""The API's contract: unknown fields and query parameters are refused (400 naming them) on
every address that changes something, the OpenAPI document lists the statuses each operation's
code answers with, Open311's text follows the reader's language, ``postgres://`` URLs work, grid
ids match in any case, and a disabled user's API key is told so."""

from __future__ import annotations

import ast
import inspect
import io
import re
import textwrap
import types
import uuid

import pytest
from conftest import G1, PG_URL, add_grids, login, make_findings, make_ticket, placed_finding

from groundstation.errors import GroundStationError
from groundstation.web import error_status

API = "/api/v1"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def _ticket_total(env) -> int:
    got = env.client().get(f"{API}/tickets?page_size=1", headers=env.headers("admin"))
    return got.json["total"]


def _ticket_state(env, ticket_id: int) -> str:
    got = env.client().get(f"{API}/tickets/{ticket_id}", headers=env.headers("admin"))
    return got.json["state"]


# -- 1. unknown body fields and query parameters ----------------------------------------------


def test_a_misspelt_ticket_field_is_refused_not_dropped(env) -> None:
    before = _ticket_total(env)
    response = env.client().post(
        f"{API}/tickets",
        json={"label": "illegal_construction", "descripton": "shed by the river"},
        headers=env.headers("supervisor"),
    )
    assert response.status_code == 400
    error = response.json["error"]
    assert error.startswith("unknown field 'descripton'; this address takes")
    assert "description" in error
    assert _ticket_total(env) == before


def test_a_ticket_with_its_fields_is_still_opened(env) -> None:
    response = env.client().post(
        f"{API}/tickets",
        json={"label": "illegal_construction", "description": "shed by the river"},
        headers=env.headers("supervisor"),
    )
    assert response.status_code == 201
    assert response.json["description"] == "shed by the river"


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/tickets?foo=1"),
        ("post", "/tickets/{ticket}/transitions?foo=1"),
        ("post", "/escalations?foo=1"),
        ("post", "/photo-uploads?foo=1"),
        ("delete", "/orthomosaics/999999?foo=1"),
    ],
)
def test_unknown_query_parameters_are_refused(env, method: str, url: str) -> None:
    ticket = make_ticket(env, "new")
    body = {"action": "confirm"} if "transitions" in url else None
    if url.startswith("/tickets?"):
        body = {"label": "illegal_construction"}
    response = getattr(env.client(), method)(
        API + url.format(ticket=ticket), json=body, headers=env.headers("admin")
    )
    assert response.status_code == 400, response.json
    assert response.json["error"].startswith("unknown query parameter 'foo'")
    assert _ticket_state(env, ticket) == "new"  # the transition was not made


def test_a_transition_field_no_action_takes_is_refused_even_empty(env) -> None:
    ticket = make_ticket(env, "new")
    response = env.client().post(
        f"{API}/tickets/{ticket}/transitions",
        json={"action": "confirm", "departement_id": ""},
        headers=env.headers("supervisor"),
    )
    assert response.status_code == 400
    assert response.json["error"].startswith("unknown field 'departement_id'")
    assert _ticket_state(env, ticket) == "new"


def test_escalations_take_no_body_fields(env) -> None:
    client, headers = env.client(), env.headers("supervisor")
    refused = client.post(f"{API}/escalations", json={"x": 1}, headers=headers)
    assert refused.status_code == 400
    assert refused.json["error"] == "unknown field 'x'; this address takes no fields"
    assert client.post(f"{API}/escalations", headers=headers).status_code == 202


def test_photo_upload_with_a_misspelt_camera_is_refused(env) -> None:
    client, headers = env.client(), env.headers("pilot")
    before = len(client.get(f"{API}/photo-uploads", headers=headers).json)
    response = client.post(
        f"{API}/photo-uploads", json={"nme": "x", "camra": "mavic3e"}, headers=headers
    )
    assert response.status_code == 400
    error = response.json["error"]
    assert error.startswith("unknown fields ") and "'nme'" in error and "'camra'" in error
    assert error.endswith("this address takes name, camera")
    assert len(client.get(f"{API}/photo-uploads", headers=headers).json) == before
    made = client.post(f"{API}/photo-uploads", json={"camera": "mavic3e"}, headers=headers)
    assert made.status_code == 201 and made.json["camera"]["name"] == "mavic3e"


#: Other addresses that change something, each with a body holding one unknown field.
JSON_BODIES = [
    ("put", "/rules/illegal_construction", {"deadline_hourz": 5}, "admin"),
    ("post", "/findings/{finding}/review", {"decision": "confirm", "notes": "x"}, "supervisor"),
    ("post", "/findings/review", {"ids": ["{finding}"], "decison": "confirm"}, "supervisor"),
    ("post", "/plans/preview", {"grids": ["G1"], "altitude": 80}, "pilot"),
    ("post", "/plans", {"grids": ["G1"], "title": "x"}, "pilot"),
    ("post", "/plans/999999/upload", {"connection": "tcp:127.0.0.1:1", "sorti": 1}, "pilot"),
    ("post", "/flight-sessions", {"plan_id": 1, "simulated": 1}, "pilot"),
    ("post", "/flight-sessions/999999/commands", {"cmd": "arm"}, "pilot"),
]


@pytest.mark.parametrize(("method", "url", "body", "who"), JSON_BODIES)
def test_other_json_bodies_refuse_unknown_fields(env, method, url, body, who) -> None:
    (finding,) = make_findings(env, [("illegal_construction", 0.9, None)])
    body = {k: [finding] if v == ["{finding}"] else v for k, v in body.items()}
    response = getattr(env.client(), method)(
        API + url.format(finding=finding), json=body, headers=env.headers(who)
    )
    assert response.status_code == 400, response.json
    unknown = next(
        k for k in body if k not in ("ids", "grids", "decision", "plan_id", "connection")
    )
    assert response.json["error"].startswith(f"unknown field {unknown!r}"), response.json
    got = env.client().get(f"{API}/findings/{finding}", headers=env.headers("admin")).json
    assert got["review_status"] == "pending"  # nothing reviewed


@pytest.mark.parametrize("url", ["/grids", "/no-fly", "/orthomosaics"])
def test_multipart_uploads_refuse_unknown_fields(env, url: str) -> None:
    data = {"file": (io.BytesIO(b"{}"), "layer.geojson"), "nmae": "x"}
    response = env.client().post(
        API + url, data=data, headers=env.headers("admin"), content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert response.json["error"].startswith("unknown field 'nmae'")


def test_the_ticket_page_form_refuses_unknown_query_parameters(env) -> None:
    ticket = make_ticket(env, "new")
    client = env.client()
    token = login(client, "supervisor")
    response = client.post(
        f"/tickets/{ticket}/transition?foo=1", data={"action": "confirm", "csrf_token": token}
    )
    assert response.status_code == 400
    assert _ticket_state(env, ticket) == "new"


#: Views not held to it: signing out (a POST with nothing to check), and two photo-upload
#: views another change is rewriting (to be checked once it lands).
NO_CHECK = {"auth.logout"}


def test_every_changing_view_declares_its_query_parameters(env) -> None:
    missing = []
    for rule in env.app.url_map.iter_rules():
        if not rule.methods & {"POST", "PUT", "PATCH", "DELETE"} or rule.endpoint in NO_CHECK:
            continue
        view = env.app.view_functions[rule.endpoint]
        if getattr(view, "query_parameters", None) is None:
            missing.append(f"{sorted(rule.methods - {'HEAD', 'OPTIONS'})} {rule.rule}")
    assert missing == []


# -- 2. the OpenAPI document's statuses -------------------------------------------------------


def _resolve(node: ast.AST, names: dict) -> object:
    if isinstance(node, ast.Name):
        return names.get(node.id, getattr(__import__("builtins"), node.id, None))
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value, names)
        if isinstance(base, types.ModuleType):
            return getattr(base, node.attr, None)
    return None


def _ours(obj: object) -> bool:
    return inspect.isfunction(obj) and obj.__module__.split(".")[0] == "groundstation"


def _answers(fn, seen: set) -> set:
    """What ``fn`` and the groundstation functions it calls by name can answer with: error
    classes raised (less those a surrounding ``try`` catches and does not re-raise) and the
    statuses of ``json_error``, ``return body, status`` and ``status_code = N``: literals, or
    a local name or conditional expression holding them (``status = 409 if armed else 502``)."""
    fn = inspect.unwrap(fn)
    if fn in seen:
        return set()
    seen.add(fn)
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    names = fn.__globals__
    assigned: dict[str, list[ast.AST]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    assigned.setdefault(target.id, []).append(node.value)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value:
            assigned.setdefault(node.target.id, []).append(node.value)

    def constants(node: ast.AST, names_seen: frozenset = frozenset()) -> set:
        if isinstance(node, ast.Constant):
            return {node.value}
        if isinstance(node, ast.IfExp):
            return constants(node.body, names_seen) | constants(node.orelse, names_seen)
        if isinstance(node, ast.Name) and node.id not in names_seen:
            seen_now = names_seen | {node.id}
            return set().union(*(constants(v, seen_now) for v in assigned.get(node.id, [])))
        return set()

    def visit(node: ast.AST) -> set:
        out: set = set()
        if isinstance(node, ast.Try):
            inner = set().union(*(visit(n) for n in node.body))
            caught = tuple(
                cls
                for handler in node.handlers
                if handler.type is not None
                and not any(isinstance(n, ast.Raise) and n.exc is None for n in ast.walk(handler))
                for cls in (
                    _resolve(t, names)
                    for t in (
                        handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
                    )
                )
                if isinstance(cls, type)
            )
            out |= {a for a in inner if not (isinstance(a, type) and issubclass(a, caught))}
            for part in (*node.handlers, *node.orelse, *node.finalbody):
                out |= visit(part)
            return out
        if isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            cls = _resolve(target, names)
            if isinstance(cls, type) and issubclass(cls, GroundStationError):
                out.add(cls)
        elif isinstance(node, ast.Call):
            callee = _resolve(node.func, names)
            if getattr(callee, "__name__", "") == "json_error":
                for arg in (*node.args[1:], *(k.value for k in node.keywords if k.arg)):
                    out |= constants(arg)
            elif _ours(callee):
                out |= _answers(callee, seen)
        elif isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
            for element in node.value.elts[1:]:
                out |= constants(element)
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Attribute) and t.attr == "status_code" for t in node.targets
        ):
            out |= constants(node.value)
        for child in ast.iter_child_nodes(node):
            out |= visit(child)
        return out

    return visit(tree)


def _statuses(view) -> set[int]:
    """The HTTP statuses ``view`` can answer with, as far as its source shows them."""
    out = set()
    for answer in _answers(view, set()):
        if isinstance(answer, type):
            answer = error_status(answer.__new__(answer))
        if type(answer) is int:
            out.add(answer)
    return out - {500, 503}  # any address: a bug, or the database down


def _api_operations(env):
    for rule in env.app.url_map.iter_rules():
        if rule.endpoint.startswith("api."):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix(API))
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield method.lower(), path, env.app.view_functions[rule.endpoint]


def test_openapi_lists_every_status_an_operation_answers_with(env) -> None:
    doc = env.client().get(f"{API}/openapi.json").json
    missing = {}
    for method, path, view in _api_operations(env):
        documented = set(doc["paths"][path][method]["responses"])
        left_out = sorted(s for s in _statuses(view) if str(s) not in documented)
        if left_out:
            missing[f"{method.upper()} {path}"] = left_out
    assert missing == {}


def test_the_status_finder_sees_the_conflicts_the_qa_report_named(env) -> None:
    views = {(m, p): v for m, p, v in _api_operations(env)}
    assert {409, 413} <= _statuses(views["post", "/tickets/{ticket_id}/transitions"])
    assert 409 in _statuses(views["post", "/findings/{finding_id}/review"])
    assert 409 in _statuses(views["post", "/findings/review"])


def test_the_status_finder_sees_statuses_chosen_by_a_conditional(env) -> None:
    """A plan upload picks its status in a variable (409 armed, 400 unsafe, 502 link): the
    finder follows it, so an entry that leaves one out fails the test above."""
    views = {(m, p): v for m, p, v in _api_operations(env)}
    assert {400, 409, 502} <= _statuses(views["post", "/plans/{plan_id}/upload"])


def test_openapi_documents_a_plan_uploads_armed_vehicle_and_link_failure(env) -> None:
    doc = env.client().get(f"{API}/openapi.json").json
    responses = doc["paths"]["/plans/{plan_id}/upload"]["post"]["responses"]
    error = {"$ref": "#/components/responses/Error"}
    assert responses["409"] == error and responses["502"] == error


def test_openapi_documents_conflicts_and_large_bodies(env) -> None:
    doc = env.client().get(f"{API}/openapi.json").json
    error = {"$ref": "#/components/responses/Error"}
    transitions = doc["paths"]["/tickets/{ticket_id}/transitions"]["post"]["responses"]
    assert transitions["409"] == error and transitions["413"] == error
    for path in ("/findings/{finding_id}/review", "/findings/review"):
        assert doc["paths"][path]["post"]["responses"]["409"] == error
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if isinstance(op, dict) and "requestBody" in op:
                assert "413" in op["responses"], f"{method} {path}"


def test_a_finding_overlay_answers_as_documented_placed_or_not(env, tmp_path) -> None:
    """A finding's photo that cannot be placed is a documented 200 (url null, the reason), not
    a 404: that stays for findings that do not exist."""
    doc = env.client().get(f"{API}/openapi.json").json
    op = doc["paths"]["/findings/{finding_id}/overlay"]["get"]
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    placed = placed_finding(env, tmp_path, yaw_deg=0.0, target_m=(5.0, 5.0), score=0.8)
    (unplaced,) = make_findings(env, [("illegal_construction", 0.8, None)])  # photo: no geotag
    client, headers = env.client(), env.headers("supervisor")
    for finding_id, has_overlay in ((placed["finding"], True), (unplaced, False)):
        answer = client.get(f"{API}/findings/{finding_id}/overlay", headers=headers)
        assert answer.status_code == 200
        assert set(schema["required"]) <= set(answer.json)
        assert set(answer.json) <= set(schema["properties"])
        assert (answer.json["url"] is not None) is has_overlay
        assert (answer.json["reason"] is None) is has_overlay
    assert client.get(f"{API}/findings/999999/overlay", headers=headers).status_code == 404
    assert "404" in op["responses"]


def test_a_second_review_is_the_documented_409(env) -> None:
    (finding,) = make_findings(env, [("illegal_construction", 0.9, None)])
    client, headers = env.client(), env.headers("supervisor")
    url = f"{API}/findings/{finding}/review"
    assert client.post(url, json={"decision": "reject"}, headers=headers).status_code == 200
    assert client.post(url, json={"decision": "confirm"}, headers=headers).status_code == 409


# -- 3. Open311 text in the reader's language --------------------------------------------------


@pytest.fixture
def marked(monkeypatch):
    """Every message looked up in the catalogue comes back between « and »."""
    import groundstation.i18n

    lookup = groundstation.i18n.gettext
    monkeypatch.setattr(
        groundstation.i18n, "gettext", lambda string, **values: f"«{lookup(string, **values)}»"
    )


def _escalated_ticket(env, level: int) -> int:
    from groundstation.models import Ticket

    ticket_id = make_ticket(env, "dispatched")
    with env.storage().session() as session:
        session.get(Ticket, ticket_id).escalation_level = level
        session.commit()
    return ticket_id


def test_status_notes_follow_the_readers_language(env) -> None:
    ticket_id = make_ticket(env, "dispatched")
    url = f"/open311/v2/requests/{ticket_id}.json"
    client, key = env.client(), env.headers("admin")
    assert client.get(url, headers=key).json[0]["status_notes"] == "state: dispatched"
    for answer in (
        client.get(url, headers={**key, **ZH}),
        client.get(f"{url}?lang=zh", headers=key),
    ):
        notes = answer.json[0]["status_notes"]
        assert "dispatched" not in notes and "已派遣" in notes, notes
        assert answer.json[0]["extended_attributes"]["state"] == "dispatched"  # the code stays


def test_escalation_notes_are_one_language(env, marked) -> None:
    url = f"/open311/v2/requests/{_escalated_ticket(env, 2)}.json"
    english = env.client().get(url, headers=env.headers("admin")).json[0]["status_notes"]
    assert english == "«state: dispatched; escalation level 2»"  # through the catalogue
    assert "督办" not in english


def test_services_group_and_keywords_follow_the_readers_language(env, marked) -> None:
    services = env.client().get("/open311/v2/services.json?lang=zh").json
    fishing = next(s for s in services if s["service_code"] == "illegal_fishing")
    assert fishing["group"].startswith("«") and fishing["group"].endswith("»")
    assert fishing["keywords"] == "违法捕捞"  # the class's name in the catalogue
    english = env.client().get("/open311/v2/services.json").json
    fishing = next(s for s in english if s["service_code"] == "illegal_fishing")
    assert fishing["keywords"] == "Illegal fishing"


# -- 4. postgres:// database URLs -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:p@db:5432/gp", "postgresql+psycopg://u:p@db:5432/gp"),
        ("postgres+psycopg://db/gp", "postgresql+psycopg://db/gp"),
        ("postgresql://db/gp", "postgresql://db/gp"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_urls_in_the_libpq_form_are_postgresql(given: str, used: str) -> None:
    from groundstation.storage import normalise_url

    assert normalise_url(given) == used


def test_a_postgres_url_reaches_the_database() -> None:
    from sqlalchemy import text

    from groundstation.storage import Storage

    storage = Storage(PG_URL.replace("postgresql+psycopg://", "postgres://"))
    try:
        assert storage.dialect == "postgresql"
        with storage.engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        storage.dispose()


# -- 5. grid ids in any case ------------------------------------------------------------------


def test_a_grid_is_found_by_its_id_in_any_case(env) -> None:
    code = f"Jy-{uuid.uuid4().hex[:6]}-Ä"
    add_grids(env, (code, G1))
    client = env.client()
    for asked in (code, code.upper(), code.lower()):
        got = client.get(f"{API}/grids/{asked}", headers=env.headers("pilot"))
        assert got.status_code == 200, asked
        assert got.json["code"] == code
    login(client, "pilot")
    page = client.get(f"/grids/{code.lower()}")
    assert page.status_code == 200 and code in page.get_data(as_text=True)
    missing = client.get(f"{API}/grids/{code}-nope", headers=env.headers("pilot"))
    assert missing.status_code == 404


# -- 6. a disabled user's API key ---------------------------------------------------------------


def _disabled_key(env) -> tuple[str, str]:
    from werkzeug.security import generate_password_hash

    from groundstation.models import ApiKey, User
    from groundstation.web import hash_api_key

    name, key = f"fish{uuid.uuid4().hex[:6]}", f"key-{uuid.uuid4().hex}"
    with env.storage().session() as session:
        user = User(
            username=name, role="pilot", password_hash=generate_password_hash("x"), active=False
        )
        session.add(user)
        session.flush()
        session.add(ApiKey(name=name, key_hash=hash_api_key(key), user_id=user.id))
        session.commit()
    return name, key


def test_a_disabled_users_key_is_told_the_account_is_disabled(env) -> None:
    name, key = _disabled_key(env)
    response = env.client().get(f"{API}/me", headers={"X-API-Key": key})
    assert response.status_code == 403  # as sign-in answers a disabled account
    assert response.json["error"] == (
        f"this API key's user '{name}' is disabled; ask an administrator to enable it"
    )
    unknown = env.client().get(f"{API}/me", headers={"X-API-Key": "no-such-key"})
    assert unknown.status_code == 401


def test_the_disabled_key_message_is_translatable(env, marked) -> None:
    name, key = _disabled_key(env)
    api = env.client().get(f"{API}/me", headers={"X-API-Key": key, **ZH})
    assert api.status_code == 403
    assert api.json["error"].startswith("«") and name in api.json["error"]
    open311 = env.client().post(
        "/open311/v2/requests.json",
        data={"api_key": key, "service_code": "straw_burning", "lat": "32.405", "long": "119.9"},
        headers=ZH,
    )
    assert open311.status_code == 403
    assert open311.json[0]["description"].startswith("«") and name in open311.json[0]["description"]
