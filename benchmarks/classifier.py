"""Classifier throughput on this machine's CPU: 20 MP survey photos and 3 cm/px orthomosaics.

Runs torch on one thread (the CLI's default: on a shared 2-core machine two threads are slower).
Prints photos per second (target: a 20 MP photo in under 1 s) and km² per minute, each beside a
baseline measured in the same run: simply decoding the same file at full resolution with PIL.
Then the position error of findings on synthetic scenes with planted violations, against the
coarse tile grid alone (no refinement) as the baseline, and false alarms per class on scenes and
on water-heavy "river worlds" (a demo-like channel beside fields, ponds, villages) never used in
training. Inputs are generated (vision.synth) into a temporary folder; nothing is downloaded.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image
from rasterio.transform import from_origin
from rasterio.windows import Window
from shapely.geometry import LineString, box

from gis.camera import PRESETS
from gis.exif import GeoTag, write_jpeg
from vision.errors import SynthError
from vision.infer import Classifier
from vision.labels import VIOLATIONS
from vision.models import SHIPPED_WEIGHTS, WeightsRecord, build_model
from vision.synth import Layout, Lighting, make_scene, plant, random_layout, render_window
from vision.synth.layout import Feature

PHOTOS = 5
SCENES = 20  # synthetic scenes for the position errors, three planted violations each
SCENE_GSD_M = 0.05
FALSE_ALARM_SCENES = 24  # of each kind: generated scenes and water-heavy river worlds
FALSE_ALARM_GSD_M = 0.1
ORTHO_SIDE_PX = 6000  # 180 m × 180 m at 3 cm/px


def _classifier() -> Classifier:
    if SHIPPED_WEIGHTS.is_file():
        return Classifier.load(threads=1)
    print("(shipped weights missing: timing an untrained model of the same size)")
    return Classifier(build_model().eval(), WeightsRecord(name="untrained"), threads=1)


def _photo(folder: Path) -> Path:
    camera = PRESETS["phantom4pro"]
    scene = make_scene(1, size_px=(1368, 912), gsd_m=0.11)
    image = Image.fromarray(scene.image).resize(
        (camera.image_width_px, camera.image_height_px), Image.BILINEAR
    )
    return write_jpeg(
        folder / "photo.jpg",
        image,
        GeoTag(32.45, 119.92, 110.0, relative_altitude_m=100.0, yaw_deg=30.0),
    )


def _ortho(folder: Path) -> tuple[Path, float]:
    scene = make_scene(2, size_px=(900, 900), gsd_m=0.2)
    big = np.asarray(Image.fromarray(scene.image).resize((ORTHO_SIDE_PX, ORTHO_SIDE_PX)))
    path = folder / "ortho.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=ORTHO_SIDE_PX,
        height=ORTHO_SIDE_PX,
        count=3,
        dtype="uint8",
        crs="EPSG:32650",
        transform=from_origin(700000, 3600000, 0.03, 0.03),
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
    ) as dst:
        for row in range(0, ORTHO_SIDE_PX, 1024):
            h = min(1024, ORTHO_SIDE_PX - row)
            dst.write(
                np.moveaxis(big[row : row + h], -1, 0), window=Window(0, row, ORTHO_SIDE_PX, h)
            )
    return path, (ORTHO_SIDE_PX * 0.03) ** 2 / 1e6


def _position_errors(classifier: Classifier, scenes) -> tuple[list[float], int, int, float]:
    """Errors (m) of the planted violations found, how many were missed, false alarms, and
    seconds per scene."""
    errors, missed, false_alarms, seconds = [], 0, 0, 0.0
    tolerance_px = 10.0 / SCENE_GSD_M  # as the demo matches: within 10 m of the footprint
    for scene in scenes:
        start = time.perf_counter()
        found = classifier.classify_array(scene.image, gsd_m=SCENE_GSD_M)
        seconds += time.perf_counter() - start
        used: set[int] = set()
        for obj in scene.objects:
            x0, y0, x1, y1 = obj.box_px
            near = [
                (float(np.hypot(cx - obj.centre_px[0], cy - obj.centre_px[1])), k)
                for k, f in enumerate(found)
                for cx, cy in [f.centre_px]
                if f.label == obj.label
                and k not in used
                and x0 - tolerance_px <= cx <= x1 + tolerance_px
                and y0 - tolerance_px <= cy <= y1 + tolerance_px
            ]
            if not near:
                missed += 1
                continue
            distance, k = min(near)
            used.add(k)
            errors.append(distance * SCENE_GSD_M)
        false_alarms += len(found) - len(used)
    return errors, missed, false_alarms, seconds / len(scenes)


def _positions(classifier: Classifier) -> None:
    scenes = [make_scene(1000 + k, size_px=(2000, 1400), gsd_m=SCENE_GSD_M) for k in range(SCENES)]
    coarse = Classifier(
        classifier.model, classifier.record, threshold=classifier.threshold, refine_stride_px=0
    )
    for name, c in (("coarse tile grid (baseline)", coarse), ("refined (ours)", classifier)):
        errors, missed, false_alarms, seconds = _position_errors(c, scenes)
        print(
            f"  {name}: mean {np.mean(errors):.2f} m, p90 {np.percentile(errors, 90):.2f} m, "
            f"max {max(errors):.2f} m over {len(errors)} found ({missed} missed, "
            f"{false_alarms} false alarms); {seconds:.2f} s per scene"
        )


def _river_world(seed: int) -> tuple[np.ndarray, list[tuple[str, tuple, tuple]]]:
    """A 150 m × 100 m scene like the demo's river grid: generated land (rivers, ponds, villages)
    crossed by a channel of the demo's water colour, one violation of each class, world-like
    lighting and JPEG; returns the image and (label, box, centre) in pixels."""
    rng = np.random.default_rng(seed)
    w, h, gsd = 150.0, 100.0, FALSE_ALARM_GSD_M
    layout = random_layout(rng, (0, 0, w, h), water=1.0, village=0.5, ponds=0.6)
    y0, y1 = rng.uniform(25, 75, 2)
    channel = LineString([(-10, y0), (w + 10, y1)]).buffer(rng.uniform(8, 16), cap_style="flat")
    dry = ("roof", "courtyard", "shadow", "tree", "dike")
    kept = [f for f in layout.features if not (f.kind in dry and f.geometry.intersects(channel))]
    river = Feature("water", channel, (55.0, 80.0, 78.0), "river", seed=int(rng.integers(1 << 30)))
    layout = Layout(layout.bounds, (*kept, river), (), seed)
    inner = box(0.12 * w, 0.12 * h, 0.88 * w, 0.88 * h)
    for label in sorted(VIOLATIONS, key=lambda name: name != "illegal_fishing"):
        layout = plant(layout, rng, label, region=inner, dig_pond=True)
    light = Lighting(
        gain=float(rng.uniform(0.92, 1.08)),
        tint=tuple(float(t) for t in rng.uniform(0.97, 1.03, 3)),
    )
    image = render_window(
        layout,
        west=0,
        north=h,
        gsd_m=gsd,
        width=round(w / gsd),
        height=round(h / gsd),
        lighting=light,
    )
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=90)
    image = np.asarray(Image.open(buffer).convert("RGB"))
    objects = []
    for v in layout.violations:
        x0, south, x1, north = v.footprint.bounds
        px_box = (x0 / gsd, (h - north) / gsd, x1 / gsd, (h - south) / gsd)
        objects.append((v.label, px_box, (v.centre[0] / gsd, (h - v.centre[1]) / gsd)))
    return image, objects


def _scene(seed: int) -> tuple[np.ndarray, list[tuple[str, tuple, tuple]]]:
    scene = make_scene(seed, size_px=(1000, 700), gsd_m=FALSE_ALARM_GSD_M)
    return scene.image, [(o.label, o.box_px, o.centre_px) for o in scene.objects]


def _false_alarms(classifier: Classifier) -> None:
    """Found / planted and false alarms per class, matched within 10 m as the demo does."""
    margin = 10.0 / FALSE_ALARM_GSD_M
    for name, make, first_seed in (
        ("scenes", _scene, 20000),
        ("river worlds", _river_world, 30000),
    ):
        planted = dict.fromkeys(VIOLATIONS, 0)
        found = dict.fromkeys(VIOLATIONS, 0)
        false_alarms = dict.fromkeys(VIOLATIONS, 0)
        seed, done = first_seed, 0
        while done < FALSE_ALARM_SCENES:
            seed += 1
            try:
                image, objects = make(seed)
            except SynthError:  # nowhere to plant something: the next seed
                continue
            done += 1
            findings = classifier.classify_array(image, gsd_m=FALSE_ALARM_GSD_M)
            used: set[int] = set()
            for label, (x0, y0, x1, y1), (cx, cy) in objects:
                planted[label] += 1
                near = [
                    (float(np.hypot(f.centre_px[0] - cx, f.centre_px[1] - cy)), k)
                    for k, f in enumerate(findings)
                    if f.label == label
                    and k not in used
                    and x0 - margin <= f.centre_px[0] <= x1 + margin
                    and y0 - margin <= f.centre_px[1] <= y1 + margin
                ]
                if near:
                    used.add(min(near)[1])
                    found[label] += 1
            for k, f in enumerate(findings):
                if k not in used:
                    false_alarms[f.label] += 1
        print(
            f"  {FALSE_ALARM_SCENES} {name} (seeds from {first_seed + 1}): "
            + ", ".join(
                f"{c} found {found[c]}/{planted[c]}, {false_alarms[c]} false" for c in VIOLATIONS
            )
        )


def main() -> None:
    classifier = _classifier()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        photo = _photo(folder)
        classifier.classify_image(photo)  # warm-up
        start = time.perf_counter()
        for _ in range(PHOTOS):
            result = classifier.classify_image(photo, camera=PRESETS["phantom4pro"])
        per_photo = (time.perf_counter() - start) / PHOTOS
        start = time.perf_counter()
        for _ in range(PHOTOS):
            with Image.open(photo) as image:
                image.load()
        decode = (time.perf_counter() - start) / PHOTOS
        print(
            f"20 MP photo (5472x3648, 2.74 cm/px): {per_photo:.2f} s/photo = "
            f"{1 / per_photo:.2f} photos/s ({len(result.findings)} findings); "
            f"baseline full-resolution PIL decode alone: {decode:.2f} s"
        )
        print(f"  target < 1 s per photo: {'met' if per_photo < 1 else 'NOT met'}")

        ortho, km2 = _ortho(folder)
        start = time.perf_counter()
        result = classifier.classify_image(ortho)
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        with rasterio.open(ortho) as dataset:
            for _, window in dataset.block_windows(1):
                dataset.read(window=window)
        read = time.perf_counter() - start
        print(
            f"orthomosaic {ORTHO_SIDE_PX}x{ORTHO_SIDE_PX} px at 3 cm/px ({km2:.4f} km²): "
            f"{seconds:.1f} s = {km2 / seconds * 60:.2f} km²/min "
            f"({len(result.findings)} findings); baseline full-resolution block read alone: "
            f"{read:.1f} s = {km2 / read * 60:.2f} km²/min"
        )
    print(
        f"position error on {SCENES} synthetic {SCENE_GSD_M * 100:.0f} cm/px scenes "
        "(100 m × 70 m, one violation of each class):"
    )
    _positions(classifier)
    print(f"false alarms at {FALSE_ALARM_GSD_M} m/px on scenes never used in training:")
    _false_alarms(classifier)


if __name__ == "__main__":
    main()
