"""One PostgreSQL schema's definition from pg_catalog, for the schema comparison.

Everything is read in one read-only transaction whose search_path is the schema itself, so the
server prints names of that schema unqualified (defaults, checks, foreign keys, view text) and
two schemas of different names compare equal when their objects are. A statement timeout
bounds every query: a server that stops answering gives an error, not a hung page.
"""

from __future__ import annotations

from typing import Any

import psycopg

from tusk.errors import BadInput
from tusk.schemadiff.model import Column, Constraint, Index, SchemaSnapshot, Sequence, Table, View

STATEMENT_TIMEOUT = "30s"

_SETUP = """
select set_config('search_path', format('%%I', %(schema)s::text), true),
       set_config('statement_timeout', %(timeout)s, true),
       exists (select 1 from pg_namespace where nspname = %(schema)s)
"""

_TABLES = """
select c.relname, obj_description(c.oid, 'pg_class')
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = %(schema)s and c.relkind = 'r' and not c.relispartition
order by c.relname
"""

_COLUMNS = """
select c.relname, a.attname, format_type(a.atttypid, a.atttypmod), not a.attnotnull,
       case when a.attgenerated = '' then pg_get_expr(d.adbin, d.adrelid) end,
       case a.attidentity when 'a' then 'ALWAYS' when 'd' then 'BY DEFAULT' end,
       case when a.attgenerated <> '' then pg_get_expr(d.adbin, d.adrelid) end,
       col_description(c.oid, a.attnum)
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
where n.nspname = %(schema)s and c.relkind = 'r' and not c.relispartition
  and a.attnum > 0 and not a.attisdropped
order by c.relname, a.attnum
"""

_CONSTRAINTS = """
select c.relname, k.conname, k.contype::text, pg_get_constraintdef(k.oid),
       array(select a.attname from unnest(k.conkey) with ordinality u(num, ord)
             join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.num
             order by u.ord)::text[],
       fn.nspname, fc.relname,
       array(select a.attname from unnest(k.confkey) with ordinality u(num, ord)
             join pg_attribute a on a.attrelid = k.confrelid and a.attnum = u.num
             order by u.ord)::text[]
from pg_constraint k
join pg_class c on c.oid = k.conrelid
join pg_namespace n on n.oid = c.relnamespace
left join pg_class fc on fc.oid = k.confrelid
left join pg_namespace fn on fn.oid = fc.relnamespace
where n.nspname = %(schema)s and c.relkind = 'r' and not c.relispartition
  and k.contype in ('p', 'u', 'c', 'f', 'x')
order by c.relname, k.conname
"""

# Indexes that back a constraint (primary key, unique, exclusion) come with the constraint.
_INDEXES = """
select i.relname, t.relname, pg_get_indexdef(x.indexrelid), x.indisunique,
       quote_ident(i.relname), format('%%I.%%I', n.nspname, t.relname)
from pg_index x
join pg_class i on i.oid = x.indexrelid
join pg_class t on t.oid = x.indrelid
join pg_namespace n on n.oid = t.relnamespace
where n.nspname = %(schema)s and t.relkind in ('r', 'm') and not t.relispartition
  and not exists (select 1 from pg_constraint k
                  where k.conrelid = x.indrelid and k.conindid = x.indexrelid
                    and k.contype in ('p', 'u', 'x'))
order by i.relname
"""

_VIEWS = """
select c.relname, c.relkind = 'm', pg_get_viewdef(c.oid), obj_description(c.oid, 'pg_class'),
       array(select distinct dc.relname
             from pg_rewrite r
             join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = r.oid
                             and d.refclassid = 'pg_class'::regclass
             join pg_class dc on dc.oid = d.refobjid
             where r.ev_class = c.oid and dc.oid <> c.oid
               and dc.relnamespace = c.relnamespace
             order by 1)::text[]
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = %(schema)s and c.relkind in ('v', 'm')
order by c.relname
"""

# Identity columns' sequences belong to their column (deptype 'i') and are left out.
_SEQUENCES = """
select c.relname, format_type(s.seqtypid, null), s.seqstart, s.seqincrement, s.seqmin,
       s.seqmax, s.seqcache, s.seqcycle, ot.relname, oa.attname
from pg_sequence s
join pg_class c on c.oid = s.seqrelid
join pg_namespace n on n.oid = c.relnamespace
left join pg_depend d on d.classid = 'pg_class'::regclass and d.objid = c.oid
                     and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i')
left join pg_class ot on ot.oid = d.refobjid and ot.relnamespace = c.relnamespace
left join pg_attribute oa on oa.attrelid = d.refobjid and oa.attnum = d.refobjsubid
where n.nspname = %(schema)s and (d.deptype is null or d.deptype = 'a')
order by c.relname
"""

_CONSTRAINT_KINDS = {
    "p": "primary key",
    "u": "unique",
    "c": "check",
    "f": "foreign key",
    "x": "exclusion",
}


def describe(conn: psycopg.Connection, schema: str) -> SchemaSnapshot:
    """Read `schema`'s tables, columns, constraints, indexes, views and sequences (BadInput
    when there is no such schema; psycopg errors pass to the caller)."""
    params: dict[str, Any] = {"schema": schema, "timeout": STATEMENT_TIMEOUT}
    with conn.transaction(), conn.cursor() as cur:
        row = cur.execute(_SETUP, params).fetchone()
        if row is None or not row[2]:
            raise BadInput(f"There is no schema {schema!r} in this database.", "No such schema")
        tables = cur.execute(_TABLES, params).fetchall()
        columns = cur.execute(_COLUMNS, params).fetchall()
        constraints = cur.execute(_CONSTRAINTS, params).fetchall()
        indexes = cur.execute(_INDEXES, params).fetchall()
        views = cur.execute(_VIEWS, params).fetchall()
        sequences = cur.execute(_SEQUENCES, params).fetchall()
    cols: dict[str, list[Column]] = {}
    for table, name, type_, nullable, default, identity, generated, comment in columns:
        cols.setdefault(table, []).append(
            Column(name, type_, nullable, default, identity, generated, comment)
        )
    cons: dict[str, list[Constraint]] = {}
    for table, name, kind, definition, keys, ref_schema, ref_table, ref_keys in constraints:
        cons.setdefault(table, []).append(
            Constraint(
                name,
                _CONSTRAINT_KINDS[kind],
                definition,
                tuple(keys),
                None if ref_schema in (None, schema) else ref_schema,
                ref_table,
                tuple(ref_keys or ()),
            )
        )
    return SchemaSnapshot(
        schema,
        tables=tuple(
            Table(name, tuple(cols.get(name, ())), tuple(cons.get(name, ())), comment)
            for name, comment in tables
        ),
        views=tuple(
            View(name, _query_text(definition), materialized, tuple(deps), comment)
            for name, materialized, definition, comment, deps in views
        ),
        indexes=tuple(_index(*row) for row in indexes),
        sequences=tuple(
            Sequence(
                name,
                type_,
                start,
                increment,
                min_value,
                max_value,
                cache,
                cycle,
                (owner, column) if owner is not None and column is not None else None,
            )
            for name, type_, start, increment, min_value, max_value, cache, cycle, owner, column in (
                sequences
            )
        ),
    )


def _index(
    name: str, table: str, definition: str, unique: bool, quoted: str, qualified: str
) -> Index:
    """An index with its definition cut after `ON [ONLY] schema.table ` (pg_get_indexdef
    always qualifies the table, which must not count as a difference between schemas)."""
    head = f"CREATE {'UNIQUE ' if unique else ''}INDEX {quoted} ON "
    rest = definition[len(head) :] if definition.startswith(head) else definition
    if rest.startswith("ONLY "):
        rest = rest[len("ONLY ") :]
    if rest.startswith(qualified + " "):
        rest = rest[len(qualified) + 1 :]
    return Index(name, table, rest, unique)


def _query_text(definition: str) -> str:
    """A view's query as pg_get_viewdef prints it, without the closing semicolon."""
    return definition.strip().removesuffix(";").rstrip()
