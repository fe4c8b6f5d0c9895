"""`gridpatrol db …`, `serve` and `worker` through the click group."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner
from conftest import G1, G2, grid_geojson

from groundstation.cli import cli


@pytest.fixture
def run(tmp_path):
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(cli, [*args, "--data-dir", str(tmp_path / "data")], input=input)

    return invoke


def test_upgrade_users_keys_grids(run, tmp_path) -> None:
    result = run("db", "create-user", "wang", "--role", "supervisor", input="long-password\n")
    assert result.exit_code == 1 and "gridpatrol db upgrade" in result.stderr
    assert run("db", "upgrade").exit_code == 0
    assert run("db", "upgrade").exit_code == 0  # idempotent
    ok = run("db", "create-user", "wang", "--role", "supervisor", input="long-password\n")
    assert ok.exit_code == 0, ok.output
    dup = run("db", "create-user", "wang", "--role", "supervisor", input="long-password\n")
    assert dup.exit_code == 1 and "already exists" in dup.stderr
    short = run("db", "create-user", "li", "--role", "pilot", input="short\n")
    assert short.exit_code == 1 and "8 characters" in short.stderr
    nodept = run("db", "create-user", "zhao", "--role", "department", input="long-password\n")
    assert nodept.exit_code == 1 and "--department" in nodept.stderr
    bad = run(
        "db",
        "create-user",
        "zhao",
        "--role",
        "department",
        "--department",
        "police",
        input="long-password\n",
    )
    assert bad.exit_code == 1 and "urban_management" in bad.stderr
    assert (
        run(
            "db",
            "create-user",
            "zhao",
            "--role",
            "department",
            "--department",
            "urban_management",
            input="long-password\n",
        ).exit_code
        == 0
    )
    key = run("db", "create-api-key", "city-311", "--user", "wang")
    assert key.exit_code == 0 and key.output.strip().startswith("gp_")
    assert run("db", "create-api-key", "city-311").exit_code == 1
    layer = tmp_path / "grids.geojson"
    layer.write_bytes(grid_geojson(("C-G1", G1), ("C-G2", G2)))
    imported = run("db", "import-grids", str(layer))
    assert imported.exit_code == 0 and "2 new" in imported.output
    assert "0 new, 0 updated, 2 unchanged" in run("db", "import-grids", str(layer)).output
    broken = tmp_path / "broken.geojson"
    broken.write_text("{")
    assert run("db", "import-grids", str(broken)).exit_code == 1
    # a layer without ids would have its grids numbered 1, 2, ... and replace stored ones
    unnamed = tmp_path / "unnamed.geojson"
    unnamed.write_text(
        json.dumps(
            {
                "type": "Feature",
                "properties": {},
                "geometry": {"type": "Polygon", "coordinates": [G1]},
            }
        )
    )
    refused = run("db", "import-grids", str(unnamed))
    assert refused.exit_code == 1 and "has no grid_id or name property" in refused.output

    from groundstation.app import create_app

    app = create_app({"DATA_DIR": str(tmp_path / "data"), "JOB_WORKERS": 0})
    me = app.test_client().get("/api/v1/me", headers={"X-API-Key": key.output.strip()}).json
    assert me == {"username": "wang", "role": "supervisor", "department_id": None}

    # a leaked key is revoked from the command line and refused from then on
    listed = run("db", "list-api-keys")
    assert listed.exit_code == 0 and "city-311\twang" in listed.output
    assert key.output.strip() not in listed.output and "REVOKED" not in listed.output
    assert run("db", "revoke-api-key", "city-311").output.strip().endswith("is now revoked")
    assert "REVOKED" in run("db", "list-api-keys").output
    refused = app.test_client().get("/api/v1/me", headers={"X-API-Key": key.output.strip()})
    assert refused.status_code == 401
    missing = run("db", "revoke-api-key", "nope")
    assert missing.exit_code == 1 and "'nope' does not exist" in missing.stderr


def test_user_names_differing_only_in_case_are_refused(run) -> None:
    assert run("db", "upgrade").exit_code == 0
    ok = run("db", "create-user", "wang", "--role", "supervisor", input="long-password\n")
    assert ok.exit_code == 0, ok.output
    for name in ("WANG", "Wang"):
        dup = run("db", "create-user", name, "--role", "pilot", input="long-password\n")
        assert dup.exit_code == 1
        assert f"user '{name}': user 'wang' already exists and differs only in case" in dup.stderr
    other = run("db", "create-user", "wang2", "--role", "pilot", input="long-password\n")
    assert other.exit_code == 0, other.output


def test_readme_create_user_examples_run_and_show_the_department_role(run) -> None:
    import re
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    examples = [
        shlex.split(line, comments=True)
        for line in re.findall(r"^gridpatrol db create-user .*$", readme, re.M)
    ]
    assert any("department" in args and "--department" in args for args in examples), examples
    assert run("db", "upgrade").exit_code == 0
    for args in examples:
        result = run(*args[1:], input="long-password\n")
        assert result.exit_code == 0, (args, result.output)


def test_export_reviews(run, tmp_path) -> None:
    from conftest import make_env, make_findings

    assert run("db", "upgrade").exit_code == 0
    env = make_env(f"sqlite:///{tmp_path / 'data' / 'gridpatrol.sqlite3'}", tmp_path / "data")
    ids = make_findings(
        env,
        [
            ("straw_burning", 0.9, None),
            ("illegal_fishing", 0.4, None),
            ("straw_burning", 0.5, None),
        ],
    )
    client = env.client()
    client.post(
        f"/api/v1/findings/{ids[0]}/review",
        json={"decision": "confirm"},
        headers=env.headers("supervisor"),
    )
    client.post(
        f"/api/v1/findings/{ids[1]}/review",
        json={"decision": "reject"},
        headers=env.headers("supervisor"),
    )
    out = tmp_path / "export"
    result = run("db", "export-reviews", str(out))
    assert result.exit_code == 0 and "exported 2" in result.output
    rows = list(csv.DictReader((out / "labels.csv").open()))
    assert {(int(r["finding_id"]), r["label"]) for r in rows} == {
        (ids[0], "straw_burning"),
        (ids[1], "background"),
    }
    assert all((out / r["path"]).is_file() for r in rows)
    # The export is a training source as it stands: `gridpatrol train --reviews` reads it.
    from vision.datasets import review_export

    items = review_export(out)
    assert sorted((i.path.name, i.label) for i in items) == sorted(
        (f"{i}.jpg", label) for i, label in ((ids[0], "straw_burning"), (ids[1], "background"))
    )


def test_serve_and_worker_help() -> None:
    runner = CliRunner()
    for name in ("serve", "worker", "db"):
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0
        assert "--data-dir" in result.output or name == "db"


def test_serve_runs_a_production_server(tmp_path) -> None:
    """`gridpatrol serve` answers on its port from the production server (waitress), without
    Werkzeug's "do not use in production" development server."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "groundstation.cli", "serve", "--port", str(port),
         "--data-dir", str(tmp_path / "data"), "--workers", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5) as r:
                    assert r.status == 200 and r.headers["Server"] == "gridpatrol"
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert "development server" not in output
    assert f"http://127.0.0.1:{port}/" in output


def test_serve_on_port_0_announces_the_port_it_got(tmp_path) -> None:
    """--port 0 lets the system choose: the announced address is the one that answers."""
    import re
    import subprocess
    import sys
    import urllib.request

    proc = subprocess.Popen(
        [sys.executable, "-m", "groundstation.cli", "serve", "--port", "0",
         "--data-dir", str(tmp_path / "data"), "--workers", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        announced = re.search(r"on (http://127\.0\.0\.1:(\d+)/) ", line)
        assert announced and announced[2] != "0", line
        with urllib.request.urlopen(f"{announced[1]}login", timeout=10) as answer:
            assert answer.status == 200 and answer.headers["Server"] == "gridpatrol"
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_the_demo_server_on_port_0_announces_the_port_it_got(tmp_path, monkeypatch) -> None:
    import groundstation.app
    import groundstation.cli.serve as serve
    from groundstation.cli.demo import _serve
    from groundstation.config import resolve_data_dir

    servers: list = []
    monkeypatch.setattr(serve, "run_server", servers.append)
    apps: list = []
    create_app = groundstation.app.create_app
    monkeypatch.setattr(
        groundstation.app, "create_app", lambda c: apps.append(create_app(c)) or apps[-1]
    )
    lines: list[str] = []

    class Console:
        def print(self, text: str) -> None:
            lines.append(text)

    _serve(resolve_data_dir(tmp_path / "demo"), 0, Console())
    (server,) = servers
    try:
        port = server.socket.getsockname()[1]
        assert port != 0
        assert lines[0].startswith(f"GridPatrol ground station on http://127.0.0.1:{port}/ — ")
    finally:
        server.close()
        (app,) = apps
        state = app.extensions["gridpatrol"]
        state.queue.stop()
        state.storage.dispose()


def test_serve_and_demo_on_a_taken_port_say_so_in_one_line(tmp_path) -> None:
    import socket

    from groundstation.cli import cli

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        for args in (
            ["serve", "--port", port, "--data-dir", str(tmp_path / "data"), "--workers", "0"],
            ["demo", "--quick", "--port", port, "--data-dir", str(tmp_path / "demo")],
        ):
            result = CliRunner().invoke(cli, args)
            assert result.exit_code == 1, result.output
            assert f"error: cannot listen on 127.0.0.1:{port}" in result.output
            assert "Traceback" not in result.output
    assert not (tmp_path / "demo" / "worlds").exists()  # refused before any work


MISSING_DB = "postgresql+psycopg://postgres:s3cret@127.0.0.1:5432/gp_cfg_no_such_db"


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--port", "0", "--workers", "0"],
        ["worker"],
        ["db", "upgrade"],
        ["db", "list-users"],
    ],
)
def test_a_missing_postgresql_database_is_one_line_without_the_password(
    tmp_path, monkeypatch, args
) -> None:
    monkeypatch.setenv("DATABASE_URL", MISSING_DB)
    monkeypatch.delenv("REDIS_URL", raising=False)
    result = CliRunner().invoke(cli, [*args, "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "error: database postgresql+psycopg://postgres:***@127.0.0.1:5432/gp_cfg_no_such_db "
        "does not exist (create it, e.g. createdb gp_cfg_no_such_db, or correct DATABASE_URL)"
    ]


def test_an_unreachable_postgresql_server_is_one_line(tmp_path, monkeypatch) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again: nothing listens there
    url = f"postgresql+psycopg://postgres:s3cret@127.0.0.1:{port}/test"
    monkeypatch.setenv("DATABASE_URL", url)
    result = CliRunner().invoke(cli, ["db", "upgrade", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert line.startswith(
        f"error: database postgresql+psycopg://postgres:***@127.0.0.1:{port}/test: cannot connect ("
    )
    assert "Connection refused" in line and "s3cret" not in line and "sqlalche.me" not in line


@pytest.mark.parametrize(
    "url", ["postgresql://wang:s3cret@db:port/x", "postgresql://wang:s3@cr:et@db/x"]
)
def test_a_database_url_that_does_not_parse_is_one_line_without_the_password(
    tmp_path, monkeypatch, url
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    result = CliRunner().invoke(cli, ["db", "upgrade", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert line.startswith("error: DATABASE_URL 'postgresql://wang:***@db")
    assert "is not a database URL (expected dialect://" in line and "s3" not in line
