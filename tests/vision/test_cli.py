"""`gridpatrol classify`, `evaluate` and `train` through the click group."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from shapely.geometry import box, mapping

from gis.exif import GeoTag, write_jpeg
from groundstation.cli import cli
from vision.labels import CLASSES
from vision.synth import make_scene, make_tile


def test_classify_writes_json_and_geojson_and_skips_bad_files(tmp_path) -> None:
    scene = make_scene(5, size_px=(1200, 800), gsd_m=0.05)
    photos = tmp_path / "flight"
    photos.mkdir()
    write_jpeg(
        photos / "p1.jpg",
        scene.image,
        GeoTag(32.45, 119.92, 60.0, relative_altitude_m=40.0, yaw_deg=0.0),
    )
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    grids = tmp_path / "grids.geojson"
    grids.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"grid_id": "TZ-01"},
                        "geometry": mapping(box(119.91, 32.44, 119.93, 32.46)),
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    out, geo = tmp_path / "out.json", tmp_path / "out.geojson"
    result = CliRunner().invoke(
        cli,
        [
            "classify",
            str(photos),
            "--camera",
            "generic-1/2.3",
            "--grids",
            str(grids),
            "--out",
            str(out),
            "--geojson",
            str(geo),
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["model"]["categories"] == list(CLASSES)
    by_name = {r["image"].rsplit("/", 1)[-1]: r for r in document["images"]}
    assert set(by_name) == {"p1.jpg", "broken.jpg"}
    assert "error" in by_name["broken.jpg"]
    good = by_name["p1.jpg"]
    assert good["label"] in CLASSES and 0 <= good["score"] <= 1
    for finding in good["findings"]:
        assert set(finding) == {
            "label",
            "score",
            "box_px",
            "centre_px",
            "centre",
            "polygon",
            "grid_id",
        }
        assert finding["grid_id"] == "TZ-01"
    features = json.loads(geo.read_text(encoding="utf-8"))["features"]
    assert len(features) == len(good["findings"])


def test_evaluate_prints_metrics_and_saves_png(tmp_path) -> None:
    root = tmp_path / "eval"
    for c, label in enumerate(CLASSES):
        (root / label).mkdir(parents=True)
        for k in range(3):
            tile = make_tile(np.random.default_rng([55, c, k]), label)
            Image.fromarray(tile).save(root / label / f"t{k}.png")
    png = tmp_path / "cm.png"
    result = CliRunner().invoke(cli, ["evaluate", str(root), "--png", str(png)])
    assert result.exit_code == 0, result.output
    assert "macro-F1" in result.output and "confusion" in result.output
    assert png.is_file()


def test_train_rejects_an_unknown_left_out_source(tmp_path) -> None:
    real = tmp_path / "real" / "background"
    real.mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(real / "src__a.png")
    result = CliRunner().invoke(
        cli,
        [
            "train",
            "--real",
            str(tmp_path / "real"),
            "--leave-out",
            "nope",
            "--epochs",
            "1",
            "--synthetic-per-class",
            "1",
            "--out",
            str(tmp_path / "w.pt"),
            "--workdir",
            str(tmp_path / "work"),
        ],
    )
    assert result.exit_code == 1
    assert "nope" in result.output and "src" in result.output


def _export(root, rows: str) -> None:
    """A review export as `gridpatrol db export-reviews` writes it: crops + labels.csv."""
    for label in ("background", "straw_burning"):
        (root / label).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 32)).save(root / label / "1.jpg")
    (root / "labels.csv").write_text(rows, encoding="utf-8")


GOOD_HEADER = "finding_id,path,label,original_label,score,status\n"


@pytest.fixture
def generator_calls(monkeypatch) -> list:
    """Replaces the (slow) tile generator; the list holds every call made to it."""
    import vision.train

    calls: list = []

    def generate(n_per_class, **options):
        calls.append(n_per_class)
        raise AssertionError("tiles generated before the inputs were checked")

    monkeypatch.setattr(vision.train, "synthetic_tiles", generate)
    return calls


def _train(tmp_path, *options: str):
    out = tmp_path / "w.pt"
    result = CliRunner().invoke(
        cli, ["train", "--out", str(out), "--workdir", str(tmp_path / "work"), *options]
    )
    return result, out


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            None,
            r"review export EXPORT has no labels\.csv; write the export with "
            r"`gridpatrol db export-reviews DIR`",
        ),
        (
            "name,class\n1.jpg,background\n",
            r"EXPORT/labels\.csv needs the columns path,label; has \['name', 'class'\]",
        ),
        (
            GOOD_HEADER + "7,background/1.jpg,smoke,smoke,0.9,confirmed\n",
            r"EXPORT/labels\.csv line 2: label 'smoke' is not one of illegal_construction, .*",
        ),
        (
            GOOD_HEADER + "7,background/9.jpg,background,background,0.9,rejected\n",
            r"EXPORT/labels\.csv line 2: crop EXPORT/background/9\.jpg does not exist",
        ),
        (GOOD_HEADER, r"review export EXPORT lists no reviewed crops"),
    ],
    ids=["no-labels-csv", "wrong-columns", "unknown-label", "missing-crop", "empty"],
)
def test_train_rejects_a_bad_review_export_before_generating(
    tmp_path, generator_calls, rows, message
) -> None:
    export = tmp_path / "export"
    _export(export, rows or "")
    if rows is None:
        (export / "labels.csv").unlink()
    result, out = _train(tmp_path, "--reviews", str(export))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    expected = message.replace("EXPORT", re.escape(str(export)))
    assert re.fullmatch(f"error: {expected}\n", result.stderr)
    assert generator_calls == [] and not out.exists()


def test_train_rejects_a_missing_review_export_before_generating(tmp_path, generator_calls):
    result, out = _train(tmp_path, "--reviews", str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert "'--reviews': Directory" in result.stderr and "does not exist" in result.stderr
    assert generator_calls == [] and not out.exists()


def test_train_rejects_an_unwritable_output_before_generating(tmp_path, generator_calls) -> None:
    (tmp_path / "file").write_text("", encoding="utf-8")
    out = tmp_path / "file" / "w.pt"
    result = CliRunner().invoke(
        cli, ["train", "--out", str(out), "--workdir", str(tmp_path / "work")]
    )
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"error: cannot write weights file {out}: {tmp_path / 'file'} is not a folder\n"
    )
    assert generator_calls == []


def test_train_rejects_an_unknown_leave_one_source_out_before_generating(
    tmp_path, generator_calls
) -> None:
    real = tmp_path / "real" / "background"
    real.mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(real / "src__a.png")
    result, _ = _train(tmp_path, "--real", str(tmp_path / "real"), "--leave-one-source-out", "nope")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: --leave-one-source-out sources ['nope'] are not in")
    assert generator_calls == []


def test_train_rejects_out_of_range_options_before_generating(tmp_path, generator_calls) -> None:
    result, _ = _train(tmp_path, "--batch-size", "1")
    assert result.exit_code == 2
    assert "Invalid value for '--batch-size': 1 is not in the range x>=2" in result.stderr
    assert generator_calls == []
