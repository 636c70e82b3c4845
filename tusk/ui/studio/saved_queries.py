"""Saved queries: the save dialog (Ctrl+S) and the side panel of folders and queries."""

from __future__ import annotations

from typing import Any

import streamlit as st

from tusk.engines.spec import ConnectionSpec
from tusk.errors import TuskError
from tusk.store import saved
from tusk.ui.shell import current_user, md_escape, show_error
from tusk.ui.studio import tabs as qtabs
from tusk.ui.studio.tab_actions import insert_into_tab, open_in_new_tab

_SAVE_FOR = "studio_save_for"  # tab id whose SQL the save dialog is saving


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
