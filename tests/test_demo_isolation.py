"""`gridpatrol demo` on a station's machine: whatever DATABASE_URL (and the station's Redis and
notifiers) the environment names, the demo keeps its own SQLite database in its data dir, says
so in one line, and writes nothing into the configured database: no grids, flights or tickets
from the run, no demo-supervisor from the server after it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from groundstation.demo import DemoError, demo_config, ignored_settings

STATION_ENV = ("DATABASE_URL", "REDIS_URL", "NOTIFIERS", "WECOM_WEBHOOK_URL", "PHOTO_ROOTS")


@pytest.fixture
def station(tmp_path, monkeypatch) -> str:
    """A migrated 'production' database named by DATABASE_URL, as on a station's machine."""
    from groundstation.storage import Storage

    for key in (*STATION_ENV, "GRIDPATROL_DATA_DIR", "JOB_WORKERS", "GRIDPATROL_SECRET_KEY"):
        monkeypatch.delenv(key, raising=False)
    url = f"sqlite:///{tmp_path / 'station.sqlite3'}"
    storage = Storage(url)
    storage.upgrade()
    storage.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("JOB_WORKERS", "0")
    return url


def count(url: str, table: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()
    finally:
        engine.dispose()


def test_demo_settings_ignore_the_stations_database_queue_and_notifiers(tmp_path) -> None:
    environ = {
        "DATABASE_URL": "postgresql+psycopg://gp@db.example/production",
        "REDIS_URL": "redis://queue.example:6379/0",
        "NOTIFIERS": "log,wecom",  # "log" alone would not be "ignored"
        "WECOM_WEBHOOK_URL": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K",
        "GRIDPATROL_SECRET_KEY": "s",
    }
    config = demo_config(tmp_path / "demo", environ=environ)
    assert config["DATABASE_URL"] == f"sqlite:///{(tmp_path / 'demo').resolve()}/gridpatrol.sqlite3"
    assert config["AUTO_MIGRATE"] is True
    assert config["REDIS_URL"] is None and config["NOTIFIERS"] == "log"
    assert config["WECOM_WEBHOOK_URL"] is None
    assert ignored_settings(environ) == [
        "DATABASE_URL",
        "REDIS_URL",
        "NOTIFIERS",
        "WECOM_WEBHOOK_URL",
    ]
    assert ignored_settings({}) == [] == ignored_settings({"NOTIFIERS": "log", "REDIS_URL": ""})


def test_the_run_writes_into_its_own_database_and_says_so(station, tmp_path, monkeypatch) -> None:
    """The run is stopped right after it stored the district's grids: they are in the demo's
    database, and the station's has none."""
    import vision.synth
    from groundstation.cli import cli

    def stop(*_args, **_kwargs):
        raise DemoError("stopped by the test after the grids were stored")

    monkeypatch.setattr(vision.synth, "build_world", stop)
    data = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--quick", "--no-serve", "--data-dir", str(data)])
    assert result.exit_code == 1 and "stopped by the test" in result.stderr
    note = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert note == [
        "note: the demo ignores DATABASE_URL from the environment: it keeps its own SQLite "
        f"database {data.resolve() / 'gridpatrol.sqlite3'} and never touches the configured "
        "station"
    ]
    assert count(station, "grids") == 0
    assert count(f"sqlite:///{data / 'gridpatrol.sqlite3'}", "grids") > 0


def test_the_demo_server_and_its_supervisor_use_the_demo_database(station, tmp_path, monkeypatch):
    import groundstation.cli.serve as serve
    from groundstation.cli.demo import _serve
    from groundstation.config import resolve_data_dir

    served = []
    monkeypatch.setattr(serve, "bind_server", lambda app, host, port: app)
    monkeypatch.setattr(serve, "bound_port", lambda server: 5601)
    monkeypatch.setattr(serve, "run_server", served.append)
    lines: list[str] = []

    class Console:
        def print(self, text: str) -> None:
            lines.append(text)

    root = resolve_data_dir(tmp_path / "demo")
    _serve(root, 5601, Console())
    (app,) = served
    storage = app.extensions["gridpatrol"].storage
    assert str(storage.engine.url) == f"sqlite:///{root / 'gridpatrol.sqlite3'}"
    assert app.config["REDIS_URL"] is None
    assert count(station, "users") == 0
    demo = f"sqlite:///{root / 'gridpatrol.sqlite3'}"
    assert count(demo, "users WHERE username = 'demo-supervisor'") == 1
    assert "sign in as demo-supervisor" in lines[0]
    storage.dispose()
