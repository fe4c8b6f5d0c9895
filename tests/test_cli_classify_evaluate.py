"""`gridpatrol classify` and `evaluate` with bad inputs and bad output paths: one line and a
non-zero exit for what cannot be done, the good images' results kept, outputs checked first.

Oversized images are tiny files whose headers are patched to claim a huge size.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from groundstation.cli import _files, cli
from tests.vision.conftest import SHARED_DATA, spy_decoding
from tests.vision.test_bad_images import patched_jpeg, patched_png, plain_png
from vision import infer
from vision.infer import MAX_PHOTO_PIXELS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def decoded(monkeypatch) -> list[str]:
    return spy_decoding(monkeypatch)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def no_classifier(monkeypatch) -> None:
    """Fail the test if a command gets as far as loading the model."""

    def refuse(*args, **kwargs):
        raise AssertionError("the classifier was loaded: the command did not stop early")

    monkeypatch.setattr(infer.Classifier, "load", refuse)


def _bad_batch(folder: Path) -> Path:
    folder.mkdir(parents=True)
    plain_png(folder / "good.png")
    patched_jpeg(folder / "bomb.jpg", 30000, 30000)
    patched_png(folder / "bomb.png", 30000, 30000)
    patched_png(folder / "big.png", 25000, 20000)  # between Pillow's warning and error sizes
    return folder


def _refusal(path: Path, width: int, height: int) -> str:
    return (
        f"image {path} is {width}x{height} pixels ({width * height:,}), more than the "
        f"{MAX_PHOTO_PIXELS:,} allowed; give a larger orthomosaic as a georeferenced GeoTIFF"
    )


# ---------------------------------------------------------------------------- classify


def test_classify_skips_oversized_images_and_keeps_the_rest(runner, tmp_path, decoded) -> None:
    folder = _bad_batch(tmp_path / "photos")
    out = tmp_path / "out.json"
    pillow_limit = Image.MAX_IMAGE_PIXELS
    result = runner.invoke(cli, ["classify", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "DecompressionBomb" not in result.output
    assert "4 images, 0 findings, 3 skipped (3 too large)" in result.output
    images = {Path(r["image"]).name: r for r in json.loads(out.read_text())["images"]}
    assert "error" not in images["good.png"] and images["good.png"]["label"] == "background"
    assert images["bomb.jpg"]["error"] == _refusal(folder / "bomb.jpg", 30000, 30000)
    assert images["bomb.png"]["error"] == _refusal(folder / "bomb.png", 30000, 30000)
    assert images["big.png"]["error"] == _refusal(folder / "big.png", 25000, 20000)
    skipped = [line for line in result.output.splitlines() if line.startswith("skipped ")]
    # one line each, naming the file once, however narrow the terminal
    assert sorted(skipped) == sorted(
        f"skipped {_refusal(folder / name, w, h)}"
        for name, w, h in (("bomb.jpg", 30000, 30000), ("bomb.png", 30000, 30000),
                           ("big.png", 25000, 20000))
    )  # fmt: skip
    assert decoded == ["good.png"]
    assert pillow_limit == Image.MAX_IMAGE_PIXELS  # lifted for the command only


def test_classify_with_only_oversized_images_exits_1_and_writes_nothing(
    runner, tmp_path, decoded
) -> None:
    bomb = patched_jpeg(tmp_path / "bomb.jpg", 30000, 30000)
    big = patched_png(tmp_path / "big.png", 25000, 20000)
    out = tmp_path / "out.json"
    result = runner.invoke(cli, ["classify", str(bomb), str(big), "--out", str(out)])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: none of the 2 inputs was classified (2 too large); nothing written"
    )
    assert "Traceback" not in result.output
    assert not out.exists() and decoded == []


def test_classify_refuses_an_output_that_is_a_folder(runner, tmp_path, no_classifier) -> None:
    image = plain_png(tmp_path / "good.png")
    (tmp_path / "results").mkdir()
    result = runner.invoke(cli, ["classify", str(image), "--out", str(tmp_path / "results")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


# ---------------------------------------------------------------------------- evaluate


def test_evaluate_with_no_readable_image_exits_1(runner, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "eval" / "background"
    folder.mkdir(parents=True)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "garbage.jpg").write_bytes(b"\xff\xd8\xff\xe0 garbage, not a picture")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["evaluate", str(tmp_path / "eval")])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        f"error: none of the 2 images under {tmp_path / 'eval'} could be classified, nothing to "
        "evaluate"
    )
    assert "macro-F1" not in result.output and "Traceback" not in result.output
    assert not (tmp_path / "confusion.png").exists()


def test_evaluate_skips_oversized_images_and_writes_png_and_json(runner, tmp_path, decoded) -> None:
    _bad_batch(tmp_path / "eval" / "background")
    png, report = tmp_path / "out" / "cm.png", tmp_path / "out" / "metrics.json"
    args = ["evaluate", str(tmp_path / "eval"), "--png", str(png), "--json", str(report)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "macro-F1 1.000" in result.stdout
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 3 and all("more than the 400,000,000 allowed" in s for s in skipped)
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    assert json.loads(report.read_text())["per_class"]["background"]["support"] == 1
    assert decoded == ["good.png"]


def test_evaluate_writes_confusion_png_in_the_current_folder_by_default(
    runner, tmp_path, monkeypatch
) -> None:
    folder = tmp_path / "eval" / "background"
    folder.mkdir(parents=True)
    plain_png(folder / "good.png")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["evaluate", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "confusion.png").read_bytes().startswith(PNG_SIGNATURE)


def _labelled(tmp_path: Path) -> Path:
    folder = tmp_path / "eval" / "background"
    folder.mkdir(parents=True)
    plain_png(folder / "good.png")
    return tmp_path / "eval"


@pytest.mark.parametrize("name", ["ev.txt", "ev", "ev.PNG.json"])
def test_evaluate_refuses_a_png_path_that_is_not_png_before_evaluating(
    runner, tmp_path, no_classifier, name
) -> None:
    png = tmp_path / "out" / name
    result = runner.invoke(cli, ["evaluate", str(_labelled(tmp_path)), "--png", str(png)])
    assert result.exit_code == 2
    assert f"{png}: unknown format; use .png" in result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


def test_evaluate_accepts_an_upper_case_png_suffix(runner, tmp_path) -> None:
    png = tmp_path / "CM.PNG"
    result = runner.invoke(cli, ["evaluate", str(_labelled(tmp_path)), "--png", str(png)])
    assert result.exit_code == 0, result.output
    assert png.is_file()


@pytest.mark.parametrize("option", ["--png", "--json"])
def test_evaluate_refuses_an_unwritable_folder_before_evaluating(
    runner, tmp_path, no_classifier, monkeypatch, option
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access

    def access(path, mode, **kwargs):  # chmod does not stop root, so the check is faked
        if Path(path) == locked and mode & os.W_OK:
            return False
        return real_access(path, mode, **kwargs)

    monkeypatch.setattr(_files.os, "access", access)
    target = locked / ("cm.png" if option == "--png" else "m.json")
    args = ["evaluate", str(_labelled(tmp_path)), option, str(target)]
    if option == "--json":
        args += ["--png", str(tmp_path / "cm.png")]
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    assert f"{target}: folder {locked} is not writable" in result.stderr
    assert "Traceback" not in result.output


def test_evaluate_refuses_a_png_below_a_file_before_evaluating(
    runner, tmp_path, no_classifier
) -> None:
    (tmp_path / "notes").write_text("a file, not a folder")
    png = tmp_path / "notes" / "cm.png"
    result = runner.invoke(cli, ["evaluate", str(_labelled(tmp_path)), "--png", str(png)])
    assert result.exit_code == 2
    assert f"{tmp_path / 'notes'} is not a folder" in result.stderr
    assert "Traceback" not in result.output


def test_evaluate_checks_the_png_before_the_folder_of_images(
    runner, tmp_path, no_classifier
) -> None:
    # tmp_path holds no class folders either: the bad output is what gets reported
    result = runner.invoke(cli, ["evaluate", str(tmp_path), "--png", str(tmp_path / "ev.txt")])
    assert result.exit_code == 2
    assert "unknown format" in result.stderr


def _tiff(path: Path, crs: str | None, transform=None) -> Path:
    """A GeoTIFF of a real field-fire photo, 10 cm/px (metres from a UTM-like origin unless
    ``transform`` says otherwise), with or without a CRS."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    fire = sorted((SHARED_DATA / "imagery" / "straw_burning").iterdir())[0]
    rgb = np.asarray(Image.open(fire).convert("RGB"))
    profile = {"driver": "GTiff", "width": rgb.shape[1], "height": rgb.shape[0], "count": 3}
    with rasterio.open(
        path,
        "w",
        **profile,
        dtype="uint8",
        crs=crs,
        transform=transform or from_origin(500000, 3500000, 0.1, 0.1),
    ) as out:
        out.write(rgb.transpose(2, 0, 1))
    return path


def test_classify_warns_that_a_geotiff_without_crs_is_not_placed(runner, tmp_path) -> None:
    placed, bare = _tiff(tmp_path / "placed.tif", "EPSG:32650"), _tiff(tmp_path / "bare.tif", None)
    result = runner.invoke(
        cli, ["classify", str(placed), str(bare), "--out", str(tmp_path / "r.json")]
    )
    assert result.exit_code == 0, result.output
    assert f"warning: GeoTIFF {bare} has a geotransform but no CRS" in result.output
    assert str(placed) not in result.output.split("warning:", 1)[1]
    images = {
        Path(r["image"]).name: r for r in json.loads((tmp_path / "r.json").read_text())["images"]
    }
    assert "no CRS" in images["bare.tif"]["warning"] and "warning" not in images["placed.tif"]
    unplaced = sum(1 for f in images["bare.tif"]["findings"] if f["centre"] is None)
    assert unplaced == len(images["bare.tif"]["findings"]) > 0
    assert all(f["centre"] is not None for f in images["placed.tif"]["findings"])
    noun = "finding" if unplaced == 1 else "findings"
    assert f"{unplaced} {noun} without a position" in result.output


def _warnings(output: str) -> dict[str, str]:
    """The classify command's warning lines, by the file name they start with."""
    lines = [line for line in output.splitlines() if line.startswith("warning: GeoTIFF ")]
    return {Path(line.split()[2]).name: line for line in lines}


def test_a_geotiff_without_crs_gets_the_crs_its_coordinates_suggest(runner, tmp_path) -> None:
    """Degrees suggest EPSG:4326; metres suggest a projected CRS, never EPSG:4326, and say
    honestly that the zone cannot be told from them."""
    from rasterio.transform import from_origin

    metres = _tiff(tmp_path / "metres.tif", None)
    degrees = _tiff(tmp_path / "degrees.tif", None, from_origin(120.1, 32.5, 1e-6, 1e-6))
    result = runner.invoke(
        cli, ["classify", str(metres), str(degrees), "--out", str(tmp_path / "r.json")]
    )
    assert result.exit_code == 0, result.output
    warned = _warnings(result.output)
    assert "most likely EPSG:4326 (WGS 84)" in warned["degrees.tif"]
    assert warned["degrees.tif"].endswith(f"gdal_edit.py -a_srs EPSG:4326 {degrees})")
    assert "EPSG:4326" not in warned["metres.tif"]
    assert "look like metres of a projected CRS, such as EPSG:32650" in warned["metres.tif"]
    assert "the coordinates alone cannot tell which CRS or zone" in warned["metres.tif"]
    assert warned["metres.tif"].endswith(f"gdal_edit.py -a_srs EPSG:CODE {metres})")


@pytest.mark.parametrize("gsd", [[], ["--gsd", "10"]], ids=["own-gsd", "given-gsd"])
def test_a_geotiff_in_metres_labelled_wgs84_is_refused_not_read_as_degrees(
    runner, tmp_path, gsd
) -> None:
    """Read as degrees, its pixels were 1.9 km wide (refused for that, the wrong reason), or,
    with --gsd, its findings were placed at longitude 500000."""
    wrong = _tiff(tmp_path / "wrong.tif", "EPSG:4326")  # origin 500000, 3500000; 0.1 px
    out = tmp_path / "r.json"
    result = runner.invoke(cli, ["classify", str(wrong), *gsd, "--out", str(out)])
    assert result.exit_code == 1
    assert f"skipped GeoTIFF {wrong}: its CRS EPSG:4326 (WGS 84) counts in degrees" in (
        result.output
    )
    assert "beyond longitude ±180 and latitude ±90: the file is labelled with the wrong CRS" in (
        result.output
    )
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {wrong} is not a readable image; nothing written"
    )
    assert not out.exists()


def test_evaluate_shows_undefined_scores_as_na_and_null(runner, tmp_path) -> None:
    """Only background images: the violation classes are never present nor predicted, so their
    scores are undefined: "n/a" in the table and null in the JSON, never 0.000."""
    folder = tmp_path / "eval" / "background"
    folder.mkdir(parents=True)
    plain_png(folder / "good.png")
    report = tmp_path / "metrics.json"
    args = ["evaluate", str(tmp_path / "eval"), "--png", str(tmp_path / "cm.png")]
    result = runner.invoke(cli, [*args, "--json", str(report)])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if line.startswith("straw_burning "))
    assert row.split() == ["straw_burning", "n/a", "n/a", "n/a", "0"]
    per_class = json.loads(report.read_text())["per_class"]
    assert per_class["straw_burning"] == {
        "precision": None,
        "recall": None,
        "f1": None,
        "support": 0,
    }


@pytest.mark.skipif(
    not (SHARED_DATA / "geotiff" / "solaris_sample_geotiff.tif").is_file(),
    reason="the shared panchromatic sample is not here",
)
def test_classify_reads_a_panchromatic_geotiff_as_grey(runner, tmp_path) -> None:
    """QA: it was refused, then called "not a readable image"."""
    sample = SHARED_DATA / "geotiff" / "solaris_sample_geotiff.tif"
    out = tmp_path / "out.json"
    result = runner.invoke(cli, ["classify", str(sample), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "1 image, " in result.stdout and ", 0 skipped" in result.stdout
    assert "not a readable image" not in result.output
    (image,) = json.loads(out.read_text())["images"]
    assert image["label"] is not None and "has 1 band (uint16)" in image["warning"]


def test_an_unreadable_image_has_no_label_or_score(runner, tmp_path) -> None:
    """QA: a broken file was labelled "background" with score 0.0, so a script counting labels
    took it for a photo checked and found clean."""
    folder = tmp_path / "mix"
    folder.mkdir()
    plain_png(folder / "good.png")
    (folder / "bad.jpg").write_bytes(b"hi\n")
    out = tmp_path / "out.json"
    result = runner.invoke(cli, ["classify", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    images = {Path(r["image"]).name: r for r in json.loads(out.read_text())["images"]}
    assert images["bad.jpg"]["label"] is None and images["bad.jpg"]["score"] is None
    assert images["bad.jpg"]["error"] and images["bad.jpg"]["findings"] == []
    assert images["good.png"]["label"] == "background" and images["good.png"]["score"] > 0.5
    assert [r["label"] for r in images.values()].count("background") == 1


def test_an_image_named_twice_is_classified_once(runner, tmp_path, monkeypatch) -> None:
    """QA: `classify a.jpg a.jpg` counted "2 images". The same file by another path, or in a
    folder also given, is the same image."""
    folder = tmp_path / "photos"
    folder.mkdir()
    plain_png(folder / "a.png")
    plain_png(folder / "b.png")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.json"
    inputs = ["photos/a.png", "photos/a.png", "./photos/../photos/a.png", "photos"]
    result = runner.invoke(cli, ["classify", *inputs, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 images, 0 findings, 0 skipped" in result.stdout
    assert "note: 3 images named more than once, classified once" in result.stderr
    images = [r["image"] for r in json.loads(out.read_text())["images"]]
    assert images == ["photos/a.png", str(Path("photos") / "b.png")]


def test_a_single_unreadable_input_is_named_in_the_error(runner, tmp_path) -> None:
    """QA: "error: the input is not a readable image" did not say which input."""
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"hi\n")
    out = tmp_path / "out.json"
    result = runner.invoke(cli, ["classify", str(bad), "--out", str(out)])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {bad} is not a readable image; nothing written"
    )
    assert not out.exists()


# ---------------------------------------------------------------------------- skip reasons

COARSE = SHARED_DATA / "geotiff" / "rasterio_RGB.byte.tif"


@pytest.mark.skipif(not COARSE.is_file(), reason="the shared rasterio sample is not here")
def test_a_single_coarse_geotiff_is_not_called_unreadable(runner, tmp_path) -> None:
    """QA: "skipped …: 300 m/px is far coarser", then "is not a readable image"."""
    out = tmp_path / "out.json"
    result = runner.invoke(cli, ["classify", str(COARSE), "--out", str(out)])
    assert result.exit_code == 1
    assert "300 m/px is far coarser than the model's working GSD" in result.output
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {COARSE} was not classified (too coarse); nothing written"
    )
    assert not out.exists()


@pytest.mark.skipif(not COARSE.is_file(), reason="the shared rasterio sample is not here")
def test_the_summary_counts_each_skip_by_its_reason(runner, tmp_path) -> None:
    folder = tmp_path / "mix"
    folder.mkdir()
    plain_png(folder / "good.png")
    Image.new("L", (200, 200), 120).save(folder / "grey.png")
    Image.new("RGB", (1, 1), (90, 120, 60)).save(folder / "one.png")
    (folder / "bad.jpg").write_bytes(b"hi\n")
    (folder / "coarse.tif").write_bytes(COARSE.read_bytes())
    out = tmp_path / "out.json"
    result = runner.invoke(cli, ["classify", str(folder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "5 images, 0 findings, 3 skipped (1 too coarse, 1 too small, 1 unreadable)" in (
        result.stdout
    )
    images = {Path(r["image"]).name: r for r in json.loads(out.read_text())["images"]}
    assert {name: r.get("skipped") for name, r in images.items()} == {
        "bad.jpg": "unreadable",
        "coarse.tif": "too coarse",
        "good.png": None,
        "grey.png": None,
        "one.png": "too small",
    }
    assert (
        images["grey.png"]["label"] == "background" and "greyscale" in images["grey.png"]["warning"]
    )


def test_photos_not_of_the_cameras_size_are_warned_of_in_one_line(runner, tmp_path) -> None:
    """QA: --camera mavic3e on Phantom 4 Pro photos moved findings by metres, silently."""
    camera = tmp_path / "cam.json"
    camera.write_text(
        json.dumps(
            {
                "name": "tiny",
                "sensor_width_mm": 13.2,
                "sensor_height_mm": 8.8,
                "focal_length_mm": 8.8,
                "image_width_px": 300,
                "image_height_px": 200,
            }
        )
    )
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, size in [("a.png", (300, 200)), ("b.png", (200, 300)), ("c.png", (320, 240))]:
        Image.new("RGB", size, (90, 120, 60)).save(folder / name)
    Image.new("RGB", (400, 300), (90, 120, 60)).save(folder / "d.png")
    out = tmp_path / "out.json"
    result = runner.invoke(
        cli, ["classify", str(folder), "--camera", str(camera), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    warned = [line for line in result.stderr.splitlines() if "camera tiny" in line]
    assert warned == [
        "warning: 2 photos are not the 300x200 px of camera tiny, so the GSD and positions of "
        f"their findings may be wrong: {folder / 'c.png'} (320x240), {folder / 'd.png'} (400x300)"
    ]
    given = runner.invoke(
        cli,
        ["classify", str(folder), "--camera", str(camera), "--gsd", "5", "--out", str(out)],
    )
    assert given.exit_code == 0 and "camera tiny" not in given.stderr  # --gsd: camera unused


def test_evaluate_names_classes_without_ground_truth(runner, tmp_path, monkeypatch) -> None:
    folder = tmp_path / "eval" / "background"
    folder.mkdir(parents=True)
    plain_png(folder / "good.png")
    Image.new("RGB", (200, 200), (255, 0, 0)).save(folder / "red.png")  # read as construction
    monkeypatch.setattr(infer.Classifier, "load", classmethod(lambda cls, *a, **k: _colour_rule()))
    result = runner.invoke(
        cli, ["evaluate", str(tmp_path / "eval"), "--png", str(tmp_path / "c.png")]
    )
    assert result.exit_code == 0, result.output
    assert "macro-F1 0.333 (mean over illegal_construction, background)" in result.stdout
    assert "no ground truth for illegal_construction: only false alarms" in result.stdout


def _colour_rule():
    from tests.vision.conftest import ColourRule
    from vision.models import WeightsRecord

    record = WeightsRecord(name="colour-rule")
    return infer.Classifier(ColourRule(record), record, threshold=0.5)
