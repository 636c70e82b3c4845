"""The DDL from A to B on snapshots built by hand: its order, its warnings, its quoting."""

from __future__ import annotations

import pytest

from tusk.schemadiff.ddl import Migration, lossless, migrate
from tusk.schemadiff.diff import compare
from tusk.schemadiff.model import Column, Constraint, Index, SchemaSnapshot, Sequence, Table, View

PK = Constraint("t_pkey", "primary key", "PRIMARY KEY (id)", ("id",))


def fk(name: str, table: str, action: str = "") -> Constraint:
    return Constraint(
        name,
        "foreign key",
        f"FOREIGN KEY (ref) REFERENCES {table}(id){action}",
        ("ref",),
        None,
        table,
        ("id",),
    )


def table(name: str, *columns: Column, constraints: tuple[Constraint, ...] = ()) -> Table:
    return Table(name, (Column("id", "integer", False), *columns), (PK, *constraints))


def snapshot(*tables: Table, **parts: object) -> SchemaSnapshot:
    return SchemaSnapshot("public", tables=tables, **parts)  # type: ignore[arg-type]


def position(m: Migration, start: str) -> int:
    """Index of the first statement starting with `start` (AssertionError if none)."""
    for i, s in enumerate(m.statements):
        if s.sql.startswith(start):
            return i
    raise AssertionError(f"no statement starts with {start!r}:\n{m.text()}")


def test_foreign_keys_go_before_the_tables_they_reference_and_come_after_them() -> None:
    a = snapshot(
        table("parent"),
        table("child", Column("ref", "integer"), constraints=(fk("c_fk", "parent"),)),
    )
    b = snapshot(
        table("parent2"),
        table("child", Column("ref", "integer"), constraints=(fk("c_fk", "parent2"),)),
    )
    m = migrate(a, b)
    drop_fk = position(m, "ALTER TABLE public.child DROP CONSTRAINT c_fk")
    drop_table = position(m, "DROP TABLE public.parent")
    create = position(m, "CREATE TABLE public.parent2")
    add_fk = position(m, "ALTER TABLE public.child ADD CONSTRAINT c_fk")
    assert drop_fk < drop_table < create < add_fk
    assert m.statements[drop_table].destructive
    assert not m.statements[create].destructive


def test_a_new_table_s_own_foreign_key_comes_after_the_table_it_references() -> None:
    b = snapshot(
        table("a_child", Column("ref", "integer"), constraints=(fk("k", "z_parent"),)),
        table("z_parent"),
    )
    m = migrate(snapshot(), b)
    assert position(m, "CREATE TABLE public.z_parent") < position(
        m, "ALTER TABLE public.a_child ADD CONSTRAINT k"
    )
    assert not m.warnings  # new tables hold no rows to lose or break


def test_views_on_a_retyped_column_are_dropped_first_and_made_again_after() -> None:
    view = View("v", "SELECT t.id FROM t", depends_on=("t",))
    top = View("top", "SELECT v.id FROM v", depends_on=("v",))
    a = snapshot(table("t", Column("n", "integer")), views=(view, top))
    b = snapshot(table("t", Column("n", "text")), views=(view, top))
    m = migrate(a, b)
    drop_top, drop_v = position(m, "DROP VIEW public.top"), position(m, "DROP VIEW public.v")
    alter = position(m, "ALTER TABLE public.t ALTER COLUMN n TYPE text")
    make_v, make_top = position(m, "CREATE VIEW public.v"), position(m, "CREATE VIEW public.top")
    assert drop_top < drop_v < alter < make_v < make_top
    assert compare(a, b)[0].aspect == "type"  # the views themselves are the same
    assert len(compare(a, b)) == 1


def test_sequences_come_before_the_tables_whose_defaults_call_them() -> None:
    col = Column("n", "bigint", True, "nextval('s'::regclass)")
    b = snapshot(table("t", col), sequences=(Sequence("s", owned_by=("t", "n")),))
    m = migrate(snapshot(), b)
    assert (
        position(m, "CREATE SEQUENCE public.s")
        < position(m, "CREATE TABLE public.t")
        < position(m, "ALTER SEQUENCE public.s OWNED BY public.t.n")
    )


def test_a_sequence_kept_but_no_longer_owned_is_released_before_its_table_goes() -> None:
    a = snapshot(table("t"), sequences=(Sequence("s", owned_by=("t", "id")),))
    b = snapshot(sequences=(Sequence("s"),))
    m = migrate(a, b)
    assert position(m, "ALTER SEQUENCE public.s OWNED BY NONE") < position(m, "DROP TABLE public.t")


def test_indexes_and_constraints_are_dropped_before_columns_and_made_after() -> None:
    check = Constraint("c", "check", "CHECK ((n > 0))", ("n",))
    a = snapshot(
        table("t", Column("n", "integer"), constraints=(check,)),
        indexes=(Index("i", "t", "USING btree (n)"),),
    )
    b = snapshot(table("t", Column("m", "integer")), indexes=(Index("i", "t", "USING btree (m)"),))
    m = migrate(a, b)
    assert position(m, "DROP INDEX public.i") < position(m, "ALTER TABLE public.t DROP COLUMN n")
    assert position(m, "ALTER TABLE public.t DROP CONSTRAINT c") < position(
        m, "ALTER TABLE public.t DROP COLUMN n"
    )
    assert position(m, "ALTER TABLE public.t ADD COLUMN m") < position(
        m, "CREATE INDEX i ON public.t"
    )


@pytest.mark.parametrize(
    ("old", "new", "destructive"),
    [
        (Column("c", "integer"), Column("c", "bigint"), False),
        (Column("c", "bigint"), Column("c", "integer"), True),
        (Column("c", "character varying(10)"), Column("c", "text"), False),
        (Column("c", "text"), Column("c", "character varying(10)"), True),
        (Column("c", "integer", True), Column("c", "integer", False), True),  # SET NOT NULL
        (Column("c", "integer", False), Column("c", "integer", True), False),
        (Column("c", "integer"), Column("c", "integer", True, "1"), False),
    ],
)
def test_changes_that_can_lose_data_or_fail_carry_a_warning(
    old: Column, new: Column, destructive: bool
) -> None:
    m = migrate(snapshot(table("t", old)), snapshot(table("t", new)))
    assert any(s.destructive for s in m.changes) == destructive, m.text()
    assert m.text().count("-- WARNING") == len(m.warnings)


def test_dropping_a_column_or_adding_a_not_null_one_without_default_is_flagged() -> None:
    m = migrate(
        snapshot(table("t", Column("old", "text"))),
        snapshot(table("t", Column("new", "text", False))),
    )
    flagged = [s.sql for s in m.statements if s.destructive]
    assert flagged == [
        "ALTER TABLE public.t DROP COLUMN old",
        "ALTER TABLE public.t ADD COLUMN new text NOT NULL",
    ]
    assert "-- WARNING: drops the column and its data" in m.text()


@pytest.mark.parametrize(
    ("old", "new", "kept"),
    [
        ("smallint", "bigint", True),
        ("integer", "numeric", True),
        ("numeric(10,2)", "numeric(12,2)", True),
        ("numeric(10,2)", "numeric(10,3)", False),
        ("numeric(10,2)", "numeric", True),
        ("character varying(5)", "character varying", True),
        ("character varying(5)", "character varying(4)", False),
        ("timestamp without time zone", "timestamp with time zone", False),
        ("text", "integer", False),
    ],
)
def test_lossless_type_changes(old: str, new: str, kept: bool) -> None:
    assert lossless(old, new) == kept


def test_names_are_quoted_and_comments_are_literals() -> None:
    hostile = 'x"; drop table y; --'
    t = Table(hostile, (Column("My Col", "text", comment="it's"),), comment="a 'b' \\ c")
    m = migrate(SchemaSnapshot("Mixed Case"), SchemaSnapshot("other", tables=(t,)))
    text = m.text()
    assert 'CREATE TABLE "Mixed Case"."x""; drop table y; --" (\n  "My Col" text\n)' in text
    assert "IS 'a ''b'' \\ c'" in text
    assert """."My Col" IS 'it''s'""" in text
    assert text.startswith("-- Generated by Tusk")
    assert 'SET search_path TO "Mixed Case";' in text


def test_the_same_schema_needs_nothing() -> None:
    s = snapshot(table("t", Column("n", "integer")), views=(View("v", "SELECT 1"),))
    m = migrate(s, s)
    assert m.changes == ()
    assert compare(s, s) == []
    assert "nothing to change" in m.text()


def test_an_incomplete_snapshot_compares_tables_only() -> None:
    a = SchemaSnapshot("main", tables=(table("t"),), views=(View("v", "x"),), complete=False)
    b = SchemaSnapshot("main", tables=(table("t"),), complete=False)
    assert compare(a, b) == []
    assert migrate(a, b).changes == ()
