"""Numbers as people read them: counts with units, durations, sizes, times in the reader's
own time zone (UI.md, Data on screen)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def count(n: int, noun: str, plural: str | None = None) -> str:
    """'1 row', '2,500 rows'."""
    word = noun if n == 1 else (plural or noun + "s")
    return f"{n:,} {word}"


def duration(seconds: float) -> str:
    """'12 ms', '1.2 s', '3 min', '2.5 h'."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def size(n_bytes: float) -> str:
    """'512 B', '1.5 kB', '20 MB', '3.1 GB' (powers of 1000, as the units say)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n_bytes) < 1000 or unit == "TB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    raise AssertionError("unreachable")


def browser_zone() -> dt.tzinfo:
    """The browser's time zone (UTC when unknown or not a zone this machine knows)."""
    import streamlit as st

    name = st.context.timezone
    if isinstance(name, str) and name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return dt.UTC


def local(ts: dt.datetime) -> dt.datetime:
    """A timestamp in the browser's time zone, naive (as tables and chart axes show it)."""
    return ts.astimezone(browser_zone()).replace(tzinfo=None)
