"""Result diff: two full results compared by key in a scratch DuckDB."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tusk.errors import BadInput
from tusk.result_diff import CHANGED, ONLY_A, ONLY_B, Comparison, diff_results

HOSTILE = 'x"; drop table y; --'


def _a() -> pa.Table:
    return pa.table(
        {
            "id": [1, 2, 3, 4, None],
            HOSTILE: ["a", "b", None, "d", "n"],
            "amount": [10.0, 20.0, 30.0, 40.0, 50.0],
            "gone": [1, 1, 1, 1, 1],
        }
    )


def _b() -> pa.Table:
    return pa.table(
        {
            "id": [2, 3, 4, 5, None],
            HOSTILE: ["b", "c", "d", "e", "n"],  # 3: NULL → "c"
            "amount": [20.0, 30.0, 41.5, 50.0, 50.0],  # 4: 40 → 41.5
            "new": ["x"] * 5,
        }
    )


def test_counts_samples_and_changed_cells() -> None:
    """1 only in A, 5 only in B, 3 and 4 changed (NULL → value counts), 2 and the NULL key
    are the same; columns of one side are named, not compared."""
    diff = diff_results(_a(), _b(), ["id"])
    assert (diff.rows_a, diff.rows_b) == (5, 5)
    assert (diff.only_a, diff.only_b, diff.changed, diff.same) == (1, 1, 2, 2)
    assert diff.only_in_a_columns == ("gone",) and diff.only_in_b_columns == ("new",)
    assert diff.compared == (HOSTILE, "amount")
    assert diff.only_a_sample.column("id").to_pylist() == [1]
    assert diff.only_b_sample.column("id").to_pylist() == [5]
    changed = diff.changed_sample.to_pylist()
    assert [r["id"] for r in changed] == [3, 4]
    three, four = changed
    assert (three[f"{HOSTILE} (A)"], three[f"{HOSTILE} (B)"], three[f"{HOSTILE} changed"]) == (
        None,
        "c",
        True,
    )
    assert three["amount changed"] is False
    assert (four["amount (A)"], four["amount (B)"], four["amount changed"]) == (40.0, 41.5, True)


def test_export_rows_have_every_difference() -> None:
    """rows() streams every differing row with its kind, ordered by key."""
    with Comparison(_a(), _b(), ["id"]) as comparison:
        table = pa.Table.from_batches(list(comparison.rows()))
    assert table.column_names[:2] == ["difference", "id"]
    assert set(table.column_names[2:]) == {
        f"{HOSTILE} (A)",
        f"{HOSTILE} (B)",
        "amount (A)",
        "amount (B)",
    }
    kinds = list(
        zip(table.column("id").to_pylist(), table.column("difference").to_pylist(), strict=True)
    )
    assert kinds == [(1, ONLY_A), (3, CHANGED), (4, CHANGED), (5, ONLY_B)]


def test_types_that_differ_compare_as_text_and_a_composite_key() -> None:
    """int vs text in one column compares as text; a two-column key identifies rows."""
    a = pa.table({"k1": [1, 1], "k2": ["x", "y"], "v": [1, 2]})
    b = pa.table({"k1": [1, 1], "k2": ["x", "y"], "v": ["1", "3"]})
    diff = diff_results(a, b, ["k1", "k2"])
    assert (diff.changed, diff.same) == (1, 1)
    assert diff.changed_sample.column("k2").to_pylist() == ["y"]


def test_bad_keys_are_refused_with_a_reason() -> None:
    """No key, a key missing on one side and a key that is not unique: each says why."""
    with pytest.raises(BadInput, match="Choose the key"):
        diff_results(_a(), _b(), [])
    with pytest.raises(BadInput, match="no column 'gone'"):
        diff_results(_a(), _b(), ["gone"])
    with pytest.raises(BadInput, match="not unique in result A"):
        diff_results(pa.table({"k": [1, 1, 2]}), pa.table({"k": [1]}), ["k"])
    with pytest.raises(BadInput, match="not unique in result B"):
        diff_results(pa.table({"k": [1, 3]}), pa.table({"k": [1, 1]}), ["k"])
    # A repeated key with nothing to match on the other side is just two rows only in A.
    assert diff_results(pa.table({"k": [2, 2]}), pa.table({"k": [1]}), ["k"]).only_a == 2


def test_large_results_stream_in_batches() -> None:
    """Batches (what an engine streams) work as well as tables: 200,000 rows a side."""
    n = 200_000
    a = pa.table({"id": pa.array(range(n)), "v": pa.array([i % 7 for i in range(n)])})
    b = a.set_column(1, "v", pa.array([(i % 7) + (1 if i % 1000 == 0 else 0) for i in range(n)]))
    diff = diff_results(iter(a.to_batches(50_000)), iter(b.to_batches(50_000)), ["id"])
    assert (diff.changed, diff.only_a, diff.only_b) == (200, 0, 0)
    assert diff.changed_sample.num_rows == 200
