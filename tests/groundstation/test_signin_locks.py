"""Sign-in locks live in the database: two serve processes on one database (SQLite file or
PostgreSQL) lock together, a restart keeps the lock, a burst of parallel guesses gets no more
than the limit checked, old failures are pruned, and `gridpatrol db unlock-user`,
`reset-password` and `enable-user` lift the lock."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import Env, csrf_token, make_env, pg_schema_url
from sqlalchemy import func, select, update

from groundstation.cli import cli
from groundstation.models import SignInFailure, utcnow
from groundstation.signin_locks import PRUNE_BATCH, SignInLocks
from groundstation.storage import Storage

LIMIT, WINDOW_S = 5, 900.0


def sign_in(client, name: str, password: str):
    token = csrf_token(client.get("/login").get_data(as_text=True))
    data = {"username": name, "password": password, "csrf_token": token}
    return client.post("/login?lang=en", data=data)


def failures(env: Env, name: str) -> int:
    with env.storage().session() as session:
        return session.scalar(
            select(func.count())
            .select_from(SignInFailure)
            .where(SignInFailure.username == name.casefold())
        )


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> Iterator[str]:
    """An empty database of each kind for one test (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'locks.sqlite3'}"
    else:
        yield from pg_schema_url()


@pytest.fixture
def apps(db_url: str, tmp_path: Path) -> Iterator:
    """``start()``: another app (serve process) on the one database and data folder."""
    made: list[Env] = []

    def start() -> Env:
        env = make_env(db_url, tmp_path / "data")
        made.append(env)
        return env

    yield start
    for env in made:
        stop(env)


def stop(env: Env) -> None:
    env.app.extensions["gridpatrol"].queue.stop()
    env.storage().dispose()


def test_two_serve_processes_on_one_database_lock_together(apps) -> None:
    one, two = apps(), apps()
    assert [sign_in(one.client(), "pilot", "guess").status_code for _ in range(3)] == [401] * 3
    assert [sign_in(two.client(), "pilot", "guess").status_code for _ in range(2)] == [401] * 2
    for env in (one, two):  # five failures in all: both refuse even the right password
        locked = sign_in(env.client(), "PILOT", "pilot-password")  # any case: one user name
        assert locked.status_code == 429
        assert "Too many failed sign-ins" in locked.get_data(as_text=True)
        assert 840 <= int(locked.headers["Retry-After"]) <= WINDOW_S
    assert sign_in(two.client(), "admin", "admin-password").status_code == 302  # others sign in


def test_a_lock_survives_a_restart_and_a_success_clears_the_pair(apps) -> None:
    first = apps()
    assert [sign_in(first.client(), "pilot", "guess").status_code for _ in range(5)] == [401] * 5
    stop(first)
    again = apps()
    assert sign_in(again.client(), "pilot", "pilot-password").status_code == 429
    # the window passes: the pair is free, and a success forgets its failures
    with again.storage().session() as session:
        session.execute(update(SignInFailure).values(at=utcnow() - timedelta(seconds=WINDOW_S)))
        session.commit()
    assert sign_in(again.client(), "pilot", "guess").status_code == 401
    assert sign_in(again.client(), "pilot", "pilot-password").status_code == 302
    assert failures(again, "pilot") == 0


def test_unknown_user_names_are_locked_like_known_ones(apps) -> None:
    env = apps()
    name = f"nobody-{uuid.uuid4().hex[:6]}"
    assert [sign_in(env.client(), name, "guess").status_code for _ in range(6)] == [401] * 5 + [429]


def test_a_disabled_users_right_password_is_not_a_failure(apps, monkeypatch) -> None:
    env = apps()
    monkeypatch.setenv("DATABASE_URL", env.app.config["DATABASE_URL"])
    assert gp(env, "disable-user", "pilot").exit_code == 0
    assert [sign_in(env.client(), "pilot", "pilot-password").status_code for _ in range(6)] == [
        403
    ] * 6
    assert failures(env, "pilot") == 0


def test_a_burst_of_parallel_guesses_gets_only_the_limit_checked(apps) -> None:
    """Twenty guesses at once through two processes: five passwords are checked (401), the
    other fifteen are refused unchecked (429)."""
    one, two = apps(), apps()
    clients = [(one if i % 2 else two).client() for i in range(20)]
    tokens = [csrf_token(c.get("/login").get_data(as_text=True)) for c in clients]
    barrier = threading.Barrier(len(clients))
    codes: list[int] = []

    def guess(client, token: str) -> None:
        barrier.wait()
        data = {"username": "pilot", "password": "guess", "csrf_token": token}
        codes.append(client.post("/login", data=data).status_code)

    pairs = zip(clients, tokens, strict=True)
    threads = [threading.Thread(target=guess, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [401] * LIMIT + [429] * 15
    assert failures(one, "pilot") == LIMIT


def test_expired_failures_are_pruned_a_batch_at_a_time(db_url: str) -> None:
    storage = Storage(db_url)
    storage.upgrade()
    locks = SignInLocks(limit=LIMIT, window_s=WINDOW_S)
    now = utcnow()
    old = now - timedelta(seconds=WINDOW_S + 1)
    try:
        with storage.session() as session:
            session.add_all(
                SignInFailure(username=f"bot{i}", address="198.51.100.9", at=old)
                for i in range(PRUNE_BATCH + 20)
            )
            session.add_all(SignInFailure(username="wang", address="1.2.3.4", at=old) for _ in "ab")
            session.add(SignInFailure(username="li", address="1.2.3.4", at=now))  # still counts
            session.commit()
        with storage.session() as session:
            attempt = locks.attempt(session, "Wang", "1.2.3.4", now=now)
        assert not attempt.refused
        with storage.session() as session:
            rows = session.execute(select(SignInFailure.username, SignInFailure.at)).all()
        # wang's two expired rows, and a batch of the others', are gone; the new one is stored
        assert sum(1 for name, _ in rows if name.startswith("bot")) == 20
        assert sorted(name for name, _ in rows if not name.startswith("bot")) == ["li", "wang"]
        with storage.session() as session:
            locks.attempt(session, "x", "1.2.3.4", now=now)
            assert session.scalar(select(func.count()).select_from(SignInFailure)) == 3
    finally:
        storage.dispose()


# -- the administrator's unlock ----------------------------------------------------------------


@pytest.fixture
def locked(apps, monkeypatch) -> Env:
    """An app whose user ``pilot`` is locked from two addresses (and failed once from a
    third); `gridpatrol db` runs on its database."""
    env = apps()
    monkeypatch.setenv("DATABASE_URL", env.app.config["DATABASE_URL"])
    for address, count in (("203.0.113.5", 5), ("203.0.113.6", 5), ("203.0.113.7", 1)):
        client = env.client()
        client.environ_base["REMOTE_ADDR"] = address
        assert [sign_in(client, "pilot", "x").status_code for _ in range(count)] == [401] * count
    assert locked_out(env)
    return env


def gp(env: Env, *args: str, input: str | None = None):
    return CliRunner().invoke(cli, ["db", *args, "--data-dir", str(env.data_dir)], input=input)


def locked_out(env: Env) -> bool:
    client = env.client()
    client.environ_base["REMOTE_ADDR"] = "203.0.113.5"
    return sign_in(client, "pilot", "pilot-password").status_code == 429


def test_list_users_shows_who_is_locked(locked) -> None:
    rows = {line.split("\t")[0]: line for line in gp(locked, "list-users").stdout.splitlines()}
    assert rows["admin"] == "admin\tadmin\t-\tactive"
    assert rows["pilot"].startswith("pilot\tpilot\t-\tactive, sign-in locked from 2 address(es) ")
    until = rows["pilot"].rsplit(" until ", 1)[1]
    assert until.endswith(" UTC")
    shown = (utcnow() + timedelta(seconds=WINDOW_S)).strftime("%Y-%m-%d %H:%M")
    assert until[:16] <= shown


def test_unlock_user_lifts_the_lock_from_every_address(locked) -> None:
    done = gp(locked, "unlock-user", "pilot")
    assert done.exit_code == 0
    assert done.stdout == (
        "user 'pilot' unlocked: sign-in was locked from 2 address(es); "
        "failed sign-ins from 3 address(es) cleared\n"
    )
    assert not locked_out(locked)
    assert gp(locked, "unlock-user", "pilot").stdout == (
        "user 'pilot' was not locked (no recent failed sign-ins)\n"
    )
    assert gp(locked, "list-users").stdout.count("locked") == 0
    unknown = gp(locked, "unlock-user", "nobody")
    assert unknown.exit_code == 1
    assert unknown.stderr == (
        "error: user 'nobody' does not exist (gridpatrol db list-users lists them)\n"
    )


def test_reset_password_lifts_the_lock(locked) -> None:
    reset = gp(locked, "reset-password", "pilot", "--password-stdin", input="second-password\n")
    assert reset.exit_code == 0
    assert reset.stdout == (
        "password of user 'pilot' reset; failed sign-ins from 3 address(es) cleared "
        "(2 of them locked)\n"
    )
    client = locked.client()
    client.environ_base["REMOTE_ADDR"] = "203.0.113.5"
    assert sign_in(client, "pilot", "second-password").status_code == 302


def test_enable_user_lifts_the_lock(locked) -> None:
    assert gp(locked, "disable-user", "pilot").exit_code == 0
    enabled = gp(locked, "enable-user", "pilot")
    assert enabled.exit_code == 0
    assert enabled.stdout.endswith(
        "API key(s) work; failed sign-ins from 3 address(es) cleared (2 of them locked)\n"
    )
    assert not locked_out(locked)
