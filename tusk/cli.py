"""The `tusk` command line. Heavy modules are imported inside commands so --help stays fast."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


@contextmanager
def _exit_on_error(cleanup: Callable[[], object] | None = None) -> Iterator[None]:
    """Turn a TuskError inside the block into the one-line CLI error and exit code 1;
    `cleanup` runs first (e.g. stop a node the block started)."""
    from tusk.errors import TuskError  # here, not at the top: --help stays light

    try:
        yield
    except TuskError as exc:
        if cleanup is not None:
            cleanup()
        _fail(exc.message)


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

    def add(prefix: str, values: dict) -> None:
        for key, value in values.items():
            if isinstance(value, dict):  # [theme.light], [theme.dark]
                add(f"{prefix}.{key}", value)
                continue
            if isinstance(value, bool):
                value = str(value).lower()
            flags.extend([f"--{prefix}.{key}", str(value)])

    for section, values in read_toml(app_path / ".streamlit" / "config.toml").items():
        if isinstance(values, dict):
            add(section, values)
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

    with _exit_on_error():
        settings = config.load()
        host = host or settings["host"]
        port = port or settings["port"]
        config.SETTINGS["port"].parse(str(port))
        if pg_bin_path is not None:
            os.environ["TUSK_PG_BIN_PATH"] = config.SETTINGS["pg_bin_path"].parse(str(pg_bin_path))
        from tusk.connections import ensure_demo

        ensure_demo()
    base = app_dir()
    # No --theme.base: the theme is chosen per browser (tusk.ui.theme), not for the server.
    flags = streamlit_flags(base)
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

    with _exit_on_error():
        values = config.load()
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
    import tusk.auth  # noqa: F401 - adds auth's rule for auth_mode (multi needs users first)
    from tusk import config

    with _exit_on_error():
        stored = config.set_value(key, value)
    shown = ",".join(stored) if isinstance(stored, list) else stored
    typer.echo(f"{key} = {shown}")


# --- auth and users ------------------------------------------------------------------------------


def _ask_password(given: str | None, prompt: str = "Password") -> str:
    """The --password value, else a hidden prompt asked twice."""
    if given is not None:
        return given
    return typer.prompt(prompt, hide_input=True, confirmation_prompt=True)


def _auth_ready() -> None:
    """A one-line error when `tusk auth init` has not been run."""
    from tusk.auth.database import initialised  # here, not at the top: --help stays light

    if not initialised():
        _fail("Auth is not set up yet: run `tusk auth init` first.")


@auth_app.command("init")
def auth_init(
    password: Annotated[
        str | None,
        typer.Option(
            help="Password for the admin user (default: a generated one, printed once and "
            "changed at first sign-in). At least 12 characters, not containing 'admin'."
        ),
    ] = None,
) -> None:
    """Create auth.db with the default groups and the admin user."""
    from tusk.auth import database
    from tusk.auth.bootstrap import init

    with _exit_on_error():
        user, generated = init(password, actor="cli")
    typer.echo(f"Created {database.path()} with groups: {', '.join(_default_groups())}.")
    if generated:
        typer.echo(
            f"Sign in as {user.username!r} with the one-time password {generated} "
            "(shown only now); you will be asked to change it at first sign-in."
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
    from tusk.auth.users import list_users

    _auth_ready()
    with _exit_on_error():
        if not any(u.is_admin and u.active for u in list_users()):
            _fail("No active administrator exists: create one with `tusk users create --admin`.")
        config.set_value("auth_mode", "multi")
    typer.echo("Multi-user mode is on: `tusk studio` now asks everyone to sign in.")


@auth_app.command("disable")
def auth_disable() -> None:
    """Switch to single mode: no login, everything allowed."""
    from tusk import config

    with _exit_on_error():
        config.set_value("auth_mode", "single")
    typer.echo("Single mode is on: no login, everything is allowed. Users are kept.")


@auth_app.command("status")
def auth_status() -> None:
    """Print the mode, the users and the groups."""
    from tusk import auth
    from tusk.auth.database import initialised
    from tusk.auth.groups import list_groups
    from tusk.auth.users import list_users

    with _exit_on_error():
        typer.echo(f"Mode: {auth.mode()}")
        if not initialised():
            typer.echo("Users: none (run `tusk auth init`)")
            return
        users = list_users()
        active = sum(u.active for u in users)
        admins = sum(u.is_admin and u.active for u in users)
        typer.echo(f"Users: {len(users)} ({active} active, {admins} active admins)")
        typer.echo("Groups:")
        for group, perms, members in list_groups():
            typer.echo(f"  {group.name}: {members} members, {len(perms)} permissions")


@users_app.command("list")
def users_list() -> None:
    """List the users with their groups."""
    from tusk.auth.users import groups_of, list_users

    _auth_ready()
    with _exit_on_error():
        users = list_users()
        rows = [(u, ", ".join(groups_of(u))) for u in users]
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
    password: Annotated[
        str | None,
        typer.Option(
            help="Password (prompted if not given): at least 12 characters, not containing the "
            "user name, not one character repeated, not a common password."
        ),
    ] = None,
) -> None:
    """Create a user."""
    from tusk.auth.users import create_user

    _auth_ready()
    with _exit_on_error():
        user = create_user(
            name, _ask_password(password), is_admin=admin, groups=group or (), actor="cli"
        )
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
    from tusk.auth.users import get_user, set_password

    _auth_ready()
    with _exit_on_error():
        if get_user(name) is None:
            _fail(f"There is no user {name!r}.")
        user = set_password(
            name, _ask_password(password, "New password"), must_change=temporary, actor="cli"
        )
    typer.echo(f"Password of {user.username!r} changed; their sessions are ended.")


@users_app.command("delete")
def users_delete(
    name: Annotated[str, typer.Argument(help="Username.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a user (never the last active administrator)."""
    from tusk.auth.users import delete_user, get_user

    _auth_ready()
    if get_user(name) is None:
        _fail(f"There is no user {name!r}.")
    if not yes and not typer.confirm(f"Delete user {name!r}?"):
        _fail("Cancelled; nothing was deleted.")
    with _exit_on_error():
        delete_user(name, actor="cli")
    typer.echo(f"Deleted user {name!r}.")


@users_app.command("groups")
def users_groups() -> None:
    """List the groups with their members and permissions."""
    from tusk.auth.groups import list_groups
    from tusk.auth.permissions import ALL

    _auth_ready()
    with _exit_on_error():
        groups = list_groups()
    for group, perms, members in groups:
        typer.echo(f"{group.name} ({members} members): {group.description}")
        shown = [p for p in ALL if p in perms]
        typer.echo(f"  {', '.join(shown) if shown else '(no permissions)'}")


# --- pipelines -----------------------------------------------------------------------------------


@pipeline_app.command("list")
def pipeline_list() -> None:
    """List the saved pipelines with when each was last changed."""
    from tusk.etl import saved_pipelines

    with _exit_on_error():
        saved = saved_pipelines.list_pipelines()
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
    from tusk.etl import pipeline, saved_pipelines, sinks

    with _exit_on_error():
        saved = saved_pipelines.load(name)
        if output is not None:
            path = sinks.write_path(saved, output, overwrite=overwrite)
            size = path.stat().st_size
            typer.echo(f"Wrote {path} ({size:,} bytes).")
            return
        import polars as pl  # heavy: only once a pipeline really runs

        # One run for both: a query source is read (and spooled) once, not once for each.
        with pipeline.running(saved) as lf:
            try:
                first = lf.head(max(rows, 0)).collect()
                count = int(lf.select(pl.len()).collect(engine="streaming").item())
            except (pl.exceptions.PolarsError, OSError) as exc:
                raise pipeline.run_error(saved, exc) from None
    with pl.Config(tbl_rows=rows, tbl_cols=-1, tbl_width_chars=160):
        typer.echo(first)
    typer.echo(f"{count:,} row{'' if count == 1 else 's'}")


# --- cluster (Ray nodes running Daft) ------------------------------------------------------------

_TOKEN_HELP = (
    "Ray's dashboard and ports have no login by default: on a network others can reach, turn on "
    "Ray's token authentication. Make a token once with `ray get-auth-token --generate`, then "
    "start every node and every Tusk that submits queries with RAY_AUTH_MODE=token and the token "
    "in RAY_AUTH_TOKEN (or a file named by RAY_AUTH_TOKEN_PATH, default ~/.ray/auth_token)."
)


def _run_until_signal(stop: Callable[[], object], wait: Callable[[], object]) -> None:
    """Block in `wait()` until it returns or SIGINT/SIGTERM arrive, then call `stop()`."""
    import signal

    def _interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        wait()
    except KeyboardInterrupt:
        typer.echo("Stopping…")
    finally:
        # No second Ctrl+C may cut the stop short and leave orphaned Ray processes.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            stop()
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, previous)


@app.command(epilog=_TOKEN_HELP)
def scheduler(
    host: Annotated[
        str, typer.Option(help="Address other nodes use to reach this head (0.0.0.0: Ray picks).")
    ] = "0.0.0.0",
    port: Annotated[int, typer.Option(help="The head's GCS port (workers and clients).")] = 8814,
    dashboard_host: Annotated[
        str, typer.Option(help="Dashboard address; 0.0.0.0 exposes it to the network.")
    ] = "127.0.0.1",
    dashboard_port: Annotated[int, typer.Option(help="Ray dashboard port.")] = 8265,
    cpus: Annotated[int | None, typer.Option(help="CPUs this head offers to tasks.")] = None,
    memory: Annotated[
        str | None, typer.Option(help="Memory this head offers to tasks, e.g. 4G.")
    ] = None,
) -> None:
    """Start a Ray head node (the cluster's scheduler) in the foreground; Ctrl+C stops it."""
    from tusk.cluster import nodes

    with _exit_on_error():
        cmd = nodes.head_command(
            host=host,
            port=port,
            dashboard_host=dashboard_host,
            dashboard_port=dashboard_port,
            cpus=cpus,
            memory=nodes.parse_size(memory) if memory else None,
        )
        node = nodes.start_node("head", cmd)
    shown = "127.0.0.1" if dashboard_host == "0.0.0.0" else dashboard_host
    url = f"http://{shown}:{dashboard_port}"

    def wait() -> None:
        nodes.wait_alive(url, 1, watch=[node])
        typer.echo(f"Ray head ready: address {host if host != '0.0.0.0' else '<this host>'}:{port}")
        typer.echo(f"Dashboard: {url}  (Ctrl+C to stop)")
        node.popen.wait()

    with _exit_on_error(cleanup=node.stop):
        _run_until_signal(node.stop, wait)


@app.command(epilog=_TOKEN_HELP)
def worker(
    scheduler: Annotated[str, typer.Option(help="The head's address, HOST:PORT.")],
    host: Annotated[
        str | None, typer.Option(help="Address the other nodes use to reach this one.")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="This node's raylet port (default: any).")
    ] = None,
    cpus: Annotated[int | None, typer.Option(help="CPUs this node offers.")] = None,
    memory: Annotated[
        str | None, typer.Option(help="Memory this node offers to tasks, e.g. 4G.")
    ] = None,
) -> None:
    """Start a Ray worker node that joins the head at --scheduler; Ctrl+C stops it."""
    from tusk.cluster import client, nodes

    with _exit_on_error():
        client.check_head(scheduler)  # Ray itself would wait forever for a wrong address
        cmd = nodes.worker_command(
            scheduler,
            host=host,
            port=port,
            cpus=cpus,
            memory=nodes.parse_size(memory) if memory else None,
        )
        node = nodes.start_node("worker", cmd)
    typer.echo(f"Ray worker joining {scheduler}  (Ctrl+C to stop)")
    _run_until_signal(node.stop, node.popen.wait)
    if node.popen.returncode not in (0, None, -15):
        _fail(f"The Ray worker exited with code {node.popen.returncode}.")


@app.command(epilog=_TOKEN_HELP)
def cluster(
    workers: Annotated[
        int, typer.Option("--workers", "-w", help="Worker nodes to start.", min=0)
    ] = 2,
    port: Annotated[int, typer.Option(help="The head's GCS port.")] = 8814,
    dashboard_port: Annotated[int, typer.Option(help="Ray dashboard port.")] = 8265,
    cpus: Annotated[int | None, typer.Option(help="CPUs each worker offers.")] = None,
    memory: Annotated[
        str | None, typer.Option(help="Memory each worker offers to tasks, e.g. 2G.")
    ] = None,
) -> None:
    """Start a head and N workers on this machine, print the address; Ctrl+C stops them all."""
    import time

    from tusk.cluster import nodes

    local = nodes.LocalCluster(
        workers,
        port=port,
        dashboard_port=dashboard_port,
        worker_cpus=cpus,
        worker_memory=nodes.parse_size(memory) if memory else None,
    )

    def wait() -> None:
        typer.echo(f"Starting a Ray head and {workers} worker(s)… (logs in {local.log_dir})")
        local.start()
        typer.echo(f"Cluster ready in {local.startup_s:.1f} s: {1 + workers} nodes alive.")
        typer.echo(f"Address: {local.address}")
        typer.echo(f"Dashboard: {local.dashboard_url}")
        typer.echo("Ctrl+C to stop.", nl=True)
        sys.stdout.flush()
        while all(node.running() for node in local.nodes):
            time.sleep(0.5)
        typer.echo("A Ray node exited on its own; stopping the cluster.")

    with _exit_on_error():
        _run_until_signal(local.stop, wait)
    typer.echo("Cluster stopped.")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
