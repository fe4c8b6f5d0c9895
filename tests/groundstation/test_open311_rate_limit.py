"""The Open311 hourly filing limit per api_key holds under concurrent POSTs, and its 429 names
the limit and says when to retry (``Retry-After``)."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from groundstation.models import ApiKey, Ticket, utcnow
from groundstation.web import hash_api_key

THREADS = 12
LIMIT = 5


def _new_key(env) -> tuple[str, str]:
    """A fresh city system's api_key (no user; its own hourly allowance): (key, the name
    tickets carry)."""
    name, key = f"city-{uuid.uuid4().hex[:8]}", f"key-{uuid.uuid4().hex}"
    with env.storage().session() as session:
        session.add(ApiKey(name=name, key_hash=hash_api_key(key), user_id=None))
        session.commit()
    return key, f"open311:{name}"


def _post(env, key: str, headers=None):
    data = {"api_key": key, "service_code": "straw_burning", "lat": "32.405",
            "long": "119.905", "description": "smoke"}  # fmt: skip
    return env.client().post("/open311/v2/requests.json", data=data, headers=headers or {})


def _filed(env, created_by: str) -> int:
    with env.storage().session() as session:
        return session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.created_by == created_by)
        )


@pytest.fixture
def limit(env, monkeypatch) -> int:
    monkeypatch.setitem(env.app.config, "OPEN311_MAX_REQUESTS_PER_HOUR", LIMIT)
    return LIMIT


def test_concurrent_posts_file_exactly_the_limit(env, limit) -> None:
    """QA: 540 concurrent POSTs filed 514 requests against a limit of 500."""
    key, created_by = _new_key(env)
    _post(env, key)  # the key's last use is stored before the race
    start = threading.Barrier(THREADS)
    statuses: list[int] = []

    def file() -> None:
        start.wait()
        statuses.append(_post(env, key).status_code)

    threads = [threading.Thread(target=file) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * (limit - 1) + [429] * (THREADS - limit + 1)
    assert _filed(env, created_by) == limit


def test_the_429_names_the_limit_and_when_to_retry(env, limit) -> None:
    key, created_by = _new_key(env)
    assert [_post(env, key).status_code for _ in range(limit)] == [200] * limit
    with env.storage().session() as session:  # the first request was filed 59 minutes ago
        first = session.scalar(select(func.min(Ticket.id)).where(Ticket.created_by == created_by))
        session.execute(
            update(Ticket)
            .where(Ticket.id == first)
            .values(created_at=utcnow() - timedelta(minutes=59))
        )
        session.commit()
    refused = _post(env, key)
    assert refused.status_code == 429
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60  # when that request leaves the hour's window
    (error,) = refused.json
    assert error["code"] == 429
    assert f"{limit} requests in the last hour (limit: {limit} an hour)" in error["description"]
    assert f"try again in {retry_after} seconds" in error["description"]
    assert _filed(env, created_by) == limit


def test_another_key_is_not_held_back_by_a_full_one(env, limit) -> None:
    full, _ = _new_key(env)
    for _ in range(limit):
        assert _post(env, full).status_code == 200
    assert _post(env, full).status_code == 429
    other, _ = _new_key(env)
    assert _post(env, other).status_code == 200
