"""Process sessions: find and signal every process of a session, read from /proc.

Ray nodes (`tusk.cluster.nodes`) and query processes (`tusk.cluster.client`) each run in a new
session, so stopping one means every process of its session, whatever it spawned.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def session_pids(sid: int) -> list[int]:
    """Live (non-zombie) processes whose session id is `sid`, read from /proc."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process ended while we looked
        # The command name is in parentheses and may hold spaces: split after the last ")".
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 3 and fields[0] not in ("Z", "X") and int(fields[3]) == sid:
            found.append(int(entry.name))
    return found


def signal_session(sid: int, sig: signal.Signals) -> None:
    """Send `sig` to the process group and to every member of the session."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(sid, sig)
    # Members that moved to their own process group are still in the session.
    for pid in session_pids(sid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
