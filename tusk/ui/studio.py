"""The Studio page's pieces: runs, results, catalog cache, history, saved queries, sharing."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import streamlit as st

from tusk import config, connections, export, params, queries, sqltext
from tusk.catalog import Catalog
from tusk.engines.result import is_numeric_text
from tusk.engines.spec import ConnectionSpec
from tusk.errors import ConnectionFailed, QueryCancelled, QueryFailed, TuskError
from tusk.runs import Run
from tusk.store import history, saved
from tusk.ui import humanize
from tusk.ui import tabs as qtabs
from tusk.ui.grid import results_grid
from tusk.ui.session import connection, forget, forget_if_lost
from tusk.ui.shell import current_user, md_escape, show_error

_CATALOGS = "studio_catalogs"
_SAVE_FOR = "studio_save_for"  # tab id whose SQL the save dialog is saving
_SHARED = "studio_shared_done"  # the shared link of this URL was opened already
_PICKS = "studio_conn_pending"  # tab id → connection chosen outside the picker
_SPECS = "studio_conn_specs"  # connection name → the saved spec this session last used
_ATTACHED = "studio_attached"  # DuckDB connection name → its attached databases, last read
SIDE_TABS = ("Schema", "History", "Saved", "Files")  # no icons: four labels fit the column
SIDE_KEY = "studio_side"  # the open side tab's label
RESULT_VIEWS = (
    ":material/grid_on: Grid",
    ":material/bar_chart: Chart",
    ":material/map: Map",
    ":material/download: Export",
)
RESULT_VIEW_KEY = "studio_view"  # + tab id and statement index: that result's open view
RUN_ASKED = "studio_run_asked"  # tab id whose Run button was clicked (set by its callback)
POLL_S = 0.2
INLINE_S = 0.5  # a query that ends this soon is drawn in the run that started it


# --- tabs and connections ------------------------------------------------------------------------


def apply_pending() -> None:
    """Apply a tab switch asked for in the previous run."""
    qtabs.apply_pending()


def set_tab_connection(tab_id: str) -> None:
    """Callback of the connection picker: the tab now runs on the chosen connection."""
    name = st.session_state.get(f"studio_conn_{tab_id}")
    if name:
        set_connection_of(tab_id, name)


def after_dialog(tab_id: str, name: str) -> None:
    """Callback of the connection dialog: a saved (added or edited) connection becomes the
    tab's. After a delete the form names the demo, which can be neither added nor edited:
    the tab then keeps its deleted connection and asks for another rather than moving to
    one the user did not choose."""
    if name == connections.DEMO_NAME:
        return
    set_connection_of(tab_id, name)


def set_connection_of(tab_id: str, name: str) -> None:
    """Point a tab at a connection (after picking, adding or editing one)."""
    for tab in qtabs.tabs():
        if tab.id == tab_id:
            if tab.connection != name:
                # Results (and their Export, which runs the statement again) belong to the
                # connection they came from, never to the one picked now.
                tab.outcomes = []
                st.session_state.pop(f"studio_plan_{tab.id}", None)
            tab.connection = name
    # A drawn widget's value cannot be set in the same run: the page applies this before it
    # draws the picker next time (popping the key would not do: the browser keeps the old one).
    st.session_state.setdefault(_PICKS, {})[tab_id] = name
    forget(name)  # an edited connection must be reopened with its new fields


def picker_value(tab_id: str, current: str, names: list[str]) -> str | None:
    """Before drawing a tab's connection picker: apply a pending choice. None (the picker
    shows "Choose a connection") when the tab's connection is gone: never another one."""
    key = f"studio_conn_{tab_id}"
    pending = st.session_state.setdefault(_PICKS, {}).pop(tab_id, None)
    value = pending or current
    if value not in names:
        value = None
    st.session_state[key] = value
    return value


def missing_connection(tab: qtabs.QueryTab, names: list[str]) -> str | None:
    """Why the tab cannot run, when its connection no longer exists (deleted or renamed by
    anyone, or named by a link or draft); None when it exists. The tab keeps its SQL and the
    name: nothing runs until the user picks a connection."""
    if tab.connection in names:
        return None
    if tab.connection:
        # This session may still hold the deleted connection open: close it, never use it.
        forget(tab.connection)
        forget_catalog(tab.connection)
        st.session_state.setdefault(_SPECS, {}).pop(tab.connection, None)
        return (
            f"The connection **{md_escape(tab.connection)}** was deleted or renamed; choose a "
            "connection for this tab in the sidebar. Its SQL is kept and runs nowhere until "
            "you do."
        )
    return "This tab has no connection: choose one in the sidebar before running its SQL."


def unusable_connection(tab: qtabs.QueryTab, usable: list[str]) -> str | None:
    """Why the tab cannot run on an existing connection the signed-in user may not use
    (connections.use; the library refuses it too); None when they may."""
    if tab.connection in usable:
        return None
    return (
        f"Running SQL on **{md_escape(tab.connection)}** needs the connections.use permission; "
        "ask an administrator, or choose the demo for this tab in the sidebar. Its SQL is kept."
    )


def follow_saved(spec: ConnectionSpec) -> None:
    """Close this session's connection to `spec.name` when the saved connection changed
    since it was opened (edited by anyone, or deleted and saved again under the same name):
    the next use opens what is saved now, never a deleted connection's target."""
    seen: dict[str, ConnectionSpec] = st.session_state.setdefault(_SPECS, {})
    if spec.name in seen and seen[spec.name] != spec:
        if connection_busy(spec.name):
            return  # never close a connection under a running query: the next page run will
        forget(spec.name)
        forget_catalog(spec.name)
    seen[spec.name] = spec


def new_tab_like(tab_id: str) -> None:
    """A new empty tab on the same connection as `tab_id`."""
    current = next((t for t in qtabs.tabs() if t.id == tab_id), None)
    qtabs.new_tab(current.connection if current else connections.DEMO_NAME)


def rename_from_widget(tab_id: str) -> None:
    """Callback of the rename popover."""
    qtabs.rename_tab(tab_id, str(st.session_state.get(f"studio_rename_{tab_id}", "")))


def insert_into_tab(sql: str, values: Mapping[str, Any] | None = None) -> None:
    """Put SQL into the active tab's editor (schema browser, history, saved queries), and the
    values of its `:name` parameters into their inputs (history)."""
    tab = qtabs.active()
    qtabs.set_sql(tab, sql)
    for name, value in (values or {}).items():
        tab.params[name] = st.session_state[f"param_{tab.id}_{name}"] = params.text_of(value)


def open_in_new_tab(
    sql: str,
    connection_name: str,
    title: str | None = None,
    values: Mapping[str, Any] | None = None,
) -> None:
    """Open SQL in a new tab (with the values of its `:name` parameters, from history)."""
    tab = qtabs.new_tab(connection_name, sql, title)
    tab.editor_version += 1
    for name, value in (values or {}).items():
        tab.params[name] = st.session_state[f"param_{tab.id}_{name}"] = params.text_of(value)


def open_shared_link() -> None:
    """A URL with ?connection=…&sql=… opens that query in a new tab, once per session."""
    qp = st.query_params
    sql, name = qp.get("sql"), qp.get("connection")
    if not sql:
        return
    marker = f"{name}\x00{sql}"
    if st.session_state.get(_SHARED) == marker:
        return
    st.session_state[_SHARED] = marker
    try:
        known = connections.names()
    except TuskError:
        known = [connections.DEMO_NAME]
    if name not in known:
        # The tab keeps the link's name and asks for a connection: never the demo by default.
        st.warning(
            f"The shared link names a connection you do not have ({md_escape(name or '')}); "
            "choose a connection for its tab before running it.",
            icon=":material/link_off:",
        )
    tab = qtabs.new_tab(name or "", sql, "Shared")
    qtabs.apply_pending()
    tab.editor_version += 1
    # The tab is a draft now (kept on disk): clear the URL so a reload does not open it again.
    st.query_params.clear()


def share_url(tab: qtabs.QueryTab) -> str:
    """A link that opens this tab's SQL and connection (no results, no secrets)."""
    from urllib.parse import urlencode, urlsplit

    base = ""
    try:
        url = st.context.url or ""
        parts = urlsplit(url)
        base = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else url
    except (AttributeError, RuntimeError):
        base = ""
    # backslashreplace: SQL with a lone surrogate (a bad paste) must not break the page.
    query = urlencode({"connection": tab.connection, "sql": tab.sql}, errors="backslashreplace")
    return f"{base}?{query}"


def dark() -> bool:
    """True when the theme shown to this user is dark (the grid and editor follow it)."""
    from tusk.ui import theme

    return theme.current() == "dark"


# --- catalog ---------------------------------------------------------------------------------------


def default_schema(engine: str) -> str:
    """The schema names are resolved in when not qualified."""
    if engine == "cluster":
        return "default"
    return "public" if engine in ("postgres", "datafusion") else "main"


def catalog_for(spec: ConnectionSpec, *, quiet: bool = False) -> Catalog | None:
    """The connection's catalog, cached per session; None (with an error shown) on failure."""
    cache: dict[str, Catalog] = st.session_state.setdefault(_CATALOGS, {})
    if spec.name in cache:
        return cache[spec.name]
    if connection_busy(spec.name):
        return None  # never wait on a running query: the catalog loads after the run
    try:
        catalog = connection(spec.name).catalog()
    except TuskError as exc:
        if not quiet:
            show_error(exc)
        if isinstance(exc, ConnectionFailed):
            forget(spec.name)
        forget_if_lost(spec.name, exc)
        return None
    cache[spec.name] = catalog
    return catalog


def forget_catalog(name: str) -> None:
    """Drop a cached catalog (and attached databases) so the next draw reads them again
    (F5 / Refresh / after DDL, ATTACH or DETACH)."""
    st.session_state.setdefault(_CATALOGS, {}).pop(name, None)
    st.session_state.setdefault(_ATTACHED, {}).pop(name, None)


def connection_busy(name: str) -> bool:
    """True while one of this session's tabs runs a query on `name`: its connection answers
    one call at a time, so a page read would wait for the query to end."""
    return any(is_busy(t) and t.run.spec.name == name for t in qtabs.tabs())


def attached_databases(name: str) -> list[str] | None:
    """A DuckDB connection's attached databases, read once and kept until forget_catalog;
    None while a query runs on it and they were not read yet (never waits for the query)."""
    cache: dict[str, list[str]] = st.session_state.setdefault(_ATTACHED, {})
    if name not in cache:
        if connection_busy(name):
            return None
        cache[name] = connection(name).attached()  # type: ignore[attr-defined]
    return cache[name]


def completions_for(catalog: Catalog | None, sql: str, engine: str) -> dict[str, Any]:
    """Editor completion data (tusk.completion.editor_data): keywords, schemas, tables, the
    columns of the tables in the SQL, and every table's columns for the browser's `alias.`."""
    from tusk import completion

    try:
        return completion.editor_data(catalog or Catalog(), sql, engine)
    except Exception:  # noqa: BLE001 - autocomplete must never break the page
        keywords = [
            {"caption": k, "value": k, "meta": "keyword", "score": 1}
            for k in completion.keywords(engine)
        ]
        return {"entries": keywords, "tables": [], "lookup": {}}


# --- parameters ---------------------------------------------------------------------------------


def parameter_inputs(tab: qtabs.QueryTab, sql: str, engine: str | None = None) -> list[str]:
    """Inputs for the `:name` parameters of the SQL (read in `engine`'s dialect); returns the
    names still without a value."""
    try:
        names = params.find(sql, dialect=engine or sqltext.DEFAULT_DIALECT)
    except Exception:  # noqa: BLE001 - a half-typed query must not break the page
        return []
    if not names:
        return []
    with st.container(border=True):
        st.caption(
            "Parameters — bound as real parameters, never pasted into the SQL. "
            "Numbers, true/false and NULL are typed; quote a value ('42') to keep it text."
        )
        cols = st.columns(min(len(names), 4))
        for i, name in enumerate(names):
            key = f"param_{tab.id}_{name}"
            if key not in st.session_state:
                st.session_state[key] = tab.params.get(name, "")
            tab.params[name] = cols[i % len(cols)].text_input(f":{name}", key=key)
    return [n for n in names if tab.params.get(n, "") == ""]


# --- running ------------------------------------------------------------------------------------


def start_run(spec: ConnectionSpec, tab: qtabs.QueryTab, statements: list[str], limit: int) -> None:
    """Bind each statement's parameters on its own and start them on a worker thread."""
    try:
        values = {n: params.coerce(v) for n, v in tab.params.items()}
        plan = [queries.bind(text, values, spec.engine) for text in statements]
        conn = connection(spec.name)
    except TuskError as exc:
        tab.outcomes = []
        show_error(exc)
        if isinstance(exc, ConnectionFailed):
            forget(spec.name)
        return
    tab.outcomes = []
    tab.run = Run(spec, conn, plan, limit=limit, actor=current_user())
    alive = _session_alive()
    if alive is not None:
        tab.run.watch(alive)
    if any(_is_ddl(s, spec.engine) for s in statements):
        forget_catalog(spec.name)


def _session_alive() -> Any:
    """A check that this browser session is still connected (None outside a server)."""
    from streamlit import runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not runtime.exists():
        return None
    server, session_id = runtime.get_instance(), ctx.session_id
    return lambda: server.is_active_session(session_id)


def _is_ddl(sql: str, engine: str = sqltext.DEFAULT_DIALECT) -> bool:
    return sqltext.first_keyword(sql, engine) in {
        "CREATE",
        "DROP",
        "ALTER",
        "RENAME",
        "COMMENT",
        "ATTACH",
        "DETACH",
        "USE",
    }


def wait_for_run(tab: qtabs.QueryTab) -> bool | None:
    """Wait for the tab's run up to INLINE_S since it began: a fast query's result is ready
    in this same page run. None while it still runs (the caller shows `run_watcher`, and the
    page run ends, so every click, Cancel and Esc included, is handled at once); else True
    when the run ended with DDL (the catalog was dropped: the caller draws the page again)."""
    run: Run = tab.run
    if not run.wait(max(0.0, INLINE_S - run.elapsed_s)):
        return None
    tab.outcomes = list(run.outcomes)
    tab.run = None
    for o in tab.outcomes:
        if o.error is not None:
            # A lost connection is dropped so the NEXT Run reconnects; this one is not retried.
            forget_if_lost(run.spec.name, o.error)
    if any(_is_ddl(o.statement.text, run.spec.engine) for o in tab.outcomes):
        forget_catalog(run.spec.name)
        return True
    return False


@st.fragment(run_every=POLL_S)
def run_watcher(tab_id: str) -> None:
    """ "Running…" while the tab's query runs, redrawn every POLL_S on its own (nothing else
    of the page runs); once the query ended, the page runs again and draws its result. A
    fragment polls instead of a loop in the page run: a click inside the Studio's fragment
    does not interrupt a running page run, it waits for it (Streamlit 1.67), so Cancel would
    wait for the query it cancels."""
    tab = next((t for t in qtabs.tabs() if t.id == tab_id), None)
    if tab is None or not is_busy(tab):
        st.rerun()
    st.info(
        f"Running… {humanize.duration(tab.run.elapsed_s)} — Cancel query (Esc) stops it.",
        icon=":material/hourglass_top:",
    )


def ask_run(tab_id: str) -> None:
    """Callback of the Run button: the page runs the tab's SQL in this run."""
    st.session_state[RUN_ASKED] = tab_id


def cancel_run(tab_id: str) -> None:
    """Callback of Cancel (button or Esc): stops the tab's query before the page runs."""
    tab = next((t for t in qtabs.tabs() if t.id == tab_id), None)
    if tab is not None and is_busy(tab):
        tab.run.cancel()


def toolbar(spec: ConnectionSpec | None, tab: qtabs.QueryTab) -> None:
    """Run, Explain (PostgreSQL), Cancel, Save and Share, drawn once the page knows whether a
    run is going, so Cancel is enabled in the very run that started the query."""
    running = is_busy(tab)
    run_col, explain_col, cancel_col, save_col = st.columns(4, vertical_alignment="center")
    run_col.button(
        "Run",
        type="primary",
        icon=":material/play_arrow:",
        key="studio_run",
        disabled=running,
        on_click=ask_run,
        args=(tab.id,),
    )
    if spec is not None and spec.engine == "postgres":
        if explain_col.button("Explain", icon=":material/account_tree:", key="studio_explain"):
            explain(spec, tab, analyze=False)
        explain_col.checkbox(
            "with ANALYZE",
            key="studio_explain_analyze",
            help="ANALYZE really runs the statement (an UPDATE changes data).",
        )
    cancel_col.button(
        "Cancel query",
        icon=":material/stop:",
        key="studio_cancel",
        disabled=not running,
        shortcut="Esc",
        help="Cancel the running query (Esc)",
        on_click=cancel_run,
        args=(tab.id,),
    )
    if save_col.button("Save", icon=":material/save:", key="studio_save", help="Ctrl+S"):
        open_save_dialog(tab)
    with save_col.popover("Share", icon=":material/link:"):
        st.caption(
            "This link opens the tab's SQL on the same connection name (no results, no secrets)."
        )
        st.code(share_url(tab), language=None, wrap_lines=True)


# --- results ------------------------------------------------------------------------------------


def _position_text(sql: str, position: int | None) -> str:
    if position is None or position < 1 or position > len(sql) + 1:
        return ""
    before = sql[: position - 1]
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return f" (line {line}, column {column})"


def show_outcomes(spec: ConnectionSpec, tab: qtabs.QueryTab) -> None:
    """Each statement's result in its own tab; errors say where they happened."""
    outcomes = tab.outcomes
    if not outcomes:
        return
    labels = []
    for i, o in enumerate(outcomes, start=1):
        if o.error is not None:
            labels.append(f":material/error: Statement {i}")
        elif o.result is not None and o.result.table.num_columns:
            labels.append(f":material/table: Result {i}")
        else:
            labels.append(f":material/check: Statement {i}")
    containers = st.tabs(labels) if len(outcomes) > 1 else [st.container()]
    for i, (o, box) in enumerate(zip(outcomes, containers, strict=True)):
        with box:
            _show_outcome(spec, tab, o, i)


def _show_outcome(
    spec: ConnectionSpec, tab: qtabs.QueryTab, o: qtabs.StatementOutcome, i: int
) -> None:
    if o.error is not None:
        if isinstance(o.error, QueryCancelled):
            st.warning("Query cancelled. The connection is still open.", icon=":material/stop:")
            return
        where = ""
        if isinstance(o.error, QueryFailed) and o.error.position is not None:
            # Positions count within the statement; the editor shows the whole script.
            # Positions count in the SQL sent; with parameters bound that is not the text typed.
            typed = o.statement.text
            base = tab.sql.find(typed) if typed == o.statement.sql else -1
            if base >= 0:
                where = _position_text(tab.sql, base + o.error.position)
            else:
                where = _position_text(o.statement.sql, o.error.position)
        show_error(o.error, title=o.error.title + where)
        return
    result = o.result
    if result is None:
        return
    took = humanize.duration(result.elapsed_s)
    if not result.table.num_columns:
        done = (
            "Statement ran"
            if result.affected_rows is None
            else humanize.count(result.affected_rows, "row") + " affected"
        )
        st.success(f"{done} · {took}", icon=":material/check:")
        return
    rows = result.table.num_rows
    if result.truncated:
        st.caption(
            f":material/warning: Showing the first {humanize.count(rows, 'row')} — result "
            f"truncated · {took}. Export gives the full result."
        )
    else:
        st.caption(f"{humanize.count(rows, 'row')} · {took}")
    # Only the open view is drawn (choosing another reruns the page's fragment): a chart's
    # data or a map is built and sent only when the person looks at it.
    grid_tab, chart_tab, map_tab, export_tab = st.tabs(
        list(RESULT_VIEWS), key=f"{RESULT_VIEW_KEY}_{tab.id}_{i}", on_change="rerun"
    )
    if grid_tab.open is not False:
        with grid_tab:
            results_grid(result.table, key=f"grid_{tab.id}_{i}", dark=dark())
    if chart_tab.open:
        with chart_tab:
            quick_chart(result.table, key=f"chart_{tab.id}_{i}")
    if map_tab.open:
        with map_tab:
            from tusk.ui.geo.view import map_view

            statement = o.statement
            map_view(
                result.table,
                key=f"map_{tab.id}_{i}",
                full_export=lambda: connection(spec.name).stream_arrow(
                    statement.sql, statement.params
                ),
                on_demand=True,
            )
    if export_tab.open:
        with export_tab:
            export_panel(spec, o.statement, key=f"export_{tab.id}_{i}")


# --- quick chart --------------------------------------------------------------------------------


def chart_plan(table: pa.Table) -> tuple[str, str | None, list[str]]:
    """Pick (kind, x, ys) from column types: time → line, text → bar, numbers → scatter."""
    numeric = [
        f.name
        for f in table.schema
        if pa.types.is_integer(f.type)
        or pa.types.is_floating(f.type)
        or pa.types.is_decimal(f.type)
        or is_numeric_text(f)
    ]
    temporal = [
        f.name
        for f in table.schema
        if pa.types.is_temporal(f.type) and not pa.types.is_duration(f.type)
    ]
    text = [
        f.name
        for f in table.schema
        if (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))
        and not is_numeric_text(f)
    ]
    if temporal and numeric:
        return "line", temporal[0], numeric[:3]
    if text and numeric:
        return "bar", text[0], numeric[:3]
    if len(numeric) >= 2:
        return "scatter", numeric[0], numeric[1:2]
    if numeric:
        return "bar", None, numeric[:1]
    return "none", None, []


def quick_chart(table: pa.Table, key: str) -> None:
    """A Streamlit chart of the preview rows, chosen from the column types, adjustable."""
    kind, x, ys = chart_plan(table)
    if kind == "none":
        st.caption("Nothing to chart: the result has no numeric column.")
        return
    names = table.column_names
    c1, c2, c3 = st.columns(3)
    kinds = ["bar", "line", "scatter"]
    kind = c1.selectbox("Chart", kinds, index=kinds.index(kind), key=f"{key}_kind")
    x_options = ["(row number)", *names]
    x = c2.selectbox(
        "X", x_options, index=x_options.index(x) if x in x_options else 0, key=f"{key}_x"
    )
    ys = c3.multiselect("Y", names, default=ys, key=f"{key}_y")
    if not ys:
        st.caption("Pick at least one Y column.")
        return
    cols = list(dict.fromkeys(([x] if x != "(row number)" else []) + ys))
    frame = table.select(cols).to_pandas()
    for col in ys:
        field = table.schema.field(col)
        if pa.types.is_decimal(field.type):
            frame[col] = frame[col].astype(float)
        elif is_numeric_text(field):  # exact decimal text: a chart needs only its value
            import pandas as pd

            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    x_arg = None if x == "(row number)" else x
    if kind == "line":
        st.line_chart(frame, x=x_arg, y=ys)
    elif kind == "scatter":
        st.scatter_chart(frame, x=x_arg, y=ys)
    else:
        st.bar_chart(frame, x=x_arg, y=ys)
    st.caption(f"Chart of the {humanize.count(table.num_rows, 'row')} shown in the grid.")


# --- export -------------------------------------------------------------------------------------


def export_panel(spec: ConnectionSpec, statement: queries.Statement, key: str) -> None:
    """Export the FULL result (streamed through the engine), then offer the file to download."""
    fmt_col, go_col = st.columns([2, 1], vertical_alignment="bottom")
    fmt = fmt_col.segmented_control(
        "Format", list(export.FORMATS), default="csv", key=f"{key}_fmt", required=True
    )
    done_key = f"{key}_file"
    if go_col.button("Export full result", icon=":material/download:", key=f"{key}_go"):
        progress = st.progress(0.0, text="Exporting…")
        out_dir = config.home() / "exports"
        out_dir.mkdir(parents=True, exist_ok=True)
        _sweep_exports(out_dir)
        target = Path(tempfile.mkstemp(dir=out_dir, suffix=f".{fmt}")[1])

        def tick(rows: int) -> None:
            progress.progress(min(0.99, 0.05 + rows / (rows + 100_000)), text=f"{rows:,} rows…")

        try:
            summary = export.export(
                connection(spec.name),
                statement.sql,
                str(fmt),
                target,
                params=statement.params,
                progress=tick,
                actor=current_user(),
            )
        except TuskError as exc:
            target.unlink(missing_ok=True)
            progress.empty()
            show_error(exc)
            forget_if_lost(spec.name, exc)
            return
        progress.progress(
            1.0, text=f"{summary.rows:,} rows · {humanize.size(summary.bytes_written)}"
        )
        old = st.session_state.get(done_key)
        if old and Path(old[0]).exists():
            Path(old[0]).unlink()
        st.session_state[done_key] = (str(target), str(fmt), summary.rows)
    _save_to_root(spec, statement, str(fmt), key)
    ready = st.session_state.get(done_key)
    if ready and Path(ready[0]).exists():
        path, done_fmt, rows = ready
        with open(path, "rb") as fh:
            st.download_button(
                f"Download {done_fmt.upper()} ({humanize.count(rows, 'row')})",
                data=fh,
                file_name=export.file_name(f"{spec.name}-result", done_fmt),
                mime=export.mime_type(done_fmt),
                key=f"{key}_download",
                icon=":material/save_alt:",
                on_click="ignore",
            )


def _save_to_root(spec: ConnectionSpec, statement: queries.Statement, fmt: str, key: str) -> None:
    """Write the full result into a data root, where the Files panel lists it at once."""
    from tusk import auth, files

    user = current_user()
    if not auth.allowed(user, "data.export"):
        return
    with st.popover("Save to a data root", icon=":material/drive_folder_upload:"):
        try:
            roots = [r.name for r in files.roots()]
        except TuskError as exc:
            show_error(exc)
            return
        root = st.selectbox("Data root", roots, key=f"{key}_root")
        name = st.text_input(
            "File (a path inside the root)",
            value=f"{spec.name}-result.{fmt}",
            key=f"{key}_path",
            help="Folders in the path must exist; the extension follows the format.",
        )
        overwrite = st.checkbox("Replace a file with the same name", key=f"{key}_overwrite")
        if st.button("Save", type="primary", key=f"{key}_save", icon=":material/save:"):
            progress = st.progress(0.0, text="Writing…")

            def tick(rows: int) -> None:
                progress.progress(min(0.99, 0.05 + rows / (rows + 100_000)), text=f"{rows:,} rows…")

            try:
                entry = files.export(
                    connection(spec.name),
                    statement.sql,
                    fmt,
                    str(root),
                    name,
                    params=statement.params,
                    overwrite=overwrite,
                    progress=tick,
                    actor=user,
                )
            except TuskError as exc:
                progress.empty()
                show_error(exc)
                forget_if_lost(spec.name, exc)
                return
            progress.progress(1.0, text=f"Saved {humanize.size(entry.size)}")
            st.toast(
                f"Saved {md_escape(entry.root)}/{md_escape(entry.relative)}",
                icon=":material/check:",
            )


def _sweep_exports(folder: Path, max_age_s: float = 24 * 3600) -> None:
    """Delete export files older than a day: they exist only to be downloaded."""
    import time

    cutoff = time.time() - max_age_s
    for old in folder.iterdir():
        try:
            if old.is_file() and old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            continue  # another session may be removing it too


# --- EXPLAIN --------------------------------------------------------------------------------------


def explain(spec: ConnectionSpec, tab: qtabs.QueryTab, *, analyze: bool) -> None:
    """Show PostgreSQL's plan of the tab's (last) statement as a tree with cost/time per node."""
    from tusk import explain as plans

    statements = [s.text for s in sqltext.split(tab.sql, spec.engine)]
    if not statements:
        st.warning("There is no SQL to explain.")
        return
    analyze = bool(st.session_state.get("studio_explain_analyze", False))
    try:
        sql = plans.explain_sql(statements[-1], analyze=analyze)
        result = connection(spec.name).execute(sql, limit=None)
        plan = plans.parse_explain(result.table.column(0)[0].as_py())
    except TuskError as exc:
        show_error(exc)
        forget_if_lost(spec.name, exc)
        return
    st.session_state[f"studio_plan_{tab.id}"] = (plan, analyze)


def show_plan(tab: qtabs.QueryTab) -> None:
    """The last EXPLAIN of this tab, if any."""
    from tusk import explain as plans

    stored = st.session_state.get(f"studio_plan_{tab.id}")
    if not stored:
        return
    plan, analyze = stored
    with st.expander(
        "Query plan" + (" (ANALYZE — the statement really ran)" if analyze else ""), expanded=True
    ):
        rows = plans.flatten(plan)
        st.dataframe(
            rows,
            hide_index=True,
            width="stretch",
            column_config={
                "self_share": st.column_config.ProgressColumn(
                    "Time share", min_value=0.0, max_value=1.0, format="percent"
                )
            },
        )
        if plan.execution_ms is not None:
            st.caption(
                f"Planning {plan.planning_ms or 0:.1f} ms · execution {plan.execution_ms:.1f} ms"
            )


# --- history and saved queries --------------------------------------------------------------------


def history_panel(spec: ConnectionSpec) -> None:
    """Searchable history of this connection: open an entry in the editor or a new tab."""
    needle = st.text_input(
        "Search history",
        key="studio_history_search",
        placeholder="Search history…",
        label_visibility="collapsed",
    )
    me = current_user()
    who = me.username if me is not None else None  # multi-user mode: only your own history
    try:
        entries = history.search(needle, connection=spec.name, limit=50, username=who)
    except TuskError as exc:  # a damaged history.db: say so, the rest of the page works
        show_error(exc)
        return
    if not entries:
        st.caption("No statements run on this connection yet.")
        return
    for e in entries:
        mark = ":material/error:" if e.error else ":material/check:"
        took = humanize.duration(e.duration_s) if e.duration_s is not None else ""
        with st.container(border=True):
            st.markdown(f"{mark} `{e.ts.astimezone().strftime('%H:%M:%S')}` {took}")
            st.code(e.statement[:500], language="sql")
            if e.values:
                shown = ", ".join(f":{n} = {params.text_of(v)}" for n, v in e.values.items())
                st.caption(md_escape(shown[:300]))
            a, b = st.columns(2)
            a.button(
                "Edit",
                key=f"hist_edit_{e.id}",
                on_click=insert_into_tab,
                args=(e.statement, e.values),
                help="Put this statement (and its parameter values) in the editor",
            )
            b.button(
                "New tab",
                key=f"hist_tab_{e.id}",
                on_click=open_in_new_tab,
                args=(e.statement, spec.name, None, e.values),
            )
    if st.button("Clear this connection's history", icon=":material/delete:", key="hist_clear"):
        removed = history.clear(spec.name, username=who)
        st.toast(f"Removed {humanize.count(removed, 'entry', 'entries')}")
        st.rerun()


def open_save_dialog(tab: qtabs.QueryTab) -> None:
    """Ask for a name and folder to save the tab's SQL (Ctrl+S)."""
    st.session_state[_SAVE_FOR] = tab.id


def save_dialog(tab: qtabs.QueryTab) -> None:
    """The save dialog, open while the session flag is set."""
    if st.session_state.get(_SAVE_FOR) != tab.id:
        return

    @st.dialog("Save query", on_dismiss=lambda: st.session_state.pop(_SAVE_FOR, None))
    def body() -> None:
        try:
            folders = saved.list_folders(actor=current_user())
        except TuskError as exc:
            show_error(exc)
            return
        options = [None, *[f.id for f in folders]]
        labels = {f.id: f.name for f in folders}
        name = st.text_input("Name", value=tab.title, key="save_name")
        folder = st.selectbox(
            "Folder",
            options,
            format_func=lambda f: "(top level)" if f is None else labels[f],
            key="save_folder",
        )
        overwrite = st.checkbox("Overwrite a query with the same name", key="save_overwrite")
        ok, cancel = st.columns(2)
        if ok.button("Save", type="primary", key="save_go"):
            try:
                q = saved.save_query(
                    name, tab.sql, folder, tab.connection, overwrite=overwrite, actor=current_user()
                )
            except TuskError as exc:
                show_error(exc)
            else:
                st.session_state.pop(_SAVE_FOR, None)
                st.toast(f"Saved {md_escape(q.name)}", icon=":material/bookmark:")
                st.rerun()
        if cancel.button("Cancel", key="save_cancel"):
            st.session_state.pop(_SAVE_FOR, None)
            st.rerun()

    body()


def saved_panel(spec: ConnectionSpec) -> None:
    """Saved queries in folders: open, delete; create, rename and delete folders."""
    needle = st.text_input(
        "Search saved",
        key="saved_search",
        placeholder="Search saved queries…",
        label_visibility="collapsed",
    )
    with st.popover("New folder", icon=":material/create_new_folder:"):
        st.text_input("Folder name", key="saved_new_folder")
        if st.button("Create", key="saved_new_folder_go"):
            try:
                saved.create_folder(
                    str(st.session_state.get("saved_new_folder", "")), actor=current_user()
                )
            except TuskError as exc:
                show_error(exc)
            else:
                st.rerun()
    try:
        items = saved.tree(needle, actor=current_user())
    except TuskError as exc:  # a damaged saved.db: say so, the rest of the page works
        show_error(exc)
        return
    if not items:
        st.caption("No saved queries yet — Ctrl+S in the editor saves the current tab.")
        return
    _saved_items(items, spec, depth=0)


def _saved_items(items: list[Any], spec: ConnectionSpec, depth: int) -> None:
    for item in items:
        if isinstance(item, saved.FolderNode):
            f = item.folder
            with st.expander(f":material/folder: {md_escape(f.name)}", expanded=bool(depth == 0)):
                _saved_items(item.children, spec, depth + 1)
                a, b = st.columns(2)
                with a.popover("Rename", icon=":material/edit:"):
                    st.text_input("New name", value=f.name, key=f"saved_rename_folder_{f.id}")
                    if st.button("Rename", key=f"saved_rename_folder_go_{f.id}"):
                        try:
                            saved.rename_folder(
                                f.id,
                                st.session_state[f"saved_rename_folder_{f.id}"],
                                actor=current_user(),
                            )
                        except TuskError as exc:
                            show_error(exc)
                        else:
                            st.rerun()
                if b.button(
                    "Delete folder", key=f"saved_del_folder_{f.id}", icon=":material/delete:"
                ):
                    try:
                        saved.delete_folder(f.id, recursive=True, actor=current_user())
                    except TuskError as exc:
                        show_error(exc)
                    else:
                        st.rerun()
        else:
            q = item
            with st.container(border=True):
                st.markdown(f":material/description: **{md_escape(q.name)}**")
                a, b, c, d = st.columns(4)
                a.button(
                    "Open",
                    key=f"saved_open_{q.id}",
                    on_click=open_in_new_tab,
                    args=(q.sql, q.connection or spec.name, q.name),
                )
                b.button("Edit", key=f"saved_edit_{q.id}", on_click=insert_into_tab, args=(q.sql,))
                with c.popover("", icon=":material/edit:", help="Rename"):
                    st.text_input("New name", value=q.name, key=f"saved_rename_{q.id}")
                    if st.button("Rename", key=f"saved_rename_go_{q.id}"):
                        try:
                            saved.rename_query(
                                q.id, st.session_state[f"saved_rename_{q.id}"], actor=current_user()
                            )
                        except TuskError as exc:
                            show_error(exc)
                        else:
                            st.rerun()
                if d.button("", icon=":material/delete:", key=f"saved_del_{q.id}", help="Delete"):
                    try:
                        saved.delete_query(q.id, actor=current_user())
                    except TuskError as exc:
                        show_error(exc)
                    else:
                        st.rerun()


def is_busy(tab: qtabs.QueryTab) -> bool:
    """True while the tab's query runs."""
    return tab.run is not None and not tab.run.done
