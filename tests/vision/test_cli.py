"""`gridpatrol classify`, `evaluate` and `train` through the click group."""

from __future__ import annotations

import json

import numpy as np
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
        assert set(finding) == {"label", "score", "box_px", "centre", "polygon", "grid_id"}
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
