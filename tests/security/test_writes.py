"""Issue 13, case 9 and the disk-full cases: concurrent writers lose nothing, and a full disk
is a clear error that leaves every previous file as it was.

Concurrency is tested with real threads and real processes (each its own interpreter, the
same TUSK_HOME). A full disk is a real one: an 8 MB tmpfs mounted as TUSK_HOME (the tests run
as root), filled to ENOSPC; the tests are skipped where mounting is not allowed.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.ui.conftest import STUDIO, open_page, settle
from tusk import config, connections, files
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput, TuskError
from tusk.etl import saved_pipelines as pipelines
from tusk.etl.pipeline import Pipeline
from tusk.etl.sources import QuerySource
from tusk.store import history, saved
from tusk.ui.studio.tabs import DRAFTS_FILE


def _together(n: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run work(0..n-1) in n threads released at the same moment; the errors raised."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            work(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def _processes(code: str, args: list[str], home: Path) -> None:
    """Start one Python process per arg at once (each waits for a go file), all checked."""
    go = home / f"go-{uuid.uuid4().hex}"
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from pathlib import Path
        go = Path({str(go)!r})
        while not go.exists():
            time.sleep(0.005)
        arg = sys.argv[1]
        """
    ) + textwrap.dedent(code)
    env = {**os.environ, "TUSK_HOME": str(home), "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, arg],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for arg in args
    ]
    go.touch()
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err[-2000:]


# --- case 9: concurrent read-modify-write ----------------------------------------------------


def test_twenty_sessions_adding_a_connection_at_once_keep_all_twenty(tusk_home: Path) -> None:
    """20 threads (sessions of one server) add a connection each at the same moment: all 20
    are saved (before the lock: 1 of 20)."""
    errors = _together(
        20, lambda i: connections.add(ConnectionSpec(f"c{i}", "duckdb", path=":memory:"))
    )
    assert errors == []
    assert sorted(connections.names()[1:]) == sorted(f"c{i}" for i in range(20))


def test_four_processes_adding_thirty_each_keep_all_120(tusk_home: Path) -> None:
    """4 processes × 30 adds on one home: 120 connections (before the lock: 69 of 120)."""
    tusk_home.mkdir(parents=True, exist_ok=True)
    code = """
    from tusk import connections
    from tusk.engines.spec import ConnectionSpec
    for i in range(30):
        connections.add(ConnectionSpec(f"p{arg}-{i}", "duckdb", path=":memory:"))
    """
    _processes(code, ["0", "1", "2", "3"], tusk_home)
    names = connections.names()[1:]
    assert len(names) == 120 and len(set(names)) == 120


def test_edits_deletes_and_adds_at_once_all_apply(tusk_home: Path) -> None:
    """Threads renaming, deleting and adding different connections at once: every change
    lands, none undoes another."""
    for i in range(10):
        connections.add(ConnectionSpec(f"old{i}", "duckdb", path=":memory:"))

    def work(i: int) -> None:
        kind, n = divmod(i, 10)
        if kind == 0:
            connections.update(f"old{n}", ConnectionSpec(f"renamed{n}", "duckdb", path=":memory:"))
        else:
            connections.add(ConnectionSpec(f"new{n}", "duckdb", path=":memory:"))

    assert _together(20, work) == []
    got = set(connections.names()[1:])
    assert got == {f"renamed{n}" for n in range(10)} | {f"new{n}" for n in range(10)}
    assert _together(10, lambda n: connections.delete(f"new{n}")) == []
    assert set(connections.names()[1:]) == {f"renamed{n}" for n in range(10)}


def test_three_settings_changed_at_once_by_processes_are_all_kept(tusk_home: Path) -> None:
    """Three processes each change a different setting 15 times at once: every last value
    is in config.toml (before the lock: 2 of 3 lost)."""
    tusk_home.mkdir(parents=True, exist_ok=True)
    code = """
    from tusk import config
    key, values = {
        "port": ("port", [str(8100 + i) for i in range(15)]),
        "limit": ("default_limit", [str(500 + i) for i in range(15)]),
        "theme": ("theme", ["dark", "light"] * 7 + ["dark"]),
    }[arg]
    for value in values:
        config.set_value(key, value)
    """
    _processes(code, ["port", "limit", "theme"], tusk_home)
    values = config.load()
    assert (values["port"], values["default_limit"], values["theme"]) == (8114, 514, "dark")


def test_settings_changed_at_once_by_threads_are_all_kept(tusk_home: Path) -> None:
    """Threads of one server each change a different setting: all kept."""
    changes = [("port", "8123"), ("default_limit", "77"), ("theme", "dark"), ("host", "0.0.0.0")]
    assert _together(4, lambda i: config.set_value(*changes[i])) == []
    values = config.load()
    assert [values[k] for k, _ in changes] == [8123, 77, "dark", "0.0.0.0"]


def test_saved_queries_from_threads_and_processes_are_all_kept(tusk_home: Path) -> None:
    """saved.db: 10 threads × 5 saves and 3 processes × 20 saves at once, 110 queries kept
    (every write is one `begin immediate` transaction with a 10 s busy timeout)."""
    folder = saved.create_folder("shared")
    code = f"""
    from tusk.store import saved
    for i in range(20):
        saved.save_query(f"p{{arg}}-{{i}}", "select " + str(i), folder_id={folder.id})
    """
    threads_done = threading.Event()

    def threads() -> None:
        errors = _together(
            10,
            lambda t: [
                saved.save_query(f"t{t}-{i}", f"select {i}", folder_id=folder.id) for i in range(5)
            ],
        )
        assert errors == []
        threads_done.set()

    runner = threading.Thread(target=threads)
    runner.start()
    _processes(code, ["0", "1", "2"], tusk_home)
    runner.join(120)
    assert threads_done.is_set()
    names = [q.name for q in saved.list_queries(folder_id=folder.id)]
    assert len(names) == 110 and len(set(names)) == 110


def test_history_from_threads_keeps_every_statement(tusk_home: Path) -> None:
    """history.db: 10 threads recording 20 statements each, all 200 there."""
    assert (
        _together(
            10, lambda t: [history.record("demo", "duckdb", f"select {t}-{i}") for i in range(20)]
        )
        == []
    )
    assert len(history.search(limit=1000)) == 200


def test_the_lock_serializes_processes_and_times_out_clearly(tusk_home: Path) -> None:
    """While one process holds a file's lock, another waits, and after the timeout gets a
    TuskError naming the file (never a hang, never a half-done change)."""
    target = tusk_home / "connections.toml"
    tusk_home.mkdir(parents=True, exist_ok=True)
    code = f"""
    from pathlib import Path
    from tusk import config
    from tusk.errors import BadInput, TuskError
    try:
        with config.locked(Path({str(target)!r}), timeout=0.3):
            print("got it")
    except TuskError as exc:
        assert "connections.toml" in exc.message and "try again" in exc.message, exc.message
        print("busy")
    """
    with config.locked(target):
        out = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.stdout.strip() == "busy", out.stderr
    with config.locked(target), config.locked(target):  # re-entrant within a thread
        pass


# --- disk full ---------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """TUSK_HOME on a real 8 MB tmpfs (so writes fail with ENOSPC)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    home = mount / "home"
    monkeypatch.setenv("TUSK_HOME", str(home))
    try:
        yield home
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path) -> Path:
    """Fill the file system holding `folder` until it has no byte left."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as fh:
        for size in (1 << 20, 65536, 4096, 512, 1):
            try:
                while True:
                    fh.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return filler


def _snapshot(home: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(home)): p.read_bytes()
        for p in sorted(home.rglob("*"))
        if p.is_file()
        and not p.name.startswith(".")
        and not p.name.endswith(("-wal", "-shm"))
        and p.name != "filler"
    }


def test_disk_full_on_every_write_path_is_clear_and_keeps_the_old_files(small_disk: Path) -> None:
    """With the disk full: settings, connections, pipelines, saved queries, uploads and
    history each fail with a clear 'disk is full' TuskError (history: not recorded, the
    query is unaffected); every file is as before; saved.db is readable and, once space is
    freed, writable again."""
    home = small_disk
    config.set_value("port", "8123")
    connections.add(ConnectionSpec("keep", "duckdb", path=":memory:"))
    pipe = Pipeline(name="p1", source=QuerySource(connection="demo", sql="select 1"))
    pipelines.save(pipe)
    saved.save_query("kept", "select 1")
    history.record("demo", "duckdb", "select 1")
    root = files.roots()[0].name
    files.upload(root, "", "data.csv", b"a,b\n1,2\n")
    before = _snapshot(home)
    big_sql = "select '" + "x" * 300_000 + "'"  # larger than anything SQLite has room for

    filler = _fill(home)
    attempts: dict[str, Callable[[], object]] = {
        "config": lambda: config.set_value("default_limit", "55"),
        "connections": lambda: connections.add(ConnectionSpec("new", "duckdb", path=":memory:")),
        "pipeline": lambda: pipelines.save(pipe, overwrite=True),
        "new pipeline": lambda: pipelines.save(pipe.model_copy(update={"name": "p2"})),
        "saved.db": lambda: saved.save_query("big", big_sql),
        "saved.db overwrite": lambda: saved.save_query("kept", big_sql, overwrite=True),
        "upload": lambda: files.upload(root, "", "data.csv", b"z" * 200_000, overwrite=True),
        "new upload": lambda: files.upload(root, "", "new.csv", b"z" * 200_000),
    }
    for what, attempt in attempts.items():
        with pytest.raises(TuskError) as caught:
            attempt()
        assert "disk is full" in caught.value.message, (what, caught.value.message)
    assert history.record("demo", "duckdb", big_sql) == 0  # logged, never raised
    assert _snapshot(home) == before
    assert [q.name for q in saved.list_queries()] == ["kept"]  # still readable while full
    assert not [p for p in home.rglob("*.tmp")] and not [p for p in home.rglob("*.part")]

    filler.unlink()
    saved.save_query("after", "select 2")
    assert {q.name for q in saved.list_queries()} == {"kept", "after"}
    assert history.search()[0].statement == "select 1"
    config.set_value("default_limit", "55")
    assert config.load()["default_limit"] == 55


def test_drafts_on_a_full_disk_warn_and_keep_the_old_file(small_disk: Path) -> None:
    """The Studio on a full disk: a run still shows its result, the user is told the tabs
    could not be kept, and the drafts file from before is intact."""
    at = open_page(STUDIO)
    settle(at.button(key="studio_run").click().run())
    drafts = small_disk / DRAFTS_FILE
    before = drafts.read_bytes()
    filler = _fill(small_disk)
    at.button(key="studio_new_tab").click().run()  # a change the drafts file must take
    assert not at.exception
    assert any("could not be kept" in t.value and "disk is full" in t.value for t in at.toast)
    assert drafts.read_bytes() == before
    filler.unlink()


# --- long names -------------------------------------------------------------------------------

_LONG = "a" * 4000
_DEEP = "/".join(["folder"] * 600)


@pytest.mark.parametrize(
    "action",
    [
        lambda r: files.listdir(r, _LONG),
        lambda r: files.listdir(r, _DEEP),
        lambda r: files.info(r, _LONG + ".csv"),
        lambda r: files.preview(r, _LONG + ".csv"),
        lambda r: files.row_count(r, _DEEP + "/x.csv"),
        lambda r: files.scan_sql(r, _DEEP + "/x.parquet"),
        lambda r: files.delete(r, _LONG),
        lambda r: files.upload(r, _DEEP, "x.csv", b"a\n1\n"),
        lambda r: files.upload(r, _LONG, "x.csv", b"a\n1\n"),
    ],
    ids=["list", "list-deep", "info", "preview", "count", "scan", "delete", "upload", "upload2"],
)
def test_a_4000_character_name_or_deep_path_is_bad_input(tusk_home: Path, action) -> None:  # noqa: ANN001
    """A 4,000-character file name or a path 600 folders deep: a clear BadInput, never
    OSError 'File name too long'."""
    root = files.roots()[0].name
    with pytest.raises(BadInput, match="too long|longer than"):
        action(root)


def test_upload_with_a_4000_character_name_is_shortened(tusk_home: Path) -> None:
    """An upload's own name is made safe: cut to 255 bytes, extension kept."""
    root = files.roots()[0].name
    entry = files.upload(root, "", _LONG + ".csv", b"a\n1\n")
    assert entry.name.endswith(".csv") and len(entry.name.encode()) <= 255


def test_a_4000_character_pipeline_name_is_bad_input(tusk_home: Path) -> None:
    """Saving a pipeline under a 4,000-character name (or one whose file name would pass
    255 bytes) is a BadInput."""
    source = QuerySource(connection="demo", sql="select 1")
    with pytest.raises(BadInput, match="at most 100"):
        pipelines.save(Pipeline(name=_LONG, source=source))
    with pytest.raises(BadInput, match="too long"):
        pipelines.save(Pipeline(name="\U0001f600" * 90, source=source))
