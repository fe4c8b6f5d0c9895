"""Sign in and out, and switch the UI language (Simplified Chinese by default, English)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.security import check_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from groundstation.models import User
from groundstation.web import db

__all__ = ["bp", "LoginForm", "safe_next", "home_url"]

bp = Blueprint("auth", __name__)


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
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        user = db().scalar(select(User).where(User.username == form.username.data))
        if (
            user is None
            or not user.active
            or not check_password_hash(user.password_hash, form.password.data)
        ):
            flash(_("Wrong user name or password."), "error")
            return render_template("login.html", form=form), 401
        login_user(user)
        return redirect(safe_next(request.args.get("next"), home_url(user.role)))
    if request.method == "POST":
        flash(
            _("Please fill in both fields (and reload the page if it was open for long)."), "error"
        )
        return render_template("login.html", form=form), 400
    return render_template("login.html", form=form)


@bp.post("/logout")
@login_required
def logout() -> Any:
    logout_user()
    return redirect(url_for("auth.login"))


@bp.get("/lang/<code>")
def set_language(code: str) -> Any:
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    return redirect(safe_next(request.args.get("next"), url_for("auth.login")))
