"""What the server offers a backup or restore: its user schemas and dumpable relations (the
schema/table pickers) and the databases a restore can go into."""

from __future__ import annotations

from dataclasses import dataclass

from tusk.admin import AdminConnection
from tusk.admin.backup.options import BackupOptions

# Dumpable relations of user schemas: what the schema/table pickers offer.
_CATALOG_SQL = """
select n.nspname as schema, c.relname as name, c.relkind::text as kind
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
  and n.nspname not in ('pg_catalog', 'information_schema')
  and n.nspname not like 'pg\\_toast%%'
  and n.nspname not like 'pg\\_temp\\_%%'
order by 1, 2
"""
_SCHEMAS_SQL = """
select nspname as schema from pg_namespace
where nspname not in ('pg_catalog', 'information_schema')
  and nspname not like 'pg\\_toast%%' and nspname not like 'pg\\_temp\\_%%'
order by 1
"""
_DATABASES_SQL = """
select datname from pg_database
where datallowconn and not datistemplate
order by datname
"""


@dataclass(frozen=True)
class DumpCatalog:
    """What a backup can pick from: the user schemas and their dumpable relations."""

    schemas: tuple[str, ...]
    tables: tuple[tuple[str, str, str], ...]  # (schema, name, relkind)

    def data_tables(self, options: BackupOptions) -> int:
        """How many tables' rows the options dump (the progress total)."""
        if options.schema_only:
            return 0
        chosen = set(options.tables)
        wanted = set(options.schemas)
        count = 0
        for schema, name, kind in self.tables:
            if kind != "r":
                continue
            if chosen:
                count += (schema, name) in chosen
            elif wanted:
                count += schema in wanted
            else:
                count += 1
        return count


def dump_catalog(conn: AdminConnection) -> DumpCatalog:
    """The schemas and relations of the connection's database, for choosing what to back up."""
    schemas = tuple(str(r["schema"]) for r in conn.rows(_SCHEMAS_SQL))
    tables = tuple(
        (str(r["schema"]), str(r["name"]), str(r["kind"])) for r in conn.rows(_CATALOG_SQL)
    )
    return DumpCatalog(schemas, tables)


def list_databases(conn: AdminConnection) -> list[str]:
    """Databases on the server that a restore can go into (no templates)."""
    return [str(r["datname"]) for r in conn.rows(_DATABASES_SQL)]
