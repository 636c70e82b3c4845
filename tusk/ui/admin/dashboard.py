"""Admin · Dashboard: server facts and counters, refreshed live, with the charts pgAdmin users
expect (transactions/s, sessions by state, block reads vs hits) from this browser session's
samples."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import streamlit as st

from tusk.admin import server
from tusk.ui import humanize, live

if TYPE_CHECKING:
    from tusk.admin import AdminConnection
    from tusk.auth.schema import User

_MONITORS = "tusk_admin_monitors"


def _monitor(conn: AdminConnection) -> server.Monitor:
    """The samples for this connection, kept across reruns of this browser session."""
    monitors: dict[str, server.Monitor] = st.session_state.setdefault(_MONITORS, {})
    return monitors.setdefault(conn.spec.name, server.Monitor())


def render(conn: AdminConnection, user: User | None) -> None:
    """The live dashboard."""
    every = live.controls("admin_dash")

    @st.fragment(run_every=every)
    def tick() -> None:
        monitor = _monitor(conn)
        sample = monitor.tick(conn)
        _facts(sample, monitor.previous())
        _charts(monitor)
        _sizes(monitor.sizes)
        st.caption(
            f"Sampled {humanize.local(sample.sampled_at):%H:%M:%S} in {monitor.last_tick_s * 1000:.0f} ms"
            f" · {len(monitor.samples)} samples kept for this browser session"
        )

    tick()


def _facts(s: server.Sample, before: server.Sample | None) -> None:
    def delta(name: str) -> int | None:
        return None if before is None else int(getattr(s, name) - getattr(before, name))

    st.markdown(
        f"**PostgreSQL {s.server_version}** · up {humanize.duration(s.uptime_s)} · "
        f"started {humanize.local(s.started_at):%Y-%m-%d %H:%M}"
    )
    row1 = st.columns(4)
    usable = max(s.max_connections - s.reserved_connections, 1)
    row1[0].metric(
        "Connections",
        f"{s.sessions} / {s.max_connections}",
        delta=delta("sessions"),
        delta_color="off",
        help=f"Client sessions of {s.max_connections} allowed "
        f"({s.reserved_connections} reserved for superusers); {s.sessions / usable:.0%} used.",
    )
    ratio = s.cache_hit_ratio
    row1[1].metric(
        "Cache hit ratio",
        "—" if ratio is None else f"{ratio:.2%}",
        help="Share of block reads served from shared buffers since the statistics reset.",
    )
    row1[2].metric("Commits", f"{s.commits:,}", delta=delta("commits"), delta_color="off")
    row1[3].metric("Rollbacks", f"{s.rollbacks:,}", delta=delta("rollbacks"), delta_color="off")
    row2 = st.columns(4)
    row2[0].metric(
        "Tuples in",
        f"{s.tup_inserted + s.tup_updated + s.tup_deleted:,}",
        help=f"Inserted {s.tup_inserted:,} · updated {s.tup_updated:,} · deleted {s.tup_deleted:,}",
    )
    row2[1].metric(
        "Tuples out",
        f"{s.tup_returned + s.tup_fetched:,}",
        help=f"Returned {s.tup_returned:,} · fetched {s.tup_fetched:,}",
    )
    row2[2].metric("Deadlocks", f"{s.deadlocks:,}", delta=delta("deadlocks"), delta_color="inverse")
    row2[3].metric(
        "Temp files",
        humanize.size(s.temp_bytes),
        help=f"{s.temp_files:,} temporary files written by sorts and hashes that spilled.",
    )


def _charts(monitor: server.Monitor) -> None:
    series = monitor.series()
    samples = list(monitor.samples)
    left, middle, right = st.columns(3)
    with left:
        st.markdown("**Transactions per second**")
        if series:
            _chart(
                _frame(
                    series,
                    {"commits/s": lambda r: r.commits_s, "rollbacks/s": lambda r: r.rollbacks_s},
                ),
                "line",
            )
        else:
            st.caption("Rates appear after the second sample.")
    with middle:
        st.markdown("**Sessions by state**")
        _chart(
            _frame(
                samples,
                {
                    "active": lambda s: s.active,
                    "idle": lambda s: s.idle,
                    "idle in transaction": lambda s: s.idle_in_transaction,
                    "other": lambda s: s.other_sessions,
                },
                at=lambda s: s.sampled_at,
            ),
            "area",
        )
    with right:
        st.markdown("**Block reads vs hits per second**")
        if series:
            _chart(
                _frame(
                    series,
                    {"reads/s": lambda r: r.blks_read_s, "hits/s": lambda r: r.blks_hit_s},
                ),
                "line",
            )
        else:
            st.caption("Rates appear after the second sample.")


def _chart(data: dict[str, list[Any]], mark: str, height: int = 220) -> None:
    """A time-series chart of every column but "time", one colour each. A Vega-Lite spec
    written here, not st.line_chart/st.area_chart: those build an Altair chart and validate
    it against the Vega-Lite JSON schema on every run, ~90% of a dashboard tick's server
    time (three charts, ~0.1 s each on 2 cores)."""
    series = [name for name in data if name != "time"]
    spec = {
        "height": height,
        "transform": [{"fold": series, "as": ["series", "value"]}],
        "mark": {"type": mark, "tooltip": True},
        "encoding": {
            "x": {"field": "time", "type": "temporal", "title": None},
            "y": {
                "field": "value",
                "type": "quantitative",
                "title": None,
                "stack": "zero" if mark == "area" else None,
            },
            "color": {"field": "series", "type": "nominal", "title": None, "sort": series},
        },
    }
    st.vega_lite_chart(data, spec, width="stretch")


def _frame(
    items: list[Any], columns: dict[str, Any], at: Any = lambda r: r.at
) -> dict[str, list[Any]]:
    """Column-wise chart data: a time column plus one list per series."""
    data: dict[str, list[Any]] = {"time": [humanize.local(at(i)) for i in items]}
    for name, get in columns.items():
        data[name] = [get(i) for i in items]
    return data


def _sizes(sizes: list[dict[str, Any]]) -> None:
    if not sizes:
        return
    total = sum(int(r["bytes"]) for r in sizes) or 1
    with st.expander(f"Database sizes · {humanize.size(total)} in {len(sizes)} databases"):
        st.dataframe(
            {
                "database": [r["database"] for r in sizes],
                "size": [humanize.size(int(r["bytes"])) for r in sizes],
                "share": [int(r["bytes"]) / total for r in sizes],
            },
            hide_index=True,
            column_config={
                "share": st.column_config.ProgressColumn(
                    "share of all", min_value=0.0, max_value=1.0, format="percent"
                )
            },
            width="stretch",
        )
