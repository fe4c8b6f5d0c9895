"""A flight's photos in, findings out: register the photos, then classify them in a job.

Each photo is classified and committed together with its findings and its ``done`` status, so a
worker killed between two photos leaves no half-stored photo, and the re-run skips what is done.
Crops are written under deterministic names before that commit, so a re-run overwrites, never adds.
Findings that show an object another photo of the flight already shows are linked to it as
sightings (:mod:`groundstation.sightings`) in that same commit. A flight fully ingested is then
checked against the resolved tickets it photographed (:mod:`groundstation.reflight`).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import importlib
import logging
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import shapely
from PIL import Image, UnidentifiedImageError
from shapely import STRtree
from shapely.geometry import Point, shape
from sqlalchemy import and_, false, func, or_, select, update

from gis.camera import PRESETS, Camera, camera_from_dict, load_camera
from gis.errors import GisError
from gis.grids import Grid as GisGrid
from groundstation.errors import IngestError, ValidationError
from groundstation.i18n import lazy_reason
from groundstation.imagery import raster_placement
from groundstation.models import LABELS, Finding, Flight, Grid, Photo
from groundstation.reflight import check_resolved_tickets
from groundstation.sightings import link_sightings
from groundstation.storage import Storage

__all__ = [
    "PHOTO_SUFFIXES",
    "DEFAULT_CAMERA",
    "ClassifierLike",
    "GridIndex",
    "photo_grids",
    "photo_paths",
    "resolve_camera",
    "flight_camera",
    "Registration",
    "UnplacedPhotosError",
    "MissingPhotosError",
    "DuplicateSourceError",
    "DuplicatePhotosError",
    "file_hash",
    "hash_stored_photos",
    "stored_duplicates",
    "repeated_photos",
    "flights_from_source",
    "PhotoIssues",
    "photo_issues",
    "register_photos",
    "register_flight",
    "queue_ingest",
    "ingest_flight",
    "flight_totals",
    "load_classifier",
    "ingest_job",
]

log = logging.getLogger("gridpatrol.ingest")

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff"})
CROP_MAX_PX = 384
#: The camera a flight is assumed to be shot with when its registration names none.
DEFAULT_CAMERA = "phantom4pro"
CROP_MARGIN = 0.25
#: Flights :func:`photo_grids` matches in one query (SQLite parses each flight's bounding-box
#: test as one more level of its expression tree, at most 1,000 deep).
PHOTO_GRIDS_BATCH = 200


class ClassifierLike(Protocol):
    """What ingest needs of :class:`vision.infer.Classifier`."""

    def classify_image(
        self,
        path: Any,
        *,
        camera: Any = None,
        gsd_m: float | None = None,
        threshold: float | None = None,
        grids: Any = None,
    ) -> Any: ...


@dataclass(frozen=True)
class GridIndex:
    """The stored grids as gis Grids, with a spatial index for point lookups."""

    grids: tuple[GisGrid, ...]
    db_ids: Mapping[str, int]
    tree: STRtree | None

    @classmethod
    def from_rows(cls, rows: Iterable[Grid]) -> GridIndex:
        grids, ids = [], {}
        for row in rows:
            grids.append(GisGrid(row.code, shape(row.geometry), dict(row.properties or {})))
            ids[row.code] = row.id
        tree = STRtree([g.geometry for g in grids]) if grids else None
        return cls(tuple(grids), ids, tree)

    def locate(self, lon: float, lat: float) -> int | None:
        """The database id of the grid containing (lon, lat), if any."""
        if self.tree is None:
            return None
        hits = self.tree.query(Point(lon, lat), predicate="intersects")
        return self.db_ids[self.grids[int(min(hits))].grid_id] if len(hits) else None

    def containing(self, lons: Sequence[float], lats: Sequence[float]) -> list[tuple[int, str]]:
        """(point, grid code) for each grid holding one of the points ``(lons[i], lats[i])``, in
        one vectorised query: a point on a shared edge is in both grids."""
        if self.tree is None or not len(lons):
            return []
        points, grids = self.tree.query(shapely.points(lons, lats), predicate="intersects")
        return [
            (int(point), self.grids[int(grid)].grid_id)
            for point, grid in zip(points, grids, strict=True)
        ]


def photo_grids(session: Any, flight_ids: Iterable[int]) -> dict[int, set[str]]:
    """The codes of the grids each flight photographed, by flight id: the grids whose polygon
    holds the position of one of its photos (photos without a position count for none).

    Only grids whose bounding box meets a flight's photos' bounding box are read, and the
    photos are matched to them through a :class:`GridIndex`; flights are read in batches of
    :data:`PHOTO_GRIDS_BATCH`, so the query stays small for any number of them."""
    ids = list(dict.fromkeys(flight_ids))
    found: dict[int, set[str]] = {i: set() for i in ids}
    for start in range(0, len(ids), PHOTO_GRIDS_BATCH):
        for flight_id, code in _photo_grids(session, ids[start : start + PHOTO_GRIDS_BATCH]):
            found[flight_id].add(code)
    return found


def _photo_grids(session: Any, ids: list[int]) -> list[tuple[int, str]]:
    """(flight id, grid code) for each grid holding a photo of one of the flights ``ids``."""
    placed = (Photo.flight_id.in_(ids), Photo.lon.is_not(None), Photo.lat.is_not(None))
    boxes = session.execute(
        select(
            Photo.flight_id,
            func.min(Photo.lon),
            func.min(Photo.lat),
            func.max(Photo.lon),
            func.max(Photo.lat),
        )
        .where(*placed)
        .group_by(Photo.flight_id)
    ).all()
    if not boxes:
        return []
    near = or_(
        *(
            and_(
                Grid.min_lon <= east,
                Grid.max_lon >= west,
                Grid.min_lat <= north,
                Grid.max_lat >= south,
            )
            for _, west, south, east, north in boxes
        )
    )
    index = GridIndex.from_rows(session.scalars(select(Grid).where(near).order_by(Grid.id)))
    if index.tree is None:
        return []
    rows = session.execute(select(Photo.flight_id, Photo.lon, Photo.lat).where(*placed)).all()
    hits = index.containing([r.lon for r in rows], [r.lat for r in rows])
    return [(rows[photo].flight_id, code) for photo, code in hits]


#: The columns a CSV photo log names its photos in, by preference (the SITL's is ``file``).
CSV_PHOTO_COLUMNS = ("file", "path", "photo")


def photo_paths(source: Path) -> list[Path]:
    """The photos of a flight: a folder's image files (recursively), sorted by path.

    A file source is a flight log or list: a CSV whose header names a ``file`` (or ``path``,
    ``photo``) column, as the SITL's ``photos.csv``; else one photo path per line, or JSON
    lines with a ``path``/``photo``/``file`` field. Relative paths are taken from the log's
    folder; a path listed twice is one photo. Whether the files exist is not checked here
    (:func:`register_photos` refuses missing ones).
    """
    import json

    if source.is_dir():
        return sorted(
            p for p in source.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file()
        )
    if not source.is_file():
        raise IngestError(f"flight source {source}: no such folder or file")
    text = source.read_text(encoding="utf-8")
    csv_paths = _csv_photo_paths(source, text)
    if csv_paths is not None:
        return list(dict.fromkeys(csv_paths))
    paths = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise IngestError(f"flight log {source}:{number}: bad JSON ({exc})") from exc
            value = record.get("path") or record.get("photo") or record.get("file")
            if not value:
                continue
            line = str(value)
        path = Path(line)
        path = path if path.is_absolute() else source.parent / path
        if path.suffix.lower() in PHOTO_SUFFIXES:
            paths.append(path)
    return list(dict.fromkeys(paths))


def _csv_photo_paths(source: Path, text: str) -> list[Path] | None:
    """The photos a CSV photo log names in its photo column (:data:`CSV_PHOTO_COLUMNS`); None
    when the first line is no such header (the file is a plain list). A row with an empty
    photo cell is a trigger that took no photo; a cell naming no photo file is an error."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines or "," not in lines[0] or lines[0].lstrip().startswith("{"):
        return None
    header = [cell.strip().lower() for cell in next(csv.reader([lines[0]]))]
    column = next((header.index(c) for c in CSV_PHOTO_COLUMNS if c in header), None)
    if column is None:
        return None
    paths = []
    reader = csv.reader(text.splitlines())
    header_read = False
    for row in reader:
        if not row or not "".join(row).strip() or row[0].startswith("#"):
            continue
        if not header_read:
            header_read = True
            continue
        number = reader.line_num
        if len(row) <= column:
            raise IngestError(
                f"flight log {source}:{number}: no {header[column]!r} value (the row has "
                f"{len(row)} of the header's {len(header)} columns)"
            )
        value = row[column].strip()
        if not value:
            continue
        path = Path(value)
        if path.suffix.lower() not in PHOTO_SUFFIXES:
            raise IngestError(
                f"flight log {source}:{number}: {value!r} is not a photo "
                f"({', '.join(sorted(PHOTO_SUFFIXES))})"
            )
        paths.append(path if path.is_absolute() else source.parent / path)
    return paths


def _geotag(path: Path) -> Any | None:
    try:
        from gis.exif import read_geotag
    except ImportError:  # gis.exif not installed yet: photos keep no position
        return None
    try:
        return read_geotag(path)
    except Exception as exc:
        log.warning("photo %s: geotag unreadable (%s)", path, exc)
        return None


@dataclass(frozen=True)
class _RasterTag:
    """A GeoTIFF's position as registration stores it: its centre (no altitude, no yaw: its
    geotransform places it, see :func:`groundstation.imagery.place_photo`)."""

    lat: float
    lon: float


def _raster_tag(path: Path) -> _RasterTag | None:
    """The centre of a GeoTIFF photo (:func:`groundstation.imagery.raster_placement`); None
    for any other photo. A GeoTIFF labelled with the wrong CRS is an IngestError naming it."""
    if path.suffix.lower() not in (".tif", ".tiff"):
        return None
    try:
        placement = raster_placement(path, what=f"photo {path.name}")
    except ValidationError as exc:
        raise IngestError(*exc.args) from None
    return None if placement is None else _RasterTag(placement.nadir.lat, placement.nadir.lon)


def _image_size(path: Path) -> tuple[int, int] | None:
    """A photo's (width, height) from its header; None if it is not an image Pillow reads."""
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None


class UnplacedPhotosError(IngestError):
    """No photo of a flight has a position: refused unless the caller allows it."""

    def __init__(self, message: str, *, photos: int) -> None:
        super().__init__(message)
        self.photos = photos


class MissingPhotosError(IngestError):
    """A flight log names photos whose files do not exist: refused, nothing stored."""

    def __init__(self, message: str, *, missing: Sequence[Path], photos: int) -> None:
        super().__init__(message)
        self.missing = tuple(missing)
        self.photos = photos


class DuplicateSourceError(IngestError):
    """A flight from the same source is already registered: refused unless forced."""

    def __init__(self, message: str, *, flight_ids: Sequence[int]) -> None:
        super().__init__(message)
        self.flight_ids = tuple(flight_ids)


class DuplicatePhotosError(IngestError):
    """Photos of the same content are already stored in other flights: refused unless forced.
    ``photos``: how many of the flight's photos are; ``flight_ids``: the flights holding them."""

    def __init__(self, message: str, *, photos: int, total: int, flight_ids: Sequence[int]) -> None:
        super().__init__(message)
        self.photos = photos
        self.total = total
        self.flight_ids = tuple(flight_ids)


def file_hash(path: Path) -> str:
    """The SHA-256 of a file's bytes, hex (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(functools.partial(fh.read, 1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: Photo hashes looked up per query (well under SQLite's and PostgreSQL's parameter limits).
_HASH_BATCH = 500


def hash_stored_photos(storage: Storage, *, sizes: Iterable[int] | None = None) -> int:
    """Store the content hash of the stored photos that have none (registered before migration
    0010), so the duplicate check sees them too; how many were hashed.

    With ``sizes``, only photos whose file has one of those byte sizes are read: a file of
    another size cannot hold the same bytes, so a check reads no more than it must and the
    rest wait for a check that needs them. Photos whose file is gone or unreadable are skipped
    with a warning (their hash stays unknown). Committed on its own, so the hashes are kept
    whether or not the registration that asked for them is refused."""
    wanted = None if sizes is None else frozenset(sizes)
    hashed = 0
    unreadable: list[str] = []
    with storage.session() as session:
        rows = session.execute(
            select(Photo.id, Photo.path).where(Photo.content_hash.is_(None)).order_by(Photo.id)
        ).all()
        for photo_id, path in rows:
            try:
                if wanted is not None and Path(path).stat().st_size not in wanted:
                    continue
                digest = file_hash(Path(path))
            except OSError as exc:
                unreadable.append(f"{path} ({exc.strerror or exc})")
                continue
            session.execute(
                update(Photo)
                .where(Photo.id == photo_id, Photo.content_hash.is_(None))
                .values(content_hash=digest)
                .execution_options(synchronize_session=False)
            )
            hashed += 1
        session.commit()
    if unreadable:
        log.warning(
            "%d stored photos without a content hash cannot be read, so re-uploads of them are "
            "not recognised: %s%s",
            len(unreadable),
            ", ".join(unreadable[:5]),
            " …" if len(unreadable) > 5 else "",
        )
    return hashed


def stored_duplicates(session: Any, hashes: Iterable[str]) -> dict[int, set[str]]:
    """The stored photos with any of ``hashes``: the hashes found, by the flight holding them."""
    wanted = sorted(set(hashes))
    found: dict[int, set[str]] = {}
    for start in range(0, len(wanted), _HASH_BATCH):
        batch = wanted[start : start + _HASH_BATCH]
        rows = session.execute(
            select(Photo.flight_id, Photo.content_hash).where(Photo.content_hash.in_(batch))
        )
        for flight_id, digest in rows:
            found.setdefault(flight_id, set()).add(digest)
    return found


@dataclass(frozen=True)
class Registration:
    """A registered flight and what its photos lack: positions, or the camera's image size."""

    flight_id: int
    photos: int
    #: Photos with no position (no GPS geotag): their findings fit no map point and no grid.
    unplaced: int
    camera: str
    camera_size: tuple[int, int]
    #: The most common image size among photos not of the camera's size, and how many are
    #: (GeoTIFFs not counted: their ground size comes from their geotransform).
    odd_size: tuple[int, int] | None = None
    odd_size_photos: int = 0
    #: GeoTIFFs placed by their geotransform and CRS rather than a geotag and the camera.
    georeferenced: int = 0
    #: Photos with a GPS position but no height above ground (no relative altitude: a camera
    #: other than DJI's): their scale is unknown, so their findings are placed at the camera's
    #: ground point, not where they are in the photo.
    at_camera_position: int = 0
    #: Photos left out because an earlier photo of the batch has the same bytes: (its name,
    #: the kept photo's name), by the names they were sent under.
    repeated: tuple[tuple[str, str], ...] = ()


def flights_from_source(session: Any, source: Path) -> list[int]:
    """The ids of the stored flights registered from ``source`` (resolved), oldest first."""
    resolved = str(Path(source).resolve())
    return list(
        session.scalars(select(Flight.id).where(Flight.source == resolved).order_by(Flight.id))
    )


def _lock_source(session: Any, source: Path) -> None:
    """Serialise registrations of ``source`` until ``session`` commits or rolls back, so that
    of two at once the second sees the first's flight: a PostgreSQL advisory lock on the
    folder; on SQLite, the database write lock (taken by a write that changes nothing). Call it
    first in the session: SQLite cannot turn an earlier read into a write once another
    registration has written."""
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(f"gridpatrol.flight_source:{source}".encode())
        session.execute(select(func.pg_advisory_xact_lock(key)))
    else:
        session.execute(
            update(Flight)
            .where(false())
            .values(source=Flight.source)
            .execution_options(synchronize_session=False)
        )


def resolve_camera(camera: Camera | str | Path | Mapping[str, Any] | None) -> Camera:
    """A flight's camera from a Camera, a preset name, a camera JSON file or a camera dict
    (the keys of :class:`gis.camera.Camera`); None means :data:`DEFAULT_CAMERA`."""
    if camera is None or (isinstance(camera, str) and not camera.strip()):
        return PRESETS[DEFAULT_CAMERA]
    if isinstance(camera, Camera):
        return camera
    try:
        if isinstance(camera, Mapping):
            return camera_from_dict(camera)
        return load_camera(str(camera).strip())
    except GisError as exc:
        raise IngestError(lazy_reason(exc)) from None


def flight_camera(flight: Flight) -> Camera:
    """The camera a stored flight was registered with (the default for older flights)."""
    return resolve_camera(flight.camera)


def queue_ingest(storage: Any, queue: Any, flight_id: int) -> int:
    """Queue a registered flight's classification on ``queue`` and mark it queued; the job id."""
    job_id = queue.enqueue("ingest_flight", {"flight_id": flight_id})
    with storage.session() as session:
        flight = session.get(Flight, flight_id)
        flight.job_id, flight.status = job_id, "queued"
        session.commit()
    return job_id


def register_flight(storage: Storage, source: Path, **options: Any) -> int:
    """:func:`register_photos` as the demo and flight sessions use it (photos without a position
    and folders registered before are accepted unless ``options`` say otherwise): the flight id."""
    permissive = {"allow_unplaced": True, "allow_duplicate": True}
    return register_photos(storage, source, **(permissive | options)).flight_id


def register_photos(
    storage: Storage,
    source: Path,
    *,
    name: str | None = None,
    created_by: str | None = None,
    camera: Camera | str | Path | Mapping[str, Any] | None = None,
    read_geotag: Callable[[Path], Any | None] = _geotag,
    original_names: Mapping[str, str] | None = None,
    allow_unplaced: bool = False,
    allow_duplicate: bool = False,
    check_photos: bool = False,
) -> Registration:
    """Store a flight, the camera that shot it (see :func:`resolve_camera`) and its photos
    (status pending); return the :class:`Registration`. ``original_names`` maps a photo's file
    name to the name it was sent under, when an upload stored it under a safe one.

    A GeoTIFF (a TIFF with a CRS and a geotransform) is placed as the classifier places it:
    at its centre, its ground size from the geotransform, whatever the camera; other photos by
    their GPS geotag (``read_geotag``).

    Raises :class:`MissingPhotosError` when a flight log names photos that do not exist,
    :class:`UnplacedPhotosError` when no photo has a position, unless ``allow_unplaced``,
    :class:`DuplicateSourceError` when a flight from ``source`` exists, unless
    ``allow_duplicate``, :class:`DuplicatePhotosError` with ``check_photos`` when photos of the
    same content (:func:`file_hash`, kept with every photo; :func:`hash_stored_photos` adds it
    to older ones first) are already stored in another flight, and :class:`IngestError` for a
    GeoTIFF labelled with the wrong CRS; nothing is stored then. Registrations of one folder
    at the same time take turns, so only one of them passes that check.

    Photos of the batch with the same bytes as an earlier one (:func:`repeated_photos`) are
    registered once, whatever ``check_photos``: the others are named in
    :attr:`Registration.repeated`."""
    original_names = original_names or {}
    model = resolve_camera(camera)
    source = Path(source).resolve()
    paths = photo_paths(source)
    if not paths:
        raise IngestError(
            f"flight source {source}: no photos ({', '.join(sorted(PHOTO_SUFFIXES))})"
        )
    missing = [path for path in paths if not path.is_file()]
    if missing:
        shown = ", ".join(str(p) for p in missing[:10]) + (" …" if len(missing) > 10 else "")
        raise MissingPhotosError(
            f"flight source {source}: {len(missing)} of its {len(paths)} photos "
            f"{'does' if len(missing) == 1 else 'do'} not exist: {shown}",
            missing=missing,
            photos=len(paths),
        )
    hashes = {path: file_hash(path) for path in paths}
    sent_hashes = list(hashes.values())  # a stored photo sent twice is two of those sent
    repeats = repeated_photos(hashes)
    if repeats:
        paths = [path for path in paths if path not in repeats]
        for path in repeats:
            del hashes[path]
        log.warning(
            "flight source %s: %d photos repeat another photo's bytes and are registered once",
            source,
            len(repeats),
        )
    native = (model.image_width_px, model.image_height_px)
    rasters = {path: _raster_tag(path) for path in paths}
    tags = [rasters[path] or read_geotag(path) for path in paths]
    unplaced = sum(not _has_position(t) for t in tags)
    at_camera = sum(
        rasters[path] is None
        and _has_position(tag)
        and getattr(tag, "relative_altitude_m", None) is None
        for path, tag in zip(paths, tags, strict=True)
    )
    if unplaced == len(paths) and not allow_unplaced:
        raise UnplacedPhotosError(
            (
                "the photo has no GPS position: its findings cannot be"
                if len(paths) == 1
                else f"none of the {len(paths)} photos has a GPS position: their findings cannot be"
            )
            + " placed on the map or in a grid",
            photos=len(paths),
        )
    odd: dict[tuple[int, int], int] = {}
    for path in paths:
        if rasters[path] is not None:  # its GSD is its geotransform's, not the camera's
            continue
        size = _image_size(path)
        if size is not None and not model.takes_size(*size):
            odd[size] = odd.get(size, 0) + 1
    odd_size = max(odd, key=lambda k: odd[k]) if odd else None
    if check_photos:  # photos stored before their hash was kept are compared too
        hash_stored_photos(storage, sizes={path.stat().st_size for path in paths})
    with storage.session() as session:
        _lock_source(session, source)  # two requests at once: the second sees the first's flight
        existing = flights_from_source(session, source)
        if existing and not allow_duplicate:
            raise DuplicateSourceError(
                f"flight source {source} is already registered as flight "
                f"{', '.join(str(i) for i in existing)}",
                flight_ids=existing,
            )
        if check_photos:
            _refuse_stored_photos(session, source, sent_hashes)
        flight = Flight(
            name=name or source.name,
            source=str(source),
            status="registered",
            created_by=created_by,
            camera=model.to_dict(),
            # kept for the flights page: the warning outlives the upload's answer
            odd_size=None
            if odd_size is None
            else {"size": list(odd_size), "photos": odd[odd_size]},
        )
        session.add(flight)
        for path, tag in zip(paths, tags, strict=True):
            session.add(
                Photo(
                    flight=flight,
                    path=str(path),
                    original_name=original_names.get(path.name),
                    content_hash=hashes[path],
                    status="pending",
                    lat=getattr(tag, "lat", None),
                    lon=getattr(tag, "lon", None),
                    altitude_m=getattr(tag, "altitude_m", None),
                    relative_altitude_m=getattr(tag, "relative_altitude_m", None),
                    yaw_deg=getattr(tag, "yaw_deg", None),
                    taken_at=getattr(tag, "time", None)
                    if getattr(getattr(tag, "time", None), "tzinfo", None)
                    else None,
                )
            )
        session.commit()
        return Registration(
            flight_id=flight.id,
            photos=len(paths),
            unplaced=unplaced,
            camera=model.name,
            camera_size=native,
            odd_size=odd_size,
            odd_size_photos=odd.get(odd_size, 0) if odd_size else 0,
            georeferenced=sum(tag is not None for tag in rasters.values()),
            at_camera_position=at_camera,
            repeated=tuple(
                (
                    _sent_name(path, source, original_names),
                    _sent_name(kept, source, original_names),
                )
                for path, kept in repeats.items()
            ),
        )


def repeated_photos(hashes: Mapping[Path, str]) -> dict[Path, Path]:
    """The photos of one batch whose bytes an earlier one (in ``hashes``' order) already has,
    each mapped to that earlier photo: registered once, a repeat would be classified and its
    findings counted twice."""
    first: dict[str, Path] = {}
    repeats: dict[Path, Path] = {}
    for path, digest in hashes.items():
        kept = first.setdefault(digest, path)
        if kept != path:
            repeats[path] = kept
    return repeats


def _sent_name(path: Path, source: Path, original_names: Mapping[str, str]) -> str:
    """The name a photo was sent under, else its path from the flight's folder."""
    if path.name in original_names:
        return original_names[path.name]
    folder = source if source.is_dir() else source.parent
    try:
        return str(path.relative_to(folder))
    except ValueError:
        return str(path)


def _refuse_stored_photos(session: Any, source: Path, hashes: list[str]) -> None:
    """DuplicatePhotosError when any of ``hashes`` is a stored photo's."""
    found = stored_duplicates(session, hashes)
    if not found:
        return
    repeated = set().union(*found.values())
    photos = sum(digest in repeated for digest in hashes)
    raise DuplicatePhotosError(
        f"flight source {source}: {photos} of its {len(hashes)} photos are already stored as "
        f"flight {', '.join(str(i) for i in sorted(found))}",
        photos=photos,
        total=len(hashes),
        flight_ids=sorted(found),
    )


def _has_position(tag: Any) -> bool:
    return getattr(tag, "lat", None) is not None and getattr(tag, "lon", None) is not None


def _save_crop(photo_path: Path, box: Sequence[float], dest: Path) -> str | None:
    """Save the box (with a margin) as a JPEG thumbnail; None if the photo cannot be read."""
    try:
        with Image.open(photo_path) as image:
            image = image.convert("RGB")
            x0, y0, x1, y1 = (float(v) for v in box)
            mx, my = (x1 - x0) * CROP_MARGIN, (y1 - y0) * CROP_MARGIN
            left, top = max(0, int(x0 - mx)), max(0, int(y0 - my))
            right, bottom = min(image.width, int(x1 + mx) + 1), min(image.height, int(y1 + my) + 1)
            if right <= left or bottom <= top:
                left, top, right, bottom = 0, 0, image.width, image.height
            crop = image.crop((left, top, right, bottom))
            crop.thumbnail((CROP_MAX_PX, CROP_MAX_PX))
            dest.parent.mkdir(parents=True, exist_ok=True)
            crop.save(dest, "JPEG", quality=85)
            return str(dest)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        log.warning("photo %s: crop failed (%s)", photo_path, exc)
        return None


def ingest_flight(
    storage: Storage,
    flight_id: int,
    classifier: ClassifierLike,
    *,
    crops_dir: Path,
    heartbeat: Callable[[], None] = lambda: None,
    threshold: float | None = None,
) -> dict[str, int]:
    """Classify every pending photo of a flight and store its findings; return what this run
    did (photos classified, findings stored, photos that failed), not the flight's totals: a
    run resumed after a killed worker skips what is done (see :func:`flight_totals`)."""
    with storage.session() as session:
        flight = session.get(Flight, flight_id)
        if flight is None:
            raise IngestError(f"flight {flight_id} does not exist")
        flight.status = "ingesting"
        camera = flight_camera(flight)
        session.commit()
        index = GridIndex.from_rows(session.scalars(select(Grid).order_by(Grid.id)))
        pending = [
            (p.id, Path(p.path), _camera_point(p))
            for p in session.scalars(
                select(Photo)
                .where(Photo.flight_id == flight_id, Photo.status == "pending")
                .order_by(Photo.id)
            )
        ]
    counts = {"photos": 0, "findings": 0, "errors": 0}
    for photo_id, path, camera_point in pending:
        stored: list[Finding] = []
        linkable: list[Finding] = []  # not those at their camera's point: tens of metres off
        error: str | None = None
        try:
            result = classifier.classify_image(
                path, camera=camera, threshold=threshold, grids=list(index.grids) or None
            )
            error = getattr(result, "error", None)
        except Exception as exc:  # one bad photo must not stop the flight
            error = f"{type(exc).__name__}: {exc}"
            result = None
        if result is not None and error is None:
            for k, found in enumerate(result.findings):
                if found.label not in LABELS or found.label == "background":
                    continue
                own = getattr(found, "centre", None)
                centre = own or camera_point
                lon, lat = (float(centre[0]), float(centre[1])) if centre else (None, None)
                grid_db_id = index.db_ids.get(found.grid_id) if found.grid_id else None
                if grid_db_id is None and lon is not None and lat is not None:
                    grid_db_id = index.locate(lon, lat)
                polygon = getattr(found, "polygon", None)
                crop = _save_crop(
                    path, found.box_px, crops_dir / f"flight_{flight_id}" / f"{photo_id}_{k}.jpg"
                )
                stored.append(
                    Finding(
                        photo_id=photo_id,
                        flight_id=flight_id,
                        grid_id=grid_db_id,
                        label=found.label,
                        score=float(found.score),
                        box_px=[float(v) for v in found.box_px],
                        lon=lon,
                        lat=lat,
                        polygon=polygon.__geo_interface__ if polygon is not None else None,
                        crop_path=crop,
                        review_status="pending",
                    )
                )
                if own:
                    linkable.append(stored[-1])
        with storage.session() as session:
            photo = session.get(Photo, photo_id)
            if photo is None or photo.status != "pending":
                continue  # another worker finished it meanwhile
            session.add_all(stored)
            session.flush()
            link_sightings(session, linkable)
            photo.status, photo.error = ("error", error) if error else ("done", None)
            session.commit()
        counts["photos"] += 1
        counts["findings"] += len(stored)
        counts["errors"] += bool(error)
        heartbeat()
    with storage.session() as session:
        flight = session.get(Flight, flight_id)
        statuses = list(session.scalars(select(Photo.status).where(Photo.flight_id == flight_id)))
        left, failed = statuses.count("pending"), statuses.count("error")
        flight.status = "ingesting" if left else ("done_with_errors" if failed else "done")
        if not left:
            check_resolved_tickets(session, flight_id, camera)
        session.commit()
    return counts


def _camera_point(photo: Photo) -> tuple[float, float] | None:
    """Where a photo with a GPS position but no height above ground (relative altitude) places
    its findings: its camera's ground point (lon, lat), the best known without its scale. None
    for any other photo (placed by the classifier, or not at all)."""
    if photo.lat is None or photo.lon is None or photo.relative_altitude_m is not None:
        return None
    return (photo.lon, photo.lat)


def flight_totals(session: Any, flight_id: int) -> dict[str, int]:
    """A flight's photos and findings whatever run stored them: ``photos`` (all), ``done``,
    ``errors`` (photos that failed), ``pending`` and ``findings``."""
    statuses = dict(
        session.execute(
            select(Photo.status, func.count())
            .where(Photo.flight_id == flight_id)
            .group_by(Photo.status)
        ).all()
    )
    findings = session.scalar(
        select(func.count()).select_from(Finding).where(Finding.flight_id == flight_id)
    )
    return {
        "photos": sum(statuses.values()),
        "done": statuses.get("done", 0),
        "errors": statuses.get("error", 0),
        "pending": statuses.get("pending", 0),
        "findings": int(findings or 0),
    }


@dataclass
class PhotoIssues:
    """A flight's photos whose findings are not placed as the classifier places them, and
    those that failed, each counted, with the first :data:`ISSUES_SHOWN` of them named."""

    #: No GPS position: their findings fit no map point and no grid.
    unplaced: int = 0
    unplaced_names: list[str] = field(default_factory=list)
    #: A position but no height above ground: findings at the camera's ground point.
    at_camera_position: int = 0
    at_camera_position_names: list[str] = field(default_factory=list)
    #: Photos whose classification failed: (name, reason).
    failed: int = 0
    failed_photos: list[tuple[str, str]] = field(default_factory=list)


#: How many photos of each kind :func:`photo_issues` names per flight.
ISSUES_SHOWN = 20


def photo_issues(
    session: Any, flight_ids: Iterable[int], *, shown: int = ISSUES_SHOWN
) -> dict[int, PhotoIssues]:
    """The :class:`PhotoIssues` of each flight in ``flight_ids`` (photos in id order)."""
    ids = list(flight_ids)
    out = {i: PhotoIssues() for i in ids}
    if not ids:
        return out
    rows = session.execute(
        select(
            Photo.flight_id,
            Photo.path,
            Photo.original_name,
            Photo.lat,
            Photo.lon,
            Photo.relative_altitude_m,
            Photo.status,
            Photo.error,
        )
        .where(
            Photo.flight_id.in_(ids),
            or_(
                Photo.lat.is_(None),
                Photo.lon.is_(None),
                Photo.relative_altitude_m.is_(None),
                Photo.status == "error",
            ),
        )
        .order_by(Photo.id)
    )
    for flight_id, path, original, lat, lon, relative, status, error in rows:
        issues = out[flight_id]
        name = original or Path(path).name
        if lat is None or lon is None:
            issues.unplaced += 1
            if len(issues.unplaced_names) < shown:
                issues.unplaced_names.append(name)
        elif relative is None and not _georeferenced(path):
            issues.at_camera_position += 1
            if len(issues.at_camera_position_names) < shown:
                issues.at_camera_position_names.append(name)
        if status == "error":
            issues.failed += 1
            if len(issues.failed_photos) < shown:
                issues.failed_photos.append((name, error or ""))
    return out


def _georeferenced(path: str) -> bool:
    """Whether a stored photo is a GeoTIFF (placed by its geotransform, not a height)."""
    if Path(path).suffix.lower() not in (".tif", ".tiff"):
        return False
    try:
        stat = Path(path).stat()
    except OSError:
        return False
    return _georeferenced_file(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4096)
def _georeferenced_file(path: str, mtime_ns: int, size: int) -> bool:
    try:
        return _raster_tag(Path(path)) is not None
    except (IngestError, OSError):
        return False


def load_classifier(spec: str | None) -> ClassifierLike:
    """The classifier named by the CLASSIFIER setting (``module:factory``), else vision's."""
    if spec:
        module_name, _, attr = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr or "load")
        except (ImportError, AttributeError) as exc:
            raise IngestError(f"CLASSIFIER {spec!r}: cannot import it ({exc})") from exc
        return factory()
    try:
        from vision.infer import Classifier
    except ImportError as exc:
        raise IngestError(f"vision.infer is not available ({exc}); set CLASSIFIER") from exc
    return Classifier.load()


def ingest_job(ctx: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Job handler ``ingest_flight``: payload ``{"flight_id": int}``. Its result is the
    flight's totals (:func:`flight_totals`), true also when an earlier run was killed part-way,
    and under ``this_run`` what this run did (:func:`ingest_flight`)."""
    flight_id = int(payload["flight_id"])
    classifier = ctx.runner.services.get("classifier")
    if classifier is None:
        classifier = load_classifier(ctx.config.get("CLASSIFIER"))
        ctx.runner.services["classifier"] = classifier
    crops = Path(ctx.config.get("DATA_DIR", ".")) / "crops"
    counts = ingest_flight(
        ctx.storage, flight_id, classifier, crops_dir=crops, heartbeat=ctx.heartbeat
    )
    with ctx.storage.session() as session:
        totals = flight_totals(session, flight_id)
    return {"flight_id": flight_id, **totals, "this_run": counts}
