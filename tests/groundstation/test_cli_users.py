"""User administration on the command line: list users, change a role, disable and enable an
account (a disabled user cannot sign in, and their open sessions and API keys stop working at
once), reset a password (which ends the sessions begun with the old one); unknown users and bad
names are one-line errors with exit status 1."""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner
from conftest import csrf_token

from groundstation.cli import cli


@pytest.fixture
def run(tmp_path):
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(cli, [*args, "--data-dir", str(tmp_path / "data")], input=input)

    assert invoke("db", "upgrade").exit_code == 0
    return invoke


@pytest.fixture
def on_env(env, monkeypatch):
    """`gridpatrol db ...` on the database of the module's app (SQLite and PostgreSQL)."""
    monkeypatch.setenv("DATABASE_URL", env.app.config["DATABASE_URL"])
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(cli, [*args, "--data-dir", str(env.data_dir)], input=input)

    return invoke


def sign_in(client, name: str, password: str):
    token = csrf_token(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": name, "password": password, "csrf_token": token})


def new_user(on_env, role: str = "supervisor", *extra: str) -> str:
    name = f"u-{uuid.uuid4().hex[:8]}"
    made = on_env("db", "create-user", name, "--role", role, *extra, input="first-password\n")
    assert made.exit_code == 0, made.output
    return name


def test_list_users_shows_name_role_department_and_state(run) -> None:
    run("db", "create-user", "wang", "--role", "supervisor", input="long-password\n")
    run("db", "create-user", "li", "--role", "department", "--department", "urban_management",
        input="long-password\n")  # fmt: skip
    assert run("db", "disable-user", "wang").exit_code == 0
    listed = run("db", "list-users")
    assert listed.exit_code == 0
    assert listed.stdout.splitlines() == [
        "li\tdepartment\turban_management\tactive",
        "wang\tsupervisor\t-\tdisabled",
    ]


def test_set_role_binds_and_unbinds_the_department(run) -> None:
    run("db", "create-user", "zhao", "--role", "pilot", input="long-password\n")
    nodept = run("db", "set-role", "zhao", "department")
    assert nodept.exit_code == 1
    assert nodept.stderr == "error: user 'zhao': the department role needs --department CODE\n"
    bad = run("db", "set-role", "zhao", "department", "--department", "police")
    assert bad.exit_code == 1 and "department 'police' does not exist (" in bad.stderr
    moved = run("db", "set-role", "zhao", "department", "--department", "urban_management")
    assert moved.stdout == "user 'zhao': pilot -> department (urban_management)\n"
    wrong = run("db", "set-role", "zhao", "admin", "--department", "urban_management")
    assert wrong.exit_code == 1 and "--department is only for the department role" in wrong.stderr
    up = run("db", "set-role", "zhao", "admin")
    assert up.stdout == "user 'zhao': department (urban_management) -> admin\n"
    assert run("db", "list-users").stdout == "zhao\tadmin\t-\tactive\n"
    assert run("db", "set-role", "zhao", "admin").stdout == "user 'zhao' is already admin\n"
    assert run("db", "set-role", "zhao", "chief").exit_code == 2  # not a role: click says so


@pytest.mark.parametrize(
    "args",
    [
        ("set-role", "nobody", "pilot"),
        ("disable-user", "nobody"),
        ("enable-user", "nobody"),
        ("unlock-user", "nobody"),
        ("reset-password", "nobody", "--generate"),
    ],
)
def test_unknown_users_are_one_line_errors(run, args) -> None:
    result = run("db", *args, input="long-password\n")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: user 'nobody' does not exist (gridpatrol db list-users lists them)\n"
    )


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("wang li", "holds ' ': user names may not hold spaces, control characters or markup"),
        ("<b>wang</b>", "holds '<', '>': user names may not hold spaces"),
        ('wang"', "holds '\"': user names"),
        ("o'brien", 'holds "\'": user names'),
        ("wang&li", "holds '&': user names"),
        ("wang\tli", "holds unprintable characters (tabs, newlines, escapes); use letters, digits"),
        ("wang\u3000li", "holds unprintable characters"),  # an ideographic (full-width) space
    ],
)
def test_create_user_refuses_spaces_control_and_markup_characters(run, name, shown) -> None:
    result = run("db", "create-user", name, "--role", "pilot", input="long-password\n")
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert shown in line and line.endswith("use letters, digits and - _ . @")
    assert run("db", "list-users").stdout == ""


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("a/b", "holds '/': user names may not hold the characters web addresses"),
        ("a\\b", "holds '\\\\': user names may not hold the characters web addresses"),
        ("wang?li", "holds '?'"),
        ("wang#1", "holds '#'"),
        ("100%", "holds '%'"),
        ("wang,li", "holds ','"),
        ("..", "is made of dots only, which web addresses drop"),
    ],
)
def test_create_user_refuses_names_web_addresses_cannot_carry(run, name, shown) -> None:
    """QA: 'a/b' was accepted; user names follow the rules of grid ids."""
    result = run("db", "create-user", name, "--role", "pilot", input="long-password\n")
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: user name {name!r} ") and shown in line, line
    assert line.endswith("use letters, digits and - _ . @")
    assert run("db", "list-users").stdout == ""


def test_create_user_refuses_a_department_for_another_role(run) -> None:
    result = run(
        "db", "create-user", "wang", "--role", "supervisor", "--department", "urban_management",
        input="long-password\n",
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr == (
        "error: user 'wang': --department is only for the department role; a supervisor is not "
        "bound to a department (leave --department out)\n"
    )
    assert run("db", "list-users").stdout == ""
    ok = run("db", "create-user", "wang.li@jy", "--role", "supervisor", input="long-password\n")
    assert ok.exit_code == 0, ok.output


def test_a_disabled_user_is_signed_out_refused_and_their_api_keys_stop(env, on_env) -> None:
    name = new_user(on_env)
    key = on_env("db", "create-api-key", f"{name}-key", "--user", name).stdout.strip()
    client = env.client()
    assert sign_in(client, name, "first-password").status_code == 302
    assert client.get("/review").status_code == 200
    api = {"Authorization": f"Bearer {key}"}
    assert env.client().get("/api/v1/tickets", headers=api).status_code == 200

    off = on_env("db", "disable-user", name)
    assert off.exit_code == 0
    assert off.stdout == (
        f"user '{name}' is disabled: they cannot sign in, their sessions have ended and their "
        "1 API key(s) are refused\n"
    )
    # the open session ends: the next page asks them to sign in, the API says 401
    page = client.get("/review")
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    assert client.get("/api/v1/tickets").status_code == 401
    refused = env.client().get("/api/v1/tickets", headers=api)  # as sign-in: 403, saying why
    assert refused.status_code == 403 and "is disabled" in refused.get_json()["error"]
    assert sign_in(env.client(), name, "first-password").status_code == 403
    assert on_env("db", "disable-user", name).stdout == f"user '{name}' is already disabled\n"

    on = on_env("db", "enable-user", name)
    assert on.exit_code == 0 and "is active again" in on.stdout
    assert sign_in(env.client(), name, "first-password").status_code == 302
    assert env.client().get("/api/v1/tickets", headers=api).status_code == 200


def test_a_disabled_user_with_the_right_password_is_told_to_ask_an_administrator(
    env, on_env
) -> None:
    """QA: a disabled user who typed the right password was told it was wrong."""
    name = new_user(on_env)
    assert on_env("db", "disable-user", name).exit_code == 0
    client = env.client()
    client.get("/lang/en")
    refused = sign_in(client, name, "first-password")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 403
    assert "Your account is disabled: ask an administrator to enable it." in page
    assert "Wrong user name or password." not in page
    # a wrong password says nothing of the account: guessing learns nothing
    guessed = sign_in(client, name, "not-the-password")
    assert guessed.status_code == 401
    assert "Wrong user name or password." in guessed.get_data(as_text=True)
    assert "disabled" not in guessed.get_data(as_text=True)
    assert client.get("/review").status_code == 302  # not signed in


def test_a_new_role_applies_to_the_next_request(env, on_env) -> None:
    name = new_user(on_env, "supervisor")
    client = env.client()
    assert sign_in(client, name, "first-password").status_code == 302
    assert client.get("/review").status_code == 200
    assert on_env("db", "set-role", name, "pilot").exit_code == 0
    assert client.get("/review").status_code == 403


def test_reset_password_ends_the_sessions_of_the_old_one(env, on_env) -> None:
    name = new_user(on_env)
    client = env.client()
    assert sign_in(client, name, "first-password").status_code == 302
    assert client.get("/review").status_code == 200

    short = on_env("db", "reset-password", name, "--password-stdin", input="short\n")
    assert short.exit_code == 1 and "at least 8 characters" in short.stderr
    assert client.get("/review").status_code == 200  # refused: nothing changed

    reset = on_env("db", "reset-password", name, "--password-stdin", input="second-password\n")
    assert reset.exit_code == 0 and reset.stdout == f"password of user '{name}' reset\n"
    assert client.get("/review").status_code == 302  # the old session has ended
    assert sign_in(env.client(), name, "first-password").status_code == 401
    assert sign_in(env.client(), name, "second-password").status_code == 302

    generated = on_env("db", "reset-password", name, "--generate")
    assert generated.exit_code == 0
    password = generated.stdout.strip().rsplit(": ", 1)[1]
    assert len(password) >= 12
    assert sign_in(env.client(), name, password).status_code == 302
    both = on_env("db", "reset-password", name, "--generate", "--password-stdin")
    assert both.exit_code == 1 and "not both" in both.stderr


@pytest.mark.parametrize("command", ["create-user", "reset-password"])
def test_a_password_the_sign_in_form_would_refuse_is_refused(env, on_env, command) -> None:
    """QA: a password of spaces only was accepted, and nobody could then sign in with it."""
    name = f"u-{uuid.uuid4().hex[:8]}" if command == "create-user" else new_user(on_env)
    role = ("--role", "pilot") if command == "create-user" else ()
    for password in (" " * 8, " " * 10, "\t" * 9):
        refused = on_env("db", command, name, *role, "--password-stdin", input=password + "\n")
        assert refused.exit_code == 1, refused.output
        assert "password is blank" in refused.stderr and len(refused.stderr.splitlines()) == 1
    assert on_env("db", command, name, *role, input="x" * 257 + "\n").exit_code == 1
    # spaces inside or around a password are kept, by the CLI and by the sign-in form alike
    kept = on_env("db", command, name, *role, "--password-stdin", input="  two words  \n")
    assert kept.exit_code == 0, kept.output
    assert sign_in(env.client(), name, "  two words  ").status_code == 302
    assert sign_in(env.client(), name, "two words").status_code == 401


def test_create_user_says_a_name_is_taken_before_judging_the_password(run) -> None:
    run("db", "create-user", "qadmin", "--role", "admin", input="long-password\n")
    for password in ("x", "long-enough-password"):
        again = run("db", "create-user", "qadmin", "--role", "admin", input=password + "\n")
        assert again.exit_code == 1
        assert again.stderr == "error: user 'qadmin' already exists\n"
    case = run("db", "create-user", "QAdmin", "--role", "pilot", input="x\n")
    assert case.exit_code == 1 and "differs only in case" in case.stderr


def test_a_revoked_api_key_is_replaced_under_its_name(env, on_env) -> None:
    """QA: a city system's key, once revoked, could not be replaced under the same name."""
    name = f"city-{uuid.uuid4().hex[:8]}"
    user = new_user(on_env)
    old = on_env("db", "create-api-key", name, "--user", user)
    assert old.exit_code == 0, old.output
    taken = on_env("db", "create-api-key", name)
    assert taken.exit_code == 1
    assert "already exists; to replace it, revoke it first" in taken.stderr
    assert f"gridpatrol db revoke-api-key {name})" in taken.stderr
    assert on_env("db", "revoke-api-key", name).stdout.endswith("is now revoked\n")

    new = on_env("db", "create-api-key", name, "--user", user)
    assert new.exit_code == 0, new.output
    assert new.stdout.startswith("gp_") and len(new.stdout.splitlines()) == 1  # the key alone
    assert "replaces the revoked key" in new.stderr
    client = env.client()
    assert client.get("/api/v1/me", headers={"X-API-Key": new.stdout.strip()}).status_code == 200
    assert client.get("/api/v1/me", headers={"X-API-Key": old.stdout.strip()}).status_code == 401
    listed = [line for line in on_env("db", "list-api-keys").stdout.splitlines()
              if line.startswith(name + "\t")]  # fmt: skip
    assert [line.endswith("REVOKED") for line in listed] == [True, False]  # the record stays
    again = on_env("db", "create-api-key", name)
    assert again.exit_code == 1 and "already exists" in again.stderr

    # revoking the name revokes the key in use; then it is revoked already
    assert on_env("db", "revoke-api-key", name).stdout.endswith("is now revoked\n")
    assert client.get("/api/v1/me", headers={"X-API-Key": new.stdout.strip()}).status_code == 401
    assert on_env("db", "revoke-api-key", name).stdout.endswith("was already revoked\n")


def test_the_last_active_admin_is_neither_demoted_nor_disabled(run) -> None:
    """QA: the only admin could be demoted or disabled, leaving nobody to run the dispatch table
    and notifiers on the web."""
    run("db", "create-user", "boss", "--role", "admin", input="long-password\n")
    refusal = "error: user 'boss' is the last active admin: make another user admin first"
    for args in (("set-role", "boss", "supervisor"), ("disable-user", "boss")):
        refused = run("db", *args)
        assert refused.exit_code == 1 and refused.stderr.startswith(refusal), refused.output
    assert run("db", "list-users").stdout.splitlines() == ["boss\tadmin\t-\tactive"]
    run("db", "create-user", "deputy", "--role", "admin", input="long-password\n")
    assert run("db", "disable-user", "boss").exit_code == 0  # another admin is left
    assert run("db", "set-role", "deputy", "pilot").exit_code == 1  # now deputy is the last


@pytest.mark.parametrize(
    ("command", "how"),
    [
        ("create-user", "give it as one line on stdin"),
        ("reset-password", "give it as one line on stdin, or use --generate"),
    ],
)
@pytest.mark.parametrize("stdin_flag", [(), ("--password-stdin",)])
def test_no_password_on_stdin_says_none_was_given_and_how_to_give_one(
    run, command, how, stdin_flag
) -> None:
    """QA: `create-user NAME </dev/null` (a script, no terminal) said "the password is blank"."""
    run("db", "create-user", "zhou", "--role", "pilot", input="long-password\n")
    name = "qian" if command == "create-user" else "zhou"
    role = ("--role", "supervisor") if command == "create-user" else ()
    result = run("db", command, name, *role, *stdin_flag, input="")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: user {name!r}: no password given (stdin is empty): run the command in a "
        f"terminal to be asked for it, or {how}"
    ]
    assert "qian" not in run("db", "list-users").stdout
