"""Classifier throughput on this machine's CPU: 20 MP survey photos and 3 cm/px orthomosaics.

Runs torch on one thread (the CLI's default: on a shared 2-core machine two threads are slower).
Prints photos per second (target: a 20 MP photo in under 1 s) and km² per minute, each beside a
baseline measured in the same run: simply decoding the same file at full resolution with PIL.
Then the position error of findings on synthetic scenes with planted violations, against the
coarse tile grid alone (no refinement) as the baseline. Inputs are generated (vision.synth) into
a temporary folder; nothing is downloaded.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from PIL import Image
from rasterio.transform import from_origin
from rasterio.windows import Window

from gis.camera import PRESETS
from gis.exif import GeoTag, write_jpeg
from vision.infer import Classifier
from vision.models import SHIPPED_WEIGHTS, WeightsRecord, build_model
from vision.synth import make_scene

PHOTOS = 5
SCENES = 20  # synthetic scenes for the position errors, three planted violations each
SCENE_GSD_M = 0.05
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


if __name__ == "__main__":
    main()
