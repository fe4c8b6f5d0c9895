"""Server-side sessions: signing out, disabling a user and resetting a password end sessions for
good, so a copy of the cookie taken before stops working too (QA F2, F3); two sign-ins of one
user are independent; idle sessions end and their rows are pruned in bounded batches."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import pytest
from click.testing import CliRunner
from conftest import csrf_token
from sqlalchemy import func, select, update

from groundstation.cli import cli
from groundstation.models import UserSession, utcnow
from groundstation.user_sessions import PRUNE_BATCH, TOUCH_INTERVAL, UserSessions


@pytest.fixture
def on_env(env, monkeypatch):
    """`gridpatrol db ...` on the database of the module's app (SQLite and PostgreSQL)."""
    monkeypatch.setenv("DATABASE_URL", env.app.config["DATABASE_URL"])
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        result = runner.invoke(cli, [*args, "--data-dir", str(env.data_dir)], input=input)
        assert result.exit_code == 0, result.output
        return result

    return invoke


def new_user(on_env) -> str:
    name = f"s-{uuid.uuid4().hex[:8]}"
    on_env("db", "create-user", name, "--role", "supervisor", input="first-password\n")
    return name


def signed_in(env, name: str, password: str = "first-password"):
    """A fresh test client (a browser) signed in as ``name``."""
    client = env.client()
    token = csrf_token(client.get("/login").get_data(as_text=True))
    answer = client.post(
        "/login", data={"username": name, "password": password, "csrf_token": token}
    )
    assert answer.status_code == 302, answer.get_data(as_text=True)[:300]
    return client


def copy_of(env, client):
    """Another browser holding a copy of ``client``'s session cookie."""
    thief = env.client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def me(client) -> int:
    return client.get("/api/v1/me").status_code


def sessions_of(env, name: str) -> int:
    from groundstation.models import User

    with env.storage().session() as session:
        return session.scalar(
            select(func.count(UserSession.id))
            .join(User, User.id == UserSession.user_id)
            .where(User.username == name)
        )


def test_sign_out_ends_the_session_for_a_copied_cookie_too(env, on_env) -> None:
    name = new_user(on_env)
    browser = signed_in(env, name)
    copy = copy_of(env, browser)
    assert me(copy) == 200 and sessions_of(env, name) == 1

    token = csrf_token(browser.get("/review").get_data(as_text=True))
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 302
    assert me(browser) == 401
    assert me(copy) == 401  # was 200 for up to 12 h
    page = copy.get("/review")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    assert sessions_of(env, name) == 0


def test_disable_then_enable_leaves_the_old_sessions_ended(env, on_env) -> None:
    name = new_user(on_env)
    browser = signed_in(env, name)
    copy = copy_of(env, browser)
    assert on_env("db", "disable-user", name).stdout.startswith(f"user '{name}' is disabled")
    assert (me(browser), me(copy)) == (401, 401)

    on = on_env("db", "enable-user", name)
    assert "their sessions from before stay ended" in on.stdout
    assert (me(browser), me(copy)) == (401, 401)  # were 200 again after enable-user
    assert browser.get("/review").status_code == 302
    assert sessions_of(env, name) == 0
    assert me(signed_in(env, name)) == 200  # signing in anew works


def test_reset_password_ends_every_session_of_the_user(env, on_env) -> None:
    name, other = new_user(on_env), new_user(on_env)
    office, laptop, bystander = signed_in(env, name), signed_in(env, name), signed_in(env, other)
    assert sessions_of(env, name) == 2

    on_env("db", "reset-password", name, "--password-stdin", input="second-password\n")
    assert (me(office), me(laptop), me(copy_of(env, office))) == (401, 401, 401)
    assert me(bystander) == 200  # another user's session is untouched
    assert me(signed_in(env, name, "second-password")) == 200


def test_a_new_role_keeps_the_session_and_applies_at_once(env, on_env) -> None:
    name = new_user(on_env)
    browser = signed_in(env, name)
    on_env("db", "set-role", name, "pilot")
    assert browser.get("/api/v1/me").get_json()["role"] == "pilot"
    assert browser.get("/review").status_code == 403  # signed in, as a pilot


def test_two_sign_ins_of_one_user_are_independent(env, on_env) -> None:
    name = new_user(on_env)
    station, phone = signed_in(env, name), signed_in(env, name)
    assert station.get_cookie("session").value != phone.get_cookie("session").value

    token = csrf_token(station.get("/review").get_data(as_text=True))
    assert station.post("/logout", data={"csrf_token": token}).status_code == 302
    assert me(station) == 401
    assert me(phone) == 200 and phone.get("/review").status_code == 200
    assert sessions_of(env, name) == 1


def test_the_database_keeps_only_the_tokens_hash(env, on_env) -> None:
    name = new_user(on_env)
    browser = signed_in(env, name)
    with browser.session_transaction() as flask_session:
        token = flask_session["_user_id"]
    assert len(token) >= 43  # 256 random bits, URL-safe base64
    with env.storage().session() as session:
        hashes = session.scalars(select(UserSession.token_hash)).all()
    assert token not in hashes
    assert hashlib.sha256(token.encode()).hexdigest() in hashes


def test_a_cookie_of_the_old_format_is_signed_out(env, on_env) -> None:
    """Cookies from before migration 0013 held ``<user id>.<password digest>``."""
    name = new_user(on_env)
    browser = signed_in(env, name)
    with browser.session_transaction() as flask_session:
        flask_session["_user_id"] = "1.0123456789abcdef"
    assert me(browser) == 401


def test_an_idle_session_ends_and_use_is_noted_at_most_once_a_minute(env, on_env) -> None:
    name = new_user(on_env)
    browser = signed_in(env, name)
    lifetime = env.app.permanent_session_lifetime

    def last_seen():
        with env.storage().session() as session:
            return session.scalar(select(UserSession.last_seen_at).where(_of(session, name)))

    first = last_seen()
    assert me(browser) == 200 and last_seen() == first  # not written on every request
    _age(env, name, TOUCH_INTERVAL + timedelta(seconds=1))
    before = last_seen()
    assert me(browser) == 200 and last_seen() > before  # a minute on: noted

    _age(env, name, lifetime + TOUCH_INTERVAL)  # unused for the lifetime (and the margin)
    assert me(browser) == 401


def _of(session, name: str):
    from groundstation.models import User

    user_id = session.scalar(select(User.id).where(User.username == name))
    return UserSession.user_id == user_id


def _age(env, name: str, by: timedelta) -> None:
    """Make ``name``'s sessions look last used ``by`` ago."""
    with env.storage().session() as session:
        session.execute(
            update(UserSession).where(_of(session, name)).values(last_seen_at=utcnow() - by)
        )
        session.commit()


def test_expired_rows_are_pruned_in_bounded_batches_at_sign_in(env, on_env) -> None:
    name = new_user(on_env)
    live = signed_in(env, name)
    rules = UserSessions.from_config(env.app.config)
    now = utcnow()
    dead_at = now - rules.lifetime - TOUCH_INTERVAL - timedelta(seconds=1)
    alive_at = now - rules.lifetime + timedelta(minutes=5)  # idle, not yet expired
    with env.storage().session() as session:
        session.execute(update(UserSession).values(last_seen_at=now))  # earlier tests' rows
        user_id = session.scalar(select(UserSession.user_id).where(_of(session, name)))
        session.add_all(
            UserSession(token_hash=uuid.uuid4().hex, user_id=user_id, last_seen_at=dead_at)
            for _ in range(PRUNE_BATCH + 5)
        )
        session.add(UserSession(token_hash="idle", user_id=user_id, last_seen_at=alive_at))
        session.commit()

    def expired() -> int:
        with env.storage().session() as session:
            return session.scalar(
                select(func.count(UserSession.id)).where(UserSession.last_seen_at <= dead_at)
            )

    signed_in(env, name)
    assert expired() == 5  # one sign-in deletes at most PRUNE_BATCH
    signed_in(env, name)
    assert expired() == 0
    with env.storage().session() as session:
        assert session.scalar(select(UserSession.id).where(UserSession.token_hash == "idle"))
    assert me(live) == 200
