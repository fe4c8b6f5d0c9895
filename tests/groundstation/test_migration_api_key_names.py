"""Migration 0011: an API key name is unique among keys not revoked, so a revoked key's name can
be given to the key replacing it; keys stored before keep their rows."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from groundstation.models import ApiKey
from groundstation.storage import Storage


def test_a_revoked_key_name_is_free_after_the_upgrade_and_an_active_one_is_not(fresh_url) -> None:
    storage = Storage(fresh_url)
    storage.upgrade("0010")
    with storage.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO api_keys (name, key_hash, revoked, created_at) VALUES "
            "('cityhub', 'h1', true, '2026-01-01'), ('supkey', 'h2', false, '2026-01-01')"
        )
    storage.upgrade()
    try:
        with storage.session() as session:
            session.add(ApiKey(name="cityhub", key_hash="h3"))
            session.commit()
            rows = session.execute(select(ApiKey.name, ApiKey.revoked).order_by(ApiKey.id)).all()
            assert [tuple(r) for r in rows] == [
                ("cityhub", True),
                ("supkey", False),
                ("cityhub", False),
            ]
        for name in ("cityhub", "supkey"):  # names of keys in use stay unique
            with storage.session() as session:
                session.add(ApiKey(name=name, key_hash=f"dup-{name}"))
                with pytest.raises(IntegrityError):
                    session.commit()
    finally:
        storage.dispose()
