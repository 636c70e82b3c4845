"""Tusk's OSM reader on a generated ~1M-node PBF: conversion to Parquet and per-layer scans.

- convert: `tusk.etl.osm.convert(path)` into a fresh temporary TUSK_HOME (one pass with
  pyosmium: node locations, way WKT, multipolygon assembly, JSON tags, zstd Parquet row groups)
  against the baseline, a bare pyosmium `FileProcessor(...).with_locations().with_areas()` loop
  that only counts objects: the floor for any Python reader built on pyosmium. Both figures
  are given as objects/s; the ratio says what the Python-side row building and Parquet writing
  cost on top of libosmium's own decoding.
- cached call: `convert` again on the same file (must not reconvert: a stat + manifest read).
- scans: per layer, polars `scan_parquet(...).select(pl.len())` (footer only) and a full
  `read_parquet` of every column (rows/s).

The PBF (--nodes nodes on a grid, --ways ways of which half are closed buildings and half
10-node streets, --relations relations of which half are multipolygons and half routes) is
generated with pyosmium's SimpleWriter on first run and reused (`--path`, default in the
system temp folder). Each figure is the median of --repeat runs after one warm-up. It is a
report, not a test: it always exits 0.

    .venv/bin/python bench/osm.py --repeat 3
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import osmium
import osmium.version
import polars as pl
from osmium.osm.mutable import Node, Relation, Way

DEFAULT_PATH = Path(tempfile.gettempdir()) / "tusk-bench-osm" / "bench.osm.pbf"
GRID = 1000  # nodes per grid row; 0.0001° apart (about 10 m)


def generate(path: Path, nodes: int, ways: int, relations: int) -> None:
    """Write the benchmark PBF: a node grid, streets and buildings on it, routes and areas."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    rng = random.Random(42)
    with osmium.SimpleWriter(str(path)) as writer:
        for i in range(1, nodes + 1):
            row, col = divmod(i - 1, GRID)
            tags = {"name": f"poi {i}", "amenity": "cafe"} if i % 50 == 0 else {}
            # jitter: a perfect grid delta-encodes to ~1 byte a node, far smaller than real data
            location = (col * 1e-4 + rng.random() * 5e-5, 50 + row * 1e-4 + rng.random() * 5e-5)
            writer.add_node(Node(id=i, location=location, tags=tags))
        last = nodes - GRID - 12  # every way below stays inside the grid
        for j in range(1, ways + 1):
            start = (j * 9) % last + 1
            if j % 2:
                refs = list(range(start, start + 10))
                tags = {"highway": "residential", "name": f"street {j}"}
            else:
                refs = [start, start + 1, start + 1 + GRID, start + GRID, start]
                tags = {"building": "yes"}
            writer.add_way(Way(id=j, nodes=refs, tags=tags))
        for k in range(1, relations + 1):
            if k % 2:
                members = [("w", 2 * k, "outer")]
                tags = {"type": "multipolygon", "landuse": "grass", "name": f"park {k}"}
            else:
                members = [("w", 2 * k + 1, ""), ("n", k, "stop")]
                tags = {"type": "route", "route": "bus", "ref": str(k)}
            writer.add_relation(Relation(id=k, members=members, tags=tags))


def median_time(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of fn over `repeat` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bare_pyosmium(path: Path) -> int:
    """The baseline: read every object with locations and areas, build nothing."""
    count = 0
    for obj in osmium.FileProcessor(str(path)).with_locations().with_areas():
        if not obj.is_area():
            count += 1
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--ways", type=int, default=100_000)
    parser.add_argument("--relations", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args()

    if args.regenerate or not args.path.exists():
        started = time.perf_counter()
        generate(args.path, args.nodes, args.ways, args.relations)
        print(f"generated {args.path} in {time.perf_counter() - started:.1f} s")
    size_mb = args.path.stat().st_size / 1e6

    # Import after TUSK_HOME is chosen per run: the cache must start empty each time.
    from tusk.etl import osm

    def fresh_convert() -> dict[str, Path]:
        with tempfile.TemporaryDirectory(prefix="tusk-bench-osm-home-") as home:
            os.environ["TUSK_HOME"] = home
            return osm.convert(args.path)

    objects = bare_pyosmium(args.path)
    base_s = median_time(lambda: bare_pyosmium(args.path), args.repeat)
    tusk_s = median_time(fresh_convert, args.repeat)

    with tempfile.TemporaryDirectory(prefix="tusk-bench-osm-home-") as home:
        os.environ["TUSK_HOME"] = home
        paths = osm.convert(args.path)
        cached_s = median_time(lambda: osm.convert(args.path), args.repeat)
        counts = osm.summary(args.path)

        print(f"\nfile: {size_mb:.1f} MB, {objects:,} objects {counts}")
        print(f"python {sys.version.split()[0]}, pyosmium {osmium.version.pyosmium_release}")
        print(f"{'':32}{'seconds':>10}{'objects/s':>14}")
        print(f"{'bare pyosmium (baseline)':32}{base_s:>10.2f}{objects / base_s:>14,.0f}")
        print(f"{'tusk convert':32}{tusk_s:>10.2f}{objects / tusk_s:>14,.0f}")
        print(f"convert / baseline: {tusk_s / base_s:.2f}x")
        print(f"cached convert call: {cached_s * 1000:.2f} ms")
        parquet_mb = sum(p.stat().st_size for p in paths.values()) / 1e6
        print(f"parquet, all layers: {parquet_mb:.1f} MB (zstd)")

        print(f"\n{'layer':12}{'rows':>12}{'count (ms)':>12}{'full read (s)':>15}{'rows/s':>14}")
        for layer, file in paths.items():
            count_s = median_time(lambda f=file: pl.scan_parquet(f).select(pl.len()).collect(), 5)
            read_s = median_time(lambda f=file: pl.read_parquet(f), args.repeat)
            rows = counts[layer]
            print(
                f"{layer:12}{rows:>12,}{count_s * 1000:>12.2f}{read_s:>15.3f}"
                f"{rows / read_s if read_s else 0:>14,.0f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
