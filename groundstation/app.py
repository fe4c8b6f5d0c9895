"""``create_app(config)``: the ground-station Flask app with its extensions and blueprints.

Database policy: the embedded SQLite default is migrated on first start (``AUTO_MIGRATE``); any
other database (``DATABASE_URL``) must be migrated with ``gridpatrol db upgrade``, and the app
refuses to start against an out-of-date schema with a :class:`NotMigratedError` saying so.
"""

from __future__ import annotations

import atexit
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import xstatic.pkg.leaflet
from flask import Flask, flash, jsonify, redirect, render_template, request, send_from_directory
from flask_babel import Babel
from flask_login import LoginManager
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from groundstation.config import build_config
from groundstation.errors import GroundStationError
from groundstation.jobs import Handler, build_queue
from groundstation.models import User
from groundstation.notify import build_notifiers
from groundstation.storage import Storage
from groundstation.web import AppState, close_db, db, error_status, json_error

__all__ = ["create_app", "csrf", "login_manager", "LEAFLET_DIR"]

csrf = CSRFProtect()
login_manager = LoginManager()
LEAFLET_DIR = Path(xstatic.pkg.leaflet.BASE_DIR)
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"


def _select_locale() -> str:
    from flask import current_app, session

    languages = current_app.config["LANGUAGES"]
    lang = request.args.get("lang") or session.get("lang")
    return lang if lang in languages else current_app.config["BABEL_DEFAULT_LOCALE"]


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
    app.config.update(settings)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS_DIR)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", app.config["TIMEZONE"])

    storage = Storage(app.config["DATABASE_URL"])
    if app.config["AUTO_MIGRATE"]:
        if storage.current_revision() != storage.head_revision():
            storage.upgrade()
    else:
        storage.check_migrated()
    queue = build_queue(app.config, storage, handlers=handlers)
    notifier = build_notifiers(
        app.config["NOTIFIERS"],
        webhook_url=app.config["WEBHOOK_URL"],
        webhook_timeout_s=float(app.config["WEBHOOK_TIMEOUT_S"]),
    )
    app.extensions["gridpatrol"] = AppState(storage=storage, queue=queue, notifier=notifier)
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

    @app.get("/")
    def index() -> Any:
        return redirect("/review")

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
def _load_user(user_id: str) -> User | None:
    try:
        user = db().get(User, int(user_id))
    except ValueError:
        return None
    return user if user is not None and user.active else None


def _wants_json() -> bool:
    return request.path.startswith(("/api/", "/open311/")) or request.is_json


def _register_errors(app: Flask) -> None:
    from groundstation.blueprints.open311 import open311_error

    @app.errorhandler(GroundStationError)
    def gridpatrol_error(exc: GroundStationError) -> Any:
        db().rollback()
        status = error_status(exc)
        if request.path.startswith("/open311/"):
            return open311_error(status, str(exc))
        if _wants_json():
            return json_error(str(exc), status)
        flash(str(exc), "error")
        return render_template("error.html", message=str(exc), status=status), status

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Any:
        message = f"CSRF check failed: {exc.description}"
        if _wants_json():
            return json_error(message, 400)
        flash(message, "error")
        return render_template("error.html", message=message, status=400), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        status = exc.code or 500
        message = exc.description or exc.name
        if status == 413:
            message = (
                f"upload too large (limit {app.config['MAX_CONTENT_LENGTH'] // 2**20} MiB "
                "per request)"
            )
        if request.path.startswith("/open311/"):
            return open311_error(status, message)
        if _wants_json():
            response = jsonify({"error": message})
            response.status_code = status
            return response
        return render_template("error.html", message=message, status=status), status
