"""The `tusk` command line. Heavy modules are imported inside commands so --help stays fast."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from tusk import __version__

app = typer.Typer(
    name="tusk",
    help="Tusk: SQL studio, PostgreSQL admin, DuckDB analytics and Polars pipelines.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Show and change Tusk's settings (~/.tusk/config.toml).")
app.add_typer(config_app, name="config")
auth_app = typer.Typer(help="Turn multi-user login on or off and set it up (auth.db).")
app.add_typer(auth_app, name="auth")
users_app = typer.Typer(help="Manage the users and groups of multi-user mode.")
app.add_typer(users_app, name="users")
pipeline_app = typer.Typer(help="List and run saved Polars pipelines (TUSK_HOME/pipelines).")
app.add_typer(pipeline_app, name="pipeline")


def _fail(message: str, code: int = 1) -> None:
    """Print a one-line error and exit (no traceback)."""
    typer.secho(f"Error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def app_dir() -> Path:
    """Where app.py and pages/ live: inside the wheel, or the source checkout."""
    package = Path(__file__).resolve().parent
    shipped = package / "_app"
    if (shipped / "app.py").exists():
        return shipped
    return package.parent


def streamlit_flags(app_path: Path) -> list[str]:
    """The app's .streamlit/config.toml as command-line flags: Streamlit reads that file
    only from the working directory, and `tusk studio` may start anywhere."""
    from tusk.config import read_toml

    flags: list[str] = []
    settings = read_toml(app_path / ".streamlit" / "config.toml")
    for section, values in settings.items():
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if isinstance(value, bool):
                value = str(value).lower()
            flags += [f"--{section}.{key}", str(value)]
    return flags


@app.command()
def studio(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option("--port", "-p", help="Port to listen on.")] = None,
    pg_bin_path: Annotated[
        Path | None, typer.Option(help="Folder with pg_dump/pg_restore for this run.")
    ] = None,
) -> None:
    """Start the Tusk studio (Streamlit) in the foreground."""
    from tusk import config
    from tusk.errors import TuskError

    try:
        settings = config.load()
        host = host or settings["host"]
        port = port or settings["port"]
        config.SETTINGS["port"].parse(str(port))
        if pg_bin_path is not None:
            os.environ["TUSK_PG_BIN_PATH"] = config.SETTINGS["pg_bin_path"].parse(str(pg_bin_path))
        from tusk.connections import ensure_demo

        ensure_demo()
    except TuskError as exc:
        _fail(exc.message)
    base = app_dir()
    flags = streamlit_flags(base)
    if settings.get("theme"):
        flags += ["--theme.base", settings["theme"]]
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(base / "app.py"),
        "--server.address",
        str(host),
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        *flags,
    ]
    typer.echo(f"Tusk studio on http://{host}:{port}  (Ctrl+C to stop)")
    os.execv(sys.executable, cmd)


@app.command()
def version() -> None:
    """Print Tusk's version."""
    typer.echo(f"tusk {__version__}")


@app.command("help")
def help_(ctx: typer.Context) -> None:
    """Show this help."""
    parent = ctx.parent
    typer.echo((parent or ctx).get_help())


@config_app.command("show")
def config_show() -> None:
    """Print every setting with its value (defaults included)."""
    from tusk import config
    from tusk.errors import TuskError

    try:
        values = config.load()
    except TuskError as exc:
        _fail(exc.message)
    typer.echo(f"# {config.home() / config.CONFIG_FILE}")
    for key, setting in config.SETTINGS.items():
        value = values[key]
        shown = ",".join(value) if isinstance(value, list) else value
        typer.echo(f"{f'{key} = {shown}':<40}  # {setting.help}")


@config_app.command("set")
def config_set(
    key: Annotated[str, typer.Argument(help="Setting name (see `tusk config show`).")],
    value: Annotated[str, typer.Argument(help="New value.")],
) -> None:
    """Change one setting; unknown keys and bad values are refused."""
    from tusk import config
    from tusk.errors import TuskError

    try:
        stored = config.set_value(key, value)
    except TuskError as exc:
        _fail(exc.message)
    shown = ",".join(stored) if isinstance(stored, list) else stored
    typer.echo(f"{key} = {shown}")


# --- auth and users ------------------------------------------------------------------------------


def _ask_password(given: str | None, prompt: str = "Password") -> str:
    """The --password value, else a hidden prompt asked twice."""
    if given is not None:
        return given
    return typer.prompt(prompt, hide_input=True, confirmation_prompt=True)


def _auth_store():  # noqa: ANN202 - the module, imported here to keep --help light
    """tusk.auth.store, or a one-line error when `tusk auth init` has not been run."""
    from tusk.auth import store

    if not store.initialised():
        _fail("Auth is not set up yet: run `tusk auth init` first.")
    return store


@auth_app.command("init")
def auth_init(
    password: Annotated[
        str | None,
        typer.Option(help="Password for the admin user (default: admin, changed at first login)."),
    ] = None,
) -> None:
    """Create auth.db with the default groups and the admin user."""
    from tusk.auth import store
    from tusk.errors import TuskError

    try:
        user, default = store.init(password, actor="cli")
    except TuskError as exc:
        _fail(exc.message)
    typer.echo(f"Created {store.path()} with groups: {', '.join(_default_groups())}.")
    if default:
        typer.echo(
            f"Sign in as {user.username!r} with password 'admin'; "
            "you will be asked to change it at first login."
        )
    else:
        typer.echo(f"Sign in as {user.username!r} with the password you gave.")
    typer.echo(
        "Logins are off until you run `tusk auth enable` (or `tusk config set auth_mode multi`)."
    )


def _default_groups() -> list[str]:
    from tusk.auth.permissions import DEFAULT_GROUPS

    return list(DEFAULT_GROUPS)


@auth_app.command("enable")
def auth_enable() -> None:
    """Switch to multi-user mode: everyone signs in."""
    from tusk import config
    from tusk.errors import TuskError

    store = _auth_store()
    try:
        if not any(u.is_admin and u.active for u in store.list_users()):
            _fail("No active administrator exists: create one with `tusk users create --admin`.")
        config.set_value("auth_mode", "multi")
    except TuskError as exc:
        _fail(exc.message)
    typer.echo("Multi-user mode is on: `tusk studio` now asks everyone to sign in.")


@auth_app.command("disable")
def auth_disable() -> None:
    """Switch to single mode: no login, everything allowed."""
    from tusk import config
    from tusk.errors import TuskError

    try:
        config.set_value("auth_mode", "single")
    except TuskError as exc:
        _fail(exc.message)
    typer.echo("Single mode is on: no login, everything is allowed. Users are kept.")


@auth_app.command("status")
def auth_status() -> None:
    """Print the mode, the users and the groups."""
    from tusk import auth
    from tusk.auth import store
    from tusk.errors import TuskError

    try:
        typer.echo(f"Mode: {auth.mode()}")
        if not store.initialised():
            typer.echo("Users: none (run `tusk auth init`)")
            return
        users = store.list_users()
        active = sum(u.active for u in users)
        admins = sum(u.is_admin and u.active for u in users)
        typer.echo(f"Users: {len(users)} ({active} active, {admins} active admins)")
        typer.echo("Groups:")
        for group, perms, members in store.list_groups():
            typer.echo(f"  {group.name}: {members} members, {len(perms)} permissions")
    except TuskError as exc:
        _fail(exc.message)


@users_app.command("list")
def users_list() -> None:
    """List the users with their groups."""
    from tusk.errors import TuskError

    store = _auth_store()
    try:
        users = store.list_users()
        rows = [(u, ", ".join(store.groups_of(u))) for u in users]
    except TuskError as exc:
        _fail(exc.message)
    typer.echo(f"{'USERNAME':<20} {'ADMIN':<6} {'ACTIVE':<7} {'LAST LOGIN':<17} GROUPS")
    for user, groups in rows:
        last = user.last_login.strftime("%Y-%m-%d %H:%M") if user.last_login else "never"
        flags = " (must change password)" if user.must_change_password else ""
        typer.echo(
            f"{user.username:<20} {'yes' if user.is_admin else 'no':<6} "
            f"{'yes' if user.active else 'no':<7} {last:<17} {groups or '-'}{flags}"
        )


@users_app.command("create")
def users_create(
    name: Annotated[str, typer.Argument(help="Username.")],
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an administrator.")] = False,
    group: Annotated[
        list[str] | None, typer.Option("--group", "-g", help="Group to join (repeatable).")
    ] = None,
    password: Annotated[str | None, typer.Option(help="Password (prompted if not given).")] = None,
) -> None:
    """Create a user."""
    from tusk.errors import TuskError

    store = _auth_store()
    try:
        user = store.create_user(
            name, _ask_password(password), is_admin=admin, groups=group or (), actor="cli"
        )
    except TuskError as exc:
        _fail(exc.message)
    typer.echo(f"Created user {user.username!r}.")


@users_app.command("reset-password")
def users_reset_password(
    name: Annotated[str, typer.Argument(help="Username.")],
    password: Annotated[
        str | None, typer.Option(help="New password (prompted if not given).")
    ] = None,
    temporary: Annotated[
        bool, typer.Option("--temporary", help="Make the user change it at next login.")
    ] = False,
) -> None:
    """Set a new password for a user and sign them out everywhere."""
    from tusk.errors import TuskError

    store = _auth_store()
    try:
        if store.get_user(name) is None:
            _fail(f"There is no user {name!r}.")
        user = store.set_password(
            name, _ask_password(password, "New password"), must_change=temporary, actor="cli"
        )
    except TuskError as exc:
        _fail(exc.message)
    typer.echo(f"Password of {user.username!r} changed; their sessions are ended.")


@users_app.command("delete")
def users_delete(
    name: Annotated[str, typer.Argument(help="Username.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a user (never the last active administrator)."""
    from tusk.errors import TuskError

    store = _auth_store()
    if store.get_user(name) is None:
        _fail(f"There is no user {name!r}.")
    if not yes and not typer.confirm(f"Delete user {name!r}?"):
        _fail("Cancelled; nothing was deleted.")
    try:
        store.delete_user(name, actor="cli")
    except TuskError as exc:
        _fail(exc.message)
    typer.echo(f"Deleted user {name!r}.")


@users_app.command("groups")
def users_groups() -> None:
    """List the groups with their members and permissions."""
    from tusk.auth.permissions import ALL
    from tusk.errors import TuskError

    store = _auth_store()
    try:
        groups = store.list_groups()
    except TuskError as exc:
        _fail(exc.message)
    for group, perms, members in groups:
        typer.echo(f"{group.name} ({members} members): {group.description}")
        shown = [p for p in ALL if p in perms]
        typer.echo(f"  {', '.join(shown) if shown else '(no permissions)'}")


# --- pipelines -----------------------------------------------------------------------------------


@pipeline_app.command("list")
def pipeline_list() -> None:
    """List the saved pipelines with when each was last changed."""
    from tusk.errors import TuskError
    from tusk.etl import store

    try:
        saved = store.list_pipelines()
    except TuskError as exc:
        _fail(exc.message)
    if not saved:
        typer.echo("No saved pipelines (save one on the Data page).")
        return
    width = max(len(name) for name, _ in saved)
    for name, modified in saved:
        typer.echo(f"{name:<{width}}  {modified:%Y-%m-%d %H:%M}")


@pipeline_app.command("run")
def pipeline_run(
    name: Annotated[str, typer.Argument(help="Saved pipeline name (see `tusk pipeline list`).")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write the result here; .csv or .parquet picks the format."
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the output file if it exists.")
    ] = False,
    rows: Annotated[int, typer.Option(help="Rows to print without --output.", min=0)] = 10,
) -> None:
    """Run a saved pipeline: print its first rows and row count, or write it to --output."""
    from tusk.errors import TuskError
    from tusk.etl import pipeline, sinks, store

    try:
        saved = store.load(name)
        if output is not None:
            path = sinks.write_path(saved, output, overwrite=overwrite)
            size = path.stat().st_size
            typer.echo(f"Wrote {path} ({size:,} bytes).")
            return
        import polars as pl  # heavy: only once a pipeline really runs

        first = pipeline.head(saved, rows)
        count = pipeline.row_count(saved)
    except TuskError as exc:
        _fail(exc.message)
    with pl.Config(tbl_rows=rows, tbl_cols=-1, tbl_width_chars=160):
        typer.echo(first)
    typer.echo(f"{count:,} row{'' if count == 1 else 's'}")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
