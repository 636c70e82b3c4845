"""The editor's cursor → statement: Ace's row/column turned into an offset for tusk.sqltext."""

from __future__ import annotations

import pytest

from tusk.ui.editor import statement_at

TEXT = "select 1 as a;\nselect '😀' as b; select 5; -- note\n\nselect 3 as c"


@pytest.mark.parametrize(
    ("row", "column", "expected"),
    [
        (0, 0, "select 1 as a"),
        (0, 14, "select 1 as a"),  # just after the `;`
        (1, 4, "select '😀' as b"),
        (1, 17, "select '😀' as b"),  # just after its `;`: Ace counts 😀 as 2 columns
        (1, 18, "select 5"),
        (1, 30, "select 5"),  # in the comment on its line
        (2, 0, "select 5"),  # the blank line after it
        (3, 2, "select 3 as c"),
        (9, 0, "select 3 as c"),  # a row past the end
    ],
)
def test_statement_at_cursor(row: int, column: int, expected: str) -> None:
    assert statement_at(TEXT, {"row": row, "column": column}, "postgres") == expected


def test_statement_at_without_cursor_or_code() -> None:
    assert statement_at(TEXT, None) is None
    assert statement_at("-- only a comment", {"row": 0, "column": 3}) is None


def test_statement_at_follows_the_dialect() -> None:
    text = "select $$a;\nb$$; select 2"
    assert statement_at(text, {"row": 1, "column": 1}, "postgres") == "select $$a;\nb$$"
    assert statement_at(text, {"row": 1, "column": 1}, "sqlite") == "b$$"
