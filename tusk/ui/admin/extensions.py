"""Admin → Extensions: what the server offers and what this database has installed; install
into a chosen schema, update, and uninstall (CASCADE only after typing the name)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from tusk.admin import extensions
from tusk.errors import TuskError
from tusk.ui import humanize
from tusk.ui.admin.actions import Done, LastOutcome
from tusk.ui.confirm import confirm_dialog
from tusk.ui.shell import md_escape, show_error

if TYPE_CHECKING:
    from tusk.admin import AdminConnection
    from tusk.auth.schema import User

P = "admin_ext_"
OUTCOME = LastOutcome(P + "outcome", P + "toast")  # the last action's Done or error
UNINSTALL_FOR = P + "uninstall_for"  # the extension whose uninstall dialog is open

_COLUMNS: dict[str, Any] = {
    "name": st.column_config.TextColumn("Extension", pinned=True),
    "installed_version": st.column_config.TextColumn("Installed"),
    "default_version": st.column_config.TextColumn("Default version"),
    "update_available": st.column_config.CheckboxColumn(
        "Update", help="The server has a newer default version than the installed one"
    ),
    "schema": st.column_config.TextColumn("Schema"),
    "comment": st.column_config.TextColumn("Description", width="large"),
}


def render(conn: AdminConnection, user: User | None) -> None:
    """The Extensions tab."""
    OUTCOME.show(conn)
    rows = extensions.extensions(conn)
    installed = [r for r in rows if r["installed_version"] is not None]
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    needle = left.text_input(
        "Search extensions",
        key=P + "search",
        placeholder="Name or description…",
        label_visibility="collapsed",
    )
    only_installed = right.toggle("Installed only", key=P + "installed_only")
    shown = [
        r
        for r in (installed if only_installed else rows)
        if not needle
        or needle.lower() in r["name"].lower()
        or needle.lower() in (r["comment"] or "").lower()
    ]
    st.dataframe(
        pd.DataFrame(shown, columns=list(_COLUMNS)),
        hide_index=True,
        column_config=_COLUMNS,
        width="stretch",
    )
    st.caption(
        f"{humanize.count(len(installed), 'extension')} installed in database "
        f"{md_escape(conn.database)}, {len(rows):,} known to the server. Extensions belong to "
        "one database: installing one here changes no other database."
    )

    st.subheader("Manage")
    by_name = {r["name"]: r for r in rows}
    # Plain names in a fixed order: options or labels that change when an extension is
    # installed would make Streamlit treat the picker as a new widget and forget the choice.
    picked = st.selectbox(
        "Extension",
        sorted(by_name),
        index=None,
        placeholder="Choose an extension…",
        key=P + "pick",
        on_change=_forget_choices,
    )
    if picked is not None and picked in by_name:
        row = by_name[picked]
        if row["installed_version"] is None:
            _install_form(conn, user, row)
        else:
            _installed_actions(conn, user, row)
    pending = st.session_state.get(UNINSTALL_FOR)
    if pending is not None and pending in by_name:
        _uninstall_dialog(conn, user, by_name[pending])


def _install_form(conn: AdminConnection, user: User | None, row: dict[str, Any]) -> None:
    name = row["name"]
    st.markdown(md_escape(row["comment"] or ""))
    known = extensions.versions(conn, name)
    version_names = [str(v["version"]) for v in known]
    _keep_valid(P + "version", version_names)
    default = row["default_version"]
    version = st.selectbox(
        "Version",
        version_names,
        index=version_names.index(default) if default in version_names else None,
        key=P + "version",
    )
    chosen = next((v for v in known if v["version"] == version), {})
    fixed = chosen.get("schema")
    if fixed:
        # The control file pins the schema; CREATE EXTENSION refuses any other.
        st.caption(f"{md_escape(name)} always goes into schema {md_escape(fixed)}.")
    else:
        options = extensions.schemas(conn)
        _keep_valid(P + "schema", options)
        st.selectbox(
            "Schema",
            options,
            key=P + "schema",
            help="Where its functions, types and operators are created.",
        )
    requires = list(chosen.get("requires") or [])
    if requires:
        st.checkbox(
            f"Also install what it requires: {', '.join(requires)} (CASCADE)",
            value=True,
            key=P + "install_cascade",
        )
    if chosen.get("superuser") and not chosen.get("trusted"):
        st.caption(":material/shield_person: Installing it needs a superuser connection.")
    st.button(
        "Install",
        key=P + "install",
        type="primary",
        icon=":material/download:",
        on_click=OUTCOME.act,
        args=(conn, lambda: _install(conn, user, name, bool(fixed), bool(requires))),
    )


def _install(
    conn: AdminConnection, user: User | None, name: str, fixed_schema: bool, requires: bool
) -> Done:
    change = extensions.install(
        conn,
        user,
        name,
        schema=None if fixed_schema else st.session_state.get(P + "schema"),
        version=st.session_state.get(P + "version"),
        cascade=requires and bool(st.session_state.get(P + "install_cascade")),
    )
    return Done(
        f"Installed {change.name}",
        f"Installed {change.name} {change.version_after} in schema {change.schema} "
        f"({humanize.duration(change.elapsed_s)}).",
    )


def _installed_actions(conn: AdminConnection, user: User | None, row: dict[str, Any]) -> None:
    name = row["name"]
    st.markdown(
        f"**{md_escape(name)}** {md_escape(row['installed_version'])} is installed in schema "
        f"**{md_escape(row['schema'] or '?')}**. "
        f"The server's default version is {md_escape(row['default_version'] or 'unknown')}."
    )
    version_names = [str(v["version"]) for v in extensions.versions(conn, name)]
    if version_names:
        _keep_valid(P + "update_version", version_names)
        default = row["default_version"]
        target = st.selectbox(
            "Update to",
            version_names,
            index=version_names.index(default) if default in version_names else None,
            key=P + "update_version",
            help="The server needs an update path from the installed version.",
        )
        st.button(
            "Update",
            key=P + "update",
            icon=":material/upgrade:",
            disabled=target is None or target == row["installed_version"],
            on_click=OUTCOME.act,
            args=(conn, lambda: _update(conn, user, name)),
        )
    st.button(
        "Uninstall…",
        key=P + "uninstall",
        icon=":material/delete:",
        on_click=_open_uninstall,
        args=(name,),
    )


def _update(conn: AdminConnection, user: User | None, name: str) -> Done:
    change = extensions.update(conn, user, name, st.session_state.get(P + "update_version"))
    if change.version_before == change.version_after:
        return Done(
            f"{change.name} unchanged",
            f"{change.name} was already at version {change.version_after}.",
        )
    return Done(
        f"Updated {change.name}",
        f"Updated {change.name} from {change.version_before} to {change.version_after} "
        f"({humanize.duration(change.elapsed_s)}).",
    )


def _open_uninstall(name: str) -> None:
    _close_uninstall()
    st.session_state[UNINSTALL_FOR] = name


def _close_uninstall() -> None:
    for key in (UNINSTALL_FOR, P + "cascade", P + "confirm"):
        st.session_state.pop(key, None)


def _uninstall_dialog(conn: AdminConnection, user: User | None, row: dict[str, Any]) -> None:
    name = row["name"]

    def content() -> bool:
        st.markdown(
            f"Uninstall **{md_escape(name)}** {md_escape(row['installed_version'] or '')} from "
            f"database **{md_escape(conn.database)}**? Its functions, types and operators are "
            "removed."
        )
        cascade = st.checkbox(
            "Also drop everything that uses it (CASCADE)",
            key=P + "cascade",
            help="Without it the server refuses while any column, index, view or other "
            "extension depends on this one, and tells you which.",
        )
        if not cascade:
            return True
        st.warning(
            "CASCADE also drops the columns, indexes, views, functions and extensions that "
            "use it — their data is gone for good.",
            icon=":material/warning:",
        )
        return st.text_input(f"Type {name} to confirm", key=P + "confirm") == name

    def uninstall() -> None:
        change = extensions.uninstall(
            conn,
            user,
            name,
            cascade=bool(st.session_state.get(P + "cascade")),
            confirm=st.session_state.get(P + "confirm"),
        )
        done = Done(
            f"Uninstalled {change.name}",
            f"Uninstalled {change.name}{' with CASCADE' if change.cascade else ''} "
            f"({humanize.duration(change.elapsed_s)}).",
        )
        OUTCOME.keep(conn.spec.name, conn.database, done)

    def refused(exc: TuskError) -> None:
        show_error(exc)
        if not st.session_state.get(P + "cascade") and "depend" in exc.message:
            st.caption("Tick CASCADE above to drop those objects together with it.")

    confirm_dialog(
        "Uninstall extension",
        content,
        action="Uninstall",
        icon=":material/delete:",
        on_confirm=uninstall,
        on_error=refused,
        close=_close_uninstall,
        keys=(P + "uninstall_go", P + "uninstall_keep"),
    )


def _forget_choices() -> None:
    """Another extension was picked: its version pickers start at its own default version
    (a version the previous one also had would otherwise stay selected)."""
    for key in (P + "version", P + "update_version", P + "install_cascade"):
        st.session_state.pop(key, None)


def _keep_valid(key: str, options: list[str]) -> None:
    """Forget a remembered choice that is not among this run's options (another extension
    was picked), so the widget falls back to its default instead of refusing the value."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]
