"""Tiled inference: resample to the working GSD, score overlapping tiles, merge them into findings.

Inputs are nadir photos (JPEG/PNG/TIFF; GSD from EXIF relative altitude + camera, or given),
georeferenced GeoTIFF orthomosaics of any size (read window by window through rasterio, never
whole), and plain images (no position). A small plain image without a known GSD (long side at most
three tiles, like a crop or a scene chip) is classified whole; a larger one is assumed to be at
the working GSD. Tiles overlap by half; tiles of a class scoring at least the threshold that
touch each other form one finding whose box is their union and whose centre is their
score-weighted centre. In photos and plain images that centre is then re-measured from a finer
grid of tiles (a quarter tile apart) around the finding, so positions are not quantised to the
coarse grid's stride; for objects larger than a tile those fine scores come from one pass of the
model over the photo (:func:`vision.models.tile_score_map`). An image's label is its strongest
finding, or ``background`` with score 1 − (highest violation score) when none passes the
threshold.

Photos and plain images are refused, before anything is decoded, when their header declares more
than the classifier's `max_pixels` (:data:`MAX_PHOTO_PIXELS` by default); GeoTIFF orthomosaics have
no such limit, as they are never read whole. Inputs too coarse or too small to show a violation
(:data:`MAX_UPSAMPLING`, :data:`MIN_SIDE_FRACTION`) are skipped with that reason
(:class:`ImageResult` ``skipped``); grey inputs are classified as grey in all three bands, with a
warning; rasters of any bit depth are brought to 8 bits by their range convention
(:func:`_byte_range`), so one picture gives one answer.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from pyproj import Geod
from pyproj.exceptions import ProjError
from rasterio.enums import ColorInterp, Resampling
from rasterio.errors import RasterioIOError
from shapely.geometry import Polygon, mapping
from shapely.ops import nearest_points

from gis import raster as gis_raster
from gis.camera import Camera
from gis.errors import GisError
from gis.exif import read_geotag
from gis.grids import Grid
from vision.errors import ImageReadError, ImageRefusedError, VisionError
from vision.georef import (
    Georef,
    RasterGeoref,
    box_polygon,
    camera_for_size,
    grid_for,
    photo_georef,
    photo_gsd_m,
)
from vision.labels import BACKGROUND
from vision.models import (
    SHIPPED_WEIGHTS,
    TileScoreMap,
    WeightsRecord,
    fold_batchnorm,
    load_weights,
    score_tiles,
    tile_score_map,
)

__all__ = [
    "MAX_PHOTO_PIXELS",
    "Finding",
    "ImageResult",
    "TileScores",
    "Classifier",
    "tile_origins",
    "merge_tiles",
    "pillow_limit_lifted",
]

#: Most pixels (width × height, read from the header before decoding) a photo or plain image may
#: have: survey cameras reach 100 MP; a small PNG can declare gigapixels and take gigabytes to
#: decode. Pillow's own process-wide limit (``PIL.Image.MAX_IMAGE_PIXELS``) is left alone, see
#: :func:`pillow_limit_lifted`.
MAX_PHOTO_PIXELS = 400_000_000


@contextmanager
def pillow_limit_lifted() -> Iterator[None]:
    """Lift Pillow's process-wide decompression-bomb limit for a block, then restore it.

    For a program that opens untrusted images only through :class:`Classifier` (``gridpatrol
    classify`` and ``evaluate``), which checks every header against its own `max_pixels` before
    decoding: Pillow's default (89 MP, refused above 179 MP) would otherwise refuse photos the
    classifier accepts. Importing this module never changes Pillow's limit, as that would weaken
    it for every other ``Image.open`` of the process (the ground station's threads); a photo
    Pillow refuses is reported like any unreadable one. Not thread-safe: use it around a whole
    command, not inside a server.
    """
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


@dataclass(frozen=True, slots=True)
class Finding:
    """One violation found in an image: class, score, box and centre in the input image's pixels,
    and where on the ground (centre lon/lat, box polygon, grid) when the image is georeferenced."""

    label: str
    score: float
    box_px: tuple[float, float, float, float]
    centre: tuple[float, float] | None = None
    polygon: Polygon | None = None
    grid_id: str | None = None
    centre_px: tuple[float, float] | None = None

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "score": round(self.score, 4),
            "box_px": [round(v, 1) for v in self.box_px],
            "centre_px": [round(v, 1) for v in self.centre_px] if self.centre_px else None,
            "centre": [round(self.centre[0], 7), round(self.centre[1], 7)] if self.centre else None,
            "polygon": mapping(self.polygon) if self.polygon is not None else None,
            "grid_id": self.grid_id,
        }


@dataclass(frozen=True, slots=True)
class ImageResult:
    """The outcome for one input: its label and score, findings, or why it was not classified.

    An input not classified has ``error`` set, ``skipped`` naming the reason in a few words
    (``"unreadable"``, ``"too coarse"``, ``"too small"``, ``"too large"``, ``"not colour"``) and
    no label or score (None, ``null`` in JSON): it was not checked, which a ``background`` label
    would claim it was.
    """

    image: str
    label: str | None
    score: float | None
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    #: Read, but not as the user may expect (e.g. a GeoTIFF without a CRS, read as a picture).
    warning: str | None = None
    #: Why it was not classified, in a few words (see the class doc); None when classified.
    skipped: str | None = None
    #: A photo whose size (width, height) is not that of the camera given for its GSD.
    camera_mismatch: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if (self.error is None) != (self.label is not None and self.score is not None):
            raise ValueError("an ImageResult has a label and a score exactly when it has no error")
        if self.error is not None and self.skipped is None:
            object.__setattr__(self, "skipped", "unreadable")

    @classmethod
    def unreadable(cls, image: str, error: str, *, kind: str = "unreadable") -> ImageResult:
        """The result for an input that was not classified, why, and the reason's `kind`."""
        return cls(image, None, None, [], error, skipped=kind)

    def to_dict(self) -> dict:
        out = {
            "image": self.image,
            "label": self.label,
            "score": None if self.score is None else round(self.score, 4),
            "findings": [f.to_dict() for f in self.findings],
        }
        if self.error is not None:
            out["error"] = self.error
            out["skipped"] = self.skipped
        if self.warning is not None:
            out["warning"] = self.warning
        return out


@dataclass(frozen=True, slots=True)
class TileScores:
    """Scores of a grid of tiles: `origins` (N×2 col, row of each tile's top-left in working
    pixels), `scores` (N×classes), tile size in working pixels."""

    origins: np.ndarray
    scores: np.ndarray
    tile_px: int


def tile_origins(length: int, tile: int, stride: int) -> list[int]:
    """Start offsets covering [0, length) with tiles of `tile` every `stride`, the last flush."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] != length - tile:
        starts.append(length - tile)
    return starts


def merge_tiles(
    tiles: TileScores, categories: Sequence[str], *, threshold: float, scale: float
) -> list[tuple[str, float, tuple[float, float, float, float], tuple[float, float]]]:
    """Group touching tiles of a class scoring ≥ threshold into (label, score, box, centre).

    Boxes and centres are in input-image pixels: working pixels divided by `scale`.
    """
    out = []
    t = tiles.tile_px
    for c, label in enumerate(categories):
        if label == BACKGROUND:
            continue
        hits = np.nonzero(tiles.scores[:, c] >= threshold)[0]
        if hits.size == 0:
            continue
        parent = list(range(hits.size))
        find = _finder(parent)
        origins = tiles.origins[hits]
        for i in range(hits.size):
            touching = (
                np.nonzero(np.all(np.abs(origins[i + 1 :] - origins[i]) <= t, axis=1))[0] + i + 1
            )
            for j in touching:
                parent[find(int(j))] = find(i)
        groups: dict[int, list[int]] = {}
        for i in range(hits.size):
            groups.setdefault(find(i), []).append(i)
        for members in groups.values():
            o = origins[members]
            s = tiles.scores[hits[members], c]
            x0, y0 = o.min(axis=0)
            x1, y1 = o.max(axis=0) + t
            weights = s - threshold + 1e-6
            cx = float(((o[:, 0] + t / 2) * weights).sum() / weights.sum())
            cy = float(((o[:, 1] + t / 2) * weights).sum() / weights.sum())
            out.append(
                (
                    label,
                    float(s.max()),
                    (x0 / scale, y0 / scale, x1 / scale, y1 / scale),
                    (cx / scale, cy / scale),
                )
            )
    out.sort(key=lambda f: -f[1])
    return out


def _finder(parent: list[int]):
    """Union-find root lookup with path halving over `parent`."""

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    return find


class Classifier:
    """A trained tile classifier and the preprocessing its weights record prescribes."""

    def __init__(
        self,
        model: torch.nn.Module,
        record: WeightsRecord,
        *,
        threshold: float = 0.5,
        batch_size: int = 64,
        overlap: float = 0.5,
        max_window_px: int = 2048,
        weights_path: Path | None = None,
        threads: int | None = None,
        refine_stride_px: int | None = None,
        max_pixels: int = MAX_PHOTO_PIXELS,
    ) -> None:
        if threads is not None:
            # torch's thread count is process-wide; on a busy 2-core machine one thread is
            # many times faster than two for small batches
            torch.set_num_threads(threads)
        if not 0 <= overlap < 1:
            raise VisionError(f"tile overlap must be in [0, 1), got {overlap}")
        self.model = fold_batchnorm(model)  # inference only: batch norms folded into convs
        self.record = record
        self.threshold = threshold
        self.batch_size = batch_size
        # half a tile: any object up to half a tile across lies whole in some tile (a quarter
        # missed 12 of 120 planted violations in synthetic scenes, cut by every tile; half
        # misses 3, and the finer grid leaves less to refine, so photos are no slower)
        self.stride = max(1, round(record.tile_px * (1 - overlap)))
        self.max_window_px = max(max_window_px, record.tile_px)
        self.weights_path = weights_path
        # photos: each finding's centre is re-measured from tiles this far apart (working pixels)
        # around it, so it is not stuck at a tile centre of the coarse grid; 0 turns that off.
        # A quarter tile (6.4 m at 0.2 m/px) halves the coarse grid's position error on
        # synthetic scenes; 3/8 of a tile loses a third of that gain in the demo
        refine = record.tile_px // 4 if refine_stride_px is None else refine_stride_px
        if refine < 0:
            raise VisionError(f"refine stride must be at least 0 px, got {refine_stride_px}")
        self.refine_stride_px = min(refine, self.stride)
        if max_pixels < 1:
            raise VisionError(f"the pixel limit must be at least 1, got {max_pixels}")
        # photos and plain images only: GeoTIFFs are read window by window, never whole
        self.max_pixels = max_pixels

    @classmethod
    def load(cls, weights: str | Path | None = None, **options) -> Classifier:
        """The classifier for a weights file; None loads the weights shipped in the package."""
        model, record = load_weights(weights)
        return cls(
            model, record, weights_path=Path(weights) if weights else SHIPPED_WEIGHTS, **options
        )

    def describe(self) -> dict:
        """The model block of `gridpatrol classify`'s JSON."""
        r = self.record
        return {
            "name": r.name,
            "arch": r.arch,
            "categories": list(r.categories),
            "working_gsd_m": r.working_gsd_m,
            "tile_px": r.tile_px,
            "threshold": self.threshold,
            "weights": str(self.weights_path) if self.weights_path else None,
            "metrics": {
                k: v.get("macro_f1")
                for k, v in r.metrics.items()
                if isinstance(v, dict) and "macro_f1" in v
            },
        }

    # ---------------------------------------------------------------------------- the core

    def score_tiles(self, tiles: np.ndarray) -> np.ndarray:
        """Softmax scores (N×classes) of N×T×T×3 uint8 tiles, in batches."""
        return score_tiles(self.model, tiles, self.record, batch_size=self.batch_size)

    def _grid_scores(
        self,
        image: np.ndarray,
        offset: tuple[int, int] = (0, 0),
        *,
        stride: int | None = None,
        valid: np.ndarray | None = None,
    ) -> TileScores:
        """Score every tile of an image at the working GSD (padded if smaller than a tile), the
        tiles `stride` apart (default: the classifier's stride) and offset by `offset`.

        With a `valid` mask (False: no data, e.g. an orthomosaic's collar), a tile's no-data
        pixels take the mean colour of its valid ones (black would read as a burn scar), and a
        tile less than :data:`MIN_VALID` valid is background.
        """
        t = self.record.tile_px
        stride = self.stride if stride is None else stride
        h, w = image.shape[:2]
        if h < t or w < t:
            pad = ((0, max(0, t - h)), (0, max(0, t - w)))
            image = np.pad(image, (*pad, (0, 0)), mode="edge")
            if valid is not None:
                valid = np.pad(valid, pad, constant_values=False)
        cols = tile_origins(w, t, stride)
        rows = tile_origins(h, t, stride)
        origins = np.array([(c, r) for r in rows for c in cols], dtype=np.int64)
        tiles = np.stack([image[r : r + t, c : c + t] for c, r in origins])
        if valid is None or valid.all():
            return TileScores(origins + np.asarray(offset), self.score_tiles(tiles), t)
        masks = np.stack([valid[r : r + t, c : c + t] for c, r in origins])
        tiles, scored = _fill_no_data(tiles, masks)
        scores = np.zeros((len(tiles), len(self.record.categories)), dtype=np.float32)
        scores[:, self.record.categories.index(BACKGROUND)] = 1.0
        if scored.any():
            scores[scored] = self.score_tiles(tiles[scored])
        return TileScores(origins + np.asarray(offset), scores, t)

    def _whole_scores(self, image: np.ndarray) -> TileScores:
        t = self.record.tile_px
        tile = np.asarray(Image.fromarray(image).resize((t, t), Image.BILINEAR))
        return TileScores(np.zeros((1, 2), np.int64), self.score_tiles(tile[None]), t)

    def classify_array(
        self, image: np.ndarray, *, gsd_m: float | None = None, threshold: float | None = None
    ) -> list[Finding]:
        """Findings (pixel boxes and centres) in an HxWx3 uint8 image at `gsd_m` (None: see
        module doc)."""
        threshold = self.threshold if threshold is None else threshold
        return self._array_findings(image, gsd_m=gsd_m, threshold=threshold)[0]

    def _array_findings(
        self, image: np.ndarray, *, gsd_m: float | None, threshold: float
    ) -> tuple[list[Finding], float]:
        h, w = image.shape[:2]
        if gsd_m is None and max(h, w) <= 3 * self.record.tile_px:
            tiles = self._whole_scores(image)
            return self._findings(
                tiles, threshold, self.record.tile_px / w, self.record.tile_px / h
            )
        scale = 1.0 if gsd_m is None else gsd_m / self.record.working_gsd_m
        working = _resize(image, scale)
        tiles = self._grid_scores(working)
        return self._findings(tiles, threshold, scale, scale, working=working)

    def _refined(
        self,
        working: np.ndarray,
        tiles: TileScores,
        merged: list[tuple[str, float, tuple[float, float, float, float], tuple[float, float]]],
        threshold: float,
    ) -> list[tuple[str, float, tuple[float, float, float, float], tuple[float, float]]]:
        """Findings whose centres are re-measured on a finer tile grid around their boxes.

        The tiles holding an object at a fine stride are those within a tile of it on every
        side, so the score-weighted mean of their centres falls on the object, not on one of
        the coarse grid's tile centres (a stride apart: metres off at patrol GSDs). An object
        smaller than a tile needs few fine tiles, scored one by one; a larger one (a field
        fire) would need hundreds, so its fine scores come from one pass of the model over the
        area (:func:`vision.models.tile_score_map`), which locates it as well (measured on
        synthetic scenes) at a fraction of the cost.
        """
        fine, t = self.refine_stride_px, self.record.tile_px
        if fine <= 0 or fine >= self.stride or not merged:
            return merged
        h, w = working.shape[:2]
        index = {c: i for i, c in enumerate(self.record.categories)}
        maps: dict[tuple[int, int, int, int], TileScoreMap | None] = {}
        out = []
        for label, score, box, centre in merged:
            # an object smaller than a tile lies where all its positive coarse tiles overlap:
            # the fine tiles that can hold it start within a tile of that overlap
            inside = np.all(
                (tiles.origins >= np.array(box[:2])) & (tiles.origins + t <= np.array(box[2:])),
                axis=1,
            )
            members = tiles.origins[inside & (tiles.scores[:, index[label]] >= threshold)]
            lo, hi = members.max(axis=0), members.min(axis=0) + t
            small = bool(np.all(hi > lo))
            # everything within a coarse stride of the box, narrowed to a tile around the
            # overlap when the object is smaller than a tile
            x0, y0 = int(box[0]) - self.stride, int(box[1]) - self.stride
            x1, y1 = int(box[2]) + self.stride, int(box[3]) + self.stride
            if small:
                x0, y0 = max(x0, int(lo[0]) - t), max(y0, int(lo[1]) - t)
                x1, y1 = min(x1, int(hi[0]) + t), min(y1, int(hi[1]) + t)
            x0, y0, x1, y1 = max(0, int(x0)), max(0, int(y0)), min(w, int(x1)), min(h, int(y1))
            patch = working[y0:y1, x0:x1]
            fine_tiles = None if small else self._mapped_scores(working, (x0, y0, x1, y1), maps)
            if fine_tiles is None and min(patch.shape[:2]) >= t:
                fine_tiles = self._grid_scores(patch, (x0, y0), stride=fine)
            if fine_tiles is None:
                out.append((label, score, box, centre))
                continue
            s = fine_tiles.scores[:, index[label]]
            hits = s >= threshold
            if not hits.any():
                out.append((label, score, box, centre))
                continue
            weights = s[hits] - threshold + 1e-6
            o = fine_tiles.origins[hits] + t / 2
            cx = float((o[:, 0] * weights).sum() / weights.sum())
            cy = float((o[:, 1] * weights).sum() / weights.sum())
            # the score map is approximate: a finding's score stays the exactly scored tiles'
            best = float(s.max()) if small else score
            out.append((label, max(score, best), box, (cx, cy)))
        return out

    def _mapped_scores(
        self,
        working: np.ndarray,
        area: tuple[int, int, int, int],
        maps: dict[tuple[int, int, int, int], TileScoreMap | None],
    ) -> TileScores | None:
        """Scores of the tiles inside `area` (x0, y0, x1, y1 working pixels) from
        :func:`vision.models.tile_score_map`, or None when the model cannot give one.

        The map is taken over the area and context around it, at most `max_window_px` a side
        (a photo's whole working image): the model sees a smoke plume's surroundings as a lone
        tile does not, which places fires better (measured). An area larger than that window
        gets None (one pass over it would need gigabytes). `maps` caches maps by window.
        """
        t = self.record.tile_px
        h, w = working.shape[:2]
        x0, y0, x1, y1 = area
        margin = (self.max_window_px - max(x1 - x0, y1 - y0)) // 2
        if margin < 0:
            return None
        window = (
            max(0, x0 - margin),
            max(0, y0 - margin),
            min(w, x1 + margin),
            min(h, y1 + margin),
        )
        if window not in maps:
            wx0, wy0, wx1, wy1 = window
            maps[window] = tile_score_map(self.model, working[wy0:wy1, wx0:wx1], self.record)
        mapped = maps[window]
        if mapped is None:
            return None
        rows, cols, k = mapped.scores.shape
        r, c = np.mgrid[0:rows, 0:cols]
        wx0, wy0, wx1, wy1 = window
        flush = np.array([wx1 - wx0 - t, wy1 - wy0 - t])  # the last tiles end at the edge
        origins = np.minimum(np.stack([c.ravel(), r.ravel()], axis=1) * mapped.stride, flush)
        origins += (wx0, wy0)
        keep = np.all((origins >= (x0, y0)) & (origins + t <= (x1, y1)), axis=1)
        if not keep.any():
            return None
        return TileScores(origins[keep], mapped.scores.reshape(rows * cols, k)[keep], t)

    def _findings(
        self,
        tiles: TileScores,
        threshold: float,
        sx: float,
        sy: float,
        *,
        working: np.ndarray | None = None,
    ) -> tuple[list[Finding], float]:
        """Merged findings with their score-weighted centres (input pixels), and the top
        violation score of any tile; with the `working` image, centres are refined."""
        merged = merge_tiles(tiles, self.record.categories, threshold=threshold, scale=1.0)
        if working is not None:
            merged = self._refined(working, tiles, merged, threshold)
        violations = [i for i, c in enumerate(self.record.categories) if c != BACKGROUND]
        top = float(tiles.scores[:, violations].max(initial=0.0))
        return [
            Finding(
                label,
                score,
                (b[0] / sx, b[1] / sy, b[2] / sx, b[3] / sy),
                centre_px=(c[0] / sx, c[1] / sy),
            )
            for label, score, b, c in merged
        ], top

    # ---------------------------------------------------------------------------- inputs

    def classify_image(
        self,
        path: str | Path,
        *,
        camera: Camera | None = None,
        gsd_m: float | None = None,
        threshold: float | None = None,
        grids: Sequence[Grid] | None = None,
    ) -> ImageResult:
        """Classify one photo, plain image or GeoTIFF; never raises for a bad file (see `error`)."""
        path = Path(path)
        threshold = self.threshold if threshold is None else threshold
        georef = _tiff_georeferencing(path) if path.suffix.lower() in (".tif", ".tiff") else None
        warning = None
        if georef == "no_crs":
            gsd_m, warning = _no_crs_reading(path, gsd_m)
        elif georef == "complete" and grids:
            warning = _far_from_grids(path, grids)
        mismatch = None
        notes: list[str] = []
        try:
            if georef == "complete":
                findings, top = self._classify_geotiff(
                    path, gsd_m=gsd_m, threshold=threshold, notes=notes
                )
            else:
                if camera is not None and gsd_m is None:
                    size = _image_size(path, self.max_pixels)[:2]
                    mismatch = None if camera.takes_size(*size) else size
                findings, top = self._classify_photo(
                    path, camera=camera, gsd_m=gsd_m, threshold=threshold, notes=notes
                )
        except ImageRefusedError as exc:
            return ImageResult.unreadable(str(path), str(exc), kind=exc.kind)
        except (VisionError, GisError) as exc:
            return ImageResult.unreadable(str(path), str(exc))
        warning = "; ".join([w for w in (warning, *notes) if w]) or None
        if grids:
            findings = [_with_grid(f, grids) for f in findings]
        if findings:
            best = max(findings, key=lambda f: f.score)
            return ImageResult(
                str(path),
                best.label,
                best.score,
                findings,
                warning=warning,
                camera_mismatch=mismatch,
            )
        return ImageResult(
            str(path), BACKGROUND, 1.0 - top, [], warning=warning, camera_mismatch=mismatch
        )

    def _classify_photo(
        self,
        path: Path,
        *,
        camera: Camera | None,
        gsd_m: float | None,
        threshold: float,
        notes: list[str],
    ) -> tuple[list[Finding], float]:
        width, height, bands = _image_size(path, self.max_pixels)
        tag = None
        if path.suffix.lower() in (".jpg", ".jpeg", ".tif", ".tiff"):
            try:
                tag = read_geotag(path)
            except GisError:
                tag = None
        camera = camera or camera_for_size(width, height)
        if gsd_m is None and tag is not None and camera is not None:
            gsd_m = photo_gsd_m(tag, camera, max(width, height))
        small = gsd_m is None and max(width, height) <= 3 * self.record.tile_px
        scale = 1.0 if gsd_m is None or small else gsd_m / self.record.working_gsd_m
        _check_scale(path, gsd_m, scale, self.record.working_gsd_m)
        self._check_size(path, width, height, None if small else gsd_m)
        grey = _grey_warning(path, bands)
        if grey:
            notes.append(grey)
        image = _decode(path, (max(1, round(width * scale)), max(1, round(height * scale))))
        if small:
            found, top = self._array_findings(image, gsd_m=None, threshold=threshold)
        else:
            working = _resize(image, round(width * scale) / image.shape[1])
            found, top = self._findings(
                self._grid_scores(working), threshold, scale, scale, working=working
            )
        if tag is not None and gsd_m is not None:
            georef = photo_georef(tag, gsd_m=gsd_m, width=width, height=height)
            return [_placed(f, georef) for f in found], top
        return found, top

    def _check_size(self, path: Path, width: int, height: int, gsd_m: float | None) -> None:
        """Refuse an image too small to show anything (see :data:`MIN_SIDE_FRACTION`)."""
        t = self.record.tile_px
        least = math.ceil(t * MIN_SIDE_FRACTION)
        if gsd_m is None:
            shortest = min(width, height)
            if shortest < least:
                raise ImageRefusedError(
                    f"image {path} is {width}x{height} pixels, too small to classify: each side "
                    f"needs at least {least} px (the model sees {t}x{t} px tiles and an image "
                    f"is stretched at most {MAX_UPSAMPLING:g}x to fill one)",
                    kind="too small",
                )
            return
        ground = t * self.record.working_gsd_m
        sides = (width * gsd_m, height * gsd_m)
        if min(sides) < ground * MIN_SIDE_FRACTION:
            raise ImageRefusedError(
                f"image {path} covers {sides[0]:.3g} x {sides[1]:.3g} m, too small to classify: "
                f"each side needs at least {ground * MIN_SIDE_FRACTION:.3g} m "
                f"({MIN_SIDE_FRACTION:g} of the model's {ground:g} m tile)",
                kind="too small",
            )

    def _classify_geotiff(
        self, path: Path, *, gsd_m: float | None, threshold: float, notes: list[str]
    ) -> tuple[list[Finding], float]:
        try:
            dataset = gis_raster.open_tiff(path, name=f"GeoTIFF {path}")
        except GisError as exc:
            raise ImageReadError(str(exc)) from None
        except RasterioIOError as exc:
            raise ImageReadError(f"GeoTIFF {path} is not readable: {exc}") from None
        with dataset:
            georef = RasterGeoref(dataset.transform, dataset.crs.to_wkt())
            gis_raster.check_extent(
                georef.crs, dataset.transform, dataset.width, dataset.height, name=f"GeoTIFF {path}"
            )
            native = gsd_m or georef.pixel_size_m
            scale = native / self.record.working_gsd_m
            _check_scale(path, native, scale, self.record.working_gsd_m)
            self._check_size(path, dataset.width, dataset.height, native)
            out_w = max(1, round(dataset.width * scale))
            out_h = max(1, round(dataset.height * scale))
            bands = _rgb_bands(dataset, path)
            if len(bands) == 1:
                what = "1 band (" if dataset.count == 1 else "2 bands (grey and alpha; "
                notes.append(_grey_note(f"GeoTIFF {path} has {what}{dataset.dtypes[0]})"))
            stretch = _to_byte_range(dataset, bands)
            parts = []
            try:
                for col0, row0, window in self._windows(out_w, out_h):
                    bounds = _window_bounds(dataset, window, scale)
                    data = gis_raster.read_window_resampled(
                        dataset,
                        bounds,
                        (window[3], window[2]),
                        indexes=bands,
                        resampling=Resampling.average,
                    )
                    valid = gis_raster.read_window_valid(
                        dataset, bounds, (window[3], window[2]), indexes=bands
                    )
                    rgb = _to_rgb8(data, stretch)
                    parts.append(self._grid_scores(rgb, (col0, row0), valid=valid))
            except (RasterioIOError, GisError) as exc:
                raise ImageReadError(f"GeoTIFF {path}: cannot read a window: {exc}") from None
        tiles = TileScores(
            np.concatenate([p.origins for p in parts]),
            np.concatenate([p.scores for p in parts]),
            self.record.tile_px,
        )
        found, top = self._findings(tiles, threshold, scale, scale)
        return [_placed(f, georef) for f in found], top

    def _windows(
        self, out_w: int, out_h: int
    ) -> Iterator[tuple[int, int, tuple[int, int, int, int]]]:
        """Blocks of the working-GSD tile grid, each at most `max_window_px` on a side."""
        t = self.record.tile_px
        cols = tile_origins(out_w, t, self.stride)
        rows = tile_origins(out_h, t, self.stride)
        per = max(1, (self.max_window_px - t) // self.stride + 1)
        for i in range(0, len(rows), per):
            for j in range(0, len(cols), per):
                r0, c0 = rows[i], cols[j]
                r1 = rows[min(i + per, len(rows)) - 1] + t
                c1 = cols[min(j + per, len(cols)) - 1] + t
                yield c0, r0, (c0, r0, c1 - c0, r1 - r0)


#: A tile with less than this fraction of valid pixels (the rest no data) is not scored.
MIN_VALID = 0.25


def _fill_no_data(tiles: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """N×T×T×3 tiles with their no-data pixels set to the mean colour of each tile's valid
    ones, and which tiles are valid enough (≥ MIN_VALID) to score."""
    weight = valid[..., None].astype(np.float32)
    count = weight.sum(axis=(1, 2))
    mean = (tiles * weight).sum(axis=(1, 2)) / np.maximum(count, 1.0)
    filled = np.where(valid[..., None], tiles, mean[:, None, None, :].round().astype(np.uint8))
    return filled, valid.mean(axis=(1, 2)) >= MIN_VALID


#: Inputs coarser than this many working pixels per input pixel cannot show a violation.
MAX_UPSAMPLING = 8.0

#: The shortest side an image may have, as a fraction of the model's tile: in pixels when its
#: GSD is unknown (a small image is stretched whole to one tile, so a shorter side would be
#: stretched more than MAX_UPSAMPLING times, the limit too-coarse inputs meet), in metres of the
#: tile's ground when it is known (the rest of the tile would be padding).
MIN_SIDE_FRACTION = 1 / MAX_UPSAMPLING


def _check_scale(path: Path, gsd_m: float | None, scale: float, working_gsd_m: float) -> None:
    if gsd_m is not None and scale > MAX_UPSAMPLING:
        raise ImageRefusedError(
            f"image {path}: {gsd_m:.3g} m/px is far coarser than the model's working GSD "
            f"({working_gsd_m} m/px); violations cannot be seen at that resolution",
            kind="too coarse",
        )


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    if abs(scale - 1.0) < 1e-3:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    method = Image.BOX if scale < 1 else Image.BILINEAR
    return np.asarray(Image.fromarray(image).resize(size, method))


def _image_size(path: Path, max_pixels: int) -> tuple[int, int, tuple[str, ...]]:
    """An image's width, height and Pillow band names from its header; refuse an empty image or
    one of more than `max_pixels` pixels before anything is decoded."""
    try:
        with Image.open(path) as probe:
            width, height = probe.size
            bands = probe.getbands()
    except FileNotFoundError:
        raise ImageReadError(f"image {path} does not exist") from None
    except Image.DecompressionBombError as exc:  # Pillow's own limit: see pillow_limit_lifted
        raise ImageReadError(f"image {path} is too large to open: {exc}") from None
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ImageReadError(f"image {path} is not a readable image: {exc}") from None
    if width == 0 or height == 0:
        raise ImageReadError(f"image {path} is empty ({width}x{height})")
    if width * height > max_pixels:
        raise ImageRefusedError(
            f"image {path} is {width}x{height} pixels ({width * height:,}), more than the "
            f"{max_pixels:,} allowed; give a larger orthomosaic as a georeferenced GeoTIFF",
            kind="too large",
        )
    return width, height, bands


#: Pillow band names of images without colour: grey levels (1-bit, 8-bit, 32-bit integer or
#: float) and alpha, plain or premultiplied.
_GREY_BANDS = frozenset({"1", "L", "I", "F"})
_ALPHA_BANDS = frozenset({"A", "a"})


def _grey_warning(path: Path, bands: tuple[str, ...]) -> str | None:
    """The warning for a photo without colour (greyscale, with or without alpha), which is
    classified as grey copied into red, green and blue; None for colour (a palette included)."""
    if not set(bands) <= _GREY_BANDS | _ALPHA_BANDS:
        return None
    alpha = any(band in _ALPHA_BANDS for band in bands)
    count = f"{len(bands)} band{'s' if len(bands) != 1 else ''}"
    kind = "greyscale and alpha" if alpha else "greyscale"
    return _grey_note(f"image {path} has {count} ({kind})")


def _grey_note(what: str) -> str:
    # measured with the shipped model on 160 images of ../shared/data/imagery (40 a class, some
    # seen in training), whole and in grey copies: 3 wrong in colour, 15 in grey (4 of them
    # false alarms on background), macro-F1 0.981 against 0.907
    return (
        f"{what}, not red, green and blue: classified as grey in all three; the model was "
        "trained on colour and errs more often on grey imagery (15 of 160 shared real images "
        "wrong in grey, 3 in colour)"
    )


def _decode(path: Path, size: tuple[int, int]) -> np.ndarray:
    """Decode an image as RGB, letting JPEG decode at a reduced scale when that suffices; grey
    of more than 8 bits (16-bit, 32-bit or float) is brought to 8 bits as GeoTIFFs are (see
    :func:`_byte_range`), not clipped at 255."""
    try:
        with Image.open(path) as image:
            if image.mode.startswith("I") or image.mode == "F":
                grey = np.asarray(image)
                rgb = None
            else:
                image.draft("RGB", size)
                rgb = image.convert("RGB")
                rgb.load()
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageReadError(f"image {path} is corrupt or truncated: {exc}") from None
    if rgb is None:
        return _to_rgb8(grey[None], _byte_range(grey, str(grey.dtype)))
    array = np.asarray(rgb)
    if array.size == 0:
        raise ImageReadError(f"image {path} is empty")
    return array


def _tiff_georeferencing(path: Path) -> str | None:
    """How a TIFF is georeferenced: "complete" (CRS and transform), "no_crs" (a transform
    only), or None (neither, or not a GTiff this reader opens: see open_tiff)."""
    try:
        with gis_raster.open_tiff(path) as dataset:
            if dataset.transform.is_identity:
                return None
            return "complete" if dataset.crs is not None else "no_crs"
    except (GisError, RasterioIOError):
        return None


#: The finest pixel (metres) a CRS-less geotransform is read as a GSD at: finer is not aerial
#: imagery, so its unit is not metres.
MIN_NO_CRS_GSD_M = 0.001


def _no_crs_reading(path: Path, gsd_m: float | None) -> tuple[float | None, str]:
    """The GSD a TIFF with a geotransform but no CRS is read at, and the warning saying how.

    It is read as a plain picture (no CRS, no position). Without a scale, fine imagery is read
    at the model's working GSD and gives false findings; so a given `gsd_m` wins, else the
    geotransform's pixel size when it looks like metres, not degrees nor the unit pixels of a
    picture's own pixel grid. Otherwise the scale stays unknown and the warning asks for it.
    The warning also names the CRS the coordinates suggest (see :func:`gis.raster.crs_hint`).
    """
    unplaced = f"GeoTIFF {path} has a geotransform but no CRS: read as a plain picture"
    try:
        with gis_raster.open_tiff(path) as dataset:
            shape = (dataset.transform, dataset.width, dataset.height)
    except (GisError, RasterioIOError):  # changed since it was looked at: the reading says why
        return gsd_m, unplaced + "; its findings have no position"
    transform, width, height = shape
    pixel = abs(transform.determinant) ** 0.5
    degrees = gis_raster.looks_like_degrees(*shape)
    # a picture's own pixel grid: 1 x 1 pixels whose origin lies within the picture's size
    unit = (
        abs(transform.a) == 1.0
        and abs(transform.e) == 1.0
        and transform.b == transform.d == 0.0
        and abs(transform.c) <= width
        and abs(transform.f) <= height
    )
    if gsd_m is not None:
        scale = f" at the given GSD of {gsd_m:.3g} m/px"
    elif not degrees and not unit and pixel >= MIN_NO_CRS_GSD_M:
        gsd_m = pixel
        scale = f" at {pixel:.3g} m/px, its geotransform's pixel size read as metres"
    else:
        kind = "degrees" if degrees else "pixels" if unit else "a unit too fine for metres"
        scale = (
            f" of unknown scale, as its pixel size is in {kind}: give its ground sample "
            "distance (gridpatrol classify --gsd CM) or its findings may be wrong"
        )
    code = gis_raster.suggested_epsg(*shape)
    return gsd_m, (
        f"{unplaced}{scale}; its findings have no position ({gis_raster.crs_hint(*shape)}; "
        f"set it with gdal_edit.py -a_srs EPSG:{code or 'CODE'} {path})"
    )


#: How far (metres) a GeoTIFF may lie from every grid it is classified against before a warning
#: says so: a wrong CRS label moves a file hundreds of kilometres, a neighbouring survey a few.
FAR_FROM_GRIDS_M = 50_000.0
_GEOD = Geod(ellps="WGS84")


def _far_from_grids(path: Path, grids: Sequence[Grid]) -> str | None:
    """A warning when a georeferenced TIFF's footprint lies more than :data:`FAR_FROM_GRIDS_M`
    from every grid: the grids are where the user expects the survey, and a file labelled with
    the wrong CRS (metres labelled EPSG:3857, say) lands far away with no error to tell."""
    try:
        with gis_raster.open_tiff(path) as dataset:
            georef = RasterGeoref(dataset.transform, dataset.crs.to_wkt())
            crs = dataset.crs.to_string()
            cols = [0, dataset.width, dataset.width, 0]
            rows = [0, 0, dataset.height, dataset.height]
        lon, lat = georef.to_lonlat(cols, rows)
        footprint = Polygon(zip(lon, lat, strict=True))
    except (GisError, RasterioIOError, ProjError, ValueError):  # classifying says why
        return None
    if not footprint.is_valid or not np.all(np.isfinite([lon, lat])):
        return None

    def distance_m(grid: Grid) -> float:
        a, b = nearest_points(footprint, grid.geometry)
        return 0.0 if a.equals(b) else _GEOD.inv(a.x, a.y, b.x, b.y)[2]

    nearest = min(distance_m(g) for g in grids)
    if nearest <= FAR_FROM_GRIDS_M:
        return None
    centre = footprint.centroid
    return (
        f"GeoTIFF {path} lies {nearest / 1000:,.0f} km from the nearest of the grids (its "
        f"centre at longitude {centre.x:.5f}, latitude {centre.y:.5f} by its CRS "
        f"{crs}): if it was flown over one of them, that CRS is wrong"
    )


def _rgb_bands(dataset, path: Path) -> list[int]:
    """The bands read as red, green, blue: the first three; a single band (panchromatic, or
    grey with an alpha band) is read as grey in all three. Two bands that are not grey and
    alpha are refused: which colour each holds is unknown."""
    if dataset.count >= 3:
        return [1, 2, 3]
    if dataset.count == 1 or dataset.colorinterp[1] == ColorInterp.alpha:
        return [1]
    raise ImageRefusedError(
        f"GeoTIFF {path} has 2 bands ({dataset.dtypes[0]}) that are not grey and alpha: "
        "which colours they hold is unknown, so it is not classified",
        kind="not colour",
    )


#: uint16 data whose largest value fits in this many bits, with no NBITS tag, is not taken as
#: full-range 16-bit: such a raster (a 10–12-bit sensor, a satellite's radiance) is stretched.
_FULL_RANGE_MIN_BITS = 12


def _to_byte_range(dataset, bands: list[int]) -> tuple[float, float] | None:
    """The linear map (value at 0, value at 255) that brings a raster's `bands` to 8 bits, from a
    decimated read of the whole raster (see :func:`_byte_range`); None for 8-bit data."""
    if dataset.dtypes[0] == "uint8":
        return None
    h = max(1, min(512, dataset.height))
    w = max(1, min(512, dataset.width))
    sample = dataset.read(bands, out_shape=(len(bands), h, w), resampling=Resampling.nearest)
    nbits = dataset.tags(1, ns="IMAGE_STRUCTURE").get("NBITS")
    return _byte_range(sample, dataset.dtypes[0], nbits=int(nbits) if nbits else None)


def _byte_range(
    sample: np.ndarray, dtype: str, *, nbits: int | None = None
) -> tuple[float, float] | None:
    """How values of `dtype` map to 8 bits, so one picture gives one 8-bit image at any depth:

    - uint8: as is (None);
    - other integers: 0 to the sensor's full scale, 2**nbits − 1, when the bit depth is known
      (a GeoTIFF's NBITS); else uint16 reaching above 12 bits as 0–65535 (×1/257, as 8-bit
      data widened to 16 bits is); else (a 10–12-bit sensor without NBITS, radiance, signed
      or 32-bit data) a 1–99 % stretch, as their full scale is unknown;
    - float with every value in [0, 1]: 0–1 (×255, the usual convention for reflectance);
      other float: a 1–99 % stretch.
    """
    if dtype == "uint8":
        return None
    values = sample[np.isfinite(sample)] if sample.dtype.kind == "f" else sample.ravel()
    if values.size == 0:
        return 0.0, 1.0
    floating = np.dtype(dtype).kind == "f"
    if not floating and nbits:
        return 0.0, float(2**nbits - 1)
    lowest, highest = float(values.min()), float(values.max())
    if dtype == "uint16" and highest >= 2**_FULL_RANGE_MIN_BITS:
        return 0.0, 65535.0
    if floating and lowest >= 0 and highest <= 1:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(values, [1, 99]))
    if high <= low:  # flat data: any positive span, to not divide by zero
        high = low + (1.0 if not floating else max(abs(low) * 1e-6, 1e-12))
    return low, high


def _to_rgb8(bands: np.ndarray, stretch: tuple[float, float] | None) -> np.ndarray:
    """Bands × H × W (one band: grey) as H × W × 3 uint8, through `stretch` (see
    :func:`_byte_range`) unless None."""
    if bands.shape[0] == 1:
        bands = np.repeat(bands, 3, axis=0)
    if stretch is not None:
        low, high = stretch
        scaled = (bands.astype(np.float64) - low) * (255.0 / (high - low))
        bands = np.clip(np.nan_to_num(scaled, nan=0.0), 0, 255).round()
    return np.ascontiguousarray(np.moveaxis(bands[:3].astype(np.uint8), 0, -1))


def _window_bounds(
    dataset, window: tuple[int, int, int, int], scale: float
) -> tuple[float, float, float, float]:
    """World bounds of a window given in working-GSD pixels."""
    c0, r0, w, h = window
    x0, y0 = dataset.transform @ (c0 / scale, r0 / scale)
    x1, y1 = dataset.transform @ ((c0 + w) / scale, (r0 + h) / scale)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _placed(finding: Finding, georef: Georef) -> Finding:
    lon, lat = georef.to_lonlat([finding.centre_px[0]], [finding.centre_px[1]])
    return replace(
        finding,
        centre=(float(lon[0]), float(lat[0])),
        polygon=box_polygon(georef, finding.box_px),
    )


def _with_grid(finding: Finding, grids: Sequence[Grid]) -> Finding:
    if finding.centre is None or finding.polygon is None:
        return finding
    return replace(finding, grid_id=grid_for(finding.polygon, finding.centre, grids))
