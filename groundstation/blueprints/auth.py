"""Sign in and out, and switch the UI language (Simplified Chinese by default, English).

Signing in starts a fresh session (nothing set before it survives), recorded in the database
(:mod:`groundstation.user_sessions`: signing out ends it there too), and counts failures per
user name and client address in the database (:mod:`groundstation.signin_locks`, shared by every
serve process): after ``LOGIN_MAX_FAILURES`` within ``LOGIN_LOCKOUT_S`` seconds that pair is
refused (HTTP 429) until the oldest failure is that old. A disabled user who gives the right
password is told their account is disabled (HTTP 403); a wrong password never says so.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from groundstation.models import User, utcnow
from groundstation.params import language_error, offered_language, takes
from groundstation.signin_locks import SignInLocks
from groundstation.user_sessions import UserSessions
from groundstation.web import db, state

__all__ = ["bp", "LoginForm", "safe_next", "home_url"]

bp = Blueprint("auth", __name__)


_DUMMY_HASH: list[str] = []


def _dummy_hash() -> str:
    """A hash to check against for unknown users, so they take as long as known ones."""
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(generate_password_hash("not a password"))
    return _DUMMY_HASH[0]


def _fresh_session() -> None:
    """Drop everything the session held (a planted or stale session id, its CSRF token); keep
    only the UI language."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


class LoginForm(FlaskForm):
    """Fields ``username``, ``password`` and ``csrf_token``."""

    username = StringField("username", validators=[DataRequired(), Length(max=80)])
    password = PasswordField("password", validators=[DataRequired(), Length(max=256)])


def safe_next(target: str | None, default: str) -> str:
    """Only same-site relative redirect targets (no open redirects)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


#: Where each role starts: the page of its daily work (one it may open).
HOME_PAGES = {"department": "tickets.index", "pilot": "flights.index"}


def home_url(role: str) -> str:
    return url_for(HOME_PAGES.get(role, "review.index"))


@bp.route("/login", methods=["GET", "POST"])
@takes("next")
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        name, address = form.username.data, request.remote_addr or ""
        locks = SignInLocks.from_config(current_app.config)
        with state().storage.session() as store:
            attempt = locks.attempt(store, name, address)  # counted before the password
        if attempt.refused:
            assert attempt.retry_at is not None
            wait = max(1.0, (attempt.retry_at - utcnow()).total_seconds())
            flash(
                _(
                    "Too many failed sign-ins for this user name: try again in %(minutes)d "
                    "minutes.",
                    minutes=math.ceil(wait / 60),
                ),
                "error",
            )
            response = make_response(render_template("login.html", form=form), 429)
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response
        user = db().scalar(select(User).where(User.username == name))
        password_ok = check_password_hash(
            user.password_hash if user is not None else _dummy_hash(), form.password.data
        )
        if user is None or not password_ok:  # the attempt stays counted
            flash(_("Wrong user name or password."), "error")
            return render_template("login.html", form=form), 401
        if not user.active:  # told only with the right password: a guess learns nothing
            with state().storage.session() as store:
                locks.withdraw(store, attempt)
            flash(
                _("Your account is disabled: ask an administrator to enable it."),
                "error",
            )
            return render_template("login.html", form=form), 403
        with state().storage.session() as store:
            locks.succeeded(store, name, address)
            UserSessions.from_config(current_app.config).start(store, user)  # user.session_token
        _fresh_session()
        login_user(user)
        session.permanent = True  # expires after PERMANENT_SESSION_LIFETIME without use
        return redirect(safe_next(request.args.get("next"), home_url(user.role)))
    if request.method == "POST":
        if form.username.data and form.password.data and "csrf_token" not in form.errors:
            # both given, one longer than any account's: no such user (not "fill in both")
            flash(_("Wrong user name or password."), "error")
            return render_template("login.html", form=form), 401
        flash(
            _("Please fill in both fields (and reload the page if it was open for long)."), "error"
        )
        return render_template("login.html", form=form), 400
    return render_template("login.html", form=form)


@bp.post("/logout")
@login_required
def logout() -> Any:
    """End this session on the server too: a copy of its cookie stops working."""
    UserSessions.from_config(current_app.config).end(db(), current_user.get_id())
    logout_user()
    _fresh_session()
    return redirect(url_for("auth.login"))


@bp.get("/lang/<code>")
@takes("next")
def set_language(code: str) -> Any:
    """Switch the session's UI language, then go to ``next`` (a page of this station; else the
    user's home page, or the sign-in form when nobody is signed in); a code the station does
    not offer is a 400 naming it (the language stays as it was), as ``?lang=`` is."""
    languages = current_app.config["LANGUAGES"]
    lang = offered_language(code, languages)
    if lang is None:
        raise language_error(code, languages)
    session["lang"] = lang
    # without a usable next: a signed-in user's home page, else the sign-in form
    home = home_url(current_user.role) if current_user.is_authenticated else url_for("auth.login")
    return redirect(safe_next(request.args.get("next"), home))
