"""SQL text as the user typed it: where each statement begins and ends, the statement under a
cursor, a statement's first keyword and its `:name` parameters — all read by one scanner that
knows each engine's lexical rules.

Dialects are the engine names ("postgres", "duckdb", "sqlite", "datafusion", "cluster") and
"generic" (the default, for text not yet tied to an engine). The rules below were checked by
running scripts on the real engines (PostgreSQL 15, DuckDB 1.5.5, SQLite 3.40, DataFusion 55,
Daft 0.7 for "cluster"), not taken from documentation:

    rule                        postgres  duckdb  sqlite  datafusion, cluster, generic
    E'…' takes \\ escapes          yes      yes     no      yes
    $$…$$ and $tag$…$tag$          yes      yes     no      yes
    /* /* … */ */ nest             yes      yes     no      yes
    `…` quotes an identifier       no       no      yes     yes
    […] quotes an identifier       no       no      yes     no

Everywhere: '…' and "…" take a doubled quote inside and never a backslash escape (a plain
'C:\\' ends at its second quote); `--` runs to the end of the line or of the script; `#` is an
operator or a parameter sign, never a comment; an unterminated string, quoted name, dollar
quote or comment runs to the end of the script (the text being typed).

A statement as typed begins at its first code or at the comments before it (a
comment that begins on the line of the previous `;` belongs to that statement, as a trailing
note) and ends at its last non-blank character before its `;`; a piece between semicolons with
only comments is no statement.

A `:name` counts as a parameter only in code: never inside string literals, quoted identifiers,
dollar quotes or comments. A colon next to another colon is a PostgreSQL cast (`x::int`;
`:n::int` is parameter `n` then a cast); a colon right after a word character or `]` is a slice
or similar (`arr[1:n]`, `a[lo:hi]`); a colon right after a closing quote is a key/value
separator (DuckDB's `{'a':x}`).

Why not sqlglot's tokenizer (a dependency already): it agrees with the engines on most of the
table for postgres, duckdb and sqlite, but it raises on any unterminated string, comment or
dollar quote (what the editor holds while a user types) and on an X'…' literal whose text is not
hex digits, keeps comments without their offsets (so it cannot tell where a statement as typed
begins), and is about ten times slower on a 1 MB script (bench/sqltext.py). The tests compare
this scanner's semicolons with sqlglot's on every script of their table and list where sqlglot
is wrong, and with the engines' own lexers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DEFAULT_DIALECT = "generic"


@dataclass(frozen=True)
class Statement:
    """One statement of a script as typed (no surrounding whitespace, no `;`):
    script[start:end] == text."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Parameter:
    """One `:name` occurrence: text[start:end] == ":" + name."""

    name: str
    start: int
    end: int


@dataclass(frozen=True)
class _Rules:
    """A dialect's lexical rules (see the table in the module docstring)."""

    escape_strings: bool  # E'…' takes backslash escapes
    dollar_quotes: bool
    nested_comments: bool
    backticks: bool
    brackets: bool
    pattern: re.Pattern[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        # What the scanner stops at; plain text between these is skipped by the regex engine.
        starts = "".join(
            c
            for c, on in (
                ("`", self.backticks),
                (r"\[", self.brackets),
                (r"\$", self.dollar_quotes),
            )
            if on
        )
        object.__setattr__(self, "pattern", re.compile(rf"--|/\*|[;:'\"{starts}]"))


_POSTGRES = _Rules(
    escape_strings=True, dollar_quotes=True, nested_comments=True, backticks=False, brackets=False
)
_SQLITE = _Rules(
    escape_strings=False, dollar_quotes=False, nested_comments=False, backticks=True, brackets=True
)
_SQLPARSER = _Rules(  # DataFusion and Daft both lex with sqlparser-rs
    escape_strings=True, dollar_quotes=True, nested_comments=True, backticks=True, brackets=False
)
_DIALECTS: dict[str, _Rules] = {
    "postgres": _POSTGRES,
    "duckdb": _POSTGRES,  # DuckDB's parser is PostgreSQL's
    "sqlite": _SQLITE,
    "datafusion": _SQLPARSER,
    "cluster": _SQLPARSER,
    "generic": _SQLPARSER,
}
DIALECTS = tuple(_DIALECTS)

_NAME = re.compile(r"[^\W\d]\w*")  # a letter or underscore, then letters, digits, underscores
_DOLLAR_TAG = re.compile(r"\$(?:[^\W\d]\w*)?\$")
# Possessive: an unterminated E'…' must not backtrack into closing at a doubled quote.
_E_STRING_REST = re.compile(r"[^'\\]*+(?:(?:\\.|'')[^'\\]*+)*+'", re.DOTALL)
_COMMENT_MARK = re.compile(r"/\*|\*/")
_NON_SPACE = re.compile(r"\S")
_SEMICOLON_AHEAD = re.compile(r"\s*;")
_KEYWORD = re.compile(r"[A-Za-z]\w*")


def _rules(dialect: str | None) -> _Rules:
    try:
        return _DIALECTS[dialect or DEFAULT_DIALECT]
    except KeyError:
        raise ValueError(
            f"unknown SQL dialect {dialect!r}: use one of {', '.join(DIALECTS)}"
        ) from None


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch in "_$"


# --- the scanner --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scan:
    """What one walk over the text found."""

    separators: list[int]  # offsets of the `;` that end statements
    parameters: list[Parameter]
    comments: list[tuple[int, int]]  # (start, end) of each comment in code


def _scan(sql: str, rules: _Rules) -> _Scan:
    """Walk the text once, stepping over literals, quoted names and comments."""
    separators: list[int] = []
    found: list[Parameter] = []
    comments: list[tuple[int, int]] = []
    n, i = len(sql), 0
    search = rules.pattern.search
    while i < n:
        m = search(sql, i)
        if m is None:
            break
        j, token = m.start(), m.group()
        if token == ";":
            separators.append(j)
            i = j + 1
        elif token == "'":
            escapes = (
                rules.escape_strings
                and j > 0
                and sql[j - 1] in "eE"
                and not (j > 1 and _is_word(sql[j - 2]))
            )
            i = _e_string_end(sql, j) if escapes else _quoted_end(sql, j, "'")
        elif token == "--":
            i = _line_end(sql, j)
            comments.append((j, i))
        elif token == "/*":
            i = _comment_end(sql, j, rules.nested_comments)
            comments.append((j, i))
        elif token == ":":
            i = j + 1
            if sql.startswith(":", i):
                i += 1  # a `::` cast
            elif not j or not (_is_word(sql[j - 1]) or sql[j - 1] in "]'\"`"):
                name = _NAME.match(sql, i)
                if name:
                    found.append(Parameter(name.group(), j, name.end()))
                    i = name.end()
        elif token == "$":
            tag = None if j and _is_word(sql[j - 1]) else _DOLLAR_TAG.match(sql, j)
            if tag:
                close = sql.find(tag.group(), tag.end())
                i = n if close < 0 else close + len(tag.group())
            else:
                i = j + 1  # `$1`, or a `$` inside a name
        elif token == "[":
            close = sql.find("]", j + 1)
            i = n if close < 0 else close + 1
        else:  # " or `
            i = _quoted_end(sql, j, token)
    return _Scan(separators, found, comments)


def _quoted_end(sql: str, i: int, quote: str) -> int:
    """Offset just past the quoted text opening at sql[i] (a doubled quote stays inside)."""
    n = len(sql)
    j = i + 1
    while True:
        j = sql.find(quote, j)
        if j < 0:
            return n
        if not sql.startswith(quote, j + 1):
            return j + 1
        j += 2


def _e_string_end(sql: str, i: int) -> int:
    """Offset just past the E'…' string whose quote is at sql[i]."""
    m = _E_STRING_REST.match(sql, i + 1)
    return m.end() if m else len(sql)


def _line_end(sql: str, i: int) -> int:
    j = sql.find("\n", i)
    return len(sql) if j < 0 else j + 1


def _comment_end(sql: str, i: int, nested: bool) -> int:
    """Offset just past the block comment opening at sql[i]."""
    if not nested:
        j = sql.find("*/", i + 2)
        return len(sql) if j < 0 else j + 2
    depth, j = 1, i + 2
    while depth:
        m = _COMMENT_MARK.search(sql, j)
        if m is None:
            return len(sql)
        depth += 1 if m.group() == "/*" else -1
        j = m.end()
    return j


def _code_start(sql: str, i: int, end: int, rules: _Rules) -> int:
    """The first offset in sql[i:end] that is neither whitespace nor comment (else end)."""
    while i < end:
        m = _NON_SPACE.search(sql, i, end)
        if m is None:
            return end
        i = m.start()
        if sql.startswith("--", i):
            i = _line_end(sql, i)
        elif sql.startswith("/*", i):
            i = _comment_end(sql, i, rules.nested_comments)
        else:
            return i
    return end


def _text_start(sql: str, i: int, end: int, rules: _Rules) -> int:
    """Where the statement after the `;` at sql[i - 1] begins: its leading comments are its
    own, but a comment that begins on the line of that `;` belongs to the one before."""
    while True:
        m = _NON_SPACE.search(sql, i, end)
        if m is None:
            return end
        k = m.start()
        if sql.find("\n", i, k) >= 0:
            return k
        if sql.startswith("--", k):
            m = _NON_SPACE.search(sql, _line_end(sql, k), end)
            return end if m is None else m.start()
        if not sql.startswith("/*", k):
            return k
        i = _comment_end(sql, k, rules.nested_comments)


# --- the public questions -----------------------------------------------------------------------


def split(script: str, dialect: str | None = DEFAULT_DIALECT) -> list[Statement]:
    """The statements of a script that hold code, each as typed with its offsets."""
    rules = _rules(dialect)
    separators = _scan(script, rules).separators
    out: list[Statement] = []
    begin = 0
    for stop in (*separators, len(script)):
        if begin == 0:
            m = _NON_SPACE.search(script, 0, stop)
            start = stop if m is None else m.start()
        else:
            start = _text_start(script, begin, stop, rules)
        if _code_start(script, start, stop, rules) < stop:
            end = start + len(script[start:stop].rstrip())
            out.append(Statement(script[start:end], start, end))
        begin = stop + 1
    return out


def statement_at(
    script: str, offset: int, dialect: str | None = DEFAULT_DIALECT
) -> Statement | None:
    """The statement at a cursor offset, as DBeaver and DataGrip choose it: the one the cursor
    is in; just after a statement's `;`, on the rest of its line or on a blank line after it,
    that statement; in the indentation before a statement, that one; before the first, the
    first; after the last, the last. None when the script holds no statement."""
    statements = split(script, dialect)
    if not statements:
        return None
    offset = min(max(offset, 0), len(script))
    previous: Statement | None = None
    previous_end = 0
    for s in statements:
        if offset < s.start:
            if previous is None:
                return s
            # Between two statements: the one before, unless the cursor sits on a new line
            # and nothing but indentation separates it from the next.
            on_new_line = script.find("\n", previous_end, offset) >= 0
            if on_new_line and script.find("\n", offset, s.start) < 0:
                return s
            return previous
        semicolon = _SEMICOLON_AHEAD.match(script, s.end)
        claim_end = semicolon.end() if semicolon else s.end
        if offset <= claim_end:
            return s
        previous, previous_end = s, claim_end
    return previous


def first_keyword(text: str, dialect: str | None = DEFAULT_DIALECT) -> str:
    """A statement's first keyword, upper-cased ("SELECT", "WITH", "INSERT", …), after leading
    whitespace, comments and opening parentheses; "" when it starts otherwise."""
    rules = _rules(dialect)
    n, i = len(text), 0
    while True:
        i = _code_start(text, i, n, rules)
        if i < n and text[i] == "(":
            i += 1
            continue
        break
    m = _KEYWORD.match(text, i)
    return m.group().upper() if m else ""


def parameters(text: str, dialect: str | None = DEFAULT_DIALECT) -> list[Parameter]:
    """Every `:name` parameter occurrence in the text, in order."""
    return _scan(text, _rules(dialect)).parameters


def code_end(text: str, dialect: str | None = DEFAULT_DIALECT) -> int:
    """The offset just past the text's last character of code, before any trailing comments
    and whitespace (0 when it holds no code): text[:code_end(text)] can be wrapped in
    parentheses without a trailing `-- comment` eating the closing one."""
    end = len(text.rstrip())
    for start, stop in reversed(_scan(text, _rules(dialect)).comments):
        if stop < end:
            break
        end = len(text[:start].rstrip())
    return end
