"""Issue 13, case 7b and the Medium "corrupt state files" cases: a typo in config.toml never
turns login off, and a damaged or mistyped state file is a clear error naming the file and
the problem, with a copy of the bad file kept aside — never a traceback, never a silent
replacement.

Decision for 7b: Tusk refuses to start (`tusk studio` exits with the message; every page
shows it and stops) when config.toml holds anything but exactly "single" or "multi", and
`tusk.auth.mode()` fails closed meanwhile: anything but a valid "single" is multi-user.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.ui.conftest import STUDIO, open_app, open_page, settle, studio_side
from tusk import auth, config, connections
from tusk.auth import database, passwords
from tusk.auth.bootstrap import init
from tusk.auth.database import initialised
from tusk.cli import app
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput
from tusk.store import history, saved
from tusk.ui.studio.tabs import DRAFTS_FILE

runner = CliRunner()


@pytest.fixture(autouse=True)
def _never_start_streamlit(monkeypatch: pytest.MonkeyPatch) -> None:
    """`tusk studio` must refuse before it replaces the test process with Streamlit."""

    def started(*_args: object) -> None:
        raise AssertionError("tusk studio started Streamlit despite a bad config.toml")

    monkeypatch.setattr(os, "execv", started)


def _write(home: Path, name: str, data: bytes) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / name
    path.write_bytes(data)
    return path


def _shown(element_values: list[str]) -> str:
    """Page messages as plain text (show_error escapes Markdown)."""
    return " ".join(element_values).replace("\\", "")


def _copies(path: Path) -> list[Path]:
    return sorted(p for p in path.parent.glob(path.name + ".bad-*") if not p.name.endswith("-wal"))


# --- 7b: a typo must never turn login off -------------------------------------------------------


@pytest.mark.parametrize("value", ['"Multi"', '"MULTI"', '"multi "', '"Single"', '""', "1", "true"])
def test_a_mistyped_auth_mode_fails_closed_and_is_named(tusk_home: Path, value: str) -> None:
    """auth_mode = "Multi" (and every other near miss) means multi-user — nothing allowed to
    nobody — and config.load names the file, the key and the value."""
    path = _write(tusk_home, "config.toml", f"auth_mode = {value}\n".encode())
    assert auth.mode() == "multi"
    assert not auth.allowed(None, "queries.execute")
    with pytest.raises(BadInput) as caught:
        config.load()
    message = caught.value.message
    assert str(path) in message and "auth_mode" in message and '"single" or "multi"' in message


def test_exact_modes_still_work(tusk_home: Path) -> None:
    """Exactly "single" is single-user; no file is single-user too (a fresh install)."""
    assert auth.mode() == "single"
    _write(tusk_home, "config.toml", b'auth_mode = "single"\n')
    assert auth.mode() == "single" and auth.allowed(None, "queries.execute")
    _write(tusk_home, "config.toml", b'auth_mode = "multi"\n')
    assert auth.mode() == "multi"


def test_studio_refuses_to_start_on_a_mistyped_mode(tusk_home: Path) -> None:
    """`tusk studio` exits 1 with the file, key and value before starting anything."""
    path = _write(tusk_home, "config.toml", b'auth_mode = "Multi"\n')
    result = runner.invoke(app, ["studio"])
    assert result.exit_code == 1
    assert str(path) in result.output and 'auth_mode = "Multi"' in result.output
    assert "Traceback" not in result.output


def test_the_app_shows_the_mistyped_mode_and_lets_nobody_in(tusk_home: Path) -> None:
    """Every page says what is wrong with config.toml and stops: no page content, no login
    bypass, no traceback."""
    _write(tusk_home, "config.toml", b'auth_mode = "MULTI"\n')
    at = open_app()
    assert not at.exception
    shown = _shown([e.value for e in at.error])
    assert "config.toml" in shown and "auth_mode" in shown
    assert not at.tabs  # Home's content was not drawn
    at.switch_page(STUDIO).run()
    assert not at.exception and "auth_mode" in _shown([e.value for e in at.error])
    assert "studio_tabs" not in at.session_state


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("default_limit = 'lots'", "default_limit"),
        ('port = "x"', "port"),
        ("port = 99999", "port"),
        ('data_roots = "/tmp"', "data_roots"),
        ("data_roots = [1, 2]", "data_roots"),
        ("theme = 3", "theme"),
        ("upload_max_mb = true", "upload_max_mb"),
        ('host = "a\\u0000b"', "host"),
        ("pg_bin_path = []", "pg_bin_path"),
    ],
)
def test_wrong_typed_settings_are_named(tusk_home: Path, line: str, key: str) -> None:
    """A value config.toml holds is checked like `tusk config set` checks it: file, key and
    problem in the message, for load(), `tusk config show` and `tusk studio`."""
    path = _write(tusk_home, "config.toml", (line + "\n").encode())
    with pytest.raises(BadInput) as caught:
        config.load()
    assert str(path) in caught.value.message and f"{key} = " in caught.value.message
    for command in (["config", "show"], ["studio"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1 and key in result.output, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_bad_value_can_be_fixed_with_config_set(tusk_home: Path) -> None:
    """The way out the message names works: `tusk config set` rewrites the bad key, keeping
    the others."""
    _write(tusk_home, "config.toml", b"default_limit = 'lots'\nport = 8123\n")
    assert runner.invoke(app, ["config", "set", "default_limit", "50"]).exit_code == 0
    assert (config.load()["default_limit"], config.load()["port"]) == (50, 8123)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("port", "8000\x00"),
        ("host", "a\x00b"),
        ("host", "\udcff"),
        ("map_tiles_url", "https://t/{z}/{x}/{y}\udcff.png"),
        ("theme", "dark\x00"),
        ("data_roots", "/tmp\x00"),
    ],
)
def test_nul_and_surrogates_in_config_set_are_a_clear_cli_error(
    tusk_home: Path, key: str, value: str
) -> None:
    """`tusk config set port '8000\\x00'` (and a lone surrogate, as a non-UTF-8 argv gives):
    exit 1 with a one-line error, config.toml untouched."""
    config.set_value("port", "8123")
    before = (tusk_home / "config.toml").read_bytes()
    result = runner.invoke(app, ["config", "set", key, value])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert result.output.startswith("Error: Bad value for " + key)
    assert (tusk_home / "config.toml").read_bytes() == before


# --- damaged state files -----------------------------------------------------------------------

_GOOD_CONNECTIONS = (
    b'[[connections]]\nname = "pg"\nengine = "postgres"\nhost = "db.example"\nport = 5432\n\n'
    b'[[connections]]\nname = "lite"\nengine = "sqlite"\npath = "/tmp/x.db"\n'
)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x00\xff\xfe garbage \x01", "not valid TOML"),
        (_GOOD_CONNECTIONS[:60], "not valid TOML"),  # truncated
        (b"", "empty"),
        (b'[[connections]]\nname = "pg"\nhost = "h"\n', "no engine"),
        (b'[[connections]]\nname = "pg"\nengine = "oracle"\n', "unknown engine"),
        (b'[[connections]]\nname = "pg"\nengine = "postgres"\nport = "x"\n', "port"),
        (b'[[connections]]\nengine = "postgres"\n', "no name"),
        (b"connections = 3\n", "must be a list"),
        (b'connections = ["pg"]\n', "not a table"),
    ],
)
def test_a_damaged_connections_file_is_named_and_kept(
    tusk_home: Path, data: bytes, problem: str
) -> None:
    """Garbage, truncated, empty, a record without engine, wrong types: a BadInput naming the
    file and the problem and the copy kept aside; the file is never rewritten, not even by
    adding a connection."""
    path = _write(tusk_home, "connections.toml", data)
    with pytest.raises(BadInput) as caught:
        connections.list_connections()
    message = caught.value.message
    (copy,) = _copies(path)
    assert str(path) in message and problem in message and f"kept as {copy.name}" in message
    assert copy.read_bytes() == data
    with pytest.raises(BadInput):
        connections.add(ConnectionSpec("new", "duckdb", path=":memory:"))
    with pytest.raises(BadInput):
        connections.get("pg")
    assert path.read_bytes() == data  # left as it was for the admin to fix
    assert len(_copies(path)) == 1  # one copy per content, not one per read


def test_the_studio_shows_a_damaged_connections_file_and_keeps_working(tusk_home: Path) -> None:
    """The Studio says which file is damaged and still runs SQL on the demo."""
    _write(tusk_home, "connections.toml", b'[[connections]]\nname = "pg"\n')
    at = open_page(STUDIO)
    shown = _shown([e.value for e in at.error])
    assert "connections.toml" in shown and "no engine" in shown and "copy was kept" in shown
    settle(at.button(key="studio_run").click().run())
    assert not at.exception
    tab = next(t for t in at.session_state["studio_tabs"])
    assert tab.outcomes and tab.outcomes[0].result is not None


@pytest.mark.parametrize(
    "data", [b"x = [\n", b"\xff\xfe\x00", b"", b"   \n"], ids=["cut", "garbage", "empty", "blank"]
)
def test_a_damaged_config_file_is_named_kept_and_shown(tusk_home: Path, data: bytes) -> None:
    """config.toml cut short, garbage or empty (Tusk never writes an empty one: an empty file
    must not quietly mean the defaults, login off included): a clear error with the copy
    kept; login stays on (fail closed); every page shows it without a traceback."""
    path = _write(tusk_home, "config.toml", data)
    with pytest.raises(BadInput) as caught:
        config.load()
    (copy,) = _copies(path)
    assert str(path) in caught.value.message and copy.name in caught.value.message
    assert auth.mode() == "multi"
    with pytest.raises(BadInput):
        config.set_value("port", "8123")  # never rewrites a file it cannot read
    assert path.read_bytes() == data
    at = open_app()
    assert not at.exception and "config.toml" in _shown([e.value for e in at.error])


def _sqlite_file(path: Path, table: str) -> bytes:
    con = sqlite3.connect(path)
    con.execute(f"create table {table} (a)")
    con.executemany(f"insert into {table} values (?)", [("x" * 200,)] * 2000)
    con.commit()
    con.close()
    return path.read_bytes()


def _damage(kind: str, good: bytes) -> bytes:
    return {"garbage": b"not a database at all " * 50, "truncated": good[: len(good) // 2]}[kind]


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_a_damaged_saved_db_is_named_and_kept(tusk_home: Path, tmp_path: Path, kind: str) -> None:
    """saved.db garbage or cut short: BadInput naming it, with a copy; never replaced."""
    data = _damage(kind, _sqlite_file(tmp_path / "good.db", "t"))
    path = _write(tusk_home, "saved.db", data)
    for action in (saved.list_queries, lambda: saved.save_query("q", "select 1")):
        with pytest.raises(BadInput) as caught:
            action()
        assert str(path) in caught.value.message and "copy was kept" in caught.value.message
    (copy,) = _copies(path)
    assert copy.read_bytes() == data and path.read_bytes() == data


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_a_damaged_history_db_never_loses_a_query_result(
    tusk_home: Path, tmp_path: Path, kind: str
) -> None:
    """history.db damaged: recording is skipped (the statement has run; its result must
    still reach the user) and searching history names the file and the copy."""
    data = _damage(kind, _sqlite_file(tmp_path / "good.db", "t"))
    path = _write(tusk_home, "history.db", data)
    assert history.record("demo", "duckdb", "select 1") == 0
    with pytest.raises(BadInput) as caught:
        history.search()
    assert str(path) in caught.value.message and "copy was kept" in caught.value.message
    assert path.read_bytes() == data


def test_the_studio_shows_damaged_saved_and_history_dbs(tusk_home: Path) -> None:
    """Studio with garbage saved.db and history.db: it runs SQL, and the history and saved
    panels say which file is damaged instead of a traceback."""
    _write(tusk_home, "saved.db", b"garbage " * 100)
    _write(tusk_home, "history.db", b"garbage " * 100)
    at = open_page(STUDIO)
    settle(at.button(key="studio_run").click().run())
    assert not at.exception
    studio_side(at, "History")  # each panel draws only while its side tab is open
    assert "history.db is damaged" in _shown([e.value for e in at.error])
    studio_side(at, "Saved")
    assert not at.exception
    assert "saved.db is damaged" in _shown([e.value for e in at.error])


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_a_damaged_auth_db_is_named_and_nobody_gets_in(
    tusk_home: Path, tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """auth.db damaged in multi-user mode: the library raises a BadInput naming it (copy
    kept), and the app says so and shows no page (fail closed, no traceback)."""
    monkeypatch.setattr(passwords, "BCRYPT_ROUNDS", 4)
    init("correct-horse-battery-9")
    good = database.path().read_bytes()
    database._engines.clear()  # as a new server process would find it
    path = _write(tusk_home, "auth.db", _damage(kind, good) if kind == "truncated" else b"x" * 999)
    (tusk_home / "auth.db-wal").unlink(missing_ok=True)
    (tusk_home / "auth.db-shm").unlink(missing_ok=True)
    _write(tusk_home, "config.toml", b'auth_mode = "multi"\n')
    with pytest.raises(BadInput) as caught:
        initialised()
    assert str(path) in caught.value.message and "copy was kept" in caught.value.message
    at = open_app()
    assert not at.exception
    assert "auth.db is damaged" in _shown([e.value for e in at.error])
    assert not at.tabs


def test_garbage_drafts_are_kept_aside_not_replaced(tusk_home: Path) -> None:
    """A garbage studio-tabs.json: the Studio opens with a new tab and says so, and the bad
    file is kept as a copy that the next save of the drafts does not touch."""
    data = b'{"tabs": [{"id": "a", "title": "mine", "sql": "select 1"'  # cut short
    path = _write(tusk_home, DRAFTS_FILE, data)
    at = open_page(STUDIO)
    assert [t.title for t in at.session_state["studio_tabs"]] == ["Query 1"]
    (copy,) = _copies(path)
    assert copy.read_bytes() == data
    assert any(copy.name in t.value for t in at.toast)
    settle(at.button(key="studio_run").click().run())  # saves the drafts again
    assert not at.exception
    assert copy.read_bytes() == data
    assert b"Query 1" in path.read_bytes()
