"""Staged photo uploads under ``/api/v1/photo-uploads``: an SD card's photos (hundreds of
8–20 MB files, more than one request may carry) arrive one small request at a time, then become
one photo flight, registered and queued for classification as ``POST /api/v1/flights`` does.

The routes join :data:`groundstation.blueprints.api.bp`, so they share its API-key and CSRF
authentication and its JSON errors. An upload is a folder ``<data dir>/uploads/<id>/`` holding
``upload.json`` (name, camera, owner) and ``photos/``; nothing is in the database until it is
finished. Every step is safe to retry and loses nothing already stored:

- a photo is checked whole (size, a real JPEG/PNG/TIFF, pixel limit) before it is written, then
  written to a hidden temporary file and linked under its name in one step, so a name never shows
  a half-written photo. The same name with the same bytes again is a no-op (200); the same name
  with other bytes is refused (409).
- finishing and cancelling each claim ``photos/`` by renaming it inside the upload's folder, so
  exactly one of them wins; the other (a second finish, a cancel, or a photo arriving meanwhile)
  gets a 409. A finish then moves the photos into ``<data dir>/photos/`` and registers the
  flight; if that fails the photos are moved back and the upload can be finished again.
- a finished upload keeps its finish answer (``finished.json``): finishing it again, or reading
  it, answers with the flight it became, so a client that lost the answer can find it.
- uploads untouched for a day (:data:`STALE_AFTER_S`) are deleted when a new one is created,
  finished ones included.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import current_app, jsonify, request, url_for

from groundstation.blueprints.api import (
    REVIEWERS,
    parse_confirm,
    parse_flight_camera,
    parse_int,
    parse_text,
    queue_ingest,
    registration_error,
    registration_json,
)
from groundstation.blueprints.api import bp as api_bp
from groundstation.errors import IngestError, NotFoundError, TransitionError, ValidationError
from groundstation.i18n import lazy_message as _l
from groundstation.ingest import PHOTO_SUFFIXES, register_photos, resolve_camera
from groundstation.models import utcnow
from groundstation.params import check_fields, takes
from groundstation.uploads import photo_file_name, read_photo
from groundstation.web import (
    acting_user,
    current_actor,
    json_error,
    request_data,
    roles_required,
    state,
)

__all__ = [
    "UPLOADERS",
    "STALE_AFTER_S",
    "UPLOADS_DIR",
    "staged_photos",
    "stage_photo",
    "clean_stale_uploads",
]

#: Roles that may upload a flight's photos (those of ``POST /api/v1/flights``).
UPLOADERS = ("pilot", "supervisor", "admin")
#: An upload untouched this long is abandoned: deleted when the next upload is created.
STALE_AFTER_S = 24 * 3600.0
#: The data dir's folder of staged uploads.
UPLOADS_DIR = "uploads"
CHUNK = 1 << 20

_ID = re.compile(r"[0-9a-f]{32}")
_META = "upload.json"
_PHOTOS = "photos"
_NAMES = "names"  # original names of photos stored under another (sanitised) name
_FINISHING = ".finishing"  # photos/ claimed by a finish
_CANCELLING = ".cancelling"  # photos/ claimed by a cancel
_FINISHED = "finished.json"  # a finished upload's finish answer


# -- the staged folder (no Flask) --------------------------------------------------------------


def staged_photos(stage: Path) -> list[dict[str, Any]]:
    """The photos that have arrived in ``stage``: stored name, the name they were sent as, bytes."""
    folder = stage / _PHOTOS
    names = stage / _NAMES
    out = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except FileNotFoundError:
        return []
    for entry in entries:
        if entry.name.startswith(".") or Path(entry.name).suffix.lower() not in PHOTO_SUFFIXES:
            continue
        try:
            size = entry.stat().st_size
        except FileNotFoundError:
            continue
        try:
            original = (names / entry.name).read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            original = entry.name
        out.append({"name": entry.name, "original": original, "bytes": size})
    return out


def _sent_names(stage: Path, folder: Path) -> dict[str, str]:
    """The names the photos in ``folder`` were sent under, by file name, for those stored under
    another name (their record in ``stage``)."""
    names = {}
    for path in folder.iterdir():
        with contextlib.suppress(FileNotFoundError, UnicodeDecodeError):
            names[path.name] = (stage / _NAMES / path.name).read_text(encoding="utf-8")
    return names


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{uuid.uuid4().hex}.part")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _same_bytes(path: Path, data: bytes) -> bool:
    try:
        return path.stat().st_size == len(data) and path.read_bytes() == data
    except FileNotFoundError:
        return False


def stage_photo(stage: Path, original: str, data: bytes, image_format: str) -> tuple[str, bool]:
    """Store one checked photo in ``stage`` under its safe name
    (:func:`groundstation.uploads.photo_file_name`), keeping the name it was sent under for the
    flight's photo record; return the stored name and whether it is new (False: that name
    already holds these bytes, nothing changed).

    Raises :class:`TransitionError` (409) when the name holds other bytes, or when the upload was
    finished or cancelled meanwhile."""
    folder = stage / _PHOTOS
    name = photo_file_name(original, image_format)
    target = folder / name
    tmp = folder / f".{uuid.uuid4().hex}.part"
    try:
        if name != original:
            (stage / _NAMES).mkdir(exist_ok=True)
            _write_atomic(stage / _NAMES / name, original.encode("utf-8", "surrogatepass"))
        tmp.write_bytes(data)
        try:
            os.link(tmp, target)  # appears whole, or not at all; never replaces another photo
            return name, True
        except FileExistsError:
            pass
        except OSError as exc:  # a file system without hard links
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            if not target.exists():
                os.replace(tmp, target)
                return name, True
    except FileNotFoundError:
        raise TransitionError(
            _l("the upload was finished or cancelled meanwhile: the photo was not added")
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    if _same_bytes(target, data):
        return name, False
    raise TransitionError(
        _l(
            "a different photo named %(name)s is already in this upload; rename one of them",
            name=repr(original),
        )
    )


def _move(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst`` (copying only when they lie on different file systems)."""
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.move(src, dst)


def _last_activity(stage: Path) -> float:
    times = []
    for path in (stage, stage / _PHOTOS, stage / _META):
        with contextlib.suppress(FileNotFoundError):
            times.append(path.stat().st_mtime)
    return max(times, default=0.0)


def clean_stale_uploads(root: Path, *, max_age_s: float = STALE_AFTER_S) -> list[str]:
    """Delete the staged uploads in ``root`` untouched for ``max_age_s``; return their ids.
    Only folders this module made (an id, or a half-made or cancelled one) are touched."""
    removed = []
    now = time.time()
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return []
    for entry in entries:
        ident = entry.name.lstrip(".").split(".")[0]
        if not entry.is_dir(follow_symlinks=False) or not _ID.fullmatch(ident):
            continue
        stage = Path(entry.path)
        if now - _last_activity(stage) > max_age_s:
            shutil.rmtree(stage, ignore_errors=True)
            removed.append(ident)
    return removed


# -- helpers on the request --------------------------------------------------------------------


def _root() -> Path:
    return Path(current_app.config["DATA_DIR"]) / UPLOADS_DIR


def _read_meta(stage: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((stage / _META).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _may_use(meta: dict[str, Any]) -> bool:
    user = acting_user()
    return user is not None and (user.role == "admin" or meta.get("user_id") == user.id)


def _open(upload_id: str) -> tuple[Path, dict[str, Any]]:
    """The upload's folder and record; 404 when there is none the acting user may use."""
    stage = _root() / upload_id
    meta = _read_meta(stage) if _ID.fullmatch(upload_id) else None
    if meta is None or not _may_use(meta):
        raise NotFoundError(
            _l(
                "photo upload %(id)s does not exist (finished, cancelled or never made)",
                id=upload_id,
            )
        )
    return stage, meta


def _finished(stage: Path) -> dict[str, Any] | None:
    """A finished upload's finish answer (flight_id, job_id, …); None if it is not finished."""
    try:
        body = json.loads((stage / _FINISHED).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def _claim(stage: Path, claim: str) -> Path:
    """Take the upload's photos for a finish or a cancel (one rename: only one request gets
    them); a 409 when another request has them, or had them."""
    claimed = stage / claim
    try:
        os.rename(stage / _PHOTOS, claimed)
    except FileNotFoundError:
        raise _taken(stage, cancelling=claim == _CANCELLING) from None
    return claimed


def _taken(stage: Path, *, cancelling: bool = False) -> TransitionError:
    """The 409 for a request that found the upload's photos gone, saying what took them: a
    finish that made them flight N, a finish still at work, or a cancel."""
    finished = _finished(stage)
    if finished is not None:
        flight = finished.get("flight_id")
        if cancelling:
            return TransitionError(
                _l(
                    "the upload was finished as flight %(flight)s: it can no longer be cancelled",
                    flight=flight,
                )
            )
        return TransitionError(
            _l(
                "the upload was finished as flight %(flight)s: start a new upload to send more "
                "photos",
                flight=flight,
            )
        )
    if not stage.is_dir() or (stage / _CANCELLING).is_dir():  # a cancel never gives them back
        return TransitionError(_l("the upload was cancelled by another request"))
    return TransitionError(  # a finish holds them (and gives them back if it is refused)
        _l("the upload is being finished by another request: try again once it has answered")
    )


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def _upload_json(stage: Path, meta: dict[str, Any], *, files: bool = False) -> dict[str, Any]:
    photos = staged_photos(stage)
    ident = meta["id"]
    out: dict[str, Any] = {
        "id": ident,
        "name": meta.get("name"),
        "camera": meta.get("camera"),
        "created_by": meta.get("created_by"),
        "created_at": meta.get("created_at"),
        "updated_at": _iso(_last_activity(stage)),
        "photos": len(photos),
        "bytes": sum(p["bytes"] for p in photos),
        "max_image_bytes": int(current_app.config["MAX_IMAGE_BYTES"]),
        "urls": {
            "self": url_for("api.photo_upload_detail", upload_id=ident),
            "photos": url_for("api.photo_upload_add", upload_id=ident),
            "finish": url_for("api.photo_upload_finish", upload_id=ident),
        },
    }
    if files:
        out["files"] = photos
    return out


@api_bp.before_app_request
def _photo_request_limit() -> None:
    """One request carries at least one whole photo, even when MAX_IMAGE_BYTES is set above the
    request limit (before the API's CSRF check parses the form)."""
    if request.endpoint == "api.photo_upload_add":
        config = current_app.config
        request.max_content_length = max(
            int(config["MAX_CONTENT_LENGTH"] or 0), int(config["MAX_IMAGE_BYTES"]) + CHUNK
        )


# -- routes ------------------------------------------------------------------------------------


@api_bp.post("/photo-uploads")
@roles_required(*UPLOADERS)
@takes()
def photo_upload_create() -> Any:
    """Start an upload: ``name`` and ``camera`` as ``POST /api/v1/flights`` takes them."""
    data = request_data()
    check_fields(data, ("name", "camera"))
    name = parse_text(data.get("name"), field="name").strip()[:200] or None
    camera = parse_flight_camera(data.get("camera"))
    user = acting_user()
    root = _root()
    root.mkdir(parents=True, exist_ok=True)
    clean_stale_uploads(
        root, max_age_s=float(current_app.config.get("PHOTO_UPLOAD_STALE_S", STALE_AFTER_S))
    )
    ident = uuid.uuid4().hex
    meta = {
        "id": ident,
        "name": name,
        "camera": (camera or resolve_camera(None)).to_dict(),  # as finishing will use it
        "created_by": user.username,
        "user_id": user.id,
        "created_at": utcnow().isoformat(),
    }
    building = root / f".{ident}.new"  # made whole, then renamed into place
    try:
        (building / _PHOTOS).mkdir(parents=True)
        (building / _META).write_text(json.dumps(meta), encoding="utf-8")
        os.rename(building, root / ident)
    except Exception:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return jsonify(_upload_json(root / ident, meta, files=True)), 201


@api_bp.get("/photo-uploads")
@roles_required(*UPLOADERS)
@takes()
def photo_upload_list() -> Any:
    """The acting user's unfinished uploads (an admin's: everyone's), newest first."""
    root = _root()
    rows = []
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        entries = []
    for entry in entries:
        if not _ID.fullmatch(entry.name):
            continue
        meta = _read_meta(Path(entry.path))
        if meta is not None and _may_use(meta) and _finished(Path(entry.path)) is None:
            rows.append(_upload_json(Path(entry.path), meta))
    rows.sort(key=lambda r: r["created_at"] or "", reverse=True)
    return jsonify(rows)


@api_bp.get("/photo-uploads/<upload_id>")
@roles_required(*UPLOADERS)
@takes()
def photo_upload_detail(upload_id: str) -> Any:
    """An upload with the photos that have arrived (a page reload resumes from this), its
    ``status`` ``open``; a finished one: ``status`` ``finished`` and under ``finished`` the
    answer its finish gave (flight_id, job_id, …)."""
    stage, meta = _open(upload_id)
    finished = _finished(stage)
    body = _upload_json(stage, meta, files=True)
    body["status"] = "open" if finished is None else "finished"
    if finished is not None:
        body["finished"] = finished
    return jsonify(body)


@api_bp.post("/photo-uploads/<upload_id>/photos")
@roles_required(*UPLOADERS)
@takes()
def photo_upload_add(upload_id: str) -> Any:
    """Add photos (multipart ``photos``; one per request is best): each is checked as the flight
    upload checks it; the request stores all of them or none. 201 when any photo is new, 200
    when all were already there (a retried request)."""
    stage, _meta = _open(upload_id)
    check_fields(request.form, (), files=("photos",))
    if not (stage / _PHOTOS).is_dir():  # finished, or being finished or cancelled
        raise _taken(stage)
    files = [f for f in request.files.getlist("photos") if f.filename]
    if not files:
        raise ValidationError(_l("send the photos as multipart field 'photos'"))
    config = current_app.config
    checked = []
    for upload in files:  # every photo is checked before any is stored
        checked.append(
            read_photo(
                upload,
                limit=int(config["MAX_IMAGE_BYTES"]),
                max_pixels=int(config["MAX_IMAGE_PIXELS"]),
            )
        )
    stored, new = [], []
    try:
        for original, data, image_format in checked:
            name, created = stage_photo(stage, original, data, image_format)
            stored.append({"name": name, "original": original, "bytes": len(data), "new": created})
            if created:
                new.append(stage / _PHOTOS / name)
    except Exception as exc:
        for path in new:  # this request stores all of its photos or none
            path.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return json_error(_l("the ground station's disk is full: nothing was stored"), 507)
        raise
    return jsonify({"id": upload_id, "stored": stored}), 201 if new else 200


@api_bp.post("/photo-uploads/<upload_id>/finish")
@roles_required(*UPLOADERS)
@takes()
def photo_upload_finish(upload_id: str) -> Any:
    """Register the photos as a flight and queue their classification (202), as
    ``POST /api/v1/flights`` does. Optional ``photos``: how many photos the caller sent (a JSON
    integer); another count arrived is a 409 and nothing changes. Photos already stored in a
    flight (the same files) are a 409 naming it, unless ``force``; photos without any position
    a 422, unless ``allow_unplaced``. Any other field is a 400. Photos of the same bytes under
    two names are registered once (``duplicates_merged``, ``photos_repeated``, a warning).
    An upload finished before answers 200 with the body of its 202 (a retry that lost it)."""
    stage, meta = _open(upload_id)
    data = request_data() if request.is_json or request.form else {}
    check_fields(data, ("photos", "allow_unplaced", "force"))
    expected = parse_int(data.get("photos"), field="photos", lo=0, from_json=request.is_json)
    allow_unplaced = parse_confirm(data.get("allow_unplaced"), field="allow_unplaced")
    force = parse_confirm(data.get("force"), field="force")
    finished = _finished(stage)
    if finished is not None:
        return jsonify(finished), 200
    arrived = staged_photos(stage)
    if not (stage / _PHOTOS).is_dir():  # another request is finishing or cancelling it
        raise _taken(stage)
    if not arrived:
        raise ValidationError(_l("the upload has no photos yet: add photos before finishing it"))
    if expected is not None and expected != len(arrived):
        raise TransitionError(
            _l(
                "%(arrived)d photos have arrived, not the %(expected)d sent: "
                "send the missing ones again, then finish",
                arrived=len(arrived),
                expected=expected,
            )
        )
    source = (
        Path(current_app.config["DATA_DIR"])
        / "photos"
        / f"upload_{utcnow():%Y%m%d_%H%M%S}_{upload_id[:6]}"
    )
    source.parent.mkdir(parents=True, exist_ok=True)
    claimed = _claim(stage, _FINISHING)  # a second finish or a cancel now gets a 409
    try:
        _move(claimed, source)
    except BaseException:
        os.rename(claimed, stage / _PHOTOS)
        raise
    actor = current_actor()
    try:
        registration = register_photos(
            state().storage,
            source,
            name=meta.get("name"),
            created_by=actor.name,
            camera=meta.get("camera"),
            original_names=_sent_names(stage, source),  # as they are now, moved
            allow_unplaced=allow_unplaced,
            check_photos=not force,  # the same photos sent again: 409 unless forced
        )
    except Exception as exc:
        _move(source, stage / _PHOTOS)  # the photos stay in the upload: finish it again
        if isinstance(exc, IngestError):
            raise registration_error(exc) from None
        raise
    flight_id = registration.flight_id
    job_id = queue_ingest(flight_id)
    body = registration_json(registration)
    body.update(
        {
            "upload_id": upload_id,
            "job_id": job_id,
            "flight_url": url_for("flights.index", flight=flight_id) + f"#flight-{flight_id}",
            "findings_url": url_for("review.index", flight=flight_id, status="all")
            if actor.role in REVIEWERS
            else None,
        }
    )
    _write_atomic(stage / _FINISHED, json.dumps(body).encode("utf-8"))  # for a retried finish
    shutil.rmtree(stage / _NAMES, ignore_errors=True)
    return jsonify(body), 202


@api_bp.delete("/photo-uploads/<upload_id>")
@roles_required(*UPLOADERS)
@takes()
def photo_upload_cancel(upload_id: str) -> Any:
    """Cancel an upload: its staged photos are deleted. 409 while a finish holds them, or
    once the upload is finished (its photos are a flight)."""
    stage, _meta = _open(upload_id)
    check_fields(request_data() if request.is_json or request.form else {}, ())
    claimed = _claim(stage, _CANCELLING)  # a finish or a photo arriving now gets a 409
    count = sum(
        not p.name.startswith(".") and p.suffix.lower() in PHOTO_SUFFIXES for p in claimed.iterdir()
    )
    doomed = stage.with_name(f".{upload_id}.cancelled")
    os.rename(stage, doomed)  # the upload is gone: GET and finish give 404
    shutil.rmtree(doomed, ignore_errors=True)
    return jsonify({"id": upload_id, "cancelled": True, "photos": count})
