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
