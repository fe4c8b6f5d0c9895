"""Migration 0013: the table of browser sessions comes and goes with upgrade and downgrade,
keeping the users."""

from __future__ import annotations

from sqlalchemy import inspect, select

from groundstation.models import User, UserSession
from groundstation.storage import Storage


def test_upgrade_adds_the_user_sessions_and_downgrade_removes_them(fresh_url: str) -> None:
    storage = Storage(fresh_url)
    try:
        storage.upgrade("0012")
        with storage.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO users (username, password_hash, role, active, created_at) "
                "VALUES ('wang', 'h', 'admin', true, '2026-01-01')"
            )
        storage.upgrade("0013")
        assert storage.current_revision() == "0013"
        indexes = {
            i["name"]: i["column_names"]
            for i in inspect(storage.engine).get_indexes("user_sessions")
        }
        assert indexes["ix_user_sessions_user_id"] == ["user_id"]
        assert indexes["ix_user_sessions_last_seen_at"] == ["last_seen_at"]
        with storage.session() as session:
            user_id = session.scalar(select(User.id))
            session.add(UserSession(token_hash="a" * 64, user_id=user_id))
            session.commit()
            assert session.scalar(select(UserSession.user_id)) == user_id

        storage.downgrade("0012")
        assert storage.current_revision() == "0012"
        assert not inspect(storage.engine).has_table("user_sessions")
        with storage.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT username FROM users").scalars().all() == ["wang"]

        storage.upgrade()  # and up again, empty: everyone signs in anew
        with storage.session() as session:
            assert session.scalars(select(UserSession)).all() == []
            assert session.scalars(select(User.username)).all() == ["wang"]
    finally:
        storage.dispose()
