"""Open311 answers as the JSON API does: reads take an api_key and show what its user's role sees
on /api/v1/tickets (a department its own cases, others 404), OPEN311_PUBLIC_READS publishes
GeoReport's own fields only, and only the roles that may POST /api/v1/tickets (or a city
system's key without a user) file requests. QA findings F1 and F5 (/tmp/qa_authz)."""

from __future__ import annotations

import uuid

import pytest
from conftest import make_findings, make_ticket
from test_open311 import BASE, _post

from groundstation.blueprints.open311 import PUBLIC_FIELDS
from groundstation.models import ApiKey, Ticket
from groundstation.web import hash_api_key

INTERNAL = "INTERNAL: owner is the district chief, do not pursue"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def _city_key(env) -> str:
    """A key made for a city system (``create-api-key NAME`` without ``--user``)."""
    key = f"key-city-{uuid.uuid4().hex}"
    with env.storage().session() as session:
        session.add(ApiKey(name=f"city-{uuid.uuid4().hex[:8]}", key_hash=hash_api_key(key)))
        session.commit()
    return key


def _case(env, department: str = "urban_management") -> int:
    """A dispatched ticket filed from a classifier finding (so it has our extensions)."""
    (finding,) = make_findings(env, [("illegal_construction", 0.87, None)])
    ticket_id = make_ticket(env, "dispatched", department=department)
    with env.storage().session() as session:
        session.get(Ticket, ticket_id).finding_id = finding
        session.commit()
    return ticket_id


def _returned_with_an_internal_reason(env) -> int:
    """A case the department sent back with a reason meant for the station only."""
    ticket_id = _case(env)
    returned = env.client().post(
        f"/api/v1/tickets/{ticket_id}/transitions",
        json={"action": "return", "reason": INTERNAL},
        headers=env.headers("department"),
    )
    assert returned.status_code == 200, returned.json
    return ticket_id


def _read(env, path: str, key: str | None = None, headers=None):
    sent = {**({"X-API-Key": key} if key else {}), **(headers or {})}
    return env.client().get(BASE + path, headers=sent)


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.json
    return {int(r["service_request_id"]) for r in response.json}


@pytest.fixture
def public_reads(env, monkeypatch) -> None:
    monkeypatch.setitem(env.app.config, "OPEN311_PUBLIC_READS", True)


# -- F1: reads take a key ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/requests.json", "/requests/{id}.json"])
def test_reading_requests_without_a_key_is_a_401(env, path) -> None:
    ticket_id = _case(env)
    response = _read(env, path.format(id=ticket_id), headers={"Accept-Language": "en"})
    assert response.status_code == 401
    assert response.json == [
        {
            "code": 401,
            "description": "an api_key is required to read service requests: "
            "send it as ?api_key=KEY or in the X-API-Key header",
        }
    ]


@pytest.mark.parametrize("key", ["wrong", "revoked"])
def test_a_bad_key_reads_nothing_even_when_reads_are_public(env, public_reads, key) -> None:
    if key == "revoked":
        key = _city_key(env)
        with env.storage().session() as session:
            session.query(ApiKey).filter_by(key_hash=hash_api_key(key)).one().revoked = True
            session.commit()
    response = env.client().get(f"{BASE}/requests.json?api_key={key}&lang=en")
    assert response.status_code == 401
    assert response.json[0]["description"] == "api_key missing, unknown or revoked"


def test_services_stay_readable_without_a_key(env) -> None:
    """Services and discovery hold no case: a client learns what it may file before its key."""
    assert env.client().get(f"{BASE}/services.json").status_code == 200
    assert env.client().get(f"{BASE}/discovery.json").status_code == 200


def test_a_key_is_taken_as_the_query_parameter_and_as_either_header(env) -> None:
    ticket_id = _case(env)
    key = env.keys["supervisor"]
    client = env.client()
    for response in (
        client.get(f"{BASE}/requests/{ticket_id}.json?api_key={key}"),
        client.get(f"{BASE}/requests/{ticket_id}.json", headers={"X-API-Key": key}),
        client.get(f"{BASE}/requests/{ticket_id}.json", headers=env.headers("supervisor")),
    ):
        assert _ids(response) == {ticket_id}


# -- F1: a department reads its own cases only ------------------------------------------------


def test_a_department_key_lists_only_its_own_cases(env) -> None:
    own, others = _case(env), _case(env, department="ecology_environment")
    undispatched = make_ticket(env, "new")
    listed = _ids(_read(env, "/requests.json", env.keys["department"]))
    assert own in listed and not listed & {others, undispatched}
    by_id = _read(env, f"/requests.json?service_request_id={own},{others}", env.keys["department"])
    assert _ids(by_id) == {own}  # an id it may not see is left out, as /api/v1/tickets does
    rest = env.client().get("/api/v1/tickets?page_size=500", headers=env.headers("department"))
    assert others not in {t["id"] for t in rest.json["items"]}


def test_another_departments_case_is_a_404_like_an_unknown_one(env) -> None:
    others = _case(env, department="ecology_environment")
    key = env.keys["department"]
    hidden = _read(env, f"/requests/{others}.json?lang=en", key)
    assert hidden.status_code == 404
    assert hidden.json == [
        {"code": 404, "description": f"service_request_id '{others}' does not exist"}
    ]
    unknown = _read(env, "/requests/2147483000.json?lang=en", key).json[0]["description"]
    assert unknown == "service_request_id '2147483000' does not exist"  # no existence leak
    rest = env.client().get(f"/api/v1/tickets/{others}", headers=env.headers("department"))
    assert rest.status_code == 404


def test_a_department_reads_its_own_case_with_its_archive(env) -> None:
    own = _case(env)
    [request] = _read(env, f"/requests/{own}.json", env.keys["department"]).json
    assert request["extended_attributes"]["state"] == "dispatched"
    assert request["notes"] and request["agency_responsible"] == "城市管理综合行政执法局"


@pytest.mark.parametrize("who", ["supervisor", "admin", "city"])
def test_supervisors_admins_and_city_systems_read_every_department(env, who) -> None:
    key = _city_key(env) if who == "city" else env.keys[who]
    cases = {_case(env), _case(env, department="ecology_environment"), make_ticket(env, "new")}
    assert cases <= _ids(_read(env, "/requests.json", key))


def test_the_archives_reasons_show_to_readers_who_see_them_on_the_api(env) -> None:
    ticket_id = _returned_with_an_internal_reason(env)
    rest = env.client().get(f"/api/v1/tickets/{ticket_id}", headers=env.headers("supervisor"))
    assert INTERNAL in [e["reason"] for e in rest.json["events"]]
    [request] = _read(env, f"/requests/{ticket_id}.json", env.keys["supervisor"]).json
    assert INTERNAL in [n["description"] for n in request["notes"]]
    # the department no longer holds the case: not on either door
    assert _read(env, f"/requests/{ticket_id}.json", env.keys["department"]).status_code == 404


def test_a_disabled_users_key_reads_nothing(env) -> None:
    from werkzeug.security import generate_password_hash

    from groundstation.models import User

    name, key = f"off{uuid.uuid4().hex[:8]}", f"key-{uuid.uuid4().hex}"
    with env.storage().session() as session:
        user = User(username=name, role="supervisor", password_hash=generate_password_hash("x"))
        user.active = False
        session.add(user)
        session.flush()
        session.add(ApiKey(name=name, key_hash=hash_api_key(key), user_id=user.id))
        session.commit()
    response = _read(env, "/requests.json?lang=en", key)
    assert response.status_code == 403
    assert response.json[0]["description"] == (
        f"this API key's user '{name}' is disabled; ask an administrator to enable it"
    )


# -- F1: OPEN311_PUBLIC_READS publishes GeoReport's own fields --------------------------------


def test_public_reads_give_only_georeports_fields(env, public_reads) -> None:
    ticket_id = _returned_with_an_internal_reason(env)
    for response in (_read(env, f"/requests/{ticket_id}.json"), _read(env, "/requests.json")):
        assert response.status_code == 200
        [request] = [r for r in response.json if r["service_request_id"] == str(ticket_id)]
        assert set(request) == set(PUBLIC_FIELDS)
        assert request["service_code"] == "illegal_construction" and request["status"] == "open"
        text = response.get_data(as_text=True)
        for internal in (INTERNAL, "finding_id", "flight_id", "score", "box_px", '"notes"'):
            assert internal not in text


def test_public_reads_leave_keyed_readers_their_own_view(env, public_reads) -> None:
    others = _case(env, department="ecology_environment")
    assert _read(env, f"/requests/{others}.json", env.keys["department"]).status_code == 404
    [full] = _read(env, f"/requests/{others}.json", env.keys["admin"]).json
    assert full["extended_attributes"]["finding_id"] is not None and "notes" in full


def test_public_reads_default_to_off(env) -> None:
    assert env.app.config["OPEN311_PUBLIC_READS"] is False


@pytest.mark.parametrize(("value", "meant"), [("1", True), ("yes", True), ("0", False)])
def test_public_reads_from_the_environment(tmp_path, value, meant) -> None:
    from groundstation.config import build_config

    config = build_config(data_dir=tmp_path, environ={"OPEN311_PUBLIC_READS": value})
    assert config["OPEN311_PUBLIC_READS"] is meant


def test_a_public_reads_value_that_is_no_yes_or_no_is_refused(tmp_path) -> None:
    from groundstation.config import build_config
    from groundstation.errors import ConfigError

    with pytest.raises(ConfigError, match=r"OPEN311_PUBLIC_READS='maybe'.*1/true/yes/on"):
        build_config(data_dir=tmp_path, environ={"OPEN311_PUBLIC_READS": "maybe"})


# -- F5: filing takes the roles POST /api/v1/tickets takes -------------------------------------


def _filed(env) -> int:
    from sqlalchemy import func, select

    with env.storage().session() as session:
        return session.scalar(select(func.count()).select_from(Ticket))


@pytest.mark.parametrize("who", ["pilot", "department"])
def test_a_pilot_or_department_key_may_not_file(env, who) -> None:
    before = _filed(env)
    response = _post(env, {"Accept-Language": "en"}, api_key=env.keys[who])
    assert response.status_code == 403
    assert response.json == [
        {
            "code": 403,
            "description": f"role '{who}' may not file service requests (needs: supervisor, "
            "admin, or an api_key made without --user for a city system)",
        }
    ]
    assert _filed(env) == before
    rest = env.client().post(
        "/api/v1/tickets", json={"label": "straw_burning"}, headers=env.headers(who)
    )
    assert rest.status_code == 403  # the same answer on both doors


@pytest.mark.parametrize("who", ["supervisor", "admin", "city"])
def test_reviewers_and_city_systems_file(env, who) -> None:
    key = _city_key(env) if who == "city" else env.keys[who]
    response = _post(env, api_key=key)
    assert response.status_code == 200, response.json
    assert response.json[0]["service_request_id"]


def test_a_key_in_the_header_files_too(env) -> None:
    response = _post(env, {"X-API-Key": _city_key(env)}, api_key=None)
    assert response.status_code == 200, response.json


# -- the new texts follow the reader's language -------------------------------------------------


@pytest.fixture
def marked(monkeypatch):
    """Every message looked up in the catalogue comes back between « and »."""
    import groundstation.i18n

    lookup = groundstation.i18n.gettext
    monkeypatch.setattr(
        groundstation.i18n, "gettext", lambda string, **values: f"«{lookup(string, **values)}»"
    )


def test_the_refusals_are_translatable(env, marked) -> None:
    for response, status in (
        (_read(env, "/requests.json", headers=ZH), 401),
        (_read(env, "/requests.json", "wrong", headers=ZH), 401),
        (_post(env, ZH, api_key=env.keys["department"]), 403),
    ):
        assert response.status_code == status
        description = response.json[0]["description"]
        assert description.startswith("«") and description.endswith("»")
