"""A result's Diff view: compare its FULL result (B) with another tab's result or a snapshot
(A) by a key — counts, changed cells highlighted, export — and keep results as snapshots
(tusk.result_diff, tusk.snapshots)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import streamlit as st

from tusk import completion, connections, queries, snapshots
from tusk.catalog import Catalog
from tusk.engines.spec import ConnectionSpec
from tusk.errors import TuskError
from tusk.queries import Statement
from tusk.result_diff import Comparison, ResultDiff
from tusk.ui import humanize
from tusk.ui.session import connection, forget_if_lost
from tusk.ui.shell import current_user, md_escape, show_error
from tusk.ui.studio import catalog as catalogs
from tusk.ui.studio import tabs as qtabs

_RESULTS = "studio_diffs"  # view key → (what was compared, ResultDiff, Comparison)


@dataclass(frozen=True)
class _Source:
    """Something to compare with: another result (run again in full) or a snapshot."""

    label: str
    columns: tuple[str, ...]
    batches: Callable[[], Iterator[pa.RecordBatch]]
    busy: str | None = None  # a connection running a query now (reading it would wait)


def diff_view(
    spec: ConnectionSpec, tab: qtabs.QueryTab, index: int, statement: Statement, preview: pa.Table
) -> None:
    """Pick A (another result or a snapshot) and a key; compare with this result (B)."""
    key = f"diff_{tab.id}_{index}"
    user = current_user()
    _snapshot_form(spec, statement, key)
    sources = _sources(tab, index, user)
    if not sources:
        st.info(
            "Nothing to compare with yet: run another query in a tab, or keep this result as "
            "a snapshot and compare a later run with it.",
            icon=":material/info:",
        )
        return
    labels = list(sources)
    picked = st.selectbox(
        "Compare with (A)", labels, index=None, key=f"{key}_with", placeholder="Pick a result"
    )
    if picked is None:
        _show_stored(key, None)
        return
    source = sources[picked]
    common = [c for c in preview.column_names if c in source.columns]
    if not common:
        st.warning("The two results have no column in common.", icon=":material/warning:")
        return
    default = [c for c in _primary_key(spec, statement) if c in common]
    chosen = st.multiselect(
        "Key (identifies a row in both)",
        common,
        default=default,
        key=f"{key}_key",
        help="Detected from the table's primary key when the query reads one table.",
    )
    compared = (picked, tuple(chosen), statement.sql, id(preview))
    if st.button("Compare", icon=":material/difference:", key=f"{key}_go", type="primary"):
        _compare(spec, statement, source, chosen, key, compared)
    _show_stored(key, compared)


def _snapshot_form(spec: ConnectionSpec, statement: Statement, key: str) -> None:
    """Keep this statement's full result to compare a later run with."""
    with st.popover("Keep as snapshot", icon=":material/photo_camera:"):
        name = st.text_input("Snapshot name", key=f"{key}_snap_name", placeholder="Before")
        if st.button("Keep the full result", key=f"{key}_snap"):
            try:
                with st.spinner("Keeping the full result…"):
                    kept = snapshots.save(
                        spec, connection(spec.name), statement, name, actor=current_user()
                    )
            except TuskError as exc:
                show_error(exc)
                forget_if_lost(spec.name, exc)
                return
            st.toast(
                f"Snapshot **{md_escape(kept.name)}** kept: {humanize.count(kept.rows, 'row')}",
                icon=":material/photo_camera:",
            )


def _sources(tab: qtabs.QueryTab, index: int, user: Any) -> dict[str, _Source]:
    """Other results of this session's tabs, then this user's snapshots."""
    found: dict[str, _Source] = {}
    for other in qtabs.tabs():
        for j, outcome in enumerate(other.outcomes):
            result = outcome.result
            if result is None or not result.table.num_columns:
                continue
            if other.id == tab.id and j == index:
                continue
            label = f"{other.title} · result {j + 1}"
            found[label] = _Source(
                label,
                tuple(result.table.column_names),
                _rerun(other.connection, outcome.statement, user),
                other.connection if catalogs.connection_busy(other.connection) else None,
            )
    try:
        kept = snapshots.list_snapshots(user)
    except TuskError:
        kept = []
    for snap in kept:
        label = f"Snapshot · {snap.name} · {humanize.count(snap.rows, 'row')} · {snap.connection}"
        found[label] = _Source(label, _snapshot_columns(snap.id, user), _read(snap.id, user))
    return found


def _rerun(name: str, statement: Statement, user: Any) -> Callable[[], Iterator[pa.RecordBatch]]:
    def batches() -> Iterator[pa.RecordBatch]:
        spec = connections.get(name)
        queries.authorize(spec, user)
        return connection(name).stream_arrow(statement.sql, statement.params)

    return batches


def _read(snapshot_id: str, user: Any) -> Callable[[], Iterator[pa.RecordBatch]]:
    return lambda: snapshots.read(snapshot_id, user)


def _snapshot_columns(snapshot_id: str, user: Any) -> tuple[str, ...]:
    try:
        return snapshots.columns(snapshot_id, user)
    except TuskError:
        return ()


def _primary_key(spec: ConnectionSpec, statement: Statement) -> list[str]:
    """The primary key of the one table the statement reads, if the catalog knows it."""
    refs = completion.referenced_tables(statement.text, spec.engine)
    catalog = catalogs.read_catalog(spec)
    if len(refs) != 1 or not isinstance(catalog, Catalog):
        return []
    ((schema, name),) = refs.values()
    try:
        table = catalog.table(name, schema)
    except KeyError:
        return []
    return list(table.primary_key)


def _compare(
    spec: ConnectionSpec,
    statement: Statement,
    source: _Source,
    key: list[str],
    view_key: str,
    compared: tuple[Any, ...],
) -> None:
    """Read both full results and compare them; the outcome is kept for the next runs."""
    busy = source.busy or (spec.name if catalogs.connection_busy(spec.name) else None)
    if busy is not None:
        st.info(f"A query is running on {md_escape(busy)}; compare when it ends.")
        return
    stored: dict[str, Any] = st.session_state.setdefault(_RESULTS, {})
    old = stored.pop(view_key, None)
    if old is not None:
        old[2].close()
    try:
        queries.authorize(spec, current_user())
        with st.spinner("Reading both full results and comparing them…"):
            this = connection(spec.name).stream_arrow(statement.sql, statement.params)
            comparison = Comparison(source.batches(), this, key)
            summary = comparison.summary()
    except TuskError as exc:
        show_error(exc)
        forget_if_lost(spec.name, exc)
        return
    stored[view_key] = (compared, summary, comparison)


def _show_stored(view_key: str, compared: tuple[Any, ...] | None) -> None:
    """The last comparison of this view, while its choices still stand."""
    entry = st.session_state.get(_RESULTS, {}).get(view_key)
    if entry is None or (compared is not None and entry[0] != compared):
        return
    _, diff, comparison = entry
    _summary(diff)
    _export(comparison, view_key)


def _summary(diff: ResultDiff) -> None:
    only_a, only_b, changed, same = st.columns(4)
    only_a.metric("Only in A", f"{diff.only_a:,}")
    only_b.metric("Only in B", f"{diff.only_b:,}")
    changed.metric("Changed", f"{diff.changed:,}")
    same.metric("Same", f"{diff.same:,}")
    notes = []
    if diff.only_in_a_columns:
        notes.append("columns only in A: " + ", ".join(diff.only_in_a_columns))
    if diff.only_in_b_columns:
        notes.append("columns only in B: " + ", ".join(diff.only_in_b_columns))
    if notes:
        st.caption(md_escape("; ".join(notes) + " (not compared)"))
    changed_tab, a_tab, b_tab = st.tabs(["Changed rows", "Only in A", "Only in B"])
    with changed_tab:
        st.dataframe(_changed_frame(diff), hide_index=True, width="stretch")
        _shown(diff.changed_sample.num_rows, diff.changed)
    with a_tab:
        st.dataframe(diff.only_a_sample.to_pandas(), hide_index=True, width="stretch")
        _shown(diff.only_a_sample.num_rows, diff.only_a)
    with b_tab:
        st.dataframe(diff.only_b_sample.to_pandas(), hide_index=True, width="stretch")
        _shown(diff.only_b_sample.num_rows, diff.only_b)


def _changed_frame(diff: ResultDiff) -> Any:
    """Changed rows: the key, then each compared column as `A → B` where it changed (the cell
    highlighted) and its value where it did not."""
    rows = diff.changed_sample.to_pylist()
    cells: dict[str, list[Any]] = {k: [r[k] for r in rows] for k in diff.key}
    marks: dict[str, list[bool]] = {}
    for name in diff.compared:
        flags = [bool(r[f"{name} changed"]) for r in rows]
        cells[name] = [
            f"{_text(r[f'{name} (A)'])} → {_text(r[f'{name} (B)'])}"
            if flag
            else _text(r[f"{name} (B)"])
            for r, flag in zip(rows, flags, strict=True)
        ]
        marks[name] = flags
    frame = pd.DataFrame(cells)
    if frame.empty:
        return frame

    def highlight(column: pd.Series) -> list[str]:
        flags = marks.get(str(column.name))
        if flags is None:
            return [""] * len(column)
        return ["background-color: rgba(255, 170, 0, 0.35)" if f else "" for f in flags]

    return frame.style.apply(highlight)


def _text(value: Any) -> str:
    return "NULL" if value is None else str(value)


def _shown(shown: int, total: int) -> None:
    if total > shown:
        st.caption(f"The first {shown:,} of {total:,} by key; Export has them all.")


def _export(comparison: Comparison, view_key: str) -> None:
    """Every differing row as CSV or Parquet."""
    fmt_col, go_col = st.columns([1, 1], vertical_alignment="bottom")
    fmt = fmt_col.selectbox("Format", ["csv", "parquet"], key=f"{view_key}_fmt")
    if go_col.button("Export the diff", icon=":material/download:", key=f"{view_key}_export"):
        buffer = io.BytesIO()
        try:
            rows = comparison.export(fmt, buffer, actor=current_user())
        except TuskError as exc:
            show_error(exc)
            return
        st.download_button(
            f"Download {humanize.count(rows, 'row')}",
            buffer.getvalue(),
            file_name=f"diff.{fmt}",
            key=f"{view_key}_download",
            icon=":material/download:",
        )
