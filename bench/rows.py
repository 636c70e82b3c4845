"""The generated rows the file and ETL benchmarks share: 8 columns of mixed types (text with
quotes and commas, dates, decimals, a list lookup, NULLs), about 100 bytes a row as CSV."""

ROWS_PER_GB = 10_000_000

QUERY = """
SELECT i AS id,
       'customer ' || (i % 100000) AS name,
       'user' || i || '@example.com' AS email,
       date '2020-01-01' + (i % 1500)::integer AS day,
       round((hash(i) % 100000) / 100.0, 2) AS amount,
       ['new', 'paid', 'shipped', 'delivered', 'cancelled'][1 + (i % 5)::integer] AS status,
       (hash(i * 7) % 1000000)::bigint AS score,
       CASE WHEN i % 13 = 0 THEN NULL ELSE 'note, "quoted" ' || (i % 997) END AS note
FROM range({rows}) t(i)
"""

# A CSV of QUERY's rows at {path} (a SQL string literal).
GENERATE = "COPY (" + QUERY + ") TO {path} (HEADER)"
