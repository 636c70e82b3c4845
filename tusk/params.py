"""`:name` parameters in user SQL: find them, bind them as real driver parameters, read values.

Where a `:name` counts as a parameter (in code only: not in literals, quoted names, dollar
quotes or comments; not in `x::int` casts or `arr[1:n]` slices) is `tusk.sqltext`'s rule, per
dialect.

Every engine runs a script's statements in order and passes parameters to the last one only,
so `bind` accepts parameters in the last statement of a script and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from tusk import sqltext
from tusk.errors import BadInput

PARAMSTYLES = ("format", "qmark", "numeric_dollar")

_INT = re.compile(r"[+-]?(?:0|[1-9]\d*)")
_FLOAT = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?\d+[eE][+-]?\d+")


def find(sql: str, *, dialect: str = sqltext.DEFAULT_DIALECT) -> list[str]:
    """The distinct `:name` parameters in the SQL, in order of first appearance."""
    return list(dict.fromkeys(p.name for p in sqltext.parameters(sql, dialect)))


def bind(
    sql: str,
    values: Mapping[str, object],
    paramstyle: str,
    *,
    dialect: str = sqltext.DEFAULT_DIALECT,
) -> tuple[str, list[object] | None]:
    """Rewrite `:name` parameters into the engine's paramstyle; returns (sql, params).

    `paramstyle` is the engine's: "format" (%s), "qmark" (?) or "numeric_dollar" ($1, $2 …,
    a repeated name reuses its number). SQL without parameters comes back unchanged with
    params None, so the driver reads it as plain SQL (psycopg treats % specially as soon as
    any params, even an empty list, are passed). Unused values are ignored.
    """
    if paramstyle not in PARAMSTYLES:
        raise ValueError(f"unknown paramstyle {paramstyle!r}: use one of {', '.join(PARAMSTYLES)}")
    found = sqltext.parameters(sql, dialect)
    if not found:
        return sql, None
    missing = [name for name in dict.fromkeys(p.name for p in found) if name not in values]
    if missing:
        listed = ", ".join(f":{name}" for name in missing)
        raise BadInput(
            f"Give a value for {listed} before running the query.",
            "Missing parameter" if len(missing) == 1 else "Missing parameters",
        )
    statements = sqltext.split(sql, dialect)
    last_start = statements[-1].start
    early = [p for p in found if p.start < last_start]
    if early:
        number = next(k for k, s in enumerate(statements, 1) if early[0].start < s.end)
        raise BadInput(
            f":{early[0].name} is in statement {number} of {len(statements)}. "
            "Parameters can only be used in the last statement of a script: run the "
            "statements one at a time.",
            "Parameter in an earlier statement",
        )
    out: list[str] = [sql[:last_start]]
    params: list[object] = []
    numbers: dict[str, int] = {}
    pos = last_start
    for p in found:
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
