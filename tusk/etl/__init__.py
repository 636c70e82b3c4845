"""Polars pipelines: a source, typed steps, a live preview, generated code and sinks.

- `tusk.etl.sources`: where the rows come from (a file in a data root, a query on a saved
  connection, an OSM/PBF layer), scanned lazily; on a full run a query streams into a
  temporary Parquet file (`sources.spooling`) that is scanned like any file.
- `tusk.etl.steps`: filter, select, sort, group by, rename, drop nulls, limit, join — small
  pydantic models that apply themselves to a `polars.LazyFrame` and say what they need.
- `tusk.etl.pipeline`: the pipeline model, validation, preview, full runs (`running`), row
  count, JSON.
- `tusk.etl.codegen`: the same pipeline as a self-contained Polars script.
- `tusk.etl.sinks`: CSV/Parquet into a data root, tables in DuckDB and PostgreSQL.
- `tusk.etl.saved_pipelines`: pipelines saved as JSON under TUSK_HOME/pipelines.
"""
