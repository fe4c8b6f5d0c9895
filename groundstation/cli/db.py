"""`gridpatrol db`: upgrade the schema, create users and API keys, import grids, export reviews."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import click

from groundstation.cli._files import check_folder, warn_left_out
from groundstation.cli.serve import data_dir_option

__all__ = ["db_command"]


def _storage(data_dir: str | None):
    from groundstation.config import build_config
    from groundstation.storage import Storage

    config = build_config(data_dir=data_dir)
    return Storage(config["DATABASE_URL"])


def _migrated(data_dir: str | None):
    storage = _storage(data_dir)
    storage.check_migrated()
    return storage


def _check_name(name: str, what: str, *, limit: int) -> None:
    """Refuse a user or API key name that is empty, padded, longer than its column (``limit``)
    or holds unprintable characters (tabs, newlines, terminal escapes), in one line."""
    from groundstation.errors import ValidationError

    shown = repr(name if len(name) <= 40 else name[:40] + "...")
    if not name.strip() or name != name.strip():
        raise ValidationError(f"{what} name {shown} must be non-empty, without surrounding spaces")
    if len(name) > limit:
        raise ValidationError(
            f"{what} name {shown} is {len(name)} characters long; at most {limit} are allowed"
        )
    if not name.isprintable():
        raise ValidationError(
            f"{what} name {shown} holds unprintable characters (tabs, newlines, escapes); "
            "use letters, digits, spaces and punctuation"
        )


@click.group("db")
def db_command() -> None:
    """Manage the ground station database (SQLite in the data dir, or DATABASE_URL)."""


@db_command.command("upgrade")
@data_dir_option
def upgrade(data_dir: str | None) -> None:
    """Create or migrate the schema to this version and seed the default dispatch table."""
    from groundstation.storage import redact_url

    storage = _storage(data_dir)
    before = storage.current_revision()
    storage.upgrade()
    click.echo(
        f"database {redact_url(storage.url)}: {before or 'empty'} -> {storage.current_revision()}"
    )


@db_command.command("create-user")
@click.argument("name")
@click.option(
    "--role", required=True, type=click.Choice(["pilot", "supervisor", "department", "admin"])
)
@click.option(
    "--department",
    "department_code",
    default=None,
    help="Department code (required for the department role), e.g. urban_management.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin, not a prompt.")
@data_dir_option
def create_user(
    name: str, role: str, department_code: str | None, password_stdin: bool, data_dir: str | None
) -> None:
    """Create user NAME with ROLE; the password comes from a prompt or stdin."""
    from sqlalchemy import select
    from werkzeug.security import generate_password_hash

    from groundstation.errors import NotFoundError, ValidationError
    from groundstation.models import Department, User

    _check_name(name, "user", limit=User.__table__.c.username.type.length)
    if password_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise ValidationError(f"user {name!r}: password must have at least 8 characters")
    if role == "department" and not department_code:
        raise ValidationError(f"user {name!r}: the department role needs --department CODE")
    storage = _migrated(data_dir)
    with storage.session() as session:
        if session.scalar(select(User).where(User.username == name)) is not None:
            raise ValidationError(f"user {name!r} already exists")
        folded = name.casefold()
        for other in session.scalars(select(User.username)):
            if other.casefold() == folded:
                raise ValidationError(
                    f"user {name!r}: user {other!r} already exists and differs only in case; "
                    "user names differing only in case are refused (choose another name)"
                )
        department = None
        if department_code:
            department = session.scalar(
                select(Department).where(Department.code == department_code)
            )
            if department is None:
                codes = ", ".join(session.scalars(select(Department.code)))
                raise NotFoundError(f"department {department_code!r} does not exist ({codes})")
        session.add(
            User(
                username=name,
                role=role,
                password_hash=generate_password_hash(password),
                department_id=department.id if department else None,
                active=True,
            )
        )
        session.commit()
    click.echo(f"created {role} {name}")


@db_command.command("create-api-key")
@click.argument("name")
@click.option(
    "--user",
    "username",
    default=None,
    help="User the key acts as on /api/v1 (without: Open311 filing only).",
)
@data_dir_option
def create_api_key(name: str, username: str | None, data_dir: str | None) -> None:
    """Create API key NAME and print it once (only its hash is stored)."""
    from sqlalchemy import select

    from groundstation.errors import NotFoundError, ValidationError
    from groundstation.models import ApiKey, User
    from groundstation.web import hash_api_key, new_api_key

    _check_name(name, "API key", limit=ApiKey.__table__.c.name.type.length)
    storage = _migrated(data_dir)
    with storage.session() as session:
        if session.scalar(select(ApiKey).where(ApiKey.name == name)) is not None:
            raise ValidationError(f"API key {name!r} already exists")
        user = None
        if username:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                raise NotFoundError(f"user {username!r} does not exist")
        key = new_api_key()
        session.add(
            ApiKey(name=name, key_hash=hash_api_key(key), user_id=user.id if user else None)
        )
        session.commit()
    click.echo(key)


@db_command.command("revoke-api-key")
@click.argument("name")
@data_dir_option
def revoke_api_key(name: str, data_dir: str | None) -> None:
    """Revoke API key NAME: requests with it are refused from now on (the row stays, for the
    record of what it filed)."""
    from sqlalchemy import select

    from groundstation.errors import NotFoundError
    from groundstation.models import ApiKey

    storage = _migrated(data_dir)
    with storage.session() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.name == name))
        if key is None:
            raise NotFoundError(f"API key {name!r} does not exist")
        already = key.revoked
        key.revoked = True
        session.commit()
    click.echo(f"API key {name!r} {'was already' if already else 'is now'} revoked")


@db_command.command("list-api-keys")
@data_dir_option
def list_api_keys(data_dir: str | None) -> None:
    """List API keys: name, user, created, last used, revoked (never the keys themselves)."""
    from sqlalchemy import select

    from groundstation.models import ApiKey

    storage = _migrated(data_dir)
    with storage.session() as session:
        for key in session.scalars(select(ApiKey).order_by(ApiKey.name)):
            used = key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never"
            click.echo(
                f"{key.name}\t{key.user.username if key.user else '(Open311 only)'}\t"
                f"created {key.created_at.isoformat(timespec='seconds')}\tlast used {used}"
                f"{chr(9) + 'REVOKED' if key.revoked else ''}"
            )


@db_command.command("import-grids")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@data_dir_option
def import_grids_command(path: Path, data_dir: str | None) -> None:
    """Import a grid layer (GeoJSON, KML/KMZ, Shapefile): new grids added, known codes updated."""
    from groundstation.errors import ValidationError
    from groundstation.services import GridLinesError, import_grids, read_grid_file

    left_out: Counter[str] = Counter()
    try:
        grids = read_grid_file(path.read_bytes(), path.name, left_out=left_out)
    except GridLinesError as exc:  # the command line can plan lines: say how
        raise ValidationError(
            f"grid file {exc.name!r} holds lines ({exc.listed}): grids are areas (Polygon or "
            "MultiPolygon); plan a line as a corridor with gridpatrol plan --corridor-width"
        ) from None
    storage = _migrated(data_dir)
    with storage.session() as session:
        counts = import_grids(session, grids)
        session.commit()
    click.echo(f"{path.name}: {counts['created']} new, {counts['updated']} updated")
    warn_left_out(path, left_out)


@db_command.command("export-reviews")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@data_dir_option
def export_reviews_command(out_dir: Path, data_dir: str | None) -> None:
    """Write reviewed crops as OUT_DIR/<label>/<id>.jpg and OUT_DIR/labels.csv for retraining."""
    from groundstation.services import export_reviews

    check_folder(out_dir, option="OUT_DIR", what=str(out_dir))
    storage = _migrated(data_dir)
    with storage.session() as session:
        try:
            count = export_reviews(session, out_dir)
        except OSError as exc:
            raise click.FileError(str(exc.filename or out_dir), hint=exc.strerror) from None
    click.echo(f"exported {count} reviewed findings to {out_dir}")
