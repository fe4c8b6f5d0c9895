"""File edges shared by the plan-file writers and readers: atomic writes, decoded reads.

Every failure becomes a :class:`~missions.errors.PlanFileError` that names the file, so callers (the
CLI, the ground station) can show one line instead of a traceback.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from missions.errors import PlanFileError

__all__ = ["read_text", "write_bytes", "write_text"]


def read_text(path: str | os.PathLike[str], *, what: str) -> str:
    """The UTF-8 text of ``path`` (a leading byte-order mark is dropped)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot read {what}: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlanFileError(
            f"{path}: not a {what}: not UTF-8 text (bad byte at offset {exc.start})"
        ) from exc


def write_text(path: str | os.PathLike[str], text: str, *, what: str) -> Path:
    """Write UTF-8 text to ``path`` atomically; returns the path written."""
    return write_bytes(path, text.encode("utf-8"), what=what)


def write_bytes(path: str | os.PathLike[str], data: bytes, *, what: str) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file beside it, then rename)."""
    path = Path(path)
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot write {what}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; plan files are meant to be shared
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise PlanFileError(f"{path}: cannot write {what}: {exc.strerror or exc}") from exc
    return path
