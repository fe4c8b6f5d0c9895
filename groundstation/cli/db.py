"""`gridpatrol db`: upgrade the schema, manage users (and their sign-in locks) and API keys, import
grids, export reviews."""

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


def _sign_in_locks(data_dir: str | None):
    """The lockout rule `serve` applies, from the same settings (LOGIN_MAX_FAILURES, ...)."""
    from groundstation.config import build_config
    from groundstation.signin_locks import SignInLocks

    return SignInLocks.from_config(build_config(data_dir=data_dir))


def _cleared_text(cleared) -> str:
    """What clearing a user's failed sign-ins did, to end a command's line ('' if nothing)."""
    if not cleared.addresses:
        return ""
    return (
        f"; failed sign-ins from {cleared.addresses} address(es) cleared "
        f"({cleared.locked} of them locked)"
    )


def _migrated(data_dir: str | None):
    storage = _storage(data_dir)
    storage.check_migrated()
    return storage


def _check_name(
    name: str, what: str, *, limit: int, hint: str = "use letters, digits, spaces and punctuation"
) -> None:
    """Refuse a user or API key name that is empty, padded, longer than its column (``limit``)
    or holds unprintable characters (tabs, newlines, terminal escapes), in one line; ``hint``
    says what to use instead."""
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
            f"{what} name {shown} holds unprintable characters (tabs, newlines, escapes); {hint}"
        )


#: Characters a user name may not hold besides spaces and control characters: the pages show
#: names (ticket archives, review decisions), so no markup.
_NAME_MARKUP = frozenset("<>&\"'`")

ROLE_CHOICE = click.Choice(["pilot", "supervisor", "department", "admin"])


def _check_user_name(name: str, *, limit: int) -> None:
    """:func:`_check_name`, and no spaces, markup or web-address characters anywhere and not
    dots only (as grid ids): a user name is one word typed at sign-in and shown on the pages."""
    from groundstation.errors import ValidationError
    from groundstation.services import GRID_ID_REFUSED

    hint = "use letters, digits and - _ . @"
    _check_name(name, "user", limit=limit, hint=hint)
    bad = sorted({c for c in name if c.isspace() or c in _NAME_MARKUP})
    if bad:
        raise ValidationError(
            f"user name {name[:40]!r} holds {', '.join(repr(c) for c in bad)}: user names may "
            f"not hold spaces, control characters or markup (< > & \" ' `); {hint}"
        )
    # the rules of grid ids, which also travel in web addresses and comma-separated filters
    bad = sorted({c for c in name if c in GRID_ID_REFUSED})
    if bad:
        raise ValidationError(
            f"user name {name[:40]!r} holds {', '.join(repr(c) for c in bad)}: user names may "
            f"not hold the characters web addresses and lists treat specially (/ \\ ? # % ,); "
            f"{hint}"
        )
    if not name.strip("."):
        raise ValidationError(
            f"user name {name!r} is made of dots only, which web addresses drop; {hint}"
        )


def _check_department_option(name: str, role: str, department_code: str | None) -> None:
    """Refuse --department for a role that is not bound to a department."""
    from groundstation.errors import ValidationError

    if department_code and role != "department":
        raise ValidationError(
            f"user {name!r}: --department is only for the department role; a {role} is not "
            "bound to a department (leave --department out)"
        )


#: The longest password the sign-in form takes (auth.LoginForm).
MAX_PASSWORD_LENGTH = 256


def _read_password(name: str, password_stdin: bool, *, can_generate: bool = False) -> str:
    """A new password from stdin (``--password-stdin``, or stdin not a terminal) or a prompt
    asked twice; 8 to 256 characters, not spaces only: what the sign-in form accepts (it keeps
    spaces as typed, and refuses a password of spaces only as empty). ``can_generate``: the
    command has ``--generate``, which an empty stdin's message then offers."""
    from groundstation.errors import ValidationError

    if password_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        if not line:  # end of input at once: e.g. </dev/null or a script without a pipe
            generate = ", or use --generate" if can_generate else ""
            raise ValidationError(
                f"user {name!r}: no password given (stdin is empty): run the command in a "
                f"terminal to be asked for it, or give it as one line on stdin{generate}"
            )
        password = line.rstrip("\r\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    if not password.strip():
        raise ValidationError(
            f"user {name!r}: the password is blank (spaces only); the sign-in form refuses a "
            "blank password, so nobody could sign in with it"
        )
    if len(password) < 8:
        raise ValidationError(f"user {name!r}: password must have at least 8 characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError(
            f"user {name!r}: password must have at most {MAX_PASSWORD_LENGTH} characters "
            "(the sign-in form takes no more)"
        )
    return password


def _user(session, name: str):
    """The user called ``name``; NotFoundError naming it otherwise."""
    from sqlalchemy import select

    from groundstation.errors import NotFoundError
    from groundstation.models import User

    user = session.scalar(select(User).where(User.username == name))
    if user is None:
        raise NotFoundError(f"user {name!r} does not exist (gridpatrol db list-users lists them)")
    return user


def _keep_an_admin(session, user, name: str) -> None:
    """Refuse to take the last active admin's role or access: nobody could then edit the
    dispatch table or notifiers on the web."""
    from sqlalchemy import func, select

    from groundstation.errors import ValidationError
    from groundstation.models import User

    if user.role != "admin" or not user.active:
        return
    others = session.scalar(
        select(func.count(User.id)).where(
            User.role == "admin", User.active.is_(True), User.id != user.id
        )
    )
    if not others:
        raise ValidationError(
            f"user {name!r} is the last active admin: make another user admin first "
            "(gridpatrol db set-role NAME admin, or create-user NAME --role admin)"
        )


def _department(session, code: str):
    """The department with ``code``; NotFoundError listing the codes otherwise."""
    from sqlalchemy import select

    from groundstation.errors import NotFoundError
    from groundstation.models import Department

    department = session.scalar(select(Department).where(Department.code == code))
    if department is None:
        codes = ", ".join(session.scalars(select(Department.code).order_by(Department.code)))
        raise NotFoundError(f"department {code!r} does not exist ({codes})")
    return department


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
@click.option("--role", required=True, type=ROLE_CHOICE)
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
    from werkzeug.security import generate_password_hash

    from groundstation.errors import ValidationError
    from groundstation.models import User

    _check_user_name(name, limit=User.__table__.c.username.type.length)
    _check_department_option(name, role, department_code)
    if role == "department" and not department_code:
        raise ValidationError(f"user {name!r}: the department role needs --department CODE")
    storage = _migrated(data_dir)
    with storage.session() as session:  # a taken name is said before a password is asked for
        _check_new_user_name(session, name)
        if department_code:
            _department(session, department_code)
    password = _read_password(name, password_stdin)
    with storage.session() as session:
        _check_new_user_name(session, name)
        department = _department(session, department_code) if department_code else None
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


def _check_new_user_name(session, name: str) -> None:
    """Refuse ``name`` when a user has it, or has it differing only in case."""
    from sqlalchemy import select

    from groundstation.errors import ValidationError
    from groundstation.models import User

    if session.scalar(select(User).where(User.username == name)) is not None:
        raise ValidationError(f"user {name!r} already exists")
    folded = name.casefold()
    for other in session.scalars(select(User.username)):
        if other.casefold() == folded:
            raise ValidationError(
                f"user {name!r}: user {other!r} already exists and differs only in case; "
                "user names differing only in case are refused (choose another name)"
            )


@db_command.command("list-users")
@data_dir_option
def list_users(data_dir: str | None) -> None:
    """List users: name, role, department (- for none), active or disabled, and whether
    sign-in is locked (from how many addresses, until when in UTC)."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from groundstation.models import User

    storage = _migrated(data_dir)
    locks = _sign_in_locks(data_dir)
    with storage.session() as session:
        query = select(User).options(selectinload(User.department)).order_by(User.username)
        users = list(session.scalars(query))
        locked = locks.locked_users(session, [user.username for user in users])
        for user in users:
            department = user.department.code if user.department else "-"
            state = "active" if user.active else "disabled"
            if lock := locked.get(user.username):
                until = lock.until.strftime("%Y-%m-%d %H:%M:%S")
                state += f", sign-in locked from {lock.addresses} address(es) until {until} UTC"
            click.echo(f"{user.username}\t{user.role}\t{department}\t{state}")


@db_command.command("set-role")
@click.argument("name")
@click.argument("role", type=ROLE_CHOICE)
@click.option(
    "--department",
    "department_code",
    default=None,
    help="Department code for the department role (a department user keeps theirs without).",
)
@data_dir_option
def set_role(name: str, role: str, department_code: str | None, data_dir: str | None) -> None:
    """Give user NAME the role ROLE; it applies to their next request (page or API key), so
    their open sessions go on with the new role (disable-user ends sessions)."""
    from groundstation.errors import ValidationError

    _check_department_option(name, role, department_code)
    storage = _migrated(data_dir)
    with storage.session() as session:
        user = _user(session, name)
        before = _role_text(user)
        if role != "admin":
            _keep_an_admin(session, user, name)
        if role == "department":
            if department_code:
                user.department_id = _department(session, department_code).id
            elif user.role != "department" or user.department_id is None:
                raise ValidationError(f"user {name!r}: the department role needs --department CODE")
        else:
            user.department_id = None  # only department users are bound to one
        user.role = role
        session.flush()
        session.refresh(user)
        after = _role_text(user)
        session.commit()
    click.echo(
        f"user {name!r}: {before} -> {after}"
        if before != after
        else f"user {name!r} is already {after}"
    )


def _role_text(user) -> str:
    return f"{user.role} ({user.department.code})" if user.department else user.role


@db_command.command("disable-user")
@click.argument("name")
@data_dir_option
def disable_user(name: str, data_dir: str | None) -> None:
    """Disable user NAME: they cannot sign in, their open sessions end for good and their API
    keys are refused (the account and everything it did stay on record; enable-user lets them
    sign in again and their keys work again)."""
    _set_active(name, False, data_dir)


@db_command.command("enable-user")
@click.argument("name")
@data_dir_option
def enable_user(name: str, data_dir: str | None) -> None:
    """Enable user NAME again after disable-user (they must sign in anew: the sessions that
    ended stay ended); their failed sign-ins are cleared too."""
    _set_active(name, True, data_dir)


@db_command.command("unlock-user")
@click.argument("name")
@data_dir_option
def unlock_user(name: str, data_dir: str | None) -> None:
    """Lift user NAME's sign-in lock: forget their failed sign-ins from every address
    (reset-password and enable-user do so too)."""
    storage = _migrated(data_dir)
    locks = _sign_in_locks(data_dir)
    with storage.session() as session:
        _user(session, name)
        cleared = locks.clear_user(session, name)
    if cleared.locked:
        click.echo(
            f"user {name!r} unlocked: sign-in was locked from {cleared.locked} address(es); "
            f"failed sign-ins from {cleared.addresses} address(es) cleared"
        )
    elif cleared.addresses:
        click.echo(
            f"user {name!r} was not locked; failed sign-ins from {cleared.addresses} "
            "address(es) cleared"
        )
    else:
        click.echo(f"user {name!r} was not locked (no recent failed sign-ins)")


def _set_active(name: str, active: bool, data_dir: str | None) -> None:
    from sqlalchemy import func, select

    from groundstation.models import ApiKey
    from groundstation.user_sessions import end_user_sessions

    storage = _migrated(data_dir)
    with storage.session() as session:
        user = _user(session, name)
        if not active:
            _keep_an_admin(session, user, name)
            end_user_sessions(session, user.id)  # for good: enabling brings none back
        already = user.active == active
        user.active = active
        keys = session.scalar(
            select(func.count(ApiKey.id)).where(
                ApiKey.user_id == user.id, ApiKey.revoked.is_(False)
            )
        )
        session.commit()
        cleared = _sign_in_locks(data_dir).clear_user(session, name) if active else None
    if already:
        click.echo(
            f"user {name!r} is already {'active' if active else 'disabled'}"
            + (_cleared_text(cleared) if cleared else "")
        )
    elif active:
        click.echo(
            f"user {name!r} is active again: they can sign in (their sessions from before stay "
            f"ended), and their {keys} API key(s) work" + _cleared_text(cleared)
        )
    else:
        click.echo(
            f"user {name!r} is disabled: they cannot sign in, their sessions have ended and their "
            f"{keys} API key(s) are refused"
        )


@db_command.command("reset-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin, not a prompt.")
@click.option("--generate", is_flag=True, help="Make up a random password and print it (once).")
@data_dir_option
def reset_password(name: str, password_stdin: bool, generate: bool, data_dir: str | None) -> None:
    """Give user NAME a new password (from a prompt, stdin or --generate); their open sessions
    end, so whoever knew the old password is signed out, and their failed sign-ins are cleared."""
    import secrets

    from werkzeug.security import generate_password_hash

    from groundstation.errors import ValidationError
    from groundstation.user_sessions import end_user_sessions

    if generate and password_stdin:
        raise ValidationError("give --generate or --password-stdin, not both")
    storage = _migrated(data_dir)
    with storage.session() as session:
        _user(session, name)  # an unknown user is said before a password is asked for
    password = (
        secrets.token_urlsafe(12)
        if generate
        else _read_password(name, password_stdin, can_generate=True)
    )
    with storage.session() as session:
        user = _user(session, name)
        user.password_hash = generate_password_hash(password)
        end_user_sessions(session, user.id)
        session.commit()
        cleared = _cleared_text(_sign_in_locks(data_dir).clear_user(session, name))
    if generate:
        click.echo(f"password of user {name!r} reset{cleared}; the new password: {password}")
    else:
        click.echo(f"password of user {name!r} reset{cleared}")


@db_command.command("create-api-key")
@click.argument("name")
@click.option(
    "--user",
    "username",
    default=None,
    help="User the key acts as on /api/v1 and Open311 (without: a city system's, Open311 only).",
)
@data_dir_option
def create_api_key(name: str, username: str | None, data_dir: str | None) -> None:
    """Create API key NAME and print it once (only its hash is stored). A revoked key's name
    may be given again: the new key replaces it (tickets are filed under the name), and the
    revoked key stays listed as the record of its use."""
    from sqlalchemy import select

    from groundstation.errors import NotFoundError, ValidationError
    from groundstation.models import ApiKey, User
    from groundstation.web import hash_api_key, new_api_key

    _check_name(name, "API key", limit=ApiKey.__table__.c.name.type.length)
    storage = _migrated(data_dir)
    with storage.session() as session:
        named = select(ApiKey.revoked).where(ApiKey.name == name)
        if session.scalar(named.where(ApiKey.revoked.is_(False))) is not None:
            raise ValidationError(
                f"API key {name!r} already exists; to replace it, revoke it first "
                f"(gridpatrol db revoke-api-key {name}), then create it again"
            )
        replaces = session.scalar(named.limit(1)) is not None  # revoked ones only, by now
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
    if replaces:  # on stderr: stdout is the key alone, for scripts
        click.echo(f"API key {name!r} replaces the revoked key of that name", err=True)
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
        # the key in use under the name, else the latest revoked one
        query = select(ApiKey).where(ApiKey.name == name)
        key = session.scalar(query.order_by(ApiKey.revoked, ApiKey.id.desc()).limit(1))
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
        for key in session.scalars(select(ApiKey).order_by(ApiKey.name, ApiKey.id)):
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
    """Import a grid layer (GeoJSON, KML/KMZ, Shapefile): new grids added, known codes updated
    (or counted unchanged); what the layer holds besides grids (markers, no-fly zones) is named
    on stderr."""
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
    click.echo(
        f"{path.name}: {counts['created']} new, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged"
    )
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
