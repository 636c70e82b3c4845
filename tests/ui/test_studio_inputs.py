"""Hard input for the Studio: nothing raises out of the page and nothing typed is lost."""

from __future__ import annotations

import pytest

from tests.ui.conftest import open_tables, result_view, settle
from tests.ui.test_studio import active, outcomes, studio, type_and_submit
from tusk import connections
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.ui.studio.chart import chart_plan


def test_ten_megabyte_paste() -> None:
    """A 10 MB script is accepted, run, and kept."""
    sql = "select 1 as x -- " + "x" * 10_000_000
    at = studio()
    type_and_submit(at, sql)
    assert outcomes(at)[0].result.table.to_pylist() == [{"x": 1}]
    assert active(at).sql == sql


def test_binary_wide_and_unicode_results() -> None:
    """Blobs, 200 columns and emoji identifiers reach the grid without breaking the page."""
    at = studio()
    wide = ", ".join(f"{i} as c{i}" for i in range(200))
    type_and_submit(
        at,
        f"select '\\xDE\\xAD\\xBE\\xEF'::blob as b, 'ünï' as \"Straße 🦆\";\nselect {wide}",
    )
    blob, many = outcomes(at)
    assert blob.result.table.column_names == ["b", "Straße 🦆"]
    assert blob.result.table.column("b").to_pylist() == [b"\xde\xad\xbe\xef"]
    assert many.result.table.num_columns == 200
    assert not at.error


def test_unicode_table_names_in_the_schema_browser() -> None:
    """Tables with emoji names are listed and their SELECT is quoted correctly."""
    at = studio()
    type_and_submit(
        at, 'create table "Données 🦆" ("Prix €" int); insert into "Données 🦆" values (3)'
    )
    open_tables(at)
    pick = [b for b in at.button if b.key and b.key.startswith("browser_demo_table_")]
    assert len(pick) == 6
    pick[0].click().run()  # sorted first: "Données 🦆"
    assert active(at).sql == 'SELECT * FROM "Données 🦆" LIMIT 100'
    settle(at.button(key="studio_run").click().run())
    assert outcomes(at)[0].result.table.to_pylist() == [{"Prix €": 3}]


@pytest.mark.postgres
def test_permission_denied_is_a_readable_error(pg: ConnectionSpec) -> None:
    """A role without rights gets PostgreSQL's 'permission denied', not a traceback."""
    admin = connect(pg)
    admin.execute(
        "drop table if exists secret_t; create table secret_t (x int);"
        "do $$ begin if exists (select from pg_roles where rolname = 'tusk_nobody') then "
        "drop owned by tusk_nobody cascade; drop role tusk_nobody; end if; end $$; "
        "create role tusk_nobody login password 'nobody'; "
        "grant usage on schema public to tusk_nobody"
    )
    admin.close()
    connections.add(pg.with_changes(name="nobody", user="tusk_nobody", password="nobody"))
    at = studio()
    at.selectbox(key=f"studio_conn_{active(at).id}").set_value("nobody").run()
    assert active(at).connection == "nobody"
    type_and_submit(at, "select * from secret_t")
    assert any("permission denied" in e.value for e in at.error), [e.value for e in at.error]
    assert active(at).sql == "select * from secret_t"


@pytest.mark.postgres
def test_explain_shows_a_plan_tree(pg: ConnectionSpec) -> None:
    """EXPLAIN on PostgreSQL shows the plan's nodes with costs (and times with ANALYZE)."""
    admin = connect(pg)
    admin.execute(
        "drop table if exists ex_a, ex_b; create table ex_a as select g as id from "
        "generate_series(1, 2000) g; create table ex_b as select g as id from "
        "generate_series(1, 2000) g; analyze ex_a; analyze ex_b"
    )
    admin.close()
    connections.add(pg.with_changes(name="pg"))
    at = studio()
    at.selectbox(key=f"studio_conn_{active(at).id}").set_value("pg").run()
    assert active(at).connection == "pg"
    type_and_submit(at, "select count(*) from ex_a join ex_b using (id)")
    at.checkbox(key="studio_explain_analyze").check().run()
    at.button(key="studio_explain").click().run()
    assert not at.exception
    frames = [d.value for d in at.dataframe]
    plan = next(f for f in frames if "self_share" in f.columns)
    labels = " ".join(plan["label"].astype(str).tolist())
    assert "Join" in labels and "ex_a" in labels
    assert plan["self_share"].notna().any()


def test_chart_plan_picks_from_types() -> None:
    """Dates → line, text → bar, two numbers → scatter, no numbers → no chart."""
    import datetime

    import pyarrow as pa

    assert chart_plan(pa.table({"d": [datetime.date(2024, 1, 1)], "v": [1]}))[0] == "line"
    assert chart_plan(pa.table({"city": ["a"], "n": [1]}))[:2] == ("bar", "city")
    assert chart_plan(pa.table({"x": [1.0], "y": [2.0]}))[0] == "scatter"
    assert chart_plan(pa.table({"s": ["a"]}))[0] == "none"


def test_export_full_result_from_the_page() -> None:
    """Export writes the FULL result (not the preview) and offers it for download."""
    from tusk import config

    config.set_value("default_limit", "10")
    at = studio()
    type_and_submit(at, "select * from orders")
    assert outcomes(at)[0].result.table.num_rows == 10
    result_view(at, "Export")
    at.button(key=f"export_{active(at).id}_0_go").click().run()
    assert not at.exception
    path, fmt, rows = at.session_state[f"export_{active(at).id}_0_file"]
    assert (fmt, rows) == ("csv", 5000)
    with open(path, encoding="utf-8") as fh:
        assert sum(1 for _ in fh) == 5001  # header + every order


@pytest.mark.postgres
def test_plan_compare_shows_the_scan_that_changed(pg: ConnectionSpec) -> None:
    """Explain, CREATE INDEX, explain again, compare: the scan of the table is a changed node
    (sequential before, index after), and the two plans stand side by side."""
    admin = connect(pg)
    admin.execute(
        "drop table if exists ex_events; create table ex_events as select g as id, g % 5000 "
        "as kind from generate_series(1, 50000) g; analyze ex_events"
    )
    connections.add(pg.with_changes(name="pg"))
    at = studio()
    at.selectbox(key=f"studio_conn_{active(at).id}").set_value("pg").run()
    type_and_submit(at, "select count(*) from ex_events where kind = 42")
    at.checkbox(key="studio_explain_analyze").check().run()
    at.button(key="studio_explain").click().run()
    toggle = f"studio_plan_compare_{active(at).id}"
    assert not [t for t in at.toggle if t.key == toggle]  # one plan: nothing to compare yet
    admin.execute("create index ex_events_kind on ex_events (kind); analyze ex_events")
    admin.close()
    at.button(key="studio_explain").click().run()
    at.toggle(key=toggle).set_value(True).run()
    assert not at.exception
    frames = [d.value for d in at.dataframe]
    assert sum("self_share" in f.columns for f in frames) == 2  # both plans, side by side
    changes = next(f for f in frames if "self_ms_delta" in f.columns)
    scan = changes[changes["before"].astype(str).str.startswith("Seq Scan on ex_events")]
    assert scan["change"].tolist() == ["changed"]
    assert "ex_events" in str(scan["after"].iloc[0])


def test_profile_view_profiles_the_full_result() -> None:
    """The Profile view counts the FULL result (5,000 orders, not the 10-row preview), with
    the estimate marked; picking a column shows its top values and histogram."""
    from tusk import config

    config.set_value("default_limit", "10")
    at = studio()
    type_and_submit(at, "select id, customer_id, status from orders")
    assert outcomes(at)[0].result.table.num_rows == 10
    result_view(at, "Profile")
    assert not at.exception
    frame = next(d.value for d in at.dataframe if "null_share" in d.value.columns)
    rows = {r["column"]: r for r in frame.to_dict("records")}
    assert set(rows) == {"id", "customer_id", "status"}
    assert rows["id"]["min"] == "1" and rows["id"]["max"] == "5000"
    assert rows["id"]["nulls"] == 0 and rows["status"]["distinct"].startswith("≈ ")
    assert any("5,000 rows profiled" in c.value for c in at.caption)
    key = f"profile_{active(at).id}_0_column"
    at.selectbox(key=key).set_value("id").run()
    assert not at.exception
    tops = [d.value for d in at.dataframe if list(d.value.columns) == ["value", "rows"]]
    assert tops and tops[0]["rows"].sum() == 10  # ten of the 5,000 distinct ids, once each
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")  # the histogram


def test_diff_view_compares_a_run_with_its_snapshot(tmp_path) -> None:  # noqa: ANN001
    """Keep a result as a snapshot, change the table, run again, compare by the detected
    primary key: one row only in A, one only in B, one changed (its cell highlighted)."""
    import duckdb

    from tusk import config

    path = tmp_path / "diff.duckdb"
    with duckdb.connect(str(path)) as raw:
        raw.execute(
            "create table t (id integer primary key, v varchar); "
            "insert into t select i, 'v' || i from range(1, 2001) r(i)"
        )
    config.set_value("default_limit", "10")
    connections.add(ConnectionSpec("d", "duckdb", path=str(path)))
    at = studio()
    at.selectbox(key=f"studio_conn_{active(at).id}").set_value("d").run()
    type_and_submit(at, "select * from t")
    result_view(at, "Diff")
    tab_id = active(at).id
    assert any("Nothing to compare with yet" in i.value for i in at.info)
    at.text_input(key=f"diff_{tab_id}_0_snap_name").set_value("before").run()
    at.button(key=f"diff_{tab_id}_0_snap").click().run()
    assert not at.exception and not at.error
    type_and_submit(
        at,
        "update t set v = 'changed' where id = 3; delete from t where id = 1; "
        "insert into t values (5000, 'new')",
    )
    type_and_submit(at, "select * from t")
    result_view(at, "Diff")
    with_key = f"diff_{tab_id}_0_with"
    snapshot = next(
        o for o in at.selectbox(key=with_key).options if o.startswith("Snapshot · before")
    )
    at.selectbox(key=with_key).set_value(snapshot).run()
    assert at.multiselect(key=f"diff_{tab_id}_0_key").value == ["id"]  # the detected PK
    at.button(key=f"diff_{tab_id}_0_go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Only in A": "1", "Only in B": "1", "Changed": "1", "Same": "1,998"}
    changed = next(d for d in at.dataframe if "v" in d.value.columns and "id" in d.value.columns)
    assert changed.value.to_dict("records") == [{"id": 3, "v": "v3 → changed"}]
    at.button(key=f"diff_{tab_id}_0_export").click().run()
    assert not at.exception
