"""Migration 0012: the table of failed sign-ins (the shared sign-in lock) comes and goes with
upgrade and downgrade, keeping the users."""

from __future__ import annotations

from sqlalchemy import inspect, select

from groundstation.models import SignInFailure, User
from groundstation.storage import Storage


def test_upgrade_adds_the_sign_in_failures_and_downgrade_removes_them(fresh_url: str) -> None:
    storage = Storage(fresh_url)
    try:
        storage.upgrade("0011")
        with storage.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO users (username, password_hash, role, active, created_at) "
                "VALUES ('wang', 'h', 'admin', true, '2026-01-01')"
            )
        storage.upgrade()
        indexes = {
            i["name"]: i["column_names"]
            for i in inspect(storage.engine).get_indexes("sign_in_failures")
        }
        assert indexes["ix_sign_in_failures_pair"] == ["username", "address", "at"]
        with storage.session() as session:
            session.add(SignInFailure(username="wang", address="203.0.113.5"))
            session.commit()
            assert session.scalar(select(SignInFailure.username)) == "wang"

        storage.downgrade("0011")
        assert storage.current_revision() == "0011"
        assert not inspect(storage.engine).has_table("sign_in_failures")
        with storage.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT username FROM users").scalars().all() == ["wang"]

        storage.upgrade()  # and up again, empty
        with storage.session() as session:
            assert session.scalars(select(SignInFailure)).all() == []
            assert session.scalars(select(User.username)).all() == ["wang"]
    finally:
        storage.dispose()
