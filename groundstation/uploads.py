"""Safe handling of uploaded files: size limits, image checks, sanitised names inside a folder.

A photo keeps two names: the one it was sent under (shown on the pages and in exports, e.g.
``航拍_001.jpg``) and the safe one its file is stored under (:func:`photo_file_name`).
Evidence photos are stored in a format browsers show (:func:`save_image`) and served by their
content, not their name (:func:`browser_image`); a TIFF is converted to PNG once per version
of its file and the conversion kept on disk (:func:`cached_png`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import unicodedata
import uuid
from pathlib import Path
from struct import error as struct_error
from typing import Any, NamedTuple

from PIL import Image, ImageOps, UnidentifiedImageError
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
    "BrowserImage",
    "browser_image",
    "cached_png",
    "declared_size",
    "pixel_limit_error",
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
#: The formats every browser shows in an ``<img>``, with their media types; others (TIFF) are
#: converted to PNG (lossless) before they are stored or served.
_BROWSER_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}
_BROWSER_SUFFIXES = {"JPEG": (".jpg", ".jpeg", ".jpe"), "PNG": (".png",)}
#: The image modes a PNG keeps as they are; others (CMYK, YCbCr, float) become RGB(A).
_PNG_MODES = frozenset({"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"})


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
                raise _too_many_pixels(name, width, height, max_pixels)
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
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard fired inside Image.open, before our check saw the size: answer
        # with our message and our limit, not Pillow's English one
        raise pixel_limit_error(data, name=name, max_pixels=max_pixels, refusal=exc) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ValidationError(
            _l("%(name)s is not an image: it is truncated or damaged", name=repr(name))
        ) from exc
    return fmt


def _too_many_pixels(name: str, width: int, height: int, limit: int) -> TooLargeError:
    return TooLargeError(
        _l(
            "%(name)s is %(width)d×%(height)d pixels, more than the %(max)s allowed",
            name=repr(name),
            width=width,
            height=height,
            max=f"{limit:,}",
        )
    )


def pixel_limit_error(
    data: bytes, *, name: str, max_pixels: int, refusal: Exception
) -> TooLargeError:
    """Our error (translated, naming our limit) for an image whose opening Pillow's
    decompression-bomb guard refused with ``refusal`` (its error, or its warning turned into
    one): its size against ``max_pixels`` when it is over it, else against the limit Pillow
    applied (a setting above Pillow's: Pillow cannot open it, so that is the limit in force)."""
    error = isinstance(refusal, Image.DecompressionBombError)
    size = declared_size(data)
    if size is None:
        return TooLargeError(
            _l(
                "%(name)s declares more pixels than the %(max)s allowed",
                name=repr(name),
                max=f"{max_pixels:,}",
            )
        )
    width, height = size
    pillow_limit = (Image.MAX_IMAGE_PIXELS or 0) * (2 if error else 1)
    limit = max_pixels if width * height > max_pixels else min(max_pixels, pillow_limit)
    return _too_many_pixels(name, width, height, limit)


def declared_size(data: bytes) -> tuple[int, int] | None:
    """The (width, height) a JPEG, PNG or TIFF header declares, read by the format's Pillow
    plugin directly: :func:`PIL.Image.open` refuses a huge image before telling its size. Only
    the header is parsed; None when no plugin reads it."""
    Image.init()
    for fmt in sorted(IMAGE_FORMATS):
        factory, accept = Image.OPEN[fmt]
        if accept is not None and not accept(data[:16]):
            continue
        try:
            with factory(io.BytesIO(data)) as image:
                return image.size
        except (OSError, SyntaxError, ValueError, IndexError, KeyError, struct_error):
            continue
    return None


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
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> tuple[Path, str]:
    """Check an uploaded image (:func:`read_photo`) and save it inside ``folder`` in a format
    browsers show: JPEG and PNG as sent, TIFF converted to PNG (lossless). Returns the stored
    path and the name the image was sent under (:func:`sent_name`, e.g. ``处置后照片.jpg``: keep
    it for display). The stored name is ASCII (:func:`photo_file_name`) with the stored format's
    extension and a random prefix, so two uploads of one name never overwrite each other."""
    sent, data, fmt = read_photo(upload, limit=limit, max_pixels=max_pixels)
    if fmt not in _BROWSER_FORMATS:
        data, fmt = _to_png(data), "PNG"
    stem = Path(photo_file_name(sent or "image", fmt)).stem
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex[:8]}_{stem}{_EXTENSIONS[fmt]}"
    path.write_bytes(data)
    return path, sent


class BrowserImage(NamedTuple):
    """A stored image as it is sent to a browser (:func:`browser_image`)."""

    #: the stored file itself, or its PNG conversion
    body: Path | io.BytesIO
    mimetype: str
    #: the name to offer, with the extension of what is sent
    download_name: str


def browser_image(path: Path, *, name: str, cache_dir: Path | None = None) -> BrowserImage:
    """The stored image at ``path`` as a browser shows it, its type read from its content and
    not its file name (evidence stored before names kept an extension is ``0f705f67_jpg``): JPEG
    and PNG as they are, a TIFF (a GeoTIFF photo, or evidence stored before TIFFs were
    converted) converted to PNG, anything else as ``application/octet-stream``. ``name``: the
    name it was sent under, offered with the extension of what is sent (``处置后照片.tif`` is
    offered as ``处置后照片.png``). With ``cache_dir`` the conversion is a file kept there
    (:func:`cached_png`), so it is made once and can be answered conditionally (ETag,
    Last-Modified); without, it is made in memory on every call."""
    try:
        with Image.open(path) as image:
            fmt = image.format or ""
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        fmt = ""
    if fmt in _BROWSER_FORMATS:
        body: Path | io.BytesIO = path
    elif fmt in IMAGE_FORMATS:
        body = cached_png(path, cache_dir) if cache_dir else io.BytesIO(_to_png(path.read_bytes()))
        fmt = "PNG"
    else:
        return BrowserImage(path, "application/octet-stream", name)
    suffixes = _BROWSER_SUFFIXES[fmt]
    if not name.lower().endswith(suffixes):
        name = Path(name).stem + suffixes[0] if Path(name).suffix else name + suffixes[0]
    return BrowserImage(body, _BROWSER_FORMATS[fmt], name)


def cached_png(path: Path, cache_dir: Path) -> Path:
    """The PNG conversion (:func:`_to_png`) of the image at ``path``, kept in ``cache_dir``
    under the file's identity (its resolved path, size and mtime): converted on first use and
    again once the file changes, when the older conversion is removed. The conversion carries
    the source's mtime, so its Last-Modified and ETag follow the source."""
    stat = path.stat()
    ident = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:24]
    dest = cache_dir / f"{ident}-{stat.st_size}-{stat.st_mtime_ns}.png"
    if dest.is_file():
        return dest
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".png.part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(_to_png(path.read_bytes()))
        os.utime(tmp, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        os.replace(tmp, dest)  # atomic: a concurrent reader never sees half a PNG
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for old in cache_dir.glob(f"{ident}-*.png"):
        if old != dest:
            with contextlib.suppress(OSError):
                old.unlink()
    return dest


def _to_png(data: bytes) -> bytes:
    """A checked image (its first page) as PNG bytes, turned upright by its orientation tag
    (a PNG has none for the browser to follow)."""
    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened)
        if image.mode not in _PNG_MODES:
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        out = io.BytesIO()
        image.save(out, "PNG")
    return out.getvalue()
