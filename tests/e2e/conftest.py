"""Browser fixtures: a real `tusk studio` server and Debian chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
LOADING = '[data-testid="stSkeleton"]'
STARTUP_TIMEOUT_S = 60.0


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(base_url: str) -> bool:
    """True when Streamlit's health endpoint answers "ok"."""
    try:
        with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as resp:
            return resp.status == 200 and resp.read().decode().strip() == "ok"
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def start_server(cmd: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    """Start a server command in its own process group, output captured to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def wait_healthy(proc: subprocess.Popen, base_url: str, log: Path) -> None:
    """Wait until the server is healthy; fail with its output if it dies or never answers."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if _healthy(base_url):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.25)
    output = log.read_text(errors="replace")
    state = f"exited with {proc.returncode}" if proc.poll() is not None else "still not healthy"
    pytest.fail(f"Server at {base_url} {state} after {STARTUP_TIMEOUT_S:.0f} s:\n{output}")


def _signal_group(pgid: int, sig: int) -> None:
    """Send a signal to a process group that may already be gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def stop_server(proc: subprocess.Popen) -> None:
    """Kill the server's whole process group: SIGTERM, SIGKILL if it lingers, then stragglers."""
    pgid = proc.pid  # start_new_session=True: the server leads its own process group
    _signal_group(pgid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        _signal_group(pgid, signal.SIGKILL)
        proc.wait(timeout=10)
    _signal_group(pgid, signal.SIGKILL)


def server_env(home: Path) -> dict[str, str]:
    """The current environment with its own TUSK_HOME and no inherited Streamlit settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    env["TUSK_HOME"] = str(home)
    env.pop("TUSK_PG_BIN_PATH", None)
    return env


@pytest.fixture(scope="package")
def studio_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The TUSK_HOME of the `tusk studio` server (tests may reset files in it)."""
    return tmp_path_factory.mktemp("studio") / "tusk-home"


@pytest.fixture(scope="package")
def studio_url(studio_home: Path) -> Iterator[str]:
    """Base URL of a `tusk studio` started from the repo's venv with its own TUSK_HOME."""
    root = studio_home.parent
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    tusk = Path(sys.executable).with_name("tusk")
    cmd = [str(tusk), "studio", "--host", "127.0.0.1", "--port", str(port)]
    log = root / "server.log"
    proc = start_server(cmd, server_env(studio_home), root, log)
    try:
        wait_healthy(proc, base_url, log)
        yield base_url
    finally:
        stop_server(proc)


@pytest.fixture
def fresh_studio_url(studio_url: str, studio_home: Path) -> str:
    """The studio's URL with its saved query-tab drafts removed: a new session gets one tab.

    The Studio keeps every tab's SQL and connection in TUSK_HOME (shared by the tests of this
    package); without this, one test's tabs and connection would greet the next test.
    """
    from tusk.ui.studio.tabs import DRAFTS_FILE

    (studio_home / DRAFTS_FILE).unlink(missing_ok=True)
    return studio_url


# Package scope, not session: while a sync Playwright is alive it marks the main thread's
# asyncio loop as running, so any later test outside tests/e2e that starts Playwright or calls
# asyncio.run() would fail. Package-scoped fixtures end when the last test in tests/e2e is done.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, shared by every test in tests/e2e."""
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (own cookies and session) with a tall viewport."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


def wait_idle(page: Page, timeout_ms: float = 30_000) -> None:
    """Wait until the script has finished and every lazily loaded element has rendered."""
    # Streamlit 1.67 loads most element components lazily: each shows a stSkeleton placeholder
    # until its code arrives, which can be after the script state turns "notRunning".
    page.wait_for_function(
        "([idle, loading]) => document.querySelector(idle) !== null"
        " && document.querySelector(loading) === null",
        arg=[IDLE, LOADING],
        timeout=timeout_ms,
    )
