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


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
