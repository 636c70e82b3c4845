"""PostgreSQL specifics: connection failures are quick and readable, secrets stay secret."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.conftest import PG_HOST, PG_PORT, pg_spec
from tusk.engines.registry import connect
from tusk.errors import ConnectionFailed, QueryFailed

pytestmark = pytest.mark.postgres


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a hung or firewalled server)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except TimeoutError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    for s in held:
        s.close()
    srv.close()


def test_unanswered_connect_times_out(silent_server: int, pg_database: str) -> None:
    """A server that never answers gives ConnectionFailed after the connect timeout."""
    spec = pg_spec(pg_database).with_changes(port=silent_server)
    start = time.monotonic()
    with pytest.raises(ConnectionFailed) as info:
        connect(spec)
    elapsed = time.monotonic() - start
    assert elapsed < 30, "the connect timeout did not apply (libpq would wait far longer)"
    assert f"127.0.0.1:{silent_server}" in info.value.message


def test_refused_port_is_explained(pg_database: str) -> None:
    """A closed port says the server may not be running."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    with pytest.raises(ConnectionFailed) as info:
        connect(pg_spec(pg_database).with_changes(port=port))
    assert "is the server running" in info.value.message


def test_wrong_password_names_the_problem_not_the_password(pg_database: str) -> None:
    """Bad credentials are reported without echoing the password."""
    secret = "not-the-password-Zq81"
    with pytest.raises(ConnectionFailed) as info:
        connect(pg_spec(pg_database).with_changes(password=secret))
    assert "password authentication failed" in info.value.message
    assert secret not in info.value.message
    assert secret not in repr(pg_spec(pg_database).with_changes(password=secret))


def test_error_position_points_into_the_script(pg_database: str) -> None:
    """The server's error position is reported relative to the whole script."""
    conn = connect(pg_spec(pg_database))
    script = "select 1;\nselect nope from (select 1) t"
    with pytest.raises(QueryFailed) as info:
        conn.execute(script)
    assert info.value.position is not None
    assert script[info.value.position - 1 :].startswith("nope")
    conn.close()


def test_types_survive_the_trip(pg_database: str) -> None:
    """Common PostgreSQL types arrive as sensible Arrow types (json as text, numeric exact)."""
    conn = connect(pg_spec(pg_database))
    result = conn.execute(
        "select 1::int8 as i, 1.25::numeric(12,2) as n, 2.5::float8 as f, true as b, "
        "now() as ts, '{\"a\": [1, 2]}'::jsonb as j, gen_random_uuid() as u, "
        "array[1, 2] as arr, null::text as nothing, '\\xdeadbeef'::bytea as blob"
    )
    row = result.table.to_pylist()[0]
    types = {f.name: str(f.type) for f in result.table.schema}
    assert types["i"] == "int64" and types["f"] == "double" and types["b"] == "bool"
    assert types["ts"].startswith("timestamp[us, tz=")
    assert str(row["n"]) == "1.25"
    assert row["j"] == '{"a": [1, 2]}'
    assert len(row["u"]) == 36
    assert row["arr"] == [1, 2]
    assert row["nothing"] is None
    assert row["blob"] == b"\xde\xad\xbe\xef" and types["blob"] == "binary"
    conn.close()


def test_data_modifying_cte_runs_once(pg_database: str) -> None:
    """A WITH … INSERT cannot use a cursor; it falls back and still runs exactly once."""
    conn = connect(pg_spec(pg_database))
    conn.execute("drop table if exists cte_t; create table cte_t (x int)")
    result = conn.execute(
        "with ins as (insert into cte_t values (1) returning x) select * from ins"
    )
    assert result.table.to_pylist() == [{"x": 1}]
    assert conn.execute("select count(*) as n from cte_t").table.to_pylist() == [{"n": 1}]
    conn.close()


def test_host_reported_in_describe() -> None:
    """describe() shows where a connection points and never the password."""
    spec = pg_spec("db").with_changes(password="hunter2")
    assert spec.describe() == f"postgres@{PG_HOST}:{PG_PORT}/db"


def test_bulk_path_errors_are_the_servers_words(pg_database: str) -> None:
    """A failing stream_arrow shows PostgreSQL's message, not the scanner's wrapper."""
    conn = connect(pg_spec(pg_database))
    with pytest.raises(QueryFailed) as info:
        list(conn.stream_arrow("select 'a'::no_such_type"))
    assert info.value.message.startswith('type "no_such_type" does not exist')
    assert "postgres_query" not in info.value.message
    conn.close()


def test_bulk_path_streams_exotic_types(pg_database: str) -> None:
    """Geometric, range and network types stream too (the scanner reads them as text)."""
    conn = connect(pg_spec(pg_database))
    sql = "select point(1, 2) as p, int4range(1, 5) as r, '127.0.0.1'::inet as ip"
    rows = [r for b in conn.stream_arrow(sql) for r in b.to_pylist()]
    assert rows == [{"p": "(1,2)", "r": "[1,5)", "ip": "127.0.0.1"}]  # as psql shows it
    conn.close()


def test_cursor_fallback_streams_in_batches(pg_database: str) -> None:
    """The fallback bulk path (server-side cursor) yields every row with one schema."""
    conn = connect(pg_spec(pg_database))
    batches = list(
        conn._stream_cursor("select g, g::text as t from generate_series(1, 120000) g", None)
    )
    assert len(batches) >= 3  # 50,000-row fetches
    assert len({b.schema for b in batches}) == 1
    assert sum(b.num_rows for b in batches) == 120_000
    conn.close()


def test_whole_table_stream_uses_the_table_scan(pg_database: str) -> None:
    """`select * from <table>` streams every row through the scanner's table path, quoted
    names and views included (views take the general path)."""
    import pyarrow as pa

    conn = connect(pg_spec(pg_database))
    name = 'Odd "name"; --'
    conn.load_arrow(name, pa.table({"id": list(range(70_000))}), mode="replace")
    conn.execute('create or replace view odd_view as select * from "Odd ""name""; --"')
    quoted = '"Odd ""name""; --"'
    assert conn._whole_table(f"select * from {quoted}") == ("public", name)
    assert conn._whole_table("select * from odd_view") is None
    for sql in (f"select * from public.{quoted}", f"table {quoted}", "select * from odd_view"):
        rows = sum(b.num_rows for b in conn.stream_arrow(sql))
        assert rows == 70_000, sql
    conn.close()


def test_error_text_hides_the_cursor_declaration(pg_database: str) -> None:
    """The quoted line in an error is the user's SQL, caret in place, without Tusk's DECLARE."""
    conn = connect(pg_spec(pg_database))
    with pytest.raises(QueryFailed) as info:
        conn.execute("select * from missing_table_x")
    message = info.value.message
    assert "DECLARE" not in message
    line, caret = message.splitlines()[-2:]
    assert line == "LINE 1: select * from missing_table_x"
    assert line[caret.index("^") :].startswith("missing_table_x")
    conn.close()


def test_failed_load_leaves_no_scratch_table_and_keeps_the_old_one(pg_database: str) -> None:
    """A refused load removes its scratch table; the existing table is untouched."""
    import pyarrow as pa

    conn = connect(pg_spec(pg_database))
    conn.load_arrow("kept", pa.table({"id": [1, 2, 3]}), mode="replace")
    with pytest.raises(QueryFailed, match="already exists"):
        conn.load_arrow("kept", pa.table({"id": [9]}), mode="create")
    with pytest.raises(QueryFailed):  # wrong column type for an append
        conn.load_arrow("kept", pa.table({"id": ["not a number"]}), mode="append")
    names = [t.name for t in conn.catalog().tables]
    assert not [n for n in names if n.startswith("__tusk_load_")]
    assert conn.execute("select count(*) as n from kept").table.to_pylist() == [{"n": 3}]
    conn.close()


def test_a_cancel_before_the_scanner_starts_stops_the_stream(
    pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cancel() while the stream still loads DuckDB (a second on a busy machine) is kept:
    the stream ends with QueryCancelled instead of running its query to the end."""
    from tusk.engines import duckdb as duck_engine
    from tusk.errors import QueryCancelled

    real_open = duck_engine.open_duckdb

    def slow_open(*args: object, **kwargs: object) -> object:
        time.sleep(1.0)  # as on a loaded machine: the extension loads slowly
        return real_open(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(duck_engine, "open_duckdb", slow_open)
    conn = connect(pg_spec(pg_database))
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["rows"] = sum(b.num_rows for b in conn.stream_arrow("select pg_sleep(60)"))
        except QueryCancelled as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.3)
    assert conn._streams, "the stream registers itself before DuckDB loads"
    conn.cancel()
    worker.join(20)
    assert not worker.is_alive(), "the stream ran on after cancel()"
    assert isinstance(outcome.get("error"), QueryCancelled), outcome
    assert conn.execute("select 1 as ok").table.to_pylist() == [{"ok": 1}]
    conn.close()


@pytest.mark.postgres
def test_a_catalog_read_past_its_statement_timeout_is_a_query_error(
    pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The schema browser's and diagram's catalog read is bounded like the schema compare's:
    a catalog query that runs too long ends with a readable error, and the connection works."""
    from tusk.engines import pg_schema, postgres

    monkeypatch.setattr(pg_schema, "STATEMENT_TIMEOUT", "50ms")
    monkeypatch.setattr(postgres, "_CATALOG_COLUMNS", "select pg_sleep(2)")
    conn = connect(pg_spec(pg_database))
    with pytest.raises(QueryFailed) as caught:
        conn.catalog()
    assert "statement timeout" in caught.value.message
    assert conn.execute("select 1 as one").table.column(0).to_pylist() == [1]
    conn.close()
