"""Two PostgreSQL plans of one query side by side: nodes matched, what changed, regressions first.

Nodes are matched in passes, surest first:
1. by the relation they read (relation, alias, subplan name): `Seq Scan on t` before an index
   and `Index Scan using t_i on t` after it are the same read of `t`;
2. the two roots;
3. bottom-up: a node whose matched children all sit under one node of the same kind on the
   other side is that node (a Hash Join that became a Merge Join over the same two scans);
4. top-down: under matched parents, children of the same node type, then a lone leftover pair.
What stays unmatched was added (only in the second plan) or removed (only in the first).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from tusk.explain import Plan, PlanNode, exclusive_ms

SAME = "same"
CHANGED = "changed"
ADDED = "added"
REMOVED = "removed"


@dataclass(frozen=True)
class NodeSide:
    """One node's numbers in one plan (times and actual rows need ANALYZE, buffers BUFFERS)."""

    title: str
    total_ms: float | None  # this node and below, over all loops
    self_ms: float | None  # this node alone (tusk.explain.exclusive_ms)
    rows_est: float  # the planner's estimate, per loop
    rows_actual: float | None  # per loop
    loops: int | None
    cost: float
    shared_hit: int | None  # shared buffer blocks found in cache (this node and below)
    shared_read: int | None  # shared buffer blocks read from disk or the OS


@dataclass(frozen=True)
class NodeDiff:
    """A node of the first plan, of the second, or of both."""

    change: str  # SAME, CHANGED (the node's title differs), ADDED or REMOVED
    before: NodeSide | None
    after: NodeSide | None

    @property
    def self_ms_delta(self) -> float | None:
        """The node's own time after minus before (a node missing on a side counts 0 there);
        None when neither side was run with ANALYZE."""
        sides = [s.self_ms for s in (self.before, self.after) if s is not None]
        if not sides or all(v is None for v in sides):
            return None
        before = self.before.self_ms if self.before is not None else 0.0
        after = self.after.self_ms if self.after is not None else 0.0
        return (after or 0.0) - (before or 0.0)

    @property
    def cost_delta(self) -> float:
        """The planner's total cost after minus before (0 on a missing side)."""
        return (self.after.cost if self.after else 0.0) - (self.before.cost if self.before else 0.0)


@dataclass(frozen=True)
class PlanDiff:
    """Every node of both plans, the biggest regressions first, and the statement timings."""

    nodes: tuple[NodeDiff, ...]
    execution_ms: tuple[float | None, float | None]
    planning_ms: tuple[float | None, float | None]

    def rows(self) -> list[dict[str, Any]]:
        """One row per node for a table view: change, both titles, time, rows and buffers."""
        out = []
        for node in self.nodes:
            b, a = node.before, node.after
            out.append(
                {
                    "change": node.change,
                    "before": b.title if b else None,
                    "after": a.title if a else None,
                    "self_ms_before": b.self_ms if b else None,
                    "self_ms_after": a.self_ms if a else None,
                    "self_ms_delta": node.self_ms_delta,
                    "rows_est_before": b.rows_est if b else None,
                    "rows_actual_before": b.rows_actual if b else None,
                    "rows_est_after": a.rows_est if a else None,
                    "rows_actual_after": a.rows_actual if a else None,
                    "buffers_before": _buffers(b),
                    "buffers_after": _buffers(a),
                    "cost_before": b.cost if b else None,
                    "cost_after": a.cost if a else None,
                }
            )
        return out


def diff_plans(before: Plan, after: Plan) -> PlanDiff:
    """Match the nodes of two plans and rank them: the node whose own time grew most first
    (by planner cost when the plans were not run with ANALYZE)."""
    before_self = exclusive_ms(before.root)
    after_self = exclusive_ms(after.root)
    diffs = []
    for old, new in match_nodes(before.root, after.root):
        if old is not None and new is not None:
            change = SAME if old.title == new.title else CHANGED
        else:
            change = ADDED if old is None else REMOVED
        diffs.append(
            NodeDiff(
                change,
                _side(old, before_self) if old is not None else None,
                _side(new, after_self) if new is not None else None,
            )
        )
    timed = any(d.self_ms_delta is not None for d in diffs)
    diffs.sort(key=lambda d: -(d.self_ms_delta or 0.0) if timed else -d.cost_delta)
    return PlanDiff(
        tuple(diffs),
        (before.execution_ms, after.execution_ms),
        (before.planning_ms, after.planning_ms),
    )


def match_nodes(before: PlanNode, after: PlanNode) -> list[tuple[PlanNode | None, PlanNode | None]]:
    """Pairs (node of `before`, node of `after`), None where a node has no counterpart: the
    first plan's nodes in tree order, then the second plan's new ones."""
    old_nodes, new_nodes = before.walk(), after.walk()
    pairs: dict[int, PlanNode] = {}  # id(old) → new
    taken: set[int] = set()  # id(new) already matched

    def pair(old: PlanNode, new: PlanNode) -> None:
        pairs[id(old)] = new
        taken.add(id(new))

    # 1. The same relation read (in tree order when a relation is read more than once).
    by_relation: dict[tuple[Any, ...], list[PlanNode]] = defaultdict(list)
    for node in new_nodes:
        if node.relation:
            by_relation[_relation_key(node)].append(node)
    for node in old_nodes:
        candidates = by_relation.get(_relation_key(node)) if node.relation else None
        if candidates:
            pair(node, candidates.pop(0))
    # 2. The roots.
    if id(before) not in pairs and id(after) not in taken:
        pair(before, after)
    # 3. Bottom-up: reversed pre-order visits every node after all of its descendants.
    parent_of = {id(child): node for node in new_nodes for child in node.children}
    for node in reversed(old_nodes):
        if id(node) in pairs:
            continue
        parents = {
            id(p): p
            for c in node.children
            if id(c) in pairs and (p := parent_of.get(id(pairs[id(c)]))) is not None
        }
        if len(parents) == 1:
            (parent,) = parents.values()
            if id(parent) not in taken and _kind(parent) == _kind(node):
                pair(node, parent)
    # 4. Top-down: unmatched children of matched parents, same node type first.
    for node in old_nodes:
        counterpart = pairs.get(id(node))
        if counterpart is None:
            continue
        olds = [c for c in node.children if id(c) not in pairs]
        news = [c for c in counterpart.children if id(c) not in taken]
        for old in list(olds):
            same = next((n for n in news if n.node_type == old.node_type), None)
            if same is not None:
                pair(old, same)
                olds.remove(old)
                news.remove(same)
        if len(olds) == 1 and len(news) == 1:
            pair(olds[0], news[0])
    matched: list[tuple[PlanNode | None, PlanNode | None]] = [
        (node, pairs.get(id(node))) for node in old_nodes
    ]
    matched.extend((None, node) for node in new_nodes if id(node) not in taken)
    return matched


_JOINS = {"Hash Join", "Merge Join", "Nested Loop"}
_SORTS = {"Sort", "Incremental Sort"}


def _kind(node: PlanNode) -> str:
    """What a node does, loosely: every join strategy is a join, both sorts a sort."""
    if node.node_type in _JOINS:
        return "join"
    return "sort" if node.node_type in _SORTS else node.node_type


def _relation_key(node: PlanNode) -> tuple[Any, ...]:
    """What a node reads: relation, alias and the subplan it sits in."""
    return (node.relation, node.alias or node.relation, node.subplan)


def _side(node: PlanNode, own: dict[int, float]) -> NodeSide:
    """A node's numbers."""
    return NodeSide(
        title=node.title,
        total_ms=node.total_ms(),
        self_ms=own.get(id(node)),
        rows_est=node.plan_rows,
        rows_actual=node.actual_rows,
        loops=node.loops,
        cost=node.total_cost,
        shared_hit=_int(node.raw.get("Shared Hit Blocks")),
        shared_read=_int(node.raw.get("Shared Read Blocks")),
    )


def _buffers(side: NodeSide | None) -> int | None:
    """Shared blocks touched (hit + read), None without BUFFERS."""
    if side is None or (side.shared_hit is None and side.shared_read is None):
        return None
    return (side.shared_hit or 0) + (side.shared_read or 0)


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
