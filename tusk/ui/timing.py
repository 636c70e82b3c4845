"""Server-side page-run timing for benchmarks: one line per script run in TUSK_PAGE_TIMING.

`tusk.ui.shell.setup_page` calls `start(label)` (only when the variable is set) as the first
thing a page does. The run's end is Streamlit's own end-of-run event on the ScriptRunner, which
fires however the run ends: at the bottom of the script, by `st.rerun()`, by `st.stop()` or by
an uncaught exception. Each line is tab-separated: page label, milliseconds from `setup_page` to
that event, how the run ended (`done`, `rerun`, `error`), and the wall-clock time it ended.
Widget callbacks (run before the script body) are not counted; a fragment that calls
`tusk.ui.shell.time_fragment` has its fragment-only reruns counted under its own label.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from typing import Any

ENV = "TUSK_PAGE_TIMING"

log = logging.getLogger("tusk.ui.timing")

# Per ScriptRunner (one per session's run, or chain of runs after st.rerun): the page and the
# start of the run in progress. Weak keys: a finished runner takes its entry with it.
_pending: weakref.WeakKeyDictionary[Any, tuple[str, float]] = weakref.WeakKeyDictionary()
_hooked: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()
_warned: list[str] = []

_ENDS = {
    "SCRIPT_STOPPED_WITH_SUCCESS": "done",  # also after st.stop() or an uncaught exception
    "SCRIPT_STOPPED_FOR_RERUN": "rerun",
    "FRAGMENT_STOPPED_WITH_SUCCESS": "done",  # a fragment-only rerun (time_fragment)
    "SCRIPT_STOPPED_WITH_COMPILE_ERROR": "error",
}


def start(label: str, *, keep: bool = False) -> None:
    """Mark the start of this script run of page `label`; its end is written to the file.
    `keep`: only if no start was marked in this run (a fragment: in a full run the page's
    own start stands, in a fragment-only rerun the fragment's is the only one)."""
    runner = _script_runner()
    if runner is None:
        if not _warned:
            _warned.append(label)
            log.warning("%s is set but this Streamlit's script runner was not found", ENV)
        return
    with _lock:
        if keep and runner in _pending:
            return
        _pending[runner] = (label, time.perf_counter())
        if runner in _hooked:
            return
        _hooked.add(runner)
    # Strong reference (weak=False): the signal belongs to the runner and dies with it.
    runner.on_event.connect(_on_event, weak=False)


def _script_runner() -> Any | None:
    """The ScriptRunner executing the current script run, or None outside one."""
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:
        return None
    # The run context's yield check is the runner's own bound method (Streamlit 1.67); the
    # script thread's target is the fallback. Neither is public API: checked, not trusted.
    for candidate in (
        getattr(ctx.yield_check, "__self__", None),
        getattr(getattr(threading.current_thread(), "_target", None), "__self__", None),
    ):
        if candidate is not None and hasattr(getattr(candidate, "on_event", None), "connect"):
            return candidate
    return None


def _on_event(sender: Any, event: Any = None, **_: Any) -> None:
    """Streamlit's runner event: a run's end writes its line."""
    ended = _ENDS.get(getattr(event, "name", ""))
    if ended is None:
        return  # started, forward messages, shutdown
    with _lock:
        entry = _pending.pop(sender, None)
    if entry is None:
        return  # a run that never reached setup_page
    label, began = entry
    _write(label, (time.perf_counter() - began) * 1000.0, ended)


def _write(label: str, ms: float, ended: str) -> None:
    """Append one line; a single write with O_APPEND keeps concurrent sessions' lines whole."""
    path = os.environ.get(ENV)
    if not path:
        return
    line = f"{label}\t{ms:.1f}\t{ended}\t{time.time():.3f}\n".encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError as exc:  # a benchmark aid: never break a page over it
        log.warning("could not write page timing to %s: %s", path, exc)


def read(path: str | os.PathLike[str]) -> list[tuple[str, float, str, float]]:
    """The lines of a timing file as (page, milliseconds, ended, unix time)."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 4:
                rows.append((parts[0], float(parts[1]), parts[2], float(parts[3])))
    return rows
