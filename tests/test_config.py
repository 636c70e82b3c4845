"""Settings, secrets at rest and the connections registry."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tusk import config, connections, vault
from tusk.engines.spec import ConnectionSpec, spec_from_uri
from tusk.errors import BadInput


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_defaults_without_a_config_file(tusk_home: Path) -> None:
    """A fresh home has every default."""
    values = config.load()
    assert values["port"] == 8000 and values["host"] == "127.0.0.1"
    assert values["auth_mode"] == "single"


def test_set_validates_and_persists(tusk_home: Path) -> None:
    """Good values are stored (mode 0600); bad keys and values are refused with a reason."""
    assert config.set_value("port", "8123") == 8123
    assert config.load()["port"] == 8123
    assert _mode(tusk_home / "config.toml") == 0o600
    with pytest.raises(BadInput, match="Unknown setting 'colour'"):
        config.set_value("colour", "red")
    with pytest.raises(BadInput, match="port must be"):
        config.set_value("port", "99999")
    with pytest.raises(BadInput, match="use one of single, multi"):
        config.set_value("auth_mode", "everyone")
    with pytest.raises(BadInput, match="existing folder"):
        config.set_value("pg_bin_path", "/no/such/folder")
    assert config.load()["port"] == 8123  # a refused value changes nothing


def test_pg_bin_path_needs_pg_dump(tmp_path: Path) -> None:
    """pg_bin_path must be a folder holding pg_dump."""
    with pytest.raises(BadInput, match="no pg_dump"):
        config.set_value("pg_bin_path", str(tmp_path))
    (tmp_path / "pg_dump").write_text("#!/bin/sh\n")
    assert config.set_value("pg_bin_path", str(tmp_path)) == str(tmp_path.resolve())


def test_broken_config_file_is_a_clear_error(tusk_home: Path) -> None:
    """A hand-broken config.toml is reported, not a traceback."""
    tusk_home.mkdir(parents=True, exist_ok=True)
    (tusk_home / "config.toml").write_text("port = = 3")
    with pytest.raises(BadInput, match="not valid TOML"):
        config.load()


def test_atomic_write_leaves_no_temp_files(tmp_path: Path) -> None:
    """Writes go through a temp file that is renamed into place."""
    target = tmp_path / "f.toml"
    config.write_toml(target, {"a": 1})
    config.write_toml(target, {"a": 2})
    assert config.read_toml(target) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["f.toml"]


def test_vault_round_trip_and_key_mode(tusk_home: Path) -> None:
    """Secrets are encrypted with a key file of mode 0600."""
    token = vault.encrypt("s3cret")
    assert "s3cret" not in token
    assert vault.decrypt(token) == "s3cret"
    assert _mode(tusk_home / "secret.key") == 0o600


def test_passwords_never_stored_in_clear(tusk_home: Path) -> None:
    """connections.toml holds an encrypted password and has mode 0600."""
    spec = ConnectionSpec("prod", "postgres", host="db.example", user="me", password="hunter2")
    connections.add(spec)
    path = tusk_home / "connections.toml"
    assert "hunter2" not in path.read_text()
    assert _mode(path) == 0o600
    assert connections.get("prod").password == "hunter2"
    listed = [c for c in connections.list_connections() if c.name == "prod"]
    assert listed[0].password is None  # listing never decrypts


def test_registry_add_edit_delete(tusk_home: Path, tmp_path: Path) -> None:
    """Add, list, edit (keeping the password), rename and delete connections."""
    connections.add(ConnectionSpec("pg", "postgres", host="h", password="pw"))
    connections.add(ConnectionSpec("lite", "sqlite", path=str(tmp_path / "a.db")))
    assert connections.names() == ["demo", "pg", "lite"]
    with pytest.raises(BadInput, match="already exists"):
        connections.add(ConnectionSpec("pg", "postgres", host="other"))
    connections.update("pg", ConnectionSpec("pg2", "postgres", host="h"))  # a rename
    edited = connections.get("pg2")
    assert edited.host == "h" and edited.password == "pw"
    with pytest.raises(BadInput, match="type the password again"):  # the password stays put
        connections.update("pg2", ConnectionSpec("pg2", "postgres", host="h2"))
    connections.update("pg2", ConnectionSpec("pg2", "postgres", host="h2", password="pw2"))
    assert connections.get("pg2").password == "pw2"
    connections.delete("lite")
    assert connections.names() == ["demo", "pg2"]
    with pytest.raises(BadInput):
        connections.delete("demo")
    with pytest.raises(BadInput, match="no connection called"):
        connections.get("lite")


def test_validation_messages() -> None:
    """Missing fields are named."""
    with pytest.raises(BadInput, match="needs a host"):
        connections.add(ConnectionSpec("x", "postgres"))
    with pytest.raises(BadInput, match="path"):
        connections.add(ConnectionSpec("x", "sqlite"))
    with pytest.raises(BadInput, match="name"):
        connections.add(ConnectionSpec("  ", "duckdb", path=":memory:"))
    with pytest.raises(BadInput, match="Unknown engine"):
        ConnectionSpec("x", "oracle")


def test_hostile_connection_name_round_trips(tusk_home: Path) -> None:
    """Names are data: quotes and semicolons survive the TOML file."""
    name = 'x"; drop table y; --'
    connections.add(ConnectionSpec(name, "duckdb", path=":memory:"))
    assert connections.get(name).name == name


def test_uri_is_split_into_fields() -> None:
    """A PostgreSQL URI becomes fields, so its password can be stored encrypted."""
    spec = spec_from_uri("u", "postgresql://ann:p%40ss@db.local:6543/sales?sslmode=require")
    assert (spec.user, spec.password, spec.host, spec.port, spec.database) == (
        "ann",
        "p@ss",
        "db.local",
        6543,
        "sales",
    )
    assert spec.options == {"sslmode": "require"}
    with pytest.raises(BadInput):
        spec_from_uri("u", "mysql://x@y/z")


def test_demo_connection_always_exists_and_answers() -> None:
    """The demo DuckDB is created on first use and holds related tables."""
    assert connections.names()[0] == "demo"
    outcome = connections.test(connections.demo_spec())
    assert outcome.ok, outcome.message
    from tusk.engines.registry import connect

    conn = connect(connections.demo_spec())
    assert conn.execute("select count(*) as n from orders").table.to_pylist() == [{"n": 5000}]
    catalog = conn.catalog()
    assert catalog.table("customers").foreign_keys[0].ref_table == "cities"
    assert {"lat", "lon"} <= {c.name for c in catalog.table("cities").columns}
    conn.close()


def test_failed_test_reports_the_reason(tmp_path: Path) -> None:
    """Testing a broken connection returns the reason instead of raising."""
    bad = tmp_path / "not-a-db.sqlite"
    bad.write_bytes(b"this is not a database file, just text" * 100)
    outcome = connections.test(ConnectionSpec("bad", "sqlite", path=str(bad)))
    assert not outcome.ok
    assert "not a database" in outcome.message


def test_pg_tool_prefers_the_run_flag_then_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--pg-bin-path (TUSK_PG_BIN_PATH) wins over the pg_bin_path setting."""
    setting, flag = tmp_path / "setting", tmp_path / "flag"
    for folder in (setting, flag):
        folder.mkdir()
        (folder / "pg_dump").write_text("#!/bin/sh\n")
    config.set_value("pg_bin_path", str(setting))
    assert config.pg_tool("pg_dump") == str(setting.resolve() / "pg_dump")
    monkeypatch.setenv("TUSK_PG_BIN_PATH", str(flag))
    assert config.pg_tool("pg_dump") == str(flag / "pg_dump")
    with pytest.raises(BadInput, match="pg_restore is not in"):
        config.pg_tool("pg_restore")


def test_studio_page_survives_an_undecryptable_password(tusk_home: Path) -> None:
    """A connection whose password cannot be decrypted is an error on the page, not a crash."""
    from streamlit.testing.v1 import AppTest

    from tests.conftest import REPO

    connections.add(ConnectionSpec("broken", "postgres", host="h", password="pw"))
    (tusk_home / "secret.key").unlink()  # the key changed: old tokens no longer decrypt
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/1_Studio.py").run()
    tab = at.session_state["studio_tabs"][0]
    at.selectbox(key=f"studio_conn_{tab.id}").set_value("broken").run()
    assert tab.connection == "broken"
    assert not at.exception
    assert "cannot be decrypted" in at.error[0].value
    assert tab.sql  # the tab and its SQL are still there


@pytest.mark.postgres
def test_home_test_button_uses_the_stored_password(tusk_home: Path, pg) -> None:  # noqa: ANN001
    """Home's Test button connects with the saved (encrypted) password."""
    from streamlit.testing.v1 import AppTest

    from tests.conftest import REPO

    connections.add(pg.with_changes(name="local pg"))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    at.button(key="test_local pg").click().run()
    assert not at.exception
    assert any("Connected" in s.value for s in at.success)
