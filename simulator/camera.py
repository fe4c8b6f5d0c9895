"""The simulated survey camera: on each trigger, render the nadir photo the configured camera
would take from a world GeoTIFF, write it as a geotagged JPEG and log it.

Rendering runs on a worker thread fed by a queue so the flight loop never waits for GDAL or the
JPEG encoder, not even at the end of a flight: a full-size render can take seconds, so sped up the
photos may finish well after the landing. :meth:`PhotoCamera.wait_idle` waits for them,
:meth:`PhotoCamera.abandon` drops the ones not yet rendered, and :meth:`PhotoCamera.stop` does
both, in that order, within a time limit. A JPEG appears under its name only when complete.
"""

from __future__ import annotations

import csv
import logging
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError

from gis.camera import PRESETS, Camera
from gis.crs import LocalFrame
from gis.errors import GisError
from gis.exif import GeoTag, write_jpeg
from gis.raster import open_tiff, render_view, to_rgb8, view_coverage, view_transform
from simulator.autopilot import CameraTrigger
from simulator.errors import WorldError

__all__ = ["PhotoRecord", "PhotoCamera", "render_photo", "LOG_NAME"]

log = logging.getLogger(__name__)

LOG_NAME = "photos.csv"
_LOG_FIELDS = ("index", "time", "lat", "lon", "alt", "rel_alt", "yaw", "file")
_MIN_HEIGHT_M = 0.5
_OFF_WORLD_RGB = (118, 128, 96)  # a muted field green, for views entirely off the world


@dataclass(frozen=True, slots=True)
class PhotoRecord:
    """One photo: when and where it was taken, and its JPEG (None without a world raster)."""

    index: int
    time: datetime
    lat: float
    lon: float
    alt_amsl: float
    relative_alt: float
    yaw_deg: float
    file: Path | None


def photo_size(camera: Camera, max_px: int | None) -> tuple[int, int]:
    """(width, height) of rendered photos: the camera's, or scaled to a `max_px` long side."""
    width, height = camera.image_width_px, camera.image_height_px
    if max_px is not None and max(width, height) > max_px:
        scale = max_px / max(width, height)
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
    return width, height


def render_photo(
    dataset: rasterio.io.DatasetReader,
    camera: Camera,
    *,
    lat: float,
    lon: float,
    height_m: float,
    yaw_deg: float,
    max_px: int | None = None,
) -> np.ndarray:
    """The HxWx3 uint8 nadir image `camera` sees from `height_m` above (lat, lon) heading `yaw_deg`.

    The image's width lies across track and its top points along the heading; the ground extent
    is exactly the camera's footprint at that height. Ground beyond the world raster shows as a
    plain field in the photo's mean colour: a real camera never sees "no data", and black would
    look like a burn scar to the classifier.
    """
    width, height = photo_size(camera, max_px)
    across, _ = camera.footprint_m(max(height_m, _MIN_HEIGHT_M))
    pixel = across / width
    frame = LocalFrame(lon, lat)
    transform = view_transform((0.0, 0.0), yaw_deg, pixel, width, height)
    view = {"dst_crs": frame.crs, "dst_transform": transform, "out_shape": (height, width)}
    image = to_rgb8(render_view(dataset, **view))
    inside = view_coverage(dataset, **view)
    if not inside.all():
        image[~inside] = image[inside].mean(axis=0) if inside.any() else _OFF_WORLD_RGB
    return image


class PhotoCamera:
    """Queue of triggers -> rendered, geotagged JPEGs plus a CSV photo log (thread-safe records)."""

    def __init__(
        self,
        *,
        camera: Camera | None = None,
        world: str | Path | None = None,
        photos_dir: str | Path | None = None,
        unix_time: Callable[[float], float] | None = None,
        max_px: int | None = None,
    ) -> None:
        self.camera = camera or PRESETS["phantom4pro"]
        self.world = Path(world) if world is not None else None
        if self.world is not None:
            _check_world(self.world)
        if max_px is not None and max_px < 16:
            raise WorldError(f"photo size limit {max_px} px is too small (at least 16)")
        self.max_px = max_px
        self.photos_dir = Path(photos_dir) if photos_dir is not None else None
        #: True when photos_dir is a temporary directory made by start(), removed again by stop()
        self.temporary_dir = False
        self.unix_time = unix_time or float  # simulated seconds -> UTC (default: from 1970)
        #: triggers with their UTC time, fixed at the trigger (the clock may rebase before render)
        self._queue: queue.Queue[tuple[CameraTrigger, float] | None] = queue.Queue()
        self._records: list[PhotoRecord] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._discard = False  # stopped with a render under way: its failure is no news
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    @property
    def log_path(self) -> Path | None:
        return self.photos_dir / LOG_NAME if self.photos_dir is not None else None

    def start(self) -> None:
        """Open the photo log (in a new temporary directory when a world has no photos_dir)."""
        if self.photos_dir is None and self.world is not None:
            self.photos_dir = Path(tempfile.mkdtemp(prefix="gridpatrol-photos-"))
            self.temporary_dir = True
        if self.photos_dir is not None:
            try:
                self.photos_dir.mkdir(parents=True, exist_ok=True)
                with self.log_path.open("w", newline="", encoding="utf-8") as handle:
                    csv.writer(handle).writerow(_LOG_FIELDS)
            except OSError as exc:
                raise WorldError(
                    f"photo directory {self.photos_dir} is not writable: {exc}"
                ) from None
        self._thread = threading.Thread(
            target=self._work, name="gridpatrol-sitl-camera", daemon=True
        )
        self._thread.start()

    def submit(self, trigger: CameraTrigger) -> None:
        """Queue a photo; its time (like its pose, in ``trigger``) is fixed now, at the trigger,
        not when it is rendered (a full-size render may take seconds, after a clock rebase)."""
        taken_s = self.unix_time(trigger.time_s)
        with self._lock:
            self._pending += 1
        self._queue.put((trigger, taken_s))

    @property
    def pending(self) -> int:
        """Photos triggered but not yet written."""
        with self._lock:
            return self._pending

    def wait_idle(self, *, timeout: float) -> bool:
        """Wait until every submitted photo is written; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def abandon(self) -> int:
        """Drop every photo not yet rendered; returns how many were not written (counting one
        being rendered now: it is not interrupted, but nobody waits for it either)."""
        end = False
        with self._idle:
            lost = self._pending
            while True:
                try:
                    queued = self._queue.get_nowait()
                except queue.Empty:
                    break
                if queued is None:
                    end = True
                else:
                    self._pending -= 1
            if end:
                self._queue.put(None)
            self._idle.notify_all()
        return lost

    def stop(self, *, timeout: float = 120.0) -> int:
        """Finish the photos still queued within `timeout` seconds, abandon the rest and remove a
        temporary photo directory; returns how many photos were abandoned."""
        lost = 0
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=timeout)
            if self._thread.is_alive():
                self._discard = True
                lost = self.abandon()
                log.info("camera stopped with %d photos not rendered", lost)
                self._thread.join(timeout=0.1)  # a render under way is not interrupted
            self._thread = None
        if self.temporary_dir and self.photos_dir is not None:
            shutil.rmtree(self.photos_dir, ignore_errors=True)
        return lost

    def records(self) -> list[PhotoRecord]:
        with self._lock:
            return list(self._records)

    def _work(self) -> None:
        dataset, failure = None, None
        if self.world is not None:
            try:
                dataset = open_tiff(self.world, name=f"world raster {self.world}")
            except (GisError, RasterioIOError) as exc:  # replaced since checked: no photos
                failure = exc
        try:
            while True:
                queued = self._queue.get()
                if queued is None:
                    return
                trigger, taken_s = queued
                try:
                    if failure is not None:
                        raise failure
                    record = self._take(dataset, trigger, taken_s=taken_s)
                except Exception as exc:  # one bad photo must not stop the camera
                    if self._discard:  # abandoned at stop, its directory maybe removed
                        return
                    log.exception("photo %d failed", trigger.index)
                    self.errors.append(f"photo {trigger.index}: {exc}")
                    record = None
                with self._idle:
                    if record is not None:
                        self._records.append(record)
                    self._pending -= 1
                    self._idle.notify_all()
        finally:
            if dataset is not None:
                dataset.close()

    def _take(
        self,
        dataset: rasterio.io.DatasetReader | None,
        trigger: CameraTrigger,
        *,
        taken_s: float | None = None,
    ) -> PhotoRecord:
        if taken_s is None:
            taken_s = self.unix_time(trigger.time_s)
        taken = datetime.fromtimestamp(taken_s, tz=UTC)
        path: Path | None = None
        if dataset is not None and self.photos_dir is not None:
            seen_lat, seen_lon = trigger.seen
            image = render_photo(
                dataset,
                self.camera,
                lat=seen_lat,
                lon=seen_lon,
                height_m=trigger.relative_alt,
                yaw_deg=trigger.yaw_deg,
                max_px=self.max_px,
            )
            tag = GeoTag(
                lat=trigger.lat,
                lon=trigger.lon,
                altitude_m=trigger.alt_amsl,
                relative_altitude_m=trigger.relative_alt,
                yaw_deg=trigger.yaw_deg,
                time=taken,
            )
            path = _write_whole(self.photos_dir / f"IMG_{trigger.index:05d}.jpg", image, tag)
        record = PhotoRecord(
            index=trigger.index,
            time=taken,
            lat=trigger.lat,
            lon=trigger.lon,
            alt_amsl=trigger.alt_amsl,
            relative_alt=trigger.relative_alt,
            yaw_deg=trigger.yaw_deg,
            file=path,
        )
        if self.log_path is not None:
            with self.log_path.open("a", newline="", encoding="utf-8") as handle:
                csv.writer(handle).writerow(
                    [
                        record.index,
                        record.time.isoformat(),
                        f"{record.lat:.8f}",
                        f"{record.lon:.8f}",
                        f"{record.alt_amsl:.2f}",
                        f"{record.relative_alt:.2f}",
                        f"{record.yaw_deg:.1f}",
                        path.name if path is not None else "",
                    ]
                )
        return record


def _write_whole(path: Path, image: np.ndarray, tag: GeoTag) -> Path:
    """Write the JPEG under a hidden name first, so an abandoned write never leaves half a photo."""
    partial = path.with_name(f".{path.name}.part")
    try:
        write_jpeg(partial, image, tag)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def _check_world(path: Path) -> None:
    """A world raster must be a GeoTIFF (GTiff only: a VRT named .tif could read other files)."""
    try:
        with open_tiff(path, name=f"world raster {path}") as dataset:
            if dataset.crs is None:
                raise WorldError(f"world raster {path} has no coordinate reference system")
    except GisError as exc:
        raise WorldError(str(exc)) from None
    except RasterioIOError as exc:
        raise WorldError(f"world raster {path} cannot be opened: {exc}") from None
