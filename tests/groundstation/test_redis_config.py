"""REDIS_URL as an operator meets it: a malformed URL stops `serve` and `worker` with one line
naming it and the expected form; an unreachable Redis makes the worker say so while it retries,
then exit with status 1 after --redis-wait seconds (for systemd's Restart=on-failure)."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from groundstation.cli import cli
from groundstation.config import build_config, check_redis_url, redacted_url
from groundstation.errors import ConfigError, JobError
from groundstation.storage import Storage

LIVE_REDIS = "redis://127.0.0.1:6379/8"
DEAD_REDIS = "redis://127.0.0.1:6399/8"  # nothing listens there
EXPECTED = "expected redis://host:port/db"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://nope", "scheme 'http'"),
        ("127.0.0.1:6379", "no scheme"),
        ("redis://", "no host"),
        ("redis://127.0.0.1:port/0", "Port could not be cast"),
        ("redis://127.0.0.1:6379/zero", "database 'zero' is not a number"),
    ],
)
def test_malformed_redis_url_is_refused_at_config_load(tmp_path, url, why) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config(data_dir=tmp_path, environ={"REDIS_URL": url})
    message = str(caught.value)
    assert message.startswith(f"REDIS_URL {url!r}: {why}") and EXPECTED in message


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "rediss://cache.example.cn:6380/2",
        "redis://:pw@h",
        "redis://127.0.0.1:6379",  # database 0, as the README says
    ],
)
def test_good_redis_urls_pass(url) -> None:
    check_redis_url(url)


def test_the_password_is_never_shown() -> None:
    with pytest.raises(ConfigError) as caught:
        check_redis_url("redis://:s3cret@127.0.0.1:99999/0")
    assert "s3cret" not in str(caught.value) and "redis://:***@127.0.0.1:99999/0" in str(
        caught.value
    )
    assert redacted_url("redis://user:s3cret@h:1/0") == "redis://user:***@h:1/0"
    assert redacted_url("redis://h:1/0") == "redis://h:1/0"


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A migrated data dir named by GRIDPATROL_DATA_DIR, as an operator has after `db upgrade`."""
    data = tmp_path / "data"
    data.mkdir()
    storage = Storage(f"sqlite:///{data / 'gridpatrol.sqlite3'}")
    storage.upgrade()
    storage.dispose()
    monkeypatch.setenv("GRIDPATROL_DATA_DIR", str(data))
    monkeypatch.setenv("ESCALATION_INTERVAL_S", "0")
    return data


def test_worker_with_a_malformed_url_says_so_in_one_line(data_dir, monkeypatch) -> None:
    monkeypatch.setenv("REDIS_URL", "http://nope")
    result = CliRunner().invoke(cli, ["worker"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: REDIS_URL 'http://nope': scheme 'http'; expected redis://host:port/db, "
        "e.g. redis://127.0.0.1:6379/0 (rediss:// for TLS)"
    ]
    assert "Traceback" not in result.output


def test_serve_with_a_malformed_url_does_not_start(data_dir, monkeypatch) -> None:
    import groundstation.cli.serve as serve

    served = []
    monkeypatch.setattr(serve, "run_server", lambda server: served.append(server) or server.close())
    monkeypatch.setenv("REDIS_URL", "http://nope")
    result = CliRunner().invoke(cli, ["serve", "--port", "5701"])
    assert result.exit_code == 1 and served == []
    assert result.output.startswith("error: REDIS_URL 'http://nope': scheme 'http'; " + EXPECTED)


def test_worker_says_redis_is_unreachable_then_exits_non_zero(data_dir, monkeypatch) -> None:
    import groundstation.cli.worker as worker

    monkeypatch.setattr(worker, "REDIS_RETRY_S", 0.3)
    monkeypatch.setenv("REDIS_URL", DEAD_REDIS)
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["worker", "--redis-wait", "1"])
    took = time.monotonic() - started
    assert result.exit_code == 1 and took < 15
    lines = result.output.strip().splitlines()
    retrying = [line for line in lines if "retrying every" in line]
    assert len(retrying) >= 2
    assert retrying[0].startswith(f"gridpatrol worker: Redis at {DEAD_REDIS} is unreachable (")
    assert lines[-1].startswith(f"error: Redis at {DEAD_REDIS} is unreachable (")
    assert "gave up after 1 s (--redis-wait)" in lines[-1]
    assert "Restart=on-failure" in lines[-1]
    assert "Traceback" not in result.output


def test_worker_stops_at_once_when_redis_refuses_the_database(data_dir, monkeypatch) -> None:
    """A database index Redis does not have is a configuration error: no retrying for
    --redis-wait seconds, one line naming REDIS_URL and the database, status 1."""
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/99")  # 16 databases: 0 to 15
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["worker", "--redis-wait", "30"])
    assert result.exit_code == 1 and time.monotonic() - started < 10
    assert "retrying every" not in result.output and "Traceback" not in result.output
    assert result.output.strip().splitlines() == [
        "error: REDIS_URL 'redis://127.0.0.1:6379/99': Redis answers but has no database 99 "
        "(DB index is out of range: 0 to 15 unless its 'databases' setting says otherwise); "
        "fix REDIS_URL, as retrying cannot help"
    ]


def test_check_redis_against_the_real_redis() -> None:
    from groundstation.jobs import check_redis

    check_redis(LIVE_REDIS)
    with pytest.raises(JobError, match=r"Redis at redis://:\*\*\*@127.0.0.1:6399/8 is unreachable"):
        check_redis("redis://:pw@127.0.0.1:6399/8", timeout_s=1.0)
