"""Many people on one shared Tusk at once, in real browsers: nothing lost, nothing shared.

One `tusk studio` in multi-user mode; SESSIONS users (8; TUSK_TEST_SESSIONS=20 for the issue's
twenty) (Analysts and Data Engineers, made before the
server starts: bcrypt's cost is read from each stored hash, so a test cannot lower it for
the server) each sign in from their own browser context of one chromium, all at the same
time, run a query whose result names them, save a query with Ctrl+S, and the Data Engineers
add a connection each. Afterwards the library (not the page) must hold every saved query and
every connection, each user's history only their own statements, and each browser must have
shown its own result and its own name.

The scenario (`run_sessions`) is also what `bench/sessions.py` times.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ADMIN_PASSWORD, PASSWORD, PG_HOST, PG_PASSWORD, PG_PORT, PG_USER
from tests.e2e.conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    IDLE,
    LOADING,
    free_port,
    server_env,
    start_server,
    stop_server,
    wait_healthy,
)

pytestmark = pytest.mark.e2e

# `make test` runs 8 sessions at once (a 2-core CI machine shared with the other suites);
# TUSK_TEST_SESSIONS=20 runs the twenty, as bench/sessions.py --sessions 20 does.
SESSIONS = int(os.environ.get("TUSK_TEST_SESSIONS", "8"))
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-results"  # git-ignored: screenshots of sessions that failed
# Generous: on 2 cores (shared with other agents' tests) 20 sessions queue for the CPU.
STEP_TIMEOUT_MS = 300_000
SCENARIO_TIMEOUT_S = 600.0  # the whole 20-session run; past it, find out why (README)
# The editor reports its text 250 ms after the last keystroke; a report that reaches the
# server after Ctrl+Enter's would replace it (the component keeps one value). On a busy
# browser timers fire late, so let the report go well before the shortcut.
DEBOUNCE_SETTLE_MS = 1500

IDLE_POLL_MS = 250
LATE_RUN_MS = 1000  # a run still on its way after the page looked idle
NAME_ATTEMPTS = 3

CURRENT = '[data-testid="stElementContainer"][data-stale="false"]'
EDITOR = 'iframe[title="code_editor.code_editor"]'
GRID = 'iframe[title="st_aggrid.AgGrid.agGrid"]'
WHO_CELL = '.ag-center-cols-container .ag-row [col-id="who"]'


@dataclass(frozen=True)
class Member:
    """One user of the scenario."""

    username: str
    group: str

    @property
    def engineer(self) -> bool:
        """Data Engineers may add connections."""
        return self.group == "Data Engineers"

    @property
    def sql(self) -> str:
        """The statement this user runs: its result names them."""
        return f"select '{self.username}' as who"

    @property
    def saved_name(self) -> str:
        """The name this user saves their query under."""
        return f"q-{self.username}"

    @property
    def connection(self) -> str:
        """The connection this user adds (Data Engineers only)."""
        return f"pg-{self.username}"


@dataclass
class Outcome:
    """What one browser session did and saw, with its timings (seconds)."""

    member: Member
    signed_in_s: float | None = None  # page open → the Studio shown, signed in
    sign_in_click_s: float | None = None  # the Sign in click → the Studio shown
    query_s: float | None = None  # Ctrl+Enter → the result row visible
    save_s: float | None = None  # Ctrl+S → the dialog closed after Save
    connection_s: float | None = None  # Add → the tab on the new connection
    shown_user: str | None = None  # the name in the sidebar (the Profile link)
    shown_result: str | None = None  # the result cell's text
    steps: list[str] = field(default_factory=list)  # steps finished, in order
    retyped: list[str] = field(default_factory=list)  # fields the page reset after typing
    error: str | None = None

    @property
    def done(self) -> bool:
        """True when every step of this member's scenario finished."""
        return self.error is None


def members(count: int, prefix: str = "") -> list[Member]:
    """`count` users, Analysts and Data Engineers by turns."""
    groups = ("Analysts", "Data Engineers")
    return [
        Member(f"{prefix}{'analyst' if i % 2 == 0 else 'engineer'}{i:02d}", groups[i % 2])
        for i in range(count)
    ]


def create_users(people: list[Member]) -> None:
    """Set up auth in the current TUSK_HOME (admin plus `people`) and turn multi-user mode on,
    at the real bcrypt cost, before any server reads it."""
    from tusk import config
    from tusk.auth.bootstrap import init
    from tusk.auth.database import initialised
    from tusk.auth.users import create_user

    if not initialised():
        init(ADMIN_PASSWORD)
    for m in people:
        create_user(m.username, PASSWORD, groups=[m.group])
    config.set_value("auth_mode", "multi")


@contextlib.contextmanager
def serving(home: Path) -> Iterator[tuple[str, int]]:
    """A `tusk studio` on TUSK_HOME `home`; yields its URL and the server's process id."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    tusk = str(Path(sys.executable).with_name("tusk"))
    log = home.parent / f"server-{port}.log"
    proc = start_server(
        [tusk, "studio", "--host", "127.0.0.1", "--port", str(port)],
        server_env(home),
        home.parent,
        log,
    )
    try:
        wait_healthy(proc, url, log)
        yield url, proc.pid  # `tusk studio` execs Streamlit: the same process
    finally:
        stop_server(proc)


# --- one browser session (async Playwright: 20 pages of one chromium in one thread) -----------


async def _idle(page, timeout_ms: float = STEP_TIMEOUT_MS) -> None:  # noqa: ANN001 - a Page
    """Wait until the script has finished and every lazily loaded element has rendered."""
    await page.wait_for_function(
        "([idle, loading]) => document.querySelector(idle) !== null"
        " && document.querySelector(loading) === null",
        arg=[IDLE, LOADING],
        timeout=timeout_ms,
        # Not on every animation frame (Playwright's default): 20 pages polling at 60 Hz
        # would keep chromium drawing and take CPU from the server being measured.
        polling=IDLE_POLL_MS,
    )


async def _sign_in(page, url: str, m: Member, out: Outcome) -> None:  # noqa: ANN001
    from playwright.async_api import expect

    start = time.monotonic()
    await page.goto(url + "/Studio", timeout=STEP_TIMEOUT_MS)
    await _idle(page)
    await page.get_by_label("User name").fill(m.username)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    clicked = time.monotonic()
    await page.get_by_role("button", name="Sign in").click()
    editor = page.locator(CURRENT).locator(EDITOR).content_frame.locator(".ace_editor")
    await expect(editor).to_be_visible(timeout=STEP_TIMEOUT_MS)
    await _idle(page)
    out.signed_in_s = time.monotonic() - start
    out.sign_in_click_s = time.monotonic() - clicked
    # The sidebar's Profile link is labelled with the signed-in user (after its icon's name).
    profile = page.locator('[data-testid="stSidebar"] a[href="Profile"]')
    out.shown_user = (await profile.inner_text(timeout=STEP_TIMEOUT_MS)).split()[-1]
    out.steps.append("signed in")


async def _query(page, m: Member, out: Outcome) -> None:  # noqa: ANN001
    from playwright.async_api import expect

    editor = page.locator(CURRENT).locator(EDITOR).content_frame
    await editor.locator(".ace_editor").click()
    await page.keyboard.press("Control+A")
    # One input event, like a paste: typed key by key, a loaded browser delivers the keys with
    # pauses past the editor's 250 ms debounce, and the Studio then drops keystrokes (the same
    # happens alone with 400 ms between keys; reported, not what this test is about).
    await page.keyboard.insert_text(m.sql)
    await expect(editor.locator(".ace_text-layer")).to_have_text(m.sql, timeout=STEP_TIMEOUT_MS)
    await page.wait_for_timeout(DEBOUNCE_SETTLE_MS)
    await _idle(page)
    await page.keyboard.press("Escape")  # closes Ace's completion popup, if any
    start = time.monotonic()
    await page.keyboard.press("Control+Enter")
    cell = page.locator(CURRENT).locator(GRID).content_frame.locator(WHO_CELL)
    await expect(cell).to_have_count(1, timeout=STEP_TIMEOUT_MS)
    await expect(cell).not_to_have_text("", timeout=STEP_TIMEOUT_MS)
    out.query_s = time.monotonic() - start
    out.shown_result = (await cell.inner_text()).strip()
    await _idle(page)
    out.steps.append("queried")


async def _save(page, m: Member, out: Outcome) -> None:  # noqa: ANN001
    from playwright.async_api import expect

    editor = page.locator(CURRENT).locator(EDITOR).content_frame
    await editor.locator(".ace_editor").click()
    start = time.monotonic()
    await page.keyboard.press("Control+S")
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_text("Save query")).to_be_visible(timeout=STEP_TIMEOUT_MS)
    await _idle(page)
    name = dialog.get_by_label("Name", exact=True)
    for _ in range(NAME_ATTEMPTS):
        await name.fill(m.saved_name)
        # Enter hands the name to the server in a run of its own, before Save is clicked.
        await name.press("Enter")
        await _idle(page)
        await page.wait_for_timeout(LATE_RUN_MS)
        await _idle(page)
        if await name.input_value() == m.saved_name:
            break
        # On a loaded server a late run put the dialog's default ("Query 1") back into the
        # field: a person would type the name again. Counted and reported, not hidden.
        out.retyped.append("save dialog name")
    await expect(name).to_have_value(m.saved_name, timeout=STEP_TIMEOUT_MS)
    await dialog.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("dialog")).to_have_count(0, timeout=STEP_TIMEOUT_MS)
    await _idle(page)
    out.save_s = time.monotonic() - start
    out.steps.append("saved")


async def _add_connection(page, m: Member, out: Outcome) -> None:  # noqa: ANN001
    from playwright.async_api import expect

    start = time.monotonic()
    await page.locator(".st-key-studio_conn_add button:visible").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_text("Add connection")).to_be_visible(timeout=STEP_TIMEOUT_MS)
    await _idle(page)
    fields = {
        "Name": m.connection,
        "Host": PG_HOST,
        "Port": str(PG_PORT),
        "Database": "postgres",
        "User": PG_USER,
        "Password": PG_PASSWORD,
    }
    # Streamlit takes a text input's value when it loses focus: filling the next field, or
    # clicking Save, does that.
    for label, value in fields.items():
        await dialog.get_by_label(label, exact=True).fill(value)
    await dialog.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("dialog")).to_have_count(0, timeout=STEP_TIMEOUT_MS)
    header = page.locator('[data-testid="stMain"]').get_by_text(
        f"PostgreSQL · {m.connection}", exact=True
    )
    await expect(header).to_be_visible(timeout=STEP_TIMEOUT_MS)
    await _idle(page)
    out.connection_s = time.monotonic() - start
    out.steps.append("added a connection")


async def session(browser, url: str, m: Member, *, save: bool = True) -> Outcome:  # noqa: ANN001
    """One person's visit in their own browser context; failures are recorded, not raised."""
    out = Outcome(m)
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = await context.new_page()
    try:
        await _sign_in(page, url, m, out)
        await _query(page, m, out)
        if save:
            await _save(page, m, out)
            if m.engineer:
                await _add_connection(page, m, out)
    except Exception as exc:  # noqa: BLE001 - reported per session, with a screenshot
        out.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        with contextlib.suppress(Exception):
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / f"concurrency-{m.username}.png"))
    finally:
        await context.close()
    return out


async def _sessions(url: str, people: list[Member], timeout_s: float) -> list[Outcome]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            tasks = [asyncio.ensure_future(session(browser, url, m)) for m in people]
            done, pending = await asyncio.wait(tasks, timeout=timeout_s)
            for task in pending:
                task.cancel()
            outcomes = []
            for task, m in zip(tasks, people, strict=True):
                if task in done:
                    outcomes.append(task.result())
                else:
                    outcomes.append(Outcome(m, error=f"not finished within {timeout_s:.0f} s"))
            return outcomes
        finally:
            await browser.close()


def run_sessions(url: str, people: list[Member], timeout_s: float) -> list[Outcome]:
    """Every member's visit at once, each in its own context of one headless chromium."""
    return asyncio.run(_sessions(url, people, timeout_s))


def summary(values: list[float]) -> tuple[float, float, float]:
    """Median, 90th percentile (nearest rank) and maximum."""
    ordered = sorted(values)
    p90 = ordered[max(0, -(-9 * len(ordered) // 10) - 1)]
    return statistics.median(ordered), p90, ordered[-1]


# --- the test ---------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.timeout(1200)
def test_sessions_at_once_lose_nothing_and_share_nothing(tusk_home: Path) -> None:
    """Browsers (SESSIONS) sign in, query, save and add connections at the same time: every saved
    query and connection is stored, each history holds only its user's statements, and each
    browser showed its own user and its own result."""
    from tusk import connections
    from tusk.auth.users import get_user, user_file
    from tusk.store import history, saved
    from tusk.ui.studio.tabs import DRAFTS_FILE

    people = members(SESSIONS)
    create_users(people)
    started = time.monotonic()
    with serving(tusk_home) as (url, _pid):
        outcomes = run_sessions(url, people, SCENARIO_TIMEOUT_S)
    elapsed = time.monotonic() - started

    failed = [f"{o.member.username} after {o.steps}: {o.error}" for o in outcomes if not o.done]
    assert not failed, f"{len(failed)} of {SESSIONS} sessions failed in {elapsed:.0f} s:\n" + (
        "\n".join(failed)
    )
    retyped = [f"{o.member.username}: {', '.join(o.retyped)}" for o in outcomes if o.retyped]
    if retyped:  # a UI glitch under load (reported), not a lost write: say so, do not fail
        warnings.warn(f"fields reset after typing, typed again: {retyped}", stacklevel=1)
    # Each browser showed its own user and its own result (no state crossed sessions).
    for o in outcomes:
        assert o.shown_user == o.member.username, o
        assert o.shown_result == o.member.username, o

    # Nothing lost: every saved query and every connection is stored, as typed.
    stored = set(connections.names())
    engineers = [m for m in people if m.engineer]
    assert {m.connection for m in engineers} <= stored, sorted(stored)
    for m in people:
        user = get_user(m.username)
        assert user is not None
        mine = saved.list_queries(actor=user)
        assert [(q.name, q.sql) for q in mine] == [(m.saved_name, m.sql)], (m, mine)
        # History: this user's statements are all theirs, and theirs are all under their name.
        own = history.search(username=m.username, limit=1000)
        assert own, m
        assert all(e.statement == m.sql for e in own), [e.statement for e in own]
        anyone = history.search(f"'{m.username}'", limit=1000)
        assert {e.id for e in anyone} == {e.id for e in own}, m
        # The Studio's drafts, kept per user, hold this user's SQL only.
        drafts = json.loads(user_file(user, DRAFTS_FILE).read_text())
        assert [t["sql"] for t in drafts["tabs"]] == [m.sql], (m, drafts)
