"""Request-scoped helpers shared by the blueprints: the DB session on ``g``, the acting user,
role checks, API-key authentication and JSON errors.

API authentication (documented in the OpenAPI document): either the browser session (Flask-Login
cookie) plus the CSRF token in an ``X-CSRFToken`` header on unsafe methods, or an API key bound to a
user in ``Authorization: Bearer <key>`` / ``X-API-Key: <key>`` (no CSRF: no cookie is involved).
"""

from __future__ import annotations

import hashlib
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


def request_data(*, form: bool = True) -> dict[str, Any]:
    """The request's JSON object body (or its form fields, when ``form`` and not JSON)."""
    if request.is_json or not form:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise ValidationError(_l("request body must be a JSON object"))
        return data
    return request.form.to_dict()


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
