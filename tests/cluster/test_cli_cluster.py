"""`tusk cluster -w 2` as a real process: ready message, then SIGINT leaves no Ray process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tusk.cluster.nodes import free_port

pytestmark = pytest.mark.cluster


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """Live (non-zombie) processes whose command line contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state not in ("Z", "X"):
            found.append((int(entry.name), cmdline[:120]))
    return found


def test_tusk_cluster_then_sigint_leaves_nothing() -> None:
    """The CLI prints the address and dashboard, and Ctrl+C stops every Ray process it started."""
    port, dashboard = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tusk.cli", "cluster", "-w", "2", "--port", str(port)]
        + ["--dashboard-port", str(dashboard), "--cpus", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            lines.append(line)
            if line.startswith("Dashboard:"):
                break
        out = "".join(lines)
        assert f"Address: 127.0.0.1:{port}" in out, out
        assert f"Dashboard: http://127.0.0.1:{dashboard}" in out, out
        assert "3 nodes alive" in out
        # The head's GCS and both workers' raylets name the GCS port on their command lines.
        started = processes_mentioning(f":{port}") + processes_mentioning(f"={port}")
        assert len({pid for pid, _ in started}) >= 5, started

        began = time.monotonic()
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
        stop_s = time.monotonic() - began
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, rest
    assert "Cluster stopped." in rest
    assert [p for p in started if _alive(p[0])] == []
    assert processes_mentioning(f":{port}") == []
    assert stop_s < 30


def _alive(pid: int) -> bool:
    """True for a live, non-zombie process."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")
