"""Running a tab's SQL: start it on a worker, wait briefly inline, watch a slow one, cancel it, and
the toolbar (Run, Explain, Cancel, Save, Share)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from tusk import params, queries, sqltext
from tusk.engines.abilities import engine_abilities
from tusk.engines.spec import ConnectionSpec
from tusk.errors import ConnectionFailed, TuskError
from tusk.runs import Run
from tusk.ui import humanize
from tusk.ui.session import connection, forget, forget_if_lost
from tusk.ui.shell import current_user, show_error
from tusk.ui.studio import tabs as qtabs
from tusk.ui.studio.catalog import forget_catalog
from tusk.ui.studio.explain import explain
from tusk.ui.studio.saved_queries import open_save_dialog
from tusk.ui.studio.sharing import share_url
from tusk.ui.studio.tabs import is_busy

RUN_ASKED = "studio_run_asked"  # tab id whose Run button was clicked (set by its callback)
POLL_S = 0.2
INLINE_S = 0.5  # a query that ends this soon is drawn in the run that started it


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
    if spec is not None and engine_abilities(spec.engine).can_explain:
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
    # Lazy: its link is drawn when it is opened (which reruns the work area).
    share = save_col.popover(
        "Share", icon=":material/link:", key="studio_share_open", on_change="rerun"
    )
    if not share.open:
        return
    with share:
        st.caption(
            "This link opens the tab's SQL on the same connection name (no results, no secrets)."
        )
        st.code(share_url(tab), language=None, wrap_lines=True)
