"""Editing a result in place: which results can be edited, the exact statements an edit
becomes, and applying them in one transaction that any conflict rolls back.

A result is editable when its statement reads one table of the catalog with a primary key, with
plain columns (no expressions, joins, grouping or DISTINCT) that include the whole key. An edit
becomes parameterised statements keyed by the primary key:

- UPDATE … SET changed columns WHERE key = old key AND each changed column IS NOT DISTINCT
  FROM the value it had when read: a row someone else changed since is not overwritten;
- INSERT … (columns) VALUES (…);
- DELETE … WHERE key = old key.

`apply` runs them between BEGIN and COMMIT; a statement that touches any number of rows but
one rolls everything back and names the row. Values are parameters, names quoted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from tusk.catalog import Catalog, Table
from tusk.completion import SQLGLOT_DIALECTS, quote_name
from tusk.errors import BadInput, QueryFailed, TuskError
from tusk.queries import Statement, authorize, bind

if TYPE_CHECKING:
    from tusk.auth.schema import User
    from tusk.engines.base import Connection
    from tusk.engines.spec import ConnectionSpec


@dataclass(frozen=True)
class EditTarget:
    """The table a result came from and how its columns map onto the table's."""

    table: Table
    key: tuple[str, ...]  # the primary key's columns (names in the table)
    columns: Mapping[str, str]  # result column → table column

    @property
    def sql_name(self) -> str:
        """The table's name as SQL, each part quoted."""
        parts = [self.table.database, self.table.schema, self.table.name]
        return ".".join(quote_name(p) for p in parts if p)


@dataclass(frozen=True)
class RowUpdate:
    """Cells changed in one row: the row's key and, per table column, (old, new)."""

    key: Mapping[str, Any]
    changes: Mapping[str, tuple[Any, Any]]


@dataclass(frozen=True)
class RowInsert:
    """A new row: its values by table column."""

    values: Mapping[str, Any]


@dataclass(frozen=True)
class RowDelete:
    """A row to delete, by its key."""

    key: Mapping[str, Any]


Change = RowUpdate | RowInsert | RowDelete


@dataclass
class EditPlan:
    """The edits of one result, in the order they run: updates, inserts, then deletes."""

    target: EditTarget
    updates: list[RowUpdate] = field(default_factory=list)
    inserts: list[RowInsert] = field(default_factory=list)
    deletes: list[RowDelete] = field(default_factory=list)

    @property
    def changes(self) -> list[Change]:
        """Every change, in the order `statements` writes them."""
        return [*self.updates, *self.inserts, *self.deletes]

    def statements(self, engine: str) -> list[Statement]:
        """The statements, parameterised in the engine's paramstyle (text with `:pN` names)."""
        return [_statement(self.target, change, engine) for change in self.changes]


@dataclass(frozen=True)
class Applied:
    """What `apply` did: rows touched per statement, all committed together."""

    statements: tuple[Statement, ...]
    counts: tuple[int, ...]


class EditConflict(QueryFailed):
    """A statement touched other than one row: everything was rolled back."""

    def __init__(self, index: int, change: Change, touched: int | None) -> None:
        what = describe(change)
        found = "no row" if not touched else f"{touched} rows"
        reason = (
            "it was changed or deleted since it was read"
            if not touched
            else "the key is not unique in the table"
        )
        super().__init__(
            f"Change {index + 1} ({what}) touched {found} where it should touch exactly one: "
            f"{reason}. Nothing was written; your edits are kept to correct.",
            "Edit conflict",
        )
        self.index = index
        self.change = change


def editable(
    sql: str, dialect: str, catalog: Catalog, result_columns: Sequence[str]
) -> EditTarget | None:
    """The table the result of `sql` can be edited in, or None (see the module's rules)."""
    try:
        statements = sqlglot.parse(sql, read=SQLGLOT_DIALECTS.get(dialect))
    except Exception:  # noqa: BLE001 - not parseable: not editable, nothing more to say
        return None
    if len(statements) != 1 or not isinstance(statements[0], exp.Select):
        return None
    select = statements[0]
    blocked = ("joins", "group", "having", "distinct", "with_", "laterals", "pivots")
    if any(select.args.get(k) for k in blocked):
        return None
    if select.find(exp.Window) or select.find(exp.AggFunc):
        return None
    source = select.args.get("from_")
    if source is None or not isinstance(source.this, exp.Table):
        return None
    ref = source.this
    if not isinstance(ref.this, exp.Identifier):
        return None  # a table function
    table = _find(catalog, ref.name, ref.db or None, ref.catalog or None, dialect)
    if table is None or table.kind != "table" or not table.primary_key:
        return None
    names = {c.name for c in table.columns}
    mapping: dict[str, str] = {}
    for projection in select.expressions:
        if isinstance(projection, exp.Star) or (
            isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
        ):
            mapping.update({n: n for n in names})
            continue
        column = projection.this if isinstance(projection, exp.Alias) else projection
        if not isinstance(column, exp.Column) or column.name not in names:
            return None
        mapping[projection.alias_or_name] = column.name
    shown = {c: mapping[c] for c in result_columns if c in mapping}
    if len(shown) != len(result_columns) or not set(table.primary_key) <= set(shown.values()):
        return None
    return EditTarget(table, tuple(table.primary_key), shown)


def apply(
    spec: ConnectionSpec, conn: Connection, plan: EditPlan, *, actor: User | None = None
) -> Applied:
    """Run the plan's statements in one transaction (needs what running SQL needs); any
    statement that touches other than one row, or fails, rolls all of them back."""
    from tusk.store import history

    authorize(spec, actor)
    statements = plan.statements(spec.engine)
    if not statements:
        raise BadInput("There are no edits to apply.", "No edits")
    counts: list[int] = []
    conn.execute("BEGIN", limit=None)
    try:
        for index, (statement, change) in enumerate(zip(statements, plan.changes, strict=True)):
            result = conn.execute(statement.sql, statement.params, limit=None)
            touched = result.affected_rows
            if touched != 1:
                raise EditConflict(index, change, touched)
            counts.append(touched)
        conn.execute("COMMIT", limit=None)
    except BaseException:
        with contextlib.suppress(TuskError):
            conn.execute("ROLLBACK", limit=None)
        raise
    who = actor.username if actor is not None else None
    for statement in statements:
        history.record(
            spec.name,
            spec.engine,
            statement.text,
            row_count=1,
            username=who,
            values=statement.values,
        )
    if actor is not None:
        from tusk.auth.audit import audit

        audit(
            who or "",
            "rows.edit",
            f"{spec.name}: {plan.target.table.qualified_name}",
            _summary(plan),
        )
    return Applied(tuple(statements), tuple(counts))


def describe(change: Change) -> str:
    """A change in a few words: "update id=3", "insert", "delete id=7"."""
    if isinstance(change, RowInsert):
        return "insert"
    key = ", ".join(f"{k}={v!r}" for k, v in change.key.items())
    return f"{'update' if isinstance(change, RowUpdate) else 'delete'} {key}"


def _summary(plan: EditPlan) -> str:
    return f"{len(plan.updates)} updated, {len(plan.inserts)} inserted, {len(plan.deletes)} deleted"


def _statement(target: EditTarget, change: Change, engine: str) -> Statement:
    """One change as SQL text with `:pN` parameters, bound for the engine."""
    values: dict[str, Any] = {}

    def param(value: Any) -> str:
        name = f"p{len(values)}"
        values[name] = value
        return f":{name}"

    def key_match(key: Mapping[str, Any]) -> list[str]:
        missing = [k for k in target.key if k not in key]
        if missing:
            raise BadInput(f"The row has no value for key column {missing[0]!r}.", "No key")
        return [f"{quote_name(k)} = {param(key[k])}" for k in target.key]

    if isinstance(change, RowUpdate):
        if not change.changes:
            raise BadInput("An update changes at least one cell.", "Nothing changed")
        sets = [f"{quote_name(c)} = {param(new)}" for c, (_, new) in change.changes.items()]
        where = key_match(change.key) + [
            f"{quote_name(c)} is not distinct from {param(old)}"
            for c, (old, _) in change.changes.items()
        ]
        text = f"update {target.sql_name} set {', '.join(sets)} where {' and '.join(where)}"  # noqa: S608
    elif isinstance(change, RowInsert):
        if not change.values:
            raise BadInput("A new row needs at least one value.", "Empty row")
        columns = ", ".join(quote_name(c) for c in change.values)
        placeholders = ", ".join(param(v) for v in change.values.values())
        text = f"insert into {target.sql_name} ({columns}) values ({placeholders})"  # noqa: S608
    else:
        text = f"delete from {target.sql_name} where {' and '.join(key_match(change.key))}"  # noqa: S608
    return bind(text, values, engine)


def _find(
    catalog: Catalog, name: str, schema: str | None, database: str | None, dialect: str
) -> Table | None:
    """The catalog table a FROM names (as the editor's completion resolves it)."""
    from tusk.completion import DEFAULT_SCHEMAS, _find_table, _Ref

    return _find_table(
        catalog, _Ref(name, False, schema, name, None, database), DEFAULT_SCHEMAS.get(dialect)
    )
