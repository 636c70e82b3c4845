"""Issue 13 case 4: cluster SQL (Daft on Ray) reaches no file or URL past its tables.

An Analyst on a shared Tusk ran `url_download('file:///etc/passwd')` and got the file back,
and `url_upload` wrote outside the data roots. Every function call must be on the allow-list
of pure functions (tusk.cluster.functions) — on the cluster, in the Studio's cluster engine and
in the Cluster page's "Run here" (DataFusion). All but the last test need no cluster: the SQL
is refused before anything is sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tusk import config
from tusk.cluster import client, functions
from tusk.engines.cluster import ClusterConnection
from tusk.engines.duckdb import BASE_CONFIG, load_extension
from tusk.errors import BadInput, PermissionDenied, QueryFailed

NOWHERE = "127.0.0.1:1"  # no head: a query that got past the checks would fail to connect

DENIED, UNKNOWN = PermissionDenied, QueryFailed
HOSTILE = [
    ("select url_download('file:///etc/passwd') as x from t", DENIED, "url_download"),
    ("select url_upload(s, 'file:///tmp/tusk-owned') as x from t", DENIED, "url_upload"),
    ("select * from read_parquet('/etc/passwd')", DENIED, "read_parquet"),
    ("select * from read_csv('/etc/passwd')", DENIED, "read_csv"),
    ("select * from read_json('/etc/passwd')", DENIED, "read_json"),
    ("select jq(s, 'env') as x from t", DENIED, "jq"),  # returns the worker's environment
    ("select \"URL_DOWNLOAD\"('file:///etc/passwd') as x from t", DENIED, "URL_DOWNLOAD"),
    ("select list_map(l, x -> url_download(x)) as x from t", DENIED, "url_download"),
    (
        "select abs(a) as x from t where a in (select url_download(s) from t)",
        DENIED,
        "url_download",
    ),
    ("select daft.url_download(s) as x from t", UNKNOWN, "daft.url_download"),
    ("select t.abs(a) as x from t", UNKNOWN, "t.abs"),
    ("select frobnicate(s) as x from t", UNKNOWN, "frobnicate"),
    ("select file_size(file('/etc/passwd')) as x from t", BadInput, None),  # `file(`: no parse
]


@pytest.fixture
def lake(tmp_path: Path, users: dict[str, Any]) -> dict[str, str]:
    """A data root holding one Parquet table `t`, on a shared Tusk."""
    root = tmp_path / "lake"
    root.mkdir()
    duckdb.sql(
        f"copy (select 1 as a, 'x' as s, [1, 2] as l) to '{root / 't.parquet'}' (format parquet)"
    )
    config.set_value("data_roots", str(root))
    return {"t": str(root / "t.parquet")}


@pytest.mark.parametrize(("sql", "error", "name"), HOSTILE)
def test_submit_refuses_functions_off_the_allow_list(
    sql: str, error: type, name: str | None, lake: dict[str, str], users: dict[str, Any]
) -> None:
    """The Analyst's submit is refused before it reaches the cluster, naming the function:
    PermissionDenied for one that reaches files, URLs or the environment, QueryFailed for one
    Tusk does not know, BadInput for SQL Tusk cannot read (so cannot check)."""
    with pytest.raises(error) as caught:
        client.submit(NOWHERE, sql, lake, actor=users["analyst"])
    if name is None:
        assert "could not check" in caught.value.message
        return
    assert f"{name}(" in caught.value.message
    assert caught.value.title == "Function not allowed"


@pytest.mark.parametrize(("sql", "error", "name"), HOSTILE)
def test_run_here_refuses_functions_off_the_allow_list(
    sql: str, error: type, name: str | None, lake: dict[str, str], users: dict[str, Any]
) -> None:
    """The Cluster page's "Run here" (DataFusion) applies the same check."""
    with pytest.raises(error, match=re.escape(f"{name}(") if name else "could not check"):
        client.run_local(sql, lake, actor=users["analyst"])


@pytest.mark.parametrize(("sql", "error", "name"), HOSTILE)
def test_cluster_engine_refuses_functions_off_the_allow_list(
    sql: str, error: type, name: str | None, lake: dict[str, str]
) -> None:
    """A confined Studio session on a cluster connection (tusk.engines.cluster) refuses them."""
    conn = ClusterConnection(NOWHERE, lake)
    conn.confine([Path(lake["t"]).parent])
    with pytest.raises(error):
        conn.execute(sql)
    with pytest.raises(error):
        list(conn.stream_arrow(sql))


def test_pure_functions_pass_the_check(lake: dict[str, str]) -> None:
    """Math, text, dates, aggregates, windows, casts, lists and conditionals are allowed."""
    client.check_reads(
        "with u as (select a, s, l from t) "
        "select abs(a) as a1, upper(s) || 'x' as s1, count(*) over () as n, "
        "sum(a) over (partition by s order by a) as running, row_number() over () as r, "
        "cast(a as double) as d, a::int as i, case when a > 1 then 'big' else 'small' end as k, "
        "coalesce(a, 0) as c, extract(year from current_date) as y, list_map(l, x -> x + 1) as m, "
        "date_trunc('day', current_timestamp) as day, trim(s) as tr, round(sqrt(a), 2) as r2 "
        "from u where a in (select max(a) from t) and exists (select 1 from t) and s like 'x%'",
        lake,
    )


def test_run_here_still_runs_pure_sql(lake: dict[str, str], users: dict[str, Any]) -> None:
    """The check keeps ordinary SQL working for the confined user."""
    got = client.run_local(
        "select upper(s) as s, abs(a) + 1 as b from t", lake, actor=users["analyst"]
    )
    assert got.to_pylist() == [{"s": "X", "b": 2}]


def test_tables_outside_the_query_stay_refused(lake: dict[str, str], users: dict[str, Any]) -> None:
    """The earlier table check still holds next to the function check."""
    with pytest.raises(PermissionDenied, match="not one of this query's tables"):
        client.submit(NOWHERE, "select * from '/etc/passwd'", lake, actor=users["analyst"])


def test_allow_list_covers_dafts_registry() -> None:
    """Every function of the installed Daft is classified once: allowed (pure) or refused with
    a reason. A Daft upgrade that adds one fails here until someone decides (until then it is
    refused anyway, being off the allow-list)."""
    from daft import daft as native

    registry = {f.name.lower() for f in native.list_sql_functions()}
    assert not functions.ALLOWED & set(functions.REFUSED)
    assert not functions.ALLOWED - registry, functions.ALLOWED - registry
    assert registry - functions.ALLOWED == set(functions.REFUSED)
    assert {"url_download", "url_upload", "file", "jq"} <= set(functions.REFUSED)


@pytest.fixture(scope="module")
def tpch_queries() -> dict[int, str]:
    """DuckDB's TPC-H query texts by number (the same texts tests/cluster/test_tpch.py runs)."""
    con = duckdb.connect(config=BASE_CONFIG)
    load_extension(con, "tpch")
    return dict(con.execute("SELECT query_nr, query FROM tpch_queries()").fetchall())


TPCH_TABLES = ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier")


def test_every_tpch_query_passes_the_check(tpch_queries: dict[int, str]) -> None:
    """All 22 TPC-H queries use only allowed functions and their own tables."""
    tables = {name: f"/data/{name}.parquet" for name in TPCH_TABLES}
    for sql in tpch_queries.values():
        client.check_reads(sql, tables)  # raises for the first refused query
    assert len(tpch_queries) == 22


@pytest.fixture(scope="module")
def tpch_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """TPC-H at scale 0.01 as Parquet files."""
    root = tmp_path_factory.mktemp("tpch")
    con = duckdb.connect(config=BASE_CONFIG)
    load_extension(con, "tpch")
    con.execute("CALL dbgen(sf=0.01)")
    paths = {}
    for name in TPCH_TABLES:
        path = root / f"{name}.parquet"
        con.execute(f"COPY {name} TO '{path}' (FORMAT parquet)")
        paths[name] = str(path)
    con.close()
    return paths


@pytest.fixture(scope="module")
def one_node() -> Iterator[Any]:
    """A head with no workers: enough to run Daft SQL for real."""
    from tusk.cluster.nodes import LocalCluster

    with LocalCluster(0, head_cpus=2) as started:
        yield started


@pytest.mark.cluster
def test_confined_analyst_runs_tpch_and_cannot_download(
    one_node: Any,
    tpch_files: dict[str, str],
    tpch_queries: dict[int, str],
    users: dict[str, Any],
    tmp_path: Path,
) -> None:
    """On a real cluster, the confined Analyst's TPC-H queries run and give the unconfined
    answer, while url_download of a file beside the data is refused before it runs."""
    config.set_value("data_roots", str(Path(tpch_files["lineitem"]).parent))
    analyst = users["analyst"]
    for number in (1, 3, 13, 18):
        # start_query is the unconfined path of the trusted CLI (no permission check, no roots).
        mine = client.start_query(one_node.address, tpch_queries[number], tpch_files).result(120)
        theirs = client.run(
            one_node.address, tpch_queries[number], tpch_files, timeout_s=120, actor=analyst
        )
        assert theirs.num_rows == mine.num_rows > 0
        assert theirs.column_names == mine.column_names
    secret = tmp_path / "secret.txt"
    secret.write_text("the key")
    sql = f"select url_download('file://{secret}') as x from region"
    # Unconfined, the danger is real: Daft reads the file on the cluster...
    got = client.start_query(one_node.address, sql, tpch_files).result(120)
    assert b"the key" in got.column("x")[0].as_py()
    # ...and the confined Analyst is refused before anything is sent.
    with pytest.raises(PermissionDenied, match="url_download"):
        client.run(one_node.address, sql, tpch_files, timeout_s=120, actor=analyst)
