"""A grid layer holding lines is refused whole, naming them: the station keeps grids as areas, and
a road centre line in a district file must not vanish without a word."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from groundstation.errors import ValidationError
from groundstation.services import read_grid_file

SQUARE = [[120.10, 32.50], [120.11, 32.50], [120.11, 32.51], [120.10, 32.51], [120.10, 32.50]]


def _layer() -> bytes:
    features = [
        {
            "type": "Feature",
            "properties": {"grid_id": "L-G1"},
            "geometry": {"type": "Polygon", "coordinates": [SQUARE]},
        },
        {
            "type": "Feature",
            "properties": {"grid_id": "road"},
            "geometry": {"type": "LineString", "coordinates": [[120.10, 32.50], [120.12, 32.52]]},
        },
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def test_a_layer_with_lines_is_refused_naming_them() -> None:
    with pytest.raises(
        ValidationError, match=r"holds lines \(road\): a line is a centre line, not a grid"
    ):
        read_grid_file(_layer(), "district.geojson")


def test_import_grids_refuses_it_and_stores_nothing(tmp_path) -> None:
    from groundstation.cli import cli

    data = tmp_path / "data"
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade", "--data-dir", str(data)]).exit_code == 0
    layer = tmp_path / "district.geojson"
    layer.write_bytes(_layer())
    result = runner.invoke(cli, ["db", "import-grids", str(layer), "--data-dir", str(data)])
    assert result.exit_code == 1 and "holds lines (road)" in result.output
    from groundstation.models import Grid
    from groundstation.storage import Storage

    with Storage(f"sqlite:///{data / 'gridpatrol.sqlite3'}").session() as session:
        assert session.query(Grid).count() == 0


def _with_a_marker() -> bytes:
    layer = json.loads(_layer())
    layer["features"][1] = {
        "type": "Feature",
        "properties": {"name": "label"},
        "geometry": {"type": "Point", "coordinates": [120.105, 32.505]},
    }
    return json.dumps(layer).encode()


def test_markers_are_left_out_and_said(tmp_path) -> None:
    from groundstation.cli import cli

    data = tmp_path / "data"
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade", "--data-dir", str(data)]).exit_code == 0
    layer = tmp_path / "district.geojson"
    layer.write_bytes(_with_a_marker())
    result = runner.invoke(cli, ["db", "import-grids", str(layer), "--data-dir", str(data)])
    assert result.exit_code == 0 and "1 new" in result.stdout
    assert "warning: district.geojson: left out 1 Point (not grids)" in result.stderr
    planned = runner.invoke(
        cli, ["plan", str(layer), "--altitude", "60", "--out", str(tmp_path / "d.plan")]
    )
    assert planned.exit_code == 0, planned.output
    assert "left out 1 Point (not grids)" in planned.stderr


def _crossing_route_layer() -> bytes:
    """A grid and a flight route that crosses itself (out over the grid and back through it)."""
    layer = json.loads(_layer())
    layer["features"][1] = {
        "type": "Feature",
        "properties": {"name": "route"},
        "geometry": {
            "type": "LineString",
            "coordinates": [
                [120.105, 32.499],
                [120.105, 32.509],
                [120.101, 32.505],
                [120.109, 32.505],
            ],
        },
    }
    return json.dumps(layer).encode()


def test_a_line_that_crosses_itself_is_refused_as_a_line_not_as_a_corridor() -> None:
    with pytest.raises(ValidationError) as refused:
        read_grid_file(_crossing_route_layer(), "district.geojson")
    message = str(refused.value)
    assert "holds lines (route): a line is a centre line, not a grid" in message
    assert "crosses or touches itself" not in message


def test_the_planners_own_kml_preview_is_refused_naming_its_lines(tmp_path) -> None:
    """`gridpatrol plan ... --out x.kml` then `gridpatrol db import-grids x.kml`: the preview's
    route and legs are lines, so the layer is refused whole as README says, naming them, with
    the command line's advice about lines; nothing is imported (not even its polygons)."""
    from groundstation.cli import cli
    from groundstation.models import Grid
    from groundstation.storage import Storage

    small = [[120.1, 32.5], [120.104, 32.5], [120.104, 32.503], [120.1, 32.503], [120.1, 32.5]]
    grid = {
        "type": "Feature",
        "properties": {"grid_id": "G1"},
        "geometry": {"type": "Polygon", "coordinates": [small]},
    }
    grids = tmp_path / "district.geojson"
    grids.write_text(json.dumps({"type": "FeatureCollection", "features": [grid]}))
    runner = CliRunner()
    preview = tmp_path / "x.kml"
    planned = runner.invoke(  # from a home the route returns to across its first leg
        cli,
        ["plan", str(grids), "--altitude", "60", "--home", "32.4995,120.102",
         "--out", str(preview)],
    )  # fmt: skip
    assert planned.exit_code == 0, planned.output
    data = tmp_path / "data"
    assert runner.invoke(cli, ["db", "upgrade", "--data-dir", str(data)]).exit_code == 0
    result = runner.invoke(cli, ["db", "import-grids", str(preview), "--data-dir", str(data)])
    assert result.exit_code == 1
    assert "grid file 'x.kml' holds lines (s1, Leg 1: camera off" in result.output
    assert "plan a line as a corridor with gridpatrol plan --corridor-width" in result.output
    assert "crosses or touches itself" not in result.output
    with Storage(f"sqlite:///{data / 'gridpatrol.sqlite3'}").session() as session:
        assert session.query(Grid).count() == 0
