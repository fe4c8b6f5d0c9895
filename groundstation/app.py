"""``create_app(config)``: the ground-station Flask app with its extensions and blueprints.

Database policy: the embedded SQLite default is migrated on first start (``AUTO_MIGRATE``); any
other database (``DATABASE_URL``) must be migrated with ``gridpatrol db upgrade``, and the app
refuses to start against an out-of-date schema with a :class:`NotMigratedError` saying so.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import xstatic.pkg.leaflet
from flask import (
    Flask,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_babel import Babel
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from groundstation.config import build_config, work_calendar
from groundstation.errors import GroundStationError, StorageError
from groundstation.jobs import Handler, build_queue
from groundstation.models import MAX_ID, User
from groundstation.notify import notifiers_from_config
from groundstation.params import check_language, offered_language, takes
from groundstation.storage import Storage
from groundstation.user_sessions import UserSessions
from groundstation.web import AppState, check_text, close_db, db, error_status, json_error

__all__ = ["create_app", "csrf", "login_manager", "LEAFLET_DIR"]

csrf = CSRFProtect()
log = logging.getLogger(__name__)
login_manager = LoginManager()
LEAFLET_DIR = Path(xstatic.pkg.leaflet.BASE_DIR)
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"

#: What an error page says above the technical detail, by HTTP status.
ERROR_EXPLANATIONS = {
    400: _l("The request could not be used. Nothing was changed."),
    401: _l("Please sign in first."),
    403: _l("Your role may not open this page or do this."),
    404: _l("This page or record does not exist."),
    405: _l("This address does not accept this kind of request."),
    409: _l("The record is not in a state that allows this. Nothing was changed."),
    413: _l("The upload is too large. Nothing was stored."),
    500: _l("The server failed to answer. The error has been logged."),
    503: _l("The database is unavailable. Nothing was changed: try again shortly."),
}
CSRF_EXPIRED = _l(
    "The form has expired or did not come from this site: reload the page and try again."
)
#: The same for a page's own requests (JSON): flask-wtf's reason ("The CSRF token is missing.")
#: is English and tells a user nothing; it stays in the log.
CSRF_EXPIRED_JSON = _l(
    "The page has expired or the request did not come from this site: reload the page and try "
    "again (CSRF check failed)."
)


class IdConverter(IntegerConverter):
    """``<int:...>`` in routes: a number beyond the id columns' range (:data:`MAX_ID`) matches no
    route (404) instead of overflowing the database driver (500)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def _select_locale() -> str:
    """``?lang=``, else the session's choice, else Chinese. An API client without a browser
    sign-in (an API key, or no credentials at all) or an Open311 client gets its
    ``Accept-Language`` match, else English; no request (CLI, jobs): English."""
    from flask import current_app, has_request_context, session

    from groundstation.web import api_key_from_request

    if not has_request_context():
        return "en"
    languages = current_app.config["LANGUAGES"]
    asked = offered_language(request.args.get("lang") or "", languages)
    if asked is not None:
        return asked
    if session.get("lang") in languages:
        return session["lang"]
    # Flask-Login's session key: read without loading the user (the database may be down)
    api_client = request.path.startswith("/api/") and "_user_id" not in session
    if api_client or api_key_from_request() or request.path.startswith("/open311/"):
        return request.accept_languages.best_match(languages) or "en"
    return current_app.config["BABEL_DEFAULT_LOCALE"]


class PageRefreshedSessions(SecureCookieSessionInterface):
    """Cookie sessions re-sent (their expiry slid on) only when changed or on a page load, not
    on every fetch a page makes: a fetch answered just after the reader switched language (or
    signed in) wrote the session it was sent with back over the new one."""

    def should_set_cookie(self, app: Flask, session: Any) -> bool:
        if session.modified:
            return True
        navigating = request.headers.get("Sec-Fetch-Mode", "navigate") == "navigate"
        return bool(session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"] and navigating)


def create_app(
    config: Mapping[str, Any] | None = None,
    *,
    handlers: Mapping[str, Handler] | None = None,
    start_jobs: bool | None = None,
) -> Flask:
    """Build the app.

    Parameters
    ----------
    config:
        Settings overriding :data:`groundstation.config.DEFAULTS` and the environment
        (``DATA_DIR``, ``DATABASE_URL``, ``REDIS_URL``, ``JOB_WORKERS``, ...).
    handlers:
        Job handlers replacing the built-in ones (tests).
    start_jobs:
        Start in-process worker threads; default: when ``JOB_WORKERS`` > 0 and no ``REDIS_URL``.
    """
    settings = build_config(overrides=config)
    app = Flask(__name__, instance_relative_config=False)
    app.session_interface = PageRefreshedSessions()
    if hops := int(settings.get("PROXY_HOPS") or 0):  # the client's address, scheme and host
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.url_map.converters["int"] = IdConverter
    app.config.update(settings)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS_DIR)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", app.config["TIMEZONE"])
    calendar = work_calendar(app.config)  # a bad calendar stops the start, before any worker

    storage = Storage(app.config["DATABASE_URL"])
    if app.config["AUTO_MIGRATE"]:
        if storage.current_revision() != storage.head_revision():
            storage.upgrade()
    else:
        storage.check_migrated()
    queue = build_queue(app.config, storage, handlers=handlers)
    notifier = notifiers_from_config(app.config, queue=queue)  # announces its retries
    app.extensions["gridpatrol"] = AppState(
        storage=storage, queue=queue, notifier=notifier, calendar=calendar
    )
    app.teardown_appcontext(close_db)

    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    Babel(app, locale_selector=_select_locale)

    # plan, flights, dashboard and imagery add their /api/v1 routes to api.bp when imported
    from groundstation.blueprints import (
        admin,
        api,
        auth,
        dashboard,
        flights,
        grids,
        imagery,  # noqa: F401  (adds its routes to api.bp)
        open311,
        photo_uploads,  # noqa: F401  (adds its routes to api.bp)
        plan,
        review,
        tickets,
    )

    for module in (auth, grids, review, tickets, admin, api, open311, plan, flights, dashboard):
        app.register_blueprint(module.bp)
    csrf.exempt(api.bp)  # api checks CSRF itself for cookie sessions; API keys need none
    csrf.exempt(open311.bp)  # Open311 authenticates POSTs by api_key only

    @app.get("/vendor/leaflet/<path:filename>")
    def leaflet(filename: str) -> Any:
        return send_from_directory(LEAFLET_DIR, filename, max_age=86400)

    @app.after_request
    def protective_headers(response: Response) -> Response:
        """No MIME sniffing, no framing by other sites, no full referrer to them; what a login
        protects (photos, crops) is cached by the user's browser only, never by a shared proxy."""
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.cache_control.public and request.endpoint not in ("leaflet", "static"):
            response.cache_control.public = False
            response.cache_control.private = True
        return response

    @app.get("/")
    @takes()
    def index() -> Any:
        from flask_login import current_user

        from groundstation.blueprints.auth import home_url

        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        return redirect(home_url(current_user.role))

    _register_errors(app)

    from flask_babel import get_locale

    from groundstation.i18n import template_names

    @app.context_processor
    def names() -> dict[str, Any]:
        return {**template_names(), "current_locale": str(get_locale())}

    run_threads = (
        start_jobs
        if start_jobs is not None
        else (int(app.config["JOB_WORKERS"]) > 0 and not app.config["REDIS_URL"])
    )
    if run_threads:
        queue.start()
        atexit.register(queue.stop)
    return app


@login_manager.user_loader
def _load_user(token: str) -> User | None:
    """The session's user while its sign-in record lasts (not signed out, not ended by
    disable-user or reset-password, not idle too long) and they are active."""
    return UserSessions.from_config(current_app.config).resume(db(), token)


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/open311/")) or request.is_json


def _error_page(status: int, detail: str = "", explanation: Any = None) -> Any:
    """The error page: what happened in the user's language, then the technical detail."""
    if explanation is None:
        explanation = ERROR_EXPLANATIONS.get(
            status, ERROR_EXPLANATIONS[500 if status >= 500 else 400]
        )
    return (
        render_template("error.html", status=status, explanation=explanation, message=detail),
        status,
    )


def _refuse_unreadable_address() -> None:
    """A NUL (``%00``) in the path or the query string is refused before any view reads it:
    PostgreSQL cannot compare text holding one."""
    check_text(request.path, field=_l("the address"))
    for key, value in request.args.items(multi=True):
        check_text(key, field=_l("a query parameter name"))
        check_text(value, field=repr(key[:80]))
    check_language(request.args, current_app.config["LANGUAGES"])  # answered in the default one


def _register_errors(app: Flask) -> None:
    from groundstation.blueprints.open311 import open311_error

    app.before_request(_refuse_unreadable_address)

    @app.errorhandler(GroundStationError)
    def gridpatrol_error(exc: GroundStationError) -> Any:
        with contextlib.suppress(SQLAlchemyError):  # the database may be what failed
            db().rollback()
        status = error_status(exc)
        if request.path.startswith("/open311/"):
            return open311_error(status, str(exc))
        if _wants_json():
            return json_error(str(exc), status)
        return _error_page(status, str(exc))

    @app.errorhandler(OperationalError)
    def database_unavailable(exc: OperationalError) -> Any:
        """The database is down or unreachable: 503, one log line, no traceback per request."""
        log.warning("database unavailable: %s", str(exc.orig or exc).splitlines()[0])
        return gridpatrol_error(StorageError(_l("the database is unavailable; try again shortly")))

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Any:
        log.info("CSRF check failed on %s: %s", request.path, exc.description)
        if _wants_json():
            return json_error(CSRF_EXPIRED_JSON, 400)
        if request.endpoint == "auth.login":  # a login page left open too long: sign in again
            from groundstation.blueprints.auth import LoginForm

            flash(str(CSRF_EXPIRED), "error")
            return render_template("login.html", form=LoginForm()), 400
        return _error_page(400, explanation=CSRF_EXPIRED)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        message = exc.description or exc.name
        if status == 413:
            limit = request.max_content_length or app.config["MAX_CONTENT_LENGTH"]
            message = str(
                _l("upload too large (limit %(limit)d MiB per request)", limit=limit // 2**20)
            )
        custom = message != type(exc).description
        if not custom and status in ERROR_EXPLANATIONS:  # Werkzeug's English default
            message = str(ERROR_EXPLANATIONS[status])
        if request.path.startswith("/open311/"):
            return open311_error(status, message)
        if _wants_json():
            response = jsonify({"error": message})
            response.status_code = status
            return response
        return _error_page(status, message if custom and status != 413 else "")
