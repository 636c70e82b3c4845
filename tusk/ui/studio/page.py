"""The Studio page: query tabs, SQL editor with autocomplete, schema browser, results grid."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from tusk import auth, connections, sqltext
from tusk.catalog import Catalog
from tusk.config import load as load_settings
from tusk.engines.abilities import engine_abilities
from tusk.engines.registry import LABELS
from tusk.engines.spec import ConnectionSpec
from tusk.errors import TuskError
from tusk.ui import theme
from tusk.ui.editor import SHORTCUTS, editor_key, sql_editor, statement_at
from tusk.ui.icons import engine_icon
from tusk.ui.shell import (
    PageInfo,
    current_user,
    header,
    md_escape,
    setup_page,
    show_error,
    sidebar_footer,
    time_fragment,
)
from tusk.ui.studio import catalog as catalogs
from tusk.ui.studio import (
    explain,
    parameters,
    picker,
    query_history,
    results,
    run,
    saved_queries,
    sharing,
    tab_actions,
)
from tusk.ui.studio import tabs as qtabs
from tusk.ui.studio.connection_form import connection_dialog, open_dialog
from tusk.ui.studio.files_panel import attach_panel, files_panel, show_pending_toast
from tusk.ui.studio.schema_browser import schema_browser

SIDE_TABS = ("Schema", "History", "Saved", "Files")  # no icons: four labels fit the column
SIDE_KEY = "studio_side"  # the open side tab's label


def render() -> None:
    """The whole Studio page: the header, the tab bar, the work area, then the sidebar (the
    tab's connection).

    The order is the order the browser gets the parts in: the editor comes before the sidebar
    and the side panels, so its frame (the slowest part to appear) starts loading while the
    rest of the page is still being drawn (bench/ui.py, reload case)."""
    info = setup_page("Studio")
    show_pending_toast()
    picker.apply_pending()
    sharing.open_shared_link()
    tab = qtabs.active()
    choice = _connections(tab)
    spec = _header(info, tab, choice)
    _tab_bar(tab)
    work_area(spec, choice.missing)
    _sidebar(tab, choice)


@dataclass(frozen=True)
class _Choice:
    """The saved connections and what the active tab may use."""

    saved: list[ConnectionSpec]
    usable: list[str]
    missing: str | None  # why the tab cannot run (None when it can)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.saved]


def _connections(tab: qtabs.QueryTab) -> _Choice:
    """The saved connections, those the user may use, and why the tab cannot run (if so)."""
    try:
        saved = connections.list_connections()
    except TuskError as exc:
        show_error(exc)
        saved = [connections.demo_spec()]
    names = [c.name for c in saved]
    # A tab whose connection is gone (deleted or renamed by anyone, or named by a stale draft or a
    # shared link) keeps it and asks: it never moves to another connection by itself.
    me = current_user()
    # Without connections.use only the built-in demo runs (read-only, see connections.open_for).
    usable = [n for n in names if n == connections.DEMO_NAME or auth.allowed(me, "connections.use")]
    missing = picker.missing_connection(tab, names) or picker.unusable_connection(tab, usable)
    return _Choice(saved, usable, missing)


def _sidebar(tab: qtabs.QueryTab, choice: _Choice) -> None:
    """The active tab's connection picker and managing connections."""
    me = current_user()
    engines = {c.name: c.engine for c in choice.saved}
    with st.sidebar:
        picker.picker_value(tab.id, tab.connection, choice.usable)
        st.selectbox(
            "Connection for this tab",
            choice.usable,
            key=f"studio_conn_{tab.id}",
            on_change=picker.set_tab_connection,
            args=(tab.id,),
            placeholder="Choose a connection",
        )
        add, edit, delete = st.columns(3)
        add.button(
            "Add",
            key="studio_conn_add",
            on_click=open_dialog,
            args=("add",),
            width="stretch",
            disabled=not auth.allowed(me, "connections.create"),
        )
        user_conn = choice.missing is None and tab.connection != connections.DEMO_NAME
        edit.button(
            "Edit",
            key="studio_conn_edit",
            on_click=open_dialog,
            args=("edit", tab.connection),
            disabled=not (user_conn and auth.allowed(me, "connections.edit")),
            width="stretch",
        )
        delete.button(
            "Delete",
            key="studio_conn_delete",
            on_click=open_dialog,
            args=("delete", tab.connection),
            disabled=not (user_conn and auth.allowed(me, "connections.delete")),
            width="stretch",
        )
        if tab.connection in engines and engine_abilities(engines[tab.connection]).can_attach:
            attach_panel(tab.connection, catalogs.forget_catalog, catalogs.attached_databases)
        every = st.expander(
            "All connections", icon=":material/lan:", key="studio_all_open", on_change="rerun"
        )
        if every.open:
            for c in choice.saved:
                every.markdown(
                    f"{engine_icon(c.engine)} **{md_escape(c.name)}** · {LABELS[c.engine]}"
                )
    sidebar_footer()
    connection_dialog(on_saved=lambda name: picker.after_dialog(tab.id, name))


def _header(info: PageInfo, tab: qtabs.QueryTab, choice: _Choice) -> ConnectionSpec | None:
    """The header naming the tab's connection; returns its spec (None when it cannot run)."""
    if choice.missing is not None:
        gone = " (gone)" if tab.connection not in choice.names else ""
        header(info, f":material/link_off: **{md_escape(tab.connection)}**{gone}")
        st.warning(choice.missing, icon=":material/link_off:")
        return None
    try:
        spec = connections.get(tab.connection)
    except TuskError as exc:  # e.g. a password that no longer decrypts: say so, keep the page
        header(info)
        show_error(exc)
        _sidebar(tab, choice)  # the page stops here: its sidebar still lets the user fix it
        st.stop()
    picker.follow_saved(spec)
    header(info, f"{LABELS[spec.engine]} · **{md_escape(spec.name)}**")
    return spec


def _tab_bar(tab: qtabs.QueryTab) -> None:
    """The query tabs: pick, new, close, rename."""
    all_tabs = qtabs.tabs()
    bar, new_col, close_col, rename_col = st.columns([7, 2, 2, 1], vertical_alignment="bottom")
    bar.segmented_control(
        "Query tabs",
        [t.id for t in all_tabs],
        format_func=lambda tid: next((t.title for t in all_tabs if t.id == tid), tid),
        key=qtabs.ACTIVE_KEY,
        required=True,
        label_visibility="collapsed",
    )
    new_col.button(
        "",
        icon=":material/add:",
        key="studio_new_tab",
        help="New tab (Ctrl+Alt+N)",
        on_click=tab_actions.new_tab_like,
        args=(tab.id,),
        shortcut="Ctrl+Alt+N",
    )
    close_col.button(
        "",
        icon=":material/close:",
        key="studio_close_tab",
        help="Close this tab (Ctrl+Alt+W)",
        on_click=qtabs.close_tab,
        args=(tab.id,),
        shortcut="Ctrl+Alt+W",
    )
    rename = rename_col.popover(
        "",
        icon=":material/edit:",
        help="Rename this tab",
        key=f"studio_rename_open_{tab.id}",
        on_change="rerun",
    )
    if not rename.open:
        return  # lazy: its input is drawn when it is opened
    with rename:
        st.text_input("Tab name", value=tab.title, key=f"studio_rename_{tab.id}")
        st.button(
            "Rename",
            key=f"studio_rename_go_{tab.id}",
            on_click=tab_actions.rename_from_widget,
            args=(tab.id,),
        )


@st.fragment
def work_area(spec: ConnectionSpec | None, missing: str | None) -> None:
    """Side panels, editor, run controls and results: one fragment, so a run (Ctrl+Enter, the
    Run button, Cancel, a page of results) redraws only this, not the sidebar or the tab bar.
    A fast query's rows are drawn in the same run that started it; a slow one leaves a
    "Running…" watcher and the run ends. The editor is drawn first (the side column after it,
    see render), and History last, so it lists the run."""
    time_fragment("Studio (fragment)")
    tab = qtabs.active()
    side, main = st.columns([1, 3], gap="medium")
    read: list[Catalog | TuskError | None] = []  # read once per run: a failed open is not retried

    def catalog() -> Catalog | TuskError | None:
        if not read:
            read.append(catalogs.read_catalog(spec) if spec is not None else None)
        return read[0]

    # --- main: editor, parameters, run controls, results --------------------------------------
    with main:
        engine = spec.engine if spec else ""
        event = sql_editor(
            tab.sql,
            editor_key(tab.id, tab.editor_version),
            # Of the text just reported; the catalog is read after the editor is on its way
            # to the browser (on a new session that opens the connection).
            lambda sql: catalogs.completions_for(_usable(catalog()), sql, engine),
            dark=theme.dark(),
        )
        st.caption(SHORTCUTS)
        run_text: str | None = None
        if st.session_state.pop(run.RUN_ASKED, None) == tab.id:
            run_text = tab.sql  # the Run button (its callback ran before this run)
        if event is not None and event.id != tab.last_event:
            tab.last_event = event.id
            tab.sql = event.text
            if event.type == "submit":
                run_text = event.selected.strip() or event.text
            elif event.type == "run_current":
                run_text = statement_at(event.text, event.cursor, engine) or event.text
            elif event.type == "save":
                saved_queries.open_save_dialog(tab)
            elif event.type == "cancel" and tab.run is not None:
                tab.run.cancel()
            elif event.type == "new_tab":
                tab_actions.new_tab_like(tab.id)
                st.rerun()
            elif event.type == "close_tab":
                qtabs.close_tab(tab.id)
                st.rerun()
            elif event.type == "refresh" and spec is not None:
                catalogs.forget_catalog(spec.name)
                st.rerun()

        params_needed = parameters.parameter_inputs(tab, run_text or tab.sql, engine)
        toolbar = st.container()  # filled once the run started: Cancel is live while it runs
        status = st.empty()  # drawn on every run: results below keep their place and state
        if run_text is not None and not qtabs.is_busy(tab):
            statements = [s.text for s in sqltext.split(run_text, engine)]
            if spec is None:
                # Never on another connection: the user picks one for this tab first.
                status.error(missing, icon=":material/link_off:")
            elif not statements:
                status.warning(
                    "There is no SQL to run: type a statement first.", icon=":material/edit:"
                )
            elif params_needed:
                status.warning(
                    "Fill in the parameters first: " + ", ".join(f":{p}" for p in params_needed),
                    icon=":material/input:",
                )
            else:
                run.start_run(spec, tab, statements, int(load_settings()["default_limit"]))
                qtabs.save_drafts()

        # Inline: a fast query's rows are drawn in this same run; a slow one shows "Running…"
        # here and this run ends, so Cancel (button or Esc) acts at once. After DDL the
        # schema is read again.
        if tab.run is not None:
            ended = run.wait_for_run(tab)
            if ended is None:
                with status:
                    run.run_watcher(tab.id)
            elif ended:
                st.rerun()
        # After the wait: a run that ended in it (done, failed, cancelled) shows Run enabled,
        # one still going shows Cancel enabled. Drawn before the wait, a query cancelled
        # while this run waited left Run disabled next to "Query cancelled".
        with toolbar:
            run.toolbar(spec, tab)

        qtabs.save_drafts()
        if spec is not None:  # results (and their Export) only on their own connection
            explain.show_plan(tab)
            results.show_outcomes(spec, tab)
        saved_queries.save_dialog(tab)

    # --- side (drawn after the editor): schema, saved queries, files ------------------------
    # Only the open tab is drawn (choosing another reruns this fragment): the others' content,
    # e.g. fifty history entries, is never built or sent.
    with side:
        boxes = st.tabs(list(SIDE_TABS), key=SIDE_KEY, on_change="rerun")
        side_tabs = dict(zip(SIDE_TABS, boxes, strict=True))
        opened = {label for label, box in side_tabs.items() if box.open is not False}
        if spec is None:
            for box in boxes:
                box.caption("Choose a connection for this tab first.")
        elif "Schema" in opened:
            with side_tabs["Schema"]:
                st.button(
                    "Refresh",
                    icon=":material/refresh:",
                    key="studio_refresh",
                    shortcut="F5",
                    on_click=catalogs.forget_catalog,
                    args=(spec.name,),
                )
                current = catalog()
                if isinstance(current, TuskError):
                    show_error(current)
                elif current is not None:
                    schema_browser(
                        current,
                        default_schema=catalogs.default_schema(spec.engine),
                        key=f"browser_{spec.name}",
                        on_pick=tab_actions.insert_into_tab,
                    )
        elif "Saved" in opened:
            with side_tabs["Saved"]:
                saved_queries.saved_panel(spec)
        elif "Files" in opened:
            with side_tabs["Files"]:
                files_panel(spec, tab_actions.open_in_new_tab, catalogs.forget_catalog)

    if spec is not None and "History" in opened:
        with side_tabs["History"]:  # drawn last: it lists the run that just ended
            query_history.history_panel(spec)


def _usable(catalog: Catalog | TuskError | None) -> Catalog | None:
    """The catalog for completions: none when it could not be read (the Schema tab says why)."""
    return catalog if isinstance(catalog, Catalog) else None
