"""ER diagrams from a catalog: the tables and foreign keys to draw, as DOT, Mermaid and SVG.

A table is identified by (database, schema, name): DuckDB's attached databases carry their alias
in `database`, the connection's own tables None. The whole-schema overview is refused above
`OVERVIEW_LIMIT` tables (before any layout), and the focused view (a table and its neighbours
N foreign-key hops out, both directions) is capped at `FOCUS_LIMIT` tables, nearest first, with
the number left out said. The SVG is laid out on the server by `graphviz-pure` (Graphviz's dot
as a static program from a wheel): the picture shown is the picture exported.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
import unicodedata
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from tusk.catalog import Catalog, ForeignKey, Table
from tusk.errors import BadInput, TuskError

TableId = tuple[str | None, str, str]  # (database, schema, name); database None: the own one

# Above this many tables the whole-schema picture is refused. Measured with graphviz-pure on the
# 2-core box (8-column tables, one FK each): 150 tables lay out in 0.3 s into a ~1 MB SVG about
# 4,300 × 5,600 pt — some 6 × 8 screens, already more than a person reads without the search
# box, and a megabyte sent to the browser on every page run. Layout time is not the limit (250
# tables: 0.5 s); reading and the page's weight are. The focused view is the way into a bigger
# schema.
OVERVIEW_LIMIT = 150
# The focused view's cap: a hub table's 3-hop neighbourhood can be the whole schema. Nearest
# tables first; the rest are counted, never laid out (60 tables: ~0.15 s of layout, ~400 KB).
FOCUS_LIMIT = 60
MAX_HOPS = 3
# Columns drawn per table: key columns always, then the first others up to this many.
MAX_COLUMNS = 25
LAYOUT_TIMEOUT_S = 30.0
PROGRAM = "graphviz-pure"


def table_id(table: Table) -> TableId:
    """The (database, schema, name) that identifies a table in a catalog."""
    return (table.database, table.schema, table.name)


def display_name(tid: TableId) -> str:
    """[database.]schema.name, for display (names not quoted, not SQL)."""
    return ".".join(p for p in tid if p is not None)


@dataclass(frozen=True)
class Edge:
    """One foreign key drawn as one edge, composite keys included: `source` references `target`."""

    source: TableId
    target: TableId
    columns: tuple[str, ...]
    ref_columns: tuple[str, ...]
    name: str | None = None

    @property
    def label(self) -> str:
        """The key's columns ("a, b"), with the referenced ones when they are named otherwise."""
        cols = ", ".join(self.columns)
        if self.columns == self.ref_columns or not self.ref_columns:
            return cols
        return f"{cols} → {', '.join(self.ref_columns)}"


@dataclass(frozen=True)
class Diagram:
    """What one picture shows: tables (focus first, then nearest), the edges among them."""

    tables: tuple[Table, ...]
    edges: tuple[Edge, ...]
    focus: TableId | None = None
    hops: int = 0
    left_out: int = 0  # tables within the hops that the cap kept out of the picture
    distance: dict[TableId, int] = field(default_factory=dict)  # hops from the focus

    def ids(self) -> list[TableId]:
        """The drawn tables' ids, in drawing order."""
        return [table_id(t) for t in self.tables]


@dataclass(frozen=True)
class _Graph:
    """A catalog's tables by id and its FK edges, both directions."""

    tables: dict[TableId, Table]
    edges: list[Edge]
    near: dict[TableId, set[TableId]]


def _ref_id(fk: ForeignKey) -> TableId:
    """The referenced table's id; a key from an attached database stays in that database."""
    return (fk.ref_database, fk.ref_schema, fk.ref_table)


def _graph(catalog: Catalog) -> _Graph:
    """Index a catalog: tables by id, every FK whose target is in the catalog as an edge."""
    tables = {table_id(t): t for t in catalog.tables}
    edges: list[Edge] = []
    near: dict[TableId, set[TableId]] = {tid: set() for tid in tables}
    for tid, t in tables.items():
        for fk in t.foreign_keys:
            target = _ref_id(fk)
            if target not in tables:
                continue  # a key to a table this catalog does not list (no rights, dropped)
            edges.append(Edge(tid, target, fk.columns, fk.ref_columns, fk.name))
            near[tid].add(target)
            near[target].add(tid)
    return _Graph(tables, edges, near)


def edges(catalog: Catalog) -> list[Edge]:
    """Every foreign key between tables of the catalog, one edge per key."""
    return _graph(catalog).edges


def filter_tables(
    catalog: Catalog,
    schema: str | None = None,
    name: str = "",
    *,
    database: str | None = None,
) -> list[Table]:
    """Tables of one schema (of `database`; None: the own one) or all when `schema` is None,
    whose name contains `name` (case-insensitive)."""
    needle = name.strip().casefold()
    return [
        t
        for t in catalog.tables
        if (schema is None or (t.schema == schema and t.database == database))
        and needle in t.name.casefold()
    ]


def overview(
    catalog: Catalog,
    schema: str | None = None,
    name: str = "",
    *,
    database: str | None = None,
    limit: int = OVERVIEW_LIMIT,
) -> Diagram:
    """Every table of the filter and the keys among them; BadInput above `limit` tables
    (counted first, so a huge schema is refused at once, never laid out)."""
    tables = filter_tables(catalog, schema, name, database=database)
    if len(tables) > limit:
        raise BadInput(
            f"This view has {len(tables):,} tables; the whole-schema diagram stays readable "
            f"up to {limit:,}. Pick a table to see its neighbours (focused view), or narrow "
            "the view with the schema or name filter.",
            "Too many tables for one picture",
        )
    shown = {table_id(t) for t in tables}
    kept = [e for e in _graph(catalog).edges if e.source in shown and e.target in shown]
    return Diagram(tuple(tables), tuple(kept))


def neighbourhood(
    catalog: Catalog,
    table: Table | TableId,
    hops: int = 1,
    *,
    limit: int = FOCUS_LIMIT,
) -> Diagram:
    """`table` and the tables up to `hops` (1–3) foreign keys away, in both directions, nearest
    first; at most `limit` tables, the others counted in `left_out`."""
    if not isinstance(hops, int) or not 1 <= hops <= MAX_HOPS:
        raise BadInput(f"Hops must be 1 to {MAX_HOPS}, not {hops!r}.", "Bad hops")
    graph = _graph(catalog)
    focus = table_id(table) if isinstance(table, Table) else table
    if focus not in graph.tables:
        raise BadInput(f"There is no table {display_name(focus)} in this catalog.", "No table")
    distance = {focus: 0}
    queue = deque([focus])
    while queue:  # breadth first: every table's distance is its fewest hops
        tid = queue.popleft()
        if distance[tid] == hops:
            continue
        for other in sorted(graph.near[tid], key=_sort_key):
            if other not in distance:
                distance[other] = distance[tid] + 1
                queue.append(other)
    ordered = sorted(distance, key=lambda tid: (distance[tid], _sort_key(tid)))
    kept = ordered[: max(1, limit)]
    shown = set(kept)
    drawn = [e for e in graph.edges if e.source in shown and e.target in shown]
    return Diagram(
        tuple(graph.tables[tid] for tid in kept),
        tuple(drawn),
        focus=focus,
        hops=hops,
        left_out=len(ordered) - len(kept),
        distance={tid: distance[tid] for tid in kept},
    )


def _sort_key(tid: TableId) -> tuple[str, str, str]:
    """Order of tables: own database first, then by schema and name."""
    return (tid[0] or "", tid[1], tid[2])


# --- DOT ------------------------------------------------------------------------------------


def _visible(text: str) -> str:
    """Control characters (newlines too) as visible escapes: a name is always one line of text,
    and XML (which HTML-like labels and SVG are) cannot hold most of them at all."""
    out = []
    for ch in text:
        if ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif unicodedata.category(ch) in ("Cc", "Cs") or ch in "\ufffe\uffff":
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "".join(out)


def _h(text: str) -> str:
    """Text for a Graphviz HTML-like label: escaped, so every name renders as written."""
    return html.escape(_visible(text), quote=True)


def _shown_columns(table: Table) -> tuple[list[int], int]:
    """Indexes of the columns drawn (key columns always, then the first others up to
    MAX_COLUMNS) and how many are left out."""
    keys = set(table.primary_key) | {c for fk in table.foreign_keys for c in fk.columns}
    chosen = [i for i, c in enumerate(table.columns) if c.name in keys]
    for i, c in enumerate(table.columns):
        if len(chosen) >= MAX_COLUMNS:
            break
        if c.name not in keys:
            chosen.append(i)
    chosen.sort()
    return chosen, len(table.columns) - len(chosen)


def _node_label(table: Table, focus: bool) -> str:
    """One table as an HTML-like label: a title row, then a row per column with its port."""
    fk_cols = {c for fk in table.foreign_keys for c in fk.columns}
    head_bg = "#f4b860" if focus else ("#d9e4f0" if table.kind == "table" else "#e2ecd8")
    kind = "" if table.kind == "table" else f" <i>({_h(table.kind)})</i>"
    rows = [
        f'<tr><td colspan="3" bgcolor="{head_bg}" port="title">'
        f"<b>{_h(display_name(table_id(table)))}</b>{kind}</td></tr>"
    ]
    chosen, hidden = _shown_columns(table)
    for i in chosen:
        col = table.columns[i]
        marks = " ".join(
            m for m, on in (("PK", col.primary_key), ("FK", col.name in fk_cols)) if on
        )
        name = f"<u>{_h(col.name)}</u>" if col.primary_key else _h(col.name)
        rows.append(
            f'<tr><td port="c{i}" align="left">{marks}</td>'
            f'<td align="left">{name}</td>'
            f'<td port="c{i}r" align="left"><font color="#555555">{_h(col.type.lower())}</font>'
            "</td></tr>"
        )
    if hidden:
        rows.append(
            f'<tr><td colspan="3" align="left"><i>… {hidden} more column'
            f"{'s' if hidden != 1 else ''}</i></td></tr>"
        )
    if not table.columns:
        rows.append('<tr><td colspan="3"><i>no columns</i></td></tr>')
    return (
        '<<table border="0" cellborder="1" cellspacing="0" cellpadding="3">'
        + "".join(rows)
        + "</table>>"
    )


def _port(table: Table, column: str | None, side: str) -> str:
    """The port of `column`'s row in the table's label on `side` ("" the left cell, "r" the
    right one), or its title row when the column is not drawn."""
    if column is not None:
        chosen, _ = _shown_columns(table)
        for i in chosen:
            if table.columns[i].name == column:
                return f"c{i}{side}"
    return "title"


def to_dot(diagram: Diagram) -> str:
    """The diagram as Graphviz DOT: node ids are generated (t0, t1, …) and every name is
    escaped inside HTML-like labels, so no name can change the graph's text."""
    ids = {tid: f"t{n}" for n, tid in enumerate(diagram.ids())}
    by_id = {table_id(t): t for t in diagram.tables}
    lines = [
        "digraph tusk_er {",
        '  graph [rankdir=LR, nodesep=0.35, ranksep=0.9, fontname="Helvetica", bgcolor="white"];',
        '  node [shape=plain, fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9, color="#5b6b7b", arrowhead=normal];',
    ]
    for t in diagram.tables:
        tid = table_id(t)
        lines.append(f"  {ids[tid]} [label={_node_label(t, tid == diagram.focus)}];")
    for e in diagram.edges:
        src, dst = by_id[e.source], by_id[e.target]
        # Keys leave from the right of the FK column and arrive at the left of the referenced
        # one: with rankdir=LR that is the short way round.
        tail = _port(src, e.columns[0] if e.columns else None, "r")
        head = _port(dst, e.ref_columns[0] if e.ref_columns else None, "")
        lines.append(f"  {ids[e.source]}:{tail} -> {ids[e.target]}:{head} [label=<{_h(e.label)}>];")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- Mermaid --------------------------------------------------------------------------------

# Mermaid's erDiagram: attribute types and names are bare words of these characters; quoted
# entity labels and comments may hold anything but `"`, `%`, backslash and line breaks, and
# Mermaid reads `<…>` as markup and `#…;` as an entity code in them.
_MERMAID_WORD = re.compile(r"[^A-Za-z0-9_\-\[\]()]")
_MERMAID_QUOTED = str.maketrans({'"': "＂", "%": "％", "\\": "＼", "<": "＜", ">": "＞", "#": "＃"})


def _mermaid_word(text: str, fallback: str) -> str:
    """`text` as a Mermaid bare word: other characters become `_`, starting with a letter."""
    word = _MERMAID_WORD.sub("_", text) or fallback
    return word if re.match(r"[A-Za-z_]", word) else f"{fallback}_{word}"


def _mermaid_text(text: str) -> str:
    """`text` inside Mermaid double quotes: the characters it cannot hold become look-alikes."""
    return _visible(text).translate(_MERMAID_QUOTED)


def to_mermaid(diagram: Diagram) -> str:
    """The diagram as Mermaid erDiagram text: entities are t0, t1, … with their real name as
    a quoted label; a column whose name is not a Mermaid word keeps its name in a comment."""
    ids = {tid: f"t{n}" for n, tid in enumerate(diagram.ids())}
    lines = ["erDiagram"]
    for t in diagram.tables:
        tid = table_id(t)
        fk_cols = {c for fk in t.foreign_keys for c in fk.columns}
        lines.append(f'  {ids[tid]}["{_mermaid_text(display_name(tid))}"] {{')
        chosen, hidden = _shown_columns(t)
        for i in chosen:
            col = t.columns[i]
            type_ = _mermaid_word(col.type.lower().replace(" ", "_"), "type")
            name = _mermaid_word(col.name, "col")
            keys = ", ".join(
                k for k, on in (("PK", col.primary_key), ("FK", col.name in fk_cols)) if on
            )
            line = f"    {type_} {name}"
            if keys:
                line += f" {keys}"
            if name != col.name:
                line += f' "{_mermaid_text(col.name)}"'
            lines.append(line)
        if hidden:
            lines.append(f'    more_columns more_{hidden} "{hidden} more columns"')
        lines.append("  }")
    for e in diagram.edges:
        lines.append(f'  {ids[e.source]} }}o--|| {ids[e.target]} : "{_mermaid_text(e.label)}"')
    return "\n".join(lines) + "\n"


# --- SVG ------------------------------------------------------------------------------------


def layout_program() -> str | None:
    """Path of the graphviz-pure program: beside this Python first (the venv it was installed
    into, whether or not it is activated), then on PATH."""
    beside = Path(sys.executable).parent / PROGRAM
    if beside.is_file():
        return str(beside)
    return shutil.which(PROGRAM)


def to_svg(dot: str, *, timeout: float = LAYOUT_TIMEOUT_S) -> str:
    """Lay out DOT text as SVG with graphviz-pure (input on stdin); TuskError when the program
    is missing, fails or takes longer than `timeout` seconds (it is killed then)."""
    program = layout_program()
    if program is None:
        raise TuskError(
            f"The {PROGRAM} program was not found next to Python ({sys.executable}) or on PATH: "
            f"install Tusk's dependencies again (pip install {PROGRAM}).",
            "Diagram not drawn",
        )
    try:
        done = subprocess.run(  # noqa: S603 - a fixed program, the DOT text on stdin
            [program, "-Tsvg"],
            input=dot.encode(),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise TuskError(
            f"Laying out the diagram took longer than {timeout:g} s and was stopped: show fewer "
            "tables (fewer hops, or a schema or name filter).",
            "Diagram not drawn",
        ) from None
    except OSError as exc:
        raise TuskError(f"{PROGRAM} could not start: {exc}", "Diagram not drawn") from None
    if done.returncode != 0 or not done.stdout:
        detail = done.stderr.decode(errors="replace").strip()[:500] or f"exit {done.returncode}"
        raise TuskError(f"{PROGRAM} failed: {detail}", "Diagram not drawn")
    return done.stdout.decode()


def svg_element(svg: str) -> str:
    """The `<svg>…</svg>` element of an SVG document (without the XML prolog), for embedding."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg
