"""Schema page → Compare: two schemas side by side, their differences, and the DDL that turns A
into B — shown, copied or opened in a Studio tab, never run from here (running goes through the
editor, where queries.execute and confinement apply)."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from tusk import auth, connections
from tusk.engines.abilities import engine_abilities
from tusk.errors import TuskError
from tusk.schemadiff.comparison import Comparison, compare_schemas
from tusk.schemadiff.diff import Difference
from tusk.ui.shell import current_user, md_escape, show_error
from tusk.ui.studio import catalog as catalogs
from tusk.ui.studio.tab_actions import open_in_new_tab

P = "schema_compare_"
RESULT_KEY = P + "result"
ERROR_KEY = P + "error"
STUDIO_PAGE = "pages/1_Studio.py"

_ICONS = {"added": "🟢 added", "removed": "🔴 removed", "changed": "🟡 changed"}
_COLOURS = {
    "added": "background-color: rgba(33, 195, 84, 0.12)",
    "removed": "background-color: rgba(255, 75, 75, 0.12)",
    "changed": "background-color: rgba(255, 189, 69, 0.15)",
}


@dataclass(frozen=True)
class _Result:
    """A comparison kept in the session, with what it compared (a rerun does not re-read)."""

    a: tuple[str, str]  # (connection, schema)
    b: tuple[str, str]
    comparison: Comparison


def compare_tab(names: list[str]) -> None:
    """The Compare tab: pick connection and schema A and B, compare, read the differences and
    the migration DDL. `names` are the connections the signed-in user may use."""
    user = current_user()
    if not auth.allowed(user, "connections.use"):
        st.info(
            "Comparing schemas needs the connections.use permission; ask an administrator.",
            icon=":material/lock:",
        )
        return
    if not names:
        st.info("No connection yet — add one in the Studio.", icon=":material/info:")
        return
    st.caption(
        "Compare two schemas (of one connection or two) and get the DDL that turns **A** into "
        "**B**. Nothing runs here: open the DDL in a query tab, review it, and run it there."
    )
    left, right = st.columns(2)
    with left:
        a = _side("a", "A — the schema to change", names)
    with right:
        b = _side("b", "B — the schema to match", names)
    ready = a is not None and b is not None
    if st.button(
        "Compare",
        key=P + "run",
        type="primary",
        icon=":material/difference:",
        disabled=not ready,
    ):
        assert a is not None and b is not None
        _compare(a, b)
    error = st.session_state.get(ERROR_KEY)
    if isinstance(error, TuskError):
        show_error(error)
    result = st.session_state.get(RESULT_KEY)
    if isinstance(result, _Result):
        _show(result, current=(a, b))


def _side(side: str, title: str, names: list[str]) -> tuple[str, str] | None:
    """One side's connection and schema pickers; None while its schemas cannot be listed."""
    st.markdown(f"**{title}**")
    key = P + side
    if st.session_state.get(key) not in names:
        st.session_state[key] = names[0]
    name = st.selectbox("Connection", names, key=key)
    schemas = _schemas(str(name))
    if schemas is None:
        return None
    schema_key, owner_key = f"{key}_schema", f"{key}_schema_of"
    if st.session_state.get(owner_key) != name:  # another connection: start on its default
        st.session_state.pop(schema_key, None)
        st.session_state[owner_key] = name
    typed = st.session_state.get(schema_key)
    if isinstance(typed, str) and typed and typed not in schemas:
        schemas = [*schemas, typed]  # a name typed earlier (an empty schema) stays offered
    schema = st.selectbox(
        "Schema",
        schemas,
        key=schema_key,
        accept_new_options=True,
        help="The schemas with tables; type another name to compare an empty schema.",
    )
    return (str(name), str(schema)) if schema else None


def _schemas(name: str) -> list[str] | None:
    """The connection's schemas (from the Studio's cached catalog), its default one first."""
    try:
        spec = connections.get(name)
    except TuskError as exc:
        show_error(exc)
        return None
    catalog = catalogs.read_catalog(spec)
    if isinstance(catalog, TuskError):
        show_error(catalog)
        return None
    if catalog is None:
        st.info(
            f"A query is running on {md_escape(name)}; its schemas are listed when it ends.",
            icon=":material/hourglass_top:",
        )
        return None
    names = catalog.schemas()
    default = engine_abilities(spec.engine).default_schema
    if default and default not in names:
        names.insert(0, default)
    elif default:
        names.remove(default)
        names.insert(0, default)
    return names


def _compare(a: tuple[str, str], b: tuple[str, str]) -> None:
    """Read and compare both schemas; the result (or the error) is kept in the session."""
    st.session_state.pop(ERROR_KEY, None)
    try:
        with st.spinner("Reading both schemas…"):
            comparison = compare_schemas(
                connections.get(a[0]), a[1], connections.get(b[0]), b[1], actor=current_user()
            )
    except TuskError as exc:
        st.session_state[ERROR_KEY] = exc  # the previous result stays on the page
        return
    st.session_state[RESULT_KEY] = _Result(a, b, comparison)


def _show(result: _Result, current: tuple[tuple[str, str] | None, tuple[str, str] | None]) -> None:
    comparison = result.comparison
    (a_name, a_schema), (b_name, b_schema) = result.a, result.b
    if current != (result.a, result.b):
        st.caption(
            f"Showing the last comparison: A {md_escape(a_name)} · {md_escape(a_schema)}, "
            f"B {md_escape(b_name)} · {md_escape(b_schema)}. Press Compare for the new choice."
        )
    if comparison.note:
        st.info(comparison.note, icon=":material/info:")
    diffs = comparison.differences
    if not diffs:
        st.success("The schemas are the same.", icon=":material/check_circle:")
        return
    counts = {c: sum(d.change == c for d in diffs) for c in _ICONS}
    st.markdown(
        f"**{len(diffs)} differences** — "
        + " · ".join(f"{_ICONS[c]} {n}" for c, n in counts.items() if n)
    )
    _differences(diffs)
    _migration(result)


def _differences(diffs: tuple[Difference, ...]) -> None:
    """The differences as a table, A and B side by side, filtered by kind and change."""
    kinds = sorted({d.kind for d in diffs})
    left, right = st.columns(2)
    with left:
        picked_kinds = st.multiselect("Kind", kinds, key=P + "kinds", placeholder="Every kind")
    with right:
        picked_changes = st.multiselect(
            "Change", list(_ICONS), key=P + "changes", placeholder="Every change"
        )
    shown = [
        d
        for d in diffs
        if (not picked_kinds or d.kind in picked_kinds)
        and (not picked_changes or d.change in picked_changes)
    ]
    frame = pd.DataFrame(
        {
            "Change": [_ICONS[d.change] for d in shown],
            "Kind": [d.kind + (f" ({d.aspect})" if d.aspect else "") for d in shown],
            "Object": [d.name for d in shown],
            "A": [d.a if d.a is not None else "" for d in shown],
            "B": [d.b if d.b is not None else "" for d in shown],
        }
    )
    changes = [d.change for d in shown]
    styled = frame.style.apply(lambda row: [_COLOURS[changes[row.name]]] * len(row), axis=1)
    st.dataframe(
        styled,
        hide_index=True,
        width="stretch",
        key=P + "table",
        column_config={
            "A": st.column_config.TextColumn("A", width="large"),
            "B": st.column_config.TextColumn("B", width="large"),
        },
    )
    if len(shown) < len(diffs):
        st.caption(f"{len(shown)} of {len(diffs)} differences shown.")


def _migration(result: _Result) -> None:
    """The DDL from A to B, its warnings, and the way to the editor (never run here)."""
    migration = result.comparison.migration
    a_name, a_schema = result.a
    st.subheader("DDL to turn A into B")
    warnings = migration.warnings
    if warnings:
        st.warning(
            f"**{len(warnings)} statements can lose data or fail on existing rows** (marked "
            "`-- WARNING` in the script):\n" + "\n".join(f"- {md_escape(w)}" for w in warnings),
            icon=":material/warning:",
        )
    text = migration.text()
    st.code(text, language="sql", wrap_lines=True)
    left, right = st.columns(2)
    with left:
        if st.button(
            "Open in new query tab",
            key=P + "open",
            icon=":material/open_in_new:",
            help=f"A new Studio tab on {a_name}; nothing runs until you press Run there.",
        ):
            open_in_new_tab(text, a_name, f"Migrate {a_schema}")
            st.switch_page(STUDIO_PAGE)
    with right:
        st.download_button(
            "Download .sql",
            text,
            file_name=f"migrate-{a_schema}.sql",
            mime="application/sql",
            key=P + "download",
            icon=":material/download:",
        )
