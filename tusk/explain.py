"""PostgreSQL EXPLAIN plans as a tree of nodes and as rows for a table view.

Run `explain_sql(sql)` on a PostgreSQL connection, hand the single cell it returns to
`parse_explain` (or `parse_plan` for just the root node), then `flatten` the tree for display.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tusk.errors import BadInput
from tusk.sqltext import first_keyword, split

_DETAIL_MAX = 120
# The node keys that say why a node keeps or matches rows, most telling first.
_DETAIL_KEYS = (
    "Hash Cond",
    "Merge Cond",
    "Join Filter",
    "Index Cond",
    "Recheck Cond",
    "Filter",
    "Sort Key",
    "Group Key",
    "One-Time Filter",
)
_JOIN_KEYS = ("Hash Cond", "Merge Cond", "Join Filter")
_AGGREGATE_NAMES = {
    "Hashed": "HashAggregate",
    "Sorted": "GroupAggregate",
    "Mixed": "MixedAggregate",
}


@dataclass
class PlanNode:
    """One node of a plan: what it does, to which relation, its estimates and actuals."""

    node_type: str  # PostgreSQL's "Node Type": "Hash Join", "Seq Scan", "Sort", …
    relation: str | None = None
    alias: str | None = None
    index: str | None = None
    detail: str = ""  # join condition / index condition / filter, shortened
    startup_cost: float = 0.0
    total_cost: float = 0.0
    plan_rows: float = 0.0
    actual_total_ms: float | None = None  # per loop, as PostgreSQL reports; None without ANALYZE
    actual_rows: float | None = None  # per loop (PostgreSQL 18 reports fractions)
    loops: int | None = None
    children: list[PlanNode] = field(default_factory=list)
    join_type: str | None = None  # "Inner", "Left", "Semi", … for join nodes
    subplan: str | None = None  # "CTE x", "InitPlan 1 (returns $0)", "SubPlan 2"
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # all keys

    @property
    def title(self) -> str:
        """The node as PostgreSQL's text format names it ("Hash Left Join", "Seq Scan on t a")."""
        name = self.node_type
        if name == "ModifyTable" and self.raw.get("Operation"):
            name = str(self.raw["Operation"])  # "Insert", "Update", "Delete", "Merge"
        strategy = self.raw.get("Strategy")
        if name == "Aggregate" and strategy in _AGGREGATE_NAMES:
            name = _AGGREGATE_NAMES[strategy]
        if self.join_type and self.join_type != "Inner" and name.endswith("Join"):
            name = f"{name[: -len('Join')]}{self.join_type} Join"
        elif self.join_type and self.join_type != "Inner" and name == "Nested Loop":
            name = f"{name} {self.join_type} Join"
        partial = self.raw.get("Partial Mode")
        if partial and partial != "Simple":
            name = f"{partial} {name}"
        if self.index:
            name += f" using {self.index}"
        if self.relation:
            name += f" on {self.relation}"
            if self.alias and self.alias != self.relation:
                name += f" {self.alias}"
        else:
            cond = next((self.raw[k] for k in _JOIN_KEYS if self.raw.get(k)), None)
            if cond:
                name += f" on {_shorten(str(cond))}"
        return name

    def total_ms(self) -> float | None:
        """Time spent in this node and below, over all loops (None without ANALYZE)."""
        if self.actual_total_ms is None:
            return None
        return self.actual_total_ms * (self.loops or 0)

    def walk(self) -> list[PlanNode]:
        """This node and every node below it, depth first."""
        nodes = [self]
        for child in self.children:
            nodes.extend(child.walk())
        return nodes


@dataclass
class Plan:
    """A parsed EXPLAIN: the root node plus the statement-level timings (ANALYZE only)."""

    root: PlanNode
    planning_ms: float | None = None
    execution_ms: float | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def explain_sql(sql: str, *, analyze: bool = False) -> str:
    """EXPLAIN (FORMAT JSON) for one statement; with analyze=True the statement really RUNS.

    ANALYZE executes the statement to time it: an INSERT, UPDATE or DELETE changes data (wrap it
    in a transaction and roll back if that is not wanted). Raises BadInput for empty SQL, more
    than one statement, or a statement that is already an EXPLAIN.
    """
    statements = [s.text for s in split(sql or "", "postgres")]
    if not statements:
        raise BadInput("There is no SQL to explain.", "Empty query")
    if len(statements) > 1:
        raise BadInput(
            f"EXPLAIN takes one statement and this SQL has {len(statements)}: "
            "select the statement to explain.",
            "More than one statement",
        )
    statement = statements[0]
    if first_keyword(statement, "postgres") == "EXPLAIN":
        raise BadInput("This statement is already an EXPLAIN.", "Already an EXPLAIN")
    options = "FORMAT JSON, ANALYZE, BUFFERS" if analyze else "FORMAT JSON"
    return f"EXPLAIN ({options})\n{statement}"


def parse_explain(raw: str | bytes | list[Any] | dict[str, Any]) -> Plan:
    """Read the cell EXPLAIN (FORMAT JSON) returns (JSON text or parsed) into a Plan."""
    data: Any = raw
    if isinstance(data, bytes | bytearray):
        data = data.decode("utf-8")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise BadInput(f"The plan is not valid JSON: {exc}", "Not a JSON plan") from None
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, dict) or not isinstance(data.get("Plan"), dict):
        raise BadInput(
            "This is not the output of EXPLAIN (FORMAT JSON): no top-level Plan.", "Not a plan"
        )
    return Plan(
        root=_node(data["Plan"]),
        planning_ms=_number(data.get("Planning Time")),
        execution_ms=_number(data.get("Execution Time")),
        raw=data,
    )


def parse_plan(raw: str | bytes | list[Any] | dict[str, Any]) -> PlanNode:
    """Read the cell EXPLAIN (FORMAT JSON) returns into its root PlanNode."""
    return parse_explain(raw).root


def flatten(plan: Plan | PlanNode) -> list[dict[str, Any]]:
    """Rows for a table view, depth first, labels drawn as a tree ("└─ Hash Join on …").

    Each row: depth, label, node_type, detail, startup_cost, cost, rows_est, actual_ms (per loop),
    actual_rows (per loop), loops, self_ms and self_share: the node's exclusive time (see
    `exclusive_ms`) as a fraction of the root's total; None without ANALYZE. CTEs, InitPlans
    and SubPlans are labelled with their name in brackets ("[CTE x] Seq Scan on t").
    """
    root = plan.root if isinstance(plan, Plan) else plan
    root_total = root.total_ms()
    exclusive = exclusive_ms(root)
    rows: list[dict[str, Any]] = []

    def visit(node: PlanNode, depth: int, lead: str, branch: str) -> None:
        own = exclusive.get(id(node))
        share = None
        if own is not None and root_total is not None:
            share = own / root_total if root_total > 0 else 0.0
        rows.append(
            {
                "depth": depth,
                "label": lead
                + branch
                + (f"[{node.subplan}] " if node.subplan else "")
                + node.title,
                "node_type": node.node_type,
                "detail": node.detail,
                "startup_cost": node.startup_cost,
                "cost": node.total_cost,
                "rows_est": node.plan_rows,
                "actual_ms": node.actual_total_ms,
                "actual_rows": node.actual_rows,
                "loops": node.loops,
                "self_ms": own,
                "self_share": share,
            }
        )
        below = lead + ("" if depth == 0 else "   " if branch == "└─ " else "│  ")
        for i, child in enumerate(node.children):
            last = i == len(node.children) - 1
            visit(child, depth + 1, below, "└─ " if last else "├─ ")

    visit(root, 0, "", "")
    return rows


def exclusive_ms(root: PlanNode) -> dict[int, float]:
    """Each node's own time, keyed by id(node): its total over all loops minus its children's.

    Children are subtracted from the node whose time includes them: a SubPlan from its parent,
    a CTE from the CTE Scan that reads it, an InitPlan from the node whose condition uses its
    result (PostgreSQL runs those lazily, inside that node). Never below 0; {} without ANALYZE.
    """
    if root.total_ms() is None:
        return {}
    own = {id(n): n.total_ms() or 0.0 for n in root.walk()}
    for parent in root.walk():
        for child in parent.children:
            consumer = _consumer(parent, child)
            own[id(consumer)] -= child.total_ms() or 0.0
    return {key: max(value, 0.0) for key, value in own.items()}


def _consumer(parent: PlanNode, child: PlanNode) -> PlanNode:
    """The node whose measured time includes `child`'s (see exclusive_ms)."""
    if child.raw.get("Parent Relationship") != "InitPlan" or not child.subplan:
        return parent
    candidates = [n for c in parent.children if c is not child for n in c.walk()]
    if child.subplan.startswith("CTE "):
        cte = child.subplan[len("CTE ") :]
        for node in candidates:
            if node.node_type == "CTE Scan" and node.raw.get("CTE Name") == cte:
                return node
        return parent
    # PostgreSQL ≤ 16 names the result "$1" ("InitPlan 1 (returns $1)"); 17+ "(InitPlan 1).col1".
    params = re.findall(r"\$\d+", child.subplan) or [child.subplan.split(" (")[0]]
    patterns = [
        re.compile(re.escape(p) + r"(?!\d)" if p.startswith("$") else re.escape(f"({p})"))
        for p in params
    ]
    for node in [parent, *candidates]:
        texts = _strings(node.raw)
        if any(p.search(t) for p in patterns for t in texts):
            return node
    return parent


def _strings(raw: dict[str, Any]) -> list[str]:
    """The text values of a node's keys (conditions, output lists, keys)."""
    out: list[str] = []
    for value in raw.values():
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, list):
            out.extend(v for v in value if isinstance(v, str))
    return out


def _node(data: dict[str, Any]) -> PlanNode:
    """One plan node and, recursively, its children."""
    children = [_node(c) for c in data.get("Plans", []) if isinstance(c, dict)]
    loops = data.get("Actual Loops")
    return PlanNode(
        node_type=str(data.get("Node Type", "?")),
        relation=data.get("Relation Name") or data.get("CTE Name") or data.get("Function Name"),
        alias=data.get("Alias"),
        index=data.get("Index Name"),
        detail=_detail(data),
        startup_cost=_number(data.get("Startup Cost")) or 0.0,
        total_cost=_number(data.get("Total Cost")) or 0.0,
        plan_rows=_number(data.get("Plan Rows")) or 0.0,
        actual_total_ms=_number(data.get("Actual Total Time")),
        actual_rows=_number(data.get("Actual Rows")),
        loops=int(loops) if isinstance(loops, int | float) else None,
        children=children,
        join_type=data.get("Join Type"),
        subplan=data.get("Subplan Name"),
        raw={k: v for k, v in data.items() if k != "Plans"},
    )


def _detail(data: dict[str, Any]) -> str:
    """The node's conditions in a few words: "Hash Cond: (…); Filter: (…)", shortened."""
    parts = []
    for key in _DETAIL_KEYS:
        value = data.get(key)
        if value:
            text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
            parts.append(f"{key}: {text}")
    return _shorten("; ".join(parts))


def _shorten(text: str) -> str:
    """Text cut to _DETAIL_MAX characters, with an ellipsis when cut."""
    return text if len(text) <= _DETAIL_MAX else text[: _DETAIL_MAX - 1] + "…"


def _number(value: Any) -> float | None:
    """A JSON number as float (ints stay ints), anything else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value
