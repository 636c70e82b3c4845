"""Admin → Backups driven with AppTest on a real PostgreSQL database: back up from the page until
the file is verified and listed, a failing dump shown as failed, restore (clean only after
typing the database name), delete after a dialog, and who may use the tab."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from psycopg import sql
from streamlit.testing.v1 import AppTest

from tests.admin.conftest import HOSTILE, UNICODE, server_connection
from tests.conftest import pg_spec
from tests.ui.conftest import open_admin
from tusk.admin import backup
from tusk.admin.backup import BackupOptions
from tusk.auth.schema import User
from tusk.auth.users import get_user
from tusk.errors import PermissionDenied
from tusk.ui.admin.backup import CLEAN_FOR, DELETE_FOR, JOB, RESTORE_JOB
from tusk.ui.shell import md_escape

pytestmark = pytest.mark.postgres

P = "admin_backup_"
WAIT_S = 120


def _seed(db: str) -> None:
    """2000 rows in public.items plus hostile and unicode schema/table names."""
    with server_connection(db) as c:
        c.execute("create table items (id int primary key, v text)")
        c.execute("insert into items select g, md5(g::text) from generate_series(1, 2000) g")
        c.execute("create table t (a int)")
        for name in (HOSTILE, UNICODE):
            c.execute(sql.SQL("create schema {}").format(sql.Identifier(name)))
            c.execute(sql.SQL("create table {} (v text)").format(sql.Identifier(name, name)))
            c.execute(
                sql.SQL("insert into {} select {} || g from generate_series(1, 300) g").format(
                    sql.Identifier(name, name), sql.Literal(name)
                )
            )


def _checksum(db: str, schema: str, table: str) -> tuple[int, str]:
    with server_connection(db) as c:
        row = c.execute(
            sql.SQL(
                "select count(*), md5(coalesce(string_agg(x::text, '|' order by x::text), ''))"
                " from {} x"
            ).format(sql.Identifier(schema, table))
        ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def _finish(at: AppTest, key: str) -> backup.ToolJob:
    """Wait for the page's job (the fragment does not tick in AppTest), then redraw."""
    job = at.session_state[key]
    assert job.wait(WAIT_S)
    at.run()
    assert not at.exception
    return job


@pytest.fixture
def saved(saved: str) -> str:
    """The fresh test database saved as the only PostgreSQL connection, seeded."""
    _seed(saved)
    return saved


@pytest.fixture
def new_name() -> Iterator[Callable[[], str]]:
    """Names for databases a restore creates; dropped afterwards."""
    names: list[str] = []

    def make() -> str:
        names.append(f"tusk_rst_{uuid.uuid4().hex[:8]}")
        return names[-1]

    yield make
    with server_connection() as c:
        for name in names:
            c.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


def test_back_up_chosen_hostile_tables_then_restore_into_a_new_database(
    saved: str, new_name: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Back up now with two hostile tables in plain format: the job ends verified, the list
    shows it, and Restore loads it into a new database with the same rows."""
    db = saved
    at = open_admin("tusk.ui.admin.backup")
    assert any("No backups yet" in i.value for i in at.info)
    at.selectbox(key=P + "format").set_value("plain")
    at.multiselect(key=P + "tables").set_value([(HOSTILE, HOSTILE), (UNICODE, UNICODE)])
    at.run()
    at.button(key=P + "start").click().run()
    assert not at.exception
    job = _finish(at, JOB)
    assert job.status == "ok", job.message
    made = backup.get_backup(job.name)  # type: ignore[attr-defined]
    assert made.path.exists() and made.format == "plain"
    assert made.options.tables == ((HOSTILE, HOSTILE), (UNICODE, UNICODE))

    frame = at.dataframe[0].value
    assert list(frame["Name"]) == [made.name]
    assert frame.iloc[0]["Database"] == db
    assert frame.iloc[0]["Format"] == "plain"
    assert frame.iloc[0]["Size"] == made.size
    assert any("verified it" in s.value for s in at.success)

    target = new_name()
    at.radio(key=P + "target_kind").set_value("New database").run()
    at.text_input(key=P + "new_db").set_value(target).run()
    at.button(key=P + "restore").click().run()
    assert not at.exception
    restored = _finish(at, RESTORE_JOB)
    assert restored.status == "ok", restored.message
    for name in (HOSTILE, UNICODE):
        assert _checksum(target, name, name) == _checksum(db, name, name)
    assert target in restored.message
    assert any("Restored" in m.value for m in at.success)
    assert len(at.get("download_button")) == 1
    assert not at.get("download_button")[0].proto.disabled

    # Streamlit serves downloads from memory: past the cap the button is off and says where.
    from tusk.ui.admin import backup as admin_backup

    monkeypatch.setattr(admin_backup, "MAX_DOWNLOAD_BYTES", made.size - 1)
    at.run()
    assert at.get("download_button")[0].proto.disabled
    assert any("too big to download" in c.value for c in at.caption)


def test_a_failing_dump_is_shown_failed_and_not_listed(
    saved: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chosen table dropped before the click: pg_dump fails, the page shows its error and
    the list stays empty; a missing pg_dump is an error naming pg_bin_path."""
    db = saved
    at = open_admin("tusk.ui.admin.backup")
    at.multiselect(key=P + "tables").set_value([("public", "t")]).run()
    with server_connection(db) as c:
        c.execute("drop table t")
    at.button(key=P + "start").click().run()
    job = _finish(at, JOB)
    assert job.status == "failed"
    errors = " ".join(e.value for e in at.error)
    assert "no matching tables" in errors
    assert any("No backups yet" in i.value for i in at.info)
    assert backup.list_backups() == []
    assert list(backup.backups_dir().iterdir()) == []

    at.button(key=f"{JOB}_dismiss").click().run()
    assert JOB not in at.session_state
    at.multiselect(key=P + "tables").set_value([]).run()
    empty = tmp_path / "no-tools"
    empty.mkdir()
    monkeypatch.setenv("TUSK_PG_BIN_PATH", str(empty))  # a pg_bin_path without pg_dump
    at.button(key=P + "start").click().run()
    assert not at.exception
    assert any("pg_bin_path" in e.value.replace("\\", "") for e in at.error)  # md-escaped
    assert JOB not in at.session_state
    assert backup.list_backups() == []


def test_page_returns_while_the_dump_waits_and_cancel_stops_it(saved: str) -> None:
    """A dump stuck behind a lock leaves the page usable (the run ends with the job running);
    Cancel on the page stops it and removes its file."""
    db = saved
    at = open_admin("tusk.ui.admin.backup")
    with server_connection(db) as blocker:
        blocker.autocommit = False
        blocker.execute("lock table items in access exclusive mode")
        at.button(key=P + "start").click().run()
        assert not at.exception
        job = at.session_state[JOB]
        assert not job.done
        assert at.button(key=P + "start").disabled  # one backup at a time per session
        assert any("Backing up" in s.label for s in at.status)
        at.button(key=f"{JOB}_cancel").click().run()
        assert job.wait(WAIT_S)
        blocker.rollback()
    at.run()
    assert job.status == "cancelled"
    assert not job.path.exists()
    assert any("cancelled" in e.value for e in at.error)
    assert backup.list_backups() == []


def test_restore_with_clean_needs_the_database_name(saved: str) -> None:
    """Clean opens a dialog; the restore starts only once the exact name is typed, and then
    brings back the backed-up rows."""
    db = saved
    job = backup.start_backup(pg_spec(db, name="pg main"), BackupOptions(), actor=None)
    assert job.wait(WAIT_S) and job.status == "ok", job.message
    before = _checksum(db, "public", "items")
    with server_connection(db) as c:
        c.execute("delete from items where id > 10")
    at = open_admin("tusk.ui.admin.backup")
    at.radio(key=P + "target_kind").set_value("Existing database").run()
    assert at.selectbox(key=P + "existing_db").value == db
    at.checkbox(key=P + "clean").check().run()
    at.button(key=P + "restore").click().run()
    assert not at.exception
    assert at.session_state[CLEAN_FOR]["target_database"] == db
    assert RESTORE_JOB not in at.session_state
    assert at.button(key=P + "clean_go").disabled
    at.text_input(key=P + "clean_confirm").set_value(db + "x").run()
    assert at.button(key=P + "clean_go").disabled
    at.text_input(key=P + "clean_confirm").set_value(db).run()
    assert not at.button(key=P + "clean_go").disabled
    at.button(key=P + "clean_go").click().run()
    restored = _finish(at, RESTORE_JOB)
    assert restored.status == "ok", restored.message
    assert _checksum(db, "public", "items") == before
    assert CLEAN_FOR not in at.session_state


def test_delete_asks_first_then_removes_the_file(saved: str) -> None:
    """Delete opens a dialog naming the file; Keep it keeps it, Delete removes it."""
    db = saved
    job = backup.start_backup(
        pg_spec(db, name="pg main"), BackupOptions(format="directory"), actor=None
    )
    assert job.wait(WAIT_S) and job.status == "ok", job.message
    at = open_admin("tusk.ui.admin.backup")
    assert list(at.dataframe[0].value["Name"]) == [job.name]
    at.button(key=P + "delete").click().run()
    assert at.session_state[DELETE_FOR] == job.name
    assert any(md_escape(job.name) in m.value for m in at.markdown)
    at.button(key=P + "delete_keep").click().run()
    assert job.path.exists()
    at.button(key=P + "delete").click().run()
    at.button(key=P + "delete_go").click().run()
    assert not at.exception
    assert not job.path.exists()
    assert backup.list_backups() == []
    assert any("No backups yet" in i.value for i in at.info)


@pytest.fixture
def multi(saved: str, multi_user: Callable[..., None]) -> dict[str, User]:
    """Multi-user mode (after saving the connection) with a Viewer and a Data Engineer."""
    multi_user({"vera": "Viewers", "eddie": "Data Engineers"})
    return {"viewer": get_user("vera"), "engineer": get_user("eddie")}


def test_viewer_and_engineer_cannot_back_up(saved: str, multi: dict[str, User]) -> None:
    """A Data Engineer sees the tab's permission message and no form; a Viewer cannot open
    Admin at all; the library refuses both."""
    at = open_admin("tusk.ui.admin.backup", user="eddie")
    assert any("admin.backup" in i.value for i in at.info)
    assert P + "start" not in [b.key for b in at.button]

    viewer = open_admin(user="vera")
    assert "Permission denied" in viewer.error[0].value
    assert P + "start" not in [b.key for b in viewer.button]

    spec = pg_spec(saved, name="pg main")
    for user in multi.values():
        with pytest.raises(PermissionDenied):
            backup.start_backup(spec, actor=user)
    assert list(backup.backups_dir().iterdir()) == []
