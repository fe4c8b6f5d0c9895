"""Query parameters of the flights, plan, imagery, grid, photo-upload, sign-in and Open311
addresses: a parameter an address does not take is a 400 naming it (a banner on the flights
list, the error page on other pages, JSON on the API, GeoReport's error list on Open311),
``lang`` is taken everywhere, a value a page parses and cannot use is a 400 naming it, and the
OpenAPI document lists each operation's parameters and its 400."""

from __future__ import annotations

import re
from html import unescape

import pytest
from conftest import flight_env, login, saved_plan

from groundstation.blueprints.api import bp as api_bp
from groundstation.blueprints.dashboard import DASHBOARD_PARAMS
from groundstation.models import FlightSession

GRID = "Q-P1"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with flight_env(tmp_path_factory.mktemp("params"), GRID) as e:
        yield e


@pytest.fixture(scope="module")
def ids(env) -> dict[str, int]:
    """A saved plan and a stored (not running) flight session."""
    plan = saved_plan(env, GRID, "params")
    with env.storage().session() as session:
        row = FlightSession(plan_id=plan, connection="udp:127.0.0.1:16100", state="landed")
        session.add(row)
        session.commit()
        return {"plan": plan, "session": row.id}


@pytest.fixture(scope="module")
def pilot(env):
    """A test client signed in as the pilot (every page below is open to pilots)."""
    client = env.client()
    login(client, "pilot")
    return client


def _text(response) -> str:
    return unescape(response.get_data(as_text=True))


#: Pages (signed in) and their addresses; {plan}/{session} are filled from ``ids``.
PAGES = [
    "/flights",
    "/flights/{session}",
    "/plan",
    "/grids",
    f"/grids/{GRID}",
]
#: JSON addresses under /api/v1 (API key).
API = [
    "/api/v1/flight-sessions",
    "/api/v1/flight-sessions/{session}",
    "/api/v1/flight-sessions/{session}/events",
    "/api/v1/plans",
    "/api/v1/plans/{plan}",
    "/api/v1/plans/{plan}/download/plan",
    "/api/v1/no-fly",
    "/api/v1/no-fly/999999.geojson",
    "/api/v1/photos/999999/overlay",
    "/api/v1/photos/999999/overlay.png",
    "/api/v1/findings/999999/overlay",
    "/api/v1/flights/999999/overlays",
    "/api/v1/orthomosaics",
    "/api/v1/orthomosaics/999999",
    "/api/v1/orthomosaics/999999/preview.png",
    "/api/v1/photo-uploads",
    "/api/v1/photo-uploads/nothing",
    "/api/v1/openapi.json",
]
OPEN311 = [
    "/open311/v2/discovery.json",
    "/open311/v2/services.json",
    "/open311/v2/services/straw_burning.json",
    "/open311/v2/requests.json",
    "/open311/v2/requests/999999.json",
    "/open311/v2/tokens/abc.json",
]


@pytest.mark.parametrize("path", PAGES)
def test_a_page_refuses_a_parameter_it_does_not_take(pilot, ids, path) -> None:
    url = path.format(**ids)
    refused = pilot.get(f"{url}?limit=10&lang=en")
    assert refused.status_code == 400
    text = _text(refused)
    assert "unknown query parameter 'limit'" in text and "this address takes" in text
    english = pilot.get(f"{url}?lang=en")
    assert english.status_code == 200 and '<html lang="en">' in english.get_data(as_text=True)
    chinese = pilot.get(f"{url}?lang=zh")
    assert chinese.status_code == 200 and '<html lang="zh-CN">' in chinese.get_data(as_text=True)


@pytest.mark.parametrize("path", API)
def test_an_api_address_refuses_a_parameter_it_does_not_take(env, ids, path) -> None:
    url = path.format(**ids)
    headers = env.headers("pilot")
    refused = env.client().get(f"{url}?limit=10&lang=en", headers=headers)
    assert refused.status_code == 400
    assert refused.json["error"].startswith("unknown query parameter 'limit'; this address takes")
    plain = env.client().get(url, headers=headers)
    english = env.client().get(f"{url}?lang=en", headers=headers)
    assert english.status_code == plain.status_code != 400
    if english.status_code >= 400:  # the message in the language asked for
        chinese = env.client().get(f"{url}?lang=zh", headers=headers)
        assert chinese.json["error"] != english.json["error"]
        assert english.json["error"].isascii()


def test_the_refusal_lists_what_the_address_takes(env, ids) -> None:
    url = f"/api/v1/plans/{ids['plan']}/download/plan?sortie=1&sortie_id=1&lang=en"
    refused = env.client().get(url, headers=env.headers("pilot"))
    assert refused.status_code == 400
    assert refused.json["error"] == (
        "unknown query parameter 'sortie_id'; this address takes sortie, lang"
    )
    taken = env.client().get(
        f"/api/v1/plans/{ids['plan']}/download/plan?sortie=1", headers=env.headers("pilot")
    )
    assert taken.status_code == 200


# -- the flights list: a banner over the page, as on the ticket list --------------------------


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("page=x", "page 'x' is not an integer"),
        ("page=0", "page 0 must be at least 1"),
        ("flight=abc", "flight 'abc' is not an integer"),
        ("flight=999999", "flight 999999 does not exist"),
        ("plan=-1", "plan -1 must be at least 1"),
        ("plan=999999", "plan 999999 does not exist"),
        ("per_page=10", "unknown query parameter 'per_page'; this address takes page, flight"),
    ],
)
def test_the_flights_list_names_a_value_it_cannot_use(pilot, query, named) -> None:
    response = pilot.get(f"/flights?{query}&lang=en")
    assert response.status_code == 400
    text = _text(response)
    assert re.search(r'<p class="flash error" role="alert">[^<]*' + re.escape(named), text)
    assert 'id="flights-pager"' in text or "<h1>Flights</h1>" in text  # the list still shows


def test_the_flights_list_takes_its_parameters(pilot, ids) -> None:
    response = pilot.get(f"/flights?plan={ids['plan']}&page=1&lang=en")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<p class="flash error"' not in html
    assert re.search(rf'<option value="{ids["plan"]}" data-sorties="\d+" selected>', html)


def test_the_event_stream_names_a_bad_last_event_id(env, ids) -> None:
    url = f"/api/v1/flight-sessions/{ids['session']}/events"
    for value, text in (("x", "last_event_id 'x' is not an integer"), ("-1", "at least 0")):
        bad = env.client().get(f"{url}?last_event_id={value}&lang=en", headers=env.headers("pilot"))
        assert bad.status_code == 400 and text in bad.json["error"]
    # a good value reaches the session: this one is stored, not running here
    good = env.client().get(f"{url}?last_event_id=3&lang=en", headers=env.headers("pilot"))
    assert good.status_code == 404 and "not running" in good.json["error"]


def test_the_plan_download_names_a_bad_sortie(env, ids) -> None:
    url = f"/api/v1/plans/{ids['plan']}/download/plan?sortie=first&lang=en"
    bad = env.client().get(url, headers=env.headers("pilot"))
    assert bad.status_code == 400 and "sortie 'first'" in bad.json["error"]


# -- sign-in and the language switch ----------------------------------------------------------


def test_sign_in_takes_next_and_nothing_else(env) -> None:
    client = env.client()
    assert client.get("/login?next=/grids&lang=en").status_code == 200
    refused = client.get("/login?return_to=/grids&lang=en")
    assert refused.status_code == 400
    assert "unknown query parameter 'return_to'; this address takes next, lang" in _text(refused)
    # an unsigned visit is sent to sign-in with next, which signs in and comes back
    sent = client.get("/grids")
    assert sent.status_code == 302 and "/login?next=" in sent.headers["Location"]
    login(client, "pilot")
    back = client.get("/lang/en?next=/grids")
    assert back.status_code == 302 and back.headers["Location"] == "/grids"
    assert client.get("/lang/en?to=/grids").status_code == 400


def test_the_language_switch_refuses_a_language_not_offered(env) -> None:
    """/lang/fr is a 400 naming lang and what is offered; the language stays as it was. A code
    with a region (zh-CN) switches to the language offered."""
    client = env.client()
    login(client, "pilot")
    assert client.get("/lang/en").status_code == 302
    refused = client.get("/lang/fr?next=/grids")
    assert refused.status_code == 400
    assert "lang 'fr' is not a language this station offers; lang takes zh, en" in _text(refused)
    with client.session_transaction() as session:
        assert session["lang"] == "en"
    assert client.get("/lang/zh-CN").status_code == 302
    with client.session_transaction() as session:
        assert session["lang"] == "zh"


def test_the_start_page_takes_only_lang(pilot) -> None:
    assert pilot.get("/?lang=en").status_code == 302
    refused = pilot.get("/?page=2&lang=en")
    assert refused.status_code == 400 and "unknown query parameter 'page'" in _text(refused)


def test_sign_in_redirects_to_next(env) -> None:
    from conftest import csrf_token

    client = env.client()
    token = csrf_token(client.get("/login?next=/plan").get_data(as_text=True))
    response = client.post(
        "/login?next=/plan",
        data={"username": "pilot", "password": "pilot-password", "csrf_token": token},
    )
    assert response.status_code == 302 and response.headers["Location"] == "/plan"


# -- Open311: GeoReport's parameters, and its error format ------------------------------------


@pytest.mark.parametrize("path", OPEN311)
def test_open311_refuses_an_unknown_parameter_in_its_error_format(env, path) -> None:
    refused = env.client().get(f"{path}?format=xml&lang=en")
    assert refused.status_code == 400
    [error] = refused.json  # GeoReport: a list of {code, description}
    assert set(error) == {"code", "description"} and error["code"] == 400
    assert error["description"].startswith(
        "unknown query parameter 'format'; this address takes jurisdiction_id, api_key"
    )
    chinese = env.client().get(f"{path}?format=xml&lang=zh")
    assert chinese.status_code == 400
    assert chinese.json[0]["description"] != error["description"]
    plain = env.client().get(path)
    standard = env.client().get(f"{path}?jurisdiction_id=jy&api_key=any&lang=en")
    assert standard.status_code == plain.status_code != 400


def test_open311_request_list_takes_the_georeport_filters(env) -> None:
    query = (
        "service_code=straw_burning&status=open&start_date=2024-01-01T00:00:00%2B08:00"
        "&end_date=2030-01-01T00:00:00%2B08:00&page=1&page_size=10&jurisdiction_id=jy"
    )
    key = f"api_key={env.keys['admin']}"
    assert env.client().get(f"/open311/v2/requests.json?{query}&{key}").status_code == 200
    by_id = env.client().get(f"/open311/v2/requests.json?service_request_id=1,2&{key}")
    assert by_id.status_code == 200
    refused = env.client().get("/open311/v2/requests.json?service_name=x&lang=en")
    description = refused.json[0]["description"]
    assert refused.status_code == 400 and "'service_name'" in description
    assert "service_request_id, service_code, start_date, end_date, status" in description


def test_open311_post_takes_its_fields_in_the_form_not_the_query(env) -> None:
    data = {"service_code": "straw_burning", "lat": "32.405", "long": "119.905"}
    in_query = env.client().post(
        "/open311/v2/requests.json?service_code=straw_burning&lang=en",
        data={**data, "api_key": env.keys["supervisor"]},
    )
    assert in_query.status_code == 400
    assert in_query.json[0]["code"] == 400
    assert "unknown query parameter 'service_code'" in in_query.json[0]["description"]
    key_in_query = env.client().post(
        f"/open311/v2/requests.json?api_key={env.keys['supervisor']}&jurisdiction_id=jy",
        data=data,
    )
    assert key_in_query.status_code == 200, key_in_query.json
    assert key_in_query.json[0]["service_request_id"]


# -- the OpenAPI document -------------------------------------------------------------------


def _api_get_views(env) -> dict[str, object]:
    """The GET views of /api/v1 by their documented path."""
    out = {}
    for rule in env.app.url_map.iter_rules():
        if rule.endpoint.startswith(f"{api_bp.name}.") and "GET" in rule.methods:
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
            out[path] = env.app.view_functions[rule.endpoint]
    return out


def test_openapi_lists_the_query_parameters_each_get_takes(env) -> None:
    doc = env.client().get("/api/v1/openapi.json").json
    lang = doc["components"]["parameters"]["lang"]
    for path, view in _api_get_views(env).items():
        op = doc["paths"][path]["get"]
        documented = {
            lang["name"] if "$ref" in p else p["name"]
            for p in op["parameters"]
            if "$ref" in p or p["in"] == "query"
        }
        taken = getattr(view, "query_parameters", None)
        if path == "/dashboard":  # checked by dashboard_from_args
            taken = DASHBOARD_PARAMS
        assert taken is not None, f"GET {path} does not declare its query parameters"
        assert documented == {*taken, "lang"}, path
        assert op["responses"]["400"] == {"$ref": "#/components/responses/BadParameter"}, path


def test_openapi_references_resolve(env) -> None:
    doc = env.client().get("/api/v1/openapi.json").json

    def refs(node):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    found = set(refs(doc))
    assert "#/components/parameters/lang" in found
    for ref in found:
        target = doc
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        assert isinstance(target, dict) and target, ref
    for item in doc["paths"].values():
        for op in (op for key, op in item.items() if key != "parameters"):
            names = [(p.get("in"), p.get("name")) for p in op.get("parameters", [])]
            assert len(names) == len(set(names)), names  # no parameter twice
