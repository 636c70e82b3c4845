"""The Cluster page: connect to a Ray head (or start a local one), watch its nodes and tasks,
register tables, submit SQL through Daft (or run it on this machine with DataFusion), and
follow Tusk's query log with cancel."""

from __future__ import annotations

import atexit
import io
import threading
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import streamlit as st

from tusk import auth, files
from tusk.errors import BadInput, TuskError
from tusk.ui import humanize, live
from tusk.ui.shell import current_user, header, md_escape, setup_page, show_error, sidebar_footer

if TYPE_CHECKING:
    from tusk.auth.schema import User
    from tusk.cluster.nodes import LocalCluster

P = "cluster_"
TABLES = "tusk_cluster_tables"  # {name: path or URL}
TARGET = "tusk_cluster_target"  # (address, dashboard URL) of the head this session uses
QUERY = "tusk_cluster_query"  # the ClusterQuery this session submitted last
RESULT = "tusk_cluster_result"  # (label, pa.Table) of the last finished query
SQL_TEXT = "tusk_cluster_sql"  # the editor's text
MODES = {"remote": "Connect to a head", "local": "Local cluster", "single": "This machine"}

# A cluster started from the page belongs to the server process, not to one browser session:
# every session sees it, and it is stopped from the page (or when Tusk exits).
_LOCAL: dict[str, LocalCluster] = {}
_LOCAL_LOCK = threading.Lock()


def _stop_local() -> None:
    """At exit: a local cluster started from the page goes with the Tusk server."""
    cluster = _LOCAL.pop("cluster", None)
    if cluster is not None:
        cluster.stop()


atexit.register(_stop_local)


def local_cluster() -> LocalCluster | None:
    """The cluster this Tusk server started, if any."""
    return _LOCAL.get("cluster")


def render() -> None:
    """The whole Cluster page."""
    info = setup_page("Cluster")
    sidebar_footer()
    header(info)
    body()


def body() -> None:
    """The page body."""
    user = current_user()
    mode = st.segmented_control(
        "Where queries run",
        list(MODES),
        format_func=lambda k: MODES[k],
        default="remote",
        required=True,
        key=f"{P}mode",
    )
    if mode == "local":
        _local_controls(user)
    elif mode == "remote":
        _remote_controls()
    else:
        st.caption(
            ":material/computer: Queries run here with DataFusion over the same tables — "
            "develop a query before sending it to the cluster."
        )
        st.session_state.pop(TARGET, None)
    nodes_tab, sql_tab, log_tab = st.tabs(
        [":material/hub: Nodes", ":material/terminal: SQL", ":material/history: Query log"]
    )
    with nodes_tab:
        _nodes()
    with sql_tab:
        _tables(user)
        _submit(user, single=mode == "single")
    with log_tab:
        _query_log(user)


def _remote_controls() -> None:
    a, b, c = st.columns([2, 2, 1], vertical_alignment="bottom")
    address = a.text_input("Head address", placeholder="10.0.0.5:8814", key=f"{P}address")
    dashboard = b.text_input(
        "Dashboard URL",
        placeholder="http://10.0.0.5:8265",
        key=f"{P}dashboard",
        help="Ray's dashboard, for the node list (optional).",
    )
    if c.button("Connect", type="primary", key=f"{P}connect", icon=":material/link:"):
        from tusk.cluster import client

        try:
            client.check_head(address.strip())
        except TuskError as exc:
            show_error(exc)
            return
        st.session_state[TARGET] = (address.strip(), dashboard.strip() or None)
        st.toast(f"Connected to {address.strip()}", icon=":material/check:")
    target = st.session_state.get(TARGET)
    if target:
        st.caption(f":material/hub: Using the head at `{target[0]}`")


def _local_controls(user: User | None) -> None:
    cluster = local_cluster()
    may_manage = auth.allowed(user, "cluster.manage")
    if cluster is None:
        a, b = st.columns([1, 3], vertical_alignment="bottom")
        workers = a.number_input("Workers", 0, 8, 2, key=f"{P}workers")
        if b.button(
            "Start a local cluster",
            type="primary",
            key=f"{P}start",
            icon=":material/play_arrow:",
            disabled=not may_manage,
            help=None if may_manage else "Needs the cluster.manage permission.",
        ):
            from tusk.cluster import nodes

            with _LOCAL_LOCK, st.spinner(f"Starting a head and {int(workers)} workers…"):
                try:
                    started = nodes.start_local_cluster(int(workers), actor=user)
                except TuskError as exc:
                    show_error(exc)
                    return
                _LOCAL["cluster"] = started
            st.rerun()
        return
    st.session_state[TARGET] = (cluster.address, cluster.dashboard_url)
    a, b = st.columns([3, 1], vertical_alignment="center")
    took = f" · started in {cluster.startup_s:.0f} s" if cluster.startup_s else ""
    a.markdown(
        f":material/hub: Local cluster at `{cluster.address}` · dashboard "
        f"{cluster.dashboard_url}{took}"
    )
    if b.button(
        "Stop it",
        key=f"{P}stop",
        icon=":material/stop:",
        disabled=not may_manage,
        help=None if may_manage else "Needs the cluster.manage permission.",
    ):
        try:
            auth.require(user, "cluster.manage")
        except TuskError as exc:
            show_error(exc)
            return
        with _LOCAL_LOCK, st.spinner("Stopping every node…"):
            cluster.stop()
            _LOCAL.pop("cluster", None)
        st.session_state.pop(TARGET, None)
        st.rerun()


def _nodes() -> None:
    target = st.session_state.get(TARGET)
    if not target:
        st.info(
            "Connect to a head or start a local cluster to see its nodes.", icon=":material/info:"
        )
        return
    if not target[1]:
        st.caption("No dashboard URL given: the node list needs Ray's dashboard.")
        return
    every = live.controls(f"{P}nodes")

    @st.fragment(run_every=every)
    def table() -> None:
        from tusk.cluster import nodes

        try:
            found = nodes.list_nodes(target[1])
        except TuskError as exc:
            show_error(exc)
            return
        alive = sum(1 for n in found if n.state == "ALIVE")
        st.caption(f"{humanize.count(len(found), 'node')} · {alive} alive")
        st.dataframe(
            {
                "node": [n.node_id[:12] for n in found],
                "ip": [n.ip for n in found],
                "state": [("🟢 " if n.state == "ALIVE" else "🔴 ") + n.state for n in found],
                "role": ["head" if n.is_head else "worker" for n in found],
                "CPUs": [n.cpus for n in found],
                "memory": [humanize.size(n.memory_bytes or 0) for n in found],
                "object store": [humanize.size(n.object_store_bytes or 0) for n in found],
            },
            hide_index=True,
            width="stretch",
        )
        _task_summary(target[1])

    table()


def _task_summary(dashboard: str) -> None:
    """Ray's task summary by function name and state, when the dashboard offers it."""
    from tusk.cluster import nodes

    try:
        data = nodes.get_json(f"{dashboard.rstrip('/')}/api/v0/tasks/summarize")
    except TuskError:
        return
    summary = (((data or {}).get("data") or {}).get("result") or {}).get("node_id_to_summary")
    cluster = (summary or {}).get("cluster", {}).get("summary", {}) if summary else {}
    if not cluster:
        return
    rows = [
        {"task": name, **{k.lower(): v for k, v in (info.get("state_counts") or {}).items()}}
        for name, info in cluster.items()
    ]
    with st.expander(f"Tasks · {humanize.count(len(rows), 'function')}"):
        st.dataframe(rows, hide_index=True, width="stretch")


def _tables(user: User | None) -> None:
    tables: dict[str, str] = st.session_state.setdefault(TABLES, {})
    with st.expander(
        f"Tables · {humanize.count(len(tables), 'table')}",
        expanded=not tables,
        icon=":material/table_view:",
    ):
        st.caption(
            "Tables are Parquet or CSV files (or folders, or object-store URLs) at the same path "
            "on every node. DECIMAL columns are read as DOUBLE."
        )
        for name, location in list(tables.items()):
            a, b = st.columns([5, 1], vertical_alignment="center")
            a.markdown(f"`{name}` → `{location}`")
            if b.button("", icon=":material/delete:", key=f"{P}drop_{name}", help="Forget it"):
                tables.pop(name, None)
                st.rerun()
        a, b, c = st.columns([2, 2, 3], vertical_alignment="bottom")
        name = a.text_input("Table name", key=f"{P}table_name")
        roots = [r.name for r in files.roots()]
        root = b.selectbox("Data root", ["(path or URL)", *roots], key=f"{P}table_root")
        where = c.text_input(
            "File in the root" if root != "(path or URL)" else "Path or URL",
            key=f"{P}table_path",
            placeholder="sales/2024.parquet",
        )
        if st.button("Register table", key=f"{P}register", icon=":material/add:"):
            try:
                tables[_table_name(name)] = _location(str(root), where)
            except TuskError as exc:
                show_error(exc)
            else:
                st.rerun()


def _table_name(name: str) -> str:
    clean = name.strip()
    if not clean or not clean.replace("_", "a").isalnum() or clean[0].isdigit():
        raise BadInput(
            "A table name is letters, digits and underscores, not starting with a digit."
        )
    return clean


def _location(root: str, where: str) -> str:
    text = where.strip()
    if not text:
        raise BadInput("Give a file in the data root, a path or a URL.")
    if root == "(path or URL)":
        return text
    return str(files.resolve(root, text))


def _submit(user: User | None, *, single: bool) -> None:
    from tusk.ui.editor import sql_editor
    from tusk.ui.theme import dark

    # The Studio's editor: Ctrl+Enter submits; the text lives in SQL_TEXT across reruns.
    text = str(st.session_state.get(SQL_TEXT, ""))
    words = [
        {"caption": n, "value": n, "meta": "table", "name": n, "score": 100}
        for n in st.session_state.get(TABLES, {})
    ]
    event = sql_editor(text, f"{P}editor", words, dark=dark())
    st.caption("Ctrl+Enter submits · Ctrl+Space completes table names")
    submitted = False
    if event is not None and event.id != st.session_state.get(f"{P}last_event"):
        st.session_state[f"{P}last_event"] = event.id
        st.session_state[SQL_TEXT] = text = event.text
        submitted = event.type == "submit"
    sql = text
    running = st.session_state.get(QUERY)
    busy = running is not None and not running.done()
    may_submit = auth.allowed(user, "cluster.submit")
    label = "Run here" if single else "Submit to the cluster"
    clicked = st.button(
        label,
        type="primary",
        key=f"{P}run",
        icon=":material/play_arrow:",
        disabled=busy or not may_submit,
        help=None if may_submit else "Needs the cluster.submit permission.",
    )
    if clicked and not sql.strip():
        st.warning("There is no SQL to run: type a statement first.", icon=":material/edit:")
    if (clicked or (submitted and not busy and may_submit)) and sql.strip():
        tables = dict(st.session_state.get(TABLES, {}))
        from tusk.cluster import client

        if single:
            try:
                with st.spinner("Running with DataFusion…"):
                    auth.require(user, "cluster.submit")
                    table = client.run_local(sql, tables, actor=user)
            except TuskError as exc:
                show_error(exc)
            else:
                st.session_state[RESULT] = ("this machine", table)
        else:
            target = st.session_state.get(TARGET)
            if not target:
                st.warning(
                    "Connect to a head or start a local cluster first.", icon=":material/hub:"
                )
            else:
                try:
                    st.session_state[QUERY] = client.submit(target[0], sql, tables, actor=user)
                except TuskError as exc:
                    show_error(exc)
                else:
                    st.rerun()
    _running(user)
    _result()


def _running(user: User | None) -> None:
    query = st.session_state.get(QUERY)
    if query is None:
        return

    @st.fragment(run_every=1.0 if not query.done() else None)
    def status() -> None:
        if query.done():
            try:
                table = query.result(0)
            except TuskError as exc:
                show_error(exc)
            else:
                st.session_state[RESULT] = (f"query {query.id}", table)
            st.session_state.pop(QUERY, None)
            st.rerun()
        elapsed = humanize.duration(query.elapsed_s or 0.0) if query.elapsed_s else "…"
        with st.status(f"Query {query.id} running on the cluster", state="running"):
            st.write(f"Running for {elapsed}.")
            if st.button(
                "Cancel",
                key=f"{P}cancel",
                icon=":material/stop:",
                disabled=not auth.allowed(user, "cluster.cancel"),
            ):
                try:
                    query.cancel(actor=user)
                except TuskError as exc:
                    show_error(exc)

    status()


def _result() -> None:
    done = st.session_state.get(RESULT)
    if done is None:
        return
    label, table = done
    st.caption(f"{humanize.count(table.num_rows, 'row')} from {md_escape(label)}")
    from tusk.ui.grid import results_grid

    results_grid(table, key=f"{P}grid_{id(table)}")
    a, b = st.columns(2)
    a.download_button(
        "Download CSV",
        _csv(table),
        file_name="cluster-result.csv",
        mime="text/csv",
        key=f"{P}csv",
        on_click="ignore",
    )
    b.download_button(
        "Download Parquet",
        _parquet(table),
        file_name="cluster-result.parquet",
        mime="application/vnd.apache.parquet",
        key=f"{P}parquet",
        on_click="ignore",
    )


def _csv(table: pa.Table) -> bytes:
    import pyarrow.csv as pacsv

    out = io.BytesIO()
    pacsv.write_csv(table, out)
    return out.getvalue()


def _parquet(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def _query_log(user: User | None) -> None:
    every = live.controls(f"{P}log")

    @st.fragment(run_every=every)
    def table() -> None:
        from tusk.cluster import log

        mine = st.session_state.get(QUERY)
        if mine is not None and not mine.done():
            a, b = st.columns([4, 1], vertical_alignment="center")
            a.markdown(f":material/hourglass_top: Your query {mine.id} is running")
            if b.button(
                "Cancel",
                key=f"{P}log_cancel",
                icon=":material/stop:",
                disabled=not auth.allowed(user, "cluster.cancel"),
            ):
                try:
                    mine.cancel(actor=user)
                except TuskError as exc:
                    show_error(exc)
        entries = log.list_queries(100)
        if not entries:
            st.caption("No cluster query yet.")
            return
        icons = {"done": "✅", "failed": "❌", "cancelled": "⏹", "running": "⏳", "queued": "🕒"}
        rows: list[dict[str, Any]] = [
            {
                "id": q.id,
                "status": f"{icons.get(q.status, '')} {q.status}",
                "user": q.user or "",
                "submitted": q.submitted,
                "took": humanize.duration(q.elapsed_s) if q.elapsed_s is not None else "",
                "rows": q.rows,
                "sql": " ".join(q.sql.split())[:200],
                "error": (q.error or "")[:200],
            }
            for q in entries
        ]
        st.dataframe(rows, hide_index=True, width="stretch")

    table()
