"""Schema-aware SQL autocomplete for the Studio editor: keywords, schemas, tables, columns.

The editor (an Ace editor) takes a list of `{"caption", "value", "meta", "score"}` dicts.
Columns are offered only for the tables the query mentions, read with sqlglot; the text being
typed is usually incomplete, so when sqlglot cannot parse it the token stream is scanned instead.
A table of a database DuckDB attached is offered as `database.schema.table`, each part quoted
on its own.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import Token, TokenType

from tusk.catalog import Catalog, Table

KEYWORD_SCORE = 100
SCHEMA_SCORE = 200
TABLE_SCORE = 300
COLUMN_SCORE = 900
QUALIFIED_COLUMN_SCORE = 1000

DEFAULT_SCHEMAS = {
    "postgres": "public",
    "datafusion": "public",
    "sqlite": "main",
    "duckdb": "main",
    "cluster": "default",
}
# DataFusion's SQL follows PostgreSQL's closely enough for finding table names.
SQLGLOT_DIALECTS = {
    "postgres": "postgres",
    "sqlite": "sqlite",
    "duckdb": "duckdb",
    "datafusion": "postgres",
    "cluster": "postgres",  # Daft's SQL, close enough for finding table names
}

# The editor asks on every rerun. sqlglot parses ~5 µs and tokenizes ~1 µs a character, so
# long buffers are only tokenized, and only their tail (where people usually type) is read.
MAX_PARSE_CHARS = 20_000
MAX_SCAN_CHARS = 100_000

_COMMON_KEYWORDS = (
    "SELECT", "FROM", "WHERE", "GROUP BY", "ORDER BY", "HAVING", "LIMIT", "OFFSET", "DISTINCT",
    "AS", "ON", "USING", "JOIN", "INNER JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN",
    "CROSS JOIN", "UNION", "UNION ALL", "INTERSECT", "EXCEPT", "WITH", "RECURSIVE", "AND", "OR",
    "NOT", "IN", "EXISTS", "BETWEEN", "LIKE", "IS NULL", "IS NOT NULL", "NULL", "TRUE", "FALSE",
    "CASE", "WHEN", "THEN", "ELSE", "END", "ASC", "DESC", "NULLS FIRST", "NULLS LAST",
    "INSERT INTO", "VALUES", "UPDATE", "SET", "DELETE FROM", "CREATE TABLE", "CREATE VIEW",
    "CREATE INDEX", "DROP TABLE", "DROP VIEW", "ALTER TABLE", "PRIMARY KEY", "FOREIGN KEY",
    "REFERENCES", "DEFAULT", "UNIQUE", "EXPLAIN", "OVER", "PARTITION BY", "FILTER",
    "COUNT", "SUM", "AVG", "MIN", "MAX", "COALESCE", "NULLIF", "CAST", "ROUND", "ABS", "LOWER",
    "UPPER", "LENGTH", "TRIM", "REPLACE", "SUBSTRING", "ROW_NUMBER", "RANK", "DENSE_RANK",
    "LAG", "LEAD", "CURRENT_DATE", "CURRENT_TIMESTAMP",
)  # fmt: skip

_DIALECT_KEYWORDS = {
    "postgres": (
        "ILIKE", "SIMILAR TO", "DISTINCT ON", "LATERAL", "RETURNING", "ON CONFLICT",
        "DO NOTHING", "FETCH FIRST", "INTERVAL", "CREATE MATERIALIZED VIEW", "VACUUM",
        "ANALYZE", "EXPLAIN ANALYZE", "GENERATE_SERIES", "STRING_AGG", "ARRAY_AGG", "JSON_AGG",
        "JSONB_BUILD_OBJECT", "DATE_TRUNC", "EXTRACT", "NOW", "TO_CHAR", "AGE",
    ),
    "sqlite": (
        "PRAGMA", "GLOB", "AUTOINCREMENT", "WITHOUT ROWID", "ON CONFLICT", "RETURNING",
        "ATTACH DATABASE", "VACUUM", "GROUP_CONCAT", "IFNULL", "IIF", "SUBSTR", "INSTR", "DATE",
        "DATETIME", "STRFTIME", "JULIANDAY", "TYPEOF", "PRINTF",
    ),
    "duckdb": (
        "ILIKE", "QUALIFY", "PIVOT", "UNPIVOT", "DESCRIBE", "SUMMARIZE", "EXCLUDE",
        "GROUP BY ALL", "ORDER BY ALL", "ASOF JOIN", "POSITIONAL JOIN", "USING SAMPLE",
        "RETURNING", "ON CONFLICT", "COPY", "ATTACH", "READ_CSV", "READ_PARQUET", "READ_JSON",
        "STRING_AGG", "ARRAY_AGG", "LIST", "STRUCT_PACK", "UNNEST", "DATE_TRUNC", "STRFTIME",
        "EPOCH",
    ),
    "datafusion": (
        "ILIKE", "CREATE EXTERNAL TABLE", "STORED AS", "LOCATION", "SHOW TABLES",
        "SHOW COLUMNS", "DESCRIBE", "EXPLAIN ANALYZE", "COPY", "UNNEST", "ARRAY_AGG",
        "STRING_AGG", "DATE_TRUNC", "DATE_BIN", "TO_TIMESTAMP", "NOW", "APPROX_DISTINCT",
        "APPROX_MEDIAN", "APPROX_PERCENTILE_CONT", "ARROW_TYPEOF", "REGEXP_LIKE",
    ),
}  # fmt: skip

# PostgreSQL's reserved words (the strictest of the four engines); quoting one is always legal.
_RESERVED = frozenset((
    "ALL", "ANALYSE", "ANALYZE", "AND", "ANY", "ARRAY", "AS", "ASC", "ASYMMETRIC",
    "AUTHORIZATION", "BINARY", "BOTH", "CASE", "CAST", "CHECK", "COLLATE", "COLLATION", "COLUMN",
    "CONCURRENTLY", "CONSTRAINT", "CREATE", "CROSS", "CURRENT_CATALOG", "CURRENT_DATE",
    "CURRENT_ROLE", "CURRENT_SCHEMA", "CURRENT_TIME", "CURRENT_TIMESTAMP", "CURRENT_USER",
    "DEFAULT", "DEFERRABLE", "DESC", "DISTINCT", "DO", "ELSE", "END", "EXCEPT", "FALSE", "FETCH",
    "FOR", "FOREIGN", "FREEZE", "FROM", "FULL", "GRANT", "GROUP", "HAVING", "ILIKE", "IN",
    "INITIALLY", "INNER", "INTERSECT", "INTO", "IS", "ISNULL", "JOIN", "LATERAL", "LEADING",
    "LEFT", "LIKE", "LIMIT", "LOCALTIME", "LOCALTIMESTAMP", "NATURAL", "NOT", "NOTNULL", "NULL",
    "OFFSET", "ON", "ONLY", "OR", "ORDER", "OUTER", "OVERLAPS", "PLACING", "PRIMARY",
    "REFERENCES", "RETURNING", "RIGHT", "SELECT", "SESSION_USER", "SIMILAR", "SOME", "SYMMETRIC",
    "SYSTEM_USER", "TABLE", "TABLESAMPLE", "THEN", "TO", "TRAILING", "TRUE", "UNION", "UNIQUE",
    "USER", "USING", "VARIADIC", "VERBOSE", "WHEN", "WHERE", "WINDOW", "WITH",
))  # fmt: skip
# PostgreSQL and DataFusion fold unquoted names to lower case, so any capital needs quotes;
# SQLite and DuckDB match names case-insensitively. Non-ASCII letters are always quoted.
_FOLDING_PLAIN = re.compile(r"[a-z_][a-z0-9_]*")
_PRESERVING_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CASE_PRESERVING = {"sqlite", "duckdb"}

_NAME_TOKENS = {TokenType.VAR, TokenType.IDENTIFIER}
_REF_STARTS = {TokenType.FROM, TokenType.JOIN, TokenType.UPDATE, TokenType.INTO}
_CTE_OPENERS = {TokenType.WITH, TokenType.RECURSIVE, TokenType.COMMA}
_SKIPPED_BEFORE_REF = {TokenType.LATERAL, TokenType.ONLY}


def keywords(dialect: str) -> list[str]:
    """SQL keywords and common functions worth completing for a Tusk engine."""
    return list(dict.fromkeys(_COMMON_KEYWORDS + _DIALECT_KEYWORDS.get(dialect, ())))


def referenced_tables(sql: str, dialect: str = "postgres") -> dict[str, tuple[str | None, str]]:
    """Alias or table name (lower case) → (schema or None, table) for every table `sql` uses."""
    found: dict[str, tuple[str | None, str]] = {}
    for ref in _references(sql, dialect):
        found.setdefault(ref.key.lower(), (ref.schema, ref.name))
    return found


def completions(catalog: Catalog, sql: str = "", dialect: str = "postgres") -> list[dict]:
    """Completions for the editor: keywords, schemas, tables and the columns `sql` can use."""
    entries: dict[str, dict] = {}

    def add(caption: str, value: str, meta: str, score: int) -> None:
        # Same value twice (a column in two joined tables): the better-scored one stays.
        if value not in entries or score > entries[value]["score"]:
            entries[value] = {"caption": caption, "value": value, "meta": meta, "score": score}

    for word in keywords(dialect):
        add(word, word, "keyword", KEYWORD_SCORE)
    default_schema = DEFAULT_SCHEMAS.get(dialect)
    for database, schema in catalog.namespaces():
        if database is None:
            add(schema, quote_name(schema, dialect), "schema", SCHEMA_SCORE)
        else:
            add(database, quote_name(database, dialect), "database", SCHEMA_SCORE)
            add(
                f"{database}.{schema}",
                _qualified(dialect, database, schema),
                "schema",
                SCHEMA_SCORE,
            )
    for table in catalog.tables:
        kind = table.kind or "table"
        # The bare name too for an attached table: it is what replaces the word being typed
        # after `shop.main.` (the editor's prefix stops at the dot).
        add(table.name, quote_name(table.name, dialect), kind, TABLE_SCORE)
        if table.database is not None:
            value = _qualified(dialect, table.database, table.schema, table.name)
            add(table.qualified_name, value, kind, TABLE_SCORE)
        elif table.schema != default_schema:
            add(
                table.qualified_name,
                _qualified(dialect, table.schema, table.name),
                kind,
                TABLE_SCORE,
            )
    for ref in _references(sql, dialect):
        found = None if ref.columns is not None else _find_table(catalog, ref, default_schema)
        if found is not None:
            label, columns = found.name, [(c.name, c.type) for c in found.columns]
        else:
            label, columns = ref.name, [(name, "") for name in ref.columns or ()]
        if found is not None and ref.key == ref.name:  # unaliased: qualify as the catalog spells it
            prefix, qualifier = found.name, quote_name(found.name, dialect)
        else:
            prefix, qualifier = ref.key, (quote_name(ref.key, dialect) if ref.quoted else ref.key)
        for name, type_ in columns:
            meta = f"column · {label}" + (f" · {type_}" if type_ else "")
            value = quote_name(name, dialect)
            add(f"{prefix}.{name}", f"{qualifier}.{value}", meta, QUALIFIED_COLUMN_SCORE)
            add(name, value, meta, COLUMN_SCORE)
    return sorted(
        entries.values(), key=lambda e: (-e["score"], e["caption"].casefold(), e["caption"])
    )


@dataclass(frozen=True)
class _Ref:
    """A name the query can qualify columns with, and what it stands for."""

    key: str  # the alias, else the table name, as written
    quoted: bool  # whether `key` was written in quotes
    schema: str | None
    name: str
    columns: tuple[str, ...] | None = None  # output names of a CTE or subquery; None: catalog
    database: str | None = None  # the first part of a three-part name (DuckDB's catalog)


def quote_name(name: str, dialect: str = "postgres") -> str:
    """`name` as SQL: bare when it can be, else double-quoted with inner quotes doubled
    (the "postgres" rules are the strictest: their output is valid for every engine)."""
    plain = _PRESERVING_PLAIN if dialect in _CASE_PRESERVING else _FOLDING_PLAIN
    if plain.fullmatch(name) and name.upper() not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def _qualified(dialect: str, *parts: str) -> str:
    """A dotted name, each part quoted on its own."""
    return ".".join(quote_name(part, dialect) for part in parts)


def _find_table(catalog: Catalog, ref: _Ref, default_schema: str | None) -> Table | None:
    """The catalog table a query name means: case-insensitive, exact spelling preferred."""
    name = ref.name.lower()
    schema = ref.schema.lower() if ref.schema else None
    database = ref.database.lower() if ref.database else None
    named = [t for t in catalog.tables if t.name.lower() == name]
    if database is not None:  # db.schema.table: an attached database, else the own one's name
        tiers = [
            [t for t in named if (t.database or "").lower() == database],
            [t for t in named if t.database is None],
        ]
        tiers = [[t for t in tier if t.schema.lower() == schema] for tier in tiers]
    elif schema is not None:  # a.table: schema a of the own database, else attached database a
        tiers = [
            [t for t in named if t.database is None and t.schema.lower() == schema],
            [t for t in named if (t.database or "").lower() == schema],
        ]
    else:
        tiers = [named]
    matches = next((tier for tier in tiers if tier), [])
    if not matches:
        return None
    # An unqualified name resolves through the search path, which starts at the default schema
    # of the own database (an attached table only matches when nothing else does).
    return max(
        matches,
        key=lambda t: (t.database is None, t.name == ref.name, t.schema == default_schema),
    )


def _references(sql: object, dialect: str) -> list[_Ref]:
    """Every table, CTE and subquery name in `sql`; never raises, whatever the text."""
    if not isinstance(sql, str) or not sql.strip():
        return []
    read = SQLGLOT_DIALECTS.get(dialect)
    text = sql if len(sql) <= MAX_SCAN_CHARS else _tail(sql)
    if len(text) <= MAX_PARSE_CHARS:
        try:
            return _references_in_tree(sqlglot.parse(text, read=read))
        except Exception:  # half-typed SQL is the normal case; the token scan below still works
            pass
    try:
        return _TokenScan(text, read).references()
    except Exception:  # completion is a hint: a bug here must never break the editor
        return []


def _tail(sql: str) -> str:
    """The last MAX_SCAN_CHARS of a huge buffer, starting at a line break when there is one."""
    tail = sql[-MAX_SCAN_CHARS:]
    newline = tail.find("\n")
    return tail[newline + 1 :] if newline >= 0 else tail


def _identifier(node: exp.Expression | None) -> tuple[str, bool]:
    """Name and quoted flag of an identifier-like node (a TableAlias reads as its name)."""
    if isinstance(node, exp.TableAlias):
        node = node.this
    if isinstance(node, exp.Identifier):
        return node.name, bool(node.quoted)
    return (node.name if node is not None else ""), False


def _output_names(query: exp.Expr | None, alias: exp.Expr | None) -> tuple[str, ...]:
    """Column names a CTE or subquery returns: its column list, else its named selects."""
    if isinstance(alias, exp.TableAlias) and alias.columns:
        return tuple(c.name for c in alias.columns)
    if not isinstance(query, exp.Query):
        return ()
    names = []
    for select in query.selects:
        if isinstance(select, exp.Alias):
            names.append(select.alias)
        elif isinstance(select, exp.Column) and not isinstance(select.this, exp.Star):
            names.append(select.name)
    return tuple(dict.fromkeys(n for n in names if n))


def _references_in_tree(statements: Sequence[exp.Expr | None]) -> list[_Ref]:
    """References from statements sqlglot parsed."""
    refs: list[_Ref] = []
    for statement in statements:
        if statement is None:
            continue
        ctes: dict[str, tuple[str, ...]] = {}
        for cte in statement.find_all(exp.CTE):
            name, quoted = _identifier(cte.args.get("alias"))
            if name:
                ctes[name.lower()] = _output_names(cte.this, cte.args.get("alias"))
                refs.append(_Ref(name, quoted, None, name, ctes[name.lower()]))
        for table in statement.find_all(exp.Table):
            alias, alias_quoted = _identifier(table.args.get("alias"))
            # A table function (read_parquet(...), generate_series(...)) has only its alias.
            if not isinstance(table.this, exp.Identifier):
                if alias:
                    outputs = _output_names(None, table.args.get("alias"))
                    refs.append(_Ref(alias, alias_quoted, None, alias, outputs))
                continue
            name, quoted = _identifier(table.this)
            schema = table.db or None
            database = table.catalog or None
            columns = ctes.get(name.lower()) if schema is None else None
            if alias:
                refs.append(_Ref(alias, alias_quoted, schema, name, columns, database))
            else:
                refs.append(_Ref(name, quoted, schema, name, columns, database))
        for derived in statement.find_all(exp.Subquery, exp.Lateral, exp.Unnest):
            alias, alias_quoted = _identifier(derived.args.get("alias"))
            if not alias:
                continue
            query = derived.this.this if isinstance(derived.this, exp.Subquery) else derived.this
            columns = _output_names(query, derived.args.get("alias"))
            refs.append(_Ref(alias, alias_quoted, None, alias, columns))
    return refs


class _TokenScan:
    """Finds `FROM/JOIN name [AS] alias` and `WITH name AS (...)` in a token stream."""

    def __init__(self, text: str, read: str | None) -> None:
        self.text = text
        self.read = read
        dialect = Dialect.get_or_raise(read)
        tokenizer = dialect.tokenizer()
        with contextlib.suppress(Exception):  # an unclosed quote: keep the tokens before it
            tokenizer.tokenize(text)
        self.tokens: list[Token] = list(tokenizer.tokens)
        parser = dialect.parser_class
        self.name_types = set(parser.ID_VAR_TOKENS) | _NAME_TOKENS
        self.alias_types = set(parser.TABLE_ALIAS_TOKENS) | _NAME_TOKENS
        self.closing = self._match_parens()
        self.parse_budget = MAX_PARSE_CHARS  # bounds the work spent reading subquery bodies
        self.ctes: dict[str, tuple[str, ...]] = {}

    def references(self) -> list[_Ref]:
        """References in the order they appear, CTE columns filled in."""
        refs: list[_Ref] = []
        starts: set[int] = set()
        # One flag per open parenthesis: does it hold a query (so FROM there names tables)?
        # `extract(year from ts)` and `x is distinct from y` must not read as table names.
        query_level = [True]
        previous: TokenType | None = None
        for i, token in enumerate(self.tokens):
            kind = token.token_type
            if kind == TokenType.L_PAREN:
                query_level.append(False)
            elif kind == TokenType.R_PAREN:
                if len(query_level) > 1:
                    query_level.pop()
            elif kind in (TokenType.SELECT, TokenType.WITH) or (
                kind == TokenType.FROM and previous == TokenType.L_PAREN  # DuckDB's FROM-first
            ):
                query_level[-1] = True
            if kind in _REF_STARTS and query_level[-1] and previous != TokenType.DISTINCT:
                starts.add(i + 1)
            if i in starts:
                end = self._read_ref(i, refs)
                if end < len(self.tokens) and self.tokens[end].token_type == TokenType.COMMA:
                    starts.add(end + 1)  # FROM a x, b y
            if previous in _CTE_OPENERS and kind in self.name_types:
                self._read_cte(i, refs)
            previous = kind
        # A CTE may be defined after a FROM that names it was read (or shadow a real table).
        return [
            _Ref(r.key, r.quoted, None, r.name, self.ctes[r.name.lower()])
            if r.schema is None and r.columns is None and r.name.lower() in self.ctes
            else r
            for r in refs
        ]

    def _match_parens(self) -> dict[int, int]:
        """Index of each "(" → index of its ")" (unclosed ones are absent)."""
        stack: list[int] = []
        closing: dict[int, int] = {}
        for i, token in enumerate(self.tokens):
            if token.token_type == TokenType.L_PAREN:
                stack.append(i)
            elif token.token_type == TokenType.R_PAREN and stack:
                closing[stack.pop()] = i
        return closing

    def _kind(self, i: int) -> TokenType | None:
        """The type of token i, None past the end."""
        return self.tokens[i].token_type if i < len(self.tokens) else None

    def _read_alias(self, i: int) -> tuple[Token | None, int]:
        """An optional `[AS] alias` at i: the alias token and the index after it."""
        if self._kind(i) == TokenType.ALIAS:
            if self._kind(i + 1) in self.alias_types:
                return self.tokens[i + 1], i + 2
            return None, i + 1
        if self._kind(i) in _NAME_TOKENS:  # without AS only a plain name: `orders limit`
            return self.tokens[i], i + 1
        return None, i

    def _read_ref(self, i: int, refs: list[_Ref]) -> int:
        """Read one table reference starting at i into refs; the index after it."""
        after_into = i > 0 and self.tokens[i - 1].token_type == TokenType.INTO
        while self._kind(i) in _SKIPPED_BEFORE_REF:
            i += 1
        if self._kind(i) == TokenType.L_PAREN:  # a subquery: its own FROMs are scanned later
            close = self.closing.get(i)
            if close is None:
                return len(self.tokens)
            alias, end = self._read_alias(close + 1)
            if alias is not None:
                columns = self._body_columns(i, close)
                refs.append(_Ref(alias.text, _quoted(alias), None, alias.text, columns))
            return end
        parts: list[Token] = []
        while self._kind(i) in self.name_types:
            parts.append(self.tokens[i])
            if self._kind(i + 1) != TokenType.DOT:
                i += 1
                break
            i += 2
        else:  # the loop ran out without `break`: no name, or a `schema.` still being typed
            return i
        if self._kind(i) == TokenType.L_PAREN and not after_into:  # read_csv(...) AS t
            close = self.closing.get(i)
            if close is None:
                return len(self.tokens)
            alias, end = self._read_alias(close + 1)
            if alias is None:
                return end
            listed: tuple[str, ...] = ()
            if self._kind(end) == TokenType.L_PAREN and end in self.closing:  # AS u(x, y)
                listed, end = self._names_in(end), self.closing[end] + 1
            refs.append(_Ref(alias.text, _quoted(alias), None, alias.text, listed))
            return end
        name = parts[-1]
        schema = parts[-2].text if len(parts) > 1 else None
        database = parts[-3].text if len(parts) > 2 else None
        alias, end = self._read_alias(i)
        key = alias if alias is not None else name
        refs.append(_Ref(key.text, _quoted(key), schema, name.text, database=database))
        return end

    def _read_cte(self, i: int, refs: list[_Ref]) -> None:
        """Read `name [(cols)] AS [NOT MATERIALIZED] (` at i into refs, if that is what is there."""
        name = self.tokens[i]
        j = i + 1
        listed: tuple[str, ...] = ()
        if self._kind(j) == TokenType.L_PAREN:
            close = self.closing.get(j)
            if close is None:
                return
            listed, j = self._names_in(j), close + 1
        if self._kind(j) != TokenType.ALIAS:
            return
        j += 1
        while j < len(self.tokens) and self.tokens[j].text.lower() in ("not", "materialized"):
            j += 1
        if self._kind(j) != TokenType.L_PAREN:
            return
        close = self.closing.get(j)
        columns = listed or (self._body_columns(j, close) if close is not None else ())
        self.ctes[name.text.lower()] = columns
        refs.append(_Ref(name.text, _quoted(name), None, name.text, columns))

    def _names_in(self, open_: int) -> tuple[str, ...]:
        """The names listed between a "(" and its ")": a column list."""
        inside = self.tokens[open_ + 1 : self.closing[open_]]
        return tuple(t.text for t in inside if t.token_type in self.name_types)

    def _body_columns(self, open_: int, close: int) -> tuple[str, ...]:
        """Output names of the query between two parentheses, if sqlglot can read it."""
        body = self.text[self.tokens[open_].end + 1 : self.tokens[close].start]
        if len(body) > self.parse_budget:
            return ()
        self.parse_budget -= len(body)
        try:
            return _output_names(sqlglot.parse_one(body, read=self.read), None)
        except Exception:  # the body is the part still being typed
            return ()


def _quoted(token: Token) -> bool:
    """Whether a name token was written in quotes."""
    return token.token_type == TokenType.IDENTIFIER


# The browser gets every table's columns so it can complete `alias.` the moment the alias is
# typed (the editor's text reaches Python only after its debounce and a page run). A huge
# catalog is cut here: the tables the SQL names go first, then the rest in catalog order.
MAX_EDITOR_COLUMNS = 20_000


def editor_data(catalog: Catalog, sql: str = "", dialect: str = "postgres") -> dict:
    """What the browser-side completer needs: `entries` (as `completions` gives them), every
    table's columns (`tables`: [label, [[name, quoted name, type], …]]) and `lookup` (each
    lower-case spelling of a table name → its index in `tables`)."""
    entries = completions(catalog, sql, dialect)
    for entry in entries:
        # `alias.column`: the part a browser inserts after a typed `alias.`.
        if entry["score"] == QUALIFIED_COLUMN_SCORE and "." in entry["caption"]:
            entry["bare"] = quote_name(entry["caption"].split(".", 1)[1], dialect)
    default_schema = DEFAULT_SCHEMAS.get(dialect)
    named = {name.lower() for _, name in referenced_tables(sql, dialect).values()}
    # Search-path order: own database first, its default schema first (as `_find_table`).
    ordered = sorted(
        catalog.tables,
        key=lambda t: (t.database is not None, t.schema != default_schema),
    )
    budget = MAX_EDITOR_COLUMNS
    chosen: list[Table] = []
    for table in sorted(ordered, key=lambda t: t.name.lower() not in named):
        if len(table.columns) <= budget:
            chosen.append(table)
            budget -= len(table.columns)
    kept = set(map(id, chosen))
    tables: list[list] = []
    lookup: dict[str, int] = {}
    for table in ordered:
        if id(table) not in kept:
            continue
        index = len(tables)
        tables.append(
            [table.name, [[c.name, quote_name(c.name, dialect), c.type] for c in table.columns]]
        )
        spellings = [table.name, f"{table.schema}.{table.name}"]
        if table.database is not None:
            spellings.append(f"{table.database}.{table.schema}.{table.name}")
            if table.schema in ("main", "public"):  # DuckDB's `db.table`: its default schema
                spellings.append(f"{table.database}.{table.name}")
        for spelling in spellings:
            lookup.setdefault(spelling.lower(), index)
    return {"entries": entries, "tables": tables, "lookup": lookup}
