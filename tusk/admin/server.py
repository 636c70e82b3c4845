"""The server dashboard: one snapshot query per tick, rates from consecutive samples.

Counters in pg_stat_database are cumulative; the dashboard keeps the samples of its browser
session and turns pairs into per-second rates (transactions, block reads and hits, tuples).
Database sizes stat every data file, so they are read at most every SIZES_EVERY_S seconds.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tusk.admin import AdminConnection

SIZES_EVERY_S = 30.0
MIN_INTERVAL_S = 1.0  # reruns closer than this reuse the last sample: rates need real time
KEEP_SAMPLES = 720  # an hour at 5 s

# One statement per tick: server facts, summed database counters, sessions by state.
# Only client backends count as connections (walwriter and friends hold no connection slot).
SNAPSHOT_SQL = """
with db as (
    select
        coalesce(sum(xact_commit), 0)::bigint as commits,
        coalesce(sum(xact_rollback), 0)::bigint as rollbacks,
        coalesce(sum(blks_read), 0)::bigint as blks_read,
        coalesce(sum(blks_hit), 0)::bigint as blks_hit,
        coalesce(sum(tup_returned), 0)::bigint as tup_returned,
        coalesce(sum(tup_fetched), 0)::bigint as tup_fetched,
        coalesce(sum(tup_inserted), 0)::bigint as tup_inserted,
        coalesce(sum(tup_updated), 0)::bigint as tup_updated,
        coalesce(sum(tup_deleted), 0)::bigint as tup_deleted,
        coalesce(sum(deadlocks), 0)::bigint as deadlocks,
        coalesce(sum(temp_bytes), 0)::bigint as temp_bytes,
        coalesce(sum(temp_files), 0)::bigint as temp_files
    from pg_stat_database
    where datname is not null
), act as (
    select
        count(*) as sessions,
        count(*) filter (where state = 'active') as active,
        count(*) filter (where state = 'idle') as idle,
        count(*) filter (where state like 'idle in transaction%%') as idle_in_transaction,
        count(*) filter (where wait_event_type = 'Lock') as waiting
    from pg_stat_activity
    where backend_type = 'client backend'
)
select
    clock_timestamp() as sampled_at,
    pg_postmaster_start_time() as started_at,
    current_setting('server_version') as server_version,
    version() as version,
    current_setting('max_connections')::int as max_connections,
    current_setting('superuser_reserved_connections')::int as reserved_connections,
    db.*,
    act.*
from db, act
"""

SIZES_SQL = """
select datname as database, pg_database_size(oid) as bytes
from pg_database
where datallowconn and has_database_privilege(oid, 'connect')
order by bytes desc, datname
"""


@dataclass(frozen=True)
class Sample:
    """One dashboard reading: server facts and cumulative counters at `sampled_at`."""

    sampled_at: datetime
    started_at: datetime
    server_version: str
    version: str
    max_connections: int
    reserved_connections: int
    commits: int
    rollbacks: int
    blks_read: int
    blks_hit: int
    tup_returned: int
    tup_fetched: int
    tup_inserted: int
    tup_updated: int
    tup_deleted: int
    deadlocks: int
    temp_bytes: int
    temp_files: int
    sessions: int
    active: int
    idle: int
    idle_in_transaction: int
    waiting: int

    @property
    def uptime_s(self) -> float:
        """Seconds since the postmaster started."""
        return (self.sampled_at - self.started_at).total_seconds()

    @property
    def cache_hit_ratio(self) -> float | None:
        """Share of block requests served from shared buffers since the stats reset."""
        total = self.blks_hit + self.blks_read
        return self.blks_hit / total if total else None

    @property
    def other_sessions(self) -> int:
        """Client sessions in states other than active/idle/idle in transaction."""
        return max(self.sessions - self.active - self.idle - self.idle_in_transaction, 0)


@dataclass(frozen=True)
class Rates:
    """Per-second rates between two samples (the chart points). A counter that went backwards
    (a database dropped, statistics reset) has no rate for that interval: None, a gap."""

    at: datetime
    commits_s: float | None
    rollbacks_s: float | None
    blks_read_s: float | None
    blks_hit_s: float | None
    tuples_in_s: float | None  # inserted + updated + deleted
    tuples_out_s: float | None  # returned + fetched
    cache_hit_ratio: float | None  # over the interval, not since the reset

    @property
    def transactions_s(self) -> float | None:
        """Commits plus rollbacks per second."""
        if self.commits_s is None or self.rollbacks_s is None:
            return None
        return self.commits_s + self.rollbacks_s


def snapshot(conn: AdminConnection) -> Sample:
    """Read the server's counters now (one statement)."""
    row = conn.one(SNAPSHOT_SQL)
    assert row is not None  # a select without where always returns its row
    return Sample(**{k: row[k] for k in Sample.__dataclass_fields__})


def database_sizes(conn: AdminConnection) -> list[dict[str, Any]]:
    """Each database the user may connect to, with its size in bytes, biggest first."""
    return conn.rows(SIZES_SQL)


def rates(before: Sample, after: Sample) -> Rates | None:
    """Rates between two samples; None when no time passed or the server restarted."""
    dt = (after.sampled_at - before.sampled_at).total_seconds()
    if dt <= 0 or after.started_at != before.started_at:
        return None

    def per_s(*names: str) -> float | None:
        delta = sum(getattr(after, n) - getattr(before, n) for n in names)
        if any(getattr(after, n) < getattr(before, n) for n in names):
            return None
        return delta / dt

    hits, reads = per_s("blks_hit"), per_s("blks_read")
    blocks = None if hits is None or reads is None else hits + reads
    return Rates(
        at=after.sampled_at,
        commits_s=per_s("commits"),
        rollbacks_s=per_s("rollbacks"),
        blks_read_s=reads,
        blks_hit_s=hits,
        tuples_in_s=per_s("tup_inserted", "tup_updated", "tup_deleted"),
        tuples_out_s=per_s("tup_returned", "tup_fetched"),
        cache_hit_ratio=hits / blocks if blocks and hits is not None else None,
    )


@dataclass
class Monitor:
    """The samples of one browser session for one server (kept in session state)."""

    samples: deque[Sample] = field(default_factory=lambda: deque(maxlen=KEEP_SAMPLES))
    sizes: list[dict[str, Any]] = field(default_factory=list)
    sizes_at: float = 0.0
    last_tick_s: float = 0.0  # how long the last tick's queries took
    taken_at: float = 0.0  # time.monotonic() of the newest sample

    def tick(self, conn: AdminConnection) -> Sample:
        """Take a sample (and database sizes when due); returns the newest sample. A rerun
        less than MIN_INTERVAL_S after the last sample reuses it (clicks cause reruns; a
        40 ms interval would make noisy rates and cost the server for nothing)."""
        if self.samples and time.monotonic() - self.taken_at < MIN_INTERVAL_S:
            return self.samples[-1]
        start = time.perf_counter()
        sample = snapshot(conn)
        if self.samples and sample.started_at != self.samples[-1].started_at:
            self.samples.clear()  # the server restarted: old counters mean nothing now
        self.samples.append(sample)
        if not self.sizes or time.monotonic() - self.sizes_at >= SIZES_EVERY_S:
            self.sizes = database_sizes(conn)
            self.sizes_at = time.monotonic()
        self.last_tick_s = time.perf_counter() - start
        self.taken_at = time.monotonic()
        return sample

    def series(self) -> list[Rates]:
        """Rates between consecutive samples, oldest first."""
        pairs = zip(list(self.samples)[:-1], list(self.samples)[1:], strict=True)
        return [r for a, b in pairs if (r := rates(a, b)) is not None]

    def previous(self) -> Sample | None:
        """The sample before the newest, for metric deltas."""
        return self.samples[-2] if len(self.samples) > 1 else None
