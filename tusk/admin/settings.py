"""Server settings from pg_settings, read-only: the important ones grouped by category, a
search across all of them, values shown with their units, and the ones waiting for a restart.

Memory units follow PostgreSQL's own convention (postgresql.conf, SHOW): kB, MB, GB and TB are
powers of 1024, so `shared_buffers = 128MB` on the server reads "128 MB" here too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tusk.admin import AdminConnection

# The settings a DBA looks at first: memory, connections, WAL and checkpoints, planner costs,
# parallelism, autovacuum, timeouts, logging, replication, security.
IMPORTANT: tuple[str, ...] = (
    "listen_addresses",
    "port",
    "max_connections",
    "superuser_reserved_connections",
    "password_encryption",
    "ssl",
    "shared_buffers",
    "work_mem",
    "maintenance_work_mem",
    "autovacuum_work_mem",
    "temp_buffers",
    "effective_cache_size",
    "huge_pages",
    "shared_preload_libraries",
    "wal_level",
    "wal_buffers",
    "max_wal_size",
    "min_wal_size",
    "checkpoint_timeout",
    "checkpoint_completion_target",
    "synchronous_commit",
    "fsync",
    "full_page_writes",
    "archive_mode",
    "max_wal_senders",
    "max_replication_slots",
    "hot_standby",
    "random_page_cost",
    "seq_page_cost",
    "effective_io_concurrency",
    "default_statistics_target",
    "jit",
    "max_worker_processes",
    "max_parallel_workers",
    "max_parallel_workers_per_gather",
    "max_parallel_maintenance_workers",
    "autovacuum",
    "autovacuum_max_workers",
    "autovacuum_naptime",
    "autovacuum_vacuum_scale_factor",
    "autovacuum_analyze_scale_factor",
    "statement_timeout",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
    "deadlock_timeout",
    "log_min_duration_statement",
    "log_statement",
    "log_lock_waits",
    "log_autovacuum_min_duration",
    "track_io_timing",
    "TimeZone",
    "default_transaction_isolation",
)

# One statement for every view: optional name list, optional case-insensitive text search
# (strpos, not LIKE, so % and _ typed by the user are plain characters).
SETTINGS_SQL = """
select
    name,
    coalesce(setting, '') as setting,
    unit,
    category,
    coalesce(short_desc, '') as short_desc,
    coalesce(extra_desc, '') as extra_desc,
    context,
    vartype,
    source,
    boot_val,
    reset_val,
    enumvals,
    coalesce(pending_restart, false) as pending_restart
from pg_settings
where (%(names)s::text[] is null or name = any(%(names)s::text[]))
  and (
      %(text)s::text is null
      or strpos(
          lower(concat_ws(' ', name, category, short_desc, extra_desc)), lower(%(text)s::text)
      ) > 0
  )
order by category, name
"""


@dataclass(frozen=True)
class Setting:
    """One row of pg_settings; `value` is the setting with its unit, as people read it."""

    name: str
    setting: str
    unit: str | None
    category: str
    short_desc: str
    extra_desc: str
    context: str  # when it can change: postmaster (restart), sighup (reload), user, ...
    vartype: str
    source: str
    boot_val: str | None
    reset_val: str | None
    enumvals: tuple[str, ...]
    pending_restart: bool

    @property
    def value(self) -> str:
        """The value humanized with its unit ("128 MB", "5 min", "on")."""
        return display_value(self.setting, self.unit, self.vartype)

    @property
    def needs_restart(self) -> bool:
        """True when changing it takes a server restart."""
        return self.context == "postmaster"


def _setting(row: dict[str, Any]) -> Setting:
    return Setting(
        name=row["name"],
        setting=row["setting"],
        unit=row["unit"],
        category=row["category"],
        short_desc=row["short_desc"],
        extra_desc=row["extra_desc"],
        context=row["context"],
        vartype=row["vartype"],
        source=row["source"],
        boot_val=row["boot_val"],
        reset_val=row["reset_val"],
        enumvals=tuple(row["enumvals"] or ()),
        pending_restart=bool(row["pending_restart"]),
    )


def list_settings(
    conn: AdminConnection, *, important_only: bool = False, search: str | None = None
) -> list[Setting]:
    """Settings by category and name: all, the important ones, or those matching `search`
    (in name, category or description, case-insensitive; a search covers all settings)."""
    text = (search or "").strip() or None
    names = list(IMPORTANT) if important_only and text is None else None
    rows = conn.rows(SETTINGS_SQL, {"names": names, "text": text})
    return [_setting(r) for r in rows]


def pending_restart(conn: AdminConnection) -> list[Setting]:
    """Settings changed in the configuration whose new value waits for a server restart."""
    return [s for s in list_settings(conn) if s.pending_restart]


def grouped(settings: Iterable[Setting]) -> dict[str, list[Setting]]:
    """Settings by category, categories in the order first met."""
    groups: dict[str, list[Setting]] = {}
    for s in settings:
        groups.setdefault(s.category, []).append(s)
    return groups


_UNIT = re.compile(r"^(\d*)\s*([A-Za-z]+)$")
_MEMORY = {"B": 1, "kB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_TIME = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}


def _largest(amount: float, units: Mapping[str, float], base: str) -> str:
    """`amount` (in the smallest unit) in the largest unit that holds it exactly."""
    if amount == 0:
        return f"0 {base}"
    for unit, size in sorted(units.items(), key=lambda kv: -kv[1]):
        if abs(amount) >= size and (amount / size).is_integer():
            return f"{int(amount / size)} {unit}"
    return f"{amount / units[base]:g} {base}"


def display_value(setting: str, unit: str | None, vartype: str = "integer") -> str:
    """A pg_settings value with its unit, humanized: ("16384", "8kB") → "128 MB",
    ("300", "s") → "5 min"; negative values (usually "off" or "use the default") stay raw."""
    if not unit or vartype not in ("integer", "real"):
        return setting
    match = _UNIT.match(unit)
    if match is None:
        return f"{setting} {unit}"
    try:
        number = float(setting)
    except ValueError:
        return f"{setting} {unit}"
    if number < 0:
        return setting  # -1 means "disabled" or "same as another setting", not a size
    multiplier = int(match.group(1) or 1)
    base = match.group(2)
    if base in _MEMORY:
        return _largest(number * multiplier * _MEMORY[base], _MEMORY, base)
    if base in _TIME:
        return _largest(number * multiplier * _TIME[base], _TIME, base)
    return f"{setting} {unit}"


__all__ = [
    "IMPORTANT",
    "Setting",
    "display_value",
    "grouped",
    "list_settings",
    "pending_restart",
]
