"""The differences between two schema snapshots, A and B: what turning A into B changes.

"added" is in B but not in A, "removed" in A but not in B, "changed" in both but different.
Tables, views, sequences and indexes are matched by name, constraints by table and name (a
primary key by table: a table has one), columns by table and name; column order is not
compared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, TypeVar

from tusk.schemadiff.model import Column, Constraint, Index, SchemaSnapshot, Sequence, Table, View

Change = Literal["added", "removed", "changed"]
_Named = TypeVar("_Named", Table, View, Sequence, Index, Column, Constraint)

KINDS = (
    "table",
    "column",
    "primary key",
    "unique",
    "check",
    "foreign key",
    "exclusion",
    "index",
    "view",
    "materialized view",
    "sequence",
    "comment",
)


@dataclass(frozen=True)
class Difference:
    """One difference: its kind, the object's name, the change, and each side as text."""

    kind: str
    name: str  # "table", "table.column", "table.constraint", …
    change: Change
    a: str | None  # A's side (None: A has none)
    b: str | None  # B's side
    aspect: str = ""  # what changed on a column: type, nullability, default, identity, …


def compare(a: SchemaSnapshot, b: SchemaSnapshot) -> list[Difference]:
    """Every difference that turning schema A into schema B takes, tables first."""
    out: list[Difference] = []
    for name, ta, tb in pairs(a.tables, b.tables):
        if ta is not None and tb is not None:
            out += _table_differences(ta, tb)
        elif tb is not None:
            out.append(Difference("table", name, "added", None, _table_text(tb)))
        elif ta is not None:
            out.append(Difference("table", name, "removed", _table_text(ta), None))
    if (a.complete and b.complete) or (a.verbatim and b.verbatim):
        out += _index_differences(a.indexes, b.indexes)
        out += _view_differences(a.views, b.views)
    if a.complete and b.complete:
        out += _sequence_differences(a.sequences, b.sequences)
    return out


def pairs(
    left: tuple[_Named, ...], right: tuple[_Named, ...]
) -> list[tuple[str, _Named | None, _Named | None]]:
    """Objects matched by name: (name, A's or None, B's or None), in name order."""
    by_a = {x.name: x for x in left}
    by_b = {x.name: x for x in right}
    return [(n, by_a.get(n), by_b.get(n)) for n in sorted(by_a.keys() | by_b.keys())]


def _table_differences(ta: Table, tb: Table) -> list[Difference]:
    out: list[Difference] = []
    t = ta.name
    for name, ca, cb in pairs(ta.columns, tb.columns):
        where = f"{t}.{name}"
        if ca is None and cb is not None:
            out.append(Difference("column", where, "added", None, column_text(cb)))
        elif cb is None and ca is not None:
            out.append(Difference("column", where, "removed", column_text(ca), None))
        elif ca is not None and cb is not None:
            for aspect, va, vb in _column_aspects(ca, cb):
                if va != vb:
                    out.append(Difference("column", where, "changed", va, vb, aspect))
    pka, pkb = ta.primary_key, tb.primary_key
    if pka != pkb:
        change: Change = "added" if pka is None else "removed" if pkb is None else "changed"
        out.append(
            Difference(
                "primary key",
                t,
                change,
                _constraint_text(pka) if pka else None,
                _constraint_text(pkb) if pkb else None,
            )
        )
    others_a = tuple(k for k in ta.constraints if k.kind != "primary key")
    others_b = tuple(k for k in tb.constraints if k.kind != "primary key")
    for name, ka, kb in pairs(others_a, others_b):
        kind = (ka or kb).kind  # type: ignore[union-attr]  # one side is always there
        if ka is None or kb is None:
            change = "added" if ka is None else "removed"
        elif not same_constraint(ka, kb):
            change = "changed"
        else:
            continue
        out.append(
            Difference(
                kind,
                f"{t}.{name}",
                change,
                _constraint_text(ka) if ka else None,
                _constraint_text(kb) if kb else None,
            )
        )
    if ta.comment != tb.comment:
        out.append(
            Difference("comment", t, _change(ta.comment, tb.comment), ta.comment, tb.comment)
        )
    return out


def _column_aspects(ca: Column, cb: Column) -> list[tuple[str, str | None, str | None]]:
    """(aspect, A's text, B's text) for each compared part of a column."""
    return [
        ("type", ca.type, cb.type),
        ("nullability", _null_text(ca), _null_text(cb)),
        ("default", ca.default, cb.default),
        ("identity", ca.identity, cb.identity),
        ("generated", ca.generated, cb.generated),
        ("comment", ca.comment, cb.comment),
    ]


def _null_text(c: Column) -> str:
    return "NULL" if c.nullable else "NOT NULL"


def _change(va: object, vb: object) -> Change:
    return "added" if va is None else "removed" if vb is None else "changed"


def same_constraint(ka: Constraint, kb: Constraint) -> bool:
    """True when two constraints of the same name are the same (kind and definition)."""
    return ka.kind == kb.kind and ka.definition == kb.definition


def same_view(va: View, vb: View) -> bool:
    """True when two views of the same name have the same kind and query (spacing aside)."""
    return va.materialized == vb.materialized and _spaced(va.definition) == _spaced(vb.definition)


def same_index(ia: Index, ib: Index) -> bool:
    """True when two indexes of the same name index the same table the same way."""
    return (ia.table, ia.definition, ia.unique) == (ib.table, ib.definition, ib.unique)


def same_sequence(sa: Sequence, sb: Sequence) -> bool:
    """True when two sequences of the same name have the same settings and owner."""
    return sa == sb


def _spaced(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _index_differences(a: tuple[Index, ...], b: tuple[Index, ...]) -> list[Difference]:
    out = []
    for name, ia, ib in pairs(a, b):
        if ia is not None and ib is not None and same_index(ia, ib):
            continue
        change = _change(ia, ib)
        out.append(
            Difference(
                "index",
                name,
                change,
                index_text(ia) if ia else None,
                index_text(ib) if ib else None,
            )
        )
    return out


def _view_differences(a: tuple[View, ...], b: tuple[View, ...]) -> list[Difference]:
    out = []
    for name, va, vb in pairs(a, b):
        if va is not None and vb is not None:
            if not same_view(va, vb):
                kind = "materialized view" if vb.materialized else "view"
                out.append(Difference(kind, name, "changed", _view_text(va), _view_text(vb)))
            if va.comment != vb.comment:
                change = _change(va.comment, vb.comment)
                out.append(Difference("comment", name, change, va.comment, vb.comment))
            continue
        one = va or vb
        assert one is not None
        kind = "materialized view" if one.materialized else "view"
        change = _change(va, vb)
        out.append(
            Difference(
                kind, name, change, _view_text(va) if va else None, _view_text(vb) if vb else None
            )
        )
    return out


def _sequence_differences(a: tuple[Sequence, ...], b: tuple[Sequence, ...]) -> list[Difference]:
    out = []
    for name, sa, sb in pairs(a, b):
        if sa is not None and sb is not None and same_sequence(sa, sb):
            continue
        out.append(
            Difference(
                "sequence",
                name,
                _change(sa, sb),
                sequence_text(sa) if sa else None,
                sequence_text(sb) if sb else None,
            )
        )
    return out


# --- each side as text (what the page shows) ---------------------------------------------------


def column_text(c: Column) -> str:
    """A column as a line of its definition: `type NOT NULL DEFAULT …`."""
    parts = [c.type]
    if c.generated is not None:
        parts.append(f"GENERATED ALWAYS AS ({c.generated}) STORED")
    if c.identity is not None:
        parts.append(f"GENERATED {c.identity} AS IDENTITY")
    if not c.nullable:
        parts.append("NOT NULL")
    if c.default is not None:
        parts.append(f"DEFAULT {c.default}")
    return " ".join(parts)


def _table_text(t: Table) -> str:
    cols = ", ".join(f"{c.name} {column_text(c)}" for c in t.columns)
    return f"({cols})"


def _constraint_text(k: Constraint) -> str:
    return f"{k.name}: {k.definition}"


def index_text(i: Index) -> str:
    """An index as `[UNIQUE] ON table USING …` (or the engine's own CREATE statement)."""
    if i.definition[:7].upper() == "CREATE ":
        return _spaced(i.definition)
    return f"{'UNIQUE ' if i.unique else ''}ON {i.table} {i.definition}"


def _view_text(v: View) -> str:
    return _spaced(v.definition)


def sequence_text(s: Sequence) -> str:
    """A sequence's settings on one line."""
    text = (
        f"{s.data_type} start {s.start} increment {s.increment} min {s.min_value} "
        f"max {s.max_value} cache {s.cache}{' cycle' if s.cycle else ''}"
    )
    if s.owned_by:
        text += f" owned by {s.owned_by[0]}.{s.owned_by[1]}"
    return text
