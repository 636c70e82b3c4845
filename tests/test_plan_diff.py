"""Plan diff: two EXPLAIN trees matched node by node, the biggest regressions first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tusk.engines.base import Connection
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.explain import Plan, explain_sql, parse_explain
from tusk.plan_diff import ADDED, CHANGED, REMOVED, SAME, diff_plans, match_nodes


def _node(node_type: str, ms: float, *children: dict, **keys: Any) -> dict:
    """A plan node as EXPLAIN (FORMAT JSON, ANALYZE, BUFFERS) writes it."""
    node = {
        "Node Type": node_type,
        "Startup Cost": 1.0,
        "Total Cost": 10.0,
        "Plan Rows": 100,
        "Actual Total Time": ms,
        "Actual Rows": 100,
        "Actual Loops": 1,
        "Shared Hit Blocks": 10,
        "Shared Read Blocks": 2,
        **keys,
    }
    if children:
        node["Plans"] = list(children)
    return node


def _plan(root: dict, execution_ms: float = 1.0) -> Plan:
    return parse_explain([{"Plan": root, "Planning Time": 0.1, "Execution Time": execution_ms}])


def _titles(pairs: list) -> list[tuple[str | None, str | None]]:
    return [(a.title if a else None, b.title if b else None) for a, b in pairs]


def test_a_scan_of_the_same_relation_matches_across_node_types() -> None:
    """Seq Scan on t before an index and Index Scan on t after it are one node, changed."""
    before = _plan(_node("Seq Scan", 50.0, **{"Relation Name": "t", "Alias": "t"}), 50.0)
    after = _plan(
        _node("Index Scan", 0.5, **{"Relation Name": "t", "Alias": "t", "Index Name": "t_k_idx"}),
        0.5,
    )
    diff = diff_plans(before, after)
    assert len(diff.nodes) == 1
    (node,) = diff.nodes
    assert node.change == CHANGED
    assert node.before is not None and node.before.title == "Seq Scan on t"
    assert node.after is not None and node.after.title == "Index Scan using t_k_idx on t"
    assert node.self_ms_delta == pytest.approx(-49.5)
    assert diff.execution_ms == (50.0, 0.5)


def test_a_join_whose_strategy_changed_matches_by_its_children() -> None:
    """Hash Join → Merge Join over the same two scans: the joins pair up (bottom-up pass),
    a Hash node that went away is removed and the Sort nodes that came are added."""
    a = _node("Seq Scan", 5.0, **{"Relation Name": "a", "Alias": "a"})
    b = _node("Seq Scan", 5.0, **{"Relation Name": "b", "Alias": "b"})
    before = _plan(_node("Hash Join", 20.0, a, _node("Hash", 6.0, b), **{"Join Type": "Inner"}))
    after = _plan(
        _node(
            "Merge Join",
            30.0,
            _node("Sort", 8.0, a),
            _node("Sort", 8.0, b),
            **{"Join Type": "Inner"},
        )
    )
    pairs = _titles(match_nodes(before.root, after.root))
    assert ("Hash Join", "Merge Join") in pairs
    assert ("Seq Scan on a", "Seq Scan on a") in pairs
    assert ("Seq Scan on b", "Seq Scan on b") in pairs
    assert ("Hash", None) in pairs
    assert pairs.count((None, "Sort")) == 2
    changes = {
        (d.change, (d.before or d.after).title)  # type: ignore[union-attr]
        for d in diff_plans(before, after).nodes
    }
    assert (REMOVED, "Hash") in changes and (ADDED, "Sort") in changes
    assert (SAME, "Seq Scan on a") in changes and (CHANGED, "Hash Join") in changes


def test_regressions_come_first() -> None:
    """The node whose own time grew most is first; the one that got faster is last."""
    before = _plan(
        _node(
            "Append",
            12.0,
            _node("Seq Scan", 10.0, **{"Relation Name": "slow", "Alias": "slow"}),
            _node("Seq Scan", 1.0, **{"Relation Name": "fast", "Alias": "fast"}),
        )
    )
    after = _plan(
        _node(
            "Append",
            42.0,
            _node("Seq Scan", 1.0, **{"Relation Name": "slow", "Alias": "slow"}),
            _node("Seq Scan", 40.0, **{"Relation Name": "fast", "Alias": "fast"}),
        )
    )
    diff = diff_plans(before, after)
    first, last = diff.nodes[0], diff.nodes[-1]
    assert first.after is not None and first.after.title == "Seq Scan on fast"
    assert first.self_ms_delta == pytest.approx(39.0)
    assert last.after is not None and last.after.title == "Seq Scan on slow"
    row = diff.rows()[0]
    assert row["buffers_before"] == 12 and row["buffers_after"] == 12
    assert row["rows_actual_after"] == 100


def test_plans_without_analyze_rank_by_cost() -> None:
    """No ANALYZE: no times, and the ranking falls back to the planner's cost."""
    before = parse_explain(
        [{"Plan": {"Node Type": "Seq Scan", "Relation Name": "t", "Total Cost": 100.0}}]
    )
    after = parse_explain(
        [{"Plan": {"Node Type": "Seq Scan", "Relation Name": "t", "Total Cost": 300.0}}]
    )
    (node,) = diff_plans(before, after).nodes
    assert node.self_ms_delta is None
    assert node.cost_delta == 200.0
    assert node.change == SAME


# --- a real PostgreSQL plan before and after CREATE INDEX -------------------------------------


@pytest.fixture
def events(pg: ConnectionSpec) -> Iterator[Connection]:
    """50,000 events without an index on `kind`, analyzed."""
    conn = connect(pg)
    conn.execute(
        'drop table if exists "plan diff events"; '
        'create table "plan diff events" (id int primary key, kind int not null, note text); '
        'insert into "plan diff events" select i, i % 5000, md5(i::text) '
        "from generate_series(1, 50000) i; "
        'analyze "plan diff events"'
    )
    yield conn
    conn.execute('drop table "plan diff events"')
    conn.close()


def _explain(conn: Connection, sql: str) -> Plan:
    result = conn.execute(explain_sql(sql, analyze=True), limit=None)
    return parse_explain(result.table.column(0)[0].as_py())


@pytest.mark.postgres
def test_create_index_shows_as_the_scan_node_changing(events: Connection) -> None:
    """The same query before and after CREATE INDEX: the read of the table changes from a
    sequential scan to an index (or bitmap) scan, and the diff says so with both timings."""
    sql = 'select count(*) from "plan diff events" where kind = 42'
    before = _explain(events, sql)
    events.execute('create index "plan diff kind" on "plan diff events" (kind)')
    events.execute('analyze "plan diff events"')
    after = _explain(events, sql)
    diff = diff_plans(before, after)
    scan = next(
        d
        for d in diff.nodes
        if d.before is not None and d.before.title.startswith("Seq Scan on plan diff events")
    )
    assert scan.change == CHANGED
    assert scan.after is not None
    assert "plan diff kind" in scan.after.title or "Bitmap Heap Scan" in scan.after.title
    assert scan.before.self_ms is not None and scan.after.self_ms is not None
    assert scan.before.rows_actual == 10 and scan.after.rows_actual == 10  # 50,000 / 5,000
    assert scan.before.shared_hit is not None  # BUFFERS came along
    assert all(x is not None for x in diff.execution_ms)
