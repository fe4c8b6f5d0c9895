"""Storage: migrations equal the models on SQLite and PostgreSQL, the refuse-unmigrated policy,
seeding, and timezone-aware round trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from groundstation.app import create_app
from groundstation.config import build_config, resolve_data_dir
from groundstation.errors import NotMigratedError, StorageError
from groundstation.models import Base, ClassRule, Department, Job
from groundstation.storage import Storage


def test_migrations_match_models(fresh_url: str) -> None:
    storage = Storage(fresh_url)
    storage.upgrade()
    with storage.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    storage.dispose()
    assert diff == []


def test_unmigrated_database_is_refused(fresh_url: str, tmp_path) -> None:
    with pytest.raises(NotMigratedError, match="gridpatrol db upgrade"):
        create_app({"DATA_DIR": str(tmp_path), "DATABASE_URL": fresh_url, "JOB_WORKERS": 0})
    storage = Storage(fresh_url)
    assert storage.current_revision() is None
    assert not inspect(storage.engine).has_table("tickets")  # nothing was created
    storage.upgrade()
    app = create_app({"DATA_DIR": str(tmp_path), "DATABASE_URL": fresh_url, "JOB_WORKERS": 0})
    assert app.extensions["gridpatrol"].storage.current_revision() == storage.head_revision()
    storage.dispose()


def test_upgrade_seeds_once(fresh_url: str) -> None:
    storage = Storage(fresh_url)
    storage.upgrade()
    storage.upgrade()
    with storage.session() as session:
        assert len(session.scalars(select(Department)).all()) == 3
        rule = session.get(ClassRule, "straw_burning")
        assert rule.deadline_amount == 4.0 and rule.deadline_unit == "hours"
        assert rule.department.code == "ecology_environment"
        building = session.get(ClassRule, "illegal_construction")
        assert (building.deadline_amount, building.deadline_unit) == (7.0, "work_days")
    storage.dispose()


def test_upgrade_counts_the_seeded_building_deadline_in_working_days(fresh_url: str) -> None:
    """0006: the untouched seed row (168 calendar hours) becomes 7 working days; an
    administrator's own deadline is kept, in calendar hours."""
    storage = Storage(fresh_url)
    storage.upgrade("0005")
    rows = [
        ("illegal_construction", 168.0, "seed"),
        ("illegal_fishing", 36.0, "admin"),
        ("straw_burning", 4.0, "seed"),
    ]
    with storage.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO departments (code, name) VALUES ('u', 'U')")
        for label, hours, by in rows:
            conn.exec_driver_sql(
                "INSERT INTO class_rules (label, name, department_id, deadline_hours, "
                "filing_standard, closing_standard, updated_at, updated_by) "
                f"SELECT '{label}', '{label}', id, {hours}, '', '', '2026-01-01', '{by}' "
                "FROM departments WHERE code = 'u'"
            )
    storage.upgrade()
    with storage.session() as session:
        got = {
            r.label: (r.deadline_amount, r.deadline_unit)
            for r in session.scalars(select(ClassRule))
        }
    storage.dispose()
    assert got == {
        "illegal_construction": (7.0, "work_days"),
        "illegal_fishing": (36.0, "hours"),
        "straw_burning": (4.0, "hours"),
    }


def test_datetimes_come_back_aware_utc(fresh_url: str) -> None:
    storage = Storage(fresh_url)
    storage.upgrade()
    moment = datetime(2025, 6, 1, 20, 30, tzinfo=timezone(timedelta(hours=8)))
    with storage.session() as session:
        job = Job(kind="x", payload={"a": [1, "二"]}, state="done", created_at=moment)
        session.add(job)
        session.commit()
        job_id = job.id
    with storage.session() as session:
        job = session.get(Job, job_id)
        assert job.created_at == moment and job.created_at.tzinfo is not None
        assert job.created_at.utcoffset() == timedelta(0)
        assert job.payload == {"a": [1, "二"]}
        with pytest.raises(Exception, match="naive"):
            session.add(Job(kind="x", payload={}, state="done", created_at=datetime(2025, 1, 1)))
            session.commit()
    storage.dispose()


def test_embedded_sqlite_is_created_in_the_data_dir(tmp_path) -> None:
    app = create_app({"DATA_DIR": str(tmp_path / "d"), "JOB_WORKERS": 0})
    assert (tmp_path / "d" / "gridpatrol.sqlite3").is_file()
    assert app.config["AUTO_MIGRATE"] is True
    assert (tmp_path / "d" / "secret_key").stat().st_mode & 0o777 == 0o600


def test_data_dir_precedence(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GRIDPATROL_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir() == (tmp_path / "env").resolve()
    assert resolve_data_dir(tmp_path / "flag") == (tmp_path / "flag").resolve()
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@h/db")
    config = build_config(data_dir=tmp_path / "x")
    assert config["DATABASE_URL"] == "postgresql+psycopg://u@h/db"
    assert config["AUTO_MIGRATE"] is False


def test_bad_database_url_is_a_storage_error(tmp_path) -> None:
    with pytest.raises(StorageError, match="not a database URL"):
        Storage("not a url")
    with pytest.raises(StorageError, match="DATABASE_URL foo://: cannot use this database"):
        Storage("foo://")  # an unknown dialect (was a NoSuchModuleError traceback)
    storage = Storage("postgresql+psycopg://postgres@127.0.0.1:1/none")
    with pytest.raises(StorageError, match="cannot connect"):
        storage.current_revision()


def test_now_is_utc() -> None:
    from groundstation.models import utcnow

    assert utcnow().tzinfo is UTC
