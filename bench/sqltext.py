"""tusk.sqltext on a ~1 MB script, against sqlglot's tokenizer on the same text.

The script repeats a block of statements that holds what the scanner must step over: strings
with `;` and doubled quotes, E'…' strings, quoted names, `::` casts, `:name` parameters,
line and block comments (nested ones in PostgreSQL), a dollar-quoted function body. Tusk:
`sqltext.split` (statements with offsets), `sqltext.parameters` and `sqltext.statement_at`
(the cursor in the middle of the script, which splits the whole script). Baseline: sqlglot's
`Dialect.tokenize` for the same dialect — what Tusk would call if it used sqlglot to find the
semicolons (before doing anything about comments, offsets or half-typed text). Runs are
interleaved (sqlglot, Tusk, sqlglot, Tusk …) after one warm-up each; medians of --repeat runs;
the ratio is sqlglot / Tusk. It is a report, not a test: it always exits 0.

    PYTHONPATH=$PWD .venv/bin/python bench/sqltext.py --repeat 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from sqlglot.dialects.dialect import Dialect

from tusk import sqltext

BLOCK = {
    "postgres": r"""-- monthly revenue
select o.id, 'it''s; here' as note, E'tab\t; \'quoted\'' as esc, "Odd;Name"
from orders o /* outer /* nested; */ still comment */
where o.placed > :since::date and o.total between :lo and :hi;
create function f() returns int as $body$ begin perform 1; return 2; end $body$ language plpgsql;
update t set x = x + 1 where id = any(:ids) -- bump;
;
""",
    "sqlite": r"""-- monthly revenue
select o.id, 'it''s; here' as note, 'C:\temp' as path, "Odd;Name", [a;b], `c;d`
from orders o /* a comment; */
where o.placed > :since and o.total between :lo and :hi;
insert into log values (1, 'x;y'); -- done;
update t set x = x + 1 where id = :id;
""",
}


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(
    baseline: Callable[[], Any], tusk: Callable[[], Any], repeat: int
) -> tuple[float, float]:
    """Median seconds of the baseline and Tusk, run alternately after one warm-up each."""
    baseline()
    tusk()
    base, ours = [], []
    for _ in range(repeat):
        base.append(timed(baseline))
        ours.append(timed(tusk))
    return statistics.median(base), statistics.median(ours)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--mb", type=float, default=1.0, help="script size in MB (default 1)")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    print(f"{os.cpu_count()} cores, load average {load_start:.1f} at the start")
    for dialect, block in BLOCK.items():
        script = block * max(1, int(args.mb * 1_000_000 / len(block)))
        size = len(script.encode()) / 1e6
        statements = len(sqltext.split(script, dialect))
        print(f"\n{dialect}: {size:.2f} MB, {statements:,} statements")
        tokenizer = Dialect.get_or_raise(dialect)
        cases: list[tuple[str, Callable[[], Any]]] = [
            ("split", lambda s=script, d=dialect: sqltext.split(s, d)),
            ("parameters", lambda s=script, d=dialect: sqltext.parameters(s, d)),
            (
                "statement_at (middle)",
                lambda s=script, d=dialect: sqltext.statement_at(s, len(s) // 2, d),
            ),
        ]
        for name, tusk in cases:
            base, ours = interleaved(lambda s=script, t=tokenizer: t.tokenize(s), tusk, args.repeat)
            print(
                f"  {name:<22} Tusk {ours * 1000:8.1f} ms   sqlglot tokenize "
                f"{base * 1000:8.1f} ms   sqlglot / Tusk {base / ours:5.1f}x"
            )
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
