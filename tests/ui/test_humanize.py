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


def test_local_time_without_a_browser_is_utc() -> None:
    """Outside a browser session there is no time zone to follow: UTC, shown naive."""
    import datetime as dt

    from tusk.ui import humanize

    ts = dt.datetime(2026, 12, 2, 15, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert humanize.browser_zone() == dt.UTC
    assert humanize.local(ts) == dt.datetime(2026, 12, 2, 13, 30)


def test_map_selection_title() -> None:
    """A picked feature, or a picked hexagon with its row count (and that only 20 are listed)."""
    from tusk.ui.geo.view import selection_title

    assert selection_title(False, 1) == "**Selected feature**"
    assert selection_title(True, 7) == "**Selected hexagon** · 7 rows"
    assert selection_title(True, 2500) == "**Selected hexagon** · 2,500 rows · the first 20"
