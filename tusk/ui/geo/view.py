"""A map of whatever geometry a result holds: used by the Studio's Map tab and the Geo page.

Detection, conversion and the deck come from `tusk.geo`; this module only draws controls,
the map (`st.pydeck_chart` with click selection), the selected row and the GeoJSON download.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import streamlit as st

from tusk import config
from tusk.errors import TuskError
from tusk.ui import humanize
from tusk.ui.shell import show_error

if TYPE_CHECKING:  # the geo extra (shapely) is imported only when a map is drawn
    from tusk.geo.deck import LayerChoice

LAYERS: dict[LayerChoice, str] = {
    "auto": "Automatic",
    "scatter": "Points",
    "path": "Lines",
    "polygon": "Polygons",
    "heatmap": "Heatmap",
    "hexagon": "Hexagons",
}
MAX_FEATURES = 100_000


def map_view(
    table: pa.Table,
    key: str,
    *,
    hints: dict[str, str] | None = None,
    full_export: Callable[[], Iterator[pa.RecordBatch]] | None = None,
    on_demand: bool = False,
) -> None:
    """Detect geometry in `table` and draw it, with layer/colour/size controls; offer the
    mapped rows (and, with `full_export`, the whole result streamed) as GeoJSON. With
    `on_demand` the map waits for a switch (the Studio draws every result tab on each run,
    and a deck of many features is megabytes to send)."""
    from tusk import geo

    try:
        found = geo.detect(table, hints=hints)
    except TuskError as exc:
        show_error(exc)
        return
    if not found:
        st.caption(
            ":material/location_off: No geometry found: Tusk looks for PostGIS and DuckDB "
            "geometry, WKB, WKT, GeoJSON and latitude/longitude column pairs."
        )
        return
    if on_demand and not st.toggle(
        f"Draw on a map — found {', '.join(c.summary for c in found)}", key=f"{key}_show"
    ):
        return
    by_summary = {c.summary: c for c in found}
    a, b, c, d = st.columns(4)
    picked = a.selectbox("Geometry", list(by_summary), key=f"{key}_geom")
    col = by_summary[str(picked)]
    layer = b.selectbox("Layer", list(LAYERS), format_func=lambda k: LAYERS[k], key=f"{key}_layer")
    others = [n for n in table.column_names if n not in col.columns]
    color_by = c.selectbox(
        "Colour by",
        [None, *others],
        key=f"{key}_color",
        format_func=lambda n: "—" if n is None else n,
    )
    numbers = [
        n
        for n in others
        if pa.types.is_integer(table.schema.field(n).type)
        or pa.types.is_floating(table.schema.field(n).type)
    ]
    size_by = d.selectbox(
        "Size by",
        [None, *numbers],
        key=f"{key}_size",
        format_func=lambda n: "—" if n is None else n,
    )
    try:
        plan = geo.build_deck(
            table,
            col,
            layer=layer or "auto",
            color_by=color_by,
            size_by=size_by,
            max_features=MAX_FEATURES,
            tiles=config.get("map_tiles_url") or None,
        )
    except TuskError as exc:
        show_error(exc)
        return
    caption = f"{humanize.count(plan.shown, 'feature')} of {plan.total:,} drawn · " + ", ".join(
        plan.layers
    )
    if col.invalid:
        caption += f" · {col.invalid:,} values could not be read (skipped)"
    st.caption(caption)
    if plan.notice:
        st.info(plan.notice, icon=":material/info:")
    event = st.pydeck_chart(
        plan.deck,
        on_select="rerun",
        selection_mode="single-object",
        key=f"{key}_map",
        height=480,
    )
    rows = plan.selected_rows(getattr(event, "selection", None) if event else None)
    if rows:
        st.markdown(selection_title(plan.aggregated, len(rows)))
        picked_rows = table.take(pa.array(rows[:SELECTED_ROWS]))
        st.dataframe(
            {
                n: [_cell(v) for v in picked_rows.column(n).to_pylist()]
                for n in picked_rows.column_names
            },
            hide_index=True,
            width="stretch",
        )
    left, right = st.columns(2)
    try:
        mapped = json.dumps(geo.to_geojson(table, col), ensure_ascii=False)
    except TuskError as exc:
        show_error(exc)
        return
    left.download_button(
        "Download GeoJSON (these rows)",
        mapped,
        file_name="result.geojson",
        mime="application/geo+json",
        key=f"{key}_geojson",
        icon=":material/download:",
        on_click="ignore",
    )
    if full_export is not None and right.button(
        "Export the full result as GeoJSON", key=f"{key}_geojson_full", icon=":material/map:"
    ):
        _full_geojson(full_export, col, key)
    ready = st.session_state.get(f"{key}_geojson_file")
    if ready:
        right.download_button(
            f"Download full GeoJSON ({humanize.count(ready[1], 'feature')})",
            ready[0],
            file_name="full-result.geojson",
            mime="application/geo+json",
            key=f"{key}_geojson_full_dl",
            icon=":material/download:",
            on_click="ignore",
        )


SELECTED_ROWS = 20  # rows of a picked hexagon listed under the map


def selection_title(aggregated: bool, rows: int) -> str:
    """The heading over what was picked on the map: one feature, or a hexagon's rows."""
    if not aggregated:
        return "**Selected feature**"
    more = f" · the first {SELECTED_ROWS}" if rows > SELECTED_ROWS else ""
    return f"**Selected hexagon** · {humanize.count(rows, 'row')}{more}"


def _cell(value: Any) -> Any:
    """A value the info table can show (geometry bytes as a short hex)."""
    if isinstance(value, bytes):
        return value[:24].hex() + ("…" if len(value) > 24 else "")
    return value


def _full_geojson(batches: Callable[[], Iterator[pa.RecordBatch]], col: Any, key: str) -> None:
    """Stream the whole result into GeoJSON (kept in memory for the download button)."""
    import io

    from tusk import geo

    out = io.BytesIO()
    progress = st.progress(0.0, text="Writing GeoJSON…")
    try:
        summary = geo.write_geojson(
            batches(),
            col,
            out,
            progress=lambda n: progress.progress(
                min(0.99, 0.05 + n / (n + 100_000)), text=f"{n:,} features…"
            ),
        )
    except TuskError as exc:
        progress.empty()
        show_error(exc)
        return
    progress.progress(
        1.0, text=f"{summary.features:,} features · {humanize.size(len(out.getvalue()))}"
    )
    if summary.skipped:
        st.caption(f"{summary.skipped:,} rows without a readable geometry were left out.")
    st.session_state[f"{key}_geojson_file"] = (out.getvalue(), summary.features)
