"""EXPLAIN plans: SQL building, parsing, the flattened tree, and real PostgreSQL plans."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tusk.engines.base import Connection
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.errors import BadInput
from tusk.explain import Plan, PlanNode, explain_sql, flatten, parse_explain, parse_plan

JOINS = {"Hash Join", "Merge Join", "Nested Loop"}


def _node(node_type: str, ms: float | None, loops: int, *children: dict, **keys: Any) -> dict:
    """A plan node as EXPLAIN (FORMAT JSON) writes it."""
    node = {
        "Node Type": node_type,
        "Startup Cost": 1.0,
        "Total Cost": 10.0,
        "Plan Rows": 100,
        "Plan Width": 8,
        **keys,
    }
    if ms is not None:
        node.update({"Actual Total Time": ms, "Actual Rows": 10, "Actual Loops": loops})
    if children:
        node["Plans"] = list(children)
    return node


def _hand_plan(analyze: bool = True) -> list[dict]:
    """A hand-written plan, three levels deep; with analyze, exclusive times sum to 20 ms."""

    def t(ms: float) -> float | None:
        return ms if analyze else None

    root = _node(
        "Aggregate",
        t(20.0),
        1,
        _node(
            "Hash Join",
            t(16.0),
            1,
            _node(
                "Nested Loop",
                t(10.0),
                1,
                _node("Seq Scan", t(2.0), 1, **{"Relation Name": "orders", "Alias": "o"}),
                _node(
                    "Index Scan",
                    t(0.01),
                    500,
                    **{
                        "Relation Name": "items",
                        "Alias": "items",
                        "Index Name": "items_pkey",
                        "Index Cond": "(id = o.item_id)",
                    },
                ),
                **{"Join Type": "Inner"},
            ),
            _node(
                "Hash",
                t(3.0),
                1,
                _node(
                    "Seq Scan",
                    t(2.5),
                    1,
                    **{"Relation Name": "customers", "Alias": "c", "Filter": "(active)"},
                ),
            ),
            **{"Join Type": "Left", "Hash Cond": "(o.customer_id = c.id)"},
        ),
        **{"Strategy": "Hashed", "Group Key": ["c.region", "o.status"]},
    )
    top: dict[str, Any] = {"Plan": root}
    if analyze:
        top.update({"Planning Time": 0.25, "Triggers": [], "Execution Time": 20.5})
    return [top]


# --- explain_sql -----------------------------------------------------------------------------


def test_explain_sql_wraps_one_statement() -> None:
    """A single statement (trailing semicolon or not) is wrapped in EXPLAIN (FORMAT JSON)."""
    assert explain_sql("select 1;") == "EXPLAIN (FORMAT JSON)\nselect 1"
    assert explain_sql("  select ';' as x  ") == "EXPLAIN (FORMAT JSON)\nselect ';' as x"
    assert explain_sql("select 1", analyze=True) == (
        "EXPLAIN (FORMAT JSON, ANALYZE, BUFFERS)\nselect 1"
    )
    assert explain_sql("-- why\nselect 1").endswith("-- why\nselect 1")


@pytest.mark.parametrize("sql", ["", "   ", ";", " ; ;", "-- only a comment", "/* nothing */"])
def test_explain_sql_refuses_empty_sql(sql: str) -> None:
    """Nothing to explain is BadInput."""
    with pytest.raises(BadInput):
        explain_sql(sql)


@pytest.mark.parametrize("sql", ["select 1; select 2", "create table t(a int); select * from t"])
def test_explain_sql_refuses_several_statements(sql: str) -> None:
    """EXPLAIN takes exactly one statement."""
    with pytest.raises(BadInput, match="one statement"):
        explain_sql(sql, analyze=True)


def test_explain_sql_refuses_an_explain() -> None:
    """EXPLAIN of an EXPLAIN would be a syntax error: say so up front."""
    with pytest.raises(BadInput):
        explain_sql("explain analyze select 1")


# --- parsing and flattening a hand-written plan ---------------------------------------------


def test_parse_builds_the_tree() -> None:
    """Nodes, relations, index, conditions and the statement timings come out of the JSON."""
    plan = parse_explain(json.dumps(_hand_plan()))
    assert isinstance(plan, Plan)
    assert plan.planning_ms == 0.25
    assert plan.execution_ms == 20.5
    root = plan.root
    assert root.node_type == "Aggregate"
    join = root.children[0]
    assert (join.node_type, join.join_type) == ("Hash Join", "Left")
    assert "(o.customer_id = c.id)" in join.detail
    loop, hashed = join.children
    assert [c.relation for c in loop.children] == ["orders", "items"]
    scan = loop.children[1]
    assert (scan.index, scan.alias, scan.loops, scan.actual_total_ms) == (
        "items_pkey",
        "items",
        500,
        0.01,
    )
    assert scan.detail == "Index Cond: (id = o.item_id)"
    assert hashed.children[0].detail == "Filter: (active)"
    assert root.detail == "Group Key: c.region, o.status"
    assert [n.node_type for n in root.walk()] == [
        "Aggregate",
        "Hash Join",
        "Nested Loop",
        "Seq Scan",
        "Index Scan",
        "Hash",
        "Seq Scan",
    ]


def test_parse_accepts_text_bytes_and_parsed_json() -> None:
    """The cell may be JSON text, bytes, the parsed list or its single object."""
    raw = _hand_plan()
    roots = [
        parse_plan(json.dumps(raw)),
        parse_plan(json.dumps(raw).encode()),
        parse_plan(raw),
        parse_plan(raw[0]),
    ]
    assert all(isinstance(r, PlanNode) for r in roots)
    assert all(r == roots[0] for r in roots)


@pytest.mark.parametrize("raw", ["not json", "[]", '[{"Planning Time": 1}]', "42", [{"Plan": 3}]])
def test_parse_refuses_what_is_not_a_plan(raw: Any) -> None:
    """Anything but EXPLAIN (FORMAT JSON) output is BadInput."""
    with pytest.raises(BadInput):
        parse_plan(raw)


def test_flatten_draws_the_tree() -> None:
    """Labels are indented like a tree and name the node the way PostgreSQL's text does."""
    rows = flatten(parse_explain(_hand_plan()))
    assert [r["label"] for r in rows] == [
        "HashAggregate",
        "└─ Hash Left Join on (o.customer_id = c.id)",
        "   ├─ Nested Loop",
        "   │  ├─ Seq Scan on orders o",
        "   │  └─ Index Scan using items_pkey on items",
        "   └─ Hash",
        "      └─ Seq Scan on customers c",
    ]
    assert [r["depth"] for r in rows] == [0, 1, 2, 3, 3, 2, 3]
    assert rows[4]["loops"] == 500
    assert rows[0]["cost"] == 10.0 and rows[0]["rows_est"] == 100


def test_flatten_shares_are_exclusive_time() -> None:
    """Each node's share is its own time (total × loops minus children's) over the root's."""
    rows = flatten(parse_explain(_hand_plan()))
    expected = [4.0, 3.0, 3.0, 2.0, 5.0, 0.5, 2.5]
    assert [r["self_ms"] for r in rows] == pytest.approx(expected)
    assert [r["self_share"] for r in rows] == pytest.approx([ms / 20 for ms in expected])
    assert sum(r["self_share"] for r in rows) == pytest.approx(1.0)


def _subplan_plan(init_name: str, filter_text: str) -> list[dict]:
    """A CTE, an InitPlan and the nodes that really run them (times included in theirs)."""
    cte = _node(
        "Seq Scan",
        1.0,
        1,
        **{"Relation Name": "c", "Parent Relationship": "InitPlan", "Subplan Name": "CTE x"},
    )
    init = _node(
        "Aggregate",
        3.0,
        1,
        _node("Seq Scan", 2.0, 1, **{"Relation Name": "o", "Alias": "o_1"}),
        **{"Parent Relationship": "InitPlan", "Subplan Name": init_name},
    )
    scan = _node("CTE Scan", 2.0, 1, **{"CTE Name": "x", "Alias": "x"})
    hashed = _node(
        "Hash", 5.0, 1, _node("Seq Scan", 4.5, 1, **{"Relation Name": "o", "Filter": filter_text})
    )
    root = _node(
        "Hash Join",
        10.0,
        1,
        cte,
        init,
        scan,
        hashed,
        **{"Join Type": "Semi", "Hash Cond": "(x.id = o.cid)"},
    )
    return [{"Plan": root, "Planning Time": 0.1, "Execution Time": 10.2}]


@pytest.mark.parametrize(
    ("init_name", "filter_text"),
    [
        ("InitPlan 2 (returns $1)", "(amount > $1)"),  # PostgreSQL ≤ 16
        ("InitPlan 2", "(amount > (InitPlan 2).col1)"),  # PostgreSQL 17+
    ],
)
def test_flatten_charges_ctes_and_initplans_to_the_nodes_that_run_them(
    init_name: str, filter_text: str
) -> None:
    """A CTE's time is inside its CTE Scan, an InitPlan's inside the node using its result."""
    rows = flatten(parse_explain(_subplan_plan(init_name, filter_text)))
    assert [r["label"] for r in rows] == [
        "Hash Semi Join on (x.id = o.cid)",
        "├─ [CTE x] Seq Scan on c",
        f"├─ [{init_name}] Aggregate",
        "│  └─ Seq Scan on o o_1",
        "├─ CTE Scan on x",
        "└─ Hash",
        "   └─ Seq Scan on o",
    ]
    assert [r["self_ms"] for r in rows] == pytest.approx([3.0, 1.0, 1.0, 2.0, 1.0, 0.5, 1.5])
    assert sum(r["self_share"] for r in rows) == pytest.approx(1.0)


def test_flatten_charges_a_subplan_to_its_parent() -> None:
    """A SubPlan runs inside its parent's expressions: all its loops come off the parent."""
    sub = _node(
        "Aggregate",
        0.25,
        4,
        **{"Parent Relationship": "SubPlan", "Subplan Name": "SubPlan 1"},
    )
    rows = flatten(parse_plan({"Plan": _node("Index Only Scan", 2.0, 1, sub)}))
    assert [r["self_ms"] for r in rows] == pytest.approx([1.0, 1.0])
    assert rows[1]["label"] == "└─ [SubPlan 1] Aggregate"


def test_flatten_without_analyze_has_no_times() -> None:
    """A plain EXPLAIN has estimates only: actual time, rows, loops and share are None."""
    plan = parse_explain(_hand_plan(analyze=False))
    assert plan.planning_ms is None and plan.execution_ms is None
    for row in flatten(plan.root):
        assert row["actual_ms"] is None
        assert row["actual_rows"] is None
        assert row["loops"] is None
        assert row["self_share"] is None
        assert row["cost"] > 0


# --- real PostgreSQL plans --------------------------------------------------------------------


@pytest.fixture
def shop(pg: ConnectionSpec) -> Iterator[Connection]:
    """Customers (2,000) and their orders (6,000) in the test database, analyzed."""
    conn = connect(pg)
    conn.execute(
        """
        drop table if exists explain_orders;
        drop table if exists explain_customers;
        create table explain_customers (
            id int primary key, name text not null, region text not null);
        create table explain_orders (
            id int primary key, customer_id int not null references explain_customers,
            amount numeric(10, 2) not null);
        insert into explain_customers
            select i, 'customer ' || i, 'region ' || (i % 7) from generate_series(1, 2000) i;
        insert into explain_orders
            select i, 1 + (i * 37) % 2000, (i % 500) / 3.0 from generate_series(1, 6000) i;
        analyze explain_customers;
        analyze explain_orders;
        """
    )
    yield conn
    conn.execute("drop table explain_orders; drop table explain_customers")
    conn.close()


JOIN_SQL = """
select c.region, count(*), sum(o.amount)
from explain_orders o join explain_customers c on c.id = o.customer_id
where o.amount > 5
group by c.region
"""


def _explain(conn: Connection, sql: str, analyze: bool) -> Plan:
    """Run EXPLAIN through the engine and parse its single cell."""
    result = conn.execute(explain_sql(sql, analyze=analyze), limit=None)
    assert result.table.shape == (1, 1)
    return parse_explain(result.table.column(0)[0].as_py())


def _join(root: PlanNode) -> PlanNode:
    joins = [n for n in root.walk() if n.node_type in JOINS]
    assert joins, [n.node_type for n in root.walk()]
    return joins[0]


@pytest.mark.postgres
def test_postgres_plan_without_analyze(shop: Connection) -> None:
    """A plain EXPLAIN of a join: a join node with two children over both tables, costs > 0."""
    plan = _explain(shop, JOIN_SQL, analyze=False)
    root = plan.root
    join = _join(root)
    assert len(join.children) == 2
    relations = {n.relation for n in join.walk() if n.relation}
    assert relations == {"explain_orders", "explain_customers"}
    assert root.total_cost > 0 and join.total_cost > 0
    for node in root.walk():
        assert node.total_cost >= node.startup_cost >= 0
        assert node.actual_total_ms is None and node.loops is None
    assert plan.execution_ms is None
    rows = flatten(plan)
    assert rows[0]["label"] == root.title and rows[0]["depth"] == 0
    assert any(r["label"].lstrip(" │").startswith(("├─ ", "└─ ")) for r in rows[1:])
    assert all(r["self_share"] is None for r in rows)


@pytest.mark.postgres
def test_postgres_plan_with_analyze(shop: Connection) -> None:
    """EXPLAIN ANALYZE gives actual times, rows and loops; exclusive shares sum to about 1."""
    plan = _explain(shop, JOIN_SQL, analyze=True)
    root = plan.root
    join = _join(root)
    assert len(join.children) == 2
    assert {n.relation for n in join.walk() if n.relation} == {
        "explain_orders",
        "explain_customers",
    }
    assert plan.planning_ms is not None and plan.planning_ms > 0
    assert plan.execution_ms is not None and plan.execution_ms > 0
    assert root.actual_rows == 7  # seven regions
    for node in root.walk():
        assert node.actual_total_ms is not None and node.actual_total_ms >= 0
        assert node.loops is not None and node.loops >= 1
        assert node.total_cost > 0
    assert root.actual_total_ms > 0
    rows = flatten(plan)
    shares = [r["self_share"] for r in rows]
    assert all(s is not None and 0 <= s <= 1 for s in shares)
    assert sum(shares) == pytest.approx(1.0, abs=0.02)
    scans = [r for r in rows if r["node_type"] in ("Seq Scan", "Index Scan", "Index Only Scan")]
    assert any("explain_orders" in r["label"] for r in scans)


@pytest.mark.postgres
def test_postgres_shares_with_cte_initplan_and_subplan(shop: Connection) -> None:
    """CTEs, InitPlans and SubPlans are not counted twice: shares still sum to about 1."""
    sql = """
    with big as materialized (select * from explain_customers where id % 2 = 0)
    select b.id,
           (select max(o.amount) from explain_orders o where o.customer_id = b.id) as top
    from big b
    where exists (select 1 from explain_orders o
                  where o.customer_id = b.id
                    and o.amount > (select avg(amount) from explain_orders))
    """
    plan = _explain(shop, sql, analyze=True)
    rows = flatten(plan)
    labels = "\n".join(r["label"] for r in rows)
    assert "[CTE big]" in labels and "[SubPlan" in labels and "[InitPlan" in labels, labels
    shares = [r["self_share"] for r in rows]
    assert all(s is not None and 0 <= s <= 1 for s in shares)
    assert sum(shares) == pytest.approx(1.0, abs=0.05), labels


@pytest.mark.postgres
def test_postgres_analyze_really_runs_the_statement(shop: Connection) -> None:
    """As the docstring warns: EXPLAIN ANALYZE of an INSERT inserts the row."""
    insert = "insert into explain_customers values (9999, 'new', 'north')"
    plan = _explain(shop, insert, analyze=True)
    assert plan.root.node_type == "ModifyTable"
    assert plan.root.relation == "explain_customers"
    assert flatten(plan)[0]["label"] == "Insert on explain_customers"
    count = shop.execute("select count(*) from explain_customers where id = 9999").table
    assert count.column(0)[0].as_py() == 1
