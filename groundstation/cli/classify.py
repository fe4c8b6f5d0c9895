"""`gridpatrol classify`: find violations in photos, plain images and GeoTIFF orthomosaics."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gis.messages import counted
from groundstation.cli._files import check_output, write_all

__all__ = ["classify_command", "collect_inputs"]

_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")


def collect_inputs(inputs: tuple[Path, ...]) -> list[Path]:
    """Files as given, and the images inside given folders (recursively, sorted); each file
    once, however often it is named (compared by resolved path, so ``a.jpg`` and ``./a.jpg``
    or a folder and a file in it are one image)."""
    return _unique(_expand(inputs))[0]


def _expand(inputs: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            files += sorted(p for p in item.rglob("*") if p.suffix.lower() in _SUFFIXES)
        else:
            files.append(item)
    return files


def _unique(files: list[Path]) -> tuple[list[Path], int]:
    """The files in order without repeats of the same resolved path, and how many repeats."""
    seen: set[Path] = set()
    unique: list[Path] = []
    for path in files:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique, len(files) - len(unique)


@click.command("classify")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file of results.",
)
@click.option(
    "--geojson",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the georeferenced findings as GeoJSON.",
)
@click.option(
    "--grids",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Grid layer (GeoJSON/KML/Shapefile): findings get the id of their grid.",
)
@click.option("--camera", default=None, help="Camera preset name or JSON file (for photo GSD).")
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1),
    default=None,
    help="Minimum score of a finding (default 0.5).",
)
@click.option(
    "--gsd",
    "gsd_cm",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="Ground sampling distance of the inputs in cm/px (overrides EXIF/GeoTIFF).",
)
@click.option(
    "--weights",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Weights file (default: the weights shipped with GridPatrol).",
)
@click.option(
    "--threads", type=click.IntRange(1), default=1, show_default=True, help="CPU threads for torch."
)
def classify_command(
    inputs: tuple[Path, ...],
    out: Path,
    geojson: Path | None,
    grids: Path | None,
    camera: str | None,
    threshold: float | None,
    gsd_cm: float | None,
    weights: Path | None,
    threads: int,
) -> None:
    """Classify INPUT photos, folders of photos and GeoTIFFs; write findings to --out."""
    from rich.progress import Progress

    from gis.camera import load_camera
    from gis.io import read_grids
    from vision.errors import ImageReadError, ImageRefusedError
    from vision.infer import Classifier, pillow_limit_lifted

    for path, option in ((out, "--out"), (geojson, "--geojson")):
        if path is not None:
            check_output(path, option=option)
    files, repeats = _unique(_expand(inputs))
    if not files:
        kinds = ", ".join(_SUFFIXES)
        raise click.BadParameter(f"no images found (looked for {kinds})", param_hint="INPUTS")
    if repeats:
        click.echo(
            f"note: {counted(repeats, 'image')} named more than once, classified once", err=True
        )
    grid_layer = read_grids(grids) if grids else None
    camera_model = load_camera(camera) if camera else None
    classifier = Classifier.load(weights, threads=threads)
    results = []
    # images are opened only by the classifier, which refuses oversized ones from their headers
    with pillow_limit_lifted(), Progress(transient=True) as bars:
        task = bars.add_task("classifying", total=len(files))
        for path in files:
            result = classifier.classify_image(
                path,
                camera=camera_model,
                gsd_m=gsd_cm / 100 if gsd_cm else None,
                threshold=threshold,
                grids=grid_layer,
            )
            if result.error:  # the reason names the file already; never wrapped or marked up
                reason = result.error if str(path) in result.error else f"{path}: {result.error}"
                bars.console.print(
                    f"skipped {reason}", soft_wrap=True, markup=False, highlight=False
                )
            if result.warning:
                bars.console.print(
                    f"warning: {result.warning}", soft_wrap=True, markup=False, highlight=False
                )
            results.append(result)
            bars.advance(task)
    mismatched = [r for r in results if r.camera_mismatch is not None]
    if mismatched:
        click.echo(_camera_warning(camera_model, mismatched), err=True)
    failed = sum(1 for r in results if r.error)
    if failed == len(results):
        reasons = _reasons(results)
        if {r.skipped for r in results} == {"unreadable"}:
            if failed == 1:
                raise ImageReadError(f"{files[0]} is not a readable image; nothing written")
            raise ImageReadError(
                f"none of the {failed} inputs is a readable image; nothing written"
            )
        if failed == 1:
            raise ImageRefusedError(
                f"{files[0]} was not classified ({results[0].skipped}); nothing written",
                kind=results[0].skipped,
            )
        raise ImageRefusedError(
            f"none of the {failed} inputs was classified ({reasons}); nothing written",
            kind="several",
        )
    model = classifier.describe()
    if threshold is not None:
        model["threshold"] = threshold
    document = {"model": model, "images": [r.to_dict() for r in results]}
    contents = {out: json.dumps(document, indent=1, ensure_ascii=False).encode("utf-8")}
    if geojson is not None:
        features = [
            {
                "type": "Feature",
                "geometry": f["polygon"],
                "properties": {
                    "image": r["image"],
                    "label": f["label"],
                    "score": f["score"],
                    "centre": f["centre"],
                    "grid_id": f["grid_id"],
                },
            }
            for r in document["images"]
            for f in r["findings"]
            if f["polygon"] is not None
        ]
        collection = {"type": "FeatureCollection", "features": features}
        contents[geojson] = json.dumps(collection, ensure_ascii=False).encode("utf-8")
    write_all(contents)
    found = sum(len(r.findings) for r in results)
    unplaced = sum(1 for r in results for f in r.findings if f.polygon is None)
    skipped = f"{failed} skipped" + (f" ({_reasons(results)})" if failed else "")
    click.echo(f"{counted(len(results), 'image')}, {counted(found, 'finding')}, {skipped} -> {out}")
    if unplaced:
        click.echo(
            f"{counted(unplaced, 'finding')} without a position (images without GPS and camera, "
            "or GeoTIFFs without a CRS)" + (f": not in {geojson}" if geojson is not None else "")
        )


def _reasons(results) -> str:
    """How many inputs were skipped for each reason, most first: "2 too coarse, 1 unreadable"."""
    counts: dict[str, int] = {}
    for result in results:
        if result.skipped is not None:
            counts[result.skipped] = counts.get(result.skipped, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{n} {reason}" for reason, n in ranked)


def _camera_warning(camera, results, shown: int = 10) -> str:
    """One line for the photos whose size is not the camera's: their GSD, so their findings'
    positions, are computed for a camera that did not take them."""
    sizes = {r.camera_mismatch for r in results}
    one_size = len(sizes) == 1
    names = ", ".join(
        r.image if one_size else f"{r.image} ({r.camera_mismatch[0]}x{r.camera_mismatch[1]})"
        for r in results[:shown]
    )
    more = f" and {len(results) - shown} more" if len(results) > shown else ""
    are = "is" if len(results) == 1 else "are"
    if one_size:
        width, height = sizes.pop()
        are = f"{are} {width}x{height} px,"
    return (
        f"warning: {counted(len(results), 'photo')} {are} not the {camera.image_width_px}x"
        f"{camera.image_height_px} px of camera {camera.name}, so the GSD and positions of "
        f"{'its' if len(results) == 1 else 'their'} findings may be wrong: {names}{more}"
    )
