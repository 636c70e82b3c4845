"""Backup and restore against the real local PostgreSQL: round trips in every format, failures
that leave nothing listed, hostile names, passwords kept off command lines, permissions."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from psycopg import sql

from tests.admin.conftest import HOSTILE, UNICODE, server_connection
from tests.conftest import pg_spec
from tusk.admin import backup
from tusk.admin.backup import BackupOptions
from tusk.auth.audit import audit_log
from tusk.auth.schema import User
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput, PermissionDenied

pytestmark = pytest.mark.postgres

WAIT_S = 120  # generous: a stuck job fails the test instead of hanging it
ROWS = 3000

# Each table of the sample database, as (schema, table).
TABLES = [
    ("public", "items"),
    ("public", "tags"),
    ("public", "t"),
    (HOSTILE, HOSTILE),
    (UNICODE, UNICODE),
]


def _fill(dbname: str) -> None:
    """A small but varied database: a few thousand rows, a foreign key, hostile names."""
    with server_connection(dbname) as c:
        c.execute(
            "create table items (id int primary key, name text, amount numeric(12,2),"
            " created timestamptz, payload jsonb, flag boolean)"
        )
        c.execute(
            "insert into items select g, 'item ' || g || ' ü🐘', g * 1.25,"
            " timestamptz '2024-01-01 00:00+00' + g * interval '1 minute',"
            " jsonb_build_object('g', g, 'even', g %% 2 = 0), g %% 3 = 0"
            " from generate_series(1, %s) g",
            (ROWS,),
        )
        c.execute("create table tags (item_id int references items, tag text)")
        c.execute(
            "insert into tags select g, 'tag' || (g %% 7) from generate_series(1, %s, 3) g", (ROWS,)
        )
        c.execute("create table t (a int)")  # what the hostile name pretends to drop
        c.execute("insert into t values (1), (2)")
        for name in (HOSTILE, UNICODE):
            c.execute(sql.SQL("create schema {}").format(sql.Identifier(name)))
            c.execute(
                sql.SQL("create table {} ({} text primary key, n int)").format(
                    sql.Identifier(name, name), sql.Identifier(name)
                )
            )
            c.execute(
                sql.SQL("insert into {} select {} || g, g from generate_series(1, 500) g").format(
                    sql.Identifier(name, name), sql.Literal(name)
                )
            )


def _checksum(dbname: str, schema: str, table: str) -> tuple[int, str] | None:
    """(row count, md5 of every row in a fixed order), or None when the table is missing."""
    with server_connection(dbname) as c:
        found = c.execute(
            "select 1 from pg_tables where schemaname = %s and tablename = %s", (schema, table)
        ).fetchone()
        if found is None:
            return None
        row = c.execute(
            sql.SQL(
                "select count(*), md5(coalesce(string_agg(x::text, '|' order by x::text), ''))"
                " from {} x"
            ).format(sql.Identifier(schema, table))
        ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


@pytest.fixture
def sample(db: str) -> str:
    """The fresh test database, filled."""
    _fill(db)
    return db


@pytest.fixture
def new_name() -> Iterator[Callable[..., str]]:
    """Names for databases a restore will create; dropped afterwards if they exist."""
    names: list[str] = []

    def make(prefix: str = "tusk_rst_") -> str:
        name = f"{prefix}{uuid.uuid4().hex[:8]}"
        names.append(name)
        return name

    yield make
    with server_connection() as c:
        for name in names:
            c.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


def _database_exists(name: str) -> bool:
    with server_connection() as c:
        return (
            c.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
            is not None
        )


def _backup(
    spec: ConnectionSpec, options: BackupOptions | None = None, actor=None
) -> backup.Backup:  # noqa: ANN001
    job = backup.start_backup(spec, options, actor=actor)
    assert job.wait(WAIT_S)
    assert job.status == "ok", job.message
    return backup.get_backup(job.name)


def _restore(spec: ConnectionSpec, name: str, **kwargs) -> backup.RestoreJob:  # noqa: ANN003
    job = backup.restore(spec, name, actor=kwargs.pop("actor", None), **kwargs)
    assert job.wait(WAIT_S)
    return job


# --- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "restore_jobs"),
    [
        (BackupOptions(format="custom", compression=9), 1),
        (BackupOptions(format="plain"), 1),
        (BackupOptions(format="directory", jobs=2, compression=0), 2),
        (BackupOptions(format="tar"), 1),
    ],
    ids=["custom", "plain", "directory", "tar"],
)
def test_round_trip_into_a_new_database(
    sample: str, new_name: Callable[[], str], options: BackupOptions, restore_jobs: int
) -> None:
    """Each format backs up, is verified and listed, and restores with equal rows."""
    spec = pg_spec(sample)
    made = _backup(spec, options)
    listed = backup.list_backups()
    assert [b.name for b in listed] == [made.name]
    assert made.database == sample
    assert made.format == options.format
    assert made.size > 0
    if options.format == "directory":
        assert stat.S_IMODE(made.path.stat().st_mode) == 0o700
        assert (made.path / "toc.dat").exists()
    else:
        assert stat.S_IMODE(made.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(backup.backups_dir().stat().st_mode) == 0o700
    if options.format != "plain":
        assert made.data_tables == len(TABLES)

    target = new_name()
    job = _restore(spec, made.name, target_database=target, create_database=True, jobs=restore_jobs)
    assert job.status == "ok", job.message
    for schema, table in TABLES:
        original = _checksum(sample, schema, table)
        assert original is not None and original[0] > 0
        assert _checksum(target, schema, table) == original, (schema, table)


def test_restore_with_clean_replaces_changed_rows(sample: str) -> None:
    """Clean drops the backup's objects in an existing database and loads them again."""
    spec = pg_spec(sample)
    before = _checksum(sample, "public", "items")
    made = _backup(spec)
    with server_connection(sample) as c:
        c.execute("delete from tags")
        c.execute("update items set name = 'changed' where id < 100")
    assert _checksum(sample, "public", "items") != before

    # Without clean the tables already exist: one transaction, so nothing changes.
    job = _restore(spec, made.name, target_database=sample)
    assert job.status == "failed"
    assert "already exists" in job.message
    assert _checksum(sample, "public", "tags") == (0, "d41d8cd98f00b204e9800998ecf8427e")

    job = _restore(spec, made.name, target_database=sample, clean=True, no_owner=True)
    assert job.status == "ok", job.message
    assert _checksum(sample, "public", "items") == before
    assert _checksum(sample, "public", "tags") is not None
    assert _checksum(sample, "public", "tags")[0] == len(range(1, ROWS + 1, 3))


def test_schema_only_then_data_only(sample: str, new_name: Callable[[], str]) -> None:
    """A schema-only backup makes empty tables; a data-only one fills them."""
    spec = pg_spec(sample)
    schema = _backup(spec, BackupOptions(schema_only=True))
    data = _backup(spec, BackupOptions(data_only=True))
    assert schema.data_tables == 0
    assert data.data_tables == len(TABLES)
    target = new_name()
    assert _restore(spec, schema.name, target_database=target, create_database=True).status == "ok"
    assert _checksum(target, "public", "items") == (0, "d41d8cd98f00b204e9800998ecf8427e")
    job = _restore(spec, data.name, target_database=target)
    assert job.status == "ok", job.message
    for schema_name, table in TABLES:
        assert _checksum(target, schema_name, table) == _checksum(sample, schema_name, table)


# --- hostile names -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["custom", "plain"])
@pytest.mark.parametrize("pick", ["schemas", "tables"])
def test_hostile_names_survive_chosen_backup_and_restore(
    sample: str, new_name: Callable[[], str], fmt: str, pick: str
) -> None:
    """Chosen schemas/tables with quotes, semicolons and emoji dump and restore exactly."""
    spec = pg_spec(sample)
    if pick == "schemas":
        options = BackupOptions(format=fmt, schemas=(HOSTILE, UNICODE))  # type: ignore[arg-type]
    else:
        options = BackupOptions(format=fmt, tables=((HOSTILE, HOSTILE), (UNICODE, UNICODE)))  # type: ignore[arg-type]
    made = _backup(spec, options)
    assert made.options.schemas == options.schemas
    assert made.options.tables == options.tables
    target = new_name()
    job = _restore(spec, made.name, target_database=target, create_database=True)
    assert job.status == "ok", job.message
    for name in (HOSTILE, UNICODE):
        assert _checksum(target, name, name) == _checksum(sample, name, name)
    assert _checksum(target, "public", "items") is None  # not chosen, not restored
    kept = _checksum(sample, "public", "t")
    assert kept is not None and kept[0] == 2  # the name's "DROP TABLE t" never ran


@pytest.mark.parametrize("fmt", ["custom", "plain"])
def test_chosen_public_schema_restores_into_a_new_database(
    sample: str, new_name: Callable[[], str], fmt: str
) -> None:
    """`pg_dump -n public` re-creates public, which every new database already has."""
    spec = pg_spec(sample)
    made = _backup(spec, BackupOptions(format=fmt, schemas=("public",)))  # type: ignore[arg-type]
    target = new_name()
    job = _restore(spec, made.name, target_database=target, create_database=True)
    assert job.status == "ok", job.message
    for table in ("items", "tags", "t"):
        assert _checksum(target, "public", table) == _checksum(sample, "public", table)
    assert _checksum(target, HOSTILE, HOSTILE) is None


def test_hostile_database_names(sample: str, new_name: Callable[..., str]) -> None:
    """A new database named like an injection is created, restored, backed up and listed under
    its real name, while the backup's file name stays a plain slug."""
    spec = pg_spec(sample)
    made = _backup(spec)
    target = new_name('x"; DROP DATABASE postgres; -- 🐘 ')
    job = _restore(spec, made.name, target_database=target, create_database=True)
    assert job.status == "ok", job.message
    assert _checksum(target, HOSTILE, HOSTILE) == _checksum(sample, HOSTILE, HOSTILE)
    again = _backup(pg_spec(target), BackupOptions(format="plain"))
    assert again.database == target
    assert again.name.startswith("x_DROP_DATABASE_postgres_")
    assert again.path.parent == backup.backups_dir()
    assert {b.database for b in backup.list_backups()} == {sample, target}


def test_catalog_counts_the_chosen_tables(sample: str, conn) -> None:  # noqa: ANN001
    """The pickers' catalog lists hostile names; the progress total follows the choice."""
    cat = backup.dump_catalog(conn)
    assert {HOSTILE, UNICODE, "public"} <= set(cat.schemas)
    assert (HOSTILE, HOSTILE, "r") in cat.tables
    assert cat.data_tables(BackupOptions()) == len(TABLES)
    assert cat.data_tables(BackupOptions(schemas=(HOSTILE,))) == 1
    assert cat.data_tables(BackupOptions(tables=(("public", "t"), (UNICODE, UNICODE)))) == 2
    assert cat.data_tables(BackupOptions(schema_only=True)) == 0
    assert sample in backup.list_databases(conn)


# --- failures ------------------------------------------------------------------------------------


def test_dump_of_a_missing_database_fails_and_leaves_nothing() -> None:
    """pg_dump's refusal is the job's message; the file is gone and nothing is listed."""
    missing = f"tusk_missing_{uuid.uuid4().hex[:8]}"
    job = backup.start_backup(pg_spec(missing), actor=None)
    assert job.wait(WAIT_S)
    assert job.status == "failed"
    assert "does not exist" in job.message
    assert not job.path.exists()
    assert backup.list_backups() == []
    assert list(backup.backups_dir().iterdir()) == []


def test_missing_pg_dump_names_the_setting(
    sample: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pg_bin_path without pg_dump is refused up front, naming pg_bin_path."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("TUSK_PG_BIN_PATH", str(empty))
    with pytest.raises(BadInput, match="pg_bin_path"):
        backup.start_backup(pg_spec(sample), actor=None)
    assert backup.list_backups() == []
    assert list(backup.backups_dir().iterdir()) == []


def test_unknown_chosen_table_fails(sample: str) -> None:
    """A chosen table that does not exist fails the dump instead of writing an empty one."""
    job = backup.start_backup(
        pg_spec(sample), BackupOptions(tables=(("public", "nope"),)), actor=None
    )
    assert job.wait(WAIT_S)
    assert job.status == "failed"
    assert "no matching tables" in job.message
    assert backup.list_backups() == []


def test_verification_rejects_empty_and_truncated_dumps(sample: str, tmp_path: Path) -> None:
    """Empty files, cut archives and scripts without the trailer do not pass."""
    spec = pg_spec(sample)
    custom = _backup(spec, BackupOptions(format="custom", compression=0))
    plain = _backup(spec, BackupOptions(format="plain"))
    empty = tmp_path / "empty.dump"
    empty.write_bytes(b"")
    with pytest.raises(BadInput, match="wrote nothing"):
        backup._verify(empty, "custom")
    cut = tmp_path / "cut.dump"
    cut.write_bytes(custom.path.read_bytes()[:200])
    with pytest.raises(BadInput, match="pg_restore cannot read it"):
        backup._verify(cut, "custom")
    cut_sql = tmp_path / "cut.sql"
    cut_sql.write_bytes(plain.path.read_bytes()[: plain.size // 2])
    with pytest.raises(BadInput, match="incomplete"):
        backup._verify(cut_sql, "plain")
    assert backup._verify(custom.path, "custom")[1] == len(TABLES)


def test_files_without_a_sidecar_are_not_listed(sample: str) -> None:
    """A stray or half-written file in the folder is never shown as a good backup."""
    folder = backup.backups_dir()
    (folder / "stray.dump").write_bytes(b"PGDMP junk")
    (folder / "fake.dump.meta.json").write_text('{"name": "fake.dump", "verified": false}')
    assert backup.list_backups() == []
    with pytest.raises(BadInput):
        backup.get_backup("stray.dump")


def test_cancel_removes_the_partial_file(sample: str) -> None:
    """A dump waiting on a lock is cancelled: the job says so and leaves no file."""
    with server_connection(sample) as blocker:
        blocker.autocommit = False
        blocker.execute("lock table items in access exclusive mode")
        job = backup.start_backup(pg_spec(sample), actor=None)
        assert not job.wait(0.5)  # pg_dump waits for its share lock
        job.cancel()
        assert job.wait(WAIT_S)
        blocker.rollback()
    assert job.status == "cancelled"
    assert not job.path.exists()
    assert backup.list_backups() == []


def test_failed_restore_into_a_new_database_removes_it(
    sample: str, new_name: Callable[[], str]
) -> None:
    """Data without tables cannot load: the restore fails and its new database is dropped."""
    spec = pg_spec(sample)
    data = _backup(spec, BackupOptions(data_only=True, tables=(("public", "t"),)))
    target = new_name()
    job = _restore(spec, data.name, target_database=target, create_database=True)
    assert job.status == "failed"
    assert "does not exist" in job.message
    assert "was removed" in job.message
    assert not _database_exists(target)


def test_bad_options_are_refused(sample: str, new_name: Callable[[], str]) -> None:
    """Contradictory or unsupported choices are BadInput before anything runs."""
    spec = pg_spec(sample)
    for options in (
        BackupOptions(schema_only=True, data_only=True),
        BackupOptions(format="tar", compression=5),
        BackupOptions(format="plain", compression=5),
        BackupOptions(format="custom", jobs=2),
        BackupOptions(compression=12),
        BackupOptions(format="zip"),  # type: ignore[arg-type]
        BackupOptions(schemas=("",)),
        BackupOptions(schemas=("public",), tables=(("public", "t"),)),
    ):
        with pytest.raises(BadInput):
            backup.start_backup(spec, options, actor=None)
    assert list(backup.backups_dir().iterdir()) == []

    plain = _backup(spec, BackupOptions(format="plain"))
    custom = _backup(spec)
    with pytest.raises(BadInput, match="already exists"):
        backup.restore(spec, custom.name, target_database=sample, create_database=True, actor=None)
    with pytest.raises(BadInput, match="no database named"):
        backup.restore(spec, custom.name, target_database=new_name(), actor=None)
    with pytest.raises(BadInput, match="Clean applies"):
        backup.restore(
            spec,
            custom.name,
            target_database=new_name(),
            create_database=True,
            clean=True,
            actor=None,
        )
    with pytest.raises(BadInput, match="plain backup"):
        backup.restore(spec, plain.name, target_database=sample, clean=True, actor=None)
    with pytest.raises(BadInput, match="at most 63 bytes"):
        backup.restore(
            spec, custom.name, target_database="x" * 64, create_database=True, actor=None
        )


# --- the folder ----------------------------------------------------------------------------------


def test_delete_and_unsafe_names(sample: str, tmp_path: Path) -> None:
    """Only names inside the backups folder are accepted; delete removes file and sidecar."""
    spec = pg_spec(sample)
    made = _backup(spec, BackupOptions(format="directory"))
    outside = tmp_path / "outside.dump"
    outside.write_bytes(b"keep me")
    for bad in ("../outside.dump", str(outside), "..", ".", "", "a/b", f"{made.name}.meta.json"):
        with pytest.raises(BadInput):
            backup.delete_backup(bad, actor=None)
    assert outside.exists()
    backup.delete_backup(made.name, actor=None)
    assert not made.path.exists()
    assert list(backup.backups_dir().iterdir()) == []
    with pytest.raises(BadInput):
        backup.delete_backup(made.name, actor=None)


def test_directory_backup_downloads_as_a_tar(sample: str) -> None:
    """A directory backup is read as one tar holding its table of contents."""
    made = _backup(pg_spec(sample), BackupOptions(format="directory"))
    data = backup.read_backup(made.name, actor=None)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert f"{made.name}/toc.dat" in tar.getnames()
    assert made.download_name == f"{made.name}.tar"
    custom = _backup(pg_spec(sample))
    assert backup.read_backup(custom.name, actor=None) == custom.path.read_bytes()


# --- secrets -------------------------------------------------------------------------------------


@pytest.fixture
def secret_role(sample: str) -> Iterator[tuple[str, str]]:
    """A login role whose password has pgpass's special characters."""
    role = f"tusk_bk_{uuid.uuid4().hex[:8]}"
    password = "Pw:" + uuid.uuid4().hex + "\\x*"
    with server_connection() as c:
        c.execute(
            sql.SQL("create role {} login password {} in role pg_read_all_data").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
    yield role, password
    with server_connection() as c:
        c.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


def test_password_stays_off_the_command_line(sample: str, secret_role: tuple[str, str]) -> None:
    """The tool gets the password from a 0600 pgpass file that is gone afterwards."""
    role, password = secret_role
    spec = pg_spec(sample).with_changes(user=role, password=password)
    job = backup.start_backup(spec, actor=None)
    assert job._proc is not None
    args = " ".join(job._proc.args)  # type: ignore[arg-type]
    assert password not in args
    assert job.wait(WAIT_S)
    assert job.status == "ok", job.message
    assert job._scratch is None
    assert all(password not in line for line in job.lines())

    wrong = spec.with_changes(password="Wr:ong" + password)
    failed = backup.start_backup(wrong, actor=None)
    assert failed.wait(WAIT_S)
    assert failed.status == "failed"
    assert "password authentication failed" in failed.message
    assert password not in failed.message


def test_pgpass_file_is_private_and_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The temporary pgpass is 0600 with ':' and '\\' escaped; PGPASSWORD is not inherited."""
    monkeypatch.setenv("PGPASSWORD", "inherited")
    scratch, env = backup._child_env("a:b\\c")
    try:
        pgpass = Path(env["PGPASSFILE"])
        assert stat.S_IMODE(pgpass.stat().st_mode) == 0o600
        assert stat.S_IMODE(scratch.stat().st_mode) == 0o700
        assert pgpass.read_text() == "*:*:*:*:a\\:b\\\\c\n"
        assert "PGPASSWORD" not in env
    finally:
        backup.shutil.rmtree(scratch)
    assert os.environ["PGPASSWORD"] == "inherited"


# --- permissions ---------------------------------------------------------------------------------


def test_only_admin_backup_may_back_up_or_restore(
    sample: str, users: dict[str, User], new_name: Callable[[], str]
) -> None:
    """Viewers and Data Engineers are refused by the library; an Administrator is audited."""
    spec = pg_spec(sample)
    made = _backup(spec, actor=users["admin"])
    for who in ("viewer", "analyst", "engineer"):
        actor = users[who]
        with pytest.raises(PermissionDenied):
            backup.start_backup(spec, actor=actor)
        with pytest.raises(PermissionDenied):
            backup.restore(
                spec, made.name, target_database=new_name(), create_database=True, actor=actor
            )
        with pytest.raises(PermissionDenied):
            backup.delete_backup(made.name, actor=actor)
        with pytest.raises(PermissionDenied):
            backup.read_backup(made.name, actor=actor)
        with pytest.raises(PermissionDenied):
            backup.start_backup(spec, actor=None)  # signed out
    assert [b.name for b in backup.list_backups()] == [made.name]

    target = new_name()
    job = _restore(
        spec, made.name, target_database=target, create_database=True, actor=users["admin"]
    )
    assert job.status == "ok", job.message
    backup.delete_backup(made.name, actor=users["admin"])
    entries = {(e.action, e.actor, e.target) for e in audit_log()}
    assert ("admin.backup", "admin", sample) in entries
    assert ("admin.restore", "admin", target) in entries
    assert ("admin.backup.delete", "admin", made.name) in entries
