"""Add / edit / delete / test saved connections: the form keeps what was typed on errors."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from tusk import connections
from tusk.engines.abilities import engine_abilities
from tusk.engines.registry import LABELS
from tusk.engines.spec import ENGINE_NAMES, ConnectionSpec, spec_from_uri
from tusk.errors import BadInput, TuskError
from tusk.ui.confirm import confirm_dialog
from tusk.ui.shell import current_user, error_markdown, md_escape, show_error

DIALOG = "studio_dialog"  # which dialog is open: ("add", None) / ("edit", name) / ("delete", name)
_F = "connform_"  # prefix of the form's widget keys


def open_dialog(kind: str, name: str | None = None) -> None:
    """Open a dialog on the next run (a session flag: AppTest loses dialogs between clicks)."""
    st.session_state[DIALOG] = (kind, name)
    if kind in ("add", "edit"):
        _prefill(connections.get(name) if kind == "edit" and name else None)


def close_dialog() -> None:
    """Close whichever dialog is open."""
    st.session_state.pop(DIALOG, None)


def _prefill(spec: ConnectionSpec | None) -> None:
    """Put a connection's fields into the form's widgets (never its password)."""
    s = st.session_state
    s[_F + "name"] = spec.name if spec else ""
    s[_F + "engine"] = spec.engine if spec else "postgres"
    s[_F + "how"] = "Fields"
    s[_F + "host"] = (spec.host if spec else None) or "localhost"
    s[_F + "port"] = (spec.port if spec else None) or 5432
    s[_F + "database"] = (spec.database if spec else None) or "postgres"
    s[_F + "user"] = (spec.user if spec else None) or "postgres"
    s[_F + "password"] = ""
    s[_F + "password_env"] = (spec.password_env if spec else None) or ""
    s[_F + "uri"] = ""
    s[_F + "path"] = (spec.path if spec else None) or ""
    s[_F + "sslmode"] = (spec.options.get("sslmode", "") if spec else "") or ""


def spec_from_form() -> ConnectionSpec:
    """Build a spec from the form's widgets (BadInput on bad fields)."""
    s = st.session_state
    name = str(s.get(_F + "name", "")).strip()
    engine = s.get(_F + "engine", "postgres")
    able = engine_abilities(engine)
    if "user" in able.connection_fields:  # a server with credentials (PostgreSQL)
        if s.get(_F + "how") == "URI":
            uri = str(s.get(_F + "uri", "")).strip()
            if not uri:
                raise BadInput("Paste a URI such as postgresql://user@host:5432/dbname.")
            spec = spec_from_uri(name, uri)
        else:
            spec = ConnectionSpec(
                name,
                engine,
                host=str(s.get(_F + "host", "")).strip() or None,
                port=int(s.get(_F + "port") or able.default_port or 0),
                database=str(s.get(_F + "database", "")).strip() or None,
                user=str(s.get(_F + "user", "")).strip() or None,
                password=s.get(_F + "password") or None,
                password_env=str(s.get(_F + "password_env", "")).strip() or None,
            )
        sslmode = str(s.get(_F + "sslmode", "")).strip()
        if sslmode:
            spec = spec.with_changes(options={**spec.options, "sslmode": sslmode})
        return spec
    if "host" in able.connection_fields:  # a server without credentials (a cluster head)
        return ConnectionSpec(
            name,
            engine,
            host=str(s.get(_F + "host", "")).strip() or "127.0.0.1",
            port=int(s.get(_F + "port") or able.default_port or 0),
            path=str(s.get(_F + "path", "")).strip() or None,
        )
    return ConnectionSpec(name, engine, path=str(s.get(_F + "path", "")).strip() or None)


def _form_fields() -> None:
    engine = st.selectbox(
        "Engine",
        ENGINE_NAMES,
        key=_F + "engine",
        format_func=lambda e: f"{LABELS[e]}",
    )
    st.text_input("Name", key=_F + "name", placeholder="e.g. production")
    able = engine_abilities(engine)
    if "user" in able.connection_fields:
        how = st.segmented_control("Connect with", ["Fields", "URI"], key=_F + "how")
        if how == "URI":
            st.text_input(
                "URI",
                key=_F + "uri",
                placeholder="postgresql://user:password@host:5432/dbname",
                help="The password in a URI is stored encrypted, like the password field.",
            )
        else:
            host, port = st.columns([3, 1])
            host.text_input("Host", key=_F + "host")
            port.number_input("Port", key=_F + "port", min_value=1, max_value=65535, step=1)
            db, user = st.columns(2)
            db.text_input("Database", key=_F + "database")
            user.text_input("User", key=_F + "user")
            st.text_input(
                "Password",
                key=_F + "password",
                type="password",
                help="Stored encrypted. Leave empty when editing to keep the saved one.",
            )
            st.text_input(
                "Or read the password from environment variable",
                key=_F + "password_env",
                placeholder="PGPASSWORD_PROD",
            )
        st.text_input("SSL mode (optional)", key=_F + "sslmode", placeholder="require")
    elif "host" in able.connection_fields:
        host, port = st.columns([3, 1])
        host.text_input("Head host", key=_F + "host", placeholder="127.0.0.1")
        port.number_input("Port", key=_F + "port", min_value=1, max_value=65535, step=1)
        st.text_input(
            "Folder of Parquet/CSV files (the same path on every node)",
            key=_F + "path",
            help="Each file becomes a table named after it.",
        )
    elif able.path_kind == "folder":
        st.text_input(
            "Folder of Parquet/CSV/JSON files" + ("" if able.path_required else " (optional)"),
            key=_F + "path",
            help="Each file becomes a table named after it. Empty: an in-memory session.",
        )
    else:
        st.text_input(
            "Database file",
            key=_F + "path",
            placeholder=able.path_example or "",
            help="Created if it does not exist."
            + (f" {able.label} also takes :memory:." if able.memory_path else ""),
        )


def connection_dialog(on_saved: Callable[[str], None]) -> None:
    """Render the open dialog, if any. `on_saved(name)` runs after a save or delete."""
    state = st.session_state.get(DIALOG)
    if not state:
        return
    kind, name = state
    if kind == "delete" and name:
        _delete_dialog(name, on_saved)
    elif kind in ("add", "edit"):
        _edit_dialog(kind, name, on_saved)


def _edit_dialog(kind: str, name: str | None, on_saved: Callable[[str], None]) -> None:
    title = "Add connection" if kind == "add" else f"Edit connection {name}"

    @st.dialog(title, width="medium", on_dismiss=lambda: close_dialog())
    def body() -> None:
        _form_fields()
        test_col, save_col, cancel_col = st.columns(3)
        if test_col.button("Test", icon=":material/network_check:", key=_F + "test"):
            try:
                spec = spec_from_form()
                if kind == "edit" and name:
                    # The library adds the saved password only while the form still points
                    # where it was saved for (a changed host must not receive it).
                    outcome = connections.test_edit(name, spec, actor=current_user())
                else:
                    outcome = connections.test(spec)
            except TuskError as exc:
                show_error(exc)
            else:
                if outcome.ok:
                    st.success(f"Connected in {outcome.elapsed_s * 1000:.0f} ms.")
                else:
                    st.error(
                        error_markdown("Connection failed", outcome.message),
                        icon=":material/error:",
                    )
        if save_col.button("Save", type="primary", icon=":material/save:", key=_F + "save"):
            try:
                spec = spec_from_form()
                if kind == "add":
                    saved = connections.add(spec, actor=current_user())
                else:
                    saved = connections.update(name or "", spec, actor=current_user())
            except TuskError as exc:
                show_error(exc)
            else:
                close_dialog()
                st.toast(f"Saved {md_escape(saved.name)}", icon=":material/check:")
                on_saved(saved.name)
                st.rerun()
        if cancel_col.button("Cancel", key=_F + "cancel"):
            close_dialog()
            st.rerun()

    body()


def _delete_dialog(name: str, on_saved: Callable[[str], None]) -> None:
    def content() -> None:
        st.markdown(
            f"Delete the saved connection **{md_escape(name)}**? Its history stays; the "
            "database itself is not touched."
        )

    def delete() -> None:
        connections.delete(name, actor=current_user())
        st.toast(f"Deleted {md_escape(name)}")
        on_saved(connections.DEMO_NAME)

    confirm_dialog(
        "Delete connection",
        content,
        action="Delete",
        icon=":material/delete:",
        on_confirm=delete,
        on_error=show_error,
        close=close_dialog,
        keys=("connform_delete", "connform_keep"),
    )
