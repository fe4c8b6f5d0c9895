"""Map imagery routes under ``/api/v1``: photo overlays (per photo, finding or flight) and
orthomosaic layers (upload, list, preview, delete).

The routes join :data:`groundstation.blueprints.api.bp`, so they share its API-key and CSRF
authentication and its JSON errors. Warped photos are cached in ``<data dir>/overlays`` under a
key of everything they depend on; an orthomosaic's preview is rendered once, at upload.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

from flask import current_app, jsonify, request, send_file
from shapely.geometry import box, shape
from sqlalchemy import func, select

from groundstation.blueprints.api import (
    ANY,
    _get,
    parse_text,
    visible_finding,
    visible_findings,
    visible_photo,
)
from groundstation.blueprints.api import bp as api_bp
from groundstation.errors import NotFoundError, TooLargeError, ValidationError
from groundstation.i18n import lazy_message as _l
from groundstation.imagery import (
    MAX_ORTHOMOSAIC_PIXELS,
    PHOTO_OVERLAY_MAX_PX,
    Bounds,
    RasterPlacement,
    cache_key,
    inspect_orthomosaic,
    nadir_georef,
    photo_bounds,
    place_photo,
    render_orthomosaic_preview,
    render_photo_overlay,
)
from groundstation.ingest import flight_camera
from groundstation.models import Finding, Flight, Grid, Orthomosaic, Photo
from groundstation.params import check_fields, takes
from groundstation.uploads import safe_name
from groundstation.web import current_actor, db, roles_required

__all__ = ["DEFAULT_MAX_ORTHOMOSAIC_BYTES", "ORTHO_UPLOADERS", "photo_overlay_json"]

#: Used when the config has no ``MAX_ORTHOMOSAIC_BYTES``.
DEFAULT_MAX_ORTHOMOSAIC_BYTES = 2 * 2**30
ORTHO_UPLOADERS = ("pilot", "admin")
#: The longest orthomosaic name (its column's length).
ORTHO_NAME_LENGTH: int = Orthomosaic.__table__.c.name.type.length
FLIGHT_OVERLAY_LIMIT = 500
CHUNK = 1 << 20


def _data_dir() -> Path:
    return Path(current_app.config["DATA_DIR"])


def _ortho_limit() -> int:
    return int(current_app.config.get("MAX_ORTHOMOSAIC_BYTES") or DEFAULT_MAX_ORTHOMOSAIC_BYTES)


def _ortho_pixel_limit() -> int:
    return int(current_app.config.get("MAX_ORTHOMOSAIC_PIXELS") or MAX_ORTHOMOSAIC_PIXELS)


@api_bp.before_app_request
def _orthomosaic_request_limit() -> None:
    """Orthomosaics are far larger than photos: lift the request limit for their upload only
    (before the API's CSRF check parses the form)."""
    if request.endpoint == "api.orthomosaic_upload":
        request.max_content_length = _ortho_limit() + CHUNK  # room for the form's other fields


# -- photo overlays ----------------------------------------------------------------------------


def _georef_fields(photo: Photo) -> dict[str, float | None]:
    return {
        "lon": photo.lon,
        "lat": photo.lat,
        "relative_altitude_m": photo.relative_altitude_m,
        "yaw_deg": photo.yaw_deg,
    }


def photo_overlay_json(photo: Photo) -> dict[str, Any]:
    """Where a photo lies on the map (computed from its geotag, without rendering it)."""
    placement = place_photo(photo, flight_camera(photo.flight))
    nadir = nadir_georef(placement)
    return {
        "photo_id": photo.id,
        "url": f"/api/v1/photos/{photo.id}/overlay.png",
        "bounds": photo_bounds(placement).leaflet(),
        "centre": [nadir.lon, nadir.lat],
        "yaw_deg": nadir.yaw_deg,
        "gsd_m": nadir.gsd_m,
    }


def _overlay_png(photo: Photo) -> Path:
    """The cached warped PNG of a photo, rendered on first use."""
    path = Path(photo.path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise NotFoundError(
            _l("photo %(id)s: file %(name)s is gone", id=photo.id, name=path.name)
        ) from None
    camera = flight_camera(photo.flight)
    key = cache_key(
        str(path),
        stat.st_mtime_ns,
        stat.st_size,
        _georef_fields(photo),
        camera.to_dict(),
        PHOTO_OVERLAY_MAX_PX,
    )
    dest = _data_dir() / "overlays" / f"photo_{photo.id}_{key}.png"
    if dest.is_file():
        return dest
    if isinstance(place_photo(photo, camera), RasterPlacement):  # a GeoTIFF: warped as it lies
        render_orthomosaic_preview(
            path, dest, max_px=PHOTO_OVERLAY_MAX_PX, name=f"photo {photo.id}"
        )
    else:
        render_photo_overlay(
            path,
            dest,
            georef_fields=_georef_fields(photo),
            camera=camera,
            what=f"photo {photo.id}",
        )
    return dest


@api_bp.get("/photos/<int:photo_id>/overlay")
@roles_required(*ANY)
@takes()
def photo_overlay(photo_id: int) -> Any:
    return jsonify(photo_overlay_json(visible_photo(db(), photo_id)))


@api_bp.get("/photos/<int:photo_id>/overlay.png")
@roles_required(*ANY)
@takes()
def photo_overlay_png(photo_id: int) -> Any:
    photo = visible_photo(db(), photo_id)
    return send_file(_overlay_png(photo), mimetype="image/png", max_age=3600)


@api_bp.get("/findings/<int:finding_id>/overlay")
@roles_required(*ANY)
@takes()
def finding_overlay(finding_id: int) -> Any:
    """The finding's photo as a map overlay, with its box. A photo that cannot be placed (no
    geotag or height above ground, file gone) is no error of the request: ``url`` and
    ``bounds`` are null and ``reason`` says why, so a page skips the layer quietly."""
    finding = visible_finding(db(), finding_id)
    try:
        out: dict[str, Any] = {**photo_overlay_json(finding.photo), "reason": None}
    except (NotFoundError, ValidationError) as exc:
        out = {
            "photo_id": finding.photo_id,
            "url": None,
            "bounds": None,
            "centre": None,
            "yaw_deg": None,
            "gsd_m": None,
            "reason": str(exc),
        }
    out.update(
        finding_id=finding.id,
        position=[finding.lon, finding.lat] if finding.lon is not None else None,
        polygon=finding.polygon,
    )
    return jsonify(out)


@api_bp.get("/flights/<int:flight_id>/overlays")
@roles_required(*ANY)
@takes()
def flight_overlays(flight_id: int) -> Any:
    """Every placeable photo of a flight the user may see; the others listed with the reason."""
    session = db()
    flight = _get(session, Flight, flight_id, "flight")
    query = select(Photo).where(Photo.flight_id == flight.id)
    actor = current_actor()
    if actor.role == "department":  # only the photos behind their department's tickets
        query = query.where(Photo.id.in_(visible_findings(select(Finding.photo_id), actor)))
    photos = session.scalars(query.order_by(Photo.id).limit(FLIGHT_OVERLAY_LIMIT))
    items, skipped = [], []
    for photo in photos:
        try:
            items.append(photo_overlay_json(photo))
        except (NotFoundError, ValidationError) as exc:
            skipped.append({"photo_id": photo.id, "error": str(exc)})
    return jsonify({"flight_id": flight.id, "items": items, "skipped": skipped})


# -- orthomosaics ------------------------------------------------------------------------------


def _ortho_json(row: Orthomosaic) -> dict[str, Any]:
    bounds = Bounds(row.west, row.south, row.east, row.north)
    return {
        "id": row.id,
        "name": row.name,
        "crs": row.crs,
        "width": row.width,
        "height": row.height,
        "bands": row.band_count,
        "size_bytes": row.size_bytes,
        "bounds": bounds.leaflet(),
        "bbox": [row.west, row.south, row.east, row.north],
        "preview_url": f"/api/v1/orthomosaics/{row.id}/preview.png",
        "preview_size": [row.preview_width, row.preview_height],
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat() if row.created_at else None,
    }


def _too_large(upload: Any, limit: int) -> TooLargeError:
    """HTTP 413 for an orthomosaic over ``limit`` bytes, said in MiB when it is whole MiB."""
    what, name = _l("orthomosaic"), repr(upload.filename)
    if limit % 2**20 == 0:
        message = _l(
            "%(what)s %(name)s is larger than %(limit)d MiB",
            what=what,
            name=name,
            limit=limit // 2**20,
        )
    else:
        message = _l(
            "%(what)s %(name)s is larger than %(limit)s bytes",
            what=what,
            name=name,
            limit=f"{limit:,}",
        )
    return TooLargeError(message)


def _save_limited(upload: Any, dest: Path, limit: int) -> int:
    """Copy an upload to ``dest`` in chunks, refusing more than ``limit`` bytes (413): a
    declared length over the limit is refused before the body is read (see
    :func:`_orthomosaic_request_limit`), a chunked or mis-declared body here."""
    total = 0
    with dest.open("wb") as fh:
        while chunk := upload.stream.read(CHUNK):
            total += len(chunk)
            if total > limit:
                raise _too_large(upload, limit)
            fh.write(chunk)
    if total == 0:
        raise ValidationError(
            _l("%(what)s %(name)s is empty", what="orthomosaic", name=repr(upload.filename))
        )
    return total


def _outside_every_grid(session: Any, bounds: Bounds, name: str, crs: str) -> list[Any]:
    """A warning when grids are known and the orthomosaic's footprint touches none of them:
    most often a file labelled with the wrong CRS, placed far from where it was flown."""
    if not session.scalar(select(func.count()).select_from(Grid)):
        return []
    footprint = box(bounds.west, bounds.south, bounds.east, bounds.north)
    near = session.scalars(
        select(Grid.geometry).where(
            Grid.min_lon <= bounds.east,
            Grid.max_lon >= bounds.west,
            Grid.min_lat <= bounds.north,
            Grid.max_lat >= bounds.south,
        )
    )
    if any(shape(geometry).intersects(footprint) for geometry in near):
        return []
    return [
        _l(
            "orthomosaic %(name)s lies in none of the grids (centre at longitude %(lon)s, "
            "latitude %(lat)s): if it was flown over a grid, its CRS %(crs)s is wrong",
            name=repr(name),
            lon=f"{(bounds.west + bounds.east) / 2:.5f}",
            lat=f"{(bounds.south + bounds.north) / 2:.5f}",
            crs=crs,
        )
    ]


@api_bp.get("/orthomosaics")
@roles_required(*ANY)
@takes()
def orthomosaics() -> Any:
    rows = db().scalars(select(Orthomosaic).order_by(Orthomosaic.id.desc()))
    return jsonify([_ortho_json(r) for r in rows])


@api_bp.post("/orthomosaics")
@roles_required(*ORTHO_UPLOADERS)
@takes()
def orthomosaic_upload() -> Any:
    """Store an uploaded GeoTIFF (multipart ``file``, optional ``name``) and render its preview."""
    check_fields(request.form, ("name",), files=("file",))
    actor = current_actor()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationError(_l("give the GeoTIFF as multipart field 'file'"))
    filename = safe_name(upload.filename, default="orthomosaic.tif")
    if Path(filename).suffix.lower() not in (".tif", ".tiff"):
        raise ValidationError(
            _l("orthomosaic %(name)s: upload a .tif/.tiff GeoTIFF", name=repr(upload.filename))
        )
    name = parse_text(request.form.get("name", "").strip(), field="name", limit=ORTHO_NAME_LENGTH)
    name = name or Path(filename).stem[:ORTHO_NAME_LENGTH] or filename[:ORTHO_NAME_LENGTH]
    folder = _data_dir() / "orthomosaics" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    try:
        path = folder / filename
        size = _save_limited(upload, path, _ortho_limit())
        info = inspect_orthomosaic(
            path, name=upload.filename or filename, max_pixels=_ortho_pixel_limit()
        )
        preview = folder / "preview.png"
        bounds, (width, height) = render_orthomosaic_preview(
            path, preview, name=upload.filename or filename
        )
        row = Orthomosaic(
            name=name,
            path=str(path),
            size_bytes=size,
            width=info.width,
            height=info.height,
            band_count=info.count,
            crs=info.crs,
            west=bounds.west,
            south=bounds.south,
            east=bounds.east,
            north=bounds.north,
            preview_path=str(preview),
            preview_width=width,
            preview_height=height,
            created_by=actor.name,
        )
        session = db()
        session.add(row)
        session.commit()
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    warnings = _outside_every_grid(session, bounds, upload.filename or filename, info.crs)
    return jsonify({**_ortho_json(row), "warnings": [str(w) for w in warnings]}), 201


@api_bp.get("/orthomosaics/<int:ortho_id>")
@roles_required(*ANY)
@takes()
def orthomosaic_detail(ortho_id: int) -> Any:
    return jsonify(_ortho_json(_get(db(), Orthomosaic, ortho_id, "orthomosaic")))


@api_bp.get("/orthomosaics/<int:ortho_id>/preview.png")
@roles_required(*ANY)
@takes()
def orthomosaic_preview(ortho_id: int) -> Any:
    row = _get(db(), Orthomosaic, ortho_id, "orthomosaic")
    if not Path(row.preview_path).is_file():
        raise NotFoundError(_l("orthomosaic %(id)s: its preview file is gone", id=ortho_id))
    return send_file(row.preview_path, mimetype="image/png", max_age=3600)


@api_bp.delete("/orthomosaics/<int:ortho_id>")
@roles_required(*ORTHO_UPLOADERS)
@takes()
def orthomosaic_delete(ortho_id: int) -> Any:
    session = db()
    row = _get(session, Orthomosaic, ortho_id, "orthomosaic")
    folder = Path(row.path).parent
    session.delete(row)
    session.commit()
    root = (_data_dir() / "orthomosaics").resolve()
    if root in folder.resolve().parents:
        shutil.rmtree(folder, ignore_errors=True)
    return jsonify({"deleted": ortho_id})
