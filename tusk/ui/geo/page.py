"""The Geo page: pick a query on a saved connection, or a file in a data root (GeoJSON,
Parquet/GeoParquet, CSV with lat/lon, JSON lines, OSM/PBF), and map it."""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import streamlit as st

from tusk import auth, connections, files
from tusk.errors import BadInput, TuskError
from tusk.ui import humanize
from tusk.ui.geo.view import MAX_FEATURES, map_view
from tusk.ui.session import connection, forget_if_lost
from tusk.ui.shell import current_user, header, md_escape, setup_page, show_error, sidebar_footer

P = "geo_"
LOADED = "tusk_geo_loaded"  # (label, table, statement-or-None, connection-or-None)
GEO_SUFFIXES = (
    ".geojson",
    ".json",
    ".parquet",
    ".csv",
    ".tsv",
    ".ndjson",
    ".jsonl",
    ".pbf",
    ".osm",
)
DEMO_SQL = "select name, country, population, lat, lon from cities"


def render() -> None:
    """The whole Geo page."""
    info = setup_page("Geo")
    sidebar_footer()
    header(info)
    body()


def body() -> None:
    """The page body: the source picker, then the map of what was loaded."""
    user = current_user()
    query_tab, file_tab = st.tabs([":material/terminal: Query", ":material/folder_open: File"])
    with query_tab:
        _query_source(user)
    with file_tab:
        _file_source(user)
    loaded = st.session_state.get(LOADED)
    if loaded is None:
        st.info(
            "Run a query or open a file above: Tusk finds its geometry (PostGIS, DuckDB "
            "spatial, WKB, WKT, GeoJSON, or latitude/longitude columns) and draws it.",
            icon=":material/map:",
        )
        return
    label, table, statement, conn_name = loaded
    st.markdown(f"**{md_escape(label)}** · {humanize.count(table.num_rows, 'row')}")
    full = None
    if statement is not None and conn_name is not None:

        def full():  # noqa: ANN202 - an iterator of Arrow batches
            return connection(conn_name).stream_arrow(statement)

    map_view(table, key="geo_map", full_export=full)


def _query_source(user: Any) -> None:
    if not auth.allowed(user, "queries.execute"):
        st.caption(":material/lock: Running queries needs the queries.execute permission.")
        return
    try:
        names = [c.name for c in connections.list_connections()]
    except TuskError as exc:  # a damaged connections.toml: name it, the demo still works
        show_error(exc)
        names = [connections.DEMO_NAME]
    name = st.selectbox("Connection", names, key=f"{P}conn")
    sql = st.text_area(
        "SQL",
        value=DEMO_SQL if name == connections.DEMO_NAME else "",
        key=f"{P}sql_{name}",
        height=110,
        help="PostGIS geometry in another SRID than 4326 or 3857: wrap it in "
        "ST_Transform(geom, 4326).",
    )
    if st.button("Map it", type="primary", icon=":material/map:", key=f"{P}run"):
        from tusk import queries

        spec = connections.get(str(name))
        try:
            result = queries.run(spec, connection(spec.name), sql, limit=MAX_FEATURES, actor=user)
        except TuskError as exc:
            show_error(exc)
            forget_if_lost(spec.name, exc)  # the next "Map it" reconnects
            return
        last = result
        if last.table.num_columns == 0:
            st.warning("That statement returned no rows to map.", icon=":material/info:")
            return
        if last.truncated:
            st.caption(f"The first {MAX_FEATURES:,} rows are mapped; export gives them all.")
        st.session_state[LOADED] = (f"Query on {spec.name}", last.table, sql, spec.name)
        st.rerun()


def _file_source(user: Any) -> None:
    try:
        roots = [r.name for r in files.roots()]
    except TuskError as exc:
        show_error(exc)
        return
    a, b = st.columns(2)
    root = str(a.selectbox("Data root", roots, key=f"{P}root"))
    found = _geo_files(root, user)
    if not found:
        st.caption("No GeoJSON, Parquet, CSV or OSM file in this root yet.")
        return
    relative = str(b.selectbox("File", found, key=f"{P}file"))
    layer = None
    if relative.lower().endswith((".pbf", ".osm")):
        layer = st.selectbox("OSM layer", ["nodes", "ways", "relations"], index=1, key=f"{P}layer")
    if st.button("Map it", type="primary", icon=":material/map:", key=f"{P}open"):
        try:
            table = _read(root, relative, layer, user)
        except TuskError as exc:
            show_error(exc)
            return
        label = f"{root}/{relative}" + (f" · {layer}" if layer else "")
        st.session_state[LOADED] = (label, table, None, None)
        st.rerun()


def _geo_files(root: str, user: Any) -> list[str]:
    found: list[str] = []

    def walk(relative: str, level: int) -> None:
        try:
            entries = files.listdir(root, relative, actor=user)
        except TuskError:
            return
        for e in entries:
            if e.is_dir and level < 3:
                walk(e.relative, level + 1)
            elif not e.is_dir and e.name.lower().endswith(GEO_SUFFIXES):
                found.append(e.relative)

    walk("", 0)
    return sorted(found)


def _read(root: str, relative: str, layer: str | None, user: Any) -> pa.Table:
    """At most MAX_FEATURES rows of a file, as Arrow, ready for detection."""
    # GeoJSON, Parquet and OSM are read here, not through a files.* read action: check here.
    auth.require(user, "data.view")
    path = files.resolve(root, relative)
    name = PurePosixPath(relative).name.lower()
    if layer is not None:
        from tusk.etl import osm

        parquet = osm.layer_parquet(path, layer)
        return _head_parquet(parquet)
    if name.endswith(".geojson") or (name.endswith(".json") and _looks_geojson(path)):
        return _read_geojson(path)
    if name.endswith(".parquet"):
        return _head_parquet(path)
    # CSV / JSON lines: the files library reads just the head (no SQL written here).
    return files.preview(root, relative, limit=files.MAX_PREVIEW_ROWS, actor=user).rows


def _head_parquet(path: Any) -> pa.Table:
    try:
        reader = pq.ParquetFile(path)
        batches = []
        rows = 0
        for batch in reader.iter_batches(batch_size=10_000):
            batches.append(batch)
            rows += batch.num_rows
            if rows >= MAX_FEATURES:
                break
        table = pa.Table.from_batches(batches, schema=reader.schema_arrow)
    except (OSError, pa.ArrowException) as exc:
        raise BadInput(f"{path.name} could not be read as Parquet: {exc}") from None
    return table.slice(0, MAX_FEATURES)


def _looks_geojson(path: Any) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip()
    return head.startswith(b"{") and b'"type"' in head and b"Feature" in head


def _read_geojson(path: Any) -> pa.Table:
    """A FeatureCollection as a table: the properties as columns plus `geometry` (GeoJSON)."""
    try:
        with open(path, "rb") as fh:
            doc = json.load(fh)
    except (OSError, ValueError) as exc:
        raise BadInput(f"{path.name} is not valid JSON: {exc}") from None
    features = doc.get("features") if isinstance(doc, dict) else None
    if doc.get("type") == "Feature":
        features = [doc]
    if not isinstance(features, list):
        raise BadInput(f"{path.name} is not a GeoJSON FeatureCollection.")
    features = features[:MAX_FEATURES]
    keys: dict[str, None] = {}
    for f in features:
        for k in (f.get("properties") or {}) if isinstance(f, dict) else ():
            keys.setdefault(k, None)
    columns: dict[str, list[Any]] = {k: [] for k in keys if k != "geometry"}
    geometry: list[str | None] = []
    for f in features:
        props = (f.get("properties") or {}) if isinstance(f, dict) else {}
        for k in columns:
            v = props.get(k)
            columns[k].append(json.dumps(v) if isinstance(v, dict | list) else v)
        g = f.get("geometry") if isinstance(f, dict) else None
        geometry.append(json.dumps(g) if g else None)
    data = {}
    for k, values in columns.items():
        try:
            data[k] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            data[k] = pa.array([None if v is None else str(v) for v in values], pa.string())
    data["geometry"] = pa.array(geometry, pa.string())
    return pa.table(data)
