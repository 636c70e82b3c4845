"""The typer CLI: help, version, config; errors are one line without a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from tusk import __version__
from tusk.cli import app, app_dir, streamlit_flags

runner = CliRunner()


def test_help_lists_the_commands() -> None:
    """`tusk --help` and `tusk help` list the commands."""
    for args in (["--help"], ["help"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0
        for command in ("studio", "config", "version"):
            assert command in result.output


def test_version() -> None:
    """`tusk version` prints the package version."""
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_config_set_and_show(tusk_home: Path) -> None:
    """config set stores a value that config show then prints."""
    assert runner.invoke(app, ["config", "set", "port", "8111"]).exit_code == 0
    shown = runner.invoke(app, ["config", "show"])
    assert shown.exit_code == 0
    assert "port = 8111" in shown.output


def test_config_set_errors_are_one_line(tusk_home: Path) -> None:
    """Unknown keys and bad values exit 1 with a single readable line."""
    for args, words in (
        (["config", "set", "nope", "1"], "Unknown setting 'nope'"),
        (["config", "set", "port", "abc"], "port must be a number"),
        (["config", "set", "theme", "purple"], "use one of light, dark"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 1
        assert words in result.output
        assert "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_help_does_not_import_heavy_modules() -> None:
    """`tusk --help` stays fast: no streamlit, duckdb, polars or psycopg import."""
    code = (
        "import sys\n"
        "from tusk.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('streamlit', 'duckdb', 'polars', 'psycopg', 'pyarrow', 'datafusion')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def test_studio_settings_become_flags() -> None:
    """The app's .streamlit/config.toml is passed as flags (nav hidden from any directory)."""
    flags = streamlit_flags(app_dir())
    i = flags.index("--client.showSidebarNavigation")
    assert flags[i + 1] == "false"
    assert (app_dir() / "app.py").exists() and (app_dir() / "pages").is_dir()
