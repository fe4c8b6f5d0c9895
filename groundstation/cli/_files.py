"""The commands' files: outputs checked before the work starts and written all or nothing, and
what a grid layer read held besides grids."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import click

__all__ = ["check_folder", "check_output", "warn_left_out", "write_all"]


def warn_left_out(path: Path, left_out: Mapping[str, int]) -> None:
    """Say on stderr which features of the grid layer ``path`` were left out (by geometry type,
    e.g. markers, and no-fly zones by their kind): never dropped silently."""
    from gis.io import NO_FLY_KIND

    def counted(kind: str, n: int) -> str:
        if kind == NO_FLY_KIND:
            return f"{n} no-fly zone{'' if n == 1 else 's'} (kind {kind})"
        return f"{n} {kind}"

    if left_out:
        kinds = ", ".join(counted(kind, n) for kind, n in sorted(left_out.items()))
        click.echo(f"warning: {path.name}: left out {kinds} (not grids)", err=True)


def check_folder(folder: Path, *, option: str, what: str) -> None:
    """Refuse ``folder`` (or the nearest of its parents that exists) unless it can be written.

    ``what`` names the path in the message (the output file, or the folder itself).
    """
    existing = folder
    while not existing.exists():  # the rest is created when writing
        existing = existing.parent
    if not existing.is_dir():
        raise click.BadParameter(f"{what}: {existing} is not a folder", param_hint=option)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise click.BadParameter(f"{what}: folder {existing} is not writable", param_hint=option)


def check_output(path: Path, *, option: str, suffixes: Sequence[str] = ()) -> None:
    """Refuse an output file that is a folder, whose folder cannot be written, or (given
    ``suffixes``, lower case with the dot) whose extension is not one of them."""
    if suffixes and path.suffix.lower() not in suffixes:
        raise click.BadParameter(
            f"{path}: unknown format; use {' or '.join(suffixes)}", param_hint=option
        )
    if path.is_dir():
        raise click.BadParameter(f"{path} is a folder, not a file", param_hint=option)
    check_folder(path.parent, option=option, what=str(path))


def write_all(contents: Mapping[Path, bytes]) -> None:
    """Write every file or none: each is staged beside its target, then all are renamed."""
    staged: list[tuple[Path, Path]] = []
    current = Path()
    try:
        for current, data in contents.items():
            current.parent.mkdir(parents=True, exist_ok=True)
            temporary = current.with_name(f".{current.name}.partial")
            staged.append((temporary, current))
            temporary.write_bytes(data)
        for temporary, current in staged:
            os.replace(temporary, current)
    except OSError as exc:
        raise click.FileError(str(current), hint=exc.strerror or str(exc)) from None
    finally:
        for temporary, _ in staged:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
