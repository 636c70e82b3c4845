"""`:name` parameters in user SQL: find them, bind them as real driver parameters, read values.

A `:name` counts as a parameter only in code: never inside string literals ('…', E'…'),
quoted identifiers ("…", `…`), dollar-quoted strings ($$…$$, $tag$…$tag$) or comments. A colon
next to another colon is a PostgreSQL cast (`x::int`, `:n::int` is parameter `n` then a cast),
and a colon right after a word character or `]` is a slice or similar (`arr[1:n]`, `a[lo:hi]`).

Every engine runs a script's statements in order and passes parameters to the last one only,
so `bind` accepts parameters in the last statement of a script and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from tusk.errors import BadInput

PARAMSTYLES = ("format", "qmark", "numeric_dollar")

_NAME = re.compile(r"[^\W\d]\w*")  # a letter or underscore, then letters, digits, underscores
_DOLLAR_TAG = re.compile(r"\$([^\W\d]\w*)?\$")
_INT = re.compile(r"[+-]?(?:0|[1-9]\d*)")
_FLOAT = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?\d+[eE][+-]?\d+")


@dataclass(frozen=True)
class _Param:
    """One `:name` occurrence: sql[start:end] == ":" + name."""

    start: int
    end: int
    name: str


@dataclass(frozen=True)
class _Scan:
    """What the scanner saw: parameter occurrences and where the last real statement begins."""

    params: list[_Param]
    last_start: int  # offset of the last statement that holds code
    statement_starts: list[int]  # offset of every statement that holds code


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _scan(sql: str) -> _Scan:
    """Walk the SQL once, skipping literals and comments, collecting `:name` occurrences."""
    params: list[_Param] = []
    starts: list[int] = []
    segment_start, has_code = 0, False
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        prev = sql[i - 1] if i else ""
        if c in " \t\r\n\f\v":
            i += 1
            continue
        if c == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
            continue
        if c == "/" and sql.startswith("/*", i):
            # PostgreSQL block comments nest; the others never contain "/*" inside one.
            depth, j = 1, i + 2
            while j < n and depth:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            i = j
            continue
        if c == ";":
            if has_code:
                starts.append(segment_start)
            segment_start, has_code = i + 1, False
            i += 1
            continue
        if not has_code:
            has_code = True
            # The statement starts at its first code character (leading comments don't count).
            segment_start = i
        if c == "'":
            escapes = prev in ("e", "E") and not (i >= 2 and _is_word(sql[i - 2]))
            i = _string_end(sql, i, backslash=escapes)
            continue
        if c in ('"', "`"):
            i = _string_end(sql, i, backslash=False)
            continue
        if c == "$" and not _is_word(prev):
            m = _DOLLAR_TAG.match(sql, i)
            if m:
                end = sql.find(m.group(0), m.end())
                i = n if end < 0 else end + len(m.group(0))
                continue
        if c == ":" and prev != ":" and not _is_word(prev) and prev != "]":
            m = _NAME.match(sql, i + 1)
            if m:
                params.append(_Param(i, m.end(), m.group(0)))
                i = m.end()
                continue
        if _is_word(c):
            # Skip the whole word so `E'…'` prefixes and `$` inside identifiers are judged right.
            j = i + 1
            while j < n and (_is_word(sql[j]) or sql[j] == "$"):
                j += 1
            i = j
            continue
        i += 1
    if has_code:
        starts.append(segment_start)
    return _Scan(params, starts[-1] if starts else 0, starts)


def _string_end(sql: str, i: int, *, backslash: bool) -> int:
    """Offset just past the quoted text opening at sql[i] (doubled quotes stay inside)."""
    quote, j, n = sql[i], i + 1, len(sql)
    while j < n:
        ch = sql[j]
        if backslash and ch == "\\":
            j += 2
            continue
        if ch == quote:
            if j + 1 < n and sql[j + 1] == quote:
                j += 2
                continue
            return j + 1
        j += 1
    return n  # unterminated: the rest is literal text, so it holds no parameters


def find(sql: str) -> list[str]:
    """The distinct `:name` parameters in the SQL, in order of first appearance."""
    return list(dict.fromkeys(p.name for p in _scan(sql).params))


def bind(
    sql: str, values: Mapping[str, object], paramstyle: str
) -> tuple[str, list[object] | None]:
    """Rewrite `:name` parameters into the engine's paramstyle; returns (sql, params).

    `paramstyle` is the engine's: "format" (%s), "qmark" (?) or "numeric_dollar" ($1, $2 …,
    a repeated name reuses its number). SQL without parameters comes back unchanged with
    params None, so the driver reads it as plain SQL (psycopg treats % specially as soon as
    any params, even an empty list, are passed). Unused values are ignored.
    """
    if paramstyle not in PARAMSTYLES:
        raise ValueError(f"unknown paramstyle {paramstyle!r}: use one of {', '.join(PARAMSTYLES)}")
    scan = _scan(sql)
    if not scan.params:
        return sql, None
    missing = [name for name in dict.fromkeys(p.name for p in scan.params) if name not in values]
    if missing:
        listed = ", ".join(f":{name}" for name in missing)
        raise BadInput(
            f"Give a value for {listed} before running the query.",
            "Missing parameter" if len(missing) == 1 else "Missing parameters",
        )
    early = [p for p in scan.params if p.start < scan.last_start]
    if early:
        number = next(k for k, s in enumerate(scan.statement_starts, 1) if s > early[0].start) - 1
        raise BadInput(
            f":{early[0].name} is in statement {number} of {len(scan.statement_starts)}. "
            "Parameters can only be used in the last statement of a script: run the "
            "statements one at a time.",
            "Parameter in an earlier statement",
        )
    out: list[str] = [sql[: scan.last_start]]
    params: list[object] = []
    numbers: dict[str, int] = {}
    pos = scan.last_start
    for p in scan.params:
        out.append(_literal_text(sql[pos : p.start], paramstyle))
        if paramstyle == "numeric_dollar":
            if p.name not in numbers:
                numbers[p.name] = len(numbers) + 1
                params.append(values[p.name])
            out.append(f"${numbers[p.name]}")
        else:
            # Positional styles have no way to refer back, so a repeat binds the value again.
            params.append(values[p.name])
            out.append("%s" if paramstyle == "format" else "?")
        pos = p.end
    out.append(_literal_text(sql[pos:], paramstyle))
    return "".join(out), params


def _literal_text(text: str, paramstyle: str) -> str:
    """SQL text between placeholders, escaped for the driver (psycopg reads % everywhere)."""
    return text.replace("%", "%%") if paramstyle == "format" else text


def coerce(text: str) -> object:
    """A parameter value from a widget's text, judged on the text without surrounding spaces.

    The rule: NULL (any case) → None; true/false (any case) → bool; a whole number without
    leading zeros → int ("007" stays text, like a zip code); a decimal or exponent number
    (4.2, .5, 1e3) → float; text wrapped in single or double quotes → the text inside, with
    doubled quotes undone ("'42'" → "42", "'it''s'" → "it's"); anything else → the text as typed.
    """
    s = text.strip()
    if s.upper() == "NULL":
        return None
    if s.lower() in ("true", "false"):
        return s.lower() == "true"
    if _INT.fullmatch(s):
        return int(s)
    if _FLOAT.fullmatch(s):
        return float(s)
    if len(s) >= 2 and s[0] == s[-1] and s[0] in ("'", '"'):
        return s[1:-1].replace(s[0] * 2, s[0])
    return text


def text_of(value: object) -> str:
    """The widget text that `coerce` reads back as `value` (history puts values back)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if coerce(text) == text and text.strip() == text:
        return text
    return "'" + text.replace("'", "''") + "'"
