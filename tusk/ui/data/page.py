"""The Data page: build a Polars pipeline by clicking (source, steps), see a live preview after
every step, read and download the generated code, export or import the result, save it.

The pipeline lives in session state as a `tusk.etl.pipeline.Pipeline`; a failing step is
marked and the others stay (nothing the user built is lost on an error).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import streamlit as st
from pydantic import ValidationError

from tusk import auth, connections, files
from tusk.engines.abilities import engine_abilities
from tusk.errors import TuskError
from tusk.etl import steps as etl_steps
from tusk.ui import humanize
from tusk.ui.shell import current_user, header, md_escape, setup_page, show_error, sidebar_footer

if TYPE_CHECKING:
    from tusk.auth.schema import User
    from tusk.engines.base import LoadMode
    from tusk.etl.pipeline import Pipeline
    from tusk.etl.sinks import FileFormat

PIPE = "tusk_data_pipeline"  # the Pipeline being built (None until a source is chosen)
EDIT = "tusk_data_edit"  # the id of the step being edited, or "new"
NEW_KIND = "data_new_kind"
P = "data_"
SOURCE_KINDS = {"file": "File", "query": "SQL query", "osm": "OSM / PBF"}
OUT_FORMATS: tuple[FileFormat, ...] = ("parquet", "csv")  # Parquet first: it keeps the types
LOAD_MODES: tuple[LoadMode, ...] = ("create", "append", "replace")
STEP_KINDS = {
    "filter": "Filter rows",
    "select": "Select columns",
    "sort": "Sort",
    "group_by": "Group by",
    "rename": "Rename columns",
    "drop_nulls": "Drop nulls",
    "limit": "Limit",
    "join": "Join",
}
# The step vocabulary is the library's own, so the forms can never offer what it refuses.
OPS = list(etl_steps.OPS)
AGG_FNS = list(etl_steps.AGG_FNS)
JOIN_HOWS = list(etl_steps.JOIN_HOWS)
MAX_ROWS = 6  # condition / sort / aggregation / rename rows in a step form


def pipeline() -> Pipeline | None:
    """The pipeline being built in this browser session."""
    return st.session_state.get(PIPE)


def _set(p: Pipeline | None) -> None:
    st.session_state[PIPE] = p


# --- source -------------------------------------------------------------------------------------


def _data_files(
    root: str, suffixes: tuple[str, ...], user: User | None, depth: int = 3
) -> list[str]:
    """Files under a root (a few folders deep) whose names end with one of `suffixes`."""
    found: list[str] = []

    def walk(relative: str, level: int) -> None:
        try:
            entries = files.listdir(root, relative, actor=user)
        except TuskError:
            return
        for e in entries:
            if e.is_dir and level < depth:
                walk(e.relative, level + 1)
            elif not e.is_dir and e.name.lower().endswith(suffixes):
                found.append(e.relative)

    walk("", 0)
    return sorted(found)


def source_form(key: str = "src") -> Any | None:
    """Widgets for choosing a source; the Source model once complete, else None."""
    from tusk.etl import sources

    kind = st.segmented_control(
        "Source",
        list(SOURCE_KINDS),
        format_func=lambda k: SOURCE_KINDS[k],
        default="file",
        required=True,
        key=f"{P}{key}_kind",
    )
    try:
        if kind == "query":
            names = [c.name for c in connections.list_connections()]
            conn = st.selectbox("Connection", names, key=f"{P}{key}_conn")
            sql = st.text_area(
                "SQL", key=f"{P}{key}_sql", placeholder="select * from orders", height=100
            )
            return sources.QuerySource(connection=str(conn), sql=sql) if sql.strip() else None
        user = current_user()  # the file lists below are read on the user's behalf
        roots = [r.name for r in files.roots()]
        root = str(st.selectbox("Data root", roots, key=f"{P}{key}_root"))
        if kind == "osm":
            found = _data_files(root, (".pbf", ".osm", ".osm.bz2"), user)
            if not found:
                st.caption("No .osm.pbf file in this root yet — upload one in the Studio's Files.")
                return None
            rel = st.selectbox("File", found, key=f"{P}{key}_osm_file")
            layer = st.selectbox("Layer", sources.LAYERS, key=f"{P}{key}_layer")
            return sources.OsmSource(root=root, relative=str(rel), layer=layer or "nodes")
        found = _data_files(root, (".csv", ".tsv", ".parquet", ".ndjson", ".jsonl", ".json"), user)
        if not found:
            st.caption("No CSV, Parquet or JSON file in this root yet — upload one in the Studio.")
            return None
        rel = str(st.selectbox("File", found, key=f"{P}{key}_file"))
        guessed = sources.guess_format(rel) or "csv"
        fmt = (
            st.selectbox(
                "Format",
                sources.FORMATS,
                index=list(sources.FORMATS).index(guessed),
                key=f"{P}{key}_format_{rel}",
            )
            or guessed
        )
        options: dict[str, Any] = {}
        if fmt == "csv":
            a, b = st.columns(2)
            options["separator"] = a.text_input(
                "Separator", value="\t" if rel.endswith(".tsv") else ",", key=f"{P}{key}_sep"
            )
            options["has_header"] = b.checkbox("Header row", value=True, key=f"{P}{key}_header")
        return sources.FileSource(root=root, relative=rel, format=fmt, **options)
    except ValidationError as exc:
        st.error(_validation(exc), icon=":material/error:")
        return None
    except TuskError as exc:
        show_error(exc)
        return None


def _source_section(user: User | None) -> None:
    from tusk.etl.pipeline import Pipeline

    p = pipeline()
    with st.expander(
        "Source" if p is None else f"Source · {md_escape(p.source.describe())}",
        expanded=p is None,
        icon=":material/input:",
    ):
        chosen = source_form()
        if (
            st.button(
                "Use this source", type="primary", key=f"{P}use_source", disabled=chosen is None
            )
            and chosen is not None
        ):
            steps = [] if p is None else p.steps
            _set(Pipeline(name="" if p is None else p.name, source=chosen, steps=steps))
            st.rerun()


# --- steps --------------------------------------------------------------------------------------


def _columns_before(p: Pipeline, index: int) -> dict[str, str]:
    """Column → type just before step `index` (what its form may pick from)."""
    from tusk.etl import pipeline as etl

    try:
        return etl.preview(p, n=0, upto=index - 1).schema
    except TuskError:
        return {}


def _steps_section(p: Pipeline, issues: dict[str, str]) -> None:
    editing = st.session_state.get(EDIT)
    for i, step in enumerate(p.steps):
        with st.container(border=True):
            cols = st.columns([1, 8, 1, 1, 1, 1], vertical_alignment="center")
            cols[0].checkbox(
                "On",
                value=step.enabled,
                key=f"{P}on_{step.id}",
                label_visibility="collapsed",
                help="Run this step (untick to skip it)",
                on_change=_toggle,
                args=(step.id,),
            )
            label = f"**{i + 1}. {STEP_KINDS.get(step.kind, step.kind)}** — "
            cols[1].markdown(label + md_escape(step.describe()))
            cols[2].button(
                "",
                icon=":material/arrow_upward:",
                key=f"{P}up_{step.id}",
                disabled=i == 0,
                on_click=_move,
                args=(i, -1),
                help="Move up",
            )
            cols[3].button(
                "",
                icon=":material/arrow_downward:",
                key=f"{P}down_{step.id}",
                disabled=i == len(p.steps) - 1,
                on_click=_move,
                args=(i, 1),
                help="Move down",
            )
            cols[4].button(
                "",
                icon=":material/edit:",
                key=f"{P}edit_{step.id}",
                on_click=_start_edit,
                args=(step.id,),
                help="Edit",
            )
            cols[5].button(
                "",
                icon=":material/delete:",
                key=f"{P}del_{step.id}",
                on_click=_delete,
                args=(i,),
                help="Delete",
            )
            if step.id in issues:
                st.error(f"Step {i + 1}: {md_escape(issues[step.id])}", icon=":material/error:")
            if editing == step.id:
                _step_editor(p, i, step.kind, step)
    a, b = st.columns([3, 1], vertical_alignment="bottom")
    kind = a.selectbox(
        "Add a step", list(STEP_KINDS), format_func=lambda k: STEP_KINDS[k], key=NEW_KIND
    )
    if b.button("Add step", icon=":material/add:", key=f"{P}add"):
        st.session_state[EDIT] = "new"
        st.rerun()
    if editing == "new":
        with st.container(border=True):
            _step_editor(p, len(p.steps), str(kind), None)


def _toggle(step_id: str) -> None:
    p = pipeline()
    if p is None:
        return
    on = bool(st.session_state.get(f"{P}on_{step_id}"))
    steps = [s.model_copy(update={"enabled": on}) if s.id == step_id else s for s in p.steps]
    _set(p.model_copy(update={"steps": steps}))


def _move(index: int, by: int) -> None:
    p = pipeline()
    if p is None:
        return
    steps = list(p.steps)
    j = index + by
    if 0 <= j < len(steps):
        steps[index], steps[j] = steps[j], steps[index]
        _set(p.model_copy(update={"steps": steps}))


def _delete(index: int) -> None:
    p = pipeline()
    if p is None:
        return
    steps = list(p.steps)
    gone = steps.pop(index)
    if st.session_state.get(EDIT) == gone.id:
        st.session_state.pop(EDIT, None)
    _set(p.model_copy(update={"steps": steps}))


def _start_edit(step_id: str) -> None:
    st.session_state[EDIT] = step_id


def _step_editor(p: Pipeline, index: int, kind: str, step: Any | None) -> None:
    """The form for one step: built from the columns known before it."""
    from pydantic import TypeAdapter

    from tusk.etl.steps import Step

    schema = _columns_before(p, index)
    columns = list(schema)
    key = f"{P}form_{step.id if step else 'new'}_{kind}"
    st.markdown(f"**{STEP_KINDS[kind]}**")
    try:
        fields = _FORMS[kind](key, columns, step)
    except TuskError as exc:
        show_error(exc)
        return
    save, cancel = st.columns(2)
    if save.button("Save step", type="primary", key=f"{key}_save", icon=":material/check:"):
        data = {"kind": kind, **fields}
        if step is not None:
            data.update(id=step.id, enabled=step.enabled)
        try:
            new = TypeAdapter(Step).validate_python(data)
        except ValidationError as exc:
            st.error(_validation(exc), icon=":material/error:")
            return
        steps = list(p.steps)
        if step is None:
            steps.append(new)
        else:
            steps[index] = new
        _set(p.model_copy(update={"steps": steps}))
        st.session_state.pop(EDIT, None)
        st.rerun()
    if cancel.button("Cancel", key=f"{key}_cancel"):
        st.session_state.pop(EDIT, None)
        st.rerun()


def _validation(exc: ValidationError) -> str:
    """Pydantic's errors as one readable line."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err.get("loc", ()) if not isinstance(x, int))
        parts.append(f"{where}: {err.get('msg', '')}" if where else str(err.get("msg", "")))
    return "That step is not complete — " + "; ".join(parts)


def _pick(label: str, columns: list[str], key: str, current: str | None) -> str | None:
    """A column selectbox that keeps a current value even if it is gone now (it is marked)."""
    options = list(columns)
    if current and current not in options:
        options.append(current)
    index = options.index(current) if current in options else (0 if options else None)
    return st.selectbox(label, options, index=index, key=key)


def _rows(key: str, existing: int) -> int:
    """How many rows a repeating form part shows (with + / − buttons)."""
    count_key = f"{key}_rows"
    if count_key not in st.session_state:
        st.session_state[count_key] = max(existing, 1)
    a, b, _ = st.columns([1, 1, 6])
    if a.button("", icon=":material/add:", key=f"{key}_more", help="Add a row"):
        st.session_state[count_key] = min(st.session_state[count_key] + 1, MAX_ROWS)
    if b.button("", icon=":material/remove:", key=f"{key}_less", help="Remove the last row"):
        st.session_state[count_key] = max(st.session_state[count_key] - 1, 1)
    return int(st.session_state[count_key])


def _filter_form(key: str, columns: list[str], step: Any | None) -> dict[str, Any]:
    old = list(step.conditions) if step else []
    combine = st.radio(
        "Keep rows matching",
        ["and", "or"],
        horizontal=True,
        key=f"{key}_combine",
        index=0 if not step or step.combine == "and" else 1,
        format_func={"and": "all conditions", "or": "any condition"}.get,
    )
    conditions = []
    for r in range(_rows(key, len(old))):
        prev = old[r] if r < len(old) else None
        a, b, c = st.columns([3, 2, 3])
        with a:
            col = _pick("Column", columns, f"{key}_col{r}", prev.column if prev else None)
        op = b.selectbox(
            "Operator", OPS, index=OPS.index(prev.op) if prev else 0, key=f"{key}_op{r}"
        )
        raw = "" if prev is None or prev.value is None else _shown_value(prev.value)
        value = c.text_input(
            "Value",
            value=raw,
            key=f"{key}_val{r}",
            disabled=op in ("is_null", "is_not_null"),
            help="For in / not in: values separated by commas",
        )
        if col:
            conditions.append({"column": col, "op": op, "value": _value(op, value)})
    return {"conditions": conditions, "combine": combine}


def _shown_value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _value(op: str, text: str) -> Any:
    """The typed value is text; the step coerces it to the column's type."""
    if op in ("is_null", "is_not_null"):
        return None
    if op in ("in", "not_in"):
        return [v.strip() for v in text.split(",") if v.strip()]
    return text


def _select_form(key: str, columns: list[str], step: Any | None) -> dict[str, Any]:
    chosen = [c for c in (step.columns if step else []) if c in columns] or []
    picked = st.multiselect(
        "Columns to keep (in this order)", columns, default=chosen, key=f"{key}_cols"
    )
    return {"columns": picked}


def _sort_form(key: str, columns: list[str], step: Any | None) -> dict[str, Any]:
    old = list(step.by) if step else []
    by = []
    for r in range(_rows(key, len(old))):
        prev = old[r] if r < len(old) else None
        a, b, c = st.columns([3, 2, 2], vertical_alignment="bottom")
        with a:
            col = _pick("Column", columns, f"{key}_col{r}", prev.column if prev else None)
        desc = b.checkbox("Descending", value=bool(prev and prev.descending), key=f"{key}_desc{r}")
        last = c.checkbox("Nulls last", value=not prev or prev.nulls_last, key=f"{key}_nulls{r}")
        if col:
            by.append({"column": col, "descending": desc, "nulls_last": last})
    return {"by": by}


def _group_form(key: str, columns: list[str], step: Any | None) -> dict[str, Any]:
    keys = st.multiselect(
        "Group by",
        columns,
        default=[k for k in (step.keys if step else []) if k in columns],
        key=f"{key}_keys",
    )
    old = list(step.aggs) if step else []
    aggs = []
    st.caption("Aggregations")
    for r in range(_rows(key, len(old))):
        prev = old[r] if r < len(old) else None
        a, b, c = st.columns([2, 3, 3])
        fn = a.selectbox(
            "Function", AGG_FNS, index=AGG_FNS.index(prev.fn) if prev else 0, key=f"{key}_fn{r}"
        )
        options = ["(rows)", *columns] if fn == "count" else columns
        current = prev.column if prev and prev.column else ("(rows)" if fn == "count" else None)
        with b:
            col = _pick("Column", options, f"{key}_col{r}_{fn}", current)
        alias = c.text_input("As", value=(prev.alias or "") if prev else "", key=f"{key}_as{r}")
        if col:
            aggs.append(
                {"fn": fn, "column": None if col == "(rows)" else col, "alias": alias or None}
            )
    return {"keys": keys, "aggs": aggs}


def _rename_form(key: str, columns: list[str], step: Any | None) -> dict[str, Any]:
    old = list((step.mapping if step else {}).items())
    mapping = {}
    for r in range(_rows(key, len(old))):
        prev = old[r] if r < len(old) else None
        a, b = st.columns(2)
        with a:
            col = _pick("Column", columns, f"{key}_col{r}", prev[0] if prev else None)
        new = b.text_input("New name", value=prev[1] if prev else "", key=f"{key}_new{r}")
        if col and new.strip():
            mapping[col] = new.strip()
    return {"mapping": mapping}


def _drop_nulls_form(key: str, columns: list[str], step: Any | None) -> dict[str, Any]:
    picked = st.multiselect(
        "Drop rows with a null in (none chosen: any column)",
        columns,
        default=[c for c in ((step.columns or []) if step else []) if c in columns],
        key=f"{key}_cols",
    )
    return {"columns": picked or None}


def _limit_form(key: str, columns: list[str], step: Any | None) -> dict[str, Any]:
    n = st.number_input("Rows to keep", min_value=0, value=step.n if step else 100, key=f"{key}_n")
    return {"n": int(n)}


def _join_form(key: str, columns: list[str], step: Any | None) -> dict[str, Any]:
    from tusk.etl import sources

    st.caption("The other source")
    right = source_form(f"{key}_right")
    how = st.selectbox(
        "How", JOIN_HOWS, index=JOIN_HOWS.index(step.how) if step else 0, key=f"{key}_how"
    )
    right_columns: list[str] = []
    if right is not None:
        try:
            right_columns = list(sources.lazy(right, preview_rows=0).collect_schema())
        except (TuskError, Exception) as exc:  # noqa: BLE001 - any reader failure is shown
            st.error(f"The other source cannot be read: {md_escape(str(exc))}")
    a, b = st.columns(2)
    left_on = a.multiselect(
        "Keys on this side",
        columns,
        default=[c for c in (step.left_on if step else []) if c in columns],
        key=f"{key}_lon",
    )
    right_on = b.multiselect(
        "Keys on the other side",
        right_columns,
        default=[c for c in (step.right_on if step else []) if c in right_columns],
        key=f"{key}_ron",
    )
    data: dict[str, Any] = {"how": how, "left_on": left_on, "right_on": right_on}
    if right is not None:
        data["right"] = right.model_dump()
    return data


_FORMS = {
    "filter": _filter_form,
    "select": _select_form,
    "sort": _sort_form,
    "group_by": _group_form,
    "rename": _rename_form,
    "drop_nulls": _drop_nulls_form,
    "limit": _limit_form,
    "join": _join_form,
}


# --- preview, code, outputs, saved --------------------------------------------------------------


def _preview_section(p: Pipeline) -> None:
    from tusk.etl import pipeline as etl

    labels = ["the source", *[f"step {i + 1}" for i in range(len(p.steps))]]
    after = st.selectbox(
        "Preview after",
        list(range(-1, len(p.steps))),
        index=len(p.steps),
        format_func=lambda i: labels[i + 1],
        key=f"{P}preview_after_{len(p.steps)}",  # a new step: back to "after the last"
    )
    rows = st.select_slider("Rows", [10, 100, 1000], value=100, key=f"{P}preview_rows")
    result = etl.preview(p, n=int(rows), upto=int(after))
    for issue in result.issues:
        if issue.step_id is None:
            st.error(f"Source: {md_escape(issue.message)}", icon=":material/error:")
    if result.note:
        st.info(result.note, icon=":material/info:")
    if result.sampled:
        st.caption("A query source: the preview runs the steps over its first rows only.")
    st.dataframe(result.frame, hide_index=True, width="stretch")
    st.caption(
        " · ".join(f"`{n.replace('`', '')}` {t}" for n, t in result.schema.items()) or "no columns"
    )
    if st.button("Count all rows", key=f"{P}count", icon=":material/functions:"):
        try:
            n = etl.row_count(p, upto=int(after))
        except TuskError as exc:
            show_error(exc)
        else:
            st.info(f"{n:,} rows after {labels[int(after) + 1]}", icon=":material/functions:")


def _code_section(p: Pipeline) -> None:
    from tusk.etl import codegen

    try:
        text = codegen.code(p)
    except TuskError as exc:
        show_error(exc)
        return
    st.code(text, language="python", line_numbers=True)
    st.download_button(
        "Download code",
        text,
        file_name=f"{p.name or 'pipeline'}.py",
        mime="text/x-python",
        key=f"{P}code_download",
        icon=":material/download:",
    )


def _output_section(p: Pipeline, user: User | None) -> None:
    from tusk.etl import sinks

    st.markdown("**Export to a file in a data root**")
    if auth.allowed(user, "data.export"):
        a, b, c = st.columns([2, 3, 1], vertical_alignment="bottom")
        roots = [r.name for r in files.roots()]
        root = a.selectbox("Data root", roots, key=f"{P}out_root")
        name = b.text_input("File", value=f"{p.name or 'pipeline'}.parquet", key=f"{P}out_file")
        fmt = c.selectbox("Format", OUT_FORMATS, key=f"{P}out_fmt") or "parquet"
        overwrite = st.checkbox("Replace a file with the same name", key=f"{P}out_overwrite")
        if st.button("Export", type="primary", key=f"{P}out_go", icon=":material/save:"):
            progress = st.progress(0.0, text="Writing…")
            try:
                entry = sinks.write_file(
                    p,
                    fmt,
                    str(root),
                    name,
                    overwrite=overwrite,
                    actor=user,
                    progress=lambda rows: progress.progress(
                        min(0.99, 0.05 + rows / (rows + 1_000_000)), text=f"{rows:,} rows…"
                    ),
                )
            except TuskError as exc:
                progress.empty()
                show_error(exc)
            else:
                progress.progress(1.0, text=f"{humanize.size(entry.size)} written")
                st.success(f"Wrote {md_escape(entry.root)}/{md_escape(entry.relative)}")
    else:
        st.caption(":material/lock: Exporting needs the data.export permission.")

    st.markdown("**Import into a database table**")
    if not auth.allowed(user, "data.import"):
        st.caption(":material/lock: Importing needs the data.import permission.")
        return
    try:
        targets = [c for c in connections.list_connections() if engine_abilities(c.engine).etl_sink]
    except TuskError as exc:  # a damaged connections.toml: name it, the demo still works
        show_error(exc)
        targets = [connections.demo_spec()]
    a, b, c = st.columns([2, 2, 1], vertical_alignment="bottom")
    # What the picker showed on the last run: Streamlit resets a picker whose choice left its
    # options (a connection deleted meanwhile) to the first one, the demo, without a word.
    shown = st.session_state.get(f"{P}imp_shown")
    target = a.selectbox(
        "Connection",
        [t.name for t in targets],
        key=f"{P}imp_conn",
        help="DuckDB (the demo database is the analytics workspace) or PostgreSQL",
    )
    st.session_state[f"{P}imp_shown"] = target
    table = b.text_input("Table", value=_table_name(p), key=f"{P}imp_table")
    mode = c.selectbox(
        "If it exists",
        LOAD_MODES,
        key=f"{P}imp_mode",
        help="create refuses an existing table",
    )
    clicked = st.button("Import", type="primary", key=f"{P}imp_go", icon=":material/upload:")
    if clicked and shown is not None and shown != target:
        st.error(
            f"**Connection gone** — {md_escape(str(shown))} was deleted or renamed since the "
            "page was drawn; nothing was imported. Choose where to import again.",
            icon=":material/link_off:",
        )
    elif clicked:
        from tusk.ui.session import connection, forget_if_lost

        spec = next(t for t in targets if t.name == target)
        try:
            conn = connection(spec.name)
            with st.spinner(f"Importing into {table}…"):
                n = sinks.to_table(p, conn, table, mode=mode or "create", actor=user)
        except TuskError as exc:
            show_error(exc)
            forget_if_lost(spec.name, exc)  # the next Import reconnects
        else:
            st.success(f"{n:,} rows in {md_escape(spec.name)} · {md_escape(table)}")


def _table_name(p: Pipeline) -> str:
    base = p.name or PurePosixPath(getattr(p.source, "relative", "") or "result").stem
    clean = "".join(c if c.isalnum() else "_" for c in base).strip("_").lower()
    return clean or "result"


def _saved_section(p: Pipeline | None, user: User | None) -> None:
    from tusk.etl import saved_pipelines

    may_save = auth.allowed(user, "data.transform")
    if p is not None and may_save:
        a, b = st.columns([3, 1], vertical_alignment="bottom")
        name = a.text_input("Save as", value=p.name, key=f"{P}save_name")
        overwrite = st.checkbox("Replace a saved pipeline with the same name", key=f"{P}save_over")
        if b.button("Save", type="primary", key=f"{P}save_go", icon=":material/save:"):
            try:
                named = p.model_copy(update={"name": name.strip()})
                saved_pipelines.save(named, overwrite=overwrite, actor=user)
            except TuskError as exc:
                show_error(exc)
            else:
                _set(named)
                st.toast(f"Saved {md_escape(named.name)}", icon=":material/check:")
    try:
        saved = saved_pipelines.list_pipelines()
    except TuskError as exc:
        show_error(exc)
        return
    if not saved:
        st.caption("No saved pipelines yet.")
        return
    for name, modified in saved:
        with st.container(border=True):
            a, b, c, d = st.columns([4, 1, 1, 1], vertical_alignment="center")
            a.markdown(f":material/account_tree: **{md_escape(name)}** · {modified:%Y-%m-%d %H:%M}")
            if b.button("Open", key=f"{P}open_{name}"):
                try:
                    _set(saved_pipelines.load(name))
                except TuskError as exc:
                    show_error(exc)
                else:
                    st.session_state.pop(EDIT, None)
                    st.rerun()
            if may_save and c.button("Copy", key=f"{P}dup_{name}", help="Duplicate"):
                try:
                    saved_pipelines.duplicate(name, f"{name} copy", actor=user)
                except TuskError as exc:
                    show_error(exc)
                else:
                    st.rerun()
            if may_save and d.button(
                "", icon=":material/delete:", key=f"{P}rm_{name}", help="Delete"
            ):
                try:
                    saved_pipelines.delete(name, actor=user)
                except TuskError as exc:
                    show_error(exc)
                else:
                    st.rerun()


def render() -> None:
    """The whole Data page: the header names the current pipeline's source."""
    info = setup_page("Data")
    sidebar_footer()
    current = pipeline()
    header(
        info,
        None if current is None else f":material/input: {md_escape(current.source.describe())}",
    )
    body()


def body() -> None:
    """The page body; query sources run for the signed-in user (confined like the Studio)."""
    from tusk.etl import sources

    with sources.acting_as(current_user()):
        _render()


def _render() -> None:
    user = current_user()
    build, code, output, saved = st.tabs(
        [
            ":material/build: Build",
            ":material/code: Code",
            ":material/output: Output",
            ":material/folder: Saved",
        ]
    )
    with build:
        may_edit = auth.allowed(user, "data.transform")
        if may_edit:
            _source_section(user)
        p = pipeline()
        if p is None:
            st.info(
                "Choose a source to start: a file from a data root, a SQL query on a saved "
                "connection, or an OSM/PBF file.",
                icon=":material/info:",
            )
        else:
            from tusk.etl import pipeline as etl

            issues = {i.step_id: i.message for i in etl.validate(p) if i.step_id}
            left, right = st.columns([2, 3], gap="medium")
            with left:
                st.markdown(f"**Steps** · {humanize.count(len(p.steps), 'step')}")
                if may_edit:
                    _steps_section(p, issues)
                else:
                    for i, step in enumerate(p.steps):
                        st.markdown(f"{i + 1}. {md_escape(step.describe())}")
            with right:
                _preview_section(p)
    p = pipeline()
    with code:
        if p is None:
            st.caption("The code appears once the pipeline has a source.")
        else:
            _code_section(p)
    with output:
        if p is None:
            st.caption("Outputs appear once the pipeline has a source.")
        else:
            _output_section(p, user)
    with saved:
        _saved_section(p, user)
