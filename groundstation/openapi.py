"""The OpenAPI 3.0 document of ``/api/v1`` (served at ``/api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

from groundstation.flights import COMMANDS
from groundstation.models import LABELS, ROLES, TICKET_LABELS
from groundstation.tickets import STATES, TRANSITIONS

__all__ = ["openapi_document", "METHODS"]


#: The shared error answer (``{"error": message}``).
ERROR: dict[str, Any] = {"$ref": "#/components/responses/Error"}
#: A state changed by another request, or an action the current state does not allow.
CONFLICT: dict[str, Any] = {"409": ERROR}


def _op(
    summary: str,
    *,
    roles: tuple[str, ...] = ROLES,
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    ok: str = "200",
    multipart: bool = False,
    public: bool = False,
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {
            ok: {"description": "OK"},
            "400": {"$ref": "#/components/responses/Error"},
            "401": {"$ref": "#/components/responses/Error"},
            "403": {"$ref": "#/components/responses/Error"},
            "404": {"$ref": "#/components/responses/Error"},
        },
    }
    if public:
        op["security"] = []
    else:
        op["description"] = f"Roles: {', '.join(roles)}."
    if params:
        op["parameters"] = params
    if body is not None:
        kind = "multipart/form-data" if multipart else "application/json"
        op["requestBody"] = {"required": True, "content": {kind: {"schema": body}}}
        # a body over the request limit (MAX_CONTENT_LENGTH), or a file over its own limit
        op["responses"]["413"] = ERROR
    return op


def _q(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


#: A multipart body of one uploaded file and an optional display name.
_NAMED_FILE_UPLOAD: dict[str, Any] = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary"},
        "name": {"type": "string"},
    },
}


#: The yes/no fields that confirm a flight registration refused without them (``parse_confirm``).
_REGISTRATION_CONFIRMS: dict[str, Any] = {
    "allow_unplaced": {
        "type": "boolean",
        "description": "register the photos even when none has a GPS position (their findings "
        "then fit no map point and no grid); without it such a flight is a 422 and nothing is "
        "stored. 1/true/yes/on or 0/false/no/off; any other value is a 400",
    },
}
_FORCE: dict[str, Any] = {
    "force": {
        "type": "boolean",
        "description": "register the photos although a flight from the same server folder "
        "exists or photos of the same content (SHA-256) are already stored as a flight; "
        "without it that is a 409 naming the flights (existing_flights; photos_stored: how "
        "many photos) and nothing is stored. 1/true/yes/on or 0/false/no/off",
    },
}
#: A nullable [lon, lat] pair.
_LONLAT: dict[str, Any] = {
    "type": "array",
    "nullable": True,
    "items": {"type": "number"},
    "description": "[lon, lat]",
}
#: A finding's photo overlay: placed (url, bounds) or, when the photo cannot be placed, why not.
_FINDING_OVERLAY: dict[str, Any] = {
    "description": "The overlay, or url and bounds null with the reason",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["finding_id", "photo_id", "url", "bounds", "reason"],
                "properties": {
                    "finding_id": {"type": "integer"},
                    "photo_id": {"type": "integer"},
                    "url": {"type": "string", "nullable": True},
                    "bounds": {
                        "type": "array",
                        "nullable": True,
                        "items": {"type": "array", "items": {"type": "number"}},
                        "description": "[[south, west], [north, east]]",
                    },
                    "centre": _LONLAT,
                    "yaw_deg": {"type": "number", "nullable": True},
                    "gsd_m": {"type": "number", "nullable": True},
                    "position": _LONLAT,
                    "polygon": {"type": "object", "nullable": True},
                    "reason": {
                        "type": "string",
                        "nullable": True,
                        "description": "why the photo has no overlay (null when it has one)",
                    },
                },
            }
        }
    },
}
#: What a flight registration answers when it is refused until confirmed, or too large.
_REGISTRATION_ANSWERS: dict[str, Any] = {
    "409": {"$ref": "#/components/responses/RegistrationRefused"},
    "413": {"$ref": "#/components/responses/Error"},
    "422": {"$ref": "#/components/responses/RegistrationRefused"},
}


def _answers(op: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    """``op`` with more documented responses (statuses beyond :func:`_op`'s common ones)."""
    return {**op, "responses": {**op["responses"], **answers}}


def _p(name: str, kind: str = "integer") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": kind}}


#: The operations' methods in a path item (its other keys, e.g. ``parameters``, are not).
METHODS = ("get", "put", "post", "delete", "patch")
LANG = {"$ref": "#/components/parameters/lang"}
BAD_PARAMETER = {"$ref": "#/components/responses/BadParameter"}


def _with_query_rules(paths: dict[str, Any]) -> dict[str, Any]:
    """Every operation takes ``lang``; a GET refuses any query parameter it does not list
    (``groundstation.params``), and a value it cannot use, with a 400 naming it."""
    for item in paths.values():
        for method in METHODS:
            if method not in item:
                continue
            op = item[method] = {**item[method]}
            op["parameters"] = [*op.get("parameters", []), LANG]
            if method == "get":
                op["responses"] = {**op["responses"], "400": BAD_PARAMETER}
    return paths


PAGE = [
    _q("page", {"type": "integer", "minimum": 1}),
    _q("page_size", {"type": "integer", "minimum": 1, "maximum": 500}),
]


def openapi_document() -> dict[str, Any]:
    """The document; built from the same tables the code uses (labels, states, actions)."""
    label = {"type": "string", "enum": list(LABELS)}
    review = {
        "type": "object",
        "required": ["decision"],
        "properties": {
            "decision": {"type": "string", "enum": ["confirm", "reject", "reclassify"]},
            "label": {**label, "description": "reclassify only (with another decision: 400)"},
            "note": {"type": "string"},
        },
    }
    transition = {
        "type": "object",
        "required": ["action"],
        "description": "a field the action does not take (department_id with extend, a note "
        "with confirm ...) is a 400 naming it",
        "properties": {
            "action": {"type": "string", "enum": list(TRANSITIONS)},
            "expected_state": {
                "type": "string",
                "enum": list(STATES),
                "description": "the state the caller saw; another state is a 409 (changed "
                "meanwhile) and nothing changes; a value that is no state is a 400",
            },
            "expected_deadline": {
                "type": "string",
                "format": "date-time",
                "description": "the deadline the caller saw; another deadline (another "
                "supervisor extended it) is a 409 and nothing changes",
            },
            "reason": {
                "type": "string",
                "description": "why (stripped); required by reject, return, reopen, recall "
                "and extend",
            },
            "department_id": {"type": "integer", "description": "dispatch only"},
            "deadline": {
                "type": "string",
                "format": "date-time",
                "description": "with a zone, in the future: dispatch (default: the class "
                "rule's), extend (required, later than the current deadline)",
            },
            "evidence": {
                "type": "array",
                "items": {"type": "object", "properties": {"note": {"type": "string"}}},
                "description": "resolve needs a note with text in it (spaces are none) or a photo",
            },
            "note": {"type": "string", "description": "resolve only: an evidence note"},
            "photo": {
                "type": "string",
                "format": "binary",
                "description": "multipart only: evidence photo for resolve",
            },
        },
    }
    paths: dict[str, Any] = {
        "/openapi.json": {"get": _op("This document", public=True)},
        "/me": {"get": _op("The acting user")},
        "/departments": {"get": _op("Departments (responsible units)")},
        "/rules": {"get": _op("Event table: class → department, deadline, standards")},
        "/rules/{label}": {
            "put": {
                **_op(
                    "Edit one event-table row",
                    roles=("admin",),
                    body={
                        "type": "object",
                        "properties": {
                            "department_id": {"type": "integer"},
                            "deadline_amount": {"type": "number"},
                            "deadline_unit": {
                                "type": "string",
                                "enum": ["hours", "work_hours", "work_days"],
                                "description": "calendar hours, working hours or working days "
                                "(due at the close of the N-th working day after dispatch)",
                            },
                            "deadline_hours": {
                                "type": "number",
                                "description": "shorthand: amount in calendar hours",
                            },
                            "name": {"type": "string"},
                            "filing_standard": {"type": "string"},
                            "closing_standard": {"type": "string"},
                        },
                    },
                ),
                "parameters": [_p("label", "string")],
            }
        },
        "/grids": {
            "get": _op("Grids"),
            "post": _answers(
                _op(
                    "Import a grid layer (GeoJSON, KML/KMZ, zipped Shapefile)",
                    roles=("supervisor", "admin"),
                    ok="201",
                    multipart=True,
                    body={
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    },
                ),
                {"200": {"description": "No grid created (all updated or unchanged); the counts"}},
            ),
        },
        "/grids.geojson": {"get": _op("Grids as a GeoJSON FeatureCollection")},
        "/grids/{code}": {
            "get": {
                **_op("A grid with its flights, findings and tickets"),
                "parameters": [_p("code", "string")],
            }
        },
        "/flights": {
            "get": _op("Flights"),
            "post": _flight_registration(),
        },
        "/flights/{flight_id}": {
            "get": {
                **_op(
                    "A flight's ingest progress: status (done_with_errors when some photos "
                    "failed), photos by status, photos_unplaced and unplaced_photos (no GPS "
                    "position: findings placed nowhere), photos_at_camera_position and "
                    "at_camera_position_photos (a GPS position but no height above ground: "
                    "findings at the camera's position), failed_photos ({name, error}: why "
                    "each failed); each list names at most 20 photos"
                ),
                "parameters": [_p("flight_id")],
            }
        },
        "/jobs/{job_id}": {
            "get": {
                **_op(
                    "A background job: error says why the job itself failed (null when it "
                    "ran, even if some of its photos failed: result.errors counts those, and "
                    "GET /flights/{id} names them with the reason); department staff, who "
                    "start no jobs, are refused (a job's counts are the whole flight's)",
                    roles=("pilot", "supervisor", "admin"),
                ),
                "parameters": [_p("job_id")],
            }
        },
        "/findings": {
            "get": _op(
                "The review queue, lowest confidence first",
                params=[
                    _q(
                        "status",
                        {"type": "string", "enum": ["pending", "confirmed", "rejected", "all"]},
                    ),
                    _q("label", label),
                    _q(
                        "min_score",
                        {"type": "number", "minimum": 0, "maximum": 1},
                        "score as the review page shows it (two decimals, a half rounded up) "
                        "at least this: 0.95 keeps a score of 0.9461, shown as 0.95",
                    ),
                    _q(
                        "max_score",
                        {"type": "number", "minimum": 0, "maximum": 1},
                        "score as the review page shows it (two decimals, a half rounded up) "
                        "at most this: 0.93 keeps a score of 0.9348, shown as 0.93",
                    ),
                    _q(
                        "grid",
                        {"type": "string"},
                        "repeated or comma-separated grid codes (any case); one that names no "
                        "grid is a 404 naming it",
                    ),
                    _q("flight", {"type": "integer"}),
                    _q("primary", {"type": "integer", "enum": [0, 1]}),
                    _q("order", {"type": "string", "enum": ["score", "-score", "id"]}),
                    *PAGE,
                ],
            )
        },
        "/findings/review": {
            "post": _answers(
                _op(
                    "Review many findings at once (all or none); 409 when one was already "
                    "reviewed (by another request meanwhile) and nothing changes",
                    roles=("supervisor", "admin"),
                    body={
                        **review,
                        "required": ["ids", "decision"],
                        "properties": {
                            **review["properties"],
                            "ids": {"type": "array", "items": {"type": "integer"}},
                        },
                    },
                ),
                CONFLICT,
            )
        },
        "/findings/{finding_id}": {"get": {**_op("A finding"), "parameters": [_p("finding_id")]}},
        "/findings/{finding_id}/crop": {
            "get": {**_op("The finding's image crop (JPEG)"), "parameters": [_p("finding_id")]}
        },
        "/findings/{finding_id}/review": {
            "post": {
                **_answers(
                    _op(
                        "Confirm (opens a ticket), reject or reclassify a finding; 409 when it "
                        "was already reviewed",
                        roles=("supervisor", "admin"),
                        body=review,
                    ),
                    CONFLICT,
                ),
                "parameters": [_p("finding_id")],
            }
        },
        "/photos/{photo_id}/image": {
            "get": {**_op("A flight photo"), "parameters": [_p("photo_id")]}
        },
        "/tickets": {
            "get": _op(
                "Tickets, one page (department users see their department's): items, page, "
                "page_size, total, pages, and next / prev (the URL of the next and previous page "
                "with the same filters, or null); a page past the last is empty",
                params=[
                    _q(
                        "state",
                        {"type": "string"},
                        f"repeated or comma-separated: {', '.join(STATES)}",
                    ),
                    _q(
                        "label",
                        {"type": "string"},
                        "repeated or comma-separated classes as reviewed (final_label; "
                        "background: false alarms rejected in review)",
                    ),
                    _q("department_id", {"type": "integer"}),
                    _q(
                        "grid",
                        {"type": "string"},
                        "repeated or comma-separated grid codes (any case); one that names no "
                        "grid is a 404 naming it",
                    ),
                    _q("overdue", {"type": "boolean"}, "active cases past their deadline only"),
                    _q(
                        "escalated",
                        {"type": "boolean"},
                        "cases escalated (督办) at least once, as the dashboard counts them, "
                        "whether extended or dispatched again since (escalation_level: the "
                        "level now)",
                    ),
                    _q("q", {"type": "string", "maxLength": 200}, "ticket id, grid code or text"),
                    _q(
                        "order",
                        {"type": "string", "enum": ["newest", "deadline", "grid"]},
                        "newest first (default); deadline: active cases first, most urgent "
                        "first; grid: by grid code, then newest. Ties go by ticket id.",
                    ),
                    *PAGE,
                    _q("per_page", {"type": "integer", "minimum": 1, "maximum": 500}, "page_size"),
                ],
            ),
            "post": _op(
                "Open a ticket by hand",
                roles=("supervisor", "admin"),
                ok="201",
                body={
                    "type": "object",
                    "required": ["label"],
                    "properties": {
                        "label": {"type": "string", "enum": list(TICKET_LABELS)},
                        "lat": {"type": "number"},
                        "lon": {"type": "number"},
                        "description": {"type": "string"},
                    },
                },
            ),
        },
        "/tickets/{ticket_id}": {
            "get": {
                **_op("A ticket with its case archive and the actions the caller may take"),
                "parameters": [_p("ticket_id")],
            }
        },
        "/tickets/{ticket_id}/transitions": {
            "post": {
                **_answers(
                    _op(
                        "Move a ticket: "
                        + "; ".join(
                            f"{t.action}: {'/'.join(sorted(t.sources))} → {t.target or 'same'} "
                            f"({', '.join(sorted(t.roles))})"
                            for t in TRANSITIONS.values()
                        )
                        + ". 409: the action is not allowed in the ticket's state, or the "
                        "ticket changed meanwhile (expected_state, expected_deadline); 413: "
                        "the evidence photo is over the size limit",
                        body=transition,
                    ),
                    CONFLICT,
                ),
                "parameters": [_p("ticket_id")],
            }
        },
        "/tickets/{ticket_id}/evidence/{index}": {
            "get": {
                **_op(
                    "The photo of the ticket's evidence entry number index (from 0): JPEG or "
                    "PNG (a TIFF is converted), inline, under the name it was sent with"
                ),
                "parameters": [_p("ticket_id"), _p("index")],
            }
        },
        "/notifications": {"get": _op("The notifier log", roles=("supervisor", "admin"))},
        "/escalations": {
            "post": _op(
                "Queue the overdue-ticket escalation job now",
                roles=("supervisor", "admin"),
                ok="202",
            )
        },
        "/stats": {
            "get": _op(
                "Indicators over every ticket up to now (as_of): cases by state (where they "
                "are now) and class; filed (立案数); closed (结案数: cases with a close, each "
                "once, reopened since or not, as on the dashboard; closed now: by_state); "
                "due (应结案数: deadline passed), closed_due, closed_on_time; closure_rate "
                "(结案率) = closed_due / due and on_time_closure_rate (按期结案率) = "
                "closed_on_time / due, a case being on time when its last resolve came by its "
                "deadline: the dashboard's definitions",
                roles=("supervisor", "admin"),
            )
        },
        **_pilot_paths(),
        **_imagery_paths(),
        **_photo_upload_paths(),
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "GridPatrol ground station API",
            "version": "1",
            "description": "Sign in (session cookie + X-CSRFToken header on unsafe methods) "
            "or send an API key bound to a user as `Authorization: Bearer "
            "KEY` or `X-API-Key: KEY` (`gridpatrol db create-api-key NAME "
            '--user USER`). Errors: 4xx with {"error": message}. Timestamps (created_at, '
            "deadline, an event's at ...) are ISO 8601 in UTC (+00:00), whatever zone they "
            "were given in; a case-archive event's data keeps what was archived (a dispatch's "
            "deadline in the station's TIMEZONE), and the dashboard's period bounds are "
            "midnights in TIMEZONE.",
        },
        "servers": [{"url": "/api/v1"}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
            "parameters": {
                "lang": {
                    "name": "lang",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "zh or en (with a region too: zh-CN): the language of the "
                    "answer's messages (none: the session's, else Accept-Language); another "
                    "language is a 400 naming lang; every operation takes it",
                }
            },
            "responses": {
                "BadParameter": {
                    "description": "A query parameter the operation does not take (lang is "
                    "taken everywhere), or a value it cannot use; the error names the parameter "
                    "and what the operation takes",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["error"],
                                "properties": {"error": {"type": "string"}},
                            }
                        }
                    },
                },
                "Error": {
                    "description": "Error",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["error"],
                                "properties": {"error": {"type": "string"}},
                            }
                        }
                    },
                },
                "RegistrationRefused": {
                    "description": "A flight registration refused until confirmed; nothing "
                    "was stored. Send the field named by confirm (= 1) to register it anyway",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["error", "confirm"],
                                "properties": {
                                    "error": {"type": "string"},
                                    "confirm": {
                                        "type": "string",
                                        "enum": ["force", "allow_unplaced"],
                                        "description": "force (409: the folder is already a "
                                        "flight, or photos of the same content are stored) or "
                                        "allow_unplaced (422: no photo has a GPS position)",
                                    },
                                    "existing_flights": {
                                        "type": "array",
                                        "items": {"type": "integer"},
                                        "description": "409: the flights from this folder, or "
                                        "holding photos of the same content",
                                    },
                                    "photos_stored": {
                                        "type": "integer",
                                        "description": "409: how many of the photos are already "
                                        "stored (the same content)",
                                    },
                                    "photos": {"type": "integer"},
                                    "photos_unplaced": {"type": "integer"},
                                    "missing": {
                                        "type": "array",
                                        "items": {"type": "string"},
                                        "description": "400: photos the flight log names that "
                                        "do not exist (the first 20)",
                                    },
                                    "photos_missing": {"type": "integer"},
                                },
                            }
                        }
                    },
                },
            },
        },
        "security": [{"bearer": []}, {"apiKey": []}, {"session": []}],
        "paths": _with_query_rules(paths),
    }


def _flight_registration() -> dict[str, Any]:
    """``POST /flights``: uploaded photos (multipart) or a server folder (form or JSON)."""
    fields: dict[str, Any] = {
        "name": {
            "type": "string",
            "description": "display name, cut to 200 characters (default: the folder's name)",
        },
        "source": {
            "type": "string",
            "description": "a server folder under PHOTO_ROOTS, or a flight log in one: a "
            "photo list, JSON lines, or a CSV whose header names a file column (the SITL's "
            "photos.csv); relative paths from the log's folder (instead of photos)",
        },
        "camera": {
            "description": "camera preset name (default phantom4pro) or a camera object with "
            "the gis.camera.Camera fields; photos stored smaller than the sensor are placed "
            "with it",
            "oneOf": [{"type": "string"}, {"type": "object"}],
        },
        **_REGISTRATION_CONFIRMS,
        **_FORCE,
    }
    photos = {"photos": {"type": "array", "items": {"type": "string", "format": "binary"}}}
    op = _op(
        "Register a flight's photos and queue their classification (202: flight_id, photos, "
        "photos_unplaced, photos_at_camera_position (a GPS position but no height above "
        "ground: their findings are placed at the camera's position, with a warning), "
        "photos_georeferenced (GeoTIFFs placed by their geotransform), "
        "camera, camera_size_mismatch, warnings, job_id, and duplicates_merged when photos "
        "of the same bytes were sent twice, under one name or two: each is registered once; "
        "photos_repeated names those under another name ({name, same_as}), as a finished "
        "upload's and a server folder's answers do); 409 when the server folder is "
        "already a flight, or photos of the same content are already stored as a flight "
        "(existing_flights, photos_stored; send force), 422 when no photo has a GPS position (send "
        "allow_unplaced), 413 when a photo is larger than the limit; 400 for a field it does "
        "not take, two different photos under one name, or photos a flight log (a list, JSON "
        "lines, or a CSV with a file column) names that do not exist (missing)",
        roles=("pilot", "supervisor", "admin"),
        ok="202",
        multipart=True,
        body={"type": "object", "properties": {**fields, **photos}},
    )
    op["requestBody"]["content"]["application/json"] = {
        "schema": {"type": "object", "required": ["source"], "properties": fields}
    }
    return _answers(op, _REGISTRATION_ANSWERS)


def _pilot_paths() -> dict[str, Any]:
    """Planning, flight sessions and the dashboard (issue 8)."""
    planners, flyers, managers = (
        ("pilot", "supervisor", "admin"),
        ("pilot", "admin"),
        (
            "supervisor",
            "admin",
        ),
    )
    number = {"type": "number"}
    plan_body = {
        "type": "object",
        "properties": {
            "grids": {"type": "array", "items": {"type": "string"}},
            "polygon": {"type": "object", "description": "a drawn GeoJSON Polygon (WGS84)"},
            "no_fly_layer": {"type": "integer"},
            "camera": {"type": "string"},
            "profile": {"type": "string", "enum": ["mapping", "patrol"]},
            "altitude_m": number,
            "gsd_cm": number,
            "front_overlap": {**number, "description": "percent"},
            "side_overlap": {**number, "description": "percent"},
            "speed_mps": number,
            "battery_minutes": number,
            "lead_in_m": {
                **number,
                "description": "metres each strip is entered ahead of its first photo, camera "
                "off (0 to 50, default 0)",
            },
            "home": {"type": "array", "items": number, "description": "[lon, lat]"},
            "name": {"type": "string"},
        },
    }
    dash = [
        _q("period", {"type": "string", "enum": ["day", "week", "month", "custom"]}),
        _q("date", {"type": "string", "format": "date"}, "a day inside the period"),
        _q("start", {"type": "string", "format": "date"}, "custom: first day"),
        _q("end", {"type": "string", "format": "date"}, "custom: last day (inclusive)"),
        _q("grid", {"type": "string"}, "a grid code; default the whole district"),
    ]
    return {
        "/plans/preview": {
            "post": _op(
                "Plan without saving: summary and GeoJSON layers", roles=planners, body=plan_body
            )
        },
        "/plans": {
            "get": _op("Saved plans"),
            "post": _op(
                "Plan and save (one mission per sortie)", roles=planners, body=plan_body, ok="201"
            ),
        },
        "/plans/{plan_id}": {"get": {**_op("A saved plan"), "parameters": [_p("plan_id")]}},
        "/plans/{plan_id}/download/{fmt}": {
            "get": {
                **_op("One sortie as .plan, .waypoints, .kml or .geojson"),
                "parameters": [
                    _p("plan_id"),
                    _p("fmt", "string"),
                    _q("sortie", {"type": "integer", "minimum": 1}),
                ],
            }
        },
        "/plans/{plan_id}/upload": {
            "post": {
                **_answers(
                    _op(
                        "Upload a sortie to a vehicle and verify it. 409 when the vehicle is "
                        "armed (nothing is uploaded to a flying vehicle), 502 when the link "
                        "fails (unreachable, or the vehicle refused or lost the mission: the "
                        "link's error), 400 for an altitude out of limits or a connection "
                        "string that does not parse",
                        roles=flyers,
                        body={
                            "type": "object",
                            "required": ["connection"],
                            "properties": {
                                "connection": {"type": "string"},
                                "sortie": {"type": "integer"},
                            },
                        },
                    ),
                    {"409": ERROR, "502": ERROR},
                ),
                "parameters": [_p("plan_id")],
            }
        },
        "/no-fly": {
            "get": _op("No-fly layers"),
            "post": _op(
                "Import a no-fly layer (GeoJSON, KML/KMZ, zipped Shapefile)",
                roles=planners,
                body=_NAMED_FILE_UPLOAD,
                multipart=True,
                ok="201",
            ),
        },
        "/no-fly/{layer_id}.geojson": {
            "get": {**_op("A no-fly layer as GeoJSON"), "parameters": [_p("layer_id")]}
        },
        "/flight-sessions": {
            "get": _op("Flight sessions"),
            "post": _answers(
                _op(
                    "Start a flight session: a saved plan's sortie to a connection string, or our "
                    "SITL; 409 when another session flies that vehicle or too many sessions run",
                    roles=flyers,
                    body={
                        "type": "object",
                        "required": ["plan_id"],
                        "properties": {
                            "plan_id": {"type": "integer"},
                            "sortie": {"type": "integer"},
                            "connection": {"type": "string"},
                            "simulate": {"type": "boolean"},
                            "speedup": number,
                            "world": {"type": "string", "description": "server GeoTIFF path"},
                            "endurance_min": {
                                "type": "number",
                                "minimum": 1,
                                "maximum": 120,
                                "description": "a full battery's flight time; omitted: the "
                                "vehicle's BATT_CAPACITY and the current it draws decide",
                            },
                        },
                    },
                    ok="201",
                ),
                CONFLICT,
            ),
        },
        "/flight-sessions/{session_id}": {
            "get": {
                **_op("A flight session, live state included"),
                "parameters": [_p("session_id")],
            }
        },
        "/flight-sessions/{session_id}/commands": {
            "post": {
                **_answers(
                    _op(
                        "A pilot command; 409 when the vehicle or the session refuses it (or "
                        "the session is not running in this server), 504 when the vehicle "
                        "does not answer within 30 s",
                        roles=flyers,
                        body={
                            "type": "object",
                            "required": ["command"],
                            "properties": {
                                "command": {
                                    "type": "string",
                                    "enum": list(COMMANDS),
                                }
                            },
                        },
                    ),
                    {
                        **CONFLICT,
                        "202": {
                            "description": "RTL, land or pause queued (``queued``: true): the "
                            "link is lost or the vehicle did not answer; sent until it takes it"
                        },
                        "504": ERROR,
                    },
                ),
                "parameters": [_p("session_id")],
            }
        },
        "/flight-sessions/{session_id}/events": {
            "get": {
                **_op(
                    "Server-Sent Events (state, message, transfer, checks, telemetry, photo, end);"
                    " resume with the Last-Event-ID header, or last_event_id where a client "
                    "cannot set it (the header wins)"
                ),
                "parameters": [
                    _p("session_id"),
                    _q(
                        "last_event_id",
                        {"type": "integer", "minimum": 0},
                        "the last event the client has; the stream starts after it",
                    ),
                ],
            }
        },
        "/dashboard": {
            "get": {
                **_op(
                    "Dashboard figures for a period (days from 0001-01-03 to 9999-12-29): "
                    "closed counts close events in the period (reopened since or not); by "
                    "department, closures and escalations count for the department that held "
                    "the case then, the other figures for the one responsible now",
                    roles=managers,
                ),
                "parameters": dash,
            }
        },
    }


def _imagery_paths() -> dict[str, Any]:
    """Map imagery: photo overlays and orthomosaic layers (``blueprints/imagery.py``)."""
    uploaders = ("pilot", "admin")
    overlay = "bounds [[south, west], [north, east]] and the URL of the north-up WGS84 PNG"
    return {
        "/photos/{photo_id}/overlay": {
            "get": {**_op(f"A photo as a map overlay: {overlay}"), "parameters": [_p("photo_id")]}
        },
        "/photos/{photo_id}/overlay.png": {
            "get": {
                **_op("The photo warped north-up to WGS84 (PNG with alpha, ≤ 1024 px, cached)"),
                "parameters": [_p("photo_id")],
            }
        },
        "/findings/{finding_id}/overlay": {
            "get": {
                **_answers(
                    _op(
                        f"The finding's photo as a map overlay: {overlay}, with the finding's "
                        "box; a photo that cannot be placed (no geotag or height above ground, "
                        "file gone) answers 200 with url and bounds null and the reason; 404 "
                        "is a finding that does not exist or is not the user's to see"
                    ),
                    {"200": _FINDING_OVERLAY},
                ),
                "parameters": [_p("finding_id")],
            },
        },
        "/flights/{flight_id}/overlays": {
            "get": {
                **_op("Every placeable photo of a flight as an overlay; the others with why"),
                "parameters": [_p("flight_id")],
            }
        },
        "/orthomosaics": {
            "get": _op("Orthomosaic layers: bounds and preview URL"),
            "post": _answers(
                _op(
                    "Upload a GeoTIFF orthomosaic (TIFF/BigTIFF, georeferenced; at most "
                    "MAX_ORTHOMOSAIC_BYTES and MAX_ORTHOMOSAIC_PIXELS, else 413); the 201 "
                    "answer's warnings say when it lies in none of the grids (a wrong CRS?)",
                    roles=uploaders,
                    body=_NAMED_FILE_UPLOAD,
                    multipart=True,
                    ok="201",
                ),
                {"413": {"$ref": "#/components/responses/Error"}},
            ),
        },
        "/orthomosaics/{ortho_id}": {
            "get": {**_op("An orthomosaic layer"), "parameters": [_p("ortho_id")]},
            "delete": {
                **_op("Delete an orthomosaic and its files", roles=uploaders),
                "parameters": [_p("ortho_id")],
            },
        },
        "/orthomosaics/{ortho_id}/preview.png": {
            "get": {
                **_op("The web preview: EPSG:4326, ≤ 2048 px, PNG with alpha"),
                "parameters": [_p("ortho_id")],
            }
        },
    }


def _photo_upload_paths() -> dict[str, Any]:
    """Staged photo uploads: a flight's photos in many small requests (``photo_uploads.py``)."""
    uploaders = ("pilot", "supervisor", "admin")
    upload = [_p("upload_id", "string")]

    def op(summary: str, **kwargs: Any) -> dict[str, Any]:
        out = _op(summary, roles=uploaders, **kwargs)
        out["responses"]["409"] = {"$ref": "#/components/responses/Error"}
        return out

    return {
        "/photo-uploads": {
            "get": _op(
                "The caller's unfinished photo uploads (an admin's: everyone's), newest first",
                roles=uploaders,
            ),
            "post": _op(
                "Start a photo upload (201): name and camera as POST /flights takes them; "
                "the answer's camera is the one finishing will use (phantom4pro when none "
                "is given). Uploads untouched for a day, finished ones included, are "
                "deleted when a new one starts",
                roles=uploaders,
                ok="201",
                body={
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "maxLength": 200},
                        "camera": {
                            "description": "camera preset name (default phantom4pro) or a "
                            "camera object with the gis.camera.Camera fields",
                            "oneOf": [{"type": "string"}, {"type": "object"}],
                        },
                    },
                },
            ),
        },
        "/photo-uploads/{upload_id}": {
            "get": {
                **_op(
                    "A photo upload with the photos that have arrived (files: name, original, "
                    "bytes) and status open: a reloaded page resumes from it. A finished one "
                    "has status finished and, under finished, the answer its finish gave "
                    "(flight_id, job_id, ...); a cancelled one is a 404",
                    roles=uploaders,
                ),
                "parameters": upload,
            },
            "delete": {
                **op(
                    "Cancel a photo upload: its staged photos are deleted (photos: how "
                    "many). 409 while a finish holds them or once it is finished: exactly "
                    "one of a finish and a cancel at once wins"
                ),
                "parameters": upload,
            },
        },
        "/photo-uploads/{upload_id}/photos": {
            "post": {
                **_answers(
                    op(
                        "Add photos (one per request is best), each checked like POST /flights "
                        "checks it (size: 413, a real JPEG/PNG/TIFF within the pixel limit: "
                        "400); a request stores all its photos or none. 201 when a photo is "
                        "new, 200 when all were there with the same bytes (a retry); 409 when "
                        "a name holds other bytes; 507 when the station's disk is full",
                        ok="201",
                        multipart=True,
                        body={
                            "type": "object",
                            "required": ["photos"],
                            "properties": {
                                "photos": {
                                    "type": "array",
                                    "items": {"type": "string", "format": "binary"},
                                }
                            },
                        },
                    ),
                    {
                        "200": {"description": "every photo was already there (a retry)"},
                        "413": {"$ref": "#/components/responses/Error"},
                        "507": {"$ref": "#/components/responses/Error"},
                    },
                ),
                "parameters": upload,
            }
        },
        "/photo-uploads/{upload_id}/finish": {
            "post": {
                **_answers(
                    op(
                        "Register the arrived photos as a flight and queue their "
                        "classification (202: upload_id, flight_id, job_id, flight_url, "
                        "findings_url and the fields of POST /flights' answer). Safe to retry: "
                        "an upload finished before answers 200 with that same body (a client "
                        "that lost the 202 finds its flight); a cancelled one is a 404. 400 "
                        "when no photo has arrived, or for a field it does not take or a "
                        "photos that is no JSON integer, 409 when photos differs from the count "
                        "arrived (or another request is finishing the upload) or when photos "
                        "of the same content are already stored as a flight (existing_flights, "
                        "photos_stored; send force), 422 when no photo has a GPS position "
                        "(send allow_unplaced); refused, the photos stay in the upload",
                        ok="202",
                        body={
                            "type": "object",
                            "properties": {
                                "photos": {
                                    "type": "integer",
                                    "minimum": 0,
                                    "description": "optional: how many photos the caller sent",
                                },
                                **_REGISTRATION_CONFIRMS,
                                "force": {
                                    "type": "boolean",
                                    "description": "register the photos although photos of "
                                    "the same content (SHA-256) are already stored as a flight; "
                                    "without it that is a 409 naming the flights "
                                    "(existing_flights) and how many photos (photos_stored). "
                                    "1/true/yes/on or 0/false/no/off",
                                },
                            },
                        },
                    ),
                    {
                        "200": {
                            "description": "finished before: the body of its 202 (a retry "
                            "that lost the answer)"
                        },
                        "422": {"$ref": "#/components/responses/RegistrationRefused"},
                    },
                ),
                "parameters": upload,
            }
        },
    }
