"""Data roots and the files in them: browse, preview, query, upload, delete, export.

One module per job: `roots` (the roots and `resolve`), `listing`, `reading` (preview, scan
SQL), `views` (views, registered tables, attached files), `writing` (upload, delete, export)
and `demo` (the demo files). This package names their public functions, so callers write
`files.preview(…)`.

Nothing outside a root is listed, read, written or deleted. Every path a caller gives is a root
name plus a path relative to it, and goes through `resolve`, which refuses `..`, absolute paths,
NUL bytes and symlinks whose target leaves the root. Files are read by DuckDB (read_parquet,
read_csv_auto, read_json_auto, sqlite_scan) in a private in-memory connection with the offline
extensions, so nothing here needs the network.

Every action that reveals file names or contents needs data.view, writing needs data.import or
data.export; each takes the acting user as `actor` (None is the trusted CLI in single-user mode).
`roots`, `root` and `resolve` only name folders and turn paths into checked absolute paths, for
library code and pages that have checked their own permission.
"""

from tusk.files.listing import KINDS, Entry, info, listdir
from tusk.files.reading import (
    MAX_PREVIEW_ROWS,
    QUERYABLE,
    Preview,
    preview,
    row_count,
    scan_sql,
    sqlite_tables,
)
from tusk.files.roots import DATA_DIR, DEMO_ROOT, Root, confinement, resolve, root, roots
from tusk.files.views import attach_sqlite, create_view, register_table
from tusk.files.writing import delete, export, safe_name, upload, upload_limit_mb

__all__ = [
    "DATA_DIR",
    "DEMO_ROOT",
    "KINDS",
    "MAX_PREVIEW_ROWS",
    "QUERYABLE",
    "Entry",
    "Preview",
    "Root",
    "attach_sqlite",
    "confinement",
    "create_view",
    "delete",
    "export",
    "info",
    "listdir",
    "preview",
    "register_table",
    "resolve",
    "root",
    "roots",
    "row_count",
    "safe_name",
    "scan_sql",
    "sqlite_tables",
    "upload",
    "upload_limit_mb",
]
