"""Request-scoped helpers shared by the blueprints: the DB session on ``g``, the acting user,
role checks, API-key authentication and JSON errors.

API authentication (documented in the OpenAPI document): either the browser session (Flask-Login
cookie) plus the CSRF token in an ``X-CSRFToken`` header on unsafe methods, or an API key bound to a
user in ``Authorization: Bearer <key>`` / ``X-API-Key: <key>`` (no CSRF: no cookie is involved).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import abort, current_app, g, jsonify, request
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session

from groundstation.errors import (
    GroundStationError,
    NotFoundError,
    PermissionDenied,
    StorageError,
    TooLargeError,
    TransitionError,
    ValidationError,
)
from groundstation.i18n import ROLE_NAMES, lazy_names
from groundstation.i18n import lazy_message as _l
from groundstation.jobs import JobQueue
from groundstation.models import ApiKey, User, utcnow
from groundstation.notify import NotifierHub
from groundstation.storage import Storage
from groundstation.tickets import Actor
from groundstation.workcal import WorkCalendar

__all__ = [
    "AppState",
    "state",
    "db",
    "close_db",
    "hash_api_key",
    "new_api_key",
    "api_key_from_request",
    "acting_user",
    "actor_for",
    "current_actor",
    "roles_required",
    "error_status",
    "json_error",
    "lookup_api_key",
    "request_data",
    "check_text",
    "MAX_JSON_DEPTH",
]

F = TypeVar("F", bound=Callable[..., Any])
KEY_TOUCH = timedelta(minutes=1)


@dataclass
class AppState:
    """Everything the app holds beyond Flask: storage, job queue, notifiers, working calendar."""

    storage: Storage
    queue: JobQueue
    notifier: NotifierHub
    calendar: WorkCalendar = field(default_factory=WorkCalendar)


def state() -> AppState:
    return current_app.extensions["gridpatrol"]


def db() -> Session:
    """This request's database session (flaskr's ``get_db``)."""
    if "db" not in g:
        g.db = state().storage.sessionmaker()
    return g.db


def close_db(_exc: BaseException | None = None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()


#: Characters no text GridPatrol takes may hold: NUL (PostgreSQL's text types refuse it) and
#: lone UTF-16 surrogates (JSON's "\ud800" escapes; they have no UTF-8 encoding).
_REFUSED_CHARACTERS = re.compile("[\x00\ud800-\udfff]")
#: How deeply a JSON request body may nest (a GeoJSON MultiPolygon in a plan needs about 8).
MAX_JSON_DEPTH = 64


def check_text(value: str, *, field: Any) -> str:
    """``value``, or a ValidationError naming ``field`` when it holds a character no database
    stores (NUL, a lone surrogate)."""
    match = _REFUSED_CHARACTERS.search(value)
    if match is not None:
        raise ValidationError(
            _l(
                "%(field)s contains the character %(char)s, which is not allowed",
                field=field,
                char=f"U+{ord(match.group()):04X}",
            )
        )
    return value


def _check_json(data: Any) -> None:
    """Refuse a parsed JSON body nested deeper than MAX_JSON_DEPTH or with a refused character
    in any key or string (walked without recursion)."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_JSON_DEPTH:
            raise ValidationError(
                _l("request body is nested more than %(max)d levels deep", max=MAX_JSON_DEPTH)
            )
        if isinstance(value, str):
            check_text(value, field=_json_path(path))
        elif isinstance(value, dict):
            for key, item in value.items():
                check_text(key, field=_json_path((*path, key)))
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))


def _json_path(path: tuple[Any, ...]) -> str:
    """A JSON body's member as a reader names it: ``evidence[0].note``."""
    return repr("".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")[:80])


def request_data(*, form: bool = True) -> dict[str, Any]:
    """The request's JSON object body, or its form fields when ``form`` and the body is not
    JSON (``form=False``: endpoints that take JSON only refuse a form). Text holding NUL or a
    lone surrogate, and JSON nested deeper than MAX_JSON_DEPTH, are refused (ValidationError)."""
    if not request.is_json:
        if not form:
            raise ValidationError(_l("request body must be JSON (Content-Type: application/json)"))
        fields = request.form
        for key, value in fields.items(multi=True):
            check_text(key, field=_l("a form field name"))
            check_text(value, field=repr(key[:80]))
        return fields.to_dict()
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # the parser's own depth limit
        raise ValidationError(
            _l("request body is nested more than %(max)d levels deep", max=MAX_JSON_DEPTH)
        ) from None
    if not isinstance(data, dict):
        raise ValidationError(_l("request body must be a JSON object"))
    _check_json(data)
    return data


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    return "gp_" + secrets.token_urlsafe(32)


def api_key_from_request() -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return request.headers.get("X-API-Key") or None


def lookup_api_key(session: Session, key: str | None) -> ApiKey | None:
    if not key:
        return None
    row = session.scalar(
        select(ApiKey).where(ApiKey.key_hash == hash_api_key(key), ApiKey.revoked.is_(False))
    )
    now = utcnow()
    if row is not None and (row.last_used_at is None or now - row.last_used_at > KEY_TOUCH):
        row.last_used_at = now  # at most one write a minute per key, not one per request
        session.commit()
    return row


def acting_user() -> User | None:
    """The user behind this request: the API key's user, else the signed-in user."""
    if "api_user" in g:
        return g.api_user
    if current_user.is_authenticated:
        return current_user._get_current_object()
    return None


def actor_for(user: User) -> Actor:
    return Actor(
        name=user.username, role=user.role, department_id=user.department_id, user_id=user.id
    )


def current_actor() -> Actor:
    user = acting_user()
    if user is None:
        abort(401)
    return actor_for(user)


def roles_required(*roles: str) -> Callable[[F], F]:
    """Refuse the view unless the acting user has one of ``roles`` (401 if nobody signed in)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = acting_user()
            if user is None:
                if request.path.startswith("/api/"):
                    return json_error(
                        _l("authentication required: sign in or send an API key"), 401
                    )
                return current_app.login_manager.unauthorized()
            if roles and user.role not in roles:
                raise PermissionDenied(
                    _l(
                        "role %(role)s may not use %(path)s (needs: %(roles)s)",
                        role=lazy_names(ROLE_NAMES, user.role, quote=True),
                        path=request.path,
                        roles=lazy_names(ROLE_NAMES, *roles),
                    )
                )
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


def error_status(exc: GroundStationError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, PermissionDenied):
        return 403
    if isinstance(exc, TransitionError):
        return 409
    if isinstance(exc, TooLargeError):
        return 413
    if isinstance(exc, ValidationError):
        return 400
    if isinstance(exc, StorageError):  # in a request: the database is unavailable
        return 503
    return 500


def json_error(message: Any, status: int) -> Any:
    """``{"error": message}``; a lazy message is rendered in the request's language."""
    response = jsonify({"error": str(message)})
    response.status_code = status
    return response
