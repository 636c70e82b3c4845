"""What each engine can do, as class data: one row per engine, read across like a table.

Each adapter class inherits its row (`class DuckDBEngine(ConfiguredEngine, DuckDBAbilities)`),
so `DuckDBEngine.can_attach` is class data on the engine. The rows live here, apart from the
adapters, because the adapters import their driver and psycopg and Ray are optional extras:
the connection form, validation and the pages read a row with `engine_abilities(name)` without
importing any driver. Code outside tusk/engines asks these flags, never `engine == "…"`
(tests/test_house_rules.py greps for it). The meaning of every field is on
`tusk.engines.base.Abilities`.
"""

from __future__ import annotations

from typing import ClassVar

from tusk.engines.base import Abilities, PathKind
from tusk.engines.spec import ENGINE_NAMES
from tusk.errors import BadInput


class PostgresAbilities:
    """PostgreSQL: a server; the Admin page, backups, EXPLAIN; DuckDB can attach it."""

    name: ClassVar[str] = "postgres"
    label: ClassVar[str] = "PostgreSQL"
    icon: ClassVar[str] = "database"
    supports_cancel: ClassVar[bool] = True
    paramstyle: ClassVar[str] = "format"
    default_schema: ClassVar[str | None] = "public"
    can_explain: ClassVar[bool] = True
    can_attach: ClassVar[bool] = False
    attachable: ClassVar[bool] = True
    file_views: ClassVar[bool] = False
    registers_files: ClassVar[bool] = False
    describes_schema: ClassVar[bool] = True
    schema_objects: ClassVar[str | None] = None
    administrable: ClassVar[bool] = True
    etl_sink: ClassVar[bool] = True
    code_reader: ClassVar[str | None] = "postgres_scanner"
    run_permission: ClassVar[str | None] = None
    connection_fields: ClassVar[tuple[str, ...]] = (
        "host",
        "port",
        "database",
        "user",
        "password",
        "options",
    )
    host_required: ClassVar[bool] = True
    default_port: ClassVar[int | None] = 5432
    path_kind: ClassVar[PathKind] = None
    path_required: ClassVar[bool] = False
    path_local: ClassVar[bool] = True  # it names no path; one given is checked as a file
    memory_path: ClassVar[bool] = False
    path_example: ClassVar[str | None] = None
    confined_options: ClassVar[dict[str, str]] = {}
    approx_distinct: ClassVar[str | None] = None
    stddev: ClassVar[str | None] = "stddev_samp"


class SQLiteAbilities:
    """SQLite: one database file."""

    name: ClassVar[str] = "sqlite"
    label: ClassVar[str] = "SQLite"
    icon: ClassVar[str] = "description"
    supports_cancel: ClassVar[bool] = True
    paramstyle: ClassVar[str] = "qmark"
    default_schema: ClassVar[str | None] = "main"
    can_explain: ClassVar[bool] = False
    can_attach: ClassVar[bool] = False
    attachable: ClassVar[bool] = False
    file_views: ClassVar[bool] = False
    registers_files: ClassVar[bool] = False
    describes_schema: ClassVar[bool] = False
    schema_objects: ClassVar[str | None] = (  # one database: its schema is "main"
        "with s(name) as (select ?) "
        "select type, name, tbl_name, sql from sqlite_master "
        "where type in ('index', 'view') and sql is not null "
        "and (select name from s) = 'main' order by rowid"
    )
    administrable: ClassVar[bool] = False
    etl_sink: ClassVar[bool] = False
    code_reader: ClassVar[str | None] = None
    run_permission: ClassVar[str | None] = None
    connection_fields: ClassVar[tuple[str, ...]] = ("path",)
    host_required: ClassVar[bool] = False
    default_port: ClassVar[int | None] = None
    path_kind: ClassVar[PathKind] = "file"
    path_required: ClassVar[bool] = True
    path_local: ClassVar[bool] = True
    memory_path: ClassVar[bool] = False
    path_example: ClassVar[str | None] = "/data/app.sqlite"
    confined_options: ClassVar[dict[str, str]] = {}
    approx_distinct: ClassVar[str | None] = None
    stddev: ClassVar[str | None] = None


class DuckDBAbilities:
    """DuckDB: a database file or :memory:; the attach panel, views over data files."""

    name: ClassVar[str] = "duckdb"
    label: ClassVar[str] = "DuckDB"
    icon: ClassVar[str] = "raven"
    supports_cancel: ClassVar[bool] = True
    paramstyle: ClassVar[str] = "qmark"
    default_schema: ClassVar[str | None] = "main"
    can_explain: ClassVar[bool] = False
    can_attach: ClassVar[bool] = True
    attachable: ClassVar[bool] = False
    file_views: ClassVar[bool] = True
    registers_files: ClassVar[bool] = False
    describes_schema: ClassVar[bool] = False
    schema_objects: ClassVar[str | None] = (  # of the own database, not attached ones
        "with s(name) as (select ?::varchar) "
        "select 'index', index_name, table_name, sql from duckdb_indexes() "
        "where schema_name = (select name from s) and database_name = current_database() "
        "and sql is not null "
        "union all "
        "select 'view', view_name, null, sql from duckdb_views() "
        "where schema_name = (select name from s) and database_name = current_database() "
        "and not internal"
    )
    administrable: ClassVar[bool] = False
    etl_sink: ClassVar[bool] = True
    code_reader: ClassVar[str | None] = "duckdb_file"
    run_permission: ClassVar[str | None] = None
    connection_fields: ClassVar[tuple[str, ...]] = ("path",)
    host_required: ClassVar[bool] = False
    default_port: ClassVar[int | None] = None
    path_kind: ClassVar[PathKind] = "file"
    path_required: ClassVar[bool] = True
    path_local: ClassVar[bool] = True
    memory_path: ClassVar[bool] = True
    path_example: ClassVar[str | None] = "/data/warehouse.duckdb"
    confined_options: ClassVar[dict[str, str]] = {}  # DuckDBEngine narrows its extensions
    approx_distinct: ClassVar[str | None] = "approx_count_distinct"
    stddev: ClassVar[str | None] = "stddev_samp"


class DataFusionAbilities:
    """DataFusion: an in-process session, optionally over a folder of data files."""

    name: ClassVar[str] = "datafusion"
    label: ClassVar[str] = "DataFusion"
    icon: ClassVar[str] = "bolt"
    supports_cancel: ClassVar[bool] = True
    paramstyle: ClassVar[str] = "numeric_dollar"  # $1, $2 … (or $name with a dict)
    default_schema: ClassVar[str | None] = "public"
    can_explain: ClassVar[bool] = False
    can_attach: ClassVar[bool] = False
    attachable: ClassVar[bool] = False
    file_views: ClassVar[bool] = False
    registers_files: ClassVar[bool] = True
    describes_schema: ClassVar[bool] = False
    schema_objects: ClassVar[str | None] = None
    administrable: ClassVar[bool] = False
    etl_sink: ClassVar[bool] = False
    code_reader: ClassVar[str | None] = None
    run_permission: ClassVar[str | None] = None
    connection_fields: ClassVar[tuple[str, ...]] = ("path",)
    host_required: ClassVar[bool] = False
    default_port: ClassVar[int | None] = None
    path_kind: ClassVar[PathKind] = "folder"
    path_required: ClassVar[bool] = False  # empty: an in-memory session
    path_local: ClassVar[bool] = True
    memory_path: ClassVar[bool] = False
    path_example: ClassVar[str | None] = None
    confined_options: ClassVar[dict[str, str]] = {}
    approx_distinct: ClassVar[str | None] = "approx_distinct"
    stddev: ClassVar[str | None] = "stddev"


class ClusterAbilities:
    """The cluster: Daft on a Ray head; its folder is a path on the cluster's nodes."""

    name: ClassVar[str] = "cluster"
    label: ClassVar[str] = "Cluster (Ray + Daft)"
    icon: ClassVar[str] = "hub"
    supports_cancel: ClassVar[bool] = True
    paramstyle: ClassVar[str] = "qmark"  # bound parameters are refused by execute
    default_schema: ClassVar[str | None] = "default"
    can_explain: ClassVar[bool] = False
    can_attach: ClassVar[bool] = False
    attachable: ClassVar[bool] = False
    file_views: ClassVar[bool] = False
    registers_files: ClassVar[bool] = False
    describes_schema: ClassVar[bool] = False
    schema_objects: ClassVar[str | None] = None
    administrable: ClassVar[bool] = False
    etl_sink: ClassVar[bool] = False
    code_reader: ClassVar[str | None] = None
    run_permission: ClassVar[str | None] = "cluster.submit"  # the cluster's own permission
    connection_fields: ClassVar[tuple[str, ...]] = ("host", "port", "path")
    host_required: ClassVar[bool] = False  # the head defaults to 127.0.0.1
    default_port: ClassVar[int | None] = 8814
    path_kind: ClassVar[PathKind] = "folder"
    path_required: ClassVar[bool] = False
    path_local: ClassVar[bool] = False  # the same path on every node, not this machine's
    memory_path: ClassVar[bool] = False
    path_example: ClassVar[str | None] = None
    confined_options: ClassVar[dict[str, str]] = {}
    approx_distinct: ClassVar[str | None] = None
    stddev: ClassVar[str | None] = "stddev"


ABILITIES: dict[str, type[Abilities]] = {
    row.name: row
    for row in (
        PostgresAbilities,
        SQLiteAbilities,
        DuckDBAbilities,
        DataFusionAbilities,
        ClusterAbilities,
    )
}


def engine_abilities(name: str) -> type[Abilities]:
    """What the engine called `name` can do (no driver is imported)."""
    try:
        return ABILITIES[name]
    except KeyError:
        raise BadInput(
            f"Unknown engine {name!r}: use one of {', '.join(ENGINE_NAMES)}.", "Unknown engine"
        ) from None
