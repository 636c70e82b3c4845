"""Geometry detection + conversion of 1,000,000 points, against raw vectorized shapely.

Two inputs, generated in memory with a fixed seed (uniform over -180..180 / -85..85):

- WKB: an Arrow table (id, geom) whose `geom` is binary WKB, as DuckDB's `ST_AsWKB` or a
  PostGIS `ST_AsBinary` returns it.
  Tusk: `detect(table)` then `geometries(table, col)` (a cold start: the parse memo is cleared
  before every run). Raw: `shapely.from_wkb(column.to_numpy())`.
- lat/lon: an Arrow table (id, latitude, longitude) of float64.
  Tusk: `detect(table)` (name pairing + range check) then `geometries(table, col)`.
  Raw: `shapely.points(lon.to_numpy(), lat.to_numpy())`.

Both raw baselines include taking the column out of Arrow, which any caller must do. Tusk's
detection samples 1,000 values to choose the encoding, parses the whole column once to count
parsed/invalid/NULL values exactly, and memoises that parse, so `geometries` right after
`detect` (what the Geo page does) costs no second parse. Also reported, without a baseline:
`geometries` alone on a cold memo, `to_4326` of 1M EPSG:3857 points, and `build_deck` of the
1M lat/lon points (aggregated into hexagons). Runs are interleaved (raw, Tusk, raw, Tusk …)
after one warm-up each; every figure is the median of --repeat runs. It is a report, not a
test: it always exits 0.

    .venv/bin/python bench/geo.py --repeat 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import shapely

from tusk.geo import build_deck, detect, geometries, to_4326
from tusk.geo.convert import lonlat_to_mercator
from tusk.geo.encoding import clear_cache

TARGET = 1.5  # Tusk / raw: detection + conversion may cost at most half again a bare parse


def make_tables(n: int) -> tuple[pa.Table, pa.Table, np.ndarray]:
    """(WKB table, lat/lon table, the same points as 3857 geometries)."""
    rng = np.random.default_rng(42)
    lon = rng.uniform(-180, 180, n)
    lat = rng.uniform(-85, 85, n)
    points = shapely.points(lon, lat)
    wkb = pa.array(shapely.to_wkb(points), pa.binary())
    ids = pa.array(np.arange(n, dtype=np.int64))
    wkb_table = pa.table({"id": ids, "geom": wkb})
    latlon_table = pa.table({"id": ids, "latitude": lat, "longitude": lon})
    mx, my = lonlat_to_mercator(lon, lat)
    return wkb_table, latlon_table, shapely.points(mx, my)


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(
    raw: Callable[[], Any], tusk: Callable[[], Any], repeat: int
) -> tuple[float, float]:
    """Median seconds of raw and Tusk, run alternately after one warm-up each."""
    raw()
    tusk()
    raws, tusks = [], []
    for _ in range(repeat):
        raws.append(timed(raw))
        tusks.append(timed(tusk))
    return statistics.median(raws), statistics.median(tusks)


def median(fn: Callable[[], Any], repeat: int) -> float:
    """Median seconds of `repeat` calls after one warm-up."""
    fn()
    return statistics.median(timed(fn) for _ in range(repeat))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    print(f"Generating {args.rows:,} points …", flush=True)
    wkb_table, latlon_table, mercator = make_tables(args.rows)

    def raw_wkb() -> None:
        shapely.from_wkb(wkb_table["geom"].to_numpy())

    def tusk_wkb() -> None:
        clear_cache()
        [col] = detect(wkb_table)
        geometries(wkb_table, col)

    def tusk_wkb_convert_only() -> None:
        clear_cache()
        geometries(wkb_table, wkb_col)

    def raw_latlon() -> None:
        shapely.points(latlon_table["longitude"].to_numpy(), latlon_table["latitude"].to_numpy())

    def tusk_latlon() -> None:
        [col] = detect(latlon_table)
        geometries(latlon_table, col)

    [wkb_col] = detect(wkb_table)
    [latlon_col] = detect(latlon_table)
    assert wkb_col.kind == "wkb" and wkb_col.parsed == args.rows, wkb_col
    assert latlon_col.kind == "latlon" and latlon_col.parsed == args.rows, latlon_col

    rows: list[tuple[str, float, float | None]] = []
    raw, tusk = interleaved(raw_wkb, tusk_wkb, args.repeat)
    rows.append(("WKB: detect + geometries  vs  shapely.from_wkb", tusk, raw))
    raw, tusk = interleaved(raw_wkb, tusk_wkb_convert_only, args.repeat)
    rows.append(("WKB: geometries alone (cold)  vs  shapely.from_wkb", tusk, raw))
    raw, tusk = interleaved(raw_latlon, tusk_latlon, args.repeat)
    rows.append(("lat/lon: detect + geometries  vs  shapely.points", tusk, raw))
    rows.append(
        ("EPSG:3857 → 4326: to_4326 (no baseline)", median(lambda: to_4326(mercator, 3857), args.repeat), None)
    )  # fmt: skip
    rows.append(
        (
            "build_deck, 1M lat/lon → hexagons (no baseline)",
            median(lambda: build_deck(latlon_table, latlon_col).deck.to_json(), 3),
            None,
        )
    )

    print(f"\n{args.rows:,} points, median of {args.repeat} (seconds)\n")
    print(f"{'':56} {'Tusk':>8} {'raw':>8} {'ratio':>7}")
    for label, t, r in rows:
        if r is None:
            print(f"{label:56} {t:8.3f} {'':>8} {'':>7}")
        else:
            ratio = t / r
            verdict = "PASS" if ratio <= TARGET else "MISS"
            print(f"{label:56} {t:8.3f} {r:8.3f} {ratio:6.2f}x  {verdict} (≤ {TARGET}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
