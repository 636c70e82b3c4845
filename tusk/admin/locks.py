"""Who blocks whom (pg_blocking_pids) as a graph, and the raw pg_locks list, capped.

A session can wait on several others (LOCK TABLE behind two row-lock holders): the graph keeps
each session once with an edge to every blocker, so the tree view never repeats a session.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tusk.admin import AdminConnection

LOCKS_LIMIT = 1000

# One statement: the sessions waiting on a lock, the sessions they wait on, and their details.
BLOCKING_SQL = """
with waiting as (
    select pid, pg_blocking_pids(pid) as blocked_by
    from pg_stat_activity
    where wait_event_type = 'Lock' and pid <> pg_backend_pid()
), involved as (
    select pid from waiting
    union
    select unnest(blocked_by) from waiting
)
select
    a.pid,
    coalesce(a.usename, '') as usename,
    coalesce(a.datname, '') as datname,
    coalesce(a.application_name, '') as application_name,
    coalesce(a.state, '') as state,
    a.wait_event_type,
    a.wait_event,
    extract(epoch from clock_timestamp() - a.query_start)::float8 as query_age_s,
    extract(epoch from clock_timestamp() - a.xact_start)::float8 as xact_age_s,
    coalesce(w.blocked_by, '{}'::int[]) as blocked_by,
    coalesce(a.query, '') as query
from involved i
join pg_stat_activity a on a.pid = i.pid
left join waiting w on w.pid = i.pid
order by a.pid
"""

# Filters are parameters (null = any); the count over the whole filtered set comes along so
# the page can say "showing 1,000 of 5,234".
LOCKS_SQL = """
select
    l.locktype,
    coalesce(d.datname, '') as database,
    case when l.relation is not null then l.relation::regclass::text end as relation,
    l.page,
    l.tuple,
    l.virtualxid,
    l.transactionid::text as transactionid,
    l.mode,
    l.granted,
    l.fastpath,
    l.pid,
    coalesce(a.usename, '') as usename,
    left(coalesce(a.query, ''), 300) as query,
    count(*) over () as total
from pg_locks l
left join pg_database d on d.oid = l.database
left join pg_stat_activity a on a.pid = l.pid
where (%(pid)s::int is null or l.pid = %(pid)s::int)
  and (%(granted)s::bool is null or l.granted = %(granted)s::bool)
  and (%(mode)s::text is null or l.mode = %(mode)s::text)
  and (%(locktype)s::text is null or l.locktype = %(locktype)s::text)
  and (%(relation)s::text is null
       or (l.relation is not null and l.relation::regclass::text ilike %(relation)s::text))
order by l.granted, l.pid, l.locktype
limit %(limit)s
"""


@dataclass(frozen=True)
class Waiter:
    """A session in the blocking graph (a blocker, a waiter, or both)."""

    pid: int
    usename: str
    datname: str
    application_name: str
    state: str
    wait_event_type: str | None
    wait_event: str | None
    query_age_s: float | None
    xact_age_s: float | None
    blocked_by: tuple[int, ...]
    query: str


@dataclass(frozen=True)
class BlockingGraph:
    """Sessions involved in lock waits; edges go from blocker to blocked."""

    sessions: dict[int, Waiter] = field(default_factory=dict)

    @property
    def edges(self) -> list[tuple[int, int]]:
        """(blocker, blocked) pairs, each once."""
        return sorted(
            {(b, s.pid) for s in self.sessions.values() for b in s.blocked_by if b != s.pid}
        )

    def blocking(self, pid: int) -> list[int]:
        """The sessions `pid` blocks directly."""
        return sorted(s.pid for s in self.sessions.values() if pid in s.blocked_by)

    @property
    def roots(self) -> list[int]:
        """Root blockers: involved sessions that wait on nobody (terminating one frees a chain).
        In a cycle (a deadlock about to be broken by the server) every member counts."""
        free = [p for p, s in self.sessions.items() if not s.blocked_by]
        if free:
            return sorted(free)
        return sorted(self.sessions)

    def depth(self) -> dict[int, int]:
        """Each session's distance from a root, by its longest chain of blockers (so C that
        waits on A and on B, which waits on A, sits below B)."""
        levels: dict[int, int] = {p: 0 for p in self.roots}
        for _ in range(len(self.sessions)):  # longest paths in a DAG; the bound stops cycles
            changed = False
            for blocker, blocked in self.edges:
                if blocker in levels and levels.get(blocked, -1) < levels[blocker] + 1:
                    if blocked in self.roots:
                        continue
                    levels[blocked] = levels[blocker] + 1
                    changed = True
            if not changed:
                break
        for p in self.sessions:
            levels.setdefault(p, 0)
        return levels

    def tree(self) -> Iterator[tuple[int, int, tuple[int, ...]]]:
        """(pid, depth, blockers) in display order: each session once, under the blocker that
        puts it deepest, its other blockers listed with it."""
        levels = self.depth()
        seen: set[int] = set()

        def walk(pid: int) -> Iterator[tuple[int, int, tuple[int, ...]]]:
            if pid in seen:
                return
            seen.add(pid)
            yield pid, levels[pid], self.sessions[pid].blocked_by
            for child in self.blocking(pid):
                # Draw a child under the parent one level up, so it appears exactly once.
                if levels.get(child) == levels[pid] + 1:
                    yield from walk(child)

        for root in self.roots:
            yield from walk(root)
        for pid in sorted(self.sessions):  # anything a cycle left out
            yield from walk(pid)

    def dot(self) -> str:
        """The graph in Graphviz DOT (for st.graphviz_chart); labels are escaped."""
        lines = [
            "digraph blocking {",
            "  rankdir=TB;",
            '  node [shape=box, style="rounded,filled", fontname="sans-serif", fontsize=10];',
        ]
        roots = set(self.roots)
        for pid, s in sorted(self.sessions.items()):
            query = " ".join(s.query.split())[:60]
            label = f"pid {pid} · {s.usename or '?'}\\n{s.state or s.wait_event or ''}\\n{query}"
            colour = "#f8d7da" if pid in roots else "#fff3cd"
            lines.append(f'  p{pid} [label="{_dot_escape(label)}", fillcolor="{colour}"];')
        for blocker, blocked in self.edges:
            lines.append(f'  p{blocker} -> p{blocked} [label="blocks"];')
        lines.append("}")
        return "\n".join(lines)


def _dot_escape(text: str) -> str:
    """Escape a DOT string label (keeping our own \\n line breaks)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\n", "\\n")


def blocking_graph(conn: AdminConnection) -> BlockingGraph:
    """The current blocking graph (empty when nobody waits on a lock)."""
    rows = conn.rows(BLOCKING_SQL)
    return BlockingGraph(
        {r["pid"]: Waiter(**{**r, "blocked_by": tuple(r["blocked_by"] or ())}) for r in rows}
    )


def locks(
    conn: AdminConnection,
    *,
    pid: int | None = None,
    granted: bool | None = None,
    mode: str | None = None,
    locktype: str | None = None,
    relation: str | None = None,
    limit: int = LOCKS_LIMIT,
) -> tuple[list[dict[str, Any]], int]:
    """Rows of pg_locks (waiting first) matching the filters, at most `limit`, and how many
    matched in all. `relation` is an ILIKE pattern on the relation name."""
    params = {
        "pid": pid,
        "granted": granted,
        "mode": mode or None,
        "locktype": locktype or None,
        "relation": relation or None,
        "limit": max(1, min(int(limit), 100_000)),
    }
    rows = conn.rows(LOCKS_SQL, params)
    total = int(rows[0]["total"]) if rows else 0
    for r in rows:
        r.pop("total", None)
    return rows, total
