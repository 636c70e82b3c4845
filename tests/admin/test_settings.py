"""Server settings on a real PostgreSQL: the important ones grouped by category, a
case-insensitive search over all of them, pending_restart as a bool, units humanized as the
server's own SHOW does."""

from __future__ import annotations

import pytest

from tests.admin.conftest import server_connection
from tusk.admin import AdminConnection, settings

pytestmark = pytest.mark.postgres


def test_important_settings_grouped_by_category(conn: AdminConnection) -> None:
    """The short list is grouped: memory settings under Resource Usage / Memory, and so on."""
    important = settings.list_settings(conn, important_only=True)
    names = {s.name for s in important}
    assert {"shared_buffers", "work_mem", "max_connections", "wal_level"} <= names
    assert names <= set(settings.IMPORTANT)
    groups = settings.grouped(important)
    assert {"shared_buffers", "work_mem"} <= {s.name for s in groups["Resource Usage / Memory"]}
    assert "checkpoint_timeout" in {s.name for s in groups["Write-Ahead Log / Checkpoints"]}
    for category, items in groups.items():
        assert all(s.category == category for s in items)
        assert [s.name for s in items] == sorted(s.name for s in items)
    assert list(groups) == sorted(groups)
    with server_connection() as c:
        total = c.execute("select count(*) from pg_settings").fetchone()
    assert total is not None and len(settings.list_settings(conn)) == total[0] > len(important)


def test_search_is_case_insensitive_over_name_description_and_category(
    conn: AdminConnection,
) -> None:
    """ "memory" finds work_mem (by its description and category), names match in any case,
    and a search covers settings outside the short list."""
    found = {s.name for s in settings.list_settings(conn, search="memory")}
    assert {"work_mem", "shared_buffers", "maintenance_work_mem"} <= found
    assert {s.name for s in settings.list_settings(conn, search="MEMORY")} == found
    assert "work_mem" in {s.name for s in settings.list_settings(conn, search="WORK_mem")}
    by_category = settings.list_settings(conn, search="genetic query")
    assert by_category and all(
        s.category == "Query Tuning / Genetic Query Optimizer" for s in by_category
    )
    geqo = settings.list_settings(conn, search="geqo", important_only=True)
    assert "geqo_threshold" in {s.name for s in geqo}  # not in IMPORTANT, found anyway
    for s in settings.list_settings(conn, search="timeout"):
        assert "timeout" in f"{s.name} {s.category} {s.short_desc} {s.extra_desc}".lower()
    assert settings.list_settings(conn, search="no such setting 🐘") == []
    # % and _ are characters, not LIKE wildcards
    assert settings.list_settings(conn, search="%_%_%_%_%_%") == []


def test_setting_fields_and_pending_restart(conn: AdminConnection) -> None:
    """Every setting has a category, a source and pending_restart as a real bool."""
    every = settings.list_settings(conn)
    assert all(isinstance(s.pending_restart, bool) for s in every)
    assert all(s.category and s.source and s.context for s in every)
    assert settings.pending_restart(conn) == [s for s in every if s.pending_restart]
    shared = next(s for s in every if s.name == "shared_buffers")
    assert shared.unit == "8kB" and shared.needs_restart
    assert next(s for s in every if s.name == "wal_level").enumvals  # enum with its choices


def test_values_read_like_the_servers_show(conn: AdminConnection) -> None:
    """Every memory and time setting reads like SHOW (128 MB for 16384 × 8kB, 5 min for 300 s)."""
    with server_connection() as c:
        shown = dict(c.execute("select name, current_setting(name) from pg_settings").fetchall())
    checked = 0
    for s in settings.list_settings(conn):
        # A few settings have their own SHOW hook printing a bare number (tcp_keepalives_*).
        bare = not any(ch.isalpha() for ch in shown[s.name])
        if (
            s.unit
            and s.vartype in ("integer", "real")
            and s.setting not in ("0", "-1")
            and not bare
        ):
            assert s.value.replace(" ", "") == shown[s.name], s.name
            checked += 1
    assert checked >= 30


@pytest.mark.parametrize(
    ("setting", "unit", "vartype", "expected"),
    [
        ("16384", "8kB", "integer", "128 MB"),
        ("524288", "8kB", "integer", "4 GB"),
        ("4096", "kB", "integer", "4 MB"),
        ("1536", "MB", "integer", "1536 MB"),  # exact, as SHOW prints it
        ("524288", "B", "integer", "512 kB"),
        ("300", "s", "integer", "5 min"),
        ("75", "s", "integer", "75 s"),
        ("1440", "min", "integer", "1 d"),
        ("0.5", "ms", "real", "0.5 ms"),
        ("0", "ms", "integer", "0 ms"),
        ("-1", "kB", "integer", "-1"),
        ("on", None, "bool", "on"),
        ("replica", None, "enum", "replica"),
        ("100", None, "integer", "100"),
    ],
)
def test_display_value(setting: str, unit: str | None, vartype: str, expected: str) -> None:
    """Values with units in the largest exact unit; -1 and unit-less values as they are."""
    assert settings.display_value(setting, unit, vartype) == expected
