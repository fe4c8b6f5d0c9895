"""Safe handling of uploaded files: size limits, image checks, sanitised names inside a folder.

A photo keeps two names: the one it was sent under (shown on the pages and in exports, e.g.
``航拍_001.jpg``) and the safe one its file is stored under (:func:`photo_file_name`).
"""

from __future__ import annotations

import hashlib
import io
import unicodedata
import uuid
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from groundstation.config import DEFAULTS
from groundstation.errors import TooLargeError, ValidationError
from groundstation.i18n import lazy_message as _l
from groundstation.ingest import PHOTO_SUFFIXES

__all__ = [
    "IMAGE_FORMATS",
    "MAX_IMAGE_PIXELS",
    "read_limited",
    "check_image",
    "read_photo",
    "save_image",
    "safe_name",
    "sent_name",
    "photo_file_name",
    "MAX_NAME",
    "MAX_SENT_NAME",
]

IMAGE_FORMATS = frozenset({"JPEG", "PNG", "TIFF"})
#: Most pixels an uploaded image may declare (a 45 MP full-frame drone camera fits): a small
#: PNG or TIFF can declare gigapixels and take gigabytes to decode (a decompression bomb).
#: The setting's default; the app passes its configured value.
MAX_IMAGE_PIXELS: int = DEFAULTS["MAX_IMAGE_PIXELS"]
#: Longest stored file name kept as sent; longer ones are shortened (with a hash).
MAX_NAME = 150
#: Longest name a photo may be sent under (no file system keeps a longer one).
MAX_SENT_NAME = 255
_EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "TIFF": ".tif"}


def safe_name(filename: str | None, *, default: str = "upload") -> str:
    """A file name without directories, dots-only names or odd characters."""
    name = secure_filename(Path(filename or "").name)
    return name or default


def sent_name(upload: FileStorage) -> str:
    """The name a file was sent under, without any folders, control characters or lone
    surrogates (no database stores them); a :class:`ValidationError` when it is longer than
    :data:`MAX_SENT_NAME` characters."""
    name = Path((upload.filename or "").replace("\\", "/")).name
    if len(name) > MAX_SENT_NAME:
        raise ValidationError(
            _l(
                "photo name %(name)s is longer than %(max)d characters",
                name=repr(name[:40] + "…"),
                max=MAX_SENT_NAME,
            )
        )
    return "".join(c for c in name if unicodedata.category(c) not in ("Cc", "Cs"))


def photo_file_name(original: str, image_format: str) -> str:
    """The safe name a photo sent as ``original`` is stored under: the name itself when it is a
    plain ASCII photo name, else a sanitised stem, a hash of the original and the photo's
    extension, so two names that sanitise alike never collide and a retry maps to the same file.

    :func:`werkzeug.utils.secure_filename` keeps ASCII only (``航拍_001.jpg`` becomes
    ``001.jpg``, ``航拍.jpg`` becomes ``jpg``): the name sent is kept apart, for display.

    >>> photo_file_name("DJI_0001.JPG", "JPEG")
    'DJI_0001.JPG'
    >>> photo_file_name("航拍_001.jpg", "JPEG")
    '001-27102c0d84.jpg'
    """
    safe = secure_filename(original)
    if safe == original and Path(safe).suffix.lower() in PHOTO_SUFFIXES and len(safe) <= MAX_NAME:
        return safe
    digest = hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    stem, suffix = Path(original).stem, Path(original).suffix
    if suffix.lower() not in PHOTO_SUFFIXES:
        stem, suffix = original, _EXTENSIONS.get(image_format, ".jpg")
    stem = secure_filename(stem)[:MAX_NAME] or "photo"
    return f"{stem}-{digest}{suffix}"


def read_limited(upload: FileStorage, limit: int, *, what: Any) -> bytes:
    """The upload's bytes, refusing more than ``limit`` (:class:`TooLargeError`, HTTP 413);
    ``what`` names the file (a lazy message: it reads in the reader's language)."""
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise TooLargeError(
            _l(
                "%(what)s %(name)s is larger than %(limit)d MiB",
                what=what,
                name=repr(upload.filename),
                limit=limit // 2**20,
            )
        )
    if not data:
        raise ValidationError(
            _l("%(what)s %(name)s is empty", what=what, name=repr(upload.filename))
        )
    return data


def check_image(data: bytes, *, name: str, max_pixels: int = MAX_IMAGE_PIXELS) -> str:
    """The format of ``data``; raise unless it is a whole JPEG, PNG or TIFF Pillow can read, of
    at most ``max_pixels`` pixels (checked from its header, before anything is decoded)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt = image.format or ""
            width, height = image.size
            if width * height > max_pixels:
                raise TooLargeError(
                    _l(
                        "%(name)s is %(width)d×%(height)d pixels, more than the %(max)s allowed",
                        name=repr(name),
                        width=width,
                        height=height,
                        max=f"{max_pixels:,}",
                    )
                )
            image.verify()
        if fmt not in IMAGE_FORMATS:
            raise ValidationError(
                _l(
                    "%(name)s is a %(format)s image; use JPEG, PNG or TIFF",
                    name=repr(name),
                    format=fmt or "unknown",
                )
            )
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # verify() misses a JPEG cut short: decode it whole
    except UnidentifiedImageError as exc:
        raise ValidationError(
            _l("%(name)s is not an image (JPEG, PNG or TIFF expected)", name=repr(name))
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ValidationError(
            _l("%(name)s has too many pixels (%(detail)s)", name=repr(name), detail=exc)
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValidationError(
            _l("%(name)s is not an image: it is truncated or damaged", name=repr(name))
        ) from exc
    return fmt


def read_photo(upload: FileStorage, *, limit: int, max_pixels: int) -> tuple[str, bytes, str]:
    """An uploaded photo read (at most ``limit`` bytes) and checked (:func:`check_image`): the
    name it was sent under (:func:`sent_name`), its bytes and its image format."""
    data = read_limited(upload, limit, what=_l("image"))
    sent = sent_name(upload)
    return sent, data, check_image(data, name=sent, max_pixels=max_pixels)


def save_image(
    upload: FileStorage,
    folder: Path,
    *,
    limit: int,
    unique: bool = True,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> Path:
    """Check and save an uploaded image inside ``folder``; return its path."""
    data = read_limited(upload, limit, what=_l("image"))
    check_image(data, name=upload.filename or "upload", max_pixels=max_pixels)
    name = safe_name(upload.filename, default="image.jpg")
    if unique:
        name = f"{uuid.uuid4().hex[:8]}_{name}"
    folder.mkdir(parents=True, exist_ok=True)
    path = (folder / name).resolve()
    if folder.resolve() not in path.parents:
        raise ValidationError(
            _l("file name %(name)s escapes its folder", name=repr(upload.filename))
        )
    path.write_bytes(data)
    return path
