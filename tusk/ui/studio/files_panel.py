"""The Studio's Files panel: browse the data roots, preview a file, query it in a new tab,
make a DuckDB view of it, attach a SQLite file, upload and delete (with confirmation).

Every path goes through `tusk.files`, which refuses anything outside the configured roots.
"""

from __future__ import annotations

import hashlib
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

import streamlit as st

from tusk import auth, connections, files
from tusk.engines.abilities import engine_abilities
from tusk.engines.base import attaching
from tusk.errors import TuskError
from tusk.ui import humanize, session
from tusk.ui.confirm import confirm_dialog
from tusk.ui.session import connection
from tusk.ui.shell import current_user, md_escape, show_error

if TYPE_CHECKING:
    from collections.abc import Callable

    from tusk.auth.schema import User
    from tusk.engines.spec import ConnectionSpec
    from tusk.files import Entry

ROOT_KEY = "files_root"
_CWD = "tusk_files_cwd"  # {root name: folder relative to it}
_PREVIEW = "tusk_files_preview"  # (root, relative) while the preview dialog is open
_DELETE = "tusk_files_delete"  # (root, relative) while the delete dialog is open
_UPLOADS = "tusk_files_upload_round"  # bumped to empty the uploader after an upload
ATTACH_KEY = "studio_attached_open"  # the attached-databases panel is open
_TOAST = "tusk_files_toast"  # a message to toast on the run after an action's rerun
ICONS = {
    "parquet": ":material/table_view:",
    "csv": ":material/csv:",
    "json": ":material/data_object:",
    "sqlite": ":material/database:",
    "duckdb": ":material/database:",
    None: ":material/draft:",
}


def _key(*parts: str) -> str:
    """A widget key for a file: file names may hold any character, keys should not."""
    return "files_" + hashlib.sha1("\0".join(parts).encode()).hexdigest()[:12]


def _cwd(root: str) -> str:
    return str(st.session_state.setdefault(_CWD, {}).get(root, ""))


def _go(root: str, relative: str) -> None:
    st.session_state.setdefault(_CWD, {})[root] = relative


def duckdb_target(spec: ConnectionSpec) -> str:
    """The DuckDB connection file queries go to: the tab's if it is DuckDB, else the built-in
    one (the demo database doubles as the analytics workspace)."""
    return spec.name if engine_abilities(spec.engine).file_views else connections.DEMO_NAME


def files_panel(spec: ConnectionSpec, open_in_new_tab, forget_catalog) -> None:  # noqa: ANN001
    """Draw the panel; `open_in_new_tab(sql, connection, title)` and `forget_catalog(name)`
    are the Studio's own helpers."""
    user = current_user()
    if not auth.allowed(user, "data.view"):
        st.caption(":material/block: Browsing files needs the data.view permission.")
        return
    try:
        roots = files.roots()
    except TuskError as exc:
        show_error(exc)
        return
    if not roots:
        st.info("No data roots: set them with `tusk config set data_roots …`.")
        return
    names = [r.name for r in roots]
    root = str(st.selectbox("Data root", names, key=ROOT_KEY))
    cwd = _cwd(root)
    _breadcrumb(root, cwd)
    if auth.allowed(user, "data.import"):
        _upload(root, cwd, user)
    try:
        entries = files.listdir(root, cwd, actor=user)
    except TuskError as exc:
        show_error(exc)
        if st.button("Back to the top", key="files_top"):
            _go(root, "")
            st.rerun()
        return
    if not entries:
        st.caption("This folder is empty — upload a file or choose another folder.")
    target = duckdb_target(spec)
    fusion = spec.name if engine_abilities(spec.engine).registers_files else None
    for entry in entries:
        if entry.is_dir:
            st.button(
                entry.name,
                icon=":material/folder:",
                key=_key(root, entry.relative, "open"),
                on_click=_go,
                args=(root, entry.relative),
                type="tertiary",
            )
        else:
            _file_row(entry, target, fusion, user, open_in_new_tab, forget_catalog)
    _preview_dialog(user)
    _delete_dialog(user)


def _breadcrumb(root: str, cwd: str) -> None:
    parts = PurePosixPath(cwd).parts if cwd else ()
    cols = st.columns(len(parts) + 1)
    cols[0].button(
        root,
        icon=":material/home_storage:",
        key=_key(root, "", "crumb"),
        on_click=_go,
        args=(root, ""),
        type="tertiary",
    )
    for i, part in enumerate(parts):
        rel = str(PurePosixPath(*parts[: i + 1]))
        cols[i + 1].button(
            part, key=_key(root, rel, "crumb"), on_click=_go, args=(root, rel), type="tertiary"
        )


def _file_row(  # noqa: ANN001 - the Studio's callbacks
    entry: Entry,
    target: str,
    fusion: str | None,
    user: User | None,
    open_in_new_tab,
    forget_catalog,
) -> None:
    icon = ICONS.get(entry.kind, ICONS[None])
    with st.popover(f"{entry.name} · {humanize.size(entry.size)}", icon=icon, width="stretch"):
        st.caption(f"{entry.kind or 'unknown type'} · modified {entry.modified:%Y-%m-%d %H:%M}")
        if entry.kind is None:
            st.caption("Tusk reads Parquet, CSV, JSON and SQLite files.")
        else:
            if st.button(
                "Preview", icon=":material/visibility:", key=_key(entry.root, entry.relative, "pv")
            ):
                st.session_state[_PREVIEW] = (entry.root, entry.relative)
                st.rerun()
            if st.button(
                "Query in a new tab",
                icon=":material/add_box:",
                key=_key(entry.root, entry.relative, "q"),
            ):
                try:
                    sql = _query_sql(entry, user)
                except TuskError as exc:
                    show_error(exc)
                else:
                    open_in_new_tab(sql, target, PurePosixPath(entry.name).stem)
                    st.rerun()
            if entry.kind in ("parquet", "csv", "json"):
                view = st.text_input(
                    "View name",
                    value=_view_name(entry.name),
                    key=_key(entry.root, entry.relative, "vn"),
                )
                if st.button(
                    f"Create view in {target}",
                    icon=":material/visibility_lock:",
                    key=_key(entry.root, entry.relative, "v"),
                ):
                    _change_catalog(
                        target,
                        lambda: files.create_view(
                            connection(target), view, entry.root, entry.relative, actor=user
                        ),
                        f"View {md_escape(view)} created in {md_escape(target)}",
                        forget_catalog,
                    )
                if fusion is not None and st.button(
                    f"Register as table {view} in {fusion}",
                    icon=":material/table_rows:",
                    key=_key(entry.root, entry.relative, "df"),
                ):
                    _change_catalog(
                        fusion,
                        lambda: files.register_table(
                            connection(fusion), view, entry.root, entry.relative, actor=user
                        ),
                        f"Table {md_escape(view)} registered in {md_escape(fusion)}",
                        forget_catalog,
                    )
            if entry.kind == "sqlite":
                alias = st.text_input(
                    "Attach as",
                    value=_view_name(entry.name),
                    key=_key(entry.root, entry.relative, "an"),
                )
                if st.button(
                    f"Attach to {target}",
                    icon=":material/link:",
                    key=_key(entry.root, entry.relative, "a"),
                ):
                    _change_catalog(
                        target,
                        lambda: files.attach_sqlite(
                            connection(target), alias, entry.root, entry.relative, actor=user
                        ),
                        f"Attached as {md_escape(alias)} (read-only)",
                        forget_catalog,
                    )
        if auth.allowed(user, "data.import") and st.button(
            "Delete", icon=":material/delete:", key=_key(entry.root, entry.relative, "d")
        ):
            st.session_state[_DELETE] = (entry.root, entry.relative)
            st.rerun()


def _change_catalog(
    name: str,
    action: Callable[[], object],
    done: str,
    forget_catalog: Callable[[str], None],
) -> None:
    """Run an action that changes connection `name`'s catalog (a view, a table, an attached
    file); on success read the catalog again and rerun, so the schema browser and the
    editor's completions (drawn earlier in the page) show it, and say so once."""
    try:
        action()
    except TuskError as exc:
        show_error(exc)
        return
    forget_catalog(name)
    st.session_state[_TOAST] = done
    st.rerun()


def show_pending_toast() -> None:
    """The message of an action that reran the page (upload, delete, attach …), once."""
    if toast := st.session_state.pop(_TOAST, None):
        st.toast(toast, icon=":material/check:")


def _view_name(file_name: str) -> str:
    """A default view or alias name from a file name: letters, digits and underscores."""
    stem = PurePosixPath(file_name).stem
    clean = "".join(c if c.isalnum() else "_" for c in stem).strip("_") or "file"
    return clean if not clean[0].isdigit() else f"f_{clean}"


def _query_sql(entry: Entry, user: User | None) -> str:
    """SELECT * over the file (SQLite: its first table)."""
    table = None
    if entry.kind == "sqlite":
        tables = files.sqlite_tables(entry.root, entry.relative, actor=user)
        if not tables:
            return "-- this SQLite file has no tables"
        table = tables[0]
    scan = files.scan_sql(entry.root, entry.relative, table=table, actor=user)
    return f"SELECT * FROM {scan}"  # noqa: S608 - scan_sql quotes the path


def _preview_dialog(user: User | None) -> None:
    pending = st.session_state.get(_PREVIEW)
    if not pending:
        return
    root, relative = pending

    @st.dialog(
        f"Preview · {PurePosixPath(relative).name}",
        width="large",
        on_dismiss=lambda: st.session_state.pop(_PREVIEW, None),
    )
    def body() -> None:
        try:
            preview = files.preview(root, relative, limit=100, actor=user)
        except TuskError as exc:
            show_error(exc)
            return
        more = " (there are more)" if preview.truncated else ""
        st.caption(
            f"{preview.kind} · {humanize.count(len(preview.schema), 'column')} · first "
            f"{humanize.count(preview.rows.num_rows, 'row')}{more} — the file is not read whole"
        )
        if preview.note:
            st.info(preview.note, icon=":material/info:")
        st.dataframe(
            {"column": [n for n, _ in preview.schema], "type": [t for _, t in preview.schema]},
            hide_index=True,
            width="stretch",
        )
        from tusk.ui.grid import display_frame

        frame, _ = display_frame(preview.rows)
        st.dataframe(frame, hide_index=True, width="stretch")
        if st.button("Count all rows", key="files_preview_count"):
            try:
                st.info(f"{files.row_count(root, relative, actor=user):,} rows")
            except TuskError as exc:
                show_error(exc)

    body()


def _delete_dialog(user: User | None) -> None:
    pending = st.session_state.get(_DELETE)
    if not pending:
        return
    root, relative = pending

    def content() -> None:
        st.markdown(f"Delete **{md_escape(relative)}** from the data root **{md_escape(root)}**?")
        st.caption("The file is removed from disk; this cannot be undone.")

    def delete() -> None:
        files.delete(root, relative, actor=user)
        st.session_state[_TOAST] = f"Deleted {md_escape(relative)}"

    confirm_dialog(
        "Delete file?",
        content,
        action="Delete",
        on_confirm=delete,
        close=lambda: st.session_state.pop(_DELETE, None),
        keys=("files_delete_yes", "files_delete_no"),
    )


def _upload(root: str, cwd: str, user: User | None) -> None:
    round_ = int(st.session_state.get(_UPLOADS, 0))
    with st.popover("Upload", icon=":material/upload:"):
        limit = files.upload_limit_mb()
        chosen = st.file_uploader(
            f"Files for {root}/{cwd}" if cwd else f"Files for {root}",
            accept_multiple_files=True,
            key=f"files_upload_{round_}",
            help=f"Up to {limit} MB each",
        )
        overwrite = st.checkbox("Replace files with the same name", key="files_upload_overwrite")
        if st.button("Upload", type="primary", key="files_upload_go", disabled=not chosen):
            done, failed = [], []
            for f in chosen or []:
                try:
                    files.upload(root, cwd, f.name, f, overwrite=overwrite, actor=user)
                    done.append(f.name)
                except TuskError as exc:
                    failed.append((f.name, exc))
            for _name, error in failed:
                show_error(error)
            if done:
                st.session_state[_TOAST] = f"Uploaded {md_escape(', '.join(done))}"
            if not failed:
                st.session_state[_UPLOADS] = round_ + 1  # a fresh, empty uploader
                st.rerun()
            if done:
                st.toast(st.session_state.pop(_TOAST), icon=":material/upload:")


def attach_panel(duck_name: str, forget_catalog, attached_databases) -> None:  # noqa: ANN001
    """For a DuckDB tab: attach a saved PostgreSQL connection READ_ONLY (so one query can join
    files with its tables), list what is attached, detach. Needs connections.use.
    `attached_databases(name)` lists them (None while a query runs: never waits on it)."""
    user = current_user()
    if not auth.allowed(user, "connections.use"):
        return
    # Lazy: listing them opens the connection; a closed panel costs the page nothing.
    box = st.expander(
        "Attached databases", icon=":material/link:", key=ATTACH_KEY, on_change="rerun"
    )
    if not box.open:
        return
    with box:
        if files.confinement(user) is not None:
            st.caption(
                "On a shared Tusk, DuckDB sessions are confined to the data roots and cannot "
                "attach PostgreSQL (its scanner would reach any server with this server's "
                "credentials). Query the PostgreSQL connection in its own tab, or import its "
                "tables on the Data page."
            )
            return
        try:
            attached = attached_databases(duck_name)
        except TuskError as exc:
            show_error(exc)
            return
        if attached is None:
            st.caption("The attached databases are listed when the running query ends.")
            return
        for alias in attached:
            left, right = st.columns([3, 1], vertical_alignment="center")
            left.markdown(f"`{alias.replace('`', '')}` · read-only")
            if right.button(
                "",
                icon=":material/link_off:",
                key=_key(duck_name, alias, "detach"),
                help=f"Detach {alias}",
            ):
                try:
                    duck = connection(duck_name)
                    if attaching(duck):
                        duck.detach(alias)
                except TuskError as exc:
                    show_error(exc)
                else:
                    session.detached(duck_name, alias)
                    forget_catalog(duck_name)
                    st.rerun()
        try:
            pg = [
                c.name
                for c in connections.list_connections()
                if engine_abilities(c.engine).attachable
            ]
        except TuskError:  # a damaged connections.toml: the page shows that error once
            pg = []
        if not pg:
            st.caption("Save a PostgreSQL connection to attach it here.")
            return
        chosen = st.selectbox("PostgreSQL connection", pg, key="attach_pg_conn")
        alias = st.text_input("Attach as", value=_view_name(str(chosen)), key="attach_pg_alias")
        if st.button("Attach read-only", icon=":material/add_link:", key="attach_pg_go"):
            try:
                session.attach_postgres(duck_name, str(chosen), alias)
            except TuskError as exc:
                show_error(exc)
            else:
                forget_catalog(duck_name)
                st.session_state[_TOAST] = (
                    f"Attached {md_escape(str(chosen))} as {md_escape(alias)}"
                )
                st.rerun()
        st.caption(
            f"Then query it as `{_view_name(str(chosen))}.public.<table>` and join it with "
            "files, e.g. `read_parquet(…)`."
        )
