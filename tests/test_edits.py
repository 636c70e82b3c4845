"""Editing results: which are editable, the statements, and one transaction per apply."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tusk.catalog import Catalog
from tusk.edits import (
    EditConflict,
    EditPlan,
    RowDelete,
    RowInsert,
    RowUpdate,
    apply,
    editable,
)
from tusk.engines.base import Connection
from tusk.engines.registry import connect
from tusk.engines.spec import ConnectionSpec
from tusk.errors import QueryFailed

TABLE = 'x"; drop table y; --'
COL = "Note; --"
CREATE = f'create table "x""; drop table y; --" (id integer primary key, "{COL}" varchar, n integer not null)'


@pytest.fixture(params=["duckdb", "sqlite", "postgres"])
def db(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[ConnectionSpec, Connection]]:
    """A table with a hostile name and column on each engine that can edit, rows 1..5."""
    name = request.param
    if name == "postgres":
        request.applymarker(pytest.mark.postgres)
        spec = request.getfixturevalue("pg").with_changes(name="pg")
    else:
        spec = ConnectionSpec(name, name, path=str(tmp_path / f"e.{name}"))
    conn = connect(spec)
    conn.execute('drop table if exists "x""; drop table y; --"')
    conn.execute(CREATE)
    for i in range(1, 6):
        conn.execute(
            f'insert into "x""; drop table y; --" values ({i}, ' + f"'note {i}', {i * 10})"
        )
    yield spec, conn
    if name == "postgres":
        conn.execute('drop table if exists "x""; drop table y; --"')
    conn.close()


def _rows(conn: Connection) -> list[tuple]:
    table = conn.execute(
        'select id, "Note; --", n from "x""; drop table y; --" order by id', limit=None
    ).table
    return [tuple(r.values()) for r in table.to_pylist()]


def _target(spec: ConnectionSpec, conn: Connection, sql: str):  # noqa: ANN202
    preview = conn.execute(sql, limit=10).table
    return editable(sql, spec.engine, conn.catalog(), preview.column_names)


def test_which_results_are_editable(db: tuple[ConnectionSpec, Connection]) -> None:
    """One table with its key (star, columns, aliases) is; no key, joins, grouping,
    expressions and DISTINCT are not."""
    spec, conn = db
    star = _target(spec, conn, 'select * from "x""; drop table y; --" where n > 10')
    assert star is not None and star.key == ("id",) and star.table.name == TABLE
    aliased = _target(spec, conn, f'select id as i, "{COL}" from "x""; drop table y; --"')
    assert aliased is not None and dict(aliased.columns) == {"i": "id", COL: COL}
    for sql in (
        f'select "{COL}" from "x""; drop table y; --"',  # no key
        'select id, n + 1 as m from "x""; drop table y; --"',
        'select distinct id, n from "x""; drop table y; --"',
        'select n, count(*) from "x""; drop table y; --" group by n',
        'select a.id from "x""; drop table y; --" a join "x""; drop table y; --" b on a.id = b.id',
    ):
        assert _target(spec, conn, sql) is None, sql


def test_apply_updates_inserts_and_deletes(db: tuple[ConnectionSpec, Connection]) -> None:
    """One plan: an update keyed by id, an insert and a delete, counts of one each."""
    spec, conn = db
    target = _target(spec, conn, 'select * from "x""; drop table y; --"')
    assert target is not None
    plan = EditPlan(
        target,
        updates=[RowUpdate({"id": 2}, {COL: ("note 2", "changed"), "n": (20, 21)})],
        inserts=[RowInsert({"id": 9, COL: "", "n": 90})],
        deletes=[RowDelete({"id": 5})],
    )
    texts = [s.text for s in plan.statements(spec.engine)]
    schema = target.table.schema
    assert texts[0] == (
        f'update {schema}."x""; drop table y; --" set "Note; --" = :p0, n = :p1 where id = :p2 '
        'and "Note; --" is not distinct from :p3 and n is not distinct from :p4'
    )
    applied = apply(spec, conn, plan)
    assert applied.counts == (1, 1, 1)
    assert _rows(conn) == [
        (1, "note 1", 10),
        (2, "changed", 21),
        (3, "note 3", 30),
        (4, "note 4", 40),
        (9, "", 90),  # an empty string stays an empty string, not NULL
    ]


def test_a_row_changed_since_it_was_read_rolls_everything_back(
    db: tuple[ConnectionSpec, Connection],
) -> None:
    """The second update expects n = 30 but someone made it 31: nothing is written, the
    conflict names the change, and the connection is usable afterwards."""
    spec, conn = db
    target = _target(spec, conn, 'select * from "x""; drop table y; --"')
    assert target is not None
    conn.execute('update "x""; drop table y; --" set n = 31 where id = 3')  # someone else
    plan = EditPlan(
        target,
        updates=[
            RowUpdate({"id": 1}, {"n": (10, 11)}),
            RowUpdate({"id": 3}, {"n": (30, 33)}),
        ],
        deletes=[RowDelete({"id": 4})],
    )
    before = _rows(conn)
    with pytest.raises(EditConflict, match="Change 2 \\(update id=3\\) touched no row") as caught:
        apply(spec, conn, plan)
    assert caught.value.index == 1
    assert _rows(conn) == before
    conn.execute("select 1")  # the transaction is closed


def test_a_failing_constraint_rolls_back(db: tuple[ConnectionSpec, Connection]) -> None:
    """A NOT NULL violation in the last statement: the update before it is undone too."""
    spec, conn = db
    target = _target(spec, conn, 'select * from "x""; drop table y; --"')
    assert target is not None
    plan = EditPlan(
        target,
        updates=[RowUpdate({"id": 1}, {"n": (10, 12)})],
        inserts=[RowInsert({"id": 7, "n": None})],
    )
    before = _rows(conn)
    with pytest.raises(QueryFailed):
        apply(spec, conn, plan)
    assert _rows(conn) == before


@pytest.mark.postgres
def test_postgres_types_round_trip(pg: ConnectionSpec) -> None:
    """numeric stays exact, timestamptz keeps its instant, json and arrays go in as edited,
    bytea not edited is untouched, NULL and '' stay apart."""
    spec = pg.with_changes(name="pg")
    conn = connect(spec)
    conn.execute(
        "drop table if exists edit_types; create table edit_types (id int primary key, "
        "amount numeric(30, 10), at timestamptz, doc jsonb, tags text[], blob bytea, "
        "note text); insert into edit_types values (1, 1.5, '2024-01-01 00:00+00', "
        "'{\"a\": 1}', '{x}', '\\x00ff', null)"
    )
    sql = "select * from edit_types"
    target = editable(sql, "postgres", conn.catalog(), conn.execute(sql).table.column_names)
    assert target is not None
    row = conn.execute(sql).table.to_pylist()[0]
    amount = Decimal("12345678901234567890.0123456789")
    at = dt.datetime(2024, 6, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    plan = EditPlan(
        target,
        updates=[
            RowUpdate(
                {"id": 1},
                {
                    "amount": (row["amount"], amount),
                    "at": (row["at"], at),
                    "doc": (row["doc"], json.dumps({"b": [1, 2]})),
                    "tags": (row["tags"], ["y", "z"]),
                    "note": (None, ""),
                },
            )
        ],
    )
    apply(spec, conn, plan)
    got = conn.execute(
        "select amount::text, at = '2024-06-01 10:30+00', doc::text, tags, "
        "blob = '\\x00ff'::bytea, note from edit_types"
    ).table.to_pylist()[0]
    assert list(got.values()) == [str(amount), True, '{"b": [1, 2]}', ["y", "z"], True, ""]
    conn.execute("drop table edit_types")
    conn.close()


def test_empty_catalog_is_not_editable() -> None:
    assert editable("select * from t", "duckdb", Catalog(), ["a"]) is None
