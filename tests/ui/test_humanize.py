"""Humanized numbers for the pages."""

from tusk.ui import humanize


def test_count() -> None:
    """Singular for one, plural with separators otherwise."""
    assert humanize.count(1, "row") == "1 row"
    assert humanize.count(2500, "row") == "2,500 rows"
    assert humanize.count(0, "query", "queries") == "0 queries"


def test_duration() -> None:
    """Milliseconds, seconds, minutes, hours."""
    assert humanize.duration(0.0123) == "12 ms"
    assert humanize.duration(1.24) == "1.2 s"
    assert humanize.duration(180) == "3 min"
    assert humanize.duration(9000) == "2.5 h"


def test_size() -> None:
    """Bytes in decimal units."""
    assert humanize.size(512) == "512 B"
    assert humanize.size(1500) == "1.5 kB"
    assert humanize.size(3_100_000_000) == "3.1 GB"
