"""`gridpatrol demo --no-serve` leaves a supervisor to sign in with when the folder is served
later, and the demo district's grids have Chinese names (their kind a property of its own)."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from click.testing import CliRunner


@pytest.fixture
def no_station(monkeypatch) -> None:
    for key in ("DATABASE_URL", "REDIS_URL", "NOTIFIERS", "GRIDPATROL_DATA_DIR", "PHOTO_ROOTS"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("JOB_WORKERS", "0")


def test_a_demo_without_serving_prints_a_login_that_serve_accepts(
    no_station, tmp_path, monkeypatch
) -> None:
    import groundstation.demo
    from groundstation.app import create_app
    from groundstation.cli import cli
    from groundstation.storage import Storage

    data = tmp_path / "demo"

    def run_demo(root, **_kwargs):  # the run itself is tested elsewhere: its database only
        storage = Storage(groundstation.demo.demo_config(root)["DATABASE_URL"])
        storage.upgrade()
        storage.dispose()
        return SimpleNamespace(to_json=dict)

    monkeypatch.setattr(groundstation.demo, "run_demo", run_demo)
    result = CliRunner().invoke(cli, ["demo", "--no-serve", "--json", "--data-dir", str(data)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "{}"  # the JSON report alone on stdout
    login = re.search(
        r"gridpatrol serve --data-dir (\S+), then sign in as demo-supervisor / (\S+)$",
        result.stderr.strip(),
    )
    assert login is not None, result.stderr
    assert login.group(1) == str(data.resolve())

    # `gridpatrol serve --data-dir` on that folder: the login works
    app = create_app({"DATA_DIR": login.group(1), "JOB_WORKERS": 0, "SECRET_KEY": "t"})
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    signed_in = client.post(
        "/login", data={"username": "demo-supervisor", "password": login.group(2)}
    )
    assert signed_in.status_code == 302 and signed_in.headers["Location"].endswith("/review")
    app.extensions["gridpatrol"].storage.dispose()


def test_the_demo_grids_have_chinese_names_and_a_kind() -> None:
    from groundstation.demo_district import district_grids

    grids = district_grids()
    for grid in grids:
        assert re.fullmatch(r"[\u4e00-\u9fff]+", grid.properties["name"]), grid.properties
    assert [g.properties["kind"] for g in grids] == ["village", "fields", "fields", "river"]
