"""The Admin page in a real browser: the live dashboard's charts and the blocking graph."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import pg_spec, server_connection
from tests.e2e.conftest import (
    free_port,
    server_env,
    start_server,
    stop_server,
    wait_healthy,
    wait_idle,
)
from tests.e2e.test_studio import artifact

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


@pytest.fixture(scope="module")
def admin_url(tmp_path_factory: pytest.TempPathFactory, pg_database: str) -> Iterator[str]:
    """A `tusk studio` whose only PostgreSQL connection is the session's test database."""
    from tusk import connections

    root = tmp_path_factory.mktemp("admin")
    home = root / "tusk-home"
    saved = os.environ.get("TUSK_HOME")
    os.environ["TUSK_HOME"] = str(home)
    try:
        connections.add(pg_spec(pg_database, name="local pg"))
    finally:
        if saved is None:
            os.environ.pop("TUSK_HOME", None)
        else:
            os.environ["TUSK_HOME"] = saved
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = root / "server.log"
    tusk = str(Path(sys.executable).with_name("tusk"))
    proc = start_server([tusk, "studio", "--port", str(port)], server_env(home), root, log)
    try:
        wait_healthy(proc, url, log)
        yield url
    finally:
        stop_server(proc)


def _open_admin(page: Page, url: str) -> None:
    page.goto(f"{url}/Admin")
    wait_idle(page)
    expect(page.get_by_text("local pg").first).to_be_visible()


def test_dashboard_draws_metrics_and_charts(page: Page, admin_url: str) -> None:
    """Metrics from the server, and after the next refresh the three rate charts are drawn."""
    _open_admin(page, admin_url)
    main = page.locator('[data-testid="stMain"]')
    expect(main.get_by_text("Cache hit ratio")).to_be_visible()
    charts = main.locator('[data-testid="stVegaLiteChart"]')
    expect(charts).to_have_count(3, timeout=20_000)  # the fragment refreshes every 5 s
    for i in range(3):
        expect(charts.nth(i).locator("canvas, svg").first).to_be_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
    artifact(page, "admin-dashboard.png", height=1400)


def test_blocking_graph_is_drawn_and_the_root_terminated(
    page: Page, admin_url: str, pg_database: str
) -> None:
    """A waits on nobody, B waits on A: the Locks tab draws the graph; Terminate frees B."""
    with server_connection(pg_database) as setup:
        setup.execute("create table if not exists e2e_locks (id int primary key)")
        setup.execute("insert into e2e_locks values (1) on conflict do nothing")
    holder = server_connection(pg_database)
    holder.autocommit = False
    holder.execute("update e2e_locks set id = 1 where id = 1")
    waiter = server_connection(pg_database)
    errors: list[BaseException] = []

    def wait_on_holder() -> None:
        try:
            waiter.execute("update e2e_locks set id = 1 where id = 1")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=wait_on_holder, daemon=True)
    thread.start()
    try:
        _open_admin(page, admin_url)
        page.get_by_role("tab", name="Locks").click()
        wait_idle(page)
        graph = page.locator('[data-testid="stGraphVizChart"] svg')
        expect(graph).to_be_visible(timeout=20_000)
        holder_pid = holder.info.backend_pid
        expect(graph.get_by_text(f"pid {holder_pid}", exact=False).first).to_be_visible()
        expect(
            graph.get_by_text(f"pid {waiter.info.backend_pid}", exact=False).first
        ).to_be_visible()
        artifact(page, "admin-blocking.png", height=1400)
        page.get_by_role("button", name=f"Terminate {holder_pid}").click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_text(f"pid {holder_pid}").first).to_be_visible()
        dialog.get_by_role("button", name="Terminate session").click()
        thread.join(15)
        assert not thread.is_alive() and not errors  # B got its row once A was gone
        wait_idle(page)
        expect(page.get_by_text("No session is waiting on a lock.")).to_be_visible(timeout=20_000)
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        for c in (holder, waiter):
            with contextlib.suppress(Exception):
                c.close()
